/* stats.c - see stats.h. */
#include "stats.h"

const uint64_t lat_le_us[LAT_LE_N] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000 };

unsigned lat_bucket(uint64_t us)
{
	if (us < 32)
		return (unsigned)us;
	unsigned msb = 63u - (unsigned)__builtin_clzll(us);
	if (msb >= 5 + LAT_OCTAVES)
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

void lat_run_end(struct lat_run *r)
{
	if (!r->n)
		return;
	if (r->owner)
		lat_record_owner(r->h, r->us, r->n);
	else
		lat_record(r->h, r->us, r->n);
	r->n = 0;
}

static void owner_add(atomic_uint_least64_t *a, uint64_t n)
{
	atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n, memory_order_relaxed);
}

void lat_record_owner(struct lat_hist *h, uint64_t us, uint64_t n)
{
	owner_add(&h->b[lat_bucket(us)], n);
	owner_add(&h->count, n);
	owner_add(&h->sum_us, us * n);
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

static void summarise(const uint64_t *b, uint64_t total, uint64_t sum, struct lat_summary *s)
{
	s->count = total;
	s->avg_us = total ? sum / total : 0;
	s->p50_us = total ? percentile(b, total, 50) : 0;
	s->p95_us = total ? percentile(b, total, 95) : 0;
	s->p99_us = total ? percentile(b, total, 99) : 0;
}

void lat_take(struct lat_hist *h, struct lat_window *w, struct lat_summary *s)
{
	uint64_t b[LAT_BUCKETS], total = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		uint64_t now = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		b[i] = now - w->prev_b[i];
		w->prev_b[i] = now;
		total += b[i];
	}
	uint64_t sum = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	summarise(b, total, sum - w->prev_sum_us, s);
	w->prev_sum_us = sum;
}

void lat_read(struct lat_hist *h, struct lat_cumulative *c)
{
	uint64_t b[LAT_BUCKETS], total = 0, below[LAT_LE_N + 1] = { 0 };
	unsigned k = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		total += b[i];
		/* Samples are whole microseconds rounded down: a bucket is below
		 * a bound when its largest value is. Buckets ascend, so the
		 * first bound above each one only moves up. */
		uint64_t top = lat_bucket_value(i);
		while (k < LAT_LE_N && top >= lat_le_us[k])
			k++;
		below[k] += b[i];
	}
	uint64_t run = 0;
	for (unsigned j = 0; j < LAT_LE_N; j++) {
		run += below[j];
		c->le[j] = run;
	}
	c->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	summarise(b, total, c->sum_us, &c->s);
}
