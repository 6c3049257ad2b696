/* state.c - see state.h. The file is read at start by root, but from a
 * path a config names, so it is parsed as untrusted (fuzzed: fuzz_ctl). */
#include "state.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "vpngw-state 1\n"
#define SUM_LEN crypto_generichash_BYTES /* 32 */

static void checksum_hex(const char *text, size_t len, char hex[2 * SUM_LEN + 1])
{
	uint8_t sum[SUM_LEN];
	crypto_generichash(sum, sizeof(sum), (const uint8_t *)text, len, NULL, 0);
	sodium_bin2hex(hex, 2 * SUM_LEN + 1, sum, sizeof(sum));
}

void state_render(const struct state_entry *e, size_t n, struct sbuf *out)
{
	char key[64], hex[2 * SUM_LEN + 1];
	size_t start = out->len;
	sbuf_puts(out, HEADER);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = e[i].addr4;
		sodium_bin2base64(key, sizeof(key), e[i].pub, 32, sodium_base64_VARIANT_ORIGINAL);
		sbuf_printf(out, "client %s %u.%u.%u.%u\n", key, a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
	}
	if (sbuf_failed(out))
		return;
	checksum_hex(out->s + start, out->len - start, hex);
	sbuf_printf(out, "checksum %s\n", hex);
}

static int parse_addr(const char *s, size_t len, uint32_t *out)
{
	uint32_t a = 0;
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (!digits || v > 255 || (digits > 1 && s[i - digits] == '0'))
			return -1;
		a = a << 8 | v;
		if (part < 3 && (i >= len || s[i++] != '.'))
			return -1;
	}
	if (i != len)
		return -1;
	*out = a;
	return 0;
}

/* "client KEY ADDR" */
static int parse_entry(const char *line, size_t len, struct state_entry *e)
{
	char key[64];
	if (len < 7 || memcmp(line, "client ", 7))
		return -1;
	const char *k = line + 7, *sp = memchr(k, ' ', len - 7);
	if (!sp || (size_t)(sp - k) >= sizeof(key))
		return -1;
	memcpy(key, k, (size_t)(sp - k));
	key[sp - k] = '\0';
	if (parse_key_b64(key, e->pub) != 0)
		return -1;
	return parse_addr(sp + 1, (size_t)(line + len - sp - 1), &e->addr4);
}

static int fail(char *err, size_t errlen, size_t line, const char *why)
{
	snprintf(err, errlen, "line %zu: %s", line, why);
	return -1;
}

int state_parse(const char *text, size_t len, struct state_entry **out, size_t *nout, char *err, size_t errlen)
{
	*out = NULL;
	*nout = 0;
	if (len > STATE_MAX_BYTES)
		return fail(err, errlen, 0, "larger than 16 MiB");
	if (len < sizeof(HEADER) - 1 || memcmp(text, HEADER, sizeof(HEADER) - 1))
		return fail(err, errlen, 1, "not a vpngw state file (want \"vpngw-state 1\")");
	struct state_entry *e = NULL;
	size_t n = 0, cap = 0, lineno = 1;
	for (size_t pos = sizeof(HEADER) - 1;; lineno++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (!nl) {
			free(e);
			return fail(err, errlen, lineno + 1, "cut short: no checksum line");
		}
		const char *line = text + pos;
		size_t llen = (size_t)(nl - line);
		if (llen > 9 && !memcmp(line, "checksum ", 9)) {
			char hex[2 * SUM_LEN + 1];
			checksum_hex(text, pos, hex);
			if (llen - 9 != 2 * SUM_LEN || memcmp(line + 9, hex, 2 * SUM_LEN) || pos + llen + 1 != len) {
				free(e);
				return fail(err, errlen, lineno + 1, "checksum does not match: damaged or cut short");
			}
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct state_entry *grown = cap <= CONF_MAX_PEERS ? realloc(e, cap * sizeof(*e)) : NULL;
			if (!grown) {
				free(e);
				return fail(err, errlen, lineno + 1, "too many entries");
			}
			e = grown;
		}
		if (parse_entry(line, llen, &e[n]) != 0) {
			free(e);
			return fail(err, errlen, lineno + 1, "want \"client <public key> <IPv4 address>\"");
		}
		n++;
		pos += llen + 1;
	}
	if (!n) {
		free(e);
		e = NULL;
	}
	*out = e;
	*nout = n;
	return 0;
}

static int by_pub(const void *a, const void *b)
{
	return memcmp(((const struct state_entry *)a)->pub, ((const struct state_entry *)b)->pub, 32);
}

void state_apply(struct state_entry *e, size_t n, struct server_conf *c)
{
	if (n)
		qsort(e, n, sizeof(*e), by_pub);
	for (size_t i = 0; i < c->npeers; i++) {
		struct state_entry key;
		memcpy(key.pub, c->peers[i].pub, 32);
		const struct state_entry *hit = n ? bsearch(&key, e, n, sizeof(*e), by_pub) : NULL;
		c->peers[i].remembered4 = hit ? hit->addr4 : 0;
	}
}
