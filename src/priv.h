/* priv.h - giving up root once the devices are set up (`User =`). */
#ifndef VPNGW_PRIV_H
#define VPNGW_PRIV_H

/* Becomes `user` (its uid, gid and no other groups), keeping only
 * CAP_NET_ADMIN: enough to reconfigure the TUN device after a new session
 * and to remove our NAT table on exit, nothing more. Must run before any
 * thread starts (capabilities are per thread). Logs and returns -1. */
int priv_drop(const char *user);

#endif
