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
}

static void refill(struct pacer *p, uint64_t now)
{
	if (now <= p->last_ns)
		return;
	uint64_t dt = now - p->last_ns;
	if (dt >= 1000000000ull) { /* idle for a second: a full bucket */
		p->tokens = p->burst;
		p->last_ns = now;
		return;
	}
	/* Split to avoid overflow: bytes = rate/8 * dt / 1e9. */
	int64_t add = (int64_t)(p->rate_bps / 8 * (dt / 1000) / 1000000 +
				p->rate_bps / 8 * (dt % 1000) / 1000000000);
	if (add <= 0)
		return; /* keep last_ns so fractions accumulate */
	p->tokens += add;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	p->last_ns = now;
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
	uint64_t missing = (uint64_t)((int64_t)bytes - have);
	return missing * 8 * 1000000000ull / p->rate_bps + 1;
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
	if (errno || end == s || v <= 0)
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
	if (v < 64000 || v > 400e9)
		return -1; /* below 64 kbit/s or above 400 Gbit/s is a typo */
	*bps = (uint64_t)v;
	return 0;
}
