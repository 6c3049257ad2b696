/* config.c - INI files in WireGuard's style, and every value checked here
 * so the rest of vpngw can trust the structs.
 *
 * The reader is our own rather than inih: Debian's libinih is built with a
 * 200-byte line limit, no callback at a section start (so two [Client]
 * sections would merge) and only ';' for inline comments, and all three
 * matter for these files. */
#include "config.h"

#include "metrics.h"
#include "pacer.h"
#include "cpulat.h"
#include "thread.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A key already given, to refuse it given again: in a section, a second
 * value would otherwise silently replace the first (a [Client] with two
 * PublicKey lines kept the second). scope: which section it was in. */
struct seen_key {
	char name[24];
	int line;
	int scope;
};
#define SEEN_MAX 64 /* more than any section has keys */
/* Which section a key belongs to: the file's own ([Server] of a gateway,
 * [Client] of a client, however often its header appears), a client's
 * [Server], or a gateway's current [Client] (forgotten at the next). */
enum { SCOPE_OWN, SCOPE_PEER, SCOPE_CLIENT_ENTRY };

struct parse_ctx {
	const char *path;
	char *err;
	size_t errlen;
	bool failed;
	bool is_server;
	struct server_conf *srv;
	struct client_conf *cli;
	int line;
	char section[32];
	struct seen_key seen[SEEN_MAX];
	size_t nseen;
};


bool client_name_ok(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f)
			return false;
	return true;
}

int parse_key_b64(const char *s, uint8_t key[32])
{
	size_t len = 0;
	const char *end;
	if (sodium_base642bin(key, 32, s, strlen(s), NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != 32 || *end != '\0')
		return -1;
	return 0;
}

/* Copies "ADDR[/N]" into buf (size 64) cut before the slash; *prefix is
 * N, or max without one. -1 for a bad or out-of-range N or a long s. */
/* A config number: decimal digits only, no sign or spaces, that strtol
 * alone would let through ("+8", " 8", "-0"). */
static bool decimal(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int split_prefix(const char *s, char buf[64], long max, long *prefix)
{
	if (strlen(s) >= 64)
		return -1;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	*prefix = max;
	if (!slash)
		return 0;
	char *e;
	*slash = '\0';
	if (!decimal(slash + 1))
		return -1;
	errno = 0;
	*prefix = strtol(slash + 1, &e, 10);
	return errno || *e || e == slash + 1 || *prefix < 0 || *prefix > max ? -1 : 0;
}

int parse_cidr4(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[64];
	struct in_addr a;
	long p;
	if (split_prefix(s, buf, 32, &p) != 0 || inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	*prefix = (uint8_t)p;
	return 0;
}

int parse_cidr6(const char *s, uint8_t addr[16], uint8_t *prefix)
{
	char buf[64];
	long p;
	if (split_prefix(s, buf, 128, &p) != 0 || inet_pton(AF_INET6, buf, addr) != 1)
		return -1;
	*prefix = (uint8_t)p;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *e;
	if (!decimal(s))
		return -1;
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

/* A private key must never reach a log, even from a line we refuse (a
 * client's file given to the server, a misspelt key name, a line without
 * '='). So a value is not quoted when its key names PrivateKey, or when it
 * holds something as long as a base64 key (40 or more base64 characters in
 * a row): even under PublicKey it may be a private key pasted by mistake. */
static bool names_secret(const char *name)
{
	return strcasestr(name, "PrivateKey") && strcasecmp(name, "PrivateKeyFile") != 0;
}

static bool looks_like_key(const char *s)
{
	size_t run = 0;
	for (; *s; s++) {
		run = isalnum((unsigned char)*s) || *s == '+' || *s == '/' || *s == '=' ? run + 1 : 0;
		if (run >= 40)
			return true;
	}
	return false;
}

static int fail(struct parse_ctx *c, const char *name, const char *value, const char *why)
{
	const char *shown_name = looks_like_key(name) ? "<hidden>" : name;
	const char *shown_value = names_secret(name) || looks_like_key(value) ? "<hidden>" : value;
	snprintf(c->err, c->errlen, "%s = %s: %s", shown_name, shown_value, why);
	c->failed = true;
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
	int n4, n6;
	uint8_t addr6[16];
	uint8_t prefix6;
};

static int take_addr(void *arg, const char *item)
{
	struct addr_acc *a = arg;
	if (is_ipv6_item(item))
		return a->n6++ || parse_cidr6(item, a->addr6, &a->prefix6) != 0 ? -1 : 0;
	if (a->n4++ || parse_cidr4(item, &a->addr, &a->prefix) != 0)
		return -1;
	return 0;
}

static bool host_bits_set6(const uint8_t a[16], uint8_t prefix)
{
	for (int i = prefix; i < 128; i++)
		if (a[i / 8] >> (7 - i % 8) & 1)
			return true;
	return false;
}

static int take_route(void *arg, const char *item)
{
	struct client_conf *c = arg;
	struct route4 r;
	if (is_ipv6_item(item)) {
		struct route6 r6;
		if (parse_cidr6(item, r6.net, &r6.prefix) != 0 || host_bits_set6(r6.net, r6.prefix))
			return -1;
		/* ::/0 is the full tunnel's: through the tunnel when the gateway
		 * gives an IPv6 address, else nowhere (never outside it). */
		if (r6.prefix == 0) {
			c->all_v6 = true;
			return 0;
		}
		if (c->nroutes6 == CONF_MAX_ROUTES)
			return -1;
		c->routes6[c->nroutes6++] = r6;
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

static int set_user(struct parse_ctx *c, char *dst, size_t cap, const char *name, const char *value)
{
	size_t n = strlen(value);
	if (n == 0 || n >= cap || strpbrk(value, " /:"))
		return fail(c, name, value, "want a user name");
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

/* A "off | lo-hi" setting: *out gets off_value for "off", else the number;
 * anything else fails with want as the hint. */
static int set_off_or_range(struct parse_ctx *c, long *out, const char *name, const char *value, long lo, long hi,
			    long off_value, const char *want)
{
	if (!strcasecmp(value, "off")) {
		*out = off_value;
		return 1;
	}
	if (parse_int(value, lo, hi, out) != 0)
		return fail(c, name, value, want);
	return 1;
}

/* SchedSlice = off | microseconds (thread.h). */
static int set_sched_slice(struct parse_ctx *c, unsigned *dst, const char *name, const char *value)
{
	long v;
	int rc = set_off_or_range(c, &v, name, value, THREAD_SLICE_MIN_US, THREAD_SLICE_MAX_US, 0,
				  "want off or microseconds from 100 to 100000");
	if (rc == 1)
		*dst = (unsigned)v;
	return rc;
}

/* RealtimePriority = off | 1-99 (thread.h). */
static int set_rt_priority(struct parse_ctx *c, unsigned *dst, const char *name, const char *value)
{
	long v;
	int rc = set_off_or_range(c, &v, name, value, 1, THREAD_RT_PRIO_MAX, 0, "want off or a priority from 1 to 99");
	if (rc == 1)
		*dst = (unsigned)v;
	return rc;
}

/* CpuLatency = off | microseconds (cpulat.h). */
static int set_cpu_latency(struct parse_ctx *c, int *dst, const char *name, const char *value)
{
	long v;
	int rc = set_off_or_range(c, &v, name, value, 0, CPULAT_MAX_US, CPULAT_OFF,
				  "want off or microseconds from 0 to 100000");
	if (rc == 1)
		*dst = (int)v;
	return rc;
}

/* CpuLatencyHold = always | milliseconds (cpulat.h). */
static int set_cpu_latency_hold(struct parse_ctx *c, unsigned *dst, const char *name, const char *value)
{
	long v;
	if (!strcasecmp(value, "always")) {
		*dst = CPULAT_HOLD_ALWAYS;
		return 1;
	}
	if (parse_int(value, 1, CPULAT_HOLD_MAX_MS, &v) != 0)
		return fail(c, name, value, "want always or milliseconds from 1 to 60000");
	*dst = (unsigned)v;
	return 1;
}

static int set_bandwidth(struct parse_ctx *c, uint64_t *bps, const char *name, const char *value)
{
	if (parse_bandwidth(value, bps) != 0)
		return fail(c, name, value, "want a rate such as 190mbit, 1.5gbit or 800kbit (64kbit..400gbit)");
	return 1;
}

struct upstream_acc {
	struct parse_ctx *c;
	struct server_conf *s;
};

/* An upstream that cannot be used is a warning, not an error: the tunnel
 * works without the DNS proxy (see dnsproxy.h). */
static int take_upstream(void *arg, const char *item)
{
	struct upstream_acc *a = arg;
	struct dns_server d;
	const char *why;
	if (dns_parse_server(item, &d, &why) != 0) {
		fprintf(stderr, "vpngw: warning: %s:%d: UpstreamDNS = %s: %s; ignored\n", a->c->path, a->c->line, item, why);
		return 0;
	}
	if (a->s->nupstreams == DNS_MAX_UPSTREAMS) {
		fprintf(stderr, "vpngw: warning: %s:%d: UpstreamDNS = %s: more than %d upstreams; ignored\n", a->c->path,
			a->c->line, item, DNS_MAX_UPSTREAMS);
		return 0;
	}
	a->s->upstreams[a->s->nupstreams++] = d;
	return 0;
}

static int set_upstreams(struct parse_ctx *c, const char *name, const char *value)
{
	struct upstream_acc a = { c, c->srv };
	c->srv->upstream_set = true;
	if (each_item(value, take_upstream, &a) != 0)
		return fail(c, name, value, "too long a list");
	return 1;
}

static int set_metrics_listen(struct parse_ctx *c, char *dst, size_t cap, const char *name, const char *value)
{
	int fam;
	uint8_t addr[16];
	uint16_t port;
	const char *why;
	if (strlen(value) >= cap)
		return fail(c, name, value, "too long");
	if (metrics_parse_listen(value, &fam, addr, &port, &why) != 0)
		return fail(c, name, value, why);
	strcpy(dst, value);
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
			return fail(c, name, value,
				    "want one IPv4 address with a pool prefix /8../30 and optionally one IPv6 address with its pool prefix, e.g. 10.77.0.1/24, fd77::1/64");
		/* Every IPv4 host number must have its IPv6 twin in the pool. */
		if (a.n6 && (a.prefix6 < 16 || a.prefix6 > 128 - (32 - a.prefix)))
			return fail(c, name, value, "the IPv6 pool prefix must be /16 or longer and leave at least as many host bits as the IPv4 pool, e.g. /64");
		s->addr4 = a.addr;
		s->prefix4 = a.prefix;
		s->has6 = a.n6 == 1;
		if (s->has6) {
			memcpy(s->addr6, a.addr6, 16);
			s->prefix6 = a.prefix6;
		}
		return 1;
	}
	if (!strcasecmp(name, "MTU")) {
		if (!strcasecmp(value, "auto")) {
			s->mtu = MTU_AUTO;
			return 1;
		}
		return set_common_int(c, name, value, &s->mtu, MTU_MIN, MTU_MAX);
	}
	if (!strcasecmp(name, "Interface"))
		return set_ifname(c, s->ifname, name, value);
	if (!strcasecmp(name, "Masquerade"))
		return set_ifname(c, s->masquerade, name, value);
	if (!strcasecmp(name, "User"))
		return set_user(c, s->user, sizeof(s->user), name, value);
	if (!strcasecmp(name, "DNS")) {
		uint8_t p;
		if (parse_cidr4(value, &s->dns4, &p) != 0 || p != 32)
			return fail(c, name, value, "want one IPv4 address");
		return 1;
	}
	if (!strcasecmp(name, "UpstreamDNS"))
		return set_upstreams(c, name, value);
	if (!strcasecmp(name, "DNSProxy")) {
		if (strcasecmp(value, "on") && strcasecmp(value, "off"))
			return fail(c, name, value, "want on or off");
		s->dns_proxy_off = !strcasecmp(value, "off");
		return 1;
	}
	if (!strcasecmp(name, "Conntrack")) {
		if (strcasecmp(value, "bypass") && strcasecmp(value, "track"))
			return fail(c, name, value, "want bypass or track");
		s->conntrack_track = !strcasecmp(value, "track");
		return 1;
	}
	if (!strcasecmp(name, "KeepaliveInterval"))
		return set_common_int(c, name, value, &s->keepalive_s, 1, 3600);
	if (!strcasecmp(name, "Bandwidth"))
		return set_bandwidth(c, &s->bandwidth_bps, name, value);
	if (!strcasecmp(name, "SchedSlice"))
		return set_sched_slice(c, &s->sched_slice_us, name, value);
	if (!strcasecmp(name, "RealtimePriority"))
		return set_rt_priority(c, &s->rt_priority, name, value);
	if (!strcasecmp(name, "CpuLatency"))
		return set_cpu_latency(c, &s->cpu_latency_us, name, value);
	if (!strcasecmp(name, "CpuLatencyHold"))
		return set_cpu_latency_hold(c, &s->cpu_latency_hold_ms, name, value);
	if (!strcasecmp(name, "StatsInterval"))
		return set_common_int(c, name, value, &s->stats_interval_s, 1, 3600);
	if (!strcasecmp(name, "MetricsListen"))
		return set_metrics_listen(c, s->metrics_listen, sizeof(s->metrics_listen), name, value);
	if (!strcasecmp(name, "StateFile")) {
		if (value[0] != '/' || strlen(value) >= sizeof(s->state_file))
			return fail(c, name, value, "want an absolute path (under 256 characters)");
		strcpy(s->state_file, value);
		return 1;
	}
	return fail(c, name, value, "unknown key in [Server]");
}

static int server_peer_key(struct parse_ctx *c, const char *name, const char *value)
{
	struct server_conf *s = c->srv;
	struct peer_conf *p = &s->peers[s->npeers - 1];
	if (!strcasecmp(name, "Name")) {
		if (strlen(value) >= sizeof(p->name) || !client_name_ok(value))
			return fail(c, name, value, "want a short name without spaces, quotes, '=' or control characters");
		strcpy(p->name, value);
		return 1;
	}
	if (!strcasecmp(name, "PublicKey")) {
		if (parse_key_b64(value, p->pub) != 0)
			return fail(c, name, value, "not a base64 32-byte key");
		p->has_pub = true;
		p->pub_line = c->line;
		return 1;
	}
	if (!strcasecmp(name, "Address")) {
		uint8_t pre;
		if (parse_cidr4(value, &p->addr4, &pre) != 0 || pre != 32)
			return fail(c, name, value,
				    "want one IPv4 address, e.g. 10.77.0.2/32 (a client's IPv6 address follows from it: the IPv6 pool's prefix with its host number)");
		p->addr_line = c->line;
		return 1;
	}
	return fail(c, name, value, "unknown key in [Client]");
}

static int set_client_dns(struct parse_ctx *c, struct client_conf *k, const char *name, const char *value)
{
	uint8_t p;
	if (!strcasecmp(value, "auto")) {
		k->dns_mode = DNS_AUTO;
		return 1;
	}
	if (!strcasecmp(value, "off")) {
		k->dns_mode = DNS_OFF;
		return 1;
	}
	if (parse_cidr4(value, &k->dns4, &p) != 0 || p != 32 || !k->dns4)
		return fail(c, name, value, "want auto, off or one IPv4 address");
	k->dns_mode = DNS_FIXED;
	return 1;
}

static int set_fwmark(struct parse_ctx *c, struct client_conf *k, const char *name, const char *value)
{
	long v;
	/* Also the routing table's number: 253-255 are main, default, local. */
	if (parse_int(value, 1, 0x7fffffff, &v) != 0 || (v >= 253 && v <= 255))
		return fail(c, name, value, "must be a number from 1 to 2147483647, not 253-255 (the kernel's own tables)");
	k->fwmark = (uint32_t)v;
	return 1;
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
	if (!strcasecmp(name, "Bandwidth"))
		return set_bandwidth(c, &k->bandwidth_bps, name, value);
	if (!strcasecmp(name, "SchedSlice"))
		return set_sched_slice(c, &k->sched_slice_us, name, value);
	if (!strcasecmp(name, "RealtimePriority"))
		return set_rt_priority(c, &k->rt_priority, name, value);
	if (!strcasecmp(name, "CpuLatency"))
		return set_cpu_latency(c, &k->cpu_latency_us, name, value);
	if (!strcasecmp(name, "CpuLatencyHold"))
		return set_cpu_latency_hold(c, &k->cpu_latency_hold_ms, name, value);
	if (!strcasecmp(name, "User"))
		return set_user(c, k->user, sizeof(k->user), name, value);
	if (!strcasecmp(name, "DNS"))
		return set_client_dns(c, k, name, value);
	if (!strcasecmp(name, "FwMark"))
		return set_fwmark(c, k, name, value);
	if (!strcasecmp(name, "RekeyAfter"))
		return set_common_int(c, name, value, &k->rekey_after_s, 2, 120);
	if (!strcasecmp(name, "StatsInterval"))
		return set_common_int(c, name, value, &k->stats_interval_s, 1, 3600);
	if (!strcasecmp(name, "MetricsListen"))
		return set_metrics_listen(c, k->metrics_listen, sizeof(k->metrics_listen), name, value);
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
			return fail(c, name, value, "want a list of IPv4 or IPv6 networks, e.g. 198.51.100.0/24, 10.0.0.0/8, 2001:db8::/32");
		return 1;
	}
	return fail(c, name, value, "unknown key in [Server]");
}

static int on_section(struct parse_ctx *c, const char *section)
{
	if (strcasecmp(section, "Server") && strcasecmp(section, "Client"))
		return fail(c, "section", section, "unknown section (want [Server] or [Client])");
	snprintf(c->section, sizeof(c->section), "%s", section);
	if (!c->is_server || strcasecmp(section, "Client"))
		return 1;
	/* A new client entry: the last one's keys may appear again. */
	size_t kept = 0;
	for (size_t i = 0; i < c->nseen; i++)
		if (c->seen[i].scope != SCOPE_CLIENT_ENTRY)
			c->seen[kept++] = c->seen[i];
	c->nseen = kept;
	if (c->srv->npeers == CONF_MAX_PEERS)
		return fail(c, "[Client]", section, "too many clients");
	struct peer_conf *np = realloc(c->srv->peers, (c->srv->npeers + 1) * sizeof(*np));
	if (!np)
		return fail(c, "[Client]", section, "out of memory");
	c->srv->peers = np;
	memset(&np[c->srv->npeers], 0, sizeof(*np));
	np[c->srv->npeers++].line = c->line;
	return 1;
}


static int scope_of(const struct parse_ctx *c)
{
	bool server_section = !strcasecmp(c->section, "Server");
	if (c->is_server)
		return server_section ? SCOPE_OWN : SCOPE_CLIENT_ENTRY;
	return server_section ? SCOPE_PEER : SCOPE_OWN;
}

/* 0 when name may be given here, after noting it; else fails. Routes and
 * UpstreamDNS add to a list and may repeat; PrivateKey and PrivateKeyFile
 * are one setting. */
static int check_repeat(struct parse_ctx *c, const char *name, const char *value)
{
	if (!strcasecmp(name, "Routes") || !strcasecmp(name, "UpstreamDNS"))
		return 0;
	const char *as = !strcasecmp(name, "PrivateKeyFile") ? "PrivateKey" : name;
	int scope = scope_of(c);
	for (size_t i = 0; i < c->nseen; i++) {
		if (c->seen[i].scope == scope && !strcasecmp(c->seen[i].name, as)) {
			char why[96];
			snprintf(why, sizeof(why), "given twice in this section (first on line %d)%s", c->seen[i].line,
				 as != name ? " as PrivateKey or PrivateKeyFile" : "");
			fail(c, name, value, why);
			return -1;
		}
	}
	if (c->nseen < SEEN_MAX && strlen(as) < sizeof(c->seen[0].name)) {
		struct seen_key *k = &c->seen[c->nseen++];
		strcpy(k->name, as);
		k->line = c->line;
		k->scope = scope;
	}
	return 0;
}

static int on_entry(struct parse_ctx *c, const char *name, const char *value)
{
	if (!c->section[0])
		return fail(c, name, value, "key outside any section (start with [Server] or [Client])");
	if (check_repeat(c, name, value) != 0)
		return 0;
	if (c->is_server)
		return !strcasecmp(c->section, "Server") ? server_key(c, name, value)
							 : server_peer_key(c, name, value);
	return !strcasecmp(c->section, "Client") ? client_key(c, name, value)
						 : client_server_key(c, name, value);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One line: blank, comment, [Section] or Key = Value. "#" or ";" after
 * whitespace starts a comment (base64 never contains either). */
static void parse_line(struct parse_ctx *c, char *line)
{
	for (char *p = line; *p; p++) {
		if ((*p == '#' || *p == ';') && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	char *t = trim(line);
	if (!*t)
		return;
	if (*t == '[') {
		char *end = strchr(t, ']');
		if (!end || end[1]) {
			fail(c, "section", t, "want [Server] or [Client]");
			return;
		}
		*end = '\0';
		on_section(c, trim(t + 1));
		return;
	}
	char *eq = strchr(t, '=');
	if (!eq) {
		fail(c, "line", t, "want Key = Value");
		return;
	}
	*eq = '\0';
	char *name = trim(t), *value = trim(eq + 1);
	if (!*name) {
		fail(c, "line", value, "missing key before '='");
		return;
	}
	on_entry(c, name, value);
}

static int run_parser(struct parse_ctx *c)
{
	FILE *f = fopen(c->path, "r");
	if (!f) {
		snprintf(c->err, c->errlen, "open %s: %s", c->path, strerror(errno));
		return -1;
	}
	char msg[512] = "", *line = NULL, *user_err = c->err;
	size_t cap = 0, user_len = c->errlen;
	c->err = msg;
	c->errlen = sizeof(msg);
	ssize_t got;
	while (!c->failed && (got = getline(&line, &cap, f)) >= 0) {
		c->line++;
		if (strlen(line) != (size_t)got) {
			snprintf(c->err, c->errlen, "a NUL byte in the line (not a text file?)");
			c->failed = true;
			break;
		}
		parse_line(c, line);
	}
	bool read_err = ferror(f);
	free(line);
	fclose(f);
	c->err = user_err;
	c->errlen = user_len;
	if (c->failed) {
		snprintf(user_err, user_len, "%s:%d: %s", c->path, c->line, msg);
		return -1;
	}
	if (read_err) {
		snprintf(user_err, user_len, "read %s: %s", c->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The gateway's IPv6 address must not be one a client would get: the
 * pool's prefix with a client's IPv4 host number. Its own IPv4 host number
 * (fd77::1 beside 10.77.0.1) or one beyond the IPv4 pool's are safe. */
static int check_gateway6(const struct server_conf *s, const char *path, char *err, size_t errlen)
{
	uint32_t host4_bits = 32u - s->prefix4, gw_host4 = s->addr4 & ~(0xffffffffu << host4_bits);
	uint64_t high = 0;
	uint32_t host = 0;
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, s->addr6, a, sizeof(a));
	/* Host bits above the IPv4 host number's: any set puts it out of reach. */
	for (int i = s->prefix6; i < 128 - (int)host4_bits; i++)
		high |= (uint64_t)(s->addr6[i / 8] >> (7 - i % 8) & 1);
	for (int i = 128 - (int)host4_bits; i < 128; i++)
		host = host << 1 | (uint32_t)(s->addr6[i / 8] >> (7 - i % 8) & 1);
	if (!high && host == 0) {
		snprintf(err, errlen, "%s: [Server] Address = %s/%u: the IPv6 address is the pool's network address", path, a,
			 s->prefix6);
		return -1;
	}
	if (!high && host != gw_host4) {
		snprintf(err, errlen,
			 "%s: [Server] Address = %s/%u: the gateway's IPv6 address would be a client's (clients get the IPv6 pool's prefix with their IPv4 host number); give it the IPv4 address's host number %u",
			 path, a, s->prefix6, gw_host4);
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
	if (s->has6 && check_gateway6(s, path, err, errlen) != 0)
		return -1;
	if (!s->state_file[0])
		snprintf(s->state_file, sizeof(s->state_file), "/var/lib/vpngw/%s.state", s->ifname);
	/* The pool is /8../30: it always has a network and a broadcast
	 * address, which are no host's (registry.c refuses them live too). */
	uint32_t mask = 0xffffffffu << (32 - s->prefix4), net = s->addr4 & mask, bcast = net | ~mask;
	char a[INET_ADDRSTRLEN];
	if (s->addr4 == net || s->addr4 == bcast) {
		struct in_addr ia = { htonl(s->addr4) };
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		snprintf(err, errlen, "%s: [Server] Address = %s/%u: the pool's %s address, not a host's", path, a,
			 s->prefix4, s->addr4 == net ? "network" : "broadcast");
		return -1;
	}
	for (size_t i = 0; i < s->npeers; i++) {
		struct peer_conf *p = &s->peers[i];
		if (!p->has_pub) {
			snprintf(err, errlen, "%s:%d: [Client] has no PublicKey", path, p->line);
			return -1;
		}
		if (!p->name[0])
			snprintf(p->name, sizeof(p->name), "client%zu", i + 1);
		struct in_addr ia = { htonl(p->addr4) };
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		if (p->addr4 && ((p->addr4 & mask) != net || p->addr4 == s->addr4 || p->addr4 == net || p->addr4 == bcast)) {
			snprintf(err, errlen,
				 "%s:%d: Address = %s: client %s: outside the pool of the [Server] Address, its network or broadcast address, or the gateway's own",
				 path, p->addr_line, a, p->name);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			struct peer_conf *q = &s->peers[j];
			if (!memcmp(q->pub, p->pub, 32)) {
				char b64[64];
				sodium_bin2base64(b64, sizeof(b64), p->pub, 32, sodium_base64_VARIANT_ORIGINAL);
				snprintf(err, errlen, "%s:%d: PublicKey = %s: client %s has the same key as client %s (line %d)",
					 path, p->pub_line, b64, p->name, q->name, q->pub_line);
				return -1;
			}
			if (p->addr4 && p->addr4 == q->addr4) {
				snprintf(err, errlen, "%s:%d: Address = %s: client %s has the same address as client %s (line %d)",
					 path, p->addr_line, a, p->name, q->name, q->addr_line);
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
	s->sched_slice_us = THREAD_SLICE_DEFAULT_US;
	s->rt_priority = THREAD_RT_PRIO_DEFAULT;
	s->cpu_latency_us = CPULAT_SERVER_DEFAULT;
	s->cpu_latency_hold_ms = CPULAT_HOLD_DEFAULT_MS;
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
	k->keepalive_s = 0; /* 0: use the interval the gateway announces */
	k->stats_interval_s = 5;
	k->sched_slice_us = THREAD_SLICE_DEFAULT_US;
	k->rt_priority = THREAD_RT_PRIO_DEFAULT;
	k->cpu_latency_us = CPULAT_CLIENT_DEFAULT;
	k->cpu_latency_hold_ms = CPULAT_HOLD_DEFAULT_MS;
	k->fwmark = FWMARK_DEFAULT;
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
