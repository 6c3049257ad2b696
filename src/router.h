/* router.h - where the gateway sends an inner IP packet. */
#ifndef VPNGW_ROUTER_H
#define VPNGW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

enum route {
	ROUTE_TUN,       /* to the gateway's own stack (and on, NATed) */
	ROUTE_PEER,      /* to another client's queue */
	ROUTE_SPOOFED,   /* inner source is not the sender's address */
	ROUTE_MALFORMED, /* not a well-formed IPv4 packet, or IPv6 without an IPv6 pool */
	ROUTE_NO_PEER,   /* a pool address nobody holds */
	ROUTE_LINK_SCOPE, /* IPv6 link-local or multicast: never forwarded */
};

/* Source and destination of a well-formed IPv4 packet (host order). */
bool ip4_addrs(const uint8_t *pkt, size_t len, uint32_t *src, uint32_t *dst);

/* Source and destination (16 bytes each, inside pkt) of a well-formed
 * IPv6 packet: version 6, the payload length within len. */
bool ip6_addrs(const uint8_t *pkt, size_t len, const uint8_t **src, const uint8_t **dst);

/* A packet that arrived from client `from`. Caller holds the read lock. */
enum route route_from_client(struct registry *r, const struct peer *from, const uint8_t *pkt,
			     size_t len, struct peer **to);
/* A packet read from the gateway's TUN. Caller holds the read lock. */
enum route route_from_tun(struct registry *r, const uint8_t *pkt, size_t len, struct peer **to);

#endif
