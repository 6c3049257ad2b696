/* test_aead.c - the data AEADs against libsodium's independent
 * implementations, tampering, and the cipher negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "aead.h"

static uint8_t k1[32], k2[32], nonce[12], ad[32], msg[1400];

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(msg, sizeof(msg));
	return 0;
}

/* Seals with our AEAD under k1 and checks libsodium opens it. */
static void check_against_sodium(uint8_t alg, size_t len)
{
	struct aead a;
	uint8_t buf[1400], tag[16], out[1400];
	assert_int_equal(aead_init(&a, alg, k1, k2), 0);
	memcpy(buf, msg, len);
	assert_int_equal(aead_seal(&a, nonce, ad, sizeof(ad), buf, len, tag), 0);
	int rc;
	if (alg == AEAD_CHACHA20_POLY1305) {
		rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, buf, len, tag, ad, sizeof(ad),
									 nonce, k1);
	} else {
		if (!crypto_aead_aes256gcm_is_available()) {
			aead_free(&a);
			skip();
		}
		rc = crypto_aead_aes256gcm_decrypt_detached(out, NULL, buf, len, tag, ad, sizeof(ad), nonce, k1);
	}
	assert_int_equal(rc, 0);
	assert_memory_equal(out, msg, len);
	aead_free(&a);
}

static void test_chacha_matches_sodium(void **state)
{
	(void)state;
	check_against_sodium(AEAD_CHACHA20_POLY1305, 1400);
	check_against_sodium(AEAD_CHACHA20_POLY1305, 0);
	check_against_sodium(AEAD_CHACHA20_POLY1305, 61);
}

static void test_aes_gcm_matches_sodium(void **state)
{
	(void)state;
	check_against_sodium(AEAD_AES256_GCM, 1400);
	check_against_sodium(AEAD_AES256_GCM, 0);
	check_against_sodium(AEAD_AES256_GCM, 61);
}

/* Every length from 0 to 1400 bytes, both ways against libsodium: the
 * AES-GCM library runs different code for short tails, partial blocks
 * and its 4-, 8- and 16-block strides, so a few lengths prove little. */
static void every_length(uint8_t alg)
{
	struct aead a;
	uint8_t buf[1400], tag[16], out[1401], ct[1400];
	if (alg == AEAD_AES256_GCM && !crypto_aead_aes256gcm_is_available())
		skip();
	assert_int_equal(aead_init(&a, alg, k1, k2), 0);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		memcpy(buf, msg, len);
		assert_int_equal(aead_seal(&a, nonce, ad, sizeof(ad), buf, len, tag), 0);
		int rc = alg == AEAD_AES256_GCM
				 ? crypto_aead_aes256gcm_decrypt_detached(out, NULL, buf, len, tag, ad, sizeof(ad), nonce, k1)
				 : crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, buf, len, tag, ad,
										      sizeof(ad), nonce, k1);
		assert_int_equal(rc, 0);
		assert_memory_equal(out, msg, len);
		/* The other way: libsodium seals under k2, our receive key. */
		if (alg == AEAD_AES256_GCM)
			crypto_aead_aes256gcm_encrypt_detached(buf, tag, NULL, msg, len, ad, sizeof(ad), NULL, nonce, k2);
		else
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, msg, len, ad, sizeof(ad), NULL,
									  nonce, k2);
		/* Out of place (a datagram still in the receive buffer), the
		 * ciphertext left as it was; then in place. */
		memset(out, 0xee, sizeof(out));
		memcpy(ct, buf, len);
		assert_int_equal(aead_open(&a, nonce, ad, sizeof(ad), buf, out, len, tag), 0);
		assert_memory_equal(out, msg, len);
		assert_int_equal(out[len], 0xee); /* not a byte more */
		assert_memory_equal(buf, ct, len);
		assert_int_equal(aead_open(&a, nonce, ad, sizeof(ad), buf, buf, len, tag), 0);
		assert_memory_equal(buf, msg, len);
	}
	aead_free(&a);
}

static void test_aes_gcm_every_length(void **state)
{
	(void)state;
	every_length(AEAD_AES256_GCM);
}

static void test_chacha_every_length(void **state)
{
	(void)state;
	every_length(AEAD_CHACHA20_POLY1305);
}

/* Two ends with crossed keys: what one seals the other opens; any
 * flipped bit in ad, ciphertext or tag, or another nonce, fails. */
static void roundtrip_and_tamper(uint8_t alg)
{
	struct aead a, b;
	uint8_t buf[300], tag[16], tmp[300], t2[16], ad2[32], n2[12];
	assert_int_equal(aead_init(&a, alg, k1, k2), 0);
	assert_int_equal(aead_init(&b, alg, k2, k1), 0);
	memcpy(buf, msg, sizeof(buf));
	assert_int_equal(aead_seal(&a, nonce, ad, sizeof(ad), buf, sizeof(buf), tag), 0);
	assert_memory_not_equal(buf, msg, sizeof(buf));

	memcpy(tmp, buf, sizeof(buf));
	assert_int_equal(aead_open(&b, nonce, ad, sizeof(ad), tmp, tmp, sizeof(tmp), tag), 0);
	assert_memory_equal(tmp, msg, sizeof(tmp));

	for (size_t i = 0; i < sizeof(buf); i += 37) {
		memcpy(tmp, buf, sizeof(buf));
		tmp[i] ^= 0x10;
		assert_int_equal(aead_open(&b, nonce, ad, sizeof(ad), tmp, tmp, sizeof(tmp), tag), -1);
	}
	for (size_t i = 0; i < 16; i++) {
		memcpy(tmp, buf, sizeof(buf));
		memcpy(t2, tag, 16);
		t2[i] ^= 1;
		assert_int_equal(aead_open(&b, nonce, ad, sizeof(ad), tmp, tmp, sizeof(tmp), t2), -1);
	}
	memcpy(ad2, ad, sizeof(ad));
	ad2[31] ^= 1;
	memcpy(tmp, buf, sizeof(buf));
	assert_int_equal(aead_open(&b, nonce, ad2, sizeof(ad2), tmp, tmp, sizeof(tmp), tag), -1);
	memcpy(n2, nonce, sizeof(n2));
	n2[11] ^= 1;
	memcpy(tmp, buf, sizeof(buf));
	assert_int_equal(aead_open(&b, n2, ad, sizeof(ad), tmp, tmp, sizeof(tmp), tag), -1);
	/* The context is still good after failures. */
	memcpy(tmp, buf, sizeof(buf));
	assert_int_equal(aead_open(&b, nonce, ad, sizeof(ad), tmp, tmp, sizeof(tmp), tag), 0);
	/* Our own receive key is not the peer's send key. */
	memcpy(tmp, buf, sizeof(buf));
	assert_int_equal(aead_open(&a, nonce, ad, sizeof(ad), tmp, tmp, sizeof(tmp), tag), -1);
	aead_free(&a);
	aead_free(&b);
	assert_null(a.seal);
}

static void test_roundtrip_chacha(void **state)
{
	(void)state;
	roundtrip_and_tamper(AEAD_CHACHA20_POLY1305);
}

static void test_roundtrip_aes(void **state)
{
	(void)state;
	roundtrip_and_tamper(AEAD_AES256_GCM);
}

static void test_negotiation(void **state)
{
	(void)state;
	struct aead a;
	assert_int_equal(aead_init(&a, 0, k1, k2), -1);
	assert_int_equal(aead_init(&a, 7, k1, k2), -1);
	assert_true(aead_offer() & (1u << AEAD_CHACHA20_POLY1305));
	assert_int_equal(aead_choose(1u << AEAD_CHACHA20_POLY1305), AEAD_CHACHA20_POLY1305);
	assert_int_equal(aead_choose(0), 0);
	assert_int_equal(aead_choose(1u << 9), 0);
	uint8_t both = aead_choose(AEAD_ALGS_ALL);
	assert_int_equal(both, aead_aes_hw() ? AEAD_AES256_GCM : AEAD_CHACHA20_POLY1305);
	assert_int_equal(aead_choose(1u << AEAD_AES256_GCM), aead_aes_hw() ? AEAD_AES256_GCM : 0);
	assert_string_equal(aead_name(AEAD_AES256_GCM), "aes-256-gcm");
	assert_string_equal(aead_name(AEAD_CHACHA20_POLY1305), "chacha20-poly1305");
	/* The start-up log's offer names AES-GCM exactly when we offer it. */
	const char *offer = aead_offer_str();
	assert_int_equal(strncmp(offer, "aes-256-gcm", 11) == 0, aead_aes_hw());
	assert_non_null(strstr(offer, "chacha20-poly1305"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chacha_matches_sodium),
		cmocka_unit_test(test_aes_gcm_matches_sodium),
		cmocka_unit_test(test_aes_gcm_every_length),
		cmocka_unit_test(test_chacha_every_length),
		cmocka_unit_test(test_roundtrip_chacha),
		cmocka_unit_test(test_roundtrip_aes),
		cmocka_unit_test(test_negotiation),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
