/* notrack.h - keeps the kernel's connection tracking away from the
 * gateway's own UDP port (`Conntrack = bypass`, the default).
 *
 * On a host that tracks connections (any NAT, ours or the host's, or a
 * stateful firewall), every datagram to our port costs a conntrack lookup,
 * and each new source address an entry. A flood from spoofed sources then
 * fills the table (nf_conntrack_max) within seconds, and a full table
 * drops every new connection of the host: new clients' first datagrams and
 * the clients' new flows through NAT alike. The tunnel's datagrams need no
 * tracking (nothing rewrites them), so a table of our own marks them
 * untracked before conntrack sees them: `udp dport PORT notrack` in
 * prerouting and `udp sport PORT notrack` in output, at raw priority.
 *
 * A firewall on the host that admits the port only as `ct state
 * established` will no longer see those datagrams as established; such a
 * host says `Conntrack = track`. The table is replaced at start (what a
 * crashed run left) and deleted on exit. */
#ifndef VPNGW_NOTRACK_H
#define VPNGW_NOTRACK_H

#include <stdbool.h>
#include <stdint.h>

struct notrack {
	bool active;
	char table[64];
};

/* 0, or -1 logged (the tunnel works without it). */
int notrack_start(struct notrack *t, const char *tun_name, uint16_t port);
void notrack_stop(struct notrack *t);

#endif
