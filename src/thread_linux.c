/* thread_linux.c - scheduling policy and slice of the calling thread. */
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "rtgate.h"

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

/* The process's data threads decide together (rtgate.h): they count what
 * they handle, and whichever first sees a window end gives the verdict. */
static struct {
	atomic_uint rt_prio, slice_us; /* set alike by every data thread */
	atomic_uint_fast64_t pkts;
	_Atomic uint64_t window_start_ns;
	atomic_bool hot; /* the verdict: real-time */
	atomic_bool refused;
	pthread_mutex_t lock; /* the verdict's state below */
	struct rtgate g;
	uint64_t sleeps; /* the process's voluntary switches at the last verdict */
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local bool thread_rt; /* the calling thread runs SCHED_FIFO */

/* Every sleep of a data thread in poll is a voluntary switch; the other
 * threads add a few a second. */
static uint64_t process_sleeps(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_nvcsw;
}

int thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name)
{
	int rc = pthread_create(th, NULL, fn, arg);
	if (rc != 0) {
		LOGE("msg=\"cannot start a thread\" thread=%s error=\"%s\"", name, strerror(rc));
		return -1;
	}
	/* Only a name: a failure costs nothing but the name. */
	(void)pthread_setname_np(*th, name);
	return 0;
}

static void gate_open(unsigned rt_prio, int r, int err, const char *who);
static void go_realtime(void);

void thread_data_start(unsigned rt_prio, unsigned slice_us, const char *who)
{
	static atomic_bool logged;
	atomic_store(&gate.rt_prio, rt_prio);
	atomic_store(&gate.slice_us, slice_us);
	/* The slice matters whenever the gate makes this a normal thread. */
	int r = thread_set_slice(slice_us);
	int err = errno;
	if (!atomic_exchange(&logged, true))
		gate_open(rt_prio, r, err, who);
	if (rt_prio && atomic_load(&gate.hot))
		go_realtime();
}

/* The first data thread sets the gate up and says how they run. */
static void gate_open(unsigned rt_prio, int r, int err, const char *who)
{
	atomic_store(&gate.window_start_ns, now_ns());
	gate.sleeps = process_sleeps();
	atomic_store(&gate.hot, rt_prio != 0);
	if (rt_prio)
		LOGI("msg=\"data threads run real-time, as normal threads while packets come one at a time\" RealtimePriority=%u policy=fifo",
		     rt_prio);
	else
		LOGI("msg=\"data threads run as normal threads\" RealtimePriority=off");
	log_slice(r, err, atomic_load(&gate.slice_us), who);
}

static void verdict(uint64_t now)
{
	if (pthread_mutex_trylock(&gate.lock) != 0)
		return; /* the other data thread is giving it */
	uint64_t start = atomic_load(&gate.window_start_ns);
	if (now - start >= RTGATE_WINDOW_NS) {
		uint64_t sleeps = process_sleeps();
		uint64_t pkts = atomic_exchange(&gate.pkts, 0);
		bool hot = rtgate_window(&gate.g, pkts, sleeps - gate.sleeps, now - start, now);
		gate.sleeps = sleeps;
		atomic_store(&gate.window_start_ns, now);
		atomic_store(&gate.hot, hot);
	}
	pthread_mutex_unlock(&gate.lock);
}

static void go_realtime(void)
{
	unsigned prio = atomic_load(&gate.rt_prio);
	if (set_fifo(prio) == 0) {
		thread_rt = true;
		return;
	}
	int err = errno;
	if (!atomic_exchange(&gate.refused, true))
		LOGW("msg=\"cannot give the data threads real-time priority; they stay normal threads\" RealtimePriority=%u error=\"%s\"",
		     prio, strerror(err));
}

static void go_normal(void)
{
	static atomic_bool warned;
	struct sched_param sp = { .sched_priority = 0 };
	/* Lowering is always allowed; should it fail, say so once and let
	 * the thread stay real-time rather than retry every loop. */
	if (sched_setscheduler(0, SCHED_OTHER, &sp) != 0) {
		if (!atomic_exchange(&warned, true))
			LOGW("msg=\"cannot make a data thread a normal one again\" error=\"%s\"", strerror(errno));
		atomic_store(&gate.refused, true);
		return;
	}
	thread_rt = false;
	(void)thread_set_slice(atomic_load(&gate.slice_us));
}

void thread_data_tick(size_t pkts)
{
	if (!atomic_load_explicit(&gate.rt_prio, memory_order_relaxed) ||
	    atomic_load_explicit(&gate.refused, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&gate.pkts, pkts, memory_order_relaxed);
	uint64_t now = now_ns();
	if (now - atomic_load_explicit(&gate.window_start_ns, memory_order_relaxed) >= RTGATE_WINDOW_NS)
		verdict(now);
	bool hot = atomic_load_explicit(&gate.hot, memory_order_relaxed);
	if (hot && !thread_rt)
		go_realtime();
	else if (!hot && thread_rt)
		go_normal();
}
