/* queue.c - see queue.h. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int pktq_init(struct pktq *q, size_t cap_pkts, size_t cap_bytes, struct pool *pool)
{
	q->ring = calloc(cap_pkts, sizeof(*q->ring));
	if (!q->ring)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->nonempty, &ca);
	pthread_condattr_destroy(&ca);
	q->cap = cap_pkts;
	q->cap_bytes = cap_bytes;
	q->head = q->count = q->bytes = 0;
	q->pool = pool;
	atomic_init(&q->drops, 0);
	q->closed = false;
	return 0;
}

void pktq_destroy(struct pktq *q)
{
	pktq_flush(q);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->nonempty);
	free(q->ring);
	q->ring = NULL;
}

static struct pkt *take_head(struct pktq *q)
{
	struct pkt *p = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->count--;
	q->bytes -= p->len;
	return p;
}

bool pktq_push(struct pktq *q, struct pkt **p, size_t n)
{
	struct pkt *dropped[64];
	size_t nd = 0;
	uint64_t drops = 0;

	pthread_mutex_lock(&q->lock);
	bool was_empty = q->count == 0;
	for (size_t i = 0; i < n; i++) {
		while (q->count && (q->count == q->cap || q->bytes + p[i]->len > q->cap_bytes)) {
			dropped[nd++] = take_head(q);
			drops++;
			if (nd == sizeof(dropped) / sizeof(dropped[0])) {
				pool_put(q->pool, dropped, nd);
				nd = 0;
			}
		}
		q->ring[(q->head + q->count) % q->cap] = p[i];
		q->count++;
		q->bytes += p[i]->len;
	}
	if (was_empty && q->count)
		pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);

	pool_put(q->pool, dropped, nd);
	if (drops)
		atomic_fetch_add_explicit(&q->drops, drops, memory_order_relaxed);
	return was_empty && n;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

size_t pktq_pop(struct pktq *q, struct pkt **out, size_t max, int timeout_ms)
{
	struct timespec dl;
	if (timeout_ms > 0)
		deadline_after(&dl, timeout_ms);

	pthread_mutex_lock(&q->lock);
	while (!q->count && !q->closed && timeout_ms != 0) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&q->nonempty, &q->lock)
					: pthread_cond_timedwait(&q->nonempty, &q->lock, &dl);
		if (rc == ETIMEDOUT)
			break;
	}
	size_t n = 0;
	while (n < max && q->count)
		out[n++] = take_head(q);
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t pktq_pop_bytes(struct pktq *q, struct pkt **out, size_t max, size_t budget, size_t *bytes)
{
	size_t n = 0, b = 0;
	pthread_mutex_lock(&q->lock);
	while (n < max && q->count && (n == 0 || b + q->ring[q->head]->len <= budget)) {
		out[n] = take_head(q);
		b += out[n++]->len;
	}
	pthread_mutex_unlock(&q->lock);
	*bytes = b;
	return n;
}

void pktq_close(struct pktq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
}

size_t pktq_len(struct pktq *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void pktq_flush(struct pktq *q)
{
	struct pkt *batch[64];
	size_t n;
	while ((n = pktq_pop(q, batch, 64, 0)) > 0)
		pool_put(q->pool, batch, n);
}
