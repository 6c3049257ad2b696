/* stats.h - counters and latency histograms.
 *
 * Counters are relaxed atomics, cumulative since start. A latency
 * histogram has log-linear microsecond buckets (6% wide at most), so
 * avg and percentiles are exact enough without keeping samples. The
 * buckets are cumulative too (Prometheus and `vpngw show` read them
 * without disturbing anyone); the stats line's per-interval figures come
 * from the difference to what its last lat_take saw. */
#ifndef VPNGW_STATS_H
#define VPNGW_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exact below 32 us, then 16 buckets an octave up to 2^28 us (268 s);
 * anything slower lands in the last. Every client has two of these, so
 * their size is the gateway's memory per client. */
#define LAT_OCTAVES 23
#define LAT_BUCKETS (32 + LAT_OCTAVES * 16)

struct lat_hist {
	atomic_uint_least64_t count, sum_us;
	atomic_uint_least64_t b[LAT_BUCKETS];
};

/* What the last lat_take of one histogram saw: only the stats line's
 * histograms need one, not every client's. */
struct lat_window {
	uint64_t prev_sum_us, prev_b[LAT_BUCKETS];
};

struct lat_summary {
	uint64_t count, avg_us, p50_us, p95_us, p99_us;
};

/* The Prometheus bucket bounds, in microseconds: 100 us to 1 s. */
#define LAT_LE_N 13
extern const uint64_t lat_le_us[LAT_LE_N];

/* Everything since start, read without resetting anything. le[i] counts
 * the samples below lat_le_us[i] (to the buckets' 6% resolution: a bucket
 * straddling a bound counts above it). */
struct lat_cumulative {
	struct lat_summary s;
	uint64_t sum_us;
	uint64_t le[LAT_LE_N];
};

/* Adds n samples of one latency (a batch that shares one stamp). */
void lat_record(struct lat_hist *h, uint64_t us, uint64_t n);
/* The same, for a histogram only one thread ever records into: plain
 * loads and stores, no locked instructions on the packet path. */
void lat_record_owner(struct lat_hist *h, uint64_t us, uint64_t n);
/* Summarises the samples since the previous lat_take with the same w
 * (one caller only). */
void lat_take(struct lat_hist *h, struct lat_window *w, struct lat_summary *s);
/* Summarises every sample since start; any thread, any time. */
void lat_read(struct lat_hist *h, struct lat_cumulative *c);

/* Samples recorded a run at a time: the packets of one batch mostly share
 * a latency (and a histogram), so each run costs one lat_record, not one
 * per packet. lat_run_end records what is left; owner: the histogram has
 * a single writer (lat_record_owner). */
struct lat_run {
	struct lat_hist *h;
	uint64_t us, n;
	bool owner;
};
void lat_run_end(struct lat_run *r);
static inline void lat_run_add(struct lat_run *r, struct lat_hist *h, uint64_t us)
{
	if (r->n && r->h == h && r->us == us) {
		r->n++;
		return;
	}
	lat_run_end(r);
	r->h = h;
	r->us = us;
	r->n = 1;
}

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
