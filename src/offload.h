/* offload.h - the kernel's per-packet offload metadata on a TUN device
 * (struct virtio_net_hdr), and the jobs it leaves to us:
 *  - a packet whose checksum the kernel left partial (NEEDS_CSUM) stays
 *    so where the peer takes it, and is completed where it does not;
 *  - a TCP "super-packet" (TSO, IPv4 or IPv6, up to 64 KB) must be cut
 *    into segments of at most gso_size payload bytes, each a valid TCP
 *    packet, before sealing: the tunnel never fragments;
 *  - on the way out, segments of one flow are merged back.
 * Reading one 64 KB super-packet instead of 45 small ones saves the
 * sending host's kernel most of its per-packet work. Plain C, no syscalls:
 * the TUN code decodes the header, these functions do the byte work. */
#ifndef VPNGW_OFFLOAD_H
#define VPNGW_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pkt.h"

#define OFFLOAD_HDR_LEN 10           /* sizeof(struct virtio_net_hdr) */
#define OFFLOAD_F_NEEDS_CSUM 1
#define OFFLOAD_GSO_NONE 0
#define OFFLOAD_GSO_TCPV4 1
#define OFFLOAD_GSO_TCPV6 4
#define OFFLOAD_GSO_UDP_L4 5

struct offload {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t gso_size;
	uint16_t csum_start, csum_offset;
};

/* Decodes the 10-byte header (native byte order, as the legacy TUN uses). */
void offload_decode(struct offload *o, const uint8_t hdr[OFFLOAD_HDR_LEN]);

/* Internet checksum helpers. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t csum_fold(uint32_t sum);

/* Completes a partial checksum in place. -1 when offsets are out of range. */
int offload_finish_csum(uint8_t *pkt, size_t len, const struct offload *o);

/* Where a packet's TCP or UDP checksum is: *start the transport header's
 * offset, *off the field's offset in it (16 or 6). IPv4 that is not a
 * fragment, or IPv6 with TCP or UDP after at most four hop-by-hop, routing
 * or destination options headers. -1 otherwise. */
int l4_csum_pos(const uint8_t *pkt, size_t len, uint16_t *start, uint16_t *off);
/* Completes the checksum of a packet whose field holds the pseudo-header
 * sum (pkt->csum_partial). -1 when l4_csum_pos does not find it. */
int csum_complete(uint8_t *pkt, size_t len);

/* Writes segments first .. first+nout-1 of a TCP super-packet (IPv4, or
 * IPv6 as l4_csum_pos reads it) into out[i]->data (setting len), each with
 * at most mss payload bytes: the IP length fixed up (and the IPv4 id and
 * header checksum), the TCP sequence number and flags. The TCP checksum
 * is left partial (the pseudo-header sum, csum_partial set): summing
 * every payload byte is left to whoever needs it, usually nobody, as the
 * far end hands the segments to its kernel the same way.
 * Returns how many it wrote; *total gets the number of segments in all.
 * -1 when the packet is not well-formed TCP or a segment would not fit a
 * packet buffer. Header lengths come from the packet itself, never from
 * the kernel's hdr_len. */
int tso_segment(const uint8_t *pkt, size_t len, uint16_t mss, size_t first, struct pkt **out, size_t nout,
		size_t *total);

/* The same for a UDP super-packet (USO, IPv4 or IPv6): datagrams of at most
 * size payload bytes, each with its IP and UDP lengths (and the IPv4 id
 * and header checksum) fixed up and its UDP checksum left partial. */
int uso_segment(const uint8_t *pkt, size_t len, uint16_t size, size_t first, struct pkt **out, size_t nout,
		size_t *total);

/* Receive side: consecutive TCP segments of one flow are merged back into
 * one super-packet written with a GSO offload header, so the kernel (and
 * the receiving host's TCP) handle one packet instead of dozens. */
struct tcp_seg {
	size_t ihl, thl, payload; /* ihl: 20 (IPv4) or 40 (IPv6) */
	uint32_t seq;
};

/* A plain TCP packet that may be merged: IPv4 without options, not a
 * fragment, or IPv6 with TCP right after the fixed header; ACK set, none
 * of SYN/FIN/RST/URG/CWR/ECE, some payload. */
int tcp_mergeable(const uint8_t *p, size_t len, struct tcp_seg *s);
/* True when b directly continues a (same flow, addresses, TOS/traffic
 * class and flow label, TTL/hop limit, ack, window, options;
 * b.seq == a.seq + a.payload). */
int tcp_continues(const uint8_t *pa, const struct tcp_seg *a, const uint8_t *pb, const struct tcp_seg *b);
/* Turns the first segment's headers in buf into those of a super-packet
 * of len bytes: IP length (and IPv4 checksum), PSH from the last segment,
 * the TCP checksum field set to the pseudo-header sum, and the offload
 * header in hdr (NEEDS_CSUM, GSO TCPV4 or TCPV6, mss). */
void tcp_finish_super(uint8_t *buf, size_t len, const struct tcp_seg *first, uint16_t mss, int psh,
		      uint8_t hdr[OFFLOAD_HDR_LEN]);

/* Merges pkts[i] and the following packets of its flow (skipping other
 * flows, stopping at the first of its own that does not continue it, or
 * at TCP_MERGE_MAX segments) into one super-packet, without copying: it
 * is iov[0 .. *niov), the offload header (written to hdr), pkts[i] with
 * its headers rewritten in place, then the payload of each packet merged
 * (the kernel gathers them in its one copy). Marks the merged ones in
 * used[]. Returns the super-packet's length and sets *nseg, or 0 (and
 * changes nothing) when pkts[i] goes alone. */
#define TCP_MERGE_MAX 64
size_t tcp_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		 struct iovec *iov, size_t *niov, size_t *nseg);
/* The same for UDP: a run of datagrams of one flow, all of the first's
 * size but the last, which may be shorter, becomes one GSO UDP_L4 packet
 * (IPv4 without options, or IPv6 with UDP right after the fixed header).
 * The kernel hands it on as one, or splits it back into the very same
 * datagrams. At most TCP_MERGE_MAX of them. */
size_t udp_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		 struct iovec *iov, size_t *niov, size_t *nseg);
/* Sets flag[j] = value for each packet of the merge tcp_merge or
 * udp_merge just made from pkts[i] (iov, niov and used as it left them):
 * pkts[i] and those whose payload it gathered, for a caller that must
 * tell them apart from other merges' (a write the kernel refused). */
void merge_set(struct pkt *const *pkts, size_t n, size_t i, const bool *used, const struct iovec *iov, size_t niov,
	       bool *flag, bool value);

#endif
