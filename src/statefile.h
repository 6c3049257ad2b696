/* statefile.h - the gateway's state file on disk (see state.h): read at
 * start, written atomically (a temporary file, fsync, rename, fsync of
 * the directory), so a crash leaves the old file or the new one, never
 * half of one. */
#ifndef VPNGW_STATEFILE_H
#define VPNGW_STATEFILE_H

#include <stddef.h>

#include "state.h"

/* 0 with the entries (none when there is no file yet); -1 when it cannot
 * be read or is damaged, with a warning logged: start without it. */
int statefile_load(const char *path, struct state_entry **e, size_t *n);
/* 0, or -1 with a warning logged (the old file, if any, is untouched). */
int statefile_save(const char *path, const struct state_entry *e, size_t n);

#endif
