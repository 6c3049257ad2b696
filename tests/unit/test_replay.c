/* test_replay.c - the sliding replay window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "replay.h"

_Static_assert(REPLAY_WINDOW >= 2048, "the window tolerates at least 2048 packets of reordering");

static struct replay fresh(void)
{
	struct replay r;
	replay_init(&r);
	return r;
}

/* Accepts every seq in [from, to]. */
static void accept_range(struct replay *r, uint32_t from, uint32_t to)
{
	for (uint64_t s = from; s <= to; s++)
		assert_true(replay_check(r, (uint32_t)s));
}

static void test_in_order_accept(void **state)
{
	(void)state;
	struct replay r = fresh();
	accept_range(&r, 0, 10000);
}

static void test_duplicate_reject(void **state)
{
	(void)state;
	struct replay r = fresh();
	accept_range(&r, 0, 99);
	for (uint32_t s = 0; s < 100; s++)
		assert_false(replay_check(&r, s));
	/* still rejected on a second pass */
	assert_false(replay_check(&r, 99));
	assert_false(replay_check(&r, 50));
	/* the next new one is fine */
	assert_true(replay_check(&r, 100));
}

static void test_first_packet_seq_zero(void **state)
{
	(void)state;
	struct replay r = fresh();
	assert_true(replay_check(&r, 0));
	assert_false(replay_check(&r, 0));
	assert_true(replay_check(&r, 1));
}

static void test_first_packet_nonzero(void **state)
{
	(void)state;
	struct replay r = fresh();
	assert_true(replay_check(&r, 5000));
	assert_false(replay_check(&r, 5000));
	/* older ones within the window were never seen */
	assert_true(replay_check(&r, 5000 - 1));
	assert_true(replay_check(&r, 5000 - REPLAY_WINDOW + 1));
	assert_false(replay_check(&r, 5000 - REPLAY_WINDOW));
}

static void test_out_of_order_within_window_once(void **state)
{
	(void)state;
	struct replay r = fresh();
	/* evens first, then odds in reverse: every one accepted exactly once */
	for (uint32_t s = 0; s < 4000; s += 2)
		assert_true(replay_check(&r, s));
	for (uint32_t s = 3999;; s -= 2) {
		assert_true(replay_check(&r, s));
		if (s == 1)
			break;
	}
	for (uint32_t s = 0; s < 4000; s++)
		assert_false(replay_check(&r, s));
}

static void test_window_edge(void **state)
{
	(void)state;
	struct replay r = fresh();
	const uint32_t top = 10000;
	assert_true(replay_check(&r, top));
	/* accepted: newer than top - REPLAY_WINDOW, i.e. the last REPLAY_WINDOW seqs */
	assert_false(replay_check(&r, top - REPLAY_WINDOW));
	assert_false(replay_check(&r, top - REPLAY_WINDOW - 1000));
	assert_false(replay_check(&r, 0));
	assert_true(replay_check(&r, top - REPLAY_WINDOW + 1));
	assert_false(replay_check(&r, top - REPLAY_WINDOW + 1));
	/* every one in between is accepted once */
	accept_range(&r, top - REPLAY_WINDOW + 2, top - 1);
	for (uint32_t s = top - REPLAY_WINDOW; s <= top; s++)
		assert_false(replay_check(&r, s));
}

static void test_window_slides_with_every_offset(void **state)
{
	(void)state;
	/* The ring moves a word at a time; check the edge at every bit offset. */
	for (uint32_t top = 5000; top < 5000 + 130; top++) {
		struct replay r = fresh();
		assert_true(replay_check(&r, top - 100));
		assert_true(replay_check(&r, top));
		assert_false(replay_check(&r, top - REPLAY_WINDOW));
		assert_true(replay_check(&r, top - REPLAY_WINDOW + 1));
		assert_false(replay_check(&r, top - 100));
		assert_true(replay_check(&r, top - 1));
	}
}

static void test_big_jump_clears_old_state(void **state)
{
	(void)state;
	struct replay r = fresh();
	accept_range(&r, 0, 100);
	assert_true(replay_check(&r, 100000));
	/* bits of 0..100 must not alias onto the new window */
	assert_true(replay_check(&r, 100000 - REPLAY_WINDOW + 1));
	assert_true(replay_check(&r, 99999));
	assert_false(replay_check(&r, 100000));
	assert_false(replay_check(&r, 50));
	/* everything else in the window is still fresh, exactly once */
	for (uint32_t s = 100000 - REPLAY_WINDOW + 2; s < 99999; s++)
		assert_true(replay_check(&r, s));
	for (uint32_t s = 100000 - REPLAY_WINDOW; s <= 100000; s++)
		assert_false(replay_check(&r, s));
}

static void test_jump_by_less_than_ring(void **state)
{
	(void)state;
	/* A jump that moves only some words must clear exactly those. */
	struct replay r = fresh();
	accept_range(&r, 10000, 13000);
	assert_true(replay_check(&r, 14000));
	/* 13001..13999 are new */
	accept_range(&r, 13001, 13999);
	/* the old ones, all still inside the window, stay seen */
	for (uint32_t s = 10000; s <= 13000; s++)
		assert_false(replay_check(&r, s));
	/* inside the window but never seen */
	accept_range(&r, 14000 - REPLAY_WINDOW + 1, 9999);
	assert_false(replay_check(&r, 14000 - REPLAY_WINDOW));
}

static void test_ring_aliasing_after_exact_ring_jump(void **state)
{
	(void)state;
	/* A jump of exactly REPLAY_BITS lands on the same bit position. */
	struct replay r = fresh();
	accept_range(&r, 0, 200);
	const uint32_t top = 100 + REPLAY_BITS;
	assert_true(replay_check(&r, top));
	/* 201..top-1 are new, including REPLAY_BITS..REPLAY_BITS+99, whose ring
	 * bits held 0..99 before the jump */
	accept_range(&r, 201, top - 1);
	/* the old ones still inside the window stay seen */
	for (uint32_t s = top - REPLAY_WINDOW; s <= 200; s++)
		assert_false(replay_check(&r, s));
}

static void test_near_uint32_max(void **state)
{
	(void)state;
	struct replay r = fresh();
	const uint32_t max = UINT32_MAX;
	assert_true(replay_check(&r, max - 10));
	assert_true(replay_check(&r, max));
	assert_false(replay_check(&r, max));
	assert_true(replay_check(&r, max - 1));
	assert_false(replay_check(&r, max - 10));
	assert_true(replay_check(&r, max - REPLAY_WINDOW + 1));
	assert_false(replay_check(&r, max - REPLAY_WINDOW));
	/* small values must not look fresh through wrap-around */
	assert_false(replay_check(&r, 0));
	assert_false(replay_check(&r, 1));
	assert_false(replay_check(&r, REPLAY_WINDOW));
}

static void test_jump_from_zero_to_max(void **state)
{
	(void)state;
	struct replay r = fresh();
	accept_range(&r, 0, 63);
	assert_true(replay_check(&r, UINT32_MAX));
	assert_true(replay_check(&r, UINT32_MAX - 63));
	assert_false(replay_check(&r, 63));
}

static void test_init_resets(void **state)
{
	(void)state;
	struct replay r = fresh();
	accept_range(&r, 0, 10);
	replay_init(&r);
	accept_range(&r, 0, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_accept),
		cmocka_unit_test(test_duplicate_reject),
		cmocka_unit_test(test_first_packet_seq_zero),
		cmocka_unit_test(test_first_packet_nonzero),
		cmocka_unit_test(test_out_of_order_within_window_once),
		cmocka_unit_test(test_window_edge),
		cmocka_unit_test(test_window_slides_with_every_offset),
		cmocka_unit_test(test_big_jump_clears_old_state),
		cmocka_unit_test(test_jump_by_less_than_ring),
		cmocka_unit_test(test_ring_aliasing_after_exact_ring_jump),
		cmocka_unit_test(test_near_uint32_max),
		cmocka_unit_test(test_jump_from_zero_to_max),
		cmocka_unit_test(test_init_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
