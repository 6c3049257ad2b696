/* test_show.c - `vpngw show` text and JSON, and the Prometheus text, for
 * a fixed snapshot, byte for byte; escaping of names from config files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "show.h"

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct snap_peer peers[2];
static struct snapshot snap;

/* Latency summaries as lat_read makes them from recorded samples. */
static void latency(struct lat_cumulative *c, uint64_t us, uint64_t n)
{
	static struct lat_hist h;
	memset(&h, 0, sizeof(h));
	if (n)
		lat_record(&h, us, n);
	lat_read(&h, c);
}

static void fixture(void)
{
	memset(&snap, 0, sizeof(snap));
	memset(peers, 0, sizeof(peers));
	snap.server = true;
	strcpy(snap.ifname, "vpngw0");
	snap.addr4 = A4(10, 77, 0, 1);
	snap.prefix4 = 24;
	snap.listen_port = 51820;
	snap_total(&snap, "udp_rx_datagrams", 1234, false);
	snap_total(&snap, "handshakes", 2, false);
	snap_total(&snap, "active_clients", 1, true);
	latency(&snap.lat[0], 120, 4);
	latency(&snap.lat[1], 0, 0);

	struct snap_peer *p = &peers[0];
	strcpy(p->name, "laptop");
	for (int i = 0; i < 32; i++)
		p->pub[i] = (uint8_t)i;
	strcpy(p->endpoint, "192.0.2.2:40000");
	p->addr4 = A4(10, 77, 0, 2);
	p->handshake_age_s = 7;
	p->session_up = true;
	p->rx_bytes = 1536;
	p->rx_packets = 10;
	p->tx_bytes = 500;
	p->tx_packets = 4;
	p->queue_packets = 3;
	snap_drop(p, "queue_full", 0);
	snap_drop(p, "replay", 2);
	latency(&p->lat[0], 50, 10);
	latency(&p->lat[1], 0, 0);

	p = &peers[1];
	strcpy(p->name, "say \"hi\"\\");
	memset(p->pub, 0xff, 32);
	p->handshake_age_s = -1;
	latency(&p->lat[0], 0, 0);
	latency(&p->lat[1], 0, 0);
	snap.peers = peers;
	snap.npeers = 2;
}

static void expect(const struct sbuf *b, const char *want)
{
	assert_false(sbuf_failed(b));
	if (strcmp(b->s, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", b->s, want);
}

static void test_text(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	sbuf_init(&b);
	show_text(&snap, false, &b);
	expect(&b, "interface vpngw0: gateway, address 10.77.0.1/24, port 51820, 2 clients\n"
		   "  latency      tun_to_udp p50 123 us, p95 123 us, p99 123 us; udp_to_tun no samples\n"
		   "  udp_rx_datagrams=1234 handshakes=2 active_clients=1\n"
		   "\n"
		   "client laptop\n"
		   "  public key   AAECAwQF...\n"
		   "  endpoint     192.0.2.2:40000\n"
		   "  address      10.77.0.2\n"
		   "  handshake    7 s ago\n"
		   "  received     1.5 KiB in 10 packets\n"
		   "  sent         500 B in 4 packets\n"
		   "  queued       3 packets\n"
		   "  drops        replay 2\n"
		   "  latency      tun_to_udp p50 51 us, p95 51 us, p99 51 us; udp_to_tun no samples\n"
		   "\n"
		   "client say \"hi\"\\ (no session)\n"
		   "  public key   ////////...\n"
		   "  endpoint     (not yet seen)\n"
		   "  address      (none yet)\n"
		   "  handshake    never\n"
		   "  received     0 B in 0 packets\n"
		   "  sent         0 B in 0 packets\n"
		   "  queued       0 packets\n"
		   "  drops        none\n"
		   "  latency      tun_to_udp no samples; udp_to_tun no samples\n");
	sbuf_free(&b);
}

static void test_text_full_keys_and_wrapping(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	snap.ntotals = 0;
	/* 10 counters of 20 characters: three fit on a 78-column line */
	for (int i = 0; i < 10; i++)
		snap_total(&snap, "abcdefghijklmnopq", 100, false);
	sbuf_init(&b);
	show_text(&snap, true, &b);
	assert_non_null(strstr(b.s, "  public key   AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"));
	assert_non_null(strstr(b.s, "\n  abcdefghijklmnopq=100 abcdefghijklmnopq=100 abcdefghijklmnopq=100\n"
				    "  abcdefghijklmnopq=100 abcdefghijklmnopq=100 abcdefghijklmnopq=100\n"));
	sbuf_free(&b);
}

static void test_json(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	sbuf_init(&b);
	show_json(&snap, false, &b);
	expect(&b, "{\"interface\":\"vpngw0\",\"role\":\"server\",\"address\":\"10.77.0.1/24\",\"listen_port\":51820,"
		   "\"totals\":{\"udp_rx_datagrams\":1234,\"handshakes\":2,\"active_clients\":1},"
		   "\"latency_us\":{\"tun_to_udp\":{\"count\":4,\"avg\":120,\"p50\":123,\"p95\":123,\"p99\":123},"
		   "\"udp_to_tun\":{\"count\":0,\"avg\":0,\"p50\":0,\"p95\":0,\"p99\":0}},"
		   "\"clients\":["
		   "{\"name\":\"laptop\",\"public_key\":\"AAECAwQF...\",\"endpoint\":\"192.0.2.2:40000\","
		   "\"address\":\"10.77.0.2\",\"handshake_age_s\":7,\"session_up\":true,\"rx_bytes\":1536,"
		   "\"rx_packets\":10,\"tx_bytes\":500,\"tx_packets\":4,\"queue_packets\":3,"
		   "\"drops\":{\"queue_full\":0,\"replay\":2},"
		   "\"latency_us\":{\"tun_to_udp\":{\"count\":10,\"avg\":50,\"p50\":51,\"p95\":51,\"p99\":51},"
		   "\"udp_to_tun\":{\"count\":0,\"avg\":0,\"p50\":0,\"p95\":0,\"p99\":0}}},"
		   "{\"name\":\"say \\\"hi\\\"\\\\\",\"public_key\":\"////////...\",\"endpoint\":null,"
		   "\"address\":null,\"handshake_age_s\":null,\"session_up\":false,\"rx_bytes\":0,"
		   "\"rx_packets\":0,\"tx_bytes\":0,\"tx_packets\":0,\"queue_packets\":0,\"drops\":{},"
		   "\"latency_us\":{\"tun_to_udp\":{\"count\":0,\"avg\":0,\"p50\":0,\"p95\":0,\"p99\":0},"
		   "\"udp_to_tun\":{\"count\":0,\"avg\":0,\"p50\":0,\"p95\":0,\"p99\":0}}}"
		   "]}\n");
	sbuf_free(&b);
}

/* IPv6 addresses appear only when there are some (the IPv4-only output,
 * above, is unchanged). */
static void test_ipv6_addresses(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	strcpy(snap.addr6, "fd77::1/64");
	strcpy(peers[0].addr6, "fd77::2");
	sbuf_init(&b);
	show_json(&snap, false, &b);
	assert_non_null(strstr(b.s, "{\"interface\":\"vpngw0\",\"role\":\"server\",\"address\":\"10.77.0.1/24\","
				    "\"address6\":\"fd77::1/64\",\"listen_port\":51820,"));
	assert_non_null(strstr(b.s, "\"address\":\"10.77.0.2\",\"address6\":\"fd77::2\",\"handshake_age_s\":7,"));
	assert_non_null(strstr(b.s, "\"address\":null,\"handshake_age_s\":null,")); /* the other client: none */
	sbuf_free(&b);
	sbuf_init(&b);
	show_text(&snap, false, &b);
	assert_non_null(strstr(b.s, "interface vpngw0: gateway, address 10.77.0.1/24, address6 fd77::1/64, port 51820,"));
	assert_non_null(strstr(b.s, "  address      10.77.0.2\n  address6     fd77::2\n  handshake    7 s ago\n"));
	assert_int_equal(strstr(strstr(b.s, "address6 fd77::1/64") + 1, "address6") - b.s,
			 strstr(b.s, "  address6     fd77::2") + 2 - b.s); /* twice only */
	sbuf_free(&b);
}

static void test_json_client(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	snap.server = false;
	snap.ntotals = 0;
	snap.npeers = 1;
	strcpy(peers[0].name, "gateway");
	sbuf_init(&b);
	show_json(&snap, true, &b);
	assert_non_null(strstr(b.s, "{\"interface\":\"vpngw0\",\"role\":\"client\",\"address\":\"10.77.0.1/24\",\"totals\":{},"));
	assert_null(strstr(b.s, "listen_port"));
	assert_null(strstr(b.s, "clients"));
	assert_non_null(strstr(b.s, ",\"session\":{\"name\":\"gateway\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","));
	sbuf_reset(&b);
	show_text(&snap, false, &b);
	assert_non_null(strstr(b.s, "interface vpngw0: client, address 10.77.0.1/24\n"));
	assert_non_null(strstr(b.s, "\nsession with gateway\n"));
	sbuf_free(&b);
}

static void test_json_escapes_control_and_high_bytes(void **state)
{
	(void)state;
	struct sbuf b;
	sbuf_init(&b);
	show_json_str(&b, "a\tb\x01\x7f\xc3\xa9");
	expect(&b, "\"a\\u0009b\\u0001\\u007f\\u00c3\\u00a9\"");
	sbuf_free(&b);
}

static void test_metrics(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	snap.npeers = 1;
	sbuf_init(&b);
	metrics_render(&snap, &b);
	assert_false(sbuf_failed(&b));
	static const char *const want[] = {
		"# HELP vpngw_info The running instance.\n# TYPE vpngw_info gauge\n"
		"vpngw_info{interface=\"vpngw0\",role=\"server\"} 1\n",
		"# TYPE vpngw_udp_rx_datagrams_total counter\n"
		"vpngw_udp_rx_datagrams_total{interface=\"vpngw0\"} 1234\n",
		"# TYPE vpngw_active_clients gauge\nvpngw_active_clients{interface=\"vpngw0\"} 1\n",
		"# TYPE vpngw_latency_seconds histogram\n"
		"vpngw_latency_seconds_bucket{interface=\"vpngw0\",direction=\"tun_to_udp\",le=\"0.000100\"} 0\n"
		"vpngw_latency_seconds_bucket{interface=\"vpngw0\",direction=\"tun_to_udp\",le=\"0.000250\"} 4\n",
		"vpngw_latency_seconds_bucket{interface=\"vpngw0\",direction=\"tun_to_udp\",le=\"1.000000\"} 4\n"
		"vpngw_latency_seconds_bucket{interface=\"vpngw0\",direction=\"tun_to_udp\",le=\"+Inf\"} 4\n"
		"vpngw_latency_seconds_sum{interface=\"vpngw0\",direction=\"tun_to_udp\"} 0.000480\n"
		"vpngw_latency_seconds_count{interface=\"vpngw0\",direction=\"tun_to_udp\"} 4\n",
		"# TYPE vpngw_client_rx_bytes_total counter\n"
		"vpngw_client_rx_bytes_total{interface=\"vpngw0\",client=\"laptop\"} 1536\n",
		"vpngw_client_queue_packets{interface=\"vpngw0\",client=\"laptop\"} 3\n",
		"# TYPE vpngw_client_drops_total counter\n"
		"vpngw_client_drops_total{interface=\"vpngw0\",client=\"laptop\",reason=\"queue_full\"} 0\n"
		"vpngw_client_drops_total{interface=\"vpngw0\",client=\"laptop\",reason=\"replay\"} 2\n",
		"vpngw_client_session_up{interface=\"vpngw0\",client=\"laptop\"} 1\n",
		"vpngw_client_handshake_age_seconds{interface=\"vpngw0\",client=\"laptop\"} 7\n",
		"vpngw_client_latency_seconds_bucket{interface=\"vpngw0\",client=\"laptop\",direction=\"tun_to_udp\",le=\"0.000100\"} 10\n",
		"vpngw_client_latency_seconds_count{interface=\"vpngw0\",client=\"laptop\",direction=\"udp_to_tun\"} 0\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(b.s, want[i]))
			fail_msg("missing:\n%s\nin:\n%s", want[i], b.s);
	/* one TYPE line per family: 1 info + 3 totals + 1 histogram + 5 + drops + up + age + histogram */
	size_t types = 0;
	for (const char *p = b.s; (p = strstr(p, "# TYPE ")); p++)
		types++;
	assert_int_equal(types, 1 + 3 + 1 + 5 + 1 + 1 + 1 + 1);
	assert_int_equal(b.s[b.len - 1], '\n');
	sbuf_free(&b);
}

static void test_metrics_label_escaping_and_no_handshake(void **state)
{
	(void)state;
	struct sbuf b;
	fixture();
	snap.peers = &peers[1];
	snap.npeers = 1;
	strcpy(peers[1].name, "a\"b\\c\nd");
	sbuf_init(&b);
	metrics_render(&snap, &b);
	assert_non_null(strstr(b.s, "vpngw_client_session_up{interface=\"vpngw0\",client=\"a\\\"b\\\\c\\nd\"} 0\n"));
	/* no handshake yet: the age is absent, not a made-up number */
	assert_null(strstr(b.s, "vpngw_client_handshake_age_seconds{"));
	sbuf_free(&b);
}

static void test_parse_listen(void **state)
{
	(void)state;
	int fam;
	uint8_t a[16];
	uint16_t port;
	const char *why;
	assert_int_equal(metrics_parse_listen("127.0.0.1:9586", &fam, a, &port, &why), 0);
	assert_int_equal(fam, 4);
	assert_int_equal(port, 9586);
	assert_memory_equal(a, "\x7f\x00\x00\x01", 4);
	assert_int_equal(metrics_parse_listen("[::1]:80", &fam, a, &port, &why), 0);
	assert_int_equal(fam, 6);
	assert_int_equal(port, 80);
	assert_int_equal(a[15], 1);
	const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "localhost:9586",
			      "::1:9586", "[::1]9586", "[::1:9586", "1.2.3.4:95x", "1.2.3.4: 9586", "[127.0.0.1]:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (metrics_parse_listen(bad[i], &fam, a, &port, &why) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_sbuf_grows(void **state)
{
	(void)state;
	struct sbuf b;
	sbuf_init(&b);
	for (int i = 0; i < 10000; i++)
		sbuf_printf(&b, "%d,", i % 10);
	assert_int_equal(b.len, 20000);
	assert_int_equal(strlen(b.s), 20000);
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	sbuf_puts(&b, "x");
	assert_string_equal(b.s, "x");
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_full_keys_and_wrapping),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_client),
		cmocka_unit_test(test_ipv6_addresses),
		cmocka_unit_test(test_json_escapes_control_and_high_bytes),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_metrics_label_escaping_and_no_handshake),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_sbuf_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
