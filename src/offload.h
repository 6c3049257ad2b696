/* offload.h - the kernel's per-packet offload metadata on a TUN device
 * (struct virtio_net_hdr), and the two jobs it leaves to us:
 *  - a packet whose checksum the kernel left partial (NEEDS_CSUM) must be
 *    finished before it is sealed, since the far end's kernel checks it;
 *  - a TCP "super-packet" (TSO, up to 64 KB) must be cut into segments of
 *    at most gso_size payload bytes, each a valid IPv4/TCP packet, before
 *    sealing: the tunnel never fragments.
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
 * offset, *off the field's offset in it (16 or 6). Only for the packets
 * whose checksum we leave partial: IPv4 without options' limits but not a
 * fragment, IPv6 with TCP or UDP as the first next header. -1 otherwise. */
int l4_csum_pos(const uint8_t *pkt, size_t len, uint16_t *start, uint16_t *off);
/* Completes the checksum of a packet whose field holds the pseudo-header
 * sum (pkt->csum_partial). -1 when l4_csum_pos does not find it. */
int csum_complete(uint8_t *pkt, size_t len);

/* Writes segments first .. first+nout-1 of a TCP/IPv4 super-packet into
 * out[i]->data (setting len), each with at most mss payload bytes, fixed-up
 * IP length, id and checksum, TCP sequence number and flags. The TCP
 * checksum is left partial (the pseudo-header sum, csum_partial set):
 * summing every payload byte is left to whoever needs it, usually nobody,
 * as the far end hands the segments to its kernel the same way.
 * Returns how many it wrote; *total gets the number of segments in all.
 * -1 when the packet is not well-formed TCP/IPv4 or a segment would not
 * fit a packet buffer. Header lengths come from the packet itself, never
 * from the kernel's hdr_len. */
int tso4_segment(const uint8_t *pkt, size_t len, uint16_t mss, size_t first, struct pkt **out,
		 size_t nout, size_t *total);


/* Receive side: consecutive TCP segments of one flow are merged back into
 * one super-packet written with a GSO offload header, so the kernel (and
 * the receiving host's TCP) handle one packet instead of dozens. */
struct tcp4_seg {
	size_t ihl, thl, payload;
	uint32_t seq;
};

/* A plain TCP/IPv4 packet that may be merged: no IP options, not a
 * fragment, ACK set, none of SYN/FIN/RST/URG/CWR/ECE, some payload. */
int tcp4_mergeable(const uint8_t *p, size_t len, struct tcp4_seg *s);
/* True when b directly continues a (same flow, addresses, TOS, TTL, ack,
 * window, options; b.seq == a.seq + a.payload). */
int tcp4_continues(const uint8_t *pa, const struct tcp4_seg *a, const uint8_t *pb, const struct tcp4_seg *b);
/* Turns the merged packet in buf (first segment's headers + all payloads,
 * total len bytes) into a valid super-packet: IP length and checksum, PSH
 * from the last segment, the TCP checksum field set to the pseudo-header
 * sum, and the offload header in hdr (NEEDS_CSUM, GSO TCPV4, mss). */
void tcp4_finish_super(uint8_t *buf, size_t len, const struct tcp4_seg *first, uint16_t mss, int psh,
		       uint8_t hdr[OFFLOAD_HDR_LEN]);

/* Merges pkts[i] and the following packets of its flow (skipping other
 * flows, stopping at the first of its own that does not continue it, or
 * at TCP4_MERGE_MAX segments) into one super-packet, without copying: it
 * is iov[0 .. *niov), the offload header (written to hdr), pkts[i] with
 * its headers rewritten in place, then the payload of each packet merged
 * (the kernel gathers them in its one copy). Marks the merged ones in
 * used[]. Returns the super-packet's length and sets *nseg, or 0 (and
 * changes nothing) when pkts[i] goes alone. */
#define TCP4_MERGE_MAX 64
size_t tcp4_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		  struct iovec *iov, size_t *niov, size_t *nseg);

#endif
