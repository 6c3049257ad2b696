/* test_pacer.c - the token bucket behind `Bandwidth =`: its budget, how
 * long a held-back sender sleeps, and the setting's parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pacer.h"

#define MS 1000000ull
#define T0 (5 * 1000 * MS)
#define RATE 200000000ull /* 200 Mbit/s: 25 bytes a microsecond */
#define DGRAM 1476u       /* a full datagram as the pacer counts it */

static void test_off_means_no_limit(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 0, 2 * MS, T0);
	assert_false(pacer_on(&p));
	assert_true(pacer_budget(&p, T0) > (int64_t)1 << 40);
	pacer_consume(&p, 1u << 30);
	assert_int_equal(pacer_delay_ns(&p, T0, DGRAM), 0);
	assert_int_equal(pacer_wait_us(&p, T0, DGRAM), 0);
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, RATE, 2 * MS, T0);
	assert_true(pacer_on(&p));
	assert_int_equal(pacer_budget(&p, T0), 50000); /* 2 ms at 25 bytes a microsecond */
	pacer_consume(&p, 50000);
	assert_int_equal(pacer_budget(&p, T0), 0);
	assert_int_equal(pacer_budget(&p, T0 + MS), 25000); /* refilled at the rate */
	/* Idle for long: never more than the burst. */
	assert_int_equal(pacer_budget(&p, T0 + 500 * MS), 50000);
}

static void test_small_burst_is_two_datagrams(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 1000000, 2 * MS, T0); /* 1 Mbit/s: 2 ms is 250 bytes */
	assert_int_equal(pacer_budget(&p, T0), 3000);
}

/* Refills of less than a byte must add up, not be lost. */
static void test_fractions_accumulate(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 8000, 2 * MS, T0); /* 1000 bytes a second */
	pacer_consume(&p, 3000);
	uint64_t t = T0;
	for (int i = 0; i < 1000; i++) {
		t += 100000; /* 0.1 ms: a tenth of a byte each */
		(void)pacer_budget(&p, t);
	}
	assert_int_equal(pacer_budget(&p, t), 100); /* 0.1 s at 1000 bytes a second */
}

/* Refills that each earn a byte and a fraction keep the fraction: 0.8 byte
 * every 100 us at 64 kbit/s is 8000 bytes a second, not 5000. */
static void test_uneven_fractions_accumulate(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 64000, 2 * MS, T0);
	pacer_consume(&p, (uint64_t)pacer_budget(&p, T0));
	uint64_t t = T0, sent = 0;
	for (int i = 0; i < 10000; i++) {
		t += 100000;
		int64_t b = pacer_budget(&p, t);
		pacer_consume(&p, (uint64_t)b);
		sent += (uint64_t)b;
	}
	assert_int_equal(sent, 8000);
}

/* At the highest rate parse_bandwidth takes, rate x elapsed time passes
 * 2^64 within 50 ms: the refill must still be exact. */
static void test_highest_rate_is_exact(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 400000000000ull, 2 * MS, T0); /* 5e7 bytes a ms; burst 1e8 */
	assert_int_equal(pacer_budget(&p, T0), 100000000);
	pacer_consume(&p, 100000000);
	assert_int_equal(pacer_budget(&p, T0 + 1500000), 75000000);
	pacer_consume(&p, 75000000);
	assert_int_equal(pacer_budget(&p, T0 + 1500000 + 1), 50);
	pacer_consume(&p, 50);
	assert_int_equal(pacer_budget(&p, T0 + 1500000 + 999999999), 100000000);
	assert_int_equal(pacer_delay_ns(&p, T0 + 1500000 + 999999999, 100000000 + 50), 1);
}

static void test_delay_until_a_datagram_fits(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, RATE, 2 * MS, T0);
	pacer_consume(&p, 50000 + 1000); /* 1000 bytes in debt */
	/* 1000 + 1476 bytes at 25 a microsecond: 99.04 us. */
	uint64_t ns = pacer_delay_ns(&p, T0, DGRAM);
	assert_true(ns >= 99040 && ns <= 99041);
	assert_int_equal(pacer_delay_ns(&p, T0 + ns, DGRAM), 0);
}

/* The sleep of a held-back sender: microseconds, not rounded up to the
 * millisecond (a ping behind it waited up to 1 ms for poll()'s
 * granularity), but not shorter than a tick. */
static void test_wait_in_microseconds(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, RATE, 2 * MS, T0);
	assert_int_equal(pacer_wait_us(&p, T0, DGRAM), 0); /* fits now */
	pacer_consume(&p, 50000);
	/* 1476 bytes at 25 a microsecond: 59.04 us, so a tick. */
	assert_int_equal(pacer_wait_us(&p, T0, DGRAM), PACER_TICK_US);
	pacer_consume(&p, 10000);
	/* 11,476 bytes: 459.04 us, rounded up to 460. */
	assert_int_equal(pacer_wait_us(&p, T0, DGRAM), 460);
	assert_int_equal(pacer_wait_us(&p, T0 + 460 * 1000, DGRAM), 0);
}

/* A saturated sender as the data threads run one: send while there is
 * budget, then sleep as pacer_wait_us says (for a batch). Over a second
 * it must get its rate, neither more nor (the bucket filling up while it
 * sleeps) much less. */
static uint64_t saturated_second(uint64_t rate)
{
	struct pacer p;
	uint64_t t = T0, sent = 0;
	pacer_init(&p, rate, 2 * MS, t);
	pacer_consume(&p, (uint64_t)pacer_budget(&p, t)); /* start with an empty bucket */
	while (t < T0 + 1000 * MS) {
		while (pacer_budget(&p, t) > 0) {
			pacer_consume(&p, DGRAM);
			sent += DGRAM;
		}
		int us = pacer_wait_us(&p, t, PACER_WAKE_DGRAMS * DGRAM);
		assert_true(us >= PACER_TICK_US);
		t += (uint64_t)us * 1000;
	}
	return sent;
}

static void test_saturated_sender_keeps_its_rate(void **state)
{
	(void)state;
	const uint64_t rates[] = { 1000000, 10000000, 50000000, 190000000, 1000000000, 10000000000ull };
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		uint64_t want = rates[i] / 8, got = saturated_second(rates[i]);
		assert_true(got >= want * 97 / 100);
		assert_true(got <= want + 2 * DGRAM + want / 100);
	}
}

/* A sender with packets waiting: at once while the bucket holds a wake-up's
 * worth of full datagrams (MTU 1400 is DGRAM bytes on the link), else until
 * it does; never held when it does not pace. */
static void test_sender_wait_is_a_wakeups_worth(void **state)
{
	(void)state;
	struct pacer p;
	pacer_init(&p, 0, PACER_BURST_NS, T0);
	pacer_consume(&p, 1u << 30);
	assert_int_equal(pacer_sender_wait_us(&p, T0, 1400), 0);

	pacer_init(&p, RATE, PACER_BURST_NS, T0);
	assert_int_equal(pacer_sender_wait_us(&p, T0, 1400), 0);
	pacer_consume(&p, (uint64_t)pacer_budget(&p, T0));
	/* 8 x 1476 bytes at 25 bytes a microsecond: 472.3 us, rounded up */
	assert_int_equal(pacer_sender_wait_us(&p, T0, 1400), 473);
	assert_int_equal(pacer_sender_wait_us(&p, T0, 1400), pacer_wait_us(&p, T0, PACER_WAKE_DGRAMS * DGRAM));
	assert_int_equal(pacer_sender_wait_us(&p, T0 + 473 * 1000, 1400), 0);
}

static void test_parse_bandwidth(void **state)
{
	(void)state;
	uint64_t b = 0;
	assert_int_equal(parse_bandwidth("190mbit", &b), 0);
	assert_int_equal(b, 190000000);
	assert_int_equal(parse_bandwidth("1.5gbit", &b), 0);
	assert_int_equal(b, 1500000000);
	assert_int_equal(parse_bandwidth("800kbit", &b), 0);
	assert_int_equal(b, 800000);
	assert_int_equal(parse_bandwidth("50000000", &b), 0);
	assert_int_equal(b, 50000000);
	assert_int_equal(parse_bandwidth("190MBit", &b), 0);
	assert_int_equal(b, 190000000);
	assert_int_equal(parse_bandwidth("", &b), -1);
	assert_int_equal(parse_bandwidth("fast", &b), -1);
	assert_int_equal(parse_bandwidth("0mbit", &b), -1);
	assert_int_equal(parse_bandwidth("-5mbit", &b), -1);
	assert_int_equal(parse_bandwidth("10mb", &b), -1);
	assert_int_equal(parse_bandwidth("63999", &b), -1); /* a typo, surely */
	assert_int_equal(parse_bandwidth("64kbit", &b), 0);
	assert_int_equal(parse_bandwidth("nan", &b), -1); /* passes every < and > */
	assert_int_equal(parse_bandwidth("NaNmbit", &b), -1);
	assert_int_equal(parse_bandwidth("inf", &b), -1);
	assert_int_equal(parse_bandwidth("1e300gbit", &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_means_no_limit),
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_small_burst_is_two_datagrams),
		cmocka_unit_test(test_fractions_accumulate),
		cmocka_unit_test(test_uneven_fractions_accumulate),
		cmocka_unit_test(test_highest_rate_is_exact),
		cmocka_unit_test(test_delay_until_a_datagram_fits),
		cmocka_unit_test(test_wait_in_microseconds),
		cmocka_unit_test(test_saturated_sender_keeps_its_rate),
		cmocka_unit_test(test_sender_wait_is_a_wakeups_worth),
		cmocka_unit_test(test_parse_bandwidth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
