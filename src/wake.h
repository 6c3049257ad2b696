/* wake.h - lets one thread wake another that sleeps in a poll on its own
 * file descriptor (the gateway's sending thread sleeps on its TUN), and the
 * poll the data threads sleep in. */
#ifndef VPNGW_WAKE_H
#define VPNGW_WAKE_H

#include <poll.h>

struct waker {
	int fd;
};

int waker_init(struct waker *w);
void waker_close(struct waker *w);
void waker_signal(struct waker *w);
/* Consumes pending signals (after a poll saw the fd readable). */
void waker_clear(struct waker *w);

/* poll() with a timeout in microseconds (-1: for ever). A pacer's next
 * send is tens of microseconds away; rounded up to poll()'s millisecond
 * it came up to a millisecond late, and a ping waited that long. */
int poll_us(struct pollfd *pfd, nfds_t n, int timeout_us);

#endif
