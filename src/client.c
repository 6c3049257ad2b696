/* client.c - the client's push dataplane and session timers.
 *
 *   up:   TUN -> outbound flow queue -> seal -> sendmmsg to the gateway
 *   down: recvmmsg -> validate -> open -> inject flow queue -> TUN
 *         (and handshake responses)
 * The main thread runs the timers: handshake retries with backoff, rekey,
 * keepalives, dead-gateway detection, and the stats line. */
#include "client.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cpulat.h"
#include "ctl.h"
#include "cookie.h"
#include "dnsconf.h"
#include "handshake.h"
#include "icmp.h"
#include "log.h"
#include "metrics.h"
#include "netcfg.h"
#include "pacer.h"
#include "priv.h"
#include "ecn.h"
#include "fq.h"
#include "session.h"
#include "show.h"
#include "thread.h"
#include "stats.h"
#include "tun.h"
#include "udp.h"

#define BATCH 64
#define POOL_PKTS 8192
#define OUT_QUEUE_PKTS 2048
#define OUT_FQ_FLOWS 256
#define INJECT_QUEUE_PKTS 2048
#define HS_RETRY_MIN_NS (1 * SEC_NS)
#define HS_RETRY_MAX_NS (8 * SEC_NS)
/* Silence from the gateway beyond keepalive + this means it is gone. */
#define DEAD_AFTER_EXTRA_NS (5 * SEC_NS)
/* Meanwhile a keepalive goes this often (so 5 before it is gone). */
#define KEEPALIVE_PROBE_NS (1 * SEC_NS)
/* Sending DATA and nothing back for this long: probe with keepalives
 * (sooner than a whole KeepaliveInterval: someone is using the tunnel). */
#define UNANSWERED_PROBE_NS (2 * SEC_NS)
/* ... and for this long, probes unanswered too: handshake again (rekey
 * form). A gateway that restarted, and so lost our session, answers it
 * as a new session at once, instead of after the interval and 5 s. */
#define UNANSWERED_REHANDSHAKE_NS (4 * SEC_NS)

struct client_stats {
	counter_t tun_rx_packets, tun_rx_bytes, tun_tx_packets, tun_tx_bytes;
	counter_t udp_tx_datagrams, udp_tx_bytes, udp_rx_datagrams, udp_rx_bytes;
	counter_t dropped_due_to_mtu, malformed_drops, auth_fail_drops, replay_drops;
	counter_t handshakes, no_session_drops, ecn_drops, icmp_too_big_sent, cookie_replies;
	counter_t udp_tx_errors, tun_tx_errors; /* sends and writes the kernel refused */
	struct lat_hist tun_to_udp, udp_to_tun;
	struct lat_window tun_to_udp_w, udp_to_tun_w; /* the stats line's */
};

struct client {
	struct client_conf conf;
	struct pool *pool;
	struct tun tun;
	struct netcfg net;
	struct dnsconf dns;
	bool policy;       /* full tunnel: routes in table FwMark, policy rules */
	int path_mtu;      /* to the gateway, at start; 0 = unknown */
	int udp;
	struct udp_rx rx;
	struct netcfg_drops tun_drops; /* the kernel's, at our TUN device */
	struct endpoint eps[2];  /* the gateway: ep_cur's slot is current */
	atomic_uint ep_cur;
	bool ep_is_name;        /* Endpoint is a host name: resolve it again on silence */
	struct session sess;
	struct fq outq;   /* to the gateway: flow queuing + CoDel */
	struct fq injq;   /* to our TUN */
	struct pacer pace; /* Bandwidth = */
	atomic_bool stop;
	struct client_stats st;

	pthread_mutex_t hs_lock; /* the handshake in flight and what it set up */
	struct noise_hs hs;
	bool hs_pending;
	uint64_t hs_sent_ns, hs_retry_ns;
	uint8_t hs_prev_id[WIRE_ID_LEN]; /* of the HS_INIT in flight */
	bool hs_rekey;
	uint8_t hs_mac1[COOKIE_MAC_LEN];  /* a COOKIE_REPLY must be sealed for it */
	struct cookie_keys ck;            /* from the gateway's public key */
	uint8_t cookie[COOKIE_LEN];       /* the gateway's last cookie for us */
	uint64_t cookie_ns;               /* when it came; 0: none */
	uint8_t hs_cookie[COOKIE_LEN];    /* the cookie the HS_INIT in flight used */
	bool hs_used_cookie;
	bool tun_ready;
	uint32_t addr4;
	uint8_t prefix4;
	bool has6;               /* the gateway gave us an IPv6 address */
	uint8_t addr6[16], prefix6;
	/* Set by the down thread from the gateway's HS_RESP, read by the up
	 * thread per packet: atomic (a plain load on x86 and arm64). */
	_Atomic uint16_t mtu;
	/* The gateway's MTU, which bounds what it sends us. Above ours when
	 * our path to it is narrower (tunnel_mtu): its packets that arrived
	 * anyway are taken, not dropped for a limit meant for our sends. */
	_Atomic uint16_t rx_mtu;
	uint16_t gw_keepalive_s; /* announced in HS_RESP */
	/* The epoch of the keypair we seal with (the last handshake's): set
	 * by the down thread, which also compares each datagram's with it. */
	_Atomic uint8_t send_epoch;

	atomic_uint_least64_t last_rx_ns, last_tx_ns, session_start_ns;
	atomic_uint_least64_t last_data_tx_ns; /* DATA only, by the up thread */
	uint64_t unanswered_since; /* main thread: first seen DATA out after the last heard */
	/* written by the down thread (a keepalive answered) and the main thread */
	atomic_uint_least64_t last_keepalive_ns;
	uint64_t last_icmp_ns; /* up thread only */
	struct ctl *ctl;       /* vpngw show, MetricsListen */
};

/* The gateway's address. A re-resolved one is written to the other slot
 * and then published, so the packet threads never see half of it. */
static inline const struct endpoint *gw_ep(struct client *c)
{
	return &c->eps[atomic_load_explicit(&c->ep_cur, memory_order_acquire)];
}

/* The gateway's, or the client's own where that is shorter (a NAT that
 * forgets sooner); 10 s until the gateway has said. Never longer than the
 * gateway's: it sends only to an endpoint it heard from recently enough
 * for its own interval (PROTOCOL.md 7). */
static uint64_t keepalive_ns(struct client *c)
{
	unsigned own = (unsigned)c->conf.keepalive_s, gw = c->gw_keepalive_s;
	unsigned s = gw ? (own && own < gw ? own : gw) : (own ? own : 10);
	return (uint64_t)s * SEC_NS;
}

static void hex_id(char out[33], const uint8_t id[WIRE_ID_LEN])
{
	sodium_bin2hex(out, 33, id, WIRE_ID_LEN);
}

static void count_tx(struct client *c, size_t n, size_t bytes)
{
	ctr_add(&c->st.udp_tx_datagrams, n);
	ctr_add(&c->st.udp_tx_bytes, bytes);
	atomic_store(&c->last_tx_ns, now_ns());
}

/* A send of ours to the gateway: counted as sent, or as refused. */
static void count_send(struct client *c, bool ok, size_t bytes)
{
	if (!ok) {
		ctr_add(&c->st.udp_tx_errors, 1);
		return;
	}
	count_tx(c, 1, bytes);
}

static void send_keepalive(struct client *c, uint64_t now)
{
	struct pkt *k;
	if (pool_get(c->pool, &k, 1) != 1)
		return;
	if (session_seal(&c->sess, &k, 1, WIRE_KEEPALIVE, now) == 1)
		count_send(c, udp_send_one(c->udp, k->data, k->len, gw_ep(c)) == 0, k->len);
	pool_put(c->pool, &k, 1);
	c->last_keepalive_ns = now;
}

/* Sends a new HS_INIT; prev_id names the session to rekey, or NULL.
 * backoff: a timer's send (the next retry waits twice as long), not the
 * answer to a COOKIE_REPLY. */
static void send_handshake(struct client *c, const uint8_t *prev_id, uint64_t now, bool backoff)
{
	uint8_t out[HS_INIT_DGRAM_LEN];
	struct hs_init in = { 0 };
	hs_timestamp(in.timestamp);
	in.ciphers = (uint16_t)aead_offer();
	/* We take an IPv6 address if the gateway has one, and packets whose
	 * checksum is left for our kernel to complete. */
	in.flags = HS_INIT_FLAG_V6 | HS_INIT_FLAG_CSUM_PARTIAL;
	if (prev_id)
		memcpy(in.prev_id, prev_id, WIRE_ID_LEN);

	pthread_mutex_lock(&c->hs_lock);
	noise_wipe(&c->hs);
	if (hs_write_init(&c->hs, c->conf.priv, c->conf.server_pub, &in, NULL, out) != 0) {
		pthread_mutex_unlock(&c->hs_lock);
		LOGE("msg=\"cannot build a handshake: the server public key is invalid\"");
		return;
	}
	/* mac2 only with a cookie young enough that the gateway still takes it. */
	c->hs_used_cookie = c->cookie_ns && ns_since(now, c->cookie_ns) < COOKIE_LIFE_NS;
	if (c->hs_used_cookie)
		memcpy(c->hs_cookie, c->cookie, COOKIE_LEN);
	cookie_stamp_init(out, &c->ck, c->hs_used_cookie ? c->cookie : NULL);
	memcpy(c->hs_mac1, out + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	memcpy(c->hs_prev_id, in.prev_id, WIRE_ID_LEN);
	c->hs_rekey = prev_id != NULL;
	c->hs_pending = true;
	c->hs_sent_ns = now;
	if (backoff) {
		c->hs_retry_ns = c->hs_retry_ns ? c->hs_retry_ns * 2 : HS_RETRY_MIN_NS;
		if (c->hs_retry_ns > HS_RETRY_MAX_NS)
			c->hs_retry_ns = HS_RETRY_MAX_NS;
	}
	pthread_mutex_unlock(&c->hs_lock);
	count_send(c, udp_send_one(c->udp, out, sizeof(out), gw_ep(c)) == 0, sizeof(out));
}

static void start_handshake(struct client *c, const uint8_t *prev_id, uint64_t now)
{
	send_handshake(c, prev_id, now, true);
}

/* The gateway is under load and sent a cookie for our pending HS_INIT. A
 * new HS_INIT with mac2 goes at once, unless the answered one already used
 * this cookie (then the timer retries: no loop at round-trip speed). */
static void handle_cookie_reply(struct client *c, struct pkt *pk, uint64_t now)
{
	uint8_t cookie[COOKIE_LEN], prev[WIRE_ID_LEN];
	pthread_mutex_lock(&c->hs_lock);
	if (!c->hs_pending || cookie_open_reply(cookie, &c->ck, pk->data, pk->len, c->hs_mac1) != 0) {
		pthread_mutex_unlock(&c->hs_lock);
		ctr_add(&c->st.auth_fail_drops, 1);
		return;
	}
	bool resend = !c->hs_used_cookie || sodium_memcmp(cookie, c->hs_cookie, COOKIE_LEN) != 0;
	memcpy(c->cookie, cookie, COOKIE_LEN);
	c->cookie_ns = now ? now : 1;
	bool rekey = c->hs_rekey;
	memcpy(prev, c->hs_prev_id, WIRE_ID_LEN);
	pthread_mutex_unlock(&c->hs_lock);
	sodium_memzero(cookie, sizeof(cookie));
	ctr_add(&c->st.cookie_replies, 1);
	LOGI("msg=\"gateway under load: cookie received\" resend=%s", resend ? "now" : "at_retry");
	if (resend)
		send_handshake(c, rekey ? prev : NULL, now, false);
}

/* The gateway's IPv4 address, if the endpoint is IPv4 (or v4-mapped). */
static bool endpoint_v4(const struct endpoint *e, uint32_t *addr)
{
	if (e->sa.sa_family == AF_INET) {
		*addr = ntohl(e->in4.sin_addr.s_addr);
		return true;
	}
	if (e->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&e->in6.sin6_addr)) {
		memcpy(addr, &e->in6.sin6_addr.s6_addr[12], 4);
		*addr = ntohl(*addr);
		return true;
	}
	return false;
}

/* A route over the tunnel that covers the gateway's own address would send
 * the tunnel's UDP into the tunnel. With policy routing (a full tunnel) our
 * marked UDP skips the tunnel's table; without it such a route is skipped,
 * with a warning naming it. */
static void add_route(struct client *c, const struct route4 *r)
{
	uint32_t gw, mask = r->prefix ? 0xffffffffu << (32 - r->prefix) : 0;
	if (c->policy) {
		netcfg_route4(&c->net, r->net, r->prefix, c->conf.fwmark);
		return;
	}
	if (endpoint_v4(gw_ep(c), &gw) && (gw & mask) == r->net) {
		LOGW("msg=\"route skipped: it covers the gateway's endpoint and would loop the tunnel into itself\" route=%u.%u.%u.%u/%u",
		     r->net >> 24, r->net >> 16 & 255, r->net >> 8 & 255, r->net & 255, r->prefix);
		return;
	}
	netcfg_route4(&c->net, r->net, r->prefix, 0);
}

/* Whether an IPv6 route covers the gateway's (IPv6, not v4-mapped) endpoint. */
static bool covers_gateway6(struct client *c, const struct route6 *r)
{
	const struct endpoint *e = gw_ep(c);
	if (e->sa.sa_family != AF_INET6 || IN6_IS_ADDR_V4MAPPED(&e->in6.sin6_addr))
		return false;
	const uint8_t *a = e->in6.sin6_addr.s6_addr;
	int full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(a, r->net, (size_t)full) != 0)
		return false;
	return !rest || ((a[full] ^ r->net[full]) & (0xff00 >> rest)) == 0;
}

/* IPv6 routes as add_route does IPv4's. */
static void add_route6(struct client *c, const struct route6 *r)
{
	char a[INET6_ADDRSTRLEN];
	if (c->policy) {
		netcfg_route6(&c->net, r->net, r->prefix, c->conf.fwmark);
		return;
	}
	if (covers_gateway6(c, r)) {
		LOGW("msg=\"route skipped: it covers the gateway's endpoint and would loop the tunnel into itself\" route=%s/%u",
		     inet_ntop(AF_INET6, r->net, a, sizeof(a)), r->prefix);
		return;
	}
	netcfg_route6(&c->net, r->net, r->prefix, 0);
}

/* Routes = 0.0.0.0/0 (or ::/0) makes a full tunnel, the wg-quick way. */
static bool needs_policy(const struct client_conf *k)
{
	for (size_t i = 0; i < k->nroutes; i++)
		if (k->routes[i].prefix == 0)
			return true;
	return k->all_v6;
}

/* The gateway's MTU, unless our own path to it is narrower. */
static int tunnel_mtu(struct client *c, int gw_mtu)
{
	int over = gw_ep(c)->sa.sa_family == AF_INET ? NETCFG_OVERHEAD_V4 : NETCFG_OVERHEAD_V6;
	if (!c->path_mtu || c->path_mtu - over >= gw_mtu)
		return gw_mtu;
	int mtu = c->path_mtu - over < MTU_MIN ? MTU_MIN : c->path_mtu - over;
	LOGW("msg=\"our path to the gateway is narrower than the gateway's MTU; using ours\" path_mtu=%d gateway_mtu=%d mtu=%d",
	     c->path_mtu, gw_mtu, mtu);
	return mtu;
}

static int setup_tun_for(struct client *c, const struct hs_resp *r)
{
	if (r->mtu < MTU_MIN || r->mtu > MTU_MAX || r->prefix4 > 32) {
		LOGE("msg=\"gateway sent unusable parameters\" mtu=%u prefix=%u", r->mtu, r->prefix4);
		return -1;
	}
	if (r->has6 && (r->prefix6 < 16 || r->prefix6 > 128)) {
		LOGE("msg=\"gateway sent an unusable IPv6 prefix\" prefix6=%u", r->prefix6);
		return -1;
	}
	int mtu = tunnel_mtu(c, r->mtu);
	if (c->tun_ready && r->addr4 == c->addr4 && r->prefix4 == c->prefix4 && mtu == c->mtu && r->mtu == c->rx_mtu &&
	    r->has6 == c->has6 &&
	    (!r->has6 || (!memcmp(r->addr6, c->addr6, 16) && r->prefix6 == c->prefix6)))
		return 0;
	if (netcfg_link(&c->net, mtu, TUN_TXQUEUELEN) != 0 || netcfg_addr4(&c->net, r->addr4, r->prefix4) != 0)
		return -1;
	/* IPv6 is an extra: a host that cannot take the address (IPv6 off)
	 * keeps its IPv4 tunnel, with IPv6 as if the gateway had none. */
	bool v6ok = r->has6;
	if (v6ok && netcfg_addr6(&c->net, r->addr6, r->prefix6) != 0) {
		LOGW("msg=\"no IPv6 through the tunnel: the tunnel IPv6 address could not be set\"");
		v6ok = false;
	}
	/* A gateway that gave us IPv6 before and no longer does (restarted
	 * without its IPv6 pool): nothing IPv6 may go to the tunnel now. */
	if (!v6ok)
		netcfg_del_addr6(&c->net);
	for (size_t i = 0; i < c->conf.nroutes; i++)
		add_route(c, &c->conf.routes[i]);
	/* IPv6 routes only with an IPv6 address: without one the gateway
	 * would drop what they send (and ::/0 turns into a block below). */
	for (size_t i = 0; v6ok && i < c->conf.nroutes6; i++)
		add_route6(c, &c->conf.routes6[i]);
	if (!v6ok && c->conf.nroutes6)
		LOGW("msg=\"no IPv6 address in the tunnel: the IPv6 routes of Routes are not installed\" routes6=%zu",
		     c->conf.nroutes6);
	int v6 = !c->conf.all_v6 ? NETCFG_V6_NONE : v6ok ? NETCFG_V6_TUNNEL : NETCFG_V6_BLOCK;
	if (c->policy && netcfg_policy(&c->net, c->conf.fwmark, v6) != 0)
		return -1;
	c->addr4 = r->addr4;
	c->prefix4 = r->prefix4;
	c->has6 = v6ok;
	memcpy(c->addr6, r->addr6, 16);
	c->prefix6 = r->prefix6;
	c->mtu = (uint16_t)mtu;
	c->rx_mtu = r->mtu;
	c->tun_ready = true;
	return 0;
}

/* DNS = auto takes the gateway's; a fixed one wins; off leaves it alone. */
static void setup_dns_for(struct client *c, const struct hs_resp *r)
{
	uint32_t dns = c->conf.dns_mode == DNS_FIXED ? c->conf.dns4 : r->dns4;
	if (c->dns.method != DNSCONF_NONE && dns)
		dnsconf_apply(&c->dns, dns);
}

static void handle_response(struct client *c, struct pkt *pk, uint64_t now)
{
	struct hs_resp r;
	uint8_t send_key[32], recv_key[32];
	char id[33];

	pthread_mutex_lock(&c->hs_lock);
	if (!c->hs_pending || hs_read_resp(&c->hs, pk->data, pk->len, &r, send_key, recv_key) != 0) {
		pthread_mutex_unlock(&c->hs_lock);
		ctr_add(&c->st.auth_fail_drops, 1);
		return;
	}
	/* The gateway must pick one of ours. Refused like an unanswered
	 * HS_INIT: still pending, so the next goes at the retry timer's
	 * backoff, not at once to a gateway that would choose the same. */
	if (r.cipher >= 16 || !(aead_offer() & (1u << r.cipher))) {
		pthread_mutex_unlock(&c->hs_lock);
		sodium_memzero(send_key, sizeof(send_key));
		sodium_memzero(recv_key, sizeof(recv_key));
		LOGE("msg=\"gateway chose a data cipher we did not offer\" cipher=%u", r.cipher);
		return;
	}
	c->hs_pending = false;
	c->hs_retry_ns = 0;
	/* Before the session is up: the timer thread must never see a live
	 * session with an old last_rx_ns and call the gateway silent. */
	atomic_store(&c->last_rx_ns, now);
	uint8_t cur_id[WIRE_ID_LEN];
	session_client_id(&c->sess, cur_id);
	bool rekey = memcmp(r.client_id, cur_id, WIRE_ID_LEN) == 0;
	if (!rekey)
		session_begin(&c->sess, r.client_id);
	int rc = session_install(&c->sess, send_key, recv_key, r.cipher, r.epoch, true, now);
	sodium_memzero(send_key, sizeof(send_key));
	sodium_memzero(recv_key, sizeof(recv_key));
	session_set_peer_csum_partial(&c->sess, r.flags & HS_RESP_FLAG_CSUM_PARTIAL);
	if (rc != 0) {
		pthread_mutex_unlock(&c->hs_lock);
		LOGE("msg=\"cannot set up the data cipher the gateway chose\" cipher=%u", r.cipher);
		return;
	}
	atomic_store(&c->send_epoch, r.epoch);
	int tun_rc = setup_tun_for(c, &r);
	if (tun_rc == 0)
		setup_dns_for(c, &r);
	bool v6_up = tun_rc == 0 && c->has6; /* given, and set on our TUN */
	c->gw_keepalive_s = r.keepalive_s;
	pthread_mutex_unlock(&c->hs_lock);

	ctr_add(&c->st.handshakes, 1);
	atomic_store(&c->last_rx_ns, now);
	atomic_store(&c->session_start_ns, now);
	hex_id(id, r.client_id);
	if (rekey) {
		LOGI("msg=rekeyed client_id=%s epoch=%u", id, r.epoch);
	} else {
		struct in_addr dns = { htonl(r.dns4) };
		char a6[INET6_ADDRSTRLEN + 4] = "none";
		if (v6_up) {
			inet_ntop(AF_INET6, r.addr6, a6, INET6_ADDRSTRLEN);
			snprintf(a6 + strlen(a6), 5, "/%u", r.prefix6);
		}
		LOGI("msg=\"session up\" client_id=%s address=%u.%u.%u.%u/%u address6=%s mtu=%u dns=%s keepalive_s=%u cipher=%s%s", id,
		     r.addr4 >> 24, r.addr4 >> 16 & 255, r.addr4 >> 8 & 255, r.addr4 & 255, r.prefix4, a6, r.mtu,
		     r.dns4 ? inet_ntoa(dns) : "none", (unsigned)(keepalive_ns(c) / SEC_NS), aead_name(r.cipher), tun_rc ? " tun=failed" : "");
	}
	/* Our first packet under the new keys lets the gateway switch too. */
	send_keepalive(c, now);
}

/* A CONTROL datagram from the gateway: a handshake response or a cookie. */
static void handle_control(struct client *c, struct pkt *pk, uint64_t now)
{
	pkt_own(pk);
	int ct = hs_control_type(pk->data, pk->len);
	if (ct == HS_RESP)
		handle_response(c, pk, now);
	else if (ct == HS_COOKIE_REPLY)
		handle_cookie_reply(c, pk, now);
	else
		ctr_add(&c->st.malformed_drops, 1);
}

/* The rest of one opened DATA/KEEPALIVE datagram; true when pk goes on to
 * the inject queue. */
static bool handle_opened(struct client *c, struct pkt *pk, const struct wire_hdr *h)
{
	if (h->type == WIRE_KEEPALIVE)
		return false;
	switch (session_inner(pk, h, c->rx_mtu)) {
	case INNER_OK:
		return true;
	case INNER_TOO_BIG:
		ctr_add(&c->st.dropped_due_to_mtu, 1);
		break;
	case INNER_MALFORMED:
		ctr_add(&c->st.malformed_drops, 1);
		break;
	case INNER_ECN_DROP:
		ctr_add(&c->st.ecn_drops, 1);
		break;
	}
	return false;
}

/* Where a batch's datagrams go: the inject queue, or back to the pool. */
struct rx_out {
	struct pkt *keep[BATCH], *spare[BATCH];
	size_t nkeep, nspare;
};

/* n DATA/KEEPALIVE datagrams of our session, opened under its receive lock
 * once. */
static void handle_data(struct client *c, struct pkt **pk, const struct wire_hdr *h, size_t n, uint64_t now,
			struct rx_out *o)
{
	enum open_result res[BATCH];
	bool heard = false, behind = false;
	uint8_t epoch = atomic_load(&c->send_epoch);
	for (size_t i = 0; i < n;)
		i += session_open_batch(&c->sess, h + i, pk + i, n - i, res + i, now);
	for (size_t i = 0; i < n; i++) {
		if (res[i] == OPEN_NO_KEY || res[i] == OPEN_AUTH_FAIL) {
			ctr_add(&c->st.auth_fail_drops, 1);
		} else if (res[i] == OPEN_REPLAY) {
			ctr_add(&c->st.replay_drops, 1);
		} else {
			heard = true;
			behind |= (h[i].flags & WIRE_FLAGS_EPOCH_MASK) != epoch;
			if (handle_opened(c, pk[i], &h[i])) {
				o->keep[o->nkeep++] = pk[i];
				continue;
			}
		}
		o->spare[o->nspare++] = pk[i];
	}
	if (heard)
		atomic_store(&c->last_rx_ns, now);
	/* The gateway still seals with the keypair a rekey replaced: the
	 * keepalive that lets it switch was lost, and a client that only
	 * receives sends nothing else until its next keepalive, which may
	 * come after our copy of that keypair expires (PREV_GRACE_NS). A
	 * keepalive a second until it switches; the rekey's own went at the
	 * handshake, so packets merely in flight across it cost none. */
	if (behind && ns_since(now, atomic_load(&c->last_keepalive_ns)) >= KEEPALIVE_PROBE_NS)
		send_keepalive(c, now);
}

/* Each direction is one thread that drains its input (up to
 * DRAIN_BATCHES batches) into its flow queue, then sends one batch from
 * it. Draining faster than sending moves any standing queue out of the
 * kernel's FIFOs (the TUN queue, the socket buffer), where a ping would
 * wait behind bulk, into the flow queue, where it does not. */
#define DRAIN_BATCHES 4

/* Reads what the gateway sent into the inject queue; returns how many
 * datagrams arrived, and sets *data to how many were packets for our TUN. */
static size_t drain_udp(struct client *c, int wait_us, size_t *data)
{
	struct pkt *batch[BATCH], *dgram[BATCH], *ctl[BATCH];
	struct endpoint from[BATCH];
	struct wire_hdr hdr[BATCH];
	struct rx_out o;
	size_t total = 0;

	*data = 0;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		size_t n = pool_get(c->pool, batch, BATCH);
		if (!n)
			break; /* every buffer is queued: send before reading more */
		int got = udp_rx_batch(&c->rx, batch, from, n, round ? 0 : wait_us);
		if (got < 0)
			got = 0;
		uint64_t now = now_ns(), bytes = 0;
		size_t ndgram = 0, nctl = 0;
		o.nkeep = o.nspare = 0;
		for (int i = 0; i < got; i++) {
			struct pkt *pk = batch[i];
			bytes += pk->len;
			/* Only the gateway talks to us. */
			if (!endpoint_equal(&from[i], gw_ep(c)) ||
			    wire_decode(&hdr[ndgram], pk->data, pk->len) != WIRE_OK) {
				ctr_add(&c->st.malformed_drops, 1);
				o.spare[o.nspare++] = pk;
			} else if (hdr[ndgram].type == WIRE_CONTROL) {
				ctl[nctl++] = pk;
			} else { /* session_open refuses another clientId's */
				dgram[ndgram++] = pk;
			}
		}
		ctr_add(&c->st.udp_rx_datagrams, (uint64_t)got);
		ctr_add(&c->st.udp_rx_bytes, bytes);
		handle_data(c, dgram, hdr, ndgram, now, &o);
		/* After the data: a response's new keys are not in use by the
		 * gateway before we answer it. */
		for (size_t i = 0; i < nctl; i++) {
			handle_control(c, ctl[i], now);
			o.spare[o.nspare++] = ctl[i];
		}
		if (o.nkeep)
			fq_push(&c->injq, o.keep, o.nkeep, now);
		*data += o.nkeep;
		pool_put(c->pool, o.spare, o.nspare);
		pool_put(c->pool, batch + got, n - (size_t)got);
		total += (size_t)got;
		if ((size_t)got < n)
			break;
	}
	return total;
}

static void write_tun(struct client *c)
{
	struct pkt *batch[BATCH];
	size_t n = fq_pop(&c->injq, batch, BATCH, SIZE_MAX, now_ns());
	if (!n)
		return;
	bool written[BATCH];
	size_t ok = tun_write_batch(&c->tun, batch, n, written);
	uint64_t now = now_ns(), bytes = 0;
	struct lat_run run = { .owner = false };
	for (size_t i = 0; i < n; i++) {
		if (!written[i])
			continue;
		bytes += batch[i]->len;
		lat_run_add(&run, &c->st.udp_to_tun, (now - batch[i]->stamp_ns) / 1000);
	}
	lat_run_end(&run);
	ctr_add(&c->st.tun_tx_bytes, bytes);
	ctr_add(&c->st.tun_tx_packets, ok);
	ctr_add(&c->st.tun_tx_errors, n - ok);
	pool_put(c->pool, batch, n);
}

static void *down_loop(void *arg)
{
	struct client *c = arg;
	thread_data_start(c->conf.rt_priority, c->conf.sched_slice_us, "down");
	while (!atomic_load(&c->stop)) {
		size_t data;
		size_t n = drain_udp(c, cpulat_wait_us(fq_len(&c->injq) ? 0 : THREAD_IDLE_WAIT_US), &data);
		write_tun(c);
		thread_data_tick(n);
		cpulat_tick(data); /* keepalives and strays do not count */
	}
	return NULL;
}

/* Tells the local sender of an oversize packet the tunnel MTU (at most
 * one message a millisecond, so a flood of big packets cannot turn into a
 * flood of ICMP). */
static void tell_too_big(struct client *c, const struct pkt *pk, uint64_t now)
{
	uint8_t msg[ICMP6_TOO_BIG_MAX];
	if (now - c->last_icmp_ns < 1000000)
		return;
	if (pk->len >= 40 && pk->data[0] >> 4 == 6) {
		/* As for IPv4: from the destination, not from ourselves. */
		size_t n6 = icmp6_too_big(pk->data, pk->len, pk->data + 24, c->mtu, msg);
		if (n6 && tun_write_one(&c->tun, msg, n6) == 0) {
			c->last_icmp_ns = now;
			ctr_add(&c->st.icmp_too_big_sent, 1);
		}
		return;
	}
	/* From the packet's destination: our own address as the source would
	 * be dropped by our own kernel as a martian. */
	uint32_t dst = pk->len >= 20 ? (uint32_t)pk->data[16] << 24 | (uint32_t)pk->data[17] << 16 |
					       (uint32_t)pk->data[18] << 8 | pk->data[19]
				     : 0;
	size_t n = icmp4_frag_needed(pk->data, pk->len, dst, c->mtu, msg);
	if (n && tun_write_one(&c->tun, msg, n) == 0) {
		c->last_icmp_ns = now;
		ctr_add(&c->st.icmp_too_big_sent, 1);
	}
}

/* Reads what our TUN has into the outbound queue. */
static size_t drain_tun(struct client *c, int wait_us)
{
	struct pkt *batch[BATCH], *keep[BATCH], *spare[BATCH];
	size_t total = 0;

	for (int round = 0; round < DRAIN_BATCHES; round++) {
		size_t n = pool_get(c->pool, batch, BATCH);
		if (!n)
			break;
		int got = tun_read_batch(&c->tun, batch, n, round ? 0 : wait_us);
		if (got < 0)
			got = 0;
		if (c->tun.rx_malformed) {
			ctr_add(&c->st.malformed_drops, c->tun.rx_malformed);
			c->tun.rx_malformed = 0;
		}
		uint64_t now = now_ns(), bytes = 0;
		size_t nkeep = 0, nspare = 0;
		for (int i = 0; i < got; i++) {
			struct pkt *pk = batch[i];
			bytes += pk->len;
			if (pk->len > c->mtu) {
				ctr_add(&c->st.dropped_due_to_mtu, 1);
				tell_too_big(c, pk, now);
				spare[nspare++] = pk;
			} else {
				keep[nkeep++] = pk;
			}
		}
		ctr_add(&c->st.tun_rx_packets, (uint64_t)got);
		ctr_add(&c->st.tun_rx_bytes, bytes);
		if (nkeep)
			fq_push(&c->outq, keep, nkeep, now);
		pool_put(c->pool, spare, nspare);
		pool_put(c->pool, batch + got, n - (size_t)got);
		total += (size_t)got;
		if ((size_t)got < n)
			break;
	}
	return total;
}

static void send_udp(struct client *c)
{
	struct pkt *batch[BATCH];
	struct endpoint to[BATCH];
	uint64_t now = now_ns();
	int64_t budget = pacer_budget(&c->pace, now);
	if (budget <= 0)
		return;
	size_t n = fq_pop(&c->outq, batch, BATCH, (size_t)budget, now_ns());
	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		batch[i]->ecn = ecn_encap(batch[i]->data, batch[i]->len);
	size_t sealed = session_seal(&c->sess, batch, n, WIRE_DATA, now);
	ctr_add(&c->st.no_session_drops, n - sealed);
	size_t bytes = 0;
	for (size_t i = 0; i < sealed; i++)
		to[i] = *gw_ep(c);
	bool ok[BATCH];
	size_t sent = udp_send_batch(c->udp, batch, to, sealed, ok);
	now = now_ns();
	struct lat_run run = { .owner = false };
	/* The kernel may refuse a run in the middle: count what went. */
	for (size_t i = 0; i < sealed; i++) {
		if (!ok[i])
			continue;
		bytes += batch[i]->len;
		lat_run_add(&run, &c->st.tun_to_udp, (now - batch[i]->stamp_ns) / 1000);
	}
	lat_run_end(&run);
	if (sent) {
		count_tx(c, sent, bytes);
		atomic_store(&c->last_data_tx_ns, now);
	}
	ctr_add(&c->st.udp_tx_errors, sealed - sent);
	pacer_consume(&c->pace, bytes + sent * PACER_UNDERLAY_OVERHEAD);
	pool_put(c->pool, batch, n);
}

/* How long the up thread may sleep on its TUN, in microseconds: not at
 * all while packets wait and may go, until the pacer allows the next one
 * when it does not, THREAD_IDLE_WAIT_US when idle. */
static int up_wait_us(struct client *c)
{
	if (!fq_len(&c->outq))
		return THREAD_IDLE_WAIT_US;
	return pacer_sender_wait_us(&c->pace, now_ns(), c->mtu);
}

static void *up_loop(void *arg)
{
	struct client *c = arg;
	thread_data_start(c->conf.rt_priority, c->conf.sched_slice_us, "up");
	while (!atomic_load(&c->stop)) {
		size_t n = drain_tun(c, cpulat_wait_us(up_wait_us(c)));
		send_udp(c);
		thread_data_tick(n);
		cpulat_tick(n);
	}
	return NULL;
}

/* A handshake went unanswered: if the Endpoint is a name, the gateway may
 * have moved. Only the timer thread writes the endpoint. */
static void reresolve(struct client *c)
{
	struct endpoint fresh;
	char err[320], a[64], b[64];
	if (!c->ep_is_name)
		return;
	if (endpoint_resolve(c->conf.endpoint, &fresh, err, sizeof(err)) != 0) {
		LOGW("msg=\"cannot resolve the gateway again; keeping its last address\" error=\"%s\"", err);
		return;
	}
	const struct endpoint *cur = gw_ep(c);
	if (endpoint_equal(&fresh, cur))
		return;
	if (fresh.sa.sa_family != cur->sa.sa_family) {
		LOGW("msg=\"the gateway's name now gives another address family; restart the client to follow it\" endpoint=%s",
		     endpoint_str(&fresh, a, sizeof(a)));
		return;
	}
	unsigned next = !atomic_load(&c->ep_cur);
	c->eps[next] = fresh;
	atomic_store_explicit(&c->ep_cur, next, memory_order_release);
	LOGI("msg=\"gateway moved: its name resolves to a new address\" old=%s new=%s", endpoint_str(cur, b, sizeof(b)),
	     endpoint_str(&fresh, a, sizeof(a)));
}

static void timers(struct client *c, uint64_t now)
{
	bool up = session_up(&c->sess, now);
	pthread_mutex_lock(&c->hs_lock);
	uint64_t ka = keepalive_ns(c);
	bool pending = c->hs_pending;
	if (pending && c->hs_rekey && !up) {
		/* The keypair a rekey was for expired unanswered: what follows
		 * is a new session's HS_INIT, now, and its retries start over
		 * at 1 s (PROTOCOL.md 7), not where the rekey's had got to. */
		c->hs_retry_ns = 0;
	}
	bool retry_due = pending && ns_since(now, c->hs_sent_ns) >= c->hs_retry_ns;
	pthread_mutex_unlock(&c->hs_lock);
	uint64_t last_rx = atomic_load(&c->last_rx_ns), silent = ns_since(now, last_rx);
	/* How long DATA has gone out with nothing heard since (from the first
	 * tick that saw it, not from the last thing heard: an idle client
	 * that starts sending has been silent for a while, and waits afresh). */
	uint64_t waiting = 0;
	if (atomic_load(&c->last_data_tx_ns) > last_rx) {
		if (c->unanswered_since <= last_rx)
			c->unanswered_since = now;
		waiting = ns_since(now, c->unanswered_since);
	}
	uint8_t id[WIRE_ID_LEN];
	session_client_id(&c->sess, id);

	if (up && silent > ka + DEAD_AFTER_EXTRA_NS) {
		char hex[33];
		hex_id(hex, id);
		LOGW("msg=\"gateway silent, starting a new session\" client_id=%s silent_s=%lu", hex,
		     (unsigned long)(silent / SEC_NS));
		session_clear(&c->sess);
		up = false;
		pending = false;
		/* A new session's retries start over at 1 s (PROTOCOL.md 7),
		 * not where a pending rekey's had got to. */
		pthread_mutex_lock(&c->hs_lock);
		c->hs_retry_ns = 0;
		pthread_mutex_unlock(&c->hs_lock);
	}
	if (pending) {
		if (!retry_due)
			return;
		reresolve(c);
		start_handshake(c, up ? id : NULL, now);
		return;
	}
	if (!up) {
		start_handshake(c, NULL, now);
		return;
	}
	if (session_wants_rekey(&c->sess, now)) {
		start_handshake(c, id, now);
		return;
	}
	if (waiting >= UNANSWERED_REHANDSHAKE_NS) {
		LOGI("msg=\"nothing back while sending: handshaking again\" waited_ms=%lu silent_ms=%lu",
		     (unsigned long)(waiting / 1000000), (unsigned long)(silent / 1000000));
		start_handshake(c, id, now);
		return;
	}
	uint64_t idle_tx = ns_since(now, atomic_load(&c->last_tx_ns));
	uint64_t since_ka = ns_since(now, c->last_keepalive_ns);
	if (since_ka >= ka && (idle_tx >= ka || silent >= ka)) {
		send_keepalive(c, now);
		return;
	}
	/* Nothing heard for a whole interval (or, while we send, for
	 * UNANSWERED_PROBE_NS): the keepalive just sent was a probe, and one
	 * lost datagram (it or its answer) must not end the session. Another
	 * each second until the gateway answers or counts as gone. */
	if ((silent >= ka || waiting >= UNANSWERED_PROBE_NS) && since_ka >= KEEPALIVE_PROBE_NS)
		send_keepalive(c, now);
}

static void log_stats(struct client *c)
{
	struct client_stats *st = &c->st;
	struct lat_summary t2u, u2t;
	lat_take(&st->tun_to_udp, &st->tun_to_udp_w, &t2u);
	lat_take(&st->udp_to_tun, &st->udp_to_tun_w, &u2t);
	uint64_t cpulat_made;
	bool cpulat_held;
	cpulat_read(&cpulat_made, &cpulat_held);
	LOGI("msg=stats tun_rx_packets=%lu tun_rx_bytes=%lu udp_tx_datagrams=%lu udp_tx_bytes=%lu "
	     "udp_rx_datagrams=%lu udp_rx_bytes=%lu tun_tx_packets=%lu tun_tx_bytes=%lu udp_tx_errors=%lu "
	     "tun_tx_errors=%lu dropped_due_to_mtu=%lu icmp_too_big_sent=%lu dropped_due_to_queue_full_outbound=%lu dropped_due_to_queue_full_inject=%lu malformed_drops=%lu "
	     "auth_fail_drops=%lu replay_drops=%lu no_session_drops=%lu codel_drops=%lu ecn_marks=%lu ecn_drops=%lu handshakes=%lu "
	     "cookie_replies=%lu udp_socket_drops=%lu tun_queue_drops=%lu cpu_latency_requests=%lu cpu_latency_held=%d "
	     "tun_to_udp_avg_us=%lu tun_to_udp_p95_us=%lu udp_to_tun_avg_us=%lu udp_to_tun_p95_us=%lu",
	     ctr_get(&st->tun_rx_packets), ctr_get(&st->tun_rx_bytes), ctr_get(&st->udp_tx_datagrams),
	     ctr_get(&st->udp_tx_bytes), ctr_get(&st->udp_rx_datagrams), ctr_get(&st->udp_rx_bytes),
	     ctr_get(&st->tun_tx_packets), ctr_get(&st->tun_tx_bytes), ctr_get(&st->udp_tx_errors),
	     ctr_get(&st->tun_tx_errors), ctr_get(&st->dropped_due_to_mtu), ctr_get(&st->icmp_too_big_sent),
	     atomic_load_explicit(&c->outq.st.overflow_drops, memory_order_relaxed),
	     atomic_load_explicit(&c->injq.st.overflow_drops, memory_order_relaxed), ctr_get(&st->malformed_drops),
	     ctr_get(&st->auth_fail_drops), ctr_get(&st->replay_drops), ctr_get(&st->no_session_drops),
	     atomic_load_explicit(&c->outq.st.codel_drops, memory_order_relaxed) +
		     atomic_load_explicit(&c->injq.st.codel_drops, memory_order_relaxed),
	     atomic_load_explicit(&c->outq.st.ecn_marks, memory_order_relaxed) +
		     atomic_load_explicit(&c->injq.st.ecn_marks, memory_order_relaxed),
	     ctr_get(&st->ecn_drops),
	     ctr_get(&st->handshakes), ctr_get(&st->cookie_replies), udp_drops(&c->udp, 1),
	     netcfg_drops_read(&c->tun_drops), cpulat_made, cpulat_held, t2u.avg_us, t2u.p95_us, u2t.avg_us,
	     u2t.p95_us);
}

/* Netlink, stale rules of a crashed run, the path MTU, the resolver: all
 * while we are still root. */
static int setup_host(struct client *c)
{
	c->policy = needs_policy(&c->conf);
	if (c->policy && udp_set_mark(c->udp, c->conf.fwmark) != 0)
		return -1;
	if (netcfg_open(&c->net, c->tun.name) != 0)
		return -1;
	netcfg_clean_stale(&c->net, c->conf.fwmark);
	int pm = netcfg_path_mtu(&c->net, gw_ep(c));
	c->path_mtu = pm > 0 ? pm : 0;
	if (c->conf.dns_mode != DNS_OFF && dnsconf_prepare(&c->dns, c->tun.name) != 0) {
		LOGW("msg=\"the system resolver is left alone\" dns=%s", c->conf.dns_mode == DNS_FIXED ? "fixed" : "auto");
		c->dns.method = DNSCONF_NONE;
	}
	return 0;
}

static void snap_session(struct client *c, uint64_t now, struct snap_peer *o)
{
	struct client_stats *st = &c->st;
	snprintf(o->name, sizeof(o->name), "gateway");
	memcpy(o->pub, c->conf.server_pub, 32);
	endpoint_str(gw_ep(c), o->endpoint, sizeof(o->endpoint));
	pthread_mutex_lock(&c->hs_lock);
	o->addr4 = c->tun_ready ? c->addr4 : 0;
	if (c->tun_ready && c->has6)
		inet_ntop(AF_INET6, c->addr6, o->addr6, sizeof(o->addr6));
	pthread_mutex_unlock(&c->hs_lock);
	uint64_t hs = atomic_load(&c->session_start_ns);
	o->handshake_age_s = hs ? (int64_t)(ns_since(now, hs) / SEC_NS) : -1;
	o->session_up = session_up(&c->sess, now);
	o->rx_bytes = ctr_get(&st->udp_rx_bytes);
	o->rx_packets = ctr_get(&st->udp_rx_datagrams);
	o->tx_bytes = ctr_get(&st->udp_tx_bytes);
	o->tx_packets = ctr_get(&st->udp_tx_datagrams);
	o->queue_packets = fq_len(&c->outq);
	snap_drop(o, "queue_full", ctr_get(&c->outq.st.overflow_drops));
	snap_drop(o, "inject_queue_full", ctr_get(&c->injq.st.overflow_drops));
	snap_drop(o, "codel", ctr_get(&c->outq.st.codel_drops) + ctr_get(&c->injq.st.codel_drops));
	snap_drop(o, "auth_fail", ctr_get(&st->auth_fail_drops));
	snap_drop(o, "replay", ctr_get(&st->replay_drops));
	snap_drop(o, "no_session", ctr_get(&st->no_session_drops));
	snap_drop(o, "mtu", ctr_get(&st->dropped_due_to_mtu));
	snap_drop(o, "malformed", ctr_get(&st->malformed_drops));
	snap_drop(o, "ecn", ctr_get(&st->ecn_drops));
	lat_read(&st->tun_to_udp, &o->lat[0]);
	lat_read(&st->udp_to_tun, &o->lat[1]);
}

/* Everything `vpngw show` and the metrics report; on the control thread,
 * reading counters only. */
static void snapshot(struct client *c, struct snapshot *o, struct snap_peer *session)
{
	struct client_stats *st = &c->st;
	memset(o, 0, sizeof(*o));
	memset(session, 0, sizeof(*session));
	snprintf(o->ifname, sizeof(o->ifname), "%s", c->tun.name);
	snap_session(c, now_ns(), session);
	o->peers = session;
	o->npeers = 1;
	o->addr4 = session->addr4;
	pthread_mutex_lock(&c->hs_lock);
	o->prefix4 = c->prefix4;
	if (session->addr6[0]) {
		/* An IPv6 address has at most 39 characters: room for "/128". */
		size_t n = strnlen(session->addr6, INET6_ADDRSTRLEN);
		memcpy(o->addr6, session->addr6, n);
		snprintf(o->addr6 + n, sizeof(o->addr6) - n, "/%u", c->prefix6);
	}
	pthread_mutex_unlock(&c->hs_lock);
	const struct { const char *name; counter_t *c; } ctrs[] = {
		{ "tun_rx_packets", &st->tun_rx_packets }, { "tun_rx_bytes", &st->tun_rx_bytes },
		{ "udp_tx_datagrams", &st->udp_tx_datagrams }, { "udp_tx_bytes", &st->udp_tx_bytes },
		{ "udp_rx_datagrams", &st->udp_rx_datagrams }, { "udp_rx_bytes", &st->udp_rx_bytes },
		{ "tun_tx_packets", &st->tun_tx_packets }, { "tun_tx_bytes", &st->tun_tx_bytes },
		{ "udp_tx_errors", &st->udp_tx_errors }, { "tun_tx_errors", &st->tun_tx_errors },
		{ "dropped_due_to_mtu", &st->dropped_due_to_mtu }, { "icmp_too_big_sent", &st->icmp_too_big_sent },
		{ "dropped_due_to_queue_full_outbound", &c->outq.st.overflow_drops },
		{ "dropped_due_to_queue_full_inject", &c->injq.st.overflow_drops },
		{ "malformed_drops", &st->malformed_drops }, { "auth_fail_drops", &st->auth_fail_drops },
		{ "replay_drops", &st->replay_drops }, { "no_session_drops", &st->no_session_drops },
		{ "ecn_drops", &st->ecn_drops }, { "handshakes", &st->handshakes },
		{ "cookie_replies", &st->cookie_replies },
	};
	for (size_t i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++)
		snap_total(o, ctrs[i].name, ctr_get(ctrs[i].c), false);
	snap_total(o, "codel_drops", ctr_get(&c->outq.st.codel_drops) + ctr_get(&c->injq.st.codel_drops), false);
	snap_total(o, "ecn_marks", ctr_get(&c->outq.st.ecn_marks) + ctr_get(&c->injq.st.ecn_marks), false);
	snap_total(o, "udp_socket_drops", udp_drops(&c->udp, 1), false);
	snap_total(o, "tun_queue_drops", netcfg_drops_read(&c->tun_drops), false);
	cpulat_snap(o);
	o->lat[0] = session->lat[0];
	o->lat[1] = session->lat[1];
}

static void ctl_show(void *arg, const struct ctl_req *r, struct sbuf *out)
{
	struct snapshot snap;
	struct snap_peer session;
	snapshot(arg, &snap, &session);
	if (r->json)
		show_json(&snap, r->keys, out);
	else
		show_text(&snap, r->keys, out);
}

static void ctl_metrics(void *arg, struct sbuf *out)
{
	struct snapshot snap;
	struct snap_peer session;
	snapshot(arg, &snap, &session);
	metrics_render(&snap, out);
}

static int setup(struct client *c, const char *path)
{
	char err[512];
	if (config_load_client(path, &c->conf, err, sizeof(err)) != 0) {
		die_msg("%s", err);
		return -1;
	}
	if (endpoint_resolve(c->conf.endpoint, &c->eps[0], err, sizeof(err)) != 0) {
		die_msg("%s", err);
		return -1;
	}
	c->ep_is_name = endpoint_is_name(c->conf.endpoint);
	c->pool = pool_new(POOL_PKTS);
	if (!c->pool || fq_init(&c->outq, OUT_FQ_FLOWS, OUT_QUEUE_PKTS, OUT_QUEUE_PKTS * 1500, MTU_MAX, c->pool) != 0 ||
	    fq_init(&c->injq, OUT_FQ_FLOWS, INJECT_QUEUE_PKTS, INJECT_QUEUE_PKTS * 1500, TUN_WRITE_QUANTUM_MTUS * MTU_MAX,
		    c->pool) != 0) {
		die_msg("out of memory for packet buffers");
		return -1;
	}
	session_init(&c->sess);
	cookie_keys_init(&c->ck, c->conf.server_pub);
	pacer_init(&c->pace, c->conf.bandwidth_bps, PACER_BURST_NS, now_ns());
	if (c->conf.rekey_after_s)
		session_set_rekey_after(&c->sess, (uint64_t)c->conf.rekey_after_s * SEC_NS);
	pthread_mutex_init(&c->hs_lock, NULL);
	c->udp = udp_open_client(gw_ep(c)->sa.sa_family);
	if (c->udp < 0)
		return -1;
	if (udp_rx_init(&c->rx, &c->udp, 1) != 0) {
		die_msg("out of memory for UDP receive buffers");
		return -1;
	}
	/* IPv6 stays on: whether the gateway gives us an address is known only
	 * at the handshake, when root (needed to switch it on) may be gone. */
	if (tun_open(&c->tun, c->conf.ifname, true) != 0)
		return -1;
	netcfg_drops_start(&c->tun_drops, c->tun.name);
	c->mtu = MTU_DEFAULT;
	c->rx_mtu = MTU_DEFAULT;
	struct ctl_ops ops = { .arg = c, .show = ctl_show, .metrics = ctl_metrics };
	c->ctl = ctl_open(c->tun.name, c->conf.metrics_listen, &ops);
	if (!c->ctl)
		return -1;
	return setup_host(c);
}

static void teardown(struct client *c)
{
	ctl_close(c->ctl);
	c->ctl = NULL;
	if (c->dns.method != DNSCONF_NONE)
		dnsconf_restore(&c->dns);
	netcfg_close(&c->net);
	if (c->tun.fd >= 0)
		tun_close(&c->tun);
	if (c->udp >= 0)
		close(c->udp);
	udp_rx_free(&c->rx);
	fq_destroy(&c->outq);
	fq_destroy(&c->injq);
	session_clear(&c->sess);
	noise_wipe(&c->hs);
	sodium_memzero(c->cookie, sizeof(c->cookie));
	sodium_memzero(c->hs_cookie, sizeof(c->hs_cookie));
	pool_free(c->pool);
	sodium_memzero(c->conf.priv, sizeof(c->conf.priv));
}

int client_run(const char *path)
{
	static struct client cli;
	struct client *c = &cli;
	sigset_t sigs;
	pthread_t th[2];
	void *(*loops[2])(void *) = { up_loop, down_loop };
	static const char *const names[2] = { "vpngw-up", "vpngw-down" };
	char ep[64];

	log_set_role("client");
	c->udp = -1;
	c->tun.fd = -1;
	c->dns.fd = -1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int rc = setup(c, path);
	if (rc == 0)
		cpulat_apply(c->conf.cpu_latency_us, c->conf.cpu_latency_hold_ms); /* as root, before the drop */
	if (rc != 0 || (c->conf.user[0] && priv_drop(c->conf.user, c->conf.rt_priority) != 0)) {
		teardown(c);
		return 1;
	}
	LOGI("msg=\"client starting\" interface=%s endpoint=%s ciphers=%s", c->tun.name,
	     endpoint_str(gw_ep(c), ep, sizeof(ep)), aead_offer_str());
	int nth = 0;
	while (nth < 2 && thread_start(&th[nth], loops[nth], c, names[nth]) == 0)
		nth++;
	if (nth < 2) {
		rc = 1;
		goto stop; /* logged; the thread that did start is stopped below */
	}
	if (ctl_start(c->ctl) != 0)
		LOGE("msg=\"no control socket: vpngw show and metrics will not answer\"");

	uint64_t next_stats = now_ns() + (uint64_t)c->conf.stats_interval_s * SEC_NS;
	for (;;) {
		struct timespec tmo = { 0, 100 * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &tmo);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		uint64_t now = now_ns();
		timers(c, now);
		if (now >= next_stats) {
			log_stats(c);
			next_stats += (uint64_t)c->conf.stats_interval_s * SEC_NS;
		}
	}
	LOGI("msg=\"shutting down\"");
stop:
	atomic_store(&c->stop, true);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	log_stats(c);
	teardown(c);
	return rc;
}
