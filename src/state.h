/* state.h - what the gateway remembers across restarts: the tunnel
 * address each client (by public key) was given from the pool, so that
 * it gets the same one again even when the config's order changes.
 *
 * The text, one entry a line, ends with a checksum of everything before
 * it, so a file cut short or damaged is recognised and ignored whole:
 *   vpngw-state 1
 *   client <base64 public key> <a.b.c.d>
 *   checksum <BLAKE2b-256 of the bytes above, hex>
 */
#ifndef VPNGW_STATE_H
#define VPNGW_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sbuf.h"

#define STATE_MAX_BYTES (16u << 20)

struct state_entry {
	uint8_t pub[32];
	uint32_t addr4; /* host order */
};

void state_render(const struct state_entry *e, size_t n, struct sbuf *out);
/* 0 with *e (malloc'd, NULL when n is 0) and *n; -1 with err naming the
 * line and what is wrong with it. */
int state_parse(const char *text, size_t len, struct state_entry **e, size_t *n, char *err, size_t errlen);
/* Sets each configured client's remembered4 from the entries (sorting
 * them); clients not in the entries get 0. */
void state_apply(struct state_entry *e, size_t n, struct server_conf *c);

#endif
