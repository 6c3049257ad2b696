/* wire.c - header codec. Strict on receive: anything not exactly as
 * PROTOCOL.md describes is refused before any crypto runs. */
#include "wire.h"

#include <string.h>

#include "bytes.h"

_Static_assert(WIRE_HDR_LEN == 4 + 1 + 1 + 2 + WIRE_ID_LEN + 4 + 2 + 2,
	       "the header is exactly 32 bytes");

void wire_encode(uint8_t out[WIRE_HDR_LEN], const struct wire_hdr *h)
{
	put32(out, WIRE_MAGIC);
	out[4] = WIRE_VERSION;
	out[5] = h->type;
	put16(out + 6, h->flags);
	memcpy(out + 8, h->client_id, WIRE_ID_LEN);
	put32(out + 24, h->seq);
	put16(out + 28, h->payload_len);
	put16(out + 30, 0);
}

enum wire_err wire_decode(struct wire_hdr *h, const uint8_t *d, size_t len)
{
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	if (get32(d) != WIRE_MAGIC)
		return WIRE_ERR_MAGIC;
	if (d[4] != WIRE_VERSION)
		return WIRE_ERR_VERSION;
	h->type = d[5];
	if (h->type < WIRE_DATA || h->type > WIRE_CONTROL)
		return WIRE_ERR_TYPE;
	h->flags = get16(d + 6);
	if (get16(d + 30) != 0)
		return WIRE_ERR_FLAGS;
	uint16_t allowed = h->type == WIRE_CONTROL   ? 0
			   : h->type == WIRE_KEEPALIVE ? WIRE_FLAGS_EPOCH_MASK
						       : WIRE_FLAGS_EPOCH_MASK | WIRE_FLAG_CSUM_PARTIAL;
	if (h->flags & ~allowed)
		return WIRE_ERR_FLAGS;
	memcpy(h->client_id, d + 8, WIRE_ID_LEN);
	h->seq = get32(d + 24);
	h->payload_len = get16(d + 28);
	if ((size_t)h->payload_len != len - WIRE_HDR_LEN)
		return WIRE_ERR_LENGTH;
	/* An encrypted message is at least its tag. */
	if (h->type != WIRE_CONTROL && h->payload_len < WIRE_TAG_LEN)
		return WIRE_ERR_LENGTH;
	return WIRE_OK;
}

const char *wire_strerror(enum wire_err e)
{
	switch (e) {
	case WIRE_OK: return "ok";
	case WIRE_ERR_SHORT: return "shorter than a header";
	case WIRE_ERR_MAGIC: return "bad magic";
	case WIRE_ERR_VERSION: return "unknown version";
	case WIRE_ERR_TYPE: return "unknown message type";
	case WIRE_ERR_FLAGS: return "reserved bits set";
	case WIRE_ERR_LENGTH: return "payload length mismatch";
	}
	return "unknown error";
}
