/* cpulat.h - CpuLatency =: a power-management QoS request
 * (/dev/cpu_dma_latency) that keeps every CPU of the machine in idle states
 * it can leave within max_us microseconds, while clients' packets flow
 * (not many: cpuhold.h says when) or, if asked, for as long as vpngw runs.
 *
 * Why: a packet on an idle tunnel crosses four of our threads, each asleep
 * on a CPU that has gone idle. Waking a CPU from a deep idle state (on a
 * virtual machine, a halted virtual CPU that its hypervisor must run
 * again) takes tens of microseconds, four times per round trip. The cost:
 * idle CPUs stay awake (at 0, they poll), which burns power and, on a
 * virtual machine, the host's CPU time (and on a VM billed by CPU credit,
 * credits). Held only while light traffic flows, it costs nothing on an
 * idle tunnel or under load. */
#ifndef VPNGW_CPULAT_H
#define VPNGW_CPULAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPULAT_OFF (-1)
#define CPULAT_MAX_US 100000
/* On by default on a gateway, whose CPUs are there to carry its clients'
 * packets; off on a client, which is often a
 * laptop on battery. */
#define CPULAT_SERVER_DEFAULT 0
#define CPULAT_CLIENT_DEFAULT CPULAT_OFF

/* CpuLatencyHold: how long after the last packet the request stays. */
#define CPULAT_HOLD_ALWAYS 0 /* for the process's life */
/* Longer than the gaps of interactive traffic (a 20 ms voice frame, a
 * 60 Hz game tick), so such a flow keeps the CPUs quick to wake; short
 * enough that an idle tunnel lets them sleep at once. */
#define CPULAT_HOLD_DEFAULT_MS 50
#define CPULAT_HOLD_MAX_MS 60000

/* Opens the request's descriptor (nothing for CPULAT_OFF): with hold_ms
 * CPULAT_HOLD_ALWAYS the request is made now and held until the process
 * exits (the kernel withdraws it when the descriptor closes); otherwise
 * cpulat_tick makes and withdraws it. Call while still root, the device
 * is root's. Logs what it did; a refusal is a warning (a missing device
 * only information), not a reason to stop the tunnel. Returns 0, or -1
 * when it was not applied. */
int cpulat_apply(int max_us, unsigned hold_ms);

/* Once per loop of a data thread, with the clients' packets it handled in
 * it (not keepalives, handshakes or strangers' datagrams): makes or
 * withdraws the request as cpuhold decides. A clock read, an atomic add
 * and a few relaxed loads when nothing changes. */
void cpulat_tick(size_t pkts);

/* How long a data thread that would sleep wait_us microseconds (finite,
 * or -1 for ever) may sleep: no longer than the request has left, so that
 * one of them withdraws it on time. */
int cpulat_wait_us(int wait_us);

/* What the request did so far, for the stats line, show and metrics: how
 * many times it was made (once, for CpuLatencyHold = always) and whether
 * it is held now. */
void cpulat_read(uint64_t *made, bool *held);

struct snapshot;
/* The same two, as totals of a show/metrics snapshot (show.h). */
void cpulat_snap(struct snapshot *o);

#endif
