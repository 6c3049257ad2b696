/* offload.c - see offload.h. */
#include "offload.h"

#include <string.h>

#include "bytes.h"

void offload_decode(struct offload *o, const uint8_t h[OFFLOAD_HDR_LEN])
{
	uint16_t v[4];
	o->flags = h[0];
	o->gso_type = h[1];
	memcpy(v, h + 2, sizeof(v)); /* hdr_len, gso_size, csum_start, csum_offset */
	o->gso_size = v[1];
	o->csum_start = v[2];
	o->csum_offset = v[3];
}

/* Sums 64 bits at a time in the machine's byte order: a ones' complement
 * sum does not care about byte order except for a final swap (RFC 1071),
 * and this loop runs over every byte of every TCP segment we cut. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof(w));
		acc += (w & 0xffffffffu) + (w >> 32);
	}
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, p, sizeof(w));
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, sizeof(w));
		acc += w;
		p += 2;
		len -= 2;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = __builtin_bswap16((uint16_t)acc);
#endif
	if (len)
		acc += (uint32_t)p[0] << 8;
	acc += sum;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int offload_finish_csum(uint8_t *pkt, size_t len, const struct offload *o)
{
	size_t at = (size_t)o->csum_start + o->csum_offset;
	if (!(o->flags & OFFLOAD_F_NEEDS_CSUM))
		return 0;
	if (o->csum_start >= len || at + 2 > len)
		return -1;
	/* The field already holds the pseudo-header sum: sum over it too. */
	uint16_t c = csum_fold(csum_add(0, pkt + o->csum_start, len - o->csum_start));
	put16(pkt + at, c);
	return 0;
}

/* The folded pseudo-header sum of an IPv4 packet's transport header of
 * l4len bytes, as a partial checksum field holds it (not inverted). */
static uint16_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = proto;
	put16(pseudo + 10, (uint16_t)l4len);
	return (uint16_t)~csum_fold(csum_add(0, pseudo, sizeof(pseudo)));
}

int l4_csum_pos(const uint8_t *pkt, size_t len, uint16_t *start, uint16_t *off)
{
	size_t l4;
	uint8_t proto;
	if (len >= 20 && pkt[0] >> 4 == 4) {
		l4 = (size_t)(pkt[0] & 15) * 4;
		proto = pkt[9];
		if (l4 < 20 || (get16(pkt + 6) & 0x3fff)) /* MF or an offset */
			return -1;
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		l4 = 40;
		proto = pkt[6];
	} else {
		return -1;
	}
	size_t field = proto == 6 ? 16 : proto == 17 ? 6 : 0;
	if (!field || len < l4 + field + 2)
		return -1;
	*start = (uint16_t)l4;
	*off = (uint16_t)field;
	return 0;
}

int csum_complete(uint8_t *pkt, size_t len)
{
	struct offload o = { .flags = OFFLOAD_F_NEEDS_CSUM };
	if (l4_csum_pos(pkt, len, &o.csum_start, &o.csum_offset) != 0 || offload_finish_csum(pkt, len, &o) != 0)
		return -1;
	/* In UDP a zero checksum means "none": a sum of zero is sent as ones. */
	uint8_t *field = pkt + o.csum_start + o.csum_offset;
	if (o.csum_offset == 6 && !field[0] && !field[1])
		field[0] = field[1] = 0xff;
	return 0;
}

int tso4_segment(const uint8_t *pkt, size_t len, uint16_t mss, size_t first, struct pkt **out,
		 size_t nout, size_t *total)
{
	if (len < 40 || pkt[0] >> 4 != 4 || pkt[9] != 6 || mss == 0)
		return -1;
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	if (ihl < 20 || len < ihl + 20)
		return -1;
	size_t thl = (size_t)(pkt[ihl + 12] >> 4) * 4;
	size_t hl = ihl + thl;
	if (thl < 20 || len < hl)
		return -1;
	size_t payload = len - hl;
	size_t nseg = payload ? (payload + mss - 1) / mss : 1;
	*total = nseg;
	/* The biggest segment: mss payload bytes, or all of it when it fits one. */
	if (hl + (payload < mss ? payload : mss) > PKT_MAX_IP)
		return -1;

	uint16_t id = get16(pkt + 4);
	uint32_t seq = (uint32_t)pkt[ihl + 4] << 24 | (uint32_t)pkt[ihl + 5] << 16 | (uint32_t)pkt[ihl + 6] << 8 | pkt[ihl + 7];
	uint8_t flags = pkt[ihl + 13];
	int n = 0;
	for (size_t i = first; i < nseg && (size_t)n < nout; i++, n++) {
		size_t off = i * mss;
		size_t plen = payload - off < mss ? payload - off : mss;
		if (!payload)
			plen = 0;
		uint8_t *d = out[n]->data;
		memcpy(d, pkt, hl);
		memcpy(d + hl, pkt + hl + off, plen);
		size_t tot = hl + plen;
		out[n]->len = (uint32_t)tot;
		/* IPv4: length, id, checksum. */
		put16(d + 2, (uint16_t)tot);
		put16(d + 4, (uint16_t)(id + i));
		put16(d + 10, 0);
		put16(d + 10, csum_fold(csum_add(0, d, ihl)));
		/* TCP: sequence, flags (FIN/PSH only on the last, CWR only on the
		 * first), the checksum field partial. */
		uint8_t *t = d + ihl;
		uint32_t s = seq + (uint32_t)off;
		t[4] = (uint8_t)(s >> 24);
		t[5] = (uint8_t)(s >> 16);
		t[6] = (uint8_t)(s >> 8);
		t[7] = (uint8_t)s;
		uint8_t f = flags;
		if (i + 1 < nseg)
			f &= (uint8_t)~0x09; /* FIN, PSH */
		if (i > 0)
			f &= (uint8_t)~0x80; /* CWR */
		t[13] = f;
		put16(t + 16, pseudo_sum(d, 6, thl + plen));
		out[n]->csum_partial = 1;
	}
	return n;
}

int tcp4_mergeable(const uint8_t *p, size_t len, struct tcp4_seg *s)
{
	if (len < 40 || p[0] != 0x45 || p[9] != 6)
		return 0;
	if ((p[6] & 0x3f) || p[7]) /* MF or a fragment offset */
		return 0;
	size_t total = get16(p + 2);
	if (total != len)
		return 0;
	s->ihl = 20;
	s->thl = (size_t)(p[20 + 12] >> 4) * 4;
	if (s->thl < 20 || len < 20 + s->thl)
		return 0;
	uint8_t f = p[20 + 13];
	if (!(f & 0x10) || (f & (0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80)))
		return 0;
	s->payload = len - 20 - s->thl;
	s->seq = (uint32_t)p[24] << 24 | (uint32_t)p[25] << 16 | (uint32_t)p[26] << 8 | p[27];
	return s->payload > 0;
}

int tcp4_continues(const uint8_t *pa, const struct tcp4_seg *a, const uint8_t *pb, const struct tcp4_seg *b)
{
	if (a->thl != b->thl || b->seq != a->seq + (uint32_t)a->payload)
		return 0;
	/* IP: TOS, DF, TTL, protocol, addresses. */
	if (pa[1] != pb[1] || pa[6] != pb[6] || pa[8] != pb[8] || memcmp(pa + 12, pb + 12, 8))
		return 0;
	const uint8_t *ta = pa + 20, *tb = pb + 20;
	/* Ports, ack, then offset/flags/window with PSH masked, then options. */
	if (memcmp(ta, tb, 4) || memcmp(ta + 8, tb + 8, 4) || ta[12] != tb[12] ||
	    (ta[13] & ~0x08) != (tb[13] & ~0x08) || memcmp(ta + 14, tb + 14, 2) ||
	    memcmp(ta + 20, tb + 20, a->thl - 20))
		return 0;
	return 1;
}

void tcp4_finish_super(uint8_t *buf, size_t len, const struct tcp4_seg *first, uint16_t mss, int psh,
		       uint8_t hdr[OFFLOAD_HDR_LEN])
{
	uint8_t *t = buf + first->ihl;
	put16(buf + 2, (uint16_t)len);
	put16(buf + 10, 0);
	put16(buf + 10, csum_fold(csum_add(0, buf, first->ihl)));
	if (psh)
		t[13] |= 0x08;
	/* Partial checksum: the kernel (or the NIC) adds the rest. */
	put16(t + 16, pseudo_sum(buf, 6, len - first->ihl));
	uint16_t v[4] = { (uint16_t)(first->ihl + first->thl), mss, (uint16_t)first->ihl, 16 };
	hdr[0] = OFFLOAD_F_NEEDS_CSUM;
	hdr[1] = OFFLOAD_GSO_TCPV4;
	memcpy(hdr + 2, v, sizeof(v));
}

size_t tcp4_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		  struct iovec *iov, size_t *niov, size_t *nseg)
{
	struct tcp4_seg first, last, next;
	if (!tcp4_mergeable(pkts[i]->data, pkts[i]->len, &first))
		return 0;
	size_t len = pkts[i]->len, mss = first.payload, merged = 1;
	const uint8_t *last_pkt = pkts[i]->data;
	int psh = 0;
	last = first;
	iov[0] = (struct iovec){ hdr, OFFLOAD_HDR_LEN };
	iov[1] = (struct iovec){ pkts[i]->data, len };
	/* Only the last segment may be shorter than the first. */
	for (size_t j = i + 1; j < n && last.payload == mss && merged < TCP4_MERGE_MAX; j++) {
		if (used[j] || !tcp4_mergeable(pkts[j]->data, pkts[j]->len, &next))
			continue;
		if (memcmp(pkts[j]->data + 12, last_pkt + 12, 8) || memcmp(pkts[j]->data + 20, last_pkt + 20, 4))
			continue; /* another flow */
		/* Same flow: it continues us, or the run ends here (order kept). */
		if (!tcp4_continues(last_pkt, &last, pkts[j]->data, &next) || next.payload > mss ||
		    len + next.payload > 65535)
			break;
		iov[1 + merged] = (struct iovec){ pkts[j]->data + 20 + next.thl, next.payload };
		len += next.payload;
		psh = (pkts[j]->data[33] & 0x08) != 0;
		last_pkt = pkts[j]->data;
		last = next;
		used[j] = true;
		merged++;
	}
	if (merged == 1)
		return 0;
	/* Only now, as the first packet's headers become the super-packet's. */
	tcp4_finish_super(pkts[i]->data, len, &first, (uint16_t)mss, psh, hdr);
	*niov = 1 + merged;
	*nseg = merged;
	return len;
}
