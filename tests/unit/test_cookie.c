/* test_cookie.c - mac1, mac2, cookie secrets, the under-load detector, the
 * rate table and COOKIE_REPLY (src/cookie.c), and PROTOCOL.md appendix B's
 * vectors (computed independently by tests/interop/vpngw_client.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "cookie.h"

#define SEC COOKIE_SEC_NS
#define T0 (1000 * SEC)

static uint8_t gw_pub[32];
static struct cookie_gate gate; /* big: not on the stack */

static const uint8_t src_a[6] = { 192, 0, 2, 2, 0xca, 0x6c };
static const uint8_t src_b[6] = { 192, 0, 2, 2, 0xca, 0x6d }; /* same host, other port */

/* A real HS_INIT from a fresh client key to gw_pub, stamped with mac1
 * (and mac2 when cookie is given). */
static void make_init(uint8_t out[HS_INIT_DGRAM_LEN], const uint8_t *cookie)
{
	struct noise_hs hs;
	struct hs_init in = { .ciphers = 2 };
	uint8_t priv[32];
	struct cookie_keys k;
	noise_genkey(priv);
	hs_timestamp(in.timestamp);
	assert_int_equal(hs_write_init(&hs, priv, gw_pub, &in, NULL, out), 0);
	cookie_keys_init(&k, gw_pub);
	cookie_stamp_init(out, &k, cookie);
	noise_wipe(&hs);
}

static int setup(void **state)
{
	(void)state;
	uint8_t priv[32];
	noise_genkey(priv);
	assert_int_equal(noise_pubkey(gw_pub, priv), 0);
	cookie_gate_init(&gate, gw_pub, 3);
	return 0;
}

/* Drives the gateway over its threshold (3 a second here). */
static void overload(uint64_t now)
{
	uint8_t init[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN];
	make_init(init, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, now, reply), COOKIE_PASS);
	assert_false(cookie_under_load(&gate, now));
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, now, reply), COOKIE_SEND_REPLY);
	assert_true(cookie_under_load(&gate, now));
}

static void test_mac1(void **state)
{
	(void)state;
	uint8_t init[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN];
	make_init(init, NULL);
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, T0, reply), COOKIE_PASS);
	/* Any byte under mac1, or mac1 itself, changed: dropped. */
	size_t where[] = { 0, 8, 30, WIRE_HDR_LEN, 100, HS_INIT_MAC1_OFF - 1, HS_INIT_MAC1_OFF, HS_INIT_MAC2_OFF - 1 };
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		init[where[i]] ^= 0x20;
		assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, T0, reply), COOKIE_BAD_MAC1);
		init[where[i]] ^= 0x20;
	}
	/* A gateway with another key refuses it too. */
	uint8_t other[32];
	struct cookie_keys k;
	uint8_t mac[COOKIE_MAC_LEN];
	randombytes_buf(other, 32);
	cookie_keys_init(&k, other);
	cookie_mac1(mac, &k, init);
	assert_memory_not_equal(mac, init + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	/* mac2 is not looked at while not under load. */
	init[HS_INIT_MAC2_OFF] ^= 1;
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, T0 + 10 * SEC, reply), COOKIE_PASS);
	assert_false(cookie_under_load(&gate, T0 + 10 * SEC));
}

static void test_under_load_cookie_round_trip(void **state)
{
	(void)state;
	uint64_t now = T0 + 100 * SEC;
	uint8_t init[HS_INIT_DGRAM_LEN], init2[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN];
	uint8_t cookie[COOKIE_LEN];
	struct cookie_keys k;
	cookie_keys_init(&k, gw_pub);
	overload(now);

	make_init(init, NULL);
	memset(reply, 0, sizeof(reply));
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, now, reply), COOKIE_SEND_REPLY);
	/* Smaller than what it answers: no amplification. */
	assert_true(COOKIE_REPLY_DGRAM_LEN < HS_INIT_DGRAM_LEN);
	struct wire_hdr h;
	assert_int_equal(wire_decode(&h, reply, sizeof(reply)), WIRE_OK);
	assert_int_equal(h.type, WIRE_CONTROL);
	assert_memory_equal(h.client_id, init + 8, WIRE_ID_LEN);
	assert_int_equal(hs_control_type(reply, sizeof(reply)), HS_COOKIE_REPLY);

	/* Only the holder of that HS_INIT's mac1 can open it. */
	assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply), init + HS_INIT_MAC1_OFF), 0);
	uint8_t want[COOKIE_LEN];
	cookie_make(&gate, want, src_a, 6, now);
	assert_memory_equal(cookie, want, COOKIE_LEN);

	/* A fresh initiation with mac2 from that cookie passes, from that
	 * source only. */
	make_init(init2, cookie);
	assert_int_equal(cookie_gate_check(&gate, init2, src_a, 6, now, reply), COOKIE_PASS);
	assert_int_equal(cookie_gate_check(&gate, init2, src_b, 6, now, reply), COOKIE_SEND_REPLY);
	/* A wrong mac2 gets a reply, not DH work. */
	init2[HS_INIT_MAC2_OFF + 3] ^= 1;
	assert_int_equal(cookie_gate_check(&gate, init2, src_a, 6, now, reply), COOKIE_SEND_REPLY);
	/* mac1 is checked before anything else, under load too. */
	init2[HS_INIT_MAC1_OFF + 3] ^= 1;
	assert_int_equal(cookie_gate_check(&gate, init2, src_a, 6, now, reply), COOKIE_BAD_MAC1);

	/* Load passes: one second without going over, then no mac2 needed. */
	uint64_t later = now + COOKIE_LOAD_HOLD_NS + SEC;
	assert_int_equal(cookie_gate_check(&gate, init, src_b, 6, later, reply), COOKIE_PASS);
	assert_false(cookie_under_load(&gate, later));

	/* The caller can declare it (its DH budget spent): a reply at once,
	 * for a second. */
	uint64_t t2 = later + 10 * SEC;
	assert_false(cookie_under_load(&gate, t2));
	cookie_set_load(&gate, t2);
	assert_true(cookie_under_load(&gate, t2 + COOKIE_LOAD_HOLD_NS - 1));
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, t2, reply), COOKIE_SEND_REPLY);
	assert_false(cookie_under_load(&gate, t2 + COOKIE_LOAD_HOLD_NS + 1));
}

static void test_reply_refusals(void **state)
{
	(void)state;
	uint64_t now = T0 + 200 * SEC;
	uint8_t init[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN], cookie[COOKIE_LEN];
	uint8_t mac1[COOKIE_MAC_LEN];
	struct cookie_keys k, wrong;
	cookie_keys_init(&k, gw_pub);
	overload(now);
	make_init(init, NULL);
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, now, reply), COOKIE_SEND_REPLY);

	memcpy(mac1, init + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	mac1[0] ^= 1; /* the reply to another initiation */
	assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply), mac1), -1);
	mac1[0] ^= 1;
	uint8_t other[32];
	randombytes_buf(other, 32);
	cookie_keys_init(&wrong, other); /* from another gateway */
	assert_int_equal(cookie_open_reply(cookie, &wrong, reply, sizeof(reply), mac1), -1);
	assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply) - 1, mac1), -1);
	reply[WIRE_HDR_LEN] = HS_RESP;
	assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply), mac1), -1);
	reply[WIRE_HDR_LEN] = HS_COOKIE_REPLY;
	for (size_t i = WIRE_HDR_LEN + 1; i < sizeof(reply); i += 7) {
		reply[i] ^= 0x80; /* nonce, sealed cookie or tag */
		assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply), mac1), -1);
		reply[i] ^= 0x80;
	}
	assert_int_equal(cookie_open_reply(cookie, &k, reply, sizeof(reply), mac1), 0);

	/* Two replies never share a nonce. */
	uint8_t reply2[COOKIE_REPLY_DGRAM_LEN];
	assert_int_equal(cookie_gate_check(&gate, init, src_a, 6, now, reply2), COOKIE_SEND_REPLY);
	assert_memory_not_equal(reply + WIRE_HDR_LEN + 1, reply2 + WIRE_HDR_LEN + 1, COOKIE_NONCE_LEN);
}

static void test_secret_rotation(void **state)
{
	(void)state;
	uint64_t now = T0 + 300 * SEC;
	uint8_t c0[COOKIE_LEN], c1[COOKIE_LEN], init[HS_INIT_DGRAM_LEN];
	cookie_make(&gate, c0, src_a, 6, now);
	/* Made under the current secret: good now. */
	make_init(init, c0);
	assert_true(cookie_mac2_ok(&gate, init, src_a, 6, now + 119 * SEC));
	assert_false(cookie_mac2_ok(&gate, init, src_b, 6, now + 119 * SEC));
	/* The secret rotates at 120 s: the cookie made under the old one is
	 * still good (the previous secret), the new secret makes new ones. */
	uint64_t born = gate.secret_born_ns;
	assert_true(cookie_mac2_ok(&gate, init, src_a, 6, born + COOKIE_ROTATE_NS));
	assert_true(gate.have_prev);
	cookie_make(&gate, c1, src_a, 6, born + COOKIE_ROTATE_NS);
	assert_memory_not_equal(c0, c1, COOKIE_LEN);
	/* After the next rotation the oldest secret is gone. */
	assert_false(cookie_mac2_ok(&gate, init, src_a, 6, born + 2 * COOKIE_ROTATE_NS));
	make_init(init, c1);
	assert_true(cookie_mac2_ok(&gate, init, src_a, 6, born + 2 * COOKIE_ROTATE_NS));
	/* Idle for two lifetimes: both secrets are new, nothing old passes. */
	uint64_t far = gate.secret_born_ns + 2 * COOKIE_ROTATE_NS;
	assert_false(cookie_mac2_ok(&gate, init, src_a, 6, far));
	assert_false(gate.have_prev);
}

static void test_rate_bucket(void **state)
{
	(void)state;
	uint64_t now = T0 + 1000 * SEC;
	const uint8_t s[6] = { 198, 18, 0, 1, 0, 1 }, s_port[6] = { 198, 18, 0, 1, 9, 9 };
	for (int i = 0; i < COOKIE_RATE_BURST; i++)
		assert_true(cookie_rate_take(&gate, s, 6, now));
	assert_false(cookie_rate_take(&gate, s, 6, now));
	/* Per address: another port of the same host shares the bucket. */
	assert_false(cookie_rate_take(&gate, s_port, 6, now));
	/* Refills at COOKIE_RATE_PER_SEC. */
	uint64_t cost = SEC / COOKIE_RATE_PER_SEC;
	assert_false(cookie_rate_take(&gate, s, 6, now + cost - 1000));
	assert_true(cookie_rate_take(&gate, s, 6, now + cost + cost - 1000));
	/* A full second later: a burst again, no more. */
	uint64_t later = now + 10 * SEC;
	for (int i = 0; i < COOKIE_RATE_BURST; i++)
		assert_true(cookie_rate_take(&gate, s, 6, later));
	assert_false(cookie_rate_take(&gate, s, 6, later));

	/* IPv6: one /64 is one bucket. */
	uint8_t v6a[18] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 };
	uint8_t v6b[18];
	memcpy(v6b, v6a, 18);
	v6b[15] = 2;
	for (int i = 0; i < COOKIE_RATE_BURST; i++)
		assert_true(cookie_rate_take(&gate, v6a, 18, now));
	assert_false(cookie_rate_take(&gate, v6b, 18, now));
	v6b[7] = 2; /* another /64 */
	assert_true(cookie_rate_take(&gate, v6b, 18, now));
}

static void test_reply_bucket(void **state)
{
	(void)state;
	uint64_t now = T0 + 2000 * SEC;
	uint8_t a[6] = { 198, 18, 7, 1, 0, 1 };
	const uint8_t other_net[6] = { 198, 18, 8, 1, 0, 1 };
	for (int i = 0; i < COOKIE_REPLY_BURST; i++) {
		a[3] = (uint8_t)(i + 1); /* spoofed: a new address each time */
		assert_true(cookie_reply_take(&gate, a, 6, now));
	}
	/* Per /24: any address of it now waits for the refill... */
	a[3] = 200;
	assert_false(cookie_reply_take(&gate, a, 6, now));
	/* ...while another network gets its reply at once. */
	assert_true(cookie_reply_take(&gate, other_net, 6, now));
	uint64_t cost = SEC / COOKIE_REPLY_PER_SEC;
	assert_false(cookie_reply_take(&gate, a, 6, now + cost - 1000));
	assert_true(cookie_reply_take(&gate, a, 6, now + cost + cost - 1000));

	/* IPv6: one /48 is one bucket. */
	uint8_t v6[18] = { 0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 };
	for (int i = 0; i < COOKIE_REPLY_BURST; i++) {
		v6[7] = (uint8_t)i; /* another /64 of the same /48 */
		assert_true(cookie_reply_take(&gate, v6, 18, now));
	}
	assert_false(cookie_reply_take(&gate, v6, 18, now));
	v6[5] = 8; /* another /48 */
	assert_true(cookie_reply_take(&gate, v6, 18, now));
}

static void test_reply_to_known_address(void **state)
{
	(void)state;
	uint64_t now = T0 + 4000 * SEC;
	const uint8_t nat[6] = { 203, 0, 113, 7, 0, 1 }, nat_port2[6] = { 203, 0, 113, 7, 0, 2 };
	/* Unknown: the network's budget, then nothing. */
	for (int i = 0; i < COOKIE_REPLY_BURST; i++)
		assert_true(cookie_reply_take(&gate, nat, 6, now));
	assert_false(cookie_reply_take(&gate, nat_port2, 6, now));
	/* Once it has shown a valid cookie (a handshake taken from its bucket),
	 * its replies come from its own budget: its other clients get theirs. */
	assert_true(cookie_rate_take(&gate, nat, 6, now));
	for (int i = 0; i < COOKIE_KNOWN_REPLY_BURST; i++)
		assert_true(cookie_reply_take(&gate, nat_port2, 6, now));
	assert_false(cookie_reply_take(&gate, nat_port2, 6, now));
	/* ...which does not spend its handshakes. */
	for (int i = 0; i < COOKIE_RATE_BURST - 1; i++)
		assert_true(cookie_rate_take(&gate, nat, 6, now));
	assert_false(cookie_rate_take(&gate, nat, 6, now));
	/* Another address of the same /24 is still on the network's budget. */
	const uint8_t neighbour[6] = { 203, 0, 113, 8, 0, 1 };
	assert_false(cookie_reply_take(&gate, neighbour, 6, now));
}

static void test_gate_withholds_replies_per_network(void **state)
{
	(void)state;
	uint8_t init[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN];
	uint64_t now = T0 + 3000 * SEC;
	uint8_t src[6] = { 198, 19, 9, 1, 4, 0 };
	make_init(init, NULL);
	cookie_set_load(&gate, now);
	for (int i = 0; i < COOKIE_REPLY_BURST; i++) {
		src[3] = (uint8_t)(i + 1);
		assert_int_equal(cookie_gate_check(&gate, init, src, 6, now, reply), COOKIE_SEND_REPLY);
	}
	src[3] = 99;
	assert_int_equal(cookie_gate_check(&gate, init, src, 6, now, reply), COOKIE_REPLY_LIMITED);
	/* mac1 still comes first. */
	init[HS_INIT_MAC1_OFF] ^= 1;
	assert_int_equal(cookie_gate_check(&gate, init, src, 6, now, reply), COOKIE_BAD_MAC1);
}

/* The set an IPv4 address falls into, as cookie.c hashes it. */
static unsigned set_of(const uint8_t a[4])
{
	uint8_t key[9] = { a[0], a[1], a[2], a[3], 0, 0, 0, 0, 6 }, h[crypto_shorthash_BYTES];
	crypto_shorthash(h, key, 9, gate.rate_key);
	return (h[0] | (unsigned)h[1] << 8) % COOKIE_RATE_SETS;
}

static void test_rate_eviction(void **state)
{
	(void)state;
	uint64_t now = T0 + 2000 * SEC;
	uint8_t addrs[COOKIE_RATE_WAYS + 1][6];
	int found = 0;
	/* Addresses of one set: one more than it has ways. */
	uint8_t a0[4] = { 100, 64, 0, 0 };
	unsigned want = set_of(a0);
	for (uint32_t i = 0; found <= COOKIE_RATE_WAYS && i < 1u << 22; i++) {
		uint8_t a[4] = { 100, (uint8_t)(64 + (i >> 16)), (uint8_t)(i >> 8), (uint8_t)i };
		if (set_of(a) != want)
			continue;
		memcpy(addrs[found], a, 4);
		addrs[found][4] = addrs[found][5] = 0;
		found++;
	}
	assert_int_equal(found, COOKIE_RATE_WAYS + 1);
	/* Empty the buckets of the first COOKIE_RATE_WAYS, oldest first. */
	for (int w = 0; w < COOKIE_RATE_WAYS; w++) {
		for (int i = 0; i < COOKIE_RATE_BURST; i++)
			assert_true(cookie_rate_take(&gate, addrs[w], 6, now + (uint64_t)w));
		assert_false(cookie_rate_take(&gate, addrs[w], 6, now + (uint64_t)w));
	}
	/* A newcomer takes the way used longest ago (address 0's). */
	assert_true(cookie_rate_take(&gate, addrs[COOKIE_RATE_WAYS], 6, now + 10));
	/* The others kept their (empty) buckets... */
	for (int w = 1; w < COOKIE_RATE_WAYS; w++)
		assert_false(cookie_rate_take(&gate, addrs[w], 6, now + 11));
	/* ...and address 0 starts over with a full one, evicting the next oldest. */
	assert_true(cookie_rate_take(&gate, addrs[0], 6, now + 12));
	assert_true(cookie_rate_take(&gate, addrs[COOKIE_RATE_WAYS], 6, now + 13));
}

static void test_src(void **state)
{
	(void)state;
	uint8_t out[COOKIE_SRC_MAX];
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(51820) };
	inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
	assert_int_equal(cookie_src(out, &a4), 6);
	assert_memory_equal(out, "\xc0\x00\x02\x07\xca\x6c", 6);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(51820) };
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6.sin6_addr);
	assert_int_equal(cookie_src(out, &a6), 6);
	assert_memory_equal(out, "\xc0\x00\x02\x07\xca\x6c", 6);
	inet_pton(AF_INET6, "2001:db8::7", &a6.sin6_addr);
	assert_int_equal(cookie_src(out, &a6), 18);
	assert_memory_equal(out, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07\xca\x6c", 18);
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(cookie_src(out, &un), 0);
}

static void hex(uint8_t *out, const char *h, size_t n)
{
	size_t got = 0;
	assert_int_equal(sodium_hex2bin(out, n, h, strlen(h), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

/* PROTOCOL.md appendix B: the gateway public key 40 41 ... 5f, an HS_INIT
 * whose first 161 bytes are the header and 01 followed by 00 01 ... 7f,
 * the cookie a0 ... af and the nonce c0 ... d7. */
static void test_vectors(void **state)
{
	(void)state;
	uint8_t pub[32], init[HS_INIT_DGRAM_LEN], cookie[COOKIE_LEN], nonce[COOKIE_NONCE_LEN];
	uint8_t want[COOKIE_REPLY_DGRAM_LEN], got[COOKIE_REPLY_DGRAM_LEN], opened[COOKIE_LEN];
	uint8_t k1[32], kc[32], m1[16], m2[16];
	struct cookie_keys k;
	for (int i = 0; i < 32; i++)
		pub[i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < COOKIE_LEN; i++)
		cookie[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < COOKIE_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0xc0 + i);
	struct wire_hdr h = { .type = WIRE_CONTROL, .payload_len = HS_INIT_DGRAM_LEN - WIRE_HDR_LEN };
	wire_encode(init, &h);
	init[WIRE_HDR_LEN] = HS_INIT;
	for (int i = 0; i < HS_INIT_MAC1_OFF - WIRE_HDR_LEN - 1; i++)
		init[WIRE_HDR_LEN + 1 + i] = (uint8_t)i;
	cookie_keys_init(&k, pub);
	hex(k1, "861aa555dccdb562a0b96b97e63d9d37cb41d02efeb518cc4d039b335d9e0874", 32);
	hex(kc, "3c8c20bf3de8a1d9ed9f3b815b678d5d2ec6e53209e13c4b91a860f8854394f7", 32);
	assert_memory_equal(k.mac1_key, k1, 32);
	assert_memory_equal(k.reply_key, kc, 32);
	cookie_stamp_init(init, &k, cookie);
	hex(m1, "c66b4346998f119c1cdf38504033a6bc", 16);
	hex(m2, "58a2d42ce480da99e4c98c036cb65ac3", 16);
	assert_memory_equal(init + HS_INIT_MAC1_OFF, m1, 16);
	assert_memory_equal(init + HS_INIT_MAC2_OFF, m2, 16);
	cookie_gate_init(&gate, pub, 3);
	cookie_seal_reply(&gate, got, init, cookie, nonce);
	hex(want,
	    "56504e310103000000000000000000000000000000000000000000000039000003c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
	    "235f9b5a98d55cbab85f206c803ffbf103baff35cf0a0d1146c0efe59ddffaca",
	    COOKIE_REPLY_DGRAM_LEN);
	assert_memory_equal(got, want, COOKIE_REPLY_DGRAM_LEN);
	assert_int_equal(cookie_open_reply(opened, &k, want, sizeof(want), m1), 0);
	assert_memory_equal(opened, cookie, COOKIE_LEN);
	/* Without a cookie, mac2 is zeros. */
	cookie_stamp_init(init, &k, NULL);
	assert_memory_equal(init + HS_INIT_MAC1_OFF, m1, 16);
	static const uint8_t zero[16];
	assert_memory_equal(init + HS_INIT_MAC2_OFF, zero, 16);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac1),
		cmocka_unit_test(test_under_load_cookie_round_trip),
		cmocka_unit_test(test_reply_refusals),
		cmocka_unit_test(test_secret_rotation),
		cmocka_unit_test(test_rate_bucket),
		cmocka_unit_test(test_reply_bucket),
		cmocka_unit_test(test_reply_to_known_address),
		cmocka_unit_test(test_gate_withholds_replies_per_network),
		cmocka_unit_test(test_rate_eviction),
		cmocka_unit_test(test_src),
		cmocka_unit_test(test_vectors),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
