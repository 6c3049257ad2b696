/* ecn.h - Explicit Congestion Notification across the tunnel (RFC 6040,
 * normal mode), and CE marking by our own queues.
 *
 * Why: a router on the underlay that marks instead of dropping marks the
 * outer header; the inner TCP only learns of it if we carry the mark
 * inward. Outward, the outer header copies the inner ECN field so the
 * underlay knows the packet is ECN-capable at all. */
#ifndef VPNGW_ECN_H
#define VPNGW_ECN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECN_NOT_ECT 0
#define ECN_CE 3

/* The outer ECN field for an inner IPv4 or IPv6 packet: a copy of its own
 * (Not-ECT for anything else). */
uint8_t ecn_encap(const uint8_t *ip, size_t len);
/* Applies the outer ECN field on arrival (RFC 6040, normal mode). False
 * when the packet must be dropped (outer CE on a Not-ECT inner packet: its
 * sender cannot be told). */
bool ecn_decap(uint8_t outer, uint8_t *ip, size_t len);
/* Sets CE on an ECN-capable IPv4 (fixing its checksum) or IPv6 packet;
 * false when the packet is not ECN-capable (then it must be dropped
 * instead). */
bool ip_mark_ce(uint8_t *ip, size_t len);

#endif
