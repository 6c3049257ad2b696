/* aead.h - the data channel's AEAD: AES-256-GCM where both ends have AES
 * hardware, ChaCha20-Poly1305 otherwise (negotiated in the handshake).
 *
 * Why OpenSSL here when the handshake uses libsodium: measured on 1400-byte
 * packets on this project's test machine, OpenSSL 3.0 seals at ~3.4 GB/s
 * with AES-256-GCM and ~1.6 GB/s with ChaCha20-Poly1305, libsodium at
 * ~2.0 and ~1.0. Per packet that is the difference between 0.4 and 1.4 us,
 * a large share of what a tunnel spends. Keys are set once per keypair;
 * each packet only sets its nonce. */
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

struct aead_ctx; /* OpenSSL cipher contexts, one per direction */

struct aead {
	uint8_t alg;
	struct aead_ctx *seal, *open;
};

/* True when this CPU runs AES-GCM in hardware (AES-NI and carry-less
 * multiply, or the equivalents). */
bool aead_aes_hw(void);
/* The algorithms this end offers, as a bitmask of 1 << enum aead_alg. */
unsigned aead_offer(void);
/* The algorithm to use given the peer's offer (0 when none is common). */
uint8_t aead_choose(unsigned peer_offer);
const char *aead_name(uint8_t alg);

/* 0 on success, -1 on an unknown algorithm or an OpenSSL failure. */
int aead_init(struct aead *a, uint8_t alg, const uint8_t send_key[32], const uint8_t recv_key[32]);
/* Frees the contexts (OpenSSL wipes their key schedules) and zeroes a. */
void aead_free(struct aead *a);

/* In place: buf[len] becomes ciphertext, tag gets 16 bytes. */
int aead_seal(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, uint8_t tag[16]);
/* In place; -1 when the tag does not verify (buf is then garbage). */
int aead_open(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, const uint8_t tag[16]);

#endif
