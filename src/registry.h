/* registry.h - the server's clients: identity, address, session,
 * endpoint and send queue, found by clientId, by tunnel address or by
 * public key.
 *
 * Peers are created from the config, and added, removed and readdressed
 * live (vpngw set, SIGHUP). The peer list and lookup tables are guarded by
 * a rwlock: the packet paths take it for reading once per batch; a new
 * session (new clientId) and the live changes write. A removed peer's
 * memory stays until registry_destroy, because the send loop and queued
 * packets may still point at it; it is only unreachable. */
#ifndef VPNGW_REGISTRY_H
#define VPNGW_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "handshake.h"
#include "fq.h"
#include "session.h"
#include "stats.h"
#include "udp.h"

/* How long after a client was last heard the gateway still sends to its
 * endpoint (the seed's "lastSeen < 60 s"): at least ENDPOINT_FRESH_NS, and
 * two keepalive intervals and 5 s where those are longer, so that one lost
 * keepalive does not cut off a client that only receives. */
#define ENDPOINT_FRESH_NS (60 * SEC_NS)
static inline uint64_t endpoint_fresh_ns(unsigned keepalive_s)
{
	uint64_t two = (2 * (uint64_t)keepalive_s + 5) * SEC_NS;
	return two > ENDPOINT_FRESH_NS ? two : ENDPOINT_FRESH_NS;
}

struct peer {
	char name[64];
	uint8_t pub[32];
	uint32_t addr4;
	struct session sess;
	uint8_t last_timestamp[HS_TIMESTAMP_LEN]; /* newest accepted HS_INIT */

	pthread_mutex_t ep_lock;
	struct endpoint ep;
	atomic_uint_least64_t last_seen_ns; /* last authenticated datagram */
	/* Its session took the IPv6 form of HS_RESP: it has its tunnel IPv6
	 * address. IPv6 goes to and comes from only such a client. */
	atomic_bool v6;

	struct fq q;              /* to this client, waiting for the send loop */
	bool scheduled;           /* on the send loop's list (sched lock) */
	struct peer *sched_next;
	bool removed;             /* under the write lock */
	/* Bumped, under the write lock, when the client is removed or gets
	 * another address: a handshake that read the old state checks it
	 * before it answers (registry_unchanged). */
	unsigned gen;
	int64_t deficit;          /* bytes it may still send this round */

	counter_t rx_bytes, rx_packets, tx_bytes, tx_packets;
	/* For `vpngw show` and metrics: drops this client caused or suffered
	 * (the queue's own are in q.st), when its session last began or
	 * rekeyed, and its latency, recorded by one thread each. */
	counter_t auth_fail_drops, replay_drops, no_endpoint_drops, no_session_drops, mtu_drops, spoofed_source_drops;
	atomic_uint_least64_t handshake_ns; /* 0: none yet */
	struct lat_hist tun_to_udp;         /* down thread only */
	struct lat_hist udp_to_tun;         /* up thread only */
};

struct registry {
	pthread_rwlock_t lock;
	struct peer **peers;   /* n of them, room for cap */
	size_t n, cap;
	struct peer **gone;    /* removed, freed at destroy */
	size_t ngone, gone_cap;
	struct pool *pool;     /* for new peers' queues */
	size_t queue_pkts;
	uint32_t mtu;
	struct peer **by_id;   /* open addressing, cap a power of two */
	size_t id_cap, id_used;
	struct peer **by_addr;
	size_t addr_cap;
	uint32_t net, mask, gw_addr; /* the pool, host order */
	/* The IPv6 pool, if any: a client's IPv6 address is net6 with its
	 * IPv4 host number (addr4 - net) in the low bits, so it needs no
	 * table, follows every IPv4 (re)assignment and survives restarts
	 * with the IPv4 one the state file keeps. */
	bool has6;
	uint8_t net6[16], gw6[16];
	uint8_t prefix6;
};

#define PEER_FQ_FLOWS 64

/* Builds every peer from the config, each with a flow queue of queue_pkts
 * packets, handing out pool addresses in config order to clients without a
 * fixed one. -1 with err on failure. */
int registry_init(struct registry *r, const struct server_conf *c, struct pool *pool, size_t queue_pkts,
		  char *err, size_t errlen);
void registry_destroy(struct registry *r);

void registry_rdlock(struct registry *r);
void registry_unlock(struct registry *r);

/* Under the read lock (or the write lock). */
struct peer *registry_by_id(struct registry *r, const uint8_t id[WIRE_ID_LEN]);
struct peer *registry_by_addr(struct registry *r, uint32_t addr4);
struct peer *registry_by_pubkey(struct registry *r, const uint8_t pub[32]);
bool registry_in_pool(const struct registry *r, uint32_t addr4);
/* p's IPv6 address (network order); false when there is no IPv6 pool. */
bool registry_addr6(const struct registry *r, const struct peer *p, uint8_t out[16]);
/* The client whose IPv6 address a6 is, or NULL. */
struct peer *registry_by_addr6(struct registry *r, const uint8_t a6[16]);
/* Whether a6 is in the IPv6 pool. */
bool registry_in_pool6(const struct registry *r, const uint8_t a6[16]);

/* Starts a new session for p under id, wiping the old one's keys (takes
 * the write lock); false if p was removed meanwhile. */
bool registry_set_id(struct registry *r, struct peer *p, const uint8_t id[WIRE_ID_LEN]);
/* Whether p is still there with the generation gen (read with its address
 * under the read lock): false when `vpngw set` or SIGHUP removed or
 * readdressed it since (takes the read lock). */
bool registry_unchanged(struct registry *r, const struct peer *p, unsigned gen);

/* Live changes; each takes the write lock. 0, or -1 with err and nothing
 * changed. addr4 0 means the first free pool address. Removing a client
 * wipes its keys at once; readdressing one ends its session (the next
 * handshake hands out the new address). */
int registry_add(struct registry *r, const char *name, const uint8_t pub[32], uint32_t addr4, char *err,
		 size_t errlen);
int registry_remove(struct registry *r, const uint8_t pub[32], char *err, size_t errlen);
int registry_readdress(struct registry *r, const uint8_t pub[32], uint32_t addr4, char *err, size_t errlen);
int registry_rename(struct registry *r, const uint8_t pub[32], const char *name, char *err, size_t errlen);

void peer_set_endpoint(struct peer *p, const struct endpoint *ep, uint64_t now);
/* Copies the last endpoint, however old; false if none yet. */
bool peer_endpoint(struct peer *p, struct endpoint *out);
/* Copies the endpoint if it was seen within fresh_ns (endpoint_fresh_ns). */
bool peer_fresh_endpoint(struct peer *p, uint64_t now, uint64_t fresh_ns, struct endpoint *out);

#endif
