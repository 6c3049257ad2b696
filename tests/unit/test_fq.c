/* test_fq.c - the flow queue: DRR between flows (RFC 8290), CoDel inside
 * each flow (RFC 8289), the overflow bound, the flow hash and CE marking.
 *
 * Time is a fake clock (fake_now, in ns) so every CoDel decision is
 * deterministic. The scheduling tests pin the hash key after fq_init so
 * the flows they use land in known-distinct buckets every run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "fq.h"
#include "pkt.h"

#define POOL_N 4096
#define NFLOWS 1024
#define QUANTUM 1400
#define BIG_CAP 100000
#define MS 1000000ull
#define FIXED_KEY 0x5eed1234u

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Where the test writes its own marks into a packet's payload. */
#define OFF_SEQ 40
#define OFF_TAG 44
#define MIN_LEN 48

/* ---- fake clock ---- */

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

/* ---- fixture ---- */

struct fixture {
	struct pool *pool;
	struct fq q;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->pool = pool_new(POOL_N);
	if (!f->pool)
		return -1;
	fake_now = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pool_free(f->pool);
	free(f);
	return 0;
}

static struct fq *qinit(struct fixture *f, size_t cap_pkts, size_t cap_bytes)
{
	assert_int_equal(fq_init(&f->q, NFLOWS, cap_pkts, cap_bytes, QUANTUM, f->pool), 0);
	assert_int_equal(f->q.nflows, NFLOWS);
	f->q.hash_key = FIXED_KEY; /* deterministic buckets; see test_hash_key_is_random */
	return &f->q;
}

/* Destroys the queue and checks every buffer found its way home. */
static void finish(struct fixture *f)
{
	fq_destroy(&f->q);
	assert_int_equal(pool_available(f->pool), POOL_N);
}

/* ---- packet builders ---- */

struct flow {
	uint8_t proto; /* 6 TCP, 17 UDP, 1 ICMP */
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t tos;
	uint32_t tag; /* which test flow; written into the payload */
};

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The IPv4 header checksum of ip as it should be (the field itself skipped). */
static uint16_t ip_csum_full(const uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 15) * 4;
	uint32_t s = 0;
	for (size_t i = 0; i < hl; i += 2)
		if (i != 10)
			s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint16_t ip_csum_field(const uint8_t *ip)
{
	return (uint16_t)(ip[10] << 8 | ip[11]);
}

/* The receiver's check: all header words, checksum included, sum to 0xffff. */
static bool ip_csum_ok(const uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 15) * 4;
	uint32_t s = 0;
	for (size_t i = 0; i < hl; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static void ip_set_csum(uint8_t *ip)
{
	put16(ip + 10, ip_csum_full(ip));
}

/* Writes an IPv4 + TCP/UDP/ICMP packet of len bytes into b. */
static void build_ip(uint8_t *b, const struct flow *fl, uint32_t len, uint32_t seq)
{
	memset(b, 0, len);
	b[0] = 0x45;
	b[1] = fl->tos;
	put16(b + 2, (uint16_t)len);
	put16(b + 4, (uint16_t)seq); /* IP id */
	b[8] = 64;
	b[9] = fl->proto;
	put32(b + 12, fl->src);
	put32(b + 16, fl->dst);
	uint8_t *l4 = b + 20;
	switch (fl->proto) {
	case 6:
		put16(l4, fl->sport);
		put16(l4 + 2, fl->dport);
		put32(l4 + 4, seq * 1000); /* TCP sequence */
		l4[12] = 5 << 4;
		l4[13] = 0x10; /* ACK */
		break;
	case 17:
		put16(l4, fl->sport);
		put16(l4 + 2, fl->dport);
		put16(l4 + 4, (uint16_t)(len - 20));
		break;
	case 1: {
		l4[0] = 8; /* echo request */
		put16(l4 + 4, (uint16_t)fl->sport); /* identifier */
		put16(l4 + 6, (uint16_t)seq);
		/* Its checksum, as a real ping has: it changes with the id and
		 * sequence, in the bytes where ports would be. */
		uint32_t sum = 0;
		for (uint32_t i = 0; i + 1 < len - 20; i += 2)
			sum += (uint32_t)(l4[i] << 8 | l4[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		put16(l4 + 2, (uint16_t)~sum);
		break;
	}
	}
	put32(b + OFF_SEQ, seq);
	put32(b + OFF_TAG, fl->tag);
	ip_set_csum(b);
}

/* One pool buffer holding a packet of flow fl, numbered seq. */
static struct pkt *mk(struct fixture *f, const struct flow *fl, uint32_t len, uint32_t seq)
{
	struct pkt *p;
	assert_int_equal(pool_get(f->pool, &p, 1), 1);
	assert_ptr_equal(p->data, p->buf + PKT_HEADROOM);
	assert_true(len >= MIN_LEN && len <= PKT_MAX_IP);
	build_ip(p->data, fl, len, seq);
	p->len = len;
	return p;
}

static uint32_t seq_of(const struct pkt *p)
{
	return get32(p->data + OFF_SEQ);
}

static uint32_t tag_of(const struct pkt *p)
{
	return get32(p->data + OFF_TAG);
}

/* Pushes n packets of fl numbered first.. in one batch; returns fq_push's answer. */
static bool push_n(struct fixture *f, const struct flow *fl, uint32_t len, uint32_t first, size_t n)
{
	struct pkt **v = calloc(n ? n : 1, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = mk(f, fl, len, first + (uint32_t)i);
	bool r = fq_push(&f->q, v, n, fake_now);
	free(v);
	return r;
}

static size_t pop(struct fixture *f, struct pkt **out, size_t max)
{
	return fq_pop(&f->q, out, max, SIZE_MAX, fake_clock());
}

static void give_back(struct fixture *f, struct pkt **v, size_t n)
{
	pool_put(f->pool, v, n);
}

static uint32_t bucket(struct fixture *f, const struct flow *fl, uint32_t len)
{
	uint8_t b[PKT_MAX_IP];
	build_ip(b, fl, len, 0);
	return fq_flow_of(&f->q, b, len);
}

static uint64_t st_overflow(struct fq *q)
{
	return atomic_load(&q->st.overflow_drops);
}

static uint64_t st_codel(struct fq *q)
{
	return atomic_load(&q->st.codel_drops);
}

static uint64_t st_ecn(struct fq *q)
{
	return atomic_load(&q->st.ecn_marks);
}

/* A few flows the tests share. */
static const struct flow TCP_BULK = { 6, A4(10, 0, 0, 2), A4(192, 0, 2, 10), 40000, 443, 0, 1 };
static const struct flow ICMP_PING = { 1, A4(10, 0, 0, 3), A4(192, 0, 2, 10), 77, 0, 0, 2 };
static const struct flow UDP_DNS = { 17, A4(10, 0, 0, 2), A4(192, 0, 2, 53), 53001, 53, 0, 3 };
static const struct flow TCP_B = { 6, A4(10, 0, 0, 4), A4(192, 0, 2, 11), 40001, 80, 0, 4 };

/* ==== basics ==== */

static void test_fifo_within_flow_and_len(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	struct pkt *out[16];

	assert_int_equal(fq_len(q), 0);
	assert_true(push_n(f, &TCP_BULK, 100, 0, 6));   /* empty -> non-empty */
	assert_false(push_n(f, &TCP_BULK, 100, 6, 4));  /* was not empty */
	assert_int_equal(fq_len(q), 10);

	assert_int_equal(pop(f, out, 4), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(seq_of(out[i]), i);
	give_back(f, out, 4);
	assert_int_equal(fq_len(q), 6);

	/* a budget smaller than one packet still yields one */
	assert_int_equal(fq_pop(q, out, 16, 1, fake_clock()), 1);
	assert_int_equal(seq_of(out[0]), 4);
	give_back(f, out, 1);
	/* the budget stops the batch once reached: 100 + 100 >= 150 */
	assert_int_equal(fq_pop(q, out, 16, 150, fake_clock()), 2);
	assert_int_equal(seq_of(out[0]), 5);
	assert_int_equal(seq_of(out[1]), 6);
	give_back(f, out, 2);

	assert_int_equal(pop(f, out, 16), 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(seq_of(out[i]), 7 + i);
	give_back(f, out, 3);
	assert_int_equal(fq_len(q), 0);

	/* empty: returns 0 at once */
	assert_int_equal(pop(f, out, 16), 0);

	/* an emptied queue starts over: the next push reports empty -> non-empty */
	assert_true(push_n(f, &TCP_BULK, 100, 100, 1));
	assert_int_equal(fq_drops(q), 0);
	finish(f);
}

/* ==== flow isolation and DRR ==== */

static void test_new_flow_goes_first(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	assert_int_not_equal(bucket(f, &TCP_BULK, 1400), bucket(f, &ICMP_PING, 84));
	struct pkt *out[64];

	/* 500 MTU-sized TCP segments, then one ping from another host */
	push_n(f, &TCP_BULK, 1400, 0, 500);
	push_n(f, &ICMP_PING, 84, 0, 1);
	size_t n = pop(f, out, 64);
	assert_int_equal(n, 64);
	int ping_at = -1;
	uint32_t tcp = 0;
	for (size_t i = 0; i < n; i++) {
		if (tag_of(out[i]) == ICMP_PING.tag) {
			assert_int_equal(ping_at, -1);
			ping_at = (int)i;
		} else {
			assert_int_equal(seq_of(out[i]), tcp++); /* TCP stays in order */
		}
	}
	assert_true(ping_at >= 0 && ping_at <= 1);
	give_back(f, out, n);

	/* now TCP is an old (bulk) flow: a fresh ping goes out before any of it */
	push_n(f, &ICMP_PING, 84, 1, 1);
	n = pop(f, out, 64);
	assert_int_equal(n, 64);
	assert_int_equal(tag_of(out[0]), ICMP_PING.tag);
	assert_int_equal(seq_of(out[0]), 1);
	assert_int_equal(seq_of(out[1]), tcp);
	give_back(f, out, n);
	assert_int_equal(fq_len(q), 500 - 63 - 63);
	finish(f);
}

static void test_sparse_dns_interleaves_within_a_round(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	assert_int_not_equal(bucket(f, &TCP_BULK, 1400), bucket(f, &UDP_DNS, 80));
	struct pkt *out[64];

	push_n(f, &TCP_BULK, 1400, 0, 300);
	assert_int_equal(pop(f, out, 10), 10); /* TCP is a busy, old flow now */
	give_back(f, out, 10);

	/* three queries arrive behind 290 queued segments */
	push_n(f, &UDP_DNS, 80, 0, 3);
	size_t n = pop(f, out, 64);
	assert_int_equal(n, 64);
	uint32_t dns = 0;
	for (size_t i = 0; i < n; i++) {
		if (tag_of(out[i]) == UDP_DNS.tag) {
			/* all of them inside one DRR round: at most one segment
			 * (one quantum) ahead of them */
			assert_true(i < 1 + 3);
			assert_int_equal(seq_of(out[i]), dns++);
		}
	}
	assert_int_equal(dns, 3);
	give_back(f, out, n);

	/* both flows fresh at once: DNS still gets all three out in the first round */
	while ((n = pop(f, out, 64)) > 0)
		give_back(f, out, n);
	push_n(f, &TCP_BULK, 1400, 0, 100);
	push_n(f, &UDP_DNS, 80, 3, 3);
	n = pop(f, out, 64);
	dns = 0;
	for (size_t i = 0; i < n; i++)
		if (tag_of(out[i]) == UDP_DNS.tag) {
			assert_true(i < 1 + 3);
			assert_int_equal(seq_of(out[i]), 3 + dns++);
		}
	assert_int_equal(dns, 3);
	give_back(f, out, n);
	finish(f);
}

static void test_drr_fair_by_bytes(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	const struct flow big = TCP_BULK, small = TCP_B;
	assert_int_not_equal(bucket(f, &big, 1400), bucket(f, &small, 200));
	struct pkt *out[16];

	push_n(f, &big, 1400, 0, 300);    /* 420 kB */
	push_n(f, &small, 200, 0, 1500);  /* 300 kB */
	uint64_t bytes[2] = { 0, 0 }, pkts[2] = { 0, 0 };
	uint32_t next_seq[2] = { 0, 0 };
	uint64_t worst_gap = 0;
	while (bytes[0] + bytes[1] < 250000) { /* both stay backlogged throughout */
		size_t n = pop(f, out, 5); /* batches that do not line up with rounds */
		assert_int_equal(n, 5);
		for (size_t i = 0; i < n; i++) {
			int k = tag_of(out[i]) == big.tag ? 0 : 1;
			assert_int_equal(out[i]->len, k ? 200 : 1400);
			assert_int_equal(seq_of(out[i]), next_seq[k]++);
			bytes[k] += out[i]->len;
			pkts[k]++;
		}
		give_back(f, out, n);
		uint64_t gap = bytes[0] > bytes[1] ? bytes[0] - bytes[1] : bytes[1] - bytes[0];
		if (gap > worst_gap)
			worst_gap = gap;
	}
	uint64_t hi = bytes[0] > bytes[1] ? bytes[0] : bytes[1];
	uint64_t lo = bytes[0] > bytes[1] ? bytes[1] : bytes[0];
	print_message("DRR: big %llu B in %llu pkts, small %llu B in %llu pkts, worst gap %llu B\n",
		      (unsigned long long)bytes[0], (unsigned long long)pkts[0],
		      (unsigned long long)bytes[1], (unsigned long long)pkts[1],
		      (unsigned long long)worst_gap);
	assert_true((hi - lo) * 10 <= hi);        /* within 10% by bytes */
	assert_true(worst_gap <= 3 * QUANTUM);    /* and never more than a few quanta apart */
	assert_true(pkts[1] >= 6 * pkts[0]);      /* so about 7 small packets per big one */
	assert_int_equal(fq_drops(q), 0);
	finish(f);
}

/* A flow that sends one packet at a time and is emptied while "new" must
 * go to the back of the old list, not get a fresh turn at the front. */
static void test_emptied_new_flow_goes_to_old_list(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	const struct flow bulk = TCP_B, sparse = ICMP_PING;
	assert_int_not_equal(bucket(f, &bulk, 200), bucket(f, &sparse, 100));
	struct pkt *out[16];

	push_n(f, &bulk, 200, 0, 1000); /* 7 packets per quantum */
	assert_int_equal(pop(f, out, 8), 8); /* bulk has used one quantum, now on the old list */
	give_back(f, out, 8);

	/* S arrives: served first, then found empty in the same batch */
	push_n(f, &sparse, 100, 0, 1);
	assert_int_equal(pop(f, out, 2), 2);
	assert_int_equal(tag_of(out[0]), sparse.tag);
	assert_int_equal(tag_of(out[1]), bulk.tag);
	give_back(f, out, 2);

	/* S again: it is on the old list behind bulk, so bulk finishes its
	 * quantum first; were S dropped from the lists it would be "new"
	 * again and jump ahead */
	push_n(f, &sparse, 100, 1, 1);
	assert_int_equal(pop(f, out, 1), 1);
	assert_int_equal(tag_of(out[0]), bulk.tag);
	give_back(f, out, 1);

	/* steady state: S sends one packet per pop of two; both get served */
	uint32_t served[2] = { 0, 0 };
	for (uint32_t i = 0; i < 400; i++) {
		push_n(f, &sparse, 100, 2 + i, 1);
		size_t n = pop(f, out, 2);
		assert_int_equal(n, 2);
		for (size_t j = 0; j < n; j++)
			served[tag_of(out[j]) == bulk.tag ? 0 : 1]++;
		give_back(f, out, n);
	}
	print_message("S 1 per pop of 2: bulk %u pkts, S %u pkts\n", served[0], served[1]);
	assert_true(served[0] >= 399);
	assert_true(served[1] >= 390);

	/* S sends exactly as fast as the link drains (1 in, 1 out): it must
	 * not take the whole link; bulk keeps its DRR share, which is half
	 * the bytes (7 x 200 B against 14 x 100 B a round) */
	served[0] = served[1] = 0;
	for (uint32_t i = 0; i < 700; i++) {
		push_n(f, &sparse, 100, 1000 + i, 1);
		assert_int_equal(pop(f, out, 1), 1);
		served[tag_of(out[0]) == bulk.tag ? 0 : 1]++;
		give_back(f, out, 1);
	}
	print_message("S 1 per pop of 1: bulk %u pkts, S %u pkts\n", served[0], served[1]);
	uint32_t bulk_bytes = served[0] * 200, s_bytes = served[1] * 100;
	uint32_t hi = bulk_bytes > s_bytes ? bulk_bytes : s_bytes;
	uint32_t lo = bulk_bytes > s_bytes ? s_bytes : bulk_bytes;
	assert_true((hi - lo) * 10 <= hi);
	finish(f);
}

/* ==== hashing ==== */

static void test_hash_same_tuple_same_bucket(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	static const uint32_t keys[] = { FIXED_KEY, 1, 0xdeadbeef, 0x80000000u };
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		f->q.hash_key = keys[k];
		/* the same 5-tuple: length, TOS, IP id and payload do not matter */
		struct flow fl = TCP_BULK;
		uint32_t b0 = bucket(f, &fl, 60);
		assert_true(b0 < NFLOWS);
		for (uint32_t i = 0; i < 20; i++) {
			uint8_t b[1500];
			fl.tos = (uint8_t)(i & 3);
			build_ip(b, &fl, 60 + i * 50, i * 7919);
			assert_int_equal(fq_flow_of(&f->q, b, 60 + i * 50), b0);
		}

		/* 20 source ports: in practice 20 buckets out of 1024 */
		uint32_t seen[20];
		int collisions = 0;
		for (uint32_t i = 0; i < 20; i++) {
			fl = TCP_BULK;
			fl.sport = (uint16_t)(50000 + i);
			seen[i] = bucket(f, &fl, 60);
			assert_true(seen[i] < NFLOWS);
			for (uint32_t j = 0; j < i; j++)
				if (seen[j] == seen[i]) {
					collisions++;
					break;
				}
		}
		assert_true(collisions <= 2);

		/* each part of the tuple counts */
		struct flow g = TCP_BULK;
		g.dport = 444;
		assert_int_not_equal(bucket(f, &g, 60), b0);
		g = TCP_BULK;
		g.dst = A4(192, 0, 2, 11);
		assert_int_not_equal(bucket(f, &g, 60), b0);
		g = TCP_BULK;
		g.src = A4(10, 0, 0, 9);
		assert_int_not_equal(bucket(f, &g, 60), b0);
		g = TCP_BULK;
		g.proto = 17;
		assert_int_not_equal(bucket(f, &g, 60), b0);
	}
	finish(f);
}

static void test_hash_icmp_and_fragments_ignore_port_bytes(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	uint8_t b[100];

	/* ICMP has no ports: the id/sequence behind the IP header do not split it */
	struct flow ping = ICMP_PING;
	uint32_t b0 = bucket(f, &ping, 84);
	for (uint32_t i = 0; i < 20; i++) {
		ping.sport = (uint16_t)(1000 + i * 13); /* ICMP identifier */
		build_ip(b, &ping, 84, i);
		assert_int_equal(fq_flow_of(&f->q, b, 84), b0);
	}

	/* Later fragments (offset != 0) carry no ports: whatever bytes sit
	 * where the ports would be, one bucket. With and without MF. */
	uint32_t frag_bucket = UINT32_MAX;
	for (uint32_t i = 0; i < 20; i++) {
		struct flow fl = UDP_DNS;
		fl.sport = (uint16_t)(20000 + i * 101);
		fl.dport = (uint16_t)(30000 + i * 7);
		build_ip(b, &fl, 100, i);
		uint16_t off = (uint16_t)(185 + i); /* in 8-byte units */
		put16(b + 6, (uint16_t)(off | (i & 1 ? 0x2000 : 0))); /* MF on every other */
		ip_set_csum(b);
		uint32_t h = fq_flow_of(&f->q, b, 100);
		if (i == 0)
			frag_bucket = h;
		assert_int_equal(h, frag_bucket);
	}
	/* an offset that only has its high bits set is still a later fragment */
	{
		struct flow fl = UDP_DNS;
		fl.sport = 1;
		build_ip(b, &fl, 100, 0);
		put16(b + 6, 0x1000);
		assert_int_equal(fq_flow_of(&f->q, b, 100), frag_bucket);
	}

	/* DF (offset 0) is not a fragment: the ports count again */
	uint32_t seen[20];
	int collisions = 0;
	for (uint32_t i = 0; i < 20; i++) {
		struct flow fl = UDP_DNS;
		fl.sport = (uint16_t)(20000 + i * 101);
		build_ip(b, &fl, 100, i);
		put16(b + 6, 0x4000);
		seen[i] = fq_flow_of(&f->q, b, 100);
		for (uint32_t j = 0; j < i; j++)
			if (seen[j] == seen[i]) {
				collisions++;
				break;
			}
	}
	assert_true(collisions <= 2);
	finish(f);
}

/* A datagram's first fragment (MF, offset 0) goes with its later ones,
 * so they leave in order, ahead of the flow's next datagram. */
static void test_fragments_of_a_datagram_stay_together(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	struct flow fl = UDP_DNS;
	struct pkt *v[3], *out[4];
	assert_int_equal(pool_get(f->pool, v, 3), 3);
	build_ip(v[0]->data, &fl, 596, 0); /* A, first fragment */
	put16(v[0]->data + 6, 0x2000);
	ip_set_csum(v[0]->data);
	v[0]->len = 596;
	build_ip(v[1]->data, &fl, 120, 1); /* A, last fragment: no ports, other bytes there */
	put16(v[1]->data + 6, 72);
	put32(v[1]->data + 20, 0xdeadbeef);
	ip_set_csum(v[1]->data);
	v[1]->len = 120;
	build_ip(v[2]->data, &fl, 100, 2); /* B, whole */
	v[2]->len = 100;
	assert_int_equal(fq_flow_of(q, v[0]->data, 596), fq_flow_of(q, v[1]->data, 120));
	fq_push(q, v, 3, fake_now);
	assert_int_equal(pop(f, out, 4), 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(seq_of(out[i]), i);
	give_back(f, out, 3);
	finish(f);
}

/* Exact-size heap copies so a sanitizer build catches any overread. */
static uint32_t hash_exact(struct fq *q, const uint8_t *src, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	assert_non_null(b);
	memcpy(b, src, len);
	uint32_t h = fq_flow_of(q, b, len);
	free(b);
	assert_true(h < q->nflows);
	return h;
}

static void test_hash_odd_packets_do_not_crash(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	uint8_t b[128];
	build_ip(b, &TCP_BULK, 64, 0);

	for (size_t len = 0; len < 24; len++)
		hash_exact(q, b, len);
	/* truncated right after a header that claims options */
	for (uint8_t ihl = 0; ihl < 16; ihl++) {
		b[0] = (uint8_t)(0x40 | ihl);
		for (size_t len = 20; len <= 64; len++)
			hash_exact(q, b, len);
	}
	/* IPv6, garbage versions, all-zero and all-ones */
	uint8_t v6[60] = { 0x60 };
	uint32_t h6 = hash_exact(q, v6, sizeof(v6));
	assert_int_equal(hash_exact(q, v6, sizeof(v6)), h6); /* stable */
	memset(b, 0, sizeof(b));
	hash_exact(q, b, sizeof(b));
	memset(b, 0xff, sizeof(b));
	hash_exact(q, b, sizeof(b));

	/* and such packets go through the queue like any other */
	struct pkt *v[3];
	assert_int_equal(pool_get(f->pool, v, 3), 3);
	v[0]->len = 0;
	memcpy(v[1]->data, v6, sizeof(v6));
	v[1]->len = sizeof(v6);
	memset(v[2]->data, 0x4f, 30); /* IPv4, ihl 15, only 30 bytes */
	v[2]->len = 30;
	fq_push(q, v, 3, fake_now);
	assert_int_equal(fq_len(q), 3);
	struct pkt *out[4];
	size_t got = 0, n;
	while ((n = pop(f, out, 4)) > 0) {
		got += n;
		give_back(f, out, n);
	}
	assert_int_equal(got, 3);
	finish(f);
}

/* An IPv6 packet of next header nh (after ext bytes of destination
 * options when ext), ports sport/dport, between fd00::src and fd00::dst;
 * OFF_SEQ / OFF_TAG as build_ip writes them (len >= 88). */
static void build_ip6(uint8_t *b, uint8_t nh, uint16_t src, uint16_t dst, uint16_t sport, uint16_t dport,
		      size_t ext, uint32_t len, uint32_t seq, uint32_t tag)
{
	memset(b, 0, len);
	put32(b, 0x60000000u | seq % 7); /* flow labels differ: not part of the flow */
	put16(b + 4, (uint16_t)(len - 40));
	b[6] = ext ? 60 : nh;
	b[7] = 64;
	b[8] = b[24] = 0xfd;
	put16(b + 22, src);
	put16(b + 38, dst);
	size_t at = 40;
	if (ext) {
		b[40] = nh;
		b[41] = (uint8_t)(ext / 8 - 1);
		at += ext;
	}
	put16(b + at, sport);
	put16(b + at + 2, dport);
	put32(b + 80, seq);
	put32(b + 84, tag);
}

static uint32_t bucket6(struct fixture *f, uint8_t nh, uint16_t src, uint16_t dst, uint16_t sport, uint16_t dport,
			size_t ext)
{
	uint8_t b[200];
	build_ip6(b, nh, src, dst, sport, dport, ext, 120, 0, 0);
	return fq_flow_of(&f->q, b, 120);
}

/* IPv6 is queued by flow as IPv4 is: addresses, transport and ports
 * (behind extension headers too), not all in one queue. */
static void test_hash_ipv6_flows(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	uint32_t b0 = bucket6(f, 6, 1, 2, 40000, 443, 0);
	/* stable, whatever the flow label */
	uint8_t b[200];
	for (uint32_t i = 0; i < 7; i++) {
		build_ip6(b, 6, 1, 2, 40000, 443, 0, 120, i, 0);
		assert_int_equal(fq_flow_of(&f->q, b, 120), b0);
	}
	/* each part of the flow counts */
	assert_int_not_equal(bucket6(f, 6, 3, 2, 40000, 443, 0), b0);
	assert_int_not_equal(bucket6(f, 6, 1, 3, 40000, 443, 0), b0);
	assert_int_not_equal(bucket6(f, 6, 1, 2, 40001, 443, 0), b0);
	assert_int_not_equal(bucket6(f, 6, 1, 2, 40000, 444, 0), b0);
	assert_int_not_equal(bucket6(f, 17, 1, 2, 40000, 443, 0), b0);
	/* connections of one host pair spread over the buckets, also behind
	 * a destination options header */
	for (size_t ext = 0; ext <= 16; ext += 16) {
		uint32_t seen[20];
		int collisions = 0;
		for (uint16_t i = 0; i < 20; i++) {
			seen[i] = bucket6(f, 6, 1, 2, (uint16_t)(50000 + i), 443, ext);
			for (uint16_t j = 0; j < i; j++)
				if (seen[j] == seen[i]) {
					collisions++;
					break;
				}
		}
		assert_true(collisions <= 2);
	}
	/* fragments (header 44) carry no ports: one bucket for all of them */
	uint32_t frag = bucket6(f, 44, 1, 2, 1, 2, 0);
	for (uint16_t i = 0; i < 20; i++)
		assert_int_equal(bucket6(f, 44, 1, 2, (uint16_t)(i * 977), (uint16_t)(i * 31), 0), frag);
	/* truncated: never past the end (exact-size copies under ASan) */
	for (size_t len = 40; len < 64; len++) {
		build_ip6(b, 6, 1, 2, 40000, 443, 16, 120, 0, 0);
		uint8_t *c = malloc(len);
		assert_non_null(c);
		memcpy(c, b, len);
		assert_true(fq_flow_of(&f->q, c, len) < NFLOWS);
		free(c);
	}
	finish(f);
}

/* An IPv6 ping behind an IPv6 bulk transfer goes first, as IPv4's does. */
static void test_ipv6_ping_goes_first(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	enum { BULK = 200 };
	assert_int_not_equal(bucket6(f, 6, 1, 2, 40000, 443, 0), bucket6(f, 58, 1, 2, 0x8000, 0, 0));
	struct pkt *v[BULK + 1], *out[64];
	assert_int_equal(pool_get(f->pool, v, BULK + 1), BULK + 1);
	for (uint32_t i = 0; i < BULK; i++) {
		build_ip6(v[i]->data, 6, 1, 2, 40000, 443, 0, 1400, i, 1);
		v[i]->len = 1400;
	}
	build_ip6(v[BULK]->data, 58, 1, 2, 0x8000, 0, 0, 104, 0, 2);
	v[BULK]->len = 104;
	fq_push(q, v, BULK, fake_now);
	fq_push(q, v + BULK, 1, fake_now);
	size_t n = pop(f, out, 64);
	assert_int_equal(n, 64);
	int ping_at = -1;
	uint32_t tcp = 0;
	for (size_t i = 0; i < n; i++) {
		if (get32(out[i]->data + 84) == 2)
			ping_at = (int)i;
		else
			assert_int_equal(get32(out[i]->data + 80), tcp++); /* in order */
	}
	assert_true(ping_at >= 0 && ping_at <= 1);
	give_back(f, out, n);
	finish(f);
}

static void test_hash_key_is_random(void **state)
{
	struct fixture *f = *state;
	struct fq a, b;
	assert_int_equal(fq_init(&a, 100, 10, 10000, QUANTUM, f->pool), 0);
	assert_int_equal(fq_init(&b, 100, 10, 10000, QUANTUM, f->pool), 0);
	assert_int_equal(a.nflows, 128); /* rounded up to a power of two */
	assert_int_not_equal(a.hash_key, b.hash_key);
	fq_destroy(&a);
	fq_destroy(&b);
}

/* ==== overflow ==== */

static void test_overflow_drops_head_of_fattest_flow(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, 100, 1u << 30);
	const struct flow A = TCP_BULK, B = ICMP_PING;
	assert_int_not_equal(bucket(f, &A, 200), bucket(f, &B, 200));

	push_n(f, &A, 200, 0, 150);
	push_n(f, &B, 200, 0, 10);
	assert_int_equal(fq_len(q), 100);
	assert_int_equal(st_overflow(q), 60);
	assert_int_equal(st_codel(q), 0);
	assert_int_equal(fq_drops(q), 60);
	assert_int_equal(pool_available(f->pool), POOL_N - 100); /* the 60 went home */

	/* A lost its oldest 60; its newest 90 remain, in order; B lost nothing */
	struct pkt *out[128];
	size_t n = pop(f, out, 128);
	assert_int_equal(n, 100);
	uint32_t a_next = 60, b_next = 0;
	for (size_t i = 0; i < n; i++) {
		if (tag_of(out[i]) == A.tag)
			assert_int_equal(seq_of(out[i]), a_next++);
		else
			assert_int_equal(seq_of(out[i]), b_next++);
	}
	assert_int_equal(a_next, 150);
	assert_int_equal(b_next, 10);
	give_back(f, out, n);
	finish(f);
}

static void test_overflow_one_batch(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, 100, 1u << 30);
	const struct flow A = TCP_BULK, B = ICMP_PING;
	struct pkt *v[160];
	for (uint32_t i = 0; i < 150; i++)
		v[i] = mk(f, &A, 200, i);
	for (uint32_t i = 0; i < 10; i++)
		v[150 + i] = mk(f, &B, 200, i);
	assert_true(fq_push(q, v, 160, fake_now));
	assert_int_equal(fq_len(q), 100);
	assert_int_equal(st_overflow(q), 60);
	assert_int_equal(pool_available(f->pool), POOL_N - 100);
	struct pkt *out[128];
	size_t n = pop(f, out, 128);
	assert_int_equal(n, 100);
	uint32_t a_next = 60, b_next = 0;
	for (size_t i = 0; i < n; i++) {
		if (tag_of(out[i]) == A.tag)
			assert_int_equal(seq_of(out[i]), a_next++);
		else
			assert_int_equal(seq_of(out[i]), b_next++);
	}
	assert_int_equal(a_next, 150);
	assert_int_equal(b_next, 10);
	give_back(f, out, n);
	finish(f);
}

static void test_overflow_byte_cap(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, 1000, 10000);
	const struct flow A = TCP_BULK, B = ICMP_PING;
	struct pkt *out[64];

	/* 15 kB of A and 1.5 kB of B against a 10 kB bound: A's 7 oldest go */
	push_n(f, &A, 1000, 0, 15);
	push_n(f, &B, 500, 0, 3);
	assert_int_equal(fq_len(q), 8 + 3);
	assert_int_equal(st_overflow(q), 7);
	assert_int_equal(pool_available(f->pool), POOL_N - 11);
	size_t n = pop(f, out, 64), bytes = 0;
	assert_int_equal(n, 11);
	uint32_t a_next = 7, b_next = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += out[i]->len;
		if (tag_of(out[i]) == A.tag)
			assert_int_equal(seq_of(out[i]), a_next++);
		else
			assert_int_equal(seq_of(out[i]), b_next++);
	}
	assert_int_equal(a_next, 15);
	assert_int_equal(b_next, 3);
	assert_true(bytes <= 10000);
	give_back(f, out, n);

	/* "fattest" is by bytes: 6 big packets outweigh 20 small ones */
	push_n(f, &A, 1400, 100, 6); /* 8400 B */
	push_n(f, &B, 100, 100, 20); /* 2000 B */
	assert_int_equal(st_overflow(q), 7 + 1);
	n = pop(f, out, 64);
	assert_int_equal(n, 5 + 20);
	uint32_t a = 0, b = 0;
	for (size_t i = 0; i < n; i++) {
		if (tag_of(out[i]) == A.tag)
			assert_int_equal(seq_of(out[i]), 101 + a++);
		else
			assert_int_equal(seq_of(out[i]), 100 + b++);
	}
	assert_int_equal(a, 5);
	assert_int_equal(b, 20);
	give_back(f, out, n);
	finish(f);
}

/* ==== CoDel ==== */

/* RFC 8289's control law in ms: the next drop (or mark) is scheduled
 * interval/sqrt(count) after the previous scheduled one. */
static double codel_next_ms(double prev_sched_ms, uint32_t count)
{
	return prev_sched_ms + 100.0 / sqrt((double)count);
}

/* One flow with a standing queue of `standing` packets of `len` bytes,
 * fed and drained at one packet per ms. Records when CoDel acted. */
struct codel_run {
	uint32_t act_ms[256]; /* times of drops (or marks) */
	size_t nact;
	uint64_t delivered, pushed;
	uint64_t max_sojourn_after_last_act;
	uint32_t ce_seen, bad_csum;
};

static void run_standing_queue(struct fixture *f, const struct flow *fl, uint32_t len, uint32_t standing,
			       uint32_t steps, struct codel_run *r)
{
	struct fq *q = &f->q;
	memset(r, 0, sizeof(*r));
	fake_now = 0;
	push_n(f, fl, len, 0, standing);
	r->pushed = standing;
	uint64_t acted = 0;
	for (uint32_t t = 1; t <= steps; t++) {
		fake_now = t * MS;
		push_n(f, fl, len, (uint32_t)r->pushed, 1);
		r->pushed++;
		struct pkt *out[1];
		size_t n = pop(f, out, 1);
		assert_int_equal(n, 1);
		r->delivered++;
		uint64_t sojourn = fake_now - out[0]->enq_ns;
		const uint8_t *ip = out[0]->data;
		if ((ip[1] & 3) == 3) {
			r->ce_seen++;
			if (!ip_csum_ok(ip) || ip_csum_field(ip) != ip_csum_full(ip))
				r->bad_csum++;
		} else {
			assert_int_equal(ip[1], fl->tos); /* untouched */
			assert_true(ip_csum_ok(ip));
		}
		give_back(f, out, 1);
		uint64_t now_acted = st_codel(q) + st_ecn(q);
		assert_true(now_acted - acted <= 1); /* one at a time at these rates */
		if (now_acted > acted) {
			assert_true(r->nact < 256);
			r->act_ms[r->nact++] = t;
			r->max_sojourn_after_last_act = 0;
		} else if (sojourn > r->max_sojourn_after_last_act) {
			r->max_sojourn_after_last_act = sojourn;
		}
		acted = now_acted;
	}
}

/* Checks the schedule: first act at t1, then gaps of interval/sqrt(count). */
static void check_schedule(const struct codel_run *r, uint32_t t1)
{
	assert_true(r->nact >= 5);
	assert_int_equal(r->act_ms[0], t1);
	double sched = t1;
	for (size_t k = 1; k < r->nact; k++) {
		sched = codel_next_ms(sched, (uint32_t)k);
		double got = r->act_ms[k];
		/* acted at the first ms tick at or after the schedule */
		assert_true(got >= sched - 1e-6 && got < sched + 1.0 + 1e-6);
		if (k >= 2) /* the rate only goes up (give or take the 1 ms tick) */
			assert_true(r->act_ms[k] - r->act_ms[k - 1] <= r->act_ms[k - 1] - r->act_ms[k - 2] + 1);
	}
	/* and it went up a lot: the last gap is far below the first */
	if (r->nact >= 10)
		assert_true((r->act_ms[r->nact - 1] - r->act_ms[r->nact - 2]) * 3 < r->act_ms[1] - r->act_ms[0]);
}

static void test_codel_drops_on_standing_queue(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	struct codel_run r;
	/* 20 packets of 1000 B standing: sojourn climbs 1 ms per ms to 20 ms */
	run_standing_queue(f, &TCP_BULK, 1000, 20, 3000, &r);
	print_message("CoDel drops at ms:");
	for (size_t i = 0; i < r.nact; i++)
		print_message(" %u", r.act_ms[i]);
	print_message("\n");

	/* sojourn first reached target (5 ms) at t = 5 ms: nothing before
	 * 5 + 100 ms, the first drop right then */
	check_schedule(&r, 105);
	assert_int_equal(st_ecn(q), 0);
	assert_int_equal(r.ce_seen, 0);
	assert_int_equal(st_codel(q), r.nact);
	/* each drop shortened the standing queue by 1 ms; once the sojourn
	 * was below 5 ms again (after 16 drops) dropping stopped for good */
	assert_int_equal(r.nact, 16);
	assert_true(r.act_ms[r.nact - 1] < 1000);
	assert_true(r.max_sojourn_after_last_act < FQ_TARGET_NS);
	/* every packet accounted for */
	assert_int_equal(r.pushed, r.delivered + st_codel(q) + fq_len(q));
	assert_int_equal(fq_len(q), 20 - 16);
	assert_int_equal(pool_available(f->pool), POOL_N - fq_len(q));
	finish(f);
}

static void test_codel_marks_ecn_capable_instead(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	struct flow fl = TCP_BULK;
	fl.tos = 0x02; /* ECT(0) */
	struct codel_run r;
	run_standing_queue(f, &fl, 1000, 20, 1000, &r);
	print_message("CoDel CE marks at ms:");
	for (size_t i = 0; i < r.nact; i++)
		print_message(" %u", r.act_ms[i]);
	print_message("\n");

	/* same schedule as drops, but nothing is lost: marks keep coming
	 * because the (simulated) sender never slows down */
	check_schedule(&r, 105);
	assert_int_equal(st_codel(q), 0);
	assert_int_equal(st_ecn(q), r.nact);
	assert_int_equal(r.ce_seen, r.nact);
	assert_int_equal(r.bad_csum, 0);
	assert_true(r.nact >= 20);
	assert_int_equal(r.pushed, r.delivered + fq_len(q));
	assert_int_equal(fq_len(q), 20);
	finish(f);
}

static void test_codel_spares_flow_within_one_quantum(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	/* 2 x 600 B always behind the head: sojourn 20 ms, but the backlog
	 * left after a dequeue is 1200 B <= quantum, so never a drop */
	fake_now = 0;
	push_n(f, &TCP_BULK, 600, 0, 2);
	uint64_t max_sojourn = 0;
	for (uint32_t t = 1; t <= 500; t++) {
		fake_now = t * 10 * MS;
		push_n(f, &TCP_BULK, 600, 1 + t, 1);
		struct pkt *out[1];
		assert_int_equal(pop(f, out, 1), 1);
		uint64_t s = fake_now - out[0]->enq_ns;
		if (s > max_sojourn)
			max_sojourn = s;
		give_back(f, out, 1);
	}
	assert_true(max_sojourn >= 4 * FQ_TARGET_NS);
	assert_int_equal(fq_drops(q), 0);
	assert_int_equal(st_ecn(q), 0);
	finish(f);

	/* the same with 3 behind the head (1800 B > quantum) does drop */
	q = qinit(f, BIG_CAP, 1u << 30);
	fake_now = 0;
	push_n(f, &TCP_BULK, 600, 0, 3);
	for (uint32_t t = 1; t <= 500; t++) {
		fake_now = t * 10 * MS;
		push_n(f, &TCP_BULK, 600, 2 + t, 1);
		struct pkt *out[1];
		assert_int_equal(pop(f, out, 1), 1);
		give_back(f, out, 1);
	}
	assert_true(st_codel(q) >= 1);
	finish(f);
}

/* One 1 ms tick of a sender and a link: push `in` packets of fl, pop up
 * to `out_max`; returns the CoDel drops that happened during the pop. */
static uint64_t tick(struct fixture *f, const struct flow *fl, uint32_t *seq, uint32_t in, size_t out_max)
{
	struct pkt *out[64];
	assert_true(out_max <= 64);
	if (in) {
		push_n(f, fl, 1000, *seq, in);
		*seq += in;
	}
	uint64_t before = st_codel(&f->q);
	size_t n = pop(f, out, out_max);
	give_back(f, out, n);
	return st_codel(&f->q) - before;
}

/* CoDel's memory between episodes: coming back soon after a drop episode
 * resumes near the old rate (count = count - lastcount, RFC 8289 5.5);
 * after the queue drained, a new episode starts from scratch. */
static void test_codel_reentry(void **state)
{
	struct fixture *f = *state;
	qinit(f, BIG_CAP, 1u << 30);
	const struct flow *fl = &TCP_BULK;
	uint32_t seq = 0, t;
	uint64_t d;

	/* episode 1: the 20-packet standing queue as above, 16 drops by 1 s */
	fake_now = 0;
	push_n(f, fl, 1000, seq, 20);
	seq += 20;
	uint64_t total = 0;
	for (t = 1; t <= 1000; t++) {
		fake_now = t * MS;
		d = tick(f, fl, &seq, 1, 1);
		assert_true(d <= 1);
		total += d;
	}
	assert_int_equal(total, 16);

	/* episode 2: a burst of 16 restores the standing queue; CoDel needs
	 * an interval above target again, then starts at count 16 - 1 = 15:
	 * the second drop follows after 100/sqrt(15) ms, not 100 ms */
	uint32_t drop_at[2] = { 0, 0 };
	int ndrops = 0;
	for (t = 1001; t <= 1200 && ndrops < 2; t++) {
		fake_now = t * MS;
		d = tick(f, fl, &seq, t == 1001 ? 17 : 1, 1);
		assert_true(d <= 1);
		if (d)
			drop_at[ndrops++] = t;
	}
	print_message("re-entry: drops at %u and %u ms\n", drop_at[0], drop_at[1]);
	assert_int_equal(ndrops, 2);
	assert_true(drop_at[0] >= 1001 + 4 + 100); /* sojourn reached 5 ms at 1006 */
	assert_true(drop_at[0] <= 1001 + 6 + 100);
	uint32_t gap = drop_at[1] - drop_at[0];
	assert_true(gap >= 25 && gap <= 27); /* 100 / sqrt(15) = 25.8 */

	/* the sender stops; the link drains the whole queue in one batch, with
	 * no drop due (the next is 25 ms away) */
	fake_now = (uint64_t)(drop_at[1] + 1) * MS;
	assert_int_equal(tick(f, fl, &seq, 0, 64), 0);
	assert_int_equal(fq_len(&f->q), 0);
	assert_int_equal(tick(f, fl, &seq, 0, 64), 0);

	/* episode 3, much later: a fresh start (count 1) and one drop per
	 * interval; no burst of catch-up drops from the stale schedule */
	uint32_t t3 = drop_at[1] + 200;
	fake_now = (uint64_t)t3 * MS;
	push_n(f, fl, 1000, seq, 20);
	seq += 20;
	ndrops = 0;
	for (t = t3 + 1; t <= t3 + 250; t++) {
		fake_now = t * MS;
		d = tick(f, fl, &seq, 1, 1);
		assert_true(d <= 1);
		if (d) {
			assert_true(ndrops < 2);
			drop_at[ndrops++] = t;
		}
	}
	print_message("fresh episode after %u ms: drops at +%u and +%u ms\n", t3, drop_at[0] - t3, drop_at[1] - t3);
	assert_int_equal(ndrops, 2);
	assert_int_equal(drop_at[0], t3 + 105);
	assert_int_equal(drop_at[1], t3 + 205);
	finish(f);
}

/* RFC 8289's dequeue, on entering the dropping state, drops the head and
 * runs the next packet through the same test ("r = dodequeue(now)"), so a
 * queue that is back within one MTU leaves "above target" behind. Without
 * that, a stale first_above_time makes the next above-target packet a drop
 * right away instead of after a fresh interval. */
static void test_codel_entry_drop_rechecks_next_packet(void **state)
{
	struct fixture *f = *state;
	struct fq *q = qinit(f, BIG_CAP, 1u << 30);
	struct pkt *out[1];

	fake_now = 0;
	push_n(f, &TCP_BULK, 1000, 0, 4);      /* seq 0..3 */
	fake_now = 10 * MS;                     /* 0: 10 ms > target, 3000 B behind: arm */
	assert_int_equal(pop(f, out, 1), 1);
	assert_int_equal(seq_of(out[0]), 0);
	give_back(f, out, 1);
	fake_now = 110 * MS;                    /* an interval later: drop 1, deliver 2 */
	assert_int_equal(pop(f, out, 1), 1);
	assert_int_equal(seq_of(out[0]), 2);
	give_back(f, out, 1);
	assert_int_equal(st_codel(q), 1);
	/* 2 left only 1000 B behind it: that resets first_above_time */

	fake_now = 212 * MS;
	push_n(f, &TCP_BULK, 1000, 4, 2);       /* seq 4, 5 */
	fake_now = 215 * MS;                    /* 3 is above target again, but only just now */
	assert_int_equal(pop(f, out, 1), 1);
	assert_int_equal(seq_of(out[0]), 3);
	give_back(f, out, 1);
	assert_int_equal(st_codel(q), 1);
	finish(f);
}

/* ==== ip_mark_ce ==== */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static void test_ip_mark_ce(void **state)
{
	(void)state;
	uint8_t h[64], before[64];

	for (int i = 0; i < 100000; i++) {
		uint8_t ihl = (uint8_t)(5 + rnd() % 11);
		size_t len = (size_t)ihl * 4 + rnd() % 4;
		for (size_t j = 0; j < sizeof(h); j++)
			h[j] = (uint8_t)rnd();
		h[0] = (uint8_t)(0x40 | ihl);
		ip_set_csum(h);
		assert_true(ip_csum_ok(h));
		memcpy(before, h, sizeof(h));
		uint8_t ecn = h[1] & 3;
		bool r = ip_mark_ce(h, len);
		if (ecn == 0) { /* Not-ECT: refuse, touch nothing */
			assert_false(r);
			assert_memory_equal(h, before, sizeof(h));
		} else if (ecn == 3) { /* already CE: fine as it is */
			assert_true(r);
			assert_memory_equal(h, before, sizeof(h));
		} else { /* ECT(0) / ECT(1) -> CE with a correct checksum */
			assert_true(r);
			assert_int_equal(h[1], before[1] | 3);
			assert_int_equal(ip_csum_field(h), ip_csum_full(h));
			assert_true(ip_csum_ok(h));
			/* nothing but TOS and the checksum changed */
			assert_int_equal(h[0], before[0]);
			assert_memory_equal(h + 2, before + 2, 8);
			assert_memory_equal(h + 12, before + 12, sizeof(h) - 12);
		}
	}

	/* a header whose checksum after marking is exactly 0x0000 (the
	 * 0x0000/0xffff corner of RFC 1624): find one by choosing the IP id */
	memset(h, 0, sizeof(h));
	h[0] = 0x45;
	h[8] = 64;
	h[9] = 6;
	h[1] = 0x03;
	bool found = false;
	for (uint32_t id = 0; id < 65536 && !found; id++) {
		put16(h + 4, (uint16_t)id);
		found = ip_csum_full(h) == 0;
	}
	assert_true(found);
	h[1] = 0x01; /* ECT(1) */
	ip_set_csum(h);
	assert_true(ip_mark_ce(h, 20));
	assert_int_equal(h[1], 0x03);
	assert_int_equal(ip_csum_field(h), 0);
	assert_true(ip_csum_ok(h));

	/* worked by hand: 45 02 -> 45 03 takes one off the checksum */
	uint8_t p[20] = { 0x45, 0x02, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01,
			  0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, 0xc0, 0x00, 0x02, 0x0a };
	ip_set_csum(p);
	assert_int_equal(ip_csum_field(p), 0x5c67);
	assert_true(ip_mark_ce(p, sizeof(p)));
	assert_int_equal(p[1], 0x03);
	assert_int_equal(ip_csum_field(p), 0x5c66);

	/* not IPv4, or too short: refuse and leave alone */
	uint8_t v6[40] = { 0x60, 0x02 };
	memcpy(before, v6, sizeof(v6));
	assert_false(ip_mark_ce(v6, sizeof(v6)));
	assert_memory_equal(v6, before, sizeof(v6));
	p[1] = 0x02;
	ip_set_csum(p);
	memcpy(before, p, sizeof(p));
	assert_false(ip_mark_ce(p, 19));
	assert_memory_equal(p, before, sizeof(p));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		T(test_fifo_within_flow_and_len),
		T(test_new_flow_goes_first),
		T(test_sparse_dns_interleaves_within_a_round),
		T(test_drr_fair_by_bytes),
		T(test_emptied_new_flow_goes_to_old_list),
		T(test_hash_same_tuple_same_bucket),
		T(test_hash_icmp_and_fragments_ignore_port_bytes),
		T(test_hash_odd_packets_do_not_crash),
		T(test_hash_ipv6_flows),
		T(test_fragments_of_a_datagram_stay_together),
		T(test_ipv6_ping_goes_first),
		T(test_hash_key_is_random),
		T(test_overflow_drops_head_of_fattest_flow),
		T(test_overflow_one_batch),
		T(test_overflow_byte_cap),
		T(test_codel_drops_on_standing_queue),
		T(test_codel_marks_ecn_capable_instead),
		T(test_codel_spares_flow_within_one_quantum),
		T(test_codel_reentry),
		T(test_codel_entry_drop_rechecks_next_packet),
		T(test_ip_mark_ce),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
