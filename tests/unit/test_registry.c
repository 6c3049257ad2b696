/* test_registry.c - the server's client registry and the router that
 * looks packets up in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "pkt.h"
#include "log.h"
#include "registry.h"
#include "router.h"

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define GW A4(10, 77, 0, 1)
#define FIXED A4(10, 77, 0, 50)

struct fixture {
	struct pool *pool;
	struct server_conf conf;
	struct registry reg;
	char err[256];
};

/* A server config of n clients with random keys, all from the pool. */
static void conf_build(struct server_conf *c, uint32_t addr, uint8_t prefix, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->addr4 = addr;
	c->prefix4 = prefix;
	c->mtu = MTU_DEFAULT;
	c->npeers = n;
	c->peers = calloc(n ? n : 1, sizeof(*c->peers));
	assert_non_null(c->peers);
	for (size_t i = 0; i < n; i++) {
		snprintf(c->peers[i].name, sizeof(c->peers[i].name), "client%zu", i + 1);
		randombytes_buf(c->peers[i].pub, 32);
		c->peers[i].has_pub = true;
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->pool = pool_new(64);
	*state = f;
	return 0;
}

/* The standard registry: 10.77.0.1/24, three clients, the second fixed
 * at 10.77.0.50. */
static int setup_std(void **state)
{
	if (setup(state) != 0)
		return -1;
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 3);
	f->conf.peers[1].addr4 = FIXED;
	if (registry_init(&f->reg, &f->conf, f->pool, 16, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "registry_init: %s\n", f->err);
		return -1;
	}
	return 0;
}

/* The standard registry with an IPv6 pool: fd77::1/64 beside 10.77.0.1/24. */
static int setup_v6(void **state)
{
	if (setup(state) != 0)
		return -1;
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 3);
	f->conf.peers[1].addr4 = FIXED;
	f->conf.has6 = true;
	inet_pton(AF_INET6, "fd77::1", f->conf.addr6);
	f->conf.prefix6 = 64;
	if (registry_init(&f->reg, &f->conf, f->pool, 16, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "registry_init: %s\n", f->err);
		return -1;
	}
	/* As if each had taken the IPv6 form of HS_RESP (server.c). */
	for (size_t i = 0; i < 3; i++)
		atomic_store(&f->reg.peers[i]->v6, true);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->reg.peers)
		registry_destroy(&f->reg);
	free(f->conf.peers);
	pool_free(f->pool);
	free(f);
	return 0;
}

static struct peer *peer_at(struct fixture *f, size_t i)
{
	return f->reg.peers[i];
}

/* ----------------------------------------------------------------- registry */

static void test_addresses_in_config_order(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(f->reg.n, 3);
	assert_int_equal(peer_at(f, 0)->addr4, A4(10, 77, 0, 2));
	assert_int_equal(peer_at(f, 1)->addr4, FIXED);
	assert_int_equal(peer_at(f, 2)->addr4, A4(10, 77, 0, 3));
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(peer_at(f, i)->name, f->conf.peers[i].name);
		assert_memory_equal(peer_at(f, i)->pub, f->conf.peers[i].pub, 32);
	}
	assert_int_equal(f->reg.gw_addr, GW);
}

static void test_by_addr(void **state)
{
	struct fixture *f = *state;
	registry_rdlock(&f->reg);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(registry_by_addr(&f->reg, peer_at(f, i)->addr4), peer_at(f, i));
	assert_null(registry_by_addr(&f->reg, GW));
	assert_null(registry_by_addr(&f->reg, A4(10, 77, 0, 4)));
	assert_null(registry_by_addr(&f->reg, A4(10, 77, 1, 2)));
	assert_null(registry_by_addr(&f->reg, 0));
	registry_unlock(&f->reg);
}

static void test_by_pubkey(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(registry_by_pubkey(&f->reg, f->conf.peers[i].pub), peer_at(f, i));
	uint8_t other[32];
	memcpy(other, f->conf.peers[0].pub, 32);
	other[31] ^= 1;
	assert_null(registry_by_pubkey(&f->reg, other));
}

static void test_in_pool(void **state)
{
	struct fixture *f = *state;
	assert_true(registry_in_pool(&f->reg, A4(10, 77, 0, 0)));
	assert_true(registry_in_pool(&f->reg, A4(10, 77, 0, 200)));
	assert_true(registry_in_pool(&f->reg, A4(10, 77, 0, 255)));
	assert_false(registry_in_pool(&f->reg, A4(10, 77, 1, 2)));
	assert_false(registry_in_pool(&f->reg, A4(198, 51, 100, 2)));
}

static void random_id(uint8_t id[WIRE_ID_LEN])
{
	do
		randombytes_buf(id, WIRE_ID_LEN);
	while (id[0] == 0); /* never the all-zero id */
}

static void test_set_id_then_by_id(void **state)
{
	struct fixture *f = *state;
	uint8_t id1[WIRE_ID_LEN], id2[WIRE_ID_LEN];
	static const uint8_t zero[WIRE_ID_LEN];
	random_id(id1);
	random_id(id2);
	struct peer *p = peer_at(f, 2);

	registry_rdlock(&f->reg);
	assert_null(registry_by_id(&f->reg, id1));
	assert_null(registry_by_id(&f->reg, zero));
	registry_unlock(&f->reg);

	registry_set_id(&f->reg, p, id1);
	registry_rdlock(&f->reg);
	assert_ptr_equal(registry_by_id(&f->reg, id1), p);
	assert_memory_equal(p->sess.client_id, id1, WIRE_ID_LEN);
	registry_unlock(&f->reg);

	registry_set_id(&f->reg, p, id2);
	registry_rdlock(&f->reg);
	assert_ptr_equal(registry_by_id(&f->reg, id2), p);
	assert_null(registry_by_id(&f->reg, id1));
	assert_null(registry_by_id(&f->reg, zero)); /* peers without a session */
	registry_unlock(&f->reg);
}

static void test_set_id_wipes_session_keys(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_at(f, 0);
	uint8_t id[WIRE_ID_LEN], k[32] = { 9 };
	random_id(id);
	registry_set_id(&f->reg, p, id);
	session_install(&p->sess, k, k, AEAD_CHACHA20_POLY1305, 1, true, SEC_NS);
	assert_true(session_has_keys(&p->sess));
	random_id(id);
	registry_set_id(&f->reg, p, id);
	assert_false(session_has_keys(&p->sess));
}

/* Sets n random ids on rotating peers, checking after each that every
 * peer's current id finds it and the one it replaced does not. */
static void churn_ids(struct registry *r, size_t n, bool same_hash)
{
	uint8_t (*cur)[WIRE_ID_LEN] = calloc(r->n, WIRE_ID_LEN);
	bool *has = calloc(r->n, sizeof(bool));
	assert_non_null(cur);
	assert_non_null(has);
	for (size_t k = 0; k < n; k++) {
		size_t i = (k * 7 + k / 5) % r->n;
		uint8_t id[WIRE_ID_LEN], old[WIRE_ID_LEN];
		random_id(id);
		if (same_hash)
			memset(id, 0xab, 8); /* every id probes from the same slot */
		memcpy(old, cur[i], WIRE_ID_LEN);
		registry_set_id(r, r->peers[i], id);
		memcpy(cur[i], id, WIRE_ID_LEN);
		bool had = has[i];
		has[i] = true;

		registry_rdlock(r);
		for (size_t j = 0; j < r->n; j++) {
			if (!has[j])
				continue;
			struct peer *got = registry_by_id(r, cur[j]);
			if (got != r->peers[j])
				fail_msg("after %zu set_id calls peer %zu is not found by its id", k + 1, j);
		}
		if (had)
			assert_null(registry_by_id(r, old));
		registry_unlock(r);
	}
	free(cur);
	free(has);
}

static void test_many_set_id_calls(void **state)
{
	struct fixture *f = *state;
	churn_ids(&f->reg, 1000, false);
}

static void test_many_set_id_calls_colliding(void **state)
{
	struct fixture *f = *state;
	churn_ids(&f->reg, 1000, true);
}

static void test_many_set_id_calls_many_peers(void **state)
{
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 100);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	churn_ids(&f->reg, 1000, false);
	churn_ids(&f->reg, 300, true);
}

static void endpoint4(struct endpoint *ep, uint32_t addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in4.sin_family = AF_INET;
	ep->in4.sin_addr.s_addr = htonl(addr);
	ep->in4.sin_port = htons(port);
}

static void test_endpoint_freshness(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_at(f, 0);
	struct endpoint ep, out;
	const uint64_t t = 500 * SEC_NS;

	const uint64_t fresh = endpoint_fresh_ns(10);
	assert_int_equal(fresh, ENDPOINT_FRESH_NS);
	assert_false(peer_fresh_endpoint(p, t, fresh, &out)); /* never seen */
	endpoint4(&ep, A4(192, 0, 2, 10), 40000);
	peer_set_endpoint(p, &ep, t);
	memset(&out, 0, sizeof(out));
	assert_true(peer_fresh_endpoint(p, t, fresh, &out));
	assert_int_equal(out.in4.sin_family, AF_INET);
	assert_int_equal(out.in4.sin_addr.s_addr, htonl(A4(192, 0, 2, 10)));
	assert_int_equal(out.in4.sin_port, htons(40000));
	assert_true(peer_fresh_endpoint(p, t + ENDPOINT_FRESH_NS - 1, fresh, &out));
	assert_false(peer_fresh_endpoint(p, t + ENDPOINT_FRESH_NS, fresh, &out));
	assert_false(peer_fresh_endpoint(p, t + 3600 * SEC_NS, fresh, &out));
	/* a gateway whose clients keep alive every 40 s: 85 s, past one lost keepalive */
	assert_int_equal(endpoint_fresh_ns(40), 85 * SEC_NS);
	assert_true(peer_fresh_endpoint(p, t + 84 * SEC_NS, endpoint_fresh_ns(40), &out));
	assert_false(peer_fresh_endpoint(p, t + 85 * SEC_NS, endpoint_fresh_ns(40), &out));
	assert_int_equal(endpoint_fresh_ns(3600), 7205 * SEC_NS);

	/* a new sighting (roaming) refreshes it and changes the address */
	endpoint4(&ep, A4(192, 0, 2, 77), 40001);
	peer_set_endpoint(p, &ep, t + 100 * SEC_NS);
	assert_true(peer_fresh_endpoint(p, t + 159 * SEC_NS, fresh, &out));
	assert_int_equal(out.in4.sin_addr.s_addr, htonl(A4(192, 0, 2, 77)));
	assert_int_equal(out.in4.sin_port, htons(40001));
	/* other peers are unaffected */
	assert_false(peer_fresh_endpoint(peer_at(f, 1), t + SEC_NS, fresh, &out));
}

static void test_fixed_address_skipped_by_earlier_clients(void **state)
{
	/* A client later in the config holds .2: the pool hands out .3, .4. */
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 3);
	f->conf.peers[2].addr4 = A4(10, 77, 0, 2);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(peer_at(f, 0)->addr4, A4(10, 77, 0, 3));
	assert_int_equal(peer_at(f, 1)->addr4, A4(10, 77, 0, 4));
	assert_int_equal(peer_at(f, 2)->addr4, A4(10, 77, 0, 2));
}

static void test_gateway_not_first(void **state)
{
	/* Gateway 10.77.0.3/29: clients get .1 .2 .4 .5 .6, never .0, .3 or .7. */
	struct fixture *f = *state;
	conf_build(&f->conf, A4(10, 77, 0, 3), 29, 5);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	const uint8_t want[] = { 1, 2, 4, 5, 6 };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(peer_at(f, i)->addr4, A4(10, 77, 0, want[i]));
}

static void test_pool_exactly_full(void **state)
{
	struct fixture *f = *state;
	/* /29: 6 hosts, one the gateway: 5 clients fit */
	conf_build(&f->conf, A4(10, 77, 0, 1), 29, 5);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(peer_at(f, 4)->addr4, A4(10, 77, 0, 6));
}

static void test_pool_too_small_fails(void **state)
{
	struct fixture *f = *state;
	/* /30: hosts .1 (the gateway) and .2; three clients do not fit */
	conf_build(&f->conf, A4(10, 77, 0, 1), 30, 3);
	f->err[0] = '\0';
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), -1);
	assert_true(strlen(f->err) > 0);
	assert_non_null(strstr(f->err, "10.77.0.0/30"));
	assert_non_null(strstr(f->err, "client2")); /* the first one left without */
}

static void test_pool_one_too_many_fails(void **state)
{
	struct fixture *f = *state;
	conf_build(&f->conf, A4(10, 77, 0, 1), 29, 6);
	f->err[0] = '\0';
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "client6"));
}

static void test_remembered_addresses_kept(void **state)
{
	/* c1 had .4 and c3 .2 before: they keep them, c2 gets the first free */
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 3);
	f->conf.peers[0].remembered4 = A4(10, 77, 0, 4);
	f->conf.peers[2].remembered4 = A4(10, 77, 0, 2);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(peer_at(f, 0)->addr4, A4(10, 77, 0, 4));
	assert_int_equal(peer_at(f, 1)->addr4, A4(10, 77, 0, 3));
	assert_int_equal(peer_at(f, 2)->addr4, A4(10, 77, 0, 2));
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(registry_by_addr(&f->reg, peer_at(f, i)->addr4), peer_at(f, i));
}

static void test_remembered_addresses_yield(void **state)
{
	/* A fixed address beats a remembered one; so does an earlier claim;
	 * an address outside the pool, the gateway's or the broadcast is
	 * ignored. The losers get pool addresses as usual. */
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 24, 6);
	f->conf.peers[0].remembered4 = FIXED;            /* now client2's fixed address */
	f->conf.peers[1].addr4 = FIXED;
	f->conf.peers[2].remembered4 = A4(10, 77, 0, 9);
	f->conf.peers[3].remembered4 = A4(10, 77, 0, 9); /* a duplicate: the first keeps it */
	f->conf.peers[4].remembered4 = A4(10, 78, 0, 5); /* another pool */
	f->conf.peers[5].remembered4 = GW;
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(peer_at(f, 0)->addr4, A4(10, 77, 0, 2));
	assert_int_equal(peer_at(f, 1)->addr4, FIXED);
	assert_int_equal(peer_at(f, 2)->addr4, A4(10, 77, 0, 9));
	assert_int_equal(peer_at(f, 3)->addr4, A4(10, 77, 0, 3));
	assert_int_equal(peer_at(f, 4)->addr4, A4(10, 77, 0, 4));
	assert_int_equal(peer_at(f, 5)->addr4, A4(10, 77, 0, 5));
}

static void test_remembered_broadcast_ignored(void **state)
{
	struct fixture *f = *state;
	conf_build(&f->conf, A4(10, 77, 0, 1), 29, 2);
	f->conf.peers[0].remembered4 = A4(10, 77, 0, 7); /* the /29's broadcast */
	f->conf.peers[1].remembered4 = A4(10, 77, 0, 0); /* its network */
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(peer_at(f, 0)->addr4, A4(10, 77, 0, 2));
	assert_int_equal(peer_at(f, 1)->addr4, A4(10, 77, 0, 3));
}

/* ------------------------------------------------------------ live changes */

static void test_live_add(void **state)
{
	/* setup_std: client1 .2, client2 fixed .50, client3 .3 */
	struct fixture *f = *state;
	uint8_t k[32], k2[32];
	randombytes_buf(k, 32);
	randombytes_buf(k2, 32);
	struct peer *before = peer_at(f, 0);
	assert_int_equal(registry_add(&f->reg, "new", k, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->reg.n, 4);
	struct peer *p = registry_by_pubkey(&f->reg, k);
	assert_non_null(p);
	assert_string_equal(p->name, "new");
	assert_int_equal(p->addr4, A4(10, 77, 0, 4)); /* the first free */
	assert_ptr_equal(registry_by_addr(&f->reg, p->addr4), p);
	assert_ptr_equal(peer_at(f, 0), before); /* others do not move */
	assert_ptr_equal(registry_by_addr(&f->reg, FIXED), peer_at(f, 1));

	assert_int_equal(registry_add(&f->reg, "fixed", k2, A4(10, 77, 0, 99), f->err, sizeof(f->err)), 0);
	assert_int_equal(registry_by_pubkey(&f->reg, k2)->addr4, A4(10, 77, 0, 99));

	/* refused, and nothing changed */
	randombytes_buf(k2, 32);
	assert_int_equal(registry_add(&f->reg, "dup", k, 0, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "client new already has this public key");
	assert_int_equal(registry_add(&f->reg, "x", k2, FIXED, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "address 10.77.0.50 belongs to client client2");
	assert_int_equal(registry_add(&f->reg, "x", k2, GW, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "address 10.77.0.1 is not a client address of the pool");
	assert_int_equal(registry_add(&f->reg, "x", k2, A4(10, 77, 0, 255), f->err, sizeof(f->err)), -1);
	assert_int_equal(registry_add(&f->reg, "x", k2, A4(10, 78, 0, 5), f->err, sizeof(f->err)), -1);
	assert_int_equal(f->reg.n, 5);
	assert_null(registry_by_pubkey(&f->reg, k2));
}

static void test_live_add_many_grows_tables(void **state)
{
	struct fixture *f = *state;
	conf_build(&f->conf, GW, 16, 1);
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 1, f->err, sizeof(f->err)), 0);
	uint8_t k[300][32];
	for (int i = 0; i < 300; i++) {
		randombytes_buf(k[i], 32);
		assert_int_equal(registry_add(&f->reg, "c", k[i], 0, f->err, sizeof(f->err)), 0);
	}
	assert_int_equal(f->reg.n, 301);
	for (int i = 0; i < 300; i++) {
		struct peer *p = registry_by_pubkey(&f->reg, k[i]);
		assert_non_null(p);
		assert_ptr_equal(registry_by_addr(&f->reg, p->addr4), p);
	}
}

static void test_live_add_pool_full(void **state)
{
	struct fixture *f = *state;
	conf_build(&f->conf, A4(10, 77, 0, 1), 30, 1); /* .2 is the only client address */
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 1, f->err, sizeof(f->err)), 0);
	uint8_t k[32];
	randombytes_buf(k, 32);
	assert_int_equal(registry_add(&f->reg, "x", k, 0, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "the pool has no address left");
	assert_int_equal(f->reg.n, 1);
}

static void test_live_remove(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_at(f, 0), *other = peer_at(f, 2);
	uint8_t id[WIRE_ID_LEN], id2[WIRE_ID_LEN], pub[32];
	randombytes_buf(id, sizeof(id));
	randombytes_buf(id2, sizeof(id2));
	assert_true(registry_set_id(&f->reg, p, id));
	assert_true(registry_set_id(&f->reg, other, id2));
	memcpy(pub, p->pub, 32);
	uint32_t addr = p->addr4;
	unsigned gen = p->gen;
	assert_true(registry_unchanged(&f->reg, other, other->gen));

	assert_int_equal(registry_remove(&f->reg, pub, f->err, sizeof(f->err)), 0);
	assert_false(registry_unchanged(&f->reg, p, gen));
	assert_true(registry_unchanged(&f->reg, other, other->gen));
	assert_int_equal(f->reg.n, 2);
	assert_null(registry_by_pubkey(&f->reg, pub));
	assert_null(registry_by_id(&f->reg, id));
	assert_null(registry_by_addr(&f->reg, addr));
	assert_true(p->removed);
	assert_false(session_has_keys(&p->sess));
	/* its memory stays for whoever still points at it; a handshake that
	 * raced the removal cannot bring it back */
	assert_false(registry_set_id(&f->reg, p, id));
	assert_null(registry_by_id(&f->reg, id));
	/* the others are untouched */
	assert_ptr_equal(registry_by_id(&f->reg, id2), other);
	assert_non_null(registry_by_addr(&f->reg, FIXED));
	assert_string_equal(registry_by_addr(&f->reg, FIXED)->name, "client2");

	assert_int_equal(registry_remove(&f->reg, pub, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "no client has this public key");
	/* the same key may come back, as a new client with the freed address */
	assert_int_equal(registry_add(&f->reg, "again", pub, 0, f->err, sizeof(f->err)), 0);
	struct peer *q = registry_by_pubkey(&f->reg, pub);
	assert_ptr_not_equal(q, p);
	assert_int_equal(q->addr4, addr);
}

static void test_live_readdress_and_rename(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_at(f, 0);
	uint8_t id[WIRE_ID_LEN];
	randombytes_buf(id, sizeof(id));
	assert_true(registry_set_id(&f->reg, p, id));
	uint32_t old = p->addr4;
	unsigned gen = p->gen; /* as a handshake reads it, with the address */
	assert_true(registry_unchanged(&f->reg, p, gen));

	assert_int_equal(registry_readdress(&f->reg, p->pub, A4(10, 77, 0, 77), f->err, sizeof(f->err)), 0);
	assert_false(registry_unchanged(&f->reg, p, gen)); /* its answer would carry the old address */
	assert_int_equal(p->addr4, A4(10, 77, 0, 77));
	assert_ptr_equal(registry_by_addr(&f->reg, A4(10, 77, 0, 77)), p);
	assert_null(registry_by_addr(&f->reg, old));
	assert_null(registry_by_id(&f->reg, id)); /* its session ended */

	assert_int_equal(registry_readdress(&f->reg, p->pub, FIXED, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "address 10.77.0.50 belongs to client client2");
	assert_int_equal(p->addr4, A4(10, 77, 0, 77));
	/* pool: the first free one (.2, freed above) */
	assert_int_equal(registry_readdress(&f->reg, p->pub, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(p->addr4, A4(10, 77, 0, 2));

	assert_int_equal(registry_rename(&f->reg, p->pub, "renamed", f->err, sizeof(f->err)), 0);
	assert_string_equal(p->name, "renamed");
	uint8_t k[32];
	randombytes_buf(k, 32);
	assert_int_equal(registry_rename(&f->reg, k, "x", f->err, sizeof(f->err)), -1);
	assert_int_equal(registry_readdress(&f->reg, k, 0, f->err, sizeof(f->err)), -1);
}

static void test_queues_use_pool(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_at(f, 0);
	struct pkt *pk[20];
	size_t avail = pool_available(f->pool);
	assert_int_equal(pool_get(f->pool, pk, 20), 20);
	for (int i = 0; i < 20; i++)
		pk[i]->len = 100;
	fq_push(&p->q, pk, 20, now_ns()); /* queue of 16: 4 head-dropped back to the pool */
	assert_int_equal(fq_len(&p->q), 16);
	assert_int_equal(pool_available(f->pool), avail - 16);
	assert_int_equal(fq_pop(&p->q, pk, 20, SIZE_MAX, now_ns()), 16);
	pool_put(f->pool, pk, 16);
	assert_int_equal(pool_available(f->pool), avail);
}

/* ------------------------------------------------------------------- router */

/* A minimal IPv4 header (20 bytes) + 8 bytes of payload. */
static size_t ip4(uint8_t *b, uint32_t src, uint32_t dst)
{
	memset(b, 0, 28);
	b[0] = 0x45;
	b[2] = 0;
	b[3] = 28;
	b[8] = 64;
	b[9] = 17;
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		b[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	return 28;
}

static enum route from_client(struct fixture *f, size_t from, const uint8_t *b, size_t len, struct peer **to)
{
	*to = (struct peer *)(uintptr_t)1; /* must be overwritten */
	registry_rdlock(&f->reg);
	enum route r = route_from_client(&f->reg, peer_at(f, from), b, len, to);
	registry_unlock(&f->reg);
	return r;
}

static void test_route_client_to_internet(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	size_t n = ip4(b, peer_at(f, 0)->addr4, A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_TUN);
	assert_null(to);
	/* a longer buffer than the IP total length is fine */
	assert_int_equal(from_client(f, 0, b, n + 10, &to), ROUTE_TUN);
}

static void test_route_client_to_client(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	size_t n = ip4(b, peer_at(f, 0)->addr4, FIXED);
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_PEER);
	assert_ptr_equal(to, peer_at(f, 1));
	n = ip4(b, FIXED, A4(10, 77, 0, 3));
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_PEER);
	assert_ptr_equal(to, peer_at(f, 2));
}

static void test_route_client_to_unassigned(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	size_t n = ip4(b, peer_at(f, 0)->addr4, A4(10, 77, 0, 99));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_NO_PEER);
	assert_null(to);
}

static void test_route_client_to_gateway(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	size_t n = ip4(b, peer_at(f, 2)->addr4, GW);
	assert_int_equal(from_client(f, 2, b, n, &to), ROUTE_TUN);
	assert_null(to);
	/* the pool's broadcast goes to the gateway too */
	n = ip4(b, peer_at(f, 2)->addr4, A4(10, 77, 0, 255));
	assert_int_equal(from_client(f, 2, b, n, &to), ROUTE_TUN);
}

static void test_route_spoofed(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	/* another client's address */
	size_t n = ip4(b, FIXED, A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_SPOOFED);
	assert_null(to);
	/* the gateway's, an outside one, an unassigned pool one */
	n = ip4(b, GW, A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_SPOOFED);
	n = ip4(b, A4(192, 168, 1, 1), A4(10, 77, 0, 3));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_SPOOFED);
	n = ip4(b, A4(10, 77, 0, 99), A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_SPOOFED);
}

static void test_route_malformed(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	const uint32_t src = peer_at(f, 0)->addr4, dst = A4(198, 51, 100, 2);
	size_t n = ip4(b, src, dst);

	/* truncated: shorter than a header, and shorter than the total length */
	for (size_t len = 0; len < 20; len++)
		assert_int_equal(from_client(f, 0, b, len, &to), ROUTE_MALFORMED);
	assert_int_equal(from_client(f, 0, b, n - 1, &to), ROUTE_MALFORMED);
	assert_null(to);

	/* IPv6 */
	uint8_t v6[48] = { 0x60 };
	assert_int_equal(from_client(f, 0, v6, sizeof(v6), &to), ROUTE_MALFORMED);
	/* other versions */
	b[0] = 0x55;
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);

	/* bad IHL: below 5 words, or beyond the total length */
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		ip4(b, src, dst);
		b[0] = (uint8_t)(0x40 | ihl);
		assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	}
	ip4(b, src, dst);
	b[0] = 0x48; /* 32-byte header in a 28-byte packet */
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	ip4(b, src, dst);
	b[0] = 0x46; /* 24-byte header: fine */
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_TUN);

	/* total length larger than what arrived */
	ip4(b, src, dst);
	b[2] = 0x01; /* 284 */
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	ip4(b, src, dst);
	b[3] = 29;
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	/* total length below the header */
	ip4(b, src, dst);
	b[3] = 19;
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
}

static void test_route_from_tun(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to = NULL;
	size_t n;
	for (size_t i = 0; i < 3; i++) {
		n = ip4(b, A4(198, 51, 100, 2), peer_at(f, i)->addr4);
		registry_rdlock(&f->reg);
		assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_PEER);
		registry_unlock(&f->reg);
		assert_ptr_equal(to, peer_at(f, i));
	}
	const uint32_t elsewhere[] = { A4(10, 77, 0, 99), GW, A4(198, 51, 100, 3), A4(10, 77, 1, 2) };
	for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
		n = ip4(b, A4(198, 51, 100, 2), elsewhere[i]);
		to = peer_at(f, 0);
		registry_rdlock(&f->reg);
		assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_NO_PEER);
		registry_unlock(&f->reg);
		assert_null(to);
	}
	n = ip4(b, A4(198, 51, 100, 2), FIXED);
	registry_rdlock(&f->reg);
	assert_int_equal(route_from_tun(&f->reg, b, n - 1, &to), ROUTE_MALFORMED);
	registry_unlock(&f->reg);
}

static void test_ip4_addrs(void **state)
{
	(void)state;
	uint8_t b[64];
	uint32_t s = 0, d = 0;
	size_t n = ip4(b, A4(1, 2, 3, 4), A4(250, 251, 252, 253));
	assert_true(ip4_addrs(b, n, &s, &d));
	assert_int_equal(s, A4(1, 2, 3, 4));
	assert_int_equal(d, A4(250, 251, 252, 253));
}

/* --------------------------------------------------------------------- IPv6 */

static void a6(uint8_t out[16], const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* A minimal IPv6 header (40 bytes) + 8 bytes of UDP. */
static size_t ip6(uint8_t *b, const char *src, const char *dst)
{
	memset(b, 0, 48);
	b[0] = 0x60;
	b[5] = 8;
	b[6] = 17;
	b[7] = 64;
	a6(b + 8, src);
	a6(b + 24, dst);
	return 48;
}

static void test_v6_addresses_follow_v4(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16], want[16];
	/* the IPv4 host number in the IPv6 pool: .2 -> ::2, .50 -> ::32 */
	assert_true(registry_addr6(&f->reg, peer_at(f, 0), got));
	a6(want, "fd77::2");
	assert_memory_equal(got, want, 16);
	assert_true(registry_addr6(&f->reg, peer_at(f, 1), got));
	a6(want, "fd77::32");
	assert_memory_equal(got, want, 16);
	/* and back */
	for (size_t i = 0; i < 3; i++) {
		assert_true(registry_addr6(&f->reg, peer_at(f, i), got));
		assert_ptr_equal(registry_by_addr6(&f->reg, got), peer_at(f, i));
	}
	const char *nobody[] = { "fd77::1", "fd77::", "fd77::63", "fd77::1:2", "fd77:0:0:1::2", "fd78::2",
				 "fd77::ff", "fd77::102", "::2", "fe80::2" };
	for (size_t i = 0; i < sizeof(nobody) / sizeof(nobody[0]); i++) {
		a6(got, nobody[i]);
		if (registry_by_addr6(&f->reg, got))
			fail_msg("%s found a client", nobody[i]);
	}
	a6(got, "fd77::ffff:ffff:ffff");
	assert_true(registry_in_pool6(&f->reg, got));
	a6(got, "fd77:0:0:1::");
	assert_false(registry_in_pool6(&f->reg, got));
}

static void test_v6_follows_readdress(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16], want[16];
	char err[128];
	assert_int_equal(registry_readdress(&f->reg, peer_at(f, 0)->pub, A4(10, 77, 0, 77), err, sizeof(err)), 0);
	assert_true(registry_addr6(&f->reg, peer_at(f, 0), got));
	a6(want, "fd77::4d");
	assert_memory_equal(got, want, 16);
	assert_ptr_equal(registry_by_addr6(&f->reg, want), peer_at(f, 0));
	a6(want, "fd77::2");
	assert_null(registry_by_addr6(&f->reg, want));
}

static void test_v6_long_prefix(void **state)
{
	struct fixture *f = *state;
	/* a /120 IPv6 pool beside a /24: prefix bits inside the last 32 */
	conf_build(&f->conf, GW, 24, 2);
	f->conf.has6 = true;
	a6(f->conf.addr6, "2001:db8::ab01");
	f->conf.prefix6 = 120;
	assert_int_equal(registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)), 0);
	uint8_t got[16], want[16];
	assert_true(registry_addr6(&f->reg, peer_at(f, 1), got));
	a6(want, "2001:db8::ab03");
	assert_memory_equal(got, want, 16);
	assert_ptr_equal(registry_by_addr6(&f->reg, want), peer_at(f, 1));
	a6(want, "2001:db8::ac03");
	assert_null(registry_by_addr6(&f->reg, want));
}

static void test_v6_none_without_pool(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16], b[64];
	struct peer *to;
	assert_false(registry_addr6(&f->reg, peer_at(f, 0), got));
	a6(got, "fd77::2");
	assert_null(registry_by_addr6(&f->reg, got));
	/* without an IPv6 pool IPv6 stays malformed, both ways */
	size_t n = ip6(b, "fd77::2", "2001:db8::1");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	registry_rdlock(&f->reg);
	assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_MALFORMED);
	registry_unlock(&f->reg);
}

static void test_v6_route_from_client(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	/* out to the internet, to the gateway, to another client */
	size_t n = ip6(b, "fd77::2", "2001:db8::1");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_TUN);
	assert_null(to);
	n = ip6(b, "fd77::2", "fd77::1");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_TUN);
	n = ip6(b, "fd77::2", "fd77::32");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_PEER);
	assert_ptr_equal(to, peer_at(f, 1));
	n = ip6(b, "fd77::32", "fd77::3");
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_PEER);
	assert_ptr_equal(to, peer_at(f, 2));
	/* a pool address nobody holds */
	n = ip6(b, "fd77::2", "fd77::63");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_NO_PEER);
	assert_null(to);
	/* spoofed: another client's, the gateway's, an outside source */
	const char *spoof[] = { "fd77::32", "fd77::1", "2001:db8::9", "fd77::63" };
	for (size_t i = 0; i < sizeof(spoof) / sizeof(spoof[0]); i++) {
		n = ip6(b, spoof[i], "2001:db8::1");
		assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_SPOOFED);
		assert_null(to);
	}
	/* the client kernel's link chatter: never forwarded, not "spoofed" */
	n = ip6(b, "fe80::1234", "ff02::2");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_LINK_SCOPE);
	n = ip6(b, "::", "ff02::16");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_LINK_SCOPE);
	n = ip6(b, "fd77::2", "ff05::1");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_LINK_SCOPE);
	n = ip6(b, "fd77::2", "fe80::1");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_LINK_SCOPE);
	/* malformed: short, payload length beyond the packet, jumbogram */
	n = ip6(b, "fd77::2", "2001:db8::1");
	for (size_t len = 1; len < 40; len++)
		assert_int_equal(from_client(f, 0, b, len, &to), ROUTE_MALFORMED);
	assert_int_equal(from_client(f, 0, b, n - 1, &to), ROUTE_MALFORMED);
	assert_int_equal(from_client(f, 0, b, n + 5, &to), ROUTE_TUN); /* longer buffer: fine */
	b[5] = 0;
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_MALFORMED);
	/* IPv4 still works beside it */
	n = ip4(b, peer_at(f, 0)->addr4, A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_TUN);
}

static void test_v6_route_from_tun(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64], dst[16];
	struct peer *to;
	char s[INET6_ADDRSTRLEN];
	for (size_t i = 0; i < 3; i++) {
		assert_true(registry_addr6(&f->reg, peer_at(f, i), dst));
		inet_ntop(AF_INET6, dst, s, sizeof(s));
		size_t n = ip6(b, "2001:db8::1", s);
		registry_rdlock(&f->reg);
		assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_PEER);
		registry_unlock(&f->reg);
		assert_ptr_equal(to, peer_at(f, i));
	}
	const char *elsewhere[] = { "fd77::63", "fd77::1", "2001:db8::2", "ff02::1" };
	for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
		size_t n = ip6(b, "2001:db8::1", elsewhere[i]);
		registry_rdlock(&f->reg);
		assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_NO_PEER);
		registry_unlock(&f->reg);
		assert_null(to);
	}
	size_t n = ip6(b, "2001:db8::1", "fd77::2");
	registry_rdlock(&f->reg);
	assert_int_equal(route_from_tun(&f->reg, b, n - 1, &to), ROUTE_MALFORMED);
	registry_unlock(&f->reg);
}

/* A client whose handshake took the IPv4 form (it did not ask for IPv6,
 * an older one) has no IPv6 address in the tunnel though the pool would
 * give it one: IPv6 neither reaches it nor comes from it. */
static void test_v6_only_to_clients_that_took_it(void **state)
{
	struct fixture *f = *state;
	uint8_t b[64];
	struct peer *to;
	atomic_store(&peer_at(f, 1)->v6, false); /* fd77::32 */
	size_t n = ip6(b, "2001:db8::1", "fd77::32");
	registry_rdlock(&f->reg);
	assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_NO_PEER);
	registry_unlock(&f->reg);
	assert_null(to);
	n = ip6(b, "fd77::2", "fd77::32");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_NO_PEER);
	assert_null(to);
	/* its own derived address is no source of its */
	n = ip6(b, "fd77::32", "2001:db8::1");
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_SPOOFED);
	n = ip6(b, "fd77::32", "fd77::2");
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_SPOOFED);
	/* its kernel's link chatter stays what it is */
	n = ip6(b, "fe80::1234", "ff02::2");
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_LINK_SCOPE);
	/* IPv4 as ever, and the others' IPv6 too */
	n = ip4(b, peer_at(f, 1)->addr4, A4(198, 51, 100, 2));
	assert_int_equal(from_client(f, 1, b, n, &to), ROUTE_TUN);
	n = ip6(b, "fd77::2", "fd77::3");
	assert_int_equal(from_client(f, 0, b, n, &to), ROUTE_PEER);
	assert_ptr_equal(to, peer_at(f, 2));
	/* and once it takes the IPv6 form, it has it */
	atomic_store(&peer_at(f, 1)->v6, true);
	n = ip6(b, "2001:db8::1", "fd77::32");
	registry_rdlock(&f->reg);
	assert_int_equal(route_from_tun(&f->reg, b, n, &to), ROUTE_PEER);
	registry_unlock(&f->reg);
	assert_ptr_equal(to, peer_at(f, 1));
}

#define STD(fn) cmocka_unit_test_setup_teardown(fn, setup_std, teardown)
#define V6(fn) cmocka_unit_test_setup_teardown(fn, setup_v6, teardown)
#define OWN(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		STD(test_addresses_in_config_order),
		STD(test_by_addr),
		STD(test_by_pubkey),
		STD(test_in_pool),
		STD(test_set_id_then_by_id),
		STD(test_set_id_wipes_session_keys),
		STD(test_many_set_id_calls),
		STD(test_many_set_id_calls_colliding),
		OWN(test_many_set_id_calls_many_peers),
		STD(test_endpoint_freshness),
		OWN(test_fixed_address_skipped_by_earlier_clients),
		OWN(test_gateway_not_first),
		OWN(test_pool_exactly_full),
		cmocka_unit_test_setup_teardown(test_pool_too_small_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_one_too_many_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remembered_addresses_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_add, setup_std, teardown),
		cmocka_unit_test_setup_teardown(test_live_add_many_grows_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_add_pool_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_remove, setup_std, teardown),
		cmocka_unit_test_setup_teardown(test_live_readdress_and_rename, setup_std, teardown),
		cmocka_unit_test_setup_teardown(test_remembered_addresses_yield, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remembered_broadcast_ignored, setup, teardown),
		STD(test_queues_use_pool),
		STD(test_route_client_to_internet),
		STD(test_route_client_to_client),
		STD(test_route_client_to_unassigned),
		STD(test_route_client_to_gateway),
		STD(test_route_spoofed),
		STD(test_route_malformed),
		STD(test_route_from_tun),
		cmocka_unit_test(test_ip4_addrs),
		V6(test_v6_addresses_follow_v4),
		V6(test_v6_follows_readdress),
		OWN(test_v6_long_prefix),
		STD(test_v6_none_without_pool),
		V6(test_v6_route_from_client),
		V6(test_v6_route_from_tun),
		V6(test_v6_only_to_clients_that_took_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
