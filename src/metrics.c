/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label values: backslash, double quote and newline escaped, as the
 * format asks; names come from config files. */
static void put_label(struct sbuf *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			sbuf_puts(out, "\\\\");
		else if (*p == '"')
			sbuf_puts(out, "\\\"");
		else if (*p == '\n')
			sbuf_puts(out, "\\n");
		else
			sbuf_putn(out, p, 1);
	}
}

/* The labels every sample has, then the client's if there is one. */
static void labels(struct sbuf *out, const struct snapshot *s, const struct snap_peer *p)
{
	sbuf_puts(out, "{interface=\"");
	put_label(out, s->ifname);
	sbuf_puts(out, "\"");
	if (p) {
		sbuf_puts(out, ",client=\"");
		put_label(out, p->name);
		sbuf_puts(out, "\"");
	}
}

static void family(struct sbuf *out, const char *name, const char *type, const char *help)
{
	sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds(struct sbuf *out, uint64_t us)
{
	sbuf_printf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

static void histogram(struct sbuf *out, const char *name, const struct snapshot *s, const struct snap_peer *p,
		      int dir, const struct lat_cumulative *c)
{
	for (unsigned k = 0; k < LAT_LE_N; k++) {
		sbuf_printf(out, "%s_bucket", name);
		labels(out, s, p);
		sbuf_printf(out, ",direction=\"%s\",le=\"", snap_lat_names[dir]);
		seconds(out, lat_le_us[k]);
		sbuf_printf(out, "\"} %" PRIu64 "\n", c->le[k]);
	}
	sbuf_printf(out, "%s_bucket", name);
	labels(out, s, p);
	sbuf_printf(out, ",direction=\"%s\",le=\"+Inf\"} %" PRIu64 "\n%s_sum", snap_lat_names[dir], c->s.count, name);
	labels(out, s, p);
	sbuf_printf(out, ",direction=\"%s\"} ", snap_lat_names[dir]);
	seconds(out, c->sum_us);
	sbuf_printf(out, "\n%s_count", name);
	labels(out, s, p);
	sbuf_printf(out, ",direction=\"%s\"} %" PRIu64 "\n", snap_lat_names[dir], c->s.count);
}

static void totals(const struct snapshot *s, struct sbuf *out)
{
	for (size_t i = 0; i < s->ntotals; i++) {
		const struct snap_kv *kv = &s->totals[i];
		char name[96];
		snprintf(name, sizeof(name), "vpngw_%s%s", kv->name, kv->gauge ? "" : "_total");
		family(out, name, kv->gauge ? "gauge" : "counter", "See the stats line in README.md.");
		sbuf_puts(out, name);
		labels(out, s, NULL);
		sbuf_printf(out, "} %" PRIu64 "\n", kv->v);
	}
}

/* One per-client counter or gauge family, read from the peer by offset. */
static void peer_family(const struct snapshot *s, struct sbuf *out, const char *name, const char *type,
			const char *help, size_t off)
{
	family(out, name, type, help);
	for (size_t i = 0; i < s->npeers; i++) {
		uint64_t v;
		memcpy(&v, (const char *)&s->peers[i] + off, sizeof(v));
		sbuf_puts(out, name);
		labels(out, s, &s->peers[i]);
		sbuf_printf(out, "} %" PRIu64 "\n", v);
	}
}

static void peers(const struct snapshot *s, struct sbuf *out)
{
	peer_family(s, out, "vpngw_client_rx_bytes_total", "counter", "Bytes received from the client (datagrams).",
		    offsetof(struct snap_peer, rx_bytes));
	peer_family(s, out, "vpngw_client_rx_packets_total", "counter", "Datagrams received from the client.",
		    offsetof(struct snap_peer, rx_packets));
	peer_family(s, out, "vpngw_client_tx_bytes_total", "counter", "Bytes sent to the client (datagrams).",
		    offsetof(struct snap_peer, tx_bytes));
	peer_family(s, out, "vpngw_client_tx_packets_total", "counter", "Datagrams sent to the client.",
		    offsetof(struct snap_peer, tx_packets));
	peer_family(s, out, "vpngw_client_queue_packets", "gauge", "Packets waiting in the client's queue.",
		    offsetof(struct snap_peer, queue_packets));

	family(out, "vpngw_client_drops_total", "counter", "Packets dropped, by reason.");
	for (size_t i = 0; i < s->npeers; i++) {
		for (size_t d = 0; d < s->peers[i].ndrops; d++) {
			sbuf_puts(out, "vpngw_client_drops_total");
			labels(out, s, &s->peers[i]);
			sbuf_printf(out, ",reason=\"%s\"} %" PRIu64 "\n", s->peers[i].drops[d].name,
				    s->peers[i].drops[d].v);
		}
	}
	family(out, "vpngw_client_session_up", "gauge", "1 while the client has a usable session.");
	for (size_t i = 0; i < s->npeers; i++) {
		sbuf_puts(out, "vpngw_client_session_up");
		labels(out, s, &s->peers[i]);
		sbuf_printf(out, "} %d\n", s->peers[i].session_up ? 1 : 0);
	}
	family(out, "vpngw_client_handshake_age_seconds", "gauge", "Seconds since the last handshake (absent: none yet).");
	for (size_t i = 0; i < s->npeers; i++) {
		if (s->peers[i].handshake_age_s < 0)
			continue;
		sbuf_puts(out, "vpngw_client_handshake_age_seconds");
		labels(out, s, &s->peers[i]);
		sbuf_printf(out, "} %" PRId64 "\n", s->peers[i].handshake_age_s);
	}
	family(out, "vpngw_client_latency_seconds", "histogram", "Time inside vpngw per packet, by direction.");
	for (size_t i = 0; i < s->npeers; i++)
		for (int d = 0; d < SNAP_LAT_N; d++)
			histogram(out, "vpngw_client_latency_seconds", s, &s->peers[i], d, &s->peers[i].lat[d]);
}

void metrics_render(const struct snapshot *s, struct sbuf *out)
{
	family(out, "vpngw_info", "gauge", "The running instance.");
	sbuf_puts(out, "vpngw_info");
	labels(out, s, NULL);
	sbuf_printf(out, ",role=\"%s\"} 1\n", s->server ? "server" : "client");
	totals(s, out);
	family(out, "vpngw_latency_seconds", "histogram",
	       "Time inside vpngw per packet: tun_to_udp from TUN read to UDP send, udp_to_tun the reverse.");
	for (int d = 0; d < SNAP_LAT_N; d++)
		histogram(out, "vpngw_latency_seconds", s, NULL, d, &s->lat[d]);
	peers(s, out);
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int metrics_parse_listen(const char *s, int *family_out, uint8_t addr[16], uint16_t *port, const char **why)
{
	char host[64];
	const char *colon;
	*why = "want ADDRESS:PORT, e.g. 127.0.0.1:9586 or [::1]:9586";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
		*family_out = 6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		*family_out = 4;
	}
	if (inet_pton(*family_out == 4 ? AF_INET : AF_INET6, host, addr) != 1) {
		*why = "the address must be a numeric IPv4 address or an IPv6 one in brackets";
		return -1;
	}
	if (parse_port(colon + 1, port) != 0) {
		*why = "the port must be 1-65535";
		return -1;
	}
	return 0;
}
