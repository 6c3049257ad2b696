/* main.c - the vpngw command line. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "noise.h"
#include "server.h"

#ifndef VPNGW_VERSION
#define VPNGW_VERSION "0.1.0"
#endif

static const char usage[] =
	"usage: vpngw <command> [args]\n"
	"\n"
	"commands:\n"
	"  genkey           print a new base64 private key\n"
	"  pubkey           read a private key on stdin, print its public key\n"
	"  server CONFIG    run the gateway in the foreground\n"
	"  client CONFIG    run a client in the foreground\n"
	"  show [IFACE] [--json] [--keys]\n"
	"                   a running gateway's clients (or a client's session) and\n"
	"                   counters, from /run/vpngw/IFACE.sock; every instance\n"
	"                   without IFACE; --keys: whole public keys\n"
	"  set IFACE add NAME KEY [ADDRESS] | remove CLIENT |\n"
	"            address CLIENT ADDRESS|pool | rename CLIENT NAME\n"
	"                   change a running gateway's clients (CLIENT: a name or a\n"
	"                   public key); other sessions stay up\n"
	"  --version        print the version\n"
	"  --help           this text\n"
	"\n"
	"server and client log to stderr and exit cleanly on SIGINT/SIGTERM;\n"
	"SIGHUP makes the server apply the clients changed in its config.\n"
	"Configuration: see README.md.\n";

static int print_key(const uint8_t key[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	printf("%s\n", b64);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_genkey(void)
{
	uint8_t priv[32];
	noise_genkey(priv);
	int rc = print_key(priv);
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

static int cmd_pubkey(void)
{
	char line[256];
	uint8_t priv[32], pub[32];
	if (!fgets(line, sizeof(line), stdin)) {
		die_msg("pubkey: expected a private key on stdin");
		return 1;
	}
	line[strcspn(line, "\r\n")] = '\0';
	int bad = parse_key_b64(line, priv) != 0 || noise_pubkey(pub, priv) != 0;
	sodium_memzero(line, sizeof(line));
	sodium_memzero(priv, sizeof(priv));
	if (bad) {
		die_msg("pubkey: stdin is not a base64 32-byte private key");
		return 1;
	}
	return print_key(pub);
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		die_msg("libsodium failed to initialise");
		return 1;
	}
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("vpngw %s\n", VPNGW_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "genkey") && argc == 2)
		return cmd_genkey();
	if (!strcmp(cmd, "pubkey") && argc == 2)
		return cmd_pubkey();
	if (!strcmp(cmd, "server") && argc == 3)
		return server_run(argv[2]);
	if (!strcmp(cmd, "client") && argc == 3)
		return client_run(argv[2]);
	if (!strcmp(cmd, "show"))
		return ctl_show_main(argc - 2, argv + 2);
	if (!strcmp(cmd, "set"))
		return ctl_set_main(argc - 2, argv + 2);
	fprintf(stderr, "vpngw: unknown command or wrong arguments: %s\n\n%s", cmd, usage);
	return 2;
}
