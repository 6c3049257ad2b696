/* noise.h - the Noise IK handshake (Noise_IK_25519_ChaChaPoly_BLAKE2b).
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss
 *   <- e, ee, se
 *
 * Pure computation on libsodium primitives: no sockets, no clocks, so
 * unit tests drive it against vectors from an independent implementation.
 * Every function returns 0 on success, -1 when a message does not
 * authenticate or a DH result is degenerate. */
#ifndef VPNGW_NOISE_H
#define VPNGW_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define NOISE_KEY_LEN 32
#define NOISE_HASH_LEN 64
#define NOISE_AEAD_TAG 16
#define NOISE_PROTOCOL "Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define NOISE_PROLOGUE "vpngw v1"

/* Message sizes for a payload of p bytes. */
#define NOISE_MSG1_LEN(p) (32 + 32 + NOISE_AEAD_TAG + (p) + NOISE_AEAD_TAG)
#define NOISE_MSG2_LEN(p) (32 + (p) + NOISE_AEAD_TAG)

struct noise_hs {
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN];
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
	int has_key;
	uint8_t s_priv[32], s_pub[32];
	uint8_t e_priv[32], e_pub[32];
	uint8_t rs[32], re[32];
};

/* Derives the public key of a private one. */
int noise_pubkey(uint8_t pub[32], const uint8_t priv[32]);
/* A fresh random private key. */
void noise_genkey(uint8_t priv[32]);

void noise_init_initiator(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t rs[32]);
void noise_init_responder(struct noise_hs *hs, const uint8_t s_priv[32]);

/* e_priv: a fixed ephemeral key for tests, or NULL for a random one.
 * out must hold NOISE_MSG1_LEN(plen) / NOISE_MSG2_LEN(plen) bytes. */
int noise_write_msg1(struct noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload,
		     size_t plen, uint8_t *out);
/* On success hs->rs holds the initiator's static key, payload gets
 * len - NOISE_MSG1_LEN(0) bytes. */
int noise_read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload);
int noise_write_msg2(struct noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload,
		     size_t plen, uint8_t *out);
int noise_read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload);

/* The two transport keys; i2r is the initiator's sending key. Wipes hs. */
void noise_split(struct noise_hs *hs, uint8_t i2r[NOISE_KEY_LEN], uint8_t r2i[NOISE_KEY_LEN]);
void noise_wipe(struct noise_hs *hs);

#endif
