/* fq.c - see fq.h. The CoDel state machine follows RFC 8289's reference
 * pseudocode; the flow scheduler follows RFC 8290 section 4. */
#include "fq.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum { FQ_LIST_NONE, FQ_LIST_NEW, FQ_LIST_OLD };

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t c = 1;
	while (c < n)
		c <<= 1;
	return c;
}

int fq_init(struct fq *q, uint32_t nflows, size_t cap_pkts, size_t cap_bytes, uint32_t quantum,
	    struct pool *pool)
{
	memset(q, 0, sizeof(*q));
	q->nflows = pow2_at_least(nflows ? nflows : 1);
	q->flows = calloc(q->nflows, sizeof(*q->flows));
	if (!q->flows)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	q->cap_pkts = cap_pkts;
	q->cap_bytes = cap_bytes;
	q->quantum = quantum < 256 ? 256 : quantum; /* a zero quantum would never serve */
	q->target_ns = FQ_TARGET_NS;
	q->interval_ns = FQ_INTERVAL_NS;
	q->hash_key = randombytes_random();
	q->pool = pool;
	return 0;
}

static void put_chain(struct pool *pool, struct pkt *p)
{
	struct pkt *batch[64];
	size_t n = 0;
	while (p) {
		batch[n++] = p;
		p = p->next;
		if (n == 64) {
			pool_put(pool, batch, n);
			n = 0;
		}
	}
	pool_put(pool, batch, n);
}

void fq_destroy(struct fq *q)
{
	if (!q->flows)
		return;
	for (uint32_t i = 0; i < q->nflows; i++)
		put_chain(q->pool, q->flows[i].head);
	pthread_mutex_destroy(&q->lock);
	free(q->flows);
	q->flows = NULL;
}

static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/* Transports whose first four bytes are the two ports. */
static bool has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

static uint32_t mix_ports(uint32_t h, const uint8_t *l4)
{
	uint32_t ports;
	memcpy(&ports, l4, 4);
	return mix(h ^ ports);
}

/* IPv6: the addresses, then the transport after any hop-by-hop, routing
 * and destination options headers, and its ports. Behind a fragment
 * header (44) none are taken: every fragment of a datagram, the first
 * one too, shares one queue, so none overtakes another. */
static uint32_t hash6(uint32_t h, const uint8_t *ip, size_t len)
{
	for (size_t i = 8; i < 40; i += 4) {
		uint32_t w;
		memcpy(&w, ip + i, 4);
		h = mix(h ^ w);
	}
	size_t at = 40;
	uint8_t nh = ip[6];
	for (int i = 0; i < 4 && (nh == 0 || nh == 43 || nh == 60) && len >= at + 8; i++) {
		nh = ip[at];
		at += ((size_t)ip[at + 1] + 1) * 8;
	}
	h = mix(h ^ nh);
	return has_ports(nh) && len >= at + 4 ? mix_ports(h, ip + at) : h;
}

uint32_t fq_flow_of(const struct fq *q, const uint8_t *ip, size_t len)
{
	uint32_t h = q->hash_key;
	if (len >= 40 && ip[0] >> 4 == 6)
		return hash6(h, ip, len) & (q->nflows - 1);
	if (len < 20 || ip[0] >> 4 != 4)
		return mix(h) & (q->nflows - 1);
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	uint32_t src, dst;
	memcpy(&src, ip + 12, 4);
	memcpy(&dst, ip + 16, 4);
	h = mix(h ^ src);
	h = mix(h ^ dst);
	h = mix(h ^ ip[9]);
	/* Ports of TCP, UDP and friends, unless this is a fragment: later
	 * ones have none, and the first goes with them, or the datagram's
	 * fragments would sit in two queues and leave out of order. */
	bool fragment = ((ip[6] & 0x3f) | ip[7]) != 0;
	if (!fragment && ihl >= 20 && len >= ihl + 4 && has_ports(ip[9]))
		h = mix_ports(h, ip + ihl);
	return h & (q->nflows - 1);
}

static void list_append(struct fq_list *l, struct fq_flow *f)
{
	f->next = NULL;
	if (l->tail)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
}

static struct fq_flow *list_pop(struct fq_list *l)
{
	struct fq_flow *f = l->head;
	if (f) {
		l->head = f->next;
		if (!l->head)
			l->tail = NULL;
		f->next = NULL;
	}
	return f;
}

static struct pkt *flow_pop(struct fq *q, struct fq_flow *f)
{
	struct pkt *p = f->head;
	if (!p)
		return NULL;
	f->head = p->next;
	if (!f->head)
		f->tail = NULL;
	p->next = NULL;
	f->backlog -= p->len;
	q->count--;
	q->bytes -= p->len;
	return p;
}

/* The flow holding the most bytes, among flows holding packets. */
static struct fq_flow *fattest(struct fq *q)
{
	struct fq_flow *best = NULL;
	for (uint32_t i = 0; i < q->nflows; i++) {
		struct fq_flow *f = &q->flows[i];
		if (f->head && (!best || f->backlog > best->backlog))
			best = f;
	}
	return best;
}

bool fq_push(struct fq *q, struct pkt **p, size_t n, uint64_t now)
{
	struct pkt *dropped = NULL;
	uint64_t drops = 0;

	pthread_mutex_lock(&q->lock);
	bool was_empty = q->count == 0;
	for (size_t i = 0; i < n; i++) {
		struct fq_flow *f = &q->flows[fq_flow_of(q, p[i]->data, p[i]->len)];
		p[i]->enq_ns = now;
		p[i]->next = NULL;
		if (f->tail)
			f->tail->next = p[i];
		else
			f->head = p[i];
		f->tail = p[i];
		f->backlog += p[i]->len;
		q->count++;
		q->bytes += p[i]->len;
		if (f->list == FQ_LIST_NONE) {
			f->list = FQ_LIST_NEW;
			f->deficit = (int32_t)q->quantum;
			list_append(&q->new_flows, f);
		}
	}
	/* Over the bound: shed from the head of the biggest flow, which is
	 * the one causing the queue (one scan per batch). */
	struct fq_flow *fat = NULL;
	while (q->count > q->cap_pkts || q->bytes > q->cap_bytes) {
		if (!fat || !fat->head)
			fat = fattest(q);
		struct pkt *d = fat ? flow_pop(q, fat) : NULL;
		if (!d)
			break;
		d->next = dropped;
		dropped = d;
		drops++;
	}
	pthread_mutex_unlock(&q->lock);

	put_chain(q->pool, dropped);
	if (drops)
		atomic_fetch_add_explicit(&q->st.overflow_drops, drops, memory_order_relaxed);
	return was_empty && n;
}

static uint64_t control_law(const struct fq *q, uint64_t t, uint32_t count)
{
	return t + (uint64_t)((double)q->interval_ns / sqrt((double)count));
}

static bool codel_should_drop(struct fq *q, struct fq_flow *f, const struct pkt *p, uint64_t now)
{
	if (!p) {
		f->first_above_ns = 0;
		return false;
	}
	if (ns_since(now, p->enq_ns) < q->target_ns || f->backlog <= q->quantum) {
		f->first_above_ns = 0;
		return false;
	}
	if (!f->first_above_ns) {
		f->first_above_ns = now + q->interval_ns;
		return false;
	}
	return now >= f->first_above_ns;
}

/* Congestion signal on p: true when p was marked CE and should still go
 * out; false when it went onto the drop chain. */
static bool signal_congestion(struct fq *q, struct pkt *p, struct pkt **dropped)
{
	if (ip_mark_ce(p->data, p->len)) {
		atomic_fetch_add_explicit(&q->st.ecn_marks, 1, memory_order_relaxed);
		return true;
	}
	p->next = *dropped;
	*dropped = p;
	atomic_fetch_add_explicit(&q->st.codel_drops, 1, memory_order_relaxed);
	return false;
}

static struct pkt *codel_dequeue(struct fq *q, struct fq_flow *f, uint64_t now, struct pkt **dropped)
{
	struct pkt *p = flow_pop(q, f);
	bool drop = codel_should_drop(q, f, p, now);

	if (f->dropping) {
		if (!drop) {
			f->dropping = false;
			return p;
		}
		while (f->dropping && now >= f->drop_next_ns) {
			f->count++;
			if (signal_congestion(q, p, dropped)) {
				f->drop_next_ns = control_law(q, f->drop_next_ns, f->count);
				return p;
			}
			p = flow_pop(q, f);
			if (!codel_should_drop(q, f, p, now))
				f->dropping = false;
			else
				f->drop_next_ns = control_law(q, f->drop_next_ns, f->count);
		}
		return p;
	}
	if (drop) {
		if (!signal_congestion(q, p, dropped)) {
			/* RFC 8289: the next packet goes through the same test
			 * (dodequeue), which resets first_above when it is below
			 * target or leaves at most one quantum behind. */
			p = flow_pop(q, f);
			codel_should_drop(q, f, p, now);
		}
		f->dropping = true;
		uint32_t delta = f->count - f->lastcount;
		f->count = delta > 1 && ns_since(now, f->drop_next_ns) < 16 * q->interval_ns ? delta : 1;
		f->lastcount = f->count;
		f->drop_next_ns = control_law(q, now, f->count);
	}
	return p;
}

size_t fq_pop(struct fq *q, struct pkt **out, size_t max, size_t budget, uint64_t now)
{
	struct pkt *dropped = NULL;
	size_t n = 0, bytes = 0;

	pthread_mutex_lock(&q->lock);
	while (n < max && (n == 0 || bytes < budget)) {
		struct fq_list *l = q->new_flows.head ? &q->new_flows : &q->old_flows;
		struct fq_flow *f = l->head;
		if (!f)
			break;
		if (f->deficit <= 0) {
			f->deficit += (int32_t)q->quantum;
			list_pop(l);
			f->list = FQ_LIST_OLD;
			list_append(&q->old_flows, f);
			continue;
		}
		struct pkt *p = codel_dequeue(q, f, now, &dropped);
		if (!p) {
			list_pop(l);
			/* An emptied new flow goes to the old list once, so a flow
			 * cannot stay "new" forever by sending one packet at a time. */
			if (l == &q->new_flows) {
				f->list = FQ_LIST_OLD;
				list_append(&q->old_flows, f);
			} else {
				f->list = FQ_LIST_NONE;
			}
			continue;
		}
		f->deficit -= (int32_t)p->len;
		out[n++] = p;
		bytes += p->len;
	}
	pthread_mutex_unlock(&q->lock);
	put_chain(q->pool, dropped);
	return n;
}

size_t fq_len(struct fq *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t fq_drops(struct fq *q)
{
	return atomic_load_explicit(&q->st.overflow_drops, memory_order_relaxed) +
	       atomic_load_explicit(&q->st.codel_drops, memory_order_relaxed);
}
