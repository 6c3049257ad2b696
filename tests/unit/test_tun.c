/* test_tun.c - tun_write_batch against a kernel that refuses merged (GSO)
 * writes, as kernels before 6.2 refuse GSO UDP_L4 and 6.6.44 refused some
 * GSO writes: the packets still go, one by one, in order, with the headers
 * they came with, and that kind of merge is off from then on; packets the
 * kernel refuses one by one too leave it on. And reads tun_read_batch
 * cannot use are counted (rx_malformed), not lost silently, and every
 * packet it hands out is stamped with when the kernel's packet was read,
 * also the segments of a super-packet handed out by a later call.
 *
 * The "TUN" is one end of a SOCK_SEQPACKET socket pair (one message per
 * write, as a TUN device takes one packet per write) and writev is wrapped
 * (-Wl,--wrap=writev) to play the kernel's refusals. No root needed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "offload.h"
#include "pkt.h"
#include "tun.h"

#define N 10
#define PAYLOAD 1000

ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt);

/* What the fake kernel refuses: merged writes, every write, or a plain
 * write of a packet whose payload starts with the byte refuse_byte. */
static bool refuse_gso, refuse_all;
static int refuse_byte = -1;
static unsigned gso_writes;

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt)
{
	const uint8_t *hdr = iov[0].iov_base;
	bool gso = iov[0].iov_len >= OFFLOAD_HDR_LEN && hdr[1] != OFFLOAD_GSO_NONE;
	gso_writes += gso;
	bool bad = !gso && iovcnt > 1 && iov[1].iov_len > 28 && ((const uint8_t *)iov[1].iov_base)[28] == refuse_byte;
	if (refuse_all || (gso && refuse_gso) || bad) {
		errno = EINVAL;
		return -1;
	}
	return __real_writev(fd, iov, iovcnt);
}

static int sv[2];
static struct tun t;
static struct pool *pool;
static struct pkt *pkts[N];
static uint8_t orig[N][PKT_MAX_IP];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void ip4(uint8_t *p, size_t len, uint8_t proto)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)len);
	put16(p + 6, 0x4000); /* DF */
	p[8] = 64;
	p[9] = proto;
	put32(p + 12, 0x0a4d0002);
	put32(p + 16, 0xc6336402);
	put16(p + 10, 0x1234); /* not checked here */
}

/* N datagrams of one UDP flow, all PAYLOAD bytes: one merge run. */
static void udp_run(void)
{
	for (size_t i = 0; i < N; i++) {
		uint8_t *p = pkts[i]->data;
		size_t len = 28 + PAYLOAD;
		ip4(p, len, 17);
		put16(p + 20, 40000);
		put16(p + 22, 443);
		put16(p + 24, 8 + PAYLOAD);
		put16(p + 26, 0xbeef);
		memset(p + 28, (int)('a' + i), PAYLOAD);
		pkts[i]->len = (uint32_t)len;
		pkts[i]->csum_partial = 0;
		memcpy(orig[i], p, len);
	}
}

/* N segments of one TCP flow, in sequence: one merge run. */
static void tcp_run(void)
{
	for (size_t i = 0; i < N; i++) {
		uint8_t *p = pkts[i]->data;
		size_t len = 40 + PAYLOAD;
		ip4(p, len, 6);
		put16(p + 20, 40000);
		put16(p + 22, 5201);
		put32(p + 24, 1000 + (uint32_t)(i * PAYLOAD));
		put32(p + 28, 77);
		p[32] = 5 << 4;
		p[33] = 0x10; /* ACK */
		put16(p + 34, 500);
		put16(p + 36, 0xcafe);
		memset(p + 40, (int)('A' + i), PAYLOAD);
		pkts[i]->len = (uint32_t)len;
		pkts[i]->csum_partial = 0;
		memcpy(orig[i], p, len);
	}
}

/* The next message the "kernel" got: its offload header's GSO type, and
 * the packet after it in buf; returns the packet's length, -1 if none. */
static ssize_t next_write(uint8_t *gso_type, uint8_t *buf, size_t cap)
{
	uint8_t msg[OFFLOAD_HDR_LEN + 65536];
	ssize_t r = recv(sv[1], msg, sizeof(msg), MSG_DONTWAIT);
	if (r < OFFLOAD_HDR_LEN)
		return -1;
	*gso_type = msg[1];
	size_t len = (size_t)r - OFFLOAD_HDR_LEN;
	assert_true(len <= cap);
	memcpy(buf, msg + OFFLOAD_HDR_LEN, len);
	return (ssize_t)len;
}

/* The kernel got exactly the N packets as they were built, one plain
 * write each, in order. */
static void expect_singly(void)
{
	uint8_t buf[PKT_MAX_IP], type;
	for (size_t i = 0; i < N; i++) {
		ssize_t len = next_write(&type, buf, sizeof(buf));
		assert_int_equal(len, pkts[i]->len);
		assert_int_equal(type, OFFLOAD_GSO_NONE);
		assert_memory_equal(buf, orig[i], (size_t)len);
	}
	assert_int_equal(next_write(&type, buf, sizeof(buf)), -1);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0); /* as the TUN fd */
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(&t, 0, sizeof(t));
	t.fd = sv[0];
	snprintf(t.name, sizeof(t.name), "test0");
	t.merge_tcp = t.merge_udp = true;
	refuse_gso = refuse_all = false;
	refuse_byte = -1;
	gso_writes = 0;
	pool = pool_new(N);
	assert_non_null(pool);
	assert_int_equal(pool_get(pool, pkts, N), N);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pool_put(pool, pkts, N);
	pool_free(pool);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* Where the kernel takes GSO writes, a run is one write. */
static void test_merged_when_taken(void **state)
{
	(void)state;
	bool written[N];
	uint8_t buf[65536], type;
	udp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N);
	assert_int_equal(next_write(&type, buf, sizeof(buf)), 28 + N * PAYLOAD);
	assert_int_equal(type, OFFLOAD_GSO_UDP_L4);
	assert_int_equal(next_write(&type, buf, sizeof(buf)), -1);
	for (size_t i = 0; i < N; i++)
		assert_true(written[i]);
	assert_true(t.merge_udp);
}

static void check_fallback(bool udp)
{
	bool written[N];
	refuse_gso = true;
	udp ? udp_run() : tcp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N);
	assert_int_equal(gso_writes, 1);
	for (size_t i = 0; i < N; i++)
		assert_true(written[i]);
	expect_singly();
	assert_false(udp ? t.merge_udp : t.merge_tcp);
	assert_true(udp ? t.merge_tcp : t.merge_udp); /* the other kind is not touched */

	/* From then on no merged write is tried for that kind. */
	udp ? udp_run() : tcp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N);
	assert_int_equal(gso_writes, 1);
	expect_singly();
}

static void test_udp_refused_falls_back(void **state)
{
	(void)state;
	check_fallback(true);
}

static void test_tcp_refused_falls_back(void **state)
{
	(void)state;
	check_fallback(false);
}

/* Packets the kernel refuses one by one too were bad: merging stays on. */
static void test_bad_packets_leave_merging_on(void **state)
{
	(void)state;
	bool written[N];
	uint8_t buf[PKT_MAX_IP], type;
	refuse_all = true;
	udp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), 0);
	for (size_t i = 0; i < N; i++)
		assert_false(written[i]);
	assert_true(t.merge_udp);
	assert_int_equal(next_write(&type, buf, sizeof(buf)), -1);
}

/* The kernel refuses the merged write and then the run's first packet
 * alone (whose headers the merged one had): a bad packet, not the merge;
 * the others go, merging stays on. */
static void test_bad_first_packet_leaves_merging_on(void **state)
{
	(void)state;
	bool written[N];
	refuse_gso = true;
	refuse_byte = 'a'; /* udp_run's first payload */
	udp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N - 1);
	assert_false(written[0]);
	for (size_t i = 1; i < N; i++)
		assert_true(written[i]);
	assert_true(t.merge_udp);
}

/* Two flows interleaved, A at even and B at odd places: refused merged,
 * every packet still goes once, each flow's in its order. */
static void test_fallback_keeps_each_flows_order(void **state)
{
	(void)state;
	bool written[N];
	uint8_t buf[PKT_MAX_IP], type;
	refuse_gso = true;
	udp_run();
	for (size_t i = 1; i < N; i += 2) {
		put16(pkts[i]->data + 22, 444); /* flow B */
		memcpy(orig[i], pkts[i]->data, pkts[i]->len);
	}
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N);
	int last[2] = { -1, -1 }, count = 0;
	ssize_t len;
	while ((len = next_write(&type, buf, sizeof(buf))) >= 0) {
		assert_int_equal(type, OFFLOAD_GSO_NONE);
		int k = buf[28] - 'a'; /* which packet */
		assert_true(k >= 0 && k < N);
		assert_memory_equal(buf, orig[k], (size_t)len);
		assert_true(k > last[k & 1]);
		last[k & 1] = k;
		count++;
	}
	assert_int_equal(count, N);
}

/* A kernel that took no USO at start gets no GSO UDP write at all. */
static void test_no_uso_no_udp_merge(void **state)
{
	(void)state;
	bool written[N];
	t.merge_udp = false;
	udp_run();
	assert_int_equal(tun_write_batch(&t, pkts, N, written), N);
	assert_int_equal(gso_writes, 0);
	expect_singly();
}

/* A message from the "kernel": offload header fields, then body. */
static void kernel_sends(uint8_t flags, uint8_t gso_type, uint16_t gso_size, uint16_t csum_start,
			 uint16_t csum_offset, const uint8_t *body, size_t len)
{
	static uint8_t msg[OFFLOAD_HDR_LEN + 65536];
	assert_true(len <= 65536);
	memset(msg, 0, OFFLOAD_HDR_LEN);
	msg[0] = flags, msg[1] = gso_type;
	/* virtio_net_hdr: flags, gso_type, then little-endian 16-bit fields */
	msg[4] = (uint8_t)gso_size, msg[5] = (uint8_t)(gso_size >> 8);
	msg[6] = (uint8_t)csum_start, msg[7] = (uint8_t)(csum_start >> 8);
	msg[8] = (uint8_t)csum_offset, msg[9] = (uint8_t)(csum_offset >> 8);
	memcpy(msg + OFFLOAD_HDR_LEN, body, len);
	assert_int_equal(send(sv[1], msg, OFFLOAD_HDR_LEN + len, 0), (ssize_t)(OFFLOAD_HDR_LEN + len));
}

static void test_read_drops_counted(void **state)
{
	(void)state;
	t.rbuf = malloc(OFFLOAD_HDR_LEN + 65536);
	assert_non_null(t.rbuf);
	udp_run();
	const uint8_t *p = orig[0];
	size_t len = pkts[0]->len;

	kernel_sends(0, OFFLOAD_GSO_NONE, 0, 0, 0, p, len);           /* fine */
	uint8_t stub[4] = { 0 };
	assert_int_equal(send(sv[1], stub, sizeof(stub), 0), 4);      /* shorter than the header */
	kernel_sends(0, 3 /* UFO: never asked for */, 1000, 0, 0, p, len);
	kernel_sends(1, OFFLOAD_GSO_NONE, 0, 2000, 6, p, len);        /* checksum past the end */
	kernel_sends(0, OFFLOAD_GSO_TCPV4, 1000, 0, 0, p, len);       /* a "TCP" super-packet that is UDP */
	kernel_sends(0, OFFLOAD_GSO_NONE, 0, 0, 0, p, len);           /* fine */

	size_t got = 0;
	for (int i = 0; i < 10 && got < 2; i++) {
		int r = tun_read_batch(&t, pkts + got, N - got, 0);
		assert_true(r >= 0);
		got += (size_t)r;
	}
	assert_int_equal(got, 2);
	assert_memory_equal(pkts[0]->data, p, len);
	assert_memory_equal(pkts[1]->data, p, len);
	assert_int_equal(t.rx_malformed, 4);
	free(t.rbuf);
	t.rbuf = NULL;
}

/* A TSO super-packet of 5 segments, read 2 then 3 with 2 ms between the
 * calls: all 5 keep the stamp of the one read. */
static void test_segments_keep_read_stamp(void **state)
{
	(void)state;
	static uint8_t super[40 + 5 * PAYLOAD];
	struct pkt *seg[N];
	t.rbuf = malloc(OFFLOAD_HDR_LEN + 65536);
	assert_non_null(t.rbuf);
	tcp_run();
	memcpy(super, orig[0], 40);
	super[2] = (uint8_t)(sizeof(super) >> 8), super[3] = (uint8_t)sizeof(super);
	memset(super + 40, 'x', 5 * PAYLOAD);
	kernel_sends(1, OFFLOAD_GSO_TCPV4, PAYLOAD, 20, 16, super, sizeof(super));

	uint64_t before = now_ns();
	assert_int_equal(tun_read_batch(&t, pkts, 2, 0), 2);
	uint64_t after = now_ns();
	struct timespec nap = { 0, 2000000 };
	nanosleep(&nap, NULL);
	uint64_t later = now_ns();
	memcpy(seg, pkts, sizeof(seg));
	assert_int_equal(tun_read_batch(&t, seg + 2, 3, 0), 3);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(seg[i]->len, 40 + PAYLOAD);
		assert_true(seg[i]->stamp_ns >= before && seg[i]->stamp_ns <= after);
		assert_true(seg[i]->stamp_ns < later);
	}
	assert_int_equal(t.rx_malformed, 0);
	free(t.rbuf);
	t.rbuf = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merged_when_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_refused_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_refused_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_packets_leave_merging_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_uso_no_udp_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_first_packet_leaves_merging_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback_keeps_each_flows_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_drops_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments_keep_read_stamp, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
