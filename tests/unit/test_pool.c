/* test_pool.c - the packet buffer pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pkt.h"

#define POOL_N 256

struct fixture {
	struct pool *pool;
};

static int setup_pool(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->pool = pool_new(POOL_N);
	if (!f->pool)
		return -1;
	*state = f;
	return 0;
}

static int teardown_pool(void **state)
{
	struct fixture *f = *state;
	pool_free(f->pool);
	free(f);
	return 0;
}

static void test_pool_counts_and_exhaustion(void **state)
{
	struct fixture *f = *state;
	struct pkt *got[POOL_N + 8];
	assert_int_equal(pool_available(f->pool), POOL_N);
	assert_int_equal(pool_get(f->pool, got, 10), 10);
	assert_int_equal(pool_available(f->pool), POOL_N - 10);
	/* ask for more than is left: get what is left */
	assert_int_equal(pool_get(f->pool, got + 10, POOL_N), POOL_N - 10);
	assert_int_equal(pool_available(f->pool), 0);
	assert_int_equal(pool_get(f->pool, got + POOL_N, 1), 0);
	/* every buffer distinct */
	for (size_t i = 0; i < POOL_N; i++)
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(got[i], got[j]);
	pool_put(f->pool, got, 3);
	assert_int_equal(pool_available(f->pool), 3);
	pool_put(f->pool, got + 3, POOL_N - 3);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_pool_get_resets(void **state)
{
	struct fixture *f = *state;
	struct pkt *p;
	assert_int_equal(pool_get(f->pool, &p, 1), 1);
	p->data = p->buf + 3;
	p->len = 77;
	p->peer = p;
	pool_put(f->pool, &p, 1);
	struct pkt *again;
	assert_int_equal(pool_get(f->pool, &again, 1), 1);
	assert_ptr_equal(again, p); /* a stack: the one just put back */
	assert_ptr_equal(again->data, again->buf + PKT_HEADROOM);
	assert_int_equal(again->len, 0);
	assert_null(again->peer);
	pool_put(f->pool, &again, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_pool, teardown_pool)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pool_counts_and_exhaustion),
		T(test_pool_get_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
