/* router.c - IPv4 only for now; IPv6 inner packets are refused as
 * malformed until the IPv6 pool exists. */
#include "router.h"

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

enum route route_from_client(struct registry *r, const struct peer *from, const uint8_t *pkt,
			     size_t len, struct peer **to)
{
	uint32_t src, dst;
	*to = NULL;
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
	if (!ip4_addrs(pkt, len, &src, &dst))
		return ROUTE_MALFORMED;
	*to = registry_by_addr(r, dst);
	return *to ? ROUTE_PEER : ROUTE_NO_PEER;
}
