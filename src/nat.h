/* nat.h - the gateway's masquerade for its client pool (`Masquerade =`).
 *
 * One nftables table of our own per gateway interface, named after it, so
 * it never touches anyone else's rules: created at start (replacing what a
 * crashed earlier run left), deleted on exit; one of family ip, and one of
 * family ip6 when there is an IPv6 pool. Forwarding is switched on and, if
 * it was off, back off on exit. */
#ifndef VPNGW_NAT_H
#define VPNGW_NAT_H

#include <stdbool.h>
#include <stdint.h>

struct nat {
	bool active;
	bool active6;       /* the ip6 table too */
	bool forwarding_was_off, forwarding6_was_off;
	int forwarding_fd;  /* open while we must turn forwarding off on exit */
	int forwarding6_fd;
	char table[64];
};

/* Installs masquerading of net/prefix (host order) out of ifname, and with
 * net6 (network order; NULL = no IPv6 pool) of net6/prefix6 too (NAT66,
 * in a table of family ip6 beside the ip one), switching IPv6 forwarding
 * on as IPv4's. Logs and returns -1 when it cannot; a missing interface is
 * only a warning (the rule matches by name and starts working once the
 * interface exists). */
int nat_start(struct nat *n, const char *tun_name, uint32_t net, uint8_t prefix, const uint8_t *net6,
	      uint8_t prefix6, const char *ifname);
void nat_stop(struct nat *n);

#endif
