/* test_noise.c - Noise IK against vectors from an independent
 * implementation (python3-dissononce, see tests/vectors/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "noise.h"
#include "noise_vectors.h"

#define P1_LEN sizeof(nv_payload1)
#define P2_LEN sizeof(nv_payload2)

/* Both sides after the full handshake, before split. */
struct both {
	struct noise_hs ini, resp;
	uint8_t msg1[NOISE_MSG1_LEN(P1_LEN)];
	uint8_t msg2[NOISE_MSG2_LEN(P2_LEN)];
	uint8_t got1[P1_LEN], got2[P2_LEN];
};

static void init_pair(struct noise_hs *ini, struct noise_hs *resp)
{
	uint8_t resp_pub[32];
	assert_int_equal(noise_pubkey(resp_pub, nv_resp_static_priv), 0);
	noise_init_initiator(ini, nv_init_static_priv, resp_pub);
	noise_init_responder(resp, nv_resp_static_priv);
}

/* The initiator state right after writing msg1 (vector ephemeral). */
static void initiator_after_msg1(struct noise_hs *ini, uint8_t msg1[NOISE_MSG1_LEN(P1_LEN)])
{
	struct noise_hs resp;
	init_pair(ini, &resp);
	assert_int_equal(noise_write_msg1(ini, nv_init_eph_priv, nv_payload1, P1_LEN, msg1), 0);
	noise_wipe(&resp);
}

static void run_handshake(struct both *b)
{
	init_pair(&b->ini, &b->resp);
	assert_int_equal(noise_write_msg1(&b->ini, nv_init_eph_priv, nv_payload1, P1_LEN, b->msg1), 0);
	assert_int_equal(noise_read_msg1(&b->resp, b->msg1, sizeof(b->msg1), b->got1), 0);
	assert_int_equal(noise_write_msg2(&b->resp, nv_resp_eph_priv, nv_payload2, P2_LEN, b->msg2), 0);
	assert_int_equal(noise_read_msg2(&b->ini, b->msg2, sizeof(b->msg2), b->got2), 0);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(NOISE_MSG1_LEN(P1_LEN), nv_msg1_len);
	assert_int_equal(NOISE_MSG2_LEN(P2_LEN), nv_msg2_len);
	assert_int_equal(sizeof(nv_msg1), nv_msg1_len);
	assert_int_equal(sizeof(nv_msg2), nv_msg2_len);
	assert_memory_equal(nv_prologue, NOISE_PROLOGUE, sizeof(nv_prologue));
	assert_int_equal(sizeof(NOISE_PROLOGUE) - 1, sizeof(nv_prologue));
}

static void test_pubkeys_match_vectors(void **state)
{
	(void)state;
	uint8_t pub[32];
	assert_int_equal(noise_pubkey(pub, nv_resp_static_priv), 0);
	assert_memory_equal(pub, nv_resp_static_pub, 32);
	assert_int_equal(noise_pubkey(pub, nv_init_static_priv), 0);
	assert_memory_equal(pub, nv_init_static_pub, 32);
}

static void test_genkey_clamped_and_random(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	noise_genkey(a);
	noise_genkey(b);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0x80, 0);
	assert_int_equal(a[31] & 0x40, 0x40);
}

static void test_msg1_matches_vector(void **state)
{
	(void)state;
	struct noise_hs ini, resp;
	uint8_t msg1[NOISE_MSG1_LEN(P1_LEN)];
	init_pair(&ini, &resp);
	assert_int_equal(noise_write_msg1(&ini, nv_init_eph_priv, nv_payload1, P1_LEN, msg1), 0);
	assert_memory_equal(msg1, nv_msg1, nv_msg1_len);
}

static void test_read_msg1_vector(void **state)
{
	(void)state;
	struct noise_hs resp;
	uint8_t got[P1_LEN];
	noise_init_responder(&resp, nv_resp_static_priv);
	assert_int_equal(noise_read_msg1(&resp, nv_msg1, nv_msg1_len, got), 0);
	assert_memory_equal(got, nv_payload1, P1_LEN);
	assert_memory_equal(resp.rs, nv_init_static_pub, 32);
}

static void test_msg2_matches_vector(void **state)
{
	(void)state;
	struct noise_hs resp;
	uint8_t got[P1_LEN], msg2[NOISE_MSG2_LEN(P2_LEN)];
	noise_init_responder(&resp, nv_resp_static_priv);
	assert_int_equal(noise_read_msg1(&resp, nv_msg1, nv_msg1_len, got), 0);
	assert_int_equal(noise_write_msg2(&resp, nv_resp_eph_priv, nv_payload2, P2_LEN, msg2), 0);
	assert_memory_equal(msg2, nv_msg2, nv_msg2_len);
}

static void test_read_msg2_vector(void **state)
{
	(void)state;
	struct noise_hs ini;
	uint8_t msg1[NOISE_MSG1_LEN(P1_LEN)], got[P2_LEN];
	initiator_after_msg1(&ini, msg1);
	assert_int_equal(noise_read_msg2(&ini, nv_msg2, nv_msg2_len, got), 0);
	assert_memory_equal(got, nv_payload2, P2_LEN);
}

static void test_handshake_hash(void **state)
{
	(void)state;
	struct both b;
	run_handshake(&b);
	assert_memory_equal(b.got1, nv_payload1, P1_LEN);
	assert_memory_equal(b.got2, nv_payload2, P2_LEN);
	assert_memory_equal(b.msg1, nv_msg1, nv_msg1_len);
	assert_memory_equal(b.msg2, nv_msg2, nv_msg2_len);
	assert_memory_equal(b.ini.h, nv_handshake_hash, NOISE_HASH_LEN);
	assert_memory_equal(b.resp.h, nv_handshake_hash, NOISE_HASH_LEN);
}

static void test_split_keys(void **state)
{
	(void)state;
	struct both b;
	uint8_t ii2r[32], ir2i[32], ri2r[32], rr2i[32];
	run_handshake(&b);
	noise_split(&b.ini, ii2r, ir2i);
	noise_split(&b.resp, ri2r, rr2i); /* same argument order on both sides */
	assert_memory_equal(ii2r, nv_key_i2r, 32);
	assert_memory_equal(ir2i, nv_key_r2i, 32);
	assert_memory_equal(ri2r, nv_key_i2r, 32);
	assert_memory_equal(rr2i, nv_key_r2i, 32);
	/* split wipes the handshake state */
	static const uint8_t zero[sizeof(struct noise_hs)];
	assert_memory_equal(&b.ini, zero, sizeof(zero));
	assert_memory_equal(&b.resp, zero, sizeof(zero));
}

static void encrypt_ping(const uint8_t key[32], uint8_t *out, unsigned long long *out_len)
{
	static const uint8_t nonce[12];
	crypto_aead_chacha20poly1305_ietf_encrypt(out, out_len, (const uint8_t *)"ping", 4, NULL, 0, NULL,
						  nonce, key);
}

static void test_transport_vectors(void **state)
{
	(void)state;
	struct both b;
	uint8_t i2r[32], r2i[32], ct[4 + 16];
	unsigned long long ct_len = 0;
	run_handshake(&b);
	noise_split(&b.ini, i2r, r2i);

	assert_int_equal(sizeof(nv_transport_ct_i2r), sizeof(ct));
	assert_int_equal(sizeof(nv_transport_ct_r2i), sizeof(ct));
	encrypt_ping(i2r, ct, &ct_len);
	assert_int_equal(ct_len, sizeof(ct));
	assert_memory_equal(ct, nv_transport_ct_i2r, sizeof(ct));
	encrypt_ping(r2i, ct, &ct_len);
	assert_memory_equal(ct, nv_transport_ct_r2i, sizeof(ct));
}

static void test_msg1_any_bit_flip_fails(void **state)
{
	(void)state;
	uint8_t msg[sizeof(nv_msg1)], got[P1_LEN];
	for (size_t i = 0; i < nv_msg1_len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct noise_hs resp;
			memcpy(msg, nv_msg1, nv_msg1_len);
			msg[i] ^= (uint8_t)(1u << bit);
			noise_init_responder(&resp, nv_resp_static_priv);
			if (noise_read_msg1(&resp, msg, nv_msg1_len, got) == 0)
				fail_msg("msg1 with byte %zu bit %u flipped was accepted", i, bit);
		}
	}
}

static void test_msg1_truncated_or_extended_fails(void **state)
{
	(void)state;
	uint8_t msg[sizeof(nv_msg1) + 1], got[P1_LEN + 1];
	struct noise_hs resp;
	memcpy(msg, nv_msg1, nv_msg1_len);
	msg[nv_msg1_len] = 0;
	for (size_t len = 0; len < nv_msg1_len; len++) {
		noise_init_responder(&resp, nv_resp_static_priv);
		assert_int_not_equal(noise_read_msg1(&resp, msg, len, got), 0);
	}
	noise_init_responder(&resp, nv_resp_static_priv);
	assert_int_not_equal(noise_read_msg1(&resp, msg, nv_msg1_len + 1, got), 0);
}

static void test_msg1_wrong_responder_key_fails(void **state)
{
	(void)state;
	uint8_t other[32], got[P1_LEN];
	struct noise_hs resp;
	noise_genkey(other);
	noise_init_responder(&resp, other);
	assert_int_not_equal(noise_read_msg1(&resp, nv_msg1, nv_msg1_len, got), 0);
}

static void test_msg2_any_bit_flip_fails(void **state)
{
	(void)state;
	struct noise_hs after1;
	uint8_t msg1[NOISE_MSG1_LEN(P1_LEN)], msg[sizeof(nv_msg2)], got[P2_LEN];
	initiator_after_msg1(&after1, msg1);
	for (size_t i = 0; i < nv_msg2_len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct noise_hs ini = after1;
			memcpy(msg, nv_msg2, nv_msg2_len);
			msg[i] ^= (uint8_t)(1u << bit);
			if (noise_read_msg2(&ini, msg, nv_msg2_len, got) == 0)
				fail_msg("msg2 with byte %zu bit %u flipped was accepted", i, bit);
		}
	}
	/* and the untouched one still reads with that state */
	struct noise_hs ini = after1;
	assert_int_equal(noise_read_msg2(&ini, nv_msg2, nv_msg2_len, got), 0);
}

static void test_msg2_for_other_initiator_fails(void **state)
{
	(void)state;
	/* An initiator with another ephemeral cannot read the vector msg2. */
	uint8_t resp_pub[32], other_eph[32], msg1[NOISE_MSG1_LEN(P1_LEN)], got[P2_LEN];
	struct noise_hs ini;
	noise_pubkey(resp_pub, nv_resp_static_priv);
	noise_genkey(other_eph);
	noise_init_initiator(&ini, nv_init_static_priv, resp_pub);
	assert_int_equal(noise_write_msg1(&ini, other_eph, nv_payload1, P1_LEN, msg1), 0);
	assert_int_not_equal(noise_read_msg2(&ini, nv_msg2, nv_msg2_len, got), 0);
}

static void test_random_handshake_roundtrip(void **state)
{
	(void)state;
	uint8_t is[32], rs[32], rpub[32], ipub[32];
	uint8_t m1[NOISE_MSG1_LEN(5)], m2[NOISE_MSG2_LEN(0)], p[5];
	uint8_t a1[32], a2[32], b1[32], b2[32];
	struct noise_hs ini, resp;
	noise_genkey(is);
	noise_genkey(rs);
	noise_pubkey(rpub, rs);
	noise_pubkey(ipub, is);
	noise_init_initiator(&ini, is, rpub);
	noise_init_responder(&resp, rs);
	assert_int_equal(noise_write_msg1(&ini, NULL, (const uint8_t *)"hello", 5, m1), 0);
	assert_int_equal(noise_read_msg1(&resp, m1, sizeof(m1), p), 0);
	assert_memory_equal(p, "hello", 5);
	assert_memory_equal(resp.rs, ipub, 32);
	assert_int_equal(noise_write_msg2(&resp, NULL, NULL, 0, m2), 0);
	assert_int_equal(noise_read_msg2(&ini, m2, sizeof(m2), NULL), 0);
	noise_split(&ini, a1, a2);
	noise_split(&resp, b1, b2);
	assert_memory_equal(a1, b1, 32);
	assert_memory_equal(a2, b2, 32);
	assert_memory_not_equal(a1, a2, 32);
}

static void test_low_order_ephemeral_refused(void **state)
{
	(void)state;
	/* An all-zero ephemeral public key makes every DH zero. */
	uint8_t msg[sizeof(nv_msg1)], got[P1_LEN];
	struct noise_hs resp;
	memcpy(msg, nv_msg1, nv_msg1_len);
	memset(msg, 0, 32);
	noise_init_responder(&resp, nv_resp_static_priv);
	assert_int_not_equal(noise_read_msg1(&resp, msg, nv_msg1_len, got), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_pubkeys_match_vectors),
		cmocka_unit_test(test_genkey_clamped_and_random),
		cmocka_unit_test(test_msg1_matches_vector),
		cmocka_unit_test(test_read_msg1_vector),
		cmocka_unit_test(test_msg2_matches_vector),
		cmocka_unit_test(test_read_msg2_vector),
		cmocka_unit_test(test_handshake_hash),
		cmocka_unit_test(test_split_keys),
		cmocka_unit_test(test_transport_vectors),
		cmocka_unit_test(test_msg1_any_bit_flip_fails),
		cmocka_unit_test(test_msg1_truncated_or_extended_fails),
		cmocka_unit_test(test_msg1_wrong_responder_key_fails),
		cmocka_unit_test(test_msg2_any_bit_flip_fails),
		cmocka_unit_test(test_msg2_for_other_initiator_fails),
		cmocka_unit_test(test_random_handshake_roundtrip),
		cmocka_unit_test(test_low_order_ephemeral_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
