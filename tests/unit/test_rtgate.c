/* test_rtgate.c - when the data threads leave real-time and come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rtgate.h"

#define W RTGATE_WINDOW_NS
#define S 1000000000ull

/* Packets in one window for a rate in packets a second. */
static uint64_t at(uint64_t pps)
{
	return pps * W / S;
}

/* The pattern, window after window past the sustain count, never sends
 * the threads normal. */
static void stays_realtime(uint64_t pkts, uint64_t sleeps)
{
	struct rtgate g = { 0 };
	uint64_t t = 10 * S;
	for (unsigned i = 0; i < 2 * RTGATE_SUSTAIN_WINDOWS; i++, t += W)
		if (!rtgate_window(&g, pkts, sleeps, W, t))
			fail_msg("%lu packets over %lu sleeps: normal after %u windows", (unsigned long)pkts,
				 (unsigned long)sleeps, i + 1);
}

static void test_realtime_unless_costly(void **state)
{
	(void)state;
	stays_realtime(0, 0);                 /* idle */
	stays_realtime(at(100), at(100));     /* pings, one a wake-up */
	stays_realtime(at(400000), at(2000)); /* TCP: big batches */
	/* Many packets, but few: one a wake-up below the rate that counts. */
	stays_realtime(at(RTGATE_BUSY_PPS) - 1, at(RTGATE_BUSY_PPS));
	/* Many, in batches of just enough. */
	uint64_t p = at(RTGATE_BUSY_PPS);
	stays_realtime(p, p / RTGATE_MIN_PER_SLEEP);
}

/* Feeds the costly pattern until the threads go normal; returns when they did. */
static uint64_t go_cold(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t t)
{
	for (unsigned i = 1; i < RTGATE_SUSTAIN_WINDOWS; i++, t += W)
		assert_true(rtgate_window(g, pkts, sleeps, W, t));
	assert_false(rtgate_window(g, pkts, sleeps, W, t));
	return t;
}

static void test_many_single_packets_go_normal(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	uint64_t p = at(RTGATE_BUSY_PPS);
	go_cold(&g, p, p / RTGATE_MIN_PER_SLEEP + 1, 10 * S);
	struct rtgate h = { 0 };
	go_cold(&h, at(100000), at(70000), 10 * S);
}

/* BBR's ProbeRTT: 200-300 ms of packets one at a time in a bulk transfer,
 * every 10 s. Not long enough to leave real-time, however often. */
static void test_short_bursts_stay_realtime(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	uint64_t t = 10 * S;
	for (int round = 0; round < 5; round++, t += 10 * S) {
		for (unsigned i = 0; i + 1 < RTGATE_SUSTAIN_WINDOWS; i++)
			assert_true(rtgate_window(&g, at(25000), at(20000), W, t + i * W));
		assert_true(rtgate_window(&g, at(400000), at(2000), W, t + RTGATE_SUSTAIN_WINDOWS * W));
	}
}

/* Back in real-time after a cool-down, the same pattern again within
 * RTGATE_RECENT_NS sends them back at once; later, it must last again. */
static void test_recent_pattern_goes_normal_at_once(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	uint64_t t = go_cold(&g, at(100000), at(70000), 10 * S);
	uint64_t warm = t + RTGATE_COOL_NS;
	assert_true(rtgate_window(&g, 0, 0, W, warm));
	assert_false(rtgate_window(&g, at(100000), at(70000), W, warm + W));
	warm += W + RTGATE_COOL_NS;
	assert_true(rtgate_window(&g, 0, 0, W, warm));
	go_cold(&g, at(100000), at(70000), warm + RTGATE_RECENT_NS);
}

static void test_cool_down_renewed_while_it_lasts(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	uint64_t t = go_cold(&g, at(100000), at(70000), 10 * S);
	/* Quiet windows within the cool-down keep the threads normal... */
	assert_false(rtgate_window(&g, 0, 0, W, t + W));
	assert_false(rtgate_window(&g, 0, 0, W, t + RTGATE_COOL_NS - 1));
	/* ...and the first after it brings real-time back. */
	assert_true(rtgate_window(&g, 0, 0, W, t + RTGATE_COOL_NS));
	/* The pattern again, and again a second later: the cool-down runs from the last. */
	t += 3 * S;
	assert_false(rtgate_window(&g, at(100000), at(70000), W, t));
	assert_false(rtgate_window(&g, at(100000), at(70000), W, t + S));
	assert_false(rtgate_window(&g, at(100000), at(1000), W, t + S + RTGATE_COOL_NS - 1));
	assert_true(rtgate_window(&g, at(100000), at(1000), W, t + S + RTGATE_COOL_NS));
}

static void test_zero_window_changes_nothing(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	assert_true(rtgate_window(&g, 1000000, 1000000, 0, 10 * S));
	g.cold = true;
	g.cold_until_ns = 0;
	assert_false(rtgate_window(&g, 0, 0, 0, 10 * S));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_realtime_unless_costly),
		cmocka_unit_test(test_many_single_packets_go_normal),
		cmocka_unit_test(test_short_bursts_stay_realtime),
		cmocka_unit_test(test_recent_pattern_goes_normal_at_once),
		cmocka_unit_test(test_cool_down_renewed_while_it_lasts),
		cmocka_unit_test(test_zero_window_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
