/* tun_linux.c - /dev/net/tun: reading and writing packets (netcfg_linux.c
 * configures the device). */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "offload.h"
#include "wake.h"

#define TUN_RBUF_SIZE (OFFLOAD_HDR_LEN + 65536)
/* UDP segmentation offload (Linux 6.2); older headers lack the names. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/* A gateway without an IPv6 pool carries no IPv6: keep the kernel from
 * sending link-local chatter (router solicitations, MLD) into the TUN.
 * (With IPv6, netcfg_link silences it by giving the device no link-local
 * address instead.) */
static void disable_ipv6(const char *ifname)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no IPv6 in this kernel: nothing to silence */
	if (write(fd, "1", 1) != 1)
		LOGW("msg=\"cannot disable IPv6 on the TUN device\" dev=%s error=\"%s\"", ifname, strerror(errno));
	close(fd);
}

int tun_open(struct tun *t, const char *name, bool ipv6)
{
	struct ifreq ifr = { 0 };
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		die_msg("open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	/* With the offload header the kernel may hand us 64 KB TCP super-packets
	 * (TSO) with checksums left partial; we cut and finish them. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) != 0) {
		die_msg("create TUN device %s: %s%s", name, strerror(errno),
			errno == EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		close(t->fd);
		t->fd = -1;
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	/* Now, while we may: a later address change can happen without root. */
	if (!ipv6)
		disable_ipv6(t->name);
	int hdr = OFFLOAD_HDR_LEN;
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) != 0) {
		die_msg("set TUN offload header size on %s: %s", t->name, strerror(errno));
		close(t->fd);
		t->fd = -1;
		return -1;
	}
	t->rbuf = malloc(TUN_RBUF_SIZE);
	if (!t->rbuf) {
		die_msg("out of memory for the TUN read buffer");
		close(t->fd);
		t->fd = -1;
		return -1;
	}
	/* The most the kernel takes, then less: UDP segmentation offload is
	 * 6.2's, TSO6 as old as TSO4, but a kernel may refuse either. */
	static const struct {
		unsigned flags;
		const char *lacking;
	} offers[] = {
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6, NULL },
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, "no UDP segmentation offload: UDP is read datagram by datagram" },
		{ TUN_F_CSUM | TUN_F_TSO4, "no IPv6 TSO: IPv6 TCP and UDP are read segment by segment" },
	};
	t->tso = false;
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]) && !t->tso; i++) {
		t->tso = ioctl(t->fd, TUNSETOFFLOAD, offers[i].flags) == 0;
		if (t->tso && offers[i].lacking)
			LOGW("msg=\"TUN offloads: %s\" dev=%s", offers[i].lacking, t->name);
		/* A kernel that cannot hand us UDP super-packets cannot take
		 * them either: before 6.2 a GSO UDP_L4 write is EINVAL. */
		t->merge_udp = t->tso && i == 0;
	}
	t->merge_tcp = t->tso;
	if (!t->tso)
		LOGW("msg=\"TUN offloads refused, reading packet by packet\" dev=%s error=\"%s\"", t->name, strerror(errno));
	return 0;
}

void tun_close(struct tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->rbuf);
	t->rbuf = NULL;
}

/* Continues cutting the super-packet in rbuf into pkts; returns how many. */
static size_t cut_pending(struct tun *t, struct pkt **pkts, size_t n)
{
	size_t total;
	const uint8_t *sp = t->rbuf + OFFLOAD_HDR_LEN;
	int got = t->gso_udp ? uso_segment(sp, t->rlen, t->mss, t->seg_next, pkts, n, &total)
			     : tso_segment(sp, t->rlen, t->mss, t->seg_next, pkts, n, &total);
	if (got < 0) {
		t->seg_next = t->seg_total = 0;
		t->rx_malformed++;
		return 0;
	}
	for (int i = 0; i < got; i++)
		pkts[i]->stamp_ns = t->rstamp_ns;
	t->seg_next += (size_t)got;
	t->seg_total = total;
	if (t->seg_next >= t->seg_total)
		t->seg_next = t->seg_total = 0;
	return (size_t)got;
}

/* One read into pkts; returns packets produced (0 on EAGAIN), -1 on error. */
static int read_one(struct tun *t, struct pkt **pkts, size_t n)
{
	ssize_t r = read(t->fd, t->rbuf, TUN_RBUF_SIZE);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		LOGE("msg=\"read from TUN failed\" dev=%s error=\"%s\"", t->name, strerror(errno));
		return -1;
	}
	/* A super-packet's segments may be handed out over several calls:
	 * their latency counts from this read. */
	t->rstamp_ns = now_ns();
	if (r < OFFLOAD_HDR_LEN) {
		t->rx_malformed++;
		return 0;
	}
	struct offload o;
	offload_decode(&o, t->rbuf);
	uint8_t *body = t->rbuf + OFFLOAD_HDR_LEN;
	size_t len = (size_t)r - OFFLOAD_HDR_LEN;
	if (o.gso_type == OFFLOAD_GSO_TCPV4 || o.gso_type == OFFLOAD_GSO_TCPV6 || o.gso_type == OFFLOAD_GSO_UDP_L4) {
		t->gso_udp = o.gso_type == OFFLOAD_GSO_UDP_L4;
		t->rlen = len;
		t->mss = o.gso_size;
		t->seg_next = 0;
		t->seg_total = 1;
		return (int)cut_pending(t, pkts, n);
	}
	if (o.gso_type != OFFLOAD_GSO_NONE) {
		t->rx_malformed++; /* not something we asked the kernel for */
		return 0;
	}
	/* A partial checksum where we would look for it stays partial. */
	uint16_t start, off;
	bool partial = (o.flags & OFFLOAD_F_NEEDS_CSUM) && l4_csum_pos(body, len, &start, &off) == 0 &&
		       start == o.csum_start && off == o.csum_offset;
	if (!partial && offload_finish_csum(body, len, &o) != 0) {
		t->rx_malformed++;
		return 0;
	}
	/* Longer than a buffer: keep what fits; its length still shows it is
	 * over the MTU, and it is dropped and counted as such. */
	size_t keep = len < PKT_MAX_IP ? len : PKT_MAX_IP;
	memcpy(pkts[0]->data, body, keep);
	pkts[0]->len = (uint32_t)keep;
	pkts[0]->csum_partial = partial;
	pkts[0]->stamp_ns = t->rstamp_ns;
	return 1;
}

int tun_read_batch(struct tun *t, struct pkt **pkts, size_t n, int timeout_us)
{
	size_t got = 0;
	if (t->seg_total)
		got = cut_pending(t, pkts, n);
	if (!got) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		/* With no time to wait, skip poll: a read that finds nothing is as cheap. */
		int rc = timeout_us ? poll_us(&pfd, 1, timeout_us) : 1;
		if (rc <= 0)
			return rc < 0 && errno != EINTR ? -1 : 0;
	}
	while (got < n && !t->seg_total) {
		int r = read_one(t, pkts + got, n - got);
		if (r < 0)
			return got ? (int)got : -1;
		if (r == 0 && !t->seg_total)
			break;
		got += (size_t)r;
	}
	return (int)got;
}

int tun_wait(struct tun *t, int wake_fd, int timeout_us)
{
	struct pollfd pfd[2] = { { .fd = t->fd, .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
	if (poll_us(pfd, 2, timeout_us) <= 0)
		return 0;
	return (pfd[0].revents & POLLIN ? TUN_READY_TUN : 0) | (pfd[1].revents & POLLIN ? TUN_READY_WAKE : 0);
}

/* A plain packet's offload header: all zero (no GSO, checksum to be
 * verified by the kernel as usual). */
static const uint8_t plain_hdr[OFFLOAD_HDR_LEN];

int tun_write_one(struct tun *t, const uint8_t *pkt, size_t len)
{
	struct iovec iov[2] = { { (void *)plain_hdr, sizeof(plain_hdr) }, { (void *)pkt, len } };
	return writev(t->fd, iov, 2) == (ssize_t)(sizeof(plain_hdr) + len) ? 0 : -1;
}

/* A packet whose checksum is partial goes to the kernel as such: it
 * completes it only if the packet leaves through a device that cannot. */
static int write_partial(struct tun *t, const uint8_t *pkt, size_t len)
{
	uint16_t v[4] = { 0, 0, 0, 0 }; /* hdr_len, gso_size, csum_start, csum_offset */
	uint8_t hdr[OFFLOAD_HDR_LEN] = { OFFLOAD_F_NEEDS_CSUM, OFFLOAD_GSO_NONE };
	if (l4_csum_pos(pkt, len, &v[2], &v[3]) != 0)
		return tun_write_one(t, pkt, len); /* the kernel's check drops it */
	memcpy(hdr + 2, v, sizeof(v));
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)pkt, len } };
	return writev(t->fd, iov, 2) == (ssize_t)(sizeof(hdr) + len) ? 0 : -1;
}

/* One packet as the batch has it, its checksum partial or complete. */
static int write_single(struct tun *t, const struct pkt *pk)
{
	return pk->csum_partial ? write_partial(t, pk->data, pk->len) : tun_write_one(t, pk->data, pk->len);
}

/* The kernel refused the merged write of the run that starts at pkts[i]
 * (its iovecs iov): its first packet's headers, which the merge rewrote,
 * come back from saved, and its packets go one by one, in order. Returns
 * how many went; then the kernel took the packets but not the merge, and
 * that kind of merge (*merge) is switched off. */
static size_t write_run_singly(struct tun *t, struct pkt **pkts, size_t n, size_t i, const bool *used,
			       const struct iovec *iov, size_t niov, const uint8_t *saved, size_t saved_len,
			       bool *merge, bool *written)
{
	bool member[n], first_went = false;
	size_t ok = 0;
	int refused = errno;
	memset(member, 0, sizeof(member));
	merge_set(pkts, n, i, used, iov, niov, member, true);
	memcpy(pkts[i]->data, saved, saved_len);
	for (size_t j = i; j < n; j++) {
		if (!member[j])
			continue;
		if (write_single(t, pkts[j]) == 0) {
			ok++;
			first_went |= j == i;
		} else if (written) {
			written[j] = false;
		}
	}
	/* The merged packet's headers were the first packet's: if the kernel
	 * refuses that one alone too, it was a bad packet (a peer's packets
	 * must not switch our merging off), not the merge. */
	if (first_went && *merge) {
		*merge = false;
		LOGW("msg=\"TUN refused a merged %s write; writing those packet by packet from now on\" dev=%s error=\"%s\"",
		     merge == &t->merge_udp ? "UDP" : "TCP", t->name, strerror(refused));
	}
	return ok;
}

/* Bytes of a packet's headers a merge may rewrite: IP (with IPv6's 40 or
 * IPv4's options) and TCP's at most, or UDP's. */
#define MERGE_HDR_MAX (60 + 60)

size_t tun_write_batch(struct tun *t, struct pkt **pkts, size_t n, bool *written)
{
	bool used[n];
	size_t ok = 0;

	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < n; i++) {
		if (written)
			written[i] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (used[i])
			continue;
		uint8_t hdr[OFFLOAD_HDR_LEN], saved[MERGE_HDR_MAX];
		struct iovec iov[TCP_MERGE_MAX + 1];
		size_t niov = 0, nseg = 0, merged = 0, saved_len = pkts[i]->len < MERGE_HDR_MAX ? pkts[i]->len : MERGE_HDR_MAX;
		bool *merge = &t->merge_tcp;
		memcpy(saved, pkts[i]->data, saved_len);
		if (t->merge_tcp)
			merged = tcp_merge(pkts, n, i, used, hdr, iov, &niov, &nseg);
		if (!merged && t->merge_udp) {
			merge = &t->merge_udp;
			merged = udp_merge(pkts, n, i, used, hdr, iov, &niov, &nseg);
		}
		if (merged) {
			ssize_t w = writev(t->fd, iov, (int)niov);
			if (w == (ssize_t)(OFFLOAD_HDR_LEN + merged))
				ok += nseg;
			else if (w < 0 && errno == EINVAL)
				ok += write_run_singly(t, pkts, n, i, used, iov, niov, saved, saved_len, merge, written);
			else if (written)
				merge_set(pkts, n, i, used, iov, niov, written, false);
			continue;
		}
		if (write_single(t, pkts[i]) == 0)
			ok++;
		else if (written)
			written[i] = false;
	}
	return ok;
}
