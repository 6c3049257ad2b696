/* hsflood.c - a handshake flood for tests/e2e/flood.sh (not part of vpngw).
 *
 *   hsflood MODE DST_IP PORT SRC_NET/PREFIX SECONDS [SERVER_PUB CLIENT_PRIV]
 *
 * Sends HS_INITs to DST_IP:PORT from a raw socket (IP_HDRINCL), each from
 * a random address of SRC_NET/PREFIX and a random port, in sendmmsg
 * batches, as fast as it can, for SECONDS. The test routes SRC_NET back
 * into the namespace this runs in, so nothing the gateway answers leaves
 * the lab. MODE:
 *   garbage  a valid CONTROL header, controlType 1, the right length, and
 *            random bytes for the rest (mac1 wrong);
 *   init     well-formed HS_INITs with a valid mac1 from CLIENT_PRIV to
 *            SERVER_PUB (base64 keys), made ahead of time (a ring of
 *            RING messages with increasing timestamps), so the flood runs
 *            at the rate of the socket and not of our own DH.
 * Prints one line: mode=... sent=N seconds=S rate=R (packets/s). SIGTERM
 * ends the flood early, the line printed all the same (flood.sh floods for
 * exactly as long as its pings take). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cookie.h"
#include "handshake.h"

#define BATCH 256
#define RING 1024
#define HDRS (sizeof(struct iphdr) + sizeof(struct udphdr))

static uint8_t ring[RING][HS_INIT_DGRAM_LEN];
static uint8_t pkts[BATCH][HDRS + HS_INIT_DGRAM_LEN];

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: cheap, and the addresses need no more */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static int key32(uint8_t out[32], const char *b64)
{
	size_t n = 0;
	if (sodium_base642bin(out, 32, b64, strlen(b64), " \n", &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != 32)
		return -1;
	return 0;
}

static void make_garbage(void)
{
	for (int i = 0; i < RING; i++) {
		struct wire_hdr h = { .type = WIRE_CONTROL, .payload_len = HS_INIT_DGRAM_LEN - WIRE_HDR_LEN };
		randombytes_buf(ring[i], sizeof(ring[i]));
		wire_encode(ring[i], &h);
		ring[i][WIRE_HDR_LEN] = HS_INIT;
	}
}

static int make_inits(const uint8_t server_pub[32], const uint8_t client_priv[32])
{
	struct cookie_keys k;
	cookie_keys_init(&k, server_pub);
	for (int i = 0; i < RING; i++) {
		struct noise_hs hs;
		struct hs_init in = { .ciphers = 0x6 };
		hs_timestamp(in.timestamp);
		in.timestamp[11] = (uint8_t)i; /* strictly increasing within a burst of the clock */
		if (hs_write_init(&hs, client_priv, server_pub, &in, NULL, ring[i]) != 0)
			return -1;
		noise_wipe(&hs);
		cookie_stamp_init(ring[i], &k, NULL);
	}
	return 0;
}

static volatile sig_atomic_t stop_now;

static void on_term(int sig)
{
	(void)sig;
	stop_now = 1;
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 8) {
		fprintf(stderr, "usage: hsflood garbage|init DST_IP PORT SRC_NET/PREFIX SECONDS [SERVER_PUB CLIENT_PRIV]\n");
		return 2;
	}
	const char *mode = argv[1];
	struct in_addr dst, net;
	char netstr[64];
	snprintf(netstr, sizeof(netstr), "%s", argv[4]);
	char *slash = strchr(netstr, '/');
	int prefix = slash ? atoi(slash + 1) : -1;
	if (slash)
		*slash = 0;
	double secs = atof(argv[5]);
	int port = atoi(argv[3]);
	if (inet_pton(AF_INET, argv[2], &dst) != 1 || inet_pton(AF_INET, netstr, &net) != 1 || prefix < 8 ||
	    prefix > 32 || port <= 0 || port > 65535 || secs <= 0 || secs > 60) {
		fprintf(stderr, "hsflood: bad address, prefix, port or seconds (at most 60)\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(&rng_state, sizeof(rng_state));
	rng_state |= 1;
	if (!strcmp(mode, "garbage") && argc == 6) {
		make_garbage();
	} else if (!strcmp(mode, "init") && argc == 8) {
		uint8_t pub[32], priv[32];
		if (key32(pub, argv[6]) != 0 || key32(priv, argv[7]) != 0) {
			fprintf(stderr, "hsflood: keys must be base64 of 32 bytes\n");
			return 2;
		}
		if (make_inits(pub, priv) != 0) {
			fprintf(stderr, "hsflood: cannot build an HS_INIT\n");
			return 1;
		}
		sodium_memzero(priv, sizeof(priv));
	} else {
		fprintf(stderr, "hsflood: mode garbage (no keys) or init (SERVER_PUB CLIENT_PRIV)\n");
		return 2;
	}

	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IPPROTO_RAW implies IP_HDRINCL */
	if (fd < 0) {
		fprintf(stderr, "hsflood: raw socket: %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	memset(msgs, 0, sizeof(msgs));
	uint32_t base = ntohl(net.s_addr), hostmask = prefix == 32 ? 0 : (0xffffffffu >> prefix);
	base &= ~hostmask;
	for (int i = 0; i < BATCH; i++) {
		struct iphdr *ip = (struct iphdr *)pkts[i];
		struct udphdr *udp = (struct udphdr *)(pkts[i] + sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)sizeof(pkts[i])); /* the kernel fills id and checksum */
		ip->daddr = dst.s_addr;
		udp->dest = htons((uint16_t)port);
		udp->len = htons((uint16_t)(sizeof(*udp) + HS_INIT_DGRAM_LEN));
		udp->check = 0; /* none: allowed over IPv4 */
		iov[i].iov_base = pkts[i];
		iov[i].iov_len = sizeof(pkts[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
	}

	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0) {
		fprintf(stderr, "hsflood: sigaction: %s\n", strerror(errno));
		return 1;
	}
	uint64_t start = mono_ns(), end = start + (uint64_t)(secs * 1e9), sent = 0, full = 0;
	unsigned next = 0;
	/* Bounded by the clock and by a count no machine reaches in 60 s. */
	for (uint64_t loops = 0; loops < 100000000ull; loops++) {
		if (stop_now || ((loops & 15) == 0 && mono_ns() >= end))
			break;
		for (int i = 0; i < BATCH; i++) {
			struct iphdr *ip = (struct iphdr *)pkts[i];
			struct udphdr *udp = (struct udphdr *)(pkts[i] + sizeof(*ip));
			uint64_t r = rnd();
			ip->saddr = htonl(base | ((uint32_t)r & hostmask));
			udp->source = htons((uint16_t)(1024 + (r >> 32) % 64512));
			memcpy(pkts[i] + HDRS, ring[next++ % RING], HS_INIT_DGRAM_LEN);
		}
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			sent += (uint64_t)n;
		else if (errno == ENOBUFS || errno == EAGAIN)
			full++;
		else if (n < 0 && errno != EINTR) {
			fprintf(stderr, "hsflood: sendmmsg: %s\n", strerror(errno));
			break;
		}
	}
	double took = (double)(mono_ns() - start) / 1e9;
	printf("mode=%s sent=%llu seconds=%.2f rate=%.0f queue_full_batches=%llu\n", mode, (unsigned long long)sent,
	       took, (double)sent / took, (unsigned long long)full);
	close(fd);
	return 0;
}
