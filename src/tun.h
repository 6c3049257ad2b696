/* tun.h - the TUN device, behind a small interface so another platform
 * (Wintun) can provide the same five calls. */
#ifndef VPNGW_TUN_H
#define VPNGW_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

struct tun {
	int fd;
	char name[16];
	bool tso;          /* the kernel hands us TCP (and UDP) super-packets */
	uint8_t *rbuf;     /* one read: offload header + up to 64 KB */
	size_t rlen;       /* bytes in rbuf of the super-packet being cut */
	bool gso_udp;      /* ... a UDP one (USO), not TCP */
	uint16_t mss;      /* ... its segment payload size */
	uint64_t rstamp_ns; /* ... when it was read (now_ns) */
	size_t seg_next, seg_total;
	/* Whether tun_write_batch merges runs of TCP segments (GSO TCPV4/6)
	 * and of UDP datagrams (GSO UDP_L4) into one write: what the kernel
	 * took at start (USO only from 6.2) until it refuses such a write. */
	bool merge_tcp, merge_udp;
	/* Reads dropped as malformed (a header we did not ask for, a
	 * checksum or super-packet we cannot finish or cut), for the reading
	 * thread to add to its counters and zero. */
	uint64_t rx_malformed;
};

/* Creates the device; name may be a template ("vpngw%d"). ipv6 false:
 * IPv6 is switched off on it (nothing IPv6 will be carried). Logs and
 * returns -1 on failure. */
int tun_open(struct tun *t, const char *name, bool ipv6);
/* The kernel's own queue in front of our reader; kept short so packets
 * wait in vpngw's queues, where they are counted and dropped smartly. */
#define TUN_TXQUEUELEN 64

void tun_close(struct tun *t);

/* Waits up to timeout_us (microseconds) for packets, then reads up to n of
 * them into pkts[i]->data, each stamped (stamp_ns) with when the kernel's
 * packet it came from was read; returns the count (0 on timeout), -1 on
 * error. */
int tun_read_batch(struct tun *t, struct pkt **pkts, size_t n, int timeout_us);
/* Sleeps until the TUN has packets or wake_fd is readable, up to
 * timeout_us. Returns TUN_READY_TUN and TUN_READY_WAKE as they are. */
#define TUN_READY_TUN 1
#define TUN_READY_WAKE 2
int tun_wait(struct tun *t, int wake_fd, int timeout_us);
/* Writes one packet as it is; safe beside another thread's batch writes. */
int tun_write_one(struct tun *t, const uint8_t *pkt, size_t len);
/* Writes n packets, merging runs of one TCP or UDP flow into
 * super-packets where the kernel takes them; returns how many packets (not
 * writes) the kernel took, and when written is not NULL sets written[i] to
 * whether it took pkts[i]. A merged write the kernel refuses (EINVAL) is
 * written packet by packet, and if the first of them goes (its headers
 * were the merged one's), that kind of merge is off from then on (logged
 * once). */
size_t tun_write_batch(struct tun *t, struct pkt **pkts, size_t n, bool *written);
/* The quantum, in MTUs, of a flow queue that feeds tun_write_batch. It
 * merges each flow's consecutive segments into one write; served a
 * packet per flow per turn, four bulk flows would leave it runs of a
 * quarter of a batch. A flow that was idle still goes first. */
#define TUN_WRITE_QUANTUM_MTUS 16

#endif
