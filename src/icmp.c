/* icmp.c - see icmp.h. */
#include "icmp.h"

#include <string.h>

#include "bytes.h"
#include "offload.h"

static int is_icmp_error(const uint8_t *ip, size_t ihl, size_t len)
{
	if (ip[9] != 1 || len < ihl + 1)
		return 0;
	uint8_t type = ip[ihl];
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

size_t icmp4_frag_needed(const uint8_t *orig, size_t len, uint32_t from, uint16_t mtu,
			 uint8_t out[ICMP4_FRAG_NEEDED_MAX])
{
	if (len < 20 || orig[0] >> 4 != 4)
		return 0;
	size_t ihl = (size_t)(orig[0] & 15) * 4;
	if (ihl < 20 || len < ihl)
		return 0;
	if (!(orig[6] & 0x40) || ((orig[6] & 0x1f) | orig[7]))
		return 0; /* DF not set, or not the first fragment */
	if (is_icmp_error(orig, ihl, len))
		return 0;
	/* RFC 1122 3.2.2: not for a multicast or broadcast destination, nor
	 * to a source that names no single host (0/8, loopback, multicast,
	 * class E and the broadcast address). */
	uint8_t s0 = orig[12], d0 = orig[16];
	if (s0 == 0 || s0 == 127 || s0 >= 224 || d0 >= 224)
		return 0;
	/* The offending header and the first 8 bytes of its payload. */
	size_t quote = ihl + (len - ihl < 8 ? len - ihl : 8);
	size_t total = 20 + 8 + quote;

	memset(out, 0, 28);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)total);
	out[6] = 0x40;            /* DF */
	out[8] = 64;              /* TTL */
	out[9] = 1;               /* ICMP */
	put32(out + 12, from);
	memcpy(out + 16, orig + 12, 4); /* back to the sender */
	put16(out + 10, csum_fold(csum_add(0, out, 20)));

	uint8_t *icmp = out + 20;
	icmp[0] = 3;              /* destination unreachable */
	icmp[1] = 4;              /* fragmentation needed and DF set */
	put16(icmp + 6, mtu);
	memcpy(icmp + 8, orig, quote);
	put16(icmp + 2, csum_fold(csum_add(0, icmp, 8 + quote)));
	return total;
}

size_t icmp6_too_big(const uint8_t *orig, size_t len, const uint8_t from[16], uint32_t mtu,
		     uint8_t out[ICMP6_TOO_BIG_MAX])
{
	static const uint8_t zero[16];
	if (len < 40 || orig[0] >> 4 != 6)
		return 0;
	const uint8_t *src = orig + 8;
	if (src[0] == 0xff || !memcmp(src, zero, 16))
		return 0; /* nobody to tell */
	/* An ICMPv6 error (types 0-127) right after the fixed header. Errors
	 * behind extension headers are not looked for: those are rare, and
	 * the one-a-millisecond limit bounds what answering them costs. */
	if (orig[6] == 58 && (len < 41 || orig[40] < 128))
		return 0;
	size_t quote = len;
	if (quote > ICMP6_TOO_BIG_MAX - 48)
		quote = ICMP6_TOO_BIG_MAX - 48;
	size_t plen = 8 + quote;

	memset(out, 0, 48);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)plen);
	out[6] = 58;              /* ICMPv6 */
	out[7] = 64;              /* hop limit */
	memcpy(out + 8, from, 16);
	memcpy(out + 24, src, 16); /* back to the sender */

	uint8_t *icmp = out + 40;
	icmp[0] = 2;              /* packet too big */
	put32(icmp + 4, mtu);
	memcpy(icmp + 8, orig, quote);
	/* The checksum covers a pseudo-header of the addresses, the length
	 * and the next header (RFC 8200 8.1). */
	uint8_t pseudo[8] = { 0 };
	put32(pseudo, (uint32_t)plen);
	pseudo[7] = 58;
	uint32_t sum = csum_add(0, out + 8, 32);
	sum = csum_add(sum, pseudo, 8);
	sum = csum_add(sum, icmp, plen);
	put16(icmp + 2, csum_fold(sum));
	return 40 + plen;
}
