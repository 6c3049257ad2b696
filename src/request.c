/* request.c - see request.h. Both parsers read bytes from whoever connects, so
 * they check everything and never read past len (fuzzed: fuzz_ctl). */
#include "request.h"

#include <arpa/inet.h>

#include "config.h"

#include <stdio.h>
#include <string.h>

#define CTL_USAGE "want: show [json] [keys] | add NAME KEY [ADDRESS] | remove CLIENT | address CLIENT ADDRESS|pool | rename CLIENT NAME"
#define SHOW_USAGE "want: show [json] [keys]"
#define MAX_WORDS 8

struct word {
	const char *s;
	size_t n;
};

static bool word_is(const struct word *w, const char *s)
{
	return w->n == strlen(s) && !memcmp(w->s, s, w->n);
}

/* Splits on spaces and tabs; -1 when there are more than max words. */
static int split(const char *line, size_t len, struct word *w, size_t max, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < len;) {
		if (line[i] == ' ' || line[i] == '\t') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		if (*n == max)
			return -1;
		w[(*n)++] = (struct word){ line + start, i - start };
	}
	return 0;
}

static int parse_show(const struct word *w, size_t n, struct ctl_req *r, char *err, size_t errlen)
{
	r->cmd = CTL_SHOW;
	for (size_t i = 1; i < n; i++) {
		bool *flag = word_is(&w[i], "json") ? &r->json : word_is(&w[i], "keys") ? &r->keys : NULL;
		int shown = w[i].n > 32 ? 32 : (int)w[i].n;
		if (!flag) {
			snprintf(err, errlen, "show: unknown option \"%.*s\"; %s", shown, w[i].s, SHOW_USAGE);
			return -1;
		}
		if (*flag) {
			snprintf(err, errlen, "show: \"%.*s\" given twice", shown, w[i].s);
			return -1;
		}
		*flag = true;
	}
	return 0;
}

/* Copies a word into a NUL-terminated field; -1 if it does not fit. */
static int take_word(const struct word *w, char *dst, size_t cap)
{
	if (w->n >= cap)
		return -1;
	memcpy(dst, w->s, w->n);
	dst[w->n] = '\0';
	return 0;
}

/* a.b.c.d or a.b.c.d/32 */
static int take_addr(const struct word *w, uint32_t *out)
{
	char s[24];
	struct in_addr a;
	if (take_word(w, s, sizeof(s)) != 0)
		return -1;
	char *slash = strchr(s, '/');
	if (slash && strcmp(slash, "/32"))
		return -1;
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return *out ? 0 : -1;
}

static int take_key(const struct word *w, uint8_t pub[32])
{
	char s[64];
	return take_word(w, s, sizeof(s)) == 0 && parse_key_b64(s, pub) == 0 ? 0 : -1;
}

static int quoted(const struct word *w)
{
	return w->n > 32 ? 32 : (int)w->n;
}

static int want_words(const struct word *w, size_t n, size_t lo, size_t hi, const char *usage, char *err, size_t errlen)
{
	if (n >= lo && n <= hi)
		return 0;
	snprintf(err, errlen, "%.*s: %s; want: %s", quoted(&w[0]), w[0].s, n < lo ? "too few words" : "too many words", usage);
	return -1;
}

#define NAME_RULE "a name has no quotes, '=' or control characters (as in the config)"

static int parse_set(const struct word *w, size_t n, struct ctl_req *r, char *err, size_t errlen)
{
	const char *bad = NULL;
	const struct word *at = NULL;
	if (word_is(&w[0], "add")) {
		r->cmd = CTL_ADD;
		if (want_words(w, n, 3, 4, "add NAME KEY [ADDRESS]", err, errlen))
			return -1;
		if (take_word(&w[1], r->name, sizeof(r->name)))
			bad = "name longer than 63 characters", at = &w[1];
		else if (!client_name_ok(r->name))
			bad = NAME_RULE, at = &w[1];
		else if (take_key(&w[2], r->pub))
			bad = "not a base64 32-byte public key", at = &w[2];
		else if (n == 4 && take_addr(&w[3], &r->addr4))
			bad = "not an IPv4 address", at = &w[3];
	} else {
		bool rm = word_is(&w[0], "remove"), ad = word_is(&w[0], "address");
		r->cmd = rm ? CTL_REMOVE : ad ? CTL_ADDRESS : CTL_RENAME;
		const char *usage = rm ? "remove CLIENT" : ad ? "address CLIENT ADDRESS|pool" : "rename CLIENT NAME";
		if (want_words(w, n, rm ? 2 : 3, rm ? 2 : 3, usage, err, errlen))
			return -1;
		if (take_word(&w[1], r->who, sizeof(r->who)))
			bad = "no client has a name that long", at = &w[1];
		else if (ad && !word_is(&w[2], "pool") && take_addr(&w[2], &r->addr4))
			bad = "not an IPv4 address (or pool)", at = &w[2];
		else if (r->cmd == CTL_RENAME && take_word(&w[2], r->name, sizeof(r->name)))
			bad = "name longer than 63 characters", at = &w[2];
		else if (r->cmd == CTL_RENAME && !client_name_ok(r->name))
			bad = NAME_RULE, at = &w[2];
	}
	if (!bad)
		return 0;
	snprintf(err, errlen, "%.*s: \"%.*s\": %s", quoted(&w[0]), w[0].s, quoted(at), at->s, bad);
	return -1;
}

int ctl_parse(const char *line, size_t len, struct ctl_req *r, char *err, size_t errlen)
{
	struct word w[MAX_WORDS];
	size_t n;
	memset(r, 0, sizeof(*r));
	if (len > CTL_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", CTL_MAX_LINE);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c >= 0x7f) {
			snprintf(err, errlen, "request has a byte that is not printable ASCII (0x%02x at offset %zu)", c, i);
			return -1;
		}
	}
	if (split(line, len, w, MAX_WORDS, &n) != 0) {
		snprintf(err, errlen, "too many words (at most %d); %s", MAX_WORDS, CTL_USAGE);
		return -1;
	}
	if (!n) {
		snprintf(err, errlen, "empty request; %s", CTL_USAGE);
		return -1;
	}
	if (word_is(&w[0], "show"))
		return parse_show(w, n, r, err, errlen);
	if (word_is(&w[0], "add") || word_is(&w[0], "remove") || word_is(&w[0], "address") || word_is(&w[0], "rename"))
		return parse_set(w, n, r, err, errlen);
	snprintf(err, errlen, "unknown command \"%.*s\"; %s", w[0].n > 32 ? 32 : (int)w[0].n, w[0].s, CTL_USAGE);
	return -1;
}

/* Where the header block ends (after its blank line), or 0. */
static size_t headers_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

/* Each header line: a token, a colon, then printable text. */
static bool headers_ok(const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return false;
		const char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		if (e == p)
			return true; /* the blank line */
		const char *q = p;
		while (q < e && *q && is_token_char(*q))
			q++;
		if (q == p || q == e || *q != ':')
			return false;
		for (; q < e; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return false;
		p = nl + 1;
	}
	return false;
}

enum http_verdict http_parse(const char *buf, size_t len)
{
	size_t end = headers_end(buf, len);
	if (!end)
		return len >= HTTP_MAX_REQUEST ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
	const char *nl = memchr(buf, '\n', end);
	const char *line_end = nl > buf && nl[-1] == '\r' ? nl - 1 : nl;
	/* METHOD SP TARGET SP HTTP/1.x */
	const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
	if (!sp1 || sp1 == buf)
		return HTTP_BAD_REQUEST;
	for (const char *p = buf; p < sp1; p++)
		if (*p < 'A' || *p > 'Z')
			return HTTP_BAD_REQUEST;
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
	if (!sp2 || sp2 == target || *target != '/')
		return HTTP_BAD_REQUEST;
	for (const char *p = target; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return HTTP_BAD_REQUEST;
	size_t vlen = (size_t)(line_end - sp2 - 1);
	if (vlen != 8 || (memcmp(sp2 + 1, "HTTP/1.0", 8) && memcmp(sp2 + 1, "HTTP/1.1", 8)))
		return HTTP_BAD_REQUEST;
	if (!headers_ok(nl + 1, buf + end))
		return HTTP_BAD_REQUEST;
	size_t mlen = (size_t)(sp1 - buf), tlen = (size_t)(sp2 - target);
	bool get = mlen == 3 && !memcmp(buf, "GET", 3), head = mlen == 4 && !memcmp(buf, "HEAD", 4);
	/* /metrics, with or without a query string (Prometheus adds none) */
	bool metrics = tlen >= 8 && !memcmp(target, "/metrics", 8) && (tlen == 8 || target[8] == '?');
	if (!metrics)
		return HTTP_NOT_FOUND;
	if (!get && !head)
		return HTTP_BAD_METHOD;
	return get ? HTTP_GET_METRICS : HTTP_HEAD_METRICS;
}

const char *http_status(enum http_verdict v)
{
	switch (v) {
	case HTTP_GET_METRICS:
	case HTTP_HEAD_METRICS:
		return "200 OK";
	case HTTP_NOT_FOUND:
		return "404 Not Found";
	case HTTP_BAD_METHOD:
		return "405 Method Not Allowed";
	case HTTP_TOO_LARGE:
		return "431 Request Header Fields Too Large";
	case HTTP_INCOMPLETE:
	case HTTP_BAD_REQUEST:
		break;
	}
	return "400 Bad Request";
}
