/* cpuhold.c - see cpuhold.h. */
#include "cpuhold.h"

void cpuhold_init(struct cpuhold *h, uint64_t hold_ns)
{
	h->hold_ns = hold_ns;
	atomic_init(&h->last_ns, 0);
	atomic_init(&h->held, false);
}

static uint64_t last(const struct cpuhold *h)
{
	return atomic_load_explicit(&h->last_ns, memory_order_relaxed);
}

static bool held(const struct cpuhold *h)
{
	return atomic_load_explicit(&h->held, memory_order_relaxed);
}

bool cpuhold_expired(const struct cpuhold *h, uint64_t now)
{
	return now - last(h) >= h->hold_ns;
}

enum cpuhold_act cpuhold_tick(struct cpuhold *h, size_t pkts, uint64_t now)
{
	if (pkts) {
		if (now - last(h) >= CPUHOLD_TOUCH_NS)
			atomic_store_explicit(&h->last_ns, now, memory_order_relaxed);
		return held(h) ? CPUHOLD_NONE : CPUHOLD_MAKE;
	}
	return held(h) && cpuhold_expired(h, now) ? CPUHOLD_WITHDRAW : CPUHOLD_NONE;
}

void cpuhold_set(struct cpuhold *h, bool on)
{
	atomic_store(&h->held, on);
}

int cpuhold_wait_ms(const struct cpuhold *h, int wait_ms, uint64_t now)
{
	if (wait_ms <= 0 || !held(h))
		return wait_ms;
	uint64_t idle = now - last(h);
	if (idle >= h->hold_ns)
		return 0; /* due now: look once more without sleeping, then withdraw */
	uint64_t left_ms = (h->hold_ns - idle + 999999) / 1000000;
	return left_ms < (uint64_t)wait_ms ? (int)left_ms : wait_ms;
}
