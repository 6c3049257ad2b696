/* config.h - server and client INI files (see README "Configuration").
 * Errors name the file, line, key and value. */
#ifndef VPNGW_CONFIG_H
#define VPNGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define CONF_MAX_PEERS 65536
#define CONF_MAX_ROUTES 64
#define CONF_IFNAMSIZ 16
#define MTU_MIN 576
#define MTU_MAX 1920
#define MTU_DEFAULT 1400
#define MTU_AUTO 0
#define FWMARK_DEFAULT 51820

enum dns_mode { DNS_AUTO, DNS_OFF, DNS_FIXED };

struct route4 {
	uint32_t net; /* host byte order */
	uint8_t prefix;
};

struct route6 {
	uint8_t net[16]; /* network byte order */
	uint8_t prefix;
};

struct peer_conf {
	char name[64];
	uint8_t pub[32];
	bool has_pub;
	uint32_t addr4; /* host order; 0 = from the pool */
	uint32_t remembered4; /* from the state file, not the config; 0 = none */
	int line, pub_line, addr_line; /* where they were set, for errors */
};

struct server_conf {
	uint8_t priv[32];
	bool has_priv;
	uint16_t port;
	uint32_t addr4;
	uint8_t prefix4;
	/* The IPv6 pool (Address = ..., fd00:8::1/64), optional. A client's
	 * IPv6 address is the pool's prefix with its IPv4 host number:
	 * 10.8.0.7 gets fd00:8::7 (registry_addr6). */
	bool has6;
	uint8_t addr6[16];              /* the gateway's, network byte order */
	uint8_t prefix6;
	int mtu;                        /* MTU_AUTO: from the uplink's MTU */
	char ifname[CONF_IFNAMSIZ];
	uint32_t dns4;                  /* DNS =, told to clients; 0 = the proxy's address if it runs */
	struct dns_server upstreams[DNS_MAX_UPSTREAMS]; /* UpstreamDNS =, the usable entries */
	size_t nupstreams;
	bool upstream_set;              /* UpstreamDNS given, even if nothing in it was usable */
	bool dns_proxy_off;             /* DNSProxy = off */
	bool conntrack_track;           /* Conntrack = track (default bypass, notrack.h) */
	char masquerade[CONF_IFNAMSIZ]; /* "" = no NAT */
	char user[64];                  /* "" = stay root */
	int keepalive_s;
	int stats_interval_s;
	uint64_t bandwidth_bps; /* 0 = no pacing */
	unsigned sched_slice_us; /* data threads' time slice (thread.h); 0 = the kernel's */
	unsigned rt_priority;    /* data threads' SCHED_FIFO priority (thread.h); 0 = normal threads */
	int cpu_latency_us;      /* CpuLatency (cpulat.h); CPULAT_OFF = no request */
	unsigned cpu_latency_hold_ms; /* CpuLatencyHold (cpulat.h); CPULAT_HOLD_ALWAYS = for the process's life */
	char metrics_listen[64]; /* "" = no metrics endpoint */
	char state_file[256];    /* pool assignments kept across restarts */
	struct peer_conf *peers;
	size_t npeers;
};

struct client_conf {
	uint8_t priv[32];
	bool has_priv;
	char ifname[CONF_IFNAMSIZ];
	int keepalive_s;
	int stats_interval_s;
	uint64_t bandwidth_bps;
	unsigned sched_slice_us; /* data threads' time slice (thread.h); 0 = the kernel's */
	unsigned rt_priority;    /* data threads' SCHED_FIFO priority (thread.h); 0 = normal threads */
	int cpu_latency_us;      /* CpuLatency (cpulat.h); CPULAT_OFF = no request */
	unsigned cpu_latency_hold_ms; /* CpuLatencyHold (cpulat.h); CPULAT_HOLD_ALWAYS = for the process's life */
	int rekey_after_s; /* 0 = the protocol's 120 s */
	char user[64];     /* "" = stay root */
	enum dns_mode dns_mode; /* auto: what the gateway announces */
	uint32_t dns4;          /* DNS_FIXED, host order */
	uint32_t fwmark;        /* full tunnel: our UDP's mark and routing table */
	char metrics_listen[64]; /* "" = no metrics endpoint */
	uint8_t server_pub[32];
	bool has_server_pub;
	char endpoint[256];
	struct route4 routes[CONF_MAX_ROUTES];
	size_t nroutes;
	struct route6 routes6[CONF_MAX_ROUTES]; /* IPv6 routes other than ::/0 */
	size_t nroutes6;
	bool all_v6;            /* ::/0 listed: IPv6 goes through the tunnel, or nowhere */
};

/* 0 on success; else -1 with a message in err. */
int config_load_server(const char *path, struct server_conf *c, char *err, size_t errlen);
int config_load_client(const char *path, struct client_conf *c, char *err, size_t errlen);
void config_free_server(struct server_conf *c);

/* Building blocks, also used by the CLI and tests. */
int parse_key_b64(const char *s, uint8_t key[32]);
int parse_cidr4(const char *s, uint32_t *addr, uint8_t *prefix);
int parse_cidr6(const char *s, uint8_t addr[16], uint8_t *prefix);
/* A client's name as the config and `vpngw set` take it: no spaces,
 * quotes, '=' or control characters, so that it stays one field of a
 * logfmt line (client=NAME). The length is the caller's to check. */
bool client_name_ok(const char *name);
/* Reads a base64 key from a file that only its owner may read. */
int read_key_file(const char *path, uint8_t key[32], char *err, size_t errlen);

#endif
