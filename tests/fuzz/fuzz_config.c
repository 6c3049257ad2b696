/* fuzz_config.c - config_load_server and config_load_client on arbitrary
 * file contents. The input goes into a memfd (no disk I/O per input),
 * read by path through /proc/self/fd/N; a server config that loads is
 * then handed to registry_init, as vpngw does at start-up.
 *
 * Checks, besides memory safety and leaks:
 *  - a loaded config holds only values config.h allows ("every value
 *    checked here so the rest of vpngw can trust the structs");
 *  - registry_init either refuses it with a message or gives every client
 *    a distinct pool address other than the gateway's, found again by
 *    address and by key;
 *  - a refusal always comes with a message.
 *
 * PrivateKeyFile makes the loader open a path taken from the input. So
 * that no input can open a FIFO or a device and hang (or read a terminal),
 * a line that mentions "keyfile" may only name a path without '/'
 * (relative: the cwd, the repository, holds no special files) or a file
 * in KEYDIR, which LLVMFuzzerInitialize fills. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

#define KEYDIR "/tmp/vpngw-fuzz-keys/"

static int memfd = -1;
static char path[64];
static struct pool *pool;
static bool trace; /* FUZZ_TRACE=1: each loader's verdict, to check the seeds */
/* An error message must never quote a private key of the seeds (a
 * client config given to the server, and the reverse, among others).
 * FUZZ_CHECK_SECRETS=0 turns the check off. */
static bool check_secrets;
static char secret64[2][64];

static void key_file(const char *name, const char *text, mode_t mode)
{
	char p[128], tmp[160];
	snprintf(p, sizeof(p), KEYDIR "%s", name);
	snprintf(tmp, sizeof(tmp), "%s.%d", p, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FX_CHECK(fd >= 0);
	FX_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	FX_CHECK(fchmod(fd, mode) == 0);
	close(fd);
	FX_CHECK(rename(tmp, p) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uint8_t k[32];
	char b64[64], text[80];

	FX_CHECK(sodium_init() >= 0);
	memfd = memfd_create("vpngw-fuzz-config", MFD_CLOEXEC);
	FX_CHECK(memfd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);

	if (mkdir(KEYDIR, 0700) != 0 && errno != EEXIST) {
		perror("mkdir " KEYDIR);
		abort();
	}
	fx_priv(k, FX_TAG_SRV);
	sodium_bin2base64(b64, sizeof(b64), k, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "%s\n", b64);
	key_file("ok", text, 0600);
	key_file("open", text, 0644);
	key_file("bad", "not a key\n", 0600);

	pool = pool_new(4);
	FX_CHECK(pool);
	trace = getenv("FUZZ_TRACE") != NULL;
	const char *cs = getenv("FUZZ_CHECK_SECRETS");
	check_secrets = !cs || strcmp(cs, "0") != 0;
	fx_priv(k, FX_TAG_SRV);
	sodium_bin2base64(secret64[0], sizeof(secret64[0]), k, 32, sodium_base64_VARIANT_ORIGINAL);
	fx_priv(k, FX_TAG_ALICE);
	sodium_bin2base64(secret64[1], sizeof(secret64[1]), k, 32, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

static bool has_ci(const uint8_t *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++) {
		size_t j = 0;
		while (j < m && tolower(s[i + j]) == needle[j])
			j++;
		if (j == m)
			return true;
	}
	return false;
}

static bool key_paths_safe(const uint8_t *d, size_t n)
{
	size_t start = 0;
	while (start < n) {
		const uint8_t *nl = memchr(d + start, '\n', n - start);
		size_t end = nl ? (size_t)(nl - d) : n, slashes = 0;
		const uint8_t *line = d + start;
		size_t len = end - start;
		if (has_ci(line, len, "keyfile")) {
			for (size_t i = 0; i < len; i++)
				slashes += line[i] == '/';
			if (slashes && (slashes != 3 || !has_ci(line, len, KEYDIR)))
				return false;
		}
		start = end + 1;
	}
	return true;
}

static bool cstr_ok(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Whether the input has `head` on a line other than a PrivateKey line
 * (a Name, a comment): an error may then quote that text, which is the
 * user's own and not a key read as one. */
static bool written_elsewhere(const uint8_t *data, size_t size, const char *head)
{
	size_t hl = strlen(head);
	const uint8_t *end = data + size;
	for (const uint8_t *line = data; line < end;) {
		const uint8_t *nl = memchr(line, '\n', (size_t)(end - line));
		const uint8_t *stop = nl ? nl : end;
		if (memmem(line, (size_t)(stop - line), head, hl)) {
			const uint8_t *k = line;
			while (k < stop && (*k == ' ' || *k == '\t'))
				k++;
			if ((size_t)(stop - k) < 10 || strncasecmp((const char *)k, "PrivateKey", 10) != 0)
				return true;
			for (k += 10; k < stop && (*k == ' ' || *k == '\t'); k++)
				;
			if (k == stop || *k != '=')
				return true;
		}
		line = stop + 1;
	}
	return false;
}

static void check_err(const char *err, size_t cap, const uint8_t *data, size_t size)
{
	FX_CHECK(err[0] && cstr_ok(err, cap));
	if (check_secrets) {
		/* The key, or all but its last few characters. */
		for (int i = 0; i < 2; i++) {
			char head[41];
			memcpy(head, secret64[i], 40);
			head[40] = '\0';
			if (strstr(err, head) && !written_elsewhere(data, size, head)) {
				fprintf(stderr, "private key in an error message: %s\n", err);
				abort();
			}
		}
	}
}

static void check_server(struct server_conf *c)
{
	FX_CHECK(c->has_priv && c->addr4 != 0);
	FX_CHECK(c->prefix4 >= 8 && c->prefix4 <= 30);
	FX_CHECK(c->port >= 1);
	FX_CHECK(c->mtu == MTU_AUTO || (c->mtu >= MTU_MIN && c->mtu <= MTU_MAX)); /* auto: resolved at start */
	FX_CHECK(c->keepalive_s >= 1 && c->keepalive_s <= 3600);
	FX_CHECK(c->stats_interval_s >= 1 && c->stats_interval_s <= 3600);
	FX_CHECK(cstr_ok(c->ifname, sizeof(c->ifname)) && c->ifname[0]);
	FX_CHECK(c->npeers <= CONF_MAX_PEERS && (c->npeers == 0 || c->peers));
	uint32_t mask = 0xffffffffu << (32 - c->prefix4), net = c->addr4 & mask, bcast = net | ~mask;
	FX_CHECK(c->addr4 != net && c->addr4 != bcast);
	for (size_t i = 0; i < c->npeers; i++) {
		struct peer_conf *p = &c->peers[i];
		FX_CHECK(p->has_pub && cstr_ok(p->name, sizeof(p->name)) && p->name[0]);
		FX_CHECK(!p->addr4 || ((p->addr4 & mask) == net && p->addr4 != c->addr4 && p->addr4 != net && p->addr4 != bcast));
		for (size_t j = 0; j < i; j++) {
			FX_CHECK(memcmp(p->pub, c->peers[j].pub, 32) != 0);
			FX_CHECK(!p->addr4 || p->addr4 != c->peers[j].addr4);
		}
	}

	struct registry r;
	char err[256] = "";
	if (registry_init(&r, c, pool, 2, err, sizeof(err)) != 0) {
		FX_CHECK(err[0]);
		return;
	}
	FX_CHECK(r.n == c->npeers);
	for (size_t i = 0; i < r.n; i++) {
		struct peer *p = r.peers[i];
		FX_CHECK(registry_in_pool(&r, p->addr4) && p->addr4 != r.gw_addr);
		FX_CHECK(registry_by_addr(&r, p->addr4) == p);
		FX_CHECK(registry_by_pubkey(&r, p->pub) == p);
		for (size_t j = 0; j < i; j++)
			FX_CHECK(p->addr4 != r.peers[j]->addr4);
	}
	registry_destroy(&r);
}

static void check_client(const struct client_conf *k)
{
	FX_CHECK(k->has_priv && k->has_server_pub && k->endpoint[0]);
	FX_CHECK(cstr_ok(k->endpoint, sizeof(k->endpoint)) && cstr_ok(k->ifname, sizeof(k->ifname)));
	FX_CHECK(k->keepalive_s >= 0 && k->keepalive_s <= 3600);
	FX_CHECK(k->stats_interval_s >= 1 && k->stats_interval_s <= 3600);
	FX_CHECK(k->nroutes <= CONF_MAX_ROUTES);
	for (size_t i = 0; i < k->nroutes; i++) {
		const struct route4 *rt = &k->routes[i];
		FX_CHECK(rt->prefix <= 32);
		FX_CHECK(rt->prefix == 32 || !(rt->net & (0xffffffffu >> rt->prefix)));
	}
	FX_CHECK(k->dns_mode == DNS_AUTO || k->dns_mode == DNS_OFF || (k->dns_mode == DNS_FIXED && k->dns4 != 0));
	FX_CHECK(k->fwmark >= 1 && k->fwmark <= 0x7fffffffu && (k->fwmark < 253 || k->fwmark > 255));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!key_paths_safe(data, size))
		return -1;
	FX_CHECK(ftruncate(memfd, 0) == 0);
	FX_CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);

	struct server_conf sc;
	struct client_conf cc;
	char err[512];

	err[0] = '\0';
	int rc = config_load_server(path, &sc, err, sizeof(err));
	if (trace)
		fprintf(stderr, "trace: server: %s\n", rc ? err : "ok");
	if (rc == 0) {
		check_server(&sc);
		config_free_server(&sc);
	} else {
		check_err(err, sizeof(err), data, size);
		FX_CHECK(sc.peers == NULL); /* nothing left allocated */
	}

	err[0] = '\0';
	rc = config_load_client(path, &cc, err, sizeof(err));
	if (trace)
		fprintf(stderr, "trace: client: %s\n", rc ? err : "ok");
	if (rc == 0)
		check_client(&cc);
	else
		check_err(err, sizeof(err), data, size);
	return 0;
}
