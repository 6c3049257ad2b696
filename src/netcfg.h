/* netcfg.h - the host's routing for a tunnel device: link, address,
 * routes and the policy rules of a full tunnel, set through netlink.
 *
 * What changes state outside the device (the policy rules) is tagged with
 * our own routing protocol number and the tunnel's fwmark, so that it can
 * be undone on exit and found again after a crash. Routes and addresses on
 * the device itself vanish with it. Another platform (Wintun) provides the
 * same calls over its own API. */
#ifndef VPNGW_NETCFG_H
#define VPNGW_NETCFG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "udp.h"

/* Our IPv4/UDP/header/tag overhead on top of the tunnel MTU. */
#define NETCFG_OVERHEAD_V4 (20 + 8 + 32 + 16)
#define NETCFG_OVERHEAD_V6 (40 + 8 + 32 + 16)

struct netcfg {
	void *nl;            /* the netlink socket */
	unsigned seq, portid;
	char ifname[16];
	unsigned ifindex;
	uint32_t addr4;      /* the address we put on the device, 0 = none */
	uint8_t prefix4;
	bool has6;           /* an IPv6 address we put on the device */
	uint8_t addr6[16];
	uint8_t prefix6;
	uint32_t table;      /* full tunnel: table and fwmark; 0 = not installed */
	int v6;              /* full tunnel: enum netcfg_v6 in force */
};

/* What a full tunnel does with IPv6. */
enum netcfg_v6 {
	NETCFG_V6_NONE,   /* nothing: IPv6 goes where the host's routes say */
	NETCFG_V6_BLOCK,  /* refused (the gateway gave no IPv6 address): no leak */
	NETCFG_V6_TUNNEL, /* through the tunnel, like IPv4 */
};

/* Opens netlink and finds the device (none: NULL, for the MTU queries).
 * Logs and returns -1 on failure. */
int netcfg_open(struct netcfg *n, const char *ifname);
/* Undoes the policy rules (if any) and closes netlink. */
void netcfg_close(struct netcfg *n);

/* MTU, queue length, and up. */
int netcfg_link(struct netcfg *n, int mtu, int txqlen);
/* Puts addr/prefix (host order) on the device, replacing the one we put
 * there before. */
int netcfg_addr4(struct netcfg *n, uint32_t addr, uint8_t prefix);
/* The same for IPv6 (network byte order), without duplicate address
 * detection: a point-to-point tunnel has no neighbours to ask. */
int netcfg_addr6(struct netcfg *n, const uint8_t addr[16], uint8_t prefix);
/* Removes the IPv6 address we put on the device, if any. */
void netcfg_del_addr6(struct netcfg *n);
/* A route over the device in table (0 = main). */
int netcfg_route4(struct netcfg *n, uint32_t net, uint8_t prefix, uint32_t table);
int netcfg_route6(struct netcfg *n, const uint8_t net[16], uint8_t prefix, uint32_t table);

/* Full tunnel, the wg-quick way: everything not carrying fwmark `table`
 * (our own UDP does) looks up `table` after the main table's specific
 * routes; v6 (enum netcfg_v6) says whether IPv6 does the same through
 * the tunnel, is refused, or is left alone. Called again with another v6,
 * it switches. */
int netcfg_policy(struct netcfg *n, uint32_t table, int v6);
/* Removes rules a crashed run with this table left behind; returns how
 * many it removed. */
int netcfg_clean_stale(struct netcfg *n, uint32_t table);

/* The MTU of the path the kernel would use to reach dst: the route's MTU
 * if it has one, else its device's. -1 on failure. */
int netcfg_path_mtu(struct netcfg *n, const struct endpoint *dst);
/* The MTU of the device of the default route, else the smallest MTU of
 * the up, non-loopback devices other than ours. -1 if there is none. */
int netcfg_uplink_mtu(struct netcfg *n);

/* Packets the kernel dropped at our TUN device because its queue was full
 * when they came (its tx_dropped): we had not read the ones before them in
 * time. Counted from netcfg_drops_start. Each read opens its own netlink
 * socket, so any thread may read. */
struct netcfg_drops {
	char ifname[16];
	uint64_t base;
	_Atomic uint64_t last; /* what the last read that worked found */
};
void netcfg_drops_start(struct netcfg_drops *d, const char *ifname);
/* The count now; the last one known when the device cannot be read (as
 * after it is gone). */
uint64_t netcfg_drops_read(struct netcfg_drops *d);

#endif
