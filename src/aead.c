/* aead.c - see aead.h. */
#include "aead.h"

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* AES-256-GCM runs on intel-ipsec-mb, ChaCha20-Poly1305 on OpenSSL: each
 * is the fastest we measured per packet here (aead.h). */
struct aead_ctx {
	struct gcm_key_data *gk; /* AES-256-GCM: round keys and GHASH powers */
	EVP_CIPHER_CTX *ctx;     /* ChaCha20-Poly1305 */
};

/* One manager for the process: it only holds the function pointers its
 * CPU probe picked; each call's state lives in the caller's context, so
 * threads share it without a lock. */
static pthread_once_t imb_once = PTHREAD_ONCE_INIT;
static IMB_MGR *imb;
static IMB_ARCH imb_arch;

static void imb_init(void)
{
	IMB_MGR *m = alloc_mb_mgr(0);
	if (!m)
		return;
	IMB_ARCH arch;
	init_mb_mgr_auto(m, &arch);
	if (imb_get_errno(m) != 0) {
		free_mb_mgr(m);
		return;
	}
	imb = m;
	imb_arch = arch;
}

static IMB_MGR *gcm_lib(void)
{
	pthread_once(&imb_once, imb_init);
	return imb;
}

bool aead_aes_hw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") && gcm_lib();
#else
	return false; /* intel-ipsec-mb, our AES-GCM, is for x86 only */
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

const char *aead_offer_str(void)
{
	if (!aead_aes_hw())
		return "chacha20-poly1305";
	switch (imb_arch) {
	case IMB_ARCH_AVX512: return "aes-256-gcm(avx512),chacha20-poly1305";
	case IMB_ARCH_AVX2: return "aes-256-gcm(avx2),chacha20-poly1305";
	case IMB_ARCH_AVX: return "aes-256-gcm(avx),chacha20-poly1305";
	case IMB_ARCH_SSE: return "aes-256-gcm(sse),chacha20-poly1305";
	default: return "aes-256-gcm,chacha20-poly1305";
	}
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
	if (a->gk) {
		OPENSSL_cleanse(a->gk, sizeof(*a->gk));
		free(a->gk);
	}
	EVP_CIPHER_CTX_free(a->ctx); /* wipes its key schedule; NULL is a no-op */
	free(a);
}

static struct aead_ctx *ctx_new(uint8_t alg, const uint8_t key[32], bool enc)
{
	struct aead_ctx *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	if (alg == AEAD_AES256_GCM) {
		IMB_MGR *m = gcm_lib();
		/* 64-byte aligned: the AVX-512 code loads the GHASH powers whole. */
		void *gk = NULL;
		if (m && posix_memalign(&gk, 64, sizeof(*a->gk)) == 0) {
			a->gk = gk;
			IMB_AES256_GCM_PRE(m, key, a->gk);
			return a;
		}
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

/* The library's decrypt computes the tag; comparing it is ours to do, in
 * constant time. */
static int gcm_open(const struct gcm_key_data *gk, const uint8_t nonce[12], const uint8_t *ad, size_t adlen,
		    const uint8_t *in, uint8_t *out, size_t len, const uint8_t tag[16])
{
	struct gcm_context_data ctx;
	uint8_t want[16];
	IMB_AES256_GCM_DEC(imb, gk, &ctx, out, in, len, nonce, ad, adlen, want, sizeof(want));
	return CRYPTO_memcmp(want, tag, sizeof(want)) == 0 ? 0 : -1;
}

int aead_seal(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, uint8_t *buf,
	      size_t len, uint8_t tag[16])
{
	if (a->alg == AEAD_AES256_GCM) {
		struct gcm_context_data ctx;
		IMB_AES256_GCM_ENC(imb, a->seal->gk, &ctx, buf, buf, len, nonce, ad, adlen, tag, 16);
		return 0;
	}
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

int aead_open(struct aead *a, const uint8_t nonce[12], const uint8_t *ad, size_t adlen, const uint8_t *in,
	      uint8_t *out, size_t len, const uint8_t tag[16])
{
	if (a->alg == AEAD_AES256_GCM)
		return gcm_open(a->open->gk, nonce, ad, adlen, in, out, len, tag);
	EVP_CIPHER_CTX *c = a->open->ctx;
	int n;
	if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_DecryptUpdate(c, out, &n, in, (int)len) != 1 ||
	    EVP_DecryptFinal_ex(c, out + n, &n) != 1)
		return -1;
	return 0;
}
