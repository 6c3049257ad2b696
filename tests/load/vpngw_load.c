/* vpngw_load.c - many vpngw clients in one process, against one gateway.
 *
 *   vpngw_load genkeys N FILE    N key pairs, "private public" in base64 per line (mode 0600)
 *   vpngw_load run OPTIONS       drive the clients of FILE (see usage())
 *
 * Every client has its own key pair and its own UDP socket (connected to
 * the gateway, so the kernel drops anything from elsewhere), so the gateway
 * sees N endpoints. Handshakes, sealing and opening are the core's own
 * (hs_write_init, hs_read_resp, session_*): when the wire format changes,
 * this tool follows. One thread, epoll, recvmmsg per readable socket.
 * Echo RTTs run from just before the send to the kernel's receive stamp
 * of the reply (SO_TIMESTAMPNS), as ping(8) measures them.
 *
 * Phases, each bounded in time:
 *   handshake  all N, at most --inflight outstanding (lost sessions,
 *              restarted later, wait for a slot too), retried on the
 *              protocol's schedule (1, 2, 4, 8 s); handshakes/s and latency
 *   keepalive  idle: keepalives on the protocol's schedule, answers counted
 *   traffic    every client sends ICMP echo requests (IPv4, checksums) to
 *              --ping inside DATA at --rate per second, opens the replies,
 *              matches id/seq and records the RTT
 *   fair       (if --fair-seconds) waits for SIGUSR1 (the caller starts a
 *              bulk transfer elsewhere), then pings again at --fair-rate
 * Timers of docs/PROTOCOL.md section 7 run throughout: keepalives, rekey at
 * 120 s, a silent gateway (keepalive + 5 s) starts a new session.
 *
 * Output: "phase=NAME ..." markers on stderr as phases start and end, a
 * human summary on stderr, and one line "result key=value ..." on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aead.h"
#include "config.h"
#include "cookie.h"
#include "handshake.h"
#include "log.h"
#include "noise.h"
#include "pkt.h"
#include "session.h"
#include "wire.h"

#define MAX_CLIENTS 60000
#define RX_BATCH 16
#define EV_BATCH 512
#define HS_RETRY_MIN_NS (1 * SEC_NS)
#define HS_RETRY_MAX_NS (8 * SEC_NS)
#define DEAD_AFTER_EXTRA_NS (5 * SEC_NS)
#define MS_NS 1000000ull
#define ECHO_PAYLOAD 56
#define ECHO_LEN (20 + 8 + ECHO_PAYLOAD)
#define REPLY_TIMEOUT_NS (1 * SEC_NS) /* an echo unanswered this long is lost */
#define FAIR_WAIT_MAX_NS (60 * SEC_NS)

struct opts {
	const char *keys, *server, *server_pub;
	uint32_t ping4; /* host order */
	size_t n;
	unsigned inflight;
	double hs_timeout_s, ka_s, traffic_s, rate, fair_s, fair_rate;
};

/* The echo requests of one ping phase, for one client. */
struct pings {
	uint64_t next_ns;
	uint16_t seq;
	uint64_t *sent_ns; /* ring, indexed by seq & ring_mask; 0 = answered or none */
	uint32_t *rtt_us;
	size_t nrtt, cap;
	uint64_t sent, recv, late, bad;
};

struct lclient {
	uint8_t priv[32];
	int fd;
	struct noise_hs hs;
	uint8_t hs_mac1[COOKIE_MAC_LEN];  /* a COOKIE_REPLY must be sealed for it */
	uint8_t hs_prev_id[WIRE_ID_LEN];
	uint8_t cookie[COOKIE_LEN];       /* from the gateway under load */
	uint64_t cookie_ns;               /* when it came; 0: none */
	bool hs_pending, up, ever_up;
	bool counted;    /* its handshake counts against --inflight */
	bool queued;     /* waits in the restart queue for a handshake slot */
	uint64_t hs_sent_ns, hs_retry_ns, hs_first_ns;
	unsigned hs_tries;
	struct session sess;
	uint32_t addr4;
	uint16_t ka_s;
	uint64_t last_tx_ns, last_rx_ns, last_ka_ns;
	uint64_t ka_sent, ka_answered, ka_answered_mark;
	struct pings pg;
};

enum phase { PH_HANDSHAKE, PH_KEEPALIVE, PH_TRAFFIC, PH_FAIR_WAIT, PH_FAIR, PH_DONE };
static const char *phase_names[] = { "handshake", "keepalive", "traffic", "fair_wait", "fair", "done" };

/* Figures of one ping phase over all clients. */
struct ping_result {
	double rate, seconds;
	uint64_t sent, recv, lost, late, bad;
	size_t clients_answered;
	double p50, p95, p99, max, worst_p99; /* ms */
	size_t worst_client;
};

struct load {
	struct opts o;
	struct lclient *c;
	uint64_t rx_wall_ns; /* the datagram in hand: when the kernel queued it (CLOCK_REALTIME) */
	size_t n, ninit; /* keys read; sessions set up */
	int ep;
	union {
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr sa;
	} gw;
	socklen_t gw_len;
	uint8_t server_pub[32];
	struct cookie_keys ck; /* mac1 and COOKIE_REPLY keys from server_pub */
	enum phase phase;
	uint64_t phase_start_ns, phase_end_ns, send_end_ns, t0_ns;
	/* handshake phase */
	size_t next_start, inflight, nup;
	size_t *restart, nrestart; /* clients whose session was lost, waiting for a slot */
	uint64_t hs_first_ns, hs_last_ns, hs_done_ns;
	uint32_t *hs_lat_us;
	size_t nhs_lat;
	uint64_t hs_retries;
	/* ping phase */
	double cur_rate;
	size_t ring_mask;
	struct ping_result traffic, fair;
	/* counters */
	uint64_t malformed, auth_fail, replay, sessions_lost, rekeys, send_errors, cookie_replies;
	uint64_t ka_before; /* keepalives sent when the keepalive phase began */
	uint64_t ka_ans_before;
	uint64_t ka_phase_sent, ka_phase_answered;
	size_t ka_phase_clients;
};

static volatile sig_atomic_t got_usr1, got_stop;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vpngw_load genkeys N FILE\n"
		"       vpngw_load run --keys FILE --server ADDR:PORT --server-pub B64 --ping ADDR [options]\n"
		"  --clients N          how many of FILE's keys to drive (default: all)\n"
		"  --inflight K         handshakes outstanding at once (64)\n"
		"  --hs-timeout S       give the handshake phase at most S seconds (60)\n"
		"  --keepalive-seconds S  idle phase, keepalives only (0)\n"
		"  --traffic-seconds S  ping phase (5)\n"
		"  --rate R             echo requests per second per client (10)\n"
		"  --fair-seconds S     second ping phase after SIGUSR1 (0: none)\n"
		"  --fair-rate R        its rate per client (10)\n");
}

/* ---------------------------------------------------------------- keys */

static int genkeys(const char *nstr, const char *path)
{
	char *end;
	long n = strtol(nstr, &end, 10);
	if (*end || n < 1 || n > MAX_CLIENTS) {
		fprintf(stderr, "vpngw_load: genkeys: N = %s: want 1-%d\n", nstr, MAX_CLIENTS);
		return 2;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, "vpngw_load: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		uint8_t priv[32], pub[32];
		char a[64], b[64];
		noise_genkey(priv);
		if (noise_pubkey(pub, priv) != 0) {
			fprintf(stderr, "vpngw_load: cannot derive a public key\n");
			fclose(f);
			return 1;
		}
		sodium_bin2base64(a, sizeof(a), priv, 32, sodium_base64_VARIANT_ORIGINAL);
		sodium_bin2base64(b, sizeof(b), pub, 32, sodium_base64_VARIANT_ORIGINAL);
		sodium_memzero(priv, sizeof(priv));
		fprintf(f, "%s %s\n", a, b);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "vpngw_load: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* Reads up to want private keys (all when want is 0) into L->c. */
static int read_keys(struct load *L, const char *path, size_t want)
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t cap = want ? want : 1024, lineno = 0;
	if (!f) {
		fprintf(stderr, "vpngw_load: %s: %s\n", path, strerror(errno));
		return -1;
	}
	L->c = calloc(cap, sizeof(*L->c));
	while (L->c && (!want || L->n < want) && fgets(line, sizeof(line), f)) {
		char priv[128];
		lineno++;
		if (sscanf(line, "%127s", priv) != 1)
			continue;
		if (L->n == cap) {
			struct lclient *nc = cap < MAX_CLIENTS ? realloc(L->c, cap * 2 * sizeof(*nc)) : NULL;
			if (!nc)
				break;
			memset(nc + cap, 0, cap * sizeof(*nc));
			L->c = nc;
			cap *= 2;
		}
		if (parse_key_b64(priv, L->c[L->n].priv) != 0) {
			fprintf(stderr, "vpngw_load: %s:%zu: not a base64 key\n", path, lineno);
			fclose(f);
			return -1;
		}
		L->n++;
	}
	fclose(f);
	if (!L->c) {
		fprintf(stderr, "vpngw_load: out of memory for clients\n");
		return -1;
	}
	if (!L->n || (want && L->n < want)) {
		fprintf(stderr, "vpngw_load: %s: %zu keys, want %zu\n", path, L->n, want ? want : 1);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- sockets */

static int resolve_server(struct load *L, const char *spec)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "vpngw_load: --server %s: want ADDR:PORT\n", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	long port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535) {
		fprintf(stderr, "vpngw_load: --server %s: bad port\n", spec);
		return -1;
	}
	memset(&L->gw, 0, sizeof(L->gw));
	if (inet_pton(AF_INET, host, &L->gw.in4.sin_addr) == 1) {
		L->gw.in4.sin_family = AF_INET;
		L->gw.in4.sin_port = htons((uint16_t)port);
		L->gw_len = sizeof(L->gw.in4);
		return 0;
	}
	char *h6 = host;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = 0;
		h6 = host + 1;
	}
	if (inet_pton(AF_INET6, h6, &L->gw.in6.sin6_addr) == 1) {
		L->gw.in6.sin6_family = AF_INET6;
		L->gw.in6.sin6_port = htons((uint16_t)port);
		L->gw_len = sizeof(L->gw.in6);
		return 0;
	}
	fprintf(stderr, "vpngw_load: --server %s: not a numeric address\n", spec);
	return -1;
}

static int raise_fd_limit(size_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("vpngw_load: getrlimit");
		return -1;
	}
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		fprintf(stderr, "vpngw_load: %zu clients need %zu file descriptors; the hard limit is %lu\n",
			need - 64, need, (unsigned long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("vpngw_load: setrlimit");
		return -1;
	}
	return 0;
}

static int open_sockets(struct load *L)
{
	L->ep = epoll_create1(EPOLL_CLOEXEC);
	if (L->ep < 0) {
		perror("vpngw_load: epoll_create1");
		return -1;
	}
	for (size_t i = 0; i < L->n; i++) {
		int fd = socket(L->gw.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, &L->gw.sa, L->gw_len) != 0) {
			fprintf(stderr, "vpngw_load: client %zu: socket: %s\n", i, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		L->c[i].fd = fd;
		/* Echo RTTs end when the kernel queued the reply, as ping(8)
		 * measures them: this process's own wake-up on a busy machine is
		 * not the gateway's latency. */
		int on = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
			fprintf(stderr, "vpngw_load: client %zu: SO_TIMESTAMPNS: %s\n", i, strerror(errno));
			return -1;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
		if (epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			perror("vpngw_load: epoll_ctl");
			return -1;
		}
	}
	return 0;
}

static void count_send(struct load *L, struct lclient *c, ssize_t rc, uint64_t now)
{
	if (rc < 0)
		L->send_errors++;
	else
		c->last_tx_ns = now;
}

/* ---------------------------------------------------------------- handshakes */

static void start_handshake(struct load *L, struct lclient *c, const uint8_t *prev_id, uint64_t now)
{
	uint8_t out[HS_INIT_DGRAM_LEN];
	struct hs_init in = { 0 };
	hs_timestamp(in.timestamp);
	in.ciphers = (uint16_t)aead_offer();
	if (prev_id)
		memcpy(in.prev_id, prev_id, WIRE_ID_LEN);
	noise_wipe(&c->hs);
	if (hs_write_init(&c->hs, c->priv, L->server_pub, &in, NULL, out) != 0) {
		fprintf(stderr, "vpngw_load: cannot build a handshake: is --server-pub a valid key?\n");
		L->send_errors++;
		return;
	}
	/* As the real client: mac1 always, mac2 with a cookie still good. */
	bool fresh = c->cookie_ns && ns_since(now, c->cookie_ns) < COOKIE_LIFE_NS;
	cookie_stamp_init(out, &L->ck, fresh ? c->cookie : NULL);
	memcpy(c->hs_mac1, out + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	memcpy(c->hs_prev_id, in.prev_id, WIRE_ID_LEN);
	if (c->hs_pending)
		L->hs_retries++;
	if (!c->hs_first_ns)
		c->hs_first_ns = now;
	c->hs_pending = true;
	c->hs_tries++;
	c->hs_sent_ns = now;
	c->hs_retry_ns = c->hs_retry_ns ? c->hs_retry_ns * 2 : HS_RETRY_MIN_NS;
	if (c->hs_retry_ns > HS_RETRY_MAX_NS)
		c->hs_retry_ns = HS_RETRY_MAX_NS;
	count_send(L, c, send(c->fd, out, sizeof(out), 0), now);
}

static void send_keepalive(struct load *L, struct lclient *c, uint64_t now)
{
	static struct pkt k;
	struct pkt *kp = &k;
	pkt_reset(&k);
	if (session_seal(&c->sess, &kp, 1, WIRE_KEEPALIVE, now) != 1)
		return;
	count_send(L, c, send(c->fd, k.data, k.len, 0), now);
	c->last_ka_ns = now;
	c->ka_sent++;
}

static void handle_response(struct load *L, struct lclient *c, uint8_t *d, size_t len, uint64_t now)
{
	struct hs_resp r;
	uint8_t send_key[32], recv_key[32];
	if (!c->hs_pending || hs_read_resp(&c->hs, d, len, &r, send_key, recv_key) != 0) {
		L->auth_fail++;
		return;
	}
	bool rekey = c->up && memcmp(r.client_id, c->sess.client_id, WIRE_ID_LEN) == 0;
	if (!rekey)
		session_begin(&c->sess, r.client_id);
	int rc = (r.cipher < 16 && (aead_offer() & (1u << r.cipher)))
			 ? session_install(&c->sess, send_key, recv_key, r.cipher, r.epoch, true, now)
			 : -1;
	sodium_memzero(send_key, sizeof(send_key));
	sodium_memzero(recv_key, sizeof(recv_key));
	c->hs_pending = false;
	c->hs_retry_ns = 0;
	if (c->counted) {
		c->counted = false;
		L->inflight--;
	}
	if (rc != 0) {
		fprintf(stderr, "vpngw_load: the gateway chose a cipher we cannot use (%u)\n", r.cipher);
		L->auth_fail++;
		return;
	}
	c->addr4 = r.addr4;
	c->ka_s = r.keepalive_s ? r.keepalive_s : 10;
	c->last_rx_ns = now;
	c->up = true;
	if (rekey)
		L->rekeys++;
	if (!c->ever_up) {
		c->ever_up = true;
		L->nup++;
		L->hs_lat_us[L->nhs_lat++] = (uint32_t)((now - c->hs_first_ns) / 1000);
		L->hs_last_ns = now;
	}
	send_keepalive(L, c, now); /* lets the gateway switch to the new keys */
}

/* ---------------------------------------------------------------- ICMP */

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32be(const uint8_t *p)
{
	return (uint32_t)get16be(p) << 16 | get16be(p + 2);
}

static void put32be(uint8_t *p, uint32_t v)
{
	put16be(p, (uint16_t)(v >> 16));
	put16be(p + 2, (uint16_t)v);
}

/* An IPv4 ICMP echo request of ECHO_LEN bytes. */
static void build_echo(uint8_t *p, uint32_t src, uint32_t dst, uint16_t id, uint16_t seq)
{
	memset(p, 0, ECHO_LEN);
	p[0] = 0x45;
	put16be(p + 2, ECHO_LEN);
	put16be(p + 4, seq);
	put16be(p + 6, 0x4000); /* DF */
	p[8] = 64;
	p[9] = 1;
	put32be(p + 12, src);
	put32be(p + 16, dst);
	put16be(p + 10, inet_csum(p, 20));
	uint8_t *icmp = p + 20;
	icmp[0] = 8;
	put16be(icmp + 4, id);
	put16be(icmp + 6, seq);
	for (size_t i = 0; i < ECHO_PAYLOAD; i++)
		icmp[8 + i] = (uint8_t)(0x20 + i);
	put16be(icmp + 2, inet_csum(icmp, 8 + ECHO_PAYLOAD));
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

static uint16_t echo_id(size_t idx)
{
	return (uint16_t)(idx + 1);
}

static void send_echo(struct load *L, size_t idx, uint64_t now)
{
	static struct pkt pk;
	struct pkt *pp = &pk;
	struct lclient *c = &L->c[idx];
	struct pings *g = &c->pg;
	pkt_reset(&pk);
	uint16_t seq = g->seq++;
	build_echo(pk.data, c->addr4, L->o.ping4, echo_id(idx), seq);
	pk.len = ECHO_LEN;
	if (session_seal(&c->sess, &pp, 1, WIRE_DATA, now) != 1)
		return;
	uint64_t sent = wall_ns(); /* the clock of the kernel's receive stamps */
	ssize_t rc = send(c->fd, pk.data, pk.len, 0);
	count_send(L, c, rc, now);
	if (rc < 0)
		return;
	g->sent_ns[seq & L->ring_mask] = sent ? sent : 1;
	g->sent++;
}

/* An opened DATA plaintext: our echo reply? */
static void handle_reply(struct load *L, size_t idx, const uint8_t *p, size_t len)
{
	struct lclient *c = &L->c[idx];
	struct pings *g = &c->pg;
	size_t ihl = len >= 20 ? (size_t)(p[0] & 15) * 4 : 0;
	if (len < 28 || p[0] >> 4 != 4 || ihl < 20 || len < ihl + 8 || get16be(p + 2) != len ||
	    inet_csum(p, ihl) != 0 || p[9] != 1 || get32be(p + 12) != L->o.ping4 || get32be(p + 16) != c->addr4) {
		g->bad++;
		return;
	}
	const uint8_t *icmp = p + ihl;
	if (icmp[0] != 0 || inet_csum(icmp, len - ihl) != 0 || get16be(icmp + 4) != echo_id(idx)) {
		g->bad++;
		return;
	}
	if (!g->sent_ns) {
		g->late++; /* no ping phase running */
		return;
	}
	uint16_t seq = get16be(icmp + 6);
	uint64_t *slot = &g->sent_ns[seq & L->ring_mask];
	uint64_t rx = L->rx_wall_ns;
	if (!*slot || rx < *slot || rx - *slot > REPLY_TIMEOUT_NS) {
		g->late++;
		return;
	}
	if (g->nrtt < g->cap)
		g->rtt_us[g->nrtt++] = (uint32_t)((rx - *slot) / 1000);
	*slot = 0;
	g->recv++;
}

/* ---------------------------------------------------------------- receiving */

/* The gateway is under load: a fresh HS_INIT with mac2 goes at once, as
 * the real client does. */
static void handle_cookie_reply(struct load *L, struct lclient *c, const uint8_t *d, size_t len, uint64_t now)
{
	uint8_t prev[WIRE_ID_LEN];
	static const uint8_t zero_id[WIRE_ID_LEN];
	if (!c->hs_pending || cookie_open_reply(c->cookie, &L->ck, d, len, c->hs_mac1) != 0) {
		L->auth_fail++;
		return;
	}
	c->cookie_ns = now ? now : 1;
	L->cookie_replies++;
	memcpy(prev, c->hs_prev_id, WIRE_ID_LEN);
	start_handshake(L, c, memcmp(prev, zero_id, WIRE_ID_LEN) ? prev : NULL, now);
}

static void handle_dgram(struct load *L, size_t idx, uint8_t *d, size_t len, uint64_t now)
{
	struct lclient *c = &L->c[idx];
	struct wire_hdr h;
	if (wire_decode(&h, d, len) != WIRE_OK) {
		L->malformed++;
		return;
	}
	if (h.type == WIRE_CONTROL) {
		if (hs_control_type(d, len) == HS_RESP)
			handle_response(L, c, d, len, now);
		else if (hs_control_type(d, len) == HS_COOKIE_REPLY)
			handle_cookie_reply(L, c, d, len, now);
		else
			L->malformed++;
		return;
	}
	if (!c->up || memcmp(h.client_id, c->sess.client_id, WIRE_ID_LEN) != 0) {
		L->auth_fail++;
		return;
	}
	switch (session_open(&c->sess, &h, d, d, now)) {
	case OPEN_OK:
	case OPEN_CONFIRMED_NEXT:
		break;
	case OPEN_NO_KEY:
	case OPEN_AUTH_FAIL:
		L->auth_fail++;
		return;
	case OPEN_REPLAY:
		L->replay++;
		return;
	}
	c->last_rx_ns = now;
	if (h.type == WIRE_KEEPALIVE) {
		c->ka_answered++;
		return;
	}
	handle_reply(L, idx, d + WIRE_HDR_LEN, h.payload_len - WIRE_TAG_LEN);
}

/* The kernel's receive stamp of a datagram (SO_TIMESTAMPNS), or the wall
 * clock now when it has none. */
static uint64_t rx_stamp(struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
		}
	}
	return wall_ns();
}

static void drain_socket(struct load *L, size_t idx)
{
	static uint8_t bufs[RX_BATCH][2048];
	static uint8_t ctl[RX_BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < RX_BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1,
								 .msg_control = ctl[i], .msg_controllen = sizeof(ctl[i]) } };
		}
		int got = recvmmsg(L->c[idx].fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		uint64_t now = now_ns();
		for (int i = 0; i < got; i++) {
			L->rx_wall_ns = rx_stamp(&msgs[i].msg_hdr);
			handle_dgram(L, idx, bufs[i], msgs[i].msg_len, now);
		}
		if (got < RX_BATCH)
			return;
	}
}

/* ---------------------------------------------------------------- timers */

/* docs/PROTOCOL.md section 7, for one client. */
static void client_timers(struct load *L, struct lclient *c, uint64_t now)
{
	if (c->hs_pending) {
		if (ns_since(now, c->hs_sent_ns) >= c->hs_retry_ns)
			start_handshake(L, c, c->up ? c->sess.client_id : NULL, now);
		return;
	}
	if (!c->up || c->queued)
		return;
	uint64_t ka = (uint64_t)c->ka_s * SEC_NS;
	if (ns_since(now, c->last_rx_ns) > ka + DEAD_AFTER_EXTRA_NS || !session_up(&c->sess, now)) {
		session_clear(&c->sess);
		c->up = false;
		L->sessions_lost++;
		if (!c->queued) {
			c->queued = true;
			L->restart[L->nrestart++] = (size_t)(c - L->c);
		}
		return;
	}
	if (session_wants_rekey(&c->sess, now)) {
		start_handshake(L, c, c->sess.client_id, now);
		return;
	}
	if (ns_since(now, c->last_ka_ns) >= ka &&
	    (ns_since(now, c->last_tx_ns) >= ka || ns_since(now, c->last_rx_ns) >= ka))
		send_keepalive(L, c, now);
}

static bool ping_phase(enum phase p)
{
	return p == PH_TRAFFIC || p == PH_FAIR;
}

static void ping_timers(struct load *L, size_t idx, uint64_t now)
{
	struct lclient *c = &L->c[idx];
	uint64_t period = (uint64_t)(1e9 / L->cur_rate);
	if (!c->up || now >= L->send_end_ns || now < c->pg.next_ns)
		return;
	send_echo(L, idx, now);
	c->pg.next_ns += period;
	if (c->pg.next_ns < now)
		c->pg.next_ns = now + period; /* fell behind: no burst to catch up */
}

static void run_timers(struct load *L, uint64_t now)
{
	for (size_t i = 0; i < L->n; i++) {
		client_timers(L, &L->c[i], now);
		if (ping_phase(L->phase))
			ping_timers(L, i, now);
	}
}

/* First handshakes in client order, then sessions to restart, while
 * fewer than --inflight are outstanding (a retry replaces its client's
 * outstanding one and takes no new slot). */
static void start_new_handshakes(struct load *L, uint64_t now)
{
	while (L->inflight < L->o.inflight && (L->nrestart || L->next_start < L->n)) {
		struct lclient *c;
		if (L->nrestart) {
			c = &L->c[L->restart[--L->nrestart]];
			c->queued = false;
		} else {
			c = &L->c[L->next_start++];
		}
		if (!L->hs_first_ns)
			L->hs_first_ns = now;
		c->counted = true;
		L->inflight++;
		start_handshake(L, c, NULL, now);
	}
}

/* ---------------------------------------------------------------- phases */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of sorted v[n], in ms. */
static double pct_ms(const uint32_t *v, size_t n, double q)
{
	if (!n)
		return NAN;
	size_t r = (size_t)ceil(q * (double)n);
	return v[r ? r - 1 : 0] / 1000.0;
}

static double now_s(struct load *L, uint64_t now)
{
	return (double)(now - L->t0_ns) / 1e9;
}

static void mark(struct load *L, const char *what, uint64_t now)
{
	fprintf(stderr, "phase=%s t=%.3f up=%zu\n", what, now_s(L, now), L->nup);
}

static int begin_pings(struct load *L, double rate, double seconds, uint64_t now)
{
	size_t ring = 16;
	while ((double)ring < rate * 2.0 + 8.0)
		ring <<= 1;
	L->ring_mask = ring - 1;
	L->cur_rate = rate;
	L->send_end_ns = now + (uint64_t)(seconds * 1e9);
	L->phase_end_ns = L->send_end_ns + REPLY_TIMEOUT_NS;
	for (size_t i = 0; i < L->n; i++) {
		struct pings *g = &L->c[i].pg;
		free(g->sent_ns);
		free(g->rtt_us);
		memset(g, 0, sizeof(*g));
		g->cap = (size_t)(rate * seconds) + 16;
		g->sent_ns = calloc(ring, sizeof(*g->sent_ns));
		g->rtt_us = malloc(g->cap * sizeof(*g->rtt_us));
		if (!g->sent_ns || !g->rtt_us) {
			fprintf(stderr, "vpngw_load: out of memory for ping records\n");
			return -1;
		}
		/* spread the clients over one period */
		g->next_ns = now + (uint64_t)(1e9 / rate * (double)i / (double)L->n);
		g->seq = (uint16_t)randombytes_uniform(65536);
	}
	return 0;
}

static int end_pings(struct load *L, struct ping_result *r, uint64_t now)
{
	size_t total = 0, k = 0;
	memset(r, 0, sizeof(*r));
	r->rate = L->cur_rate;
	r->seconds = (double)(L->send_end_ns - (L->phase_start_ns)) / 1e9;
	r->worst_p99 = -1;
	for (size_t i = 0; i < L->n; i++)
		total += L->c[i].pg.nrtt;
	uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		fprintf(stderr, "vpngw_load: out of memory for results\n");
		return -1;
	}
	for (size_t i = 0; i < L->n; i++) {
		struct pings *g = &L->c[i].pg;
		r->sent += g->sent;
		r->recv += g->recv;
		r->late += g->late;
		r->bad += g->bad;
		r->clients_answered += g->recv > 0;
		memcpy(all + k, g->rtt_us, g->nrtt * sizeof(*all));
		k += g->nrtt;
		qsort(g->rtt_us, g->nrtt, sizeof(*g->rtt_us), cmp_u32);
		double p99 = pct_ms(g->rtt_us, g->nrtt, 0.99);
		if (g->nrtt && p99 > r->worst_p99) {
			r->worst_p99 = p99;
			r->worst_client = i;
		}
		free(g->sent_ns);
		g->sent_ns = NULL; /* late replies now count as late */
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	r->lost = r->sent - r->recv;
	r->p50 = pct_ms(all, total, 0.50);
	r->p95 = pct_ms(all, total, 0.95);
	r->p99 = pct_ms(all, total, 0.99);
	r->max = total ? all[total - 1] / 1000.0 : NAN;
	if (r->worst_p99 < 0)
		r->worst_p99 = NAN;
	free(all);
	(void)now;
	return 0;
}

static void enter(struct load *L, enum phase p, uint64_t now)
{
	L->phase = p;
	L->phase_start_ns = now;
	mark(L, phase_names[p], now);
}

static void ka_totals(struct load *L, uint64_t *sent, uint64_t *answered)
{
	*sent = *answered = 0;
	for (size_t i = 0; i < L->n; i++) {
		*sent += L->c[i].ka_sent;
		*answered += L->c[i].ka_answered;
	}
}

/* Moves to the next phase when this one is over; -1 on a failure. */
static int advance(struct load *L, uint64_t now)
{
	switch (L->phase) {
	case PH_HANDSHAKE:
		if (L->nup < L->n && now < L->phase_end_ns)
			return 0;
		L->hs_done_ns = now;
		mark(L, "handshake_end", now);
		enter(L, PH_KEEPALIVE, now);
		L->phase_end_ns = now + (uint64_t)(L->o.ka_s * 1e9);
		ka_totals(L, &L->ka_before, &L->ka_ans_before);
		for (size_t i = 0; i < L->n; i++)
			L->c[i].ka_answered_mark = L->c[i].ka_answered;
		return 0;
	case PH_KEEPALIVE: {
		if (now < L->phase_end_ns)
			return 0;
		uint64_t s, a;
		ka_totals(L, &s, &a);
		L->ka_phase_sent = s - L->ka_before;
		L->ka_phase_answered = a - L->ka_ans_before;
		for (size_t i = 0; i < L->n; i++)
			L->ka_phase_clients += L->c[i].ka_answered > L->c[i].ka_answered_mark;
		mark(L, "keepalive_end", now);
		enter(L, PH_TRAFFIC, now);
		return begin_pings(L, L->o.rate, L->o.traffic_s, now);
	}
	case PH_TRAFFIC:
		if (now < L->phase_end_ns)
			return 0;
		mark(L, "traffic_end", now);
		if (end_pings(L, &L->traffic, now) != 0)
			return -1;
		if (L->o.fair_s <= 0) {
			enter(L, PH_DONE, now);
			return 0;
		}
		enter(L, PH_FAIR_WAIT, now);
		L->phase_end_ns = now + FAIR_WAIT_MAX_NS;
		got_usr1 = 0;
		return 0;
	case PH_FAIR_WAIT:
		if (!got_usr1) {
			if (now < L->phase_end_ns)
				return 0;
			fprintf(stderr, "vpngw_load: no SIGUSR1 within %llu s: no fairness phase\n",
				(unsigned long long)(FAIR_WAIT_MAX_NS / SEC_NS));
			enter(L, PH_DONE, now);
			return 0;
		}
		enter(L, PH_FAIR, now);
		return begin_pings(L, L->o.fair_rate, L->o.fair_s, now);
	case PH_FAIR:
		if (now < L->phase_end_ns)
			return 0;
		mark(L, "fair_end", now);
		if (end_pings(L, &L->fair, now) != 0)
			return -1;
		enter(L, PH_DONE, now);
		return 0;
	case PH_DONE:
		return 0;
	}
	return 0;
}

/* ---------------------------------------------------------------- report */

static void print_pings(const char *pfx, const struct ping_result *r)
{
	printf(" %s_rate=%.1f %s_seconds=%.1f %s_sent=%lu %s_recv=%lu %s_lost=%lu %s_late=%lu %s_bad=%lu"
	       " %s_clients_answered=%zu %s_rtt_p50_ms=%.3f %s_rtt_p95_ms=%.3f %s_rtt_p99_ms=%.3f %s_rtt_max_ms=%.3f"
	       " %s_worst_client_p99_ms=%.3f %s_worst_client=%zu",
	       pfx, r->rate, pfx, r->seconds, pfx, r->sent, pfx, r->recv, pfx, r->lost, pfx, r->late, pfx, r->bad,
	       pfx, r->clients_answered, pfx, r->p50, pfx, r->p95, pfx, r->p99, pfx, r->max, pfx, r->worst_p99, pfx,
	       r->worst_client);
}

static void human_pings(const char *what, const struct ping_result *r, size_t n)
{
	fprintf(stderr,
		"%s: %zu clients x %.1f/s for %.1f s: %lu sent, %lu answered, %lu lost, %lu late, %lu bad; "
		"%zu/%zu clients answered\n  RTT ms p50 %.3f  p95 %.3f  p99 %.3f  max %.3f; worst client's p99 %.3f (client %zu)\n",
		what, n, r->rate, r->seconds, r->sent, r->recv, r->lost, r->late, r->bad, r->clients_answered, n, r->p50,
		r->p95, r->p99, r->max, r->worst_p99, r->worst_client);
}

static void report(struct load *L)
{
	qsort(L->hs_lat_us, L->nhs_lat, sizeof(*L->hs_lat_us), cmp_u32);
	double hs_s = L->hs_last_ns > L->hs_first_ns ? (double)(L->hs_last_ns - L->hs_first_ns) / 1e9 : NAN;
	double hs_rate = L->nup && hs_s > 0 ? (double)L->nup / hs_s : NAN;
	double p50 = pct_ms(L->hs_lat_us, L->nhs_lat, 0.5), p99 = pct_ms(L->hs_lat_us, L->nhs_lat, 0.99);
	double mx = L->nhs_lat ? L->hs_lat_us[L->nhs_lat - 1] / 1000.0 : NAN;

	printf("result clients=%zu inflight=%u handshakes_ok=%zu handshakes_failed=%zu hs_retries=%lu hs_seconds=%.3f"
	       " hs_per_s=%.1f hs_lat_p50_ms=%.3f hs_lat_p99_ms=%.3f hs_lat_max_ms=%.3f"
	       " ka_seconds=%.1f ka_sent=%lu ka_answered=%lu ka_clients_answered=%zu",
	       L->n, L->o.inflight, L->nup, L->n - L->nup, L->hs_retries, hs_s, hs_rate, p50, p99, mx, L->o.ka_s,
	       L->ka_phase_sent, L->ka_phase_answered, L->ka_phase_clients);
	print_pings("traffic", &L->traffic);
	if (L->o.fair_s > 0)
		print_pings("fair", &L->fair);
	printf(" sessions_lost=%lu rekeys=%lu malformed=%lu auth_fail=%lu replay=%lu send_errors=%lu cookie_replies=%lu\n",
	       L->sessions_lost, L->rekeys, L->malformed, L->auth_fail, L->replay, L->send_errors, L->cookie_replies);
	fflush(stdout);

	fprintf(stderr, "handshakes: %zu/%zu in %.3f s = %.1f/s (%u in flight), %lu retries; latency ms p50 %.3f p99 %.3f max %.3f\n",
		L->nup, L->n, hs_s, hs_rate, L->o.inflight, L->hs_retries, p50, p99, mx);
	fprintf(stderr, "keepalive phase: %.1f s, %lu keepalives sent, %lu answered, %zu/%zu clients answered\n",
		L->o.ka_s, L->ka_phase_sent, L->ka_phase_answered, L->ka_phase_clients, L->n);
	human_pings("traffic", &L->traffic, L->n);
	if (L->o.fair_s > 0)
		human_pings("fairness (bulk client running)", &L->fair, L->n);
	fprintf(stderr, "sessions lost %lu, rekeys %lu, malformed %lu, auth failures %lu, replays %lu, send errors %lu\n",
		L->sessions_lost, L->rekeys, L->malformed, L->auth_fail, L->replay, L->send_errors);
}

/* ---------------------------------------------------------------- main loop */

static int loop(struct load *L)
{
	struct epoll_event evs[EV_BATCH];
	uint64_t now = now_ns(), next_scan = now;
	uint64_t deadline = now + (uint64_t)((L->o.hs_timeout_s + L->o.ka_s + L->o.traffic_s + L->o.fair_s + 5) * 1e9) +
			    FAIR_WAIT_MAX_NS;
	L->t0_ns = now;
	enter(L, PH_HANDSHAKE, now);
	L->phase_end_ns = now + (uint64_t)(L->o.hs_timeout_s * 1e9);
	while (L->phase != PH_DONE) {
		if (got_stop) {
			fprintf(stderr, "vpngw_load: stopped by a signal\n");
			return -1;
		}
		now = now_ns();
		if (now > deadline) {
			fprintf(stderr, "vpngw_load: run time bound exceeded\n");
			return -1;
		}
		start_new_handshakes(L, now);
		uint64_t scan_every = ping_phase(L->phase) ? MS_NS : 10 * MS_NS;
		if (now >= next_scan) {
			run_timers(L, now);
			next_scan = now + scan_every;
		}
		if (advance(L, now) != 0)
			return -1;
		int tmo = (int)((ns_since(next_scan, now_ns()) + MS_NS - 1) / MS_NS);
		int n = epoll_wait(L->ep, evs, EV_BATCH, tmo);
		if (n < 0 && errno != EINTR) {
			perror("vpngw_load: epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++)
			drain_socket(L, (size_t)evs[i].data.u64);
	}
	return 0;
}

static int parse_num(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "vpngw_load: --%s %s: want %g-%g\n", name, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "keys", 1, 0, 'k' },           { "server", 1, 0, 's' },         { "server-pub", 1, 0, 'p' },
		{ "ping", 1, 0, 'P' },           { "clients", 1, 0, 'n' },        { "inflight", 1, 0, 'i' },
		{ "hs-timeout", 1, 0, 'H' },     { "keepalive-seconds", 1, 0, 'K' }, { "traffic-seconds", 1, 0, 'T' },
		{ "rate", 1, 0, 'r' },           { "fair-seconds", 1, 0, 'F' },   { "fair-rate", 1, 0, 'R' },
		{ 0, 0, 0, 0 },
	};
	double v;
	int ch;
	*o = (struct opts){ .inflight = 64, .hs_timeout_s = 60, .traffic_s = 5, .rate = 10, .fair_rate = 10 };
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		const char *name = lo[0].name;
		for (size_t i = 0; lo[i].name; i++)
			if (lo[i].val == ch)
				name = lo[i].name;
		switch (ch) {
		case 'k': o->keys = optarg; break;
		case 's': o->server = optarg; break;
		case 'p': o->server_pub = optarg; break;
		case 'P': {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1) {
				fprintf(stderr, "vpngw_load: --ping %s: not an IPv4 address\n", optarg);
				return -1;
			}
			o->ping4 = ntohl(a.s_addr);
			break;
		}
		case 'n': if (parse_num(name, optarg, 1, MAX_CLIENTS, &v)) return -1; o->n = (size_t)v; break;
		case 'i': if (parse_num(name, optarg, 1, 100000, &v)) return -1; o->inflight = (unsigned)v; break;
		case 'H': if (parse_num(name, optarg, 1, 600, &o->hs_timeout_s)) return -1; break;
		case 'K': if (parse_num(name, optarg, 0, 600, &o->ka_s)) return -1; break;
		case 'T': if (parse_num(name, optarg, 0.1, 600, &o->traffic_s)) return -1; break;
		case 'r': if (parse_num(name, optarg, 0.1, 10000, &o->rate)) return -1; break;
		case 'F': if (parse_num(name, optarg, 0, 600, &o->fair_s)) return -1; break;
		case 'R': if (parse_num(name, optarg, 0.1, 10000, &o->fair_rate)) return -1; break;
		default: usage(); return -1;
		}
	}
	if (optind != argc || !o->keys || !o->server || !o->server_pub || !o->ping4) {
		usage();
		return -1;
	}
	return 0;
}

static void cleanup(struct load *L)
{
	for (size_t i = 0; L->c && i < L->ninit; i++) {
		struct lclient *c = &L->c[i];
		if (c->fd >= 0)
			close(c->fd);
		session_destroy(&c->sess);
		noise_wipe(&c->hs);
		sodium_memzero(c->priv, sizeof(c->priv));
		free(c->pg.sent_ns);
		free(c->pg.rtt_us);
	}
	if (L->ep >= 0)
		close(L->ep);
	free(L->c);
	free(L->hs_lat_us);
	free(L->restart);
}

static int run(int argc, char **argv)
{
	static struct load load;
	struct load *L = &load;
	L->ep = -1;
	if (parse_opts(argc, argv, &L->o) != 0)
		return 2;
	if (parse_key_b64(L->o.server_pub, L->server_pub) == 0)
		cookie_keys_init(&L->ck, L->server_pub);
	if (parse_key_b64(L->o.server_pub, L->server_pub) != 0) {
		fprintf(stderr, "vpngw_load: --server-pub: not a base64 key\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0) {
		perror("vpngw_load: sigaction");
		return 1;
	}
	int rc = 1;
	if (resolve_server(L, L->o.server) != 0 || read_keys(L, L->o.keys, L->o.n) != 0 ||
	    raise_fd_limit(L->n + 64) != 0)
		goto out;
	for (; L->ninit < L->n; L->ninit++) {
		session_init(&L->c[L->ninit].sess);
		L->c[L->ninit].fd = -1;
	}
	L->hs_lat_us = calloc(L->n, sizeof(*L->hs_lat_us));
	L->restart = calloc(L->n, sizeof(*L->restart));
	if (!L->hs_lat_us || !L->restart) {
		fprintf(stderr, "vpngw_load: out of memory\n");
		goto out;
	}
	if (open_sockets(L) != 0 || loop(L) != 0)
		goto out;
	report(L);
	rc = 0;
out:
	cleanup(L);
	return rc;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "vpngw_load: libsodium failed to initialise\n");
		return 1;
	}
	if (argc == 4 && !strcmp(argv[1], "genkeys"))
		return genkeys(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return run(argc - 1, argv + 1);
	usage();
	return 2;
}
