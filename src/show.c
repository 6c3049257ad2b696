/* show.c - see show.h. */
#include "show.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

const char *const snap_lat_names[SNAP_LAT_N] = { "tun_to_udp", "udp_to_tun" };

void snap_total(struct snapshot *s, const char *name, uint64_t v, bool gauge)
{
	if (s->ntotals < SNAP_MAX_TOTALS)
		s->totals[s->ntotals++] = (struct snap_kv){ name, v, gauge };
}

void snap_drop(struct snap_peer *p, const char *name, uint64_t v)
{
	if (p->ndrops < SNAP_MAX_DROPS)
		p->drops[p->ndrops++] = (struct snap_kv){ name, v, false };
}

void show_key(const uint8_t pub[32], bool full, char out[48])
{
	sodium_bin2base64(out, 48, pub, 32, sodium_base64_VARIANT_ORIGINAL);
	if (!full)
		memcpy(out + 8, "...", 4);
}

void show_addr4(uint32_t a, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

/* Names come from config files: anything not printable ASCII is escaped. */
void show_json_str(struct sbuf *out, const char *s)
{
	sbuf_putn(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			sbuf_printf(out, "\\u%04x", *p);
		else
			sbuf_putn(out, (const char *)p, 1);
	}
	sbuf_putn(out, "\"", 1);
}

/* For the text form: a name printed as is, but no control characters. */
static void put_plain(struct sbuf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		sbuf_putn(out, *p < 0x20 || *p == 0x7f ? "?" : (const char *)p, 1);
}

static void fmt_bytes(uint64_t v, char out[32])
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (v < 1024) {
		snprintf(out, 32, "%" PRIu64 " B", v);
		return;
	}
	double d = (double)v / 1024;
	unsigned u = 0;
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	snprintf(out, 32, "%.1f %s", d, unit[u]);
}

static void text_latency(struct sbuf *out, const struct lat_cumulative lat[SNAP_LAT_N])
{
	for (int i = 0; i < SNAP_LAT_N; i++) {
		const struct lat_summary *l = &lat[i].s;
		sbuf_printf(out, "%s%s ", i ? "; " : "", snap_lat_names[i]);
		if (!l->count)
			sbuf_puts(out, "no samples");
		else
			sbuf_printf(out, "p50 %" PRIu64 " us, p95 %" PRIu64 " us, p99 %" PRIu64 " us", l->p50_us,
				    l->p95_us, l->p99_us);
	}
	sbuf_puts(out, "\n");
}

static void text_peer(struct sbuf *out, const struct snap_peer *p, bool server, bool full_keys)
{
	char key[48], a[16], rx[32], tx[32];
	show_key(p->pub, full_keys, key);
	fmt_bytes(p->rx_bytes, rx);
	fmt_bytes(p->tx_bytes, tx);
	sbuf_puts(out, server ? "\nclient " : "\nsession with ");
	put_plain(out, p->name);
	sbuf_printf(out, "%s\n  public key   %s\n  endpoint     %s\n", p->session_up ? "" : " (no session)", key,
		    p->endpoint[0] ? p->endpoint : "(not yet seen)");
	if (p->addr4) {
		show_addr4(p->addr4, a);
		sbuf_printf(out, "  address      %s\n", a);
	} else {
		sbuf_puts(out, "  address      (none yet)\n");
	}
	if (p->addr6[0])
		sbuf_printf(out, "  address6     %s\n", p->addr6);
	if (p->handshake_age_s < 0)
		sbuf_puts(out, "  handshake    never\n");
	else
		sbuf_printf(out, "  handshake    %" PRId64 " s ago\n", p->handshake_age_s);
	sbuf_printf(out, "  received     %s in %" PRIu64 " packets\n  sent         %s in %" PRIu64 " packets\n", rx,
		    p->rx_packets, tx, p->tx_packets);
	sbuf_printf(out, "  queued       %" PRIu64 " packets\n  drops        ", p->queue_packets);
	size_t shown = 0;
	for (size_t i = 0; i < p->ndrops; i++)
		if (p->drops[i].v)
			sbuf_printf(out, "%s%s %" PRIu64, shown++ ? ", " : "", p->drops[i].name, p->drops[i].v);
	sbuf_puts(out, shown ? "\n" : "none\n");
	sbuf_puts(out, "  latency      ");
	text_latency(out, p->lat);
}

void show_text(const struct snapshot *s, bool full_keys, struct sbuf *out)
{
	char a[16];
	sbuf_printf(out, "interface %s: %s", s->ifname, s->server ? "gateway" : "client");
	if (s->addr4) {
		show_addr4(s->addr4, a);
		sbuf_printf(out, ", address %s/%u", a, s->prefix4);
	}
	if (s->addr6[0])
		sbuf_printf(out, ", address6 %s", s->addr6);
	if (s->server)
		sbuf_printf(out, ", port %u, %zu clients", s->listen_port, s->npeers);
	sbuf_puts(out, "\n  latency      ");
	text_latency(out, s->lat);
	/* Every counter, logfmt-style, wrapped: the stats line's names. */
	size_t col = 0;
	for (size_t i = 0; i < s->ntotals; i++) {
		char item[96];
		int n = snprintf(item, sizeof(item), "%s=%" PRIu64, s->totals[i].name, s->totals[i].v);
		if (col && col + 1 + (size_t)n > 78) {
			sbuf_puts(out, "\n");
			col = 0;
		}
		sbuf_puts(out, col ? " " : "  ");
		sbuf_puts(out, item);
		col += (size_t)n + (col ? 1 : 2);
	}
	if (col)
		sbuf_puts(out, "\n");
	for (size_t i = 0; i < s->npeers; i++)
		text_peer(out, &s->peers[i], s->server, full_keys);
	if (!s->server && !s->npeers)
		sbuf_puts(out, "\nno session with the gateway\n");
}

static void json_latency(struct sbuf *out, const struct lat_cumulative lat[SNAP_LAT_N])
{
	sbuf_puts(out, "\"latency_us\":{");
	for (int i = 0; i < SNAP_LAT_N; i++) {
		const struct lat_summary *l = &lat[i].s;
		sbuf_printf(out,
			    "%s\"%s\":{\"count\":%" PRIu64 ",\"avg\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p95\":%" PRIu64
			    ",\"p99\":%" PRIu64 "}",
			    i ? "," : "", snap_lat_names[i], l->count, l->avg_us, l->p50_us, l->p95_us, l->p99_us);
	}
	sbuf_puts(out, "}");
}

static void json_peer(struct sbuf *out, const struct snap_peer *p, bool full_keys)
{
	char key[48], a[16];
	show_key(p->pub, full_keys, key);
	sbuf_puts(out, "{\"name\":");
	show_json_str(out, p->name);
	sbuf_printf(out, ",\"public_key\":\"%s\",\"endpoint\":", key);
	if (p->endpoint[0])
		show_json_str(out, p->endpoint);
	else
		sbuf_puts(out, "null");
	sbuf_puts(out, ",\"address\":");
	if (p->addr4) {
		show_addr4(p->addr4, a);
		sbuf_printf(out, "\"%s\"", a);
	} else {
		sbuf_puts(out, "null");
	}
	if (p->addr6[0]) {
		sbuf_puts(out, ",\"address6\":");
		show_json_str(out, p->addr6);
	}
	sbuf_puts(out, ",\"handshake_age_s\":");
	if (p->handshake_age_s < 0)
		sbuf_puts(out, "null");
	else
		sbuf_printf(out, "%" PRId64, p->handshake_age_s);
	sbuf_printf(out,
		    ",\"session_up\":%s,\"rx_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		    ",\"tx_packets\":%" PRIu64 ",\"queue_packets\":%" PRIu64 ",\"drops\":{",
		    p->session_up ? "true" : "false", p->rx_bytes, p->rx_packets, p->tx_bytes, p->tx_packets,
		    p->queue_packets);
	for (size_t i = 0; i < p->ndrops; i++)
		sbuf_printf(out, "%s\"%s\":%" PRIu64, i ? "," : "", p->drops[i].name, p->drops[i].v);
	sbuf_puts(out, "},");
	json_latency(out, p->lat);
	sbuf_puts(out, "}");
}

void show_json(const struct snapshot *s, bool full_keys, struct sbuf *out)
{
	char a[16];
	sbuf_puts(out, "{\"interface\":");
	show_json_str(out, s->ifname);
	sbuf_printf(out, ",\"role\":\"%s\",\"address\":", s->server ? "server" : "client");
	if (s->addr4) {
		show_addr4(s->addr4, a);
		sbuf_printf(out, "\"%s/%u\"", a, s->prefix4);
	} else {
		sbuf_puts(out, "null");
	}
	if (s->addr6[0]) {
		sbuf_puts(out, ",\"address6\":");
		show_json_str(out, s->addr6);
	}
	if (s->server)
		sbuf_printf(out, ",\"listen_port\":%u", s->listen_port);
	sbuf_puts(out, ",\"totals\":{");
	for (size_t i = 0; i < s->ntotals; i++)
		sbuf_printf(out, "%s\"%s\":%" PRIu64, i ? "," : "", s->totals[i].name, s->totals[i].v);
	sbuf_puts(out, "},");
	json_latency(out, s->lat);
	if (s->server) {
		sbuf_puts(out, ",\"clients\":[");
		for (size_t i = 0; i < s->npeers; i++) {
			if (i)
				sbuf_puts(out, ",");
			json_peer(out, &s->peers[i], full_keys);
		}
		sbuf_puts(out, "]");
	} else {
		sbuf_puts(out, ",\"session\":");
		if (s->npeers)
			json_peer(out, &s->peers[0], full_keys);
		else
			sbuf_puts(out, "null");
	}
	sbuf_puts(out, "}\n");
}
