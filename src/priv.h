/* priv.h - giving up root once the devices are set up (`User =`). */
#ifndef VPNGW_PRIV_H
#define VPNGW_PRIV_H

/* Becomes `user` (its uid, gid and no other groups), keeping only
 * CAP_NET_ADMIN: enough to reconfigure the TUN device after a new session
 * and to remove our NAT table on exit, nothing more. With rt_prio > 0 the
 * process keeps the right to give its threads real-time priority up to
 * rt_prio: a raised RLIMIT_RTPRIO (thread.h), or where that limit is fixed
 * (no CAP_SYS_RESOURCE), CAP_SYS_NICE as well. Must run before any thread starts
 * (capabilities are per thread). Logs and returns -1. */
int priv_drop(const char *user, unsigned rt_prio);

#endif
