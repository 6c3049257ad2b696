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

/* A forger's own Noise steps (HMAC and HKDF over BLAKE2b, as the
 * framework defines them), written apart from noise.c so that a message
 * it makes tests noise.c rather than agreeing with it by construction. */
static void f_hash2(uint8_t out[64], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	crypto_generichash_blake2b_state st;
	crypto_generichash_blake2b_init(&st, NULL, 0, 64);
	crypto_generichash_blake2b_update(&st, a, alen);
	crypto_generichash_blake2b_update(&st, b, blen);
	crypto_generichash_blake2b_final(&st, out, 64);
}

static void f_hmac(uint8_t out[64], const uint8_t key[64], const uint8_t *d, size_t dlen)
{
	uint8_t pad[128], inner[64];
	for (int round = 0; round < 2; round++) {
		memset(pad, round ? 0x5c : 0x36, sizeof(pad));
		for (size_t i = 0; i < 64; i++)
			pad[i] ^= key[i];
		if (round)
			f_hash2(out, pad, sizeof(pad), inner, sizeof(inner));
		else
			f_hash2(inner, pad, sizeof(pad), d, dlen);
	}
}

/* ck, k = HKDF(ck, ikm), k the first 32 bytes of the second output. */
static void f_mix_key(uint8_t ck[64], uint8_t k[32], const uint8_t *ikm, size_t len)
{
	uint8_t temp[64], o1[64], in[65], o2[64];
	f_hmac(temp, ck, ikm, len);
	in[0] = 1;
	f_hmac(o1, temp, in, 1);
	memcpy(in, o1, 64);
	in[64] = 2;
	f_hmac(o2, temp, in, 65);
	memcpy(ck, o1, 64);
	memcpy(k, o2, 32);
}

static void f_encrypt(uint8_t h[64], const uint8_t k[32], uint64_t n, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[12] = { 0 };
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, h, 64, NULL, nonce, k);
	f_hash2(h, h, 64, out, len + 16);
}

/* Message 1 from an ephemeral key of small order: es is then all zeros,
 * known to anyone, so a forger can encrypt s and the payload correctly
 * under it. Only the responder's refusal of that DH stops the message;
 * with the check gone it would be accepted. */
static void test_low_order_ephemeral_refused(void **state)
{
	(void)state;
	/* 0 and 1, and a point of order 8, in little-endian u-coordinates */
	static const uint8_t small_order[3][32] = {
		{ 0 },
		{ 1 },
		{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	};
	uint8_t rs[32], si_pub[32], ss[32];
	assert_int_equal(noise_pubkey(rs, nv_resp_static_priv), 0);
	assert_int_equal(noise_pubkey(si_pub, nv_init_static_priv), 0);
	assert_int_equal(crypto_scalarmult_curve25519(ss, nv_init_static_priv, rs), 0);
	for (int t = 0; t < 3; t++) {
		uint8_t h[64] = { 0 }, ck[64], k[32], zero[32] = { 0 };
		uint8_t msg[NOISE_MSG1_LEN(P1_LEN)], got[P1_LEN];
		memcpy(h, NOISE_PROTOCOL, sizeof(NOISE_PROTOCOL) - 1);
		memcpy(ck, h, 64);
		f_hash2(h, h, 64, (const uint8_t *)NOISE_PROLOGUE, sizeof(NOISE_PROLOGUE) - 1);
		f_hash2(h, h, 64, rs, 32);
		memcpy(msg, small_order[t], 32); /* -> e */
		f_hash2(h, h, 64, msg, 32);
		f_mix_key(ck, k, zero, 32);                     /* es: all zeros */
		f_encrypt(h, k, 0, si_pub, 32, msg + 32);       /* s */
		f_mix_key(ck, k, ss, 32);                       /* ss */
		f_encrypt(h, k, 0, nv_payload1, P1_LEN, msg + 80); /* payload */

		struct noise_hs resp;
		noise_init_responder(&resp, nv_resp_static_priv);
		if (noise_read_msg1(&resp, msg, sizeof(msg), got) == 0)
			fail_msg("msg1 with small-order ephemeral %d accepted", t);
	}
}

/* The forger above is right: with an ordinary ephemeral key and the real
 * es, its message is accepted (so the refusal above is the DH check's). */
static void test_forger_makes_valid_msg1(void **state)
{
	(void)state;
	uint8_t rs[32], si_pub[32], ss[32], e_pub[32], es[32];
	assert_int_equal(noise_pubkey(rs, nv_resp_static_priv), 0);
	assert_int_equal(noise_pubkey(si_pub, nv_init_static_priv), 0);
	assert_int_equal(noise_pubkey(e_pub, nv_init_eph_priv), 0);
	assert_int_equal(crypto_scalarmult_curve25519(ss, nv_init_static_priv, rs), 0);
	assert_int_equal(crypto_scalarmult_curve25519(es, nv_init_eph_priv, rs), 0);
	uint8_t h[64] = { 0 }, ck[64], k[32];
	uint8_t msg[NOISE_MSG1_LEN(P1_LEN)], got[P1_LEN];
	memcpy(h, NOISE_PROTOCOL, sizeof(NOISE_PROTOCOL) - 1);
	memcpy(ck, h, 64);
	f_hash2(h, h, 64, (const uint8_t *)NOISE_PROLOGUE, sizeof(NOISE_PROLOGUE) - 1);
	f_hash2(h, h, 64, rs, 32);
	memcpy(msg, e_pub, 32);
	f_hash2(h, h, 64, msg, 32);
	f_mix_key(ck, k, es, 32);
	f_encrypt(h, k, 0, si_pub, 32, msg + 32);
	f_mix_key(ck, k, ss, 32);
	f_encrypt(h, k, 0, nv_payload1, P1_LEN, msg + 80);
	assert_memory_equal(msg, nv_msg1, nv_msg1_len); /* and the vector agrees */
	struct noise_hs resp;
	noise_init_responder(&resp, nv_resp_static_priv);
	assert_int_equal(noise_read_msg1(&resp, msg, sizeof(msg), got), 0);
	assert_memory_equal(got, nv_payload1, P1_LEN);
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
		cmocka_unit_test(test_forger_makes_valid_msg1),
		cmocka_unit_test(test_low_order_ephemeral_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
