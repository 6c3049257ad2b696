/* icmp.h - "fragmentation needed" / "packet too big" for packets too big
 * for the tunnel.
 *
 * vpngw never fragments: a packet over the tunnel MTU is dropped. When it
 * was IPv4 with DF set, its sender is told the MTU (RFC 792, RFC 1191) so
 * path MTU discovery converges instead of black-holing the connection. */
#ifndef VPNGW_ICMP_H
#define VPNGW_ICMP_H

#include <stddef.h>
#include <stdint.h>

/* Room for the largest message icmp4_frag_needed writes. */
#define ICMP4_FRAG_NEEDED_MAX (20 + 8 + 60 + 8)

/* Writes into out the ICMP "fragmentation needed" (type 3, code 4) for the
 * IPv4 packet orig, from address `from` (host order), announcing mtu.
 * Returns its length, or 0 when none is due: not IPv4, DF not set, a later
 * fragment, or itself an ICMP error (never answer an error with one). */
size_t icmp4_frag_needed(const uint8_t *orig, size_t len, uint32_t from, uint16_t mtu,
			 uint8_t out[ICMP4_FRAG_NEEDED_MAX]);

/* IPv6 (RFC 4443 3.2, RFC 8201): an ICMPv6 error may not exceed the IPv6
 * minimum MTU, so the quote of the offending packet stops there. */
#define ICMP6_TOO_BIG_MAX 1280

/* Writes into out the ICMPv6 Packet Too Big (type 2) for the IPv6 packet
 * orig, from address `from` (16 bytes, network order), announcing mtu,
 * quoting as much of orig as fits in 1280 bytes. Returns its length, or 0
 * when none is due: not IPv6, an unspecified or multicast source, or itself
 * an ICMPv6 error (never answer an error with one). */
size_t icmp6_too_big(const uint8_t *orig, size_t len, const uint8_t from[16], uint32_t mtu,
		     uint8_t out[ICMP6_TOO_BIG_MAX]);

#endif
