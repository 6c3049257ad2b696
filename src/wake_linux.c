/* wake_linux.c - an eventfd. */
#include "wake.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int poll_us(struct pollfd *pfd, nfds_t n, int timeout_us)
{
	if (timeout_us < 0)
		return ppoll(pfd, n, NULL, NULL);
	struct timespec t = { .tv_sec = timeout_us / 1000000, .tv_nsec = (long)(timeout_us % 1000000) * 1000 };
	return ppoll(pfd, n, &t, NULL);
}

int waker_init(struct waker *w)
{
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0) {
		die_msg("eventfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void waker_close(struct waker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void waker_signal(struct waker *w)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: already signalled. */
	ssize_t r = write(w->fd, &one, sizeof(one));
	(void)r;
}

void waker_clear(struct waker *w)
{
	uint64_t v;
	ssize_t r = read(w->fd, &v, sizeof(v));
	(void)r;
}
