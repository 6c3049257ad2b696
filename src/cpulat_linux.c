/* cpulat_linux.c - see cpulat.h. When to hold the request is cpuhold.c's. */
#include "cpulat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpuhold.h"
#include "log.h"
#include "show.h"

#define CPULAT_DEV "/dev/cpu_dma_latency"
/* What the kernel takes as "no constraint" (its default value). */
#define CPULAT_NONE 2000000000

static struct {
	bool active;        /* held while packets flow; set before the data threads start */
	atomic_bool broken; /* a write failed: the request is gone for good */
	int fd;
	int32_t max_us;
	struct cpuhold hold;
	_Atomic uint64_t made;
	atomic_bool always_held;
	pthread_mutex_t lock; /* the descriptor's writes, in order */
} q = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* The kernel takes a binary 32-bit value (a string would do too); a new
 * value on the same descriptor replaces the request. */
static int put(int fd, int32_t v)
{
	return write(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : -1;
}

int cpulat_apply(int max_us, unsigned hold_ms)
{
	if (max_us == CPULAT_OFF)
		return 0;
	bool always = hold_ms == CPULAT_HOLD_ALWAYS;
	int fd = open(CPULAT_DEV, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* A kernel without PM QoS or a container without the device: a
		 * default nobody chose is not worth a warning at every start. */
		LOGI("msg=\"CpuLatency not applied: no %s\"", CPULAT_DEV);
		return -1;
	}
	if (fd < 0 || put(fd, always ? max_us : CPULAT_NONE) != 0) {
		LOGW("msg=\"CpuLatency not applied; CPUs may sleep deeply\" error=\"%s %s: %s\"",
		     fd < 0 ? "open" : "write", CPULAT_DEV, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* fd stays open on purpose: closing it ends the request */
	if (always) {
		atomic_store(&q.made, 1);
		atomic_store(&q.always_held, true);
		LOGI("msg=\"CpuLatency: CPUs kept in idle states they leave within this\" max_us=%d", max_us);
		return 0;
	}
	q.fd = fd;
	q.max_us = max_us;
	cpuhold_init(&q.hold, (uint64_t)hold_ms * 1000000u);
	q.active = true;
	LOGI("msg=\"CpuLatency: CPUs kept in idle states they leave within this while packets flow\" max_us=%d hold_ms=%u",
	     max_us, hold_ms);
	return 0;
}

/* Makes or withdraws the request. Rare (twice per busy spell), so a lock:
 * two threads must not write the descriptor out of order. */
static void set_held(bool on)
{
	pthread_mutex_lock(&q.lock);
	bool want = on || cpuhold_expired(&q.hold, now_ns());
	if (q.fd >= 0 && want && atomic_load(&q.hold.held) != on) {
		if (put(q.fd, on ? q.max_us : CPULAT_NONE) == 0) {
			cpuhold_set(&q.hold, on);
			if (on)
				atomic_fetch_add(&q.made, 1);
		} else {
			LOGW("msg=\"CpuLatency: cannot change the request; dropping it\" error=\"write %s: %s\"", CPULAT_DEV,
			     strerror(errno));
			close(q.fd); /* which withdraws it */
			q.fd = -1;
			cpuhold_set(&q.hold, false);
			atomic_store(&q.broken, true);
		}
	}
	pthread_mutex_unlock(&q.lock);
}

static bool in_use(void)
{
	return q.active && !atomic_load_explicit(&q.broken, memory_order_relaxed);
}

void cpulat_tick(size_t pkts)
{
	if (!in_use())
		return;
	switch (cpuhold_tick(&q.hold, pkts, now_ns())) {
	case CPUHOLD_MAKE:
		set_held(true);
		break;
	case CPUHOLD_WITHDRAW:
		set_held(false);
		break;
	case CPUHOLD_NONE:
		break;
	}
}

int cpulat_wait_us(int wait_us)
{
	if (!wait_us || !in_use())
		return wait_us;
	return cpuhold_wait_us(&q.hold, wait_us, now_ns());
}

void cpulat_read(uint64_t *made, bool *held)
{
	*made = atomic_load_explicit(&q.made, memory_order_relaxed);
	*held = atomic_load_explicit(&q.always_held, memory_order_relaxed) ||
		(q.active && atomic_load_explicit(&q.hold.held, memory_order_relaxed));
}

void cpulat_snap(struct snapshot *o)
{
	uint64_t made;
	bool held;
	cpulat_read(&made, &held);
	snap_total(o, "cpu_latency_requests", made, false);
	snap_total(o, "cpu_latency_held", held, true);
}
