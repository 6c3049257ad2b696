/* queue.h - a bounded packet queue, bounded in packets and in bytes.
 *
 * Full means drop the oldest (head drop): the newest packet is the one
 * still worth delivering, and dropping at the head tells a TCP sender
 * about congestion a whole queue earlier. Dropped buffers go back to the
 * pool and are counted. Locks are taken once per batch. */
#ifndef VPNGW_QUEUE_H
#define VPNGW_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "pkt.h"

struct pktq {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	struct pkt **ring;
	size_t cap, head, count;
	size_t bytes, cap_bytes;
	struct pool *pool;
	atomic_uint_least64_t drops;
	bool closed;
};

int pktq_init(struct pktq *q, size_t cap_pkts, size_t cap_bytes, struct pool *pool);
void pktq_destroy(struct pktq *q);

/* Appends n packets, head-dropping as needed. Returns true when the queue
 * went from empty to non-empty (the caller may need to schedule it). */
bool pktq_push(struct pktq *q, struct pkt **p, size_t n);

/* Takes up to max packets. timeout_ms < 0 waits forever, 0 not at all.
 * Returns 0 on timeout or once closed and drained. */
size_t pktq_pop(struct pktq *q, struct pkt **out, size_t max, int timeout_ms);

/* Takes packets from the head while their bytes fit in budget, but at
 * least one; no waiting. Sets *bytes to what it took. */
size_t pktq_pop_bytes(struct pktq *q, struct pkt **out, size_t max, size_t budget, size_t *bytes);

/* Wakes every waiter; later pops return what is left, then 0. */
void pktq_close(struct pktq *q);
size_t pktq_len(struct pktq *q);
/* Returns every queued packet to the pool. */
void pktq_flush(struct pktq *q);

#endif
