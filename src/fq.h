/* fq.h - a flow-queuing packet queue with CoDel (in the spirit of RFC 8290).
 *
 * Why: a single FIFO lets one bulk TCP flow put milliseconds of packets in
 * front of a ping. Here every inner flow (hash of the IP 5-tuple) has its
 * own sub-queue; flows are served by deficit round robin with a quantum of
 * one MTU (16 in front of a TUN write, which merges each flow's runs), and
 * a flow that was idle goes first, so sparse traffic (pings,
 * DNS, ACKs, interactive keystrokes) never waits behind bulk. Each flow
 * runs CoDel (RFC 8289) on the time its packets waited: when the minimum
 * wait stays above `target` for `interval`, it drops from the head (or, for
 * ECN-capable packets, marks CE) at a rising rate until the flow's sender
 * slows down. When the whole queue is over its packet or byte bound, the
 * head of the fattest flow is dropped.
 *
 * One lock per batch; pushing and popping never block. */
#ifndef VPNGW_FQ_H
#define VPNGW_FQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ecn.h"
#include "pkt.h"

#define FQ_TARGET_NS (5ull * 1000000)     /* 5 ms */
#define FQ_INTERVAL_NS (100ull * 1000000) /* 100 ms */

struct fq_flow {
	struct pkt *head, *tail;
	uint32_t backlog;       /* bytes */
	int32_t deficit;
	int list;               /* FQ_LIST_NONE / _NEW / _OLD */
	struct fq_flow *next;   /* in its list */
	/* CoDel state */
	uint64_t first_above_ns, drop_next_ns;
	uint32_t count, lastcount;
	bool dropping;
};

struct fq_list {
	struct fq_flow *head, *tail;
};

struct fq_stats {
	atomic_uint_least64_t overflow_drops, codel_drops, ecn_marks;
};

struct fq {
	pthread_mutex_t lock;
	struct fq_flow *flows;
	uint32_t nflows;        /* a power of two */
	struct fq_list new_flows, old_flows;
	size_t count, bytes, cap_pkts, cap_bytes;
	uint32_t quantum;
	uint32_t hash_key;      /* per queue, so flows cannot be aimed at one bucket */
	uint64_t target_ns, interval_ns;
	struct pool *pool;
	struct fq_stats st;
};

/* nflows is rounded up to a power of two; quantum is in bytes (an MTU,
 * or TUN_WRITE_QUANTUM_MTUS of them for the queues a TUN write drains). */
int fq_init(struct fq *q, uint32_t nflows, size_t cap_pkts, size_t cap_bytes, uint32_t quantum,
	    struct pool *pool);
void fq_destroy(struct fq *q);

/* Enqueues n packets (p->data/len is an IP packet), stamping enq_ns = now.
 * Returns true when the queue went from empty to non-empty. */
bool fq_push(struct fq *q, struct pkt **p, size_t n, uint64_t now);

/* Dequeues up to max packets, at most about `budget` bytes (at least one
 * when any wait), applying CoDel at time now. Returns the count. */
size_t fq_pop(struct fq *q, struct pkt **out, size_t max, size_t budget, uint64_t now);

size_t fq_len(struct fq *q);
uint64_t fq_drops(struct fq *q); /* overflow + CoDel */

/* The flow bucket of an IP packet (exposed for tests). */
uint32_t fq_flow_of(const struct fq *q, const uint8_t *ip, size_t len);

#endif
