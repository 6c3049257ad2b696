/* dnsconf.h - pointing the system's resolver at the tunnel's DNS server
 * while the tunnel is up, and back afterwards.
 *
 * In the host's network namespace: systemd-resolved (resolvectl) when it
 * runs, else resolvconf when it is installed, else /etc/resolv.conf. In
 * any other namespace (`ip netns exec`) /etc/resolv.conf, which is that
 * namespace's own (a bind mount of /etc/netns/NAME/resolv.conf); the tools
 * would reach the host's resolver. The file is rewritten in place, with a
 * copy of what was there when the tunnel first set it kept in memory and
 * under /run/vpngw (named for the interface and the network namespace),
 * so a crashed run is undone at the next start. A file another vpngw
 * tunnel has rewritten is left alone. */
#ifndef VPNGW_DNSCONF_H
#define VPNGW_DNSCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dnsconf_method { DNSCONF_NONE, DNSCONF_RESOLVED, DNSCONF_RESOLVCONF, DNSCONF_FILE };

struct dnsconf {
	char ifname[16];
	enum dnsconf_method method;
	int fd;            /* /etc/resolv.conf, opened while we may */
	int backup_fd;     /* the copy under /run/vpngw, likewise */
	char backup[96];   /* its path */
	char *saved;       /* the file's content before us: taken when first applied */
	size_t saved_len;
	bool applied;
	uint32_t dns4;     /* what we applied, host order */
};

/* Picks the method, undoes what a crashed run on this interface left, and
 * (for the file method) opens /etc/resolv.conf, so that applying works
 * after the privilege drop. Logs and returns -1 on failure. */
int dnsconf_prepare(struct dnsconf *d, const char *ifname);
/* Makes dns4 the system's resolver; again with another address replaces
 * it. Logs and returns -1 on failure. */
int dnsconf_apply(struct dnsconf *d, uint32_t dns4);
/* Puts back what was there, if it is still ours; frees everything. */
void dnsconf_restore(struct dnsconf *d);

const char *dnsconf_method_name(enum dnsconf_method m);

#endif
