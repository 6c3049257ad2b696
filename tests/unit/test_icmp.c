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
	/* RFC 1122 3.2.2: not to a source that is no single host, not about
	 * a packet to a group or to everyone. */
	const uint8_t no_host[] = { 0, 127, 224, 239, 240, 255 };
	for (size_t i = 0; i < sizeof(no_host); i++) {
		ip4(orig, sizeof(orig), 6, 0x40, 0);
		orig[12] = no_host[i];
		assert_int_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out), 0);
		ip4(orig, sizeof(orig), 6, 0x40, 0);
		orig[16] = no_host[i];
		size_t n = icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out);
		if (no_host[i] >= 224)
			assert_int_equal(n, 0);
		else
			assert_int_not_equal(n, 0); /* to 0/8 or 127/8: a host sent it, tell it */
	}
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

/* An IPv6 packet of len bytes, next header nh, from 2001:db8::2 to fd77::9. */
static void ip6(uint8_t *p, size_t len, uint8_t nh, uint8_t first_payload_byte)
{
	memset(p, 0xab, len);
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = nh;
	p[7] = 60;
	p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 2;
	p[24] = 0xfd, p[25] = 0x77, p[39] = 9;
	p[40] = first_payload_byte;
}

static const uint8_t FROM6[16] = { 0xfd, 0x77, [15] = 1 };

/* The ICMPv6 checksum: over the pseudo-header and the message. */
static uint16_t icmp6_csum(const uint8_t *m, size_t n)
{
	uint8_t pseudo[40] = { 0 };
	memcpy(pseudo, m + 8, 32);
	uint8_t tail[8] = { 0, 0, (uint8_t)((n - 40) >> 8), (uint8_t)(n - 40), 0, 0, 0, 58 };
	uint32_t sum = csum_add(0, pseudo, 32);
	sum = csum_add(sum, tail, 8);
	sum = csum_add(sum, m + 40, n - 40);
	return csum_fold(sum);
}

static void test_packet_too_big(void **state)
{
	(void)state;
	uint8_t orig[1500], out[ICMP6_TOO_BIG_MAX];
	ip6(orig, sizeof(orig), 6, 0x11);
	size_t n = icmp6_too_big(orig, sizeof(orig), FROM6, 1400, out);
	/* no more than the IPv6 minimum MTU, quoting as much as fits */
	assert_int_equal(n, 1280);
	assert_int_equal(out[0] >> 4, 6);
	assert_int_equal(out[4] << 8 | out[5], n - 40);
	assert_int_equal(out[6], 58);
	assert_memory_equal(out + 8, FROM6, 16);
	assert_memory_equal(out + 24, orig + 8, 16); /* back to the sender */
	assert_int_equal(out[40], 2);
	assert_int_equal(out[41], 0);
	assert_int_equal((uint32_t)out[44] << 24 | (uint32_t)out[45] << 16 | (uint32_t)out[46] << 8 | out[47], 1400);
	assert_memory_equal(out + 48, orig, 1280 - 48);
	assert_int_equal(icmp6_csum(out, n), 0);

	/* a short packet is quoted whole */
	ip6(orig, 101, 17, 0);
	n = icmp6_too_big(orig, 101, FROM6, 1280, out);
	assert_int_equal(n, 48 + 101);
	assert_memory_equal(out + 48, orig, 101);
	assert_int_equal(icmp6_csum(out, n), 0);
}

static void test_no_packet_too_big_when_not_due(void **state)
{
	(void)state;
	uint8_t orig[1500], out[ICMP6_TOO_BIG_MAX];
	/* ICMPv6 errors (types below 128) are never answered; informational are */
	for (int type = 0; type < 256; type += 1) {
		ip6(orig, sizeof(orig), 58, (uint8_t)type);
		size_t n = icmp6_too_big(orig, sizeof(orig), FROM6, 1400, out);
		if (type < 128)
			assert_int_equal(n, 0);
		else
			assert_int_not_equal(n, 0);
	}
	/* an unspecified or a multicast source: nobody to tell */
	ip6(orig, sizeof(orig), 17, 0);
	memset(orig + 8, 0, 16);
	assert_int_equal(icmp6_too_big(orig, sizeof(orig), FROM6, 1400, out), 0);
	ip6(orig, sizeof(orig), 17, 0);
	orig[8] = 0xff;
	assert_int_equal(icmp6_too_big(orig, sizeof(orig), FROM6, 1400, out), 0);
	/* not IPv6, or too short */
	ip6(orig, sizeof(orig), 17, 0);
	assert_int_equal(icmp6_too_big(orig, 39, FROM6, 1400, out), 0);
	orig[0] = 0x45;
	assert_int_equal(icmp6_too_big(orig, sizeof(orig), FROM6, 1400, out), 0);
	/* and the IPv4 call wants nothing to do with IPv6 */
	ip6(orig, sizeof(orig), 17, 0);
	uint8_t out4[ICMP4_FRAG_NEEDED_MAX];
	assert_int_equal(icmp4_frag_needed(orig, sizeof(orig), FROM, 1400, out4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frag_needed_for_df),
		cmocka_unit_test(test_no_message_when_not_due),
		cmocka_unit_test(test_short_payload_quoted_as_is),
		cmocka_unit_test(test_packet_too_big),
		cmocka_unit_test(test_no_packet_too_big_when_not_due),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
