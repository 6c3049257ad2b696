/* wire.h - the 32-byte datagram header every vpngw message starts with.
 *
 * Layout (network byte order), see docs/PROTOCOL.md:
 *   0 magic u32 | 4 version u8 | 5 type u8 | 6 flags u16 | 8 client_id[16]
 *   24 seq u32 | 28 payload_len u16 | 30 reserved u16 | 32 payload
 */
#ifndef VPNGW_WIRE_H
#define VPNGW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0x56504E31u /* "VPN1" */
#define WIRE_VERSION 1
#define WIRE_HDR_LEN 32
#define WIRE_ID_LEN 16
#define WIRE_TAG_LEN 16 /* AEAD tag after every DATA/KEEPALIVE payload */

enum wire_type { WIRE_DATA = 1, WIRE_KEEPALIVE = 2, WIRE_CONTROL = 3 };

/* DATA and KEEPALIVE carry the key epoch in the low byte of flags. In
 * DATA, WIRE_FLAG_CSUM_PARTIAL says the inner TCP/UDP checksum field holds
 * only the pseudo-header sum; it is sent only to a peer that said in the
 * handshake that it takes such packets. Every other bit is reserved and
 * must be zero; CONTROL uses no flags. */
#define WIRE_FLAGS_EPOCH_MASK 0x00ffu
#define WIRE_FLAG_CSUM_PARTIAL 0x0100u

struct wire_hdr {
	uint8_t type;
	uint16_t flags;
	uint8_t client_id[WIRE_ID_LEN];
	uint32_t seq;
	uint16_t payload_len;
};

enum wire_err {
	WIRE_OK = 0,
	WIRE_ERR_SHORT,    /* shorter than a header */
	WIRE_ERR_MAGIC,
	WIRE_ERR_VERSION,
	WIRE_ERR_TYPE,
	WIRE_ERR_FLAGS,    /* reserved flag bits or reserved field set */
	WIRE_ERR_LENGTH,   /* payload_len disagrees with the datagram length */
};

void wire_encode(uint8_t out[WIRE_HDR_LEN], const struct wire_hdr *h);

/* Parses and strictly validates one received datagram of len bytes. */
enum wire_err wire_decode(struct wire_hdr *h, const uint8_t *dgram, size_t len);

const char *wire_strerror(enum wire_err e);

#endif
