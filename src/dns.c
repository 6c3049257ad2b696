/* dns.c - see dns.h. */
#include "dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

/* Header flag bits (RFC 1035 4.1.1). */
#define F_QR 0x8000u
#define F_OPCODE(f) (((f) >> 11) & 0xfu)
#define F_RD 0x0100u
#define F_RA 0x0080u

/* ------------------------------------------------------------ upstreams */

static int parse_port(const char *s, uint16_t *port)
{
	char *e;
	if (!*s || *s == '+' || *s == '-')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &e, 10);
	if (errno || *e || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int dns_parse_server(const char *s, struct dns_server *out, const char **why)
{
	char host[64];
	const char *port = NULL;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	out->port = DNS_PORT;
	*why = "want an IP address with an optional port: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:5353";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -1;
		hlen = (size_t)(close - s - 1);
		s++;
		port = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(s, ':');
		bool v4_with_port = colon && !strchr(colon + 1, ':');
		hlen = v4_with_port ? (size_t)(colon - s) : strlen(s);
		port = v4_with_port ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strchr(host, '%')) {
		*why = "a scoped (link-local) IPv6 address is not supported";
		return -1;
	}
	if (port && parse_port(port, &out->port) != 0) {
		*why = "the port must be a number 1-65535";
		return -1;
	}
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

const char *dns_server_str(const struct dns_server *s, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(s->family, s->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, s->port);
	return buf;
}

bool dns_server_equal(const struct dns_server *a, const struct dns_server *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;
	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, n) == 0;
}

/* One resolv.conf line (comment already cut); adds a nameserver to out. */
static void resolv_line(char *line, struct dns_server *out, size_t max, size_t *n, dns_warn_fn warn, void *ctx)
{
	char *save = NULL, *key = strtok_r(line, " \t\r", &save);
	if (!key || strcmp(key, "nameserver"))
		return;
	char *addr = strtok_r(NULL, " \t\r", &save);
	if (!addr) {
		warn(ctx, "nameserver", "no address on the line");
		return;
	}
	struct dns_server s;
	const char *why;
	/* resolv.conf has no ports: a colon can only be part of IPv6 */
	if (strchr(addr, '[') || dns_parse_server(addr, &s, &why) != 0 || (s.family == AF_INET && strchr(addr, ':'))) {
		warn(ctx, addr, "want an IP address (no port, no scope)");
		return;
	}
	for (size_t i = 0; i < *n; i++)
		if (dns_server_equal(&out[i], &s))
			return;
	if (*n == max) {
		warn(ctx, addr, "too many nameservers; ignored");
		return;
	}
	out[(*n)++] = s;
}

size_t dns_parse_resolv_conf(const char *text, struct dns_server *out, size_t max, dns_warn_fn warn, void *ctx)
{
	char line[512];
	size_t n = 0;
	while (*text) {
		size_t len = strcspn(text, "\n");
		size_t keep = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
		memcpy(line, text, keep);
		line[keep] = '\0';
		line[strcspn(line, "#;")] = '\0';
		resolv_line(line, out, max, &n, warn, ctx);
		text += len;
		if (*text)
			text++;
	}
	return n;
}

/* ------------------------------------------------------------- messages */

/* Offset past the name starting at off (no compression: a question sent
 * to us is the message's first name), or 0 when it is malformed. */
static size_t name_end(const uint8_t *m, size_t len, size_t off)
{
	size_t total = 0;
	while (off < len) {
		unsigned l = m[off];
		if (l == 0)
			return off + 1;
		if (l > 63)
			return 0; /* a pointer or an extended label type */
		total += l + 1;
		if (total > 254)
			return 0; /* a name is at most 255 bytes on the wire */
		off += l + 1;
	}
	return 0;
}

enum dns_verdict dns_check_query(const uint8_t *m, size_t len, size_t *qend)
{
	if (len < DNS_HDR_LEN || len > DNS_MAX_QUERY)
		return DNS_QUERY_BAD;
	unsigned flags = get16(m + 2);
	if ((flags & F_QR) || get16(m + 4) != 1)
		return DNS_QUERY_BAD;
	size_t end = name_end(m, len, DNS_HDR_LEN);
	if (!end || end + 4 > len)
		return DNS_QUERY_BAD;
	*qend = end + 4;
	return F_OPCODE(flags) == 0 ? DNS_QUERY_OK : DNS_QUERY_NOTIMP;
}

size_t dns_error_reply(const uint8_t *query, size_t qend, unsigned rcode, uint8_t *out, size_t cap)
{
	if (qend < DNS_HDR_LEN || qend > cap)
		return 0;
	memmove(out, query, qend);
	unsigned flags = get16(query + 2);
	put16(out + 2, (uint16_t)(F_QR | (flags & (0xfu << 11)) | (flags & F_RD) | F_RA | (rcode & 0xfu)));
	put16(out + 4, 1);
	memset(out + 6, 0, 6);
	return qend;
}

/* ------------------------------------------------------ TCP framing */

void dns_frame_init(struct dns_frame *f, uint8_t *buf, size_t cap, size_t max_msg)
{
	f->buf = buf;
	f->cap = cap;
	f->max_msg = max_msg;
	f->len = f->off = 0;
}

void dns_frame_reset(struct dns_frame *f)
{
	f->len = f->off = 0;
}

uint8_t *dns_frame_space(struct dns_frame *f, size_t *room)
{
	if (f->off) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	*room = f->cap - f->len;
	return f->buf + f->len;
}

void dns_frame_added(struct dns_frame *f, size_t n)
{
	f->len += n;
}

int dns_frame_next(struct dns_frame *f, uint8_t **msg, size_t *len)
{
	size_t have = f->len - f->off;
	if (have < 2)
		return 0;
	size_t n = get16(f->buf + f->off);
	if (n == 0 || n > f->max_msg || n + 2 > f->cap)
		return -1;
	if (have < n + 2)
		return 0;
	*msg = f->buf + f->off + 2;
	*len = n;
	f->off += n + 2;
	return 1;
}

size_t dns_frame_put(uint8_t *out, size_t cap, const uint8_t *msg, size_t len)
{
	if (len == 0 || len > DNS_MAX_MSG || len + 2 > cap)
		return 0;
	put16(out, (uint16_t)len);
	memcpy(out + 2, msg, len);
	return len + 2;
}

/* ------------------------------------------------------------ the table */

/* Does nothing for a slot not on the list (a new one). */
static void list_unlink(struct dns_proxy *p, uint16_t i)
{
	struct dns_entry *e = &p->e[i];
	if (e->prev == DNS_NIL && p->head != i)
		return;
	if (e->prev != DNS_NIL)
		p->e[e->prev].next = e->next;
	else
		p->head = e->next;
	if (e->next != DNS_NIL)
		p->e[e->next].prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = DNS_NIL;
}

/* Tries all last the same time, so appending keeps the list in deadline order. */
static void list_append(struct dns_proxy *p, uint16_t i)
{
	struct dns_entry *e = &p->e[i];
	e->next = DNS_NIL;
	e->prev = p->tail;
	if (p->tail != DNS_NIL)
		p->e[p->tail].next = i;
	else
		p->head = i;
	p->tail = i;
}

int dns_init(struct dns_proxy *p, unsigned nup, uint64_t try_ns, const struct dns_ops *ops)
{
	memset(p, 0, sizeof(*p));
	if (nup == 0 || nup > DNS_MAX_UPSTREAMS || !ops->send || !ops->reply || !ops->release ||
	    !ops->upstream_state || !ops->rand16)
		return -1;
	p->e = calloc(DNS_MAX_INFLIGHT, sizeof(*p->e));
	p->by_id = calloc(65536, sizeof(*p->by_id));
	if (!p->e || !p->by_id) {
		dns_free(p);
		return -1;
	}
	for (unsigned i = 0; i < DNS_MAX_INFLIGHT; i++) {
		p->e[i].next = i + 1 < DNS_MAX_INFLIGHT ? (uint16_t)(i + 1) : DNS_NIL;
		p->e[i].prev = DNS_NIL;
	}
	p->free_head = 0;
	p->head = p->tail = DNS_NIL;
	p->nup = nup;
	p->try_ns = try_ns ? try_ns : DNS_TRY_NS;
	p->ops = *ops;
	return 0;
}

void dns_free(struct dns_proxy *p)
{
	free(p->e);
	free(p->by_id);
	p->e = NULL;
	p->by_id = NULL;
}

/* Ends a slot: its id and any connection go, it joins the free list. */
static void finish(struct dns_proxy *p, uint16_t i)
{
	struct dns_entry *e = &p->e[i];
	list_unlink(p, i);
	p->by_id[e->up_id] = 0;
	e->used = false;
	p->ops.release(p->ops.ctx, i, e->tcp);
	e->next = p->free_head;
	p->free_head = i;
	p->n--;
	atomic_store_explicit(&p->st.inflight, p->n, memory_order_relaxed);
}

/* A free slot; when there is none the oldest query in flight makes room. */
static uint16_t take_slot(struct dns_proxy *p)
{
	if (p->free_head == DNS_NIL) {
		ctr_add(&p->st.dropped_full, 1);
		finish(p, p->head);
	}
	uint16_t i = p->free_head;
	p->free_head = p->e[i].next;
	p->e[i].next = p->e[i].prev = DNS_NIL;
	p->n++;
	atomic_store_explicit(&p->st.inflight, p->n, memory_order_relaxed);
	return i;
}

/* A random id no query in flight has: guessing it is as hard as the
 * random source, and clients' own ids can never collide. */
static uint16_t fresh_id(struct dns_proxy *p)
{
	uint16_t id = p->ops.rand16(p->ops.ctx);
	for (int tries = 0; tries < 16 && p->by_id[id]; tries++)
		id = p->ops.rand16(p->ops.ctx);
	while (p->by_id[id]) /* ends: at most DNS_MAX_INFLIGHT ids are taken */
		id++;
	return id;
}

static void mark_failed(struct dns_proxy *p, unsigned k, const char *why, uint64_t now)
{
	struct dns_upstream_health *h = &p->up[k];
	h->failed_ns = now;
	if (h->down)
		return;
	h->down = true;
	p->ops.upstream_state(p->ops.ctx, k, false, why);
}

static void mark_ok(struct dns_proxy *p, unsigned k, uint64_t now)
{
	p->up[k].answered_ns = now;
	if (!p->up[k].down)
		return;
	p->up[k].down = false;
	p->ops.upstream_state(p->ops.ctx, k, true, NULL);
}

/* The first upstream in order that is not failing, or whose failure is
 * old enough to try it again; else the one that failed longest ago. */
static unsigned first_upstream(struct dns_proxy *p, uint64_t now)
{
	unsigned best = 0;
	for (unsigned k = 0; k < p->nup; k++) {
		const struct dns_upstream_health *h = &p->up[k];
		if (!h->down || now - h->failed_ns >= DNS_RECHECK_NS)
			return k;
		if (h->failed_ns < p->up[best].failed_ns)
			best = k;
	}
	return best;
}

static void reply_error(struct dns_proxy *p, struct dns_entry *e, unsigned rcode)
{
	uint8_t out[DNS_MAX_QUERY];
	size_t n = dns_error_reply(e->query, e->qend, rcode, out, sizeof(out));
	put16(out, e->client_id);
	if (p->ops.reply(p->ops.ctx, &e->client, out, n) != 0)
		ctr_add(&p->st.reply_drops, 1);
}

static void give_up(struct dns_proxy *p, uint16_t i)
{
	ctr_add(&p->st.servfail, 1);
	reply_error(p, &p->e[i], DNS_RCODE_SERVFAIL);
	finish(p, i);
}

/* Sends the slot's next try, moving on past upstreams that fail at once;
 * gives up with SERVFAIL when it has had its tries. */
static void next_try(struct dns_proxy *p, uint16_t i, uint64_t now)
{
	struct dns_entry *e = &p->e[i];
	while (e->tries < DNS_TRIES) {
		unsigned k = e->tries ? (e->upstream + 1u) % p->nup : first_upstream(p, now);
		const char *why = "send failed";
		if (e->tries)
			ctr_add(&p->st.retries, 1);
		e->tries++;
		e->upstream = (uint8_t)k;
		e->tried |= (uint8_t)(1u << k);
		list_unlink(p, i);
		e->deadline_ns = now + p->try_ns;
		list_append(p, i);
		int rc = p->ops.send(p->ops.ctx, i, k, e->tcp, e->query, e->qlen, &why);
		if (rc == DNS_SENT)
			return;
		if (rc == DNS_SEND_BUSY) {
			ctr_add(&p->st.dropped_full, 1);
			break;
		}
		ctr_add(&p->st.upstream_errors, 1);
		mark_failed(p, k, why, now);
	}
	give_up(p, i);
}

void dns_query(struct dns_proxy *p, const struct dns_client *from, uint8_t *msg, size_t len, uint64_t now)
{
	size_t qend;
	enum dns_verdict v = dns_check_query(msg, len, &qend);
	if (v == DNS_QUERY_BAD) {
		ctr_add(&p->st.malformed, 1);
		return;
	}
	ctr_add(from->tcp ? &p->st.queries_tcp : &p->st.queries_udp, 1);
	if (v == DNS_QUERY_NOTIMP) {
		ctr_add(&p->st.notimp, 1);
		size_t n = dns_error_reply(msg, qend, DNS_RCODE_NOTIMP, msg, len);
		if (p->ops.reply(p->ops.ctx, from, msg, n) != 0)
			ctr_add(&p->st.reply_drops, 1);
		return;
	}
	uint16_t i = take_slot(p);
	struct dns_entry *e = &p->e[i];
	e->used = true;
	e->tcp = from->tcp;
	e->tries = e->tried = e->upstream = 0;
	e->client = *from;
	e->client_id = get16(msg);
	e->up_id = fresh_id(p);
	e->qlen = (uint16_t)len;
	e->qend = (uint16_t)qend;
	memcpy(e->query, msg, len);
	put16(e->query, e->up_id);
	p->by_id[e->up_id] = (uint16_t)(i + 1);
	next_try(p, i, now);
}

/* Names compare without regard to ASCII case (RFC 4343); type and class exactly. */
static bool same_question(const struct dns_entry *e, const uint8_t *m, size_t len)
{
	if (len < e->qend || get16(m + 4) != 1)
		return false;
	size_t name_stop = e->qend - 4;
	for (size_t j = DNS_HDR_LEN; j < name_stop; j++)
		if (tolower(m[j]) != tolower(e->query[j]))
			return false;
	return memcmp(m + name_stop, e->query + name_stop, 4) == 0;
}

bool dns_answer(struct dns_proxy *p, unsigned k, int slot, uint8_t *msg, size_t len, uint64_t now)
{
	if (len < DNS_HDR_LEN || k >= p->nup || !(get16(msg + 2) & F_QR)) {
		ctr_add(&p->st.unmatched, 1);
		return false;
	}
	unsigned idx = p->by_id[get16(msg)];
	struct dns_entry *e = idx ? &p->e[idx - 1] : NULL;
	bool ok = e && e->tcp == (slot >= 0) && (slot < 0 || (unsigned)slot == idx - 1) &&
		  (slot >= 0 ? e->upstream == k : (e->tried & (1u << k)) != 0) && same_question(e, msg, len);
	if (!ok) {
		ctr_add(&p->st.unmatched, 1);
		return false;
	}
	mark_ok(p, k, now);
	put16(msg, e->client_id);
	if (p->ops.reply(p->ops.ctx, &e->client, msg, len) == 0)
		ctr_add(&p->st.answers, 1);
	else
		ctr_add(&p->st.reply_drops, 1);
	finish(p, (uint16_t)(idx - 1));
	return true;
}

bool dns_answer_on(struct dns_proxy *p, unsigned k, unsigned slot, uint8_t *msg, size_t len, uint64_t now)
{
	if (len < DNS_HDR_LEN || slot >= DNS_MAX_INFLIGHT || p->by_id[get16(msg)] != slot + 1) {
		ctr_add(&p->st.unmatched, 1);
		return false;
	}
	return dns_answer(p, k, -1, msg, len, now);
}

void dns_try_failed(struct dns_proxy *p, unsigned slot, const char *why, uint64_t now)
{
	if (slot >= DNS_MAX_INFLIGHT || !p->e[slot].used)
		return;
	ctr_add(&p->st.upstream_errors, 1);
	mark_failed(p, p->e[slot].upstream, why, now);
	next_try(p, (uint16_t)slot, now);
}

void dns_try_failed_on(struct dns_proxy *p, unsigned slot, unsigned k, const char *why, uint64_t now)
{
	if (slot < DNS_MAX_INFLIGHT && p->e[slot].used && p->e[slot].upstream == k)
		dns_try_failed(p, slot, why, now);
}

void dns_upstream_failed(struct dns_proxy *p, unsigned k, const char *why, uint64_t now)
{
	if (k >= p->nup)
		return;
	mark_failed(p, k, why, now);
	for (uint16_t i = 0; i < DNS_MAX_INFLIGHT; i++) {
		struct dns_entry *e = &p->e[i];
		if (e->used && !e->tcp && e->upstream == k) {
			ctr_add(&p->st.upstream_errors, 1);
			next_try(p, i, now);
		}
	}
}

void dns_tick(struct dns_proxy *p, uint64_t now)
{
	/* Each expired slot is re-appended with a later deadline or freed,
	 * so this ends within DNS_MAX_INFLIGHT * DNS_TRIES steps. */
	while (p->head != DNS_NIL && p->e[p->head].deadline_ns <= now) {
		uint16_t i = p->head;
		unsigned k = p->e[i].upstream;
		ctr_add(&p->st.timeouts, 1);
		/* An upstream that answered other queries meanwhile is alive;
		 * only this name is slow (a recursion that takes long). */
		if (p->up[k].answered_ns <= p->e[i].deadline_ns - p->try_ns)
			mark_failed(p, k, "no answer in time", now);
		next_try(p, i, now);
	}
}

int dns_next_timeout_ms(const struct dns_proxy *p, uint64_t now, int max_ms)
{
	if (p->head == DNS_NIL)
		return max_ms;
	uint64_t d = p->e[p->head].deadline_ns;
	if (d <= now)
		return 0;
	uint64_t ms = (d - now + 999999) / 1000000;
	return ms < (uint64_t)max_ms ? (int)ms : max_ms;
}
