/* nat_linux.c - libnftables and /proc/sys for nat.h. */
#include "nat.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nft.h"

#define FORWARD_SYSCTL "/proc/sys/net/ipv4/ip_forward"

static int read_forwarding(void)
{
	char c = 0;
	int fd = open(FORWARD_SYSCTL, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, &c, 1);
	close(fd);
	return r == 1 ? c == '1' : -1;
}

static int write_forwarding(int fd, bool on)
{
	if (pwrite(fd, on ? "1" : "0", 1, 0) != 1) {
		LOGE("msg=\"cannot set %s\" error=\"%s\"", FORWARD_SYSCTL, strerror(errno));
		return -1;
	}
	return 0;
}

int nat_start(struct nat *n, const char *tun_name, uint32_t net, uint8_t prefix, const char *ifname)
{
	char cmd[1024];
	memset(n, 0, sizeof(*n));
	n->forwarding_fd = -1;
	snprintf(n->table, sizeof(n->table), "vpngw_%s", tun_name);
	if (if_nametoindex(ifname) == 0)
		LOGW("msg=\"Masquerade interface does not exist (yet); the rule waits for it\" interface=%s", ifname);
	/* What a crashed earlier run of this gateway left: remove it first. */
	snprintf(cmd, sizeof(cmd), "delete table ip %s\n", n->table);
	nft_run(cmd, true);
	snprintf(cmd, sizeof(cmd),
		 "table ip %s {\n"
		 "  chain postrouting {\n"
		 "    type nat hook postrouting priority srcnat; policy accept;\n"
		 "    ip saddr %u.%u.%u.%u/%u oifname \"%s\" masquerade\n"
		 "  }\n"
		 "}\n",
		 n->table, net >> 24, net >> 16 & 255, net >> 8 & 255, net & 255, prefix, ifname);
	if (nft_run(cmd, false) != 0)
		return -1;
	n->active = true;
	int fwd = read_forwarding();
	if (fwd == 0) {
		/* Kept open: turning it off again on exit must work after root is
		 * given up (User =). */
		n->forwarding_fd = open(FORWARD_SYSCTL, O_WRONLY | O_CLOEXEC);
		if (n->forwarding_fd < 0 || write_forwarding(n->forwarding_fd, true) != 0) {
			if (n->forwarding_fd < 0)
				LOGE("msg=\"cannot open %s\" error=\"%s\"", FORWARD_SYSCTL, strerror(errno));
			nat_stop(n);
			return -1;
		}
		n->forwarding_was_off = true;
	}
	LOGI("msg=\"masquerading the client pool\" pool=%u.%u.%u.%u/%u interface=%s nft_table=%s%s",
	     net >> 24, net >> 16 & 255, net >> 8 & 255, net & 255, prefix, ifname, n->table,
	     n->forwarding_was_off ? " ip_forward=enabled" : "");
	return 0;
}

void nat_stop(struct nat *n)
{
	char cmd[128];
	if (!n->active)
		return;
	snprintf(cmd, sizeof(cmd), "delete table ip %s\n", n->table);
	nft_run(cmd, false);
	if (n->forwarding_was_off)
		write_forwarding(n->forwarding_fd, false);
	if (n->forwarding_fd >= 0)
		close(n->forwarding_fd);
	n->forwarding_fd = -1;
	n->active = false;
}
