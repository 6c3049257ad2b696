/* ctl_linux.c - see ctl.h. */
#include "ctl.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "thread.h"

#define MAX_CONNS 16
#define CONN_DEADLINE_NS (2 * 1000000000ull)
#define POLL_MS 200
#define SHOW_TIMEOUT_MS 5000

enum conn_kind { CONN_CTL, CONN_HTTP };

struct conn {
	int fd;
	enum conn_kind kind;
	uint64_t deadline_ns;
	char in[HTTP_MAX_REQUEST + 1];
	size_t in_len;
	bool replying, draining;
	struct sbuf out;
	size_t out_off;
};

struct ctl {
	struct ctl_ops ops;
	int unix_fd, http_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn conns[MAX_CONNS];
	pthread_t th;
	bool started;
	atomic_bool stop;
};

/* The shared directory: ours to create, and refused if someone else could
 * plant sockets in it. */
static int run_dir(void)
{
	struct stat st;
	if (mkdir(CTL_RUN_DIR, 0700) != 0 && errno != EEXIST) {
		LOGE("msg=\"cannot create the control socket directory\" path=%s error=\"%s\"", CTL_RUN_DIR, strerror(errno));
		return -1;
	}
	if (lstat(CTL_RUN_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
		LOGE("msg=\"control socket directory is not a directory\" path=%s", CTL_RUN_DIR);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		LOGE("msg=\"control socket directory must be owned by us and closed to others (0700)\" path=%s uid=%u mode=%03o",
		     CTL_RUN_DIR, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

/* A socket file that nobody answers on is a crashed run's: removed. One
 * that answers belongs to a running instance with the same interface
 * name, which must not be displaced. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa;
	if (unix_addr(path, &sa) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	close(fd);
	if (rc == 0) {
		LOGE("msg=\"another vpngw with this interface name is running (its control socket answers)\" path=%s", path);
		return -1;
	}
	if (err == ENOENT)
		return 0;
	if (unlink(path) != 0 && errno != ENOENT) {
		LOGE("msg=\"cannot remove a stale control socket\" path=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	LOGW("msg=\"replaced a stale control socket from an earlier run\" path=%s", path);
	return 0;
}

static int open_unix(struct ctl *c, const char *ifname)
{
	struct sockaddr_un sa;
	if (snprintf(c->path, sizeof(c->path), CTL_RUN_DIR "/%s.sock", ifname) >= (int)sizeof(c->path) ||
	    unix_addr(c->path, &sa) != 0)
		return -1;
	if (run_dir() != 0 || clear_stale(c->path) != 0)
		return -1;
	c->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->unix_fd < 0) {
		LOGE("msg=\"control socket\" error=\"%s\"", strerror(errno));
		return -1;
	}
	/* 0600 from the start: no moment when others could connect. */
	mode_t old = umask(0177);
	int rc = bind(c->unix_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || chmod(c->path, 0600) != 0 || listen(c->unix_fd, MAX_CONNS) != 0) {
		LOGE("msg=\"cannot listen on the control socket\" path=%s error=\"%s\"", c->path, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_http(struct ctl *c, const char *spec)
{
	int fam;
	uint8_t addr[16];
	uint16_t port;
	const char *why;
	if (metrics_parse_listen(spec, &fam, addr, &port, &why) != 0) {
		LOGE("msg=\"bad MetricsListen\" value=%s error=\"%s\"", spec, why);
		return -1;
	}
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	memcpy(fam == 4 ? (void *)&in4.sin_addr : (void *)&in6.sin6_addr, addr, fam == 4 ? 4 : 16);
	c->http_fd = socket(fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (c->http_fd < 0 || setsockopt(c->http_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (fam == 6 && setsockopt(c->http_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(c->http_fd, fam == 4 ? (struct sockaddr *)&in4 : (struct sockaddr *)&in6,
		 fam == 4 ? sizeof(in4) : sizeof(in6)) != 0 ||
	    listen(c->http_fd, MAX_CONNS) != 0) {
		LOGE("msg=\"cannot listen for metrics\" metrics_listen=%s error=\"%s\"", spec, strerror(errno));
		return -1;
	}
	LOGI("msg=\"metrics listening\" metrics_listen=%s path=/metrics", spec);
	return 0;
}

struct ctl *ctl_open(const char *ifname, const char *metrics_listen, const struct ctl_ops *ops)
{
	struct ctl *c = calloc(1, sizeof(*c));
	if (!c) {
		LOGE("msg=\"out of memory for the control socket\"");
		return NULL;
	}
	c->ops = *ops;
	c->unix_fd = c->http_fd = -1;
	for (int i = 0; i < MAX_CONNS; i++) {
		c->conns[i].fd = -1;
		sbuf_init(&c->conns[i].out);
	}
	if (open_unix(c, ifname) != 0 || (metrics_listen[0] && open_http(c, metrics_listen) != 0)) {
		ctl_close(c);
		return NULL;
	}
	return c;
}

static void conn_close(struct conn *k)
{
	close(k->fd);
	k->fd = -1;
	k->in_len = 0;
	k->replying = k->draining = false;
	k->out_off = 0;
	sbuf_reset(&k->out);
}

static void accept_one(struct ctl *c, int lfd, enum conn_kind kind)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *k = &c->conns[i];
		if (k->fd >= 0)
			continue;
		k->fd = fd;
		k->kind = kind;
		k->deadline_ns = now_ns() + CONN_DEADLINE_NS;
		return;
	}
	/* All slots busy: the newcomer is turned away, the others finish. */
	close(fd);
}

static void reply_ctl(struct ctl *c, struct conn *k, size_t line_len)
{
	struct ctl_req r;
	char err[256];
	if (ctl_parse(k->in, line_len, &r, err, sizeof(err)) != 0) {
		sbuf_printf(&k->out, "error: %s\n", err);
		return;
	}
	if (r.cmd == CTL_SHOW) {
		sbuf_puts(&k->out, "ok\n");
		c->ops.show(c->ops.arg, &r, &k->out);
		return;
	}
	if (!c->ops.set) {
		sbuf_puts(&k->out, "error: this is a client: add, remove, address and rename change a gateway's clients\n");
		return;
	}
	struct sbuf body;
	sbuf_init(&body);
	if (c->ops.set(c->ops.arg, &r, &body, err, sizeof(err)) != 0)
		sbuf_printf(&k->out, "error: %s\n", err);
	else
		sbuf_printf(&k->out, "ok\n%s", body.s ? body.s : "");
	sbuf_free(&body);
}

static void reply_http(struct ctl *c, struct conn *k, enum http_verdict v)
{
	struct sbuf body;
	bool metrics = v == HTTP_GET_METRICS || v == HTTP_HEAD_METRICS;
	sbuf_init(&body);
	if (metrics)
		c->ops.metrics(c->ops.arg, &body);
	else
		sbuf_printf(&body, "%s\n", http_status(v));
	bool failed = sbuf_failed(&body);
	if (failed) {
		LOGE("msg=\"out of memory for a metrics reply\"");
		sbuf_reset(&body);
	}
	sbuf_printf(&k->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		    failed ? "500 Internal Server Error" : http_status(v),
		    metrics && !failed ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
		    body.len);
	if (v != HTTP_HEAD_METRICS && body.len)
		sbuf_putn(&k->out, body.s, body.len);
	sbuf_free(&body);
}

/* Reads what there is; builds the reply once the request is whole. */
static void conn_read(struct ctl *c, struct conn *k)
{
	size_t cap = k->kind == CONN_CTL ? CTL_MAX_LINE + 1 : HTTP_MAX_REQUEST;
	ssize_t n = recv(k->fd, k->in + k->in_len, cap - k->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	bool eof = n <= 0;
	if (n > 0)
		k->in_len += (size_t)n;
	k->in[k->in_len] = '\0';
	if (k->kind == CONN_CTL) {
		char *nl = memchr(k->in, '\n', k->in_len);
		if (!nl && !eof && k->in_len < cap)
			return;
		if (!nl && !k->in_len) {
			conn_close(k);
			return;
		}
		/* No newline within the limit: ctl_parse names the length. */
		reply_ctl(c, k, nl ? (size_t)(nl - k->in) : k->in_len);
	} else {
		enum http_verdict v = http_parse(k->in, k->in_len);
		if (v == HTTP_INCOMPLETE && !eof && k->in_len < cap)
			return;
		if (v == HTTP_INCOMPLETE && !k->in_len) {
			conn_close(k);
			return;
		}
		reply_http(c, k, v == HTTP_INCOMPLETE ? HTTP_BAD_REQUEST : v);
	}
	if (sbuf_failed(&k->out)) {
		LOGE("msg=\"out of memory for a control reply\"");
		conn_close(k);
		return;
	}
	k->replying = true;
}

static void conn_write(struct conn *k)
{
	while (k->out_off < k->out.len) {
		ssize_t n = send(k->fd, k->out.s + k->out_off, k->out.len - k->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(k);
			return;
		}
		k->out_off += (size_t)n;
	}
	/* Closing with unread input would reset the connection and could
	 * destroy the reply in flight: end ours, read theirs to its end. */
	shutdown(k->fd, SHUT_WR);
	k->replying = false;
	k->draining = true;
}

static void conn_drain(struct conn *k)
{
	char buf[4096];
	ssize_t n = recv(k->fd, buf, sizeof(buf), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(k);
}

static void *ctl_loop(void *arg)
{
	struct ctl *c = arg;
	struct pollfd pfd[MAX_CONNS + 2];
	struct conn *of[MAX_CONNS + 2];
	while (!atomic_load(&c->stop)) {
		nfds_t n = 0;
		uint64_t now = now_ns();
		pfd[n++] = (struct pollfd){ .fd = c->unix_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = c->http_fd, .events = POLLIN }; /* -1 is skipped */
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *k = &c->conns[i];
			if (k->fd < 0)
				continue;
			if (now >= k->deadline_ns) {
				conn_close(k);
				continue;
			}
			of[n] = k;
			pfd[n++] = (struct pollfd){ .fd = k->fd, .events = k->replying ? POLLOUT : POLLIN };
		}
		int rc = poll(pfd, n, POLL_MS);
		if (rc < 0 && errno != EINTR) {
			LOGE("msg=\"control socket poll failed\" error=\"%s\"", strerror(errno));
			break;
		}
		if (rc <= 0)
			continue;
		for (nfds_t i = 2; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (of[i]->draining)
				conn_drain(of[i]);
			else if (of[i]->replying)
				conn_write(of[i]);
			else
				conn_read(c, of[i]);
			if (of[i]->fd >= 0 && of[i]->replying)
				conn_write(of[i]);
		}
		if (pfd[0].revents & POLLIN)
			accept_one(c, c->unix_fd, CONN_CTL);
		if (pfd[1].revents & POLLIN)
			accept_one(c, c->http_fd, CONN_HTTP);
	}
	return NULL;
}

int ctl_start(struct ctl *c)
{
	if (thread_start(&c->th, ctl_loop, c, "vpngw-ctl") != 0)
		return -1;
	c->started = true;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	if (c->started)
		pthread_join(c->th, NULL);
	for (int i = 0; i < MAX_CONNS; i++) {
		if (c->conns[i].fd >= 0)
			conn_close(&c->conns[i]);
		sbuf_free(&c->conns[i].out);
	}
	if (c->http_fd >= 0)
		close(c->http_fd);
	if (c->unix_fd >= 0) {
		close(c->unix_fd);
		/* After `User =` the directory is root's: the next start
		 * replaces the file instead. */
		if (unlink(c->path) != 0 && errno != ENOENT)
			LOGW("msg=\"control socket left behind; the next start replaces it\" path=%s error=\"%s\"", c->path,
			     strerror(errno));
	}
	free(c);
}

/* ------------------------------------------------------------ vpngw show */

/* Sends the request, reads the whole reply (bounded in time). 0 with the
 * body in out; -1 with why in out. */
static int query(const char *path, const char *req, struct sbuf *out, bool *not_running)
{
	struct sockaddr_un sa;
	*not_running = false;
	if (unix_addr(path, &sa) != 0) {
		sbuf_puts(out, "socket path too long");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		*not_running = errno == ECONNREFUSED || errno == ENOENT;
		sbuf_printf(out, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct sbuf got;
	sbuf_init(&got);
	int rc = -1;
	uint64_t end = now_ns() + (uint64_t)SHOW_TIMEOUT_MS * 1000000;
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		sbuf_printf(out, "%s: send: %s", path, strerror(errno));
		goto done;
	}
	for (;;) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0) {
			sbuf_printf(out, "%s: no reply within %d s", path, SHOW_TIMEOUT_MS / 1000);
			goto done;
		}
		char buf[16384];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sbuf_printf(out, "%s: recv: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		sbuf_putn(&got, buf, (size_t)n);
	}
	if (sbuf_failed(&got)) {
		sbuf_puts(out, "out of memory");
	} else if (got.len >= 3 && !memcmp(got.s, "ok\n", 3)) {
		sbuf_putn(out, got.s + 3, got.len - 3);
		rc = 0;
	} else if (got.len > 7 && !memcmp(got.s, "error: ", 7)) {
		sbuf_putn(out, got.s + 7, strcspn(got.s + 7, "\n"));
	} else {
		sbuf_printf(out, "%s: unexpected reply", path);
	}
done:
	sbuf_free(&got);
	close(fd);
	return rc;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 16 && !strchr(s, '/') && s[0] != '.' && s[0] != '-';
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The interfaces with a socket in the run directory, sorted; -1 if the
 * directory cannot be read. */
static int list_ifaces(char ***names, size_t *n)
{
	DIR *d = opendir(CTL_RUN_DIR);
	*names = NULL;
	*n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	size_t cap = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || len - 5 >= 16 || strcmp(e->d_name + len - 5, ".sock"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char **grown = realloc(*names, cap * sizeof(**names));
			if (!grown)
				break;
			*names = grown;
		}
		(*names)[*n] = strndup(e->d_name, len - 5);
		if ((*names)[*n])
			(*n)++;
	}
	closedir(d);
	qsort(*names, *n, sizeof(**names), by_name);
	return 0;
}

static int show_one(const char *ifname, const char *req, bool json, bool many, bool *first)
{
	char path[128];
	bool not_running;
	struct sbuf out;
	sbuf_init(&out);
	snprintf(path, sizeof(path), CTL_RUN_DIR "/%s.sock", ifname);
	int rc = query(path, req, &out, &not_running);
	if (rc != 0) {
		if (many && not_running)
			fprintf(stderr, "vpngw: show %s: not running (a stale socket)\n", ifname);
		else
			fprintf(stderr, "vpngw: show %s: %s\n", ifname, out.s ? out.s : "failed");
		sbuf_free(&out);
		return rc;
	}
	if (many && json) {
		/* One array of the instances' objects: strip each newline. */
		while (out.len && out.s[out.len - 1] == '\n')
			out.len--;
		fputs(*first ? "[" : ",", stdout);
	} else if (many && !*first) {
		fputs("\n", stdout);
	}
	fwrite(out.s, 1, out.len, stdout);
	*first = false;
	sbuf_free(&out);
	return 0;
}

int ctl_set_main(int argc, char **argv)
{
	static const char usage[] = "usage: vpngw set IFACE add NAME KEY [ADDRESS] | remove CLIENT | address CLIENT ADDRESS|pool | rename CLIENT NAME\n";
	if (argc < 2 || !valid_ifname(argv[0])) {
		fprintf(stderr, "vpngw: set: %s\n%s", argc ? "not an interface name" : "no interface", usage);
		return 2;
	}
	/* One request line: the words as given, none may hold a space. */
	struct sbuf req;
	sbuf_init(&req);
	for (int i = 1; i < argc; i++) {
		if (!argv[i][0] || strpbrk(argv[i], " \t\r\n")) {
			fprintf(stderr, "vpngw: set: an argument is empty or holds white space: \"%s\"\n%s", argv[i], usage);
			sbuf_free(&req);
			return 2;
		}
		sbuf_printf(&req, "%s%s", i > 1 ? " " : "", argv[i]);
	}
	sbuf_puts(&req, "\n");
	char path[128];
	bool not_running;
	struct sbuf out;
	sbuf_init(&out);
	snprintf(path, sizeof(path), CTL_RUN_DIR "/%s.sock", argv[0]);
	int rc = sbuf_failed(&req) ? -1 : query(path, req.s, &out, &not_running);
	if (rc == 0)
		fwrite(out.s, 1, out.len, stdout);
	else
		fprintf(stderr, "vpngw: set %s: %s\n", argv[0], out.s ? out.s : "out of memory");
	sbuf_free(&out);
	sbuf_free(&req);
	return rc == 0 ? 0 : 1;
}

int ctl_show_main(int argc, char **argv)
{
	const char *iface = NULL;
	bool json = false, keys = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--keys"))
			keys = true;
		else if (argv[i][0] != '-' && !iface && valid_ifname(argv[i]))
			iface = argv[i];
		else {
			fprintf(stderr, "vpngw: show: unexpected argument: %s\nusage: vpngw show [IFACE] [--json] [--keys]\n",
				argv[i]);
			return 2;
		}
	}
	char req[32];
	snprintf(req, sizeof(req), "show%s%s\n", json ? " json" : "", keys ? " keys" : "");
	bool first = true;
	if (iface)
		return show_one(iface, req, json, false, &first) == 0 ? 0 : 1;

	char **names;
	size_t n, shown = 0;
	if (list_ifaces(&names, &n) != 0 || n == 0) {
		fprintf(stderr, "vpngw: show: no running vpngw (no sockets in %s)\n", CTL_RUN_DIR);
		free(names);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		shown += show_one(names[i], req, json, true, &first) == 0;
		free(names[i]);
	}
	free(names);
	if (json && shown)
		fputs("]\n", stdout);
	return shown ? 0 : 1;
}
