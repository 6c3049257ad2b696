/* cookie.h - what keeps a flood of handshake initiations from reaching the
 * Diffie-Hellman work (docs/PROTOCOL.md section 4.2): mac1 and mac2 on
 * HS_INIT, the gateway's cookie secrets, the "under load" detector, the
 * per-source rate table and the COOKIE_REPLY message.
 *
 *   mac1 = BLAKE2b-128(key = BLAKE2b-256("vpngw mac1" || gateway pub), HS_INIT[0, 161))
 *   mac2 = BLAKE2b-128(key = cookie, HS_INIT[0, 177))          (zeros: no cookie)
 *   cookie = BLAKE2b-128(key = secret, source address || port)  (gateway only)
 *   COOKIE_REPLY body = 3 || nonce (24) ||
 *       XChaCha20-Poly1305(BLAKE2b-256("vpngw cookie" || gateway pub), nonce, cookie, ad = mac1)
 *
 * Pure computation (libsodium, no sockets); the clock is passed in. */
#ifndef VPNGW_COOKIE_H
#define VPNGW_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"

#define COOKIE_MAC_LEN 16
#define COOKIE_LEN 16
#define COOKIE_NONCE_LEN 24
/* The source as the cookie binds it: address (4 or 16 bytes) and port. */
#define COOKIE_SRC_MAX 18
#define COOKIE_REPLY_PAYLOAD_LEN (1 + COOKIE_NONCE_LEN + COOKIE_LEN + 16)
#define COOKIE_REPLY_DGRAM_LEN (WIRE_HDR_LEN + COOKIE_REPLY_PAYLOAD_LEN)

#define COOKIE_SEC_NS 1000000000ull
/* A secret makes cookies for this long and is accepted for as long again,
 * so a cookie is good for at least COOKIE_LIFE_NS after it was made. */
#define COOKIE_ROTATE_NS (120 * COOKIE_SEC_NS)
/* The client uses a cookie for this long after it received it. */
#define COOKIE_LIFE_NS (120 * COOKIE_SEC_NS)
/* More mac1-valid initiations than this in one second: under load. */
#define COOKIE_LOAD_PER_SEC 100
/* Under load lasts this long after the last second over the threshold. */
#define COOKIE_LOAD_HOLD_NS (1 * COOKIE_SEC_NS)
/* Under load, each source address (IPv4, or an IPv6 /64) may start this
 * many handshakes a second, in bursts of up to COOKIE_RATE_BURST. One
 * address may be a NAT with hundreds of clients, all back at once after a
 * gateway restart, and the DH work runs at the lowest CPU priority on a
 * socket of its own: the limit shares that thread among addresses, it
 * does not shield the data path. 500 a second is about 5% of a core. */
#define COOKIE_RATE_PER_SEC 500
#define COOKIE_RATE_BURST 100
#define COOKIE_RATE_SETS 1024
#define COOKIE_RATE_WAYS 4
/* Under load, each source network (an IPv4 /24, an IPv6 /48) gets this
 * many COOKIE_REPLYs a second, in bursts of up to COOKIE_REPLY_BURST; more
 * initiations from it are dropped unanswered. A spoofed flood comes from
 * many addresses but few networks of one attacker's reach, and each reply
 * costs the gateway a send through the kernel: this bounds that cost, and
 * what the gateway sends toward any one network, while a client from any
 * other network still gets its cookie at once. An address that has shown
 * a valid cookie before is real, perhaps a NAT with many clients: it has
 * a reply budget of its own instead, twice its handshake rate. */
#define COOKIE_REPLY_PER_SEC 10
#define COOKIE_REPLY_BURST 10
#define COOKIE_KNOWN_REPLY_PER_SEC (2 * COOKIE_RATE_PER_SEC)
#define COOKIE_KNOWN_REPLY_BURST (2 * COOKIE_RATE_BURST)

/* Keys both sides derive from the gateway's public key. */
struct cookie_keys {
	uint8_t mac1_key[32];
	uint8_t reply_key[32];
};

void cookie_keys_init(struct cookie_keys *k, const uint8_t gw_pub[32]);

/* mac1 over the HS_INIT's first HS_INIT_MAC1_OFF bytes; mac2 over the
 * first HS_INIT_MAC2_OFF bytes. */
void cookie_mac1(uint8_t out[COOKIE_MAC_LEN], const struct cookie_keys *k, const uint8_t *init);
void cookie_mac2(uint8_t out[COOKIE_MAC_LEN], const uint8_t cookie[COOKIE_LEN], const uint8_t *init);

/* Client: writes mac1, and mac2 (or zeros when cookie is NULL), into an
 * HS_INIT datagram whose first HS_INIT_MAC1_OFF bytes are final. */
void cookie_stamp_init(uint8_t *init, const struct cookie_keys *k, const uint8_t *cookie);

/* Client: opens a COOKIE_REPLY datagram (already past wire_decode) that
 * answers the HS_INIT whose mac1 is given. 0 and the cookie, or -1. */
int cookie_open_reply(uint8_t cookie[COOKIE_LEN], const struct cookie_keys *k, const uint8_t *dgram,
		      size_t len, const uint8_t mac1[COOKIE_MAC_LEN]);

struct cookie_rate_slot {
	uint8_t addr[8];   /* IPv4 address, or the IPv6 address's /64 */
	uint8_t used;
	uint64_t tokens_ns; /* budget in ns of refill: one handshake costs SEC/RATE */
	uint64_t last_ns;
	/* In the rate table only: the address's own cookie replies (it has
	 * shown a valid cookie, so it is real), COOKIE_KNOWN_REPLY_PER_SEC. */
	uint64_t reply_tokens_ns, reply_last_ns;
};

/* The gateway's side. Big (the rate table): embed it, do not put it on a
 * stack. */
struct cookie_gate {
	struct cookie_keys keys;
	uint8_t secret[32], prev_secret[32];
	bool have_secret, have_prev;
	uint64_t secret_born_ns;
	uint8_t nonce_prefix[16];
	uint64_t nonce_ctr;
	uint64_t win_start_ns, load_until_ns;
	uint32_t win_count;
	uint32_t load_per_sec;
	uint8_t rate_key[16]; /* keys the tables' hash: sets cannot be aimed at */
	struct cookie_rate_slot rate[COOKIE_RATE_SETS][COOKIE_RATE_WAYS];  /* handshakes, per address */
	struct cookie_rate_slot reply[COOKIE_RATE_SETS][COOKIE_RATE_WAYS]; /* replies, per network */
};

/* load_per_sec 0: COOKIE_LOAD_PER_SEC. */
void cookie_gate_init(struct cookie_gate *g, const uint8_t gw_pub[32], uint32_t load_per_sec);
void cookie_gate_wipe(struct cookie_gate *g);

/* The source bytes the cookie binds: address || port (big endian); an
 * IPv4-mapped IPv6 address counts as IPv4. Returns the length, 0 for an
 * unknown family. */
size_t cookie_src(uint8_t out[COOKIE_SRC_MAX], const void *sockaddr);

enum cookie_verdict {
	COOKIE_PASS,         /* go on with the Noise message */
	COOKIE_BAD_MAC1,     /* drop silently */
	COOKIE_SEND_REPLY,   /* under load and no valid mac2: reply, no DH */
	COOKIE_RATE_LIMITED, /* under load, this source is over its rate */
	COOKIE_REPLY_LIMITED, /* under load, no valid mac2, and its network had its replies */
};

/* The gateway's checks on an HS_INIT datagram of the right length, in the
 * order of PROTOCOL.md 4.2. On COOKIE_SEND_REPLY, reply holds the
 * COOKIE_REPLY datagram (COOKIE_REPLY_DGRAM_LEN bytes). */
enum cookie_verdict cookie_gate_check(struct cookie_gate *g, const uint8_t *init, const uint8_t *src,
				      size_t srclen, uint64_t now, uint8_t reply[COOKIE_REPLY_DGRAM_LEN]);

bool cookie_under_load(const struct cookie_gate *g, uint64_t now);
/* The caller saw a flood coming (a backlog of initiations, or its budget
 * of DH work for the moment spent): under load now, and for
 * COOKIE_LOAD_HOLD_NS more. */
void cookie_set_load(struct cookie_gate *g, uint64_t now);

/* Pieces of cookie_gate_check, public for the tests. */
void cookie_make(struct cookie_gate *g, uint8_t out[COOKIE_LEN], const uint8_t *src, size_t srclen, uint64_t now);
bool cookie_mac2_ok(struct cookie_gate *g, const uint8_t *init, const uint8_t *src, size_t srclen, uint64_t now);
/* Counts one mac1-valid initiation; returns whether the gateway is under load. */
bool cookie_count_init(struct cookie_gate *g, uint64_t now);
/* Takes one handshake from src's bucket; false when it is empty. */
bool cookie_rate_take(struct cookie_gate *g, const uint8_t *src, size_t srclen, uint64_t now);
/* Takes one COOKIE_REPLY from the bucket of src's network, or, for an
 * address that has shown a valid cookie before (it is in the rate table),
 * from that address's own reply bucket; false when it is empty. */
bool cookie_reply_take(struct cookie_gate *g, const uint8_t *src, size_t srclen, uint64_t now);
/* Seals a reply to the HS_INIT init (its header's clientId is echoed). */
void cookie_seal_reply(struct cookie_gate *g, uint8_t out[COOKIE_REPLY_DGRAM_LEN], const uint8_t *init,
		       const uint8_t cookie[COOKIE_LEN], const uint8_t nonce[COOKIE_NONCE_LEN]);

#endif
