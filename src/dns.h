/* dns.h - the gateway's DNS proxy, its core: message checks, the table of
 * queries in flight with their upstream ids, tries and timeouts, TCP
 * length framing, upstream lists. No sockets: dnsproxy_linux.c does the
 * I/O and calls in here; this file calls back through struct dns_ops.
 *
 * A query from a client is checked (one question, well formed), stored in
 * a free slot of a fixed table under a fresh random upstream id, and sent
 * to an upstream. An answer is taken only when its id names a slot in
 * flight, it came from an upstream that slot was sent to (over the same
 * transport), and its question equals the query's; its id is then put
 * back to the client's and it goes to the client. A try that gets no
 * answer within DNS_TRY_NS, or fails at once (refused, unreachable), moves
 * to the next upstream; after DNS_TRIES tries the client gets SERVFAIL. */
#ifndef VPNGW_DNS_H
#define VPNGW_DNS_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "stats.h"

#define DNS_PORT 53
#define DNS_HDR_LEN 12
#define DNS_MAX_QUERY 512 /* a question and an OPT record fit many times over */
#define DNS_MAX_MSG 65535
#define DNS_MAX_INFLIGHT 1024
#define DNS_MAX_UPSTREAMS 8
#define DNS_TRIES 2                            /* the first, and one more on the next upstream */
#define DNS_TRY_NS (2 * 1000000000ull)         /* how long one try waits for its answer */
#define DNS_RECHECK_NS (30 * 1000000000ull)    /* a failing upstream gets new queries again after this */

#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NOTIMP 4

/* ------------------------------------------------------------ upstreams */

struct dns_server {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

/* "192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]:5353".
 * Returns 0, or -1 with *why saying what is wrong. */
int dns_parse_server(const char *s, struct dns_server *out, const char **why);
/* "192.0.2.53:53" or "[2001:db8::53]:53"; buf of at least 64. */
const char *dns_server_str(const struct dns_server *s, char *buf, size_t len);
bool dns_server_equal(const struct dns_server *a, const struct dns_server *b);

/* Fills out with the nameserver lines of a resolv.conf text (port 53), up
 * to max; each line it cannot use is reported through warn, naming it.
 * Returns the number filled. */
typedef void (*dns_warn_fn)(void *ctx, const char *item, const char *why);
size_t dns_parse_resolv_conf(const char *text, struct dns_server *out, size_t max, dns_warn_fn warn, void *ctx);

/* ------------------------------------------------------------- messages */

enum dns_verdict {
	DNS_QUERY_OK,     /* a standard query with one well-formed question */
	DNS_QUERY_NOTIMP, /* well formed, but not a standard query (opcode) */
	DNS_QUERY_BAD,    /* not a query we answer at all: dropped */
};

/* Checks a client's message; on OK and NOTIMP, *qend is the offset just
 * past the question (name, type, class). */
enum dns_verdict dns_check_query(const uint8_t *m, size_t len, size_t *qend);
/* An error answer to a checked query: its header and question, QR and RA
 * set, RD kept, rcode set, no other records. Returns its length (qend), or
 * 0 when cap is too small. */
size_t dns_error_reply(const uint8_t *query, size_t qend, unsigned rcode, uint8_t *out, size_t cap);

/* ------------------------------------------------------ TCP framing */

/* Messages over TCP each come after a two-byte big-endian length
 * (RFC 1035 4.2.2); a reader collects bytes and cuts them into messages. */
struct dns_frame {
	uint8_t *buf;
	size_t cap;     /* bytes buf holds: at least 2 + max_msg */
	size_t max_msg; /* a longer frame is an error */
	size_t len;     /* bytes in buf */
	size_t off;     /* start of the first frame not yet taken */
};

void dns_frame_init(struct dns_frame *f, uint8_t *buf, size_t cap, size_t max_msg);
void dns_frame_reset(struct dns_frame *f);
/* Where the next bytes go and how many fit; moves what is left to the
 * front first, so call it only once the messages taken are done with. */
uint8_t *dns_frame_space(struct dns_frame *f, size_t *room);
void dns_frame_added(struct dns_frame *f, size_t n);
/* 1: *msg and *len are the next message (inside buf, writable); 0: more bytes
 * needed; -1: the next frame is empty or longer than max_msg. */
int dns_frame_next(struct dns_frame *f, uint8_t **msg, size_t *len);
/* Writes the length and msg to out; returns 2 + len, or 0 if it does not fit. */
size_t dns_frame_put(uint8_t *out, size_t cap, const uint8_t *msg, size_t len);

/* ------------------------------------------------------------ the proxy */

/* Who asked, so the answer finds its way back; opaque to the core but for tcp. */
struct dns_client {
	bool tcp;
	uint16_t conn; /* TCP: the connection's index, and its generation */
	uint32_t gen;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr; /* UDP: the client's address */
	socklen_t addrlen;
};

enum { DNS_SENT = 0, DNS_SEND_FAILED = -1, DNS_SEND_BUSY = -2 };

struct dns_ops {
	/* Sends msg for the slot to upstream k, over TCP when tcp (replacing
	 * any connection the slot had). DNS_SENT; DNS_SEND_FAILED when the
	 * upstream cannot be reached (*why says why); DNS_SEND_BUSY when we
	 * are out of local resources (sockets, buffers). */
	int (*send)(void *ctx, unsigned slot, unsigned k, bool tcp, const uint8_t *msg, size_t len, const char **why);
	/* Sends an answer to a client; 0, or -1 when it could not go. */
	int (*reply)(void *ctx, const struct dns_client *to, const uint8_t *msg, size_t len);
	/* The slot is done: drop any connection it had. */
	void (*release)(void *ctx, unsigned slot, bool tcp);
	/* Upstream k started failing (why) or answers again (why NULL). */
	void (*upstream_state)(void *ctx, unsigned k, bool ok, const char *why);
	uint16_t (*rand16)(void *ctx);
	void *ctx;
};

struct dns_stats {
	counter_t queries_udp, queries_tcp; /* accepted from clients */
	counter_t answers;                  /* upstream answers relayed to clients */
	counter_t servfail;                 /* given up: SERVFAIL to the client */
	counter_t notimp;                   /* not a standard query: NOTIMP */
	counter_t timeouts;                 /* tries that got no answer in time */
	counter_t retries;                  /* tries after a query's first */
	counter_t upstream_errors;          /* sends or connections to an upstream that failed */
	counter_t dropped_full;             /* no room: the oldest query in flight evicted, or no socket */
	counter_t malformed;                /* client messages that are no query we take */
	counter_t unmatched;                /* upstream messages that answer nothing in flight */
	counter_t reply_drops;              /* answers that could not be sent to the client */
	atomic_uint inflight;
};

#define DNS_NIL 0xffffu

struct dns_entry {
	bool used, tcp;
	uint8_t tries;    /* sent so far */
	uint8_t upstream; /* of the latest try */
	uint8_t tried;    /* bit k: sent to upstream k */
	uint16_t client_id, up_id;
	uint16_t qlen, qend;
	uint16_t prev, next; /* deadline list, or the free list (next) */
	uint64_t deadline_ns;
	struct dns_client client;
	uint8_t query[DNS_MAX_QUERY]; /* as sent upstream: under up_id */
};

struct dns_upstream_health {
	bool down;
	uint64_t failed_ns;
	uint64_t answered_ns; /* its latest answer that matched */
};

struct dns_proxy {
	struct dns_entry *e; /* DNS_MAX_INFLIGHT */
	uint16_t *by_id;     /* 65536: slot + 1 of the upstream id, 0 = free */
	uint16_t free_head, head, tail;
	unsigned n;
	unsigned nup;
	struct dns_upstream_health up[DNS_MAX_UPSTREAMS];
	uint64_t try_ns;
	struct dns_ops ops;
	struct dns_stats st;
};

/* nup upstreams (1..DNS_MAX_UPSTREAMS), try_ns per try (0: DNS_TRY_NS).
 * -1 on a bad argument or no memory. */
int dns_init(struct dns_proxy *p, unsigned nup, uint64_t try_ns, const struct dns_ops *ops);
void dns_free(struct dns_proxy *p);

/* A message from a client (msg is rewritten in place). */
void dns_query(struct dns_proxy *p, const struct dns_client *from, uint8_t *msg, size_t len, uint64_t now);
/* A message from upstream k: over UDP slot = -1; over TCP the slot whose
 * connection it came on. Returns true when it answered a query. */
bool dns_answer(struct dns_proxy *p, unsigned k, int slot, uint8_t *msg, size_t len, uint64_t now);
/* A message that came over UDP on the socket the proxy opened for the
 * slot's try to upstream k (each try has its own socket, so its own random
 * source port): as dns_answer, but only for the query of that slot. A
 * forged answer must then guess the port as well as the id. */
bool dns_answer_on(struct dns_proxy *p, unsigned k, unsigned slot, uint8_t *msg, size_t len, uint64_t now);
/* The slot's latest try failed (its TCP connection broke): next try. */
void dns_try_failed(struct dns_proxy *p, unsigned slot, const char *why, uint64_t now);
/* The slot's try to upstream k failed (an ICMP error on its own socket):
 * next try, unless the slot's latest try went elsewhere by now. */
void dns_try_failed_on(struct dns_proxy *p, unsigned slot, unsigned k, const char *why, uint64_t now);
/* Upstream k failed (refused, unreachable): every query whose latest try
 * went there moves on. */
void dns_upstream_failed(struct dns_proxy *p, unsigned k, const char *why, uint64_t now);
/* Expires tries whose time is up. `now` must not go backwards. */
void dns_tick(struct dns_proxy *p, uint64_t now);
/* Milliseconds until the next try expires (rounded up), at most max_ms. */
int dns_next_timeout_ms(const struct dns_proxy *p, uint64_t now, int max_ms);

#endif
