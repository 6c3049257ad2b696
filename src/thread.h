/* thread.h - how the kernel schedules the data threads.
 *
 * On a busy machine a packet often waits not in a queue of ours but for
 * one of our threads to get a CPU. So the data threads ask to run ahead of
 * ordinary processes, as the kernel's own packet processing (softirq) does:
 * real-time (SCHED_FIFO) at a low priority. They block whenever they have
 * no work, so they take only the CPU their packets need; the kernel's
 * real-time throttling and its fair server keep a share for everything
 * else if they ever do not. Where real-time is off or not allowed, a data
 * thread stays a normal one and asks for a short time slice instead
 * (Linux 6.12 and later): it is then picked sooner when it wakes. */
#ifndef VPNGW_THREAD_H
#define VPNGW_THREAD_H

#define THREAD_SLICE_DEFAULT_US 100 /* the kernel's shortest */
#define THREAD_SLICE_MIN_US 100
#define THREAD_SLICE_MAX_US 100000

/* Low: above every normal process, below the kernel's interrupt threads
 * (50) and what audio servers ask for. */
#define THREAD_RT_PRIO_DEFAULT 10
#define THREAD_RT_PRIO_MAX 99

/* Lets this process keep giving its threads real-time priority up to prio
 * after it drops root (`User =`): raises RLIMIT_RTPRIO, which a process
 * without CAP_SYS_NICE needs for that. Call while still root. Returns 0,
 * or -1 with errno (the data threads then say what they got). */
int thread_allow_realtime(unsigned prio);

/* Schedules the calling data thread: SCHED_FIFO at rt_prio (0 = never),
 * else a normal thread with slice_us (0 = the kernel's default). The first
 * data thread of the process logs what it got; a refusal is a warning, not
 * an error. */
void thread_setup_data(unsigned rt_prio, unsigned slice_us, const char *who);

/* Sets the calling thread's slice, keeping its policy and nice value.
 * Returns 1 when the kernel applied it, 0 when it accepted the call but
 * kept its default (kernels before 6.12) or the thread is not a normal
 * one, -1 with errno on failure. slice_us 0 leaves the thread alone and
 * returns 1. */
int thread_set_slice(unsigned slice_us);

#endif
