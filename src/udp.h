/* udp.h - the one UDP socket of each side, batch I/O. */
#ifndef VPNGW_UDP_H
#define VPNGW_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "pkt.h"

union endpoint {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

socklen_t endpoint_len(const union endpoint *e);
bool endpoint_equal(const union endpoint *a, const union endpoint *b);
/* "192.0.2.1:51820" / "[2001:db8::1]:51820"; buf of at least 64. */
const char *endpoint_str(const union endpoint *e, char *buf, size_t len);
/* Resolves HOST:PORT (numeric or a name). Logs and returns -1 on failure. */
int endpoint_resolve(const char *spec, union endpoint *out);

/* Server: one dual-stack socket on [::]:port. */
int udp_open_server(unsigned short port);
/* Client: an unbound socket of the endpoint's family. */
int udp_open_client(int family);

/* Waits up to timeout_ms, then receives up to n datagrams into pkts[i]->buf
 * (data = buf, len set) and their sources. Returns the count, 0 on timeout,
 * -1 on error. */
int udp_recv_batch(int fd, struct pkt **pkts, union endpoint *from, size_t n, int timeout_ms);
/* Sends n datagrams (pkts[i]->data/len) to to[i]; returns how many left. */
size_t udp_send_batch(int fd, struct pkt **pkts, const union endpoint *to, size_t n);
int udp_send_one(int fd, const void *buf, size_t len, const union endpoint *to);

#endif
