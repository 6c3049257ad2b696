/* udp_linux.c - recvmmsg/sendmmsg on one socket. */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netdb.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wake.h"

#define UDP_MAX_BATCH 64

_Static_assert(UDP_DATA_SOCKS <= 32, "struct udp_rx keeps the sockets of a pass in a 32-bit mask");
/* Socket buffers are queues we cannot schedule: a ping in them waits
 * behind every bulk packet. Keep them to about a millisecond of packets
 * at the rates we reach, so standing queues form in our own flow queues. */
#define UDP_SOCKBUF_DEFAULT (256 << 10)

socklen_t endpoint_len(const struct endpoint *e)
{
	return e->sa.sa_family == AF_INET6 ? sizeof(e->in6) : sizeof(e->in4);
}

bool endpoint_equal(const struct endpoint *a, const struct endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port && a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
}

bool endpoint_same_path(const struct endpoint *a, const struct endpoint *b)
{
	return endpoint_equal(a, b) && !memcmp(&a->local, &b->local, sizeof(a->local));
}

const char *endpoint_str(const struct endpoint *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (e->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &e->in4.sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(e->in4.sin_port));
	} else if (e->sa.sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&e->in6.sin6_addr)) {
			inet_ntop(AF_INET, &e->in6.sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(buf, len, "%s:%u", a, ntohs(e->in6.sin6_port));
		} else {
			inet_ntop(AF_INET6, &e->in6.sin6_addr, a, sizeof(a));
			snprintf(buf, len, "[%s]:%u", a, ntohs(e->in6.sin6_port));
		}
	} else {
		snprintf(buf, len, "none");
	}
	return buf;
}

int endpoint_resolve(const char *spec, struct endpoint *out, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(err, errlen, "Endpoint = %s: want HOST:PORT", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	int rc = getaddrinfo(h, colon + 1, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "Endpoint = %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

bool endpoint_is_name(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct in6_addr a;
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return false;
	if (spec[0] == '[')
		return false;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	return inet_pton(AF_INET, host, &a) != 1;
}

/* VPNGW_SOCKBUF (bytes, 4 KB-64 MB) overrides the default: for
 * experiments such as ARCHITECTURE.md's, not a setting. */
static int sockbuf_size(void)
{
	const char *env = getenv("VPNGW_SOCKBUF");
	if (!env)
		return UDP_SOCKBUF_DEFAULT;
	char *end;
	errno = 0;
	long v = strtol(env, &end, 10);
	if (errno || end == env || *end || v < 4096 || v > (64l << 20)) {
		static bool warned; /* every socket asks */
		if (!warned)
			LOGW("msg=\"VPNGW_SOCKBUF ignored: not a byte count from 4096 to 67108864\" value=\"%s\"",
			     env);
		warned = true;
		return UDP_SOCKBUF_DEFAULT;
	}
	return (int)v;
}

static void size_buffers(int fd)
{
	int sz = sockbuf_size();
	/* FORCE variants pass rmem_max when we are root; fall back quietly. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_bound(unsigned short port, bool reuse)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		die_msg("UDP socket: %s", strerror(errno));
		return -1;
	}
	int off = 0, on = 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	/* Which of our addresses each datagram was sent to, to answer from it
	 * (the control socket is read without udp_rx_init). */
	setsockopt(fd, SOL_IP, IP_PKTINFO, &on, sizeof(on));
	setsockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
	if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -2;
	}
	size_buffers(fd);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		die_msg("bind UDP port %u: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sockets 0..ndata-1 of the reuseport group (bound in that order) get
 * DATA and KEEPALIVE by the first four bytes of the clientId, socket
 * ndata gets CONTROL. The program sees the UDP payload from byte 0: byte
 * 5 is msgType, bytes 8-23 the clientId. A datagram too short for a load
 * fails it, which returns 0: data socket 0, where it is counted as
 * malformed. An index past the group's end (while it is still being
 * bound) makes the kernel fall back to its hash; any socket copes. */
static int steer(int first_fd, unsigned ndata)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 5),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ndata),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, ndata),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;
	memset(&prog, 0, sizeof(prog)); /* the padding too: the kernel copies it all */
	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;
	return setsockopt(first_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/* Cleared when the kernel has no UDP GSO (before 4.18: the option is
 * unknown) or the first time it refuses a GSO send (EIO on kernels before
 * 6.11 when the egress device lacks checksum offload). */
static atomic_bool gso_ok = true;

/* A kernel without UDP_SEGMENT would ignore the control message and send
 * a run as one long datagram: ask at start whether it knows the option. */
static void probe_gso(int fd)
{
	int none = 0;
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &none, sizeof(none)) != 0 && atomic_exchange(&gso_ok, false))
		LOGW("msg=\"UDP GSO unavailable, sending datagram by datagram\" error=\"%s\"", strerror(errno));
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int udp_open_server(unsigned short port, int data[UDP_DATA_SOCKS], unsigned *ndata, int *ctl_fd)
{
	*ctl_fd = -1;
	*ndata = 0;
	/* SO_REUSEPORT would let a second instance (same user) join our
	 * group and take part of the traffic. A plain bind fails where anyone
	 * holds the port, reuseport or not: try one first, so that a busy
	 * port still stops us, and ours stops the next instance. */
	int probe = open_bound(port, false);
	if (probe < 0)
		return -1;
	close(probe);
	int fd = open_bound(port, true);
	if (fd == -2) {
		LOGW("msg=\"no SO_REUSEPORT: handshakes share the data socket\" error=\"%s\"", strerror(errno));
		data[0] = open_bound(port, false);
		*ndata = data[0] >= 0;
		if (data[0] >= 0)
			probe_gso(data[0]);
		return data[0] >= 0 ? 0 : -1;
	}
	if (fd < 0)
		return -1;
	data[0] = fd;
	probe_gso(fd);
	unsigned n = 1;
	while (n < UDP_DATA_SOCKS && (fd = open_bound(port, true)) >= 0)
		data[n++] = fd;
	int ctl = n == UDP_DATA_SOCKS ? open_bound(port, true) : -1;
	if (ctl < 0 || steer(data[0], n) != 0) {
		LOGW("msg=\"cannot steer datagrams to their sockets: everything shares one\" error=\"%s\"",
		     strerror(errno));
		if (ctl >= 0)
			close(ctl);
		/* A group of one: SO_REUSEPORT stays set but nobody else joins
		 * it unless they run as our user, like any port we hold. With
		 * no program the kernel would hash across the group, so the
		 * others go. */
		close_all(data + 1, n - 1);
		*ndata = 1;
		return 0;
	}
	*ndata = n;
	*ctl_fd = ctl;
	return 0;
}

int udp_open_client(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		die_msg("UDP socket: %s", strerror(errno));
		return -1;
	}
	size_buffers(fd);
	probe_gso(fd);
	return fd;
}

int udp_set_mark(int fd, uint32_t mark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
		die_msg("mark the tunnel's UDP socket with fwmark %u: %s", mark, strerror(errno));
		return -1;
	}
	return 0;
}

int udp_rx_init(struct udp_rx *rx, const int *fds, unsigned nfds)
{
	memset(rx, 0, sizeof(*rx));
	rx->nfds = nfds < UDP_DATA_SOCKS ? nfds : UDP_DATA_SOCKS;
	memcpy(rx->fds, fds, rx->nfds * sizeof(fds[0]));
	rx->fill = rx->nfds > 1 ? UDP_RX_FAIR_BUFS : UDP_RX_BUFS;
	for (unsigned i = 0; i < UDP_RX_BUFS; i++) {
		rx->bufs[i] = malloc(UDP_RX_BUF_SIZE);
		if (!rx->bufs[i]) {
			udp_rx_free(rx);
			return -1;
		}
	}
	int on = 1;
	rx->gro = true;
	for (unsigned i = 0; i < rx->nfds; i++) {
		int fd = rx->fds[i];
		/* The outer ECN field, for RFC 6040 decapsulation (IPv4 and IPv6). */
		setsockopt(fd, SOL_IP, IP_RECVTOS, &on, sizeof(on));
		setsockopt(fd, SOL_IPV6, IPV6_RECVTCLASS, &on, sizeof(on));
		/* Which of our addresses each datagram was sent to, to answer from it. */
		setsockopt(fd, SOL_IP, IP_PKTINFO, &on, sizeof(on));
		setsockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
		/* The segment size comes with each buffer: a socket without GRO
		 * still works beside those with it. */
		if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) != 0 && rx->gro) {
			rx->gro = false;
			LOGW("msg=\"UDP GRO unavailable, receiving datagram by datagram\" error=\"%s\"", strerror(errno));
		}
	}
	return 0;
}

void udp_rx_free(struct udp_rx *rx)
{
	for (unsigned i = 0; i < UDP_RX_BUFS; i++) {
		free(rx->bufs[i]);
		rx->bufs[i] = NULL;
	}
}

#define RX_CMSG_SPACE                                                                                   \
	(CMSG_SPACE(sizeof(int)) * 3 + CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + \
	 64)

static void set_local4(struct endpoint *e, struct in_addr a)
{
	memset(&e->local, 0, sizeof(e->local));
	e->local.s6_addr[10] = e->local.s6_addr[11] = 0xff;
	memcpy(&e->local.s6_addr[12], &a, 4);
}

/* The local address a datagram was sent to, from its control messages. */
static void read_local(struct msghdr *m, struct endpoint *e)
{
	if (m->msg_flags & MSG_CTRUNC)
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			set_local4(e, pi.ipi_addr);
		} else if (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			e->local = pi.ipi6_addr;
		}
	}
}

int udp_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc = poll(&pfd, 1, timeout_ms);
	return rc < 0 && errno == EINTR ? 0 : rc;
}

int udp_recv_batch(int fd, struct pkt **pkts, struct endpoint *from, size_t n)
{
	struct mmsghdr msgs[UDP_MAX_BATCH];
	struct iovec iov[UDP_MAX_BATCH];
	union {
		char buf[RX_CMSG_SPACE];
		struct cmsghdr align;
	} ctl[UDP_MAX_BATCH];
	if (n > UDP_MAX_BATCH)
		n = UDP_MAX_BATCH;
	for (size_t i = 0; i < n; i++) {
		pkts[i]->data = pkts[i]->buf;
		iov[i].iov_base = pkts[i]->buf;
		iov[i].iov_len = PKT_BUF_SIZE;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		memset(&from[i], 0, sizeof(from[i]));
		msgs[i].msg_hdr.msg_name = &from[i].sa;
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i].in6);
		msgs[i].msg_hdr.msg_control = ctl[i].buf;
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	int rc = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
	if (rc < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (int i = 0; i < rc; i++) {
		pkts[i]->len = msgs[i].msg_len;
		pkts[i]->ecn = 0;
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			pkts[i]->len = 0; /* not ours: counted as malformed */
		read_local(&msgs[i].msg_hdr, &from[i]);
	}
	return rc;
}

/* Starts a pass: which sockets have datagrams, waiting up to timeout_us
 * for one. 1 when some have, 0 when none, -1 on error. A lone socket that
 * is not waited for is simply read: its recvmmsg says whether it has any. */
static int rx_poll(struct udp_rx *rx, int timeout_us)
{
	if (rx->nfds == 1 && !timeout_us) {
		rx->ready = 1;
		return 1;
	}
	struct pollfd pfd[UDP_DATA_SOCKS];
	for (unsigned i = 0; i < rx->nfds; i++)
		pfd[i] = (struct pollfd){ .fd = rx->fds[i], .events = POLLIN };
	int rc = poll_us(pfd, rx->nfds, timeout_us);
	if (rc <= 0)
		return rc < 0 && errno != EINTR ? -1 : 0;
	for (unsigned i = 0; i < rx->nfds; i++)
		if (pfd[i].revents)
			rx->ready |= 1u << i;
	return rx->ready != 0;
}

static int rx_read(struct udp_rx *rx, int fd)
{
	struct mmsghdr msgs[UDP_RX_BUFS];
	struct iovec iov[UDP_RX_BUFS];
	/* Room for every control message the kernel may add: a dual-stack
	 * socket gives an IPv4 datagram both IP_PKTINFO and IPV6_PKTINFO, and a
	 * truncated list would end in a header cut short. */
	union {
		char buf[RX_CMSG_SPACE];
		struct cmsghdr align;
	} ctl[UDP_RX_BUFS];
	for (unsigned i = 0; i < UDP_RX_BUFS; i++) {
		iov[i].iov_base = rx->bufs[i];
		iov[i].iov_len = UDP_RX_BUF_SIZE;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		memset(&rx->from[i], 0, sizeof(rx->from[i]));
		msgs[i].msg_hdr.msg_name = &rx->from[i].sa;
		msgs[i].msg_hdr.msg_namelen = sizeof(rx->from[i].in6);
		msgs[i].msg_hdr.msg_control = ctl[i].buf;
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	int rc = recvmmsg(fd, msgs, rx->fill, MSG_DONTWAIT, NULL);
	if (rc < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	/* Each datagram's latency counts from here, not from when a later
	 * call hands it out: a GRO batch is split over several. */
	rx->stamp_ns = now_ns();
	for (int i = 0; i < rc; i++) {
		rx->lens[i] = msgs[i].msg_len;
		rx->seg[i] = msgs[i].msg_len;
		rx->ecn[i] = 0;
		if (msgs[i].msg_hdr.msg_flags & MSG_CTRUNC)
			msgs[i].msg_hdr.msg_controllen = 0; /* never read a list cut short */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm; cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
			if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int gso;
				memcpy(&gso, CMSG_DATA(cm), sizeof(gso));
				if (gso > 0)
					rx->seg[i] = (size_t)gso;
			} else if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_TOS) {
				rx->ecn[i] = *CMSG_DATA(cm) & 3;
			} else if (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_TCLASS) {
				int tc;
				memcpy(&tc, CMSG_DATA(cm), sizeof(tc));
				rx->ecn[i] = (uint8_t)(tc & 3);
			} else if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				set_local4(&rx->from[i], pi.ipi_addr);
			} else if (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				rx->from[i].local = pi.ipi6_addr;
			}
		}
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			rx->seg[i] = rx->lens[i] = 0; /* hostile or broken: one 0-length packet */
	}
	rx->count = (unsigned)rc;
	rx->cur = 0;
	rx->off = 0;
	return rc;
}

/* Reads one batch from the next socket of the pass that has any. */
static int rx_fill(struct udp_rx *rx, int timeout_us)
{
	for (unsigned tries = 0; tries <= rx->nfds; tries++) {
		if (!rx->ready) {
			if (tries)
				return 0; /* the pass is over and none had data: the caller polls anew */
			int rc = rx_poll(rx, timeout_us);
			if (rc <= 0)
				return rc;
		}
		unsigned i = (unsigned)__builtin_ctz(rx->ready);
		rx->ready &= rx->ready - 1;
		int rc = rx_read(rx, rx->fds[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int udp_rx_batch(struct udp_rx *rx, struct pkt **pkts, struct endpoint *from, size_t n, int timeout_us)
{
	if (rx->cur >= rx->count) {
		int rc = rx_fill(rx, timeout_us);
		if (rc <= 0)
			return rc;
	}
	size_t got = 0;
	while (got < n && rx->cur < rx->count) {
		unsigned c = rx->cur;
		size_t len = rx->lens[c] - rx->off;
		if (len > rx->seg[c])
			len = rx->seg[c];
		struct pkt *p = pkts[got];
		/* Not copied: opening it decrypts it into p->buf (pkt_own for
		 * what is not opened). */
		p->data = rx->bufs[c] + rx->off;
		/* Longer than any datagram of ours: hand it on as empty, to be
		 * counted as malformed. */
		p->len = len <= PKT_BUF_SIZE ? (uint32_t)len : 0;
		p->ecn = rx->ecn[c];
		p->stamp_ns = rx->stamp_ns;
		from[got++] = rx->from[c];
		rx->off += len;
		if (rx->off >= rx->lens[c] || len == 0) {
			rx->cur++;
			rx->off = 0;
		}
	}
	return (int)got;
}


#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000

/* How many datagrams from pkts[i] can go as one GSO send. */
static size_t gso_run(struct pkt **pkts, const struct endpoint *to, size_t i, size_t n)
{
	size_t seg = pkts[i]->len, total = seg, k = 1;
	if (!atomic_load_explicit(&gso_ok, memory_order_relaxed))
		return 1;
	while (i + k < n && k < GSO_MAX_SEGS && total + pkts[i + k]->len <= GSO_MAX_BYTES &&
	       pkts[i + k]->len <= seg && pkts[i + k]->ecn == pkts[i]->ecn && endpoint_same_path(&to[i + k], &to[i])) {
		total += pkts[i + k]->len;
		/* A shorter datagram may only end the run. */
		if (pkts[i + k++]->len < seg)
			break;
	}
	return k;
}

static bool is_ipv4(const struct endpoint *e)
{
	return e->sa.sa_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&e->in6.sin6_addr);
}

static bool has_local(const struct endpoint *e)
{
	static const struct in6_addr none;
	return memcmp(&e->local, &none, sizeof(none)) != 0;
}

/* Room for every control message of one send. */
#define SEND_CMSG_SPACE (CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)))

/* The source address of one send: the one the peer wrote to. */
static size_t add_source(struct cmsghdr *cm, const struct endpoint *to)
{
	if (is_ipv4(to)) {
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, &to->local.s6_addr[12], 4);
		cm->cmsg_level = SOL_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi6 = { .ipi6_addr = to->local };
	cm->cmsg_level = SOL_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi6));
	memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
	return CMSG_SPACE(sizeof(pi6));
}

/* The control messages of one send: the GSO segment size (0 = none), the
 * outer ECN field (0 = leave the socket's default, Not-ECT) and the source
 * address (when we know which one the peer wrote to). */
static void add_cmsgs(struct msghdr *m, char *buf, size_t cap, uint16_t seg, uint8_t ecn,
		      const struct endpoint *to)
{
	memset(buf, 0, cap);
	m->msg_control = buf;
	m->msg_controllen = cap;
	size_t used = 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(m);
	if (seg) {
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		used += CMSG_SPACE(sizeof(seg));
		cm = CMSG_NXTHDR(m, cm);
	}
	if (ecn) {
		int tos = ecn;
		cm->cmsg_level = is_ipv4(to) ? SOL_IP : SOL_IPV6;
		cm->cmsg_type = is_ipv4(to) ? IP_TOS : IPV6_TCLASS;
		cm->cmsg_len = CMSG_LEN(sizeof(tos));
		memcpy(CMSG_DATA(cm), &tos, sizeof(tos));
		used += CMSG_SPACE(sizeof(tos));
		cm = CMSG_NXTHDR(m, cm);
	}
	if (has_local(to))
		used += add_source(cm, to);
	m->msg_controllen = used;
	if (!used)
		m->msg_control = NULL;
}

size_t udp_send_batch(int fd, struct pkt **pkts, const struct endpoint *to, size_t n, bool *sent)
{
	struct mmsghdr msgs[UDP_MAX_BATCH];
	struct iovec iov[UDP_MAX_BATCH];
	size_t first[UDP_MAX_BATCH], segs[UDP_MAX_BATCH];
	union {
		char buf[SEND_CMSG_SPACE];
		struct cmsghdr align;
	} ctl[UDP_MAX_BATCH];
	size_t done = 0, ok = 0;

	if (sent)
		memset(sent, 0, n * sizeof(*sent));
	while (done < n) {
		/* Build up to UDP_MAX_BATCH messages, each a run of datagrams. */
		size_t nmsg = 0, niov = 0, i = done;
		while (i < n && nmsg < UDP_MAX_BATCH && niov < UDP_MAX_BATCH) {
			size_t k = gso_run(pkts, to, i, n);
			if (niov + k > UDP_MAX_BATCH)
				k = UDP_MAX_BATCH - niov;
			struct msghdr *m = &msgs[nmsg].msg_hdr;
			memset(m, 0, sizeof(*m));
			m->msg_iov = &iov[niov];
			m->msg_iovlen = k;
			m->msg_name = (void *)&to[i].sa;
			m->msg_namelen = endpoint_len(&to[i]);
			for (size_t j = 0; j < k; j++) {
				iov[niov + j].iov_base = pkts[i + j]->data;
				iov[niov + j].iov_len = pkts[i + j]->len;
			}
			add_cmsgs(m, ctl[nmsg].buf, sizeof(ctl[nmsg].buf), k > 1 ? (uint16_t)pkts[i]->len : 0,
				  pkts[i]->ecn, &to[i]);
			first[nmsg] = i;
			segs[nmsg++] = k;
			niov += k;
			i += k;
		}
		int rc = sendmmsg(fd, msgs, (unsigned)nmsg, 0);
		if (rc < 0) {
			if (errno == EIO && segs[0] > 1) {
				/* Another thread may have seen it first: resend all the same. */
				if (atomic_exchange(&gso_ok, false))
					LOGW("msg=\"UDP GSO refused by the kernel, sending datagram by datagram\"");
				continue; /* rebuild the same datagrams without GSO */
			}
			if (errno == EAGAIN || errno == ENOBUFS) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				if (poll(&pfd, 1, 10) > 0)
					continue;
			}
			/* Skip the run the kernel refused (e.g. unreachable). */
			done += segs[0];
			continue;
		}
		for (int m = 0; m < rc; m++) {
			ok += segs[m];
			if (sent)
				memset(sent + first[m], 1, segs[m] * sizeof(*sent));
		}
		done = rc ? first[rc - 1] + segs[rc - 1] : done + segs[0];
	}
	return ok;
}

int udp_send_one(int fd, const void *buf, size_t len, const struct endpoint *to)
{
	union {
		char buf[SEND_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)&to->sa, .msg_namelen = endpoint_len(to), .msg_iov = &iov, .msg_iovlen = 1 };
	add_cmsgs(&m, ctl.buf, sizeof(ctl.buf), 0, 0, to);
	ssize_t r = sendmsg(fd, &m, 0);
	return r == (ssize_t)len ? 0 : -1;
}

uint64_t udp_drops(const int *fds, unsigned n)
{
	static atomic_bool warned;
	uint64_t sum = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t mem[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof(mem);
		if (fds[i] < 0)
			continue;
		if (getsockopt(fds[i], SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 && len > SK_MEMINFO_DROPS * sizeof(mem[0])) {
			sum += mem[SK_MEMINFO_DROPS];
		} else if (!atomic_exchange(&warned, true)) {
			/* a kernel before 4.12 has no SO_MEMINFO */
			LOGW("msg=\"cannot read the UDP sockets' drop counts; udp_socket_drops stays 0\" error=\"%s\"",
			     strerror(errno));
		}
	}
	return sum;
}
