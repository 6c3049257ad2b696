/* cpulat.h - CpuLatency =: while vpngw runs, a power-management QoS
 * request (/dev/cpu_dma_latency) that keeps every CPU of the machine in
 * idle states it can leave within max_us microseconds.
 *
 * Why: a packet on an idle tunnel crosses four of our threads, each asleep
 * on a CPU that has gone idle. Waking a CPU from a deep idle state (on a
 * virtual machine, a halted virtual CPU that its hypervisor must run
 * again) takes tens of microseconds, four times per round trip. The cost:
 * idle CPUs stay awake (at 0, they poll), which burns power and, on a
 * virtual machine, the host's CPU time. So it is off unless asked for. */
#ifndef VPNGW_CPULAT_H
#define VPNGW_CPULAT_H

#define CPULAT_OFF (-1)
#define CPULAT_MAX_US 100000

/* Makes the request (nothing for CPULAT_OFF) and holds it until the
 * process exits: the kernel withdraws it when the descriptor closes. Call
 * while still root, the device is root's. Logs what it did; a refusal is
 * a warning, not a reason to stop the tunnel. Returns 0, or -1 when it
 * was refused. */
int cpulat_apply(int max_us);

#endif
