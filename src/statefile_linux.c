/* statefile_linux.c - see statefile.h. */
#include "statefile.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"

static int read_all(int fd, struct sbuf *b)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return sbuf_failed(b) ? -1 : 0;
		if (b->len + (size_t)n > STATE_MAX_BYTES) {
			errno = EFBIG;
			return -1;
		}
		sbuf_putn(b, buf, (size_t)n);
	}
}

int statefile_load(const char *path, struct state_entry **e, size_t *n)
{
	struct sbuf b;
	char err[160];
	*e = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		LOGW("msg=\"state file ignored: cannot read it; pool addresses start afresh\" path=%s error=\"%s\"", path,
		     fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sbuf_init(&b);
	int rc = read_all(fd, &b);
	close(fd);
	if (rc != 0) {
		LOGW("msg=\"state file ignored: cannot read it; pool addresses start afresh\" path=%s error=\"%s\"", path,
		     strerror(errno));
	} else if ((rc = state_parse(b.s ? b.s : "", b.len, e, n, err, sizeof(err))) != 0) {
		LOGW("msg=\"state file ignored: damaged; pool addresses start afresh\" path=%s error=\"%s\"", path, err);
	}
	sbuf_free(&b);
	return rc;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The file's directory, made (0700) if it is missing; its fd for fsync. */
static int open_dir(const char *path)
{
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", path);
	const char *dir = dirname(copy);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int statefile_save(const char *path, const struct state_entry *e, size_t n)
{
	char tmp[600];
	struct sbuf b;
	int dfd = -1, fd = -1, rc = -1;
	bool created = false;
	const char *what = "render";
	sbuf_init(&b);
	state_render(e, n, &b);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (sbuf_failed(&b))
		goto out;
	what = "directory";
	if ((dfd = open_dir(path)) < 0)
		goto out;
	what = "create";
	/* A save cut short (killed, power lost) leaves its temp file; with a
	 * fixed pid (PID 1 in a container) every later save would meet it.
	 * Whoever may write in the state file's directory may replace the
	 * file itself anyway; unlink removes a link, not what it points to. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		goto out;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		goto out;
	created = true;
	what = "write";
	if (write_all(fd, b.s, b.len) != 0)
		goto out;
	what = "fsync";
	if (fsync(fd) != 0)
		goto out;
	what = "close";
	int cfd = fd;
	fd = -1;
	if (close(cfd) != 0)
		goto out;
	what = "rename";
	if (rename(tmp, path) != 0)
		goto out;
	/* The rename itself must reach the disk too. */
	what = "fsync of the directory";
	rc = fsync(dfd);
out:
	if (rc != 0) {
		LOGW("msg=\"cannot save the state file: pool addresses may change at the next start\" path=%s step=\"%s\" error=\"%s\"",
		     path, what, sbuf_failed(&b) ? "out of memory" : strerror(errno));
		if (fd >= 0)
			close(fd);
		if (created)
			unlink(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	sbuf_free(&b);
	return rc;
}
