/* thread_linux.c - scheduling policy and slice of the calling thread. */
#include "thread.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* The kernel's struct sched_attr (first version, 56 bytes). glibc 2.36 has
 * no wrapper, and <linux/sched/types.h> clashes with <sched.h>. */
struct sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime; /* for SCHED_OTHER/BATCH: the slice, ns */
	uint64_t sched_deadline;
	uint64_t sched_period;
	uint32_t sched_util_min;
	uint32_t sched_util_max;
};

int thread_set_slice(unsigned slice_us)
{
	if (slice_us == 0)
		return 1;
	struct sched_attr attr;
	memset(&attr, 0, sizeof(attr));
	if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) != 0)
		return -1;
	/* Real-time or deadline threads were put there by an administrator;
	 * a slice means nothing to them. */
	if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH)
		return 0;
	attr.size = sizeof(attr);
	attr.sched_flags = 0;
	attr.sched_runtime = (uint64_t)slice_us * 1000;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
		return -1;
	/* Older kernels ignore sched_runtime for these policies; the value
	 * read back tells which kind we run on. */
	struct sched_attr got;
	memset(&got, 0, sizeof(got));
	if (syscall(SYS_sched_getattr, 0, &got, sizeof(got), 0) != 0)
		return -1;
	return got.sched_runtime == attr.sched_runtime;
}

int thread_allow_realtime(unsigned prio)
{
	struct rlimit rl;
	if (prio == 0)
		return 0;
	if (getrlimit(RLIMIT_RTPRIO, &rl) != 0)
		return -1;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= prio)
		return 0;
	rl.rlim_cur = prio;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < prio)
		rl.rlim_max = prio; /* needs CAP_SYS_RESOURCE */
	return setrlimit(RLIMIT_RTPRIO, &rl);
}

static int set_fifo(unsigned prio)
{
	struct sched_param sp = { .sched_priority = (int)prio };
	/* sched_setscheduler sets the calling thread's policy on Linux
	 * (pid 0 is the thread, not the process). */
	return sched_setscheduler(0, SCHED_FIFO, &sp);
}

static void log_slice(int r, int err, unsigned slice_us, const char *who)
{
	if (slice_us == 0)
		LOGI("msg=\"data threads keep the kernel's default time slice\" SchedSlice=off");
	else if (r == 1)
		LOGI("msg=\"data threads ask for a short time slice\" SchedSlice=%u thread=%s", slice_us, who);
	else if (r == 0)
		LOGW("msg=\"kernel keeps its default time slice for the data threads (custom slices need Linux 6.12)\" SchedSlice=%u",
		     slice_us);
	else
		LOGW("msg=\"cannot set the data threads' time slice\" SchedSlice=%u error=\"%s\"", slice_us,
		     strerror(err));
}

void thread_setup_data(unsigned rt_prio, unsigned slice_us, const char *who)
{
	static atomic_bool logged;
	if (rt_prio && set_fifo(rt_prio) == 0) {
		if (!atomic_exchange(&logged, true))
			LOGI("msg=\"data threads run at real-time priority\" RealtimePriority=%u policy=fifo thread=%s",
			     rt_prio, who);
		return;
	}
	int rt_err = errno;
	int r = thread_set_slice(slice_us);
	int err = errno;
	if (atomic_exchange(&logged, true))
		return;
	if (rt_prio)
		LOGW("msg=\"cannot give the data threads real-time priority; they run as normal threads\" RealtimePriority=%u error=\"%s\"",
		     rt_prio, strerror(rt_err));
	else
		LOGI("msg=\"data threads run as normal threads\" RealtimePriority=off");
	log_slice(r, err, slice_us, who);
}
