/* gen_corpus.c - writes the seed inputs of the fuzz targets:
 *   gen_corpus CORPUS_DIR
 * fills CORPUS_DIR/<target>/seed-* (the directories must exist). The
 * seeds are valid messages made with the keys of fixture.h, so the
 * fuzzers start past the MAC and Noise checks and mutate from there. The
 * output is deterministic; a file is only rewritten when its bytes change,
 * so a run over an up-to-date corpus changes nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "dns.h"
#include "fixture.h"
#include "state.h"

static const char *root;
static int written, same;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[512], tmp[600];
	snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);

	FILE *f = fopen(path, "rb");
	if (f) {
		static uint8_t old[65536];
		size_t n = fread(old, 1, sizeof(old), f);
		fclose(f);
		if (n == len && !memcmp(old, data, len)) {
			same++;
			return;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	written++;
}

/* ------------------------------------------------------------ datagrams */

/* An IPv4 header (20 bytes, no options) and pay bytes of payload. */
static size_t ip4(uint8_t *out, uint32_t src, uint32_t dst, size_t pay)
{
	size_t total = 20 + pay;
	memset(out, 0, total);
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[8] = 64;
	out[9] = 17; /* UDP */
	for (int i = 0; i < 4; i++) {
		out[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		out[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	for (size_t i = 0; i < pay; i++)
		out[20 + i] = (uint8_t)i;
	return total;
}

/* An IPv6 header (40 bytes) and pay bytes of UDP payload, from fd77::<src>
 * to <dst> (16 bytes). */
static size_t ip6(uint8_t *out, uint8_t src_host, const uint8_t dst[16], size_t pay)
{
	size_t total = 40 + pay;
	memset(out, 0, total);
	out[0] = 0x60;
	out[4] = (uint8_t)(pay >> 8);
	out[5] = (uint8_t)pay;
	out[6] = 17; /* UDP */
	out[7] = 64;
	out[8] = 0xfd, out[9] = 0x77, out[23] = src_host;
	memcpy(out + 24, dst, 16);
	for (size_t i = 0; i < pay; i++)
		out[40 + i] = (uint8_t)i;
	return total;
}

/* One sealed datagram from a client session (len 0 = keepalive). */
static size_t seal_as(struct session *cs, uint8_t type, const uint8_t *plain, size_t len, bool csum_partial,
		      uint64_t now, uint8_t *out)
{
	struct pkt *pk = calloc(1, sizeof(*pk));
	FX_CHECK(pk && len <= PKT_MAX_IP);
	pkt_reset(pk);
	memcpy(pk->data, plain, len);
	pk->len = (uint32_t)len;
	pk->csum_partial = csum_partial;
	FX_CHECK(session_seal(cs, &pk, 1, type, now) == 1);
	size_t n = pk->len;
	memcpy(out, pk->data, n);
	free(pk);
	return n;
}

static size_t seal(struct session *cs, uint8_t type, const uint8_t *plain, size_t len, uint64_t now,
		   uint8_t *out)
{
	return seal_as(cs, type, plain, len, false, now, out);
}

/* Writes a datagram as a seed of each target named in the NULL-ended list. */
static void put_all(const char *name, const uint8_t *d, size_t len, ...)
{
	va_list ap;
	va_start(ap, len);
	for (const char *t = va_arg(ap, const char *); t; t = va_arg(ap, const char *))
		put(t, name, d, len);
	va_end(ap);
}

static void data_seeds(void)
{
	static uint8_t plain[PKT_BUF_SIZE], dg[PKT_BUF_SIZE];
	struct session cs;
	uint8_t id[WIRE_ID_LEN];
	size_t n, pl;

	session_init(&cs);
	fx_id(id, FX_TAG_ID_A);
	session_begin(&cs, id);

	/* Under the previous keypair (the gateway's prev slot). */
	fx_install_client(&cs, FX_PREV_EPOCH, FX_NOW_NS - 20 * SEC_NS);
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 8);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-prev-epoch", dg, n, "fuzz_data", "fuzz_wire", NULL);

	/* Under the current keypair: one of each routing outcome. */
	fx_install_client(&cs, FX_CUR_EPOCH, FX_NOW_NS - 10 * SEC_NS);
	pl = ip4(plain, FX_ALICE, FX_BOB, 32);
	put_all("inner-to-peer", plain, pl, "fuzz_data", NULL); /* fuzz_data routes non-datagrams */
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-to-peer", dg, n, "fuzz_data", "fuzz_wire", NULL);
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 16);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-to-tun", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_GW, 0);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-to-gw", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_A4(10, 77, 0, 255), 4);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-to-broadcast", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_A4(10, 77, 0, 99), 4);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-no-peer", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_A4(198, 51, 100, 7), FX_A4(10, 77, 0, 4), 4);
	put_all("inner-from-internet", plain, pl, "fuzz_data", NULL);
	/* For the offload code: a UDP datagram whose lengths agree, and a TCP
	 * segment (ACK, 200 bytes of data), both mergeable. */
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 8 + 300);
	plain[24] = (uint8_t)((8 + 300) >> 8);
	plain[25] = (uint8_t)(8 + 300);
	put_all("inner-udp", plain, pl, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 20 + 200);
	plain[9] = 6;
	plain[32] = 0x50; /* data offset 5 */
	plain[33] = 0x10; /* ACK */
	put_all("inner-tcp", plain, pl, "fuzz_data", NULL);
	/* A UDP packet whose checksum the sender left partial (bytes 26-27
	 * stand for the pseudo-header sum; the fuzzer varies them anyway). */
	session_set_peer_csum_partial(&cs, true);
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 16);
	plain[24] = 0;
	plain[25] = 16; /* UDP length */
	n = seal_as(&cs, WIRE_DATA, plain, pl, true, FX_NOW_NS, dg);
	put_all("data-csum-partial", dg, n, "fuzz_data", "fuzz_wire", NULL);
	session_set_peer_csum_partial(&cs, false);
	/* IPv6 inner packets, routed by fuzz_data's registry with an IPv6
	 * pool: to bob (fd77::3), out, spoofed, link chatter. */
	static const uint8_t bob6[16] = { 0xfd, 0x77, [15] = 3 }, out6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 },
			     mld[16] = { 0xff, 0x02, [15] = 0x16 };
	pl = ip6(plain, 2, bob6, 8);
	put_all("inner6-to-peer", plain, pl, "fuzz_data", NULL);
	pl = ip6(plain, 2, out6, 8);
	put_all("inner6-to-tun", plain, pl, "fuzz_data", NULL);
	pl = ip6(plain, 9, out6, 8);
	put_all("inner6-spoofed", plain, pl, "fuzz_data", NULL);
	pl = ip6(plain, 0, mld, 8);
	put_all("inner6-link-scope", plain, pl, "fuzz_data", NULL);
	pl = ip4(plain, FX_A4(10, 77, 0, 66), FX_BOB, 4);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-spoofed", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_BOB, 4);
	plain[0] = 0x60; /* IPv6 version nibble */
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-not-ipv4", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_BOB, 40);
	plain[0] = 0x46; /* IHL 6: one option word */
	put_all("inner-ip-options", plain, pl, "fuzz_data", NULL);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-ip-options", dg, n, "fuzz_data", NULL);
	pl = ip4(plain, FX_ALICE, FX_BOB, FX_MTU); /* 20 bytes over the MTU */
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-over-mtu", dg, n, "fuzz_data", NULL);
	n = seal(&cs, WIRE_DATA, plain, 0, FX_NOW_NS, dg);
	put_all("data-empty", dg, n, "fuzz_data", NULL);
	n = seal(&cs, WIRE_KEEPALIVE, plain, 0, FX_NOW_NS, dg);
	put_all("keepalive", dg, n, "fuzz_data", "fuzz_wire", NULL);

	/* Under the gateway's next keypair: confirms it. */
	fx_install_client(&cs, FX_NEXT_EPOCH, FX_NOW_NS - 5 * SEC_NS);
	pl = ip4(plain, FX_ALICE, FX_A4(198, 51, 100, 7), 8);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS, dg);
	put_all("data-next-epoch", dg, n, "fuzz_data", NULL);
	n = seal(&cs, WIRE_KEEPALIVE, plain, 0, FX_NOW_NS, dg);
	put_all("keepalive-next-epoch", dg, n, "fuzz_data", NULL);

	/* bob, under a keypair the gateway considers expired. */
	fx_id(id, FX_TAG_ID_B);
	session_begin(&cs, id);
	fx_install_client(&cs, FX_BOB_EPOCH, FX_NOW_NS - 200 * SEC_NS);
	pl = ip4(plain, FX_BOB, FX_ALICE, 8);
	n = seal(&cs, WIRE_DATA, plain, pl, FX_NOW_NS - 150 * SEC_NS, dg);
	put_all("data-expired-key", dg, n, "fuzz_data", NULL);

	session_destroy(&cs);

	/* A few headers that fail each check of wire_decode. */
	struct wire_hdr h = { .type = WIRE_DATA, .flags = 3, .seq = 9, .payload_len = 16 };
	fx_id(h.client_id, FX_TAG_ID_A);
	memset(dg, 0xaa, WIRE_HDR_LEN + 16);
	wire_encode(dg, &h);
	dg[30] = 1; /* reserved */
	put_all("bad-reserved", dg, WIRE_HDR_LEN + 16, "fuzz_wire", NULL);
	wire_encode(dg, &h);
	put_all("bad-length", dg, WIRE_HDR_LEN + 15, "fuzz_wire", NULL);
	h.flags = 0x0200;
	wire_encode(dg, &h);
	put_all("bad-flags", dg, WIRE_HDR_LEN + 16, "fuzz_wire", NULL);
	put_all("short", dg, WIRE_HDR_LEN - 1, "fuzz_wire", NULL);
}

static void handshake_seeds(void)
{
	struct noise_hs cli, srv;
	uint8_t init[HS_INIT_DGRAM_LEN], rekey[HS_INIT_DGRAM_LEN], resp[HS_RESP_DGRAM_LEN];
	uint8_t srv_priv[32], e_srv[32], send_key[32], recv_key[32];
	struct hs_init in;
	struct hs_resp r;

	fx_client_init(&cli, true, rekey);
	put_all("hs-init-rekey", rekey, sizeof(rekey), "fuzz_handshake", "fuzz_data", "fuzz_wire", NULL);

	/* The new-session init last: fuzz_handshake's pending state is its. */
	fx_client_init(&cli, false, init);
	put_all("hs-init", init, sizeof(init), "fuzz_handshake", "fuzz_data", "fuzz_wire", NULL);

	fx_priv(srv_priv, FX_TAG_SRV);
	fx_priv(e_srv, FX_TAG_E_SRV);
	FX_CHECK(hs_read_init(&srv, srv_priv, init, sizeof(init), &in) == 0);
	fx_resp_params(&r);
	FX_CHECK(hs_write_resp(&srv, &r, e_srv, resp, send_key, recv_key) == 0);
	put_all("hs-resp", resp, sizeof(resp), "fuzz_handshake", "fuzz_wire", NULL);

	/* Authenticates, but the clear clientId differs from the signed one. */
	resp[8] ^= 1;
	put_all("hs-resp-id-mismatch", resp, sizeof(resp), "fuzz_handshake", NULL);
	noise_wipe(&cli);
}

/* The flood gate (fuzz_cookie): alice's HS_INIT without mac2 (the gate,
 * under load, answers it with a COOKIE_REPLY), that reply, and the HS_INIT
 * again with mac2 from the cookie (passes). */
static void cookie_seeds(void)
{
	static struct cookie_gate g;
	struct noise_hs cli;
	uint8_t init[HS_INIT_DGRAM_LEN], reply[COOKIE_REPLY_DGRAM_LEN], pub[32], cookie[COOKIE_LEN];
	static const uint8_t src[6] = { 192, 0, 2, 2, 0xca, 0x6c }; /* fuzz_cookie's source */
	fx_pub(pub, FX_TAG_SRV);
	cookie_gate_init(&g, pub, 1);
	fx_gate_fixed(&g);
	fx_client_init(&cli, false, init);
	noise_wipe(&cli);
	put_all("hs-init-no-mac2", init, sizeof(init), "fuzz_cookie", NULL);
	FX_CHECK(cookie_gate_check(&g, init, src, sizeof(src), FX_NOW_NS, reply) == COOKIE_SEND_REPLY);
	put_all("cookie-reply", reply, sizeof(reply), "fuzz_cookie", "fuzz_wire", NULL);
	cookie_make(&g, cookie, src, sizeof(src), FX_NOW_NS);
	cookie_stamp_init(init, &g.keys, cookie);
	FX_CHECK(cookie_gate_check(&g, init, src, sizeof(src), FX_NOW_NS, reply) == COOKIE_PASS);
	put_all("hs-init-mac2", init, sizeof(init), "fuzz_cookie", NULL);
	cookie_gate_wipe(&g);
}

/* ------------------------------------------------------------- configs */

static void conf_seed(const char *name, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	FX_CHECK(n > 0 && (size_t)n < sizeof(text));
	put("fuzz_config", name, text, (size_t)n);
}

static void b64key(char out[64], const uint8_t key[32])
{
	sodium_bin2base64(out, 64, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void config_seeds(void)
{
	uint8_t k[32];
	char srv_priv[64], srv_pub[64], alice_priv[64], alice_pub[64], bob_pub[64], carol_pub[64];

	fx_priv(k, FX_TAG_SRV);
	b64key(srv_priv, k);
	fx_pub(k, FX_TAG_SRV);
	b64key(srv_pub, k);
	fx_priv(k, FX_TAG_ALICE);
	b64key(alice_priv, k);
	fx_pub(k, FX_TAG_ALICE);
	b64key(alice_pub, k);
	fx_pub(k, FX_TAG_BOB);
	b64key(bob_pub, k);
	fx_pub(k, FX_TAG_CAROL);
	b64key(carol_pub, k);

	conf_seed("server-minimal", "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n\n[Client]\nPublicKey = %s\n",
		  srv_priv, alice_pub);
	conf_seed("server-full",
		  "# vpngw gateway\n"
		  "[Server]\n"
		  "PrivateKey = %s        # the gateway's static key\n"
		  "ListenPort = 51999\n"
		  "Address = 10.77.0.1/24, fd77::1/64\n"
		  "MTU = 1380\n"
		  "Interface = vpngw7\n"
		  "DNS = 10.77.0.1\n"
		  "KeepaliveInterval = 25\n"
		  "StatsInterval = 2\n"
		  "\n"
		  "[Client]\n"
		  "Name = alice\n"
		  "PublicKey = %s\n"
		  "Address = 10.77.0.20/32\n"
		  "\n"
		  "[client]   ; another one\n"
		  "publickey = %s\n"
		  "\n"
		  "[Client]\n"
		  "Name = carol\n"
		  "PublicKey = %s\n",
		  srv_priv, alice_pub, bob_pub, carol_pub);
	conf_seed("server-crlf", "[Server]\r\nPrivateKey = %s\r\nAddress = 10.9.0.1/16\r\nListenPort = 4000\r\n"
		  "[Client]\r\nPublicKey = %s\r\n", srv_priv, alice_pub);
	conf_seed("server-keyfile", "[Server]\nPrivateKeyFile = /tmp/vpngw-fuzz-keys/ok\nAddress = 10.77.0.1/30\n"
		  "[Client]\nPublicKey = %s\n[Client]\nPublicKey = %s\n", alice_pub, bob_pub);
	conf_seed("server-keyfile-open", "[Server]\nPrivateKeyFile = /tmp/vpngw-fuzz-keys/open\nAddress = 10.77.0.1/24\n");
	conf_seed("server-dup-key", "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\n"
		  "[Client]\nPublicKey = %s\nAddress = 10.77.0.9/32\n[Client]\nPublicKey = %s\nAddress = 10.77.0.9/32\n",
		  srv_priv, alice_pub, alice_pub);
	conf_seed("server-bad-value", "[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/31\nMTU = auto\n", srv_priv);
	conf_seed("client-minimal", "[Client]\nPrivateKey = %s\n\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n",
		  alice_priv, srv_pub);
	conf_seed("client-full",
		  "[Client]\n"
		  "PrivateKey = %s\n"
		  "Interface = vpn1\n"
		  "KeepaliveInterval = 15\n"
		  "StatsInterval = 60\n"
		  "\n"
		  "[Server]\n"
		  "PublicKey = %s\n"
		  "Endpoint = [2001:db8::1]:51820\n"
		  "Routes = 198.51.100.0/24, 10.0.0.0/8, 0.0.0.0/0, 2001:db8::/32\n",
		  alice_priv, srv_pub);
	conf_seed("client-keyfile", "[Client]\nPrivateKeyFile = /tmp/vpngw-fuzz-keys/ok\n[Server]\nPublicKey = %s\n"
		  "Endpoint = gw.example.net:4000\nRoutes = 192.0.2.0/24\n", srv_pub);
	conf_seed("client-bad-route", "[Client]\nPrivateKey = %s\n[Server]\nPublicKey = %s\nEndpoint = h:1\n"
		  "Routes = 10.1.2.3/8\n", alice_priv, srv_pub);
}

/* ----------------------------------------------------------------- DNS */

/* A query for a dotted name, RD set; returns its length. */
static size_t dns_query_bytes(uint8_t *out, uint16_t id, const char *name, uint16_t opcode_flags)
{
	memset(out, 0, DNS_HDR_LEN);
	put16(out, id);
	put16(out + 2, opcode_flags);
	put16(out + 4, 1);
	size_t off = DNS_HDR_LEN;
	while (*name) {
		size_t l = strcspn(name, ".");
		out[off++] = (uint8_t)l;
		memcpy(out + off, name, l);
		off += l;
		name += l + (name[l] == '.');
	}
	out[off++] = 0;
	put16(out + off, 1);
	put16(out + off + 2, 1);
	return off + 4;
}

/* Seeds for fuzz_dns: the first byte is the mode (see fuzz_dns.c). */
static void dns_seeds(void)
{
	uint8_t b[1024];
	size_t n;

	b[0] = 0;
	n = dns_query_bytes(b + 1, 0x1234, "secret.lab.example", 0x0100);
	put("fuzz_dns", "query", b, n + 1);
	n = dns_query_bytes(b + 1, 0x1234, "secret.lab.example", 0x2000);
	put("fuzz_dns", "query-notify", b, n + 1);

	/* the fuzz target's query in flight is www.Example.org under id 0x2222 */
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 77 };
	b[0] = 1;
	b[1] = 1; /* keep id 0x2222, upstream 0, UDP */
	n = dns_query_bytes(b + 2, 0x2222, "www.example.ORG", 0x8180);
	put16(b + 2 + 6, 1);
	memcpy(b + 2 + n, rr, sizeof(rr));
	put("fuzz_dns", "answer", b, 2 + n + sizeof(rr));
	b[1] = 5; /* over TCP */
	put("fuzz_dns", "answer-tcp", b, 2 + n + sizeof(rr));
	b[1] = 3; /* from the other upstream */
	put("fuzz_dns", "answer-wrong-upstream", b, 2 + n + sizeof(rr));

	b[0] = 2;
	b[1] = 4; /* reads of 5 bytes */
	n = 2;
	for (int i = 0; i < 3; i++) {
		size_t q = dns_query_bytes(b + n + 2, (uint16_t)i, "a.example", 0x0100);
		put16(b + n, (uint16_t)q);
		n += 2 + q;
	}
	put16(b + n, 600); /* then a frame too long */
	put("fuzz_dns", "frames", b, n + 2);

	static const char resolv[] = "\003# resolv.conf\nsearch lab.example\nnameserver 198.51.100.2\n"
				     "nameserver 2001:db8::53 # v6\nnameserver fe80::1%eth0\nnameserver 198.51.100.2\n"
				     "options edns0\n";
	put("fuzz_dns", "resolv-conf", resolv, sizeof(resolv) - 1);
	static const char server[] = "\003[2001:db8::53]:5353";
	put("fuzz_dns", "upstream-v6-port", server, sizeof(server) - 1);

	/* operations: (op, arg) pairs, each followed by what it consumes
	 * (random ids: two bytes, send results: one byte) */
	static const uint8_t ops[] = {
		4,
		0, 1, 3, 3, 0,          /* query over UDP: slot 0, id 0x0303, sent */
		56, 2, 3, 4, 0,         /* query over TCP: slot 1, id 0x0304, sent */
		0, 3, 5, 5, 1, 0,       /* query: slot 2, id 0x0505, the send fails, the retry goes */
		16, 0,                  /* the right answer to slot 0 from its own upstream */
		3, 110, 0,              /* 2.2 s pass: slot 1 retried (sent), slot 2 gives up */
		4, 1,                   /* upstream 1 fails */
		40, 0,                  /* slot 1's TCP connection fails: it gives up */
		6, 12, 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, /* a response nobody asked for */
		3, 250,                 /* 5 s pass */
		1, 5, 1, 2, 3, 4, 5,    /* a short message as a query */
	};
	put("fuzz_dns", "operations", ops, sizeof(ops));
}

/* ------------------------------------------- control requests, state */

static void ctl_seeds(void)
{
	static const char *const text[][2] = {
		{ "show", "show\n" },
		{ "show-json-keys", "show json keys\n" },
		{ "show-bad-option", "show yaml\n" },
		{ "add", "add laptop AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 10.77.0.9\n" },
		{ "remove", "remove laptop\n" },
		{ "address", "address laptop pool\n" },
		{ "rename", "rename laptop desk\n" },
		{ "http-get", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9586\r\nAccept: */*\r\n\r\n" },
		{ "http-head-10", "HEAD /metrics?x=1 HTTP/1.0\n\n" },
		{ "http-404", "GET /other HTTP/1.1\r\n\r\n" },
	};
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		put("fuzz_ctl", text[i][0], text[i][1], strlen(text[i][1]));

	struct state_entry e[3];
	for (int i = 0; i < 3; i++) {
		fx_pub(e[i].pub, (uint8_t)(FX_TAG_ALICE + i));
		e[i].addr4 = 0x0a4d0002u + (uint32_t)i;
	}
	struct sbuf b;
	sbuf_init(&b);
	state_render(e, 3, &b);
	FX_CHECK(!sbuf_failed(&b));
	put("fuzz_ctl", "state", b.s, b.len);
	sbuf_reset(&b);
	state_render(NULL, 0, &b);
	put("fuzz_ctl", "state-empty", b.s, b.len);
	sbuf_free(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus CORPUS_DIR\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	root = argv[1];
	data_seeds();
	handshake_seeds();
	cookie_seeds();
	config_seeds();
	ctl_seeds();
	dns_seeds();
	printf("gen_corpus: %d seeds written, %d up to date\n", written, same);
	return 0;
}
