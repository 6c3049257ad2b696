#!/usr/bin/python3
"""CPU used by processes that are not the bench's, to tell whether other work
disturbed a measurement on this small machine.

usage: cpuwatch.py snap BENCH_PID FILE        snapshot to FILE
       cpuwatch.py diff BENCH_PID FILE         % of the machine (all cores) the
                                               other processes used since FILE
       cpuwatch.py sample BENCH_PID SECONDS    the same over the next SECONDS

"Other" means every process that is neither BENCH_PID, nor one of its
descendants or ancestors (at either snapshot), nor a kernel thread. Times of children that ended
count through their parent's cutime/cstime (less what they had used before
the first snapshot).
"""
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def procs():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        # rest[0] is field 3 (state); ppid field 4; utime..cstime fields 14..17
        ppid = int(rest[1])
        ticks = sum(int(x) for x in rest[11:15])
        out[int(d)] = (ppid, ticks)
    return out


def foreign(bench):
    p = procs()
    ours = {bench}
    # ancestors
    a = bench
    for _ in range(64):
        if a not in p:
            break
        a = p[a][0]
        ours.add(a)
    # descendants
    children = {}
    for pid, (pp, _) in p.items():
        children.setdefault(pp, []).append(pid)
    stack = [bench]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in ours:
                ours.add(c)
                stack.append(c)
    return {pid: t for pid, (pp, t) in p.items()
            if pid not in ours and pid != 2 and pp != 2}, time.monotonic(), ours


def busy():
    """Busy jiffies of the whole machine (user nice system irq softirq)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return v[0] + v[1] + v[2] + v[5] + v[6]


def delta(a, ta, ba, b, tb, bb, why=None):
    parts = {pid: t - a.get(pid, 0) for pid, t in b.items() if t > a.get(pid, 0)}
    # a process that ended hands its whole time to its parent's cutime:
    # take back the part it had used before the first snapshot
    gone = sum(t for pid, t in a.items() if pid not in b)
    used = max(sum(parts.values()) - gone, 0)
    # other processes cannot have used more than the whole machine did
    used = min(used, max(bb - ba, 0))
    if why is not None:
        for pid, t in sorted(parts.items(), key=lambda kv: -kv[1])[:5]:
            why.append("%d:%s:%d" % (pid, comm(pid), t))
        why.append("gone:%d machine:%d" % (gone, bb - ba))
    return 100.0 * used / HZ / max(tb - ta, 1e-3) / os.cpu_count()


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def main():
    cmd, bench = sys.argv[1], int(sys.argv[2])
    if cmd == "snap":
        m = busy()
        f, t, ours = foreign(bench)
        with open(sys.argv[3], "w") as out:
            out.write("%f %d\n" % (t, m))
            out.write(" ".join(str(x) for x in sorted(ours)) + "\n")
            for pid, ticks in f.items():
                out.write("%d %d\n" % (pid, ticks))
    elif cmd == "diff":
        with open(sys.argv[3]) as inp:
            ta, ma = inp.readline().split()
            ours_a = {int(x) for x in inp.readline().split()}
            a = {int(x): int(y) for x, y in (line.split() for line in inp)}
        b, tb, _ = foreign(bench)
        # a process that was the bench's own (or an ancestor) at the first
        # snapshot stays out, even if it is no longer in the bench's family
        # (an ancestor shell that exited leaves its parent outside the chain)
        b = {pid: t for pid, t in b.items() if pid not in ours_a}
        why = []
        print("%.0f" % delta(a, float(ta), int(ma), b, tb, busy(), why))
        # the biggest contributors, for the log
        sys.stderr.write("cpuwatch: other processes (pid:name:ticks): %s\n" % " ".join(why))
    elif cmd == "sample":
        ma = busy()
        a, ta, ours_a = foreign(bench)
        time.sleep(float(sys.argv[3]))
        b, tb, _ = foreign(bench)
        b = {pid: t for pid, t in b.items() if pid not in ours_a}
        print("%.0f" % delta(a, ta, ma, b, tb, busy()))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
