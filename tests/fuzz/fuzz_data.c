/* fuzz_data.c - the gateway's receive path (server.c: udp_rx_loop,
 * handle_data, the start of handle_handshake) without sockets, on one
 * datagram per input.
 *
 * Fixed state from fixture.h, rebuilt before every input: a registry of
 * three clients, alice with prev/cur/next keypairs, bob with an expired
 * one; a fixed `now`. For the input datagram:
 *   wire_decode; CONTROL: hs_read_init with the gateway's key and the
 *   client lookup by static key; DATA/KEEPALIVE: registry_by_id, a copy in
 *   a pool buffer (as udp_recv_batch leaves it), session_open, and for an
 *   opened DATA the MTU check and route_from_client.
 * Seeds (gen_corpus.c) are valid sealed datagrams, so mutations of their
 * header fields reach the AEAD and the keypair choice; nearly all of them
 * then fail authentication, which is fine.
 *
 * An input that is no datagram is routed as an inner packet instead
 * (route_from_client from alice, route_from_tun), and again against the
 * same clients with an IPv6 pool (IPv4 must be routed the same; IPv6 by
 * the addresses derived from the IPv4 ones).
 *
 * Checks, besides memory safety: an opened datagram opened under the
 * right slot (OPEN_CONFIRMED_NEXT exactly for the next epoch); opening
 * the same bytes again is OPEN_REPLAY; the route verdict agrees with
 * ip4_addrs (ip6_addrs) and the registry. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "fixture.h"
#include "offload.h"
#include "router.h"

static struct registry reg, reg6; /* reg6: the same clients with an IPv6 pool */
static struct pool *pool;
static uint8_t srv_priv[32];
static bool trace; /* FUZZ_TRACE=1: one line per input, to check the seeds */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FX_CHECK(sodium_init() >= 0);
	fx_registry(&reg, &pool);
	fx_registry6(&reg6, pool);
	fx_priv(srv_priv, FX_TAG_SRV);
	trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static void check_route(struct peer *from, const uint8_t *ip, size_t len)
{
	struct peer *to = (struct peer *)1;
	uint32_t src = 0, dst = 0;
	bool wellformed = ip4_addrs(ip, len, &src, &dst);
	enum route rt = route_from_client(&reg, from, ip, len, &to);
	if (trace)
		fprintf(stderr, "trace: route %d%s%s\n", rt, rt == ROUTE_PEER ? " to " : "",
			rt == ROUTE_PEER ? to->name : "");

	FX_CHECK(rt == ROUTE_PEER ? to != NULL : to == NULL);
	switch (rt) {
	case ROUTE_MALFORMED:
		FX_CHECK(!wellformed);
		break;
	case ROUTE_SPOOFED:
		FX_CHECK(wellformed && src != from->addr4);
		break;
	case ROUTE_TUN:
		FX_CHECK(wellformed && src == from->addr4);
		FX_CHECK(!registry_in_pool(&reg, dst) || dst == reg.gw_addr || dst == (reg.net | ~reg.mask));
		break;
	case ROUTE_PEER:
		FX_CHECK(wellformed && src == from->addr4 && to->addr4 == dst);
		FX_CHECK(registry_in_pool(&reg, dst) && dst != reg.gw_addr);
		FX_CHECK(to == reg.peers[0] || to == reg.peers[1] || to == reg.peers[2]);
		break;
	case ROUTE_NO_PEER:
		FX_CHECK(wellformed && src == from->addr4 && registry_in_pool(&reg, dst));
		FX_CHECK(registry_by_addr(&reg, dst) == NULL);
		break;
	default:
		FX_CHECK(!"unknown route verdict");
	}
}

/* An authenticated client picks its inner packets freely, and the MAC
 * keeps mutated datagrams from reaching the router; so an input that is
 * not a datagram is routed as an inner packet from alice, and as one read
 * from the gateway's TUN. */
static size_t peer_index(const struct registry *r, const struct peer *p)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->peers[i] == p)
			return i;
	return (size_t)-1;
}

/* With an IPv6 pool: IPv4 is routed exactly as without one; IPv6 by the
 * derived addresses, link-scope traffic never forwarded. */
static void check_route6(const uint8_t *ip, size_t len)
{
	struct peer *to = (struct peer *)1, *to4 = (struct peer *)1;
	struct peer *from = reg6.peers[0];
	enum route rt = route_from_client(&reg6, from, ip, len, &to);
	FX_CHECK(rt == ROUTE_PEER ? to != NULL : to == NULL);
	if (!len || ip[0] >> 4 != 6) {
		FX_CHECK(rt == route_from_client(&reg, reg.peers[0], ip, len, &to4));
		FX_CHECK(rt != ROUTE_PEER || peer_index(&reg6, to) == peer_index(&reg, to4));
		return;
	}
	const uint8_t *src, *dst;
	uint8_t own[16], addr[16];
	bool wellformed = ip6_addrs(ip, len, &src, &dst);
	FX_CHECK(registry_addr6(&reg6, from, own));
	switch (rt) {
	case ROUTE_MALFORMED:
		FX_CHECK(!wellformed);
		break;
	case ROUTE_LINK_SCOPE:
		FX_CHECK(wellformed && (dst[0] == 0xff || src[0] == 0xfe || dst[0] == 0xfe || src[0] == 0));
		break;
	case ROUTE_SPOOFED:
		FX_CHECK(wellformed && memcmp(src, own, 16) != 0);
		break;
	case ROUTE_TUN:
		FX_CHECK(wellformed && !memcmp(src, own, 16));
		FX_CHECK(!registry_in_pool6(&reg6, dst) || !memcmp(dst, reg6.gw6, 16));
		break;
	case ROUTE_PEER:
		FX_CHECK(wellformed && !memcmp(src, own, 16) && registry_addr6(&reg6, to, addr) && !memcmp(addr, dst, 16));
		FX_CHECK(atomic_load(&to->v6));
		break;
	case ROUTE_NO_PEER: {
		struct peer *holder = wellformed ? registry_by_addr6(&reg6, dst) : NULL;
		FX_CHECK(wellformed && registry_in_pool6(&reg6, dst) && (!holder || !atomic_load(&holder->v6)));
		break;
	}
	default:
		FX_CHECK(!"unknown route verdict");
	}
	to = (struct peer *)1;
	rt = route_from_tun(&reg6, ip, len, &to);
	FX_CHECK(rt == ROUTE_PEER ? to != NULL && registry_addr6(&reg6, to, addr) && !memcmp(addr, dst, 16) : to == NULL);
	FX_CHECK(rt != ROUTE_PEER || atomic_load(&to->v6));
	FX_CHECK(rt == (!wellformed ? ROUTE_MALFORMED : to ? ROUTE_PEER : ROUTE_NO_PEER));
}

/* The offload code on a packet from a peer: three copies of it (each
 * continuing the one before, when it is mergeable TCP) merged as
 * tun_write_batch merges them; and the packet cut as if it were a TUN
 * super-packet. Whatever is merged adds up; whatever is cut fits a buffer
 * and, partial, can be completed. */
static void offload(const uint8_t *ip, size_t len)
{
	struct pkt *pk[3];
	bool used[3] = { false };
	FX_CHECK(pool_get(pool, pk, 3) == 3);
	struct tcp_seg g;
	bool tcp = tcp_mergeable(ip, len, &g);
	for (int k = 0; k < 3; k++) {
		memcpy(pk[k]->data, ip, len);
		pk[k]->len = (uint32_t)len;
		if (tcp)
			put32(pk[k]->data + g.ihl + 4, g.seq + (uint32_t)(k * g.payload));
	}
	for (size_t i = 0; i < 3; i++) {
		if (used[i])
			continue;
		uint8_t hdr[OFFLOAD_HDR_LEN];
		struct iovec iov[TCP_MERGE_MAX + 1];
		size_t niov = 0, nseg = 0, merged = tcp_merge(pk, 3, i, used, hdr, iov, &niov, &nseg);
		if (!merged)
			merged = udp_merge(pk, 3, i, used, hdr, iov, &niov, &nseg);
		if (!merged)
			continue;
		size_t sum = 0;
		for (size_t k = 0; k < niov; k++)
			sum += iov[k].iov_len;
		FX_CHECK(nseg >= 2 && nseg <= 3 - i && niov == nseg + 1 && sum == OFFLOAD_HDR_LEN + merged);
	}
	pool_put(pool, pk, 3);

	struct pkt *seg[8];
	FX_CHECK(pool_get(pool, seg, 8) == 8);
	uint16_t mss = (uint16_t)(1 + len % 1400);
	size_t total = 0;
	int n = tso_segment(ip, len, mss, 0, seg, 8, &total);
	if (n < 0)
		n = uso_segment(ip, len, mss, 0, seg, 8, &total);
	FX_CHECK(n <= 8 && (n < 0 || (size_t)n <= total));
	for (int k = 0; k < n; k++) {
		FX_CHECK(seg[k]->len <= PKT_MAX_IP && seg[k]->csum_partial);
		FX_CHECK(csum_complete(seg[k]->data, seg[k]->len) == 0);
	}
	pool_put(pool, seg, 8);
}

static void inner(const uint8_t *ip, size_t len)
{
	if (len > PKT_MAX_IP)
		return;
	offload(ip, len);
	check_route(reg.peers[0], ip, len);
	check_route6(ip, len);

	struct peer *to = (struct peer *)1;
	uint32_t src = 0, dst = 0;
	bool wellformed = ip4_addrs(ip, len, &src, &dst);
	enum route rt = route_from_tun(&reg, ip, len, &to);
	FX_CHECK(rt == ROUTE_PEER ? to != NULL && to->addr4 == dst : to == NULL);
	FX_CHECK(rt == (!wellformed ? ROUTE_MALFORMED : to ? ROUTE_PEER : ROUTE_NO_PEER));
}

static void control(const uint8_t *data, size_t size)
{
	struct noise_hs hs;
	struct hs_init in;
	if (hs_control_type(data, size) != HS_INIT)
		return;
	if (hs_read_init(&hs, srv_priv, data, size, &in) == 0) {
		struct peer *p = registry_by_pubkey(&reg, hs.rs);
		if (trace)
			fprintf(stderr, "trace: HS_INIT from %s\n", p ? p->name : "(unknown key)");
	}
	noise_wipe(&hs);
}

static void datagram(const struct wire_hdr *h, const uint8_t *data)
{
	struct pkt *pk;
	struct peer *p = registry_by_id(&reg, h->client_id);
	if (!p)
		return;
	FX_CHECK(!memcmp(p->sess.client_id, h->client_id, WIRE_ID_LEN));
	FX_CHECK(pool_get(pool, &pk, 1) == 1);

	/* As the data path opens it: from the receive buffer (here the
	 * fuzzer's own, exactly size bytes) into the packet's buffer. */
	uint8_t epoch = (uint8_t)(h->flags & WIRE_FLAGS_EPOCH_MASK);
	enum open_result res = session_open(&p->sess, h, data, pk->buf, FX_NOW_NS);
	if (trace)
		fprintf(stderr, "trace: %s type %u epoch %u: open %d\n", p->name, h->type, epoch, res);
	if (res == OPEN_OK || res == OPEN_CONFIRMED_NEXT) {
		/* Only alice has usable keys; which slot opened it shows. */
		FX_CHECK(p == reg.peers[0]);
		FX_CHECK((res == OPEN_CONFIRMED_NEXT) == (epoch == FX_NEXT_EPOCH));
		if (res == OPEN_CONFIRMED_NEXT)
			session_promote_next(&p->sess, FX_NOW_NS);

		if (h->type == WIRE_DATA) {
			uint8_t *ip = pk->buf + WIRE_HDR_LEN;
			size_t len = h->payload_len - WIRE_TAG_LEN;
			if (len <= (size_t)FX_MTU)
				check_route(p, ip, len);
			/* A partial checksum the receiver accepts is one it can
			 * complete (as session_seal would for a peer that
			 * cannot take it). */
			pk->data = ip;
			pk->len = (uint32_t)len;
			if (session_csum_from_flags(pk, h->flags) && pk->csum_partial)
				FX_CHECK(csum_complete(ip, len) == 0);
		}
		/* The same datagram again is a replay, under whichever slot. */
		FX_CHECK(session_open(&p->sess, h, data, pk->buf, FX_NOW_NS) == OPEN_REPLAY);
	}
	pool_put(pool, &pk, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	if (size > PKT_BUF_SIZE)
		return -1; /* udp_recv_batch drops these */
	if (wire_decode(&h, data, size) != WIRE_OK) {
		inner(data, size);
		return 0;
	}
	if (h.type == WIRE_CONTROL) {
		control(data, size);
		return 0;
	}
	fx_alice_session(&reg.peers[0]->sess);
	fx_bob_session(&reg.peers[1]->sess);
	datagram(&h, data); /* wire_decode checked payload_len against size */
	return 0;
}
