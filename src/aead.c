/* aead.c - see aead.h. */
#include "aead.h"

#include <gcrypt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* AES-256-GCM runs on libgcrypt, ChaCha20-Poly1305 on OpenSSL: each is
 * the faster of the two per packet here (aead.h). */
struct aead_ctx {
	gcry_cipher_hd_t gc; /* AES-256-GCM */
	EVP_CIPHER_CTX *ctx; /* ChaCha20-Poly1305 */
};

static pthread_once_t gcrypt_once = PTHREAD_ONCE_INIT;
static bool gcrypt_ready;

/* libgcrypt wants its version check before any other call. Its secure
 * memory is for long-term secrets it would hold itself; ours live in the
 * session (wiped there), so it stays off and needs no privilege. */
static void gcrypt_init(void)
{
	if (!gcry_check_version(GCRYPT_VERSION))
		return;
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	gcrypt_ready = true;
}

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

static void ctx_free(struct aead_ctx *a)
{
	if (!a)
		return;
	gcry_cipher_close(a->gc);     /* wipes the key schedule; NULL is a no-op */
	EVP_CIPHER_CTX_free(a->ctx); /* the same */
	free(a);
}

static struct aead_ctx *ctx_new(uint8_t alg, const uint8_t key[32], bool enc)
{
	struct aead_ctx *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	if (alg == AEAD_AES256_GCM) {
		pthread_once(&gcrypt_once, gcrypt_init);
		if (gcrypt_ready && gcry_cipher_open(&a->gc, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0) == 0 &&
		    gcry_cipher_setkey(a->gc, key, 32) == 0)
			return a;
	} else if (alg == AEAD_CHACHA20_POLY1305) {
		a->ctx = EVP_CIPHER_CTX_new();
		if (a->ctx && EVP_CipherInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, key, NULL, enc) == 1)
			return a;
	}
	ctx_free(a);
	return NULL;
}

int aead_init(struct aead *a, uint8_t alg, const uint8_t send_key[32], const uint8_t recv_key[32])
{
	memset(a, 0, sizeof(*a));
	if (alg != AEAD_AES256_GCM && alg != AEAD_CHACHA20_POLY1305)
		return -1;
	a->alg = alg;
	a->seal = ctx_new(alg, send_key, true);
	a->open = ctx_new(alg, recv_key, false);
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

/* libgcrypt must be told before the last chunk that it is the last. */
static int gcm_seal(gcry_cipher_hd_t h, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
		    size_t len, uint8_t tag[16])
{
	if (gcry_cipher_setiv(h, nonce, 12) || gcry_cipher_authenticate(h, ad, adlen) || gcry_cipher_final(h) ||
	    gcry_cipher_encrypt(h, buf, len, NULL, 0) || gcry_cipher_gettag(h, tag, 16))
		return -1;
	return 0;
}

static int gcm_open(gcry_cipher_hd_t h, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
		    size_t len, const uint8_t tag[16])
{
	if (gcry_cipher_setiv(h, nonce, 12) || gcry_cipher_authenticate(h, ad, adlen) || gcry_cipher_final(h) ||
	    gcry_cipher_decrypt(h, buf, len, NULL, 0) || gcry_cipher_checktag(h, tag, 16))
		return -1;
	return 0;
}

int aead_seal(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, uint8_t tag[16])
{
	if (a->alg == AEAD_AES256_GCM)
		return gcm_seal(a->seal->gc, nonce, ad, adlen, buf, len, tag);
	/* The tag control is the same number for GCM and ChaCha20-Poly1305. */
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
	if (a->alg == AEAD_AES256_GCM)
		return gcm_open(a->open->gc, nonce, ad, adlen, buf, len, tag);
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
