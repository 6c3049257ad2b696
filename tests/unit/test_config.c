/* test_config.c - server and client INI files: values, and errors that
 * name file:line, key and value. Every config is a temp file under /tmp. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "cpulat.h"
#include "thread.h"

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Keys shared by the tests, made once. */
static uint8_t srv_priv[32], cli_priv[32], pub1[32], pub2[32];
static char srv_priv64[64], cli_priv64[64], pub1_64[64], pub2_64[64];

static void b64(char *out, size_t outlen, const uint8_t key[32])
{
	sodium_bin2base64(out, outlen, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

static int make_keys(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(srv_priv, 32);
	randombytes_buf(cli_priv, 32);
	randombytes_buf(pub1, 32);
	randombytes_buf(pub2, 32);
	b64(srv_priv64, sizeof(srv_priv64), srv_priv);
	b64(cli_priv64, sizeof(cli_priv64), cli_priv);
	b64(pub1_64, sizeof(pub1_64), pub1);
	b64(pub2_64, sizeof(pub2_64), pub2);
	return 0;
}

/* ----------------------------------------------------------------- helpers */

struct tmpconf {
	char path[64];
	char text[8192];
};

/* Every temp file made, so a failing test leaves none behind. */
static char made[64][64];

static void remember(const char *path)
{
	for (size_t i = 0; i < 64; i++) {
		if (!made[i][0]) {
			snprintf(made[i], sizeof(made[i]), "%s", path);
			return;
		}
	}
	fail_msg("too many temp files");
}

static void forget(const char *path)
{
	for (size_t i = 0; i < 64; i++)
		if (!strcmp(made[i], path))
			made[i][0] = '\0';
}

static void tmp_write(struct tmpconf *t, mode_t mode)
{
	strcpy(t->path, "/tmp/vpngw-test-XXXXXX");
	int fd = mkstemp(t->path);
	assert_true(fd >= 0);
	remember(t->path);
	size_t n = strlen(t->text);
	assert_int_equal(write(fd, t->text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Writes the printf-formatted text to a fresh temp file. */
static void __attribute__((format(printf, 2, 3))) conf_write(struct tmpconf *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->text, sizeof(t->text), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(t->text));
	tmp_write(t, 0600);
}

static void conf_remove(struct tmpconf *t)
{
	forget(t->path);
	assert_int_equal(unlink(t->path), 0);
}

/* The 1-based line of the file on which needle first occurs. */
static int line_of(const struct tmpconf *t, const char *needle)
{
	const char *at = strstr(t->text, needle);
	assert_non_null(at);
	int line = 1;
	for (const char *p = t->text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* err must name "path:line:" and contain each of the further strings. */
static void assert_err_at(const char *err, const struct tmpconf *t, int line, const char *key, const char *value)
{
	char where[128];
	snprintf(where, sizeof(where), "%s:%d:", t->path, line);
	if (!strstr(err, where))
		fail_msg("error does not name %s: \"%s\"", where, err);
	if (key && !strstr(err, key))
		fail_msg("error does not name the key %s: \"%s\"", key, err);
	if (value && !strstr(err, value))
		fail_msg("error does not name the value %s: \"%s\"", value, err);
}

/* Loads t as a server config and expects failure. */
static void server_fails(struct tmpconf *t, char *err, size_t errlen)
{
	struct server_conf c;
	err[0] = '\0';
	int rc = config_load_server(t->path, &c, err, errlen);
	if (rc == 0) {
		config_free_server(&c);
		fail_msg("config was accepted:\n%s", t->text);
	}
	assert_int_equal(rc, -1);
	assert_true(strlen(err) > 0);
	assert_null(c.peers); /* nothing left allocated */
}

/* A valid [Server] section with one extra line appended to it, then
 * one client. */
static void server_with(struct tmpconf *t, const char *extra)
{
	conf_write(t,
		   "[Server]\n"
		   "PrivateKey = %s\n"
		   "Address = 10.77.0.1/24\n"
		   "%s\n"
		   "\n"
		   "[Client]\n"
		   "PublicKey = %s\n",
		   srv_priv64, extra, pub1_64);
}

/* Expects the server config with `line` in [Server] to fail at that
 * line, naming key and value. */
static void server_line_fails(const char *line, const char *key, const char *value)
{
	struct tmpconf t;
	char err[512];
	server_with(&t, line);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, line_of(&t, line), key, value);
	conf_remove(&t);
}

/* Redirects stderr into a temp file while a config loads. */
struct capture {
	int saved;
	char path[64];
};
static struct capture cap = { .saved = -1 };

static void capture_start(void)
{
	fflush(stderr);
	strcpy(cap.path, "/tmp/vpngw-test-err-XXXXXX");
	int fd = mkstemp(cap.path);
	assert_true(fd >= 0);
	remember(cap.path);
	cap.saved = dup(STDERR_FILENO);
	assert_true(cap.saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static void capture_restore(void)
{
	if (cap.saved < 0)
		return;
	fflush(stderr);
	dup2(cap.saved, STDERR_FILENO);
	close(cap.saved);
	cap.saved = -1;
}

static void capture_stop(char *out, size_t outlen)
{
	capture_restore();
	FILE *f = fopen(cap.path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	forget(cap.path);
	unlink(cap.path);
}

/* After each test: stderr back, temp files gone, even after a failure. */
static int cleanup(void **state)
{
	(void)state;
	capture_restore();
	for (size_t i = 0; i < 64; i++) {
		if (made[i][0]) {
			unlink(made[i]);
			made[i][0] = '\0';
		}
	}
	return 0;
}

/* ------------------------------------------------------------ valid server */

static void test_server_full_valid(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t,
		   "# vpngw gateway\n"
		   "[Server]\n"
		   "PrivateKey = %s        # or PrivateKeyFile = /path\n"
		   "ListenPort = 51999\n"
		   "Address = 10.77.0.1/24, fd77::1/64   # gateway tunnel addresses; their subnets are the client pools\n"
		   "MTU = 1380                   # or auto\n"
		   "Interface = vpngw7           # TUN device name (optional)\n"
		   "DNS = 10.77.0.1              # pushed to clients (the gateway's DNS proxy)\n"
		   "KeepaliveInterval = 25       ; semicolon comments too\n"
		   "StatsInterval = 7\n"
		   "                             # a comment on a line of its own, indented\n"
		   "\n"
		   "[Client]                     # one section per client\n"
		   "Name = alice\n"
		   "PublicKey = %s\n"
		   "Address = 10.77.0.20/32       # optional fixed address; else from the pool\n"
		   "\n"
		   "[Client]\n"
		   "PublicKey = %s\n",
		   srv_priv64, pub1_64, pub2_64);
	struct server_conf c;
	char err[512] = "", warn[1024];
	capture_start();
	int rc = config_load_server(t.path, &c, err, sizeof(err));
	capture_stop(warn, sizeof(warn));
	if (rc != 0)
		fail_msg("valid config refused: %s", err);

	assert_true(c.has_priv);
	assert_memory_equal(c.priv, srv_priv, 32);
	assert_int_equal(c.port, 51999);
	assert_int_equal(c.addr4, A4(10, 77, 0, 1));
	assert_int_equal(c.prefix4, 24);
	assert_int_equal(c.mtu, 1380);
	assert_string_equal(c.ifname, "vpngw7");
	assert_int_equal(c.dns4, A4(10, 77, 0, 1));
	assert_int_equal(c.keepalive_s, 25);
	assert_int_equal(c.stats_interval_s, 7);

	assert_int_equal(c.npeers, 2);
	assert_string_equal(c.peers[0].name, "alice");
	assert_true(c.peers[0].has_pub);
	assert_memory_equal(c.peers[0].pub, pub1, 32);
	assert_int_equal(c.peers[0].addr4, A4(10, 77, 0, 20));
	assert_true(c.peers[1].has_pub);
	assert_memory_equal(c.peers[1].pub, pub2, 32);
	assert_int_equal(c.peers[1].addr4, 0);     /* from the pool */
	assert_true(strlen(c.peers[1].name) > 0); /* a default name */

	/* the IPv6 pool beside the IPv4 one */
	uint8_t gw6[16];
	inet_pton(AF_INET6, "fd77::1", gw6);
	assert_true(c.has6);
	assert_memory_equal(c.addr6, gw6, 16);
	assert_int_equal(c.prefix6, 64);
	assert_string_equal(warn, "");
	config_free_server(&c);
	assert_null(c.peers);
	conf_remove(&t);
}

static void server_addr_fails(const char *addr, const char *why)
{
	struct tmpconf t;
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = %s\n", srv_priv64, addr);
	struct server_conf c;
	char err[512] = "";
	assert_int_not_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	if (!strstr(err, why))
		fail_msg("Address = %s: error \"%s\" does not say \"%s\"", addr, err, why);
	conf_remove(&t);
}

static void test_server_ipv6_pool(void **state)
{
	(void)state;
	struct tmpconf t;
	/* a /120 beside a /24 leaves exactly enough host bits */
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = fd00:8::101/120 , 10.8.0.1/24\n", srv_priv64);
	struct server_conf c;
	char err[512] = "";
	if (config_load_server(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_true(c.has6);
	assert_int_equal(c.prefix6, 120);
	assert_int_equal(c.addr4, A4(10, 8, 0, 1));
	config_free_server(&c);
	conf_remove(&t);

	/* a host number beyond the IPv4 pool's is no client's */
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.8.0.1/24, fd00:8::1:0/64\n", srv_priv64);
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_true(c.has6);
	config_free_server(&c);
	conf_remove(&t);

	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.8.0.1/24\n", srv_priv64);
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_false(c.has6);
	config_free_server(&c);
	conf_remove(&t);

	server_addr_fails("10.8.0.1/24, fd00:8::1/121", "host bits");
	server_addr_fails("10.8.0.1/24, fd00:8::1/8", "host bits");
	server_addr_fails("10.8.0.1/24, fd00:8::1/64, fd00:9::1/64", "optionally one IPv6");
	server_addr_fails("fd00:8::1/64", "want one IPv4");
	server_addr_fails("10.8.0.1/24, fd00:8::/64", "network address");
	server_addr_fails("10.8.0.1/24, fd00:8::5/64", "would be a client's");
	server_addr_fails("10.8.0.1/24, fd00:8::zz/64", "optionally one IPv6");
}

static void test_server_defaults(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.9.0.1/16\n", srv_priv64);
	struct server_conf c;
	char err[512] = "";
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.port, 51820);
	assert_int_equal(c.mtu, MTU_DEFAULT);
	assert_string_equal(c.ifname, "vpngw0");
	assert_int_equal(c.npeers, 0);
	assert_int_equal(c.dns4, 0);
	assert_int_equal(c.addr4, A4(10, 9, 0, 1));
	assert_int_equal(c.prefix4, 16);
	config_free_server(&c);
	conf_remove(&t);
}

static void test_server_crlf_line_endings(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t, "[Server]\r\nPrivateKey = %s\r\nAddress = 10.77.0.1/24\r\nListenPort = 4000\r\n"
		       "[Client]\r\nPublicKey = %s\r\n", srv_priv64, pub1_64);
	struct server_conf c;
	char err[512] = "";
	if (config_load_server(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("CRLF config refused: %s", err);
	assert_int_equal(c.port, 4000);
	assert_int_equal(c.npeers, 1);
	config_free_server(&c);
	conf_remove(&t);
}

static void test_server_mtu_bounds_accepted(void **state)
{
	(void)state;
	const int ok[] = { MTU_MIN, MTU_MAX };
	for (size_t i = 0; i < 2; i++) {
		char line[64];
		struct tmpconf t;
		struct server_conf c;
		char err[512];
		snprintf(line, sizeof(line), "MTU = %d", ok[i]);
		server_with(&t, line);
		assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
		assert_int_equal(c.mtu, ok[i]);
		config_free_server(&c);
		conf_remove(&t);
	}
}

/* ----------------------------------------------------------- server errors */

static void test_server_bad_listen_port(void **state)
{
	(void)state;
	server_line_fails("ListenPort = 0", "ListenPort", "0");
	server_line_fails("ListenPort = 70000", "ListenPort", "70000");
	server_line_fails("ListenPort = abc", "ListenPort", "abc");
	server_line_fails("ListenPort = 65536", "ListenPort", "65536");
	server_line_fails("ListenPort = -1", "ListenPort", "-1");
	server_line_fails("ListenPort = 80x", "ListenPort", "80x");
	server_line_fails("ListenPort = +80", "ListenPort", "+80"); /* strtol would take these */
	server_line_fails("MTU = -0", "MTU", "-0");
}

/* A key given twice in one section is refused at its second line: the
 * first value would otherwise be dropped without a word. */
static void test_repeated_key_refused(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	const char *twice[][3] = {
		{ "ListenPort = 1\nListenPort = 2", "ListenPort = 2", "ListenPort" },
		/* The same key under a second [Server] header is still the gateway's. */
		{ "[Server]\nAddress = 10.77.0.9/24", "Address = 10.77.0.9", "Address" },
		/* PrivateKey and PrivateKeyFile are one setting. */
		{ "PrivateKeyFile = /nonexistent", "PrivateKeyFile", "PrivateKeyFile" },
	};
	for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		server_with(&t, twice[i][0]);
		server_fails(&t, err, sizeof(err));
		assert_err_at(err, &t, line_of(&t, twice[i][1]), twice[i][2], "given twice");
		conf_remove(&t);
	}

	/* A [Client] entry with two keys: the error names the second line. */
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n[Client]\nPublicKey = %s\nPublicKey = %s\n",
		   srv_priv64, pub1_64, pub2_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 6, "PublicKey", "first on line 5");
	conf_remove(&t);

	/* Each [Client] entry has its own keys; UpstreamDNS may repeat. */
	struct server_conf sc;
	conf_write(&t,
		   "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\nUpstreamDNS = 192.0.2.53\nUpstreamDNS = 192.0.2.54\n"
		   "[Client]\nName = a\nPublicKey = %s\n[Client]\nName = b\nPublicKey = %s\n",
		   srv_priv64, pub1_64, pub2_64);
	assert_int_equal(config_load_server(t.path, &sc, err, sizeof(err)), 0);
	assert_int_equal(sc.npeers, 2);
	config_free_server(&sc);
	conf_remove(&t);

	/* A client: its own section and the gateway's; Routes may repeat. */
	struct client_conf cc;
	conf_write(&t,
		   "[Client]\nPrivateKey = %s\nInterface = a0\n[Server]\nPublicKey = %s\nEndpoint = h:1\n"
		   "Routes = 10.1.0.0/16\nRoutes = 10.2.0.0/16\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &cc, err, sizeof(err)), 0);
	conf_remove(&t);
	conf_write(&t, "[Client]\nPrivateKey = %s\nInterface = a0\n[Server]\nPublicKey = %s\nEndpoint = h:1\nEndpoint = h:2\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &cc, err, sizeof(err)), -1);
	assert_err_at(err, &t, 7, "Endpoint", "first on line 6");
	conf_remove(&t);
	conf_write(&t, "[Client]\nPrivateKey = %s\nInterface = a0\n[Server]\nPublicKey = %s\nEndpoint = h:1\n[Client]\nInterface = a1\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &cc, err, sizeof(err)), -1);
	assert_err_at(err, &t, 8, "Interface", "first on line 3");
	conf_remove(&t);
}

/* A NUL byte inside a line: getline reads past it, the parser would not. */
static void test_nul_byte_refused(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\nListenPort = 51820\n", srv_priv64);
	FILE *f = fopen(t.path, "a");
	assert_non_null(f);
	assert_int_equal(fwrite("MTU = 1400\0garbage\n", 1, 20, f), 20);
	fclose(f);
	server_fails(&t, err, sizeof(err));
	assert_non_null(strstr(err, ":5: a NUL byte"));
	conf_remove(&t);
}

static void test_server_mtu_out_of_range(void **state)
{
	(void)state;
	server_line_fails("MTU = 575", "MTU", "575");
	server_line_fails("MTU = 1921", "MTU", "1921");
	server_line_fails("MTU = 0", "MTU", "0");
	server_line_fails("MTU = 9000", "MTU", "9000");
}

static void test_server_mtu_auto(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char err[512];
	server_with(&t, "MTU = auto");
	if (config_load_server(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("MTU = auto refused: %s", err);
	assert_int_equal(c.mtu, MTU_AUTO);
	config_free_server(&c);
	conf_remove(&t);
	server_line_fails("MTU = automatic", "MTU", "automatic");
}

static void test_server_bad_public_key(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t,
		   "[Server]\n"
		   "PrivateKey = %s\n"
		   "Address = 10.77.0.1/24\n"
		   "\n"
		   "[Client]\n"
		   "PublicKey = not*base64\n",
		   srv_priv64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, line_of(&t, "not*base64"), "PublicKey", "not*base64");
	conf_remove(&t);

	/* valid base64 of the wrong length: 31 and 33 bytes */
	const char *wrong[] = { "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
				"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g" };
	for (size_t i = 0; i < 2; i++) {
		conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n[Client]\nPublicKey = %s\n",
			   srv_priv64, wrong[i]);
		server_fails(&t, err, sizeof(err));
		/* Key-length material is never quoted: it may be a private key
		 * pasted into the wrong line. */
		assert_err_at(err, &t, 5, "PublicKey", "<hidden>");
		assert_null(strstr(err, wrong[i]));
		conf_remove(&t);
	}
}

static void test_server_bad_private_key_not_echoed(void **state)
{
	(void)state;
	/* A mistyped private key is still nearly a secret: named, not shown. */
	char line[128], almost[64];
	strcpy(almost, srv_priv64);
	almost[10] = almost[10] == '!' ? '?' : '!';
	snprintf(line, sizeof(line), "PrivateKey = %s", almost);
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nAddress = 10.77.0.1/24\n%s\n", line);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 3, "PrivateKey", NULL);
	assert_null(strstr(err, almost));
	conf_remove(&t);
}

static void test_server_unknown_key(void **state)
{
	(void)state;
	server_line_fails("Colour = blue", "Colour", "blue");
	/* in a [Client] section too */
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n\n[Client]\nPublicKey = %s\n"
		       "AllowedIPs = 10.1.0.0/16\n", srv_priv64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 7, "AllowedIPs", "10.1.0.0/16");
	conf_remove(&t);
}

static void test_server_unknown_section(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n\n# peers\n[Peer]\nPublicKey = %s\n",
		   srv_priv64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, line_of(&t, "[Peer]"), NULL, "Peer");
	conf_remove(&t);
}

static void test_server_error_line_after_comments_and_sections(void **state)
{
	(void)state;
	/* The line number counts comment lines, blank lines and section
	 * headers, and is the first error's. */
	struct tmpconf t;
	char err[512];
	conf_write(&t,
		   "; header comment\n"
		   "[Server]\n"
		   "PrivateKey = %s\n"
		   "Address = 10.77.0.1/24\n"
		   "[Client]\n"
		   "PublicKey = %s\n"
		   "# x\n"
		   "[Client]\n"
		   "\n"
		   "PublicKey = %s\n"
		   "Address = 10.77.0.300/32\n"
		   "ListenPort = 0\n",
		   srv_priv64, pub1_64, pub2_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 11, "Address", "10.77.0.300/32");
	conf_remove(&t);
}

/* Loads t as a server config in a child process, so a crash is a test
 * failure rather than the end of the run. The child exits 0 when the
 * load failed with an error naming `where` and `key`. */
static void server_fails_in_child(struct tmpconf *t, int line, const char *key)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would turn a crash back into a test run */
		const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		struct server_conf c;
		char err[512] = "", where[128];
		int rc = config_load_server(t->path, &c, err, sizeof(err));
		snprintf(where, sizeof(where), "%s:%d:", t->path, line);
		if (rc == 0)
			_exit(2);
		if (!strstr(err, where) || !strstr(err, key)) {
			fprintf(stderr, "error: \"%s\"\n", err);
			_exit(3);
		}
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("config_load_server crashed with signal %d on:\n%s", WTERMSIG(st), t->text);
	if (WEXITSTATUS(st) == 2)
		fail_msg("config was accepted:\n%s", t->text);
	if (WEXITSTATUS(st) != 0)
		fail_msg("error does not name %s:%d and %s", t->path, line, key);
}

static void test_server_key_before_any_section(void **state)
{
	(void)state;
	/* A file whose first [Server] line went missing, or keys above it:
	 * refused with the line and key, never a crash. */
	const char *first[] = { "Address = 10.77.0.1/24", "Name = gw", "ListenPort = 51820" };
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		struct tmpconf t;
		conf_write(&t, "%s\n[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n", first[i], srv_priv64);
		char key[32];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(first[i], " "), first[i]);
		server_fails_in_child(&t, 1, key);
		conf_remove(&t);
	}
}

static void test_server_duplicate_client_key(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t,
		   "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n"
		   "[Client]\nName = alice\nPublicKey = %s\n"
		   "[Client]\nName = bob\nPublicKey = %s\n",
		   srv_priv64, pub1_64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_non_null(strstr(err, t.path));
	assert_non_null(strstr(err, "alice"));
	assert_non_null(strstr(err, "bob"));
	assert_non_null(strstr(err, "PublicKey"));
	conf_remove(&t);
}

static void test_server_duplicate_client_key_names_line(void **state)
{
	(void)state;
	/* config.h: "Errors name the file, line, key and value." The
	 * duplicate is on a line of the file like any other bad value. */
	struct tmpconf t;
	char err[512];
	conf_write(&t,
		   "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n"
		   "[Client]\nName = alice\nPublicKey = %s\n"
		   "[Client]\nName = bob\nPublicKey = %s\n",
		   srv_priv64, pub1_64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 9, "PublicKey", pub1_64);
	conf_remove(&t);
}

static void test_server_client_address_outside_pool(void **state)
{
	(void)state;
	const char *bad[] = { "10.78.0.5/32", "10.77.0.1/32" /* the gateway's own */,
			      "10.77.0.0/32" /* the pool's network */, "10.77.0.255/32" /* its broadcast */ };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tmpconf t;
		char err[512];
		conf_write(&t,
			   "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n"
			   "[Client]\nName = carol\nPublicKey = %s\nAddress = %s\n",
			   srv_priv64, pub1_64, bad[i]);
		server_fails(&t, err, sizeof(err));
		assert_non_null(strstr(err, t.path));
		assert_non_null(strstr(err, "carol"));
		assert_non_null(strstr(err, "Address"));
		conf_remove(&t);
	}
}

static void test_server_address_not_network_or_broadcast(void **state)
{
	(void)state;
	const char *bad[] = { "10.77.0.0/24", "10.77.0.255/24", "10.76.0.0/15" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tmpconf t;
		char err[512];
		conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = %s\n", srv_priv64, bad[i]);
		server_fails(&t, err, sizeof(err));
		assert_non_null(strstr(err, t.path));
		assert_non_null(strstr(err, bad[i]));
		conf_remove(&t);
	}
}

static void test_server_client_address_outside_pool_names_line(void **state)
{
	(void)state;
	/* config.h: "Errors name the file, line, key and value." */
	struct tmpconf t;
	char err[512];
	conf_write(&t,
		   "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n"
		   "[Client]\nName = carol\nPublicKey = %s\nAddress = 10.78.0.5/32\n",
		   srv_priv64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 7, "Address", "10.78.0.5");
	conf_remove(&t);
}

static void test_server_client_address_not_host(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n[Client]\nPublicKey = %s\n"
		       "Address = 10.77.0.8/29\n", srv_priv64, pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 6, "Address", "10.77.0.8/29");
	conf_remove(&t);
}

static void test_server_missing_private_key(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nAddress = 10.77.0.1/24\nListenPort = 51820\n[Client]\nPublicKey = %s\n", pub1_64);
	server_fails(&t, err, sizeof(err));
	assert_non_null(strstr(err, t.path));
	assert_non_null(strstr(err, "PrivateKey"));
	conf_remove(&t);
}

static void test_server_missing_address_and_client_key(void **state)
{
	(void)state;
	struct tmpconf t;
	char err[512];
	conf_write(&t, "[Server]\nPrivateKey = %s\n", srv_priv64);
	server_fails(&t, err, sizeof(err));
	assert_non_null(strstr(err, "Address"));
	conf_remove(&t);

	conf_write(&t, "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n[Client]\nName = dave\n", srv_priv64);
	server_fails(&t, err, sizeof(err));
	assert_non_null(strstr(err, "PublicKey"));
	conf_remove(&t);
}

static void test_server_bad_address(void **state)
{
	(void)state;
	server_line_fails("Address = 10.77.0.1/31", "Address", "10.77.0.1/31");
	server_line_fails("Address = 10.77.0.1/24, 10.78.0.1/24", "Address", "10.78.0.1/24");
	server_line_fails("Address = 10.77.0.256/24", "Address", "10.77.0.256/24");
}

static void test_missing_file(void **state)
{
	(void)state;
	struct server_conf c;
	char err[512] = "";
	assert_int_equal(config_load_server("/tmp/vpngw-no-such-file.conf", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/tmp/vpngw-no-such-file.conf"));
}

/* -------------------------------------------------------------- key files */

static void key_file(struct tmpconf *k, mode_t mode)
{
	snprintf(k->text, sizeof(k->text), "%s\n", cli_priv64);
	tmp_write(k, mode);
}

static void test_private_key_file_mode(void **state)
{
	(void)state;
	struct tmpconf k, t;
	char err[512];
	struct server_conf c;

	key_file(&k, 0644);
	conf_write(&t, "[Server]\nAddress = 10.77.0.1/24\nPrivateKeyFile = %s\n", k.path);
	server_fails(&t, err, sizeof(err));
	assert_err_at(err, &t, 3, "PrivateKeyFile", k.path);
	if (!strstr(err, "group") && !strstr(err, "others"))
		fail_msg("error does not say why: \"%s\"", err);
	conf_remove(&t);
	conf_remove(&k);

	key_file(&k, 0640);
	conf_write(&t, "[Server]\nAddress = 10.77.0.1/24\nPrivateKeyFile = %s\n", k.path);
	server_fails(&t, err, sizeof(err));
	conf_remove(&t);
	conf_remove(&k);

	key_file(&k, 0600);
	conf_write(&t, "[Server]\nAddress = 10.77.0.1/24\nPrivateKeyFile = %s\n", k.path);
	if (config_load_server(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("0600 key file refused: %s", err);
	assert_true(c.has_priv);
	assert_memory_equal(c.priv, cli_priv, 32);
	config_free_server(&c);
	conf_remove(&t);
	conf_remove(&k);
}

static void test_read_key_file_direct(void **state)
{
	(void)state;
	struct tmpconf k;
	uint8_t key[32];
	char err[256] = "";
	key_file(&k, 0400);
	assert_int_equal(read_key_file(k.path, key, err, sizeof(err)), 0);
	assert_memory_equal(key, cli_priv, 32);
	conf_remove(&k);

	strcpy(k.text, "garbage\n");
	tmp_write(&k, 0600);
	assert_int_equal(read_key_file(k.path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, k.path));
	conf_remove(&k);
}

/* ------------------------------------------------------------------ client */

static void test_client_valid(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t,
		   "[Client]\n"
		   "PrivateKey = %s\n"
		   "Interface = vpncli1   # TUN device name (optional)\n"
		   "KeepaliveInterval = 15\n"
		   "\n"
		   "[Server]\n"
		   "PublicKey = %s\n"
		   "Endpoint = 192.0.2.1:51820   # host name or address\n"
		   "Routes = 198.51.100.0/24,  10.0.0.0/8 ,192.168.7.0/24, ::/0, 203.0.113.7\n",
		   cli_priv64, pub1_64);
	struct client_conf c;
	char err[512] = "";
	char warn[1024];
	capture_start();
	int rc = config_load_client(t.path, &c, err, sizeof(err));
	capture_stop(warn, sizeof(warn));
	if (rc != 0)
		fail_msg("valid client config refused: %s", err);
	assert_true(c.has_priv);
	assert_memory_equal(c.priv, cli_priv, 32);
	assert_string_equal(c.ifname, "vpncli1");
	assert_int_equal(c.keepalive_s, 15);
	assert_true(c.has_server_pub);
	assert_memory_equal(c.server_pub, pub1, 32);
	assert_string_equal(c.endpoint, "192.0.2.1:51820");
	assert_int_equal(c.nroutes, 4);
	assert_int_equal(c.routes[0].net, A4(198, 51, 100, 0));
	assert_int_equal(c.routes[0].prefix, 24);
	assert_int_equal(c.routes[1].net, A4(10, 0, 0, 0));
	assert_int_equal(c.routes[1].prefix, 8);
	assert_int_equal(c.routes[2].net, A4(192, 168, 7, 0));
	assert_int_equal(c.routes[2].prefix, 24);
	assert_int_equal(c.routes[3].net, A4(203, 0, 113, 7));
	assert_int_equal(c.routes[3].prefix, 32);
	/* ::/0: IPv6 through the tunnel or nowhere, not a split route. */
	assert_int_equal(c.nroutes6, 0);
	assert_true(c.all_v6);
	assert_null(strstr(warn, "::/0"));
	assert_int_equal(c.dns_mode, DNS_AUTO);
	assert_int_equal(c.fwmark, FWMARK_DEFAULT);
	conf_remove(&t);
}

/* A valid client config with `extra` appended to [Client]. */
static void client_with(struct tmpconf *t, const char *extra)
{
	conf_write(t, "[Client]\nPrivateKey = %s\n%s\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n"
		      "Routes = 10.0.0.0/8, 2001:db8::/32\n", cli_priv64, extra, pub1_64);
}

static void client_line_fails(const char *line, const char *key, const char *value)
{
	struct tmpconf t;
	struct client_conf c;
	char err[512];
	client_with(&t, line);
	assert_int_not_equal(config_load_client(t.path, &c, err, sizeof(err)), 0);
	assert_err_at(err, &t, line_of(&t, line), key, value);
	conf_remove(&t);
}

static void client_loads(const char *line, struct client_conf *c)
{
	struct tmpconf t;
	char err[512], warn[1024];
	client_with(&t, line);
	capture_start();
	int rc = config_load_client(t.path, c, err, sizeof(err));
	capture_stop(warn, sizeof(warn));
	if (rc != 0)
		fail_msg("'%s' refused: %s", line, err);
	/* Other IPv6 routes are taken, without a warning. */
	assert_null(strstr(warn, "2001:db8::/32"));
	assert_int_equal(c->nroutes6, 1);
	assert_int_equal(c->routes6[0].prefix, 32);
	assert_false(c->all_v6);
	conf_remove(&t);
}

static void test_client_dns_and_fwmark(void **state)
{
	(void)state;
	struct client_conf c;
	client_loads("DNS = off", &c);
	assert_int_equal(c.dns_mode, DNS_OFF);
	client_loads("DNS = auto", &c);
	assert_int_equal(c.dns_mode, DNS_AUTO);
	client_loads("DNS = 10.77.0.53", &c);
	assert_int_equal(c.dns_mode, DNS_FIXED);
	assert_int_equal(c.dns4, A4(10, 77, 0, 53));
	client_loads("FwMark = 4242", &c);
	assert_int_equal(c.fwmark, 4242);
	client_line_fails("DNS = 10.77.0.0/24", "DNS", "10.77.0.0/24");
	client_line_fails("DNS = yes", "DNS", "yes");
	client_line_fails("DNS = 0.0.0.0", "DNS", "0.0.0.0");
	client_line_fails("FwMark = 0", "FwMark", "0");
	client_line_fails("FwMark = 254", "FwMark", "254");
	client_line_fails("FwMark = 0x10", "FwMark", "0x10");
}

static void test_client_default_route_and_ipv6_endpoint(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nEndpoint = [2001:db8::1]:51820\n"
		       "Routes = 0.0.0.0/0\n", cli_priv64, pub1_64);
	struct client_conf c;
	char err[512] = "";
	if (config_load_client(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c.endpoint, "[2001:db8::1]:51820");
	assert_int_equal(c.nroutes, 1);
	assert_int_equal(c.routes[0].net, 0);
	assert_int_equal(c.routes[0].prefix, 0);
	assert_string_equal(c.ifname, "vpngw0");
	conf_remove(&t);
}

static void test_client_long_routes_line(void **state)
{
	(void)state;
	/* CONF_MAX_ROUTES is 64: a list of 20 routes (a line of ~300
	 * characters) must load, and line numbers after it stay right. */
	char routes[1024] = "";
	for (int i = 0; i < 20; i++) {
		char r[32];
		snprintf(r, sizeof(r), "%s10.%d.0.0/16", i ? ", " : "", 100 + i);
		strcat(routes, r);
	}
	assert_true(strlen(routes) > 250);
	struct tmpconf t;
	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n"
		       "Routes = %s\n", cli_priv64, pub1_64, routes);
	struct client_conf c;
	char err[512] = "";
	if (config_load_client(t.path, &c, err, sizeof(err)) != 0)
		fail_msg("a 20-route list was refused: %s", err);
	assert_int_equal(c.nroutes, 20);
	assert_int_equal(c.routes[19].net, A4(10, 119, 0, 0));
	conf_remove(&t);

	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nRoutes = %s\n"
		       "Endpoint = 192.0.2.1:51820\nBogus = 1\n", cli_priv64, pub1_64, routes);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 7, "Bogus", "1");
	conf_remove(&t);
}

static void test_client_route_host_bits(void **state)
{
	(void)state;
	struct tmpconf t;
	conf_write(&t, "[Client]\nPrivateKey = %s\n\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n"
		       "Routes = 198.51.100.0/24, 10.0.0.1/8\n", cli_priv64, pub1_64);
	struct client_conf c;
	char err[512] = "";
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 7, "Routes", "10.0.0.1/8");
	conf_remove(&t);
}

static void test_client_bad_routes(void **state)
{
	(void)state;
	const char *bad[] = { "10.0.0.0/33", "10.0.0/8", "banana", "10.0.0.0/", "10.0.0.0/8x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tmpconf t;
		conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nEndpoint = h:1\nRoutes = %s\n",
			   cli_priv64, pub1_64, bad[i]);
		struct client_conf c;
		char err[512] = "";
		assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
		assert_err_at(err, &t, 6, "Routes", bad[i]);
		conf_remove(&t);
	}
}

static void test_client_errors(void **state)
{
	(void)state;
	struct tmpconf t;
	struct client_conf c;
	char err[512];

	/* unknown key */
	conf_write(&t, "[Client]\nPrivateKey = %s\nMTU = 1400\n[Server]\nPublicKey = %s\nEndpoint = h:1\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 3, "MTU", "1400");
	conf_remove(&t);

	/* Endpoint without a port */
	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 5, "Endpoint", "192.0.2.1");
	conf_remove(&t);

	/* bad server key */
	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = xyz\nEndpoint = h:1\n", cli_priv64);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 4, "PublicKey", "xyz");
	conf_remove(&t);

	/* missing Endpoint */
	conf_write(&t, "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\n", cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Endpoint"));
	conf_remove(&t);

	/* interface name too long */
	conf_write(&t, "[Client]\nPrivateKey = %s\nInterface = averyveryverylongname\n[Server]\nPublicKey = %s\n"
		       "Endpoint = h:1\n", cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &c, err, sizeof(err)), -1);
	assert_err_at(err, &t, 3, "Interface", "averyveryverylongname");
	conf_remove(&t);
}

/* ---------------------------------------------------------- building blocks */

static void test_parse_cidr4(void **state)
{
	(void)state;
	uint32_t a;
	uint8_t p;
	assert_int_equal(parse_cidr4("10.77.0.1/24", &a, &p), 0);
	assert_int_equal(a, A4(10, 77, 0, 1));
	assert_int_equal(p, 24);
	assert_int_equal(parse_cidr4("192.0.2.9", &a, &p), 0);
	assert_int_equal(p, 32);
	assert_int_equal(parse_cidr4("0.0.0.0/0", &a, &p), 0);
	assert_int_equal(a, 0);
	assert_int_equal(p, 0);
	assert_int_not_equal(parse_cidr4("10.0.0.0/33", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("10.0.0.0/-1", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("10.0.0.0/+8", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("10.0.0.0/ 8", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("0.0.0.0/-0", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("10.0.0.0/", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("10.0.0/8", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("", &a, &p), 0);
	assert_int_not_equal(parse_cidr4("fd77::1/64", &a, &p), 0);
}

static void test_parse_key_b64(void **state)
{
	(void)state;
	uint8_t k[32];
	assert_int_equal(parse_key_b64(pub2_64, k), 0);
	assert_memory_equal(k, pub2, 32);
	char trailing[80];
	snprintf(trailing, sizeof(trailing), "%sA", pub2_64);
	assert_int_not_equal(parse_key_b64(trailing, k), 0);
	assert_int_not_equal(parse_key_b64("", k), 0);
}

/* ------------------------------------------------------------- DNS proxy */

/* Loads a server config with `lines` in [Server]; must succeed. Its
 * stderr (warnings) goes to warn. */
static void server_dns_loads(struct tmpconf *t, const char *lines, struct server_conf *c, char *warn, size_t wlen)
{
	char err[512] = "";
	server_with(t, lines);
	capture_start();
	int rc = config_load_server(t->path, c, err, sizeof(err));
	capture_stop(warn, wlen);
	if (rc != 0)
		fail_msg("config refused: %s", err);
}

static void test_server_upstream_dns(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char warn[1024], s[64];
	server_dns_loads(&t, "UpstreamDNS = 198.51.100.2, 198.51.100.3:5353\nUpstreamDNS = [2001:db8::53]:53\nDNSProxy = on",
			 &c, warn, sizeof(warn));
	assert_string_equal(warn, "");
	assert_true(c.upstream_set);
	assert_false(c.dns_proxy_off);
	assert_int_equal(c.nupstreams, 3);
	assert_string_equal(dns_server_str(&c.upstreams[0], s, sizeof(s)), "198.51.100.2:53");
	assert_string_equal(dns_server_str(&c.upstreams[1], s, sizeof(s)), "198.51.100.3:5353");
	assert_string_equal(dns_server_str(&c.upstreams[2], s, sizeof(s)), "[2001:db8::53]:53");
	config_free_server(&c);
	conf_remove(&t);

	/* not given: the proxy reads resolv.conf */
	server_dns_loads(&t, "", &c, warn, sizeof(warn));
	assert_false(c.upstream_set);
	assert_int_equal(c.nupstreams, 0);
	assert_false(c.dns_proxy_off);
	config_free_server(&c);
	conf_remove(&t);
}

/* An unusable upstream is a warning naming file:line, key and value; the
 * config (and so the tunnel) still loads. */
static void test_server_upstream_dns_unusable_warns(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char warn[2048], where[128], s[64];
	const char *line = "UpstreamDNS = dns.example, 198.51.100.2:99999, 198.51.100.4, fe80::1%eth0";
	server_dns_loads(&t, line, &c, warn, sizeof(warn));
	assert_true(c.upstream_set);
	assert_int_equal(c.nupstreams, 1);
	assert_string_equal(dns_server_str(&c.upstreams[0], s, sizeof(s)), "198.51.100.4:53");
	snprintf(where, sizeof(where), "%s:%d: UpstreamDNS = ", t.path, line_of(&t, line));
	const char *bad[] = { "dns.example", "198.51.100.2:99999", "fe80::1%eth0" };
	for (size_t i = 0; i < 3; i++) {
		char want[256];
		snprintf(want, sizeof(want), "%s%s: ", where, bad[i]);
		if (!strstr(warn, want))
			fail_msg("no warning \"%s...\"; stderr: \"%s\"", want, warn);
	}
	assert_null(strstr(warn, "198.51.100.4"));
	config_free_server(&c);
	conf_remove(&t);

	/* nothing usable at all: still loads, with nothing in the list */
	server_dns_loads(&t, "UpstreamDNS =", &c, warn, sizeof(warn));
	assert_true(c.upstream_set);
	assert_int_equal(c.nupstreams, 0);
	config_free_server(&c);
	conf_remove(&t);
}

static void test_server_upstream_dns_too_many(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char warn[1024], line[512] = "UpstreamDNS = ";
	for (int i = 1; i <= DNS_MAX_UPSTREAMS + 1; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s198.51.100.%d", i > 1 ? ", " : "", i);
	server_dns_loads(&t, line, &c, warn, sizeof(warn));
	assert_int_equal(c.nupstreams, DNS_MAX_UPSTREAMS);
	char want[64];
	snprintf(want, sizeof(want), "UpstreamDNS = 198.51.100.%d: more than", DNS_MAX_UPSTREAMS + 1);
	if (!strstr(warn, want))
		fail_msg("no warning \"%s\"; stderr: \"%s\"", want, warn);
	config_free_server(&c);
	conf_remove(&t);
}

static void test_server_dns_proxy_switch(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char warn[512];
	server_dns_loads(&t, "DNSProxy = OFF", &c, warn, sizeof(warn));
	assert_true(c.dns_proxy_off);
	assert_false(c.conntrack_track); /* bypass unless told */
	config_free_server(&c);
	conf_remove(&t);
	server_line_fails("DNSProxy = maybe", "DNSProxy", "maybe");
	server_dns_loads(&t, "Conntrack = Track", &c, warn, sizeof(warn));
	assert_true(c.conntrack_track);
	config_free_server(&c);
	conf_remove(&t);
	server_line_fails("Conntrack = off", "Conntrack", "off");
	server_line_fails("DNS = 10.77.0.1, 10.77.0.2", "DNS", "10.77.0.1, 10.77.0.2");
}

static void test_metrics_listen(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	struct client_conf k;
	char err[512];

	server_with(&t, "MetricsListen = 127.0.0.1:9586");
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9586");
	config_free_server(&c);
	conf_remove(&t);

	server_with(&t, "");
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen, ""); /* off unless asked for */
	config_free_server(&c);
	conf_remove(&t);

	server_line_fails("MetricsListen = 127.0.0.1", "MetricsListen", "127.0.0.1");
	server_line_fails("MetricsListen = localhost:9586", "MetricsListen", "localhost:9586");
	server_line_fails("MetricsListen = 127.0.0.1:0", "MetricsListen", "127.0.0.1:0");
	server_line_fails("MetricsListen = [::1]:99999", "MetricsListen", "[::1]:99999");

	conf_write(&t, "[Client]\nPrivateKey = %s\nMetricsListen = [::1]:9587\n[Server]\nPublicKey = %s\nEndpoint = h:1\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &k, err, sizeof(err)), 0);
	assert_string_equal(k.metrics_listen, "[::1]:9587");
	conf_remove(&t);

	conf_write(&t, "[Client]\nPrivateKey = %s\nMetricsListen = 9587\n[Server]\nPublicKey = %s\nEndpoint = h:1\n",
		   cli_priv64, pub1_64);
	assert_int_equal(config_load_client(t.path, &k, err, sizeof(err)), -1);
	assert_err_at(err, &t, 3, "MetricsListen", "9587");
	conf_remove(&t);
}

/* An unsigned setting (at offset off) of the server after loading `line`
 * in [Server], "" for its default. */
static unsigned server_setting(const char *line, size_t off)
{
	struct tmpconf t;
	struct server_conf c;
	char err[512];
	unsigned v;
	server_with(&t, line);
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	memcpy(&v, (const char *)&c + off, sizeof(v));
	config_free_server(&c);
	conf_remove(&t);
	return v;
}

/* The same for a client, `line` in [Client]. */
static unsigned client_setting(const char *line, size_t off)
{
	struct tmpconf t;
	struct client_conf k;
	char err[512];
	unsigned v;
	client_with(&t, line);
	assert_int_equal(config_load_client(t.path, &k, err, sizeof(err)), 0);
	memcpy(&v, (const char *)&k + off, sizeof(v));
	conf_remove(&t);
	return v;
}

static void test_sched_slice(void **state)
{
	(void)state;
	size_t srv = offsetof(struct server_conf, sched_slice_us), cli = offsetof(struct client_conf, sched_slice_us);
	assert_int_equal(server_setting("", srv), THREAD_SLICE_DEFAULT_US); /* on unless turned off */
	assert_int_equal(server_setting("SchedSlice = OFF", srv), 0);
	assert_int_equal(server_setting("SchedSlice = 100000", srv), 100000);
	/* Below the kernel's shortest slice, above its longest, or not a number. */
	server_line_fails("SchedSlice = 99", "SchedSlice", "99");
	server_line_fails("SchedSlice = 100001", "SchedSlice", "100001");
	server_line_fails("SchedSlice = 0.1ms", "SchedSlice", "0.1ms");
	assert_int_equal(client_setting("", cli), THREAD_SLICE_DEFAULT_US);
	assert_int_equal(client_setting("SchedSlice = 250", cli), 250);
	client_line_fails("SchedSlice = -5", "SchedSlice", "-5");
}

static void test_rt_priority(void **state)
{
	(void)state;
	size_t srv = offsetof(struct server_conf, rt_priority), cli = offsetof(struct client_conf, rt_priority);
	assert_int_equal(server_setting("", srv), THREAD_RT_PRIO_DEFAULT); /* on unless turned off */
	assert_int_equal(server_setting("RealtimePriority = Off", srv), 0);
	assert_int_equal(server_setting("RealtimePriority = 99", srv), 99);
	/* 0 is not "off" (say off), 100 is above the kernel's range. */
	server_line_fails("RealtimePriority = 0", "RealtimePriority", "0");
	server_line_fails("RealtimePriority = 100", "RealtimePriority", "100");
	server_line_fails("RealtimePriority = high", "RealtimePriority", "high");
	assert_int_equal(client_setting("", cli), THREAD_RT_PRIO_DEFAULT);
	assert_int_equal(client_setting("RealtimePriority = 1", cli), 1);
	client_line_fails("RealtimePriority = -1", "RealtimePriority", "-1");
}

static void test_cpu_latency(void **state)
{
	(void)state;
	size_t srv = offsetof(struct server_conf, cpu_latency_us), cli = offsetof(struct client_conf, cpu_latency_us);
	assert_int_equal(server_setting("", srv), 0); /* a gateway's default: poll, while packets flow */
	assert_int_equal(server_setting("CpuLatency = 0", srv), 0);    /* 0 is a value: poll */
	assert_int_equal(server_setting("CpuLatency = 100000", srv), 100000);
	assert_int_equal(server_setting("CpuLatency = off", srv), (unsigned)CPULAT_OFF);
	server_line_fails("CpuLatency = -1", "CpuLatency", "-1");
	server_line_fails("CpuLatency = 100001", "CpuLatency", "100001");
	server_line_fails("CpuLatency = low", "CpuLatency", "low");
	assert_int_equal(client_setting("", cli), (unsigned)CPULAT_OFF); /* a client's: off */
	assert_int_equal(client_setting("CpuLatency = 20", cli), 20);
	client_line_fails("CpuLatency = 1e3", "CpuLatency", "1e3");
}

static void test_cpu_latency_hold(void **state)
{
	(void)state;
	size_t srv = offsetof(struct server_conf, cpu_latency_hold_ms), cli = offsetof(struct client_conf, cpu_latency_hold_ms);
	assert_int_equal(server_setting("", srv), 50);
	assert_int_equal(server_setting("CpuLatencyHold = always", srv), CPULAT_HOLD_ALWAYS);
	assert_int_equal(server_setting("CpuLatencyHold = ALWAYS", srv), CPULAT_HOLD_ALWAYS);
	assert_int_equal(server_setting("CpuLatencyHold = 1", srv), 1);
	assert_int_equal(server_setting("CpuLatencyHold = 60000", srv), 60000);
	server_line_fails("CpuLatencyHold = 0", "CpuLatencyHold", "0"); /* always, by name */
	server_line_fails("CpuLatencyHold = 60001", "CpuLatencyHold", "60001");
	server_line_fails("CpuLatencyHold = off", "CpuLatencyHold", "off");
	assert_int_equal(client_setting("", cli), 50);
	assert_int_equal(client_setting("CpuLatencyHold = 200", cli), 200);
	client_line_fails("CpuLatencyHold = 5ms", "CpuLatencyHold", "5ms");
}

static void test_state_file(void **state)
{
	(void)state;
	struct tmpconf t;
	struct server_conf c;
	char err[512];

	server_with(&t, "Interface = vgx1");
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_file, "/var/lib/vpngw/vgx1.state"); /* per interface */
	config_free_server(&c);
	conf_remove(&t);

	server_with(&t, "StateFile = /tmp/somewhere/gw.state");
	assert_int_equal(config_load_server(t.path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_file, "/tmp/somewhere/gw.state");
	config_free_server(&c);
	conf_remove(&t);

	server_line_fails("StateFile = relative/gw.state", "StateFile", "relative/gw.state");
	server_line_fails("StateFile = ", "StateFile", NULL);
}

#define T(fn) cmocka_unit_test_teardown(fn, cleanup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_server_full_valid),
		T(test_server_ipv6_pool),
		T(test_server_defaults),
		T(test_server_crlf_line_endings),
		T(test_server_mtu_bounds_accepted),
		T(test_server_bad_listen_port),
		T(test_nul_byte_refused),
		T(test_repeated_key_refused),
		T(test_server_mtu_out_of_range),
		T(test_server_mtu_auto),
		T(test_server_bad_public_key),
		T(test_server_bad_private_key_not_echoed),
		T(test_server_unknown_key),
		T(test_server_unknown_section),
		T(test_server_error_line_after_comments_and_sections),
		T(test_server_key_before_any_section),
		T(test_server_duplicate_client_key),
		T(test_server_duplicate_client_key_names_line),
		T(test_server_client_address_outside_pool),
		T(test_server_address_not_network_or_broadcast),
		T(test_server_client_address_outside_pool_names_line),
		T(test_server_client_address_not_host),
		T(test_server_missing_private_key),
		T(test_server_missing_address_and_client_key),
		T(test_server_bad_address),
		T(test_missing_file),
		T(test_private_key_file_mode),
		T(test_read_key_file_direct),
		T(test_client_valid),
		T(test_client_dns_and_fwmark),
		T(test_client_default_route_and_ipv6_endpoint),
		T(test_client_long_routes_line),
		T(test_client_route_host_bits),
		T(test_client_bad_routes),
		T(test_client_errors),
		T(test_parse_cidr4),
		T(test_parse_key_b64),
		T(test_metrics_listen),
		T(test_sched_slice),
		T(test_rt_priority),
		T(test_cpu_latency),
		T(test_cpu_latency_hold),
		T(test_state_file),
		T(test_server_upstream_dns),
		T(test_server_upstream_dns_unusable_warns),
		T(test_server_upstream_dns_too_many),
		T(test_server_dns_proxy_switch),
	};
	return cmocka_run_group_tests(tests, make_keys, cleanup);
}
