/* handshake.h - the CONTROL messages that carry the Noise IK handshake.
 *
 * CONTROL payload = control type (1 byte) | Noise message.
 *   HS_INIT (client -> server): msg1, its payload a TAI64N timestamp (12),
 *     the client's current clientId (16, zero for a new session) and the
 *     data ciphers it offers.
 *   HS_RESP (server -> client): msg2, its payload the session parameters.
 * Byte layouts are in docs/PROTOCOL.md. */
#ifndef VPNGW_HANDSHAKE_H
#define VPNGW_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "noise.h"
#include "wire.h"

enum { HS_INIT = 1, HS_RESP = 2, HS_COOKIE_REPLY = 3 };

#define HS_TIMESTAMP_LEN 12
#define HS_INIT_PAYLOAD_LEN (HS_TIMESTAMP_LEN + WIRE_ID_LEN + 4)
#define HS_RESP_PAYLOAD_LEN 32
/* The IPv6 form: the same 32 bytes, then the client's IPv6 address (16),
 * its prefix length (1) and 3 reserved bytes. Sent only to a client that
 * set HS_INIT_FLAG_V6, so a client that predates it never sees one. */
#define HS_RESP6_PAYLOAD_LEN (HS_RESP_PAYLOAD_LEN + 20)
/* HS_INIT payload flags (the u16 after the ciphers; older clients send 0). */
#define HS_INIT_FLAG_V6 0x0001           /* "I take the IPv6 form of HS_RESP" */
#define HS_INIT_FLAG_CSUM_PARTIAL 0x0002 /* "I take DATA with WIRE_FLAG_CSUM_PARTIAL" */
/* HS_RESP flags (the last byte of its 32; older gateways send 0). */
#define HS_RESP_FLAG_CSUM_PARTIAL 0x01
/* HS_INIT: header, control type, Noise message 1, mac1, mac2 (cookie.h). */
#define HS_INIT_MAC1_OFF (WIRE_HDR_LEN + 1 + NOISE_MSG1_LEN(HS_INIT_PAYLOAD_LEN))
#define HS_INIT_MAC2_OFF (HS_INIT_MAC1_OFF + 16)
#define HS_INIT_DGRAM_LEN (HS_INIT_MAC2_OFF + 16)
#define HS_RESP_DGRAM_LEN (WIRE_HDR_LEN + 1 + NOISE_MSG2_LEN(HS_RESP_PAYLOAD_LEN))
#define HS_RESP6_DGRAM_LEN (WIRE_HDR_LEN + 1 + NOISE_MSG2_LEN(HS_RESP6_PAYLOAD_LEN))
#define HS_RESP_DGRAM_MAX HS_RESP6_DGRAM_LEN

struct hs_init {
	uint8_t timestamp[HS_TIMESTAMP_LEN]; /* TAI64N: strictly increasing per client */
	uint8_t prev_id[WIRE_ID_LEN];        /* session to rekey, or zeros */
	uint16_t ciphers;                     /* offered: bitmask of 1 << enum aead_alg */
	uint16_t flags;                       /* HS_INIT_FLAG_* */
};

struct hs_resp {
	uint8_t client_id[WIRE_ID_LEN];
	uint8_t epoch;
	uint8_t prefix4;      /* tunnel address prefix length */
	uint16_t mtu;
	uint32_t addr4;       /* host byte order */
	uint32_t dns4;        /* host byte order, 0 = none */
	uint16_t keepalive_s; /* the server's idea of the keepalive interval */
	uint8_t cipher;       /* chosen: enum aead_alg */
	uint8_t flags;        /* HS_RESP_FLAG_* */
	bool has6;            /* the IPv6 form: addr6/prefix6 are the client's */
	uint8_t prefix6;
	uint8_t addr6[16];    /* network byte order */
};

/* The length of the HS_RESP datagram hs_write_resp writes for r. */
static inline size_t hs_resp_dgram_len(const struct hs_resp *r)
{
	return r->has6 ? HS_RESP6_DGRAM_LEN : HS_RESP_DGRAM_LEN;
}

/* TAI64N of the wall clock now. */
void hs_timestamp(uint8_t out[HS_TIMESTAMP_LEN]);

/* Client: fills out[HS_INIT_DGRAM_LEN], the macs zero (cookie_stamp_init
 * writes them). e_priv NULL for a random ephemeral. */
int hs_write_init(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t server_pub[32],
		  const struct hs_init *in, const uint8_t *e_priv, uint8_t *out);
/* Server: dgram is a validated CONTROL datagram. On success hs->rs is the
 * client's static key (still to be checked against the allowed list). */
int hs_read_init(struct noise_hs *hs, const uint8_t s_priv[32], const uint8_t *dgram, size_t len,
		 struct hs_init *in);
/* Server: fills out[hs_resp_dgram_len(r)] and derives the transport keys
 * (send = server -> client). Wipes hs. */
int hs_write_resp(struct noise_hs *hs, const struct hs_resp *r, const uint8_t *e_priv, uint8_t *out,
		  uint8_t send_key[32], uint8_t recv_key[32]);
/* Client: on success fills r and the transport keys. Wipes hs on success.
 * Takes either form of HS_RESP (has6 says which came). */
int hs_read_resp(struct noise_hs *hs, const uint8_t *dgram, size_t len, struct hs_resp *r,
		 uint8_t send_key[32], uint8_t recv_key[32]);

/* The control type of a validated CONTROL datagram, or -1. */
int hs_control_type(const uint8_t *dgram, size_t len);

#endif
