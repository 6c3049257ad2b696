/* wake.h - lets one thread wake another that sleeps in a poll on its own
 * file descriptor (the gateway's sending thread sleeps on its TUN). */
#ifndef VPNGW_WAKE_H
#define VPNGW_WAKE_H

struct waker {
	int fd;
};

int waker_init(struct waker *w);
void waker_close(struct waker *w);
void waker_signal(struct waker *w);
/* Consumes pending signals (after a poll saw the fd readable). */
void waker_clear(struct waker *w);

#endif
