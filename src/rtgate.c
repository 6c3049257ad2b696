/* rtgate.c - when the data threads should run real-time (rtgate.h). */
#include "rtgate.h"

bool rtgate_window(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t window_ns, uint64_t now)
{
	if (window_ns == 0)
		return g->hot;
	uint64_t pps = pkts * 1000000000ull / window_ns;
	uint64_t per_sleep = pkts / (sleeps ? sleeps : 1);
	if (g->hot) {
		if (pps < RTGATE_MIN_PPS / 2) {
			g->hot = false; /* the load went away */
		} else if (per_sleep < RTGATE_OFF_PER_SLEEP) {
			g->hot = false; /* real-time is waking us per packet */
			g->cool_until_ns = now + RTGATE_COOL_NS;
		}
		return g->hot;
	}
	if (now >= g->cool_until_ns && pps >= RTGATE_MIN_PPS && per_sleep >= RTGATE_ON_PER_SLEEP)
		g->hot = true;
	return g->hot;
}
