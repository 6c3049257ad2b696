/* test_ecn.c - RFC 6040 encapsulation and decapsulation of the ECN field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecn.h"
#include "offload.h"

/* A 20-byte IPv4 header with the given ECN bits and a valid checksum. */
static void ip4(uint8_t *p, uint8_t ecn)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	p[1] = (uint8_t)(0xb8 | ecn); /* DSCP EF, to check it is kept */
	p[3] = 28;
	p[8] = 64;
	p[9] = 17;
	p[12] = 10, p[15] = 2, p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 2;
	uint16_t c = csum_fold(csum_add(0, p, 20));
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
}

/* A 40-byte IPv6 header with the given ECN bits in its traffic class
 * (DSCP EF beside them, and a flow label, to check both are kept). */
static void ip6(uint8_t *p, uint8_t ecn)
{
	memset(p, 0, 40);
	p[0] = 0x6b; /* version 6, traffic class high nibble 0xb */
	p[1] = (uint8_t)(0x80 | ecn << 4 | 0x0a); /* class low nibble, flow label */
	p[2] = 0xbc, p[3] = 0xde;
	p[6] = 17;
	p[7] = 64;
	p[8] = 0xfd, p[23] = 2, p[24] = 0xfd, p[39] = 1;
}

static uint8_t ecn6(const uint8_t *p)
{
	return p[1] >> 4 & 3;
}

static int checksum_ok(const uint8_t *p)
{
	return csum_fold(csum_add(0, p, 20)) == 0;
}

static void test_encap_copies_inner(void **state)
{
	(void)state;
	uint8_t p[28];
	for (uint8_t e = 0; e < 4; e++) {
		ip4(p, e);
		assert_int_equal(ecn_encap(p, sizeof(p)), e);
	}
	assert_int_equal(ecn_encap(p, 10), ECN_NOT_ECT);
	uint8_t q[40];
	for (uint8_t e = 0; e < 4; e++) {
		ip6(q, e);
		assert_int_equal(ecn_encap(q, sizeof(q)), e);
		assert_int_equal(ecn_encap(q, 39), ECN_NOT_ECT); /* shorter than its header */
	}
	q[0] = 0x50; /* neither IPv4 nor IPv6 */
	assert_int_equal(ecn_encap(q, sizeof(q)), ECN_NOT_ECT);
}

/* RFC 6040 figure 4, outer Not-ECT, ECT(0) or ECT(1): the packet is
 * forwarded as it came, except ECT(1) outside ECT(0), which becomes
 * ECT(1) (tested below). */
static void test_decap_without_ce_changes_nothing(void **state)
{
	(void)state;
	uint8_t p[28], q[28];
	for (uint8_t outer = 0; outer < 3; outer++) {
		for (uint8_t inner = 0; inner < 4; inner++) {
			if (outer == 1 && inner == 2)
				continue;
			ip4(p, inner);
			memcpy(q, p, sizeof(p));
			assert_true(ecn_decap(outer, p, sizeof(p)));
			assert_memory_equal(p, q, sizeof(p));
		}
	}
}

static void test_decap_ect1_over_ect0(void **state)
{
	(void)state;
	uint8_t p[28], q[40];
	ip4(p, 2);
	assert_true(ecn_decap(1, p, sizeof(p)));
	assert_int_equal(p[1], 0xb8 | 1);
	assert_true(checksum_ok(p));
	ip6(q, 2);
	assert_true(ecn_decap(1, q, sizeof(q)));
	assert_int_equal(ecn6(q), 1);
	assert_int_equal(q[0], 0x6b);
	assert_int_equal(q[1] & 0xcf, 0x8a);
}

static void test_ipv6_decap_and_marks(void **state)
{
	(void)state;
	uint8_t q[40], r[40];
	for (uint8_t outer = 0; outer < 4; outer++) {
		for (uint8_t inner = 0; inner < 4; inner++) {
			ip6(q, inner);
			memcpy(r, q, sizeof(q));
			bool keep = ecn_decap(outer, q, sizeof(q));
			uint8_t want = inner;
			if (outer == 3)
				want = inner ? 3 : 0;
			else if (outer == 1 && inner == 2)
				want = 1;
			assert_int_equal(keep, !(outer == 3 && inner == 0));
			assert_int_equal(ecn6(q), want);
			r[1] = (uint8_t)((r[1] & 0xcf) | want << 4);
			assert_memory_equal(q, r, sizeof(q)); /* nothing else touched */
		}
	}
	/* CoDel's mark: ECT -> CE, Not-ECT refused (dropped instead). */
	ip6(q, 2);
	assert_true(ip_mark_ce(q, sizeof(q)));
	assert_int_equal(ecn6(q), 3);
	ip6(q, 0);
	assert_false(ip_mark_ce(q, sizeof(q)));
	assert_int_equal(ecn6(q), 0);
}

static void test_decap_ce_marks_ect(void **state)
{
	(void)state;
	uint8_t p[28];
	for (uint8_t inner = 1; inner < 4; inner++) {
		ip4(p, inner);
		assert_true(ecn_decap(ECN_CE, p, sizeof(p)));
		assert_int_equal(p[1], 0xb8 | ECN_CE);
		assert_true(checksum_ok(p));
	}
}

static void test_decap_ce_on_not_ect_drops(void **state)
{
	(void)state;
	uint8_t p[28], q[28];
	ip4(p, ECN_NOT_ECT);
	memcpy(q, p, sizeof(p));
	assert_false(ecn_decap(ECN_CE, p, sizeof(p)));
	assert_memory_equal(p, q, sizeof(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encap_copies_inner),
		cmocka_unit_test(test_decap_without_ce_changes_nothing),
		cmocka_unit_test(test_decap_ect1_over_ect0),
		cmocka_unit_test(test_ipv6_decap_and_marks),
		cmocka_unit_test(test_decap_ce_marks_ect),
		cmocka_unit_test(test_decap_ce_on_not_ect_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
