/* clients.c - see clients.h. */
#include "clients.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The clients there are, then the removed ones, copied under the read
 * lock; a peer's memory outlives its removal, so they stay readable. */
static struct peer **peer_list(struct registry *r, size_t *n, size_t *all)
{
	registry_rdlock(r);
	*n = r->n;
	*all = r->n + r->ngone;
	struct peer **list = malloc((*all ? *all : 1) * sizeof(*list));
	for (size_t i = 0; list && i < *all; i++)
		list[i] = i < *n ? r->peers[i] : r->gone[i - *n];
	registry_unlock(r);
	if (!list)
		*n = *all = 0;
	return list;
}

static void sum(struct peer **list, size_t n, size_t all, uint64_t now, struct clients_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < all; i++) {
		struct peer *p = list[i];
		t->queue_full_drops += ctr_get(&p->q.st.overflow_drops);
		t->codel_drops += ctr_get(&p->q.st.codel_drops);
		t->ecn_marks += ctr_get(&p->q.st.ecn_marks);
		t->active += i < n && session_up(&p->sess, now);
	}
}

void clients_totals(struct registry *r, uint64_t now, struct clients_totals *t)
{
	size_t n, all;
	struct peer **list = peer_list(r, &n, &all);
	sum(list, n, all, now, t);
	free(list);
}

/* The counters; name, key and address are copied under the lock. */
static void snap_peer(struct peer *p, uint64_t now, endpoint_fmt fmt, struct snap_peer *o)
{
	struct endpoint ep;
	if (peer_endpoint(p, &ep))
		fmt(&ep, o->endpoint, sizeof(o->endpoint));
	uint64_t hs = atomic_load_explicit(&p->handshake_ns, memory_order_relaxed);
	o->handshake_age_s = hs ? (int64_t)(ns_since(now, hs) / SEC_NS) : -1;
	o->session_up = session_up(&p->sess, now);
	o->rx_bytes = ctr_get(&p->rx_bytes);
	o->rx_packets = ctr_get(&p->rx_packets);
	o->tx_bytes = ctr_get(&p->tx_bytes);
	o->tx_packets = ctr_get(&p->tx_packets);
	o->queue_packets = fq_len(&p->q);
	snap_drop(o, "queue_full", ctr_get(&p->q.st.overflow_drops));
	snap_drop(o, "codel", ctr_get(&p->q.st.codel_drops));
	snap_drop(o, "auth_fail", ctr_get(&p->auth_fail_drops));
	snap_drop(o, "replay", ctr_get(&p->replay_drops));
	snap_drop(o, "no_endpoint", ctr_get(&p->no_endpoint_drops));
	snap_drop(o, "no_session", ctr_get(&p->no_session_drops));
	snap_drop(o, "mtu", ctr_get(&p->mtu_drops));
	snap_drop(o, "spoofed_source", ctr_get(&p->spoofed_source_drops));
	lat_read(&p->tun_to_udp, &o->lat[0]);
	lat_read(&p->udp_to_tun, &o->lat[1]);
}

void clients_snapshot(struct registry *r, uint64_t now, endpoint_fmt fmt, struct snapshot *o,
		      struct clients_totals *t)
{
	size_t n, all;
	/* Under the read lock only what live changes rewrite. */
	registry_rdlock(r);
	n = r->n;
	all = n + r->ngone;
	struct peer **list = malloc((all ? all : 1) * sizeof(*list));
	o->peers = calloc(n ? n : 1, sizeof(*o->peers));
	for (size_t i = 0; list && o->peers && i < all; i++) {
		struct peer *p = list[i] = i < n ? r->peers[i] : r->gone[i - n];
		if (i >= n)
			continue;
		memcpy(o->peers[i].name, p->name, sizeof(o->peers[i].name));
		memcpy(o->peers[i].pub, p->pub, 32);
		o->peers[i].addr4 = p->addr4;
		uint8_t a6[16];
		if (registry_addr6(r, p, a6))
			inet_ntop(AF_INET6, a6, o->peers[i].addr6, sizeof(o->peers[i].addr6));
	}
	registry_unlock(r);
	if (!list || !o->peers) {
		LOGE("msg=\"out of memory for a snapshot of the clients\"");
		free(o->peers);
		o->peers = NULL;
		n = all = 0;
	}
	for (size_t i = 0; i < n; i++)
		snap_peer(list[i], now, fmt, &o->peers[i]);
	o->npeers = n;
	sum(list, n, all, now, t);
	free(list);
}

/* ------------------------------------------------------------ vpngw set */

static void addr_str(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

/* A client named by its public key or by its (unique) name. */
static int resolve(struct registry *r, const char *who, uint8_t pub[32], char name[64], char *err, size_t errlen)
{
	uint8_t key[32];
	size_t hits = 0;
	bool by_key = parse_key_b64(who, key) == 0;
	registry_rdlock(r);
	for (size_t i = 0; i < r->n; i++) {
		struct peer *p = r->peers[i];
		if (by_key ? memcmp(p->pub, key, 32) != 0 : strcmp(p->name, who) != 0)
			continue;
		if (!hits++) {
			memcpy(pub, p->pub, 32);
			memcpy(name, p->name, sizeof(p->name));
		}
	}
	registry_unlock(r);
	if (hits == 1)
		return 0;
	if (!hits)
		snprintf(err, errlen, "no client %s \"%s\"", by_key ? "has the key" : "is named", who);
	else
		snprintf(err, errlen, "%zu clients are named \"%s\": give the public key", hits, who);
	return -1;
}

static bool name_taken(struct registry *r, const char *name)
{
	bool taken = false;
	registry_rdlock(r);
	for (size_t i = 0; i < r->n && !taken; i++)
		taken = !strcmp(r->peers[i]->name, name);
	registry_unlock(r);
	return taken;
}

static uint32_t addr_of(struct registry *r, const uint8_t pub[32])
{
	registry_rdlock(r);
	struct peer *p = registry_by_pubkey(r, pub);
	uint32_t a = p ? p->addr4 : 0;
	registry_unlock(r);
	return a;
}

static int set_add(struct registry *r, const struct ctl_req *req, struct sbuf *out, char *err, size_t errlen)
{
	char a[16];
	/* Names identify clients in vpngw set: no two alike from here. */
	if (name_taken(r, req->name)) {
		snprintf(err, errlen, "a client is named \"%s\" already", req->name);
		return -1;
	}
	if (registry_add(r, req->name, req->pub, req->addr4, err, errlen) != 0)
		return -1;
	addr_str(addr_of(r, req->pub), a);
	LOGI("msg=\"client added\" client=%s address=%s", req->name, a);
	sbuf_printf(out, "added client %s at %s\n", req->name, a);
	return 0;
}

int clients_set(struct registry *r, const struct ctl_req *req, struct sbuf *out, char *err, size_t errlen)
{
	uint8_t pub[32];
	char name[64], a[16];
	if (req->cmd == CTL_ADD)
		return set_add(r, req, out, err, errlen);
	if (req->cmd == CTL_SHOW || resolve(r, req->who, pub, name, err, errlen) != 0) {
		if (req->cmd == CTL_SHOW)
			snprintf(err, errlen, "show changes nothing");
		return -1;
	}
	if (req->cmd == CTL_REMOVE) {
		if (registry_remove(r, pub, err, errlen) != 0)
			return -1;
		LOGI("msg=\"client removed; its session ended\" client=%s", name);
		sbuf_printf(out, "removed client %s; its session ended\n", name);
		return 0;
	}
	if (req->cmd == CTL_ADDRESS) {
		uint32_t old = addr_of(r, pub);
		if (registry_readdress(r, pub, req->addr4, err, errlen) != 0)
			return -1;
		uint32_t now = addr_of(r, pub);
		addr_str(now, a);
		LOGI("msg=\"client readdressed\" client=%s address=%s session=%s", name, a, old == now ? "kept" : "ended");
		sbuf_printf(out, "client %s has address %s%s\n", name, a,
			    old == now ? " (unchanged)" : "; its next handshake brings it");
		return 0;
	}
	if (strcmp(name, req->name) && name_taken(r, req->name)) {
		snprintf(err, errlen, "a client is named \"%s\" already", req->name);
		return -1;
	}
	if (registry_rename(r, pub, req->name, err, errlen) != 0)
		return -1;
	LOGI("msg=\"client renamed\" client=%s was=%s", req->name, name);
	sbuf_printf(out, "client %s is now named %s\n", name, req->name);
	return 0;
}

/* --------------------------------------------------------------- SIGHUP */

static void remove_missing(struct registry *r, const struct server_conf *nc, struct clients_diff *d)
{
	char err[256];
	registry_rdlock(r);
	size_t n = r->n;
	uint8_t(*old)[32] = malloc((n ? n : 1) * 32);
	for (size_t i = 0; old && i < n; i++)
		memcpy(old[i], r->peers[i]->pub, 32);
	registry_unlock(r);
	if (!old) {
		LOGE("msg=\"reload: out of memory; no client removed\"");
		d->failed++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool kept = false;
		for (size_t j = 0; j < nc->npeers && !kept; j++)
			kept = !memcmp(nc->peers[j].pub, old[i], 32);
		if (kept)
			continue;
		if (registry_remove(r, old[i], err, sizeof(err)) == 0)
			d->removed++;
	}
	free(old);
}

/* One [Client] section: added, or its name and fixed address applied. */
static int reload_one(struct registry *r, const struct peer_conf *pc, struct clients_diff *d, char *err, size_t errlen)
{
	char name[64] = "";
	registry_rdlock(r);
	struct peer *p = registry_by_pubkey(r, pc->pub);
	uint32_t cur = p ? p->addr4 : 0;
	if (p)
		memcpy(name, p->name, sizeof(name));
	registry_unlock(r);
	if (!p) {
		if (registry_add(r, pc->name, pc->pub, pc->addr4, err, errlen) != 0)
			return -1;
		d->added++;
		return 0;
	}
	bool did = false;
	if (strcmp(name, pc->name)) {
		if (registry_rename(r, pc->pub, pc->name, err, errlen) != 0)
			return -1;
		did = true;
	}
	if (pc->addr4 && pc->addr4 != cur) {
		if (registry_readdress(r, pc->pub, pc->addr4, err, errlen) != 0)
			return -1;
		did = true;
	}
	d->changed += did;
	return 0;
}

void clients_reload(struct registry *r, const struct server_conf *nc, struct clients_diff *d)
{
	char err[256], a[16];
	memset(d, 0, sizeof(*d));
	/* Removals first: they free addresses the others may be given. */
	remove_missing(r, nc, d);
	for (size_t j = 0; j < nc->npeers; j++) {
		const struct peer_conf *pc = &nc->peers[j];
		if (reload_one(r, pc, d, err, sizeof(err)) == 0)
			continue;
		d->failed++;
		addr_str(pc->addr4, a);
		LOGE("msg=\"reload: client not applied\" client=%s address=%s error=\"%s\"", pc->name,
		     pc->addr4 ? a : "pool", err);
	}
}

int clients_state(struct registry *r, struct state_entry **e, size_t *n)
{
	registry_rdlock(r);
	*n = r->n;
	*e = calloc(*n ? *n : 1, sizeof(**e));
	for (size_t i = 0; *e && i < *n; i++) {
		memcpy((*e)[i].pub, r->peers[i]->pub, 32);
		(*e)[i].addr4 = r->peers[i]->addr4;
	}
	registry_unlock(r);
	return *e ? 0 : -1;
}
