/* fuzz_handshake.c - both handshake readers on arbitrary input:
 *   hs_read_init with the gateway's fixed static key (the gateway side);
 *   hs_read_resp with a fixed pending client state, the one alice is in
 *   after sending fixture.h's HS_INIT with a fixed ephemeral.
 * Seeds (gen_corpus.c): valid HS_INITs (new session, rekey) and the
 * gateway's valid HS_RESP to the new-session one.
 *
 * Checks, besides memory safety:
 *  - an accepted init comes from alice with the fixture's timestamp (no
 *    one else can make one: Noise authenticates both), and the gateway can
 *    answer it with hs_write_resp;
 *  - a refused response leaves the client's pending state untouched
 *    (hs_read_resp promises it: a forged HS_RESP must not break the real
 *    one that follows);
 *  - an accepted response names in its header the clientId it carries and
 *    yields exactly the transport keys the gateway derived for the seed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fixture.h"

static uint8_t srv_priv[32], e_srv[32], alice_pub[32];
static struct noise_hs pending;
static struct hs_resp want_resp;
static uint8_t want_send[32], want_recv[32]; /* the client's */
static uint8_t want_ts[HS_TIMESTAMP_LEN];
static bool trace; /* FUZZ_TRACE=1: which reader accepted, to check the seeds */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uint8_t init[HS_INIT_DGRAM_LEN], resp[HS_RESP_DGRAM_LEN];
	struct noise_hs srv;
	struct hs_init in;

	FX_CHECK(sodium_init() >= 0);
	fx_priv(srv_priv, FX_TAG_SRV);
	fx_priv(e_srv, FX_TAG_E_SRV);
	fx_pub(alice_pub, FX_TAG_ALICE);
	fx_client_init(&pending, false, init);

	/* What the gateway answers, and the keys it derives. */
	FX_CHECK(hs_read_init(&srv, srv_priv, init, sizeof(init), &in) == 0);
	memcpy(want_ts, in.timestamp, sizeof(want_ts));
	fx_resp_params(&want_resp);
	FX_CHECK(hs_write_resp(&srv, &want_resp, e_srv, resp, want_recv, want_send) == 0);
	trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static void read_init(const uint8_t *data, size_t size)
{
	struct noise_hs hs;
	struct hs_init in;
	if (hs_read_init(&hs, srv_priv, data, size, &in) != 0) {
		noise_wipe(&hs);
		return;
	}
	FX_CHECK(size == HS_INIT_DGRAM_LEN && data[WIRE_HDR_LEN] == HS_INIT);
	FX_CHECK(!memcmp(hs.rs, alice_pub, 32));
	FX_CHECK(!memcmp(in.timestamp, want_ts, HS_TIMESTAMP_LEN));
	if (trace)
		fprintf(stderr, "trace: HS_INIT accepted\n");

	struct hs_resp r;
	struct wire_hdr h;
	uint8_t out[HS_RESP_DGRAM_LEN], sk[32], rk[32];
	fx_resp_params(&r);
	memcpy(r.client_id, in.prev_id, WIRE_ID_LEN);
	FX_CHECK(hs_write_resp(&hs, &r, e_srv, out, sk, rk) == 0);
	FX_CHECK(wire_decode(&h, out, sizeof(out)) == WIRE_OK && h.type == WIRE_CONTROL);
	FX_CHECK(hs_control_type(out, sizeof(out)) == HS_RESP);
}

static void read_resp(const uint8_t *data, size_t size)
{
	struct noise_hs hs;
	struct hs_resp r;
	uint8_t sk[32], rk[32];
	memcpy(&hs, &pending, sizeof(hs));
	if (hs_read_resp(&hs, data, size, &r, sk, rk) != 0) {
		if (trace && size == HS_RESP_DGRAM_LEN)
			fprintf(stderr, "trace: HS_RESP refused\n");
		FX_CHECK(!memcmp(&hs, &pending, sizeof(hs)));
		return;
	}
	FX_CHECK(size == HS_RESP_DGRAM_LEN && data[WIRE_HDR_LEN] == HS_RESP);
	FX_CHECK(!memcmp(r.client_id, data + 8, WIRE_ID_LEN));
	FX_CHECK(!memcmp(r.client_id, want_resp.client_id, WIRE_ID_LEN) && r.epoch == want_resp.epoch &&
		 r.prefix4 == want_resp.prefix4 && r.mtu == want_resp.mtu && r.addr4 == want_resp.addr4 &&
		 r.dns4 == want_resp.dns4 && r.keepalive_s == want_resp.keepalive_s);
	FX_CHECK(!memcmp(sk, want_send, 32) && !memcmp(rk, want_recv, 32));
	static const struct noise_hs zero;
	FX_CHECK(!memcmp(&hs, &zero, sizeof(hs))); /* wiped */
	if (trace)
		fprintf(stderr, "trace: HS_RESP accepted\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int ct = hs_control_type(data, size);
	FX_CHECK(ct == (size > WIRE_HDR_LEN ? data[WIRE_HDR_LEN] : -1));
	read_init(data, size);
	read_resp(data, size);
	return 0;
}
