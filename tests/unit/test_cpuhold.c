/* test_cpuhold.c - when CpuLatency's request is made and withdrawn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cpuhold.h"

#define MS 1000000ull
#define HOLD (50 * MS)
#define T0 (1000 * MS) /* a monotonic clock well past zero */

/* Applies what tick asked for, as cpulat_linux.c does. */
static enum cpuhold_act tick(struct cpuhold *h, size_t pkts, uint64_t now)
{
	enum cpuhold_act a = cpuhold_tick(h, pkts, now);
	if (a == CPUHOLD_MAKE)
		cpuhold_set(h, true);
	else if (a == CPUHOLD_WITHDRAW)
		cpuhold_set(h, false);
	return a;
}

static void test_made_by_packets_once(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	assert_int_equal(tick(&h, 0, T0), CPUHOLD_NONE); /* nothing yet: nothing to withdraw */
	assert_int_equal(tick(&h, 3, T0 + MS), CPUHOLD_MAKE);
	assert_int_equal(tick(&h, 64, T0 + 2 * MS), CPUHOLD_NONE); /* already held */
	assert_int_equal(tick(&h, 0, T0 + 3 * MS), CPUHOLD_NONE);  /* a quiet loop inside the hold */
}

static void test_withdrawn_after_the_hold(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	tick(&h, 1, T0);
	assert_int_equal(tick(&h, 0, T0 + HOLD - 1), CPUHOLD_NONE);
	assert_false(cpuhold_expired(&h, T0 + HOLD - 1));
	assert_true(cpuhold_expired(&h, T0 + HOLD));
	assert_int_equal(tick(&h, 0, T0 + HOLD), CPUHOLD_WITHDRAW);
	assert_int_equal(tick(&h, 0, T0 + 2 * HOLD), CPUHOLD_NONE); /* withdrawn once */
	assert_int_equal(tick(&h, 1, T0 + 3 * HOLD), CPUHOLD_MAKE); /* and made again */
}

static void test_packets_extend_the_hold(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	tick(&h, 1, T0);
	/* A packet every 16 ms (iputils' ping asked for one every 10 ms) keeps it. */
	uint64_t t = T0;
	for (int i = 0; i < 100; i++) {
		t += 16 * MS;
		assert_int_equal(tick(&h, 0, t - 8 * MS), CPUHOLD_NONE);
		assert_int_equal(tick(&h, 1, t), CPUHOLD_NONE);
	}
	assert_int_equal(tick(&h, 0, t + HOLD - 1), CPUHOLD_NONE);
	assert_int_equal(tick(&h, 0, t + HOLD), CPUHOLD_WITHDRAW);
}

/* The last-packet time moves only every CPUHOLD_TOUCH_NS: packets closer
 * together than that may end the hold that much early, never later. */
static void test_touch_granularity(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	tick(&h, 1, T0);
	tick(&h, 1, T0 + CPUHOLD_TOUCH_NS - 1); /* not recorded */
	assert_true(cpuhold_expired(&h, T0 + HOLD));
	tick(&h, 1, T0 + CPUHOLD_TOUCH_NS); /* recorded */
	assert_false(cpuhold_expired(&h, T0 + HOLD));
	assert_true(cpuhold_expired(&h, T0 + CPUHOLD_TOUCH_NS + HOLD));
}

static void test_sleep_no_longer_than_the_hold(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0), 100000); /* not held: as asked */
	tick(&h, 1, T0);
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0), 50000);
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0 + 10 * MS + 1500), 39999); /* rounded up, to the microsecond */
	assert_int_equal(cpuhold_wait_us(&h, 20000, T0), 20000);                /* shorter: as asked */
	assert_int_equal(cpuhold_wait_us(&h, 0, T0), 0);                  /* busy: no sleep */
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0 + HOLD), 0);         /* due: look, then withdraw */
	tick(&h, 0, T0 + HOLD);
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0 + HOLD), 100000);
}

/* Many packets: the CPUs are busy anyway, and the request goes until the
 * rate falls below CPUHOLD_BUSY_PPS for a window. */
static void test_not_held_under_load(void **state)
{
	(void)state;
	struct cpuhold h;
	const uint64_t W = CPUHOLD_WINDOW_NS;
	const size_t busy = CPUHOLD_BUSY_PPS * W / 1000000000ull; /* packets in a window at that rate */
	cpuhold_init(&h, HOLD);
	assert_int_equal(tick(&h, 1, T0), CPUHOLD_MAKE); /* the first window starts here */
	assert_int_equal(tick(&h, busy, T0 + 10 * MS), CPUHOLD_NONE); /* counted, the window not over */
	assert_int_equal(tick(&h, 0, T0 + W), CPUHOLD_WITHDRAW);       /* over: that rate is busy */
	assert_int_equal(tick(&h, 500, T0 + W + MS), CPUHOLD_NONE);    /* not made while busy */
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0 + W + MS), 100000);   /* nothing to withdraw */
	assert_int_equal(tick(&h, busy - 500, T0 + 2 * W), CPUHOLD_NONE); /* still busy: exactly the rate */
	assert_int_equal(tick(&h, 1, T0 + 3 * W), CPUHOLD_MAKE);        /* one packet in a window: light */
	/* Just under the rate is light. */
	assert_int_equal(tick(&h, busy - 2, T0 + 3 * W + MS), CPUHOLD_NONE);
	assert_int_equal(tick(&h, 1, T0 + 4 * W), CPUHOLD_NONE); /* still held */
}

/* Another thread may record a packet after this one read the clock. */
static void test_clock_read_before_another_threads_packet(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	tick(&h, 1, T0 + MS);
	assert_false(cpuhold_expired(&h, T0)); /* not a huge unsigned "quiet" time */
	assert_int_equal(tick(&h, 0, T0), CPUHOLD_NONE);
	assert_int_equal(cpuhold_wait_us(&h, 100000, T0), 51000);
}

static void test_sleep_for_ever_is_clamped(void **state)
{
	(void)state;
	struct cpuhold h;
	cpuhold_init(&h, HOLD);
	assert_int_equal(cpuhold_wait_us(&h, -1, T0), -1); /* not held: as asked */
	tick(&h, 1, T0);
	assert_int_equal(cpuhold_wait_us(&h, -1, T0), 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_by_packets_once),
		cmocka_unit_test(test_withdrawn_after_the_hold),
		cmocka_unit_test(test_packets_extend_the_hold),
		cmocka_unit_test(test_touch_granularity),
		cmocka_unit_test(test_sleep_no_longer_than_the_hold),
		cmocka_unit_test(test_not_held_under_load),
		cmocka_unit_test(test_clock_read_before_another_threads_packet),
		cmocka_unit_test(test_sleep_for_ever_is_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
