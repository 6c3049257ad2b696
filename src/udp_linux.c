/* udp_linux.c - recvmmsg/sendmmsg on one socket. */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define UDP_MAX_BATCH 64
#define UDP_SOCKBUF (4 << 20)

socklen_t endpoint_len(const union endpoint *e)
{
	return e->sa.sa_family == AF_INET6 ? sizeof(e->in6) : sizeof(e->in4);
}

bool endpoint_equal(const union endpoint *a, const union endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port && a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
}

const char *endpoint_str(const union endpoint *e, char *buf, size_t len)
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

int endpoint_resolve(const char *spec, union endpoint *out)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		die_msg("Endpoint = %s: want HOST:PORT", spec);
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
		die_msg("Endpoint = %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static void size_buffers(int fd)
{
	int sz = UDP_SOCKBUF;
	/* FORCE variants pass rmem_max when we are root; fall back quietly. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

int udp_open_server(unsigned short port)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		die_msg("UDP socket: %s", strerror(errno));
		return -1;
	}
	int off = 0;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	size_buffers(fd);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		die_msg("bind UDP port %u: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int udp_open_client(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		die_msg("UDP socket: %s", strerror(errno));
		return -1;
	}
	size_buffers(fd);
	return fd;
}

int udp_recv_batch(int fd, struct pkt **pkts, union endpoint *from, size_t n, int timeout_ms)
{
	struct mmsghdr msgs[UDP_MAX_BATCH];
	struct iovec iov[UDP_MAX_BATCH];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (n > UDP_MAX_BATCH)
		n = UDP_MAX_BATCH;
	int rc = poll(&pfd, 1, timeout_ms);
	if (rc <= 0)
		return rc < 0 && errno != EINTR ? -1 : 0;
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = pkts[i]->buf;
		iov[i].iov_len = PKT_BUF_SIZE;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &from[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	rc = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
	if (rc < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (int i = 0; i < rc; i++) {
		pkts[i]->data = pkts[i]->buf;
		/* A datagram longer than the buffer is hostile or broken; the
		 * truncated length then fails header validation. */
		pkts[i]->len = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : msgs[i].msg_len;
	}
	return rc;
}

size_t udp_send_batch(int fd, struct pkt **pkts, const union endpoint *to, size_t n)
{
	struct mmsghdr msgs[UDP_MAX_BATCH];
	struct iovec iov[UDP_MAX_BATCH];
	size_t sent = 0;

	while (sent < n) {
		size_t m = n - sent > UDP_MAX_BATCH ? UDP_MAX_BATCH : n - sent;
		for (size_t i = 0; i < m; i++) {
			iov[i].iov_base = pkts[sent + i]->data;
			iov[i].iov_len = pkts[sent + i]->len;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = (void *)&to[sent + i];
			msgs[i].msg_hdr.msg_namelen = endpoint_len(&to[sent + i]);
		}
		int rc = sendmmsg(fd, msgs, (unsigned)m, 0);
		if (rc < 0) {
			if (errno == EAGAIN || errno == ENOBUFS) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				if (poll(&pfd, 1, 10) > 0)
					continue;
			}
			/* Skip the datagram the kernel refused (e.g. unreachable). */
			sent++;
			continue;
		}
		sent += (size_t)rc;
		if (rc == 0)
			break;
	}
	return sent;
}

int udp_send_one(int fd, const void *buf, size_t len, const union endpoint *to)
{
	ssize_t r = sendto(fd, buf, len, 0, &to->sa, endpoint_len(to));
	return r == (ssize_t)len ? 0 : -1;
}
