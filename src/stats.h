/* stats.h - counters and latency histograms.
 *
 * Counters are relaxed atomics, cumulative since start. A latency
 * histogram has log-linear microsecond buckets (6% wide at most), so
 * avg and percentiles are exact enough without keeping samples; each is
 * read and reset once per stats interval. */
#ifndef VPNGW_STATS_H
#define VPNGW_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LAT_BUCKETS (32 + 40 * 16)

struct lat_hist {
	atomic_uint_least64_t count, sum_us;
	atomic_uint_least64_t b[LAT_BUCKETS];
};

struct lat_summary {
	uint64_t count, avg_us, p50_us, p95_us, p99_us;
};

/* Adds n samples of one latency (a batch that shares one stamp). */
void lat_record(struct lat_hist *h, uint64_t us, uint64_t n);
/* Summarises and zeroes the histogram. */
void lat_take(struct lat_hist *h, struct lat_summary *s);

unsigned lat_bucket(uint64_t us);
uint64_t lat_bucket_value(unsigned b); /* a representative value: its upper bound */

typedef atomic_uint_least64_t counter_t;

static inline void ctr_add(counter_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t ctr_get(counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
