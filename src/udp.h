/* udp.h - the one UDP socket of each side, batch I/O. */
#ifndef VPNGW_UDP_H
#define VPNGW_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pkt.h"

/* A peer's address, and ours that its datagram was sent to: replies leave
 * from that one, so that a gateway with several addresses answers from the
 * address the client knows (and its NAT expects). */
struct endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
	struct in6_addr local; /* IPv4 v4-mapped; all zero: the kernel chooses */
};

socklen_t endpoint_len(const struct endpoint *e);
/* The same peer address and port (our local address aside). */
bool endpoint_equal(const struct endpoint *a, const struct endpoint *b);
/* The same peer, reached from the same local address. */
bool endpoint_same_path(const struct endpoint *a, const struct endpoint *b);
/* "192.0.2.1:51820" / "[2001:db8::1]:51820"; buf of at least 64. */
const char *endpoint_str(const struct endpoint *e, char *buf, size_t len);
/* Resolves HOST:PORT (numeric or a name); -1 with the reason in err. */
int endpoint_resolve(const char *spec, struct endpoint *out, char *err, size_t errlen);
/* HOST is a name (to resolve again when the gateway stops answering). */
bool endpoint_is_name(const char *spec);

/* Server: dual-stack sockets on [::]:port in one SO_REUSEPORT group. A
 * classic BPF program in the kernel steers every CONTROL datagram to the
 * last of them (*ctl_fd), so a flood of handshake messages queues and is
 * dropped there, never in front of DATA, and spreads DATA and KEEPALIVE
 * over the UDP_DATA_SOCKS others by clientId. A socket's buffer is a FIFO
 * we cannot schedule; with one per few clients, a client that fills its
 * own does not delay the others (the receiver serves them in turn).
 * Fills data[] and *ndata. When the kernel cannot steer, *ndata is 1,
 * *ctl_fd -1 and everything arrives on data[0] (with a warning).
 * Returns 0, or -1 (logged). */
#define UDP_DATA_SOCKS 16
int udp_open_server(unsigned short port, int data[UDP_DATA_SOCKS], unsigned *ndata, int *ctl_fd);
/* Client: an unbound socket of the endpoint's family. */
int udp_open_client(int family);
/* Marks what the socket sends, so policy routing keeps it out of a full
 * tunnel. Logs and returns -1 on failure. */
int udp_set_mark(int fd, uint32_t mark);

/* The receiving side of one socket or of several read in turn. With UDP
 * GRO the kernel hands over runs of same-size datagrams as one buffer;
 * they are split here into pool packets, and what does not fit into one
 * call's packets waits for the next call. With several sockets, each
 * pass polls them all and then reads one batch from each that was
 * readable, so none waits longer than a pass however full another is. */
#define UDP_RX_BUFS 8
/* With several sockets, a batch from one of them is at most this many
 * buffers (with GRO, about 45 datagrams each): what a datagram on another
 * socket waits for before its turn. */
#define UDP_RX_FAIR_BUFS 2
#define UDP_RX_BUF_SIZE 65536

struct udp_rx {
	int fds[UDP_DATA_SOCKS];
	unsigned nfds;
	uint32_t ready;            /* sockets of this pass not yet read */
	unsigned fill;             /* buffers per batch: UDP_RX_BUFS, or UDP_RX_FAIR_BUFS with several sockets */
	bool gro;
	uint8_t *bufs[UDP_RX_BUFS];
	size_t lens[UDP_RX_BUFS];
	size_t seg[UDP_RX_BUFS];   /* segment size (GRO) or the datagram's length */
	uint8_t ecn[UDP_RX_BUFS];  /* the outer ECN field */
	struct endpoint from[UDP_RX_BUFS];
	unsigned count, cur;       /* buffers received, the one being split */
	uint64_t stamp_ns;         /* when they were received (now_ns) */
	size_t off;                /* offset into bufs[cur] */
};

/* Enables GRO where the kernel has it, on each of the nfds sockets (1 to
 * UDP_DATA_SOCKS). -1 on allocation failure. */
int udp_rx_init(struct udp_rx *rx, const int *fds, unsigned nfds);
void udp_rx_free(struct udp_rx *rx);
/* Waits up to timeout_ms for fd to have a datagram: 1, 0 on timeout, -1. */
int udp_wait(int fd, int timeout_ms);
/* Plain receive, no GRO, no waiting: up to n datagrams into pkts. Returns
 * the count (0: none), -1 on error. */
int udp_recv_batch(int fd, struct pkt **pkts, struct endpoint *from, size_t n);
/* Waits up to timeout_us (unless datagrams are pending), then fills up to
 * n packets (len set; len 0 marks a datagram too big to be ours; ecn = the
 * outer ECN field) and their sources. Returns the count, 0 on timeout, -1
 * on error. The packets are views (pkt.h): data points into rx's buffers,
 * valid until a later call reads the socket again; the caller opens them
 * into their own buffers or copies them there (pkt_own) before that. */
int udp_rx_batch(struct udp_rx *rx, struct pkt **pkts, struct endpoint *from, size_t n, int timeout_us);

/* Sends n datagrams (pkts[i]->data/len, outer ECN field pkts[i]->ecn) to
 * to[i]; runs of equal-size datagrams to one endpoint go as one UDP GSO
 * send where the kernel allows it. Returns how many the kernel accepted;
 * when sent is not NULL, sent[i] says whether datagram i was one of them. */
size_t udp_send_batch(int fd, struct pkt **pkts, const struct endpoint *to, size_t n, bool *sent);
int udp_send_one(int fd, const void *buf, size_t len, const struct endpoint *to);

/* Datagrams the kernel dropped at these sockets since they were opened,
 * mostly because a receive buffer was full: the one queue in front of us
 * that we cannot drain faster. A run the kernel had merged (GRO) counts
 * once. Any thread may ask. */
uint64_t udp_drops(const int *fds, unsigned n);

#endif
