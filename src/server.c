/* server.c - the gateway's push dataplane.
 *
 * Two packet threads, one per direction, and the main thread for signals
 * and the stats line:
 *   up:   recvmmsg -> validate -> open -> route: to the inject flow queue
 *         (our TUN) or to another client's queue; handshakes too; then
 *         inject queue -> TUN.
 *   down: TUN -> lookup by destination -> that client's flow queue; then
 *         clients with queued packets, deficit round robin by bytes ->
 *         seal -> sendmmsg (GSO) to each client's fresh endpoint.
 * Each thread drains its input (several batches) before it sends one
 * batch, so standing queues form in our flow queues, not in the kernel's
 * FIFOs (TUN queue, socket buffer). */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "clients.h"
#include "config.h"
#include "cpulat.h"
#include "ctl.h"
#include "cookie.h"
#include "dnsproxy.h"
#include "ecn.h"
#include "handshake.h"
#include "icmp.h"
#include "log.h"
#include "nat.h"
#include "notrack.h"
#include "netcfg.h"
#include "pacer.h"
#include "priv.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "show.h"
#include "statefile.h"
#include "stats.h"
#include "thread.h"
#include "tun.h"
#include "udp.h"
#include "wake.h"

#define BATCH 64
/* Room for CoDel to act before the bound does: its 5 ms target at the
 * rates reached here (~5 Gbit/s) is about 2200 full-size packets. */
#define PEER_QUEUE_PKTS 2048
#define INJECT_QUEUE_PKTS 2048
#define INJECT_FQ_FLOWS 1024
/* Bytes a client may send per round: a batch's worth keeps sendmmsg
 * efficient while a ping behind another client waits one round at most. */
#define DRR_QUANTUM (8 * 1500)
#define DRAIN_BATCHES 4
#define SEND_BYTES_PER_LOOP (BATCH * 1500)

struct server_stats {
	counter_t udp_rx_datagrams, udp_rx_bytes, udp_tx_datagrams, udp_tx_bytes;
	counter_t tun_rx_packets, tun_rx_bytes, tun_tx_packets, tun_tx_bytes;
	counter_t unknown_client_drops, no_endpoint_drops, dropped_due_to_mtu;
	counter_t spoofed_source_drops, malformed_drops, auth_fail_drops, replay_drops;
	counter_t handshake_rejects, handshakes, no_route_drops, no_session_drops, ecn_drops, icmp_too_big_sent;
	counter_t handshake_mac_drops, cookie_replies_sent, handshake_rate_limited, cookie_reply_limited;
	counter_t udp_tx_errors, tun_tx_errors; /* sends and writes the kernel refused */
	atomic_uint_least64_t under_load_until_ns; /* the gate's, for the stats line */
	struct lat_hist tun_to_udp, udp_to_tun;
	struct lat_window tun_to_udp_w, udp_to_tun_w; /* the stats line's */
};

struct server {
	struct server_conf conf;
	struct registry reg;
	struct pool *pool;
	struct tun tun;
	int udp_data[UDP_DATA_SOCKS]; /* DATA and KEEPALIVE, spread by clientId (udp_open_server) */
	unsigned nudp;
	int udp;                 /* udp_data[0], which everything is sent from */
	int ctl_fd;              /* CONTROL datagrams only; -1: they come on udp */
	struct udp_rx rx;
	struct netcfg_drops tun_drops; /* the kernel's, at our TUN device */
	struct fq inject; /* to our TUN, from every client */
	pthread_mutex_t sched_lock;
	struct peer *sched_head, *sched_tail;
	struct waker sched_wake; /* the down thread sleeps on its TUN */
	struct pacer pace;       /* Bandwidth =, across all clients */
	struct nat nat;          /* Masquerade = */
	struct notrack notrack;  /* Conntrack = bypass */
	struct dnsproxy *dns;    /* NULL: no DNS proxy */
	uint32_t dns4;           /* told to clients */
	uint64_t last_icmp_ns;   /* down thread only */
	struct cookie_gate gate; /* the thread that runs handshakes only */
	atomic_bool stop;
	struct server_stats st;
	struct ctl *ctl; /* vpngw show, MetricsListen */
	pthread_mutex_t admin_lock; /* one live change (vpngw set, SIGHUP) at a time */
};

/* Puts p on the send loop's list. wake: the caller is not the down
 * thread, which must be woken if the list was empty; the down thread
 * itself looks at the list before it sleeps (down_wait_us), so waking
 * it would only cost an eventfd write and read per turn. */
static void sched_add(struct server *s, struct peer *p, bool wake)
{
	pthread_mutex_lock(&s->sched_lock);
	bool was_empty = !s->sched_head;
	if (!p->scheduled) {
		p->scheduled = true;
		p->sched_next = NULL;
		if (s->sched_tail)
			s->sched_tail->sched_next = p;
		else
			s->sched_head = p;
		s->sched_tail = p;
	}
	pthread_mutex_unlock(&s->sched_lock);
	if (was_empty && wake)
		waker_signal(&s->sched_wake);
}

static struct peer *sched_take(struct server *s)
{
	pthread_mutex_lock(&s->sched_lock);
	struct peer *p = s->sched_head;
	if (p) {
		s->sched_head = p->sched_next;
		if (!s->sched_head)
			s->sched_tail = NULL;
		p->scheduled = false;
	}
	pthread_mutex_unlock(&s->sched_lock);
	return p;
}

static bool sched_busy(struct server *s)
{
	pthread_mutex_lock(&s->sched_lock);
	bool busy = s->sched_head != NULL;
	pthread_mutex_unlock(&s->sched_lock);
	return busy;
}

/* Pushes runs of consecutive packets bound for the same client at once;
 * wake as for sched_add. */
static void enqueue_to_peers(struct server *s, struct pkt **pk, size_t n, bool wake)
{
	size_t start = 0;
	for (size_t i = 1; i <= n; i++) {
		if (i < n && pk[i]->peer == pk[start]->peer)
			continue;
		struct peer *p = pk[start]->peer;
		if (fq_push(&p->q, pk + start, i - start, now_ns()))
			sched_add(s, p, wake);
		start = i;
	}
}

/* A single send of ours: counted as sent, or as refused. */
static void count_send(struct server *s, bool ok, size_t bytes)
{
	if (!ok) {
		ctr_add(&s->st.udp_tx_errors, 1);
		return;
	}
	ctr_add(&s->st.udp_tx_datagrams, 1);
	ctr_add(&s->st.udp_tx_bytes, bytes);
}

static void send_keepalive(struct server *s, struct peer *p, const struct endpoint *to, uint64_t now)
{
	struct pkt *k;
	if (pool_get(s->pool, &k, 1) != 1)
		return;
	if (session_seal(&p->sess, &k, 1, WIRE_KEEPALIVE, now) == 1)
		count_send(s, udp_send_one(s->udp, k->data, k->len, to) == 0, k->len);
	pool_put(s->pool, &k, 1);
}

/* HS_INITs past the gate in one turn (one millisecond's batch) that show a
 * flood (PROTOCOL.md 4.5): then cookies for all, without waiting for a
 * second's count while the DH work piles up. */
#define CTL_DH_PER_TURN 4
/* HS_INITs past the gate in this thread's turn: each thread that reads
 * handshakes (the handshake thread; the up thread for any that reach a
 * data socket) counts its own, and zeroes it at the start of its turns.
 * One shared count, zeroed by the up thread every loop, never reached 4
 * in the handshake thread's turn while data flowed. */
static _Thread_local unsigned ctl_dh;
#define REPLY_RUN 16

/* PROTOCOL.md 4.2: what an HS_INIT must pass before any DH work. Returns
 * true when the Noise message may be read; *reply: pk now holds a
 * COOKIE_REPLY for `from` instead. */
static bool handshake_gate(struct server *s, struct pkt *pk, const struct endpoint *from, uint64_t now, bool *reply_out)
{
	uint8_t src[COOKIE_SRC_MAX], reply[COOKIE_REPLY_DGRAM_LEN];
	if (pk->len != HS_INIT_DGRAM_LEN) {
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	size_t srclen = cookie_src(src, &from->sa);
	enum cookie_verdict v = cookie_gate_check(&s->gate, pk->data, src, srclen, now, reply);
	atomic_store_explicit(&s->st.under_load_until_ns, s->gate.load_until_ns, memory_order_relaxed);
	switch (v) {
	case COOKIE_PASS:
		/* Each costs two to five X25519 operations, in front of the data
		 * waiting behind them: a few a turn, then cookies for all. */
		if (++ctl_dh >= CTL_DH_PER_TURN)
			cookie_set_load(&s->gate, now);
		return true;
	case COOKIE_BAD_MAC1:
		ctr_add(&s->st.handshake_mac_drops, 1);
		return false;
	case COOKIE_RATE_LIMITED:
		ctr_add(&s->st.handshake_rate_limited, 1);
		return false;
	case COOKIE_REPLY_LIMITED:
		ctr_add(&s->st.cookie_reply_limited, 1);
		return false;
	case COOKIE_SEND_REPLY:
		/* Sent with the batch's others: one system call for many. */
		memcpy(pk->data, reply, sizeof(reply));
		pk->len = sizeof(reply);
		pk->ecn = 0;
		*reply_out = true;
		return false;
	}
	return false;
}

/* Returns true when pk holds a COOKIE_REPLY to send to `from`. */
static bool handle_handshake(struct server *s, struct pkt *pk, const struct endpoint *from, uint64_t now)
{
	struct noise_hs hs;
	struct hs_init in;
	uint8_t out[HS_RESP_DGRAM_MAX], send_key[32], recv_key[32];
	static const uint8_t zero_id[WIRE_ID_LEN];
	char ep[64];

	bool reply = false;
	if (!handshake_gate(s, pk, from, now, &reply))
		return reply;
	if (hs_read_init(&hs, s->conf.priv, pk->data, pk->len, &in) != 0) {
		noise_wipe(&hs);
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	/* Clients come and go live (vpngw set, SIGHUP): the lookup, name and
	 * address under the read lock; p's memory outlives a removal. */
	char name[sizeof(((struct peer *)0)->name)];
	registry_rdlock(&s->reg);
	struct peer *p = registry_by_pubkey(&s->reg, hs.rs);
	uint32_t addr4 = p ? p->addr4 : 0;
	unsigned gen = p ? p->gen : 0;
	uint8_t addr6[16];
	/* The IPv6 form only to a client that asked for it: an older one
	 * would refuse the longer HS_RESP. */
	bool has6 = p && (in.flags & HS_INIT_FLAG_V6) && registry_addr6(&s->reg, p, addr6);
	if (p)
		memcpy(name, p->name, sizeof(name));
	registry_unlock(&s->reg);
	if (!p) {
		noise_wipe(&hs);
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	/* A replayed initiation must not reset a live session. */
	if (memcmp(in.timestamp, p->last_timestamp, HS_TIMESTAMP_LEN) <= 0) {
		noise_wipe(&hs);
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	memcpy(p->last_timestamp, in.timestamp, HS_TIMESTAMP_LEN);

	uint8_t cipher = aead_choose(in.ciphers);
	if (!cipher) {
		noise_wipe(&hs);
		ctr_add(&s->st.handshake_rejects, 1);
		LOGW("msg=\"handshake refused: no data cipher in common\" client=%s offered=0x%x", name, in.ciphers);
		return false;
	}
	bool rekey = memcmp(in.prev_id, zero_id, WIRE_ID_LEN) != 0 &&
		     memcmp(in.prev_id, p->sess.client_id, WIRE_ID_LEN) == 0 && session_has_keys(&p->sess);
	struct hs_resp r = {
		.prefix4 = s->conf.prefix4,
		.mtu = (uint16_t)s->conf.mtu,
		.addr4 = addr4,
		.dns4 = s->dns4,
		.keepalive_s = (uint16_t)s->conf.keepalive_s,
		.cipher = cipher,
		.flags = HS_RESP_FLAG_CSUM_PARTIAL,
		.has6 = has6,
		.prefix6 = has6 ? s->conf.prefix6 : 0,
	};
	if (has6)
		memcpy(r.addr6, addr6, 16);
	if (rekey) {
		memcpy(r.client_id, p->sess.client_id, WIRE_ID_LEN);
		r.epoch = session_next_epoch(&p->sess);
	} else {
		randombytes_buf(r.client_id, WIRE_ID_LEN);
		if (!registry_set_id(&s->reg, p, r.client_id)) {
			noise_wipe(&hs);
			ctr_add(&s->st.handshake_rejects, 1);
			return false; /* removed a moment ago */
		}
		r.epoch = 0;
	}
	if (hs_write_resp(&hs, &r, NULL, out, send_key, recv_key) != 0) {
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	int rc = session_install(&p->sess, send_key, recv_key, cipher, r.epoch, false, now);
	sodium_memzero(send_key, sizeof(send_key));
	sodium_memzero(recv_key, sizeof(recv_key));
	session_set_peer_csum_partial(&p->sess, in.flags & HS_INIT_FLAG_CSUM_PARTIAL);
	if (rc != 0) {
		LOGE("msg=\"cannot set up the data cipher\" client=%s cipher=%s", name, aead_name(cipher));
		return false;
	}
	/* Removed or readdressed (vpngw set, SIGHUP) while we worked: this
	 * answer would carry the old address or id. No answer; the client
	 * retries and gets the new state. */
	if (!registry_unchanged(&s->reg, p, gen)) {
		session_clear(&p->sess);
		ctr_add(&s->st.handshake_rejects, 1);
		return false;
	}
	atomic_store_explicit(&p->v6, has6, memory_order_relaxed);
	peer_set_endpoint(p, from, now);
	atomic_store_explicit(&p->handshake_ns, now, memory_order_relaxed);
	size_t out_len = hs_resp_dgram_len(&r);
	count_send(s, udp_send_one(s->udp, out, out_len, from) == 0, out_len);
	ctr_add(&s->st.handshakes, 1);
	char a6[INET6_ADDRSTRLEN] = "none";
	if (has6)
		inet_ntop(AF_INET6, addr6, a6, sizeof(a6));
	LOGI("msg=handshake client=%s endpoint=%s address=%u.%u.%u.%u address6=%s session=%s epoch=%u cipher=%s", name,
	     endpoint_str(from, ep, sizeof(ep)), addr4 >> 24, addr4 >> 16 & 255, addr4 >> 8 & 255, addr4 & 255, a6,
	     rekey ? "rekey" : "new", r.epoch, aead_name(cipher));
	return false;
}

/* CONTROL datagrams: handshakes, and the cookie replies they call for,
 * sent together. Puts every packet back in the pool. */
static void dispatch_control(struct server *s, struct pkt **ctl, const struct endpoint *from, size_t n, uint64_t now)
{
	struct pkt *rep[BATCH];
	struct endpoint to[BATCH];
	size_t nrep = 0;
	for (size_t i = 0; i < n; i++) {
		if (hs_control_type(ctl[i]->data, ctl[i]->len) != HS_INIT)
			ctr_add(&s->st.malformed_drops, 1);
		else if (handle_handshake(s, ctl[i], &from[i], now) && nrep < BATCH) {
			to[nrep] = from[i];
			rep[nrep++] = ctl[i];
		}
	}
	/* In runs of 16: each send's way through the kernel runs with
	 * softirqs off, and the data threads wait for the CPU meanwhile. */
	size_t sent = 0;
	for (size_t i = 0; i < nrep; i += REPLY_RUN)
		sent += udp_send_batch(s->udp, rep + i, to + i, nrep - i < REPLY_RUN ? nrep - i : REPLY_RUN, NULL);
	ctr_add(&s->st.cookie_replies_sent, sent);
	ctr_add(&s->st.udp_tx_errors, nrep - sent);
	ctr_add(&s->st.udp_tx_datagrams, sent);
	ctr_add(&s->st.udp_tx_bytes, sent * COOKIE_REPLY_DGRAM_LEN);
	pool_put(s->pool, ctl, n);
}

/* One batch from the control socket; returns how many datagrams came. */
static size_t receive_control(struct server *s)
{
	struct pkt *batch[BATCH], *ctl[BATCH], *spare[BATCH];
	struct endpoint from[BATCH], ctl_from[BATCH];
	if (s->ctl_fd < 0)
		return 0;
	size_t n = pool_get(s->pool, batch, BATCH);
	if (!n)
		return 0;
	int got = udp_recv_batch(s->ctl_fd, batch, from, n);
	if (got < 0) {
		LOGE("msg=\"UDP receive failed\" error=\"%s\"", strerror(errno));
		got = 0;
	}
	uint64_t now = now_ns();
	size_t nctl = 0, nspare = 0;
	for (int i = 0; i < got; i++) {
		struct wire_hdr h;
		ctr_add(&s->st.udp_rx_datagrams, 1);
		ctr_add(&s->st.udp_rx_bytes, batch[i]->len);
		if (wire_decode(&h, batch[i]->data, batch[i]->len) != WIRE_OK || h.type != WIRE_CONTROL) {
			ctr_add(&s->st.malformed_drops, 1);
			spare[nspare++] = batch[i];
		} else {
			ctl_from[nctl] = from[i];
			ctl[nctl++] = batch[i];
		}
	}
	dispatch_control(s, ctl, ctl_from, nctl, now);
	pool_put(s->pool, spare, nspare);
	pool_put(s->pool, batch + got, n - (size_t)got);
	return (size_t)got;
}

/* The rest of one authenticated DATA/KEEPALIVE datagram of p, opened into
 * its buffer; returns true when pk was handed on. */
static bool handle_opened(struct server *s, struct peer *p, struct pkt *pk, const struct wire_hdr *h,
			  const struct endpoint *from, uint64_t now, struct pkt **to_tun, size_t *ntun,
			  struct pkt **to_peer, size_t *npeer)
{
	if (h->type == WIRE_KEEPALIVE) {
		send_keepalive(s, p, from, now);
		return false;
	}
	switch (session_inner(pk, h, (uint32_t)s->conf.mtu)) {
	case INNER_OK:
		break;
	case INNER_TOO_BIG:
		ctr_add(&s->st.dropped_due_to_mtu, 1);
		ctr_add(&p->mtu_drops, 1);
		return false;
	case INNER_MALFORMED:
		ctr_add(&s->st.malformed_drops, 1);
		return false;
	case INNER_ECN_DROP:
		ctr_add(&s->st.ecn_drops, 1);
		return false;
	}
	struct peer *to;
	switch (route_from_client(&s->reg, p, pk->data, pk->len, &to)) {
	case ROUTE_TUN:
		pk->peer = p; /* for its latency */
		to_tun[(*ntun)++] = pk;
		return true;
	case ROUTE_PEER:
		pk->peer = to;
		to_peer[(*npeer)++] = pk;
		return true;
	case ROUTE_SPOOFED:
		ctr_add(&s->st.spoofed_source_drops, 1);
		ctr_add(&p->spoofed_source_drops, 1);
		return false;
	case ROUTE_MALFORMED:
		ctr_add(&s->st.malformed_drops, 1);
		return false;
	case ROUTE_NO_PEER:
	case ROUTE_LINK_SCOPE: /* the client kernel's IPv6 link chatter */
		ctr_add(&s->st.no_route_drops, 1);
		return false;
	}
	return false;
}

/* Where a batch's packets go: the TUN, other clients, back to the pool. */
struct rx_out {
	struct pkt *to_tun[BATCH], *to_peer[BATCH], *spare[BATCH];
	size_t ntun, npeer, nspare;
};

/* n DATA/KEEPALIVE datagrams in a row from one clientId (a batch is
 * mostly one client's): one registry lookup, the session's receive lock
 * once (twice across a rekey's confirmation), the endpoint and the
 * client's counters once. */
static void handle_run(struct server *s, struct pkt **pk, const struct wire_hdr *h,
		       const struct endpoint *from, size_t n, uint64_t now, struct rx_out *o)
{
	struct peer *p = registry_by_id(&s->reg, h[0].client_id);
	if (!p) {
		ctr_add(&s->st.unknown_client_drops, n);
		memcpy(o->spare + o->nspare, pk, n * sizeof(*pk));
		o->nspare += n;
		return;
	}
	enum open_result res[BATCH];
	for (size_t i = 0; i < n;) {
		i += session_open_batch(&p->sess, h + i, pk + i, n - i, res + i, now);
		if (res[i - 1] == OPEN_CONFIRMED_NEXT)
			session_promote_next(&p->sess, now);
	}
	size_t last = n;
	uint64_t pkts = 0, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (res[i] == OPEN_NO_KEY || res[i] == OPEN_AUTH_FAIL) {
			ctr_add(&s->st.auth_fail_drops, 1);
			ctr_add(&p->auth_fail_drops, 1);
		} else if (res[i] == OPEN_REPLAY) {
			ctr_add(&s->st.replay_drops, 1);
			ctr_add(&p->replay_drops, 1);
		} else {
			last = i;
			pkts++;
			bytes += pk[i]->len;
			if (handle_opened(s, p, pk[i], &h[i], &from[i], now, o->to_tun, &o->ntun, o->to_peer, &o->npeer))
				continue;
		}
		o->spare[o->nspare++] = pk[i];
	}
	if (last == n)
		return;
	/* Authenticated: this is where the client is now (roaming). */
	peer_set_endpoint(p, &from[last], now);
	ctr_add(&p->rx_packets, pkts);
	ctr_add(&p->rx_bytes, bytes);
}

/* One batch from the socket; returns how many datagrams arrived, and adds
 * to *data how many of them were clients' packets to forward. */
static size_t receive_batch(struct server *s, int wait_us, size_t *data)
{
	struct pkt *batch[BATCH], *dgram[BATCH], *ctl[BATCH];
	struct endpoint from[BATCH], dgram_from[BATCH], ctl_from[BATCH];
	struct wire_hdr hdr[BATCH];
	struct rx_out o;

	size_t n = pool_get(s->pool, batch, BATCH);
	if (!n)
		return 0; /* every buffer is queued: send before reading more */
	int got = udp_rx_batch(&s->rx, batch, from, n, wait_us);
	if (got < 0) {
		LOGE("msg=\"UDP receive failed\" error=\"%s\"", strerror(errno));
		got = 0;
	}
	uint64_t now = now_ns(), bytes = 0;
	size_t ndgram = 0, nctl = 0;
	o.ntun = o.npeer = o.nspare = 0;
	for (int i = 0; i < got; i++) {
		struct pkt *pk = batch[i];
		bytes += pk->len;
		if (wire_decode(&hdr[ndgram], pk->data, pk->len) != WIRE_OK) {
			ctr_add(&s->st.malformed_drops, 1);
			o.spare[o.nspare++] = pk;
		} else if (hdr[ndgram].type == WIRE_CONTROL) {
			pkt_own(pk); /* its reply is written over it */
			ctl_from[nctl] = from[i];
			ctl[nctl++] = pk;
		} else {
			dgram_from[ndgram] = from[i];
			dgram[ndgram++] = pk;
		}
	}
	registry_rdlock(&s->reg);
	for (size_t i = 0, j; i < ndgram; i = j) {
		for (j = i + 1; j < ndgram && memcmp(hdr[j].client_id, hdr[i].client_id, WIRE_ID_LEN) == 0; j++)
			;
		handle_run(s, dgram + i, hdr + i, dgram_from + i, j - i, now, &o);
	}
	if (o.npeer)
		enqueue_to_peers(s, o.to_peer, o.npeer, true);
	registry_unlock(&s->reg);
	ctr_add(&s->st.udp_rx_datagrams, (uint64_t)got);
	ctr_add(&s->st.udp_rx_bytes, bytes);
	if (o.ntun)
		fq_push(&s->inject, o.to_tun, o.ntun, now);
	*data += o.ntun + o.npeer;
	/* Handshakes may re-index the registry: outside the read lock. */
	dispatch_control(s, ctl, ctl_from, nctl, now);
	pool_put(s->pool, o.spare, o.nspare);
	pool_put(s->pool, batch + got, n - (size_t)got);
	return (size_t)got;
}

/* Writes at most max packets of the inject queue to our TUN. */
static void write_tun(struct server *s, size_t max)
{
	struct pkt *batch[BATCH];
	size_t n = fq_pop(&s->inject, batch, max < BATCH ? max : BATCH, SIZE_MAX, now_ns());
	if (!n)
		return;
	bool written[BATCH];
	size_t ok = tun_write_batch(&s->tun, batch, n, written);
	uint64_t now = now_ns(), bytes = 0;
	struct lat_run all = { .owner = false }, own = { .owner = true };
	for (size_t i = 0; i < n; i++) {
		if (!written[i])
			continue;
		struct peer *from = batch[i]->peer;
		uint64_t us = (now - batch[i]->stamp_ns) / 1000;
		bytes += batch[i]->len;
		lat_run_add(&all, &s->st.udp_to_tun, us);
		if (from)
			lat_run_add(&own, &from->udp_to_tun, us);
	}
	lat_run_end(&all);
	lat_run_end(&own);
	ctr_add(&s->st.tun_tx_bytes, bytes);
	ctr_add(&s->st.tun_tx_packets, ok);
	ctr_add(&s->st.tun_tx_errors, n - ok);
	pool_put(s->pool, batch, n);
}

static void *up_loop(void *arg)
{
	struct server *s = arg;
	thread_data_start(s->conf.rt_priority, s->conf.sched_slice_us, "up");
	while (!atomic_load(&s->stop)) {
		if (!fq_len(&s->inject) && !pool_available(s->pool)) {
			/* Every buffer waits in a client's queue (downloads held
			 * back by the pacer): nothing can be read until the down
			 * thread sends. Sleep rather than spin; a real-time
			 * thread that spins takes its CPU from everyone else. */
			struct timespec pause = { 0, 1000000 };
			nanosleep(&pause, NULL);
			continue;
		}
		int wait_us = cpulat_wait_us(fq_len(&s->inject) ? 0 : THREAD_IDLE_WAIT_US);
		ctl_dh = 0; /* handshakes that reach a data socket run here */
		/* The socket is read up to DRAIN_BATCHES times faster than the
		 * TUN is written, so a standing queue forms in the inject queue
		 * (flow-fair, CoDel), not in the socket's FIFO. The writes come
		 * between the reads: a packet of a new flow waits for one read,
		 * not for all of them. */
		size_t got = 0, data = 0;
		for (int round = 0; round < DRAIN_BATCHES; round++) {
			size_t n = receive_batch(s, round ? 0 : wait_us, &data);
			bool more = n == BATCH;
			got += n;
			write_tun(s, more ? BATCH / DRAIN_BATCHES : BATCH);
			if (!more)
				break;
		}
		thread_data_tick(got);
		/* Only clients' packets: datagrams anyone can send must not
		 * keep the machine's CPUs awake. */
		cpulat_tick(data);
	}
	return NULL;
}

/* Handshakes, from their own socket, in their own thread at a lower
 * priority (nice HS_NICE): a flood of them waits in (and overflows) that
 * socket, never in front of DATA, and the data threads get the CPU first
 * when both want it. While they keep coming they are read every
 * CTL_PERIOD_NS, at most CTL_BATCHES batches at a time: a thousand
 * wake-ups a second, not one per datagram. A lone one is read at once. */
#define CTL_PERIOD_NS 1000000ull
#define CTL_BATCHES 4
#define HS_NICE 19

static void *hs_loop(void *arg)
{
	struct server *s = arg;
	/* A thread's own nice value; raising it needs no privilege. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), HS_NICE) != 0)
		LOGW("msg=\"handshake thread keeps the data threads' priority\" error=\"%s\"", strerror(errno));
	while (!atomic_load(&s->stop)) {
		if (udp_wait(s->ctl_fd, 100) <= 0)
			continue;
		ctl_dh = 0;
		for (int round = 0; round < CTL_BATCHES; round++)
			if (receive_control(s) < BATCH)
				break;
		/* Also when nothing could be read (no free buffer): no spinning. */
		struct timespec pause = { 0, (long)CTL_PERIOD_NS };
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Tells the sender of an oversize packet from our TUN the tunnel MTU (at
 * most one message a millisecond). */
static void tell_too_big(struct server *s, const struct pkt *pk, uint64_t now)
{
	uint8_t msg[ICMP6_TOO_BIG_MAX];
	if (now - s->last_icmp_ns < 1000000)
		return;
	size_t n = pk->len && pk->data[0] >> 4 == 6
			   ? (s->conf.has6 ? icmp6_too_big(pk->data, pk->len, s->conf.addr6, (uint32_t)s->conf.mtu, msg) : 0)
			   : icmp4_frag_needed(pk->data, pk->len, s->conf.addr4, (uint16_t)s->conf.mtu, msg);
	if (n && tun_write_one(&s->tun, msg, n) == 0) {
		s->last_icmp_ns = now;
		ctr_add(&s->st.icmp_too_big_sent, 1);
	}
}

/* One batch from our TUN into the clients' queues. */
static size_t read_tun_batch(struct server *s)
{
	struct pkt *batch[BATCH], *to_peer[BATCH], *spare[BATCH];

	size_t n = pool_get(s->pool, batch, BATCH);
	if (!n)
		return 0;
	int got = tun_read_batch(&s->tun, batch, n, 0);
	if (got < 0)
		got = 0;
	if (s->tun.rx_malformed) {
		ctr_add(&s->st.malformed_drops, s->tun.rx_malformed);
		s->tun.rx_malformed = 0;
	}
	uint64_t now = now_ns(), bytes = 0;
	size_t npeer = 0, nspare = 0;
	registry_rdlock(&s->reg);
	for (int i = 0; i < got; i++) {
		struct pkt *pk = batch[i];
		struct peer *to;
		bytes += pk->len;
		if (pk->len > (uint32_t)s->conf.mtu) {
			ctr_add(&s->st.dropped_due_to_mtu, 1);
			tell_too_big(s, pk, now);
			spare[nspare++] = pk;
		} else if (route_from_tun(&s->reg, pk->data, pk->len, &to) == ROUTE_PEER) {
			pk->peer = to;
			to_peer[npeer++] = pk;
		} else {
			ctr_add(&s->st.no_route_drops, 1);
			spare[nspare++] = pk;
		}
	}
	if (npeer)
		enqueue_to_peers(s, to_peer, npeer, false);
	registry_unlock(&s->reg);
	ctr_add(&s->st.tun_rx_packets, (uint64_t)got);
	ctr_add(&s->st.tun_rx_bytes, bytes);
	pool_put(s->pool, spare, nspare);
	pool_put(s->pool, batch + got, n - (size_t)got);
	return (size_t)got;
}

/* The datagrams of the DRR turns of one pass, sent together: a client
 * alone gets its turns back to back, and they leave as one UDP GSO send
 * instead of one send per turn. */
struct sendq {
	struct pkt *pkts[BATCH];
	struct endpoint to[BATCH];
	size_t n;
};

/* One DRR turn of p's queue, at most `budget` bytes (the pacer's), sealed
 * and added to q; returns the bytes taken, as the pacer counts them. */
static uint64_t take_turn(struct server *s, struct peer *p, int64_t budget, struct sendq *q)
{
	struct pkt **batch = q->pkts + q->n;
	struct endpoint ep;

	p->deficit += DRR_QUANTUM;
	if (p->deficit > 2 * DRR_QUANTUM)
		p->deficit = 2 * DRR_QUANTUM; /* held back by the pacer: no hoarding */
	int64_t limit = p->deficit < budget ? p->deficit : budget;
	size_t n = fq_pop(&p->q, batch, BATCH - q->n, (size_t)limit, now_ns());
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += batch[i]->len;
	p->deficit -= (int64_t)bytes;
	if (fq_len(&p->q) == 0)
		p->deficit = 0; /* an idle client banks no credit */
	else
		sched_add(s, p, false);
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		batch[i]->ecn = ecn_encap(batch[i]->data, batch[i]->len);

	uint64_t now = now_ns();
	size_t sealed = 0;
	if (!peer_fresh_endpoint(p, now, endpoint_fresh_ns((unsigned)s->conf.keepalive_s), &ep)) {
		ctr_add(&s->st.no_endpoint_drops, n);
		ctr_add(&p->no_endpoint_drops, n);
	} else {
		sealed = session_seal(&p->sess, batch, n, WIRE_DATA, now);
		ctr_add(&s->st.no_session_drops, n - sealed);
		if (sealed < n)
			ctr_add(&p->no_session_drops, n - sealed);
	}
	pool_put(s->pool, batch + sealed, n - sealed);
	uint64_t taken = 0;
	for (size_t i = 0; i < sealed; i++) {
		batch[i]->peer = p;
		q->to[q->n + i] = ep;
		taken += batch[i]->len + PACER_UNDERLAY_OVERHEAD;
	}
	q->n += sealed;
	return taken;
}

/* Per-client counters, added once per run of one client's datagrams. */
struct tx_run {
	struct peer *p;
	uint64_t packets, bytes;
};

static void tx_run_flush(struct tx_run *r)
{
	if (!r->p || !r->packets)
		return;
	ctr_add(&r->p->tx_packets, r->packets);
	ctr_add(&r->p->tx_bytes, r->bytes);
	r->packets = r->bytes = 0;
}

/* Sends what q holds and empties it; returns the bytes put on the wire. */
static uint64_t send_turns(struct server *s, struct sendq *q)
{
	bool sent[BATCH];
	if (!q->n)
		return 0;
	size_t nsent = udp_send_batch(s->udp, q->pkts, q->to, q->n, sent);
	uint64_t now = now_ns(), bytes = 0;
	struct tx_run run = { 0 };
	struct lat_run all = { .owner = false }, own = { .owner = true };
	for (size_t i = 0; i < q->n; i++) {
		struct pkt *pk = q->pkts[i];
		struct peer *p = pk->peer;
		if (!sent[i])
			continue;
		if (p != run.p) {
			tx_run_flush(&run);
			run.p = p;
		}
		run.packets++;
		run.bytes += pk->len;
		bytes += pk->len;
		uint64_t us = (now - pk->stamp_ns) / 1000;
		lat_run_add(&all, &s->st.tun_to_udp, us);
		lat_run_add(&own, &p->tun_to_udp, us);
	}
	tx_run_flush(&run);
	lat_run_end(&all);
	lat_run_end(&own);
	ctr_add(&s->st.udp_tx_datagrams, nsent);
	ctr_add(&s->st.udp_tx_bytes, bytes);
	ctr_add(&s->st.udp_tx_errors, q->n - nsent);
	pool_put(s->pool, q->pkts, q->n);
	q->n = 0;
	return bytes + nsent * PACER_UNDERLAY_OVERHEAD;
}

/* How long the down thread may sleep on its TUN, in microseconds (see the
 * client's). */
static int down_wait_us(struct server *s)
{
	if (!sched_busy(s))
		return THREAD_IDLE_WAIT_US;
	return pacer_sender_wait_us(&s->pace, now_ns(), s->conf.mtu);
}

/* One pass of deficit round robin over the waiting clients, at most
 * `budget` bytes and one batch of datagrams, sent together; returns the
 * bytes taken. */
static int64_t serve_clients(struct server *s, int64_t budget)
{
	struct sendq q;
	struct peer *p;
	int64_t taken = 0;
	q.n = 0;
	for (int served = 0; served < BATCH && q.n < BATCH && taken < budget && (p = sched_take(s)); served++)
		taken += (int64_t)take_turn(s, p, budget - taken, &q);
	pacer_consume(&s->pace, send_turns(s, &q));
	return taken;
}

static void *down_loop(void *arg)
{
	struct server *s = arg;
	thread_data_start(s->conf.rt_priority, s->conf.sched_slice_us, "down");
	while (!atomic_load(&s->stop)) {
		int wait_us = cpulat_wait_us(down_wait_us(s));
		if (wait_us) {
			/* An eventfd read only when it was written: one syscall
			 * less per wake-up by the TUN. */
			if (tun_wait(&s->tun, s->sched_wake.fd, wait_us) & TUN_READY_WAKE)
				waker_clear(&s->sched_wake);
		}
		/* Deficit round robin over the clients waiting now, about one
		 * batch of bytes per loop (so the TUN is read again soon: a
		 * queue in front of it is one we cannot schedule), and no more
		 * than the pacer allows. The loop's sends are spread between
		 * its reads, as the up thread's writes are. */
		int64_t budget = pacer_budget(&s->pace, now_ns());
		if (budget > SEND_BYTES_PER_LOOP)
			budget = SEND_BYTES_PER_LOOP;
		size_t got = 0;
		for (int round = 0; round < DRAIN_BATCHES; round++) {
			size_t n = read_tun_batch(s);
			bool more = n == BATCH;
			got += n;
			int64_t share = more ? budget / (DRAIN_BATCHES - round) : budget;
			budget -= serve_clients(s, share);
			if (!more)
				break;
		}
		thread_data_tick(got);
		cpulat_tick(got);
	}
	return NULL;
}

/* The kernel's drops at every socket of ours: DATA and CONTROL. */
static uint64_t socket_drops(struct server *s)
{
	uint64_t n = udp_drops(s->udp_data, s->nudp);
	return s->ctl_fd >= 0 ? n + udp_drops(&s->ctl_fd, 1) : n;
}

static void log_stats(struct server *s)
{
	struct server_stats *st = &s->st;
	struct lat_summary t2u, u2t;
	struct clients_totals t;
	uint64_t now = now_ns();
	clients_totals(&s->reg, now, &t);
	uint64_t qdrops = t.queue_full_drops, codel = t.codel_drops, marks = t.ecn_marks, active = t.active;
	uint64_t cpulat_made;
	bool cpulat_held;
	cpulat_read(&cpulat_made, &cpulat_held);
	codel += atomic_load_explicit(&s->inject.st.codel_drops, memory_order_relaxed);
	marks += atomic_load_explicit(&s->inject.st.ecn_marks, memory_order_relaxed);
	lat_take(&st->tun_to_udp, &st->tun_to_udp_w, &t2u);
	lat_take(&st->udp_to_tun, &st->udp_to_tun_w, &u2t);
	char dns[512];
	LOGI("msg=stats udp_rx_datagrams=%lu udp_rx_bytes=%lu udp_tx_datagrams=%lu udp_tx_bytes=%lu "
	     "tun_rx_packets=%lu tun_rx_bytes=%lu tun_tx_packets=%lu tun_tx_bytes=%lu udp_tx_errors=%lu tun_tx_errors=%lu "
	     "unknown_client_drops=%lu no_endpoint_drops=%lu queue_full_drops=%lu dropped_due_to_mtu=%lu icmp_too_big_sent=%lu "
	     "spoofed_source_drops=%lu malformed_drops=%lu auth_fail_drops=%lu replay_drops=%lu "
	     "handshake_rejects=%lu handshakes=%lu no_route_drops=%lu no_session_drops=%lu "
	     "codel_drops=%lu ecn_marks=%lu ecn_drops=%lu inject_queue_full_drops=%lu active_clients=%lu "
	     "handshake_mac_drops=%lu cookie_replies_sent=%lu cookie_reply_limited=%lu handshake_rate_limited=%lu under_load=%d "
	     "udp_socket_drops=%lu tun_queue_drops=%lu cpu_latency_requests=%lu cpu_latency_held=%d "
	     "tun_to_udp_avg_us=%lu tun_to_udp_p95_us=%lu udp_to_tun_avg_us=%lu udp_to_tun_p95_us=%lu%s",
	     ctr_get(&st->udp_rx_datagrams), ctr_get(&st->udp_rx_bytes), ctr_get(&st->udp_tx_datagrams),
	     ctr_get(&st->udp_tx_bytes), ctr_get(&st->tun_rx_packets), ctr_get(&st->tun_rx_bytes),
	     ctr_get(&st->tun_tx_packets), ctr_get(&st->tun_tx_bytes), ctr_get(&st->udp_tx_errors),
	     ctr_get(&st->tun_tx_errors), ctr_get(&st->unknown_client_drops), ctr_get(&st->no_endpoint_drops), qdrops, ctr_get(&st->dropped_due_to_mtu), ctr_get(&st->icmp_too_big_sent),
	     ctr_get(&st->spoofed_source_drops), ctr_get(&st->malformed_drops), ctr_get(&st->auth_fail_drops),
	     ctr_get(&st->replay_drops), ctr_get(&st->handshake_rejects), ctr_get(&st->handshakes),
	     ctr_get(&st->no_route_drops), ctr_get(&st->no_session_drops), codel, marks, ctr_get(&st->ecn_drops),
	     atomic_load_explicit(&s->inject.st.overflow_drops, memory_order_relaxed), active,
	     ctr_get(&st->handshake_mac_drops), ctr_get(&st->cookie_replies_sent), ctr_get(&st->cookie_reply_limited),
	     ctr_get(&st->handshake_rate_limited),
	     now < atomic_load_explicit(&st->under_load_until_ns, memory_order_relaxed), socket_drops(s),
	     netcfg_drops_read(&s->tun_drops), cpulat_made, cpulat_held, t2u.avg_us, t2u.p95_us,
	     u2t.avg_us, u2t.p95_us, dnsproxy_stats(s->dns, dns, sizeof(dns)));
}

/* MTU = auto: the uplink's MTU less our overhead over IPv6, since any
 * client may come over either family. */
static int resolve_auto_mtu(struct server_conf *c)
{
	struct netcfg n;
	if (c->mtu != MTU_AUTO)
		return 0;
	if (netcfg_open(&n, NULL) != 0)
		return -1;
	int up = netcfg_uplink_mtu(&n);
	netcfg_close(&n);
	if (up < 0) {
		die_msg("MTU = auto: no network device to take the MTU from; give a number");
		return -1;
	}
	c->mtu = up - NETCFG_OVERHEAD_V6;
	if (c->mtu < MTU_MIN || c->mtu > MTU_MAX) {
		int m = c->mtu < MTU_MIN ? MTU_MIN : MTU_MAX;
		LOGW("msg=\"MTU = auto: the uplink's MTU gives a tunnel MTU out of range; using the nearest limit\" uplink_mtu=%d mtu=%d", up, m);
		c->mtu = m;
		return 0;
	}
	LOGI("msg=\"MTU = auto\" uplink_mtu=%d overhead=%d mtu=%d", up, NETCFG_OVERHEAD_V6, c->mtu);
	return 0;
}

static int configure_tun(struct server *s)
{
	struct netcfg n;
	if (netcfg_open(&n, s->tun.name) != 0)
		return -1;
	int rc = netcfg_link(&n, s->conf.mtu, TUN_TXQUEUELEN) == 0 && netcfg_addr4(&n, s->conf.addr4, s->conf.prefix4) == 0 &&
		 (!s->conf.has6 || netcfg_addr6(&n, s->conf.addr6, s->conf.prefix6) == 0);
	netcfg_close(&n);
	return rc ? 0 : -1;
}

/* Everything `vpngw show` and the metrics report; on the control thread,
 * reading counters only. NULL peers when out of memory. */
static void snapshot(struct server *s, struct snapshot *o)
{
	struct server_stats *st = &s->st;
	struct clients_totals t;
	memset(o, 0, sizeof(*o));
	o->server = true;
	snprintf(o->ifname, sizeof(o->ifname), "%s", s->tun.name);
	o->addr4 = s->conf.addr4;
	o->prefix4 = s->conf.prefix4;
	if (s->conf.has6) {
		inet_ntop(AF_INET6, s->conf.addr6, o->addr6, INET6_ADDRSTRLEN);
		snprintf(o->addr6 + strlen(o->addr6), sizeof(o->addr6) - strlen(o->addr6), "/%u", s->conf.prefix6);
	}
	o->listen_port = s->conf.port;
	clients_snapshot(&s->reg, now_ns(), endpoint_str, o, &t);
	const struct { const char *name; counter_t *c; } ctrs[] = {
		{ "udp_rx_datagrams", &st->udp_rx_datagrams }, { "udp_rx_bytes", &st->udp_rx_bytes },
		{ "udp_tx_datagrams", &st->udp_tx_datagrams }, { "udp_tx_bytes", &st->udp_tx_bytes },
		{ "tun_rx_packets", &st->tun_rx_packets }, { "tun_rx_bytes", &st->tun_rx_bytes },
		{ "tun_tx_packets", &st->tun_tx_packets }, { "tun_tx_bytes", &st->tun_tx_bytes },
		{ "udp_tx_errors", &st->udp_tx_errors }, { "tun_tx_errors", &st->tun_tx_errors },
		{ "unknown_client_drops", &st->unknown_client_drops }, { "no_endpoint_drops", &st->no_endpoint_drops },
		{ "dropped_due_to_mtu", &st->dropped_due_to_mtu }, { "icmp_too_big_sent", &st->icmp_too_big_sent },
		{ "spoofed_source_drops", &st->spoofed_source_drops }, { "malformed_drops", &st->malformed_drops },
		{ "auth_fail_drops", &st->auth_fail_drops }, { "replay_drops", &st->replay_drops },
		{ "handshake_rejects", &st->handshake_rejects }, { "handshakes", &st->handshakes },
		{ "no_route_drops", &st->no_route_drops }, { "no_session_drops", &st->no_session_drops },
		{ "ecn_drops", &st->ecn_drops }, { "handshake_mac_drops", &st->handshake_mac_drops },
		{ "cookie_replies_sent", &st->cookie_replies_sent }, { "cookie_reply_limited", &st->cookie_reply_limited },
		{ "handshake_rate_limited", &st->handshake_rate_limited },
	};
	for (size_t i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++)
		snap_total(o, ctrs[i].name, ctr_get(ctrs[i].c), false);
	snap_total(o, "under_load", now_ns() < atomic_load_explicit(&st->under_load_until_ns, memory_order_relaxed), true);
	snap_total(o, "queue_full_drops", t.queue_full_drops, false);
	snap_total(o, "codel_drops", t.codel_drops + ctr_get(&s->inject.st.codel_drops), false);
	snap_total(o, "ecn_marks", t.ecn_marks + ctr_get(&s->inject.st.ecn_marks), false);
	snap_total(o, "inject_queue_full_drops", ctr_get(&s->inject.st.overflow_drops), false);
	snap_total(o, "udp_socket_drops", socket_drops(s), false);
	snap_total(o, "tun_queue_drops", netcfg_drops_read(&s->tun_drops), false);
	cpulat_snap(o);
	snap_total(o, "active_clients", t.active, true);
	dnsproxy_snap(s->dns, o);
	lat_read(&st->tun_to_udp, &o->lat[0]);
	lat_read(&st->udp_to_tun, &o->lat[1]);
}

static void ctl_show(void *arg, const struct ctl_req *r, struct sbuf *out)
{
	struct snapshot snap;
	snapshot(arg, &snap);
	if (r->json)
		show_json(&snap, r->keys, out);
	else
		show_text(&snap, r->keys, out);
	free(snap.peers);
}

static void ctl_metrics(void *arg, struct sbuf *out)
{
	struct snapshot snap;
	snapshot(arg, &snap);
	metrics_render(&snap, out);
	free(snap.peers);
}

/* Pool addresses given out before (state file) are given again. */
static void remember_addresses(struct server *s)
{
	struct state_entry *e;
	size_t n;
	if (statefile_load(s->conf.state_file, &e, &n) == 0)
		state_apply(e, n, &s->conf);
	free(e);
}

static void save_addresses(struct server *s)
{
	struct state_entry *e;
	size_t n;
	if (clients_state(&s->reg, &e, &n) != 0) {
		LOGW("msg=\"out of memory: state file not saved\" path=%s", s->conf.state_file);
		return;
	}
	statefile_save(s->conf.state_file, e, n);
	free(e);
}

/* vpngw set and SIGHUP, one at a time; each saves the state file. */
static int ctl_set(void *arg, const struct ctl_req *r, struct sbuf *out, char *err, size_t errlen)
{
	struct server *s = arg;
	pthread_mutex_lock(&s->admin_lock);
	int rc = clients_set(&s->reg, r, out, err, errlen);
	if (rc == 0)
		save_addresses(s);
	pthread_mutex_unlock(&s->admin_lock);
	return rc;
}

static void reload(struct server *s, const char *path)
{
	struct server_conf nc;
	char err[512];
	if (config_load_server(path, &nc, err, sizeof(err)) != 0) {
		LOGE("msg=\"reload refused: nothing changed\" error=\"%s\"", err);
		return;
	}
	/* The rest is built into sockets, devices and queues at start. */
	if (nc.port != s->conf.port || nc.addr4 != s->conf.addr4 || nc.prefix4 != s->conf.prefix4 ||
	    nc.has6 != s->conf.has6 || memcmp(nc.addr6, s->conf.addr6, 16) || nc.prefix6 != s->conf.prefix6 ||
	    nc.mtu != s->conf.mtu || strcmp(nc.ifname, s->conf.ifname) || nc.dns4 != s->conf.dns4 ||
	    strcmp(nc.masquerade, s->conf.masquerade) || nc.keepalive_s != s->conf.keepalive_s ||
	    nc.bandwidth_bps != s->conf.bandwidth_bps || strcmp(nc.metrics_listen, s->conf.metrics_listen) ||
	    nc.rt_priority != s->conf.rt_priority || nc.sched_slice_us != s->conf.sched_slice_us ||
	    nc.cpu_latency_us != s->conf.cpu_latency_us || nc.cpu_latency_hold_ms != s->conf.cpu_latency_hold_ms ||
	    memcmp(nc.priv, s->conf.priv, 32))
		LOGW("msg=\"reload: [Server] settings changed; they take effect at the next start\"");
	struct clients_diff d;
	pthread_mutex_lock(&s->admin_lock);
	clients_reload(&s->reg, &nc, &d);
	save_addresses(s);
	LOGI("msg=reloaded added=%zu removed=%zu changed=%zu failed=%zu clients=%zu", d.added, d.removed, d.changed,
	     d.failed, s->reg.n);
	pthread_mutex_unlock(&s->admin_lock);
	config_free_server(&nc);
}

static int setup(struct server *s, const char *path)
{
	char err[512];
	if (config_load_server(path, &s->conf, err, sizeof(err)) != 0) {
		die_msg("%s", err);
		return -1;
	}
	if (resolve_auto_mtu(&s->conf) != 0)
		return -1;
	uint8_t pub[32];
	if (noise_pubkey(pub, s->conf.priv) != 0) {
		die_msg("%s: the private key gives no usable public key", path);
		return -1;
	}
	cookie_gate_init(&s->gate, pub, 0);
	size_t nbuf = 16384 + s->conf.npeers * 64;
	s->pool = pool_new(nbuf);
	if (!s->pool) {
		die_msg("out of memory for %zu packet buffers", nbuf);
		return -1;
	}
	remember_addresses(s);
	if (registry_init(&s->reg, &s->conf, s->pool, PEER_QUEUE_PKTS, err, sizeof(err)) != 0) {
		die_msg("%s: %s", path, err);
		return -1;
	}
	if (fq_init(&s->inject, INJECT_FQ_FLOWS, INJECT_QUEUE_PKTS, INJECT_QUEUE_PKTS * 1500,
		    TUN_WRITE_QUANTUM_MTUS * (uint32_t)s->conf.mtu,
		    s->pool) != 0) {
		die_msg("out of memory for the inject queue");
		return -1;
	}
	pthread_mutex_init(&s->sched_lock, NULL);
	pacer_init(&s->pace, s->conf.bandwidth_bps, PACER_BURST_NS, now_ns());
	if (waker_init(&s->sched_wake) != 0)
		return -1;
	if (udp_open_server(s->conf.port, s->udp_data, &s->nudp, &s->ctl_fd) != 0)
		return -1;
	s->udp = s->udp_data[0];
	if (udp_rx_init(&s->rx, s->udp_data, s->nudp) != 0) {
		die_msg("out of memory for UDP receive buffers");
		return -1;
	}

	if (tun_open(&s->tun, s->conf.ifname, s->conf.has6) != 0)
		return -1;
	if (configure_tun(s) != 0)
		return -1;
	netcfg_drops_start(&s->tun_drops, s->tun.name);
	pthread_mutex_init(&s->admin_lock, NULL);
	struct ctl_ops ops = { .arg = s, .show = ctl_show, .metrics = ctl_metrics, .set = ctl_set };
	s->ctl = ctl_open(s->tun.name, s->conf.metrics_listen, &ops);
	if (!s->ctl)
		return -1;
	save_addresses(s);
	/* Without NAT the tunnel still works for the gateway's own networks. */
	if (s->conf.masquerade[0] &&
	    nat_start(&s->nat, s->tun.name, s->reg.net, s->conf.prefix4, s->conf.has6 ? s->reg.net6 : NULL,
		      s->conf.prefix6, s->conf.masquerade) != 0)
		LOGE("msg=\"no masquerading: clients reach only routed networks\" masquerade=%s", s->conf.masquerade);
	if (!s->conf.conntrack_track && notrack_start(&s->notrack, s->tun.name, s->conf.port) != 0)
		LOGW("msg=\"the tunnel's datagrams stay tracked by conntrack: a flood of spoofed sources can fill its table\" port=%u",
		     s->conf.port);
	/* Port 53 is bound here, while still root; its thread starts later. */
	s->dns = dnsproxy_open(&s->conf, s->conf.addr4, s->tun.name);
	s->dns4 = dnsproxy_client_dns(s->dns, &s->conf, s->conf.addr4);
	return 0;
}

static void teardown(struct server *s)
{
	ctl_close(s->ctl);
	s->ctl = NULL;
	dnsproxy_close(s->dns);
	nat_stop(&s->nat);
	notrack_stop(&s->notrack);
	if (s->tun.fd >= 0)
		tun_close(&s->tun);
	for (unsigned i = 0; i < s->nudp; i++)
		close(s->udp_data[i]);
	s->nudp = 0;
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	udp_rx_free(&s->rx);
	waker_close(&s->sched_wake);
	fq_destroy(&s->inject);
	if (s->reg.peers)
		registry_destroy(&s->reg);
	pool_free(s->pool);
	cookie_gate_wipe(&s->gate);
	config_free_server(&s->conf);
}

int server_run(const char *path)
{
	static struct server srv;
	struct server *s = &srv;
	sigset_t sigs;
	pthread_t th[3];
	void *(*loops[3])(void *) = { up_loop, down_loop, hs_loop };
	static const char *const names[3] = { "vpngw-up", "vpngw-down", "vpngw-hs" };

	log_set_role("server");
	s->udp = -1;
	s->ctl_fd = -1;
	s->tun.fd = -1;
	s->sched_wake.fd = -1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int rc = setup(s, path);
	if (rc == 0)
		cpulat_apply(s->conf.cpu_latency_us, s->conf.cpu_latency_hold_ms); /* as root, before the drop */
	if (rc != 0 || (s->conf.user[0] && priv_drop(s->conf.user, s->conf.rt_priority) != 0)) {
		teardown(s);
		return 1;
	}
	char gw6[INET6_ADDRSTRLEN + 4] = "none";
	if (s->conf.has6) {
		inet_ntop(AF_INET6, s->conf.addr6, gw6, INET6_ADDRSTRLEN);
		snprintf(gw6 + strlen(gw6), 5, "/%u", s->conf.prefix6);
	}
	LOGI("msg=\"gateway up\" interface=%s listen_port=%u address=%u.%u.%u.%u/%u address6=%s mtu=%d clients=%zu ciphers=%s",
	     s->tun.name, s->conf.port, s->conf.addr4 >> 24, s->conf.addr4 >> 16 & 255, s->conf.addr4 >> 8 & 255,
	     s->conf.addr4 & 255, s->conf.prefix4, gw6, s->conf.mtu, s->reg.n, aead_offer_str());
	if (s->dns && dnsproxy_start(s->dns) != 0) {
		dnsproxy_close(s->dns);
		s->dns = NULL;
		s->dns4 = dnsproxy_client_dns(NULL, &s->conf, s->conf.addr4);
	}
	int want = s->ctl_fd >= 0 ? 3 : 2, nth = 0;
	while (nth < want && thread_start(&th[nth], loops[nth], s, names[nth]) == 0)
		nth++;
	if (nth < want) {
		rc = 1;
		goto stop; /* logged; the threads that did start are stopped below */
	}
	if (ctl_start(s->ctl) != 0)
		LOGE("msg=\"no control socket: vpngw show and metrics will not answer\"");

	uint64_t next_stats = now_ns() + (uint64_t)s->conf.stats_interval_s * SEC_NS;
	for (;;) {
		struct timespec tmo = { 0, 200 * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &tmo);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP)
			reload(s, path);
		if (now_ns() >= next_stats) {
			log_stats(s);
			next_stats += (uint64_t)s->conf.stats_interval_s * SEC_NS;
		}
	}
	LOGI("msg=\"shutting down\"");
stop:
	atomic_store(&s->stop, true);
	waker_signal(&s->sched_wake);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	dnsproxy_stop(s->dns); /* before the last stats line: its counters are final */
	log_stats(s);
	teardown(s);
	return rc;
}
