/* config.c - INI parsing with inih; every value is checked here so the
 * rest of vpngw can trust the structs. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct line_reader {
	FILE *f;
	int line;
	bool section_started;
};

struct parse_ctx {
	const char *path;
	char *err;
	size_t errlen;
	bool failed;
	bool is_server;
	struct server_conf *srv;
	struct client_conf *cli;
	struct line_reader *reader;
	int fail_line;
};

#define SECTION_MARKER "@section"


int parse_key_b64(const char *s, uint8_t key[32])
{
	size_t len = 0;
	const char *end;
	if (sodium_base642bin(key, 32, s, strlen(s), NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != 32 || *end != '\0')
		return -1;
	return 0;
}

int parse_cidr4(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[64];
	struct in_addr a;
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	long p = 32;
	if (slash) {
		char *e;
		*slash = '\0';
		errno = 0;
		p = strtol(slash + 1, &e, 10);
		if (errno || *e || e == slash + 1 || p < 0 || p > 32)
			return -1;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	*prefix = (uint8_t)p;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int read_key_file(const char *path, uint8_t key[32], char *err, size_t errlen)
{
	char buf[128];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: key file is readable by group or others (chmod 600 it)", path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	int rc = parse_key_b64(buf, key);
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0)
		snprintf(err, errlen, "%s: not a base64 32-byte key", path);
	return rc;
}

static int fail(struct parse_ctx *c, const char *name, const char *value, const char *why)
{
	/* inih gives us the line through ini_parse's return value. */
	snprintf(c->err, c->errlen, "%s = %s: %s", name, value, why);
	c->failed = true;
	c->fail_line = c->reader ? c->reader->line : 0;
	return 0;
}

/* "a, b, c" -> calls fn for each trimmed item. */
static int each_item(const char *value, int (*fn)(void *, const char *), void *arg)
{
	char buf[1024];
	if (strlen(value) >= sizeof(buf))
		return -1;
	strcpy(buf, value);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		char *e = tok + strlen(tok);
		while (e > tok && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*tok && fn(arg, tok) != 0)
			return -1;
	}
	return 0;
}

static bool is_ipv6_item(const char *s)
{
	return strchr(s, ':') != NULL;
}

struct addr_acc {
	uint32_t addr;
	uint8_t prefix;
	int n4;
};

static int take_addr(void *arg, const char *item)
{
	struct addr_acc *a = arg;
	if (is_ipv6_item(item)) {
		fprintf(stderr, "vpngw: warning: IPv6 tunnel address %s ignored: IPv6 inside the tunnel is not built yet\n", item);
		return 0;
	}
	if (a->n4++ || parse_cidr4(item, &a->addr, &a->prefix) != 0)
		return -1;
	return 0;
}

static int take_route(void *arg, const char *item)
{
	struct client_conf *c = arg;
	struct route4 r;
	if (is_ipv6_item(item)) {
		fprintf(stderr, "vpngw: warning: IPv6 route %s ignored: IPv6 inside the tunnel is not built yet\n", item);
		return 0;
	}
	if (c->nroutes == CONF_MAX_ROUTES || parse_cidr4(item, &r.net, &r.prefix) != 0)
		return -1;
	if (r.prefix < 32 && (r.net & (0xffffffffu >> r.prefix)))
		return -1; /* host bits set: almost always a typo */
	c->routes[c->nroutes++] = r;
	return 0;
}

static int set_ifname(struct parse_ctx *c, char *dst, const char *name, const char *value)
{
	size_t n = strlen(value);
	if (n == 0 || n >= CONF_IFNAMSIZ || strchr(value, '/') || strchr(value, ' '))
		return fail(c, name, value, "not a valid interface name (1-15 characters)");
	strcpy(dst, value);
	return 1;
}

static int set_key(struct parse_ctx *c, uint8_t key[32], bool *has, const char *name, const char *value,
		   bool from_file)
{
	char why[256];
	if (from_file) {
		if (read_key_file(value, key, why, sizeof(why)) != 0)
			return fail(c, name, value, why);
	} else if (parse_key_b64(value, key) != 0) {
		return fail(c, name, "<hidden>", "not a base64 32-byte key");
	}
	*has = true;
	return 1;
}

static int set_common_int(struct parse_ctx *c, const char *name, const char *value, int *dst, long lo, long hi)
{
	long v;
	char why[64];
	if (parse_int(value, lo, hi, &v) != 0) {
		snprintf(why, sizeof(why), "must be a number from %ld to %ld", lo, hi);
		return fail(c, name, value, why);
	}
	*dst = (int)v;
	return 1;
}

static int server_key(struct parse_ctx *c, const char *name, const char *value)
{
	struct server_conf *s = c->srv;
	long v;
	if (!strcasecmp(name, "PrivateKey"))
		return set_key(c, s->priv, &s->has_priv, name, value, false);
	if (!strcasecmp(name, "PrivateKeyFile"))
		return set_key(c, s->priv, &s->has_priv, name, value, true);
	if (!strcasecmp(name, "ListenPort")) {
		if (parse_int(value, 1, 65535, &v) != 0)
			return fail(c, name, value, "must be a port number 1-65535");
		s->port = (uint16_t)v;
		return 1;
	}
	if (!strcasecmp(name, "Address")) {
		struct addr_acc a = { 0 };
		if (each_item(value, take_addr, &a) != 0 || a.n4 != 1 || a.prefix > 30 || a.prefix < 8)
			return fail(c, name, value, "want one IPv4 address with a pool prefix /8../30, e.g. 10.77.0.1/24");
		s->addr4 = a.addr;
		s->prefix4 = a.prefix;
		return 1;
	}
	if (!strcasecmp(name, "MTU")) {
		if (!strcasecmp(value, "auto"))
			return fail(c, name, value, "MTU = auto is not built yet; give a number");
		return set_common_int(c, name, value, &s->mtu, MTU_MIN, MTU_MAX);
	}
	if (!strcasecmp(name, "Interface"))
		return set_ifname(c, s->ifname, name, value);
	if (!strcasecmp(name, "DNS")) {
		uint8_t p;
		if (parse_cidr4(value, &s->dns4, &p) != 0 || p != 32)
			return fail(c, name, value, "want one IPv4 address");
		return 1;
	}
	if (!strcasecmp(name, "KeepaliveInterval"))
		return set_common_int(c, name, value, &s->keepalive_s, 1, 3600);
	if (!strcasecmp(name, "StatsInterval"))
		return set_common_int(c, name, value, &s->stats_interval_s, 1, 3600);
	return fail(c, name, value, "unknown key in [Server]");
}

static int server_peer_key(struct parse_ctx *c, const char *name, const char *value)
{
	struct server_conf *s = c->srv;
	struct peer_conf *p = &s->peers[s->npeers - 1];
	if (!strcasecmp(name, "Name")) {
		if (strlen(value) >= sizeof(p->name) || strpbrk(value, " \"="))
			return fail(c, name, value, "want a short name without spaces, quotes or '='");
		strcpy(p->name, value);
		return 1;
	}
	if (!strcasecmp(name, "PublicKey")) {
		if (parse_key_b64(value, p->pub) != 0)
			return fail(c, name, value, "not a base64 32-byte key");
		p->has_pub = true;
		return 1;
	}
	if (!strcasecmp(name, "Address")) {
		uint8_t pre;
		if (parse_cidr4(value, &p->addr4, &pre) != 0 || pre != 32)
			return fail(c, name, value, "want one IPv4 address, e.g. 10.77.0.2/32");
		return 1;
	}
	return fail(c, name, value, "unknown key in [Client]");
}

static int client_key(struct parse_ctx *c, const char *name, const char *value)
{
	struct client_conf *k = c->cli;
	if (!strcasecmp(name, "PrivateKey"))
		return set_key(c, k->priv, &k->has_priv, name, value, false);
	if (!strcasecmp(name, "PrivateKeyFile"))
		return set_key(c, k->priv, &k->has_priv, name, value, true);
	if (!strcasecmp(name, "Interface"))
		return set_ifname(c, k->ifname, name, value);
	if (!strcasecmp(name, "KeepaliveInterval"))
		return set_common_int(c, name, value, &k->keepalive_s, 1, 3600);
	if (!strcasecmp(name, "StatsInterval"))
		return set_common_int(c, name, value, &k->stats_interval_s, 1, 3600);
	return fail(c, name, value, "unknown key in [Client]");
}

static int client_server_key(struct parse_ctx *c, const char *name, const char *value)
{
	struct client_conf *k = c->cli;
	if (!strcasecmp(name, "PublicKey")) {
		if (parse_key_b64(value, k->server_pub) != 0)
			return fail(c, name, value, "not a base64 32-byte key");
		k->has_server_pub = true;
		return 1;
	}
	if (!strcasecmp(name, "Endpoint")) {
		if (strlen(value) >= sizeof(k->endpoint) || !strrchr(value, ':'))
			return fail(c, name, value, "want HOST:PORT or [IPv6]:PORT");
		strcpy(k->endpoint, value);
		return 1;
	}
	if (!strcasecmp(name, "Routes")) {
		if (each_item(value, take_route, k) != 0)
			return fail(c, name, value, "want a list of IPv4 networks, e.g. 198.51.100.0/24, 10.0.0.0/8");
		return 1;
	}
	return fail(c, name, value, "unknown key in [Server]");
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	if (c->failed)
		return 0;
	if (!strcmp(name, SECTION_MARKER)) { /* a new section starts */
		if (c->is_server && !strcasecmp(section, "Client")) {
			if (c->srv->npeers == CONF_MAX_PEERS)
				return fail(c, "[Client]", section, "too many clients");
			struct peer_conf *np = realloc(c->srv->peers, (c->srv->npeers + 1) * sizeof(*np));
			if (!np)
				return fail(c, "[Client]", section, "out of memory");
			c->srv->peers = np;
			memset(&np[c->srv->npeers++], 0, sizeof(*np));
			return 1;
		}
		if (strcasecmp(section, "Server") && strcasecmp(section, "Client"))
			return fail(c, "section", section, "unknown section (want [Server] or [Client])");
		return 1;
	}
	if (c->is_server) {
		if (!strcasecmp(section, "Server"))
			return server_key(c, name, value);
		return server_peer_key(c, name, value);
	}
	if (!strcasecmp(section, "Client"))
		return client_key(c, name, value);
	if (!strcasecmp(section, "Server"))
		return client_server_key(c, name, value);
	return fail(c, name, value, "key outside any section");
}

/* Feeds inih one line at a time. Debian's libinih is built without the
 * new-section callback and with only ';' for inline comments, so the reader
 * strips "  # comment" tails itself and, after each section header, feeds a
 * synthetic "@section" line so repeated [Client] sections stay apart. It
 * also tracks the real line number for error messages. */
static char *read_line(char *str, int num, void *stream)
{
	struct line_reader *lr = stream;
	if (lr->section_started) {
		lr->section_started = false;
		snprintf(str, (size_t)num, "%s = 1\n", SECTION_MARKER);
		return str;
	}
	if (!fgets(str, num, lr->f))
		return NULL;
	lr->line++;
	for (char *p = str; *p; p++) {
		if ((*p == '#' || *p == ';') && (p == str || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	const char *t = str;
	while (isspace((unsigned char)*t))
		t++;
	lr->section_started = *t == '[';
	return str;
}

static int run_parser(struct parse_ctx *c)
{
	struct line_reader lr = { .f = fopen(c->path, "r") };
	if (!lr.f) {
		snprintf(c->err, c->errlen, "open %s: %s", c->path, strerror(errno));
		return -1;
	}
	char msg[512] = "";
	char *user_err = c->err;
	size_t user_len = c->errlen;
	c->err = msg;
	c->errlen = sizeof(msg);
	c->reader = &lr;
	int rc = ini_parse_stream(read_line, &lr, on_entry, c);
	fclose(lr.f);
	c->err = user_err;
	c->errlen = user_len;
	if (rc != 0 || c->failed) {
		snprintf(user_err, user_len, "%s:%d: %s", c->path, c->failed ? c->fail_line : lr.line,
			 msg[0] ? msg : "syntax error");
		return -1;
	}
	return 0;
}

static int finish_server(struct server_conf *s, const char *path, char *err, size_t errlen)
{
	if (!s->has_priv) {
		snprintf(err, errlen, "%s: [Server] needs PrivateKey or PrivateKeyFile", path);
		return -1;
	}
	if (!s->addr4) {
		snprintf(err, errlen, "%s: [Server] needs Address (e.g. 10.77.0.1/24)", path);
		return -1;
	}
	uint32_t mask = s->prefix4 ? 0xffffffffu << (32 - s->prefix4) : 0;
	for (size_t i = 0; i < s->npeers; i++) {
		struct peer_conf *p = &s->peers[i];
		if (!p->has_pub) {
			snprintf(err, errlen, "%s: [Client] #%zu has no PublicKey", path, i + 1);
			return -1;
		}
		if (!p->name[0])
			snprintf(p->name, sizeof(p->name), "client%zu", i + 1);
		if (p->addr4 && ((p->addr4 & mask) != (s->addr4 & mask) || p->addr4 == s->addr4)) {
			snprintf(err, errlen, "%s: client %s: Address is outside the pool or is the gateway's", path, p->name);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (!memcmp(s->peers[j].pub, p->pub, 32) ||
			    (p->addr4 && p->addr4 == s->peers[j].addr4)) {
				snprintf(err, errlen, "%s: clients %s and %s share a PublicKey or Address", path,
					 s->peers[j].name, p->name);
				return -1;
			}
		}
	}
	return 0;
}

int config_load_server(const char *path, struct server_conf *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->port = 51820;
	s->mtu = MTU_DEFAULT;
	s->keepalive_s = 10;
	s->stats_interval_s = 5;
	strcpy(s->ifname, "vpngw0");
	struct parse_ctx c = { .path = path, .err = err, .errlen = errlen, .is_server = true, .srv = s };
	if (run_parser(&c) != 0 || finish_server(s, path, err, errlen) != 0) {
		config_free_server(s);
		return -1;
	}
	return 0;
}

int config_load_client(const char *path, struct client_conf *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	k->keepalive_s = 10;
	k->stats_interval_s = 5;
	strcpy(k->ifname, "vpngw0");
	struct parse_ctx c = { .path = path, .err = err, .errlen = errlen, .cli = k };
	if (run_parser(&c) != 0)
		return -1;
	if (!k->has_priv || !k->has_server_pub || !k->endpoint[0]) {
		snprintf(err, errlen, "%s: needs [Client] PrivateKey, [Server] PublicKey and Endpoint", path);
		return -1;
	}
	return 0;
}

void config_free_server(struct server_conf *s)
{
	free(s->peers);
	s->peers = NULL;
	s->npeers = 0;
	sodium_memzero(s->priv, sizeof(s->priv));
}
