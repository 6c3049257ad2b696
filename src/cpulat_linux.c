/* cpulat_linux.c - see cpulat.h. */
#include "cpulat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define CPULAT_DEV "/dev/cpu_dma_latency"

static int hold(int max_us, char *err, size_t errlen)
{
	int fd = open(CPULAT_DEV, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "open %s: %s", CPULAT_DEV, strerror(errno));
		return -1;
	}
	/* The kernel takes a binary 32-bit value (a string would do too). */
	int32_t v = max_us;
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		snprintf(err, errlen, "write %s: %s", CPULAT_DEV, strerror(errno));
		close(fd);
		return -1;
	}
	return 0; /* fd stays open on purpose: closing it ends the request */
}

int cpulat_apply(int max_us)
{
	char err[160];
	if (max_us == CPULAT_OFF)
		return 0;
	if (hold(max_us, err, sizeof(err)) != 0) {
		LOGW("msg=\"CpuLatency not applied; CPUs may sleep deeply\" error=\"%s\"", err);
		return -1;
	}
	LOGI("msg=\"CpuLatency: CPUs kept in idle states they leave within this\" max_us=%d", max_us);
	return 0;
}
