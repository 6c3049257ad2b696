/* pool.c - a free stack of packet buffers; one lock per batch. */
#include "pkt.h"

#include <stdlib.h>

struct pool {
	pthread_mutex_t lock;
	struct pkt *mem;
	struct pkt **free;
	size_t nfree, cap;
};

struct pool *pool_new(size_t n)
{
	struct pool *pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	pl->mem = calloc(n, sizeof(struct pkt));
	pl->free = calloc(n, sizeof(struct pkt *));
	if (!pl->mem || !pl->free) {
		pool_free(pl);
		return NULL;
	}
	pthread_mutex_init(&pl->lock, NULL);
	for (size_t i = 0; i < n; i++)
		pl->free[i] = &pl->mem[i];
	pl->nfree = pl->cap = n;
	return pl;
}

void pool_free(struct pool *pl)
{
	if (!pl)
		return;
	free(pl->mem);
	free(pl->free);
	free(pl);
}

size_t pool_get(struct pool *pl, struct pkt **out, size_t n)
{
	pthread_mutex_lock(&pl->lock);
	if (n > pl->nfree)
		n = pl->nfree;
	for (size_t i = 0; i < n; i++)
		out[i] = pl->free[--pl->nfree];
	pthread_mutex_unlock(&pl->lock);
	for (size_t i = 0; i < n; i++)
		pkt_reset(out[i]);
	return n;
}

void pool_put(struct pool *pl, struct pkt **pkts, size_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&pl->lock);
	for (size_t i = 0; i < n && pl->nfree < pl->cap; i++)
		pl->free[pl->nfree++] = pkts[i];
	pthread_mutex_unlock(&pl->lock);
}

size_t pool_available(struct pool *pl)
{
	pthread_mutex_lock(&pl->lock);
	size_t n = pl->nfree;
	pthread_mutex_unlock(&pl->lock);
	return n;
}
