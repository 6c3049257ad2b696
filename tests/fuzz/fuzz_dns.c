/* fuzz_dns.c - the DNS proxy's core (dns.c) on arbitrary bytes. The first
 * byte picks what the rest is:
 *   0  a client's message: dns_check_query, then dns_query; a query that
 *      goes upstream goes under another id with every other byte kept;
 *   1  an upstream's message, with one query in flight: dns_answer's
 *      verdict must agree with an independent reading of the matching
 *      rules (id, upstream, transport, QR, one question equal but for
 *      ASCII case); an accepted answer reaches the client whole under the
 *      client's id;
 *   2  a TCP byte stream cut into reads where the input says: every
 *      message dns_frame_next gives is one the stream framed;
 *   3  resolv.conf text: every server parsed prints and parses back equal;
 *   4  a run of operations (queries, answers, failures, time passing) on
 *      a proxy with three upstreams: after each, the table is consistent
 *      (counts, deadline list in order, id index, free list). Each
 *      operation is two bytes, (op, arg): op % 7 picks it, arg and op's
 *      high bits pick a slot; random ids (two bytes) and send results
 *      (one byte: % 8 == 1 fails, == 2 busy) come from the bytes after.
 * Any broken invariant aborts (FX_CHECK). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "dns.h"
#include "fixture.h"

#define MS 1000000ull

/* ------------------------------------------------------------ the ops */

struct fz {
	const uint8_t *d;
	size_t n, pos;
	unsigned sends, replies;
	uint8_t last_reply[DNS_MAX_MSG + 1];
	size_t last_reply_len;
	struct dns_client last_to;
	uint8_t last_sent[DNS_MAX_QUERY];
	size_t last_sent_len;
	uint16_t rand_fixed; /* nonzero: rand16 gives this */
};

static struct fz F;

static uint8_t next_byte(void)
{
	return F.pos < F.n ? F.d[F.pos++] : 0;
}

static int fz_send(void *ctx, unsigned slot, unsigned k, bool tcp, const uint8_t *msg, size_t len, const char **why)
{
	(void)ctx;
	(void)slot;
	(void)k;
	(void)tcp;
	FX_CHECK(len >= DNS_HDR_LEN && len <= DNS_MAX_QUERY);
	F.sends++;
	memcpy(F.last_sent, msg, len);
	F.last_sent_len = len;
	switch (F.rand_fixed ? 0 : next_byte() % 8) {
	case 1:
		*why = "fuzzed failure";
		return DNS_SEND_FAILED;
	case 2:
		return DNS_SEND_BUSY;
	default:
		return DNS_SENT;
	}
}

static int fz_reply(void *ctx, const struct dns_client *to, const uint8_t *msg, size_t len)
{
	(void)ctx;
	FX_CHECK(len >= DNS_HDR_LEN && len <= DNS_MAX_MSG);
	F.replies++;
	memcpy(F.last_reply, msg, len);
	F.last_reply_len = len;
	F.last_to = *to;
	return 0;
}

static void fz_release(void *ctx, unsigned slot, bool tcp)
{
	(void)ctx;
	(void)tcp;
	FX_CHECK(slot < DNS_MAX_INFLIGHT);
}

static void fz_state(void *ctx, unsigned k, bool ok, const char *why)
{
	(void)ctx;
	FX_CHECK(k < DNS_MAX_UPSTREAMS);
	FX_CHECK(ok ? why == NULL : why && *why);
}

static uint16_t fz_rand(void *ctx)
{
	(void)ctx;
	if (F.rand_fixed)
		return F.rand_fixed;
	return (uint16_t)(next_byte() << 8 | next_byte());
}

static const struct dns_ops OPS = { fz_send, fz_reply, fz_release, fz_state, fz_rand, NULL };

/* ------------------------------------------------------ fresh proxies */

/* dns_init's calloc and dns_free's free of ~700 KB per input cost more
 * under ASan than the rest of the run: each input gets a proxy restored
 * from a copy of a freshly initialised one instead, byte for byte what
 * dns_init would give it. */
static struct dns_proxy fresh_proxy(unsigned nup)
{
	static struct dns_proxy pristine[DNS_MAX_UPSTREAMS + 1], live[DNS_MAX_UPSTREAMS + 1];
	static bool made[DNS_MAX_UPSTREAMS + 1];
	if (!made[nup]) {
		FX_CHECK(dns_init(&pristine[nup], nup, 0, &OPS) == 0);
		FX_CHECK(dns_init(&live[nup], nup, 0, &OPS) == 0);
		made[nup] = true;
	}
	struct dns_proxy p = pristine[nup];
	p.e = live[nup].e;
	p.by_id = live[nup].by_id;
	memcpy(p.e, pristine[nup].e, DNS_MAX_INFLIGHT * sizeof(*p.e));
	memcpy(p.by_id, pristine[nup].by_id, 65536 * sizeof(*p.by_id));
	return p;
}

/* ---------------------------------------------------------- invariants */

static void check_table(const struct dns_proxy *p)
{
	unsigned used = 0, listed = 0, free_n = 0;
	for (unsigned i = 0; i < DNS_MAX_INFLIGHT; i++) {
		const struct dns_entry *e = &p->e[i];
		if (!e->used)
			continue;
		used++;
		FX_CHECK(p->by_id[e->up_id] == i + 1);
		FX_CHECK(get16(e->query) == e->up_id);
		FX_CHECK(e->tries >= 1 && e->tries <= DNS_TRIES && e->upstream < p->nup);
		FX_CHECK(e->tried & (1u << e->upstream));
		FX_CHECK(e->qend >= DNS_HDR_LEN + 5 && e->qend <= e->qlen && e->qlen <= DNS_MAX_QUERY);
	}
	FX_CHECK(used == p->n && used == atomic_load(&p->st.inflight));
	uint64_t last = 0;
	uint16_t prev = DNS_NIL;
	for (uint16_t i = p->head; i != DNS_NIL; i = p->e[i].next) {
		FX_CHECK(++listed <= used);
		FX_CHECK(p->e[i].used && p->e[i].prev == prev && p->e[i].deadline_ns >= last);
		last = p->e[i].deadline_ns;
		prev = i;
	}
	FX_CHECK(listed == used && p->tail == prev);
	for (uint16_t i = p->free_head; i != DNS_NIL; i = p->e[i].next) {
		FX_CHECK(++free_n <= DNS_MAX_INFLIGHT - used);
		FX_CHECK(!p->e[i].used);
	}
	FX_CHECK(free_n == DNS_MAX_INFLIGHT - used);
}

static void check_ids(const struct dns_proxy *p)
{
	unsigned n = 0;
	for (unsigned id = 0; id < 65536; id++)
		n += p->by_id[id] != 0;
	FX_CHECK(n == p->n);
}

/* ---------------------------------------------------- 0: client messages */

static size_t make_query(uint8_t *out, uint16_t id, const char *name)
{
	memset(out, 0, DNS_HDR_LEN);
	put16(out, id);
	put16(out + 2, 0x0100);
	put16(out + 4, 1);
	size_t off = DNS_HDR_LEN;
	while (*name) {
		size_t l = strcspn(name, ".");
		out[off++] = (uint8_t)l;
		memcpy(out + off, name, l);
		off += l;
		name += l + (name[l] == '.');
	}
	out[off++] = 0;
	put16(out + off, 1);
	put16(out + off + 2, 1);
	return off + 4;
}

static struct dns_client client(bool tcp)
{
	struct dns_client c = { .tcp = tcp, .conn = 3, .gen = 7, .addrlen = sizeof(struct sockaddr_in) };
	c.addr.in4.sin_family = AF_INET;
	return c;
}

static void fuzz_client_message(const uint8_t *d, size_t n)
{
	static uint8_t msg[DNS_MAX_MSG + 1];
	struct dns_proxy p;
	size_t qend = 0;
	if (n > DNS_MAX_MSG)
		return;
	enum dns_verdict v = dns_check_query(d, n, &qend);
	if (v != DNS_QUERY_BAD)
		FX_CHECK(qend >= DNS_HDR_LEN + 5 && qend <= n && n <= DNS_MAX_QUERY);
	memset(&F, 0, sizeof(F));
	F.rand_fixed = 0x5a5a;
	p = fresh_proxy(2);
	memcpy(msg, d, n);
	struct dns_client c = client(false);
	dns_query(&p, &c, msg, n, 1000 * MS);
	if (v == DNS_QUERY_BAD) {
		FX_CHECK(F.sends == 0 && F.replies == 0 && ctr_get(&p.st.malformed) == 1);
	} else if (v == DNS_QUERY_NOTIMP) {
		FX_CHECK(F.sends == 0 && F.replies == 1 && F.last_reply_len == qend);
		FX_CHECK((F.last_reply[3] & 0xf) == DNS_RCODE_NOTIMP && get16(F.last_reply) == get16(d));
	} else {
		FX_CHECK(F.sends == 1 && F.last_sent_len == n && get16(F.last_sent) == 0x5a5a);
		FX_CHECK(memcmp(F.last_sent + 2, d + 2, n - 2) == 0);
		FX_CHECK(p.n == 1);
	}
	check_table(&p);
}

/* ---------------------------------------------------- 1: upstream messages */

static bool same_name_ci(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static void fuzz_upstream_message(const uint8_t *d, size_t n)
{
	static uint8_t msg[DNS_MAX_MSG + 1];
	uint8_t q[DNS_MAX_QUERY];
	struct dns_proxy p;
	if (n < 1 || n - 1 > DNS_MAX_MSG)
		return;
	uint8_t how = d[0];
	d++;
	n--;
	bool tcp = how & 4;
	unsigned k = how & 2 ? 1 : 0;
	memset(&F, 0, sizeof(F));
	F.rand_fixed = 0x2222;
	p = fresh_proxy(2);
	size_t qlen = make_query(q, 0x1111, "www.Example.org");
	struct dns_client c = client(tcp);
	dns_query(&p, &c, q, qlen, 1000 * MS);
	FX_CHECK(p.n == 1);
	unsigned slot = (unsigned)(p.head);

	memcpy(msg, d, n);
	if ((how & 1) && n >= 2)
		put16(msg, 0x2222); /* past the id check, to the deeper ones */
	if ((how & 32) && qlen + n <= DNS_MAX_MSG) {
		/* The query's own question answered, the fuzzer's bytes after
		 * it: past every check but the transport's and the slot's. */
		memcpy(msg, q, qlen);
		memcpy(msg + qlen, d, n);
		put16(msg, 0x2222);
		msg[2] |= 0x80;
		n += qlen;
	}
	/* The answer may come over the other transport, or (TCP) on another
	 * connection's slot: only the query's own counts. */
	bool other_transport = how & 8, ans_tcp = tcp != other_transport;
	bool wrong_slot = ans_tcp && (how & 16);
	int ans_slot = ans_tcp ? (int)(wrong_slot ? (slot + 1) % DNS_MAX_INFLIGHT : slot) : -1;
	bool want = n >= qlen && (get16(msg + 2) & 0x8000) && get16(msg) == 0x2222 && get16(msg + 4) == 1 &&
		    k == 0 && same_name_ci(msg + DNS_HDR_LEN, q + DNS_HDR_LEN, qlen - DNS_HDR_LEN - 4) &&
		    memcmp(msg + qlen - 4, q + qlen - 4, 4) == 0 && !other_transport && !wrong_slot;
	bool got = dns_answer(&p, k, ans_slot, msg, n, 1001 * MS);
	FX_CHECK(got == want);
	if (got) {
		FX_CHECK(F.replies == 1 && F.last_reply_len == n && get16(F.last_reply) == 0x1111);
		FX_CHECK(memcmp(F.last_reply + 2, msg + 2, n - 2) == 0);
		FX_CHECK(F.last_to.tcp == tcp && p.n == 0);
	} else {
		FX_CHECK(F.replies == 0 && p.n == 1 && ctr_get(&p.st.unmatched) == 1);
	}
	check_table(&p);
}

/* ---------------------------------------------------------- 2: framing */

static void fuzz_frames(const uint8_t *d, size_t n)
{
	static uint8_t buf[2 + 600];
	struct dns_frame f;
	if (n < 1)
		return;
	size_t step = (size_t)(d[0] % 17) + 1, off = 1, want = 1; /* the next frame in d starts at `want` */
	dns_frame_init(&f, buf, sizeof(buf), 512);
	while (off < n) {
		size_t room, take = n - off < step ? n - off : step;
		uint8_t *at = dns_frame_space(&f, &room);
		FX_CHECK(room >= 1);
		if (take > room)
			take = room;
		memcpy(at, d + off, take);
		dns_frame_added(&f, take);
		off += take;
		uint8_t *msg;
		size_t len;
		int r;
		while ((r = dns_frame_next(&f, &msg, &len)) == 1) {
			FX_CHECK(want + 2 + len <= n && get16(d + want) == len && len >= 1 && len <= 512);
			FX_CHECK(memcmp(msg, d + want + 2, len) == 0);
			want += 2 + len;
		}
		if (r < 0) {
			size_t l = get16(d + want);
			FX_CHECK(l == 0 || l > 512);
			return;
		}
	}
	FX_CHECK(want <= n);
}

/* ------------------------------------------------------- 3: resolv.conf */

static void no_warn(void *ctx, const char *item, const char *why)
{
	(void)ctx;
	FX_CHECK(item && why && *why);
}

static void fuzz_resolv_conf(const uint8_t *d, size_t n)
{
	static char text[8192];
	struct dns_server s[DNS_MAX_UPSTREAMS], back;
	char str[64];
	const char *why;
	if (n >= sizeof(text))
		return;
	memcpy(text, d, n);
	text[n] = '\0';
	size_t got = dns_parse_resolv_conf(text, s, DNS_MAX_UPSTREAMS, no_warn, NULL);
	FX_CHECK(got <= DNS_MAX_UPSTREAMS);
	for (size_t i = 0; i < got; i++) {
		FX_CHECK(s[i].port == DNS_PORT);
		dns_server_str(&s[i], str, sizeof(str));
		FX_CHECK(dns_parse_server(str, &back, &why) == 0 && dns_server_equal(&back, &s[i]));
		for (size_t j = 0; j < i; j++)
			FX_CHECK(!dns_server_equal(&s[i], &s[j]));
	}
	/* the text as one UpstreamDNS item, too */
	if (dns_parse_server(text, &back, &why) == 0) {
		dns_server_str(&back, str, sizeof(str));
		FX_CHECK(dns_parse_server(str, &s[0], &why) == 0 && dns_server_equal(&back, &s[0]));
	} else {
		FX_CHECK(why && *why);
	}
}

/* ------------------------------------------------------- 4: operations */

static void fuzz_operations(const uint8_t *d, size_t n)
{
	static uint8_t msg[DNS_MAX_QUERY + 64];
	struct dns_proxy p;
	uint64_t now = 1000 * MS;
	memset(&F, 0, sizeof(F));
	F.d = d;
	F.n = n;
	p = fresh_proxy(3);
	for (int ops = 0; ops < 4096 && F.pos < F.n; ops++) {
		uint8_t op = next_byte(), arg = next_byte();
		unsigned slot = ((unsigned)arg * 4 + (op >> 5) % 4) % DNS_MAX_INFLIGHT;
		switch (op % 7) {
		case 0: { /* a good query, over UDP or TCP */
			char name[32];
			snprintf(name, sizeof(name), "n%u.Example", arg);
			size_t len = make_query(msg, (uint16_t)(arg * 257), name);
			struct dns_client c = client(op & 8);
			dns_query(&p, &c, msg, len, now);
			break;
		}
		case 1: { /* raw bytes as a query */
			size_t len = arg < F.n - F.pos ? arg : F.n - F.pos;
			memcpy(msg, F.d + F.pos, len);
			F.pos += len;
			struct dns_client c = client(false);
			dns_query(&p, &c, msg, len, now);
			break;
		}
		case 2: { /* the right answer to a query in flight, maybe from the wrong upstream */
			const struct dns_entry *e = &p.e[slot];
			if (!e->used)
				break;
			size_t len = e->qlen;
			memcpy(msg, e->query, len);
			msg[2] |= 0x80;
			unsigned k = op & 16 ? e->upstream : (unsigned)(op >> 5) % 3;
			unsigned before = F.replies;
			bool ok;
			if (!e->tcp && (op & 64)) /* on a UDP socket, maybe another query's */
				ok = dns_answer_on(&p, k, op & 128 ? slot : (unsigned)arg % DNS_MAX_INFLIGHT, msg, len, now);
			else
				ok = dns_answer(&p, k, e->tcp ? (int)slot : -1, msg, len, now);
			FX_CHECK(ok == (F.replies == before + 1));
			break;
		}
		case 3:
			now += (uint64_t)arg * 20 * MS;
			dns_tick(&p, now);
			FX_CHECK(p.head == DNS_NIL || p.e[p.head].deadline_ns > now);
			FX_CHECK(dns_next_timeout_ms(&p, now, 10000) > 0);
			break;
		case 4:
			dns_upstream_failed(&p, arg % 4, "fuzzed", now);
			break;
		case 5:
			if (op & 8)
				dns_try_failed_on(&p, slot, arg % 4, "fuzzed", now);
			else
				dns_try_failed(&p, slot, "fuzzed", now);
			break;
		case 6: { /* garbage from an upstream */
			size_t len = arg < F.n - F.pos ? arg : F.n - F.pos;
			memcpy(msg, F.d + F.pos, len);
			F.pos += len;
			dns_answer(&p, op % 4, (op & 8) ? (int)slot : -1, msg, len, now);
			break;
		}
		}
		if (ops < 64 || ops % 64 == 0) /* a full check costs a pass over the table */
			check_table(&p);
	}
	check_table(&p);
	check_ids(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_client_message(data + 1, size - 1);
		break;
	case 1:
		fuzz_upstream_message(data + 1, size - 1);
		break;
	case 2:
		fuzz_frames(data + 1, size - 1);
		break;
	case 3:
		fuzz_resolv_conf(data + 1, size - 1);
		break;
	case 4:
		fuzz_operations(data + 1, size - 1);
		break;
	}
	return 0;
}
