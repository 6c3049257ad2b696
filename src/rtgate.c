/* rtgate.c - when the data threads should not run real-time (rtgate.h). */
#include "rtgate.h"

static bool costly(uint64_t pkts, uint64_t sleeps, uint64_t window_ns)
{
	uint64_t pps = pkts * 1000000000ull / window_ns;
	uint64_t per_sleep = pkts / (sleeps ? sleeps : 1);
	return pps >= RTGATE_BUSY_PPS && per_sleep < RTGATE_MIN_PER_SLEEP;
}

bool rtgate_window(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t window_ns, uint64_t now)
{
	if (window_ns == 0)
		return !g->cold;
	if (!costly(pkts, sleeps, window_ns)) {
		g->streak = 0;
		if (g->cold && now >= g->cold_until_ns) {
			g->cold = false;
			g->warm_since_ns = now;
		}
		return !g->cold;
	}
	if (g->streak < RTGATE_SUSTAIN_WINDOWS)
		g->streak++;
	/* A pattern that came back soon after the last cool-down is the
	 * same one still going: no need to prove it again. */
	bool recent = g->warm_since_ns && now - g->warm_since_ns < RTGATE_RECENT_NS;
	if (g->cold || recent || g->streak >= RTGATE_SUSTAIN_WINDOWS) {
		g->cold = true;
		g->cold_until_ns = now + RTGATE_COOL_NS;
	}
	return !g->cold;
}
