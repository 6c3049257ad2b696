/* test_icmp.c - "fragmentation needed" messages for oversize packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "icmp.h"
#include "offload.h"

#define FROM 0x0a4d0002u /* 10.77.0.2 */

/* An IPv4 packet of len bytes from 198.51.100.2 to 10.77.0.9. */
static void ip4(uint8_t *p, size_t len, uint8_t proto, uint8_t frag_hi, uint8_t first_payload_byte)
{
	memset(p, 0xab, len);
	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = frag_hi;
	p[8] = 60;
	p[9] = proto;
	p[12] = 198, p[13] = 51, p[14] = 100, p[15] = 2;
	p[16] = 10, p[17] = 77, p[18] = 0, p[19] = 9;
	p[20] = first_payload_byte;
}

static void test_frag_needed_for_df(void **state)
{
	(void)state;
	uint8_t orig[1500], out[ICMP4_FRAG_NEEDED_MAX];
	ip4(orig, sizeof(orig), 6, 0x40, 0x11);
	size_t n = icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out);
	assert_int_equal(n, 20 + 8 + 20 + 8);
	/* IP: to the sender, from us, ICMP, lengths and checksum right */
	assert_int_equal(out[0], 0x45);
	assert_int_equal(out[2] << 8 | out[3], n);
	assert_int_equal(out[9], 1);
	assert_memory_equal(out + 16, orig + 12, 4);
	assert_int_equal(out[12], 10);
	assert_int_equal(out[15], 2);
	assert_int_equal(csum_fold(csum_add(0, out, 20)), 0);
	/* ICMP: type 3 code 4, the MTU, the quoted header and 8 bytes, checksum */
	assert_int_equal(out[20], 3);
	assert_int_equal(out[21], 4);
	assert_int_equal(out[26] << 8 | out[27], 1400);
	assert_memory_equal(out + 28, orig, 28);
	assert_int_equal(csum_fold(csum_add(0, out + 20, n - 20)), 0);
}

static void test_no_message_when_not_due(void **state)
{
	(void)state;
	uint8_t orig[1500], out[ICMP4_FRAG_NEEDED_MAX];
	ip4(orig, sizeof(orig), 6, 0x00, 0);
	assert_int_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out), 0); /* no DF */
	ip4(orig, sizeof(orig), 6, 0x40 | 0x01, 0);
	assert_int_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out), 0); /* later fragment */
	for (uint8_t type = 3; type <= 12; type++) {
		ip4(orig, sizeof(orig), 1, 0x40, type);
		size_t n = icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out);
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
			assert_int_equal(n, 0); /* never an error about an error */
	}
	ip4(orig, sizeof(orig), 1, 0x40, 8); /* an echo request is answered */
	assert_int_not_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out), 0);
	orig[0] = 0x60;
	assert_int_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out), 0);
	assert_int_equal(icmp4_frag_needed(orig, 10, FROM, 1400, out), 0);
}

static void test_short_payload_quoted_as_is(void **state)
{
	(void)state;
	uint8_t orig[24], out[ICMP4_FRAG_NEEDED_MAX];
	ip4(orig, sizeof(orig), 17, 0x40, 0x22);
	size_t n = icmp4_frag_needed(orig, sizeof(orig), FROM, 1280, out);
	assert_int_equal(n, 20 + 8 + 24);
	assert_memory_equal(out + 28, orig, 24);
	assert_int_equal(csum_fold(csum_add(0, out + 20, n - 20)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frag_needed_for_df),
		cmocka_unit_test(test_no_message_when_not_due),
		cmocka_unit_test(test_short_payload_quoted_as_is),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
