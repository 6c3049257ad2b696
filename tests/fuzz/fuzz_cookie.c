/* fuzz_cookie.c - the flood gate (cookie.c) on arbitrary input, both ways:
 *   as an HS_INIT reaching a gateway that is under load, from a fixed
 *   source (cookie_gate_check);
 *   as a COOKIE_REPLY reaching alice while fixture.h's HS_INIT is pending
 *   (cookie_open_reply).
 * The gate's secret, nonce prefix and rate key are fixed per input, so a
 * seed (gen_corpus.c) means the same thing on every run.
 *
 * Checks, besides memory safety:
 *  - BAD_MAC1 exactly when the last-but-one 16 bytes are not the mac1 an
 *    independent BLAKE2b call computes (nothing else is looked at first);
 *  - otherwise, under load: PASS only with the mac2 of the source's
 *    cookie; a COOKIE_REPLY otherwise, smaller than the HS_INIT, that
 *    wire_decode accepts, that opens with the input's mac1 (and not with
 *    another) to exactly the source's cookie;
 *  - an accepted COOKIE_REPLY is 89 bytes of controlType 3 and carries the
 *    cookie the gate makes for alice's source. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fixture.h"

static uint8_t srv_pub[32], pending_mac1[COOKIE_MAC_LEN];
static struct cookie_gate gate;
static struct cookie_keys keys;
static const uint8_t src[6] = { 192, 0, 2, 2, 0xca, 0x6c };
static bool trace;

static void reset_gate(void)
{
	cookie_gate_init(&gate, srv_pub, 1);
	fx_gate_fixed(&gate);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct noise_hs hs;
	uint8_t init[HS_INIT_DGRAM_LEN];
	FX_CHECK(sodium_init() >= 0);
	fx_pub(srv_pub, FX_TAG_SRV);
	cookie_keys_init(&keys, srv_pub);
	fx_client_init(&hs, false, init);
	memcpy(pending_mac1, init + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	noise_wipe(&hs);
	trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static void as_init(const uint8_t *data, size_t size)
{
	uint8_t reply[COOKIE_REPLY_DGRAM_LEN], mac[COOKIE_MAC_LEN], want[COOKIE_LEN], got[COOKIE_LEN];
	struct wire_hdr h;
	if (size != HS_INIT_DGRAM_LEN || wire_decode(&h, data, size) != WIRE_OK || h.type != WIRE_CONTROL ||
	    hs_control_type(data, size) != HS_INIT)
		return; /* the gateway calls the gate only for these */
	reset_gate();
	enum cookie_verdict v = cookie_gate_check(&gate, data, src, sizeof(src), FX_NOW_NS, reply);
	crypto_generichash_blake2b(mac, sizeof(mac), data, HS_INIT_MAC1_OFF, keys.mac1_key, sizeof(keys.mac1_key));
	FX_CHECK((v == COOKIE_BAD_MAC1) == (memcmp(mac, data + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN) != 0));
	if (v == COOKIE_BAD_MAC1)
		return;
	FX_CHECK(cookie_under_load(&gate, FX_NOW_NS));
	cookie_make(&gate, want, src, sizeof(src), FX_NOW_NS);
	crypto_generichash_blake2b(mac, sizeof(mac), data, HS_INIT_MAC2_OFF, want, sizeof(want));
	bool mac2_ok = !memcmp(mac, data + HS_INIT_MAC2_OFF, COOKIE_MAC_LEN);
	if (trace)
		fprintf(stderr, "trace: HS_INIT mac1 ok, mac2 %s, verdict %d\n", mac2_ok ? "ok" : "no", (int)v);
	FX_CHECK(mac2_ok == (v == COOKIE_PASS)); /* the first take of a fresh bucket never limits */
	if (v != COOKIE_SEND_REPLY)
		return;
	FX_CHECK(sizeof(reply) < size);
	FX_CHECK(wire_decode(&h, reply, sizeof(reply)) == WIRE_OK && h.type == WIRE_CONTROL);
	FX_CHECK(!memcmp(h.client_id, data + 8, WIRE_ID_LEN));
	FX_CHECK(cookie_open_reply(got, &keys, reply, sizeof(reply), data + HS_INIT_MAC1_OFF) == 0);
	FX_CHECK(!memcmp(got, want, COOKIE_LEN));
	memcpy(mac, data + HS_INIT_MAC1_OFF, COOKIE_MAC_LEN);
	mac[0] ^= 1;
	FX_CHECK(cookie_open_reply(got, &keys, reply, sizeof(reply), mac) != 0);
}

static void as_reply(const uint8_t *data, size_t size)
{
	uint8_t got[COOKIE_LEN], want[COOKIE_LEN];
	if (cookie_open_reply(got, &keys, data, size, pending_mac1) != 0)
		return;
	FX_CHECK(size == COOKIE_REPLY_DGRAM_LEN && data[WIRE_HDR_LEN] == HS_COOKIE_REPLY);
	reset_gate();
	cookie_make(&gate, want, src, sizeof(src), FX_NOW_NS);
	/* The seed's reply is the only one a mutation can reach: a valid tag
	 * under reply_key is not found by flipping bits. */
	FX_CHECK(!memcmp(got, want, COOKIE_LEN));
	if (trace)
		fprintf(stderr, "trace: COOKIE_REPLY accepted\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_init(data, size);
	as_reply(data, size);
	return 0;
}
