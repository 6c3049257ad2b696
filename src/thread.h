/* thread.h - how the kernel schedules the data threads.
 *
 * On a busy machine a packet often waits not in a queue of ours but for
 * one of our threads to get a CPU. So the data threads run real-time
 * (SCHED_FIFO) at a low priority, ahead of ordinary processes, as the
 * kernel's own packet processing (softirq) does, except while many packets
 * come one at a time, which makes real-time costly (rtgate.h). Then they
 * are normal threads that ask for a short time slice (Linux 6.12 and
 * later), so that they are picked sooner when they wake. They block
 * whenever they have no work; the kernel's real-time throttling keeps a
 * share of each CPU for everything else if they ever do not. */
#ifndef VPNGW_THREAD_H
#define VPNGW_THREAD_H

#include <pthread.h>
#include <stddef.h>

#define THREAD_SLICE_DEFAULT_US 100 /* the kernel's shortest */
#define THREAD_SLICE_MIN_US 100
#define THREAD_SLICE_MAX_US 100000

/* Low: above every normal process, below the kernel's interrupt threads
 * (50) and what audio servers ask for. */
#define THREAD_RT_PRIO_DEFAULT 10
#define THREAD_RT_PRIO_MAX 99

/* A data thread with nothing to do wakes this often, in microseconds, to
 * see whether it should stop and to run its once-a-loop checks
 * (thread_data_tick, cpulat_tick). */
#define THREAD_IDLE_WAIT_US 100000

/* Starts fn(arg) in a new thread named name (at most 15 characters: what
 * top -H, ps -L and perf show for it). 0, or -1 after logging why (the
 * name, and the error). */
int thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name);

/* Lets this process keep giving its threads real-time priority up to prio
 * after it drops root (`User =`): raises RLIMIT_RTPRIO, which a process
 * without CAP_SYS_NICE needs for that. Call while still root. Returns 0,
 * or -1 with errno (the data threads then say what they got). */
int thread_allow_realtime(unsigned prio);

/* Starts the calling data thread: real-time at rt_prio (0 = never), else
 * a normal thread with slice_us (0 = the kernel's default). The first data
 * thread of the process logs the setup. */
void thread_data_start(unsigned rt_prio, unsigned slice_us, const char *who);

/* Once per loop of a data thread, with the packets it handled in it: counts
 * them for the process's verdict (rtgate.h), and moves the calling thread
 * to normal or back to real-time when the verdict changed. A refusal by the kernel
 * is logged once and ends real-time for the process. */
void thread_data_tick(size_t pkts);

/* Sets the calling thread's slice, keeping its policy and nice value.
 * Returns 1 when the kernel applied it, 0 when it accepted the call but
 * kept its default (kernels before 6.12) or the thread is not a normal
 * one, -1 with errno on failure. slice_us 0 leaves the thread alone and
 * returns 1. */
int thread_set_slice(unsigned slice_us);

#endif
