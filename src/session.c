/* session.c - see session.h. The data AEAD is the negotiated one (aead.h);
 * nonce = 4 zero bytes | epoch as u32 BE | seq as u32 BE; associated
 * data = the 32-byte header as sent. */
#include "session.h"

#include <sodium.h>
#include <string.h>

#include "ecn.h"
#include "log.h"
#include "offload.h"

static void keypair_wipe(struct keypair *kp)
{
	aead_free(&kp->aead);
	sodium_memzero(kp, sizeof(*kp));
}

/* Hands src's keys (and their cipher contexts) to dst. */
static void keypair_move(struct keypair *dst, struct keypair *src)
{
	keypair_wipe(dst);
	*dst = *src;
	sodium_memzero(src, sizeof(*src));
}

void session_init(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->rekey_after_ns = REKEY_AFTER_NS;
	pthread_mutex_init(&s->tx_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
}

void session_destroy(struct session *s)
{
	session_clear(s);
	pthread_mutex_destroy(&s->tx_lock);
	pthread_mutex_destroy(&s->rx_lock);
}

static void lock_both(struct session *s)
{
	pthread_mutex_lock(&s->tx_lock);
	pthread_mutex_lock(&s->rx_lock);
}

static void unlock_both(struct session *s)
{
	pthread_mutex_unlock(&s->rx_lock);
	pthread_mutex_unlock(&s->tx_lock);
}

void session_clear(struct session *s)
{
	lock_both(s);
	keypair_wipe(&s->cur);
	keypair_wipe(&s->prev);
	keypair_wipe(&s->next);
	memset(s->client_id, 0, sizeof(s->client_id));
	unlock_both(s);
}

static void make_current(struct session *s, struct keypair *kp, uint64_t now)
{
	if (s->cur.valid) {
		keypair_move(&s->prev, &s->cur);
		s->prev.retired_ns = now;
	}
	keypair_move(&s->cur, kp);
}

void session_begin(struct session *s, const uint8_t client_id[WIRE_ID_LEN])
{
	lock_both(s);
	keypair_wipe(&s->cur);
	keypair_wipe(&s->prev);
	keypair_wipe(&s->next);
	memcpy(s->client_id, client_id, WIRE_ID_LEN);
	s->peer_csum_partial = false;
	unlock_both(s);
}

void session_set_peer_csum_partial(struct session *s, bool takes)
{
	pthread_mutex_lock(&s->tx_lock);
	s->peer_csum_partial = takes;
	pthread_mutex_unlock(&s->tx_lock);
}

int session_install(struct session *s, const uint8_t send_key[32], const uint8_t recv_key[32],
		    uint8_t alg, uint8_t epoch, bool confirmed, uint64_t now)
{
	struct keypair kp = { .valid = true, .epoch = epoch, .created_ns = now };
	if (aead_init(&kp.aead, alg, send_key, recv_key) != 0)
		return -1;
	replay_init(&kp.replay);

	lock_both(s);
	if (confirmed) {
		keypair_wipe(&s->next);
		make_current(s, &kp, now);
	} else {
		keypair_move(&s->next, &kp);
	}
	unlock_both(s);
	return 0;
}

void session_promote_next(struct session *s, uint64_t now)
{
	lock_both(s);
	if (s->next.valid)
		make_current(s, &s->next, now);
	unlock_both(s);
}

static void nonce_of(uint8_t nonce[12], uint8_t epoch, uint32_t seq)
{
	memset(nonce, 0, 7);
	nonce[7] = epoch;
	nonce[8] = (uint8_t)(seq >> 24);
	nonce[9] = (uint8_t)(seq >> 16);
	nonce[10] = (uint8_t)(seq >> 8);
	nonce[11] = (uint8_t)seq;
}

static bool usable(const struct keypair *kp, uint64_t now)
{
	return kp->valid && ns_since(now, kp->created_ns) < REJECT_AFTER_NS;
}

size_t session_seal(struct session *s, struct pkt **p, size_t n, uint8_t type, uint64_t now)
{
	size_t done = 0;
	pthread_mutex_lock(&s->tx_lock);
	struct keypair *kp = &s->cur;
	for (; done < n && usable(kp, now) && kp->send_seq < REJECT_AFTER_MESSAGES; done++) {
		struct pkt *pk = p[done];
		uint8_t nonce[12];
		uint16_t flags = kp->epoch;
		if (pk->csum_partial && s->peer_csum_partial)
			flags |= WIRE_FLAG_CSUM_PARTIAL;
		else if (pk->csum_partial)
			(void)csum_complete(pk->data, pk->len); /* csum_partial: l4_csum_pos found it */
		struct wire_hdr h = {
			.type = type,
			.flags = flags,
			.seq = (uint32_t)kp->send_seq++,
			.payload_len = (uint16_t)(pk->len + WIRE_TAG_LEN),
		};
		memcpy(h.client_id, s->client_id, WIRE_ID_LEN);
		uint8_t *hdr = pk->data - WIRE_HDR_LEN;
		wire_encode(hdr, &h);
		nonce_of(nonce, kp->epoch, h.seq);
		if (aead_seal(&kp->aead, nonce, hdr, WIRE_HDR_LEN, pk->data, pk->len, pk->data + pk->len) != 0)
			break; /* only on an OpenSSL failure: count as not sealed */
		pk->data = hdr;
		pk->len += WIRE_HDR_LEN + WIRE_TAG_LEN;
	}
	pthread_mutex_unlock(&s->tx_lock);
	return done;
}

static struct keypair *keypair_for(struct session *s, uint8_t epoch, uint64_t now)
{
	if (s->cur.valid && s->cur.epoch == epoch)
		return usable(&s->cur, now) ? &s->cur : NULL;
	if (s->next.valid && s->next.epoch == epoch)
		return usable(&s->next, now) ? &s->next : NULL;
	if (s->prev.valid && s->prev.epoch == epoch && ns_since(now, s->prev.retired_ns) < PREV_GRACE_NS)
		return usable(&s->prev, now) ? &s->prev : NULL;
	return NULL;
}

/* One datagram, under rx_lock. */
static enum open_result open_locked(struct session *s, const struct wire_hdr *h, const uint8_t *dgram,
				    uint8_t *out, uint64_t now)
{
	uint8_t nonce[12];
	size_t ct_len = h->payload_len - WIRE_TAG_LEN;
	const uint8_t *ct = dgram + WIRE_HDR_LEN;

	if (out != dgram)
		memcpy(out, dgram, WIRE_HDR_LEN);
	/* Read here, under the lock session_begin writes it under: a thread
	 * that matched datagrams to the session outside it could pass one
	 * of the old session to the new one's keys, or drop the new one's. */
	if (memcmp(h->client_id, s->client_id, WIRE_ID_LEN) != 0)
		return OPEN_NO_KEY;
	struct keypair *kp = keypair_for(s, (uint8_t)(h->flags & WIRE_FLAGS_EPOCH_MASK), now);
	if (!kp)
		return OPEN_NO_KEY;
	nonce_of(nonce, kp->epoch, h->seq);
	/* On failure the payload is left decrypted garbage: it is dropped. */
	if (aead_open(&kp->aead, nonce, dgram, WIRE_HDR_LEN, ct, out + WIRE_HDR_LEN, ct_len, ct + ct_len) != 0)
		return OPEN_AUTH_FAIL;
	if (!replay_check(&kp->replay, h->seq))
		return OPEN_REPLAY;
	return kp == &s->next ? OPEN_CONFIRMED_NEXT : OPEN_OK;
}

enum open_result session_open(struct session *s, const struct wire_hdr *h, const uint8_t *dgram,
			      uint8_t *out, uint64_t now)
{
	pthread_mutex_lock(&s->rx_lock);
	enum open_result res = open_locked(s, h, dgram, out, now);
	pthread_mutex_unlock(&s->rx_lock);
	return res;
}

size_t session_open_batch(struct session *s, const struct wire_hdr *h, struct pkt **p, size_t n,
			  enum open_result *res, uint64_t now)
{
	size_t i = 0;
	pthread_mutex_lock(&s->rx_lock);
	while (i < n) {
		res[i] = open_locked(s, &h[i], p[i]->data, p[i]->buf, now);
		if (res[i++] == OPEN_CONFIRMED_NEXT)
			break; /* the caller promotes next before the rest are opened */
	}
	pthread_mutex_unlock(&s->rx_lock);
	return i;
}

bool session_csum_from_flags(struct pkt *pk, uint16_t flags)
{
	uint16_t start, off;
	pk->csum_partial = (flags & WIRE_FLAG_CSUM_PARTIAL) != 0;
	return !pk->csum_partial || l4_csum_pos(pk->data, pk->len, &start, &off) == 0;
}

enum inner_result session_inner(struct pkt *pk, const struct wire_hdr *h, uint32_t mtu)
{
	pk->data = pk->buf + WIRE_HDR_LEN;
	pk->len = h->payload_len - WIRE_TAG_LEN;
	if (pk->len > mtu)
		return INNER_TOO_BIG;
	if (!session_csum_from_flags(pk, h->flags))
		return INNER_MALFORMED;
	if (!ecn_decap(pk->ecn, pk->data, pk->len))
		return INNER_ECN_DROP;
	return INNER_OK;
}

void session_client_id(struct session *s, uint8_t out[WIRE_ID_LEN])
{
	pthread_mutex_lock(&s->tx_lock);
	memcpy(out, s->client_id, WIRE_ID_LEN);
	pthread_mutex_unlock(&s->tx_lock);
}

bool session_up(struct session *s, uint64_t now)
{
	pthread_mutex_lock(&s->tx_lock);
	bool up = usable(&s->cur, now);
	pthread_mutex_unlock(&s->tx_lock);
	return up;
}

bool session_wants_rekey(struct session *s, uint64_t now)
{
	pthread_mutex_lock(&s->tx_lock);
	bool want = s->cur.valid && (ns_since(now, s->cur.created_ns) >= s->rekey_after_ns ||
				     s->cur.send_seq >= REKEY_AFTER_MESSAGES);
	pthread_mutex_unlock(&s->tx_lock);
	return want;
}

void session_set_rekey_after(struct session *s, uint64_t ns)
{
	pthread_mutex_lock(&s->tx_lock);
	s->rekey_after_ns = ns < REKEY_AFTER_NS ? ns : REKEY_AFTER_NS;
	pthread_mutex_unlock(&s->tx_lock);
}

uint8_t session_next_epoch(struct session *s)
{
	pthread_mutex_lock(&s->tx_lock);
	uint8_t e = (uint8_t)((s->next.valid ? s->next.epoch : s->cur.epoch) + 1);
	pthread_mutex_unlock(&s->tx_lock);
	return e;
}

bool session_has_keys(struct session *s)
{
	pthread_mutex_lock(&s->tx_lock);
	bool has = s->cur.valid || s->next.valid;
	pthread_mutex_unlock(&s->tx_lock);
	return has;
}
