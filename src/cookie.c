/* cookie.c - see cookie.h. */
#include "cookie.h"

#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

#define LABEL_MAC1 "vpngw mac1"
#define LABEL_COOKIE "vpngw cookie"
#define RATE_COST_NS (COOKIE_SEC_NS / COOKIE_RATE_PER_SEC)
#define RATE_MAX_NS (COOKIE_RATE_BURST * RATE_COST_NS)
#define REPLY_COST_NS (COOKIE_SEC_NS / COOKIE_REPLY_PER_SEC)
#define REPLY_MAX_NS (COOKIE_REPLY_BURST * REPLY_COST_NS)
#define KNOWN_REPLY_COST_NS (COOKIE_SEC_NS / COOKIE_KNOWN_REPLY_PER_SEC)
#define KNOWN_REPLY_MAX_NS (COOKIE_KNOWN_REPLY_BURST * KNOWN_REPLY_COST_NS)

static void derive(uint8_t out[32], const char *label, const uint8_t pub[32])
{
	crypto_generichash_blake2b_state st;
	crypto_generichash_blake2b_init(&st, NULL, 0, 32);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_blake2b_update(&st, pub, 32);
	crypto_generichash_blake2b_final(&st, out, 32);
}

void cookie_keys_init(struct cookie_keys *k, const uint8_t gw_pub[32])
{
	derive(k->mac1_key, LABEL_MAC1, gw_pub);
	derive(k->reply_key, LABEL_COOKIE, gw_pub);
}

void cookie_mac1(uint8_t out[COOKIE_MAC_LEN], const struct cookie_keys *k, const uint8_t *init)
{
	crypto_generichash_blake2b(out, COOKIE_MAC_LEN, init, HS_INIT_MAC1_OFF, k->mac1_key, sizeof(k->mac1_key));
}

void cookie_mac2(uint8_t out[COOKIE_MAC_LEN], const uint8_t cookie[COOKIE_LEN], const uint8_t *init)
{
	crypto_generichash_blake2b(out, COOKIE_MAC_LEN, init, HS_INIT_MAC2_OFF, cookie, COOKIE_LEN);
}

void cookie_stamp_init(uint8_t *init, const struct cookie_keys *k, const uint8_t *cookie)
{
	cookie_mac1(init + HS_INIT_MAC1_OFF, k, init);
	if (cookie)
		cookie_mac2(init + HS_INIT_MAC2_OFF, cookie, init);
	else
		memset(init + HS_INIT_MAC2_OFF, 0, COOKIE_MAC_LEN);
}

int cookie_open_reply(uint8_t cookie[COOKIE_LEN], const struct cookie_keys *k, const uint8_t *dgram,
		      size_t len, const uint8_t mac1[COOKIE_MAC_LEN])
{
	if (len != COOKIE_REPLY_DGRAM_LEN || dgram[WIRE_HDR_LEN] != HS_COOKIE_REPLY)
		return -1;
	const uint8_t *nonce = dgram + WIRE_HDR_LEN + 1;
	const uint8_t *sealed = nonce + COOKIE_NONCE_LEN;
	unsigned long long n = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, &n, NULL, sealed, COOKIE_LEN + 16, mac1,
						       COOKIE_MAC_LEN, nonce, k->reply_key) != 0 ||
	    n != COOKIE_LEN) {
		sodium_memzero(cookie, COOKIE_LEN);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the gateway */

void cookie_gate_init(struct cookie_gate *g, const uint8_t gw_pub[32], uint32_t load_per_sec)
{
	memset(g, 0, sizeof(*g));
	cookie_keys_init(&g->keys, gw_pub);
	g->load_per_sec = load_per_sec ? load_per_sec : COOKIE_LOAD_PER_SEC;
	randombytes_buf(g->nonce_prefix, sizeof(g->nonce_prefix));
	randombytes_buf(g->rate_key, sizeof(g->rate_key));
}

void cookie_gate_wipe(struct cookie_gate *g)
{
	sodium_memzero(g, sizeof(*g));
}

size_t cookie_src(uint8_t out[COOKIE_SRC_MAX], const void *sockaddr)
{
	const struct sockaddr *sa = sockaddr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = sockaddr;
		memcpy(out, &a->sin_addr, 4);
		memcpy(out + 4, &a->sin_port, 2);
		return 6;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	const struct sockaddr_in6 *a = sockaddr;
	if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
		memcpy(out, &a->sin6_addr.s6_addr[12], 4);
		memcpy(out + 4, &a->sin6_port, 2);
		return 6;
	}
	memcpy(out, &a->sin6_addr, 16);
	memcpy(out + 16, &a->sin6_port, 2);
	return 18;
}

/* A secret makes cookies for COOKIE_ROTATE_NS and is accepted for as long
 * again; one unused for longer than that is gone too. */
static void rotate(struct cookie_gate *g, uint64_t now)
{
	uint64_t age = now - g->secret_born_ns;
	if (g->have_secret && now >= g->secret_born_ns && age < COOKIE_ROTATE_NS)
		return;
	if (g->have_secret && now >= g->secret_born_ns && age < 2 * COOKIE_ROTATE_NS) {
		memcpy(g->prev_secret, g->secret, sizeof(g->secret));
		g->have_prev = true;
	} else {
		sodium_memzero(g->prev_secret, sizeof(g->prev_secret));
		g->have_prev = false;
	}
	randombytes_buf(g->secret, sizeof(g->secret));
	g->have_secret = true;
	g->secret_born_ns = now;
}

static void cookie_with(uint8_t out[COOKIE_LEN], const uint8_t secret[32], const uint8_t *src, size_t srclen)
{
	crypto_generichash_blake2b(out, COOKIE_LEN, src, srclen, secret, 32);
}

void cookie_make(struct cookie_gate *g, uint8_t out[COOKIE_LEN], const uint8_t *src, size_t srclen, uint64_t now)
{
	rotate(g, now);
	cookie_with(out, g->secret, src, srclen);
}

static bool mac2_with(const uint8_t secret[32], const uint8_t *init, const uint8_t *src, size_t srclen)
{
	uint8_t c[COOKIE_LEN], mac[COOKIE_MAC_LEN];
	cookie_with(c, secret, src, srclen);
	cookie_mac2(mac, c, init);
	bool ok = sodium_memcmp(mac, init + HS_INIT_MAC2_OFF, COOKIE_MAC_LEN) == 0;
	sodium_memzero(c, sizeof(c));
	return ok;
}

bool cookie_mac2_ok(struct cookie_gate *g, const uint8_t *init, const uint8_t *src, size_t srclen, uint64_t now)
{
	static const uint8_t none[COOKIE_MAC_LEN];
	rotate(g, now);
	/* Zeros say "no cookie" (a real mac2 is zeros once in 2^128): skip
	 * the four BLAKE2b, the common case in a flood. Not secret. */
	if (!memcmp(init + HS_INIT_MAC2_OFF, none, COOKIE_MAC_LEN))
		return false;
	if (mac2_with(g->secret, init, src, srclen))
		return true;
	return g->have_prev && mac2_with(g->prev_secret, init, src, srclen);
}

bool cookie_count_init(struct cookie_gate *g, uint64_t now)
{
	if (now - g->win_start_ns >= COOKIE_SEC_NS || now < g->win_start_ns) {
		g->win_start_ns = now;
		g->win_count = 0;
	}
	g->win_count++;
	if (g->win_count > g->load_per_sec)
		g->load_until_ns = now + COOKIE_LOAD_HOLD_NS;
	return now < g->load_until_ns;
}

bool cookie_under_load(const struct cookie_gate *g, uint64_t now)
{
	return now < g->load_until_ns;
}

void cookie_set_load(struct cookie_gate *g, uint64_t now)
{
	g->load_until_ns = now + COOKIE_LOAD_HOLD_NS;
}

/* The rate table's key: an IPv4 address, or an IPv6 address's /64 (one
 * host usually holds a whole /64), and the family. */
static void rate_key(uint8_t key[9], const uint8_t *src, size_t srclen)
{
	memset(key, 0, 9);
	memcpy(key, src, srclen == 6 ? 4 : 8);
	key[8] = (uint8_t)srclen;
}

/* The reply table's key: an IPv4 /24 or an IPv6 /48, and the family
 * (marked apart from the rate table's keys, though the tables are too). */
static void reply_key(uint8_t key[9], const uint8_t *src, size_t srclen)
{
	memset(key, 0, 9);
	memcpy(key, src, srclen == 6 ? 3 : 6);
	key[8] = (uint8_t)(0x80 | srclen);
}

static struct cookie_rate_slot *rate_slot(struct cookie_gate *g, struct cookie_rate_slot (*table)[COOKIE_RATE_WAYS],
					  const uint8_t key[9], uint64_t full_ns, uint64_t now)
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, key, 9, g->rate_key);
	struct cookie_rate_slot *set = table[(h[0] | (unsigned)h[1] << 8) % COOKIE_RATE_SETS];
	struct cookie_rate_slot *victim = &set[0];
	for (int w = 0; w < COOKIE_RATE_WAYS; w++) {
		struct cookie_rate_slot *s = &set[w];
		if (s->used && !memcmp(s->addr, key, 8) && s->used == key[8])
			return s;
		/* An empty way, else the one used longest ago. */
		if (victim->used && (!s->used || s->last_ns < victim->last_ns))
			victim = s;
	}
	memcpy(victim->addr, key, 8);
	victim->used = key[8];
	victim->tokens_ns = full_ns;
	victim->last_ns = now;
	victim->reply_tokens_ns = KNOWN_REPLY_MAX_NS;
	victim->reply_last_ns = now;
	return victim;
}

/* The slot of key if the table has one; NULL otherwise (nothing added). */
static struct cookie_rate_slot *rate_find(struct cookie_gate *g, struct cookie_rate_slot (*table)[COOKIE_RATE_WAYS],
					  const uint8_t key[9])
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, key, 9, g->rate_key);
	struct cookie_rate_slot *set = table[(h[0] | (unsigned)h[1] << 8) % COOKIE_RATE_SETS];
	for (int w = 0; w < COOKIE_RATE_WAYS; w++)
		if (set[w].used && !memcmp(set[w].addr, key, 8) && set[w].used == key[8])
			return &set[w];
	return NULL;
}

/* A token bucket kept as nanoseconds of refill: one take costs cost_ns. */
static bool tokens_take(uint64_t *tokens_ns, uint64_t *last_ns, uint64_t cost_ns, uint64_t full_ns, uint64_t now)
{
	if (now > *last_ns) {
		uint64_t t = *tokens_ns + (now - *last_ns);
		*tokens_ns = t > full_ns ? full_ns : t;
	}
	*last_ns = now;
	if (*tokens_ns < cost_ns)
		return false;
	*tokens_ns -= cost_ns;
	return true;
}

static bool bucket_take(struct cookie_rate_slot *s, uint64_t cost_ns, uint64_t full_ns, uint64_t now)
{
	return tokens_take(&s->tokens_ns, &s->last_ns, cost_ns, full_ns, now);
}

bool cookie_rate_take(struct cookie_gate *g, const uint8_t *src, size_t srclen, uint64_t now)
{
	uint8_t key[9];
	rate_key(key, src, srclen);
	return bucket_take(rate_slot(g, g->rate, key, RATE_MAX_NS, now), RATE_COST_NS, RATE_MAX_NS, now);
}

bool cookie_reply_take(struct cookie_gate *g, const uint8_t *src, size_t srclen, uint64_t now)
{
	uint8_t key[9];
	/* An address in the rate table has shown a valid cookie before (only
	 * those get in): a real one, perhaps a NAT with many clients. Its
	 * replies come out of a budget of its own, not its network's. */
	rate_key(key, src, srclen);
	struct cookie_rate_slot *known = rate_find(g, g->rate, key);
	if (known)
		return tokens_take(&known->reply_tokens_ns, &known->reply_last_ns, KNOWN_REPLY_COST_NS,
				   KNOWN_REPLY_MAX_NS, now);
	reply_key(key, src, srclen);
	return bucket_take(rate_slot(g, g->reply, key, REPLY_MAX_NS, now), REPLY_COST_NS, REPLY_MAX_NS, now);
}

void cookie_seal_reply(struct cookie_gate *g, uint8_t out[COOKIE_REPLY_DGRAM_LEN], const uint8_t *init,
		       const uint8_t cookie[COOKIE_LEN], const uint8_t nonce[COOKIE_NONCE_LEN])
{
	struct wire_hdr h = { .type = WIRE_CONTROL, .payload_len = COOKIE_REPLY_PAYLOAD_LEN };
	memcpy(h.client_id, init + 8, WIRE_ID_LEN);
	wire_encode(out, &h);
	out[WIRE_HDR_LEN] = HS_COOKIE_REPLY;
	memcpy(out + WIRE_HDR_LEN + 1, nonce, COOKIE_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + WIRE_HDR_LEN + 1 + COOKIE_NONCE_LEN, NULL, cookie,
						   COOKIE_LEN, init + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN, NULL,
						   nonce, g->keys.reply_key);
}

/* Nonces never repeat under one gateway key: a random prefix drawn at
 * start and a counter (no system call per reply). */
static void next_nonce(struct cookie_gate *g, uint8_t nonce[COOKIE_NONCE_LEN])
{
	memcpy(nonce, g->nonce_prefix, sizeof(g->nonce_prefix));
	uint64_t c = g->nonce_ctr++;
	put32(nonce + 16, (uint32_t)(c >> 32));
	put32(nonce + 20, (uint32_t)c);
}

enum cookie_verdict cookie_gate_check(struct cookie_gate *g, const uint8_t *init, const uint8_t *src,
				      size_t srclen, uint64_t now, uint8_t reply[COOKIE_REPLY_DGRAM_LEN])
{
	uint8_t mac[COOKIE_MAC_LEN];
	cookie_mac1(mac, &g->keys, init);
	if (sodium_memcmp(mac, init + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN) != 0)
		return COOKIE_BAD_MAC1;
	if (!cookie_count_init(g, now))
		return COOKIE_PASS;
	if (!cookie_mac2_ok(g, init, src, srclen, now)) {
		uint8_t c[COOKIE_LEN], nonce[COOKIE_NONCE_LEN];
		if (!cookie_reply_take(g, src, srclen, now))
			return COOKIE_REPLY_LIMITED;
		cookie_make(g, c, src, srclen, now);
		next_nonce(g, nonce);
		cookie_seal_reply(g, reply, init, c, nonce);
		sodium_memzero(c, sizeof(c));
		return COOKIE_SEND_REPLY;
	}
	if (!cookie_rate_take(g, src, srclen, now))
		return COOKIE_RATE_LIMITED;
	return COOKIE_PASS;
}
