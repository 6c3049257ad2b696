/* fixture.h - the fixed keys, sessions, handshake state and registry that
 * the fuzz targets and gen_corpus.c share, so that the seeds the generator
 * writes authenticate inside the targets. Everything is deterministic (no
 * random ephemerals, no clock), so regenerating the seeds reproduces the
 * checked-in files byte for byte.
 *
 * The gateway's client "alice" (10.77.0.2) holds a session under ID_A with
 * all three keypair slots filled, at FX_NOW_NS:
 *   prev  epoch 0xfe  created now-20 s, retired now-10 s (in its grace)
 *   cur   epoch 0xff  created now-10 s
 *   next  epoch 0x00  created now-5 s (responder side, not yet confirmed)
 * "bob" (10.77.0.3) holds ID_B with one keypair, epoch 7, created now-200 s:
 * expired. "carol" gets a pool address (10.77.0.4) and no session.
 * The data keys are fixed bytes, not handshake output: the data path does
 * not care where they came from. */
#ifndef VPNGW_FUZZ_FIXTURE_H
#define VPNGW_FUZZ_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "cookie.h"
#include "handshake.h"
#include "noise.h"
#include "pkt.h"
#include "registry.h"
#include "session.h"
#include "wire.h"

#define FX_A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define FX_NOW_NS (1000 * SEC_NS)
#define FX_GW FX_A4(10, 77, 0, 1)
#define FX_ALICE FX_A4(10, 77, 0, 2)
#define FX_BOB FX_A4(10, 77, 0, 3)
#define FX_MTU 1400
#define FX_PREV_EPOCH 0xfe
#define FX_CUR_EPOCH 0xff
#define FX_NEXT_EPOCH 0x00
#define FX_BOB_EPOCH 7

/* Abort with a message: a broken invariant is a finding, like a crash. */
#define FX_CHECK(cond)                                                                     \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* Fixed "random" bytes, distinct per tag. */
static inline void fx_bytes(uint8_t *out, size_t n, uint8_t tag)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(tag ^ (i * 37 + 11));
}

enum {
	FX_TAG_SRV = 0x10,     /* gateway static key */
	FX_TAG_ALICE = 0x20,   /* client statics */
	FX_TAG_BOB = 0x21,
	FX_TAG_CAROL = 0x22,
	FX_TAG_E_CLI = 0x30,   /* handshake ephemerals */
	FX_TAG_E_SRV = 0x31,
	FX_TAG_ID_A = 0x60,
	FX_TAG_ID_B = 0x61,
	FX_TAG_C2S = 0x40,     /* xor epoch: client -> gateway data key */
	FX_TAG_S2C = 0x80,     /* xor epoch: gateway -> client data key */
};

static inline void fx_priv(uint8_t priv[32], uint8_t tag)
{
	fx_bytes(priv, 32, tag);
}

static inline void fx_pub(uint8_t pub[32], uint8_t tag)
{
	uint8_t priv[32];
	fx_priv(priv, tag);
	FX_CHECK(noise_pubkey(pub, priv) == 0);
}

static inline void fx_id(uint8_t id[WIRE_ID_LEN], uint8_t tag)
{
	fx_bytes(id, WIRE_ID_LEN, tag);
}

/* The data keys of one epoch, from the client's side of view. */
static inline void fx_data_keys(uint8_t epoch, uint8_t c2s[32], uint8_t s2c[32])
{
	fx_bytes(c2s, 32, (uint8_t)(FX_TAG_C2S ^ epoch));
	fx_bytes(s2c, 32, (uint8_t)(FX_TAG_S2C ^ epoch));
}

/* Installs a keypair on the gateway side (send = s2c, recv = c2s). */
static inline void fx_install_gw(struct session *s, uint8_t epoch, bool confirmed, uint64_t at)
{
	uint8_t c2s[32], s2c[32];
	fx_data_keys(epoch, c2s, s2c);
	session_install(s, s2c, c2s, AEAD_CHACHA20_POLY1305, epoch, confirmed, at);
}

/* Installs a keypair on the client side (send = c2s, recv = s2c). */
static inline void fx_install_client(struct session *s, uint8_t epoch, uint64_t at)
{
	uint8_t c2s[32], s2c[32];
	fx_data_keys(epoch, c2s, s2c);
	session_install(s, c2s, s2c, AEAD_CHACHA20_POLY1305, epoch, true, at);
}

/* The gateway's view of alice's session, as described at the top. Called
 * before every input so that no state leaks from one input to the next. */
static inline void fx_alice_session(struct session *s)
{
	uint8_t id[WIRE_ID_LEN];
	fx_id(id, FX_TAG_ID_A);
	session_begin(s, id);
	fx_install_gw(s, FX_PREV_EPOCH, true, FX_NOW_NS - 20 * SEC_NS);
	fx_install_gw(s, FX_CUR_EPOCH, true, FX_NOW_NS - 10 * SEC_NS);
	fx_install_gw(s, FX_NEXT_EPOCH, false, FX_NOW_NS - 5 * SEC_NS);
}

static inline void fx_bob_session(struct session *s)
{
	uint8_t id[WIRE_ID_LEN];
	fx_id(id, FX_TAG_ID_B);
	session_begin(s, id);
	fx_install_gw(s, FX_BOB_EPOCH, true, FX_NOW_NS - 200 * SEC_NS);
}

/* The gateway's config: 10.77.0.1/24, alice and bob at fixed addresses,
 * carol from the pool. peers must hold 3 entries. */
static inline void fx_server_conf(struct server_conf *c, struct peer_conf peers[3])
{
	memset(c, 0, sizeof(*c));
	memset(peers, 0, 3 * sizeof(*peers));
	fx_priv(c->priv, FX_TAG_SRV);
	c->has_priv = true;
	c->port = 51820;
	c->addr4 = FX_GW;
	c->prefix4 = 24;
	c->mtu = FX_MTU;
	strcpy(c->ifname, "vpngw0");
	c->keepalive_s = 10;
	c->stats_interval_s = 5;
	static const char *names[3] = { "alice", "bob", "carol" };
	static const uint8_t tags[3] = { FX_TAG_ALICE, FX_TAG_BOB, FX_TAG_CAROL };
	for (int i = 0; i < 3; i++) {
		snprintf(peers[i].name, sizeof(peers[i].name), "%s", names[i]);
		fx_pub(peers[i].pub, tags[i]);
		peers[i].has_pub = true;
	}
	peers[0].addr4 = FX_ALICE;
	peers[1].addr4 = FX_BOB;
	c->peers = peers;
	c->npeers = 3;
}

/* The gateway's registry with the sessions above. */
static inline void fx_registry(struct registry *r, struct pool **pool)
{
	static struct peer_conf peers[3];
	struct server_conf c;
	char err[256];
	uint8_t id[WIRE_ID_LEN];

	fx_server_conf(&c, peers);
	*pool = pool_new(8);
	FX_CHECK(*pool);
	if (registry_init(r, &c, *pool, 4, err, sizeof(err)) != 0) {
		fprintf(stderr, "fixture: registry_init: %s\n", err);
		abort();
	}
	FX_CHECK(r->n == 3 && r->peers[0]->addr4 == FX_ALICE && r->peers[1]->addr4 == FX_BOB);
	fx_id(id, FX_TAG_ID_A);
	registry_set_id(r, r->peers[0], id);
	fx_id(id, FX_TAG_ID_B);
	registry_set_id(r, r->peers[1], id);
	fx_alice_session(&r->peers[0]->sess);
	fx_bob_session(&r->peers[1]->sess);
}

/* The same clients with an IPv6 pool, fd77::1/64 (no sessions: only the
 * router is asked about it). */
static inline void fx_registry6(struct registry *r, struct pool *pool)
{
	static struct peer_conf peers[3];
	struct server_conf c;
	char err[256];
	static const uint8_t gw6[16] = { 0xfd, 0x77, [15] = 1 };

	fx_server_conf(&c, peers);
	c.has6 = true;
	memcpy(c.addr6, gw6, 16);
	c.prefix6 = 64;
	if (registry_init(r, &c, pool, 4, err, sizeof(err)) != 0) {
		fprintf(stderr, "fixture: registry_init (IPv6): %s\n", err);
		abort();
	}
	/* All but the last took the IPv6 form of HS_RESP; the last, IPv4
	 * only, must never be routed IPv6. */
	for (size_t i = 0; i + 1 < r->n; i++)
		atomic_store(&r->peers[i]->v6, true);
}

/* The client's HS_INIT: a fixed timestamp, prev_id zeros (new session) or
 * ID_A (rekey). Fills out[HS_INIT_DGRAM_LEN] and leaves hs pending. */
static inline void fx_client_init(struct noise_hs *hs, bool rekey, uint8_t out[HS_INIT_DGRAM_LEN])
{
	uint8_t cli_priv[32], srv_pub[32], e_priv[32];
	struct hs_init in;
	fx_priv(cli_priv, FX_TAG_ALICE);
	fx_pub(srv_pub, FX_TAG_SRV);
	fx_priv(e_priv, FX_TAG_E_CLI);
	/* TAI64N of 2025-01-01T00:00:00.5Z */
	static const uint8_t ts[HS_TIMESTAMP_LEN] = { 0x40, 0, 0, 0, 0x67, 0x74, 0x85, 0x8a,
						      0x1d, 0xcd, 0x65, 0x00 };
	memcpy(in.timestamp, ts, sizeof(ts));
	memset(in.prev_id, 0, sizeof(in.prev_id));
	if (rekey)
		fx_id(in.prev_id, FX_TAG_ID_A);
	FX_CHECK(hs_write_init(hs, cli_priv, srv_pub, &in, e_priv, out) == 0);
	struct cookie_keys k;
	cookie_keys_init(&k, srv_pub);
	cookie_stamp_init(out, &k, NULL);
}

/* The flood gate with fixed secret, nonce prefix and rate key, under load
 * at FX_NOW_NS (for a second), the cookie secret born at FX_NOW_NS. */
static inline void fx_gate_fixed(struct cookie_gate *g)
{
	fx_bytes(g->secret, sizeof(g->secret), 0x70);
	g->have_secret = true;
	g->have_prev = false;
	g->secret_born_ns = FX_NOW_NS;
	fx_bytes(g->nonce_prefix, sizeof(g->nonce_prefix), 0x71);
	g->nonce_ctr = 0;
	fx_bytes(g->rate_key, sizeof(g->rate_key), 0x72);
	g->load_until_ns = FX_NOW_NS + SEC_NS;
}

/* The gateway's answer to alice's new-session HS_INIT. */
static inline void fx_resp_params(struct hs_resp *r)
{
	memset(r, 0, sizeof(*r));
	fx_id(r->client_id, FX_TAG_ID_A);
	r->epoch = 0;
	r->prefix4 = 24;
	r->mtu = FX_MTU;
	r->addr4 = FX_ALICE;
	r->dns4 = FX_GW;
	r->keepalive_s = 10;
}

#endif
