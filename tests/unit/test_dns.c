/* test_dns.c - the DNS proxy's core: upstream and resolv.conf parsing,
 * query checks, error answers, TCP framing, and the in-flight table (id
 * mapping, answer matching, tries, timeouts, eviction, upstream health)
 * driven through recording ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "bytes.h"
#include "dns.h"

#define MS 1000000ull
#define SEC (1000 * MS)
#define T0 (100 * SEC)

/* ------------------------------------------------------------ messages */

/* A query for name (dotted) of type qtype under id, RD set; returns its length. */
static size_t make_query(uint8_t *out, uint16_t id, const char *name, uint16_t qtype)
{
	memset(out, 0, DNS_HDR_LEN);
	put16(out, id);
	put16(out + 2, 0x0100); /* RD */
	put16(out + 4, 1);
	size_t off = DNS_HDR_LEN;
	while (*name) {
		size_t l = strcspn(name, ".");
		out[off++] = (uint8_t)l;
		memcpy(out + off, name, l);
		off += l;
		name += l;
		if (*name == '.')
			name++;
	}
	out[off++] = 0;
	put16(out + off, qtype);
	put16(out + off + 2, 1);
	return off + 4;
}

/* An answer to q (as the upstream got it): QR set, one A record appended. */
static size_t make_answer(uint8_t *out, const uint8_t *q, size_t qlen)
{
	memcpy(out, q, qlen);
	put16(out + 2, 0x8180);
	put16(out + 6, 1); /* ANCOUNT */
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 77 };
	memcpy(out + qlen, rr, sizeof(rr));
	return qlen + sizeof(rr);
}

/* ---------------------------------------------------------- recording ops */

#define MAX_REC 64

struct sent {
	unsigned slot, k;
	bool tcp;
	uint8_t msg[DNS_MAX_QUERY];
	size_t len;
};

struct replied {
	struct dns_client to;
	uint8_t msg[DNS_MAX_QUERY + 64];
	size_t len;
};

struct rec {
	struct sent sent[MAX_REC];
	unsigned nsent;
	struct replied replied[MAX_REC];
	unsigned nreplied;
	unsigned released[2048];
	unsigned nreleased;
	unsigned state_k[MAX_REC];
	bool state_ok[MAX_REC];
	char state_why[MAX_REC][64];
	unsigned nstate;
	int send_rc[MAX_REC]; /* per send call, in order; 0 beyond */
	const char *send_why;
	int reply_rc;
	uint16_t rand_seq[MAX_REC];
	unsigned nrand, rand_pos;
	uint16_t rand_next; /* beyond the sequence: counts up from here */
};

static struct rec R;

static int rec_send(void *ctx, unsigned slot, unsigned k, bool tcp, const uint8_t *msg, size_t len, const char **why)
{
	(void)ctx;
	unsigned i = R.nsent++;
	if (i < MAX_REC) {
		R.sent[i] = (struct sent){ .slot = slot, .k = k, .tcp = tcp, .len = len };
		memcpy(R.sent[i].msg, msg, len);
	}
	int rc = i < MAX_REC ? R.send_rc[i] : 0;
	if (rc == DNS_SEND_FAILED)
		*why = R.send_why ? R.send_why : "unreachable";
	return rc;
}

static int rec_reply(void *ctx, const struct dns_client *to, const uint8_t *msg, size_t len)
{
	(void)ctx;
	unsigned i = R.nreplied++;
	if (i < MAX_REC) {
		R.replied[i].to = *to;
		memcpy(R.replied[i].msg, msg, len);
		R.replied[i].len = len;
	}
	return R.reply_rc;
}

static void rec_release(void *ctx, unsigned slot, bool tcp)
{
	(void)ctx;
	(void)tcp;
	if (R.nreleased < 2048)
		R.released[R.nreleased] = slot;
	R.nreleased++;
}

static void rec_state(void *ctx, unsigned k, bool ok, const char *why)
{
	(void)ctx;
	unsigned i = R.nstate++;
	if (i < MAX_REC) {
		R.state_k[i] = k;
		R.state_ok[i] = ok;
		snprintf(R.state_why[i], sizeof(R.state_why[i]), "%s", why ? why : "");
	}
}

static uint16_t rec_rand(void *ctx)
{
	(void)ctx;
	if (R.rand_pos < R.nrand)
		return R.rand_seq[R.rand_pos++];
	return R.rand_next++;
}

static const struct dns_ops OPS = { rec_send, rec_reply, rec_release, rec_state, rec_rand, NULL };

static struct dns_proxy P;

static void setup_proxy(unsigned nup)
{
	memset(&R, 0, sizeof(R));
	R.rand_next = 0x4000;
	assert_int_equal(dns_init(&P, nup, 0, &OPS), 0);
}

static int teardown_proxy(void **state)
{
	(void)state;
	dns_free(&P);
	return 0;
}

static struct dns_client udp_client(uint8_t last)
{
	struct dns_client c = { .tcp = false, .addrlen = sizeof(struct sockaddr_in) };
	c.addr.in4.sin_family = AF_INET;
	c.addr.in4.sin_port = htons(40000);
	c.addr.in4.sin_addr.s_addr = htonl(0x0a4d0000u | last);
	return c;
}

static struct dns_client tcp_client(uint16_t conn, uint32_t gen)
{
	return (struct dns_client){ .tcp = true, .conn = conn, .gen = gen };
}

/* Sends a query for name from the client; returns its length (in q). */
static size_t ask(uint8_t *q, const struct dns_client *from, uint16_t id, const char *name, uint64_t now)
{
	size_t len = make_query(q, id, name, 1);
	uint8_t copy[DNS_MAX_QUERY];
	memcpy(copy, q, len);
	dns_query(&P, from, copy, len, now);
	return len;
}

/* The upstream's answer to the last sent query; len in *alen. */
static size_t answer_last(uint8_t *a, unsigned which)
{
	return make_answer(a, R.sent[which].msg, R.sent[which].len);
}

/* ------------------------------------------------------ upstream parsing */

static void test_parse_server(void **state)
{
	(void)state;
	struct dns_server s;
	const char *why;
	char buf[64];

	assert_int_equal(dns_parse_server("198.51.100.2", &s, &why), 0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.port, 53);
	assert_string_equal(dns_server_str(&s, buf, sizeof(buf)), "198.51.100.2:53");

	assert_int_equal(dns_parse_server("198.51.100.3:5353", &s, &why), 0);
	assert_int_equal(s.port, 5353);
	assert_string_equal(dns_server_str(&s, buf, sizeof(buf)), "198.51.100.3:5353");

	assert_int_equal(dns_parse_server("2001:db8::53", &s, &why), 0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.port, 53);
	assert_string_equal(dns_server_str(&s, buf, sizeof(buf)), "[2001:db8::53]:53");

	assert_int_equal(dns_parse_server("[2001:db8::53]:853", &s, &why), 0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.port, 853);
	assert_int_equal(dns_parse_server("[::1]", &s, &why), 0);
	assert_int_equal(s.port, 53);

	const char *bad[] = { "", "dns.example", "198.51.100.2:", "198.51.100.2:0", "198.51.100.2:65536",
			      "198.51.100.2:x", "198.51.100.2:+53", "198.51.100.2:-53", "[::1", "[::1]x", "[]:53", "[::1]:",
			      "198.51.100.256", "1.2.3.4.5", "0123456789012345678901234567890123456789012345678901234567890123456789" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (dns_parse_server(bad[i], &s, &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
		assert_true(strlen(why) > 0);
	}
	assert_int_equal(dns_parse_server("fe80::1%eth0", &s, &why), -1);
	assert_non_null(strstr(why, "scoped"));
	assert_int_equal(dns_parse_server("198.51.100.2:99999", &s, &why), -1);
	assert_non_null(strstr(why, "port"));
	memset(&s, 0, sizeof(s)); /* no family: still a printable string */
	assert_string_equal(dns_server_str(&s, buf, sizeof(buf)), "?:0");
}

static void test_server_equal(void **state)
{
	(void)state;
	struct dns_server a, b;
	const char *why;
	assert_int_equal(dns_parse_server("198.51.100.2", &a, &why), 0);
	assert_int_equal(dns_parse_server("198.51.100.2:53", &b, &why), 0);
	assert_true(dns_server_equal(&a, &b));
	assert_int_equal(dns_parse_server("198.51.100.2:54", &b, &why), 0);
	assert_false(dns_server_equal(&a, &b));
	assert_int_equal(dns_parse_server("198.51.100.3", &b, &why), 0);
	assert_false(dns_server_equal(&a, &b));
	assert_int_equal(dns_parse_server("::ffff:198.51.100.2", &b, &why), 0);
	assert_false(dns_server_equal(&a, &b)); /* another family */
}

struct warns {
	char item[8][64];
	char why[8][128];
	unsigned n;
};

static void collect_warn(void *ctx, const char *item, const char *why)
{
	struct warns *w = ctx;
	if (w->n < 8) {
		snprintf(w->item[w->n], sizeof(w->item[0]), "%s", item);
		snprintf(w->why[w->n], sizeof(w->why[0]), "%s", why);
	}
	w->n++;
}

static void test_resolv_conf(void **state)
{
	(void)state;
	struct dns_server s[3];
	struct warns w = { 0 };
	char buf[64];
	const char *text = "# generated\n"
			   "search lab.example\n"
			   "nameserver 198.51.100.2   # the first\n"
			   "nameserver\t2001:db8::53\n"
			   "   nameserver 198.51.100.2\n" /* a duplicate: dropped quietly */
			   "nameserver fe80::1%eth0\n"
			   "nameserver 198.51.100.9:5353\n"
			   "nameserver not-an-address\n"
			   "nameserver\n"
			   "; nameserver 192.0.2.99\n"
			   "options edns0\n"
			   "nameservers 192.0.2.98\n"
			   "nameserver 198.51.100.4\n"
			   "nameserver 198.51.100.5\n"
			   "nameserver [2001:db8::1]\n";
	size_t n = dns_parse_resolv_conf(text, s, 3, collect_warn, &w);
	assert_int_equal(n, 3);
	assert_string_equal(dns_server_str(&s[0], buf, sizeof(buf)), "198.51.100.2:53");
	assert_string_equal(dns_server_str(&s[1], buf, sizeof(buf)), "[2001:db8::53]:53");
	assert_string_equal(dns_server_str(&s[2], buf, sizeof(buf)), "198.51.100.4:53");
	assert_int_equal(w.n, 6);
	assert_string_equal(w.item[0], "fe80::1%eth0");
	assert_string_equal(w.item[1], "198.51.100.9:5353");
	assert_string_equal(w.item[2], "not-an-address");
	assert_string_equal(w.item[3], "nameserver");
	assert_string_equal(w.item[4], "198.51.100.5");
	assert_non_null(strstr(w.why[4], "too many"));
	assert_string_equal(w.item[5], "[2001:db8::1]");

	memset(&w, 0, sizeof(w));
	assert_int_equal(dns_parse_resolv_conf("", s, 3, collect_warn, &w), 0);
	assert_int_equal(dns_parse_resolv_conf("search x\n", s, 3, collect_warn, &w), 0);
	assert_int_equal(w.n, 0);
	/* no newline at the end, CRLF */
	assert_int_equal(dns_parse_resolv_conf("nameserver 198.51.100.7\r\nnameserver 198.51.100.8", s, 3, collect_warn, &w), 2);
	assert_string_equal(dns_server_str(&s[1], buf, sizeof(buf)), "198.51.100.8:53");
	assert_int_equal(w.n, 0);
}

/* ------------------------------------------------------------- checks */

static void test_check_query(void **state)
{
	(void)state;
	uint8_t q[DNS_MAX_QUERY + 8];
	size_t qend, len = make_query(q, 7, "secret.lab.example", 1);

	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_OK);
	assert_int_equal(qend, len);
	/* trailing records (an OPT) are the upstream's business */
	memset(q + len, 0, 11);
	assert_int_equal(dns_check_query(q, len + 11, &qend), DNS_QUERY_OK);
	assert_int_equal(qend, len);

	len = make_query(q, 7, "", 2); /* the root */
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_OK);
	assert_int_equal(qend, DNS_HDR_LEN + 5);

	len = make_query(q, 7, "a.example", 1);
	assert_int_equal(dns_check_query(q, DNS_HDR_LEN - 1, &qend), DNS_QUERY_BAD);
	assert_int_equal(dns_check_query(q, len - 1, &qend), DNS_QUERY_BAD); /* class cut short */
	assert_int_equal(dns_check_query(q, DNS_HDR_LEN + 4, &qend), DNS_QUERY_BAD); /* name cut short */
	assert_int_equal(dns_check_query(q, DNS_MAX_QUERY + 1, &qend), DNS_QUERY_BAD);
	put16(q + 2, 0x8100); /* a response */
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);
	put16(q + 2, 0x0100);
	put16(q + 4, 0);
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);
	put16(q + 4, 2);
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);
	put16(q + 4, 1);
	q[DNS_HDR_LEN] = 0xc0; /* a compression pointer */
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);
	q[DNS_HDR_LEN] = 64; /* an extended label type */
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);

	/* 255 bytes on the wire is the limit: 4 labels of 63 = 256 bytes, too long */
	char name[300];
	memset(name, 'a', sizeof(name));
	for (int i = 0; i < 4; i++)
		name[i * 64 + 63] = '.';
	name[4 * 64 - 1] = '\0';
	len = make_query(q, 7, name, 1);
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_BAD);
	name[3 * 64 + 61] = '\0'; /* 3 labels of 63 and one of 61: 254 + the root = 255 */
	len = make_query(q, 7, name, 1);
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_OK);

	len = make_query(q, 7, "a.example", 1);
	put16(q + 2, 0x2100); /* opcode 4, NOTIFY */
	assert_int_equal(dns_check_query(q, len, &qend), DNS_QUERY_NOTIMP);
	assert_int_equal(qend, len);
}

static void test_error_reply(void **state)
{
	(void)state;
	uint8_t q[DNS_MAX_QUERY], out[DNS_MAX_QUERY];
	size_t qend, len = make_query(q, 0xbeef, "a.example", 28);
	memset(q + len, 0x11, 11); /* an OPT record, not copied */
	put16(q + 10, 1);
	assert_int_equal(dns_check_query(q, len + 11, &qend), DNS_QUERY_OK);

	size_t n = dns_error_reply(q, qend, DNS_RCODE_SERVFAIL, out, sizeof(out));
	assert_int_equal(n, qend);
	assert_int_equal(get16(out), 0xbeef);
	assert_int_equal(get16(out + 2), 0x8000 | 0x0100 | 0x0080 | 2); /* QR RD RA SERVFAIL */
	assert_int_equal(get16(out + 4), 1);
	assert_int_equal(get16(out + 6), 0);
	assert_int_equal(get16(out + 8), 0);
	assert_int_equal(get16(out + 10), 0);
	assert_memory_equal(out + DNS_HDR_LEN, q + DNS_HDR_LEN, qend - DNS_HDR_LEN);

	put16(q + 2, 0x2000); /* opcode 4 without RD */
	n = dns_error_reply(q, qend, DNS_RCODE_NOTIMP, out, sizeof(out));
	assert_int_equal(get16(out + 2), 0x8000 | 0x2000 | 0x0080 | 4);
	assert_int_equal(dns_error_reply(q, qend, 2, out, qend - 1), 0);
	assert_int_equal(dns_error_reply(q, DNS_HDR_LEN - 1, 2, out, sizeof(out)), 0);
}

/* ------------------------------------------------------------ framing */

static void test_frames(void **state)
{
	(void)state;
	uint8_t buf[64], wire[128], *msg;
	size_t room, len, w = 0;
	struct dns_frame f;
	dns_frame_init(&f, buf, sizeof(buf), 20);

	const uint8_t a[] = "first", b[] = "second message";
	w += dns_frame_put(wire + w, sizeof(wire) - w, a, 5);
	w += dns_frame_put(wire + w, sizeof(wire) - w, b, 14);
	assert_int_equal(w, 2 + 5 + 2 + 14);
	assert_int_equal(wire[0], 0);
	assert_int_equal(wire[1], 5);

	/* one byte at a time: nothing until a message is whole */
	int got = 0;
	for (size_t i = 0; i < w; i++) {
		uint8_t *p = dns_frame_space(&f, &room);
		assert_true(room > 0);
		*p = wire[i];
		dns_frame_added(&f, 1);
		int r;
		while ((r = dns_frame_next(&f, &msg, &len)) == 1) {
			if (got == 0)
				assert_true(len == 5 && !memcmp(msg, a, 5) && i == 6);
			else
				assert_true(len == 14 && !memcmp(msg, b, 14) && i == w - 1);
			got++;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(got, 2);
	dns_frame_space(&f, &room);
	assert_int_equal(room, sizeof(buf)); /* all taken: the buffer is empty again */

	/* both at once, then a frame of length 0, and one over max_msg */
	uint8_t *p = dns_frame_space(&f, &room);
	memcpy(p, wire, w);
	dns_frame_added(&f, w);
	assert_int_equal(dns_frame_next(&f, &msg, &len), 1);
	assert_int_equal(dns_frame_next(&f, &msg, &len), 1);
	assert_int_equal(dns_frame_next(&f, &msg, &len), 0);
	p = dns_frame_space(&f, &room);
	p[0] = 0;
	p[1] = 0;
	dns_frame_added(&f, 2);
	assert_int_equal(dns_frame_next(&f, &msg, &len), -1);
	dns_frame_reset(&f);
	p = dns_frame_space(&f, &room);
	p[0] = 0;
	p[1] = 21;
	dns_frame_added(&f, 2);
	assert_int_equal(dns_frame_next(&f, &msg, &len), -1);

	/* a buffer too small for max_msg refuses the frame rather than waiting forever */
	dns_frame_init(&f, buf, 10, 100);
	p = dns_frame_space(&f, &room);
	p[0] = 0;
	p[1] = 9;
	dns_frame_added(&f, 2);
	assert_int_equal(dns_frame_next(&f, &msg, &len), -1);

	assert_int_equal(dns_frame_put(wire, 6, a, 5), 0);
	assert_int_equal(dns_frame_put(wire, 7, a, 5), 7);
	assert_int_equal(dns_frame_put(wire, sizeof(wire), a, 0), 0);
	assert_int_equal(dns_frame_put(wire, SIZE_MAX, a, DNS_MAX_MSG + 1), 0); /* refused before it is read */
}

/* ----------------------------------------------------------- the table */

static void test_init_refuses(void **state)
{
	(void)state;
	struct dns_ops ops = OPS;
	assert_int_equal(dns_init(&P, 0, 0, &ops), -1);
	assert_int_equal(dns_init(&P, DNS_MAX_UPSTREAMS + 1, 0, &ops), -1);
	ops.rand16 = NULL;
	assert_int_equal(dns_init(&P, 1, 0, &ops), -1);
	const struct dns_ops no_reply = { rec_send, NULL, rec_release, rec_state, rec_rand, NULL };
	const struct dns_ops no_release = { rec_send, rec_reply, NULL, rec_state, rec_rand, NULL };
	const struct dns_ops no_state = { rec_send, rec_reply, rec_release, NULL, rec_rand, NULL };
	const struct dns_ops no_send = { NULL, rec_reply, rec_release, rec_state, rec_rand, NULL };
	assert_int_equal(dns_init(&P, 1, 0, &no_reply), -1);
	assert_int_equal(dns_init(&P, 1, 0, &no_release), -1);
	assert_int_equal(dns_init(&P, 1, 0, &no_state), -1);
	assert_int_equal(dns_init(&P, 1, 0, &no_send), -1);
	assert_int_equal(dns_init(&P, DNS_MAX_UPSTREAMS, 0, &OPS), 0);
	assert_int_equal(P.try_ns, DNS_TRY_NS);
	dns_free(&P);
	assert_int_equal(dns_init(&P, 1, 5 * MS, &OPS), 0);
	assert_int_equal(P.try_ns, 5 * MS);
}

static void test_forward_and_answer(void **state)
{
	(void)state;
	setup_proxy(2);
	R.rand_seq[0] = 0x1234;
	R.nrand = 1;
	struct dns_client c = udp_client(2);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	size_t len = ask(q, &c, 0xaaaa, "secret.lab.example", T0);

	assert_int_equal(R.nsent, 1);
	assert_int_equal(R.sent[0].k, 0);
	assert_false(R.sent[0].tcp);
	assert_int_equal(R.sent[0].len, len);
	assert_int_equal(get16(R.sent[0].msg), 0x1234); /* our id, not the client's */
	assert_memory_equal(R.sent[0].msg + 2, q + 2, len - 2);
	assert_int_equal(ctr_get(&P.st.queries_udp), 1);
	assert_int_equal(atomic_load(&P.st.inflight), 1);

	size_t alen = answer_last(a, 0);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(get16(R.replied[0].msg), 0xaaaa); /* the client's id again */
	assert_int_equal(R.replied[0].len, alen);
	assert_memory_equal(R.replied[0].msg + 2, a + 2, alen - 2);
	assert_int_equal(R.replied[0].to.addr.in4.sin_addr.s_addr, c.addr.in4.sin_addr.s_addr);
	assert_int_equal(ctr_get(&P.st.answers), 1);
	assert_int_equal(R.nreleased, 1);
	assert_int_equal(R.released[0], R.sent[0].slot);
	assert_int_equal(atomic_load(&P.st.inflight), 0);

	/* the same answer again answers nothing: its id is free */
	alen = answer_last(a, 0);
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	assert_int_equal(ctr_get(&P.st.unmatched), 1);
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(R.nstate, 0);
	assert_int_equal(ctr_get(&P.st.timeouts) + ctr_get(&P.st.servfail) + ctr_get(&P.st.malformed), 0);
}

static void test_ids_unique(void **state)
{
	(void)state;
	setup_proxy(1);
	/* the random source repeats itself: the second query must still get another id */
	R.rand_seq[0] = 0x0101;
	R.rand_seq[1] = 0x0101;
	R.rand_seq[2] = 0x0202;
	R.nrand = 3;
	struct dns_client c = udp_client(2);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 1, "a.example", T0);
	ask(q, &c, 1, "b.example", T0); /* the same client id: no clash upstream */
	assert_int_equal(get16(R.sent[0].msg), 0x0101);
	assert_int_equal(get16(R.sent[1].msg), 0x0202);

	/* a source stuck on one value: the ids still differ (linear probe) */
	for (unsigned i = 0; i < MAX_REC; i++)
		R.rand_seq[i] = 0xffff;
	R.nrand = MAX_REC;
	R.rand_pos = 0;
	ask(q, &c, 1, "c.example", T0);
	ask(q, &c, 1, "d.example", T0);
	assert_int_equal(get16(R.sent[2].msg), 0xffff);
	assert_int_equal(get16(R.sent[3].msg), 0x0000); /* wrapped past 0xffff */
}

static void test_answer_must_match(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(2);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &c, 9, "secret.lab.example", T0);
	size_t alen;

	alen = answer_last(a, 0);
	put16(a, (uint16_t)(get16(a) + 1)); /* another id */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	assert_false(dns_answer(&P, 1, -1, a, alen, T0 + MS)); /* from an upstream it was not sent to */
	assert_false(dns_answer(&P, 7, -1, a, alen, T0 + MS)); /* no such upstream */
	assert_false(dns_answer(&P, 0, (int)R.sent[0].slot, a, alen, T0 + MS)); /* over TCP, but asked over UDP */
	a[DNS_HDR_LEN + 1] = 'S' + 1; /* another name */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	put16(a + R.sent[0].len - 4, 28); /* another type */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	put16(a + R.sent[0].len - 2, 3); /* another class */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	put16(a + 4, 0); /* no question */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	put16(a + 2, 0x0100); /* not a response */
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 0);
	assert_false(dns_answer(&P, 0, -1, a, R.sent[0].len - 1, T0 + MS)); /* cut inside the question */
	assert_false(dns_answer(&P, 0, -1, a, DNS_HDR_LEN - 1, T0 + MS));
	assert_int_equal(ctr_get(&P.st.unmatched), 11);
	assert_int_equal(R.nreplied, 0);
	assert_int_equal(atomic_load(&P.st.inflight), 1);

	/* names compare without regard to case */
	for (size_t i = DNS_HDR_LEN; i < R.sent[0].len - 4; i++)
		if (a[i] >= 'a' && a[i] <= 'z')
			a[i] = (uint8_t)(a[i] - 32);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(get16(R.replied[0].msg), 9);
}

static void test_timeout_retries_next_then_servfail(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(3);
	uint8_t q[DNS_MAX_QUERY];
	size_t len = ask(q, &c, 0x5151, "slow.example", T0);

	dns_tick(&P, T0 + DNS_TRY_NS - 1);
	assert_int_equal(R.nsent, 1);
	assert_int_equal(dns_next_timeout_ms(&P, T0, 5000), 2000);
	dns_tick(&P, T0 + DNS_TRY_NS);
	assert_int_equal(ctr_get(&P.st.timeouts), 1);
	assert_int_equal(ctr_get(&P.st.retries), 1);
	assert_int_equal(R.nsent, 2);
	assert_int_equal(R.sent[1].k, 1); /* the next upstream */
	assert_int_equal(R.sent[1].slot, R.sent[0].slot);
	assert_memory_equal(R.sent[1].msg, R.sent[0].msg, len); /* the same id and question */
	assert_int_equal(R.nstate, 1);
	assert_int_equal(R.state_k[0], 0);
	assert_false(R.state_ok[0]);
	assert_non_null(strstr(R.state_why[0], "no answer"));

	dns_tick(&P, T0 + 2 * DNS_TRY_NS);
	assert_int_equal(ctr_get(&P.st.timeouts), 2);
	assert_int_equal(ctr_get(&P.st.servfail), 1);
	assert_int_equal(R.nsent, 2); /* no third try */
	assert_int_equal(R.nreplied, 1);
	const uint8_t *r = R.replied[0].msg;
	assert_int_equal(R.replied[0].len, len);
	assert_int_equal(get16(r), 0x5151);
	assert_int_equal(get16(r + 2) & 0x800f, 0x8002); /* a response, SERVFAIL */
	assert_memory_equal(r + DNS_HDR_LEN, q + DNS_HDR_LEN, len - DNS_HDR_LEN);
	assert_int_equal(R.nstate, 2);
	assert_int_equal(R.state_k[1], 1);
	assert_int_equal(atomic_load(&P.st.inflight), 0);
	assert_int_equal(dns_next_timeout_ms(&P, T0, 5000), 5000);
}

static void test_late_answer_from_first_upstream(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(3);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &c, 1, "late.example", T0);
	dns_tick(&P, T0 + DNS_TRY_NS);
	assert_int_equal(R.nsent, 2);
	size_t alen = answer_last(a, 0);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + MS)); /* upstream 0 was asked too */
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(R.nstate, 2); /* 0 failed, then answers again */
	assert_true(R.state_ok[1]);
	assert_int_equal(R.state_k[1], 0);
	alen = answer_last(a, 1);
	assert_false(dns_answer(&P, 1, -1, a, alen, T0 + MS)); /* the second answer comes too late */
}

/* Over UDP each try has its own socket: an answer counts only on the
 * socket of the query it answers (dns_answer_on), and an ICMP error there
 * fails only that try, and only while it is the query's latest. */
static void test_answer_on_its_own_socket(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(3);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &c, 1, "one.example", T0);
	ask(q, &c, 2, "two.example", T0);
	unsigned s1 = R.sent[0].slot, s2 = R.sent[1].slot;
	assert_int_not_equal(s1, s2);
	size_t alen = answer_last(a, 0);
	/* the right id and question, on the other query's socket: refused */
	assert_false(dns_answer_on(&P, 0, s2, a, alen, T0 + MS));
	assert_int_equal(ctr_get(&P.st.unmatched), 1);
	assert_false(dns_answer_on(&P, 0, DNS_MAX_INFLIGHT, a, alen, T0 + MS));
	assert_false(dns_answer_on(&P, 0, s1, a, DNS_HDR_LEN - 1, T0 + MS));
	assert_int_equal(R.nreplied, 0);
	assert_true(dns_answer_on(&P, 0, s1, a, alen, T0 + MS));
	assert_int_equal(R.nreplied, 1);

	/* An ICMP error on the socket of s2's first try, after its second try
	 * went to upstream 1: nothing happens to the second try. */
	dns_tick(&P, T0 + DNS_TRY_NS);
	assert_int_equal(R.nsent, 3);
	assert_int_equal(R.sent[2].slot, s2);
	assert_int_equal(R.sent[2].k, 1);
	uint64_t retries = ctr_get(&P.st.retries);
	dns_try_failed_on(&P, s2, 0, "refused", T0 + DNS_TRY_NS + MS);
	assert_int_equal(ctr_get(&P.st.retries), retries);
	assert_int_equal(R.nreplied, 1);
	/* on the latest try's socket: that try failed; none is left: SERVFAIL */
	dns_try_failed_on(&P, s2, 1, "refused", T0 + DNS_TRY_NS + MS);
	assert_int_equal(R.nreplied, 2);
	assert_int_equal(ctr_get(&P.st.servfail), 1);
	assert_int_equal(atomic_load(&P.st.inflight), 0);
}

/* A slow name (a long recursion) is no sign of a dead upstream while it
 * answers other queries. */
static void test_timeout_of_a_slow_name_keeps_upstream(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(3);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &c, 1, "slow.example", T0);
	ask(q, &c, 2, "fast.example", T0 + 10 * MS);
	size_t alen = answer_last(a, 1);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + 20 * MS));
	dns_tick(&P, T0 + DNS_TRY_NS);
	assert_int_equal(ctr_get(&P.st.timeouts), 1);
	assert_int_equal(R.nsent, 3);
	assert_int_equal(R.sent[2].k, 1); /* still tried on the next one */
	assert_int_equal(R.nstate, 0);    /* but 0 is not called failing */
	ask(q, &c, 3, "next.example", T0 + DNS_TRY_NS);
	assert_int_equal(R.sent[3].k, 0);

	/* silent since the try was sent: failing */
	dns_tick(&P, T0 + 2 * DNS_TRY_NS);
	assert_int_equal(R.nstate, 2); /* 1 (the slow name's retry) and 0 (next.example) */
	assert_int_equal(R.state_k[0], 1);
	assert_int_equal(R.state_k[1], 0);
}

static void test_one_upstream_retries_itself(void **state)
{
	(void)state;
	setup_proxy(1);
	struct dns_client c = udp_client(3);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 1, "x.example", T0);
	dns_tick(&P, T0 + DNS_TRY_NS);
	assert_int_equal(R.nsent, 2);
	assert_int_equal(R.sent[1].k, 0);
	dns_tick(&P, T0 + 2 * DNS_TRY_NS);
	assert_int_equal(ctr_get(&P.st.servfail), 1);
	assert_int_equal(R.nstate, 1); /* one warning, not one per timeout */

	/* a SERVFAIL that cannot be sent is counted too */
	R.reply_rc = -1;
	ask(q, &c, 2, "y.example", T0 + 2 * DNS_TRY_NS);
	dns_tick(&P, T0 + 3 * DNS_TRY_NS);
	dns_tick(&P, T0 + 4 * DNS_TRY_NS);
	assert_int_equal(ctr_get(&P.st.servfail), 2);
	assert_int_equal(ctr_get(&P.st.reply_drops), 1);
}

static void test_send_fails_moves_on_at_once(void **state)
{
	(void)state;
	setup_proxy(2);
	R.send_rc[0] = DNS_SEND_FAILED;
	R.send_why = "Network is unreachable";
	struct dns_client c = udp_client(4);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 1, "x.example", T0);
	assert_int_equal(R.nsent, 2);
	assert_int_equal(R.sent[1].k, 1);
	assert_int_equal(ctr_get(&P.st.upstream_errors), 1);
	assert_int_equal(R.nstate, 1);
	assert_string_equal(R.state_why[0], "Network is unreachable");
	assert_int_equal(R.nreplied, 0);

	/* both fail: SERVFAIL at once */
	R.send_rc[2] = DNS_SEND_FAILED;
	R.send_rc[3] = DNS_SEND_FAILED;
	ask(q, &c, 2, "y.example", T0);
	assert_int_equal(R.nsent, 4);
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(get16(R.replied[0].msg), 2);
	assert_int_equal(get16(R.replied[0].msg + 2) & 0xf, DNS_RCODE_SERVFAIL);
	assert_int_equal(ctr_get(&P.st.upstream_errors), 3);
	assert_int_equal(ctr_get(&P.st.servfail), 1);
	assert_int_equal(atomic_load(&P.st.inflight), 1); /* the first query still waits */
}

static void test_send_busy(void **state)
{
	(void)state;
	setup_proxy(2);
	R.send_rc[0] = DNS_SEND_BUSY;
	struct dns_client c = tcp_client(3, 77);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 5, "x.example", T0);
	assert_int_equal(R.nsent, 1); /* not the upstream's fault: no other try */
	assert_int_equal(ctr_get(&P.st.dropped_full), 1);
	assert_int_equal(ctr_get(&P.st.upstream_errors), 0);
	assert_int_equal(R.nstate, 0);
	assert_int_equal(R.nreplied, 1);
	assert_true(R.replied[0].to.tcp);
	assert_int_equal(R.replied[0].to.conn, 3);
	assert_int_equal(R.replied[0].to.gen, 77);
	assert_int_equal(get16(R.replied[0].msg + 2) & 0xf, DNS_RCODE_SERVFAIL);
	assert_int_equal(atomic_load(&P.st.inflight), 0);
}

static void test_notimp_and_malformed(void **state)
{
	(void)state;
	setup_proxy(1);
	struct dns_client c = udp_client(5);
	uint8_t q[DNS_MAX_QUERY];
	size_t len = make_query(q, 0x7777, "a.example", 1);
	put16(q + 2, 0x2800); /* opcode 5, UPDATE */
	dns_query(&P, &c, q, len, T0);
	assert_int_equal(R.nsent, 0);
	assert_int_equal(R.nreplied, 1);
	assert_int_equal(get16(R.replied[0].msg), 0x7777);
	assert_int_equal(get16(R.replied[0].msg + 2) & 0xf, DNS_RCODE_NOTIMP);
	assert_int_equal(ctr_get(&P.st.notimp), 1);
	assert_int_equal(ctr_get(&P.st.queries_udp), 1);

	put16(q + 2, 0x8000);
	dns_query(&P, &c, q, len, T0);
	dns_query(&P, &c, q, 5, T0);
	assert_int_equal(ctr_get(&P.st.malformed), 2);
	assert_int_equal(ctr_get(&P.st.queries_udp), 1);
	assert_int_equal(R.nsent, 0);
	assert_int_equal(R.nreplied, 1);

	/* an answer that cannot be sent is counted */
	R.reply_rc = -1;
	put16(q + 2, 0x2800);
	dns_query(&P, &c, q, len, T0);
	assert_int_equal(ctr_get(&P.st.reply_drops), 1);
}

static void test_reply_drop_counted(void **state)
{
	(void)state;
	setup_proxy(1);
	struct dns_client c = udp_client(5);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &c, 1, "x.example", T0);
	R.reply_rc = -1;
	size_t alen = answer_last(a, 0);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	assert_int_equal(ctr_get(&P.st.answers), 0);
	assert_int_equal(ctr_get(&P.st.reply_drops), 1);
	assert_int_equal(atomic_load(&P.st.inflight), 0);
}

static void test_full_table_evicts_oldest(void **state)
{
	(void)state;
	setup_proxy(1);
	struct dns_client c = udp_client(6);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	char name[32];
	for (unsigned i = 0; i < DNS_MAX_INFLIGHT; i++) {
		snprintf(name, sizeof(name), "n%u.example", i);
		ask(q, &c, (uint16_t)i, name, T0 + i);
	}
	assert_int_equal(atomic_load(&P.st.inflight), DNS_MAX_INFLIGHT);
	assert_int_equal(ctr_get(&P.st.dropped_full), 0);
	struct sent first = R.sent[0];

	ask(q, &c, 5000, "new.example", T0 + DNS_MAX_INFLIGHT);
	assert_int_equal(ctr_get(&P.st.dropped_full), 1);
	assert_int_equal(atomic_load(&P.st.inflight), DNS_MAX_INFLIGHT);
	assert_int_equal(R.nreleased, 1);
	assert_int_equal(R.released[0], first.slot); /* the oldest made room */
	assert_int_equal(R.nreplied, 0);             /* dropped, not answered */
	/* its answer no longer matches; the others' still do */
	size_t alen = make_answer(a, first.msg, first.len);
	assert_false(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	alen = answer_last(a, 1);
	assert_true(dns_answer(&P, 0, -1, a, alen, T0 + MS));
	assert_int_equal(get16(R.replied[0].msg), 1);

	/* the newcomer expires last */
	dns_tick(&P, T0 + DNS_TRY_NS + DNS_MAX_INFLIGHT - 1);
	assert_int_equal(ctr_get(&P.st.timeouts), DNS_MAX_INFLIGHT - 2);
	assert_int_equal(dns_next_timeout_ms(&P, T0 + DNS_TRY_NS + DNS_MAX_INFLIGHT - 1, 5000), 1);
}

static void test_upstream_failed_moves_its_queries(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client c = udp_client(7), t = tcp_client(1, 1);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 1, "a.example", T0);
	ask(q, &t, 2, "b.example", T0); /* TCP: its own connection reports its failure */
	dns_upstream_failed(&P, 0, "refused (nothing listens on its port)", T0 + MS);
	assert_int_equal(R.nstate, 1);
	assert_string_equal(R.state_why[0], "refused (nothing listens on its port)");
	assert_int_equal(R.nsent, 3);
	assert_int_equal(R.sent[2].k, 1);
	assert_false(R.sent[2].tcp);
	assert_int_equal(ctr_get(&P.st.upstream_errors), 1);

	/* a second failure of the same upstream warns no more; an unknown one is ignored */
	dns_upstream_failed(&P, 0, "again", T0 + 2 * MS);
	dns_upstream_failed(&P, 9, "nobody", T0 + 2 * MS);
	assert_int_equal(R.nstate, 1);
	assert_int_equal(R.nsent, 3);

	/* new queries go to the upstream that works */
	ask(q, &c, 3, "c.example", T0 + 3 * MS);
	assert_int_equal(R.sent[3].k, 1);
}

static void test_try_failed_tcp(void **state)
{
	(void)state;
	setup_proxy(2);
	struct dns_client t = tcp_client(4, 9);
	uint8_t q[DNS_MAX_QUERY], a[DNS_MAX_QUERY];
	ask(q, &t, 0x33, "t.example", T0);
	assert_int_equal(ctr_get(&P.st.queries_tcp), 1);
	assert_true(R.sent[0].tcp);
	unsigned slot = R.sent[0].slot;

	dns_try_failed(&P, slot, "closed the TCP connection without an answer", T0 + MS);
	assert_int_equal(R.nsent, 2);
	assert_true(R.sent[1].tcp);
	assert_int_equal(R.sent[1].k, 1);
	assert_int_equal(ctr_get(&P.st.upstream_errors), 1);
	dns_try_failed(&P, DNS_MAX_INFLIGHT, "no such slot", T0);
	dns_try_failed(&P, slot + 1, "a free slot", T0);
	assert_int_equal(R.nsent, 2);

	/* TCP answers are matched on their slot, upstream and transport */
	size_t alen = answer_last(a, 1);
	assert_false(dns_answer(&P, 1, (int)slot + 1, a, alen, T0 + MS));
	assert_false(dns_answer(&P, 0, (int)slot, a, alen, T0 + MS)); /* the earlier try's upstream */
	assert_false(dns_answer(&P, 1, -1, a, alen, T0 + MS));        /* over UDP */
	assert_true(dns_answer(&P, 1, (int)slot, a, alen, T0 + MS));
	assert_int_equal(R.nreplied, 1);
	assert_true(R.replied[0].to.tcp);
	assert_int_equal(R.replied[0].to.gen, 9);
	assert_int_equal(get16(R.replied[0].msg), 0x33);
}

static void test_failed_upstream_rechecked(void **state)
{
	(void)state;
	setup_proxy(3);
	struct dns_client c = udp_client(8);
	uint8_t q[DNS_MAX_QUERY];
	dns_upstream_failed(&P, 0, "x", T0);
	ask(q, &c, 1, "a.example", T0 + SEC);
	assert_int_equal(R.sent[0].k, 1);
	ask(q, &c, 2, "b.example", T0 + DNS_RECHECK_NS); /* 0 gets another chance */
	assert_int_equal(R.sent[1].k, 0);

	/* all failing: the one that failed longest ago */
	dns_upstream_failed(&P, 1, "x", T0 + DNS_RECHECK_NS + 1);
	dns_upstream_failed(&P, 2, "x", T0 + DNS_RECHECK_NS + 2);
	dns_upstream_failed(&P, 0, "x", T0 + DNS_RECHECK_NS + 3);
	unsigned n = R.nsent;
	ask(q, &c, 3, "c.example", T0 + DNS_RECHECK_NS + 10);
	assert_int_equal(R.sent[n].k, 1);
}

static void test_next_timeout(void **state)
{
	(void)state;
	setup_proxy(1);
	assert_int_equal(dns_next_timeout_ms(&P, T0, 700), 700);
	struct dns_client c = udp_client(9);
	uint8_t q[DNS_MAX_QUERY];
	ask(q, &c, 1, "a.example", T0);
	assert_int_equal(dns_next_timeout_ms(&P, T0 + DNS_TRY_NS - 1500000, 5000), 2); /* rounded up */
	assert_int_equal(dns_next_timeout_ms(&P, T0, 700), 700);
	assert_int_equal(dns_next_timeout_ms(&P, T0 + DNS_TRY_NS, 700), 0);
	assert_int_equal(dns_next_timeout_ms(&P, T0 + 3 * DNS_TRY_NS, 700), 0);
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown_proxy)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_server),
		cmocka_unit_test(test_server_equal),
		cmocka_unit_test(test_resolv_conf),
		cmocka_unit_test(test_check_query),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_frames),
		T(test_init_refuses),
		T(test_forward_and_answer),
		T(test_ids_unique),
		T(test_answer_must_match),
		T(test_timeout_retries_next_then_servfail),
		T(test_late_answer_from_first_upstream),
		T(test_answer_on_its_own_socket),
		T(test_timeout_of_a_slow_name_keeps_upstream),
		T(test_one_upstream_retries_itself),
		T(test_send_fails_moves_on_at_once),
		T(test_send_busy),
		T(test_notimp_and_malformed),
		T(test_reply_drop_counted),
		T(test_full_table_evicts_oldest),
		T(test_upstream_failed_moves_its_queries),
		T(test_try_failed_tcp),
		T(test_failed_upstream_rechecked),
		T(test_next_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
