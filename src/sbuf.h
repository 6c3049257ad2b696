/* sbuf.h - a growing text buffer for replies of the control socket and
 * the metrics endpoint (built on the control thread, never on a packet
 * path). Out of memory is sticky: later appends do nothing and
 * sbuf_failed says so once, where the reply is sent. */
#ifndef VPNGW_SBUF_H
#define VPNGW_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b); /* empty, memory kept */
void sbuf_putn(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool sbuf_failed(const struct sbuf *b);

#endif
