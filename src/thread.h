/* thread.h - how the kernel schedules the calling thread.
 *
 * On a busy machine a packet often waits not in a queue of ours but for
 * one of our threads to get a CPU. Linux (6.12 and later) lets a thread ask
 * for a shorter time slice: it is then picked sooner when it wakes, at the
 * price of more frequent switches. The data threads ask for one. */
#ifndef VPNGW_THREAD_H
#define VPNGW_THREAD_H

#define THREAD_SLICE_DEFAULT_US 100 /* the kernel's shortest */
#define THREAD_SLICE_MIN_US 100
#define THREAD_SLICE_MAX_US 100000

/* Sets the calling thread's slice, keeping its policy and nice value.
 * Returns 1 when the kernel applied it, 0 when it accepted the call but
 * kept its default (kernels before 6.12), -1 with errno on failure.
 * slice_us 0 leaves the thread alone and returns 1. */
int thread_set_slice(unsigned slice_us);

/* thread_set_slice, logging the outcome once per process (the first data
 * thread to start reports for all of them). */
void thread_set_slice_logged(unsigned slice_us, const char *who);

#endif
