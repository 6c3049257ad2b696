/* dnsproxy_linux.c - the DNS proxy's sockets and thread (see dnsproxy.h);
 * what to do with each message is dns.c's.
 *
 * Clients: one UDP and one listening TCP socket on the tunnel address,
 * port 53, tied to the TUN device so only tunnel clients reach them.
 * Upstreams: one connected UDP socket each (the kernel drops datagrams
 * from anyone else, and reports an upstream's ICMP "port unreachable" to
 * us as ECONNREFUSED); a query that came over TCP goes upstream over TCP,
 * on a connection of its own, so answers too big for UDP stay whole. A UDP
 * answer with TC set goes back as it is, and the client asks again over
 * TCP. All buffers are allocated at start. */
#include "dnsproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "show.h"
#include "thread.h"
#include "wake.h"

#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_MAX 65536
#define UDP_BATCH 64
#define ACCEPT_BATCH 16
#define TCP_CLIENTS 32
#define TCP_UPSTREAMS 32
#define TCP_BACKLOG 64
#define TCP_IDLE_NS (10 * 1000000000ull) /* a client connection with nothing to do */
#define TCP_CLIENT_IN (4 * (2 + DNS_MAX_QUERY))
#define TCP_CLIENT_OUT (2 * (2 + DNS_MAX_MSG))
#define TCP_UP_IN (2 + DNS_MAX_MSG)
#define TCP_UP_OUT (2 + DNS_MAX_QUERY)
#define POLL_MAX_MS 1000
#define ERR_LOG_NS (1000000000ull) /* socket errors are logged at most once a second */
/* UDP sockets to upstreams at once. Each try of a query has its own, so
 * its own random source port (the kernel picks one at connect): a forged
 * answer must guess it as well as the 16-bit id, and an ICMP error fails
 * that one try, not every query to the upstream. Well under the usual
 * limit of 1024 descriptors a process. */
#define UDP_UP_SOCKS 512
#define NPOLL (2 + 1 + UDP_UP_SOCKS + TCP_CLIENTS + TCP_UPSTREAMS)

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct upstream {
	char name[64];
	union sockaddr_any addr;
	socklen_t addrlen;
};

/* The connected UDP socket of one try of a query (slot) to upstream k,
 * closed when the query is done (dns.c's release). */
struct udp_try {
	int fd;
	uint32_t gen;
	uint8_t k;
};

struct tcp_client {
	int fd;
	uint32_t gen;
	uint64_t last_ns;
	struct dns_frame in;
	uint8_t *out;
	size_t out_len, out_off;
};

struct tcp_upstream {
	int fd;
	uint32_t gen;
	unsigned slot, k;
	uint8_t *out;
	size_t out_len, out_off;
	struct dns_frame in;
};

enum pkind { P_WAKE, P_UDP, P_TCP, P_UP, P_CLIENT, P_TU };

struct dnsproxy {
	struct dns_proxy core;
	int udp_fd, tcp_fd;
	struct waker wake;
	pthread_t th;
	bool started;
	atomic_bool stop;
	char listen_name[32];
	struct upstream up[DNS_MAX_UPSTREAMS];
	unsigned nup;
	struct tcp_client cl[TCP_CLIENTS];
	struct tcp_upstream tu[TCP_UPSTREAMS];
	struct udp_try ut[DNS_MAX_INFLIGHT][DNS_TRIES];
	unsigned nut; /* of them open */
	uint32_t next_gen;
	uint64_t last_err_ns;
	uint8_t *mem; /* every TCP buffer, in one allocation */
	uint8_t rbuf[DNS_MAX_MSG + 1];
};

static const char *why_errno(int err)
{
	if (err == ECONNREFUSED)
		return "refused (nothing listens on its port)";
	return strerror(err);
}

/* Errors no client or upstream causes on purpose; at most one line a second. */
static void sock_error(struct dnsproxy *d, const char *what, int err)
{
	uint64_t now = now_ns();
	if (d->last_err_ns && now - d->last_err_ns < ERR_LOG_NS)
		return;
	d->last_err_ns = now;
	LOGW("msg=\"DNS proxy: %s failed\" error=\"%s\"", what, strerror(err));
}

static bool again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* ----------------------------------------------------------- upstreams */

static void upstream_set(struct upstream *u, const struct dns_server *s)
{
	memset(u, 0, sizeof(*u));
	dns_server_str(s, u->name, sizeof(u->name));
	if (s->family == AF_INET) {
		u->addr.in4.sin_family = AF_INET;
		u->addr.in4.sin_port = htons(s->port);
		memcpy(&u->addr.in4.sin_addr, s->addr, 4);
		u->addrlen = sizeof(u->addr.in4);
	} else {
		u->addr.in6.sin6_family = AF_INET6;
		u->addr.in6.sin6_port = htons(s->port);
		memcpy(&u->addr.in6.sin6_addr, s->addr, 16);
		u->addrlen = sizeof(u->addr.in6);
	}
}

/* A connected UDP socket to u: the fd, or -1 with *why (and errno). A
 * UDP connect sends nothing; it finds the route (or that there is none)
 * and binds a random local port. */
static int upstream_socket(const struct upstream *u, const char **why)
{
	int fd = socket(u->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (connect(fd, &u->addr.sa, u->addrlen) != 0) {
		int err = errno;
		*why = why_errno(err);
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void resolv_warn(void *ctx, const char *item, const char *why)
{
	(void)ctx;
	LOGW("msg=\"nameserver ignored\" file=%s value=\"%s\" reason=\"%s\"", RESOLV_CONF, item, why);
}

/* The nameservers of /etc/resolv.conf; 0 (logged) when there are none. */
static size_t read_resolv_conf(struct dns_server *out, size_t max)
{
	FILE *f = fopen(RESOLV_CONF, "re");
	if (!f) {
		LOGW("msg=\"DNS proxy off: no upstream DNS\" file=%s error=\"%s\" hint=\"set UpstreamDNS =\"", RESOLV_CONF,
		     strerror(errno));
		return 0;
	}
	char *text = malloc(RESOLV_MAX);
	if (!text) {
		fclose(f);
		LOGE("msg=\"DNS proxy off: out of memory\"");
		return 0;
	}
	size_t n = fread(text, 1, RESOLV_MAX - 1, f);
	bool bad = ferror(f);
	int err = errno;
	fclose(f);
	text[n] = '\0';
	size_t got = bad ? 0 : dns_parse_resolv_conf(text, out, max, resolv_warn, NULL);
	free(text);
	if (bad)
		LOGW("msg=\"DNS proxy off: no upstream DNS\" file=%s error=\"%s\"", RESOLV_CONF, strerror(err));
	else if (!got)
		LOGW("msg=\"DNS proxy off: no upstream DNS\" file=%s error=\"no usable nameserver line\" hint=\"set UpstreamDNS =\"",
		     RESOLV_CONF);
	return got;
}

/* UpstreamDNS =, else resolv.conf; never the proxy itself (a loop). */
static size_t pick_upstreams(const struct server_conf *c, uint32_t listen4, struct dns_server *out)
{
	size_t n;
	if (c->upstream_set) {
		n = c->nupstreams;
		memcpy(out, c->upstreams, n * sizeof(*out));
		if (!n)
			LOGW("msg=\"DNS proxy off: no usable UpstreamDNS\" hint=\"see the warnings above\"");
	} else {
		n = read_resolv_conf(out, DNS_MAX_UPSTREAMS);
	}
	struct dns_server self = { .family = AF_INET, .port = DNS_PORT };
	uint32_t be = htonl(listen4);
	memcpy(self.addr, &be, 4);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		char name[64];
		if (dns_server_equal(&out[i], &self)) {
			LOGW("msg=\"upstream DNS ignored: it is this proxy\" upstream=%s", dns_server_str(&out[i], name, sizeof(name)));
			continue;
		}
		out[kept++] = out[i];
	}
	if (n && !kept)
		LOGW("msg=\"DNS proxy off: no upstream DNS left\"");
	return kept;
}

/* ------------------------------------------------------- TCP, clients */

static void client_close(struct dnsproxy *d, unsigned j)
{
	struct tcp_client *c = &d->cl[j];
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->gen = 0;
}

/* Sends what is queued; -1 when the connection had to be closed. */
static int client_flush(struct dnsproxy *d, unsigned j)
{
	struct tcp_client *c = &d->cl[j];
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			c->last_ns = now_ns();
			continue;
		}
		if (n < 0 && again(errno))
			return 0;
		client_close(d, j);
		return -1;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static int client_queue(struct dnsproxy *d, unsigned j, uint32_t gen, const uint8_t *msg, size_t len)
{
	if (j >= TCP_CLIENTS || d->cl[j].fd < 0 || d->cl[j].gen != gen)
		return -1; /* the client hung up meanwhile */
	struct tcp_client *c = &d->cl[j];
	if (c->out_off && c->out_len + 2 + len > TCP_CLIENT_OUT) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	size_t n = dns_frame_put(c->out + c->out_len, TCP_CLIENT_OUT - c->out_len, msg, len);
	if (!n) {
		client_close(d, j); /* it does not read its answers */
		return -1;
	}
	c->out_len += n;
	return client_flush(d, j);
}

static void client_read(struct dnsproxy *d, unsigned j)
{
	struct tcp_client *c = &d->cl[j];
	size_t room;
	uint8_t *p = dns_frame_space(&c->in, &room);
	ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);
	if (n < 0 && again(errno))
		return;
	if (n <= 0) {
		client_close(d, j);
		return;
	}
	uint64_t now = now_ns();
	uint32_t gen = c->gen;
	dns_frame_added(&c->in, (size_t)n);
	c->last_ns = now;
	struct dns_client from = { .tcp = true, .conn = (uint16_t)j, .gen = gen };
	uint8_t *msg;
	size_t len;
	int r;
	while ((r = dns_frame_next(&c->in, &msg, &len)) == 1) {
		dns_query(&d->core, &from, msg, len, now);
		if (c->fd < 0 || c->gen != gen)
			return; /* closed while answering */
	}
	if (r < 0) {
		ctr_add(&d->core.st.malformed, 1);
		client_close(d, j);
	}
}

static void accept_clients(struct dnsproxy *d)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(d->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (!again(errno) && errno != ECONNABORTED)
				sock_error(d, "TCP accept", errno);
			return;
		}
		unsigned j = 0;
		while (j < TCP_CLIENTS && d->cl[j].fd >= 0)
			j++;
		if (j == TCP_CLIENTS) {
			close(fd);
			ctr_add(&d->core.st.dropped_full, 1);
			continue;
		}
		struct tcp_client *c = &d->cl[j];
		c->fd = fd;
		c->gen = ++d->next_gen ? d->next_gen : ++d->next_gen;
		c->last_ns = now_ns();
		c->out_len = c->out_off = 0;
		dns_frame_reset(&c->in);
	}
}

/* ----------------------------------------------------- TCP, upstreams */

static void tu_close(struct dnsproxy *d, unsigned j)
{
	struct tcp_upstream *t = &d->tu[j];
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->gen = 0;
}

static void tu_close_slot(struct dnsproxy *d, unsigned slot)
{
	for (unsigned j = 0; j < TCP_UPSTREAMS; j++)
		if (d->tu[j].fd >= 0 && d->tu[j].slot == slot)
			tu_close(d, j);
}

static int tu_open(struct dnsproxy *d, unsigned slot, unsigned k, const uint8_t *msg, size_t len, const char **why)
{
	tu_close_slot(d, slot);
	unsigned j = 0;
	while (j < TCP_UPSTREAMS && d->tu[j].fd >= 0)
		j++;
	if (j == TCP_UPSTREAMS)
		return DNS_SEND_BUSY;
	struct upstream *u = &d->up[k];
	int fd = socket(u->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sock_error(d, "TCP socket", errno);
		return DNS_SEND_BUSY; /* out of descriptors: ours, not the upstream's */
	}
	if (connect(fd, &u->addr.sa, u->addrlen) != 0 && errno != EINPROGRESS) {
		*why = why_errno(errno);
		close(fd);
		return DNS_SEND_FAILED;
	}
	struct tcp_upstream *t = &d->tu[j];
	t->fd = fd;
	t->gen = ++d->next_gen ? d->next_gen : ++d->next_gen;
	t->slot = slot;
	t->k = k;
	t->out_len = dns_frame_put(t->out, TCP_UP_OUT, msg, len);
	t->out_off = 0;
	dns_frame_reset(&t->in);
	return DNS_SENT;
}

static void tu_fail(struct dnsproxy *d, unsigned j, const char *why)
{
	unsigned slot = d->tu[j].slot;
	tu_close(d, j);
	dns_try_failed(&d->core, slot, why, now_ns());
}

static void tu_send(struct dnsproxy *d, unsigned j)
{
	struct tcp_upstream *t = &d->tu[j];
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err) {
		tu_fail(d, j, why_errno(err));
		return;
	}
	ssize_t n = send(t->fd, t->out + t->out_off, t->out_len - t->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && again(errno))
		return;
	if (n <= 0) {
		tu_fail(d, j, why_errno(errno));
		return;
	}
	t->out_off += (size_t)n;
}

static void tu_read(struct dnsproxy *d, unsigned j)
{
	struct tcp_upstream *t = &d->tu[j];
	size_t room;
	uint8_t *p = dns_frame_space(&t->in, &room);
	ssize_t n = recv(t->fd, p, room, MSG_DONTWAIT);
	if (n < 0 && again(errno))
		return;
	if (n <= 0) {
		tu_fail(d, j, n == 0 ? "closed the TCP connection without an answer" : why_errno(errno));
		return;
	}
	dns_frame_added(&t->in, (size_t)n);
	uint8_t *msg;
	size_t len;
	int r = dns_frame_next(&t->in, &msg, &len);
	if (r < 0)
		tu_fail(d, j, "sent a TCP frame of a bad length");
	else if (r == 1 && !dns_answer(&d->core, t->k, (int)t->slot, msg, len, now_ns()))
		tu_fail(d, j, "answered something we did not ask over TCP");
	/* a matched answer released the slot, which closed this connection */
}

static void tu_event(struct dnsproxy *d, unsigned j, short revents)
{
	if (d->tu[j].out_off < d->tu[j].out_len)
		tu_send(d, j);
	else if (revents & (POLLIN | POLLERR | POLLHUP))
		tu_read(d, j);
}

/* ------------------------------------------------------------- UDP */

static void read_clients_udp(struct dnsproxy *d)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		struct dns_client from = { .addrlen = sizeof(from.addr) };
		ssize_t n = recvfrom(d->udp_fd, d->rbuf, sizeof(d->rbuf), MSG_DONTWAIT, &from.addr.sa, &from.addrlen);
		if (n < 0) {
			if (!again(errno))
				sock_error(d, "UDP receive from clients", errno);
			return;
		}
		dns_query(&d->core, &from, d->rbuf, (size_t)n, now_ns());
	}
}

/* ----------------------------------------------------- UDP, upstreams */

static void ut_close(struct dnsproxy *d, unsigned slot, unsigned t)
{
	struct udp_try *u = &d->ut[slot][t];
	if (u->fd < 0)
		return;
	close(u->fd);
	u->fd = -1;
	u->gen = 0;
	d->nut--;
}

static int ut_send(struct dnsproxy *d, unsigned slot, unsigned k, const uint8_t *msg, size_t len, const char **why)
{
	unsigned t = 0;
	while (t < DNS_TRIES && d->ut[slot][t].fd >= 0)
		t++;
	if (t == DNS_TRIES) /* not with dns.c's DNS_TRIES tries a query */
		ut_close(d, slot, t = 0);
	if (d->nut >= UDP_UP_SOCKS)
		return DNS_SEND_BUSY;
	int fd = upstream_socket(&d->up[k], why);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			sock_error(d, "UDP socket to an upstream", errno);
			return DNS_SEND_BUSY; /* ours, not the upstream's */
		}
		return DNS_SEND_FAILED; /* no route to it */
	}
	if (send(fd, msg, len, MSG_DONTWAIT) != (ssize_t)len) {
		int err = errno;
		close(fd);
		if (again(err) || err == ENOBUFS)
			return DNS_SEND_BUSY;
		*why = why_errno(err);
		return DNS_SEND_FAILED;
	}
	struct udp_try *u = &d->ut[slot][t];
	u->fd = fd;
	u->gen = ++d->next_gen ? d->next_gen : ++d->next_gen;
	u->k = (uint8_t)k;
	d->nut++;
	return DNS_SENT;
}

static void read_upstream_udp(struct dnsproxy *d, unsigned slot, unsigned t)
{
	struct udp_try *u = &d->ut[slot][t];
	uint32_t gen = u->gen;
	/* A few: an upstream answers once; the rest are strays or forgeries. */
	for (int i = 0; i < 4 && u->fd >= 0 && u->gen == gen; i++) {
		ssize_t n = recv(u->fd, d->rbuf, sizeof(d->rbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (again(errno))
				return;
			/* an ICMP error (refused, unreachable) for this very try */
			const char *why = why_errno(errno);
			unsigned k = u->k;
			ut_close(d, slot, t);
			dns_try_failed_on(&d->core, slot, k, why, now_ns());
			return;
		}
		if (dns_answer_on(&d->core, u->k, slot, d->rbuf, (size_t)n, now_ns()))
			return; /* the query is done: its sockets are closed */
	}
}

/* ------------------------------------------------------ dns.c's ops */

static int op_send(void *ctx, unsigned slot, unsigned k, bool tcp, const uint8_t *msg, size_t len, const char **why)
{
	struct dnsproxy *d = ctx;
	if (tcp)
		return tu_open(d, slot, k, msg, len, why);
	return ut_send(d, slot, k, msg, len, why);
}

static int op_reply(void *ctx, const struct dns_client *to, const uint8_t *msg, size_t len)
{
	struct dnsproxy *d = ctx;
	if (to->tcp)
		return client_queue(d, to->conn, to->gen, msg, len);
	ssize_t n = sendto(d->udp_fd, msg, len, MSG_DONTWAIT, &to->addr.sa, to->addrlen);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && !again(errno))
		sock_error(d, "UDP send to a client", errno);
	return -1;
}

static void op_release(void *ctx, unsigned slot, bool tcp)
{
	struct dnsproxy *d = ctx;
	if (tcp) {
		tu_close_slot(d, slot);
		return;
	}
	for (unsigned t = 0; t < DNS_TRIES; t++)
		ut_close(d, slot, t);
}

static void op_upstream_state(void *ctx, unsigned k, bool ok, const char *why)
{
	struct dnsproxy *d = ctx;
	if (ok)
		LOGI("msg=\"upstream DNS answers again\" upstream=%s", d->up[k].name);
	else
		LOGW("msg=\"upstream DNS failing\" upstream=%s reason=\"%s\"", d->up[k].name, why);
}

static uint16_t op_rand16(void *ctx)
{
	(void)ctx;
	return (uint16_t)randombytes_uniform(65536);
}

/* ------------------------------------------------------------ the loop */

struct pollset {
	struct pollfd pfd[NPOLL];
	uint8_t kind[NPOLL];
	uint16_t idx[NPOLL];
	uint32_t gen[NPOLL];
	unsigned n;
};

static void poll_add(struct pollset *ps, int fd, short events, enum pkind kind, unsigned idx, uint32_t gen)
{
	ps->pfd[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->kind[ps->n] = (uint8_t)kind;
	ps->idx[ps->n] = (uint16_t)idx;
	ps->gen[ps->n] = gen;
	ps->n++;
}

static void poll_build(struct dnsproxy *d, struct pollset *ps)
{
	ps->n = 0;
	poll_add(ps, d->wake.fd, POLLIN, P_WAKE, 0, 0);
	poll_add(ps, d->udp_fd, POLLIN, P_UDP, 0, 0);
	poll_add(ps, d->tcp_fd, POLLIN, P_TCP, 0, 0);
	for (unsigned slot = 0; slot < DNS_MAX_INFLIGHT && d->nut; slot++)
		for (unsigned t = 0; t < DNS_TRIES; t++)
			if (d->ut[slot][t].fd >= 0)
				poll_add(ps, d->ut[slot][t].fd, POLLIN, P_UP, slot * DNS_TRIES + t, d->ut[slot][t].gen);
	for (unsigned j = 0; j < TCP_CLIENTS; j++) {
		struct tcp_client *c = &d->cl[j];
		if (c->fd >= 0)
			poll_add(ps, c->fd, (short)(POLLIN | (c->out_off < c->out_len ? POLLOUT : 0)), P_CLIENT, j, c->gen);
	}
	for (unsigned j = 0; j < TCP_UPSTREAMS; j++) {
		struct tcp_upstream *t = &d->tu[j];
		if (t->fd >= 0)
			poll_add(ps, t->fd, t->out_off < t->out_len ? POLLOUT : POLLIN, P_TU, j, t->gen);
	}
}

static void dispatch(struct dnsproxy *d, const struct pollset *ps, unsigned i)
{
	short ev = ps->pfd[i].revents;
	unsigned j = ps->idx[i];
	switch ((enum pkind)ps->kind[i]) {
	case P_WAKE:
		waker_clear(&d->wake);
		return;
	case P_UDP:
		read_clients_udp(d);
		return;
	case P_TCP:
		accept_clients(d);
		return;
	case P_UP:
		/* closed, or reused, earlier in this round: its query is done */
		if (d->ut[j / DNS_TRIES][j % DNS_TRIES].gen == ps->gen[i])
			read_upstream_udp(d, j / DNS_TRIES, j % DNS_TRIES);
		return;
	case P_CLIENT:
		/* the slot may have been closed, or reused, earlier in this round */
		if (d->cl[j].fd < 0 || d->cl[j].gen != ps->gen[i])
			return;
		if (ev & (POLLIN | POLLERR | POLLHUP))
			client_read(d, j);
		if ((ev & POLLOUT) && d->cl[j].gen == ps->gen[i])
			client_flush(d, j);
		return;
	case P_TU:
		if (d->tu[j].fd >= 0 && d->tu[j].gen == ps->gen[i])
			tu_event(d, j, ev);
		return;
	}
}

static void close_idle_clients(struct dnsproxy *d, uint64_t now)
{
	for (unsigned j = 0; j < TCP_CLIENTS; j++)
		if (d->cl[j].fd >= 0 && now - d->cl[j].last_ns >= TCP_IDLE_NS)
			client_close(d, j);
}

static void *loop(void *arg)
{
	struct dnsproxy *d = arg;
	static struct pollset ps; /* one proxy thread per process */
	while (!atomic_load(&d->stop)) {
		poll_build(d, &ps);
		int tmo = dns_next_timeout_ms(&d->core, now_ns(), POLL_MAX_MS);
		int rc = poll(ps.pfd, ps.n, tmo);
		if (rc < 0 && errno != EINTR) {
			LOGE("msg=\"DNS proxy stopped: poll failed\" error=\"%s\"", strerror(errno));
			break;
		}
		for (unsigned i = 0; rc > 0 && i < ps.n; i++)
			if (ps.pfd[i].revents)
				dispatch(d, &ps, i);
		uint64_t now = now_ns();
		dns_tick(&d->core, now);
		close_idle_clients(d, now);
	}
	return NULL;
}

/* ------------------------------------------------------------ the API */

static int listen_socket(int type, uint32_t listen4, const char *ifname, const char **what)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(DNS_PORT), .sin_addr.s_addr = htonl(listen4) };
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*what = "socket";
	if (fd < 0)
		return -1;
	/* Only what came through the tunnel: not an open resolver for the
	 * gateway's other networks. */
	*what = "bind to the tunnel device";
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) != 0)
		goto fail;
	*what = "SO_REUSEADDR";
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	*what = "listen";
	if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) != 0)
		goto fail;
	return fd;
fail:;
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int alloc_buffers(struct dnsproxy *d)
{
	size_t per_client = TCP_CLIENT_IN + TCP_CLIENT_OUT, per_up = TCP_UP_IN + TCP_UP_OUT;
	d->mem = malloc(TCP_CLIENTS * per_client + TCP_UPSTREAMS * per_up);
	if (!d->mem)
		return -1;
	uint8_t *p = d->mem;
	for (unsigned j = 0; j < TCP_CLIENTS; j++, p += per_client) {
		d->cl[j].fd = -1;
		dns_frame_init(&d->cl[j].in, p, TCP_CLIENT_IN, DNS_MAX_QUERY);
		d->cl[j].out = p + TCP_CLIENT_IN;
	}
	for (unsigned j = 0; j < TCP_UPSTREAMS; j++, p += per_up) {
		d->tu[j].fd = -1;
		dns_frame_init(&d->tu[j].in, p, TCP_UP_IN, DNS_MAX_MSG);
		d->tu[j].out = p + TCP_UP_IN;
	}
	return 0;
}

static void free_all(struct dnsproxy *d)
{
	for (unsigned j = 0; j < TCP_CLIENTS; j++)
		client_close(d, j);
	for (unsigned j = 0; j < TCP_UPSTREAMS; j++)
		tu_close(d, j);
	for (unsigned slot = 0; slot < DNS_MAX_INFLIGHT; slot++)
		for (unsigned t = 0; t < DNS_TRIES; t++)
			ut_close(d, slot, t);
	if (d->udp_fd >= 0)
		close(d->udp_fd);
	if (d->tcp_fd >= 0)
		close(d->tcp_fd);
	waker_close(&d->wake);
	dns_free(&d->core);
	free(d->mem);
	free(d);
}

static struct dnsproxy *proxy_new(void)
{
	struct dnsproxy *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->udp_fd = d->tcp_fd = d->wake.fd = -1;
	for (unsigned j = 0; j < TCP_CLIENTS; j++)
		d->cl[j].fd = -1;
	for (unsigned j = 0; j < TCP_UPSTREAMS; j++)
		d->tu[j].fd = -1;
	for (unsigned slot = 0; slot < DNS_MAX_INFLIGHT; slot++)
		for (unsigned t = 0; t < DNS_TRIES; t++)
			d->ut[slot][t].fd = -1;
	if (alloc_buffers(d) != 0 || waker_init(&d->wake) != 0) {
		free_all(d);
		return NULL;
	}
	return d;
}

static int open_listeners(struct dnsproxy *d, uint32_t listen4, const char *ifname)
{
	const char *what;
	d->udp_fd = listen_socket(SOCK_DGRAM, listen4, ifname, &what);
	if (d->udp_fd >= 0)
		d->tcp_fd = listen_socket(SOCK_STREAM, listen4, ifname, &what);
	if (d->tcp_fd >= 0)
		return 0;
	LOGW("msg=\"DNS proxy off: cannot listen\" address=%s proto=%s step=\"%s\" error=\"%s\"", d->listen_name,
	     d->udp_fd < 0 ? "udp" : "tcp", what, strerror(errno));
	return -1;
}

struct dnsproxy *dnsproxy_open(const struct server_conf *c, uint32_t listen4, const char *ifname)
{
	struct dns_server ups[DNS_MAX_UPSTREAMS];
	if (c->dns_proxy_off) {
		LOGI("msg=\"DNS proxy off\" reason=\"DNSProxy = off\"");
		return NULL;
	}
	size_t n = pick_upstreams(c, listen4, ups);
	if (!n)
		return NULL;
	struct dnsproxy *d = proxy_new();
	if (!d) {
		LOGE("msg=\"DNS proxy off: out of memory\"");
		return NULL;
	}
	snprintf(d->listen_name, sizeof(d->listen_name), "%u.%u.%u.%u:%u", listen4 >> 24, listen4 >> 16 & 255,
		 listen4 >> 8 & 255, listen4 & 255, DNS_PORT);
	struct dns_ops ops = { op_send, op_reply, op_release, op_upstream_state, op_rand16, d };
	if (open_listeners(d, listen4, ifname) != 0 || dns_init(&d->core, (unsigned)n, 0, &ops) != 0) {
		if (d->tcp_fd >= 0)
			LOGE("msg=\"DNS proxy off: out of memory\"");
		free_all(d);
		return NULL;
	}
	char list[DNS_MAX_UPSTREAMS * 64] = "";
	d->nup = (unsigned)n;
	for (unsigned k = 0; k < d->nup; k++) {
		const char *why;
		upstream_set(&d->up[k], &ups[k]);
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? "," : "", d->up[k].name);
		/* kept: a route to it may appear later; queries meanwhile move on to the next */
		int fd = upstream_socket(&d->up[k], &why);
		if (fd < 0)
			dns_upstream_failed(&d->core, k, why, now_ns());
		else
			close(fd);
	}
	LOGI("msg=\"DNS proxy up\" listen=%s upstreams=%s source=%s", d->listen_name, list,
	     c->upstream_set ? "UpstreamDNS" : RESOLV_CONF);
	return d;
}

int dnsproxy_start(struct dnsproxy *d)
{
	if (thread_start(&d->th, loop, d, "vpngw-dns") != 0) {
		LOGE("msg=\"DNS proxy off: no thread for it\"");
		return -1;
	}
	d->started = true;
	return 0;
}

void dnsproxy_stop(struct dnsproxy *d)
{
	if (!d || !d->started)
		return;
	atomic_store(&d->stop, true);
	waker_signal(&d->wake);
	pthread_join(d->th, NULL);
	d->started = false;
}

void dnsproxy_close(struct dnsproxy *d)
{
	if (!d)
		return;
	dnsproxy_stop(d);
	free_all(d);
}

uint32_t dnsproxy_client_dns(const struct dnsproxy *d, const struct server_conf *c, uint32_t listen4)
{
	if (!c->dns4)
		return d ? listen4 : 0;
	if (!d && c->dns4 == listen4)
		LOGW("msg=\"clients are told DNS = the gateway, but its DNS proxy is off: their lookups will fail\" dns=%u.%u.%u.%u",
		     listen4 >> 24, listen4 >> 16 & 255, listen4 >> 8 & 255, listen4 & 255);
	return c->dns4;
}

/* The proxy's counters, or zeros when there is no proxy. */
static struct dns_stats *stats_of(struct dnsproxy *d)
{
	static struct dns_stats none;
	return d ? &d->core.st : &none;
}

void dnsproxy_snap(struct dnsproxy *d, struct snapshot *o)
{
	struct dns_stats *st = stats_of(d);
	const struct { const char *name; counter_t *c; } ctrs[] = {
		{ "dns_queries_udp", &st->queries_udp }, { "dns_queries_tcp", &st->queries_tcp },
		{ "dns_answers", &st->answers }, { "dns_servfail", &st->servfail },
		{ "dns_notimp", &st->notimp }, { "dns_timeouts", &st->timeouts },
		{ "dns_retries", &st->retries }, { "dns_upstream_errors", &st->upstream_errors },
		{ "dns_dropped_full", &st->dropped_full }, { "dns_malformed", &st->malformed },
		{ "dns_unmatched", &st->unmatched }, { "dns_reply_drops", &st->reply_drops },
	};
	for (size_t i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++)
		snap_total(o, ctrs[i].name, ctr_get(ctrs[i].c), false);
	snap_total(o, "dns_inflight", atomic_load_explicit(&st->inflight, memory_order_relaxed), true);
}

const char *dnsproxy_stats(struct dnsproxy *d, char *buf, size_t len)
{
	struct dns_stats *st = stats_of(d);
#define V(f) ctr_get(&st->f)
	snprintf(buf, len,
		 " dns_queries_udp=%lu dns_queries_tcp=%lu dns_answers=%lu dns_servfail=%lu dns_notimp=%lu "
		 "dns_timeouts=%lu dns_retries=%lu dns_upstream_errors=%lu dns_dropped_full=%lu dns_malformed=%lu "
		 "dns_unmatched=%lu dns_reply_drops=%lu dns_inflight=%u",
		 V(queries_udp), V(queries_tcp), V(answers), V(servfail), V(notimp), V(timeouts), V(retries),
		 V(upstream_errors), V(dropped_full), V(malformed), V(unmatched), V(reply_drops),
		 atomic_load_explicit(&st->inflight, memory_order_relaxed));
#undef V
	return buf;
}
