/* dnsproxy.h - the gateway's DNS proxy: UDP and TCP port 53 on the
 * gateway's tunnel address, answered by forwarding to the upstream
 * resolvers (UpstreamDNS =, else the nameservers of /etc/resolv.conf).
 * One thread of its own with poll(); the data path does not change.
 * The protocol work (ids, tries, timeouts, checks) is dns.c's.
 *
 * The tunnel never depends on it: whatever stops the proxy (no usable
 * upstream, port 53 taken) is one warning naming the value, and the
 * gateway runs on without it. */
#ifndef VPNGW_DNSPROXY_H
#define VPNGW_DNSPROXY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct dnsproxy;

/* Works out the upstreams, binds port 53 on listen4 (host order) on the
 * device ifname, opens the upstream sockets: as root, before privileges
 * are dropped (port 53). NULL when the proxy is off or cannot run (logged). */
struct dnsproxy *dnsproxy_open(const struct server_conf *c, uint32_t listen4, const char *ifname);
/* Starts its thread (after any privilege drop: capabilities are per
 * thread). Logs and returns -1 on failure. */
int dnsproxy_start(struct dnsproxy *d);
/* Stops and joins the thread, if it runs. NULL is fine. */
void dnsproxy_stop(struct dnsproxy *d);
/* Stops it and closes everything. NULL is fine. */
void dnsproxy_close(struct dnsproxy *d);

/* The DNS server clients are told (host order, 0 = none): DNS = when set,
 * else listen4 when the proxy runs. Warns when DNS = is the gateway's own
 * address but no proxy answers there. */
uint32_t dnsproxy_client_dns(const struct dnsproxy *d, const struct server_conf *c, uint32_t listen4);

/* Writes " dns_queries_udp=... dns_inflight=..." for the stats line (zeros
 * when d is NULL); returns buf. */
const char *dnsproxy_stats(struct dnsproxy *d, char *buf, size_t len);

struct snapshot;
/* The same counters as totals of a show/metrics snapshot (show.h). */
void dnsproxy_snap(struct dnsproxy *d, struct snapshot *o);

#endif
