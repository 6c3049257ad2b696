/* rtgate.h - when the data threads should not run real-time.
 *
 * Real-time priority (SCHED_FIFO) lets a data thread that wakes with
 * packets take a CPU at once and keep it until it sleeps again. That pays
 * when each wake-up brings a batch (a TCP transfer's super-packets, a full
 * socket) and when packets are few (a ping, a call). It costs when many
 * packets come one at a time: then each one makes its sender's CPU switch
 * to our thread and back, where a normal thread would have woken a little
 * later to several. Measured: iperf3 -u with 1300-byte datagrams at
 * 1 Gbit/s got 0.45 Gbit/s through real-time threads, with 19% loss, and
 * 0.91 through normal ones; 25,000 small packets a second took 2.7 times
 * the CPU.
 *
 * So the process looks, every RTGATE_WINDOW_NS, at what its data threads
 * did: at least RTGATE_BUSY_PPS packets with fewer than
 * RTGATE_MIN_PER_SLEEP per sleep is that costly pattern. Once it has
 * lasted RTGATE_SUSTAIN_WINDOWS windows in a row, the threads run as
 * normal threads for RTGATE_COOL_NS (renewed while it lasts); if it comes
 * back within RTGATE_RECENT_NS of their return to real-time, at once.
 * Otherwise they run real-time.
 *
 * Why not at the first costly window: a TCP transfer under BBR drains its
 * queue every 10 s (ProbeRTT: about four packets in flight for 200 ms),
 * and at this machine's round trip that is 20,000 packets a second, each
 * alone. Going normal for 2 s on each of those put a 40 s lab upload's
 * threads out of real-time three times (6 s in all), its pings at 0.48 ms
 * p50 and 2.3 ms p99 then, against 0.17 / 0.54 ms the rest of the time.
 *
 * Plain C: the clock and the counts come from the caller. */
#ifndef VPNGW_RTGATE_H
#define VPNGW_RTGATE_H

#include <stdbool.h>
#include <stdint.h>

#define RTGATE_WINDOW_NS 100000000ull /* 100 ms */
#define RTGATE_BUSY_PPS 20000u
#define RTGATE_MIN_PER_SLEEP 8u
#define RTGATE_COOL_NS 2000000000ull /* 2 s */
#define RTGATE_SUSTAIN_WINDOWS 5u    /* 500 ms: longer than a ProbeRTT */
#define RTGATE_RECENT_NS 10000000000ull /* 10 s */

struct rtgate {
	bool cold; /* normal threads until cold_until_ns */
	uint64_t cold_until_ns;
	unsigned streak;        /* costly windows in a row, up to RTGATE_SUSTAIN_WINDOWS */
	uint64_t warm_since_ns; /* when they last came back to real-time; 0: never left it */
};

/* One window's verdict: pkts handled and sleeps taken by the data threads
 * during the window_ns that ended at now. Returns whether they should run
 * real-time now. */
bool rtgate_window(struct rtgate *g, uint64_t pkts, uint64_t sleeps, uint64_t window_ns, uint64_t now);

#endif
