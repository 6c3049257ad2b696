/* noise.c - Noise IK, following the Noise Protocol Framework rev. 34
 * section 5 (CipherState, SymmetricState) with BLAKE2b as HASH, HMAC and
 * HKDF built on it, X25519 and ChaCha20-Poly1305 (IETF nonce layout:
 * 32 zero bits then the 64-bit counter little-endian). */
#include "noise.h"

#include <sodium.h>
#include <string.h>

#define BLAKE2B_BLOCK 128

static void hash2(uint8_t out[NOISE_HASH_LEN], const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen)
{
	crypto_generichash_blake2b_state st;
	crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASH_LEN);
	crypto_generichash_blake2b_update(&st, a, alen);
	if (blen)
		crypto_generichash_blake2b_update(&st, b, blen);
	crypto_generichash_blake2b_final(&st, out, NOISE_HASH_LEN);
}

/* HMAC-BLAKE2b with a key of at most one hash length (always so here). */
static void hmac(uint8_t out[NOISE_HASH_LEN], const uint8_t *key, size_t klen,
		 const uint8_t *data, size_t dlen)
{
	uint8_t pad[BLAKE2B_BLOCK], inner[NOISE_HASH_LEN];

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < klen; i++)
		pad[i] ^= key[i];
	hash2(inner, pad, sizeof(pad), data, dlen);
	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < klen; i++)
		pad[i] ^= key[i];
	hash2(out, pad, sizeof(pad), inner, sizeof(inner));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF with two outputs, as Noise defines it. */
static void hkdf2(uint8_t o1[NOISE_HASH_LEN], uint8_t o2[NOISE_HASH_LEN], const uint8_t ck[NOISE_HASH_LEN],
		  const uint8_t *ikm, size_t ikm_len)
{
	uint8_t temp[NOISE_HASH_LEN], in[NOISE_HASH_LEN + 1];

	hmac(temp, ck, NOISE_HASH_LEN, ikm, ikm_len);
	in[0] = 1;
	hmac(o1, temp, NOISE_HASH_LEN, in, 1);
	memcpy(in, o1, NOISE_HASH_LEN);
	in[NOISE_HASH_LEN] = 2;
	hmac(o2, temp, NOISE_HASH_LEN, in, sizeof(in));
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(in, sizeof(in));
}

static void mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	hash2(hs->h, hs->h, NOISE_HASH_LEN, data, len);
}

static void mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t tk[NOISE_HASH_LEN];
	hkdf2(hs->ck, tk, hs->ck, ikm, len);
	memcpy(hs->k, tk, NOISE_KEY_LEN);
	hs->n = 0;
	hs->has_key = 1;
	sodium_memzero(tk, sizeof(tk));
}

static int mix_dh(struct noise_hs *hs, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t shared[32];
	/* libsodium refuses an all-zero result (a low-order public key). */
	if (crypto_scalarmult_curve25519(shared, priv, pub) != 0)
		return -1;
	mix_key(hs, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

static void nonce_of(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* Every use of k here has a key (IK mixes a DH before the first one). */
static void encrypt_and_hash(struct noise_hs *hs, uint8_t *out, const uint8_t *pt, size_t len)
{
	uint8_t nonce[12];
	nonce_of(nonce, hs->n++);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, hs->h, NOISE_HASH_LEN, NULL,
						  nonce, hs->k);
	mix_hash(hs, out, len + NOISE_AEAD_TAG);
}

static int decrypt_and_hash(struct noise_hs *hs, uint8_t *out, const uint8_t *ct, size_t len)
{
	uint8_t nonce[12];
	nonce_of(nonce, hs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, hs->h, NOISE_HASH_LEN,
						      nonce, hs->k) != 0)
		return -1;
	hs->n++;
	mix_hash(hs, ct, len);
	return 0;
}

int noise_pubkey(uint8_t pub[32], const uint8_t priv[32])
{
	return crypto_scalarmult_curve25519_base(pub, priv);
}

void noise_genkey(uint8_t priv[32])
{
	randombytes_buf(priv, 32);
	/* Clamped as X25519 would clamp it, so the stored key is canonical. */
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
}

static void init_common(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t *responder_pub)
{
	memset(hs, 0, sizeof(*hs));
	/* The protocol name is shorter than HASHLEN: h = name zero-padded. */
	memcpy(hs->h, NOISE_PROTOCOL, sizeof(NOISE_PROTOCOL) - 1);
	memcpy(hs->ck, hs->h, NOISE_HASH_LEN);
	mix_hash(hs, (const uint8_t *)NOISE_PROLOGUE, sizeof(NOISE_PROLOGUE) - 1);
	memcpy(hs->s_priv, s_priv, 32);
	noise_pubkey(hs->s_pub, s_priv);
	mix_hash(hs, responder_pub, 32); /* pre-message: <- s */
}

void noise_init_initiator(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t rs[32])
{
	init_common(hs, s_priv, rs);
	memcpy(hs->rs, rs, 32);
}

void noise_init_responder(struct noise_hs *hs, const uint8_t s_priv[32])
{
	uint8_t pub[32];
	noise_pubkey(pub, s_priv);
	init_common(hs, s_priv, pub);
}

static int make_ephemeral(struct noise_hs *hs, const uint8_t *e_priv)
{
	if (e_priv)
		memcpy(hs->e_priv, e_priv, 32);
	else
		noise_genkey(hs->e_priv);
	return noise_pubkey(hs->e_pub, hs->e_priv);
}

int noise_write_msg1(struct noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload,
		     size_t plen, uint8_t *out)
{
	if (make_ephemeral(hs, e_priv) != 0)
		return -1;
	memcpy(out, hs->e_pub, 32);
	mix_hash(hs, hs->e_pub, 32);
	if (mix_dh(hs, hs->e_priv, hs->rs) != 0)
		return -1;
	encrypt_and_hash(hs, out + 32, hs->s_pub, 32);
	if (mix_dh(hs, hs->s_priv, hs->rs) != 0)
		return -1;
	encrypt_and_hash(hs, out + 32 + 32 + NOISE_AEAD_TAG, payload, plen);
	return 0;
}

int noise_read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload)
{
	if (len < NOISE_MSG1_LEN(0))
		return -1;
	memcpy(hs->re, msg, 32);
	mix_hash(hs, hs->re, 32);
	if (mix_dh(hs, hs->s_priv, hs->re) != 0)
		return -1;
	if (decrypt_and_hash(hs, hs->rs, msg + 32, 32 + NOISE_AEAD_TAG) != 0)
		return -1;
	if (mix_dh(hs, hs->s_priv, hs->rs) != 0)
		return -1;
	size_t off = 32 + 32 + NOISE_AEAD_TAG;
	return decrypt_and_hash(hs, payload, msg + off, len - off);
}

int noise_write_msg2(struct noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload,
		     size_t plen, uint8_t *out)
{
	if (make_ephemeral(hs, e_priv) != 0)
		return -1;
	memcpy(out, hs->e_pub, 32);
	mix_hash(hs, hs->e_pub, 32);
	if (mix_dh(hs, hs->e_priv, hs->re) != 0)
		return -1;
	if (mix_dh(hs, hs->e_priv, hs->rs) != 0)
		return -1;
	encrypt_and_hash(hs, out + 32, payload, plen);
	return 0;
}

int noise_read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload)
{
	if (len < NOISE_MSG2_LEN(0))
		return -1;
	memcpy(hs->re, msg, 32);
	mix_hash(hs, hs->re, 32);
	if (mix_dh(hs, hs->e_priv, hs->re) != 0)
		return -1;
	if (mix_dh(hs, hs->s_priv, hs->re) != 0)
		return -1;
	return decrypt_and_hash(hs, payload, msg + 32, len - 32);
}

void noise_split(struct noise_hs *hs, uint8_t i2r[NOISE_KEY_LEN], uint8_t r2i[NOISE_KEY_LEN])
{
	uint8_t o1[NOISE_HASH_LEN], o2[NOISE_HASH_LEN];
	hkdf2(o1, o2, hs->ck, NULL, 0);
	memcpy(i2r, o1, NOISE_KEY_LEN);
	memcpy(r2i, o2, NOISE_KEY_LEN);
	sodium_memzero(o1, sizeof(o1));
	sodium_memzero(o2, sizeof(o2));
	noise_wipe(hs);
}

void noise_wipe(struct noise_hs *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}
