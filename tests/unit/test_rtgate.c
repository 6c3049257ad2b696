/* test_rtgate.c - when the data threads go real-time and back. */
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

static void test_idle_stays_normal(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	assert_false(rtgate_window(&g, 0, 0, W, 10 * S));
	assert_false(rtgate_window(&g, 0, 3, W, 10 * S + W));
	/* A fast stream that wakes us per packet is not worth it. */
	assert_false(rtgate_window(&g, at(100000), at(100000) / 2, W, 10 * S + 2 * W));
}

static void test_busy_batches_go_realtime(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	/* A TCP transfer: 400k packets a second, 2k sleeps. */
	assert_true(rtgate_window(&g, at(400000), at(2000), W, 10 * S));
	/* Exactly the thresholds. */
	struct rtgate h = { 0 };
	uint64_t p = at(RTGATE_MIN_PPS);
	assert_true(rtgate_window(&h, p, p / RTGATE_ON_PER_SLEEP, W, 10 * S));
	struct rtgate k = { 0 };
	assert_false(rtgate_window(&k, p - 1, 1, W, 10 * S));          /* below the rate */
	assert_false(rtgate_window(&k, p, p / RTGATE_ON_PER_SLEEP + 1, W, 10 * S)); /* small batches */
}

static void test_hysteresis(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	assert_true(rtgate_window(&g, at(400000), at(2000), W, 10 * S));
	/* Half the rate and batches of 16: below the way in, above the way out. */
	assert_true(rtgate_window(&g, at(RTGATE_MIN_PPS / 2), at(RTGATE_MIN_PPS / 2) / 16, W, 10 * S + W));
	/* Under half the rate: the load went away; nothing holds a return. */
	assert_false(rtgate_window(&g, at(RTGATE_MIN_PPS / 2) - 1, 1, W, 10 * S + 2 * W));
	assert_true(rtgate_window(&g, at(400000), at(2000), W, 10 * S + 3 * W));
}

static void test_small_batches_under_realtime_cool_down(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	uint64_t t = 10 * S;
	assert_true(rtgate_window(&g, at(100000), at(1000), W, t));
	/* Under real-time the batches fall to 2 packets a sleep: back, and shut. */
	t += W;
	assert_false(rtgate_window(&g, at(100000), at(50000), W, t));
	uint64_t shut = t;
	/* Batches as big as before do not reopen it during the cool-down... */
	t += W;
	assert_false(rtgate_window(&g, at(100000), at(1000), W, t));
	assert_false(rtgate_window(&g, at(100000), at(1000), W, shut + RTGATE_COOL_NS - 1));
	/* ...and do after it. */
	assert_true(rtgate_window(&g, at(100000), at(1000), W, shut + RTGATE_COOL_NS));
}

static void test_zero_window_changes_nothing(void **state)
{
	(void)state;
	struct rtgate g = { 0 };
	assert_false(rtgate_window(&g, 1000000, 0, 0, 10 * S));
	g.hot = true;
	assert_true(rtgate_window(&g, 0, 1000000, 0, 10 * S));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_stays_normal),
		cmocka_unit_test(test_busy_batches_go_realtime),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_small_batches_under_realtime_cool_down),
		cmocka_unit_test(test_zero_window_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
