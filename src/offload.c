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
	/* The field already holds the pseudo-header sum: sum over it too. A
	 * sum of zero goes out as ones, as the kernel writes it: in UDP a
	 * zero field means "no checksum" (not allowed over IPv6), and for
	 * TCP the two are the same number. */
	uint16_t c = csum_fold(csum_add(0, pkt + o->csum_start, len - o->csum_start));
	put16(pkt + at, c ? c : 0xffff);
	return 0;
}

/* The pseudo-header's addresses and protocol, folded to 16 bits: the
 * part of it that is the same for every segment of a super-packet. dst6:
 * an IPv6 packet's final destination (v6_final_dst). */
static uint32_t pseudo_base(const uint8_t *ip, const uint8_t *dst6, uint8_t proto)
{
	uint32_t sum = ip[0] >> 4 == 6 ? csum_add(csum_add(0, ip + 8, 16), dst6, 16) : csum_add(0, ip + 12, 8);
	return (uint16_t)~csum_fold((uint16_t)~csum_fold(sum) + (uint32_t)proto);
}

/* The destination an IPv6 packet's pseudo-header names (RFC 8200 8.1):
 * the final one. Behind a routing header that still has segments left
 * that is in the routing header: its only address (type 2, Mobile IPv6),
 * the first of its segment list (type 4, segment routing), or the last
 * address (type 0). NULL for a routing header we cannot read (type 3's
 * compressed addresses). l4: where the transport header starts. */
static const uint8_t *v6_final_dst(const uint8_t *pkt, size_t l4)
{
	uint8_t nh = pkt[6];
	for (size_t at = 40; at < l4 && (nh == 0 || nh == 43 || nh == 60); at += ((size_t)pkt[at + 1] + 1) * 8) {
		const uint8_t *rh = pkt + at;
		size_t rhlen = ((size_t)rh[1] + 1) * 8;
		if (nh == 43 && rh[3]) { /* segments left */
			if ((rh[2] == 2 || rh[2] == 4) && rhlen >= 24)
				return rh + 8;
			if (rh[2] == 0 && rhlen >= 24)
				return rh + rhlen - 16;
			return NULL;
		}
		nh = rh[0];
	}
	return pkt + 24;
}

/* The folded pseudo-header sum for a transport header of l4len bytes, as
 * a partial checksum field holds it (not inverted). */
static uint16_t pseudo_add_len(uint32_t base, size_t l4len)
{
	return (uint16_t)~csum_fold(base + (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff));
}

/* For the merged packets, whose IPv6 transport header follows the fixed
 * header (tcp_mergeable, udp_mergeable). */
static uint16_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	return pseudo_add_len(pseudo_base(ip, ip + 24, proto), l4len);
}

/* The transport header's offset and protocol: IPv4 that is not a
 * fragment, or IPv6 after any hop-by-hop, routing and destination options
 * headers (at most four of them). -1 for anything else. */
static int l4_of(const uint8_t *pkt, size_t len, size_t *l4, uint8_t *proto)
{
	if (len >= 20 && pkt[0] >> 4 == 4) {
		*l4 = (size_t)(pkt[0] & 15) * 4;
		*proto = pkt[9];
		return *l4 >= 20 && *l4 <= len && !(get16(pkt + 6) & 0x3fff) ? 0 : -1; /* MF, offset */
	}
	if (len < 40 || pkt[0] >> 4 != 6)
		return -1;
	size_t at = 40;
	uint8_t nh = pkt[6];
	for (int i = 0; i < 4 && (nh == 0 || nh == 43 || nh == 60); i++) {
		if (len < at + 8)
			return -1;
		nh = pkt[at];
		at += ((size_t)pkt[at + 1] + 1) * 8;
	}
	if (nh == 0 || nh == 43 || nh == 60 || at > len)
		return -1;
	*l4 = at;
	*proto = nh;
	return 0;
}

int l4_csum_pos(const uint8_t *pkt, size_t len, uint16_t *start, uint16_t *off)
{
	size_t l4;
	uint8_t proto;
	if (l4_of(pkt, len, &l4, &proto) != 0)
		return -1;
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
	if (l4_csum_pos(pkt, len, &o.csum_start, &o.csum_offset) != 0)
		return -1;
	return offload_finish_csum(pkt, len, &o);
}

/* An IPv4 header's sum without its length, id and checksum fields,
 * folded to 16 bits: what its segments share. */
static uint32_t ip4_base(const uint8_t *ip, size_t ihl)
{
	uint8_t h[60];
	memcpy(h, ip, ihl);
	memset(h + 2, 0, 4);
	memset(h + 10, 0, 2);
	return (uint16_t)~csum_fold(csum_add(0, h, ihl));
}

/* A segment's (or a merged packet's) IP header for its new length tot:
 * the IPv6 payload length, or the IPv4 total length, id and checksum,
 * the latter from ip_sum (ip4_base of the header): the header is only
 * written, never read. */
static void set_ip_len(uint8_t *d, bool v4, uint32_t ip_sum, size_t tot, uint16_t id)
{
	if (!v4) {
		put16(d + 4, (uint16_t)(tot - 40));
		return;
	}
	put16(d + 2, (uint16_t)tot);
	put16(d + 4, id);
	put16(d + 10, csum_fold(ip_sum + (uint32_t)tot + id));
}

/* Cuts the TCP or UDP (proto) super-packet pkt (len bytes, headers hl
 * bytes of which the transport header starts at ihl) into segments
 * first.. of at most size payload bytes each: headers copied, IP length
 * (and IPv4 id) fixed up, then the transport header's own fields, the
 * checksum left partial.
 * A segment is only written here, never read back: the sums come from
 * the source's headers, once per super-packet. Summing the segment's own
 * header made its first load wait for the copy's stores, on every
 * segment (in perf, the costliest instruction of the sending thread's own
 * code). */
static int cut(const uint8_t *pkt, size_t len, uint8_t proto, size_t ihl, size_t hl, uint16_t size, size_t first,
	       struct pkt **out, size_t nout, size_t *total)
{
	bool tcp = proto == 6, v4 = pkt[0] >> 4 == 4;
	size_t payload = len - hl;
	size_t nseg = payload ? (payload + size - 1) / size : 1;
	*total = nseg;
	/* The biggest segment: size payload bytes, or all of it when it fits one. */
	if (hl + (payload < size ? payload : size) > PKT_MAX_IP)
		return -1;
	uint16_t id = v4 ? get16(pkt + 4) : 0;
	uint32_t seq = tcp ? get32(pkt + ihl + 4) : 0;
	uint8_t flags = tcp ? pkt[ihl + 13] : 0;
	const uint8_t *dst6 = v4 ? NULL : v6_final_dst(pkt, ihl);
	if (!v4 && !dst6)
		return -1;
	uint32_t ip_sum = v4 ? ip4_base(pkt, ihl) : 0, l4_sum = pseudo_base(pkt, dst6, proto);
	int n = 0;
	for (size_t i = first; i < nseg && (size_t)n < nout; i++, n++) {
		size_t off = i * size, plen = payload ? (payload - off < size ? payload - off : size) : 0;
		size_t tot = hl + plen;
		uint8_t *d = out[n]->data, *t = d + ihl;
		memcpy(d, pkt, hl);
		memcpy(d + hl, pkt + hl + off, plen);
		out[n]->len = (uint32_t)tot;
		out[n]->csum_partial = 1;
		set_ip_len(d, v4, ip_sum, tot, (uint16_t)(id + i));
		if (!tcp) {
			put16(t + 4, (uint16_t)(8 + plen));
			put16(t + 6, pseudo_add_len(l4_sum, 8 + plen));
			continue;
		}
		/* TCP: sequence, flags (FIN/PSH only on the last, CWR only on
		 * the first). */
		put32(t + 4, seq + (uint32_t)off);
		uint8_t f = flags;
		if (i + 1 < nseg)
			f &= (uint8_t)~0x09; /* FIN, PSH */
		if (i > 0)
			f &= (uint8_t)~0x80; /* CWR */
		t[13] = f;
		put16(t + 16, pseudo_add_len(l4_sum, tot - ihl));
	}
	return n;
}

int uso_segment(const uint8_t *pkt, size_t len, uint16_t size, size_t first, struct pkt **out, size_t nout,
		size_t *total)
{
	size_t ihl;
	uint8_t proto;
	if (size == 0 || l4_of(pkt, len, &ihl, &proto) != 0 || proto != 17 || len < ihl + 8)
		return -1;
	return cut(pkt, len, proto, ihl, ihl + 8, size, first, out, nout, total);
}

int tso_segment(const uint8_t *pkt, size_t len, uint16_t mss, size_t first, struct pkt **out, size_t nout,
		size_t *total)
{
	size_t ihl;
	uint8_t proto;
	if (mss == 0 || l4_of(pkt, len, &ihl, &proto) != 0 || proto != 6 || len < ihl + 20)
		return -1;
	size_t thl = (size_t)(pkt[ihl + 12] >> 4) * 4;
	if (thl < 20 || len < ihl + thl)
		return -1;
	return cut(pkt, len, proto, ihl, ihl + thl, mss, first, out, nout, total);
}

int tcp_mergeable(const uint8_t *p, size_t len, struct tcp_seg *s)
{
	if (len >= 60 && p[0] >> 4 == 6) {
		if (p[6] != 6 || (size_t)get16(p + 4) + 40 != len)
			return 0; /* not TCP right after the fixed header */
		s->ihl = 40;
	} else if (len >= 40 && p[0] == 0x45 && p[9] == 6) {
		if ((p[6] & 0x3f) || p[7]) /* MF or a fragment offset */
			return 0;
		if (get16(p + 2) != len)
			return 0;
		s->ihl = 20;
	} else {
		return 0;
	}
	const uint8_t *t = p + s->ihl;
	s->thl = (size_t)(t[12] >> 4) * 4;
	if (s->thl < 20 || len < s->ihl + s->thl)
		return 0;
	uint8_t f = t[13];
	if (!(f & 0x10) || (f & (0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80)))
		return 0;
	s->payload = len - s->ihl - s->thl;
	s->seq = get32(t + 4);
	return s->payload > 0;
}

/* Both segments' addresses and ports: the flow, whatever its version. */
static bool same_flow(const uint8_t *pa, const struct tcp_seg *a, const uint8_t *pb, const struct tcp_seg *b)
{
	if (a->ihl != b->ihl)
		return false;
	size_t at = a->ihl == 40 ? 8 : 12, alen = a->ihl == 40 ? 32 : 8;
	return !memcmp(pa + at, pb + at, alen) && !memcmp(pa + a->ihl, pb + b->ihl, 4);
}

/* Whether p, a packet that cannot join a run, may belong to the run's
 * flow (first: the run's first packet, ihl its IP header's length, proto
 * its transport): then the run ends before it, or the merged packet would
 * overtake it. Fragments and headers l4_of does not follow may: without
 * ports to tell, the same addresses are enough. */
static bool may_share_flow(const uint8_t *first, size_t ihl, uint8_t proto, const uint8_t *p, size_t len)
{
	bool v6 = ihl == 40;
	if (len < (v6 ? 40u : 20u) || p[0] >> 4 != (v6 ? 6 : 4) || memcmp(p + (v6 ? 8 : 12), first + (v6 ? 8 : 12), v6 ? 32 : 8))
		return false;
	size_t l4;
	uint8_t nh;
	if (l4_of(p, len, &l4, &nh) != 0 || len < l4 + 4)
		return true;
	return nh == proto && !memcmp(p + l4, first + ihl, 4);
}

/* IPv4 without DF: b's id must follow a's, as the kernel numbers the
 * segments it cuts from a merged packet. */
static bool ids_follow(const uint8_t *pa, const uint8_t *pb)
{
	return (pa[6] & 0x40) || get16(pb + 4) == (uint16_t)(get16(pa + 4) + 1);
}

int tcp_continues(const uint8_t *pa, const struct tcp_seg *a, const uint8_t *pb, const struct tcp_seg *b)
{
	if (!same_flow(pa, a, pb, b) || a->thl != b->thl || b->seq != a->seq + (uint32_t)a->payload)
		return 0;
	if (a->ihl == 40) {
		/* IPv6: traffic class, flow label, hop limit. */
		if (memcmp(pa, pb, 4) || pa[7] != pb[7])
			return 0;
	} else if (pa[1] != pb[1] || pa[6] != pb[6] || pa[8] != pb[8] || !ids_follow(pa, pb)) {
		return 0; /* IPv4: TOS, DF, TTL, id */
	}
	const uint8_t *ta = pa + a->ihl, *tb = pb + b->ihl;
	/* Ack, then offset/flags/window with PSH masked, then options. */
	if (memcmp(ta + 8, tb + 8, 4) || ta[12] != tb[12] || (ta[13] & ~0x08) != (tb[13] & ~0x08) ||
	    memcmp(ta + 14, tb + 14, 2) || memcmp(ta + 20, tb + 20, a->thl - 20))
		return 0;
	return 1;
}

void tcp_finish_super(uint8_t *buf, size_t len, const struct tcp_seg *first, uint16_t mss, int psh,
		      uint8_t hdr[OFFLOAD_HDR_LEN])
{
	uint8_t *t = buf + first->ihl;
	bool v4 = buf[0] >> 4 == 4;
	set_ip_len(buf, v4, v4 ? ip4_base(buf, first->ihl) : 0, len, v4 ? get16(buf + 4) : 0);
	if (psh)
		t[13] |= 0x08;
	/* Partial checksum: the kernel (or the NIC) adds the rest. */
	put16(t + 16, pseudo_sum(buf, 6, len - first->ihl));
	uint16_t v[4] = { (uint16_t)(first->ihl + first->thl), mss, (uint16_t)first->ihl, 16 };
	hdr[0] = OFFLOAD_F_NEEDS_CSUM;
	hdr[1] = first->ihl == 40 ? OFFLOAD_GSO_TCPV6 : OFFLOAD_GSO_TCPV4;
	memcpy(hdr + 2, v, sizeof(v));
}

size_t tcp_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		 struct iovec *iov, size_t *niov, size_t *nseg)
{
	struct tcp_seg first, last, next;
	if (!tcp_mergeable(pkts[i]->data, pkts[i]->len, &first))
		return 0;
	size_t len = pkts[i]->len, mss = first.payload, merged = 1;
	const uint8_t *last_pkt = pkts[i]->data;
	int psh = 0;
	last = first;
	iov[0] = (struct iovec){ hdr, OFFLOAD_HDR_LEN };
	iov[1] = (struct iovec){ pkts[i]->data, len };
	/* Only the last segment may be shorter than the first. */
	for (size_t j = i + 1; j < n && last.payload == mss && merged < TCP_MERGE_MAX; j++) {
		const uint8_t *p = pkts[j]->data;
		if (used[j])
			continue;
		if (!tcp_mergeable(p, pkts[j]->len, &next)) {
			if (may_share_flow(pkts[i]->data, first.ihl, 6, p, pkts[j]->len))
				break; /* an ACK, a SYN, a FIN... of ours: it stays behind us */
			continue;
		}
		if (!same_flow(last_pkt, &last, p, &next))
			continue; /* another flow */
		/* Same flow: it continues us, or the run ends here (order kept). */
		if (!tcp_continues(last_pkt, &last, p, &next) || next.payload > mss || len + next.payload > 65535)
			break;
		iov[1 + merged] = (struct iovec){ pkts[j]->data + next.ihl + next.thl, next.payload };
		len += next.payload;
		psh = (p[next.ihl + 13] & 0x08) != 0;
		last_pkt = p;
		last = next;
		used[j] = true;
		merged++;
	}
	if (merged == 1)
		return 0;
	/* Only now, as the first packet's headers become the super-packet's. */
	tcp_finish_super(pkts[i]->data, len, &first, (uint16_t)mss, psh, hdr);
	*niov = 1 + merged;
	*nseg = merged;
	return len;
}

/* A UDP datagram that may be merged: IPv4 without options, not a
 * fragment, or IPv6 with UDP right after the fixed header; lengths that
 * agree; some payload. Sets *ihl and *payload. */
static bool udp_mergeable(const uint8_t *p, size_t len, size_t *ihl, size_t *payload)
{
	if (len >= 48 && p[0] >> 4 == 6) {
		if (p[6] != 17 || (size_t)get16(p + 4) + 40 != len)
			return false;
		*ihl = 40;
	} else if (len >= 28 && p[0] == 0x45 && p[9] == 17) {
		if ((get16(p + 6) & 0x3fff) || get16(p + 2) != len)
			return false;
		*ihl = 20;
	} else {
		return false;
	}
	if ((size_t)get16(p + *ihl + 4) != len - *ihl)
		return false;
	*payload = len - *ihl - 8;
	return *payload > 0;
}

/* b belongs in a's run: the same addresses, ports and IP header fields
 * that a merged packet keeps from its first datagram. */
static bool udp_same_run(const uint8_t *pa, const uint8_t *pb, size_t ihl)
{
	if (ihl == 40)
		return !memcmp(pa, pb, 4) && pa[7] == pb[7] && !memcmp(pa + 8, pb + 8, 32 + 4);
	return pa[1] == pb[1] && pa[6] == pb[6] && pa[8] == pb[8] && !memcmp(pa + 12, pb + 12, 8 + 4);
}

size_t udp_merge(struct pkt **pkts, size_t n, size_t i, bool *used, uint8_t hdr[OFFLOAD_HDR_LEN],
		 struct iovec *iov, size_t *niov, size_t *nseg)
{
	size_t ihl, size, next_ihl, next;
	if (!udp_mergeable(pkts[i]->data, pkts[i]->len, &ihl, &size))
		return 0;
	size_t len = pkts[i]->len, last = size, merged = 1;
	const uint8_t *last_pkt = pkts[i]->data;
	iov[0] = (struct iovec){ hdr, OFFLOAD_HDR_LEN };
	iov[1] = (struct iovec){ pkts[i]->data, len };
	/* Equal sizes; only the last may be shorter. */
	for (size_t j = i + 1; j < n && last == size && merged < TCP_MERGE_MAX; j++) {
		const uint8_t *p = pkts[j]->data;
		if (used[j])
			continue;
		if (!udp_mergeable(p, pkts[j]->len, &next_ihl, &next) || next_ihl != ihl) {
			if (may_share_flow(pkts[i]->data, ihl, 17, p, pkts[j]->len))
				break; /* an empty datagram or a fragment of ours: it stays behind us */
			continue;
		}
		if (memcmp(p + (ihl == 40 ? 8 : 12), pkts[i]->data + (ihl == 40 ? 8 : 12), ihl == 40 ? 36 : 12))
			continue; /* another flow */
		if (!udp_same_run(pkts[i]->data, p, ihl) || (ihl == 20 && !ids_follow(last_pkt, p)) || next > size ||
		    len + next > 65535 - 8)
			break;
		iov[1 + merged] = (struct iovec){ pkts[j]->data + ihl + 8, next };
		len += next;
		last = next;
		last_pkt = p;
		used[j] = true;
		merged++;
	}
	if (merged == 1)
		return 0;
	uint8_t *b = pkts[i]->data;
	set_ip_len(b, ihl == 20, ihl == 20 ? ip4_base(b, ihl) : 0, len, ihl == 20 ? get16(b + 4) : 0);
	put16(b + ihl + 4, (uint16_t)(len - ihl));
	put16(b + ihl + 6, pseudo_sum(b, 17, len - ihl));
	uint16_t v[4] = { (uint16_t)(ihl + 8), (uint16_t)size, (uint16_t)ihl, 6 };
	hdr[0] = OFFLOAD_F_NEEDS_CSUM;
	hdr[1] = OFFLOAD_GSO_UDP_L4;
	memcpy(hdr + 2, v, sizeof(v));
	*niov = 1 + merged;
	*nseg = merged;
	return len;
}

void merge_set(struct pkt *const *pkts, size_t n, size_t i, const bool *used, const struct iovec *iov, size_t niov,
	       bool *flag, bool value)
{
	/* A merge takes its packets in index order, one iovec each from
	 * iov[2] on, each pointing into its packet. */
	size_t k = 2;
	flag[i] = value;
	for (size_t j = i + 1; j < n && k < niov; j++) {
		const uint8_t *at = iov[k].iov_base;
		if (used[j] && at >= pkts[j]->data && at < pkts[j]->data + pkts[j]->len) {
			flag[j] = value;
			k++;
		}
	}
}
