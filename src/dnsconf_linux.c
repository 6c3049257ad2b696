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

/* The copy's name: the interface and the network namespace, so that two
 * namespaces' tunnels of the same name (each with its own resolv.conf)
 * keep apart. */
static void backup_path(struct dnsconf *d)
{
	struct stat st;
	unsigned long ns = stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0;
	snprintf(d->backup, sizeof(d->backup), STATE_DIR "/%s.%lu.resolv.conf", d->ifname, ns);
}

/* Whether we run in the host's network namespace (that of PID 1: in a
 * container, the container's). When it cannot be told, yes. */
static bool in_host_netns(void)
{
	struct stat self, init;
	if (stat("/proc/self/ns/net", &self) != 0 || stat("/proc/1/ns/net", &init) != 0)
		return true;
	return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
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

/* Written by some vpngw tunnel (marker()), ours or another's. */
static bool is_vpngw(const char *text, size_t len)
{
	static const char m[] = "# vpngw ";
	return len >= sizeof(m) - 1 && memcmp(text, m, sizeof(m) - 1) == 0;
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
	size_t cur_len, old_len;
	int bfd = open(d->backup, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		return;
	char *cur = read_all(d->fd, &cur_len), *old = read_all(bfd, &old_len);
	close(bfd);
	if (cur && old && old_len && is_ours(d, cur, cur_len)) {
		if (write_in_place(d->fd, old, old_len) == 0)
			LOGW("msg=\"restored the resolver configuration a previous run left behind\" file=" RESOLV_CONF);
		else
			LOGW("msg=\"cannot restore the resolver configuration a previous run left behind\" file=" RESOLV_CONF " error=\"%s\"",
			     strerror(errno));
	}
	free(cur);
	free(old);
	unlink(d->backup);
}

/* Opens the file and an empty copy for it, while we are root: what is in
 * the file is only copied when the tunnel first sets it (the user may
 * change networks before the first handshake). */
static int prepare_file(struct dnsconf *d)
{
	size_t len;
	d->fd = open(RESOLV_CONF, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		die_msg("open " RESOLV_CONF ": %s (set DNS = off to leave the resolver alone)", strerror(errno));
		return -1;
	}
	backup_path(d);
	undo_crashed_file(d);
	char *cur = read_all(d->fd, &len);
	if (!cur) {
		die_msg("read " RESOLV_CONF ": %s", strerror(errno));
		return -1;
	}
	bool other = is_vpngw(cur, len), mine = is_ours(d, cur, len);
	free(cur);
	if (other) {
		/* Its copy is of the file before that tunnel: ours would be of
		 * that tunnel's, and put back after it is gone. */
		if (mine)
			LOGW("msg=\"" RESOLV_CONF " is still as an earlier run of this tunnel set it, and its copy of the file before is gone (a reboot clears " STATE_DIR "?): leaving it; put the right one back by hand\"");
		else
			LOGW("msg=\"another vpngw tunnel has set " RESOLV_CONF "; leaving the resolver to it\"");
		close(d->fd);
		d->fd = -1;
		d->method = DNSCONF_NONE;
		return 0;
	}
	if (mkdir(STATE_DIR, 0700) != 0 && errno != EEXIST) {
		die_msg("make " STATE_DIR ": %s", strerror(errno));
		return -1;
	}
	d->backup_fd = open(d->backup, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->backup_fd < 0) {
		die_msg("keep a copy of " RESOLV_CONF " in %s: %s", d->backup, strerror(errno));
		return -1;
	}
	return 0;
}

/* The file as it is before we first set it, kept in memory and on disk. */
static int save_original(struct dnsconf *d)
{
	d->saved = read_all(d->fd, &d->saved_len);
	if (!d->saved)
		return -1;
	if (write_in_place(d->backup_fd, d->saved, d->saved_len) != 0 || fsync(d->backup_fd) != 0) {
		free(d->saved);
		d->saved = NULL;
		return -1;
	}
	return 0;
}

/* Whether our descriptor is still the file at the path: a DHCP client may
 * have put a new one there by rename since we opened it. */
static bool still_the_file(const struct dnsconf *d)
{
	struct stat held, now;
	return fstat(d->fd, &held) == 0 && stat(RESOLV_CONF, &now) == 0 && held.st_ino == now.st_ino &&
	       held.st_dev == now.st_dev;
}

int dnsconf_prepare(struct dnsconf *d, const char *ifname)
{
	memset(d, 0, sizeof(*d));
	d->fd = d->backup_fd = -1;
	snprintf(d->ifname, sizeof(d->ifname), "%s", ifname);
	bool host = in_host_netns();
	if (host && resolvectl_path() && access("/run/systemd/resolve/io.systemd.Resolve", F_OK) == 0)
		d->method = DNSCONF_RESOLVED;
	else if (host && resolvconf_path())
		d->method = DNSCONF_RESOLVCONF;
	else
		d->method = DNSCONF_FILE;
	if (d->method == DNSCONF_RESOLVCONF) {
		/* A crashed run's entry for this interface, if any. */
		char *argv[] = { (char *)resolvconf_path(), "-d", d->ifname, "-f", NULL };
		run(argv, NULL);
	}
	return d->method == DNSCONF_FILE ? prepare_file(d) : 0;
}

static int apply_file(struct dnsconf *d, const char *addr)
{
	char text[160], m[48];
	if (!still_the_file(d)) {
		LOGW("msg=\"" RESOLV_CONF " was replaced since the tunnel started (a DHCP client?) and may not be opened again after the privilege drop; restart the client to point it at the tunnel\"");
		errno = ESTALE;
		return -1;
	}
	if (!d->saved && save_original(d) != 0)
		return -1;
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
	if (!cur || !is_ours(d, cur, cur_len) || !still_the_file(d))
		LOGW("msg=\"" RESOLV_CONF " was changed by someone else while the tunnel was up; left as it is\"");
	else if (write_in_place(d->fd, d->saved, d->saved_len) != 0)
		LOGW("msg=\"cannot restore " RESOLV_CONF "\" error=\"%s\"", strerror(errno));
	free(cur);
}

void dnsconf_restore(struct dnsconf *d)
{
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
	if (d->method == DNSCONF_FILE && d->backup[0])
		unlink(d->backup); /* may fail after the privilege drop; the next start sees it is stale */
	if (d->fd >= 0)
		close(d->fd);
	if (d->backup_fd >= 0)
		close(d->backup_fd);
	free(d->saved);
	memset(d, 0, sizeof(*d));
	d->fd = d->backup_fd = -1;
}
