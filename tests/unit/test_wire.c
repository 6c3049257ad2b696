/* test_wire.c - the 32-byte header codec against hand-written bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

_Static_assert(WIRE_HDR_LEN == 32, "the header is exactly 32 bytes");
_Static_assert(WIRE_ID_LEN == 16, "clientId is 16 bytes");
_Static_assert(WIRE_TAG_LEN == 16, "the AEAD tag is 16 bytes");

/* type DATA, flags 0x0007, clientId 10..1f, seq 0x01020304, payloadLen 0x0014 */
static const uint8_t golden[WIRE_HDR_LEN] = {
	0x56, 0x50, 0x4e, 0x31,                         /* magic "VPN1" */
	0x01,                                           /* version */
	0x01,                                           /* type DATA */
	0x00, 0x07,                                     /* flags BE */
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, /* clientId */
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x01, 0x02, 0x03, 0x04,                         /* seq BE */
	0x00, 0x14,                                     /* payloadLen BE */
	0x00, 0x00,                                     /* reserved */
};
#define GOLDEN_PAYLOAD 0x14

static struct wire_hdr golden_hdr(void)
{
	struct wire_hdr h = { .type = WIRE_DATA, .flags = 0x0007, .seq = 0x01020304, .payload_len = GOLDEN_PAYLOAD };
	for (int i = 0; i < WIRE_ID_LEN; i++)
		h.client_id[i] = (uint8_t)(0x10 + i);
	return h;
}

/* A datagram: the golden header (possibly modified) + payload bytes. */
struct dgram {
	uint8_t b[WIRE_HDR_LEN + 256];
	size_t len;
};

static struct dgram golden_dgram(void)
{
	struct dgram d;
	memset(&d, 0xee, sizeof(d.b));
	memcpy(d.b, golden, sizeof(golden));
	d.len = WIRE_HDR_LEN + GOLDEN_PAYLOAD;
	return d;
}

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static enum wire_err decode(const struct dgram *d)
{
	struct wire_hdr h;
	return wire_decode(&h, d->b, d->len);
}

/* A header of the given type/flags/payload length, encoded. */
static struct dgram make(uint8_t type, uint16_t flags, uint16_t payload_len)
{
	struct dgram d;
	struct wire_hdr h = golden_hdr();
	h.type = type;
	h.flags = flags;
	h.payload_len = payload_len;
	memset(d.b, 0, sizeof(d.b));
	wire_encode(d.b, &h);
	d.len = WIRE_HDR_LEN + payload_len;
	return d;
}

static void test_encode_golden(void **state)
{
	(void)state;
	uint8_t out[WIRE_HDR_LEN + 1];
	memset(out, 0xaa, sizeof(out));
	struct wire_hdr h = golden_hdr();
	wire_encode(out, &h);
	assert_memory_equal(out, golden, WIRE_HDR_LEN);
	assert_int_equal(out[WIRE_HDR_LEN], 0xaa); /* writes exactly 32 bytes */
}

static void test_encode_byte_order(void **state)
{
	(void)state;
	uint8_t out[WIRE_HDR_LEN];
	struct wire_hdr h = { .type = WIRE_CONTROL, .flags = 0, .seq = 0xdeadbeef, .payload_len = 0xcafe };
	wire_encode(out, &h);
	static const uint8_t seq_be[] = { 0xde, 0xad, 0xbe, 0xef };
	static const uint8_t len_be[] = { 0xca, 0xfe };
	assert_memory_equal(out + 24, seq_be, 4);
	assert_memory_equal(out + 28, len_be, 2);
	assert_int_equal(out[5], WIRE_CONTROL);

	h.type = WIRE_KEEPALIVE;
	h.flags = 0x00ab;
	wire_encode(out, &h);
	assert_int_equal(out[6], 0x00);
	assert_int_equal(out[7], 0xab);
}

static void test_decode_golden(void **state)
{
	(void)state;
	struct dgram d = golden_dgram();
	struct wire_hdr h;
	memset(&h, 0x55, sizeof(h));
	assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
	struct wire_hdr want = golden_hdr();
	assert_int_equal(h.type, want.type);
	assert_int_equal(h.flags, want.flags);
	assert_memory_equal(h.client_id, want.client_id, WIRE_ID_LEN);
	assert_int_equal(h.seq, want.seq);
	assert_int_equal(h.payload_len, want.payload_len);
}

static void test_roundtrip_all_types(void **state)
{
	(void)state;
	const uint8_t types[] = { WIRE_DATA, WIRE_KEEPALIVE, WIRE_CONTROL };
	for (size_t i = 0; i < sizeof(types); i++) {
		uint16_t flags = types[i] == WIRE_CONTROL ? 0 : 0x00ff;
		uint16_t plen = types[i] == WIRE_CONTROL ? 0 : WIRE_TAG_LEN;
		struct dgram d = make(types[i], flags, plen);
		struct wire_hdr h;
		assert_int_equal(wire_decode(&h, d.b, d.len), WIRE_OK);
		assert_int_equal(h.type, types[i]);
		assert_int_equal(h.flags, flags);
		assert_int_equal(h.payload_len, plen);
		assert_int_equal(h.seq, 0x01020304);
	}
}

static void test_err_short(void **state)
{
	(void)state;
	struct dgram d = golden_dgram();
	for (size_t len = 0; len < WIRE_HDR_LEN; len++) {
		struct wire_hdr h;
		assert_int_equal(wire_decode(&h, d.b, len), WIRE_ERR_SHORT);
	}
}

static void test_err_magic(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++) {
		struct dgram d = golden_dgram();
		d.b[i] ^= 0x01;
		assert_int_equal(decode(&d), WIRE_ERR_MAGIC);
	}
}

static void test_err_version(void **state)
{
	(void)state;
	const uint8_t bad[] = { 0, 2, 0x81, 0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		struct dgram d = golden_dgram();
		d.b[4] = bad[i];
		assert_int_equal(decode(&d), WIRE_ERR_VERSION);
	}
}

static void test_err_type(void **state)
{
	(void)state;
	const uint8_t bad[] = { 0, 4, 0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		struct dgram d = golden_dgram();
		d.b[5] = bad[i];
		assert_int_equal(decode(&d), WIRE_ERR_TYPE);
	}
}

static void test_err_reserved_nonzero(void **state)
{
	(void)state;
	const uint16_t bad[] = { 0x0001, 0x0100, 0x8000, 0xffff };
	const uint8_t types[] = { WIRE_DATA, WIRE_KEEPALIVE, WIRE_CONTROL };
	for (size_t t = 0; t < sizeof(types); t++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct dgram d = make(types[t], 0, WIRE_TAG_LEN);
			set16(d.b + 30, bad[i]);
			assert_int_equal(decode(&d), WIRE_ERR_FLAGS);
		}
	}
}

static void test_err_control_flags(void **state)
{
	(void)state;
	for (int bit = 0; bit < 16; bit++) {
		struct dgram d = make(WIRE_CONTROL, (uint16_t)(1u << bit), 10);
		assert_int_equal(decode(&d), WIRE_ERR_FLAGS);
	}
}

static void test_err_data_high_flags(void **state)
{
	(void)state;
	for (int bit = 8; bit < 16; bit++) {
		struct dgram d = make(WIRE_DATA, (uint16_t)(1u << bit | 0x01), WIRE_TAG_LEN + 4);
		assert_int_equal(decode(&d), (1u << bit) == WIRE_FLAG_CSUM_PARTIAL ? WIRE_OK : WIRE_ERR_FLAGS);
		d = make(WIRE_KEEPALIVE, (uint16_t)(1u << bit), WIRE_TAG_LEN);
		assert_int_equal(decode(&d), WIRE_ERR_FLAGS);
	}
	/* The partial-checksum flag is DATA's alone. */
	struct dgram k = make(WIRE_KEEPALIVE, WIRE_FLAG_CSUM_PARTIAL | 0x01, WIRE_TAG_LEN);
	assert_int_equal(decode(&k), WIRE_ERR_FLAGS);
	/* Every epoch value in the low byte is fine. */
	for (unsigned e = 0; e < 256; e++) {
		struct dgram d = make(WIRE_DATA, (uint16_t)e, WIRE_TAG_LEN);
		assert_int_equal(decode(&d), WIRE_OK);
	}
}

static void test_err_length_mismatch(void **state)
{
	(void)state;
	struct dgram d = golden_dgram();
	/* payloadLen larger than what arrived */
	d.len = WIRE_HDR_LEN + GOLDEN_PAYLOAD - 1;
	assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	/* payloadLen smaller than what arrived */
	d.len = WIRE_HDR_LEN + GOLDEN_PAYLOAD + 1;
	assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	/* header only, payloadLen says more */
	d.len = WIRE_HDR_LEN;
	assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	/* the field itself off by one each way */
	d = golden_dgram();
	set16(d.b + 28, GOLDEN_PAYLOAD + 1);
	assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	set16(d.b + 28, GOLDEN_PAYLOAD - 1);
	assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	/* a length that would only match modulo 2^16 */
	struct wire_hdr h;
	static uint8_t big[WIRE_HDR_LEN + 65536 + 4];
	memcpy(big, golden, WIRE_HDR_LEN);
	set16(big + 28, 4);
	assert_int_equal(wire_decode(&h, big, WIRE_HDR_LEN + 65536 + 4), WIRE_ERR_LENGTH);
}

static void test_err_encrypted_shorter_than_tag(void **state)
{
	(void)state;
	for (uint16_t plen = 0; plen < WIRE_TAG_LEN; plen++) {
		struct dgram d = make(WIRE_DATA, 1, plen);
		assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
		d = make(WIRE_KEEPALIVE, 1, plen);
		assert_int_equal(decode(&d), WIRE_ERR_LENGTH);
	}
	struct dgram d = make(WIRE_KEEPALIVE, 1, WIRE_TAG_LEN);
	assert_int_equal(decode(&d), WIRE_OK);
	/* CONTROL is not encrypted by the header layer: any length is fine. */
	d = make(WIRE_CONTROL, 0, 0);
	assert_int_equal(decode(&d), WIRE_OK);
	d = make(WIRE_CONTROL, 0, 1);
	assert_int_equal(decode(&d), WIRE_OK);
}

static void test_strerror_distinct(void **state)
{
	(void)state;
	const enum wire_err all[] = { WIRE_OK, WIRE_ERR_SHORT, WIRE_ERR_MAGIC, WIRE_ERR_VERSION,
				      WIRE_ERR_TYPE, WIRE_ERR_FLAGS, WIRE_ERR_LENGTH };
	const size_t n = sizeof(all) / sizeof(all[0]);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(wire_strerror(all[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(wire_strerror(all[i]), wire_strerror(all[j]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_golden),
		cmocka_unit_test(test_encode_byte_order),
		cmocka_unit_test(test_decode_golden),
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_err_short),
		cmocka_unit_test(test_err_magic),
		cmocka_unit_test(test_err_version),
		cmocka_unit_test(test_err_type),
		cmocka_unit_test(test_err_reserved_nonzero),
		cmocka_unit_test(test_err_control_flags),
		cmocka_unit_test(test_err_data_high_flags),
		cmocka_unit_test(test_err_length_mismatch),
		cmocka_unit_test(test_err_encrypted_shorter_than_tag),
		cmocka_unit_test(test_strerror_distinct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
