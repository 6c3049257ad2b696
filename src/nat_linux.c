/* nat_linux.c - libnftables and /proc/sys for nat.h. */
#include "nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nft.h"

#define FORWARD_SYSCTL "/proc/sys/net/ipv4/ip_forward"
/* "all" sets every interface's forwarding (and is what routing checks). */
#define FORWARD6_SYSCTL "/proc/sys/net/ipv6/conf/all/forwarding"

static int read_forwarding(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, &c, 1);
	close(fd);
	return r == 1 ? c == '1' : -1;
}

static int write_forwarding(int fd, const char *path, bool on)
{
	if (pwrite(fd, on ? "1" : "0", 1, 0) != 1) {
		LOGE("msg=\"cannot set %s\" error=\"%s\"", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Switches forwarding on at path if it is off, keeping the file open:
 * turning it off again on exit must work after root is given up (User =).
 * 0, or -1 logged. */
static int forwarding_on(const char *path, int *fd, bool *was_off)
{
	if (read_forwarding(path) != 0)
		return 0;
	*fd = open(path, O_WRONLY | O_CLOEXEC);
	if (*fd < 0) {
		LOGE("msg=\"cannot open %s\" error=\"%s\"", path, strerror(errno));
		return -1;
	}
	if (write_forwarding(*fd, path, true) != 0)
		return -1;
	*was_off = true;
	return 0;
}

static void forwarding_restore(const char *path, int *fd, bool *was_off)
{
	if (*was_off)
		write_forwarding(*fd, path, false);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	*was_off = false;
}

static void fmt6(const uint8_t a[16], char out[INET6_ADDRSTRLEN])
{
	inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
}

int nat_start(struct nat *n, const char *tun_name, uint32_t net, uint8_t prefix, const uint8_t *net6,
	      uint8_t prefix6, const char *ifname)
{
	char cmd[1024], pool6[INET6_ADDRSTRLEN] = "";
	memset(n, 0, sizeof(*n));
	n->forwarding_fd = -1;
	n->forwarding6_fd = -1;
	snprintf(n->table, sizeof(n->table), "vpngw_%s", tun_name);
	if (if_nametoindex(ifname) == 0)
		LOGW("msg=\"Masquerade interface does not exist (yet); the rule waits for it\" interface=%s", ifname);
	/* What a crashed earlier run of this gateway left, of either family
	 * (its config may have had an IPv6 pool this one has not): remove it
	 * first. */
	nft_delete_table("ip", n->table, true);
	nft_delete_table("ip6", n->table, true);
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
	if (net6) {
		fmt6(net6, pool6);
		snprintf(cmd, sizeof(cmd),
			 "table ip6 %s {\n"
			 "  chain postrouting {\n"
			 "    type nat hook postrouting priority srcnat; policy accept;\n"
			 "    ip6 saddr %s/%u oifname \"%s\" masquerade\n"
			 "  }\n"
			 "}\n",
			 n->table, pool6, prefix6, ifname);
		if (nft_run(cmd, false) != 0) {
			nat_stop(n);
			return -1;
		}
		n->active6 = true;
	}
	if (forwarding_on(FORWARD_SYSCTL, &n->forwarding_fd, &n->forwarding_was_off) != 0 ||
	    (net6 && forwarding_on(FORWARD6_SYSCTL, &n->forwarding6_fd, &n->forwarding6_was_off) != 0)) {
		nat_stop(n);
		return -1;
	}
	LOGI("msg=\"masquerading the client pool\" pool=%u.%u.%u.%u/%u pool6=%s%s%u interface=%s nft_table=%s%s%s",
	     net >> 24, net >> 16 & 255, net >> 8 & 255, net & 255, prefix, net6 ? pool6 : "none", net6 ? "/" : "",
	     net6 ? prefix6 : 0, ifname, n->table, n->forwarding_was_off ? " ip_forward=enabled" : "",
	     n->forwarding6_was_off ? " ipv6_forwarding=enabled" : "");
	return 0;
}

/* Another vpngw gateway in this network namespace still masquerades (its
 * table is there) and so needs forwarding, which it found on because we
 * had switched it on: then it stays on. */
static void keep_for_others(const char *family, const char *path, bool *was_off)
{
	char other[64];
	if (!*was_off || nft_find_table(family, "vpngw_", other, sizeof(other)) != 1)
		return;
	LOGI("msg=\"forwarding left on: another vpngw gateway uses it\" sysctl=%s nft_table=%s", path, other);
	*was_off = false;
}

void nat_stop(struct nat *n)
{
	if (!n->active)
		return;
	nft_delete_table("ip", n->table, false);
	if (n->active6)
		nft_delete_table("ip6", n->table, false);
	keep_for_others("ip", FORWARD_SYSCTL, &n->forwarding_was_off);
	keep_for_others("ip6", FORWARD6_SYSCTL, &n->forwarding6_was_off);
	forwarding_restore(FORWARD_SYSCTL, &n->forwarding_fd, &n->forwarding_was_off);
	forwarding_restore(FORWARD6_SYSCTL, &n->forwarding6_fd, &n->forwarding6_was_off);
	n->active = false;
	n->active6 = false;
}
