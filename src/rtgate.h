/* rtgate.h - when the data threads should run real-time.
 *
 * Real-time priority (SCHED_FIFO) lets a data thread that wakes with
 * packets take a CPU at once and keep it until it sleeps again. That pays
 * when each wake-up brings a batch: a TCP transfer's super-packets, a full
 * socket. It costs when packets come one at a time: then each one makes
 * its sender's CPU switch to us and back, where a normal thread would have
 * woken a little later to several. (Measured: iperf3 -u with 1300-byte
 * datagrams at 1 Gbit/s got 0.45 Gbit/s through real-time threads with
 * 19% loss, 0.91 through normal ones; a TCP stream got 5.0 -> 6.0.)
 *
 * So the process decides every RTGATE_WINDOW_NS from what its data
 * threads did in it: real-time while they move at least RTGATE_MIN_PPS and
 * each of their sleeps is followed by at least RTGATE_ON_PER_SLEEP packets
 * on average; back to normal when the rate halves or the batches shrink
 * below RTGATE_OFF_PER_SLEEP. Batches that shrink under real-time are the
 * costly case, so the gate then stays shut for RTGATE_COOL_NS. Plain C:
 * the clock and the counts come from the caller. */
#ifndef VPNGW_RTGATE_H
#define VPNGW_RTGATE_H

#include <stdbool.h>
#include <stdint.h>

#define RTGATE_WINDOW_NS 100000000ull /* 100 ms */
#define RTGATE_MIN_PPS 20000u
#define RTGATE_ON_PER_SLEEP 32u
#define RTGATE_OFF_PER_SLEEP 8u
#define RTGATE_COOL_NS 2000000000ull /* 2 s */

struct rtgate {
	bool hot;
	uint64_t cool_until_ns;
};

/* One window's verdict: pkts handled and sleeps taken by the data threads
 * during the window_ns that ended at now. Returns whether they should run
 * real-time now. */
bool rtgate_window(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t window_ns, uint64_t now);

#endif
