/* registry.c - see registry.h. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Marks a slot whose peer moved to a new id, so probes continue past it. */
static struct peer tombstone;

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

static uint64_t id_hash(const uint8_t id[WIRE_ID_LEN])
{
	/* Ids are random: their first bytes are a fine hash. */
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return h;
}

static uint64_t addr_hash(uint32_t a)
{
	return (uint64_t)a * 0x9e3779b97f4a7c15ull >> 17;
}

static bool id_zero(const uint8_t id[WIRE_ID_LEN])
{
	static const uint8_t zero[WIRE_ID_LEN];
	return !memcmp(id, zero, WIRE_ID_LEN);
}

/* One bit per pool address, taken or free. */
struct taken {
	uint64_t *bits;
	uint32_t net, size;
};

static bool is_taken(const struct taken *t, uint32_t a)
{
	uint32_t i = a - t->net;
	return t->bits[i / 64] >> (i % 64) & 1;
}

static void take(struct taken *t, uint32_t a)
{
	uint32_t i = a - t->net;
	t->bits[i / 64] |= 1ull << (i % 64);
}

/* Fixed addresses first, then each client's remembered one (state file)
 * while it is still in the pool and free, then the next free address in
 * config order: a client keeps its address across restarts, whatever the
 * order of the file. */
static int assign_addresses(struct registry *r, const struct server_conf *c, char *err, size_t errlen)
{
	struct taken t = { .net = r->net, .size = ~r->mask + 1 };
	uint32_t last = r->net | ~r->mask; /* broadcast */
	if (~r->mask > 0xffffffu) {
		snprintf(err, errlen, "the pool is larger than a /8");
		return -1;
	}
	t.bits = calloc(t.size / 64 + 1, sizeof(uint64_t));
	if (!t.bits) {
		snprintf(err, errlen, "out of memory for the address pool");
		return -1;
	}
	take(&t, r->net);
	take(&t, last);
	take(&t, r->gw_addr);
	for (size_t i = 0; i < r->n; i++) {
		r->peers[i]->addr4 = c->peers[i].addr4;
		if (c->peers[i].addr4)
			take(&t, c->peers[i].addr4);
	}
	for (size_t i = 0; i < r->n; i++) {
		uint32_t a = c->peers[i].remembered4;
		if (r->peers[i]->addr4 || !a || !registry_in_pool(r, a) || is_taken(&t, a))
			continue;
		r->peers[i]->addr4 = a;
		take(&t, a);
	}
	uint32_t next = r->net + 1;
	for (size_t i = 0; i < r->n; i++) {
		struct peer *p = r->peers[i];
		if (p->addr4)
			continue;
		while (next < last && is_taken(&t, next))
			next++;
		if (next >= last) {
			snprintf(err, errlen, "the pool %u.%u.%u.%u/%u has no address left for client %s", r->net >> 24,
				 r->net >> 16 & 255, r->net >> 8 & 255, r->net & 255, 32 - __builtin_popcount(~r->mask),
				 p->name);
			free(t.bits);
			return -1;
		}
		p->addr4 = next;
		take(&t, next++);
	}
	free(t.bits);
	return 0;
}

static void index_addr(struct registry *r, struct peer *p)
{
	size_t m = r->addr_cap - 1;
	for (size_t i = addr_hash(p->addr4) & m;; i = (i + 1) & m) {
		if (!r->by_addr[i]) {
			r->by_addr[i] = p;
			return;
		}
	}
}

static void rebuild_ids(struct registry *r)
{
	memset(r->by_id, 0, r->id_cap * sizeof(*r->by_id));
	r->id_used = 0;
	size_t m = r->id_cap - 1;
	for (size_t k = 0; k < r->n; k++) {
		struct peer *p = r->peers[k];
		if (id_zero(p->sess.client_id))
			continue;
		size_t i = id_hash(p->sess.client_id) & m;
		while (r->by_id[i])
			i = (i + 1) & m;
		r->by_id[i] = p;
		r->id_used++;
	}
}

/* Sizes both lookup tables for the clients there are now and fills them
 * again (start and live changes only). -1 when out of memory: the old
 * tables stay. */
static int reindex(struct registry *r)
{
	size_t id_cap = pow2_at_least(r->n * 4), addr_cap = pow2_at_least(r->n * 2);
	struct peer **by_id = calloc(id_cap, sizeof(*by_id)), **by_addr = calloc(addr_cap, sizeof(*by_addr));
	if (!by_id || !by_addr) {
		free(by_id);
		free(by_addr);
		return -1;
	}
	free(r->by_id);
	free(r->by_addr);
	r->by_id = by_id;
	r->by_addr = by_addr;
	r->id_cap = id_cap;
	r->addr_cap = addr_cap;
	rebuild_ids(r);
	for (size_t i = 0; i < r->n; i++)
		index_addr(r, r->peers[i]);
	return 0;
}

static void peer_free(struct peer *p)
{
	session_destroy(&p->sess);
	fq_destroy(&p->q);
	pthread_mutex_destroy(&p->ep_lock);
	free(p);
}

static struct peer *peer_new(struct registry *r, const char *name, const uint8_t pub[32])
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	memcpy(p->pub, pub, 32);
	session_init(&p->sess);
	pthread_mutex_init(&p->ep_lock, NULL);
	/* Bytes bound: about a queue of full-size packets. */
	if (fq_init(&p->q, PEER_FQ_FLOWS, r->queue_pkts, r->queue_pkts * 1500, r->mtu, r->pool) != 0) {
		session_destroy(&p->sess);
		pthread_mutex_destroy(&p->ep_lock);
		free(p);
		return NULL;
	}
	return p;
}

int registry_init(struct registry *r, const struct server_conf *c, struct pool *pool, size_t queue_pkts,
		  char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	pthread_rwlock_init(&r->lock, NULL);
	r->mask = c->prefix4 ? 0xffffffffu << (32 - c->prefix4) : 0;
	r->net = c->addr4 & r->mask;
	r->gw_addr = c->addr4;
	r->has6 = c->has6;
	if (c->has6) {
		memcpy(r->gw6, c->addr6, 16);
		r->prefix6 = c->prefix6;
		for (int i = 0; i < 16; i++) {
			int bits = c->prefix6 - i * 8;
			r->net6[i] = bits >= 8 ? c->addr6[i] : bits <= 0 ? 0 : (uint8_t)(c->addr6[i] & (0xff00 >> bits));
		}
	}
	r->pool = pool;
	r->queue_pkts = queue_pkts;
	r->mtu = (uint32_t)c->mtu;
	r->cap = c->npeers ? c->npeers : 1;
	r->peers = calloc(r->cap, sizeof(*r->peers));
	if (!r->peers) {
		snprintf(err, errlen, "out of memory for %zu clients", c->npeers);
		registry_destroy(r);
		return -1;
	}
	for (size_t i = 0; i < c->npeers; i++) {
		r->peers[i] = peer_new(r, c->peers[i].name, c->peers[i].pub);
		if (!r->peers[i]) {
			snprintf(err, errlen, "out of memory for client queues");
			registry_destroy(r);
			return -1;
		}
		r->n++;
	}
	if (assign_addresses(r, c, err, errlen) != 0) {
		registry_destroy(r);
		return -1;
	}
	if (reindex(r) != 0) {
		snprintf(err, errlen, "out of memory for %zu clients", r->n);
		registry_destroy(r);
		return -1;
	}
	return 0;
}

void registry_destroy(struct registry *r)
{
	for (size_t i = 0; r->peers && i < r->n; i++)
		peer_free(r->peers[i]);
	for (size_t i = 0; i < r->ngone; i++)
		peer_free(r->gone[i]);
	free(r->peers);
	free(r->gone);
	free(r->by_id);
	free(r->by_addr);
	pthread_rwlock_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

void registry_rdlock(struct registry *r)
{
	pthread_rwlock_rdlock(&r->lock);
}

void registry_unlock(struct registry *r)
{
	pthread_rwlock_unlock(&r->lock);
}

struct peer *registry_by_id(struct registry *r, const uint8_t id[WIRE_ID_LEN])
{
	size_t m = r->id_cap - 1;
	if (id_zero(id))
		return NULL;
	for (size_t i = id_hash(id) & m, n = 0; n < r->id_cap; i = (i + 1) & m, n++) {
		struct peer *p = r->by_id[i];
		if (!p)
			return NULL;
		if (p != &tombstone && !memcmp(p->sess.client_id, id, WIRE_ID_LEN))
			return p;
	}
	return NULL;
}

struct peer *registry_by_addr(struct registry *r, uint32_t addr4)
{
	size_t m = r->addr_cap - 1;
	for (size_t i = addr_hash(addr4) & m, n = 0; n < r->addr_cap; i = (i + 1) & m, n++) {
		struct peer *p = r->by_addr[i];
		if (!p)
			return NULL;
		if (p->addr4 == addr4)
			return p;
	}
	return NULL;
}

struct peer *registry_by_pubkey(struct registry *r, const uint8_t pub[32])
{
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(r->peers[i]->pub, pub, 32))
			return r->peers[i];
	return NULL;
}

bool registry_in_pool(const struct registry *r, uint32_t addr4)
{
	return (addr4 & r->mask) == r->net;
}

bool registry_addr6(const struct registry *r, const struct peer *p, uint8_t out[16])
{
	if (!r->has6)
		return false;
	/* The pool's prefix leaves at least 32 - prefix4 host bits (config),
	 * so the IPv4 host number fits in the low 32 bits untouched. */
	uint32_t host = p->addr4 - r->net;
	memcpy(out, r->net6, 16);
	out[12] |= (uint8_t)(host >> 24);
	out[13] |= (uint8_t)(host >> 16);
	out[14] |= (uint8_t)(host >> 8);
	out[15] |= (uint8_t)host;
	return true;
}

bool registry_in_pool6(const struct registry *r, const uint8_t a6[16])
{
	if (!r->has6)
		return false;
	int full = r->prefix6 / 8, rest = r->prefix6 % 8;
	if (memcmp(a6, r->net6, (size_t)full) != 0)
		return false;
	return !rest || ((a6[full] ^ r->net6[full]) & (0xff00 >> rest)) == 0;
}

struct peer *registry_by_addr6(struct registry *r, const uint8_t a6[16])
{
	if (!registry_in_pool6(r, a6))
		return NULL;
	/* Back to the IPv4 host number: the bits past the prefix, and every
	 * one above the IPv4 host number's must be zero. */
	uint8_t x[16];
	for (int i = 0; i < 16; i++)
		x[i] = a6[i] ^ r->net6[i];
	for (int i = 0; i < 12; i++)
		if (x[i])
			return NULL;
	uint32_t host = (uint32_t)x[12] << 24 | (uint32_t)x[13] << 16 | (uint32_t)x[14] << 8 | x[15];
	if (!host || (host & r->mask))
		return NULL;
	return registry_by_addr(r, r->net | host);
}

bool registry_set_id(struct registry *r, struct peer *p, const uint8_t id[WIRE_ID_LEN])
{
	pthread_rwlock_wrlock(&r->lock);
	if (p->removed) {
		pthread_rwlock_unlock(&r->lock);
		return false;
	}
	size_t m = r->id_cap - 1;
	for (size_t i = 0; i < r->id_cap; i++)
		if (r->by_id[i] == p)
			r->by_id[i] = &tombstone;
	session_begin(&p->sess, id);
	if (++r->id_used * 2 > r->id_cap) {
		rebuild_ids(r);
	} else {
		size_t i = id_hash(id) & m;
		while (r->by_id[i] && r->by_id[i] != &tombstone)
			i = (i + 1) & m;
		r->by_id[i] = p;
	}
	pthread_rwlock_unlock(&r->lock);
	return true;
}

bool registry_unchanged(struct registry *r, const struct peer *p, unsigned gen)
{
	pthread_rwlock_rdlock(&r->lock);
	bool same = !p->removed && p->gen == gen;
	pthread_rwlock_unlock(&r->lock);
	return same;
}

void peer_set_endpoint(struct peer *p, const struct endpoint *ep, uint64_t now)
{
	pthread_mutex_lock(&p->ep_lock);
	p->ep = *ep;
	pthread_mutex_unlock(&p->ep_lock);
	atomic_store_explicit(&p->last_seen_ns, now, memory_order_relaxed);
}

bool peer_endpoint(struct peer *p, struct endpoint *out)
{
	if (!atomic_load_explicit(&p->last_seen_ns, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&p->ep_lock);
	*out = p->ep;
	pthread_mutex_unlock(&p->ep_lock);
	return true;
}

bool peer_fresh_endpoint(struct peer *p, uint64_t now, uint64_t fresh_ns, struct endpoint *out)
{
	uint64_t seen = atomic_load_explicit(&p->last_seen_ns, memory_order_relaxed);
	if (!seen || ns_since(now, seen) >= fresh_ns)
		return false;
	pthread_mutex_lock(&p->ep_lock);
	*out = p->ep;
	pthread_mutex_unlock(&p->ep_lock);
	return true;
}

/* ------------------------------------------------------------ live changes */

static void fmt_addr(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

static struct peer *by_key_locked(struct registry *r, const uint8_t pub[32], size_t *at)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!memcmp(r->peers[i]->pub, pub, 32)) {
			if (at)
				*at = i;
			return r->peers[i];
		}
	}
	return NULL;
}

/* Whether a (host order) may be given to `self`: in the pool, not the
 * network, broadcast or gateway address, not another client's. */
static int check_free(struct registry *r, uint32_t a, const struct peer *self, char *err, size_t errlen)
{
	char s[16];
	fmt_addr(a, s);
	if (!registry_in_pool(r, a) || a == r->net || a == (r->net | ~r->mask) || a == r->gw_addr) {
		snprintf(err, errlen, "address %s is not a client address of the pool", s);
		return -1;
	}
	struct peer *q = registry_by_addr(r, a);
	if (q && q != self) {
		snprintf(err, errlen, "address %s belongs to client %s", s, q->name);
		return -1;
	}
	return 0;
}

static uint32_t first_free(struct registry *r)
{
	for (uint32_t a = r->net + 1; a < (r->net | ~r->mask); a++)
		if (a != r->gw_addr && !registry_by_addr(r, a))
			return a;
	return 0;
}

/* addr4 when it is free for self (NULL: a new client), or for addr4 0 the
 * first free pool address; 0 with err when there is none. */
static uint32_t pick_address(struct registry *r, uint32_t addr4, const struct peer *self, char *err, size_t errlen)
{
	if (addr4)
		return check_free(r, addr4, self, err, errlen) == 0 ? addr4 : 0;
	addr4 = first_free(r);
	if (!addr4)
		snprintf(err, errlen, "the pool has no address left");
	return addr4;
}

int registry_add(struct registry *r, const char *name, const uint8_t pub[32], uint32_t addr4, char *err,
		 size_t errlen)
{
	int rc = -1;
	pthread_rwlock_wrlock(&r->lock);
	struct peer *dup = by_key_locked(r, pub, NULL);
	if (dup) {
		snprintf(err, errlen, "client %s already has this public key", dup->name);
		goto out;
	}
	if (r->n >= CONF_MAX_PEERS) {
		snprintf(err, errlen, "already %d clients, the most there may be", CONF_MAX_PEERS);
		goto out;
	}
	if (!(addr4 = pick_address(r, addr4, NULL, err, errlen)))
		goto out;
	if (r->n == r->cap) {
		struct peer **grown = realloc(r->peers, r->cap * 2 * sizeof(*grown));
		if (!grown) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		r->peers = grown;
		r->cap *= 2;
	}
	struct peer *p = peer_new(r, name, pub);
	if (!p) {
		snprintf(err, errlen, "out of memory for the client's queue");
		goto out;
	}
	p->addr4 = addr4;
	r->peers[r->n++] = p;
	if (reindex(r) != 0) {
		r->n--;
		peer_free(p);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	pthread_rwlock_unlock(&r->lock);
	return rc;
}

/* The peer struct itself stays (in r->gone) until registry_destroy: the
 * send loop and queued packets may still point at it. Its queue drains
 * through the send loop, which finds no session and counts the drops. */
int registry_remove(struct registry *r, const uint8_t pub[32], char *err, size_t errlen)
{
	size_t at;
	int rc = -1;
	pthread_rwlock_wrlock(&r->lock);
	struct peer *p = by_key_locked(r, pub, &at);
	if (!p) {
		snprintf(err, errlen, "no client has this public key");
		goto out;
	}
	if (r->ngone == r->gone_cap) {
		size_t cap = r->gone_cap ? r->gone_cap * 2 : 8;
		struct peer **grown = realloc(r->gone, cap * sizeof(*grown));
		if (!grown) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		r->gone = grown;
		r->gone_cap = cap;
	}
	r->peers[at] = r->peers[--r->n];
	if (reindex(r) != 0) {
		r->peers[r->n++] = r->peers[at];
		r->peers[at] = p;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	p->removed = true;
	p->gen++;
	r->gone[r->ngone++] = p;
	session_clear(&p->sess); /* its keys are gone at once */
	rc = 0;
out:
	pthread_rwlock_unlock(&r->lock);
	return rc;
}

int registry_readdress(struct registry *r, const uint8_t pub[32], uint32_t addr4, char *err, size_t errlen)
{
	int rc = -1;
	pthread_rwlock_wrlock(&r->lock);
	struct peer *p = by_key_locked(r, pub, NULL);
	if (!p) {
		snprintf(err, errlen, "no client has this public key");
		goto out;
	}
	if (!(addr4 = pick_address(r, addr4, p, err, errlen)))
		goto out;
	if (addr4 == p->addr4) {
		rc = 0;
		goto out;
	}
	uint32_t old = p->addr4;
	/* The session was handed the old address: it ends, and the client's
	 * next handshake brings it the new one. */
	session_clear(&p->sess);
	p->gen++;
	p->addr4 = addr4;
	if (reindex(r) != 0) {
		p->addr4 = old; /* the old tables stay: only the ended session is gone */
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	pthread_rwlock_unlock(&r->lock);
	return rc;
}

int registry_rename(struct registry *r, const uint8_t pub[32], const char *name, char *err, size_t errlen)
{
	pthread_rwlock_wrlock(&r->lock);
	struct peer *p = by_key_locked(r, pub, NULL);
	if (p)
		snprintf(p->name, sizeof(p->name), "%s", name);
	else
		snprintf(err, errlen, "no client has this public key");
	pthread_rwlock_unlock(&r->lock);
	return p ? 0 : -1;
}
