/* ctl.h - the control socket /run/vpngw/<interface>.sock (`vpngw show`)
 * and the MetricsListen HTTP endpoint, served by one thread of their own.
 *
 * The thread only reads counters through the callbacks below; the packet
 * threads never wait for it. Connections are bounded in number, size and
 * time, so a stuck or hostile peer cannot hold it. */
#ifndef VPNGW_CTL_H
#define VPNGW_CTL_H

#include <stdbool.h>

#include "request.h"
#include "sbuf.h"

#define CTL_RUN_DIR "/run/vpngw"

struct ctl_ops {
	void *arg;
	/* The body of a reply to `show`; on the control thread. */
	void (*show)(void *arg, const struct ctl_req *r, struct sbuf *out);
	/* The Prometheus text; on the control thread. */
	void (*metrics)(void *arg, struct sbuf *out);
	/* add, remove, address, rename: 0 with a line for the reply in out,
	 * or -1 with why in err and nothing changed. NULL on a client. */
	int (*set)(void *arg, const struct ctl_req *r, struct sbuf *out, char *err, size_t errlen);
};

struct ctl;

/* Creates the control socket (directory 0700, socket 0600; a stale one
 * left by a crashed run is replaced, a live one is an error) and, if
 * metrics_listen is not empty, the metrics listener. Call while still
 * root, before any privilege drop. NULL after logging why. */
struct ctl *ctl_open(const char *ifname, const char *metrics_listen, const struct ctl_ops *ops);
/* Starts serving; -1 after logging why. */
int ctl_start(struct ctl *c);
/* Stops the thread, closes both sockets, removes the socket file. NULL ok. */
void ctl_close(struct ctl *c);

/* `vpngw show [IFACE] [--json] [--keys]`: the exit status. */
int ctl_show_main(int argc, char **argv);
/* `vpngw set IFACE add|remove|address|rename ...`: the exit status. */
int ctl_set_main(int argc, char **argv);

#endif
