#!/usr/bin/python3
"""bench/calm.py - which pings a CPU stall of the host touched.

bench/stallwatch records each time a real-time thread pinned to a CPU woke
late ("END_S LATE_US" a line): for that long the CPU ran nothing that would
give way to it. A ping is touched by such a stall when the stall overlaps
the time from PRE_MS before the ping left (ping may be held up between
stamping and sending it, and a stall leaves a backlog that takes a while to
drain) to 1 ms after `ping -D` printed its reply. What the host did to a
ping is not the tunnel's doing, so bench/run.sh reports the p99 and maximum
over the untouched pings beside those over all of them, and
tests/e2e/flood.sh judges its rounds on the untouched ones. One rule, here,
for both.

As a command, for bench/run.sh:
    calm.py MIN_MS PRE_MS PING_LOG STALLS
prints "STALLS LONGEST_MS CALM_MAX CALM_P99": how many stalls were longer
than MIN_MS, the longest of all (ms), and the maximum and p99 RTT over the
pings none of those touched ("-" when there were none).
"""
import re
import sys

REPLY = re.compile(r"^\[([0-9.]+)\].*icmp_seq=(\d+) .*time=([0-9.]+) ms(?! \(DUP!\))", re.M)


def replies(text):
    """(reply time s, RTT ms) of each sequence number's first reply in ping -D output."""
    seen, out = set(), []
    for t, q, r in REPLY.findall(text):
        if q not in seen:
            seen.add(q)
            out.append((float(t), float(r)))
    return out


def stall_rows(path):
    """(end s, late us) of each line of a stallwatch record; [] when it is missing."""
    try:
        with open(path) as f:
            return [(float(e), float(u)) for e, u in (ln.split() for ln in f if ln.strip())]
    except OSError:
        return []


def stalls(rows, min_ms):
    """(start s, end s) of the stalls longer than min_ms."""
    return [(e - u / 1e6, e) for e, u in rows if u / 1000 > min_ms]


def touched(t, r, spans, pre_ms):
    """Whether a stall in spans overlaps the ping whose reply came at t after r ms."""
    return any(s < t + 0.001 and e > t - (r + pre_ms) / 1000 for s, e in spans)


def untouched(reps, spans, pre_ms):
    """The sorted RTTs of the replies no stall touched."""
    return sorted(r for t, r in reps if not touched(t, r, spans, pre_ms))


def pct(sorted_rtts, q):
    """Nearest rank, as bench/run.sh's ping_summary takes it."""
    return sorted_rtts[int((len(sorted_rtts) - 1) * q)]


def main(argv):
    if len(argv) != 5:
        sys.exit("usage: calm.py MIN_MS PRE_MS PING_LOG STALLS")
    min_ms, pre_ms = float(argv[1]), float(argv[2])
    with open(argv[3]) as f:
        reps = replies(f.read())
    rows = stall_rows(argv[4])
    spans = stalls(rows, min_ms)
    calm = untouched(reps, spans, pre_ms)
    longest = max((u / 1000 for _, u in rows), default=0.0)
    print("%d %.1f %s %s" % (len(spans), longest, "%.3f" % calm[-1] if calm else "-",
                             "%.3f" % pct(calm, 0.99) if calm else "-"))


if __name__ == "__main__":
    main(sys.argv)
