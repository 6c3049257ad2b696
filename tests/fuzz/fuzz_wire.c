/* fuzz_wire.c - wire_decode on arbitrary bytes.
 *
 * Checks, besides memory safety:
 *  - the verdict (accept or refuse) agrees with an independent reading of
 *    docs/PROTOCOL.md section 2, written here from the document;
 *  - an accepted header re-encodes (wire_encode) to the same 32 bytes;
 *  - every error has a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fixture.h"

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* PROTOCOL.md section 2, "A receiver drops ... any datagram where". */
static bool spec_accepts(const uint8_t *d, size_t len)
{
	if (len < 32)
		return false;
	if (d[0] != 0x56 || d[1] != 0x50 || d[2] != 0x4E || d[3] != 0x31 || d[4] != 1)
		return false;
	unsigned type = d[5], flags = be16(d + 6), plen = be16(d + 28);
	if (type < 1 || type > 3)
		return false;
	if (be16(d + 30) != 0)
		return false;
	/* CONTROL: no flags; KEEPALIVE: the epoch byte; DATA: that and bit 8
	 * (partial checksum). */
	unsigned allowed = type == 3 ? 0 : type == 2 ? 0x00ff : 0x01ff;
	if (flags & ~allowed)
		return false;
	if (plen != len - 32)
		return false;
	if (type != 3 && plen < 16)
		return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	memset(&h, 0x5a, sizeof(h));
	enum wire_err e = wire_decode(&h, data, size);
	const char *msg = wire_strerror(e);
	FX_CHECK(msg && *msg);
	FX_CHECK((e == WIRE_OK) == spec_accepts(data, size));
	if (e != WIRE_OK)
		return 0;

	uint8_t out[WIRE_HDR_LEN];
	wire_encode(out, &h);
	FX_CHECK(memcmp(out, data, WIRE_HDR_LEN) == 0);
	FX_CHECK(h.payload_len == size - WIRE_HDR_LEN);
	FX_CHECK(h.type >= WIRE_DATA && h.type <= WIRE_CONTROL);
	if (h.type == WIRE_CONTROL)
		FX_CHECK(hs_control_type(data, size) == (size > WIRE_HDR_LEN ? data[WIRE_HDR_LEN] : -1));
	return 0;
}
