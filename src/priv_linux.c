/* priv_linux.c - setuid with kept capabilities, then capset. */
#include "priv.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

static int keep_only(uint32_t caps)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = caps;
	return (int)syscall(SYS_capset, &hdr, data);
}

int priv_drop(const char *user, unsigned rt_prio)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		die_msg("User = %s: no such user", user);
		return -1;
	}
	/* Real-time priority for the data threads: a raised RLIMIT_RTPRIO is
	 * all an unprivileged process needs. Where the hard limit cannot be
	 * raised (no CAP_SYS_RESOURCE), keep CAP_SYS_NICE instead. */
	bool want_nice = rt_prio && thread_allow_realtime(rt_prio) != 0;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setgroups(1, &pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		die_msg("User = %s: cannot switch to it: %s", user, strerror(errno));
		return -1;
	}
	/* Without CAP_SYS_NICE to keep, the data threads say what they got. */
	bool kept_nice = want_nice && keep_only(1u << CAP_NET_ADMIN | 1u << CAP_SYS_NICE) == 0;
	if ((!kept_nice && keep_only(1u << CAP_NET_ADMIN) != 0) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		die_msg("User = %s: cannot limit capabilities: %s", user, strerror(errno));
		return -1;
	}
	LOGI("msg=\"dropped root\" user=%s uid=%u gid=%u capabilities=net_admin%s", user, (unsigned)pw->pw_uid,
	     (unsigned)pw->pw_gid, kept_nice ? ",sys_nice" : "");
	return 0;
}
