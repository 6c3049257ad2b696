/* pacer.h - a token bucket that paces what we send to just under the
 * underlay's rate (the `Bandwidth =` setting).
 *
 * Why: on a narrow link (a home uplink) the queue forms in the router's
 * FIFO in front of it, where a ping waits behind every bulk packet. Sending
 * a little slower than the link keeps that FIFO empty and moves the queue
 * into our flow queues, where pings go first and CoDel keeps bulk short. */
#ifndef VPNGW_PACER_H
#define VPNGW_PACER_H

#include <stdbool.h>
#include <stdint.h>

struct pacer {
	uint64_t rate_bps;  /* bits per second; 0 = no pacing */
	int64_t tokens;     /* bytes; may go negative by one packet */
	int64_t burst;      /* bytes */
	uint64_t last_ns;
	/* The fraction of a byte earned but not yet credited, in units of
	 * 1/8e9 byte (rate_bps x ns): at a low rate, asked often, each refill
	 * earns less than a byte, and dropping the fractions paced a 1 Mbit/s
	 * link asked every 10 us at 80% of its rate. */
	uint64_t frac;
};

/* burst_ns: how much sending time may be bunched up (a couple of ms). */
void pacer_init(struct pacer *p, uint64_t rate_bps, uint64_t burst_ns, uint64_t now);
static inline bool pacer_on(const struct pacer *p)
{
	return p->rate_bps != 0;
}
/* Bytes that may go out now (after refilling to now). */
int64_t pacer_budget(struct pacer *p, uint64_t now);
void pacer_consume(struct pacer *p, uint64_t bytes);
/* Nanoseconds until `bytes` may go out; 0 if now. */
uint64_t pacer_delay_ns(struct pacer *p, uint64_t now, uint64_t bytes);
/* How long a sender held back by the pacer sleeps before `bytes` (or a
 * full bucket, if less) may go, in microseconds (not poll()'s
 * milliseconds: rounded up to those, a ping behind the pacer waited up to
 * 1 ms): 0 if now, else that time, but at least PACER_TICK_US. Senders
 * ask for PACER_WAKE_DGRAMS full datagrams,
 * so that a saturated link costs a wake-up per batch on both ends, not
 * one per datagram: at 190 Mbit/s about 0.5 ms. */
#define PACER_TICK_US 100
#define PACER_WAKE_DGRAMS 8
int pacer_wait_us(struct pacer *p, uint64_t now, uint64_t bytes);

/* The IPv4 and UDP headers around each datagram: the link carries them too. */
#define PACER_UNDERLAY_OVERHEAD 28
/* Sending bunched up beyond the pace, at most: a couple of ms. */
#define PACER_BURST_NS (2 * 1000000ull)
/* How long a sender whose packets wait sleeps: pacer_wait_us for
 * PACER_WAKE_DGRAMS full datagrams of a tunnel with this MTU; 0 when it
 * does not pace. */
int pacer_sender_wait_us(struct pacer *p, uint64_t now, int mtu);

/* "190mbit", "1.5gbit", "800kbit", "50000000" (bits/s) -> bits/s; -1 on error. */
int parse_bandwidth(const char *s, uint64_t *bps);

#endif
