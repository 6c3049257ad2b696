/* bench/pipeline.c - what our own code costs per packet, without the
 * kernel: one 64 KB TCP super-packet at a time is cut, queued, sealed,
 * then split into fresh buffers as a GRO read would, opened, queued and
 * merged, as the data path does on both ends. Prints nanoseconds per
 * 1348-byte segment for each stage.
 *
 * Why: on the test machine (a VM), perf's cpu-clock sampling lands almost
 * only in the idle task and never in real-time threads, so profiles of the
 * running tunnel say little about our user-space share. This is a
 * profiling aid for a developer, not a figure for the README: performance
 * claims come from `make bench`.
 *
 *   make build/pipeline && build/pipeline [super-packets, default 20000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "ecn.h"
#include "fq.h"
#include "log.h"
#include "offload.h"
#include "pkt.h"
#include "session.h"
#include "stats.h"
#include "wire.h"

#define MSS 1348
#define SEGS 48
#define TCP_HDR 32 /* with the timestamp option, as Linux sends */

enum stage { CUT, STAMP, PUSH_OUT, POP_OUT, SEAL, SPLIT, OPEN, PUSH_IN, POP_IN, MERGE, RECORD, NSTAGES };
static const char *const stage_name[NSTAGES] = {
	"cut the super-packet",  "stamp and count",     "flow queue push (out)", "flow queue pop (out)",
	"ECN and seal",          "split a GRO buffer",  "decode and open",       "flow queue push (in)",
	"flow queue pop (in)",   "merge for a TUN write", "latency histograms",
};
static uint64_t spent[NSTAGES];

/* An IPv4 TCP super-packet from 10.77.0.2 to 198.51.100.2, its checksum
 * field partial as the kernel leaves it. */
static size_t make_super(uint8_t *p, uint32_t seq)
{
	size_t len = 20 + TCP_HDR + (size_t)MSS * SEGS;
	memset(p, 0, 20 + TCP_HDR);
	p[0] = 0x45, p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len, p[6] = 0x40, p[8] = 64, p[9] = 6;
	p[12] = 10, p[13] = 77, p[15] = 2, p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 2;
	uint8_t *t = p + 20;
	t[0] = 0xc0, t[1] = 0x01, t[2] = 0x14, t[3] = 0x51;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[12] = (TCP_HDR / 4) << 4, t[13] = 0x10, t[14] = 0xff;
	return len;
}

static int setup_sessions(struct session *a, struct session *b)
{
	uint8_t id[WIRE_ID_LEN] = { 7 }, k1[32] = { 1 }, k2[32] = { 2 };
	uint64_t now = now_ns();
	session_init(a);
	session_init(b);
	session_begin(a, id);
	session_begin(b, id);
	if (session_install(a, k1, k2, AEAD_AES256_GCM, 0, true, now) != 0 ||
	    session_install(b, k2, k1, AEAD_AES256_GCM, 0, true, now) != 0)
		return -1;
	session_set_peer_csum_partial(a, true);
	session_set_peer_csum_partial(b, true);
	return 0;
}

/* One super-packet through both ends; -1 (with a message) if any stage
 * does not do what the data path relies on. */
static int one_round(struct pool *pl, struct fq *out, struct fq *in, struct session *a, struct session *b,
		     const uint8_t *sp, size_t len, struct lat_hist *h)
{
	struct pkt *tx[SEGS], *rx[SEGS];
	uint64_t t = now_ns(), t0;
	size_t total = 0, n = 0, ok = 0, merged = 0;

#define STAGE(s) (t0 = t, t = now_ns(), spent[s] += t - t0)
	if (pool_get(pl, tx, SEGS) != SEGS || tso_segment(sp, len, MSS, 0, tx, SEGS, &total) != SEGS) {
		fprintf(stderr, "pipeline: cutting the super-packet failed\n");
		return -1;
	}
	STAGE(CUT);
	for (size_t i = 0; i < SEGS; i++)
		tx[i]->stamp_ns = t;
	STAGE(STAMP);
	fq_push(out, tx, SEGS, t);
	STAGE(PUSH_OUT);
	n = fq_pop(out, tx, SEGS, SIZE_MAX, t);
	STAGE(POP_OUT);
	for (size_t i = 0; i < n; i++)
		tx[i]->ecn = ecn_encap(tx[i]->data, tx[i]->len);
	if (session_seal(a, tx, n, WIRE_DATA, t) != n) {
		fprintf(stderr, "pipeline: sealing failed\n");
		return -1;
	}
	STAGE(SEAL);
	if (pool_get(pl, rx, n) != n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		memcpy(rx[i]->buf, tx[i]->data, tx[i]->len);
		rx[i]->data = rx[i]->buf;
		rx[i]->len = tx[i]->len;
		rx[i]->stamp_ns = tx[i]->stamp_ns;
	}
	pool_put(pl, tx, n);
	STAGE(SPLIT);
	for (size_t i = 0; i < n; i++) {
		struct pkt *p = rx[i];
		struct wire_hdr hd;
		if (wire_decode(&hd, p->data, p->len) != WIRE_OK || session_open(b, &hd, p->data, p->data, t) != OPEN_OK)
			break;
		p->data += WIRE_HDR_LEN;
		p->len = hd.payload_len - WIRE_TAG_LEN;
		if (!session_csum_from_flags(p, hd.flags) || !ecn_decap(p->ecn, p->data, p->len))
			break;
		ok++;
	}
	STAGE(OPEN);
	if (ok != n) {
		fprintf(stderr, "pipeline: opening failed at segment %zu\n", ok);
		return -1;
	}
	fq_push(in, rx, n, t);
	STAGE(PUSH_IN);
	n = fq_pop(in, rx, SEGS, SIZE_MAX, t);
	STAGE(POP_IN);
	bool used[SEGS] = { false };
	for (size_t i = 0; i < n; i++) {
		uint8_t hdr[OFFLOAD_HDR_LEN];
		struct iovec iov[TCP_MERGE_MAX + 1];
		size_t niov = 0, nseg = 0;
		if (!used[i])
			merged += tcp_merge(rx, n, i, used, hdr, iov, &niov, &nseg) ? nseg : 1;
	}
	STAGE(MERGE);
	struct lat_run run = { .owner = false };
	for (size_t i = 0; i < n; i++)
		lat_run_add(&run, h, (t - rx[i]->stamp_ns) / 1000);
	lat_run_end(&run);
	STAGE(RECORD);
#undef STAGE
	pool_put(pl, rx, n);
	if (merged != SEGS) {
		fprintf(stderr, "pipeline: %zu of %d segments merged back\n", merged, SEGS);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	static uint8_t sp[65536];
	static struct lat_hist h;
	struct pool *pl = pool_new(4 * SEGS);
	struct fq out, in;
	struct session a, b;
	if (rounds <= 0 || !pl || fq_init(&out, 256, 2048, 2048 * 1500, 1920, pl) != 0 ||
	    fq_init(&in, 256, 2048, 2048 * 1500, 16 * 1920, pl) != 0 || setup_sessions(&a, &b) != 0) {
		fprintf(stderr, "usage: pipeline [super-packets > 0] (or: setup failed)\n");
		return 1;
	}
	for (long r = 0; r < rounds; r++) {
		size_t len = make_super(sp, (uint32_t)(r * MSS * SEGS));
		if (one_round(pl, &out, &in, &a, &b, sp, len, &h) != 0)
			return 1;
	}
	double segs = (double)rounds * SEGS, sum = 0;
	printf("%ld super-packets of %d segments (%d bytes of TCP payload each), AES-256-GCM\n", rounds, SEGS, MSS);
	for (int s = 0; s < NSTAGES; s++) {
		printf("  %-24s %7.1f ns a segment\n", stage_name[s], (double)spent[s] / segs);
		sum += (double)spent[s];
	}
	printf("  %-24s %7.1f ns a segment (%.3f CPU s per GB of payload, both ends)\n", "total", sum / segs,
	       sum / segs / MSS);
	session_destroy(&a);
	session_destroy(&b);
	fq_destroy(&out);
	fq_destroy(&in);
	pool_free(pl);
	return 0;
}
