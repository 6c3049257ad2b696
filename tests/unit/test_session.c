/* test_session.c - the handshake messages (handshake.h) and the data
 * sessions built from their keys (session.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "ecn.h"
#include "handshake.h"
#include "pkt.h"
#include "session.h"
#include "wire.h"

/* ---------------------------------------------------------------- handshake */

struct hs_run {
	uint8_t cli_priv[32], cli_pub[32], srv_priv[32], srv_pub[32];
	struct hs_init in, got_in;
	struct hs_resp resp, got_resp;
	struct noise_hs cli_hs, srv_hs;
	uint8_t init_dg[HS_INIT_DGRAM_LEN], resp_dg[HS_RESP_DGRAM_LEN];
	uint8_t cli_send[32], cli_recv[32], srv_send[32], srv_recv[32];
};

static void sample_resp(struct hs_resp *r)
{
	memset(r, 0, sizeof(*r));
	randombytes_buf(r->client_id, WIRE_ID_LEN);
	r->epoch = 0xa5;
	r->prefix4 = 24;
	r->mtu = 1400;
	r->addr4 = 0x0a4d0002;  /* 10.77.0.2 */
	r->dns4 = 0x0a4d0001;   /* 10.77.0.1 */
	r->keepalive_s = 0x1234;
	r->flags = HS_RESP_FLAG_CSUM_PARTIAL;
}

/* Client writes HS_INIT, server reads it and writes HS_RESP (client not
 * yet reading). */
static void hs_until_resp(struct hs_run *h)
{
	memset(h, 0, sizeof(*h));
	noise_genkey(h->cli_priv);
	noise_genkey(h->srv_priv);
	noise_pubkey(h->cli_pub, h->cli_priv);
	noise_pubkey(h->srv_pub, h->srv_priv);
	hs_timestamp(h->in.timestamp);
	randombytes_buf(h->in.prev_id, WIRE_ID_LEN);

	assert_int_equal(hs_write_init(&h->cli_hs, h->cli_priv, h->srv_pub, &h->in, NULL, h->init_dg), 0);
	assert_int_equal(hs_read_init(&h->srv_hs, h->srv_priv, h->init_dg, sizeof(h->init_dg), &h->got_in), 0);
	sample_resp(&h->resp);
	assert_int_equal(hs_write_resp(&h->srv_hs, &h->resp, NULL, h->resp_dg, h->srv_send, h->srv_recv), 0);
}

static void test_hs_init_roundtrip(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);
	assert_memory_equal(h->got_in.timestamp, h->in.timestamp, HS_TIMESTAMP_LEN);
	assert_memory_equal(h->got_in.prev_id, h->in.prev_id, WIRE_ID_LEN);

	/* The INIT datagram is a valid CONTROL message. */
	struct wire_hdr wh;
	assert_int_equal(wire_decode(&wh, h->init_dg, sizeof(h->init_dg)), WIRE_OK);
	assert_int_equal(wh.type, WIRE_CONTROL);
	assert_int_equal(wh.flags, 0);
	assert_int_equal(wh.payload_len, HS_INIT_DGRAM_LEN - WIRE_HDR_LEN);
	assert_memory_equal(wh.client_id, h->in.prev_id, WIRE_ID_LEN);
	assert_int_equal(hs_control_type(h->init_dg, sizeof(h->init_dg)), HS_INIT);
	free(h);
}

static void test_hs_server_learns_client_key(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	memset(h, 0, sizeof(*h));
	noise_genkey(h->cli_priv);
	noise_genkey(h->srv_priv);
	noise_pubkey(h->cli_pub, h->cli_priv);
	noise_pubkey(h->srv_pub, h->srv_priv);
	hs_timestamp(h->in.timestamp);
	assert_int_equal(hs_write_init(&h->cli_hs, h->cli_priv, h->srv_pub, &h->in, NULL, h->init_dg), 0);
	assert_int_equal(hs_read_init(&h->srv_hs, h->srv_priv, h->init_dg, sizeof(h->init_dg), &h->got_in), 0);
	assert_memory_equal(h->srv_hs.rs, h->cli_pub, 32);
	free(h);
}

static void test_hs_init_rejects(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);
	struct noise_hs hs;
	struct hs_init in;
	/* wrong length */
	assert_int_not_equal(hs_read_init(&hs, h->srv_priv, h->init_dg, sizeof(h->init_dg) - 1, &in), 0);
	/* wrong control type */
	uint8_t dg[HS_INIT_DGRAM_LEN];
	memcpy(dg, h->init_dg, sizeof(dg));
	dg[WIRE_HDR_LEN] = HS_RESP;
	assert_int_not_equal(hs_read_init(&hs, h->srv_priv, dg, sizeof(dg), &in), 0);
	/* another server key */
	uint8_t other[32];
	noise_genkey(other);
	assert_int_not_equal(hs_read_init(&hs, other, h->init_dg, sizeof(h->init_dg), &in), 0);
	/* a flipped bit in the Noise message */
	memcpy(dg, h->init_dg, sizeof(dg));
	dg[HS_INIT_MAC1_OFF - 20] ^= 0x10;
	assert_int_not_equal(hs_read_init(&hs, h->srv_priv, dg, sizeof(dg), &in), 0);
	/* mac1 and mac2 are the cookie gate's (cookie.c), not Noise's */
	memcpy(dg, h->init_dg, sizeof(dg));
	dg[HS_INIT_MAC1_OFF] ^= 0x10;
	dg[HS_INIT_MAC2_OFF] ^= 0x10;
	assert_int_equal(hs_read_init(&hs, h->srv_priv, dg, sizeof(dg), &in), 0);
	noise_wipe(&hs);
	free(h);
}

static void test_hs_resp_roundtrip_and_keys(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);

	struct wire_hdr wh;
	assert_int_equal(wire_decode(&wh, h->resp_dg, sizeof(h->resp_dg)), WIRE_OK);
	assert_int_equal(wh.type, WIRE_CONTROL);
	assert_memory_equal(wh.client_id, h->resp.client_id, WIRE_ID_LEN);
	assert_int_equal(hs_control_type(h->resp_dg, sizeof(h->resp_dg)), HS_RESP);

	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	assert_memory_equal(h->got_resp.client_id, h->resp.client_id, WIRE_ID_LEN);
	assert_int_equal(h->got_resp.epoch, h->resp.epoch);
	assert_int_equal(h->got_resp.prefix4, h->resp.prefix4);
	assert_int_equal(h->got_resp.mtu, h->resp.mtu);
	assert_int_equal(h->got_resp.addr4, h->resp.addr4);
	assert_int_equal(h->got_resp.dns4, h->resp.dns4);
	assert_int_equal(h->got_resp.keepalive_s, h->resp.keepalive_s);
	assert_int_equal(h->got_resp.flags, HS_RESP_FLAG_CSUM_PARTIAL);

	/* crosswise: what one sends with, the other receives with */
	assert_memory_equal(h->cli_send, h->srv_recv, 32);
	assert_memory_equal(h->cli_recv, h->srv_send, 32);
	assert_memory_not_equal(h->cli_send, h->cli_recv, 32);

	/* both handshake states are wiped */
	static const uint8_t zero[sizeof(struct noise_hs)];
	assert_memory_equal(&h->cli_hs, zero, sizeof(zero));
	assert_memory_equal(&h->srv_hs, zero, sizeof(zero));
	free(h);
}

static void test_hs_resp_extreme_values(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	memset(h, 0, sizeof(*h));
	noise_genkey(h->cli_priv);
	noise_genkey(h->srv_priv);
	noise_pubkey(h->srv_pub, h->srv_priv);
	assert_int_equal(hs_write_init(&h->cli_hs, h->cli_priv, h->srv_pub, &h->in, NULL, h->init_dg), 0);
	assert_int_equal(hs_read_init(&h->srv_hs, h->srv_priv, h->init_dg, sizeof(h->init_dg), &h->got_in), 0);
	struct hs_resp r = { .epoch = 0xff, .prefix4 = 30, .mtu = 0xffff, .addr4 = 0xfffffffe,
			     .dns4 = 0x80000001, .keepalive_s = 0xffff };
	memset(r.client_id, 0xff, WIRE_ID_LEN);
	assert_int_equal(hs_write_resp(&h->srv_hs, &r, NULL, h->resp_dg, h->srv_send, h->srv_recv), 0);
	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	assert_memory_equal(h->got_resp.client_id, r.client_id, WIRE_ID_LEN);
	assert_int_equal(h->got_resp.epoch, 0xff);
	assert_int_equal(h->got_resp.prefix4, 30);
	assert_int_equal(h->got_resp.mtu, 0xffff);
	assert_int_equal(h->got_resp.addr4, 0xfffffffe);
	assert_int_equal(h->got_resp.dns4, 0x80000001);
	assert_int_equal(h->got_resp.keepalive_s, 0xffff);
	free(h);
}

/* The IPv6 form: asked for by a flag in HS_INIT, 20 bytes longer. */
static void test_hs_resp_ipv6_form(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	uint8_t dg[HS_RESP_DGRAM_MAX];
	memset(h, 0, sizeof(*h));
	noise_genkey(h->cli_priv);
	noise_genkey(h->srv_priv);
	noise_pubkey(h->srv_pub, h->srv_priv);
	h->in.ciphers = 0x0006;
	h->in.flags = HS_INIT_FLAG_V6 | HS_INIT_FLAG_CSUM_PARTIAL;
	assert_int_equal(hs_write_init(&h->cli_hs, h->cli_priv, h->srv_pub, &h->in, NULL, h->init_dg), 0);
	assert_int_equal(hs_read_init(&h->srv_hs, h->srv_priv, h->init_dg, sizeof(h->init_dg), &h->got_in), 0);
	assert_int_equal(h->got_in.flags, HS_INIT_FLAG_V6 | HS_INIT_FLAG_CSUM_PARTIAL);
	assert_int_equal(h->got_in.ciphers, 0x0006);
	sample_resp(&h->resp);
	h->resp.has6 = true;
	h->resp.prefix6 = 64;
	for (int i = 0; i < 16; i++)
		h->resp.addr6[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(hs_resp_dgram_len(&h->resp), 133);
	assert_int_equal(hs_write_resp(&h->srv_hs, &h->resp, NULL, dg, h->srv_send, h->srv_recv), 0);
	assert_int_equal(dg[28] << 8 | dg[29], 101); /* payloadLen */
	/* the short length does not read it */
	struct noise_hs keep = h->cli_hs;
	assert_int_not_equal(hs_read_resp(&h->cli_hs, dg, HS_RESP_DGRAM_LEN, &h->got_resp, h->cli_send, h->cli_recv), 0);
	h->cli_hs = keep;
	assert_int_equal(hs_read_resp(&h->cli_hs, dg, HS_RESP6_DGRAM_LEN, &h->got_resp, h->cli_send, h->cli_recv), 0);
	assert_true(h->got_resp.has6);
	assert_int_equal(h->got_resp.prefix6, 64);
	assert_memory_equal(h->got_resp.addr6, h->resp.addr6, 16);
	assert_int_equal(h->got_resp.addr4, h->resp.addr4);
	assert_int_equal(h->got_resp.keepalive_s, h->resp.keepalive_s);
	assert_int_equal(h->got_resp.flags, HS_RESP_FLAG_CSUM_PARTIAL);
	assert_memory_equal(h->cli_send, h->srv_recv, 32);
	free(h);

	/* and the short form says there is no IPv6 */
	h = malloc(sizeof(*h));
	hs_until_resp(h);
	assert_int_equal(h->got_in.flags, 0);
	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	assert_false(h->got_resp.has6);
	free(h);
}

static void test_hs_resp_clear_id_must_match(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);
	uint8_t dg[HS_RESP_DGRAM_LEN];
	for (size_t i = 8; i < 8 + WIRE_ID_LEN; i++) {
		memcpy(dg, h->resp_dg, sizeof(dg));
		dg[i] ^= 0x01;
		if (hs_read_resp(&h->cli_hs, dg, sizeof(dg), &h->got_resp, h->cli_send, h->cli_recv) == 0)
			fail_msg("RESP with clientId byte %zu changed in the clear header was accepted", i);
	}
	/* a forged answer does not use up the handshake */
	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	assert_memory_equal(h->cli_send, h->srv_recv, 32);
	free(h);
}

static void test_hs_resp_tampered_noise_fails(void **state)
{
	(void)state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);
	uint8_t dg[HS_RESP_DGRAM_LEN];
	for (size_t i = WIRE_HDR_LEN + 1; i < sizeof(dg); i++) {
		memcpy(dg, h->resp_dg, sizeof(dg));
		dg[i] ^= 0x80;
		if (hs_read_resp(&h->cli_hs, dg, sizeof(dg), &h->got_resp, h->cli_send, h->cli_recv) == 0)
			fail_msg("RESP with byte %zu flipped was accepted", i);
	}
	/* wrong control type, wrong length */
	memcpy(dg, h->resp_dg, sizeof(dg));
	dg[WIRE_HDR_LEN] = HS_INIT;
	assert_int_not_equal(hs_read_resp(&h->cli_hs, dg, sizeof(dg), &h->got_resp, h->cli_send, h->cli_recv), 0);
	assert_int_not_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(dg) - 1, &h->got_resp, h->cli_send,
					  h->cli_recv), 0);
	/* still usable */
	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	free(h);
}

static void test_hs_timestamp_increases(void **state)
{
	(void)state;
	uint8_t a[HS_TIMESTAMP_LEN], b[HS_TIMESTAMP_LEN];
	hs_timestamp(a);
	for (int i = 0; i < 100; i++) {
		hs_timestamp(b);
		assert_true(memcmp(b, a, HS_TIMESTAMP_LEN) >= 0);
		memcpy(a, b, sizeof(a));
	}
	/* TAI64 label: 2^62 + seconds */
	assert_int_equal(a[0], 0x40);
}

/* ------------------------------------------------------------------ session */

#define T0 (1000 * SEC_NS) /* an arbitrary start time */
#define EPOCH 7

struct pair {
	struct pool *pool;
	struct session cli, srv;
	uint8_t id[WIRE_ID_LEN];
	uint8_t k_c2s[32], k_s2c[32];
};

/* A datagram copied out of a sealed packet. */
struct dg {
	uint8_t b[PKT_BUF_SIZE];
	size_t len;
};

static int setup_pair(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->pool = pool_new(64);
	session_init(&p->cli);
	session_init(&p->srv);
	randombytes_buf(p->id, sizeof(p->id));
	randombytes_buf(p->k_c2s, 32);
	randombytes_buf(p->k_s2c, 32);
	session_begin(&p->cli, p->id);
	session_begin(&p->srv, p->id);
	session_install(&p->cli, p->k_c2s, p->k_s2c, AEAD_CHACHA20_POLY1305, EPOCH, true, T0);
	session_install(&p->srv, p->k_s2c, p->k_c2s, AEAD_CHACHA20_POLY1305, EPOCH, false, T0);
	*state = p;
	return 0;
}

static int teardown_pair(void **state)
{
	struct pair *p = *state;
	session_destroy(&p->cli);
	session_destroy(&p->srv);
	pool_free(p->pool);
	free(p);
	return 0;
}

/* Seals len bytes of pattern (first byte tag) on s; returns the datagram. */
static struct dg seal_one(struct pair *p, struct session *s, uint8_t type, const void *pt, uint32_t len,
			  uint64_t now)
{
	struct pkt *pk;
	struct dg d;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	assert_ptr_equal(pk->data, pk->buf + PKT_HEADROOM);
	memcpy(pk->data, pt, len);
	pk->len = len;
	assert_int_equal(session_seal(s, &pk, 1, type, now), 1);
	assert_ptr_equal(pk->data, pk->buf);
	assert_int_equal(pk->len, WIRE_HDR_LEN + len + WIRE_TAG_LEN);
	memcpy(d.b, pk->data, pk->len);
	d.len = pk->len;
	pool_put(p->pool, &pk, 1);
	return d;
}

static struct dg seal_text(struct pair *p, struct session *s, const char *text, uint64_t now)
{
	return seal_one(p, s, WIRE_DATA, text, (uint32_t)strlen(text), now);
}

/* Decodes and opens a copy of d (the caller's d stays sealed). */
static enum open_result open_copy(struct session *s, const struct dg *d, uint64_t now, struct dg *plain)
{
	struct wire_hdr h;
	struct dg c = *d;
	assert_int_equal(wire_decode(&h, c.b, c.len), WIRE_OK);
	enum open_result r = session_open(s, &h, c.b, c.b, now);
	if (plain)
		*plain = c;
	return r;
}

static void assert_plain(const struct dg *plain, const char *text)
{
	assert_int_equal(plain->len, WIRE_HDR_LEN + strlen(text) + WIRE_TAG_LEN);
	assert_memory_equal(plain->b + WIRE_HDR_LEN, text, strlen(text));
}

/* Server confirmed and promoted: a session up in both directions. */
static void confirm(struct pair *p)
{
	struct dg d = seal_text(p, &p->cli, "confirm", T0);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_CONFIRMED_NEXT);
	session_promote_next(&p->srv, T0);
}

static void test_seal_header_fields(void **state)
{
	struct pair *p = *state;
	const char *msg = "an IPv4 packet, more or less";
	struct dg d = seal_text(p, &p->cli, msg, T0);
	struct wire_hdr h;
	assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
	assert_int_equal(h.type, WIRE_DATA);
	assert_int_equal(h.flags, EPOCH);
	assert_int_equal(h.payload_len, strlen(msg) + WIRE_TAG_LEN);
	assert_memory_equal(h.client_id, p->id, WIRE_ID_LEN);
	assert_int_equal(h.seq, 0);
	/* the payload is not sent in the clear */
	assert_memory_not_equal(d.b + WIRE_HDR_LEN, msg, strlen(msg));
}

/* A datagram still in the receive buffer opens straight into another
 * buffer: its header, then the plaintext; the source stays as it was. */
static void test_open_into_another_buffer(void **state)
{
	struct pair *p = *state;
	const char *msg = "opened out of place, the copy done by the cipher";
	struct dg d = seal_text(p, &p->cli, msg, T0);
	struct dg src = d;
	uint8_t out[sizeof(d.b)];
	struct wire_hdr h;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(wire_decode(&h, src.b, src.len), WIRE_OK);
	assert_int_equal(session_open(&p->srv, &h, src.b, out, T0), OPEN_CONFIRMED_NEXT);
	assert_memory_equal(out, d.b, WIRE_HDR_LEN);
	assert_memory_equal(out + WIRE_HDR_LEN, msg, strlen(msg));
	assert_int_equal(out[WIRE_HDR_LEN + strlen(msg)], 0xee); /* not the tag */
	assert_memory_equal(src.b, d.b, d.len);
	/* A tampered one fails out of place too. */
	session_promote_next(&p->srv, T0);
	d = seal_text(p, &p->cli, msg, T0);
	d.b[WIRE_HDR_LEN + 3] ^= 1;
	assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
	assert_int_equal(session_open(&p->srv, &h, d.b, out, T0), OPEN_AUTH_FAIL);
}

/* A batch opens as one by one would: each from its packet's data into its
 * buffer, every outcome in order, and it stops after the packet that
 * confirms next so the caller can promote it before the rest. */
static void test_open_batch(void **state)
{
	struct pair *p = *state;
	static const char *const text[5] = { "confirms next", "first after", "tampered", "a replay", "last" };
	struct pkt *pk[5];
	struct wire_hdr h[5];
	enum open_result res[5];
	assert_int_equal(pool_get(p->pool, pk, 5), 5);
	static uint8_t rxbuf[5][256]; /* a receive buffer the datagram is opened out of */
	for (int i = 0; i < 5; i++) {
		struct dg d = seal_text(p, &p->cli, text[i], T0);
		pk[i]->data = i % 2 ? rxbuf[i] : pk[i]->buf; /* in place or not, both in one batch */
		memcpy(pk[i]->data, d.b, d.len);
		pk[i]->len = d.len;
	}
	/* 3 is 1 again, sealed bytes and all: a replay once 1 is in */
	memcpy(pk[3]->data, pk[1]->data, pk[1]->len);
	pk[3]->len = pk[1]->len;
	pk[2]->data[WIRE_HDR_LEN + 2] ^= 1;
	for (int i = 0; i < 5; i++)
		assert_int_equal(wire_decode(&h[i], pk[i]->data, pk[i]->len), WIRE_OK);

	assert_int_equal(session_open_batch(&p->srv, h, pk, 5, res, T0), 1);
	assert_int_equal(res[0], OPEN_CONFIRMED_NEXT);
	session_promote_next(&p->srv, T0);
	assert_int_equal(session_open_batch(&p->srv, h + 1, pk + 1, 4, res + 1, T0), 4);
	assert_int_equal(res[1], OPEN_OK);
	assert_int_equal(res[2], OPEN_AUTH_FAIL);
	assert_int_equal(res[3], OPEN_REPLAY);
	assert_int_equal(res[4], OPEN_OK);
	static const int opened[3] = { 0, 1, 4 };
	for (int k = 0; k < 3; k++) {
		int i = opened[k];
		struct wire_hdr out;
		assert_int_equal(wire_decode(&out, pk[i]->buf, pk[i]->len), WIRE_OK); /* the header came along */
		assert_int_equal(out.seq, i);
		assert_memory_equal(pk[i]->buf + WIRE_HDR_LEN, text[i], strlen(text[i]));
	}
	assert_int_equal(session_open_batch(&p->srv, h, pk, 0, res, T0), 0);
	pool_put(p->pool, pk, 5);
}

/* A TCP/IPv4 packet of len bytes whose checksum field holds the pseudo-
 * header sum, as the kernel leaves it; the bytes summed by a plain loop. */
static uint16_t ref_fold(const uint8_t *b, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)b[i] << 8 | (i + 1 < n ? b[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t ref_pseudo(const uint8_t *ip, size_t l4len)
{
	uint8_t ph[12] = { 0 };
	memcpy(ph, ip + 12, 8);
	ph[9] = 6;
	ph[10] = (uint8_t)(l4len >> 8);
	ph[11] = (uint8_t)l4len;
	return ref_fold(ph, sizeof(ph), 0);
}

static size_t partial_tcp4(uint8_t *p, size_t len)
{
	randombytes_buf(p, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = 0x40; /* DF, no offset */
	p[7] = 0;
	p[9] = 6;
	p[32] = 0x50; /* data offset 5 */
	uint16_t ps = ref_pseudo(p, len - 20);
	p[36] = (uint8_t)(ps >> 8);
	p[37] = (uint8_t)ps;
	return len;
}

static bool tcp4_csum_valid(const uint8_t *p, size_t len)
{
	return ref_fold(p + 20, len - 20, ref_pseudo(p, len - 20)) == 0xffff;
}

/* Seals pt (len bytes) marked partial on s and opens it on r; returns the
 * header's flags and leaves the plaintext in out. */
static uint16_t partial_roundtrip(struct pair *p, struct session *s, struct session *r, const uint8_t *pt,
				  size_t len, uint8_t *out, bool *partial)
{
	struct pkt *pk;
	struct wire_hdr h;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	memcpy(pk->data, pt, len);
	pk->len = (uint32_t)len;
	pk->csum_partial = 1;
	assert_int_equal(session_seal(s, &pk, 1, WIRE_DATA, T0), 1);
	assert_int_equal(wire_decode(&h, pk->data, pk->len), WIRE_OK);
	assert_int_equal(session_open(r, &h, pk->data, pk->data, T0), OPEN_OK);
	pk->data += WIRE_HDR_LEN;
	pk->len = h.payload_len - WIRE_TAG_LEN;
	assert_true(session_csum_from_flags(pk, h.flags));
	*partial = pk->csum_partial;
	memcpy(out, pk->data, len);
	pool_put(p->pool, &pk, 1);
	return h.flags;
}

static void test_seal_partial_csum(void **state)
{
	struct pair *p = *state;
	static uint8_t pt[1400], out[1400];
	bool partial;
	confirm(p);
	for (size_t len = 40; len <= sizeof(pt); len += 453) {
		partial_tcp4(pt, len);
		assert_false(tcp4_csum_valid(pt, len) && len > 40 && pt[40] != 0);
		/* A peer that did not say it takes partial checksums gets the
		 * checksum completed, and no flag. */
		assert_int_equal(partial_roundtrip(p, &p->srv, &p->cli, pt, len, out, &partial), EPOCH);
		assert_false(partial);
		assert_true(tcp4_csum_valid(out, len));
		assert_memory_equal(out, pt, 36);
		assert_memory_equal(out + 38, pt + 38, len - 38);
		/* One that did gets the packet as it is, flagged. */
		session_set_peer_csum_partial(&p->srv, true);
		assert_int_equal(partial_roundtrip(p, &p->srv, &p->cli, pt, len, out, &partial),
				 EPOCH | WIRE_FLAG_CSUM_PARTIAL);
		assert_true(partial);
		assert_memory_equal(out, pt, len);
		session_set_peer_csum_partial(&p->srv, false);
	}
	/* A new session forgets what the old peer took. */
	session_set_peer_csum_partial(&p->cli, true);
	session_begin(&p->cli, p->id);
	assert_false(p->cli.peer_csum_partial);
}

static void test_csum_flag_needs_a_checksum(void **state)
{
	struct pair *p = *state;
	struct pkt *pk;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	pk->len = (uint32_t)partial_tcp4(pk->data, 60);
	assert_true(session_csum_from_flags(pk, EPOCH));
	assert_false(pk->csum_partial);
	assert_true(session_csum_from_flags(pk, EPOCH | WIRE_FLAG_CSUM_PARTIAL));
	assert_true(pk->csum_partial);
	/* ICMP has no checksum we leave partial: the flag on it is refused. */
	pk->data[9] = 1;
	assert_false(session_csum_from_flags(pk, EPOCH | WIRE_FLAG_CSUM_PARTIAL));
	pk->data[9] = 6;
	pk->len = 37; /* too short for the field */
	assert_false(session_csum_from_flags(pk, EPOCH | WIRE_FLAG_CSUM_PARTIAL));
	pool_put(p->pool, &pk, 1);
}

/* session_inner: the inner packet's place, then the MTU, the checksum flag
 * and the outer ECN field, each refused with its own result. */
static void test_inner(void **state)
{
	struct pair *p = *state;
	struct pkt *pk;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	uint8_t *ip = pk->buf + WIRE_HDR_LEN;
	partial_tcp4(ip, 60);
	ip[1] = ECN_NOT_ECT;
	struct wire_hdr h = { .type = WIRE_DATA, .flags = EPOCH, .payload_len = 60 + WIRE_TAG_LEN };
	pk->ecn = ECN_NOT_ECT;
	assert_int_equal(session_inner(pk, &h, 1400), INNER_OK);
	assert_ptr_equal(pk->data, ip);
	assert_int_equal(pk->len, 60);
	assert_false(pk->csum_partial);
	assert_int_equal(session_inner(pk, &h, 60), INNER_OK);
	assert_int_equal(session_inner(pk, &h, 59), INNER_TOO_BIG);
	h.flags = EPOCH | WIRE_FLAG_CSUM_PARTIAL;
	assert_int_equal(session_inner(pk, &h, 1400), INNER_OK);
	assert_true(pk->csum_partial);
	ip[9] = 1; /* ICMP: no checksum to leave partial */
	assert_int_equal(session_inner(pk, &h, 1400), INNER_MALFORMED);
	ip[9] = 6;
	h.flags = EPOCH;
	pk->ecn = ECN_CE; /* marked outside, but its sender cannot be told */
	assert_int_equal(session_inner(pk, &h, 1400), INNER_ECN_DROP);
	ip[1] = 0x02; /* ECT(0): the mark is carried in */
	assert_int_equal(session_inner(pk, &h, 1400), INNER_OK);
	assert_int_equal(ip[1] & 3, ECN_CE);
	pool_put(p->pool, &pk, 1);
}

static void test_seal_uses_documented_nonce_and_ad(void **state)
{
	/* session.c: nonce = 4 zero bytes | epoch u32 BE | seq u32 BE, the
	 * associated data the 32-byte header as sent. Check with libsodium
	 * directly, so a change on both sides at once is noticed too. */
	struct pair *p = *state;
	const char *msg = "known answer";
	const size_t n = strlen(msg);
	struct dg d;
	for (int i = 0; i < 3; i++)
		d = seal_text(p, &p->cli, msg, T0); /* seq 2 */
	uint8_t nonce[12] = { 0, 0, 0, 0, 0, 0, 0, EPOCH, 0, 0, 0, 2 };
	uint8_t out[64];
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt_detached(
				 out, NULL, d.b + WIRE_HDR_LEN, n, d.b + WIRE_HDR_LEN + n, d.b, WIRE_HDR_LEN,
				 nonce, p->k_c2s), 0);
	assert_memory_equal(out, msg, n);
}

static void test_reflected_packet_fails(void **state)
{
	/* A client's own datagram sent back to it does not open. */
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "mirror", T0);
	assert_int_equal(open_copy(&p->cli, &d, T0, NULL), OPEN_AUTH_FAIL);
	d = seal_text(p, &p->srv, "mirror", T0);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_AUTH_FAIL);
}

static void test_seal_open_confirms_next(void **state)
{
	struct pair *p = *state;
	struct dg plain;
	struct dg d0 = seal_text(p, &p->cli, "first", T0);
	struct dg d1 = seal_text(p, &p->cli, "second", T0);
	/* the server's keypair waits in next until the client uses it */
	assert_false(session_up(&p->srv, T0));
	assert_true(session_up(&p->cli, T0));
	assert_int_equal(open_copy(&p->srv, &d0, T0, &plain), OPEN_CONFIRMED_NEXT);
	assert_plain(&plain, "first");
	session_promote_next(&p->srv, T0);
	assert_true(session_up(&p->srv, T0));
	assert_int_equal(open_copy(&p->srv, &d1, T0, &plain), OPEN_OK);
	assert_plain(&plain, "second");
	/* the replay state moved along with the keypair */
	assert_int_equal(open_copy(&p->srv, &d0, T0, NULL), OPEN_REPLAY);

	/* and the other direction */
	struct dg back = seal_text(p, &p->srv, "pong", T0);
	assert_int_equal(open_copy(&p->cli, &back, T0, &plain), OPEN_OK);
	assert_plain(&plain, "pong");
}

static void test_server_cannot_send_before_confirm(void **state)
{
	struct pair *p = *state;
	struct pkt *pk;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	pk->len = 10;
	assert_int_equal(session_seal(&p->srv, &pk, 1, WIRE_DATA, T0), 0);
	assert_ptr_equal(pk->data, pk->buf + PKT_HEADROOM); /* untouched */
	assert_int_equal(pk->len, 10);
	pool_put(p->pool, &pk, 1);
}

static void test_replay_rejected(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "once", T0);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_OK);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_REPLAY);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_REPLAY);
}

static void test_tampered_header_fails_auth(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "header", T0);
	struct wire_hdr orig;
	assert_int_equal(wire_decode(&orig, d.b, d.len), WIRE_OK);

	/* clientId and seq: the datagram still parses, but does not open
	 * (another clientId is not this session's: no key for it) */
	for (size_t i = 8; i < 28; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct dg c = d;
			struct wire_hdr h;
			c.b[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(wire_decode(&h, c.b, c.len), WIRE_OK);
			enum open_result r = session_open(&p->srv, &h, c.b, c.b, T0);
			enum open_result want = i < 8 + WIRE_ID_LEN ? OPEN_NO_KEY : OPEN_AUTH_FAIL;
			if (r != want)
				fail_msg("header byte %zu bit %u flipped: open gave %d, want %d", i, bit, r, want);
		}
	}
	/* Every header byte is associated data: opening the bytes as sent
	 * with the header fields as they were still fails when any byte
	 * changed (including bytes the wire codec would refuse). */
	for (size_t i = 0; i < WIRE_HDR_LEN; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct dg c = d;
			c.b[i] ^= (uint8_t)(1u << bit);
			enum open_result r = session_open(&p->srv, &orig, c.b, c.b, T0);
			if (r != OPEN_AUTH_FAIL)
				fail_msg("header byte %zu bit %u changed under the same fields: open gave %d", i, bit, r);
		}
	}
	/* none of that moved the replay window: the real one opens, once */
	struct dg plain;
	assert_int_equal(open_copy(&p->srv, &d, T0, &plain), OPEN_OK);
	assert_plain(&plain, "header");
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_REPLAY);
}

static void test_tampered_ciphertext_and_tag_fail_auth(void **state)
{
	struct pair *p = *state;
	confirm(p);
	const char *msg = "ciphertext and tag";
	struct dg d = seal_text(p, &p->cli, msg, T0);
	for (size_t i = WIRE_HDR_LEN; i < d.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct dg c = d;
			c.b[i] ^= (uint8_t)(1u << bit);
			enum open_result r = open_copy(&p->srv, &c, T0, NULL);
			if (r != OPEN_AUTH_FAIL)
				fail_msg("payload byte %zu bit %u flipped: open gave %d, want AUTH_FAIL", i, bit, r);
		}
	}
	struct dg plain;
	assert_int_equal(open_copy(&p->srv, &d, T0, &plain), OPEN_OK);
	assert_plain(&plain, msg);
}

static void test_forged_high_seq_does_not_move_window(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "seq 1", T0);
	struct dg c = d;
	c.b[24] ^= 0x80; /* seq + 2^31 */
	assert_int_equal(open_copy(&p->srv, &c, T0, NULL), OPEN_AUTH_FAIL);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_OK);
}

static void test_wrong_epoch_no_key(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "epoch", T0);
	for (unsigned e = 0; e < 256; e++) {
		if (e == EPOCH)
			continue;
		struct dg c = d;
		c.b[7] = (uint8_t)e;
		assert_int_equal(open_copy(&p->srv, &c, T0, NULL), OPEN_NO_KEY);
	}
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_OK);
}

static void test_keepalive_empty(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_one(p, &p->cli, WIRE_KEEPALIVE, "", 0, T0);
	struct wire_hdr h;
	assert_int_equal(d.len, WIRE_HDR_LEN + WIRE_TAG_LEN);
	assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
	assert_int_equal(h.type, WIRE_KEEPALIVE);
	assert_int_equal(h.payload_len, WIRE_TAG_LEN);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_OK);
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_REPLAY);
	/* a KEEPALIVE relabelled DATA does not open */
	struct dg c = seal_one(p, &p->cli, WIRE_KEEPALIVE, "", 0, T0);
	c.b[5] = WIRE_DATA;
	assert_int_equal(open_copy(&p->srv, &c, T0, NULL), OPEN_AUTH_FAIL);
}

static void test_seq_increments_by_one(void **state)
{
	/* Nonce uniqueness: every seal takes the next seq, so the same
	 * plaintext never gives the same ciphertext twice. */
	struct pair *p = *state;
	enum { N = 1000 };
	struct pkt *pk;
	uint8_t prev_ct[20 + WIRE_TAG_LEN];
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);
	for (uint32_t i = 0; i < N; i++) {
		pkt_reset(pk);
		pk->len = 20;
		memset(pk->data, 0x5a, 20);
		assert_int_equal(session_seal(&p->cli, &pk, 1, WIRE_DATA, T0), 1);
		struct wire_hdr h;
		assert_int_equal(wire_decode(&h, pk->data, pk->len), WIRE_OK);
		assert_int_equal(h.seq, i);
		if (i > 0)
			assert_memory_not_equal(pk->data + WIRE_HDR_LEN, prev_ct, sizeof(prev_ct));
		memcpy(prev_ct, pk->data + WIRE_HDR_LEN, sizeof(prev_ct));
	}
	assert_int_equal(p->cli.cur.send_seq, N);
	pool_put(p->pool, &pk, 1);
}

static void test_batch_seal_seq_and_open(void **state)
{
	struct pair *p = *state;
	confirm(p);
	enum { B = 32 };
	struct pkt *pk[B];
	assert_int_equal(pool_get(p->pool, pk, B), B);
	for (uint32_t i = 0; i < B; i++) {
		pk[i]->len = 40 + i;
		memset(pk[i]->data, (int)i, pk[i]->len);
	}
	assert_int_equal(session_seal(&p->cli, pk, B, WIRE_DATA, T0), B);
	/* confirm() used seq 0 */
	for (uint32_t i = 0; i < B; i++) {
		struct wire_hdr h;
		assert_int_equal(wire_decode(&h, pk[i]->data, pk[i]->len), WIRE_OK);
		assert_int_equal(h.seq, i + 1);
	}
	/* opened in reverse order: all fine (within the window) */
	for (uint32_t k = B; k-- > 0;) {
		struct wire_hdr h;
		assert_int_equal(wire_decode(&h, pk[k]->data, pk[k]->len), WIRE_OK);
		assert_int_equal(session_open(&p->srv, &h, pk[k]->data, pk[k]->data, T0), OPEN_OK);
		for (uint32_t j = 0; j < 40 + k; j++)
			assert_int_equal(pk[k]->data[WIRE_HDR_LEN + j], k);
	}
	pool_put(p->pool, pk, B);
}

/* A second handshake: keys with epoch EPOCH+1, installed at t. */
static void rekey(struct pair *p, uint64_t t, uint8_t c2s[32], uint8_t s2c[32])
{
	randombytes_buf(c2s, 32);
	randombytes_buf(s2c, 32);
	assert_int_equal(session_next_epoch(&p->srv), EPOCH + 1);
	session_install(&p->srv, s2c, c2s, AEAD_CHACHA20_POLY1305, EPOCH + 1, false, t);
	assert_int_equal(session_next_epoch(&p->srv), EPOCH + 2);
	session_install(&p->cli, c2s, s2c, AEAD_CHACHA20_POLY1305, EPOCH + 1, true, t);
}

static void test_rekey_prev_grace(void **state)
{
	struct pair *p = *state;
	uint8_t c2s[32], s2c[32];
	struct dg plain;
	confirm(p);
	const uint64_t t1 = T0 + 100 * SEC_NS;
	/* in flight under the old keys when the rekey happens */
	struct dg old_c = seal_text(p, &p->cli, "old from client", t1);
	struct dg old_c2 = seal_text(p, &p->cli, "old from client 2", t1);
	struct dg old_s = seal_text(p, &p->srv, "old from server", t1);
	struct dg old_s2 = seal_text(p, &p->srv, "old from server 2", t1);

	rekey(p, t1, c2s, s2c);
	/* the client sends with the new epoch at once */
	struct dg new_c = seal_text(p, &p->cli, "new from client", t1);
	struct wire_hdr h;
	assert_int_equal(wire_decode(&h, new_c.b, new_c.len), WIRE_OK);
	assert_int_equal(h.flags, EPOCH + 1);
	assert_int_equal(h.seq, 0);
	/* the server still has the old one current: it opens old packets */
	assert_int_equal(open_copy(&p->srv, &old_c, t1, &plain), OPEN_OK);
	assert_plain(&plain, "old from client");
	/* and the client opens the server's old-epoch packets from prev */
	assert_int_equal(open_copy(&p->cli, &old_s, t1 + SEC_NS, &plain), OPEN_OK);
	assert_plain(&plain, "old from server");

	/* the first new-epoch packet confirms */
	const uint64_t t2 = t1 + 2 * SEC_NS;
	assert_int_equal(open_copy(&p->srv, &new_c, t2, &plain), OPEN_CONFIRMED_NEXT);
	assert_plain(&plain, "new from client");
	session_promote_next(&p->srv, t2);
	struct dg new_s = seal_text(p, &p->srv, "new from server", t2);
	assert_int_equal(wire_decode(&h, new_s.b, new_s.len), WIRE_OK);
	assert_int_equal(h.flags, EPOCH + 1);
	assert_int_equal(open_copy(&p->cli, &new_s, t2, &plain), OPEN_OK);
	assert_plain(&plain, "new from server");

	/* old-epoch packets still open from prev within the grace period */
	struct dg old_c3 = old_c2;
	assert_int_equal(open_copy(&p->srv, &old_c2, t2 + PREV_GRACE_NS - 1, NULL), OPEN_OK);
	assert_int_equal(open_copy(&p->srv, &old_c, t2, NULL), OPEN_REPLAY);
	/* after it, they are refused (the client's prev retired at t1) */
	assert_int_equal(open_copy(&p->cli, &old_s2, t1 + PREV_GRACE_NS + 1, NULL), OPEN_NO_KEY);
	assert_int_equal(open_copy(&p->srv, &old_c3, t2 + PREV_GRACE_NS + 1, NULL), OPEN_NO_KEY);
	/* while the new epoch keeps working */
	struct dg later = seal_text(p, &p->cli, "later", t2 + PREV_GRACE_NS + 1);
	assert_int_equal(open_copy(&p->srv, &later, t2 + PREV_GRACE_NS + 1, NULL), OPEN_OK);
}

static void test_prev_grace_then_old_fresh_packet_refused(void **state)
{
	/* An old-epoch packet never seen before is refused after the grace. */
	struct pair *p = *state;
	uint8_t c2s[32], s2c[32];
	confirm(p);
	struct dg old_s = seal_text(p, &p->srv, "old", T0);
	rekey(p, T0, c2s, s2c);
	assert_int_equal(open_copy(&p->cli, &old_s, T0 + PREV_GRACE_NS + 1, NULL), OPEN_NO_KEY);
	assert_int_equal(open_copy(&p->cli, &old_s, T0 + PREV_GRACE_NS - 1, NULL), OPEN_OK);
}

static void test_reject_after_and_rekey_after(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct pkt *pk;
	assert_int_equal(pool_get(p->pool, &pk, 1), 1);

	assert_false(session_wants_rekey(&p->cli, T0));
	assert_false(session_wants_rekey(&p->cli, T0 + REKEY_AFTER_NS - 1));
	assert_true(session_wants_rekey(&p->cli, T0 + REKEY_AFTER_NS));
	assert_true(session_wants_rekey(&p->srv, T0 + REKEY_AFTER_NS));

	pk->len = 8;
	assert_int_equal(session_seal(&p->cli, &pk, 1, WIRE_DATA, T0 + REJECT_AFTER_NS - 1), 1);
	assert_true(session_up(&p->cli, T0 + REJECT_AFTER_NS - 1));

	pkt_reset(pk);
	pk->len = 8;
	assert_int_equal(session_seal(&p->cli, &pk, 1, WIRE_DATA, T0 + REJECT_AFTER_NS), 0);
	assert_int_equal(session_seal(&p->cli, &pk, 1, WIRE_KEEPALIVE, T0 + REJECT_AFTER_NS + SEC_NS), 0);
	assert_false(session_up(&p->cli, T0 + REJECT_AFTER_NS));
	/* and nothing from an expired keypair opens either */
	struct dg d = seal_text(p, &p->cli, "late", T0 + 10 * SEC_NS);
	assert_int_equal(open_copy(&p->srv, &d, T0 + REJECT_AFTER_NS, NULL), OPEN_NO_KEY);
	pool_put(p->pool, &pk, 1);
}

static void test_seal_stops_before_seq_limit(void **state)
{
	struct pair *p = *state;
	struct pkt *pk[3];
	assert_int_equal(pool_get(p->pool, pk, 3), 3);
	for (int i = 0; i < 3; i++)
		pk[i]->len = 4;
	/* jump the counter close to the limit (struct fields are public) */
	p->cli.cur.send_seq = REJECT_AFTER_MESSAGES - 2;
	assert_int_equal(session_seal(&p->cli, pk, 3, WIRE_DATA, T0), 2);
	struct wire_hdr h;
	assert_int_equal(wire_decode(&h, pk[1]->data, pk[1]->len), WIRE_OK);
	assert_int_equal(h.seq, (uint32_t)(REJECT_AFTER_MESSAGES - 1));
	assert_int_equal(pk[2]->len, 4); /* the third was left alone */
	assert_true(session_wants_rekey(&p->cli, T0));
	pool_put(p->pool, pk, 3);
}

static void test_wants_rekey_after_messages(void **state)
{
	struct pair *p = *state;
	p->cli.cur.send_seq = REKEY_AFTER_MESSAGES - 1;
	assert_false(session_wants_rekey(&p->cli, T0));
	struct dg d = seal_text(p, &p->cli, "x", T0);
	(void)d;
	assert_true(session_wants_rekey(&p->cli, T0));
}

static void test_begin_wipes_old_keys(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg old = seal_text(p, &p->cli, "old session", T0);
	assert_true(session_has_keys(&p->srv));
	uint8_t id2[WIRE_ID_LEN];
	randombytes_buf(id2, sizeof(id2));
	session_begin(&p->srv, id2);
	assert_false(session_has_keys(&p->srv));
	assert_false(session_up(&p->srv, T0));
	assert_int_equal(open_copy(&p->srv, &old, T0, NULL), OPEN_NO_KEY);

	/* a new keypair under another epoch: the old datagram still finds no key */
	uint8_t a[32], b[32];
	randombytes_buf(a, 32);
	randombytes_buf(b, 32);
	session_install(&p->srv, a, b, AEAD_CHACHA20_POLY1305, EPOCH + 3, false, T0);
	assert_true(session_has_keys(&p->srv));
	assert_int_equal(open_copy(&p->srv, &old, T0, NULL), OPEN_NO_KEY);
	session_promote_next(&p->srv, T0);
	assert_int_equal(open_copy(&p->srv, &old, T0, NULL), OPEN_NO_KEY);
	/* the new session's packets carry the new id */
	struct dg d = seal_text(p, &p->srv, "new", T0);
	struct wire_hdr h;
	assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
	assert_memory_equal(h.client_id, id2, WIRE_ID_LEN);
}

/* session_begin wipes every keypair, previous too. Under the same
 * clientId, so that the old datagram is refused for want of a key and not
 * by session_open's clientId check (which decides the test above). */
static void test_begin_same_id_wipes_every_keypair(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg old = seal_text(p, &p->cli, "old session", T0);
	uint8_t k[32] = { 9 };
	session_install(&p->srv, k, k, AEAD_CHACHA20_POLY1305, EPOCH + 1, false, T0); /* a next too */
	session_promote_next(&p->srv, T0); /* cur the new one, prev the confirmed one */
	assert_true(p->srv.prev.valid);
	session_begin(&p->srv, p->id);
	assert_false(p->srv.cur.valid || p->srv.prev.valid || p->srv.next.valid);
	assert_int_equal(open_copy(&p->srv, &old, T0, NULL), OPEN_NO_KEY);
}

static void test_clear_takes_session_down(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "x", T0);
	uint8_t id[WIRE_ID_LEN];
	session_client_id(&p->srv, id);
	assert_memory_equal(id, p->id, WIRE_ID_LEN);
	session_clear(&p->srv);
	assert_false(session_has_keys(&p->srv));
	assert_int_equal(open_copy(&p->srv, &d, T0, NULL), OPEN_NO_KEY);
	static const uint8_t zero[WIRE_ID_LEN];
	session_client_id(&p->srv, id);
	assert_memory_equal(id, zero, WIRE_ID_LEN);
}

/* A datagram under another clientId is refused before any key is tried,
 * in a batch too, and leaves the replay window as it was: the same seq
 * under the session's own id still opens. The client relies on this
 * check (under the session's lock) instead of one of its own. */
static void test_other_client_id_refused(void **state)
{
	struct pair *p = *state;
	confirm(p);
	struct dg d = seal_text(p, &p->cli, "mine", T0);
	struct dg other = d;
	other.b[8] ^= 0x80; /* the first byte of the clientId */
	assert_int_equal(open_copy(&p->srv, &other, T0, NULL), OPEN_NO_KEY);

	struct pkt *pk[2];
	struct wire_hdr h[2];
	enum open_result res[2];
	assert_int_equal(pool_get(p->pool, pk, 2), 2);
	const struct dg *src[2] = { &other, &d };
	for (int i = 0; i < 2; i++) {
		pk[i]->data = pk[i]->buf; /* opened in place */
		memcpy(pk[i]->data, src[i]->b, src[i]->len);
		pk[i]->len = src[i]->len;
		assert_int_equal(wire_decode(&h[i], pk[i]->data, pk[i]->len), WIRE_OK);
	}
	assert_int_equal(session_open_batch(&p->srv, h, pk, 2, res, T0), 2);
	assert_int_equal(res[0], OPEN_NO_KEY);
	assert_int_equal(res[1], OPEN_OK);
	assert_memory_equal(pk[1]->buf + WIRE_HDR_LEN, "mine", 4);
	pool_put(p->pool, pk, 2);
}

static void test_next_epoch_wraps(void **state)
{
	struct pair *p = *state;
	uint8_t k[32] = { 1 };
	session_install(&p->cli, k, k, AEAD_CHACHA20_POLY1305, 255, true, T0);
	assert_int_equal(session_next_epoch(&p->cli), 0);
}

/* The handshake keys drive a session: the whole setup end to end. */
static void test_handshake_keys_drive_session(void **state)
{
	struct pair *p = *state;
	struct hs_run *h = malloc(sizeof(*h));
	hs_until_resp(h);
	assert_int_equal(hs_read_resp(&h->cli_hs, h->resp_dg, sizeof(h->resp_dg), &h->got_resp, h->cli_send,
				      h->cli_recv), 0);
	struct session cli, srv;
	session_init(&cli);
	session_init(&srv);
	session_begin(&cli, h->got_resp.client_id);
	session_begin(&srv, h->resp.client_id);
	session_install(&cli, h->cli_send, h->cli_recv, AEAD_CHACHA20_POLY1305, h->got_resp.epoch, true, T0);
	session_install(&srv, h->srv_send, h->srv_recv, AEAD_CHACHA20_POLY1305, h->resp.epoch, false, T0);
	struct dg d = seal_text(p, &cli, "through", T0), plain;
	assert_int_equal(open_copy(&srv, &d, T0, &plain), OPEN_CONFIRMED_NEXT);
	assert_plain(&plain, "through");
	session_destroy(&cli);
	session_destroy(&srv);
	free(h);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, setup_pair, teardown_pair)

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs_init_roundtrip),
		cmocka_unit_test(test_hs_server_learns_client_key),
		cmocka_unit_test(test_hs_init_rejects),
		cmocka_unit_test(test_hs_resp_roundtrip_and_keys),
		cmocka_unit_test(test_hs_resp_extreme_values),
		cmocka_unit_test(test_hs_resp_ipv6_form),
		cmocka_unit_test(test_hs_resp_clear_id_must_match),
		cmocka_unit_test(test_hs_resp_tampered_noise_fails),
		cmocka_unit_test(test_hs_timestamp_increases),
		S(test_seal_header_fields),
		S(test_open_into_another_buffer),
		S(test_open_batch),
		S(test_seal_partial_csum),
		S(test_csum_flag_needs_a_checksum),
		S(test_inner),
		S(test_seal_uses_documented_nonce_and_ad),
		S(test_reflected_packet_fails),
		S(test_seal_open_confirms_next),
		S(test_server_cannot_send_before_confirm),
		S(test_replay_rejected),
		S(test_tampered_header_fails_auth),
		S(test_tampered_ciphertext_and_tag_fail_auth),
		S(test_forged_high_seq_does_not_move_window),
		S(test_wrong_epoch_no_key),
		S(test_keepalive_empty),
		S(test_seq_increments_by_one),
		S(test_batch_seal_seq_and_open),
		S(test_rekey_prev_grace),
		S(test_prev_grace_then_old_fresh_packet_refused),
		S(test_reject_after_and_rekey_after),
		S(test_seal_stops_before_seq_limit),
		S(test_wants_rekey_after_messages),
		S(test_begin_wipes_old_keys),
		S(test_begin_same_id_wipes_every_keypair),
		S(test_clear_takes_session_down),
		S(test_other_client_id_refused),
		S(test_next_epoch_wraps),
		S(test_handshake_keys_drive_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
