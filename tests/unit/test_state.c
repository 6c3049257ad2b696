/* test_state.c - the gateway's state file text: the exact form, a round
 * trip, and every damage (cut short anywhere, a byte changed anywhere)
 * recognised; matching entries to configured clients by key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "state.h"

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct state_entry two[2];

static int init(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < 32; i++) {
		two[0].pub[i] = (uint8_t)i;
		two[1].pub[i] = 0xff;
	}
	two[0].addr4 = A4(10, 77, 0, 2);
	two[1].addr4 = A4(10, 77, 0, 250);
	return 0;
}

static void render(struct sbuf *b, const struct state_entry *e, size_t n)
{
	sbuf_init(b);
	state_render(e, n, b);
	assert_false(sbuf_failed(b));
}

static void test_render_form(void **state)
{
	(void)state;
	struct sbuf b;
	render(&b, two, 2);
	const char *body = "vpngw-state 1\n"
			   "client AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 10.77.0.2\n"
			   "client //////////////////////////////////////////8= 10.77.0.250\n";
	assert_int_equal(strncmp(b.s, body, strlen(body)), 0);
	/* the last line: the BLAKE2b-256 of everything before it */
	uint8_t sum[32];
	char hex[65], want[80];
	crypto_generichash(sum, 32, (const uint8_t *)body, strlen(body), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), sum, 32);
	snprintf(want, sizeof(want), "checksum %s\n", hex);
	assert_string_equal(b.s + strlen(body), want);
	sbuf_free(&b);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct sbuf b;
	struct state_entry *e;
	size_t n;
	char err[128];
	render(&b, two, 2);
	assert_int_equal(state_parse(b.s, b.len, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(e, two, sizeof(two));
	free(e);
	sbuf_free(&b);

	/* no clients: a valid file with no entries */
	render(&b, NULL, 0);
	assert_int_equal(state_parse(b.s, b.len, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(e);
	sbuf_free(&b);
}

static void test_every_cut_and_every_changed_byte_refused(void **state)
{
	(void)state;
	struct sbuf b;
	struct state_entry *e;
	size_t n;
	char err[128];
	render(&b, two, 2);
	for (size_t len = 0; len < b.len; len++) {
		err[0] = '\0';
		if (state_parse(b.s, len, &e, &n, err, sizeof(err)) == 0)
			fail_msg("accepted the file cut to %zu of %zu bytes", len, b.len);
		assert_null(e);
		assert_true(!strncmp(err, "line ", 5));
	}
	for (size_t i = 0; i < b.len; i++) {
		char saved = b.s[i];
		b.s[i] = saved == 'x' ? 'y' : 'x';
		if (state_parse(b.s, b.len, &e, &n, err, sizeof(err)) == 0)
			fail_msg("accepted the file with byte %zu changed", i);
		b.s[i] = saved;
	}
	/* anything after the checksum line too */
	sbuf_puts(&b, "client x\n");
	assert_int_equal(state_parse(b.s, b.len, &e, &n, err, sizeof(err)), -1);
	sbuf_free(&b);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	struct state_entry *e;
	size_t n;
	char err[128];
	const char *t = "not a state file\n";
	assert_int_equal(state_parse(t, strlen(t), &e, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "line 1: not a vpngw state file (want \"vpngw-state 1\")");
	t = "vpngw-state 1\nclient AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 10.77.0.2\n";
	assert_int_equal(state_parse(t, strlen(t), &e, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "line 3: cut short: no checksum line");
	t = "vpngw-state 1\nclient AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 10.77.0.256\nchecksum 00\n";
	assert_int_equal(state_parse(t, strlen(t), &e, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2: want \"client <public key> <IPv4 address>\"");
	t = "vpngw-state 1\nchecksum 0000000000000000000000000000000000000000000000000000000000000000\n";
	assert_int_equal(state_parse(t, strlen(t), &e, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2: checksum does not match: damaged or cut short");
	const char *bad_addr[] = { "10.77.0", "10.77.0.2.1", "010.77.0.2", "10.77.0.-1", "10.77.0.2 ", "a.b.c.d", "" };
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "vpngw-state 1\nclient AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= %s\n",
			 bad_addr[i]);
		assert_int_equal(state_parse(text, strlen(text), &e, &n, err, sizeof(err)), -1);
		if (strcmp(err, "line 2: want \"client <public key> <IPv4 address>\""))
			fail_msg("\"%s\": %s", bad_addr[i], err);
	}
}

static void test_apply_by_key(void **state)
{
	(void)state;
	struct peer_conf peers[3];
	struct server_conf c = { .peers = peers, .npeers = 3 };
	struct state_entry e[2];
	memcpy(e, two, sizeof(two));
	memset(peers, 0, sizeof(peers));
	memcpy(peers[0].pub, two[1].pub, 32); /* order differs from the file's */
	memset(peers[1].pub, 0x42, 32);       /* a client the file does not know */
	memcpy(peers[2].pub, two[0].pub, 32);
	peers[1].remembered4 = 123;           /* stale: overwritten */
	state_apply(e, 2, &c);
	assert_int_equal(peers[0].remembered4, A4(10, 77, 0, 250));
	assert_int_equal(peers[1].remembered4, 0);
	assert_int_equal(peers[2].remembered4, A4(10, 77, 0, 2));
	state_apply(NULL, 0, &c);
	assert_int_equal(peers[0].remembered4, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_form),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_cut_and_every_changed_byte_refused),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_apply_by_key),
	};
	return cmocka_run_group_tests(tests, init, NULL);
}
