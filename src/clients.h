/* clients.h - the gateway's clients as an operator sees and changes them:
 * their part of `vpngw show` and the metrics, `vpngw set` commands, the
 * SIGHUP difference, and the state file's entries. Core: everything goes
 * through the registry, whose write lock each change takes once. */
#ifndef VPNGW_CLIENTS_H
#define VPNGW_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"
#include "request.h"
#include "sbuf.h"
#include "show.h"
#include "state.h"

/* Summed over every client, removed ones too, so counters never fall. */
struct clients_totals {
	uint64_t queue_full_drops, codel_drops, ecn_marks;
	uint64_t active; /* current clients with a usable session */
};

/* Endpoints as text: the platform's formatter (endpoint_str). */
typedef const char *(*endpoint_fmt)(const struct endpoint *e, char *buf, size_t len);

/* Fills o->peers (malloc'd; NULL when out of memory) and o->npeers. The
 * list, names and addresses are copied under the read lock; counters are
 * read after it, so a long read never holds up a handshake. */
void clients_snapshot(struct registry *r, uint64_t now, endpoint_fmt fmt, struct snapshot *o,
		      struct clients_totals *t);
void clients_totals(struct registry *r, uint64_t now, struct clients_totals *t);

/* One `vpngw set` request (add, remove, address, rename). 0 with a line
 * for the reply in out, or -1 with why in err and nothing changed. */
int clients_set(struct registry *r, const struct ctl_req *req, struct sbuf *out, char *err, size_t errlen);

struct clients_diff {
	size_t added, removed, changed, failed;
};
/* SIGHUP: the config's [Client] sections against the running clients, by
 * public key: new ones added, missing ones removed, a new Name or fixed
 * Address applied; the others untouched. A change that cannot be made is
 * logged and counted in failed. */
void clients_reload(struct registry *r, const struct server_conf *nc, struct clients_diff *d);

/* The current (key, address) pairs for the state file; -1 when out of
 * memory. */
int clients_state(struct registry *r, struct state_entry **e, size_t *n);

#endif
