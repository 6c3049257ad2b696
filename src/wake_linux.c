/* wake_linux.c - an eventfd. */
#include "wake.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

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
