/* aead.c - see aead.h. */
#include "aead.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct aead_ctx {
	EVP_CIPHER_CTX *ctx;
};

bool aead_aes_hw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRYPTO)
	return true;
#else
	return false;
#endif
}

unsigned aead_offer(void)
{
	unsigned offer = 1u << AEAD_CHACHA20_POLY1305;
	if (aead_aes_hw())
		offer |= 1u << AEAD_AES256_GCM;
	return offer;
}

uint8_t aead_choose(unsigned peer_offer)
{
	unsigned common = peer_offer & aead_offer();
	if (common & (1u << AEAD_AES256_GCM))
		return AEAD_AES256_GCM;
	if (common & (1u << AEAD_CHACHA20_POLY1305))
		return AEAD_CHACHA20_POLY1305;
	return 0;
}

const char *aead_name(uint8_t alg)
{
	switch (alg) {
	case AEAD_CHACHA20_POLY1305: return "chacha20-poly1305";
	case AEAD_AES256_GCM: return "aes-256-gcm";
	}
	return "none";
}

static const EVP_CIPHER *cipher_of(uint8_t alg)
{
	switch (alg) {
	case AEAD_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
	case AEAD_AES256_GCM: return EVP_aes_256_gcm();
	}
	return NULL;
}

static struct aead_ctx *ctx_new(const EVP_CIPHER *c, const uint8_t key[32], bool enc)
{
	struct aead_ctx *a = malloc(sizeof(*a));
	if (!a)
		return NULL;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx || EVP_CipherInit_ex(a->ctx, c, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(a->ctx);
		free(a);
		return NULL;
	}
	return a;
}

static void ctx_free(struct aead_ctx *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
	free(a);
}

int aead_init(struct aead *a, uint8_t alg, const uint8_t send_key[32], const uint8_t recv_key[32])
{
	const EVP_CIPHER *c = cipher_of(alg);
	memset(a, 0, sizeof(*a));
	if (!c)
		return -1;
	a->alg = alg;
	a->seal = ctx_new(c, send_key, true);
	a->open = ctx_new(c, recv_key, false);
	if (!a->seal || !a->open) {
		aead_free(a);
		return -1;
	}
	return 0;
}

void aead_free(struct aead *a)
{
	ctx_free(a->seal);
	ctx_free(a->open);
	memset(a, 0, sizeof(*a));
}

/* The tag control is the same number for GCM and ChaCha20-Poly1305. */
int aead_seal(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = a->seal->ctx;
	int n;
	if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_EncryptUpdate(c, buf, &n, buf, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, buf + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		return -1;
	return 0;
}

int aead_open(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, const uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = a->open->ctx;
	int n;
	if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_DecryptUpdate(c, buf, &n, buf, (int)len) != 1 ||
	    EVP_DecryptFinal_ex(c, buf + n, &n) != 1)
		return -1;
	return 0;
}
