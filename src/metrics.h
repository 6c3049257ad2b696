/* metrics.h - a snapshot (show.h) in Prometheus' text exposition format
 * (version 0.0.4), and the MetricsListen address.
 *
 * Families: vpngw_info; each total of the stats line as
 * vpngw_<name>_total (a counter) or vpngw_<name> (a gauge);
 * vpngw_latency_seconds (histogram, label direction); per client, label
 * client=<Name>: vpngw_client_{rx,tx}_{bytes,packets}_total,
 * vpngw_client_drops_total{reason}, vpngw_client_queue_packets,
 * vpngw_client_session_up, vpngw_client_handshake_age_seconds and
 * vpngw_client_latency_seconds. Every sample has label interface. */
#ifndef VPNGW_METRICS_H
#define VPNGW_METRICS_H

#include <stdint.h>

#include "sbuf.h"
#include "show.h"

void metrics_render(const struct snapshot *s, struct sbuf *out);

/* "1.2.3.4:port" or "[v6]:port", numeric only. family is 4 or 6; addr
 * holds 4 or 16 bytes in network order. 0, or -1 with why filled. */
int metrics_parse_listen(const char *s, int *family, uint8_t addr[16], uint16_t *port, const char **why);

#endif
