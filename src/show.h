/* show.h - a snapshot of a running gateway or client, and its renderings
 * for `vpngw show`: text for people, one line of JSON for scripts.
 *
 * The snapshot is a plain struct the server or client fills from its
 * counters (show.c reads nothing live), so rendering is tested byte for
 * byte. The JSON's keys are stable: new ones may be added, none renamed. */
#ifndef VPNGW_SHOW_H
#define VPNGW_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "stats.h"

#define SNAP_MAX_TOTALS 64 /* the gateway has 50 */
#define SNAP_MAX_DROPS 12
#define SNAP_LAT_N 2 /* tun_to_udp, udp_to_tun */

extern const char *const snap_lat_names[SNAP_LAT_N];

/* One counter; names are string literals (the stats line's names). */
struct snap_kv {
	const char *name;
	uint64_t v;
	bool gauge; /* a level (active_clients), not a running total */
};

/* A client of the gateway, or the client's own session with it. */
struct snap_peer {
	char name[64];
	uint8_t pub[32];
	char endpoint[64];       /* "" before it is known */
	uint32_t addr4;          /* tunnel address, host order; 0 = none yet */
	char addr6[48];          /* tunnel IPv6 address, text; "" = none (shown only if set) */
	int64_t handshake_age_s; /* -1: no handshake yet */
	bool session_up;
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
	uint64_t queue_packets;
	struct snap_kv drops[SNAP_MAX_DROPS];
	size_t ndrops;
	struct lat_cumulative lat[SNAP_LAT_N];
};

struct snapshot {
	bool server;             /* else a client */
	char ifname[16];
	uint32_t addr4;          /* host order; 0 = none yet (a client before its session) */
	uint8_t prefix4;
	char addr6[48];          /* "fd77::1/64"; "" = no IPv6 (shown only if set) */
	uint16_t listen_port;    /* server only */
	struct snap_kv totals[SNAP_MAX_TOTALS];
	size_t ntotals;
	struct lat_cumulative lat[SNAP_LAT_N];
	struct snap_peer *peers; /* server: its clients; client: its session (0 or 1) */
	size_t npeers;
};

/* Appends a counter, ignoring any beyond the array's room. */
void snap_total(struct snapshot *s, const char *name, uint64_t v, bool gauge);
void snap_drop(struct snap_peer *p, const char *name, uint64_t v);

/* full_keys: whole public keys, else their first 8 characters and "...". */
void show_text(const struct snapshot *s, bool full_keys, struct sbuf *out);
void show_json(const struct snapshot *s, bool full_keys, struct sbuf *out);

/* Building blocks, also used by metrics.c. */
void show_key(const uint8_t pub[32], bool full, char out[48]);
void show_json_str(struct sbuf *out, const char *s);
void show_addr4(uint32_t a, char out[16]);

#endif
