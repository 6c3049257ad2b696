/* request.h - the requests the control socket and the metrics endpoint accept
 * (parsing only; ctl_linux.c, ctl.h, owns the sockets).
 *
 * Control socket: one line of printable ASCII, words separated by spaces:
 *   show [json] [keys]
 *   add NAME KEY [ADDRESS]        a new client (ADDRESS: a.b.c.d, else the pool's next)
 *   remove CLIENT                 CLIENT: its name or its public key
 *   address CLIENT ADDRESS|pool
 *   rename CLIENT NAME
 * The reply starts with "ok\n" and the body follows, or it is one line
 * "error: <why>\n" and nothing was done. */
#ifndef VPNGW_REQUEST_H
#define VPNGW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_MAX_LINE 512
#define HTTP_MAX_REQUEST 4096

enum ctl_cmd { CTL_SHOW, CTL_ADD, CTL_REMOVE, CTL_ADDRESS, CTL_RENAME };

struct ctl_req {
	enum ctl_cmd cmd;
	bool json, keys;  /* show */
	char name[64];    /* add, rename: the (new) name */
	char who[64];     /* remove, address, rename: a client's name or key */
	uint8_t pub[32];  /* add */
	uint32_t addr4;   /* add, address: host order; 0 = from the pool */
};

/* line: the request without its newline. 0, or -1 with a message that
 * names the offending word. */
int ctl_parse(const char *line, size_t len, struct ctl_req *r, char *err, size_t errlen);

/* The metrics endpoint: HTTP/1.0 or 1.1, GET or HEAD of /metrics. */
enum http_verdict {
	HTTP_INCOMPLETE,  /* no blank line yet: read more */
	HTTP_GET_METRICS,
	HTTP_HEAD_METRICS,
	HTTP_BAD_REQUEST, /* 400 */
	HTTP_NOT_FOUND,   /* 404 */
	HTTP_BAD_METHOD,  /* 405 */
	HTTP_TOO_LARGE,   /* 431: no end of headers within HTTP_MAX_REQUEST */
};

enum http_verdict http_parse(const char *buf, size_t len);
/* "400 Bad Request" and so on, for the status line. */
const char *http_status(enum http_verdict v);

#endif
