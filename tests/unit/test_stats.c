/* test_stats.c - latency histogram buckets and summaries, counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

/* The tests' lat_take window; hist_init starts it afresh. */
static struct lat_window w;

static void hist_init(struct lat_hist *h)
{
	memset(&w, 0, sizeof(w));
	memset(h, 0, sizeof(*h));
	atomic_init(&h->count, 0);
	atomic_init(&h->sum_us, 0);
	for (unsigned i = 0; i < LAT_BUCKETS; i++)
		atomic_init(&h->b[i], 0);
}

static void test_bucket_exact_below_32(void **state)
{
	(void)state;
	for (uint64_t us = 0; us < 32; us++) {
		assert_int_equal(lat_bucket(us), us);
		assert_int_equal(lat_bucket_value(lat_bucket(us)), us);
	}
}

static void test_bucket_monotonic_and_close(void **state)
{
	(void)state;
	unsigned prev_b = lat_bucket(31);
	uint64_t prev_v = lat_bucket_value(prev_b);
	for (uint64_t us = 32; us <= 10000000; us++) {
		unsigned b = lat_bucket(us);
		assert_true(b < LAT_BUCKETS);
		uint64_t v = lat_bucket_value(b);
		if (b < prev_b || v < prev_v)
			fail_msg("not monotonic at %llu us", (unsigned long long)us);
		/* the value is the bucket's upper bound: never below, less than 7% above */
		if (v < us || (v - us) * 100 > us * 7)
			fail_msg("%llu us -> bucket %u -> %llu us", (unsigned long long)us, b, (unsigned long long)v);
		prev_b = b;
		prev_v = v;
	}
}

static void test_bucket_value_roundtrip(void **state)
{
	(void)state;
	/* every bucket's value lies in that bucket, and values increase */
	uint64_t prev = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		uint64_t v = lat_bucket_value(b);
		assert_int_equal(lat_bucket(v), b);
		if (b > 0)
			assert_true(v > prev);
		/* one past the upper bound starts the next bucket */
		if (b + 1 < LAT_BUCKETS)
			assert_int_equal(lat_bucket(v + 1), b + 1);
		prev = v;
	}
}

static void test_bucket_huge_values_clamp(void **state)
{
	(void)state;
	assert_int_equal(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
	assert_int_equal(lat_bucket(1ull << 50), LAT_BUCKETS - 1);
	assert_true(lat_bucket(100ull * 1000000) < LAT_BUCKETS - 1); /* 100 s still resolves */
	assert_int_equal(lat_bucket(1ull << 28), LAT_BUCKETS - 1);
	assert_true(lat_bucket(1ull << 27) < LAT_BUCKETS - 1);
}

static void test_summary_known_distribution(void **state)
{
	(void)state;
	struct lat_hist h;
	struct lat_summary s;
	hist_init(&h);
	lat_record(&h, 10, 95);
	for (int i = 0; i < 5; i++)
		lat_record(&h, 1000, 1);
	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 100);
	assert_int_equal(s.avg_us, (95 * 10 + 5 * 1000) / 100);
	assert_int_equal(s.p50_us, 10);
	assert_int_equal(s.p95_us, 10);
	assert_in_range(s.p99_us, 1000, 1070);
}

static void test_summary_avg_exact(void **state)
{
	(void)state;
	struct lat_hist h;
	struct lat_summary s;
	hist_init(&h);
	/* 1234567 is far from a bucket bound: avg must be exact, not bucketed */
	lat_record(&h, 1234567, 3);
	lat_record(&h, 33, 1);
	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.avg_us, (3ull * 1234567 + 33) / 4);
}

static void test_summary_percentile_boundary(void **state)
{
	(void)state;
	struct lat_hist h;
	struct lat_summary s;
	hist_init(&h);
	/* 94 fast, 6 slow: p95 is the 95th sample, a slow one */
	lat_record(&h, 5, 94);
	lat_record(&h, 20000, 6);
	lat_take(&h, &w, &s);
	assert_int_equal(s.p50_us, 5);
	assert_in_range(s.p95_us, 20000, 21400);
	assert_in_range(s.p99_us, 20000, 21400);

	/* a single sample is every percentile */
	lat_record(&h, 17, 1);
	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.avg_us, 17);
	assert_int_equal(s.p50_us, 17);
	assert_int_equal(s.p95_us, 17);
	assert_int_equal(s.p99_us, 17);
}

static void test_take_is_per_interval(void **state)
{
	(void)state;
	struct lat_hist h;
	struct lat_summary s;
	struct lat_cumulative c;
	hist_init(&h);
	lat_record(&h, 100, 10);
	lat_record(&h, 5000, 2);
	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 12);

	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.avg_us, 0);
	assert_int_equal(s.p50_us, 0);
	assert_int_equal(s.p95_us, 0);
	assert_int_equal(s.p99_us, 0);

	/* the next interval starts from scratch */
	lat_record(&h, 7, 1);
	lat_take(&h, &w, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.avg_us, 7);
	assert_int_equal(s.p99_us, 7);

	/* while everything since start is still there for lat_read */
	lat_read(&h, &c);
	assert_int_equal(c.s.count, 13);
	assert_int_equal(c.sum_us, 10 * 100 + 2 * 5000 + 7);
	assert_in_range(c.s.p50_us, 100, 107);
}

static void test_read_cumulative_buckets(void **state)
{
	(void)state;
	struct lat_hist h;
	struct lat_cumulative c;
	hist_init(&h);
	lat_read(&h, &c);
	assert_int_equal(c.s.count, 0);
	for (unsigned k = 0; k < LAT_LE_N; k++)
		assert_int_equal(c.le[k], 0);

	lat_record(&h, 99, 3);      /* below 100 us */
	lat_record(&h, 100, 1);     /* not below 100 us, below 250 */
	lat_record(&h, 900, 2);     /* below 1 ms */
	lat_record(&h, 2000000, 1); /* above every bound */
	lat_read(&h, &c);
	assert_int_equal(c.s.count, 7);
	assert_int_equal(lat_le_us[0], 100);
	assert_int_equal(c.le[0], 3);
	assert_int_equal(c.le[1], 4);
	assert_int_equal(c.le[2], 4);
	assert_int_equal(c.le[3], 6);
	assert_int_equal(c.le[LAT_LE_N - 1], 6);
	/* cumulative: never decreasing along the bounds */
	for (unsigned k = 1; k < LAT_LE_N; k++)
		assert_true(c.le[k] >= c.le[k - 1]);
	/* reading twice changes nothing */
	struct lat_cumulative again;
	lat_read(&h, &again);
	assert_memory_equal(&c, &again, sizeof(c));
}

static void test_record_owner_matches_shared(void **state)
{
	(void)state;
	struct lat_hist a, b;
	struct lat_cumulative ca, cb;
	hist_init(&a);
	hist_init(&b);
	for (uint64_t us = 0; us < 5000; us += 37) {
		lat_record(&a, us, us % 3 + 1);
		lat_record_owner(&b, us, us % 3 + 1);
	}
	lat_read(&a, &ca);
	lat_read(&b, &cb);
	assert_memory_equal(&ca, &cb, sizeof(ca));
	assert_int_equal(atomic_load(&a.count), atomic_load(&b.count));
}

/* Runs of samples (repeats, alternating histograms, a run left open)
 * give the very histograms one record per sample gives. */
static void test_runs_match_one_by_one(void **state)
{
	(void)state;
	struct lat_hist a1, a2, b1, b2;
	struct lat_cumulative c1, c2;
	hist_init(&a1);
	hist_init(&a2);
	hist_init(&b1);
	hist_init(&b2);
	struct lat_run shared = { .owner = false }, own = { .owner = true };
	for (uint64_t i = 0; i < 3000; i++) {
		uint64_t us = (i / 7) * 13 % 900; /* runs of 7 equal values */
		struct lat_hist *ha = i % 50 < 40 ? &a1 : &a2, *hb = i % 50 < 40 ? &b1 : &b2;
		lat_record(ha, us, 1);
		lat_run_add(&shared, hb, us);
		lat_run_add(&own, hb, us + 1);
		lat_record(ha, us + 1, 1);
	}
	assert_true(shared.n > 0);
	lat_run_end(&shared);
	lat_run_end(&own);
	assert_int_equal(shared.n, 0);
	lat_read(&a1, &c1);
	lat_read(&b1, &c2);
	assert_memory_equal(&c1, &c2, sizeof(c1));
	lat_read(&a2, &c1);
	lat_read(&b2, &c2);
	assert_memory_equal(&c1, &c2, sizeof(c1));
	assert_int_equal(atomic_load(&a1.count) + atomic_load(&a2.count), 6000);
}

static void test_counters(void **state)
{
	(void)state;
	counter_t c;
	atomic_init(&c, 0);
	ctr_add(&c, 5);
	ctr_add(&c, 0);
	ctr_add(&c, 1ull << 40);
	assert_int_equal(ctr_get(&c), 5 + (1ull << 40));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_exact_below_32),
		cmocka_unit_test(test_bucket_monotonic_and_close),
		cmocka_unit_test(test_bucket_value_roundtrip),
		cmocka_unit_test(test_bucket_huge_values_clamp),
		cmocka_unit_test(test_summary_known_distribution),
		cmocka_unit_test(test_summary_avg_exact),
		cmocka_unit_test(test_summary_percentile_boundary),
		cmocka_unit_test(test_take_is_per_interval),
		cmocka_unit_test(test_read_cumulative_buckets),
		cmocka_unit_test(test_record_owner_matches_shared),
		cmocka_unit_test(test_runs_match_one_by_one),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
