/* rtgate.c - when the data threads should not run real-time (rtgate.h). */
#include "rtgate.h"

bool rtgate_window(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t window_ns, uint64_t now)
{
	if (window_ns == 0)
		return !g->cold;
	uint64_t pps = pkts * 1000000000ull / window_ns;
	uint64_t per_sleep = pkts / (sleeps ? sleeps : 1);
	if (pps >= RTGATE_BUSY_PPS && per_sleep < RTGATE_MIN_PER_SLEEP) {
		g->cold = true;
		g->cold_until_ns = now + RTGATE_COOL_NS;
	} else if (g->cold && now >= g->cold_until_ns) {
		g->cold = false;
	}
	return !g->cold;
}
