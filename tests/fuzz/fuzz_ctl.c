/* fuzz_ctl.c - what strangers can send or plant: the control socket's
 * request line (ctl_parse), the metrics endpoint's HTTP request
 * (http_parse) and the gateway's state file (state_parse), each on the
 * whole input.
 *
 * Checks, besides memory safety and leaks:
 *  - ctl_parse accepts only the commands it knows, each with the words
 *    it names found in the input (a name or client without spaces, within
 *    its field), and otherwise gives a message; it never reads past the
 *    length it is given (the input is copied to a buffer of exactly that
 *    size);
 *  - http_parse's verdict is one of its own, and /metrics is served only
 *    for a GET or HEAD request line that names it;
 *  - a state file that parses holds at most CONF_MAX_PEERS entries, and
 *    rendering them gives a file that parses to the same entries; the
 *    input is also tried as a body with a valid checksum line appended,
 *    which a fuzzer could not guess. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "request.h"
#include "state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FX_CHECK(sodium_init() >= 0);
	return 0;
}

static void check_ctl(const char *d, size_t n)
{
	struct ctl_req r;
	char err[256];
	err[0] = '\0';
	if (ctl_parse(d, n, &r, err, sizeof(err)) == 0) {
		static const char *const verbs[] = { "show", "add", "remove", "address", "rename" };
		FX_CHECK(err[0] == '\0' && (unsigned)r.cmd < 5);
		FX_CHECK(memmem(d, n, verbs[r.cmd], strlen(verbs[r.cmd])) != NULL);
		FX_CHECK(!r.json || memmem(d, n, "json", 4));
		FX_CHECK(!r.keys || memmem(d, n, "keys", 4));
		FX_CHECK(memchr(r.name, '\0', sizeof(r.name)) && memchr(r.who, '\0', sizeof(r.who)));
		FX_CHECK(!strpbrk(r.name, " \t") && !strpbrk(r.who, " \t"));
		if (r.cmd == CTL_ADD || r.cmd == CTL_RENAME)
			FX_CHECK(r.name[0] && memmem(d, n, r.name, strlen(r.name)));
		if (r.cmd >= CTL_REMOVE)
			FX_CHECK(r.who[0] && memmem(d, n, r.who, strlen(r.who)));
	} else {
		FX_CHECK(err[0] && memchr(err, '\0', sizeof(err)));
	}
}

static void check_http(const char *d, size_t n)
{
	enum http_verdict v = http_parse(d, n);
	FX_CHECK(v >= HTTP_INCOMPLETE && v <= HTTP_TOO_LARGE);
	FX_CHECK(http_status(v) != NULL);
	if (v == HTTP_GET_METRICS)
		FX_CHECK(n >= 13 && !memcmp(d, "GET /metrics", 12));
	if (v == HTTP_HEAD_METRICS)
		FX_CHECK(n >= 14 && !memcmp(d, "HEAD /metrics", 13));
}

static void check_state(const char *d, size_t n)
{
	struct state_entry *e, *again;
	size_t ne, nagain;
	char err[160];
	if (state_parse(d, n, &e, &ne, err, sizeof(err)) != 0) {
		FX_CHECK(e == NULL && ne == 0 && err[0]);
		return;
	}
	FX_CHECK(ne <= CONF_MAX_PEERS && (ne == 0) == (e == NULL));
	struct sbuf b;
	sbuf_init(&b);
	state_render(e, ne, &b);
	FX_CHECK(!sbuf_failed(&b));
	FX_CHECK(state_parse(b.s, b.len, &again, &nagain, err, sizeof(err)) == 0);
	FX_CHECK(nagain == ne && (!ne || !memcmp(again, e, ne * sizeof(*e))));
	free(again);
	free(e);
	sbuf_free(&b);
}

/* The input as a state file's body, signed: "checksum <BLAKE2b of the
 * body>" appended as state_render writes it. A fuzzer cannot guess a
 * checksum, so without this the checks on an accepted file would see
 * only the seeds. */
static void check_state_signed(const char *d, size_t n)
{
	uint8_t sum[crypto_generichash_BYTES];
	char hex[2 * sizeof(sum) + 1];
	size_t body = n + (n && d[n - 1] == '\n' ? 0 : 1);
	char *s = malloc(body + 9 + sizeof(hex) + 1);
	FX_CHECK(s);
	memcpy(s, d, n);
	s[body - 1] = '\n';
	crypto_generichash(sum, sizeof(sum), (const uint8_t *)s, body, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	memcpy(s + body, "checksum ", 9);
	memcpy(s + body + 9, hex, sizeof(hex) - 1);
	s[body + 9 + sizeof(hex) - 1] = '\n';
	check_state(s, body + 9 + sizeof(hex));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past the end. */
	char *d = malloc(size ? size : 1);
	FX_CHECK(d);
	memcpy(d, data, size);
	check_ctl(d, size);
	check_http(d, size);
	check_state(d, size);
	check_state_signed(d, size);
	free(d);
	return 0;
}
