#!/usr/bin/env bash
# tests/e2e/rekeyload.sh: rekeying under full load. A client with RekeyAfter = 3 (test-only)
# carries a 30 s iperf3 transfer, each way, across about ten rekeys: no one-second interval
# may stall (each at least a quarter of the median), and no packet may be lost to the key
# change itself (no authentication failures, no packets without a key, no replays, on either
# side), while a ping running beside it is answered (at most 2% lost: see below).
#
# This lab is a VM on a shared host whose hypervisor now and then takes its CPUs away for a
# while (steal time: up to 60% of a CPU for a second or two, measured): every thread stops,
# the receiving UDP socket overflows, and TCP needs a second or more to recover; such an
# interval fell to 24% of the median in CI, and to 8% with no rekey configured at all. So an
# interval below a quarter of the median is a stall only when the host stole less than
# STEAL_EXCUSE (a quarter of a CPU) in it and in the interval before; the excused are logged.
#
# Usage: bash tests/e2e/rekeyload.sh (root; REKEY_SECONDS=30 sets the transfer's length).
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

SECS=${REKEY_SECONDS:-30}
lab_start c1

lab_keypair SRV
lab_keypair K1
SRV_CONF=$LAB_DIR/server.conf
C1_CONF=$LAB_DIR/client1.conf
write_server_conf "$SRV_CONF" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32"
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
sed -i 's|^KeepaliveInterval = 2$|KeepaliveInterval = 2\nRekeyAfter = 3|' "$C1_CONF"

SRV_LOG=$LAB_DIR/server.log
C1_LOG=$LAB_DIR/client1.log
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 10 || die "server did not come up"
vpngw_start client "$NS_C1" "$C1_CONF" "$C1_LOG"
C1_PID=$LAST_PID
check "client1 session up" wait_log "$C1_LOG" 'msg="session up"' 10
iperf_server_start || die "iperf3 server"

STEAL_EXCUSE=25 # % of one CPU
HZ=$(getconf CLK_TCK)

# intervals JSON T0 STEAL: "<n> <median Mbit/s> <min Mbit/s> <min's second> <retransmits>
# <stalls> <excused> <most stolen in an interval, % of a CPU>". Stalls: the intervals below a
# quarter of the median with less than STEAL_EXCUSE stolen in them and in the one before. T0:
# when iperf3 started (epoch seconds); STEAL: steal_watch's samples.
intervals() {
    "$PY" - "$1" "$2" "$3" "$STEAL_EXCUSE" "$HZ" <<'EOF'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
t0, excuse, hz = float(sys.argv[2]), float(sys.argv[4]), float(sys.argv[5])
samples = [tuple(map(float, l.split())) for l in open(sys.argv[3]) if len(l.split()) == 2]

def stolen_at(t):  # steal ticks at time t, interpolated between samples
    for (ta, sa), (tb, sb) in zip(samples, samples[1:]):
        if ta <= t <= tb:
            return sa + (sb - sa) * (t - ta) / max(tb - ta, 1e-6)
    return None

def stolen(a, b):  # % of one CPU stolen between a and b seconds into the transfer
    sa, sb = stolen_at(t0 + a), stolen_at(t0 + b)
    return 0.0 if sa is None or sb is None else 100.0 * (sb - sa) / hz / max(b - a, 1e-3)

iv = [(i["sum"]["start"], i["sum"]["end"], i["sum"]["bits_per_second"] / 1e6)
      for i in d["intervals"] if i["sum"]["seconds"] > 0.5]
med = statistics.median(r for _, _, r in iv)
steal = [stolen(a, b) for a, b, _ in iv]
stalls = excused = 0
for k, (a, b, r) in enumerate(iv):
    if r * 4 >= med:
        continue
    before = steal[k - 1] if k else 0.0
    if max(steal[k], before) >= excuse:
        excused += 1
        print("excused: %.0f Mbit/s at %.0f s; the host stole %.0f%% of a CPU then, %.0f%% the second before"
              % (r, a, steal[k], before), file=sys.stderr)
    else:
        stalls += 1
a, b, lo = min(iv, key=lambda x: x[2])
print(len(iv), "%.0f" % med, "%.0f" % lo, "%.0f" % a,
      d["end"].get("sum_sent", {}).get("retransmits", 0), stalls, excused, "%.0f" % max(steal))
EOF
}

drops() { # LOG: authentication, keyless and replay drops in the last stats line
    echo $(($(stat_of "$1" auth_fail_drops) + $(stat_of "$1" no_session_drops) + $(stat_of "$1" replay_drops)))
}

for dir in up down; do
    args=(); [ $dir = down ] && args=(-R)
    r0=$(grep -c 'msg=rekeyed' "$C1_LOG")
    PING_LOG=$LAB_DIR/ping-$dir.log
    ip netns exec "$NS_C1" ping -n -q -i 0.2 -c $((SECS * 5)) -W 2 "$NET_IP" >"$PING_LOG" 2>&1 &
    PING_PID=$!
    LAB_PIDS+=("$PING_PID")
    STEAL_LOG=$LAB_DIR/steal-$dir.log
    steal_watch "$STEAL_LOG" $((SECS + 5))
    STEAL_PID=$LAST_PID
    t0=$EPOCHREALTIME
    ip netns exec "$NS_C1" timeout $((SECS + 20)) iperf3 -c "$NET_IP" -p 5201 -t "$SECS" -i 1 -J "${args[@]}" \
        >"$LAB_DIR/iperf-$dir.json" 2>&1
    wait "$PING_PID"
    kill "$STEAL_PID" 2>/dev/null
    sleep 1.2   # one more stats line on each side
    rekeys=$(($(grep -c 'msg=rekeyed' "$C1_LOG") - r0))
    read -r n med lo at rtx stalls excused steal < <(intervals "$LAB_DIR/iperf-$dir.json" "$t0" "$STEAL_LOG" \
        2>"$LAB_DIR/excused-$dir.log" || echo "0 0 0 0 0 0 0 0")
    log "$dir: $rekeys rekeys in ${SECS} s; $n intervals, median $med Mbit/s, lowest $lo Mbit/s at ${at} s; TCP retransmits $rtx; the host stole up to ${steal}% of a CPU in an interval"
    while read -r line; do log "$dir: $line"; done <"$LAB_DIR/excused-$dir.log"
    check_gt "$dir: several rekeys during the transfer" "$rekeys" $((SECS / 5))
    check_gt "$dir: the transfer ran its $SECS one-second intervals" "$n" $((SECS - 2))
    check_eq "$dir: no interval stalls (below median $med / 4 while the CPUs were ours; lowest $lo, $excused excused)" "$stalls" 0
    got=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$PING_LOG")
    # A saturating flow overflows the receiving UDP socket's buffer now and then (a kernel
    # FIFO in front of vpngw, see README); a ping may be lost there, not to a rekey, whose
    # losses the drop counters below would show. A burst (several in a row) fails.
    check "$dir: the ping beside it is answered throughout (${got:-0} of $((SECS * 5)), at most 2% lost)" \
        test "${got:-0}" -ge $((SECS * 5 * 98 / 100))
done
check_eq "no packet lost to a key change at the client (auth, keyless, replay drops)" "$(drops "$C1_LOG")" 0
check_eq "no packet lost to a key change at the gateway (auth, keyless, replay drops)" "$(drops "$SRV_LOG")" 0
stable_session "one session throughout (rekeys, never a new session)" "$C1_LOG"
check_clean_stop end client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_clean_stop end server "$SRV_PID" "$NS_GW" "$TUN_GW"
lab_summary
