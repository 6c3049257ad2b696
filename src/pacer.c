/* pacer.c - see pacer.h. */
#include "pacer.h"

#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>

void pacer_init(struct pacer *p, uint64_t rate_bps, uint64_t burst_ns, uint64_t now)
{
	p->rate_bps = rate_bps;
	p->burst = (int64_t)(rate_bps / 8 * burst_ns / 1000000000ull);
	if (p->burst < 3000)
		p->burst = 3000; /* at least two full-size datagrams */
	p->tokens = p->burst;
	p->last_ns = now;
	p->frac = 0;
}

#define FRAC_PER_BYTE 8000000000ull /* rate_bps x ns per byte */

static void refill(struct pacer *p, uint64_t now)
{
	if (now <= p->last_ns)
		return;
	uint64_t dt = now - p->last_ns;
	p->last_ns = now;
	if (dt >= 1000000000ull) { /* idle for a second: a full bucket */
		p->tokens = p->burst;
		p->frac = 0;
		return;
	}
	/* bytes = (rate x dt + frac) / 8e9, exactly, in 64 bits: rate x dt
	 * reaches 4e20 at 400 Gbit/s. Split dt at the millisecond: rate x
	 * whole ms (< 4e14) makes a byte per 8000; its remainder, in the same
	 * units as the sub-millisecond part, joins it (the sum stays below
	 * 8e9 + 4e17 + 8e9). */
	uint64_t ms_part = p->rate_bps * (dt / 1000000);
	uint64_t low = ms_part % 8000 * 1000000 + p->rate_bps * (dt % 1000000) + p->frac;
	p->tokens += (int64_t)(ms_part / 8000 + low / FRAC_PER_BYTE);
	p->frac = low % FRAC_PER_BYTE;
	if (p->tokens >= p->burst) {
		p->tokens = p->burst;
		p->frac = 0;
	}
}

int64_t pacer_budget(struct pacer *p, uint64_t now)
{
	if (!p->rate_bps)
		return INT64_MAX;
	refill(p, now);
	return p->tokens;
}

void pacer_consume(struct pacer *p, uint64_t bytes)
{
	if (p->rate_bps)
		p->tokens -= (int64_t)bytes;
}

uint64_t pacer_delay_ns(struct pacer *p, uint64_t now, uint64_t bytes)
{
	int64_t have = pacer_budget(p, now);
	if (have >= (int64_t)bytes)
		return 0;
	/* missing <= burst + bytes, so missing x 8e9 stays far below 2^64
	 * at any rate parse_bandwidth accepts; rounded up, so that at the time
	 * returned the bytes are there. */
	uint64_t missing = (uint64_t)((int64_t)bytes - have);
	return (missing * FRAC_PER_BYTE - p->frac + p->rate_bps - 1) / p->rate_bps;
}

int pacer_wait_us(struct pacer *p, uint64_t now, uint64_t bytes)
{
	/* Never for more than the bucket holds: the tokens that would come
	 * while it is full are lost, and at a low rate (a small bucket) the
	 * sender would fall behind its pace. */
	if (bytes > (uint64_t)p->burst)
		bytes = (uint64_t)p->burst;
	uint64_t ns = pacer_delay_ns(p, now, bytes);
	if (!ns)
		return 0;
	uint64_t us = (ns + 999) / 1000;
	if (us < PACER_TICK_US)
		return PACER_TICK_US;
	return us > INT_MAX ? INT_MAX : (int)us;
}

int pacer_sender_wait_us(struct pacer *p, uint64_t now, int mtu)
{
	if (!pacer_on(p))
		return 0;
	uint64_t dgram = (uint64_t)mtu + WIRE_HDR_LEN + WIRE_TAG_LEN + PACER_UNDERLAY_OVERHEAD;
	return pacer_wait_us(p, now, PACER_WAKE_DGRAMS * dgram);
}

int parse_bandwidth(const char *s, uint64_t *bps)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v > 0)) /* !(v > 0): NaN too */
		return -1;
	double mult = 1;
	if (!strcasecmp(end, "") || !strcasecmp(end, "bit"))
		mult = 1;
	else if (!strcasecmp(end, "kbit"))
		mult = 1e3;
	else if (!strcasecmp(end, "mbit"))
		mult = 1e6;
	else if (!strcasecmp(end, "gbit"))
		mult = 1e9;
	else
		return -1;
	v *= mult;
	if (!(v >= 64000 && v <= 400e9))
		return -1; /* below 64 kbit/s or above 400 Gbit/s is a typo */
	*bps = (uint64_t)v;
	return 0;
}
