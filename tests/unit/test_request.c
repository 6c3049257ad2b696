/* test_request.c - the control socket's request line and the metrics
 * endpoint's HTTP request: what is accepted, and the precise errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static int parse(const char *line, struct ctl_req *r, char *err)
{
	strcpy(err, "untouched");
	return ctl_parse(line, strlen(line), r, err, 256);
}

static void test_show_forms(void **state)
{
	(void)state;
	struct ctl_req r;
	char err[256];
	assert_int_equal(parse("show", &r, err), 0);
	assert_int_equal(r.cmd, CTL_SHOW);
	assert_false(r.json);
	assert_false(r.keys);
	assert_int_equal(parse("show json", &r, err), 0);
	assert_true(r.json);
	assert_false(r.keys);
	assert_int_equal(parse("  show\tkeys  json ", &r, err), 0);
	assert_true(r.json);
	assert_true(r.keys);
	assert_string_equal(err, "untouched");
}

static void expect_err(const char *line, const char *want)
{
	struct ctl_req r;
	char err[256];
	assert_int_equal(parse(line, &r, err), -1);
	if (strcmp(err, want))
		fail_msg("for \"%s\": got \"%s\", want \"%s\"", line, err, want);
}

#define USAGE "want: show [json] [keys] | add NAME KEY [ADDRESS] | remove CLIENT | address CLIENT ADDRESS|pool | rename CLIENT NAME"
#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void test_errors_are_precise(void **state)
{
	(void)state;
	expect_err("", "empty request; " USAGE);
	expect_err(" \t ", "empty request; " USAGE);
	expect_err("SHOW", "unknown command \"SHOW\"; " USAGE);
	expect_err("set peer x", "unknown command \"set\"; " USAGE);
	expect_err("show yaml", "show: unknown option \"yaml\"; want: show [json] [keys]");
	expect_err("show json json", "show: \"json\" given twice");
	expect_err("show keys x", "show: unknown option \"x\"; want: show [json] [keys]");
	expect_err("show\r", "request has a byte that is not printable ASCII (0x0d at offset 4)");
	expect_err("show \xc3\xa9", "request has a byte that is not printable ASCII (0xc3 at offset 5)");
	expect_err("a b c d e f g h i", "too many words (at most 8); " USAGE);
	/* a long word is quoted only in part */
	char line[200] = "show ";
	memset(line + 5, 'x', 100);
	line[105] = '\0';
	expect_err(line, "show: unknown option \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; want: show [json] [keys]");
}

static void test_set_commands(void **state)
{
	(void)state;
	struct ctl_req r;
	char err[256];
	assert_int_equal(parse("add laptop " KEY, &r, err), 0);
	assert_int_equal(r.cmd, CTL_ADD);
	assert_string_equal(r.name, "laptop");
	assert_int_equal(r.pub[1], 1);
	assert_int_equal(r.pub[31], 31);
	assert_int_equal(r.addr4, 0);
	assert_int_equal(parse("add laptop " KEY " 10.77.0.9/32", &r, err), 0);
	assert_int_equal(r.addr4, 0x0a4d0009u);
	assert_int_equal(parse("remove laptop", &r, err), 0);
	assert_int_equal(r.cmd, CTL_REMOVE);
	assert_string_equal(r.who, "laptop");
	assert_int_equal(parse("address " KEY " pool", &r, err), 0);
	assert_int_equal(r.cmd, CTL_ADDRESS);
	assert_string_equal(r.who, KEY);
	assert_int_equal(r.addr4, 0);
	assert_int_equal(parse("address laptop 10.77.0.200", &r, err), 0);
	assert_int_equal(r.addr4, 0x0a4d00c8u);
	assert_int_equal(parse("rename laptop desk", &r, err), 0);
	assert_int_equal(r.cmd, CTL_RENAME);
	assert_string_equal(r.who, "laptop");
	assert_string_equal(r.name, "desk");

	expect_err("add laptop", "add: too few words; want: add NAME KEY [ADDRESS]");
	expect_err("add a " KEY " 10.0.0.1 x", "add: too many words; want: add NAME KEY [ADDRESS]");
	expect_err("add a AAAA", "add: \"AAAA\": not a base64 32-byte public key");
	expect_err("add a " KEY " 10.0.0", "add: \"10.0.0\": not an IPv4 address");
	expect_err("add a " KEY " 10.0.0.1/24", "add: \"10.0.0.1/24\": not an IPv4 address");
	expect_err("add a " KEY " 0.0.0.0", "add: \"0.0.0.0\": not an IPv4 address");
	expect_err("remove", "remove: too few words; want: remove CLIENT");
	expect_err("remove a b", "remove: too many words; want: remove CLIENT");
	expect_err("address a", "address: too few words; want: address CLIENT ADDRESS|pool");
	expect_err("address a somewhere", "address: \"somewhere\": not an IPv4 address (or pool)");
	expect_err("rename a", "rename: too few words; want: rename CLIENT NAME");
	/* Names as the config takes them: one field of a logfmt line. */
	expect_err("add x\"=y " KEY, "add: \"x\"=y\": a name has no quotes, '=' or control characters (as in the config)");
	expect_err("rename a b=c", "rename: \"b=c\": a name has no quotes, '=' or control characters (as in the config)");
	char line[200];
	snprintf(line, sizeof(line), "add %070d " KEY, 0);
	expect_err(line, "add: \"00000000000000000000000000000000\": name longer than 63 characters");
}

static void test_length_limit(void **state)
{
	(void)state;
	char line[CTL_MAX_LINE + 2];
	struct ctl_req r;
	char err[256];
	memset(line, ' ', sizeof(line));
	memcpy(line, "show", 4);
	assert_int_equal(ctl_parse(line, CTL_MAX_LINE, &r, err, sizeof(err)), 0);
	assert_int_equal(ctl_parse(line, CTL_MAX_LINE + 1, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "request longer than 512 bytes");
}

static void test_no_read_past_len(void **state)
{
	(void)state;
	/* "show json" with the length cut before "json": only "show" counts */
	struct ctl_req r;
	char err[256];
	assert_int_equal(ctl_parse("show json", 4, &r, err, sizeof(err)), 0);
	assert_false(r.json);
	/* a NUL inside the length is a bad byte, not an end */
	assert_int_equal(ctl_parse("show\0json", 9, &r, err, sizeof(err)), -1);
}

static enum http_verdict http(const char *s)
{
	return http_parse(s, strlen(s));
}

static void test_http(void **state)
{
	(void)state;
	assert_int_equal(http("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), HTTP_GET_METRICS);
	assert_int_equal(http("GET /metrics HTTP/1.0\n\n"), HTTP_GET_METRICS);
	assert_int_equal(http("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), HTTP_GET_METRICS);
	assert_int_equal(http("HEAD /metrics HTTP/1.1\r\n\r\n"), HTTP_HEAD_METRICS);
	assert_int_equal(http("GET /metrics HTTP/1.1\r\nHost: x\r\n"), HTTP_INCOMPLETE);
	assert_int_equal(http("GET /metr"), HTTP_INCOMPLETE);
	assert_int_equal(http(""), HTTP_INCOMPLETE);
	assert_int_equal(http("GET / HTTP/1.1\r\n\r\n"), HTTP_NOT_FOUND);
	assert_int_equal(http("GET /metricsx HTTP/1.1\r\n\r\n"), HTTP_NOT_FOUND);
	assert_int_equal(http("GET /metrics/ HTTP/1.1\r\n\r\n"), HTTP_NOT_FOUND);
	assert_int_equal(http("POST /metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_METHOD);
	assert_int_equal(http("GARBAGE\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("get /metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET /metrics HTTP/2.0\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET /metrics  HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n"), HTTP_BAD_REQUEST);
	assert_int_equal(http("GET /met\x01rics HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);

	char big[HTTP_MAX_REQUEST + 10];
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	assert_int_equal(http_parse(big, HTTP_MAX_REQUEST - 1), HTTP_INCOMPLETE);
	assert_int_equal(http_parse(big, HTTP_MAX_REQUEST), HTTP_TOO_LARGE);

	assert_string_equal(http_status(HTTP_GET_METRICS), "200 OK");
	assert_string_equal(http_status(HTTP_NOT_FOUND), "404 Not Found");
	assert_string_equal(http_status(HTTP_BAD_METHOD), "405 Method Not Allowed");
	assert_string_equal(http_status(HTTP_BAD_REQUEST), "400 Bad Request");
	assert_string_equal(http_status(HTTP_TOO_LARGE), "431 Request Header Fields Too Large");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_show_forms),
		cmocka_unit_test(test_errors_are_precise),
		cmocka_unit_test(test_set_commands),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_no_read_past_len),
		cmocka_unit_test(test_http),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
