/* session.h - transport keys of one tunnel session and the data seal/open.
 *
 * A handshake yields a keypair tagged with an 8-bit key epoch, carried in
 * the flags of every DATA/KEEPALIVE header so the receiver picks the key
 * without trial decryption. Three slots:
 *   cur  - sends and receives;
 *   prev - receives only, for PREV_GRACE_NS after a switch, so packets in
 *          flight under the old key are not lost at a rekey;
 *   next - a responder's new keypair; it starts sending with it only once
 *          the initiator has used it (proof that the initiator has it).
 * Sending and receiving take separate locks, once per batch. */
#ifndef VPNGW_SESSION_H
#define VPNGW_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "aead.h"
#include "pkt.h"
#include "replay.h"
#include "wire.h"

#define SEC_NS 1000000000ull
#define REKEY_AFTER_NS (120 * SEC_NS)
#define REJECT_AFTER_NS (180 * SEC_NS)
#define PREV_GRACE_NS (15 * SEC_NS)
#define REKEY_AFTER_MESSAGES (1ull << 31)
/* Never let seq reach 2^32: a wrapped seq would reuse a nonce. */
#define REJECT_AFTER_MESSAGES (0xffffffffull - 0xffffull)

struct keypair {
	bool valid;
	uint8_t epoch;
	struct aead aead;    /* keys set up once, for both directions */
	uint64_t created_ns;
	uint64_t retired_ns; /* when it became prev */
	uint64_t send_seq;   /* next seq to send */
	struct replay replay;
};

struct session {
	pthread_mutex_t tx_lock, rx_lock;
	uint8_t client_id[WIRE_ID_LEN];
	struct keypair cur, prev, next;
	uint64_t rekey_after_ns; /* REKEY_AFTER_NS unless a test shortens it */
	bool peer_csum_partial;  /* the peer takes WIRE_FLAG_CSUM_PARTIAL (handshake) */
};

enum open_result {
	OPEN_OK,
	OPEN_CONFIRMED_NEXT, /* OK, and the peer now uses the next keypair */
	OPEN_NO_KEY,         /* another clientId, or no keypair for this epoch (or expired) */
	OPEN_AUTH_FAIL,
	OPEN_REPLAY,
};

void session_init(struct session *s);
void session_destroy(struct session *s);
/* Wipes every key; the session is down until the next install. */
void session_clear(struct session *s);

/* Starts a new session under a new clientId: every key of the old one is
 * wiped, nothing of it may be used again. */
void session_begin(struct session *s, const uint8_t client_id[WIRE_ID_LEN]);
/* Installs a keypair from a finished handshake, for AEAD algorithm alg
 * (enum aead_alg). confirmed: it becomes cur at once (initiator); otherwise
 * it waits in next (responder). -1 when the AEAD cannot be set up. */
int session_install(struct session *s, const uint8_t send_key[32], const uint8_t recv_key[32],
		    uint8_t alg, uint8_t epoch, bool confirmed, uint64_t now);
/* Makes next current (on OPEN_CONFIRMED_NEXT). */
void session_promote_next(struct session *s, uint64_t now);

/* What the handshake said the peer takes: packets with a partial checksum
 * (pkt.h). Until it is set, and after session_begin, it takes none. */
void session_set_peer_csum_partial(struct session *s, bool takes);

/* Seals n packets in place: each p->data/len is an IP packet (or empty for
 * a keepalive) on entry and the whole datagram on return. A packet with a
 * partial checksum is sent flagged WIRE_FLAG_CSUM_PARTIAL to a peer that
 * takes it, and completed first for one that does not. Returns how many
 * were sealed, from the front; the rest had no usable key. */
size_t session_seal(struct session *s, struct pkt **p, size_t n, uint8_t type, uint64_t now);

/* Opens one validated DATA/KEEPALIVE datagram into out: the datagram's
 * header, then the plaintext at out + WIRE_HDR_LEN, h->payload_len -
 * WIRE_TAG_LEN bytes, its checksum partial when h->flags has
 * WIRE_FLAG_CSUM_PARTIAL. out is dgram (in place) or a buffer that does
 * not overlap it: a datagram still in the receive buffer is opened
 * straight into its packet's own, the decryption doing the copy. */
enum open_result session_open(struct session *s, const struct wire_hdr *h, const uint8_t *dgram,
			      uint8_t *out, uint64_t now);

/* session_open for up to n datagrams of this session, under one lock: each
 * from p[i]->data into p[i]->buf, its outcome in res[i]. Stops after the
 * first OPEN_CONFIRMED_NEXT, which the caller acts on (session_promote_next)
 * before it opens the rest, as it would one by one. Returns how many it
 * opened (at least one when n > 0). */
size_t session_open_batch(struct session *s, const struct wire_hdr *h, struct pkt **p, size_t n,
			  enum open_result *res, uint64_t now);

/* After session_open: marks the opened packet pk (data/len the inner IP
 * packet) partial when flags has WIRE_FLAG_CSUM_PARTIAL. False when the
 * flag is on a packet without a TCP/UDP checksum we know where to find:
 * drop it. */
bool session_csum_from_flags(struct pkt *pk, uint16_t flags);

/* What an opened DATA datagram's inner packet may do next. */
enum inner_result {
	INNER_OK,
	INNER_TOO_BIG,   /* longer than the tunnel's MTU */
	INNER_MALFORMED, /* flagged partial without a checksum we can find */
	INNER_ECN_DROP,  /* CE outside on a packet that is not ECN-capable inside */
};

/* After a DATA datagram h was opened into pk->buf: points pk->data/len at
 * its inner packet, then checks it against the tunnel's mtu, takes its
 * checksum flag (session_csum_from_flags) and decapsulates the outer ECN
 * codepoint pk->ecn into it (RFC 6040). Both ends act on the result alike;
 * only the counters they charge differ. */
enum inner_result session_inner(struct pkt *pk, const struct wire_hdr *h, uint32_t mtu);

/* A copy of the session's clientId (all zero while it has none), taken
 * under the lock that session_begin and session_clear write it under. */
void session_client_id(struct session *s, uint8_t out[WIRE_ID_LEN]);

/* Key state for timers. */
bool session_up(struct session *s, uint64_t now);
bool session_wants_rekey(struct session *s, uint64_t now);
/* Shortens the rekey interval (tests and diagnostics: RekeyAfter =). */
void session_set_rekey_after(struct session *s, uint64_t ns);
/* The epoch a new keypair should take: one past the newest installed. */
uint8_t session_next_epoch(struct session *s);
/* True when any keypair is installed (a rekey can refer to it). */
bool session_has_keys(struct session *s);

#endif
