/* test_queue.c - the packet pool and the bounded head-drop queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pkt.h"
#include "queue.h"

#define POOL_N 256

struct fixture {
	struct pool *pool;
	struct pktq q;
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

/* One packet from the pool, len bytes, tagged with id in its first bytes. */
static struct pkt *mkpkt(struct pool *pl, uint32_t id, uint32_t len)
{
	struct pkt *p;
	assert_int_equal(pool_get(pl, &p, 1), 1);
	assert_true(len >= sizeof(id));
	memcpy(p->data, &id, sizeof(id));
	p->len = len;
	return p;
}

static uint32_t pkt_id(const struct pkt *p)
{
	uint32_t id;
	memcpy(&id, p->data, sizeof(id));
	return id;
}

static void push_one(struct pktq *q, struct pkt *p)
{
	pktq_push(q, &p, 1);
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

static void test_fifo_order(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 16, 1 << 20, f->pool), 0);
	for (uint32_t i = 0; i < 10; i++)
		push_one(q, mkpkt(f->pool, i, 100));
	assert_int_equal(pktq_len(q), 10);
	struct pkt *out[16];
	assert_int_equal(pktq_pop(q, out, 4, 0), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(pkt_id(out[i]), i);
	pool_put(f->pool, out, 4);
	/* wrap the ring around */
	for (uint32_t i = 10; i < 20; i++)
		push_one(q, mkpkt(f->pool, i, 100));
	assert_int_equal(pktq_pop(q, out, 16, 0), 16);
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(pkt_id(out[i]), i + 4);
	pool_put(f->pool, out, 16);
	assert_int_equal(atomic_load(&q->drops), 0);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_push_return_value(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 8, 1 << 20, f->pool), 0);
	struct pkt *p = mkpkt(f->pool, 1, 100);
	assert_true(pktq_push(q, &p, 1));  /* empty -> non-empty */
	p = mkpkt(f->pool, 2, 100);
	assert_false(pktq_push(q, &p, 1)); /* already non-empty */
	struct pkt *batch[3] = { mkpkt(f->pool, 3, 100), mkpkt(f->pool, 4, 100), mkpkt(f->pool, 5, 100) };
	assert_false(pktq_push(q, batch, 3));
	/* pushing nothing onto an empty queue does not make it non-empty */
	pktq_flush(q);
	assert_int_equal(pktq_len(q), 0);
	assert_false(pktq_push(q, batch, 0));
	assert_int_equal(pktq_len(q), 0);
	/* a batch onto an empty queue */
	for (int i = 0; i < 3; i++)
		batch[i] = mkpkt(f->pool, (uint32_t)i, 100);
	assert_true(pktq_push(q, batch, 3));
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_head_drop_by_count(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 4, 1 << 20, f->pool), 0);
	for (uint32_t i = 0; i < 4; i++)
		push_one(q, mkpkt(f->pool, i, 100));
	size_t avail = pool_available(f->pool);
	assert_int_equal(atomic_load(&q->drops), 0);

	push_one(q, mkpkt(f->pool, 4, 100));
	push_one(q, mkpkt(f->pool, 5, 100));
	assert_int_equal(pktq_len(q), 4);
	assert_int_equal(atomic_load(&q->drops), 2);
	/* two taken for the new ones, two dropped ones returned */
	assert_int_equal(pool_available(f->pool), avail);

	struct pkt *out[8];
	assert_int_equal(pktq_pop(q, out, 8, 0), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(pkt_id(out[i]), i + 2); /* 0 and 1, the oldest, went */
	pool_put(f->pool, out, 4);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_head_drop_big_batch(void **state)
{
	/* More drops in one push than the queue's internal drop batch. */
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	enum { CAP = 10, N = 200 };
	assert_int_equal(pktq_init(q, CAP, 1 << 20, f->pool), 0);
	struct pkt *batch[N];
	for (uint32_t i = 0; i < N; i++)
		batch[i] = mkpkt(f->pool, i, 64);
	assert_int_equal(pool_available(f->pool), POOL_N - N);
	assert_true(pktq_push(q, batch, N));
	assert_int_equal(pktq_len(q), CAP);
	assert_int_equal(atomic_load(&q->drops), N - CAP);
	assert_int_equal(pool_available(f->pool), POOL_N - CAP);
	struct pkt *out[CAP];
	assert_int_equal(pktq_pop(q, out, CAP, 0), CAP);
	for (uint32_t i = 0; i < CAP; i++)
		assert_int_equal(pkt_id(out[i]), N - CAP + i);
	pool_put(f->pool, out, CAP);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_head_drop_by_bytes(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 100, 3000, f->pool), 0);
	for (uint32_t i = 0; i < 3; i++)
		push_one(q, mkpkt(f->pool, i, 1000));
	assert_int_equal(pktq_len(q), 3);
	assert_int_equal(q->bytes, 3000);
	assert_int_equal(atomic_load(&q->drops), 0);
	size_t avail = pool_available(f->pool);

	/* 4 more bytes do not fit: the oldest goes */
	push_one(q, mkpkt(f->pool, 3, 4));
	assert_int_equal(pktq_len(q), 3);
	assert_int_equal(q->bytes, 2004);
	assert_int_equal(atomic_load(&q->drops), 1);
	assert_int_equal(pool_available(f->pool), avail);

	/* a 2500-byte packet needs room for 2500: two more go */
	push_one(q, mkpkt(f->pool, 4, 2500));
	assert_int_equal(atomic_load(&q->drops), 3);
	assert_int_equal(pktq_len(q), 2);
	assert_int_equal(q->bytes, 2504);
	assert_int_equal(pool_available(f->pool), avail + 1);

	struct pkt *out[4];
	assert_int_equal(pktq_pop(q, out, 4, 0), 2);
	assert_int_equal(pkt_id(out[0]), 3);
	assert_int_equal(pkt_id(out[1]), 4);
	assert_int_equal(q->bytes, 0);
	pool_put(f->pool, out, 2);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_pop_timeout_zero_on_empty(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 4, 1 << 20, f->pool), 0);
	struct pkt *out[4];
	assert_int_equal(pktq_pop(q, out, 4, 0), 0);
	/* a short timeout returns 0 after waiting */
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(pktq_pop(q, out, 4, 30), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 25);
	pktq_destroy(q);
}

static void test_pop_bytes_budget(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 16, 1 << 20, f->pool), 0);
	const uint32_t lens[] = { 1000, 1000, 1000, 200, 1500 };
	for (uint32_t i = 0; i < 5; i++)
		push_one(q, mkpkt(f->pool, i, lens[i]));
	struct pkt *out[16];
	size_t bytes = 12345;

	/* budget smaller than the head: still one */
	assert_int_equal(pktq_pop_bytes(q, out, 16, 10, &bytes), 1);
	assert_int_equal(bytes, 1000);
	assert_int_equal(pkt_id(out[0]), 0);
	pool_put(f->pool, out, 1);

	/* 1000 + 1000 fit 2199; the next 200 would make 2200 */
	assert_int_equal(pktq_pop_bytes(q, out, 16, 2199, &bytes), 2);
	assert_int_equal(bytes, 2000);
	assert_int_equal(pkt_id(out[0]), 1);
	assert_int_equal(pkt_id(out[1]), 2);
	pool_put(f->pool, out, 2);

	/* an exact fit is taken */
	assert_int_equal(pktq_pop_bytes(q, out, 16, 1700, &bytes), 2);
	assert_int_equal(bytes, 1700);
	pool_put(f->pool, out, 2);

	/* empty: nothing, bytes 0, no waiting */
	assert_int_equal(pktq_pop_bytes(q, out, 16, 100000, &bytes), 0);
	assert_int_equal(bytes, 0);

	/* max bounds the count even with budget left */
	for (uint32_t i = 0; i < 5; i++)
		push_one(q, mkpkt(f->pool, i, 10));
	assert_int_equal(pktq_pop_bytes(q, out, 3, 100000, &bytes), 3);
	assert_int_equal(bytes, 30);
	pool_put(f->pool, out, 3);
	assert_int_equal(pktq_len(q), 2);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

struct popper {
	struct pktq *q;
	size_t got;
	int done;
};

static void *pop_forever(void *arg)
{
	struct popper *pp = arg;
	struct pkt *out[4];
	pp->got = pktq_pop(pp->q, out, 4, -1);
	__atomic_store_n(&pp->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void test_close_wakes_waiter(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 4, 1 << 20, f->pool), 0);
	struct popper pp = { .q = q, .got = 99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pop_forever, &pp), 0);
	sleep_ms(50);
	assert_int_equal(__atomic_load_n(&pp.done, __ATOMIC_SEQ_CST), 0); /* really waiting */
	pktq_close(q);
	for (int i = 0; i < 200 && !__atomic_load_n(&pp.done, __ATOMIC_SEQ_CST); i++)
		sleep_ms(10);
	if (!__atomic_load_n(&pp.done, __ATOMIC_SEQ_CST)) {
		/* still asleep after 2 s: wake it another way so the test ends */
		push_one(q, mkpkt(f->pool, 1, 100));
		pthread_join(t, NULL);
		pktq_destroy(q);
		fail_msg("pktq_close did not wake a waiting pktq_pop");
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pp.got, 0);
	pktq_destroy(q);
}

static void test_push_wakes_waiter(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 4, 1 << 20, f->pool), 0);
	struct popper pp = { .q = q, .got = 99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pop_forever, &pp), 0);
	sleep_ms(20);
	push_one(q, mkpkt(f->pool, 7, 100));
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pp.got, 1);
	/* the popper did not return the buffer: do it for it */
	assert_int_equal(pool_available(f->pool), POOL_N - 1);
	pktq_destroy(q);
}

static void test_close_drains_then_zero(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 4, 1 << 20, f->pool), 0);
	push_one(q, mkpkt(f->pool, 1, 100));
	push_one(q, mkpkt(f->pool, 2, 100));
	pktq_close(q);
	struct pkt *out[4];
	assert_int_equal(pktq_pop(q, out, 1, -1), 1);
	assert_int_equal(pkt_id(out[0]), 1);
	pool_put(f->pool, out, 1);
	assert_int_equal(pktq_pop(q, out, 4, -1), 1);
	assert_int_equal(pkt_id(out[0]), 2);
	pool_put(f->pool, out, 1);
	/* closed and drained: no waiting, even with an infinite timeout */
	assert_int_equal(pktq_pop(q, out, 4, -1), 0);
	assert_int_equal(pktq_pop(q, out, 4, 1000), 0);
	pktq_destroy(q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

static void test_flush_returns_buffers(void **state)
{
	struct fixture *f = *state;
	struct pktq *q = &f->q;
	assert_int_equal(pktq_init(q, 200, 1 << 20, f->pool), 0);
	for (uint32_t i = 0; i < 150; i++)
		push_one(q, mkpkt(f->pool, i, 100));
	assert_int_equal(pool_available(f->pool), POOL_N - 150);
	pktq_flush(q);
	assert_int_equal(pktq_len(q), 0);
	assert_int_equal(q->bytes, 0);
	assert_int_equal(pool_available(f->pool), POOL_N);
	pktq_destroy(q);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_pool, teardown_pool)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pool_counts_and_exhaustion),
		T(test_pool_get_resets),
		T(test_fifo_order),
		T(test_push_return_value),
		T(test_head_drop_by_count),
		T(test_head_drop_big_batch),
		T(test_head_drop_by_bytes),
		T(test_pop_timeout_zero_on_empty),
		T(test_pop_bytes_budget),
		T(test_close_wakes_waiter),
		T(test_push_wakes_waiter),
		T(test_close_drains_then_zero),
		T(test_flush_returns_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
