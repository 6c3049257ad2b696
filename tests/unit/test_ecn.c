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
	p[0] = 0x60; /* IPv6 is not carried: Not-ECT outside */
	assert_int_equal(ecn_encap(p, sizeof(p)), ECN_NOT_ECT);
	assert_int_equal(ecn_encap(p, 10), ECN_NOT_ECT);
}

static void test_decap_without_ce_changes_nothing(void **state)
{
	(void)state;
	uint8_t p[28], q[28];
	for (uint8_t outer = 0; outer < 3; outer++) {
		for (uint8_t inner = 0; inner < 4; inner++) {
			ip4(p, inner);
			memcpy(q, p, sizeof(p));
			assert_true(ecn_decap(outer, p, sizeof(p)));
			assert_memory_equal(p, q, sizeof(p));
		}
	}
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
		cmocka_unit_test(test_decap_ce_marks_ect),
		cmocka_unit_test(test_decap_ce_on_not_ect_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
