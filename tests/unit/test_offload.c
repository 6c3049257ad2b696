/* test_offload.c - TUN offload helpers: the Internet checksum, finishing a
 * partial (NEEDS_CSUM) checksum, cutting TCP/IPv4 TSO super-packets into
 * segments, and merging segments of one flow back into a super-packet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "offload.h"
#include "pkt.h"

/* TCP flags. */
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_ECE 0x40
#define F_CWR 0x80

#define IP_DF 0x4000
#define IP_MF 0x2000

#define NPKTS 64
#define BIG (65536 + 256)

static struct pool *pool;

/* ------------------------------------------------------------------------
 * Reference checksum: 16-bit big-endian words, one at a time, end-around
 * carry. Returns the folded sum, not inverted (0xffff when a packet with
 * its checksum in place verifies). */
static uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)(p[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~ref_sum(p, len);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static bool is_v6(const uint8_t *ip)
{
	return ip[0] >> 4 == 6;
}

/* The transport header's offset (IPv6: after any extension headers) and
 * protocol, walked independently of offload.c. */
static size_t walk(const uint8_t *ip, uint8_t *proto)
{
	if (!is_v6(ip)) {
		*proto = ip[9];
		return (size_t)(ip[0] & 15) * 4;
	}
	size_t at = 40;
	uint8_t nh = ip[6];
	while (nh == 0 || nh == 43 || nh == 60) {
		nh = ip[at];
		at += ((size_t)ip[at + 1] + 1) * 8;
	}
	*proto = nh;
	return at;
}

static size_t ihl_of(const uint8_t *ip)
{
	uint8_t proto;
	return walk(ip, &proto);
}

static uint8_t proto_of(const uint8_t *ip)
{
	uint8_t proto;
	walk(ip, &proto);
	return proto;
}

static size_t thl_of(const uint8_t *ip)
{
	return (size_t)(ip[ihl_of(ip) + 12] >> 4) * 4;
}

/* Folded (not inverted) pseudo-header sum of an IPv4 or IPv6 packet for an
 * L4 length and protocol. */
static uint16_t ref_pseudo_sum(const uint8_t *ip, size_t l4len, uint8_t proto)
{
	uint8_t ph[40] = { 0 };
	if (is_v6(ip)) {
		memcpy(ph, ip + 8, 32);
		put32(ph + 32, (uint32_t)l4len);
		ph[39] = proto;
		return ref_sum(ph, 40);
	}
	memcpy(ph, ip + 12, 8);
	ph[9] = proto;
	put16(ph + 10, (uint16_t)l4len);
	return ref_sum(ph, 12);
}

/* Pseudo-header + L4 bytes, summed by the reference: 0xffff when valid. */
static uint16_t ref_l4_verify(const uint8_t *ip, size_t len)
{
	static uint8_t tmp[40 + BIG];
	size_t ihl = ihl_of(ip), l4 = len - ihl, ph;
	memset(tmp, 0, 40);
	if (is_v6(ip)) {
		memcpy(tmp, ip + 8, 32);
		put32(tmp + 32, (uint32_t)l4);
		tmp[39] = proto_of(ip);
		ph = 40;
	} else {
		memcpy(tmp, ip + 12, 8);
		tmp[9] = ip[9];
		put16(tmp + 10, (uint16_t)l4);
		ph = 12;
	}
	memcpy(tmp + ph, ip + ihl, l4);
	return ref_sum(tmp, ph + l4);
}

static bool ip_csum_ok(const uint8_t *ip)
{
	return is_v6(ip) || ref_sum(ip, ihl_of(ip)) == 0xffff;
}

static bool l4_csum_ok(const uint8_t *ip, size_t len)
{
	return ref_l4_verify(ip, len) == 0xffff;
}

/* ------------------------------------------------------------------------
 * Packet builders. */
struct tcp_spec {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t tos, ttl;
	uint16_t id;
	uint16_t frag;   /* IP flags + fragment offset field */
	size_t ip_opts;  /* bytes of IP options (multiple of 4) */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	bool ts;         /* NOP NOP timestamps: thl 32 */
	uint32_t tsval, tsecr;
	const uint8_t *payload;
	size_t plen;
	bool v6;         /* IPv6 (fd00::1 -> fd00::2, flow label 0x12345) */
	size_t ext;      /* IPv6: bytes of a destination options header (multiple of 8) */
};

static struct tcp_spec tcp_default(void)
{
	struct tcp_spec s = {
		.src = 0x0a000001, .dst = 0x0a000002, .sport = 40000, .dport = 5201,
		.tos = 0, .ttl = 64, .id = 0x1234, .frag = IP_DF, .seq = 1000000,
		.ack = 777777, .flags = F_ACK, .win = 502, .ts = true,
		.tsval = 0x01020304, .tsecr = 0x0a0b0c0d,
	};
	return s;
}

/* A TCP/IPv4 (or IPv6) packet with valid checksums; returns its length. */
static size_t build_tcp(uint8_t *p, const struct tcp_spec *s)
{
	size_t ihl = s->v6 ? 40 + s->ext : 20 + s->ip_opts, thl = s->ts ? 32 : 20, len = ihl + thl + s->plen;
	memset(p, 0, ihl + thl);
	if (s->v6) {
		put32(p, 0x60000000u | (uint32_t)s->tos << 20 | 0x12345);
		put16(p + 4, (uint16_t)(len - 40));
		p[6] = s->ext ? 60 : 6;
		p[7] = s->ttl;
		p[8] = p[24] = 0xfd;
		p[23] = 1;
		p[39] = 2;
		if (s->ext) {
			p[40] = 6;
			p[41] = (uint8_t)(s->ext / 8 - 1);
			p[42] = 1; /* PadN */
			p[43] = (uint8_t)(s->ext - 4);
		}
	} else {
		p[0] = (uint8_t)(0x40 | ihl / 4);
		p[1] = s->tos;
		put16(p + 2, (uint16_t)len);
		put16(p + 4, s->id);
		put16(p + 6, s->frag);
		p[8] = s->ttl;
		p[9] = 6;
		put32(p + 12, s->src);
		put32(p + 16, s->dst);
		for (size_t i = 0; i < s->ip_opts; i++)
			p[20 + i] = 1; /* NOP */
		put16(p + 10, ref_csum(p, ihl));
	}

	uint8_t *t = p + ihl;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (s->ts) {
		t[20] = 1;
		t[21] = 1;
		t[22] = 8;
		t[23] = 10;
		put32(t + 24, s->tsval);
		put32(t + 28, s->tsecr);
	}
	if (s->plen)
		memcpy(t + thl, s->payload, s->plen);
	put16(t + 16, (uint16_t)~ref_l4_verify(p, len));
	assert_true(l4_csum_ok(p, len));
	return len;
}

/* A UDP/IPv4 packet with a valid UDP checksum; returns its length. */
static size_t build_udp4(uint8_t *p, const uint8_t *payload, size_t plen)
{
	size_t len = 20 + 8 + plen;
	memset(p, 0, 28);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)len);
	put16(p + 6, IP_DF);
	p[8] = 64;
	p[9] = 17;
	put32(p + 12, 0xc0a80101);
	put32(p + 16, 0xc0a80202);
	put16(p + 10, ref_csum(p, 20));
	put16(p + 20, 53000);
	put16(p + 22, 53);
	put16(p + 24, (uint16_t)(8 + plen));
	memcpy(p + 28, payload, plen);
	put16(p + 26, (uint16_t)~ref_l4_verify(p, len));
	return len;
}

static void get_pkts(struct pkt **pkts, size_t n)
{
	assert_int_equal(pool_get(pool, pkts, n), n);
}

/* tso_segment, then the checks its partial checksums need: every segment
 * is marked partial with the pseudo-header sum in its field. The segments
 * are then completed, so the callers' checks see ordinary packets. */
static int segment(const uint8_t *p, size_t len, uint16_t mss, size_t first, struct pkt **out, size_t nout,
	       size_t *total)
{
	int got = tso_segment(p, len, mss, first, out, nout, total);
	for (int k = 0; k < got; k++) {
		uint8_t *d = out[k]->data;
		size_t ihl = ihl_of(d);
		assert_int_equal(out[k]->csum_partial, 1);
		assert_int_equal(get16(d + ihl + 16), ref_pseudo_sum(d, out[k]->len - ihl, 6));
		assert_int_equal(csum_complete(d, out[k]->len), 0);
		out[k]->csum_partial = 0;
	}
	return got;
}

/* ------------------------------------------------------------------------
 * csum_add / csum_fold */
static void test_csum_rfc1071_example(void **state)
{
	(void)state;
	/* RFC 1071 section 3: these bytes sum to 0xddf2. */
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(csum_fold(csum_add(0, b, sizeof(b))), (uint16_t)~0xddf2);
	assert_int_equal(ref_sum(b, sizeof(b)), 0xddf2);
	/* An odd trailing byte is the high byte of a zero-padded word. */
	const uint8_t c[] = { 0x12, 0x34, 0xab };
	assert_int_equal(csum_fold(csum_add(0, c, 3)), (uint16_t)~(0x1234 + 0xab00));
	/* Nothing summed: ~0. */
	assert_int_equal(csum_fold(csum_add(0, c, 0)), 0xffff);
}

static void test_csum_matches_reference(void **state)
{
	(void)state;
	static uint8_t buf[70001];
	randombytes_buf(buf, sizeof(buf));
	const size_t big[] = { 1499, 1500, 9001, 65535, 65536, 70000, 70001 };
	for (size_t len = 0; len <= 300; len++) {
		/* Each length at a few alignments. */
		for (size_t off = 0; off < 4; off++) {
			assert_int_equal(csum_fold(csum_add(0, buf + off, len)), ref_csum(buf + off, len));
			/* With a starting sum, as for a pseudo-header. */
			uint32_t init = randombytes_random();
			uint64_t e = (uint64_t)init + ref_sum(buf + off, len);
			while (e >> 16)
				e = (e & 0xffff) + (e >> 16);
			assert_int_equal(csum_fold(csum_add(init, buf + off, len)), (uint16_t)~e);
		}
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		assert_int_equal(csum_fold(csum_add(0, buf, big[i])), ref_csum(buf, big[i]));
	/* Carry stress: all-ones words. */
	memset(buf, 0xff, sizeof(buf));
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		assert_int_equal(csum_fold(csum_add(0, buf, big[i])), ref_csum(buf, big[i]));
	assert_int_equal(csum_fold(csum_add(0xffffffffu, buf, 70000)), ref_csum(buf, 70000));
}

static void test_csum_chained(void **state)
{
	(void)state;
	static uint8_t buf[20000];
	for (int round = 0; round < 500; round++) {
		size_t len = 1 + randombytes_uniform(sizeof(buf) - 1);
		randombytes_buf(buf, len);
		uint32_t sum = 0;
		size_t off = 0;
		/* Even-length chunks (0 included), then whatever is left. */
		while (len - off > 1) {
			size_t chunk = 2 * randombytes_uniform((uint32_t)((len - off) / 2 + 1));
			if (randombytes_uniform(4) == 0)
				break;
			sum = csum_add(sum, buf + off, chunk);
			off += chunk;
		}
		sum = csum_add(sum, buf + off, len - off);
		assert_int_equal(csum_fold(sum), csum_fold(csum_add(0, buf, len)));
		assert_int_equal(csum_fold(sum), ref_csum(buf, len));
	}
}

/* ------------------------------------------------------------------------
 * offload_finish_csum */
static void test_finish_csum_tcp(void **state)
{
	(void)state;
	static uint8_t p[2000], payload[1500];
	const size_t plens[] = { 0, 1, 2, 1001, 1400 };
	for (size_t k = 0; k < sizeof(plens) / sizeof(plens[0]); k++) {
		randombytes_buf(payload, sizeof(payload));
		struct tcp_spec s = tcp_default();
		s.payload = payload;
		s.plen = plens[k];
		s.flags = F_ACK | F_PSH;
		size_t len = build_tcp(p, &s);
		uint16_t good = get16(p + 36);
		/* As the kernel leaves it: the folded pseudo-header sum. */
		put16(p + 36, ref_pseudo_sum(p, len - 20, 6));
		struct offload o = { .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 16 };
		assert_int_equal(offload_finish_csum(p, len, &o), 0);
		assert_true(l4_csum_ok(p, len));
		assert_int_equal(get16(p + 36), good);
		assert_int_equal(csum_fold(csum_add(ref_pseudo_sum(p, len - 20, 6), p + 20, len - 20)), 0);
		assert_true(ip_csum_ok(p));
	}
}

static void test_finish_csum_udp(void **state)
{
	(void)state;
	static uint8_t p[2000], payload[1500];
	const size_t plens[] = { 0, 3, 512, 1371 };
	for (size_t k = 0; k < sizeof(plens) / sizeof(plens[0]); k++) {
		randombytes_buf(payload, sizeof(payload));
		size_t len = build_udp4(p, payload, plens[k]);
		uint16_t good = get16(p + 26);
		put16(p + 26, ref_pseudo_sum(p, len - 20, 17));
		struct offload o = { .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6 };
		assert_int_equal(offload_finish_csum(p, len, &o), 0);
		assert_true(l4_csum_ok(p, len));
		assert_int_equal(get16(p + 26), good);
	}
}

/* ------------------------------------------------------------------------
 * l4_csum_pos / csum_complete: the packets whose checksum may stay partial */
static void test_l4_csum_pos(void **state)
{
	(void)state;
	static uint8_t p[200], payload[64];
	uint16_t start = 0, off = 0;
	struct tcp_spec s = tcp_default();
	s.payload = payload;
	s.plen = sizeof(payload);
	size_t len = build_tcp(p, &s);
	assert_int_equal(l4_csum_pos(p, len, &start, &off), 0);
	assert_int_equal(start, 20);
	assert_int_equal(off, 16);
	/* Too short for the field; a fragment; not TCP or UDP. */
	assert_int_equal(l4_csum_pos(p, 37, &start, &off), -1);
	p[6] |= 0x20; /* MF */
	assert_int_equal(l4_csum_pos(p, len, &start, &off), -1);
	p[6] &= (uint8_t)~0x20;
	p[7] = 1; /* an offset */
	assert_int_equal(l4_csum_pos(p, len, &start, &off), -1);
	p[7] = 0;
	p[9] = 1; /* ICMP */
	assert_int_equal(l4_csum_pos(p, len, &start, &off), -1);
	len = build_udp4(p, payload, sizeof(payload));
	assert_int_equal(l4_csum_pos(p, len, &start, &off), 0);
	assert_int_equal(start, 20);
	assert_int_equal(off, 6);
	/* IPv6: TCP or UDP right after the fixed header; not behind an
	 * extension header. */
	memset(p, 0, 100);
	p[0] = 0x60;
	p[6] = 6;
	assert_int_equal(l4_csum_pos(p, 60, &start, &off), 0);
	assert_int_equal(start, 40);
	assert_int_equal(off, 16);
	p[6] = 17;
	assert_int_equal(l4_csum_pos(p, 48, &start, &off), 0);
	assert_int_equal(off, 6);
	assert_int_equal(l4_csum_pos(p, 47, &start, &off), -1);
	p[6] = 0; /* hop-by-hop, 8 bytes, then TCP */
	p[40] = 6;
	assert_int_equal(l4_csum_pos(p, 68, &start, &off), 0);
	assert_int_equal(start, 48);
	assert_int_equal(off, 16);
	assert_int_equal(l4_csum_pos(p, 65, &start, &off), -1); /* field cut short */
	p[40] = 44; /* then a fragment header: not ours to complete */
	assert_int_equal(l4_csum_pos(p, 68, &start, &off), -1);
	p[40] = 0; /* hop-by-hop headers all the way: more than four */
	assert_int_equal(l4_csum_pos(p, 100, &start, &off), -1);
	p[0] = 0x50;
	assert_int_equal(l4_csum_pos(p, 60, &start, &off), -1);
}

static void test_csum_complete(void **state)
{
	(void)state;
	static uint8_t p[2000], payload[1500];
	for (size_t k = 0; k < 20; k++) {
		randombytes_buf(payload, sizeof(payload));
		struct tcp_spec s = tcp_default();
		s.payload = payload;
		s.plen = k * 70;
		size_t len = build_tcp(p, &s);
		uint16_t good = get16(p + 36);
		put16(p + 36, ref_pseudo_sum(p, len - 20, 6));
		assert_int_equal(csum_complete(p, len), 0);
		assert_int_equal(get16(p + 36), good);
		len = build_udp4(p, payload, k * 70 + 1);
		good = get16(p + 26);
		put16(p + 26, ref_pseudo_sum(p, len - 20, 17));
		assert_int_equal(csum_complete(p, len), 0);
		assert_int_equal(get16(p + 26), good);
	}
	/* A UDP sum of zero is sent as 0xffff (zero would mean "no checksum"):
	 * two payload bytes chosen to cancel the rest. */
	size_t len = build_udp4(p, payload, 2);
	put16(p + 28, 0);
	put16(p + 26, 0);
	uint16_t rest = ref_l4_verify(p, len);
	put16(p + 28, (uint16_t)~rest);
	put16(p + 26, ref_pseudo_sum(p, len - 20, 17));
	assert_int_equal(csum_complete(p, len), 0);
	assert_int_equal(get16(p + 26), 0xffff);
	assert_true(l4_csum_ok(p, len));
	/* Nothing to complete: left alone. */
	p[9] = 1;
	assert_int_equal(csum_complete(p, len), -1);
}

static void test_finish_csum_ranges(void **state)
{
	(void)state;
	static uint8_t p[200], before[200], payload[100];
	randombytes_buf(payload, sizeof(payload));
	struct tcp_spec s = tcp_default();
	s.payload = payload;
	s.plen = sizeof(payload);
	size_t len = build_tcp(p, &s); /* 152 bytes */
	put16(p + 36, ref_pseudo_sum(p, len - 20, 6));
	memcpy(before, p, len);

	const struct { uint16_t start, offset; } bad[] = {
		{ (uint16_t)len, 0 },          /* start at the end */
		{ (uint16_t)(len + 1), 0 },
		{ 0xffff, 0 },
		{ (uint16_t)(len - 1), 0 },    /* field would end one byte past */
		{ 20, (uint16_t)(len - 21) },  /* likewise via the offset */
		{ 20, 0xffff },
		{ 0xffff, 0xffff },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct offload o = { .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = bad[i].start,
				     .csum_offset = bad[i].offset };
		assert_int_equal(offload_finish_csum(p, len, &o), -1);
		assert_memory_equal(p, before, len);
	}
	/* The last two bytes are a field that fits (holding a zero partial sum). */
	put16(p + len - 2, 0);
	memcpy(before, p, len);
	struct offload edge = { .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = (uint16_t)(len - 22) };
	assert_int_equal(offload_finish_csum(p, len, &edge), 0);
	assert_memory_equal(p, before, len - 2);
	assert_int_equal(ref_sum(p + 20, len - 20), 0xffff);

	/* Without NEEDS_CSUM nothing happens, even with silly offsets. */
	memcpy(p, before, len);
	struct offload none[] = {
		{ .flags = 0, .gso_type = OFFLOAD_GSO_NONE, .csum_start = 20, .csum_offset = 16 },
		{ .flags = 2, .csum_start = 20, .csum_offset = 16 }, /* DATA_VALID */
		{ .flags = 0, .csum_start = 0xffff, .csum_offset = 0xffff },
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		assert_int_equal(offload_finish_csum(p, len, &none[i]), 0);
		assert_memory_equal(p, before, len);
	}
}

static void test_offload_decode(void **state)
{
	(void)state;
	uint8_t h[OFFLOAD_HDR_LEN];
	uint16_t v[4] = { 52, 1348, 20, 16 };
	h[0] = OFFLOAD_F_NEEDS_CSUM;
	h[1] = OFFLOAD_GSO_TCPV4;
	memcpy(h + 2, v, sizeof(v));
	struct offload o;
	offload_decode(&o, h);
	assert_int_equal(o.flags, OFFLOAD_F_NEEDS_CSUM);
	assert_int_equal(o.gso_type, OFFLOAD_GSO_TCPV4);
	assert_int_equal(o.gso_size, 1348);
	assert_int_equal(o.csum_start, 20);
	assert_int_equal(o.csum_offset, 16);
}

/* ------------------------------------------------------------------------
 * tso_segment */
static uint8_t sp[BIG], sp_payload[BIG];

/* A super-packet of plen random payload bytes in sp; returns its length.
 * IPv4, unless super_v6 (and super_ext bytes of IPv6 options) say otherwise. */
static bool super_v6;
static size_t super_ext;

static size_t build_super(size_t plen, uint8_t flags, uint16_t id, uint32_t seq)
{
	randombytes_buf(sp_payload, plen);
	struct tcp_spec s = tcp_default();
	s.payload = sp_payload;
	s.plen = plen;
	s.flags = flags;
	s.id = id;
	s.seq = seq;
	s.v6 = super_v6;
	s.ext = super_ext;
	return build_tcp(sp, &s);
}

/* Checks segs[0..n) as segments first.. of super-packet p (len) cut at
 * mss into total segments. */
static void check_segments(const uint8_t *p, size_t len, uint16_t mss, struct pkt **segs, size_t first, size_t n,
			   size_t total)
{
	size_t ihl = ihl_of(p), thl = thl_of(p), hl = ihl + thl, payload = len - hl;
	const uint8_t *t = p + ihl;
	for (size_t k = 0; k < n; k++) {
		size_t idx = first + k, off = idx * mss;
		size_t plen = payload - off < mss ? payload - off : mss;
		const uint8_t *d = segs[k]->data, *dt = d + ihl;
		assert_int_equal(segs[k]->len, hl + plen);
		if (is_v6(p)) {
			/* IPv6: the payload length changes; the rest (flow label,
			 * hop limit, addresses, extension headers) not. */
			assert_int_equal(get16(d + 4), hl + plen - 40);
			assert_memory_equal(d, p, 4);
			assert_memory_equal(d + 6, p + 6, ihl - 6);
		} else {
			/* IP: length, id, checksum change; the rest (DF, TTL, ...) not. */
			assert_int_equal(get16(d + 2), hl + plen);
			assert_int_equal(get16(d + 4), (uint16_t)(get16(p + 4) + idx));
			assert_true(ip_csum_ok(d));
			assert_memory_equal(d, p, 2);
			assert_memory_equal(d + 6, p + 6, 4);
			assert_memory_equal(d + 12, p + 12, ihl - 12);
		}
		/* TCP: sequence number, flags, checksum. */
		assert_int_equal(get32(dt + 4), (uint32_t)(get32(t + 4) + off));
		uint8_t f = t[13];
		if (idx + 1 < total)
			f &= (uint8_t) ~(F_FIN | F_PSH);
		if (idx > 0)
			f &= (uint8_t)~F_CWR;
		assert_int_equal(dt[13], f);
		assert_memory_equal(dt, t, 4);
		assert_memory_equal(dt + 8, t + 8, 5);
		assert_memory_equal(dt + 14, t + 14, 2);
		assert_memory_equal(dt + 18, t + 18, thl - 18);
		assert_true(l4_csum_ok(d, hl + plen));
		assert_memory_equal(d + hl, p + hl + off, plen);
	}
}

static void test_tso_cut(void **state)
{
	(void)state;
	const struct { size_t plen; uint8_t flags; uint16_t mss; uint16_t id; uint32_t seq; } cases[] = {
		{ 10000, F_ACK | F_PSH, 1348, 0x4242, 1000000 },
		{ 10000, F_ACK | F_PSH | F_FIN, 1348, 0xfffd, 0xffffe000 }, /* id and seq wrap */
		{ 10000, F_ACK | F_CWR | F_ECE, 1348, 7, 5 },
		{ 5 * 1348, F_ACK | F_PSH, 1348, 1, 1 },                     /* exact multiple */
		{ 1, F_ACK | F_PSH, 1348, 1, 1 },
		{ 1348, F_ACK | F_PSH | F_FIN | F_CWR, 1348, 1, 1 },        /* exactly one */
		{ 1349, F_ACK | F_PSH | F_FIN | F_CWR, 1348, 1, 1 },        /* one byte over */
		{ 65535 - 52, F_ACK | F_PSH, 1448, 9, 9 },                    /* biggest */
		{ 3000, F_ACK, 1, 9, 9 },                                      /* mss 1 */
	};
	struct pkt *segs[NPKTS];
	static uint8_t cat[BIG];
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len = build_super(cases[c].plen, cases[c].flags, cases[c].id, cases[c].seq);
		size_t hl = 52, want = (cases[c].plen + cases[c].mss - 1) / cases[c].mss;
		size_t total = 0, cut = 0;
		assert_int_equal(get16(sp + 6), IP_DF);
		/* In windows of up to NPKTS. */
		while (cut < want) {
			size_t nout = want - cut < NPKTS ? want - cut : NPKTS;
			get_pkts(segs, nout);
			int got = segment(sp, len, cases[c].mss, cut, segs, nout, &total);
			assert_int_equal(got, nout);
			assert_int_equal(total, want);
			check_segments(sp, len, cases[c].mss, segs, cut, nout, total);
			for (size_t k = 0; k < nout; k++) {
				assert_true(segs[k]->len <= PKT_MAX_IP);
				memcpy(cat + (cut + k) * cases[c].mss, segs[k]->data + hl, segs[k]->len - hl);
			}
			/* Every segment but the last is exactly mss. */
			for (size_t k = 0; k < nout; k++)
				if (cut + k + 1 < want)
					assert_int_equal(segs[k]->len, hl + cases[c].mss);
			pool_put(pool, segs, nout);
			cut += nout;
		}
		assert_memory_equal(cat, sp + hl, cases[c].plen);
		/* Past the end: nothing more. */
		get_pkts(segs, 4);
		assert_int_equal(segment(sp, len, cases[c].mss, want, segs, 4, &total), 0);
		assert_int_equal(total, want);
		pool_put(pool, segs, 4);
	}
}

/* IPv4 with options (up to the 40 bytes the header allows), another TOS
 * and TTL, and ids that wrap: cut() sums the part of the IPv4 header its
 * segments share once, from the source, so every byte of it must count. */
static void test_tso_cut_ip_options(void **state)
{
	(void)state;
	const size_t opts[] = { 4, 12, 40 };
	struct pkt *segs[8];
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		randombytes_buf(sp_payload, 5000);
		struct tcp_spec sp_spec = tcp_default();
		sp_spec.payload = sp_payload;
		sp_spec.plen = 5000;
		sp_spec.flags = F_ACK | F_PSH;
		sp_spec.ip_opts = opts[k];
		sp_spec.tos = 0xb8;
		sp_spec.ttl = 3;
		sp_spec.id = 0xfffe;
		size_t len = build_tcp(sp, &sp_spec);
		for (size_t i = 20; i < 20 + opts[k]; i++)
			sp[i] = (uint8_t)(0x11 * (i + k)); /* options that are not all zero */
		put16(sp + 10, 0);
		put16(sp + 10, ref_csum(sp, 20 + opts[k]));
		assert_int_equal(ihl_of(sp), 20 + opts[k]);
		size_t total = 0;
		get_pkts(segs, 4);
		assert_int_equal(segment(sp, len, 1300, 0, segs, 4, &total), 4);
		assert_int_equal(total, 4);
		check_segments(sp, len, 1300, segs, 0, 4, 4);
		pool_put(pool, segs, 4);
	}
}

static void test_tso_windows(void **state)
{
	(void)state;
	size_t len = build_super(10000, F_ACK | F_PSH | F_CWR, 0x9999, 123456789);
	const uint16_t mss = 1348;
	struct pkt *all[NPKTS], *win[3];
	size_t total = 0;
	get_pkts(all, NPKTS);
	assert_int_equal(segment(sp, len, mss, 0, all, NPKTS, &total), 8);
	assert_int_equal(total, 8);
	check_segments(sp, len, mss, all, 0, 8, 8);
	/* The segments' payloads, back to back, are the original payload. */
	static uint8_t cat[10000];
	size_t at = 0;
	for (size_t i = 0; i < 8; i++) {
		memcpy(cat + at, all[i]->data + 52, all[i]->len - 52);
		at += all[i]->len - 52;
	}
	assert_int_equal(at, 10000);
	assert_memory_equal(cat, sp + 52, 10000);
	assert_int_equal(all[7]->len, 52 + 10000 - 7 * 1348);

	/* Three at a time: the same bytes. */
	get_pkts(win, 3);
	size_t first = 0;
	const int expect[] = { 3, 3, 2 };
	for (int w = 0; first < total; w++) {
		size_t t2 = 0;
		int got = segment(sp, len, mss, first, win, 3, &t2);
		assert_int_equal(got, expect[w]);
		assert_int_equal(t2, 8);
		for (int k = 0; k < got; k++) {
			assert_int_equal(win[k]->len, all[first + (size_t)k]->len);
			assert_memory_equal(win[k]->data, all[first + (size_t)k]->data, win[k]->len);
		}
		first += (size_t)got;
	}
	assert_int_equal(first, 8);
	/* nout 0 writes nothing but still reports the total. */
	size_t t3 = 0;
	assert_int_equal(segment(sp, len, mss, 0, win, 0, &t3), 0);
	assert_int_equal(t3, 8);
	pool_put(pool, win, 3);
	pool_put(pool, all, NPKTS);
}

static void test_tso_single(void **state)
{
	(void)state;
	struct pkt *segs[2];
	size_t total = 0;
	get_pkts(segs, 2);
	/* No payload: one segment, flags kept (FIN and PSH included). */
	size_t len = build_super(0, F_ACK | F_PSH | F_FIN, 0x55, 42);
	assert_int_equal(segment(sp, len, 1348, 0, segs, 2, &total), 1);
	assert_int_equal(total, 1);
	assert_int_equal(segs[0]->len, len);
	assert_memory_equal(segs[0]->data, sp, len);
	/* A payload under mss: the very same packet. */
	len = build_super(700, F_ACK | F_PSH | F_CWR, 0x56, 43);
	assert_int_equal(segment(sp, len, 1348, 0, segs, 2, &total), 1);
	assert_int_equal(total, 1);
	assert_int_equal(segs[0]->len, len);
	assert_memory_equal(segs[0]->data, sp, len);
	pool_put(pool, segs, 2);
}

static void test_tso_malformed(void **state)
{
	(void)state;
	struct pkt *segs[NPKTS];
	size_t total = 0;
	get_pkts(segs, NPKTS);
	size_t len = build_super(5000, F_ACK | F_PSH, 1, 1);
	static uint8_t bad[BIG];

#define EXPECT_BAD(blen, mss)                                                                   \
	assert_int_equal(segment(bad, (blen), (mss), 0, segs, NPKTS, &total), -1)

	memcpy(bad, sp, len);
	EXPECT_BAD(len, 0); /* mss 0 */
	bad[0] = 0x65;      /* IPv6 version nibble */
	EXPECT_BAD(len, 1348);
	memcpy(bad, sp, len);
	bad[9] = 17; /* UDP */
	EXPECT_BAD(len, 1348);
	memcpy(bad, sp, len);
	bad[0] = 0x44; /* ihl 4 */
	EXPECT_BAD(len, 1348);
	memcpy(bad, sp, len);
	bad[0] = 0x40; /* ihl 0 */
	EXPECT_BAD(len, 1348);
	memcpy(bad, sp, len);
	bad[32] = 0x40; /* thl 16 */
	EXPECT_BAD(len, 1348);
	bad[32] = 0x00; /* thl 0 */
	EXPECT_BAD(len, 1348);
	memcpy(bad, sp, len);
	EXPECT_BAD(51, 1348); /* headers are 52 bytes */
	EXPECT_BAD(39, 1348);
	EXPECT_BAD(20, 1348);
	EXPECT_BAD(0, 1348);
	bad[0] = 0x4f; /* ihl 60: no room for a TCP header */
	EXPECT_BAD(75, 1348);
	memcpy(bad, sp, len);
	bad[32] = 0xf0; /* thl 60, but only 52 bytes */
	EXPECT_BAD(52 + 7, 1348);
#undef EXPECT_BAD

	/* The largest mss whose segment fits a buffer works; one more does not. */
	uint16_t fit = (uint16_t)(PKT_MAX_IP - 52);
	int got = segment(sp, len, fit, 0, segs, NPKTS, &total);
	assert_int_equal(got, (5000 + fit - 1) / fit);
	assert_int_equal(segs[0]->len, PKT_MAX_IP);
	check_segments(sp, len, fit, segs, 0, (size_t)got, total);
	assert_int_equal(segment(sp, len, (uint16_t)(fit + 1), 0, segs, NPKTS, &total), -1);
	assert_int_equal(segment(sp, len, 65535, 0, segs, NPKTS, &total), -1);
	pool_put(pool, segs, NPKTS);
}

/* A super-packet whose payload is under mss is one segment, but still
 * bigger than a buffer: refused, and nothing written past the buffer. */
static void test_tso_single_too_big(void **state)
{
	(void)state;
	static struct pkt guard[2];
	struct pkt *out[1] = { &guard[0] };
	pkt_reset(&guard[0]);
	memset(&guard[1], 0xa5, sizeof(guard[1]));
	size_t total = 0;
	size_t len = build_super(3000, F_ACK | F_PSH, 1, 1);
	assert_int_equal(segment(sp, len, 4000, 0, out, 1, &total), -1);
	for (size_t i = 0; i < sizeof(guard[1]); i++)
		assert_int_equal(((uint8_t *)&guard[1])[i], 0xa5);
	/* Just fitting is fine. */
	len = build_super(PKT_MAX_IP - 52, F_ACK | F_PSH, 1, 1);
	assert_int_equal(segment(sp, len, 4000, 0, out, 1, &total), 1);
	assert_int_equal(guard[0].len, PKT_MAX_IP);
	len = build_super(PKT_MAX_IP - 52 + 1, F_ACK | F_PSH, 1, 1);
	assert_int_equal(segment(sp, len, 4000, 0, out, 1, &total), -1);
}

/* ------------------------------------------------------------------------
 * Merging (tcp_merge, as tun_write_batch uses it). */

/* tcp_merge or else udp_merge (as tun_write_batch tries them), with the
 * offload header and the super-packet it describes
 * (gathered as the kernel would) handed back in separate buffers. */
static size_t merge_like_tun_members(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t *buf,
				     uint8_t hdr[OFFLOAD_HDR_LEN], size_t *nseg, bool *member)
{
	struct iovec iov[TCP_MERGE_MAX + 1];
	size_t niov = 0, len = tcp_merge(pkts, n, i, used, hdr, iov, &niov, nseg);
	if (!len)
		len = udp_merge(pkts, n, i, used, hdr, iov, &niov, nseg);
	if (!len)
		return 0;
	assert_int_equal(niov, *nseg + 1);
	assert_ptr_equal(iov[0].iov_base, hdr);
	assert_int_equal(iov[0].iov_len, OFFLOAD_HDR_LEN);
	assert_ptr_equal(iov[1].iov_base, pkts[i]->data);
	size_t at = 0;
	for (size_t k = 1; k < niov; k++) {
		memcpy(buf + at, iov[k].iov_base, iov[k].iov_len);
		at += iov[k].iov_len;
	}
	assert_int_equal(at, len);
	if (member)
		merge_set(pkts, n, i, used, iov, niov, member, true);
	return len;
}

static size_t merge_like_tun(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t *buf,
			     uint8_t hdr[OFFLOAD_HDR_LEN], size_t *nseg)
{
	return merge_like_tun_members(pkts, n, i, used, buf, hdr, nseg, NULL);
}

/* Checks a merged packet m (len) against the original super-packet orig,
 * then finishes its checksum and expects the original exactly. */
static void check_merged(uint8_t *m, size_t mlen, const uint8_t hdr[OFFLOAD_HDR_LEN], const uint8_t *orig,
			 size_t len, uint16_t mss)
{
	assert_int_equal(mlen, len);
	size_t ihl = ihl_of(orig), thl = thl_of(orig);
	/* Everything but the IP length (and checksum) and the TCP checksum. */
	if (is_v6(orig)) {
		assert_memory_equal(m, orig, 4);
		assert_memory_equal(m + 6, orig + 6, ihl + 16 - 6);
		assert_int_equal(get16(m + 4), len - 40);
	} else {
		assert_memory_equal(m, orig, 2);
		assert_memory_equal(m + 4, orig + 4, 6);
		assert_memory_equal(m + 12, orig + 12, ihl + 16 - 12);
		assert_int_equal(get16(m + 2), len);
		assert_true(ip_csum_ok(m));
	}
	assert_memory_equal(m + ihl + 18, orig + ihl + 18, len - ihl - 18);
	/* The TCP checksum field: the pseudo-header sum, folded, not inverted. */
	assert_int_equal(get16(m + ihl + 16), ref_pseudo_sum(orig, len - ihl, 6));

	uint8_t want[OFFLOAD_HDR_LEN];
	uint16_t v[4] = { (uint16_t)(ihl + thl), mss, (uint16_t)ihl, 16 };
	want[0] = 1;
	want[1] = is_v6(orig) ? 4 : 1; /* GSO TCPV6 / TCPV4 */
	memcpy(want + 2, v, sizeof(v));
	assert_memory_equal(hdr, want, OFFLOAD_HDR_LEN);

	struct offload o;
	offload_decode(&o, hdr);
	assert_int_equal(offload_finish_csum(m, mlen, &o), 0);
	assert_true(l4_csum_ok(m, mlen));
	assert_memory_equal(m, orig, len);
}

static void roundtrip(size_t plen, uint8_t flags, uint16_t mss)
{
	static uint8_t m[BIG];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	struct pkt *segs[NPKTS];
	bool used[NPKTS] = { false };
	size_t total = 0, nseg = 0;
	size_t len = build_super(plen, flags, 0xbeef, 0xfffff000);
	size_t want = (plen + mss - 1) / mss;
	assert_true(want <= NPKTS);
	get_pkts(segs, want);
	assert_int_equal(segment(sp, len, mss, 0, segs, want, &total), want);
	size_t mlen = merge_like_tun(segs, want, 0, used, m, hdr, &nseg);
	assert_int_equal(nseg, want);
	for (size_t i = 1; i < want; i++)
		assert_true(used[i]);
	check_merged(m, mlen, hdr, sp, len, mss);
	pool_put(pool, segs, want);
}

static void test_merge_roundtrip(void **state)
{
	(void)state;
	roundtrip(10000, F_ACK | F_PSH, 1348);
	roundtrip(10000, F_ACK, 1348);
	roundtrip(6 * 1348, F_ACK | F_PSH, 1348);
	roundtrip(1349, F_ACK | F_PSH, 1348);
	roundtrip(30000, F_ACK | F_PSH, 1448);
}

/* A run of more than TCP_MERGE_MAX small segments is merged in pieces of
 * at most TCP_MERGE_MAX, each a valid super-packet, in order. */
static void test_merge_caps_segments(void **state)
{
	(void)state;
	static uint8_t m[BIG];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	const uint16_t mss = 20;
	const size_t want = TCP_MERGE_MAX + 6;
	struct pkt *segs[TCP_MERGE_MAX + 6];
	bool used[TCP_MERGE_MAX + 6] = { false };
	size_t total = 0, nseg = 0;
	size_t len = build_super(want * mss, F_ACK, 0x1234, 1000);
	get_pkts(segs, want);
	assert_int_equal(segment(sp, len, mss, 0, segs, want, &total), want);
	size_t mlen = merge_like_tun(segs, want, 0, used, m, hdr, &nseg);
	assert_int_equal(nseg, TCP_MERGE_MAX);
	assert_int_equal(mlen, 52 + TCP_MERGE_MAX * mss);
	assert_false(used[TCP_MERGE_MAX]);
	assert_int_equal(get32(m + 24), 1000);
	mlen = merge_like_tun(segs, want, TCP_MERGE_MAX, used, m, hdr, &nseg);
	assert_int_equal(nseg, 6);
	assert_int_equal(mlen, 52 + 6 * mss);
	assert_int_equal(get32(m + 24), 1000 + TCP_MERGE_MAX * mss);
	pool_put(pool, segs, want);
}

/* IPv6 super-packets are cut and merged back like IPv4 ones; one with a
 * destination options header is cut (the header copied into every
 * segment) but its segments are not merged. */
static void test_tso6_cut_and_merge(void **state)
{
	const size_t plens[] = { 1329, 2 * 1328, 10000, 30000 };
	super_v6 = true;
	for (size_t k = 0; k < sizeof(plens) / sizeof(plens[0]); k++)
		roundtrip(plens[k], F_ACK | F_PSH, 1328);
	roundtrip(20000, F_ACK, 1428);

	static uint8_t m[BIG];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	struct pkt *segs[NPKTS];
	bool used[NPKTS] = { false };
	size_t total = 0, nseg = 0;
	super_ext = 8;
	size_t len = build_super(5000, F_ACK | F_PSH, 0, 99);
	assert_int_equal(ihl_of(sp), 48);
	get_pkts(segs, 4);
	assert_int_equal(segment(sp, len, 1320, 0, segs, 4, &total), 4);
	assert_int_equal(total, 4);
	check_segments(sp, len, 1320, segs, 0, 4, 4);
	assert_int_equal(merge_like_tun(segs, 4, 0, used, m, hdr, &nseg), 0);
	pool_put(pool, segs, 4);
	super_ext = 0;
	super_v6 = false;
	(void)state;
}

static void test_mergeable6(void **state)
{
	(void)state;
	static uint8_t p[2000], payload[1000];
	struct tcp_seg g;
	struct tcp_spec s = tcp_default();
	s.v6 = true;
	s.payload = payload;
	s.plen = sizeof(payload);
	size_t len = build_tcp(p, &s);
	assert_true(tcp_mergeable(p, len, &g));
	assert_int_equal(g.ihl, 40);
	assert_int_equal(g.payload, sizeof(payload));
	assert_false(tcp_mergeable(p, len - 1, &g)); /* payload length disagrees */
	s.ext = 8;
	len = build_tcp(p, &s);
	assert_false(tcp_mergeable(p, len, &g));
	/* A different flow label is not the same run. */
	s.ext = 0;
	static uint8_t q[2000];
	len = build_tcp(p, &s);
	s.seq += sizeof(payload);
	size_t qlen = build_tcp(q, &s);
	struct tcp_seg a, b;
	assert_true(tcp_mergeable(p, len, &a) && tcp_mergeable(q, qlen, &b));
	assert_true(tcp_continues(p, &a, q, &b));
	q[3] ^= 1;
	assert_false(tcp_continues(p, &a, q, &b));
	q[3] ^= 1;
	q[39] ^= 1; /* another destination */
	assert_false(tcp_continues(p, &a, q, &b));
}

/* A UDP super-packet as the kernel hands it over with USO: one header,
 * plen payload bytes, the checksum field the pseudo-header sum. */
static size_t build_udp_super(uint8_t *p, bool v6, size_t plen)
{
	struct tcp_spec s = tcp_default(); /* for its addresses and IP fields */
	s.v6 = v6;
	s.ts = false;
	size_t ihl = v6 ? 40 : 20, len = ihl + 8 + plen;
	build_tcp(p, &s); /* the IP header; the rest is rewritten below */
	if (v6) {
		p[6] = 17;
		put16(p + 4, (uint16_t)(len - 40));
	} else {
		p[9] = 17;
		put16(p + 2, (uint16_t)len);
		put16(p + 10, 0);
		put16(p + 10, ref_csum(p, 20));
	}
	put16(p + ihl, 4433);
	put16(p + ihl + 2, 443);
	put16(p + ihl + 4, (uint16_t)(8 + plen));
	randombytes_buf(p + ihl + 8, plen);
	put16(p + ihl + 6, ref_pseudo_sum(p, 8 + plen, 17));
	return len;
}

static void uso_roundtrip(bool v6, size_t plen, uint16_t size)
{
	static uint8_t u[BIG], m[BIG];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	struct pkt *segs[NPKTS];
	bool used[NPKTS] = { false };
	size_t total = 0, nseg = 0, ihl = v6 ? 40 : 20;
	size_t len = build_udp_super(u, v6, plen), want = (plen + size - 1) / size;
	get_pkts(segs, want);
	assert_int_equal(uso_segment(u, len, size, 0, segs, want, &total), want);
	assert_int_equal(total, want);
	for (size_t k = 0; k < want; k++) {
		uint8_t *d = segs[k]->data;
		size_t dl = k + 1 < want ? size : plen - k * size;
		assert_int_equal(segs[k]->len, ihl + 8 + dl);
		assert_int_equal(get16(d + ihl + 4), 8 + dl);
		assert_int_equal(segs[k]->csum_partial, 1);
		assert_int_equal(get16(d + ihl + 6), ref_pseudo_sum(d, 8 + dl, 17));
		if (!v6) {
			assert_int_equal(get16(d + 2), ihl + 8 + dl);
			assert_int_equal(get16(d + 4), (uint16_t)(get16(u + 4) + k));
			assert_true(ip_csum_ok(d));
		} else {
			assert_int_equal(get16(d + 4), 8 + dl);
		}
		assert_memory_equal(d + ihl, u + ihl, 4); /* ports */
		assert_memory_equal(d + ihl + 8, u + ihl + 8 + k * size, dl);
	}
	/* Merged back, without the copy: the very super-packet we cut. */
	size_t mlen = merge_like_tun(segs, want, 0, used, m, hdr, &nseg);
	assert_int_equal(nseg, want);
	assert_int_equal(mlen, len);
	assert_memory_equal(m, u, len);
	struct offload o;
	offload_decode(&o, hdr);
	assert_int_equal(o.flags, OFFLOAD_F_NEEDS_CSUM);
	assert_int_equal(o.gso_type, OFFLOAD_GSO_UDP_L4);
	assert_int_equal(o.gso_size, size);
	assert_int_equal(o.csum_start, ihl);
	assert_int_equal(o.csum_offset, 6);
	assert_int_equal(offload_finish_csum(m, mlen, &o), 0);
	assert_true(l4_csum_ok(m, mlen));
	pool_put(pool, segs, want);
}

static void test_uso_cut_and_merge(void **state)
{
	(void)state;
	for (int v6 = 0; v6 <= 1; v6++) {
		uso_roundtrip(v6, 10000, 1000);
		uso_roundtrip(v6, 10001, 1000);
		uso_roundtrip(v6, 30000, 1200);
	}
}

/* A run of UDP datagrams ends at the first shorter one; a longer one, or
 * one with another TTL, starts its own; other flows in between are
 * skipped. */
static void test_udp_merge_runs(void **state)
{
	(void)state;
	static uint8_t u[BIG], m[BIG];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	struct pkt *segs[8];
	bool used[8] = { false };
	size_t total = 0, nseg = 0;
	size_t len = build_udp_super(u, false, 5 * 800);
	get_pkts(segs, 8);
	assert_int_equal(uso_segment(u, len, 800, 0, segs, 5, &total), 5);
	/* segs[5]: another flow; segs[2] cut short; segs[6] a 800-byte one of
	 * ours again, segs[7] ours with another TTL. */
	memcpy(segs[5]->data, segs[0]->data, segs[0]->len);
	segs[5]->len = segs[0]->len;
	segs[5]->data[20] ^= 1; /* source port */
	segs[2]->len -= 100;
	put16(segs[2]->data + 2, (uint16_t)segs[2]->len);
	put16(segs[2]->data + 24, (uint16_t)(segs[2]->len - 20));
	memcpy(segs[6]->data, segs[3]->data, segs[3]->len);
	segs[6]->len = segs[3]->len;
	struct pkt *order[8] = { segs[0], segs[5], segs[1], segs[2], segs[3], segs[4], segs[6] };
	assert_int_equal(merge_like_tun(order, 7, 0, used, m, hdr, &nseg), 20 + 8 + 800 + 800 + 700);
	assert_int_equal(nseg, 3);
	assert_true(used[2] && used[3]);
	assert_false(used[1]);
	assert_int_equal(merge_like_tun(order, 7, 4, used, m, hdr, &nseg), 20 + 8 + 3 * 800);
	assert_int_equal(nseg, 3);
	memset(used, 0, sizeof(used));
	segs[4]->data[8]--; /* TTL */
	assert_int_equal(merge_like_tun(order, 7, 4, used, m, hdr, &nseg), 0);
	pool_put(pool, segs, 8);
}

/* Two flows' segments interleaved, as a tun_write_batch would get them:
 * each merges back into its own super-packet, and merge_set names
 * exactly the packets of each (what tun_write_batch marks not written
 * when the kernel refuses one). */
static void test_merge_two_flows(void **state)
{
	(void)state;
	static uint8_t a[BIG], b[BIG], m[BIG], pay[BIG];
	const uint16_t mss = 1348;
	struct tcp_spec s = tcp_default();
	randombytes_buf(pay, sizeof(pay));
	s.payload = pay;
	s.plen = 8000;
	s.flags = F_ACK | F_PSH;
	size_t alen = build_tcp(a, &s);
	s.sport++;
	s.payload = pay + 9000;
	s.plen = 5000;
	s.seq = 77;
	size_t blen = build_tcp(b, &s);

	struct pkt *sa[6], *sb[4], *mix[10];
	size_t total;
	get_pkts(sa, 6);
	get_pkts(sb, 4);
	assert_int_equal(segment(a, alen, mss, 0, sa, 6, &total), 6);
	assert_int_equal(segment(b, blen, mss, 0, sb, 4, &total), 4);
	size_t n = 0;
	for (size_t i = 0; i < 6; i++) {
		mix[n++] = sa[i];
		if (i < 4)
			mix[n++] = sb[i];
	}
	bool used[10] = { false };
	uint8_t hdr[OFFLOAD_HDR_LEN];
	size_t nseg = 0, flows = 0;
	for (size_t i = 0; i < n; i++) {
		if (used[i])
			continue;
		bool member[10] = { false };
		size_t mlen = merge_like_tun_members(mix, n, i, used, m, hdr, &nseg, member);
		assert_true(mlen > 0);
		bool is_a = get16(m + 20) == get16(a + 20);
		assert_int_equal(nseg, is_a ? 6 : 4);
		check_merged(m, mlen, hdr, is_a ? a : b, is_a ? alen : blen, mss);
		/* mix: a0 b0 a1 b1 a2 b2 a3 b3 a4 a5 */
		for (size_t j = 0; j < n; j++) {
			bool of_a = j >= 8 || j % 2 == 0;
			if (member[j] != (of_a == is_a))
				fail_msg("flow %s: merge_set says %d for packet %zu", is_a ? "a" : "b", member[j], j);
		}
		flows++;
	}
	assert_int_equal(flows, 2);
	pool_put(pool, sa, 6);
	pool_put(pool, sb, 4);
}

/* ------------------------------------------------------------------------
 * tcp_mergeable / tcp_continues */
static uint8_t seg_payload[2000];

static size_t build_seg(uint8_t *p, const struct tcp_spec *in)
{
	struct tcp_spec s = *in;
	s.payload = seg_payload;
	return build_tcp(p, &s);
}

static struct tcp_spec seg_spec(void)
{
	struct tcp_spec s = tcp_default();
	s.plen = 100;
	return s;
}

static void test_mergeable(void **state)
{
	(void)state;
	static uint8_t p[2100];
	struct tcp_seg g;
	randombytes_buf(seg_payload, sizeof(seg_payload));

	struct tcp_spec s = seg_spec();
	size_t len = build_seg(p, &s);
	memset(&g, 0, sizeof(g));
	assert_true(tcp_mergeable(p, len, &g));
	assert_int_equal(g.ihl, 20);
	assert_int_equal(g.thl, 32);
	assert_int_equal(g.payload, 100);
	assert_int_equal(g.seq, s.seq);
	/* PSH is fine, no DF is fine, no options is fine. */
	s.flags = F_ACK | F_PSH;
	len = build_seg(p, &s);
	assert_true(tcp_mergeable(p, len, &g));
	s = seg_spec();
	s.frag = 0;
	s.ts = false;
	len = build_seg(p, &s);
	assert_true(tcp_mergeable(p, len, &g));
	assert_int_equal(g.thl, 20);

	/* Refused flags. */
	const uint8_t refuse[] = { F_ACK | F_SYN, F_ACK | F_FIN, F_ACK | F_RST, F_ACK | F_URG, F_ACK | F_CWR,
				   F_ACK | F_ECE, F_PSH, 0, F_SYN };
	for (size_t i = 0; i < sizeof(refuse); i++) {
		s = seg_spec();
		s.flags = refuse[i];
		len = build_seg(p, &s);
		assert_false(tcp_mergeable(p, len, &g));
	}
	/* IP options. */
	s = seg_spec();
	s.ip_opts = 4;
	len = build_seg(p, &s);
	assert_int_equal(p[0], 0x46);
	assert_false(tcp_mergeable(p, len, &g));
	/* Fragments: MF, an offset (low and high bits), both. */
	const uint16_t frags[] = { IP_DF | IP_MF, IP_MF, 1, 0x0100, IP_DF | 0x1fff, IP_MF | 185 };
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		s = seg_spec();
		s.frag = frags[i];
		len = build_seg(p, &s);
		assert_false(tcp_mergeable(p, len, &g));
	}
	/* No payload. */
	s = seg_spec();
	s.plen = 0;
	len = build_seg(p, &s);
	assert_false(tcp_mergeable(p, len, &g));
	/* Length field and length disagree. */
	s = seg_spec();
	len = build_seg(p, &s);
	assert_false(tcp_mergeable(p, len - 1, &g));
	p[len] = 0;
	assert_false(tcp_mergeable(p, len + 1, &g)); /* trailing padding */
	put16(p + 2, (uint16_t)(len + 1));
	assert_false(tcp_mergeable(p, len, &g));
	/* Not TCP/IPv4, or too short. */
	len = build_seg(p, &s);
	p[9] = 17;
	assert_false(tcp_mergeable(p, len, &g));
	len = build_seg(p, &s);
	p[0] = 0x65;
	assert_false(tcp_mergeable(p, len, &g));
	/* thl past the end. */
	s = seg_spec();
	s.ts = false;
	s.plen = 8;
	len = build_seg(p, &s);
	p[32] = 0xf0;
	assert_false(tcp_mergeable(p, len, &g));
	p[32] = 0x40; /* thl 16 */
	assert_false(tcp_mergeable(p, len, &g));
}

/* Builds segment a from sa and segment b from sb; both must be mergeable. */
static int continues(const struct tcp_spec *sa, const struct tcp_spec *sb)
{
	static uint8_t a[2100], b[2100];
	struct tcp_seg ga, gb;
	size_t alen = build_seg(a, sa), blen = build_seg(b, sb);
	assert_true(tcp_mergeable(a, alen, &ga));
	assert_true(tcp_mergeable(b, blen, &gb));
	return tcp_continues(a, &ga, b, &gb);
}

static void test_continues(void **state)
{
	(void)state;
	randombytes_buf(seg_payload, sizeof(seg_payload));
	struct tcp_spec a = seg_spec(), b;
	a.plen = 1348;
#define NEXT() (b = a, b.seq = a.seq + (uint32_t)a.plen, b.id = (uint16_t)(a.id + 1))
	NEXT();
	assert_true(continues(&a, &b));
	/* A shorter next segment, and the same id, are fine. */
	NEXT();
	b.plen = 10;
	b.id = a.id;
	assert_true(continues(&a, &b));
	/* Without DF the ids must follow, as the kernel renumbers the
	 * segments of what we merge. */
	NEXT();
	a.frag = b.frag = 0;
	assert_true(continues(&a, &b));
	b.id = (uint16_t)(a.id + 7);
	assert_false(continues(&a, &b));
	a.frag = IP_DF;
	/* PSH on either side is not a difference. */
	NEXT();
	b.flags = F_ACK | F_PSH;
	assert_true(continues(&a, &b));
	a.flags = F_ACK | F_PSH;
	NEXT();
	b.flags = F_ACK;
	assert_true(continues(&a, &b));
	a.flags = F_ACK;
	/* Sequence numbers wrap. */
	a.seq = 0xffffffff - 100;
	NEXT();
	assert_int_equal(b.seq, 1348 - 101);
	assert_true(continues(&a, &b));
	a.seq = 1000000;

	/* Anything else differing, or a gap or overlap, is refused. */
	NEXT();
	b.sport++;
	assert_false(continues(&a, &b));
	NEXT();
	b.dport++;
	assert_false(continues(&a, &b));
	NEXT();
	b.src ^= 1;
	assert_false(continues(&a, &b));
	NEXT();
	b.dst ^= 0x100;
	assert_false(continues(&a, &b));
	NEXT();
	b.tos = 0x10;
	assert_false(continues(&a, &b));
	NEXT();
	b.ttl = 63;
	assert_false(continues(&a, &b));
	NEXT();
	b.ack++;
	assert_false(continues(&a, &b));
	NEXT();
	b.win++;
	assert_false(continues(&a, &b));
	NEXT();
	b.tsval++;
	assert_false(continues(&a, &b));
	NEXT();
	b.tsecr--;
	assert_false(continues(&a, &b));
	NEXT();
	b.ts = false;
	assert_false(continues(&a, &b));
	NEXT();
	b.frag = 0; /* DF differs */
	assert_false(continues(&a, &b));
	NEXT();
	b.seq++;
	assert_false(continues(&a, &b));
	NEXT();
	b.seq--;
	assert_false(continues(&a, &b));
	NEXT();
	b.seq = a.seq;
	assert_false(continues(&a, &b));
#undef NEXT
}

/* A packet of a run's own flow that cannot join it (a pure ACK, an empty
 * datagram, a fragment) ends the run: merging the segments after it would
 * put them ahead of it. One of another flow does not. */
static void test_merge_keeps_flow_order(void **state)
{
	(void)state;
	struct pkt *k[3];
	bool used[3];
	uint8_t hdr[OFFLOAD_HDR_LEN];
	static uint8_t m[BIG];
	size_t nseg;
	get_pkts(k, 3);
	randombytes_buf(seg_payload, sizeof(seg_payload));
	struct tcp_spec a = seg_spec(), b = a, c = a;
	b.seq = c.seq = a.seq + (uint32_t)a.plen;
	b.plen = 0; /* a pure ACK (a window update) */
	k[0]->len = (uint32_t)build_seg(k[0]->data, &a);
	k[1]->len = (uint32_t)build_seg(k[1]->data, &b);
	k[2]->len = (uint32_t)build_seg(k[2]->data, &c);
	memset(used, 0, sizeof(used));
	assert_int_equal(merge_like_tun(k, 3, 0, used, m, hdr, &nseg), 0);
	assert_false(used[2]);
	b.sport++; /* the same ACK of another flow: the run goes past it */
	k[1]->len = (uint32_t)build_seg(k[1]->data, &b);
	assert_int_equal(merge_like_tun(k, 3, 0, used, m, hdr, &nseg), k[0]->len + c.plen);
	assert_true(used[2] && !used[1]);

	/* UDP: an empty datagram of the flow, then a first fragment of it. */
	static uint8_t pay[1000];
	memset(used, 0, sizeof(used));
	k[0]->len = (uint32_t)build_udp4(k[0]->data, pay, sizeof(pay));
	k[1]->len = (uint32_t)build_udp4(k[1]->data, pay, 0);
	k[2]->len = (uint32_t)build_udp4(k[2]->data, pay, sizeof(pay));
	assert_int_equal(merge_like_tun(k, 3, 0, used, m, hdr, &nseg), 0);
	k[1]->len = (uint32_t)build_udp4(k[1]->data, pay, sizeof(pay));
	put16(k[1]->data + 6, 0x2000); /* MF */
	put16(k[1]->data + 10, 0);
	put16(k[1]->data + 10, ref_csum(k[1]->data, 20));
	assert_int_equal(merge_like_tun(k, 3, 0, used, m, hdr, &nseg), 0);
	assert_false(used[2]);
	put32(k[1]->data + 12, 0xc0a80109); /* a fragment from elsewhere */
	put16(k[1]->data + 10, 0);
	put16(k[1]->data + 10, ref_csum(k[1]->data, 20));
	assert_int_equal(merge_like_tun(k, 3, 0, used, m, hdr, &nseg), k[0]->len + sizeof(pay));
	pool_put(pool, k, 3);
}

/* An IPv6 super-packet behind a routing header that has segments left:
 * its segments' pseudo-header names the final destination, the address
 * in the routing header (RFC 8200 8.1), not the next hop in front. */
static void test_tso6_routing_header(void **state)
{
	(void)state;
	static uint8_t pay[4000];
	struct tcp_spec s = tcp_default();
	s.v6 = true;
	s.ext = 24;
	s.payload = pay;
	s.plen = sizeof(pay);
	const uint8_t home[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99 };
	for (int type = 0; type <= 4; type++) {
		for (int left = 0; left <= 1; left++) {
			size_t len = build_tcp(sp, &s);
			sp[6] = 43;
			sp[42] = (uint8_t)type;
			sp[43] = (uint8_t)left;
			memset(sp + 44, 0, 4);
			memcpy(sp + 48, home, 16);
			struct pkt *out[4];
			size_t total = 0;
			get_pkts(out, 4);
			int got = tso_segment(sp, len, 1000, 0, out, 4, &total);
			if (left && (type == 1 || type == 3)) {
				assert_int_equal(got, -1); /* addresses we cannot read */
				pool_put(pool, out, 4);
				continue;
			}
			assert_int_equal(got, 4);
			for (int i = 0; i < got; i++) {
				uint8_t ph[40];
				memcpy(ph, out[i]->data, 40);
				if (left)
					memcpy(ph + 24, home, 16);
				assert_int_equal(get16(out[i]->data + 64 + 16), ref_pseudo_sum(ph, out[i]->len - 64, 6));
			}
			pool_put(pool, out, 4);
		}
	}
}

/* A checksum that sums to zero is written as ones: zero in a UDP field
 * would mean "none". */
static void test_finish_csum_zero_is_ones(void **state)
{
	(void)state;
	static uint8_t u[64];
	uint8_t pay[2] = { 0, 0 };
	size_t len = build_udp4(u, pay, sizeof(pay));
	/* Payload chosen so that the whole sum is zero: the checksum it
	 * would take is 0 (0xffff once folded to "ones"). */
	struct offload o = { .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6 };
	put16(u + 26, ref_pseudo_sum(u, len - 20, 17));
	uint16_t rest = ref_sum(u + 20, len - 20); /* pseudo sum + header + payload */
	put16(u + 28, (uint16_t)(get16(u + 28) + rest)); /* now sums to all ones */
	if (ref_sum(u + 20, len - 20) != 0xffff) {
		put16(u + 28, 0);
		put16(u + 28, (uint16_t)~ref_sum(u + 20, len - 20));
	}
	assert_int_equal(ref_sum(u + 20, len - 20), 0xffff);
	assert_int_equal(offload_finish_csum(u, len, &o), 0);
	assert_int_equal(get16(u + 26), 0xffff);
	assert_int_equal(ref_l4_verify(u, len), 0xffff);
}

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	pool = pool_new(2 * NPKTS);
	return pool ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	pool_free(pool);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071_example),
		cmocka_unit_test(test_csum_matches_reference),
		cmocka_unit_test(test_csum_chained),
		cmocka_unit_test(test_finish_csum_tcp),
		cmocka_unit_test(test_finish_csum_udp),
		cmocka_unit_test(test_finish_csum_ranges),
		cmocka_unit_test(test_l4_csum_pos),
		cmocka_unit_test(test_csum_complete),
		cmocka_unit_test(test_offload_decode),
		cmocka_unit_test(test_tso_cut),
		cmocka_unit_test(test_tso_cut_ip_options),
		cmocka_unit_test(test_tso_windows),
		cmocka_unit_test(test_tso_single),
		cmocka_unit_test(test_tso_malformed),
		cmocka_unit_test(test_tso_single_too_big),
		cmocka_unit_test(test_merge_roundtrip),
		cmocka_unit_test(test_merge_two_flows),
		cmocka_unit_test(test_merge_caps_segments),
		cmocka_unit_test(test_tso6_cut_and_merge),
		cmocka_unit_test(test_mergeable6),
		cmocka_unit_test(test_uso_cut_and_merge),
		cmocka_unit_test(test_udp_merge_runs),
		cmocka_unit_test(test_mergeable),
		cmocka_unit_test(test_continues),
		cmocka_unit_test(test_merge_keeps_flow_order),
		cmocka_unit_test(test_tso6_routing_header),
		cmocka_unit_test(test_finish_csum_zero_is_ones),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
