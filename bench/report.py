#!/usr/bin/python3
"""Turns bench/run.sh's measurements into the results table and plot.

usage: report.py RESULTS.tsv META.txt OUTPREFIX TUNNEL...

RESULTS.tsv holds "tunnel<TAB>metric<TAB>value" lines; META.txt "key=value"
lines about the machine and run. Writes OUTPREFIX.md (the table and machine
facts), OUTPREFIX.tsv (every number measured) and OUTPREFIX.png (gnuplot),
and prints the table on stdout.
"""
import os
import shutil
import subprocess
import sys

NAMES = {"raw": "raw routed path", "wireguard-go": "wireguard-go", "openvpn": "OpenVPN", "vpngw": "vpngw"}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def ms(v):
    x = num(v)
    if x is None:
        return "-"
    if x < 1:
        return "%.3f" % x
    if x < 10:
        return "%.2f" % x
    if x < 100:
        return "%.1f" % x
    return "%.0f" % x


def gbit(v):
    x = num(v)
    return "-" if x is None else "%.2f" % x


def mbit(v):
    x = num(v)
    return "-" if x is None else "%.0f" % (x * 1000)


def plain(v):
    x = num(v)
    return "-" if x is None else ("%.1f" % x if x < 100 else "%.0f" % x)


# the transfers with pings alongside, in the report's order
LOADED = ("up1", "down1", "sup1", "sdown1", "fair_up", "fair_down")


def count(v):
    x = num(v)
    return "-" if x is None else "%d" % x


def main():
    tsv, meta_path, prefix = sys.argv[1:4]
    tunnels = sys.argv[4:]
    r = {}
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                r[(parts[0], parts[1])] = parts[2]
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v

    def g(t, m):
        return r.get((t, m))

    def cell(t, fmt, *metrics, only=None):
        if only and t not in only:
            return "n/a"
        vals = [fmt(g(t, m)) for m in metrics]
        if all(v == "-" for v in vals):
            return "-"
        return " / ".join(vals)

    def stalls(t, k):
        n = g(t, k + "_stalls")
        return "-" if n is None else count(n) + " / " + plain(g(t, k + "_stall_max"))

    rows = [
        ("TCP 1 stream up, Gbit/s", lambda t: cell(t, gbit, "up1")),
        ("TCP 1 stream down, Gbit/s", lambda t: cell(t, gbit, "down1")),
        ("TCP 4 streams up, Gbit/s", lambda t: cell(t, gbit, "up4")),
        ("ping idle p50, ms", lambda t: cell(t, ms, "idle_p50")),
        ("ping during 1-stream upload p50 / p99 / max, ms",
         lambda t: cell(t, ms, "up1_p50", "up1_p99", "up1_max")),
        ("ping during 1-stream download p50 / p99 / max, ms",
         lambda t: cell(t, ms, "down1_p50", "down1_p99", "down1_max")),
        ("200 Mbit/s bottleneck: TCP up / down, Mbit/s", lambda t: cell(t, mbit, "sup1", "sdown1")),
        ("200 Mbit/s bottleneck: ping p99 during upload / download, ms",
         lambda t: cell(t, ms, "sup1_p99", "sdown1_p99")),
        ("200 Mbit/s bottleneck: ping max during upload / download, ms",
         lambda t: cell(t, ms, "sup1_max", "sdown1_max")),
        ("200 Mbit/s bottleneck: the link's FIFO backlog during upload / download, median / max, KB",
         lambda t: cell(t, plain, "sup1_fifo_p50", "sup1_fifo_max") + " ; " +
         cell(t, plain, "sdown1_fifo_p50", "sdown1_fifo_max")),
        ("ping loss under load, % (up / down / 200M up / 200M down)",
         lambda t: cell(t, plain, "up1_loss", "down1_loss", "sup1_loss", "sdown1_loss")),
        ("CPU s per GB, tunnel processes of both ends (1-stream up / down)",
         lambda t: "- (kernel only)" if t == "raw" else cell(t, plain, "up1_cpu_tun", "down1_cpu_tun")),
        ("CPU s per GB, whole machine from /proc/stat (1-stream up / down)",
         lambda t: cell(t, plain, "up1_cpu_sys", "down1_cpu_sys")),
        ("2 clients, one uploading: the other's ping p50 / p99 / max, ms",
         lambda t: cell(t, ms, "fair_up_p50", "fair_up_p99", "fair_up_max", only=("vpngw",))),
        ("2 clients, one downloading: the other's ping p50 / p99 / max, ms",
         lambda t: cell(t, ms, "fair_down_p50", "fair_down_p99", "fair_down_max", only=("vpngw",))),
        ("other processes' CPU during the tunnel's runs, % of the machine (noise indicator)",
         lambda t: cell(t, lambda v: v or "-", "other_cpu")),
        ("CPU the host (hypervisor) stole during the transfers, % of one CPU (up / down / 200M up / 200M down; noise indicator)",
         lambda t: cell(t, plain, "up1_steal", "down1_steal", "sup1_steal", "sdown1_steal")),
        ("CPU stalls over 2 ms while pinging under load, count / longest ms (up ; down ; 200M up ; 200M down ; 2 clients up ; 2 clients down; noise indicator)",
         lambda t: " ; ".join(stalls(t, k) for k in LOADED)),
        ("ping p99 under load over the pings no such stall touched, ms (up / down / 200M up / 200M down / 2 clients up / 2 clients down)",
         lambda t: cell(t, ms, *(k + "_p99_calm" for k in LOADED))),
        ("ping max under load over the pings no such stall touched, ms (up / down / 200M up / 200M down / 2 clients up / 2 clients down)",
         lambda t: cell(t, ms, *(k + "_max_calm" for k in LOADED))),
    ]
    head = "| metric | " + " | ".join(NAMES[t] for t in tunnels) + " |"
    sep = "|---|" + "---|" * len(tunnels)
    table = [head, sep] + ["| %s | %s |" % (label, " | ".join(f(t) for t in tunnels)) for label, f in rows]

    date = os.path.basename(prefix)
    facts = [
        "- date: %s" % meta.get("date", "?"),
        "- command: `%s`" % meta.get("command", "make bench"),
        "- machine: %s cores (%s), %s, kernel %s, %s" % (
            meta.get("cores", "?").split(" x ")[0], meta.get("cores", "? x ?").split(" x ", 1)[-1],
            meta.get("memory", "?"), meta.get("kernel", "?"), meta.get("os", "?")),
        "- load average (1 min): %s at the start (%s), %s at the end" % (
            meta.get("load_start", "?"), meta.get("load_wait", "?"), meta.get("load_end", "?")),
        "- versions: vpngw %s; wireguard-go %s; %s; iperf3 %s" % (
            meta.get("vpngw", "?"), meta.get("wireguard-go", "?"), meta.get("openvpn", "?"), meta.get("iperf3", "?")),
        "- TCP congestion control: %s" % meta.get("tcp_cc", "?"),
        "- run time: %s" % meta.get("runtime", "?"),
    ]
    method = """\
How it was measured (bench/run.sh, all in one run): three network namespaces,
client (192.0.2.2) -- gateway (192.0.2.1 | 198.51.100.1, ip_forward, nftables
masquerade) -- internet host (198.51.100.2), joined by veth pairs; a fourth,
client 2 (192.0.2.3), for the two-client case. Every tunnel runs between the
client and the gateway with tunnel MTU 1400 and carries the client's traffic to
198.51.100.0/24; the raw path is the same routing without a tunnel. Same
schedule for every tunnel: 200 idle pings; iperf3 TCP for %(T)s s single stream
up, then down (-R), each with `ping -i 0.01` to the internet host from 1 s in to
1 s before the end; 4 streams up; then the bottleneck (%(shape)s), up and down
with pings again, and the backlog of the sending side's pfifo (in bytes: a
UDP GSO send passes it as one packet) sampled every 50 ms meanwhile: where a
tunnel's queue stood. The link is emulated on the same two cores: when
htb's dequeue runs late, the link loses that time unless htb's burst lets
it catch up, and its FIFO grows whatever the tunnel does. A real link's
serialiser loses no time to a late CPU; hence a burst of 1 ms of the link
(until 2026-11-27 03:30 UTC it was tc's default, one packet, and the
reports before then show such spells). Percentiles are over the ping RTTs received (nearest
rank); lost pings are counted separately.

- vpngw: `build/vpngw server|client` with the README's config format; for
  the bottleneck runs %(bw)s. Its two data threads per side run SCHED_FIFO
  at priority 10 (`RealtimePriority`, on by default; normal threads while
  many packets come one at a time); %(peers)s. While its clients' packets
  flow at under 10,000 a second, the gateway holds a CPU latency request of
  0 us (`CpuLatency`, on by default on a gateway): the machine's idle CPUs
  poll instead of halting. In this one-machine lab that speeds the client's
  and the internet host's wake-ups too, which a client on a machine of its
  own would not get; the other columns ran without it.
- wireguard-go: Debian's userspace WireGuard, one interface name per side,
  configured with `wg`.
- OpenVPN: 2.6 point to point over UDP with tun, self-signed EC certificates
  made with openssl at run time and checked with `--peer-fingerprint` (no CA),
  `--data-ciphers AES-256-GCM`, `--tun-mtu 1400`, `--mssfix 0` (no MSS clamp,
  as for the others) and `--disable-dco` (the data path stays in user space).
- CPU: seconds of CPU (user + system, all threads) that the tunnel processes
  of both ends used during the 1-stream transfer, from /proc/<pid>/stat,
  divided by the GB that iperf3 received. The raw path has no such process
  ("-"). Part of the kernel's work for a tunnel (softirq) is charged to
  whatever runs at the time, so the second CPU row is the whole machine's busy
  time from /proc/stat over the same interval (iperf3 and the kernel's TCP of
  both ends included, and anything else running on the machine).
- Noise: the machine is small and may be shared. The bench waits for the
  1-minute load average to drop below the limit before it starts and, before
  each tunnel, for other processes to go quiet (bounded); the last row is the
  CPU that processes other than the bench's used meanwhile, from /proc/*/stat.
  A column with a high figure there is less trustworthy. On a VM the host may
  also take the CPUs away ("steal" in /proc/stat): every thread of the lab,
  the tunnel's and the kernel's, stops meanwhile, and a transfer's throughput
  drops with it (a lab download's one-second intervals fell to a third of
  their median while the host stole 50-67%% of a CPU). The steal row says how
  much each transfer lost that way. It is counted in 10 ms units, too coarse
  to place a single slow ping, so the bench also runs bench/stallwatch beside
  every set of pings under load: one real-time thread (SCHED_FIFO 50, ahead
  of every tunnel's threads) per CPU, pinned, that sleeps 4 ms at a time and
  notes each wake-up that came late. Late means the CPU ran nothing that
  would give way to it: the host had the vCPU, or the guest's kernel held
  it, in interrupt work (network softirqs stop after about 2 ms) or, on a
  kernel built without preemption (this one: PREEMPT_NONE), in any task's
  system call, a tunnel's own included. Idle, with nothing else running,
  such a thread here still woke up to 11 ms late: those are the host's. The
  stall row counts those over 2 ms (one that falls between two wake-ups
  goes unseen: stalls under 4 ms are undercounted); the two rows after it
  are the ping p99 and maximum over the pings that no such stall touched
  (from 16 ms before the ping was sent, for the backlog a stall leaves, to
  its reply), so that a tunnel's own tail shows apart from the host's. The
  plain p99 and maximum stay in their rows above, and are what the targets
  are judged on. The watcher's wake-ups cost the tunnels a little:
  sleeping 2 ms at a time it took about 5%% from vpngw's lab throughput
  (four alternated pairs of 10 s transfers each way); hence 4 ms.
- The two-client row runs unshaped: client 1 runs iperf3 while client 2
  pings the internet host through its own vpngw session.
""" % {"T": meta.get("seconds", "?"), "shape": meta.get("shape", "?"),
       "bw": ("with `Bandwidth = %s` on both sides (pacing just under the link)" % meta["vpngw_bandwidth"])
             if meta.get("vpngw_bandwidth") else "without `Bandwidth =` (no pacing)",
       "peers": ("wireguard-go and OpenVPN ran under `chrt -f %s` as well\n  (BENCH_PEERS_RT)" % meta["peers_rt"])
                if meta.get("peers_rt") else "wireguard-go and OpenVPN run as\n  ordinary processes, as they ship (BENCH_PEERS_RT=10 runs them real-time too)"}

    md = ["# vpngw bench, %s" % date, "", "\n".join(table), "", "\n".join(facts), "", method,
          "![throughput and latency](%s.png)" % date, ""]
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(md))
    shutil.copyfile(tsv, prefix + ".tsv")
    print("\n".join(table))
    print()
    print("\n".join(facts))

    # ---- plot ----------------------------------------------------------------
    work = os.path.dirname(tsv)
    thr = [("1 stream up", "up1"), ("1 stream down", "down1"), ("4 streams up", "up4"),
           ("200M: up", "sup1"), ("200M: down", "sdown1")]
    lat = [("idle p50", "idle_p50"), ("up p50", "up1_p50"), ("up p99", "up1_p99"),
           ("up max", "up1_max"), ("down p50", "down1_p50"), ("down p99", "down1_p99"),
           ("down max", "down1_max"), ("200M up p99", "sup1_p99"), ("200M dn p99", "sdown1_p99"),
           ("2 cl. up p99", "fair_up_p99"), ("2 cl. dn p99", "fair_down_p99")]

    def dat(path, spec, scale):
        with open(path, "w") as f:
            f.write('"test" ' + " ".join('"%s"' % NAMES[t] for t in tunnels) + "\n")
            for label, m in spec:
                vals = []
                for t in tunnels:
                    x = num(g(t, m))
                    vals.append("-" if x is None or x <= 0 else "%g" % (x * scale))
                f.write('"%s" %s\n' % (label, " ".join(vals)))

    dat(os.path.join(work, "thr.dat"), thr, 1000)
    dat(os.path.join(work, "lat.dat"), lat, 1)
    n = len(tunnels) + 1
    gp = """\
set terminal pngcairo size 1600,1000 font "sans,11"
set output "%(png)s"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics mytics
set key outside top center horizontal
set multiplot layout 2,1 title "vpngw bench %(date)s: %(sub)s"
set title "TCP throughput (iperf3, %(T)s s per run)"
set ylabel "Mbit/s (log scale)"
set yrange [10:*]
plot for [i=2:%(n)d] "%(thr)s" using i:xtic(1) title columnheader(i)
set title "ping RTT to the internet host (ping -i 0.01): idle, during the 1-stream upload and download, under the 200 Mbit/s bottleneck, and client 2's while client 1 loads vpngw"
set ylabel "ms (log scale)"
set yrange [0.01:*]
unset key
plot for [i=2:%(n)d] "%(lat)s" using i:xtic(1) title columnheader(i)
unset multiplot
""" % {"png": prefix + ".png", "date": date, "T": meta.get("seconds", "?"), "n": n,
       "thr": os.path.join(work, "thr.dat"), "lat": os.path.join(work, "lat.dat"),
       "sub": "%s, kernel %s, tunnel MTU 1400" % (meta.get("cores", "?").split(" x ")[0] + " cores",
                                                 meta.get("kernel", "?"))}
    with open(os.path.join(work, "plot.gp"), "w") as f:
        f.write(gp)
    p = subprocess.run(["gnuplot", os.path.join(work, "plot.gp")], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write("report: gnuplot failed:\n" + p.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
