/* bench/stallwatch.c - when this machine's CPUs stopped running threads.
 *
 * On a virtual machine the host may deschedule a vCPU, or wake a halted one
 * late, for milliseconds at a time ("steal"; /proc/stat counts it only in
 * 10 ms units). Every thread on that vCPU stops, whatever its priority: a
 * ping that crosses it waits too. To tell such stalls from a tunnel's own
 * delays, one SCHED_FIFO thread per CPU, pinned to it, sleeps PERIOD_US at
 * a time and notes each wake-up that came more than MIN_US late. Real-time
 * priority 50 runs ahead of every normal thread and of vpngw's data threads
 * (priority 10), so lateness means the CPU was not running threads at all:
 * taken by the host, or by interrupt work in the guest's kernel (network
 * softirqs run up to about 2 ms at a time there, net.core.netdev_budget_usecs).
 *
 *   stallwatch SECONDS PERIOD_US MIN_US OUT
 *
 * SIGTERM ends the watch early (within a period), OUT written all the
 * same, so a caller can watch exactly as long as what it measures takes.
 *
 * OUT gets one line per late wake-up, in time order: the wall-clock time
 * the stall ended (seconds, as `ping -D` prints) and how late the wake-up
 * was in microseconds (about the stall's length). Not which CPU: a ping
 * crosses both.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 64
#define MAX_EVENTS 20000 /* per CPU: 20 s of a stall every millisecond */
#define PRIORITY 50

struct event {
	double end_s;
	uint32_t late_us;
};

struct watcher {
	pthread_t thread;
	int cpu;
	int err; /* errno of a failed setup step, 0 when it ran */
	const char *step;
	size_t n;
	struct event ev[MAX_EVENTS];
};

static uint64_t seconds_ns, period_ns, min_ns;
static atomic_int stop_now; /* set by SIGTERM; lock-free, so safe in a handler */

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&stop_now, 1);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *watch(void *arg)
{
	struct watcher *w = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	w->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (w->err) {
		w->step = "pin to its CPU";
		return NULL;
	}
	struct sched_param sp = { .sched_priority = PRIORITY };
	w->err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (w->err) {
		w->step = "take SCHED_FIFO";
		return NULL;
	}
	uint64_t end = now_ns(CLOCK_MONOTONIC) + seconds_ns;
	for (uint64_t t0 = now_ns(CLOCK_MONOTONIC); t0 < end && !atomic_load(&stop_now); t0 = now_ns(CLOCK_MONOTONIC)) {
		/* An absolute deadline: a signal that cuts the sleep short
		 * resumes it rather than passing for an early wake-up. */
		uint64_t due = t0 + period_ns;
		struct timespec at = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		uint64_t late = now > due ? now - due : 0;
		if (late <= min_ns || w->n == MAX_EVENTS)
			continue;
		w->ev[w->n++] = (struct event){ now_ns(CLOCK_REALTIME) / 1e9, (uint32_t)(late / 1000) };
	}
	return NULL;
}

static int by_time(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	return (x->end_s > y->end_s) - (x->end_s < y->end_s);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: stallwatch SECONDS PERIOD_US MIN_US OUT\n");
		return 2;
	}
	seconds_ns = (uint64_t)(atof(argv[1]) * 1e9);
	period_ns = strtoull(argv[2], NULL, 10) * 1000;
	min_ns = strtoull(argv[3], NULL, 10) * 1000;
	if (period_ns == 0 || seconds_ns == 0) {
		fprintf(stderr, "stallwatch: SECONDS and PERIOD_US must be positive\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0) {
		fprintf(stderr, "stallwatch: sigaction: %s\n", strerror(errno));
		return 1;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1 || ncpu > MAX_CPUS) {
		fprintf(stderr, "stallwatch: %ld CPUs online, can watch 1 to %d\n", ncpu, MAX_CPUS);
		return 1;
	}
	struct watcher *w = calloc((size_t)ncpu, sizeof(*w));
	struct event *all = calloc((size_t)ncpu * MAX_EVENTS, sizeof(*all));
	if (!w || !all) {
		fprintf(stderr, "stallwatch: out of memory\n");
		return 1;
	}
	int rc = 0;
	for (long i = 0; i < ncpu; i++) {
		w[i].cpu = (int)i;
		int e = pthread_create(&w[i].thread, NULL, watch, &w[i]);
		if (e) {
			fprintf(stderr, "stallwatch: start a thread: %s\n", strerror(e));
			return 1;
		}
	}
	size_t n = 0;
	for (long i = 0; i < ncpu; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].err) {
			fprintf(stderr, "stallwatch: CPU %d: %s: %s\n", w[i].cpu, w[i].step, strerror(w[i].err));
			rc = 1;
		}
		if (w[i].n == MAX_EVENTS)
			fprintf(stderr, "stallwatch: CPU %d: %d stalls, the later ones not recorded\n", w[i].cpu,
				MAX_EVENTS);
		for (size_t k = 0; k < w[i].n; k++)
			all[n++] = w[i].ev[k];
	}
	qsort(all, n, sizeof(*all), by_time);
	FILE *f = fopen(argv[4], "w");
	if (!f) {
		fprintf(stderr, "stallwatch: open %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	for (size_t k = 0; k < n; k++)
		fprintf(f, "%.4f %u\n", all[k].end_s, all[k].late_us);
	if (fclose(f) != 0) {
		fprintf(stderr, "stallwatch: write %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	free(all);
	free(w);
	return rc;
}
