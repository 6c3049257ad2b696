/* stats.c - see stats.h. */
#include "stats.h"

unsigned lat_bucket(uint64_t us)
{
	if (us < 32)
		return (unsigned)us;
	unsigned msb = 63u - (unsigned)__builtin_clzll(us);
	if (msb > 44)
		return LAT_BUCKETS - 1;
	unsigned shift = msb - 4;
	return 32 + (msb - 5) * 16 + (unsigned)((us >> shift) & 15);
}

uint64_t lat_bucket_value(unsigned b)
{
	if (b < 32)
		return b;
	unsigned msb = (b - 32) / 16 + 5;
	uint64_t sub = (b - 32) % 16;
	unsigned shift = msb - 4;
	return ((16 + sub + 1) << shift) - 1;
}

void lat_record(struct lat_hist *h, uint64_t us, uint64_t n)
{
	atomic_fetch_add_explicit(&h->b[lat_bucket(us)], n, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us * n, memory_order_relaxed);
}

static uint64_t percentile(const uint64_t *b, uint64_t total, unsigned pct)
{
	uint64_t rank = (total * pct + 99) / 100, seen = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		seen += b[i];
		if (seen >= rank && seen)
			return lat_bucket_value(i);
	}
	return 0;
}

void lat_take(struct lat_hist *h, struct lat_summary *s)
{
	uint64_t b[LAT_BUCKETS], total = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		b[i] = atomic_exchange_explicit(&h->b[i], 0, memory_order_relaxed);
		total += b[i];
	}
	uint64_t sum = atomic_exchange_explicit(&h->sum_us, 0, memory_order_relaxed);
	atomic_store_explicit(&h->count, 0, memory_order_relaxed);
	s->count = total;
	s->avg_us = total ? sum / total : 0;
	s->p50_us = total ? percentile(b, total, 50) : 0;
	s->p95_us = total ? percentile(b, total, 95) : 0;
	s->p99_us = total ? percentile(b, total, 99) : 0;
}
