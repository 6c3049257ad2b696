/* test_udp.c - the gateway's socket group on loopback (no root needed):
 * the kernel steers each datagram by our BPF program (CONTROL to the
 * control socket, DATA and KEEPALIVE by clientId, short ones to socket 0),
 * the receiver serves a socket with one datagram waiting before it has
 * finished a full one, a batch send says which datagrams went, and a GSO
 * run the kernel refuses goes datagram by datagram. sendmmsg is wrapped
 * (-Wl,--wrap=sendmmsg) to play that kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pkt.h"
#include "udp.h"
#include "wire.h"

int __real_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);

/* refuse_gso: a send whose first message is a GSO run (several iovecs)
 * fails with EIO, as kernels before 6.11 answer where the egress device
 * lacks checksum offload; before failing, the first such send runs
 * nested_send (another thread's send, refused the same way). */
static bool refuse_gso;
static void (*nested_send)(void);
/* one_at_a_time: the kernel takes only the first message of each call,
 * as sendmmsg may when a socket buffer fills mid-batch. */
static bool one_at_a_time;

int __wrap_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
	if (one_at_a_time && n > 1)
		n = 1;
	if (refuse_gso && n && msgs[0].msg_hdr.msg_iovlen > 1) {
		void (*nested)(void) = nested_send;
		nested_send = NULL;
		if (nested)
			nested();
		errno = EIO;
		return -1;
	}
	return __real_sendmmsg(fd, msgs, n, flags);
}

struct group {
	unsigned short port;
	int data[UDP_DATA_SOCKS];
	unsigned ndata;
	int ctl;
	int tx; /* the sender, an IPv4 socket */
};

/* A free port in the dynamic range: the first that binds, from a place
 * that differs run to run (parallel runs, a port in use). */
static void group_open(struct group *g)
{
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int tries = 0; tries < 50; tries++) {
		g->port = (unsigned short)(40000 + rand() % 20000);
		if (udp_open_server(g->port, g->data, &g->ndata, &g->ctl) == 0)
			break;
		g->ndata = 0;
	}
	assert_int_equal(g->ndata, UDP_DATA_SOCKS);
	assert_true(g->ctl >= 0);
	g->tx = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(g->tx >= 0);
}

static void group_close(struct group *g)
{
	for (unsigned i = 0; i < g->ndata; i++)
		close(g->data[i]);
	close(g->ctl);
	close(g->tx);
}

static void send_raw(struct group *g, const uint8_t *buf, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(g->port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(g->tx, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
}

/* A header of type `type` whose clientId starts with the 32-bit word w,
 * and 8 bytes of payload. */
static void send_msg(struct group *g, uint8_t type, uint32_t w)
{
	uint8_t b[WIRE_HDR_LEN + 8];
	memset(b, 0, sizeof(b));
	b[0] = 'V', b[1] = 'P', b[2] = 'N', b[3] = '1', b[4] = 1, b[5] = type;
	b[8] = (uint8_t)(w >> 24), b[9] = (uint8_t)(w >> 16), b[10] = (uint8_t)(w >> 8), b[11] = (uint8_t)w;
	send_raw(g, b, sizeof(b));
}

/* Every datagram waiting on fd (after a short wait for loopback to
 * deliver): their clientId words into words[], returns how many. */
static int drain(int fd, uint32_t *words, int max)
{
	int n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (n < max && poll(&p, 1, n ? 0 : 200) == 1) {
		uint8_t b[2048];
		ssize_t len = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (len < 0)
			break;
		words[n++] = len >= 12 ? (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11] : UINT32_MAX;
	}
	return n;
}

static void test_steering(void **state)
{
	(void)state;
	struct group g;
	group_open(&g);
	/* Two DATA datagrams for each data socket, two KEEPALIVEs, and the
	 * handshake messages. */
	for (uint32_t w = 0; w < 2 * UDP_DATA_SOCKS; w++)
		send_msg(&g, WIRE_DATA, w << 16 | w);
	send_msg(&g, WIRE_KEEPALIVE, 5);
	send_msg(&g, WIRE_KEEPALIVE, 5 + UDP_DATA_SOCKS);
	send_msg(&g, WIRE_CONTROL, 7);
	send_msg(&g, WIRE_CONTROL, 8);
	/* Too short for msgType, and too short for the clientId. */
	static const uint8_t tiny[3] = { 'V', 'P', 'N' }, six[6] = { 'V', 'P', 'N', '1', 1, WIRE_DATA };
	send_raw(&g, tiny, sizeof(tiny));
	send_raw(&g, six, sizeof(six));

	uint32_t words[64];
	int total = 0;
	for (unsigned i = 0; i < g.ndata; i++) {
		int n = drain(g.data[i], words, 64);
		int want = 2 + (i == 5 ? 2 : 0) + (i == 0 ? 2 : 0);
		assert_int_equal(n, want);
		for (int k = 0; k < n; k++)
			if (words[k] != UINT32_MAX)
				assert_int_equal(words[k] % UDP_DATA_SOCKS, i);
		total += n;
	}
	assert_int_equal(drain(g.ctl, words, 64), 2);
	assert_int_equal(words[0], 7);
	assert_int_equal(words[1], 8);
	assert_int_equal(total, 2 * UDP_DATA_SOCKS + 2 + 2);
	group_close(&g);
}

/* Socket 0 has many datagrams waiting, socket 1 one: the receiver hands
 * out socket 1's after at most UDP_RX_FAIR_BUFS buffers of socket 0's,
 * and loses none. */
static void test_full_socket_does_not_delay_another(void **state)
{
	(void)state;
	enum { MANY = 40 };
	struct group g;
	group_open(&g);
	struct udp_rx rx;
	assert_int_equal(udp_rx_init(&rx, g.data, g.ndata), 0);
	for (int i = 0; i < MANY; i++)
		send_msg(&g, WIRE_DATA, 0);
	send_msg(&g, WIRE_DATA, 1);
	struct pollfd p = { .fd = g.data[1], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 500), 1);

	struct pool *pl = pool_new(1);
	assert_non_null(pl);
	struct pkt *pk;
	struct endpoint from;
	int pos = -1, got = 0;
	for (int calls = 0; calls < 4 * MANY && got < MANY + 1; calls++) {
		assert_int_equal(pool_get(pl, &pk, 1), 1);
		int n = udp_rx_batch(&rx, &pk, &from, 1, 100000);
		if (n == 1) {
			assert_true(pk->len >= 12);
			/* Handed out in place (a view into the receiver's
			 * buffer); pkt_own moves it into the packet's own. */
			assert_true(pkt_is_view(pk));
			uint8_t copy[WIRE_HDR_LEN + 8];
			assert_int_equal(pk->len, sizeof(copy));
			memcpy(copy, pk->data, sizeof(copy));
			pkt_own(pk);
			assert_false(pkt_is_view(pk));
			assert_ptr_equal(pk->data, pk->buf);
			assert_memory_equal(pk->data, copy, sizeof(copy));
			if (pk->data[11] == 1)
				pos = got;
			got++;
		}
		pool_put(pl, &pk, 1);
	}
	assert_int_equal(got, MANY + 1);
	assert_in_range(pos, 0, UDP_RX_FAIR_BUFS);
	udp_rx_free(&rx);
	pool_free(pl);
	group_close(&g);
}

/* A lone socket (the client's) is read in full batches. */
static void test_single_socket_fill(void **state)
{
	(void)state;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct udp_rx rx;
	assert_int_equal(udp_rx_init(&rx, &fd, 1), 0);
	assert_int_equal(rx.fill, UDP_RX_BUFS);
	udp_rx_free(&rx);
	close(fd);
}

/* udp_send_batch says which datagrams the kernel took: a run it refuses
 * (here, to port 0: EINVAL) is skipped and marked, the runs around it go. */
static void test_send_batch_marks_refused(void **state)
{
	(void)state;
	struct group g;
	group_open(&g);
	char spec[32], err[128];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", g.port);
	struct endpoint good, bad;
	assert_int_equal(endpoint_resolve(spec, &good, err, sizeof(err)), 0);
	assert_int_equal(good.sa.sa_family, AF_INET);
	bad = good;
	bad.in4.sin_port = 0;
	int fd = udp_open_client(AF_INET);
	assert_true(fd >= 0);

	struct pool *pl = pool_new(6);
	assert_non_null(pl);
	struct pkt *pk[6];
	struct endpoint to[6];
	assert_int_equal(pool_get(pl, pk, 6), 6);
	for (int i = 0; i < 6; i++) {
		/* Growing sizes: each datagram is a message of its own (no GSO
		 * run), and each says which it is. */
		pk[i]->len = WIRE_HDR_LEN + 8 + (uint32_t)i;
		memset(pk[i]->data, 0, pk[i]->len);
		memcpy(pk[i]->data, "VPN1", 4);
		pk[i]->data[4] = 1, pk[i]->data[5] = WIRE_DATA, pk[i]->data[11] = (uint8_t)i;
		to[i] = i == 2 || i == 3 ? bad : good;
	}
	bool sent[6];
	memset(sent, 0xff, sizeof(sent));
	assert_int_equal(udp_send_batch(fd, pk, to, 6, sent), 4);
	const bool want[6] = { true, true, false, false, true, true };
	for (int i = 0; i < 6; i++)
		assert_int_equal(sent[i], want[i]);

	/* The four taken arrived (clientId word 0 steers them all to one
	 * data socket). */
	uint32_t words[8];
	int got = 0;
	for (unsigned i = 0; i < g.ndata; i++)
		got += drain(g.data[i], words + got, 8 - got);
	assert_int_equal(got, 4);
	pool_put(pl, pk, 6);
	pool_free(pl);
	close(fd);
	group_close(&g);
}

/* Datagrams of one receive handed out over two calls keep the stamp of
 * the receive, not of the call that hands them out. */
static void test_rx_stamp_is_the_receive(void **state)
{
	(void)state;
	struct group g;
	group_open(&g);
	struct udp_rx rx;
	assert_int_equal(udp_rx_init(&rx, g.data, 1), 0);
	for (int i = 0; i < 4; i++)
		send_msg(&g, WIRE_DATA, 0);
	struct pollfd p = { .fd = g.data[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 500), 1);
	usleep(20000); /* all four in the socket */

	struct pool *pl = pool_new(4);
	assert_non_null(pl);
	struct pkt *pk[4];
	struct endpoint from[4];
	assert_int_equal(pool_get(pl, pk, 4), 4);
	uint64_t before = now_ns();
	assert_int_equal(udp_rx_batch(&rx, pk, from, 2, 0), 2);
	uint64_t after = now_ns();
	usleep(2000);
	assert_int_equal(udp_rx_batch(&rx, pk + 2, from + 2, 2, 0), 2);
	for (int i = 0; i < 4; i++)
		assert_true(pk[i]->stamp_ns >= before && pk[i]->stamp_ns <= after);
	pool_put(pl, pk, 4);
	pool_free(pl);
	udp_rx_free(&rx);
	group_close(&g);
}

/* Payload byte i of datagram k of a test stream: says where it belongs. */
static uint8_t stream_byte(int k, size_t i)
{
	return (uint8_t)(k * 31 + (int)i);
}

/* One GRO buffer handed out over two calls: the first call's two
 * datagrams, then the rest from where it stopped, the short last one
 * included, all in order and whole. */
static void test_gro_buffer_split_over_calls(void **state)
{
	(void)state;
	enum { SEG = 120, FULL = 5, LAST = 40 };
	struct group g;
	group_open(&g);
	struct udp_rx rx;
	assert_int_equal(udp_rx_init(&rx, g.data, 1), 0);
	if (!rx.gro) {
		udp_rx_free(&rx);
		group_close(&g);
		skip(); /* a kernel without UDP GRO */
	}
	/* One send of FULL + 1 datagrams (UDP_SEGMENT): loopback hands it to a
	 * GRO socket as one buffer. Each starts with a DATA header (clientId
	 * word 0 steers them all to socket 0). */
	uint8_t buf[FULL * SEG + LAST];
	for (int k = 0; k <= FULL; k++) {
		uint8_t *d = buf + k * SEG;
		size_t len = k < FULL ? SEG : LAST;
		for (size_t i = 0; i < len; i++)
			d[i] = stream_byte(k, i);
		memset(d, 0, 12);
		memcpy(d, "VPN1", 4);
		d[4] = 1, d[5] = WIRE_DATA;
	}
	int gso = SEG;
	assert_int_equal(setsockopt(g.tx, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)), 0);
	send_raw(&g, buf, sizeof(buf));
	struct pollfd p = { .fd = g.data[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 500), 1);

	struct pool *pl = pool_new(FULL + 1);
	assert_non_null(pl);
	struct pkt *pk[FULL + 1];
	struct endpoint from[FULL + 1];
	assert_int_equal(pool_get(pl, pk, FULL + 1), FULL + 1);
	assert_int_equal(udp_rx_batch(&rx, pk, from, 2, 0), 2);
	assert_int_equal(udp_rx_batch(&rx, pk + 2, from + 2, FULL + 1, 0), FULL + 1 - 2);
	for (int k = 0; k <= FULL; k++) {
		size_t len = k < FULL ? SEG : LAST;
		assert_int_equal(pk[k]->len, len);
		assert_memory_equal(pk[k]->data + 12, buf + k * SEG + 12, len - 12);
		assert_int_equal(pk[k]->stamp_ns, pk[0]->stamp_ns);
	}
	pool_put(pl, pk, FULL + 1);
	pool_free(pl);
	udp_rx_free(&rx);
	group_close(&g);
}

/* A kernel that takes one message per sendmmsg: udp_send_batch goes on
 * from where it stopped, every datagram once, in order. */
static void test_send_batch_resumes_partial(void **state)
{
	(void)state;
	enum { N = 6 };
	struct group g;
	group_open(&g);
	char spec[32], err[128];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", g.port);
	struct endpoint to[N];
	assert_int_equal(endpoint_resolve(spec, &to[0], err, sizeof(err)), 0);
	for (int i = 1; i < N; i++)
		to[i] = to[0];
	int fd = udp_open_client(AF_INET);
	assert_true(fd >= 0);
	struct pool *pl = pool_new(N);
	assert_non_null(pl);
	struct pkt *pk[N];
	assert_int_equal(pool_get(pl, pk, N), N);
	for (int i = 0; i < N; i++) {
		/* Growing sizes: a message each. */
		pk[i]->len = WIRE_HDR_LEN + 8 + (uint32_t)i;
		memset(pk[i]->data, 0, pk[i]->len);
		memcpy(pk[i]->data, "VPN1", 4);
		pk[i]->data[4] = 1, pk[i]->data[5] = WIRE_DATA, pk[i]->data[WIRE_HDR_LEN] = (uint8_t)(i + 1);
	}
	bool sent[N];
	one_at_a_time = true;
	size_t n = udp_send_batch(fd, pk, to, N, sent);
	one_at_a_time = false;
	assert_int_equal(n, N);
	for (int i = 0; i < N; i++)
		assert_true(sent[i]);
	struct pollfd p = { .fd = g.data[0], .events = POLLIN };
	for (int i = 0; i < N; i++) {
		uint8_t b[256];
		assert_int_equal(poll(&p, 1, 500), 1);
		assert_int_equal(recv(g.data[0], b, sizeof(b), 0), (ssize_t)(WIRE_HDR_LEN + 8 + i));
		assert_int_equal(b[WIRE_HDR_LEN], i + 1);
	}
	pool_put(pl, pk, N);
	pool_free(pl);
	close(fd);
	group_close(&g);
}

/* Two threads' sends of GSO runs meet a kernel that refuses them: the one
 * that learns it second must resend its run datagram by datagram too, not
 * drop it (udp_send_batch clears one process-wide flag). */
static struct group race_g;
static struct endpoint race_to[8];

static size_t send_run(int base)
{
	struct pool *pl = pool_new(4);
	assert_non_null(pl);
	struct pkt *pk[4];
	assert_int_equal(pool_get(pl, pk, 4), 4);
	for (int i = 0; i < 4; i++) {
		pk[i]->len = WIRE_HDR_LEN + 100; /* equal sizes: one GSO run */
		memset(pk[i]->data, 0, pk[i]->len);
		memcpy(pk[i]->data, "VPN1", 4);
		pk[i]->data[4] = 1, pk[i]->data[5] = WIRE_DATA, pk[i]->data[11] = (uint8_t)(base + i);
	}
	int fd = udp_open_client(AF_INET);
	assert_true(fd >= 0);
	bool sent[4];
	size_t n = udp_send_batch(fd, pk, race_to, 4, sent);
	for (int i = 0; i < 4; i++)
		assert_true(sent[i]);
	close(fd);
	pool_put(pl, pk, 4);
	pool_free(pl);
	return n;
}

static void other_thread_send(void)
{
	assert_int_equal(send_run(10), 4);
}

static void test_gso_refused_resends_every_run(void **state)
{
	(void)state;
	int probe = socket(AF_INET, SOCK_DGRAM, 0), none = 0;
	assert_true(probe >= 0);
	bool gso = setsockopt(probe, SOL_UDP, UDP_SEGMENT, &none, sizeof(none)) == 0;
	close(probe);
	if (!gso)
		skip(); /* no UDP GSO in this kernel: no run to refuse */
	group_open(&race_g);
	char spec[32], err[128];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", race_g.port);
	assert_int_equal(endpoint_resolve(spec, &race_to[0], err, sizeof(err)), 0);
	for (int i = 1; i < 8; i++)
		race_to[i] = race_to[0];
	refuse_gso = true;
	nested_send = other_thread_send;
	assert_int_equal(send_run(0), 4);
	refuse_gso = false;
	uint32_t words[16];
	int got = 0;
	for (unsigned i = 0; i < race_g.ndata; i++)
		got += drain(race_g.data[i], words + got, 16 - got);
	assert_int_equal(got, 8);
	group_close(&race_g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steering),
		cmocka_unit_test(test_full_socket_does_not_delay_another),
		cmocka_unit_test(test_single_socket_fill),
		cmocka_unit_test(test_send_batch_marks_refused),
		cmocka_unit_test(test_rx_stamp_is_the_receive),
		cmocka_unit_test(test_gro_buffer_split_over_calls),
		cmocka_unit_test(test_send_batch_resumes_partial),
		/* last: it leaves UDP GSO off for the process */
		cmocka_unit_test(test_gso_refused_resends_every_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
