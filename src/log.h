/* log.h - logfmt lines on stderr, which journald and test scripts read. */
#ifndef VPNGW_LOG_H
#define VPNGW_LOG_H

#include <stdint.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_role(const char *role);
/* fmt continues the line after "level=... role=...": "msg=... key=value". */
void log_line(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Plain "vpngw: what: why" for start-up errors a person must read. */
void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t now_ns(void); /* CLOCK_MONOTONIC */

/* Nanoseconds from then to now; 0 when another thread stamped `then` a
 * moment after this one read `now`. */
static inline uint64_t ns_since(uint64_t now, uint64_t then)
{
	return then > now ? 0 : now - then;
}

#define LOGE(...) log_line(LOG_ERR, __VA_ARGS__)
#define LOGW(...) log_line(LOG_WARN, __VA_ARGS__)
#define LOGI(...) log_line(LOG_INFO, __VA_ARGS__)

#endif
