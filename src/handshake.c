/* handshake.c - see handshake.h. */
#include "handshake.h"

#include <string.h>
#include <time.h>

#include "bytes.h"

void hs_timestamp(uint8_t out[HS_TIMESTAMP_LEN])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t secs = 0x400000000000000aull + (uint64_t)ts.tv_sec;
	put32(out, (uint32_t)(secs >> 32));
	put32(out + 4, (uint32_t)secs);
	put32(out + 8, (uint32_t)ts.tv_nsec);
}

static void control_header(uint8_t *out, const uint8_t id[WIRE_ID_LEN], size_t payload_len)
{
	struct wire_hdr h = { .type = WIRE_CONTROL, .payload_len = (uint16_t)payload_len };
	memcpy(h.client_id, id, WIRE_ID_LEN);
	wire_encode(out, &h);
}

int hs_control_type(const uint8_t *dgram, size_t len)
{
	return len > WIRE_HDR_LEN ? dgram[WIRE_HDR_LEN] : -1;
}

int hs_write_init(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t server_pub[32],
		  const struct hs_init *in, const uint8_t *e_priv, uint8_t *out)
{
	uint8_t payload[HS_INIT_PAYLOAD_LEN];
	memcpy(payload, in->timestamp, HS_TIMESTAMP_LEN);
	memcpy(payload + HS_TIMESTAMP_LEN, in->prev_id, WIRE_ID_LEN);
	put16(payload + HS_TIMESTAMP_LEN + WIRE_ID_LEN, in->ciphers);
	put16(payload + HS_TIMESTAMP_LEN + WIRE_ID_LEN + 2, in->flags);

	control_header(out, in->prev_id, HS_INIT_DGRAM_LEN - WIRE_HDR_LEN);
	out[WIRE_HDR_LEN] = HS_INIT;
	memset(out + HS_INIT_MAC1_OFF, 0, HS_INIT_DGRAM_LEN - HS_INIT_MAC1_OFF);
	noise_init_initiator(hs, s_priv, server_pub);
	return noise_write_msg1(hs, e_priv, payload, sizeof(payload), out + WIRE_HDR_LEN + 1);
}

int hs_read_init(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t *dgram, size_t len,
		 struct hs_init *in)
{
	uint8_t payload[HS_INIT_PAYLOAD_LEN];
	if (len != HS_INIT_DGRAM_LEN || hs_control_type(dgram, len) != HS_INIT)
		return -1;
	noise_init_responder(hs, s_priv);
	if (noise_read_msg1(hs, dgram + WIRE_HDR_LEN + 1, HS_INIT_MAC1_OFF - WIRE_HDR_LEN - 1, payload) != 0)
		return -1;
	memcpy(in->timestamp, payload, HS_TIMESTAMP_LEN);
	memcpy(in->prev_id, payload + HS_TIMESTAMP_LEN, WIRE_ID_LEN);
	in->ciphers = get16(payload + HS_TIMESTAMP_LEN + WIRE_ID_LEN);
	in->flags = get16(payload + HS_TIMESTAMP_LEN + WIRE_ID_LEN + 2);
	return 0;
}

static size_t encode_resp(uint8_t p[HS_RESP6_PAYLOAD_LEN], const struct hs_resp *r)
{
	memset(p, 0, HS_RESP6_PAYLOAD_LEN);
	memcpy(p, r->client_id, WIRE_ID_LEN);
	p[16] = r->epoch;
	p[17] = r->prefix4;
	put16(p + 18, r->mtu);
	put32(p + 20, r->addr4);
	put32(p + 24, r->dns4);
	put16(p + 28, r->keepalive_s);
	p[30] = r->cipher;
	p[31] = r->flags;
	if (!r->has6)
		return HS_RESP_PAYLOAD_LEN;
	memcpy(p + 32, r->addr6, 16);
	p[48] = r->prefix6;
	return HS_RESP6_PAYLOAD_LEN;
}

static void decode_resp(struct hs_resp *r, const uint8_t *p, size_t len)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->client_id, p, WIRE_ID_LEN);
	r->epoch = p[16];
	r->prefix4 = p[17];
	r->mtu = get16(p + 18);
	r->addr4 = get32(p + 20);
	r->dns4 = get32(p + 24);
	r->keepalive_s = get16(p + 28);
	r->cipher = p[30];
	r->flags = p[31];
	if (len == HS_RESP6_PAYLOAD_LEN) {
		r->has6 = true;
		memcpy(r->addr6, p + 32, 16);
		r->prefix6 = p[48];
	}
}

int hs_write_resp(struct noise_hs *hs, const struct hs_resp *r, const uint8_t *e_priv, uint8_t *out,
		  uint8_t send_key[32], uint8_t recv_key[32])
{
	uint8_t payload[HS_RESP6_PAYLOAD_LEN];
	size_t plen = encode_resp(payload, r);
	control_header(out, r->client_id, hs_resp_dgram_len(r) - WIRE_HDR_LEN);
	out[WIRE_HDR_LEN] = HS_RESP;
	if (noise_write_msg2(hs, e_priv, payload, plen, out + WIRE_HDR_LEN + 1) != 0) {
		noise_wipe(hs);
		return -1;
	}
	noise_split(hs, recv_key, send_key);
	return 0;
}

int hs_read_resp(struct noise_hs *hs, const uint8_t *dgram, size_t len, struct hs_resp *r,
		 uint8_t send_key[32], uint8_t recv_key[32])
{
	uint8_t payload[HS_RESP6_PAYLOAD_LEN];
	if ((len != HS_RESP_DGRAM_LEN && len != HS_RESP6_DGRAM_LEN) || hs_control_type(dgram, len) != HS_RESP)
		return -1;
	/* Decrypt into a copy so a forged response leaves hs usable. */
	struct noise_hs try = *hs;
	if (noise_read_msg2(&try, dgram + WIRE_HDR_LEN + 1, len - WIRE_HDR_LEN - 1, payload) != 0) {
		noise_wipe(&try);
		return -1;
	}
	decode_resp(r, payload, len == HS_RESP6_DGRAM_LEN ? HS_RESP6_PAYLOAD_LEN : HS_RESP_PAYLOAD_LEN);
	/* The clientId in the clear header must be the one the server signed. */
	if (memcmp(r->client_id, dgram + 8, WIRE_ID_LEN) != 0) {
		noise_wipe(&try);
		return -1;
	}
	noise_split(&try, send_key, recv_key);
	noise_wipe(hs);
	return 0;
}
