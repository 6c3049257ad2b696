#!/usr/bin/env bash
# `make bench`: vpngw beside the raw routed path, wireguard-go and OpenVPN,
# all in one run, in the lab topology
#
#   client ns  c  192.0.2.2 ---- 192.0.2.1    gc \
#                                               gateway ns (ip_forward, nftables masquerade)
#   client2 ns c2 192.0.2.3 ---- (192.0.2.1) gd /      gi 198.51.100.1 ---- 198.51.100.2 i  internet ns
#
# (client2 is used only by the two-client vpngw case). Every tunnel uses MTU
# 1400 and the same schedule: idle ping; iperf3 TCP 1 stream up and down with
# pings (asked every 10 ms) for all but the first and last second; 4 streams up; then a 200 Mbit/s
# bottleneck (htb + pfifo on both ends of the client--gateway veth), up and
# down with pings. CPU is read from /proc/<pid>/stat of the tunnel processes
# (both ends) and from /proc/stat (whole machine) around each 1-stream run.
#
# Environment:
#   BENCH_SECONDS   seconds per iperf3 run (default 10; >= 3)
#   BENCH_TUNNELS   which tunnels, any of "raw vpngw wireguard-go openvpn" (default all)
#   BENCH_MAX_LOAD  wait until the 1-minute load average is below this (default 1.5)
#   BENCH_LOAD_WAIT ... for at most this many seconds (default 600; 0 = do not wait)
#   BENCH_MAX_OTHER_CPU, BENCH_QUIET_WAIT  before each tunnel, wait at most
#                   QUIET_WAIT s (default 60) until processes other than the
#                   bench's use less than this % of the machine (default 20)
#   BENCH_RESULTS   directory for <date>.md/.png/.tsv (default bench/results)
#   BENCH_VPNGW_BANDWIDTH  vpngw is restarted with `Bandwidth = ...` on both
#                   sides for the bottleneck runs, as a user of a 200 Mbit/s
#                   link would configure it (default 190mbit; "none" = off)
#   BENCH_VPNGW_EXTRA  a config line for vpngw on both sides, in every run
#                   (e.g. "SchedSlice = off"); shown in the report
#   BENCH_PEERS_RT  run wireguard-go and OpenVPN under `chrt -f N` (1-99), as
#                   vpngw's data threads run by default (RealtimePriority);
#                   default: as they ship, ordinary processes
#   BENCH_TCP_CC    TCP congestion control for every iperf3 run (iperf3 -C,
#                   both ends), e.g. cubic, the kernel's own default; default:
#                   the namespaces' default, the machine's
#                   net.ipv4.tcp_congestion_control (the report names it)
#   BENCH_SHAPE_BURST  htb burst and cburst of the 200 Mbit/s link, in bytes
#                   or as tc takes them (default 25000, 1 ms of the link; ""
#                   for tc's own, one packet). A real link's serialiser does
#                   not lose time when a CPU is late; htb with a one-packet
#                   burst loses whatever its dequeue runs late, and on this VM
#                   wake-ups run milliseconds late: its FIFO then grows
#                   whatever the sender does. 1 ms lets it make that up. The
#                   report's method line shows it
#   VPNGW           the binary (default build/vpngw)
# Logs, iperf3 JSON and ping samples stay in a /tmp/vpngw-bench.* directory
# (printed at the end).
set -uo pipefail
BENCH_VPNGW_BANDWIDTH=${BENCH_VPNGW_BANDWIDTH:-190mbit}
[ "$BENCH_VPNGW_BANDWIDTH" = none ] && BENCH_VPNGW_BANDWIDTH=""
export BENCH_VPNGW_BANDWIDTH
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VPNGW=${VPNGW:-$ROOT/build/vpngw}
STALLWATCH=$ROOT/build/stallwatch
T=${BENCH_SECONDS:-10}
TUNNELS=${BENCH_TUNNELS:-raw vpngw wireguard-go openvpn}
MAX_LOAD=${BENCH_MAX_LOAD:-1.5}
LOAD_WAIT=${BENCH_LOAD_WAIT:-600}
MAX_OTHER=${BENCH_MAX_OTHER_CPU:-20}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
SHAPE_RATE=200mbit
PFIFO_LIMIT=1000
SHAPE_BURST=${BENCH_SHAPE_BURST-25000}
PY=/usr/bin/python3
PEERS_RT=${BENCH_PEERS_RT:-}
PEER_CMD=()
if [ -n "$PEERS_RT" ]; then
	[[ "$PEERS_RT" =~ ^[0-9]+$ ]] && [ "$PEERS_RT" -ge 1 ] && [ "$PEERS_RT" -le 99 ] ||
		{ echo "bench: BENCH_PEERS_RT must be a priority from 1 to 99" >&2; exit 2; }
	PEER_CMD=(chrt -f "$PEERS_RT")
fi

[[ "$T" =~ ^[0-9]+$ ]] && [ "$T" -ge 3 ] && [ "$T" -le 600 ] ||
	{ echo "bench: BENCH_SECONDS=$T: want a whole number of seconds, 3-600" >&2; exit 2; }
for t in $TUNNELS; do
	case $t in raw|vpngw|wireguard-go|openvpn) ;;
	*) echo "bench: BENCH_TUNNELS: unknown tunnel '$t' (want raw vpngw wireguard-go openvpn)" >&2; exit 2;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces, TUN devices)" >&2; exit 1; }

S=$$
NC=vbc$S NC2=vbd$S NG=vbg$S NI=vbi$S
INET=198.51.100.2
OUT=$(mktemp -d /tmp/vpngw-bench.XXXXXX)
TSV=$OUT/results.tsv
: >"$TSV"
PIDS=()            # every process we started and have not reaped yet
TUNPIDS=()         # the current tunnel's processes (CPU accounting)
HZ=$(getconf CLK_TCK)
CC_ARGS=()
if [ -n "${BENCH_TCP_CC:-}" ]; then
	if ! grep -qw -- "$BENCH_TCP_CC" /proc/sys/net/ipv4/tcp_available_congestion_control; then
		echo "bench: BENCH_TCP_CC=$BENCH_TCP_CC: this kernel offers $(cat /proc/sys/net/ipv4/tcp_available_congestion_control)" >&2
		exit 1
	fi
	CC_ARGS=(-C "$BENCH_TCP_CC")
fi
PING_SECS=$(( T - 2 ))   # pings alongside a transfer: from 1 s in to 1 s before its end

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# ---- process bookkeeping -------------------------------------------------
forget() { local p=$1 i; for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$p" ] && unset 'PIDS[i]'; done; }
alive() { # running and not a zombie
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}
stop_pid() { # TERM, up to 5 s grace, then KILL; reaps it (it is our child)
	local p=$1 i
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 50; i++)); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	forget "$p"
	return 0
}
wait_pid() { # wait for our child to end by itself, at most $2 seconds, else stop it
	local p=$1 lim=$2 i
	for ((i = 0; i < lim * 10; i++)); do alive "$p" || break; sleep 0.1; done
	if alive "$p"; then log "pid $p still running after ${lim}s, stopping it"; stop_pid "$p"; return 1; fi
	wait "$p" 2>/dev/null; local rc=$?
	forget "$p"
	return $rc
}

cleanup() {
	local p n
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	for n in $NC $NC2 $NG $NI; do ip netns del "$n" 2>/dev/null; done
	rm -f /var/run/wireguard/wgg$S.sock /var/run/wireguard/wgc$S.sock
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# foreground only: a shell function run with & gives the PID of a subshell,
# not of the command; background processes use `ip netns exec NS cmd &`
# directly (ip execs cmd, so $! is cmd's PID)
inc() { ip netns exec "$NC" "$@"; }
ing() { ip netns exec "$NG" "$@"; }
ini() { ip netns exec "$NI" "$@"; }

put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"; }   # tunnel metric value

# ---- lab -------------------------------------------------------------------
lab() {
	set -e
	for n in $NC $NC2 $NG $NI; do ip netns add "$n"; ip -n "$n" link set lo up; done
	ip link add c$S netns "$NC" type veth peer name gc$S netns "$NG"
	ip link add c2$S netns "$NC2" type veth peer name gd$S netns "$NG"
	ip link add i$S netns "$NI" type veth peer name gi$S netns "$NG"
	ip -n "$NC" addr add 192.0.2.2/24 dev c$S; ip -n "$NC" link set c$S up
	ip -n "$NC2" addr add 192.0.2.3/24 dev c2$S; ip -n "$NC2" link set c2$S up
	ip -n "$NG" addr add 192.0.2.1/24 dev gc$S; ip -n "$NG" link set gc$S up
	# second client link: the gateway answers for 192.0.2.1 here too (no address needed)
	ip -n "$NG" link set gd$S up
	ip -n "$NG" route add 192.0.2.3/32 dev gd$S src 192.0.2.1
	ip -n "$NG" addr add 198.51.100.1/24 dev gi$S; ip -n "$NG" link set gi$S up
	ip -n "$NI" addr add 198.51.100.2/24 dev i$S; ip -n "$NI" link set i$S up
	ing sysctl -qw net.ipv4.ip_forward=1
	ing nft -f - <<NFT
table ip bench_nat {
	chain post { type nat hook postrouting priority srcnat; oifname "gi$S" ip saddr { 10.0.0.0/8, 192.0.2.0/24 } masquerade; }
}
NFT
	set +e
	ip netns exec "$NI" iperf3 -s >"$OUT/iperf3-server.log" 2>&1 &
	PIDS+=($!)
	local i
	for ((i = 0; i < 50; i++)); do ini ss -Hltn 'sport = :5201' 2>/dev/null | grep -q . && return 0; sleep 0.1; done
	log "iperf3 server did not start"; return 1
}

# ---- measuring --------------------------------------------------------------
# ping_samples NS COUNT FILE: COUNT pings, 10 ms apart as asked (iputils'
#   ping sends about every 16 ms here: it waits with a socket timeout that the
#   kernel rounds up to its 4 ms tick)
# ping_samples NS during SECONDS FILE: pings for SECONDS, so that pings taken
#   alongside a transfer all fall inside it
# FILE gets the RTT samples (ms), one per line, then "sent N" as last line;
# ping's own output stays beside it (FILE.raw). N counts the pings that had
# their chance: the last one sent is left out when it got no reply, since
# ping stops at its deadline without waiting for it.
ping_samples() {
	local ns=$1 n=$2 f=$3 lim
	if [ "$n" = during ]; then
		n=100000 lim=$f f=$4
	else
		lim=$(( n * 3 / 100 + 5 ))
	fi
	# -D: each reply's wall-clock time, to place it beside the CPU stalls
	ip netns exec "$ns" ping -D -n -i 0.01 -c "$n" -W 1 -w "$lim" $INET >"$f.raw" 2>&1
	# a duplicate reply (DUP!) is neither a sample nor a ping that came back
	awk '/icmp_seq=.*time=/ && !/DUP!/ { for (i = 1; i <= NF; i++) {
	             if ($i ~ /^icmp_seq=/) seq = substr($i, 10)
	             if ($i ~ /^time=/) t = substr($i, 6) }
	         if (seq in got) next
	         got[seq] = 1; print t }
	     / packets transmitted/ { tx = $1 }
	     END { if (tx > 0 && !(tx in got)) tx--; print "sent " tx + 0 }' "$f.raw" >"$f"
}
# summary of a samples file -> "p50 p99 max loss%"
ping_summary() {
	awk '/^sent/ {sent=$2; next} {v[++n]=$1}
	END { if (!n || sent < n) { printf "- - - %s\n", n ? "?" : "100"; exit }
	      # sort (n is at most a few thousand)
	      for (i=2;i<=n;i++){x=v[i];j=i-1;while(j>0&&v[j]>x){v[j+1]=v[j];j--}v[j+1]=x}
	      printf "%.3f %.3f %.3f %.1f\n", v[int((n-1)*0.50)+1], v[int((n-1)*0.99)+1], v[n], 100*(sent-n)/sent }' "$1"
}
put_ping() { # tunnel prefix samples-file
	local p50 p99 max loss
	read -r p50 p99 max loss < <(ping_summary "$3")
	put "$1" "${2}_p50" "$p50"; put "$1" "${2}_p99" "$p99"; put "$1" "${2}_max" "$max"; put "$1" "${2}_loss" "$loss"
}

# pinged NS TUNNEL TAG: pings from NS for PING_SECS (ping_samples) into
# $OUT/TUNNEL-TAG.ping with bench/stallwatch beside them, then records TAG's
# ping figures and what the CPU stalls did to them: TAG_stalls (how many
# over STALL_MS), TAG_stall_max (the longest, ms) and TAG_max_calm /
# TAG_p99_calm, the ping maximum and p99 over the pings that no such stall
# touched (bench/calm.py says when a stall touches a ping; PING_GAP_MS is how
# long before a ping left a stall still counts). STALL_MS is above
# what the guest's own network softirqs take at a time (about 2 ms): a stall
# that long is the host's, or (on a kernel without preemption) some task's
# long system call; the report says so.
STALL_MS=2
PING_GAP_MS=16
pinged() {
	local ns=$1 tun=$2 tag=$3 f=$OUT/$2-$3.ping sp=
	if [ -x "$STALLWATCH" ]; then
		"$STALLWATCH" "$((PING_SECS + 1))" 4000 1000 "$f.stalls" 2>>"$OUT/stallwatch.log" &
		sp=$!; PIDS+=("$sp")
	fi
	ping_samples "$ns" during "$PING_SECS" "$f"
	put_ping "$tun" "$tag" "$f"
	[ -n "$sp" ] || return 0
	if ! wait_pid "$sp" 10; then
		log "$tun $tag: stallwatch failed (see $OUT/stallwatch.log); no stall figures"
		return 0
	fi
	local n longest calm calm99
	read -r n longest calm calm99 < <("$PY" "$ROOT/bench/calm.py" "$STALL_MS" "$PING_GAP_MS" "$f.raw" "$f.stalls")
	put "$tun" "${tag}_stalls" "$n"; put "$tun" "${tag}_stall_max" "$longest"; put "$tun" "${tag}_max_calm" "$calm"
	put "$tun" "${tag}_p99_calm" "$calm99"
}

tun_ticks() { # utime+stime of the tunnel processes, all threads
	local p s sum=0
	for p in "${TUNPIDS[@]}"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		sum=$((sum + ${12} + ${13}))
	done
	echo $sum
}
sys_ticks() { # busy jiffies of the whole machine: user nice system irq softirq
	local _c u n s i w q sq
	read -r _c u n s i w q sq _ </proc/stat
	echo $((u + n + s + q + sq))
}
# steal_ticks: jiffies the hypervisor gave this VM's CPUs to someone else
# (all CPUs): while it steals, every thread of the lab stops at once
steal_ticks() {
	local st
	read -r _ _ _ _ _ _ _ _ st _ </proc/stat
	echo "$st"
}

# iperf_start OUT ERR LABEL [iperf3 flags]: iperf3 from the client, in the
# background (IPERF_PID; START_TUN and START_SYS: the CPU counters just
# before it started). The iperf3 server may still be closing the previous
# test's streams (seen after 4 streams) and then refuses at once: start
# again, at most 5 times.
iperf_start() {
	local out=$1 err=$2 label=$3 try; shift 3
	for ((try = 1; ; try++)); do
		START_TUN=$(tun_ticks) START_SYS=$(sys_ticks) START_STEAL=$(steal_ticks) START_TIME=$EPOCHREALTIME
		ip netns exec "$NC" timeout $((T + 30)) iperf3 -c $INET -t "$T" --connect-timeout 3000 "${CC_ARGS[@]}" "$@" >"$out" 2>"$err" &
		IPERF_PID=$!; PIDS+=("$IPERF_PID")
		sleep 1
		if alive "$IPERF_PID" || ! grep -qs 'server is busy' "$out" "$err"; then return 0; fi
		if [ "$try" -ge 5 ]; then
			log "$label: the iperf3 server stayed busy; no figures for this run"
			return 1
		fi
		wait_pid "$IPERF_PID" 5
		log "$label: the iperf3 server was busy; starting again"
	done
}

# fifo_sample NS DEV FILE: the bottleneck link's pfifo backlog in bytes,
# every 50 ms for as long as the pings run (PING_SECS, and at most
# PING_SECS * 20 samples). Bytes, not packets: a tunnel's UDP GSO send
# passes the qdisc as one packet.
fifo_sample() {
	local ns=$1 dev=$2 f=$3 i end=$(( ${EPOCHREALTIME/[.,]/} + PING_SECS * 1000000 ))
	for ((i = 0; i < PING_SECS * 20 && ${EPOCHREALTIME/[.,]/} < end; i++)); do
		tc -s -n "$ns" qdisc show dev "$dev" |
			awk '/pfifo/ { p = 1 } p && /backlog/ { sub("b$", "", $2); print $2; exit }'
		sleep 0.05
	done >"$f"
}
# fifo_put TUNNEL TAG FILE: TAG_fifo_p50 and TAG_fifo_max, in KB
fifo_put() {
	local p50 max
	read -r p50 max < <(grep -E '^[0-9]+$' "$3" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.1f %.1f\n", v[int((NR + 1) / 2)] / 1000, v[NR] / 1000; else print "- -" }')
	put "$1" "${2}_fifo_p50" "$p50"; put "$1" "${2}_fifo_max" "$max"
}

# xfer TUNNEL TAG PING(0/1) [iperf3 flags]: one iperf3 run from the client,
# optionally with pings alongside (and, when FIFO is "NS DEV", the backlog
# of that bottleneck's pfifo sampled meanwhile). Records TAG (Gbit/s),
# TAG_bytes, CPU.
xfer() {
	local tun=$1 tag=$2 withping=$3; shift 3
	local j=$OUT/$tun-$tag.json ip t0 s0 st0 w0 t1 s1 fp=
	iperf_start "$j" "$OUT/$tun-$tag.err" "$tun $tag" -J "$@"
	ip=$IPERF_PID t0=$START_TUN s0=$START_SYS st0=$START_STEAL w0=$START_TIME
	if [ "$withping" = 1 ]; then
		if [ -n "${FIFO:-}" ]; then
			fifo_sample $FIFO "$OUT/$tun-$tag.fifo" &
			fp=$!; PIDS+=("$fp")
		fi
		pinged "$NC" "$tun" "$tag"
		if [ -n "$fp" ]; then
			wait_pid "$fp" 10; forget "$fp"
			fifo_put "$tun" "$tag" "$OUT/$tun-$tag.fifo"
		fi
	fi
	wait_pid "$ip" $((T + 40))
	t1=$(tun_ticks); s1=$(sys_ticks)
	put "$tun" "${tag}_steal" "$(awk -v t=$(($(steal_ticks) - st0)) -v hz="$HZ" -v w0="$w0" -v w1="$EPOCHREALTIME" \
		'BEGIN{printf "%.0f", 100 * t / hz / (w1 - w0)}')"
	local r
	r=$("$PY" - "$j" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    s = d["end"]["sum_received"]
    print("%.3f %d" % (s["bits_per_second"] / 1e9, s["bytes"]))
except Exception:
    print("- 0")
PY
)
	local gbps bytes
	read -r gbps bytes <<<"$r"
	put "$tun" "$tag" "$gbps"
	put "$tun" "${tag}_bytes" "$bytes"
	if [ "$bytes" -gt 0 ]; then
		if [ ${#TUNPIDS[@]} -gt 0 ]; then
			put "$tun" "${tag}_cpu_tun" "$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v b="$bytes" 'BEGIN{printf "%.2f", t/hz/(b/1e9)}')"
		else
			put "$tun" "${tag}_cpu_tun" "-"
		fi
		put "$tun" "${tag}_cpu_sys" "$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v b="$bytes" 'BEGIN{printf "%.2f", t/hz/(b/1e9)}')"
	fi
	log "$tun $tag: $gbps Gbit/s"
}

reach() { # wait (bounded) until the internet host answers from the client
	local i
	for ((i = 0; i < 20; i++)); do
		inc ping -n -c 1 -W 1 $INET >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	log "internet host not reachable from the client"
	return 1
}

shape() { # on|off: htb 200mbit + pfifo on both ends of the client--gateway veth
	local ns dev
	for ns_dev in "$NC c$S" "$NG gc$S"; do
		read -r ns dev <<<"$ns_dev"
		if [ "$1" = on ]; then
			# no TSO/GSO on the underlay while shaped, so the pfifo counts
			# wire-sized packets (not 64 KB super-packets) for every tunnel
			ip netns exec "$ns" ethtool -K "$dev" tso off gso off >/dev/null 2>&1
			tc -n "$ns" qdisc replace dev "$dev" root handle 1: htb default 1 r2q 200
			tc -n "$ns" class add dev "$dev" parent 1: classid 1:1 htb rate $SHAPE_RATE ${SHAPE_BURST:+burst $SHAPE_BURST cburst $SHAPE_BURST}
			tc -n "$ns" qdisc add dev "$dev" parent 1:1 handle 10: pfifo limit $PFIFO_LIMIT
		else
			tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null
			ip netns exec "$ns" ethtool -K "$dev" tso on gso on >/dev/null 2>&1
		fi
	done
	ip netns exec "$NI" ethtool -K i$S tso "$([ "$1" = on ] && echo off || echo on)" \
		gso "$([ "$1" = on ] && echo off || echo on)" >/dev/null 2>&1
	ing ethtool -K gi$S tso "$([ "$1" = on ] && echo off || echo on)" \
		gso "$([ "$1" = on ] && echo off || echo on)" >/dev/null 2>&1
	return 0
}

# the schedule, identical for every tunnel
measure() {
	local tun=$1 idle
	reach || return 1
	inc ping -n -q -i 0.01 -c 20 -W 1 $INET >/dev/null 2>&1
	ping_samples "$NC" 200 "$OUT/$tun-idle.ping"
	read -r idle _ < <(ping_summary "$OUT/$tun-idle.ping")
	put "$tun" idle_p50 "$idle"
	xfer "$tun" up1 1
	xfer "$tun" down1 1 -R
	xfer "$tun" up4 0 -P 4
	if [ "$tun" = vpngw ] && [ -n "${BENCH_VPNGW_BANDWIDTH:-}" ]; then
		vpngw_stop; vpngw_start "Bandwidth = $BENCH_VPNGW_BANDWIDTH" || return 1
	fi
	shape on
	reach
	FIFO="$NC c$S" xfer "$tun" sup1 1
	FIFO="$NG gc$S" xfer "$tun" sdown1 1 -R
	shape off
}

# ---- tunnels ------------------------------------------------------------------
raw() {
	inc ip route add 198.51.100.0/24 via 192.0.2.1
	TUNPIDS=()
	measure raw
	inc ip route del 198.51.100.0/24 via 192.0.2.1
}

VG_SP='' VG_CP='' VG_C2P=''
vpngw_keys() {
	VG_SK=$("$VPNGW" genkey) && VG_CK=$("$VPNGW" genkey) && VG_C2K=$("$VPNGW" genkey)
}
vpngw_start() { # [extra config line for both sides]
	local extra=${1:-}
	[ -n "${BENCH_VPNGW_EXTRA:-}" ] && extra="${BENCH_VPNGW_EXTRA}"$'\n'"$extra"
	cat >"$OUT/vpngw-server.conf" <<CONF
[Server]
PrivateKey = $VG_SK
ListenPort = 51820
Address = 10.77.0.1/24
MTU = 1400
Interface = vg$S
StateFile = $OUT/vpngw-server.state
$extra
[Client]
Name = bench1
PublicKey = $(echo "$VG_CK" | "$VPNGW" pubkey)
Address = 10.77.0.2/32
[Client]
Name = bench2
PublicKey = $(echo "$VG_C2K" | "$VPNGW" pubkey)
Address = 10.77.0.3/32
CONF
	local k n
	for n in 1 2; do
		[ $n = 1 ] && k=$VG_CK || k=$VG_C2K
		cat >"$OUT/vpngw-client$n.conf" <<CONF
[Client]
PrivateKey = $k
Interface = v$n$S
DNS = off
$extra
[Server]
PublicKey = $(echo "$VG_SK" | "$VPNGW" pubkey)
Endpoint = 192.0.2.1:51820
Routes = 198.51.100.0/24
CONF
	done
	chmod 600 "$OUT"/vpngw-*.conf
	: >"$OUT/vpngw-client1.log"
	ip netns exec "$NG" "$VPNGW" server "$OUT/vpngw-server.conf" 2>>"$OUT/vpngw-server.log" &
	VG_SP=$!; PIDS+=("$VG_SP")
	sleep 0.3
	ip netns exec "$NC" "$VPNGW" client "$OUT/vpngw-client1.conf" 2>>"$OUT/vpngw-client1.log" &
	VG_CP=$!; PIDS+=("$VG_CP")
	TUNPIDS=("$VG_SP" "$VG_CP")
	local i
	for ((i = 0; i < 50; i++)); do grep -q 'session up' "$OUT/vpngw-client1.log" && return 0; sleep 0.1; done
	log "vpngw: no session after 5 s (see $OUT/vpngw-*.log)"
	return 1
}
vpngw_stop() {
	stop_pid "$VG_C2P"; stop_pid "$VG_CP"; stop_pid "$VG_SP"
	VG_C2P='' VG_CP='' VG_SP=''
	TUNPIDS=()
}
vpngw_fairness() {
	: >"$OUT/vpngw-client2.log"
	ip netns exec "$NC2" "$VPNGW" client "$OUT/vpngw-client2.conf" 2>>"$OUT/vpngw-client2.log" &
	VG_C2P=$!; PIDS+=("$VG_C2P")
	local i ok=0
	for ((i = 0; i < 50; i++)); do grep -q 'session up' "$OUT/vpngw-client2.log" && { ok=1; break; }; sleep 0.1; done
	[ $ok = 1 ] || { log "vpngw: second client got no session"; return 1; }
	ip netns exec "$NC2" ping -n -q -i 0.01 -c 20 -W 1 $INET >/dev/null 2>&1
	local dir flag ip
	for dir in up down; do
		[ $dir = up ] && flag='' || flag=-R
		iperf_start "$OUT/vpngw-fair-$dir.iperf" "$OUT/vpngw-fair-$dir.err" "vpngw fair_$dir" ${flag:+"$flag"}
		ip=$IPERF_PID
		pinged "$NC2" vpngw "fair_$dir"
		wait_pid "$ip" $((T + 40))
	done
	return 0
}
vpngw() {
	[ -x "$VPNGW" ] || { log "vpngw: $VPNGW not built"; return 1; }
	vpngw_keys || return 1
	if vpngw_start; then
		inc ip route add 198.51.100.0/24 dev v1$S 2>/dev/null   # in case Routes did not add it
		measure vpngw
		# the bottleneck runs may have restarted it with Bandwidth; fairness runs unshaped
		if [ -n "${BENCH_VPNGW_BANDWIDTH:-}" ]; then vpngw_stop; vpngw_start; fi
		vpngw_fairness
	fi
	vpngw_stop
}

wireguard_go() {
	local sk ck gp cp i
	sk=$(wg genkey); ck=$(wg genkey)
	ip netns exec "$NG" env WG_PROCESS_FOREGROUND=1 "${PEER_CMD[@]}" wireguard-go wgg$S >"$OUT/wg-gw.log" 2>&1 &
	gp=$!; PIDS+=("$gp")
	ip netns exec "$NC" env WG_PROCESS_FOREGROUND=1 "${PEER_CMD[@]}" wireguard-go wgc$S >"$OUT/wg-cl.log" 2>&1 &
	cp=$!; PIDS+=("$cp")
	TUNPIDS=("$gp" "$cp")
	for ((i = 0; i < 50; i++)); do
		ing ip link show wgg$S >/dev/null 2>&1 && inc ip link show wgc$S >/dev/null 2>&1 &&
			[ -S /var/run/wireguard/wgg$S.sock ] && [ -S /var/run/wireguard/wgc$S.sock ] && break
		sleep 0.1
	done
	(umask 077; echo "$sk" >"$OUT/wg-gw.key"; echo "$ck" >"$OUT/wg-cl.key")
	if ing wg set wgg$S private-key "$OUT/wg-gw.key" listen-port 51821 \
			peer "$(echo "$ck" | wg pubkey)" allowed-ips 10.78.0.2/32 &&
		inc wg set wgc$S private-key "$OUT/wg-cl.key" \
			peer "$(echo "$sk" | wg pubkey)" endpoint 192.0.2.1:51821 allowed-ips 10.78.0.0/24,198.51.100.0/24 &&
		ing ip addr add 10.78.0.1/24 dev wgg$S && ing ip link set wgg$S mtu 1400 up &&
		inc ip addr add 10.78.0.2/24 dev wgc$S && inc ip link set wgc$S mtu 1400 up &&
		inc ip route add 198.51.100.0/24 dev wgc$S; then
		measure wireguard-go
	else
		log "wireguard-go: setup failed (see $OUT/wg-*.log)"
	fi
	stop_pid "$cp"; stop_pid "$gp"
	TUNPIDS=()
}

openvpn_() {
	local d=$OUT/ovpn side fp_gw fp_cl gp cp i
	mkdir -p "$d"
	for side in gw cl; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=vpngw-bench-$side" -keyout "$d/$side.key" -out "$d/$side.crt" >/dev/null 2>&1 ||
			{ log "openvpn: openssl failed"; return 1; }
	done
	fp_gw=$(openssl x509 -in "$d/gw.crt" -noout -fingerprint -sha256 | cut -d= -f2)
	fp_cl=$(openssl x509 -in "$d/cl.crt" -noout -fingerprint -sha256 | cut -d= -f2)
	# common: point to point, UDP, tun, no CA (peer fingerprint), AES-256-GCM,
	# MTU 1400 like the others and no MSS clamping (TCP sees MTU 1400 as elsewhere),
	# data channel offload off so the data path is in user space like the others
	local common="dev-type tun
proto udp4
data-ciphers AES-256-GCM
tun-mtu 1400
mssfix 0
disable-dco
verb 3"
	cat >"$d/gw.conf" <<CONF
$common
dev ovg$S
local 192.0.2.1
lport 1194
tls-server
dh none
cert $d/gw.crt
key $d/gw.key
peer-fingerprint $fp_cl
ifconfig 10.79.0.1 10.79.0.2
CONF
	cat >"$d/cl.conf" <<CONF
$common
dev ovc$S
remote 192.0.2.1 1194
nobind
tls-client
cert $d/cl.crt
key $d/cl.key
peer-fingerprint $fp_gw
ifconfig 10.79.0.2 10.79.0.1
CONF
	ip netns exec "$NG" "${PEER_CMD[@]}" openvpn --config "$d/gw.conf" >"$OUT/openvpn-gw.log" 2>&1 &
	gp=$!; PIDS+=("$gp")
	ip netns exec "$NC" "${PEER_CMD[@]}" openvpn --config "$d/cl.conf" >"$OUT/openvpn-cl.log" 2>&1 &
	cp=$!; PIDS+=("$cp")
	TUNPIDS=("$gp" "$cp")
	local ok=0
	for ((i = 0; i < 150; i++)); do
		grep -q 'Initialization Sequence Completed' "$OUT/openvpn-gw.log" &&
			grep -q 'Initialization Sequence Completed' "$OUT/openvpn-cl.log" && { ok=1; break; }
		alive "$gp" && alive "$cp" || break
		sleep 0.1
	done
	if [ $ok = 1 ] && inc ip route add 198.51.100.0/24 dev ovc$S; then
		measure openvpn
	else
		log "openvpn: tunnel did not come up (see $OUT/openvpn-*.log)"
	fi
	stop_pid "$cp"; stop_pid "$gp"
	TUNPIDS=()
}

# ---- main ---------------------------------------------------------------------
wait_load() {
	local i l waited=0
	for ((i = 0; i * 10 < LOAD_WAIT; i++)); do
		read -r l _ </proc/loadavg
		awk -v l="$l" -v m="$MAX_LOAD" 'BEGIN{exit !(l < m)}' && break
		[ $i = 0 ] && log "load average $l >= $MAX_LOAD, waiting up to ${LOAD_WAIT}s"
		sleep 10; waited=$((waited + 10))
	done
	read -r l _ </proc/loadavg
	echo "$l $waited"
}

START=$(date +%s)
DATE=$(date +%F)
read -r LOAD_START LOAD_WAITED < <(wait_load)
log "load average $LOAD_START (waited ${LOAD_WAITED}s); lab in $OUT"
lab || { log "lab setup failed"; exit 1; }
# other work on this small machine disturbs the numbers: before each tunnel
# wait (bounded) until other processes use less than MAX_OTHER % of the
# machine, and record how much they used during the tunnel's runs
quiet() {
	local i o waited=0
	for ((i = 0; i * 5 < QUIET_WAIT; i++)); do
		o=$("$PY" "$ROOT/bench/cpuwatch.py" sample $$ 3)
		[ "$o" -lt "$MAX_OTHER" ] && break
		[ $i = 0 ] && log "other processes use ${o}% of the machine, waiting up to ${QUIET_WAIT}s"
		sleep 2; waited=$((waited + 5))
	done
	[ $waited -gt 0 ] && log "waited ${waited}s for other processes"
	QUIET_WAITED=$((QUIET_WAITED + waited))
	return 0
}
QUIET_WAITED=0
declare -A RAN=()
for t in $TUNNELS; do
	log "== $t"
	quiet
	"$PY" "$ROOT/bench/cpuwatch.py" snap $$ "$OUT/cpuwatch-$t"
	case $t in
	raw) raw ;;
	vpngw) vpngw ;;
	wireguard-go) wireguard_go ;;
	openvpn) openvpn_ ;;
	esac
	RAN[$t]=1
	o=$("$PY" "$ROOT/bench/cpuwatch.py" diff $$ "$OUT/cpuwatch-$t" 2>>"$OUT/cpuwatch.log")
	put "$t" other_cpu "$o"
	[ "${o:-0}" -lt "$MAX_OTHER" ] || log "other processes used ${o}% of the machine during the $t runs (see $OUT/cpuwatch.log)"
	read -r l _ </proc/loadavg
	put "$t" load_after "$l"
done
read -r LOAD_END _ </proc/loadavg

# ---- report -------------------------------------------------------------------
cols=()
for t in raw wireguard-go openvpn vpngw; do [ -n "${RAN[$t]:-}" ] && cols+=("$t"); done
mkdir -p "$RESULTS"
{
	echo "date=$(date '+%F %T %Z')"
	echo "command=BENCH_SECONDS=$T BENCH_TUNNELS=\"$TUNNELS\"${BENCH_VPNGW_BANDWIDTH:+ BENCH_VPNGW_BANDWIDTH=$BENCH_VPNGW_BANDWIDTH}${BENCH_VPNGW_EXTRA:+ BENCH_VPNGW_EXTRA=\"$BENCH_VPNGW_EXTRA\"}${PEERS_RT:+ BENCH_PEERS_RT=$PEERS_RT}${BENCH_TCP_CC:+ BENCH_TCP_CC=$BENCH_TCP_CC} ${BENCH_COMMAND:-make bench}"
	echo "seconds=$T"
	if [ -n "${BENCH_TCP_CC:-}" ]; then
		echo "tcp_cc=$BENCH_TCP_CC (BENCH_TCP_CC)"
	else
		echo "tcp_cc=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo '?') (the machine's default)"
	fi
	echo "vpngw_bandwidth=${BENCH_VPNGW_BANDWIDTH}"
	echo "peers_rt=${PEERS_RT}"
	echo "cores=$(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release; echo "$PRETTY_NAME")"
	echo "vpngw=$("$VPNGW" --version 2>&1 | head -1 | sed 's/^vpngw //') (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || echo '+uncommitted changes'))"
	echo "wireguard-go=$(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null) (Debian)"
	echo "openvpn=$(openvpn --version 2>/dev/null | head -1 | cut -d' ' -f1-2) (Debian $(dpkg-query -W -f='${Version}' openvpn 2>/dev/null)), $(openvpn --version 2>/dev/null | sed -n 's/^library versions: //p')"
	echo "iperf3=$(dpkg-query -W -f='${Version}' iperf3 2>/dev/null)"
	echo "load_start=$LOAD_START"
	echo "load_wait=waited ${LOAD_WAITED}s (limit ${LOAD_WAIT}s) for it to drop below $MAX_LOAD"
	echo "load_end=$LOAD_END"
	echo "runtime=$(( $(date +%s) - START )) s, of which $LOAD_WAITED s waiting for the load average and ${QUIET_WAITED} s for other processes"
	echo "shape=htb rate $SHAPE_RATE${SHAPE_BURST:+ burst $SHAPE_BURST} + pfifo limit $PFIFO_LIMIT on both ends of the client--gateway veth, TSO/GSO off on the underlay during those runs"
	echo "logs=$OUT"
} >"$OUT/meta.txt"
"$PY" "$ROOT/bench/report.py" "$TSV" "$OUT/meta.txt" "$RESULTS/$DATE" "${cols[@]}"
rc=$?
echo
echo "results: $RESULTS/$DATE.md, $RESULTS/$DATE.png; logs: $OUT"
exit $rc
