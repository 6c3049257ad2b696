/* dnsconf_linux.c - the system resolver through resolvectl, resolvconf or
 * /etc/resolv.conf. */
#include "dnsconf.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define RESOLV_CONF "/etc/resolv.conf"
#define STATE_DIR "/run/vpngw"
#define RESOLV_MAX (64 * 1024)

extern char **environ;

static const char *find_prog(const char *const *paths)
{
	for (; *paths; paths++)
		if (access(*paths, X_OK) == 0)
			return *paths;
	return NULL;
}

static const char *resolvectl_path(void)
{
	static const char *const p[] = { "/usr/bin/resolvectl", "/bin/resolvectl", NULL };
	return find_prog(p);
}

static const char *resolvconf_path(void)
{
	static const char *const p[] = { "/usr/sbin/resolvconf", "/sbin/resolvconf", NULL };
	return find_prog(p);
}

const char *dnsconf_method_name(enum dnsconf_method m)
{
	switch (m) {
	case DNSCONF_RESOLVED: return "systemd-resolved";
	case DNSCONF_RESOLVCONF: return "resolvconf";
	case DNSCONF_FILE: return RESOLV_CONF;
	default: return "none";
	}
}

/* Runs argv[0] with argv, feeding it `input` on stdin if given; 0 when it
 * exits 0. */
static int run(char *const argv[], const char *input)
{
	int pfd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	if (input && pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (input)
		posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (input) {
		close(pfd[0]);
		if (rc == 0 && write(pfd[1], input, strlen(input)) < 0)
			LOGW("msg=\"cannot feed a command\" command=%s error=\"%s\"", argv[0], strerror(errno));
		close(pfd[1]);
	}
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void backup_path(const struct dnsconf *d, char *buf, size_t len)
{
	snprintf(buf, len, STATE_DIR "/%s.resolv.conf", d->ifname);
}

static void marker(const struct dnsconf *d, char *buf, size_t len)
{
	snprintf(buf, len, "# vpngw %s:", d->ifname);
}

static char *read_all(int fd, size_t *len)
{
	char *buf = malloc(RESOLV_MAX);
	ssize_t r = 0;
	if (!buf)
		return NULL;
	*len = 0;
	while (*len < RESOLV_MAX && (r = pread(fd, buf + *len, RESOLV_MAX - *len, (off_t)*len)) > 0)
		*len += (size_t)r;
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool is_ours(const struct dnsconf *d, const char *text, size_t len)
{
	char m[48];
	marker(d, m, sizeof(m));
	return len >= strlen(m) && memcmp(text, m, strlen(m)) == 0;
}

static int write_in_place(int fd, const char *text, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return ftruncate(fd, (off_t)len);
}

/* A previous run died with our resolv.conf in place: put its copy back. */
static void undo_crashed_file(struct dnsconf *d)
{
	char path[96];
	size_t cur_len, old_len;
	backup_path(d, path, sizeof(path));
	int bfd = open(path, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		return;
	char *cur = read_all(d->fd, &cur_len), *old = read_all(bfd, &old_len);
	close(bfd);
	if (cur && old && is_ours(d, cur, cur_len)) {
		if (write_in_place(d->fd, old, old_len) == 0)
			LOGW("msg=\"restored the resolver configuration a previous run left behind\" file=" RESOLV_CONF);
		else
			LOGW("msg=\"cannot restore the resolver configuration a previous run left behind\" file=" RESOLV_CONF " error=\"%s\"",
			     strerror(errno));
	}
	free(cur);
	free(old);
	unlink(path);
}

static int save_backup(struct dnsconf *d)
{
	char path[96], tmp[104];
	backup_path(d, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (mkdir(STATE_DIR, 0700) != 0 && errno != EEXIST)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = write_in_place(fd, d->saved, d->saved_len) == 0 && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static int prepare_file(struct dnsconf *d)
{
	d->fd = open(RESOLV_CONF, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		die_msg("open " RESOLV_CONF ": %s (set DNS = off to leave the resolver alone)", strerror(errno));
		return -1;
	}
	undo_crashed_file(d);
	d->saved = read_all(d->fd, &d->saved_len);
	if (!d->saved) {
		die_msg("read " RESOLV_CONF ": %s", strerror(errno));
		return -1;
	}
	if (save_backup(d) != 0) {
		die_msg("keep a copy of " RESOLV_CONF " in " STATE_DIR ": %s", strerror(errno));
		return -1;
	}
	return 0;
}

int dnsconf_prepare(struct dnsconf *d, const char *ifname)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	snprintf(d->ifname, sizeof(d->ifname), "%s", ifname);
	if (resolvectl_path() && access("/run/systemd/resolve/io.systemd.Resolve", F_OK) == 0)
		d->method = DNSCONF_RESOLVED;
	else if (resolvconf_path())
		d->method = DNSCONF_RESOLVCONF;
	else
		d->method = DNSCONF_FILE;
	return d->method == DNSCONF_FILE ? prepare_file(d) : 0;
}

static int apply_file(struct dnsconf *d, const char *addr)
{
	char text[160], m[48];
	marker(d, m, sizeof(m));
	int len = snprintf(text, sizeof(text), "%s the tunnel's resolver; the previous file returns when it goes down\nnameserver %s\n", m, addr);
	return write_in_place(d->fd, text, (size_t)len);
}

static int apply_tool(struct dnsconf *d, const char *addr)
{
	char ifn[16], a[16], input[64];
	snprintf(ifn, sizeof(ifn), "%s", d->ifname);
	snprintf(a, sizeof(a), "%s", addr);
	if (d->method == DNSCONF_RESOLVED) {
		char *dns[] = { (char *)resolvectl_path(), "dns", ifn, a, NULL };
		char *dom[] = { (char *)resolvectl_path(), "domain", ifn, "~.", NULL };
		return run(dns, NULL) == 0 && run(dom, NULL) == 0 ? 0 : -1;
	}
	char *argv[] = { (char *)resolvconf_path(), "-a", ifn, "-m", "0", "-x", NULL };
	snprintf(input, sizeof(input), "nameserver %s\n", addr);
	return run(argv, input);
}

int dnsconf_apply(struct dnsconf *d, uint32_t dns4)
{
	char addr[16];
	if (d->method == DNSCONF_NONE || (d->applied && d->dns4 == dns4))
		return 0;
	snprintf(addr, sizeof(addr), "%u.%u.%u.%u", dns4 >> 24, dns4 >> 16 & 255, dns4 >> 8 & 255, dns4 & 255);
	int rc = d->method == DNSCONF_FILE ? apply_file(d, addr) : apply_tool(d, addr);
	if (rc != 0) {
		LOGW("msg=\"cannot set the system resolver to the tunnel's DNS\" dns=%s method=%s error=\"%s\"", addr,
		     dnsconf_method_name(d->method), strerror(errno));
		return -1;
	}
	d->applied = true;
	d->dns4 = dns4;
	LOGI("msg=\"system resolver set\" dns=%s method=%s", addr, dnsconf_method_name(d->method));
	return 0;
}

static void restore_file(struct dnsconf *d)
{
	size_t cur_len;
	char *cur = read_all(d->fd, &cur_len);
	if (!cur || !is_ours(d, cur, cur_len))
		LOGW("msg=\"" RESOLV_CONF " was changed by someone else while the tunnel was up; left as it is\"");
	else if (write_in_place(d->fd, d->saved, d->saved_len) != 0)
		LOGW("msg=\"cannot restore " RESOLV_CONF "\" error=\"%s\"", strerror(errno));
	free(cur);
}

void dnsconf_restore(struct dnsconf *d)
{
	char path[96];
	if (d->applied && d->method == DNSCONF_FILE)
		restore_file(d);
	if (d->applied && d->method == DNSCONF_RESOLVED) {
		char *argv[] = { (char *)resolvectl_path(), "revert", d->ifname, NULL };
		if (run(argv, NULL) != 0)
			LOGW("msg=\"resolvectl revert failed\" dev=%s", d->ifname);
	}
	if (d->applied && d->method == DNSCONF_RESOLVCONF) {
		char *argv[] = { (char *)resolvconf_path(), "-d", d->ifname, "-f", NULL };
		if (run(argv, NULL) != 0)
			LOGW("msg=\"resolvconf -d failed\" dev=%s", d->ifname);
	}
	if (d->method == DNSCONF_FILE) {
		backup_path(d, path, sizeof(path));
		unlink(path); /* may fail after the privilege drop; the next start sees it is stale */
	}
	if (d->fd >= 0)
		close(d->fd);
	free(d->saved);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}
