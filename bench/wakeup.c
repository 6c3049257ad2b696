/* bench/wakeup.c - how long this machine takes to run a thread that a
 * packet would wake: one thread writes an eventfd every SPACING_US, another
 * blocked in poll() stamps the time it returns. An idle ping through the
 * tunnel crosses four such hand-overs (README, "How it compares").
 *
 *   cc -O2 -pthread -o /tmp/wakeup bench/wakeup.c && /tmp/wakeup 10000
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 1000

static int efd;
static _Atomic uint64_t sent_ns;
static uint64_t lat_ns[ROUNDS];

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *waiter(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct pollfd p = { .fd = efd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1) {
			fprintf(stderr, "wakeup: no wake-up within 5 s\n");
			exit(1);
		}
		uint64_t t = now_ns(), v;
		if (read(efd, &v, sizeof(v)) != sizeof(v)) {
			perror("wakeup: read eventfd");
			exit(1);
		}
		lat_ns[i] = t - atomic_load(&sent_ns);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long spacing_us = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
	if (spacing_us < 1 || spacing_us > 1000000) {
		fprintf(stderr, "usage: wakeup [spacing in us, 1-1000000]\n");
		return 2;
	}
	efd = eventfd(0, 0);
	if (efd < 0) {
		perror("wakeup: eventfd");
		return 1;
	}
	pthread_t th;
	if (pthread_create(&th, NULL, waiter, NULL) != 0) {
		fprintf(stderr, "wakeup: cannot start a thread\n");
		return 1;
	}
	for (int i = 0; i < ROUNDS; i++) {
		usleep((useconds_t)spacing_us);
		uint64_t one = 1;
		atomic_store(&sent_ns, now_ns());
		if (write(efd, &one, sizeof(one)) != sizeof(one)) {
			perror("wakeup: write eventfd");
			return 1;
		}
	}
	pthread_join(th, NULL);
	qsort(lat_ns, ROUNDS, sizeof(lat_ns[0]), cmp);
	printf("wake-up after %ld us idle, %d rounds: p50 %.1f us, p90 %.1f us, p99 %.1f us\n", spacing_us, ROUNDS,
	       lat_ns[ROUNDS / 2] / 1e3, lat_ns[ROUNDS * 9 / 10] / 1e3, lat_ns[ROUNDS * 99 / 100] / 1e3);
	return 0;
}
