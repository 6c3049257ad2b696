/* pkt.h - packet buffers and the pool they come from.
 *
 * A packet lives in one fixed buffer for its whole trip through vpngw:
 * the IP packet sits after WIRE_HDR_LEN bytes of headroom so the header
 * can be written in front of it and the AEAD tag after it, in place. A
 * received datagram is the exception until it is opened: a view into the
 * receive buffer (pkt_is_view), decrypted from there into buf. */
#ifndef VPNGW_PKT_H
#define VPNGW_PKT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

#define PKT_BUF_SIZE 2048
#define PKT_HEADROOM WIRE_HDR_LEN
#define PKT_MAX_IP (PKT_BUF_SIZE - PKT_HEADROOM - WIRE_TAG_LEN)

struct pkt {
	uint8_t *data;     /* start of the bytes in use */
	uint32_t len;
	uint64_t stamp_ns; /* when it entered vpngw, for latency figures */
	void *peer;        /* owner's routing decision, if any */
	struct pkt *next;  /* link inside a flow queue */
	uint64_t enq_ns;   /* when it entered its current queue (CoDel) */
	uint8_t ecn;       /* the outer header's ECN field, sent or received */
	/* The TCP/UDP checksum field holds only the pseudo-header sum (the
	 * kernel's CHECKSUM_PARTIAL): whoever puts the packet on a wire, or
	 * hands it to a peer that cannot take it so, completes it. */
	uint8_t csum_partial;
	uint8_t buf[PKT_BUF_SIZE];
};

static inline void pkt_reset(struct pkt *p)
{
	p->data = p->buf + PKT_HEADROOM;
	p->len = 0;
	p->peer = NULL;
	p->next = NULL;
	p->ecn = 0;
	p->csum_partial = 0;
}

/* A received datagram still in the receiver's buffer (udp_rx_batch hands
 * them out so, to be opened straight into buf): data points outside buf. */
static inline bool pkt_is_view(const struct pkt *p)
{
	uintptr_t d = (uintptr_t)p->data, b = (uintptr_t)p->buf;
	return d < b || d >= b + PKT_BUF_SIZE;
}

/* Copies a view's bytes into the packet's own buffer (datagram at buf),
 * for a packet that must outlive the receive batch or be written to. */
static inline void pkt_own(struct pkt *p)
{
	if (!pkt_is_view(p))
		return;
	memcpy(p->buf, p->data, p->len);
	p->data = p->buf;
}

struct pool;

/* n buffers, allocated once. NULL on allocation failure. */
struct pool *pool_new(size_t n);
void pool_free(struct pool *pl);
/* Takes up to n buffers (reset); returns how many it got. */
size_t pool_get(struct pool *pl, struct pkt **out, size_t n);
void pool_put(struct pool *pl, struct pkt **pkts, size_t n);
size_t pool_available(struct pool *pl);

#endif
