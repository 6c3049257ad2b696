/* netcfg_linux.c - link, address, routes and policy rules over rtnetlink
 * (libmnl). */
#include "netcfg.h"

#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Marks the rules and routes we add outside our device, so that we remove
 * only ours (wg-quick's rules look alike but carry no protocol). */
#define VPNGW_RTPROT 86
#define NL_BUF 32768
#define STALE_MAX 16

struct req {
	char buf[1024];
	struct nlmsghdr *nlh;
};

static struct nlmsghdr *req_start(struct req *r, uint16_t type, uint16_t flags, const void *hdr, size_t hdrlen)
{
	memset(r->buf, 0, sizeof(r->buf));
	r->nlh = mnl_nlmsg_put_header(r->buf);
	r->nlh->nlmsg_type = type;
	r->nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	void *extra = mnl_nlmsg_put_extra_header(r->nlh, hdrlen);
	memcpy(extra, hdr, hdrlen);
	return r->nlh;
}

/* Sends one request and runs cb over the answer until the kernel's ack or
 * the end of a dump (so every request that is not a dump asks for an ack).
 * 0, or -1 with errno. */
static int talk(struct netcfg *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static _Thread_local char buf[NL_BUF];
	struct mnl_socket *nl = n->nl;
	nlh->nlmsg_seq = ++n->seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0)
			return -1;
		int rc = mnl_cb_run(buf, (size_t)len, n->seq, n->portid, cb, data);
		if (rc == MNL_CB_ERROR)
			return -1;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

static const char *ip4(uint32_t a, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
	return buf;
}

/* The rtnetlink socket: 0, or -1 with errno (not logged). */
static int nl_open(struct netcfg *n)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;
		mnl_socket_close(nl);
		errno = err;
		return -1;
	}
	n->nl = nl;
	n->portid = mnl_socket_get_portid(nl);
	n->seq = (unsigned)time(NULL);
	return 0;
}

int netcfg_open(struct netcfg *n, const char *ifname)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname ? ifname : "");
	n->ifindex = ifname ? if_nametoindex(ifname) : 0;
	if (ifname && !n->ifindex) {
		die_msg("find device %s: %s", ifname, strerror(errno));
		return -1;
	}
	if (nl_open(n) != 0) {
		die_msg("open rtnetlink: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* No link-local address on the tunnel: without one the kernel sends no
 * router solicitations or MLD reports into it, link chatter the gateway
 * could only drop. Best effort: before the device is up, which is when
 * the kernel would make one; a host without IPv6 refuses, harmlessly. */
static void no_link_local(struct netcfg *n)
{
	struct req r;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)n->ifindex };
	struct nlmsghdr *nlh = req_start(&r, RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	struct nlattr *in6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, in6);
	mnl_attr_nest_end(nlh, spec);
	if (talk(n, nlh, NULL, NULL) != 0 && errno != EAFNOSUPPORT)
		LOGW("msg=\"cannot turn off IPv6 link-local addresses\" dev=%s error=\"%s\"", n->ifname, strerror(errno));
}

int netcfg_link(struct netcfg *n, int mtu, int txqlen)
{
	struct req r;
	no_link_local(n);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)n->ifindex,
				 .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct nlmsghdr *nlh = req_start(&r, RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, (uint32_t)txqlen);
	if (talk(n, nlh, NULL, NULL) != 0) {
		die_msg("set MTU %d and bring up %s: %s", mtu, n->ifname, strerror(errno));
		return -1;
	}
	return 0;
}

static int addr4_msg(struct netcfg *n, uint16_t type, uint16_t flags, uint32_t addr, uint8_t prefix)
{
	struct req r;
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = prefix, .ifa_index = n->ifindex };
	struct nlmsghdr *nlh = req_start(&r, type, NLM_F_ACK | flags, &ifa, sizeof(ifa));
	mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(addr));
	mnl_attr_put_u32(nlh, IFA_ADDRESS, htonl(addr));
	return talk(n, nlh, NULL, NULL);
}

int netcfg_addr4(struct netcfg *n, uint32_t addr, uint8_t prefix)
{
	char a[16], old[16];
	if (n->addr4 && (n->addr4 != addr || n->prefix4 != prefix) &&
	    addr4_msg(n, RTM_DELADDR, 0, n->addr4, n->prefix4) != 0 && errno != EADDRNOTAVAIL)
		LOGW("msg=\"cannot remove the old tunnel address\" dev=%s address=%s/%u error=\"%s\"", n->ifname,
		     ip4(n->addr4, old), n->prefix4, strerror(errno));
	n->addr4 = 0;
	if (addr4_msg(n, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, addr, prefix) != 0) {
		die_msg("add address %s/%u to %s: %s", ip4(addr, a), prefix, n->ifname, strerror(errno));
		return -1;
	}
	n->addr4 = addr;
	n->prefix4 = prefix;
	return 0;
}

static const char *ip6(const uint8_t a[16], char *buf)
{
	return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

static int addr6_msg(struct netcfg *n, uint16_t type, uint16_t flags, const uint8_t addr[16], uint8_t prefix)
{
	struct req r;
	struct ifaddrmsg ifa = { .ifa_family = AF_INET6, .ifa_prefixlen = prefix, .ifa_index = n->ifindex,
				 .ifa_flags = IFA_F_NODAD };
	struct nlmsghdr *nlh = req_start(&r, type, NLM_F_ACK | flags, &ifa, sizeof(ifa));
	mnl_attr_put(nlh, IFA_LOCAL, 16, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, 16, addr);
	return talk(n, nlh, NULL, NULL);
}

int netcfg_addr6(struct netcfg *n, const uint8_t addr[16], uint8_t prefix)
{
	char a[INET6_ADDRSTRLEN], old[INET6_ADDRSTRLEN];
	if (n->has6 && (memcmp(n->addr6, addr, 16) || n->prefix6 != prefix) &&
	    addr6_msg(n, RTM_DELADDR, 0, n->addr6, n->prefix6) != 0 && errno != EADDRNOTAVAIL)
		LOGW("msg=\"cannot remove the old tunnel IPv6 address\" dev=%s address=%s/%u error=\"%s\"", n->ifname,
		     ip6(n->addr6, old), n->prefix6, strerror(errno));
	n->has6 = false;
	if (addr6_msg(n, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, addr, prefix) != 0) {
		die_msg("add address %s/%u to %s: %s%s", ip6(addr, a), prefix, n->ifname, strerror(errno),
			errno == EACCES || errno == EPERM ? " (is IPv6 disabled on it? net.ipv6.conf.*.disable_ipv6)" : "");
		return -1;
	}
	memcpy(n->addr6, addr, 16);
	n->prefix6 = prefix;
	n->has6 = true;
	return 0;
}

void netcfg_del_addr6(struct netcfg *n)
{
	char a[INET6_ADDRSTRLEN];
	if (n->has6 && addr6_msg(n, RTM_DELADDR, 0, n->addr6, n->prefix6) != 0 && errno != EADDRNOTAVAIL)
		LOGW("msg=\"cannot remove the tunnel IPv6 address\" dev=%s address=%s/%u error=\"%s\"", n->ifname,
		     ip6(n->addr6, a), n->prefix6, strerror(errno));
	n->has6 = false;
}

int netcfg_route6(struct netcfg *n, const uint8_t net[16], uint8_t prefix, uint32_t table)
{
	struct req r;
	char a[INET6_ADDRSTRLEN];
	table = table ? table : RT_TABLE_MAIN;
	struct rtmsg rtm = { .rtm_family = AF_INET6, .rtm_dst_len = prefix, .rtm_table = RT_TABLE_UNSPEC,
			     .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
	/* As for IPv4: never replace someone else's route. */
	struct nlmsghdr *nlh = req_start(&r, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof(rtm));
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put(nlh, RTA_DST, 16, net);
	mnl_attr_put_u32(nlh, RTA_OIF, n->ifindex);
	if (talk(n, nlh, NULL, NULL) == 0)
		return 0;
	if (errno == EEXIST) {
		LOGI("msg=\"route not added: it exists already\" route=%s/%u table=%u", ip6(net, a), prefix, table);
		return 0;
	}
	die_msg("add route %s/%u dev %s table %u: %s", ip6(net, a), prefix, n->ifname, table, strerror(errno));
	return -1;
}

static int route_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= RTA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

struct route_match {
	uint32_t net, table;
	uint8_t prefix;
	unsigned oif;      /* the matching route's device, 0 = none seen */
};

static int match_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_match *m = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
	uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	uint32_t dst = tb[RTA_DST] ? ntohl(mnl_attr_get_u32(tb[RTA_DST])) : 0;
	if (table == m->table && rtm->rtm_dst_len == m->prefix && dst == m->net && tb[RTA_OIF])
		m->oif = mnl_attr_get_u32(tb[RTA_OIF]);
	return MNL_CB_OK;
}

/* The device of the route net/prefix in table, 0 if there is none. */
static unsigned route_device(struct netcfg *n, uint32_t net, uint8_t prefix, uint32_t table)
{
	struct req r;
	struct route_match m = { .net = net, .table = table, .prefix = prefix };
	struct rtmsg rtm = { .rtm_family = AF_INET };
	struct nlmsghdr *nlh = req_start(&r, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	return talk(n, nlh, match_cb, &m) == 0 ? m.oif : 0;
}

int netcfg_route4(struct netcfg *n, uint32_t net, uint8_t prefix, uint32_t table)
{
	struct req r;
	char a[16];
	table = table ? table : RT_TABLE_MAIN;
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = prefix, .rtm_table = RT_TABLE_UNSPEC,
			     .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_LINK, .rtm_type = RTN_UNICAST };
	/* Never replace a route someone else put there: it would vanish with
	 * our device. EEXIST is ours from an earlier session, or theirs. */
	struct nlmsghdr *nlh = req_start(&r, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof(rtm));
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_DST, htonl(net));
	mnl_attr_put_u32(nlh, RTA_OIF, n->ifindex);
	if (talk(n, nlh, NULL, NULL) == 0)
		return 0;
	if (errno == EEXIST) {
		if (route_device(n, net, prefix, table) != n->ifindex)
			LOGW("msg=\"route not added: the same route exists over another device\" route=%s/%u table=%u",
			     ip4(net, a), prefix, table);
		return 0;
	}
	die_msg("add route %s/%u dev %s table %u: %s", ip4(net, a), prefix, n->ifname, table, strerror(errno));
	return -1;
}

/* One rule of ours: "not fwmark table", looking up `lookup`, with
 * suppress_prefixlength 0 when suppress (main's default route ignored). */
static int rule_msg(struct netcfg *n, uint16_t type, int family, uint32_t table, uint32_t lookup, bool suppress)
{
	struct req r;
	struct fib_rule_hdr frh = { .family = (uint8_t)family, .action = FR_ACT_TO_TBL, .flags = FIB_RULE_INVERT };
	uint16_t flags = type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0;
	struct nlmsghdr *nlh = req_start(&r, type, NLM_F_ACK | flags, &frh, sizeof(frh));
	mnl_attr_put_u32(nlh, FRA_FWMARK, table);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, lookup);
	mnl_attr_put_u8(nlh, FRA_PROTOCOL, VPNGW_RTPROT);
	if (suppress)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	return talk(n, nlh, NULL, NULL);
}

/* IPv6's default route in the full tunnel's table: over the tunnel, or
 * (block) unreachable. Ours (VPNGW_RTPROT), so a crashed run's is found
 * and removed whichever it was. */
static int default6_msg(struct netcfg *n, uint16_t type, uint32_t table, bool block)
{
	struct req r;
	struct rtmsg rtm = { .rtm_family = AF_INET6, .rtm_table = RT_TABLE_UNSPEC, .rtm_protocol = VPNGW_RTPROT,
			     .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = block ? RTN_UNREACHABLE : RTN_UNICAST };
	uint16_t flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0;
	struct nlmsghdr *nlh = req_start(&r, type, NLM_F_ACK | flags, &rtm, sizeof(rtm));
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (type == RTM_NEWROUTE && !block)
		mnl_attr_put_u32(nlh, RTA_OIF, n->ifindex);
	return talk(n, nlh, NULL, NULL);
}

static int unreachable6_msg(struct netcfg *n, uint16_t type, uint32_t table)
{
	return default6_msg(n, type, table, true);
}

/* net.ipv4.conf.all.src_valid_mark: the reverse-path check must see our
 * fwmark, or the gateway's replies fail it. Left set, as wg-quick does:
 * other tunnels may rely on it too. */
static void set_src_valid_mark(void)
{
	int fd = open("/proc/sys/net/ipv4/conf/all/src_valid_mark", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		LOGW("msg=\"cannot set net.ipv4.conf.all.src_valid_mark=1; strict reverse-path filtering may drop the gateway's replies\" error=\"%s\"",
		     strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Removes our IPv6 rules and the IPv6 default of our table. */
static void unpolicy6(struct netcfg *n)
{
	if (n->v6 == NETCFG_V6_NONE)
		return;
	if (rule_msg(n, RTM_DELRULE, AF_INET6, n->table, RT_TABLE_MAIN, true) != 0 ||
	    rule_msg(n, RTM_DELRULE, AF_INET6, n->table, n->table, false) != 0)
		LOGW("msg=\"cannot remove a policy rule\" table=%u family=ipv6 error=\"%s\"", n->table, strerror(errno));
	/* The tunnel's route would vanish with the device, but the device may
	 * outlive us (a persistent TUN): both kinds go. */
	if (default6_msg(n, RTM_DELROUTE, n->table, n->v6 == NETCFG_V6_BLOCK) != 0 && errno != ESRCH)
		LOGW("msg=\"cannot remove the IPv6 default route of the tunnel's table\" table=%u error=\"%s\"", n->table,
		     strerror(errno));
	n->v6 = NETCFG_V6_NONE;
}

static void unpolicy(struct netcfg *n)
{
	if (!n->table)
		return;
	unpolicy6(n);
	if (rule_msg(n, RTM_DELRULE, AF_INET, n->table, RT_TABLE_MAIN, true) != 0 ||
	    rule_msg(n, RTM_DELRULE, AF_INET, n->table, n->table, false) != 0)
		LOGW("msg=\"cannot remove a policy rule\" table=%u family=ipv4 error=\"%s\"", n->table, strerror(errno));
	n->table = 0;
}

static int policy_family(struct netcfg *n, int family, uint32_t table)
{
	if (rule_msg(n, RTM_NEWRULE, family, table, table, false) != 0)
		return -1;
	if (rule_msg(n, RTM_NEWRULE, family, table, RT_TABLE_MAIN, true) != 0) {
		int e = errno;
		rule_msg(n, RTM_DELRULE, family, table, table, false);
		errno = e;
		return -1;
	}
	return 0;
}

/* IPv6 as v6 says, in the table the IPv4 rules already use. A switch
 * between block and tunnel (the gateway restarted with or without its
 * IPv6 pool) replaces the default route in place, under rules that stay:
 * at no moment may IPv6 take the host's own default route. */
static void policy6(struct netcfg *n, int v6)
{
	if (v6 == NETCFG_V6_NONE) {
		unpolicy6(n);
		return;
	}
	bool block = v6 == NETCFG_V6_BLOCK;
	if (default6_msg(n, RTM_NEWROUTE, n->table, block) != 0 ||
	    (n->v6 == NETCFG_V6_NONE && policy_family(n, AF_INET6, n->table) != 0)) {
		if (block)
			LOGW("msg=\"cannot keep IPv6 from leaving outside the tunnel\" table=%u error=\"%s\"", n->table,
			     strerror(errno));
		else
			LOGE("msg=\"cannot route IPv6 through the tunnel\" dev=%s table=%u error=\"%s\"", n->ifname, n->table,
			     strerror(errno));
		if (n->v6 == NETCFG_V6_NONE)
			default6_msg(n, RTM_DELROUTE, n->table, block);
		return;
	}
	n->v6 = v6;
}

int netcfg_policy(struct netcfg *n, uint32_t table, int v6)
{
	if (n->table == table && n->v6 == v6)
		return 0;
	if (n->table != table) {
		unpolicy(n);
		set_src_valid_mark();
		if (policy_family(n, AF_INET, table) != 0) {
			die_msg("add policy rules for table %u: %s", table, strerror(errno));
			return -1;
		}
		n->table = table;
	}
	policy6(n, v6);
	return 0;
}

struct stale {
	uint32_t table;
	size_t n;
	char msgs[STALE_MAX][256];
};

static int stale_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= FRA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int stale_rule(const struct nlmsghdr *nlh, void *data)
{
	struct stale *s = data;
	const struct nlattr *tb[FRA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(struct fib_rule_hdr), stale_attr, tb);
	if (!tb[FRA_PROTOCOL] || mnl_attr_get_u8(tb[FRA_PROTOCOL]) != VPNGW_RTPROT || !tb[FRA_FWMARK] ||
	    mnl_attr_get_u32(tb[FRA_FWMARK]) != s->table)
		return MNL_CB_OK;
	if (s->n < STALE_MAX && nlh->nlmsg_len <= sizeof(s->msgs[0]))
		memcpy(s->msgs[s->n++], nlh, nlh->nlmsg_len);
	return MNL_CB_OK;
}

int netcfg_clean_stale(struct netcfg *n, uint32_t table)
{
	static struct stale s;
	int removed = 0;
	int fams[2] = { AF_INET, AF_INET6 };
	for (int i = 0; i < 2; i++) {
		struct req r;
		struct fib_rule_hdr frh = { .family = (uint8_t)fams[i] };
		struct nlmsghdr *nlh = req_start(&r, RTM_GETRULE, NLM_F_DUMP, &frh, sizeof(frh));
		memset(&s, 0, sizeof(s));
		s.table = table;
		if (talk(n, nlh, stale_rule, &s) != 0)
			continue; /* no IPv6 here, or nothing to read: nothing of ours */
		for (size_t k = 0; k < s.n; k++) {
			struct nlmsghdr *old = (struct nlmsghdr *)s.msgs[k];
			old->nlmsg_type = RTM_DELRULE;
			old->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			if (talk(n, old, NULL, NULL) == 0)
				removed++;
		}
	}
	/* Whichever IPv6 default the crashed run had: unreachable or over the
	 * tunnel (gone with its device, unless the device stayed). */
	if (unreachable6_msg(n, RTM_DELROUTE, table) == 0)
		removed++;
	if (default6_msg(n, RTM_DELROUTE, table, false) == 0)
		removed++;
	if (removed)
		LOGW("msg=\"removed routing rules a previous run left behind\" table=%u count=%d", table, removed);
	return removed;
}

struct route_info {
	unsigned oif;
	unsigned mtu;      /* the route's own MTU metric, 0 = none */
	bool default_route;
};


static void route_metrics(const struct nlattr *m, struct route_info *ri)
{
	const struct nlattr *a;
	mnl_attr_for_each_nested(a, m) {
		if (mnl_attr_get_type(a) == RTAX_MTU && mnl_attr_get_payload_len(a) >= 4)
			ri->mtu = mnl_attr_get_u32(a);
	}
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_info *ri = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
	if (ri->default_route) {
		/* A dump: only main's unicast default route counts. */
		uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
		if (table != RT_TABLE_MAIN || rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST || ri->oif)
			return MNL_CB_OK;
	}
	if (tb[RTA_OIF])
		ri->oif = mnl_attr_get_u32(tb[RTA_OIF]);
	if (tb[RTA_METRICS])
		route_metrics(tb[RTA_METRICS], ri);
	return MNL_CB_OK;
}

struct link_info {
	unsigned want;     /* an index, or 0: the smallest usable MTU */
	unsigned skip;
	unsigned mtu;
};

static int link_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= IFLA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, tb);
	if (!tb[IFLA_MTU])
		return MNL_CB_OK;
	unsigned mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (li->want) {
		if ((unsigned)ifi->ifi_index == li->want)
			li->mtu = mtu;
		return MNL_CB_OK;
	}
	if ((unsigned)ifi->ifi_index == li->skip || (ifi->ifi_flags & IFF_LOOPBACK) || !(ifi->ifi_flags & IFF_UP))
		return MNL_CB_OK;
	if (!li->mtu || mtu < li->mtu)
		li->mtu = mtu;
	return MNL_CB_OK;
}

static int link_mtu(struct netcfg *n, unsigned index)
{
	struct req r;
	struct link_info li = { .want = index, .skip = n->ifindex };
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)index };
	struct nlmsghdr *nlh = req_start(&r, RTM_GETLINK, index ? NLM_F_ACK : NLM_F_DUMP, &ifi, sizeof(ifi));
	if (talk(n, nlh, link_cb, &li) != 0 || !li.mtu)
		return -1;
	return (int)li.mtu;
}

int netcfg_path_mtu(struct netcfg *n, const struct endpoint *dst)
{
	struct req r;
	struct route_info ri = { 0 };
	int fam = dst->sa.sa_family;
	struct rtmsg rtm = { .rtm_family = (uint8_t)fam, .rtm_dst_len = fam == AF_INET ? 32 : 128 };
	struct nlmsghdr *nlh = req_start(&r, RTM_GETROUTE, NLM_F_ACK, &rtm, sizeof(rtm));
	if (fam == AF_INET)
		mnl_attr_put(nlh, RTA_DST, 4, &dst->in4.sin_addr);
	else
		mnl_attr_put(nlh, RTA_DST, 16, &dst->in6.sin6_addr);
	if (talk(n, nlh, route_cb, &ri) != 0 || !ri.oif)
		return -1;
	int dev = link_mtu(n, ri.oif);
	if (ri.mtu && (dev < 0 || (int)ri.mtu < dev))
		return (int)ri.mtu;
	return dev;
}

int netcfg_uplink_mtu(struct netcfg *n)
{
	struct req r;
	struct route_info ri = { .default_route = true };
	struct rtmsg rtm = { .rtm_family = AF_INET };
	struct nlmsghdr *nlh = req_start(&r, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	if (talk(n, nlh, route_cb, &ri) == 0 && ri.oif) {
		int dev = link_mtu(n, ri.oif);
		if (ri.mtu && (dev < 0 || (int)ri.mtu < dev))
			return (int)ri.mtu;
		if (dev > 0)
			return dev;
	}
	return link_mtu(n, 0);
}

static int tx_dropped_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
		if (mnl_attr_get_type(a) != IFLA_STATS64)
			continue;
		/* older kernels send a shorter struct; tx_dropped is in all */
		struct rtnl_link_stats64 st = { 0 };
		size_t len = mnl_attr_get_payload_len(a);
		if (len < offsetof(struct rtnl_link_stats64, tx_dropped) + sizeof(st.tx_dropped))
			continue;
		memcpy(&st, mnl_attr_get_payload(a), len < sizeof(st) ? len : sizeof(st));
		*(uint64_t *)data = st.tx_dropped;
	}
	return MNL_CB_OK;
}

/* The device's tx_dropped: 0, or -1 with errno. Logs nothing (the callers
 * ask every few seconds). */
static int tx_dropped(const char *ifname, uint64_t *out)
{
	struct netcfg n = { 0 };
	struct req r;
	if (nl_open(&n) != 0)
		return -1;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlmsghdr *nlh = req_start(&r, RTM_GETLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	uint64_t v = UINT64_MAX;
	int rc = talk(&n, nlh, tx_dropped_cb, &v);
	int err = errno;
	mnl_socket_close(n.nl);
	if (rc != 0 || v == UINT64_MAX) {
		errno = rc != 0 ? err : ENODATA;
		return -1;
	}
	*out = v;
	return 0;
}

void netcfg_drops_start(struct netcfg_drops *d, const char *ifname)
{
	snprintf(d->ifname, sizeof(d->ifname), "%s", ifname);
	d->base = 0;
	atomic_store(&d->last, 0);
	if (tx_dropped(ifname, &d->base) != 0)
		LOGW("msg=\"cannot read the TUN device's drop count; tun_queue_drops stays 0\" dev=%s error=\"%s\"", ifname,
		     strerror(errno));
}

uint64_t netcfg_drops_read(struct netcfg_drops *d)
{
	uint64_t v;
	uint64_t last = atomic_load(&d->last);
	if (!d->ifname[0] || tx_dropped(d->ifname, &v) != 0 || v < d->base)
		return last;
	v -= d->base;
	/* two threads read: keep the larger, so the count never steps back */
	while (v > last && !atomic_compare_exchange_weak(&d->last, &last, v))
		;
	return v > last ? v : last;
}

void netcfg_close(struct netcfg *n)
{
	if (!n->nl)
		return;
	unpolicy(n);
	mnl_socket_close(n->nl);
	n->nl = NULL;
}
