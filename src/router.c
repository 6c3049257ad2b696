/* router.c - see router.h. IPv6 inner packets are routed only when the
 * gateway has an IPv6 pool; without one they are malformed, as before. */
#include "router.h"

#include <string.h>

bool ip4_addrs(const uint8_t *p, size_t len, uint32_t *src, uint32_t *dst)
{
	if (len < 20 || p[0] >> 4 != 4)
		return false;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	size_t total = (size_t)p[2] << 8 | p[3];
	if (ihl < 20 || total < ihl || total > len)
		return false;
	*src = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];
	*dst = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
	return true;
}

bool ip6_addrs(const uint8_t *p, size_t len, const uint8_t **src, const uint8_t **dst)
{
	if (len < 40 || p[0] >> 4 != 6)
		return false;
	/* Payload length 0 is a jumbogram, which no tunnel MTU admits. */
	size_t plen = (size_t)p[4] << 8 | p[5];
	if (plen == 0 || 40 + plen > len)
		return false;
	*src = p + 8;
	*dst = p + 24;
	return true;
}

/* Link-scope traffic (neighbour discovery, MLD, router solicitations from
 * the client's own kernel) has no business beyond the tunnel link. */
static bool link_scope6(const uint8_t src[16], const uint8_t dst[16])
{
	static const uint8_t zero[16];
	return dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) ||
	       (src[0] == 0xfe && (src[1] & 0xc0) == 0x80) || !memcmp(src, zero, 16);
}

/* p, if it took an IPv6 address in its handshake: IPv6 for another
 * client (one that asked for IPv4 only) has nowhere to go. */
static struct peer *v6_peer(struct peer *p)
{
	return p && atomic_load_explicit(&p->v6, memory_order_relaxed) ? p : NULL;
}

static enum route from_client6(struct registry *r, const struct peer *from, const uint8_t *pkt, size_t len,
			       struct peer **to)
{
	const uint8_t *src, *dst;
	uint8_t own[16];
	if (!registry_addr6(r, from, own) || !ip6_addrs(pkt, len, &src, &dst))
		return ROUTE_MALFORMED;
	if (link_scope6(src, dst))
		return ROUTE_LINK_SCOPE;
	/* A client told only its IPv4 address has no IPv6 one of its own. */
	if (!atomic_load_explicit(&from->v6, memory_order_relaxed) || memcmp(src, own, 16) != 0)
		return ROUTE_SPOOFED;
	if (!registry_in_pool6(r, dst) || !memcmp(dst, r->gw6, 16))
		return ROUTE_TUN;
	*to = v6_peer(registry_by_addr6(r, dst));
	return *to ? ROUTE_PEER : ROUTE_NO_PEER;
}

enum route route_from_client(struct registry *r, const struct peer *from, const uint8_t *pkt,
			     size_t len, struct peer **to)
{
	uint32_t src, dst;
	*to = NULL;
	if (len && pkt[0] >> 4 == 6)
		return from_client6(r, from, pkt, len, to);
	if (!ip4_addrs(pkt, len, &src, &dst))
		return ROUTE_MALFORMED;
	if (src != from->addr4)
		return ROUTE_SPOOFED;
	if (!registry_in_pool(r, dst) || dst == r->gw_addr || dst == (r->net | ~r->mask))
		return ROUTE_TUN;
	*to = registry_by_addr(r, dst);
	return *to ? ROUTE_PEER : ROUTE_NO_PEER;
}

enum route route_from_tun(struct registry *r, const uint8_t *pkt, size_t len, struct peer **to)
{
	uint32_t src, dst;
	*to = NULL;
	if (len && pkt[0] >> 4 == 6) {
		const uint8_t *s6, *d6;
		if (!r->has6 || !ip6_addrs(pkt, len, &s6, &d6))
			return ROUTE_MALFORMED;
		*to = v6_peer(registry_by_addr6(r, d6));
		return *to ? ROUTE_PEER : ROUTE_NO_PEER;
	}
	if (!ip4_addrs(pkt, len, &src, &dst))
		return ROUTE_MALFORMED;
	*to = registry_by_addr(r, dst);
	return *to ? ROUTE_PEER : ROUTE_NO_PEER;
}
