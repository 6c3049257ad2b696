/* cpuhold.h - when CpuLatency's request (cpulat.h) should be held: while
 * packets come, but not many, and until none came for the hold time.
 *
 * Why a hold: the request pays off only if it is in place before the next
 * packet comes, so it has to outlast the gaps between packets (a hold
 * shorter than them was measured to buy nothing). Why not for ever: an
 * idle gateway's CPUs should sleep. Why not under load: the CPUs are busy
 * then and gain little (a few per cent of throughput in the lab), while a
 * machine whose idle CPUs poll may be a VM its host deschedules more (a
 * guess: single pings of 4-28 ms under load came mostly with the request
 * held). So at CPUHOLD_BUSY_PPS packets a second or more, counted over
 * CPUHOLD_WINDOW_NS, the request is withdrawn until the rate falls.
 *
 * Plain C: the clock and the counts come from the caller. The data
 * threads share one; the fields they race on are atomic, and the caller
 * serialises making and withdrawing. */
#ifndef VPNGW_CPUHOLD_H
#define VPNGW_CPUHOLD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The last-packet time is written at most this often: several threads
 * writing one cache line per batch would bounce it between the CPUs. So
 * the hold may end up to this much early. */
#define CPUHOLD_TOUCH_NS 100000ull /* 100 us */
#define CPUHOLD_WINDOW_NS 100000000ull /* 100 ms */
/* About 110 Mbit/s of full-sized packets; a call, a game or a shell is far
 * below, a bulk transfer far above. */
#define CPUHOLD_BUSY_PPS 10000u

struct cpuhold {
	uint64_t hold_ns;
	_Atomic uint64_t last_ns;      /* the last packet, within CPUHOLD_TOUCH_NS */
	_Atomic uint64_t window_start_ns;
	_Atomic uint64_t window_pkts;
	atomic_bool busy;              /* the last window's rate was CPUHOLD_BUSY_PPS or more */
	atomic_bool held;
};

enum cpuhold_act {
	CPUHOLD_NONE,
	CPUHOLD_MAKE,     /* packets came, not many, and the request is not held */
	CPUHOLD_WITHDRAW, /* held, and no packet for the hold time, or many */
};

void cpuhold_init(struct cpuhold *h, uint64_t hold_ns);

/* Once per loop of a data thread, with the packets it handled in it. */
enum cpuhold_act cpuhold_tick(struct cpuhold *h, size_t pkts, uint64_t now);

/* Whether the request should go now: to check again just before
 * withdrawing, since another thread may have seen a packet meanwhile. */
bool cpuhold_expired(const struct cpuhold *h, uint64_t now);

/* Records that the request was made (true) or withdrawn (false). */
void cpuhold_set(struct cpuhold *h, bool held);

/* How long a data thread that would sleep wait_us microseconds (0: not at
 * all, -1: for ever) may sleep: while the request is held, no longer than
 * its hold has left, so that a thread wakes to withdraw it on time. */
int cpuhold_wait_us(const struct cpuhold *h, int wait_us, uint64_t now);

#endif
