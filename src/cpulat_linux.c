/* cpulat_linux.c - see cpulat.h. */
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

#include "log.h"

#define CPULAT_DEV "/dev/cpu_dma_latency"
/* What the kernel takes as "no constraint" (its default value). */
#define CPULAT_NONE 2000000000
/* The last-packet time is written at most this often: four threads
 * writing one cache line per batch would bounce it between the CPUs. */
#define TOUCH_NS 100000ull

static struct {
	int fd; /* -1: nothing to do */
	int32_t max_us;
	uint64_t hold_ns; /* 0: held for the process's life */
	_Atomic uint64_t last_ns;
	atomic_bool held;
	atomic_bool broken; /* a write failed: the request is gone for good */
	pthread_mutex_t lock;
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
	int fd = open(CPULAT_DEV, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || put(fd, hold_ms == CPULAT_HOLD_ALWAYS ? max_us : CPULAT_NONE) != 0) {
		LOGW("msg=\"CpuLatency not applied; CPUs may sleep deeply\" error=\"%s %s: %s\"",
		     fd < 0 ? "open" : "write", CPULAT_DEV, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* fd stays open on purpose: closing it ends the request */
	q.max_us = max_us;
	if (hold_ms == CPULAT_HOLD_ALWAYS) {
		LOGI("msg=\"CpuLatency: CPUs kept in idle states they leave within this\" max_us=%d", max_us);
		return 0;
	}
	q.hold_ns = (uint64_t)hold_ms * 1000000u;
	q.fd = fd;
	LOGI("msg=\"CpuLatency: CPUs kept in idle states they leave within this while packets flow\" max_us=%d hold_ms=%u",
	     max_us, hold_ms);
	return 0;
}

/* Makes or withdraws the request. Rare (at most twice per idle spell),
 * so a lock: two threads must not write the descriptor out of order. */
static void set_held(bool on)
{
	pthread_mutex_lock(&q.lock);
	/* Another thread may have seen a packet since this one looked. */
	bool still = on || now_ns() - atomic_load(&q.last_ns) >= q.hold_ns;
	if (q.fd >= 0 && still && atomic_load(&q.held) != on) {
		if (put(q.fd, on ? q.max_us : CPULAT_NONE) == 0) {
			atomic_store(&q.held, on);
		} else {
			LOGW("msg=\"CpuLatency: cannot change the request; leaving it as it is\" error=\"write %s: %s\"",
			     CPULAT_DEV, strerror(errno));
			close(q.fd); /* ends the request too */
			q.fd = -1;
			atomic_store(&q.broken, true);
		}
	}
	pthread_mutex_unlock(&q.lock);
}

void cpulat_tick(size_t pkts)
{
	if (!q.hold_ns || atomic_load_explicit(&q.broken, memory_order_relaxed))
		return;
	uint64_t now = now_ns();
	uint64_t last = atomic_load_explicit(&q.last_ns, memory_order_relaxed);
	bool held = atomic_load_explicit(&q.held, memory_order_relaxed);
	if (pkts) {
		if (now - last >= TOUCH_NS)
			atomic_store_explicit(&q.last_ns, now, memory_order_relaxed);
		if (!held)
			set_held(true);
	} else if (held && now - last >= q.hold_ns) {
		set_held(false);
	}
}

int cpulat_wait_ms(int wait_ms)
{
	if (!wait_ms || !q.hold_ns || !atomic_load_explicit(&q.held, memory_order_relaxed))
		return wait_ms;
	uint64_t idle = now_ns() - atomic_load_explicit(&q.last_ns, memory_order_relaxed);
	if (idle >= q.hold_ns)
		return 0;
	uint64_t left_ms = (q.hold_ns - idle + 999999) / 1000000;
	return left_ms < (uint64_t)wait_ms ? (int)left_ms : wait_ms;
}
