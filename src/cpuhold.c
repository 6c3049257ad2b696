/* cpuhold.c - see cpuhold.h. */
#include "cpuhold.h"

#include <limits.h>

void cpuhold_init(struct cpuhold *h, uint64_t hold_ns)
{
	h->hold_ns = hold_ns;
	atomic_init(&h->last_ns, 0);
	atomic_init(&h->window_start_ns, 0);
	atomic_init(&h->window_pkts, 0);
	atomic_init(&h->busy, false);
	atomic_init(&h->held, false);
}

/* Since the last packet. Signed: another thread may have recorded a
 * packet a moment after the caller read the clock. */
static int64_t quiet_ns(const struct cpuhold *h, uint64_t now)
{
	return (int64_t)(now - atomic_load_explicit(&h->last_ns, memory_order_relaxed));
}

static bool held(const struct cpuhold *h)
{
	return atomic_load_explicit(&h->held, memory_order_relaxed);
}

static bool busy(const struct cpuhold *h)
{
	return atomic_load_explicit(&h->busy, memory_order_relaxed);
}

/* Ends the window when it is over; one thread does, the others go on. */
static void roll_window(struct cpuhold *h, uint64_t now)
{
	uint64_t start = atomic_load_explicit(&h->window_start_ns, memory_order_relaxed);
	uint64_t len = now - start;
	if ((int64_t)len < (int64_t)CPUHOLD_WINDOW_NS)
		return;
	if (!atomic_compare_exchange_strong(&h->window_start_ns, &start, now))
		return;
	uint64_t pkts = atomic_exchange(&h->window_pkts, 0);
	/* pkts / len >= BUSY_PPS / 1 s, without dividing (len is at least the
	 * window, pkts a few million at most: no overflow) */
	atomic_store(&h->busy, pkts * 1000000000ull >= (uint64_t)CPUHOLD_BUSY_PPS * len);
}

bool cpuhold_expired(const struct cpuhold *h, uint64_t now)
{
	return busy(h) || quiet_ns(h, now) >= (int64_t)h->hold_ns;
}

enum cpuhold_act cpuhold_tick(struct cpuhold *h, size_t pkts, uint64_t now)
{
	if (pkts) {
		atomic_fetch_add_explicit(&h->window_pkts, pkts, memory_order_relaxed);
		if (quiet_ns(h, now) >= (int64_t)CPUHOLD_TOUCH_NS)
			atomic_store_explicit(&h->last_ns, now, memory_order_relaxed);
	}
	roll_window(h, now);
	if (held(h))
		return cpuhold_expired(h, now) ? CPUHOLD_WITHDRAW : CPUHOLD_NONE;
	return pkts && !busy(h) ? CPUHOLD_MAKE : CPUHOLD_NONE;
}

void cpuhold_set(struct cpuhold *h, bool on)
{
	atomic_store(&h->held, on);
}

int cpuhold_wait_us(const struct cpuhold *h, int wait_us, uint64_t now)
{
	if (wait_us == 0 || !held(h))
		return wait_us;
	int64_t left = (int64_t)h->hold_ns - quiet_ns(h, now);
	if (left <= 0)
		return 0; /* due now: look once more without sleeping, then withdraw */
	uint64_t left_us = ((uint64_t)left + 999) / 1000;
	uint64_t want = wait_us < 0 ? (uint64_t)INT_MAX : (uint64_t)wait_us;
	return (int)(left_us < want ? left_us : want);
}
