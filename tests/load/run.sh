#!/usr/bin/env bash
# tests/load/run.sh: many clients against one gateway, in the namespace lab (tests/e2e/lib.sh).
#
#   c1: build/vpngw_load, N clients in one process, each with its own key and UDP socket
#   c2: a real `vpngw client` ("bulk"), iperf3 to the internet host in the fairness phase
#   gw: vpngw server, Address = 10.77.0.1/16, one [Client] per load client plus "bulk"
#
# For each N (LOAD_N, default "10 100 1000"), a fresh gateway configured for N + 1 clients:
#   start-up      launch to the "gateway up" log line (the line's own timestamp)
#   handshakes    all N, LOAD_INFLIGHT (64) outstanding at once: handshakes/s, latency
#   keepalive     LOAD_KA_SECONDS idle, keepalives only (the gateway's KeepaliveInterval is
#                 LOAD_KEEPALIVE, 5 s): every client must get its keepalives answered
#   traffic       LOAD_TRAFFIC_SECONDS of ICMP echo to the gateway's tunnel address,
#                 LOAD_RATE_TOTAL (10000) echoes/s shared by the N clients. The gateway's CPU
#                 (utime+stime of /proc/PID/stat) between two of its stats lines, divided by
#                 the packets it forwarded between them (tun_tx_packets + udp_tx_datagrams)
#   fairness      the bulk client runs iperf3 up to the internet host (saturating) while the N
#                 clients ping at LOAD_FAIR_RATE_TOTAL (2000)/s shared, LOAD_FAIR_SECONDS long,
#                 or longer where that gives a client fewer than LOAD_FAIR_MIN_ECHOES (100)
#                 echoes (a p99 of fewer is its maximum; at most 120 s):
#                 p99 over all clients and the worst client's p99
#   memory        VmRSS of the gateway: with 1 client configured (the base), with N configured
#                 and no session, after the N handshakes, after the traffic. Memory per client
#                 = (RSS after traffic - base) / N, and (RSS configured - base) / N for the
#                 configuration alone.
# Then LOAD_BIG (10000) clients configured: start-up time and RSS; with LOAD_BIG_HANDSHAKE=1
# (default) all of them handshake and ping once a second for LOAD_BIG_TRAFFIC_SECONDS (3),
# and the RSS with LOAD_BIG sessions.
#
# Usage: bash tests/load/run.sh            the measurement; writes bench/results/load-<date>.md
#                                          (LOAD_RESULTS= another directory, LOAD_REPORT=0 none).
#                                          Asserts only what must hold on any machine: every
#                                          handshake completes, every client's keepalives and
#                                          echoes are answered, no authentication failure, clean
#                                          stops. Loss and latency are measured and reported.
#        bash tests/load/run.sh --smoke    N = 20, a few seconds per phase, no report; asserts:
#                                          every handshake completes, every client gets its
#                                          keepalives and echoes answered, loss under 5%, the
#                                          worst client's p99 under LOAD_SMOKE_P99_MS (50 ms:
#                                          lenient, the machine may be busy), clean stops.
# Root. Prints TAP-style lines and "N passed, N failed"; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../e2e/lib.sh"

SMOKE=0
case ${1:-} in
    --smoke) SMOKE=1 ;;
    "") ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [ "$SMOKE" -eq 1 ]; then
    LOAD_N=${LOAD_N:-20}
    LOAD_KA_SECONDS=${LOAD_KA_SECONDS:-3}
    LOAD_KEEPALIVE=${LOAD_KEEPALIVE:-2}
    LOAD_TRAFFIC_SECONDS=${LOAD_TRAFFIC_SECONDS:-3}
    LOAD_FAIR_SECONDS=${LOAD_FAIR_SECONDS:-3}
    LOAD_FAIR_MIN_ECHOES=${LOAD_FAIR_MIN_ECHOES:-0}
    LOAD_RATE_TOTAL=${LOAD_RATE_TOTAL:-400}
    LOAD_FAIR_RATE_TOTAL=${LOAD_FAIR_RATE_TOTAL:-400}
    LOAD_BIG=${LOAD_BIG:-0}
    LOAD_REPORT=0
fi
LOAD_N=${LOAD_N:-10 100 1000}
LOAD_INFLIGHT=${LOAD_INFLIGHT:-64}
LOAD_KA_SECONDS=${LOAD_KA_SECONDS:-6}
LOAD_KEEPALIVE=${LOAD_KEEPALIVE:-5}
LOAD_TRAFFIC_SECONDS=${LOAD_TRAFFIC_SECONDS:-10}
LOAD_FAIR_SECONDS=${LOAD_FAIR_SECONDS:-10}
LOAD_FAIR_MIN_ECHOES=${LOAD_FAIR_MIN_ECHOES:-100}
LOAD_RATE_TOTAL=${LOAD_RATE_TOTAL:-10000}
LOAD_FAIR_RATE_TOTAL=${LOAD_FAIR_RATE_TOTAL:-2000}
LOAD_BIG=${LOAD_BIG:-10000}
LOAD_BIG_HANDSHAKE=${LOAD_BIG_HANDSHAKE:-1}
LOAD_BIG_TRAFFIC_SECONDS=${LOAD_BIG_TRAFFIC_SECONDS:-3}
LOAD_REPORT=${LOAD_REPORT:-1}
LOAD_RESULTS=${LOAD_RESULTS:-$LAB_ROOT/bench/results}
LOAD_SMOKE_P99_MS=${LOAD_SMOKE_P99_MS:-50}
LOAD_TOOL=${LOAD_TOOL:-$LAB_ROOT/build/vpngw_load}
case $LOAD_TOOL in /*) ;; *) LOAD_TOOL=$LAB_ROOT/$LOAD_TOOL ;; esac

for v in LOAD_INFLIGHT LOAD_KA_SECONDS LOAD_KEEPALIVE LOAD_TRAFFIC_SECONDS LOAD_FAIR_SECONDS LOAD_FAIR_MIN_ECHOES \
         LOAD_RATE_TOTAL LOAD_FAIR_RATE_TOTAL LOAD_BIG LOAD_BIG_TRAFFIC_SECONDS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$0: $v=${!v}: want a whole number" >&2; exit 2; }
done
[ "$LOAD_KA_SECONDS" -gt "$LOAD_KEEPALIVE" ] ||
    { echo "$0: LOAD_KA_SECONDS=$LOAD_KA_SECONDS must exceed the keepalive interval LOAD_KEEPALIVE=$LOAD_KEEPALIVE" >&2; exit 2; }
MAXN=$LOAD_BIG
for n in $LOAD_N; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 60000 ] ||
        { echo "$0: LOAD_N: '$n': want 1-60000" >&2; exit 2; }
    [ "$n" -gt "$MAXN" ] && MAXN=$n
done

T0=$SECONDS
lab_init
lab_ensure_tools --install
lab_check_binary
[ -x "$LOAD_TOOL" ] || die "load tool not found at $LOAD_TOOL (run make)"
CLK_TCK=$(getconf CLK_TCK)
log "vpngw: $VPNGW; load tool: $LOAD_TOOL; run dir: $LAB_DIR, namespaces *-$LAB_SFX"
log "N = $LOAD_N; big = $LOAD_BIG; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

lab_up c1 c2

lab_keypair SRV
lab_keypair BULK
KEYS=$LAB_DIR/load.keys
"$LOAD_TOOL" genkeys "$MAXN" "$KEYS" || die "vpngw_load genkeys $MAXN failed"
BULK_TUN_IP=10.77.0.2
BULK_CONF=$LAB_DIR/bulk.conf
write_client_conf "$BULK_CONF" "$BULK_PRIV" "$TUN_C2" "$SRV_PUB"

# gw_conf FILE N: the gateway for the bulk client and the first N load clients
gw_conf() {
    {
        printf '[Server]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/16\nMTU = 1400\n' \
            "$SRV_PRIV" "$VPN_PORT" "$GW_TUN_IP"
        printf 'Interface = %s\nDNSProxy = off\nStatsInterval = 1\nKeepaliveInterval = %s\n' \
            "$TUN_GW" "$LOAD_KEEPALIVE"
        printf 'StateFile = %s/gateway.state\n' "$LAB_DIR"   # not the host's /var/lib/vpngw
        printf '\n[Client]\nName = bulk\nPublicKey = %s\nAddress = %s/32\n' "$BULK_PUB" "$BULK_TUN_IP"
        head -n "$2" "$KEYS" | awk '{ printf "\n[Client]\nName = load%d\nPublicKey = %s\n", NR, $2 }'
    } >"$1"
    chmod 600 "$1"
}

# udp_errs NS: UDP receive-buffer drops (RcvbufErrors) in namespace NS, from /proc/net/snmp
udp_errs() {
    ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 }
        else for (i = 1; i <= NF; i++) if (k[i] == "RcvbufErrors") print $i }' /proc/net/snmp
}
# gw_drops: the gateway's own drop counters, summed, from its last stats line
gw_drops() {
    local k t=0 v
    for k in queue_full_drops codel_drops inject_queue_full_drops no_endpoint_drops no_session_drops; do
        v=$(stat_of "$GW_LOG" "$k"); t=$((t + ${v:-0}))
    done
    echo "$t"
}
# tun_drops: packets the gateway's TUN device dropped (rx_dropped + tx_dropped: a full queue)
tun_drops() {
    ip netns exec "$NS_GW" sh -c 'cat /sys/class/net/$0/statistics/rx_dropped /sys/class/net/$0/statistics/tx_dropped' \
        "$TUN_GW" 2>/dev/null | awk '{ t += $1 } END { print t + 0 }'
}
vmsize_kb() { awk '/^VmSize:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
stats_count() { grep -cE 'msg=("stats"|stats)( |$)' "$1" 2>/dev/null || echo 0; }
ms_of_logtime() {   # "time=2026-...Z" of the first line matching ERE in FILE, as epoch ms
    local t
    t=$(grep -m1 -E -- "$2" "$1" | sed -nE 's/^time=([^ ]+)Z.*/\1/p')
    [ -n "$t" ] || return 1
    date -u -d "$t" +%s%3N
}

# gw_start N TAG: a gateway configured for N load clients; sets GW_PID GW_LOG GW_START_MS and
# GW_START_CPU_MS (its CPU time when the "gateway up" line was seen: the start-up's own cost,
# which a busy machine does not inflate as it does the wall time)
gw_start() {
    local conf=$LAB_DIR/gw-$2.conf t0 up_ms
    GW_LOG=$LAB_DIR/gw-$2.log
    gw_conf "$conf" "$1"
    t0=$(date +%s%3N)
    vpngw_start server "$NS_GW" "$conf" "$GW_LOG"
    GW_PID=$LAST_PID
    if ! wait_log "$GW_LOG" 'msg="gateway up"' 120; then
        GW_START_MS=""
        return 1
    fi
    GW_START_CPU_MS=$(( $(cpu_ticks "$GW_PID") * 1000 / CLK_TCK ))
    up_ms=$(ms_of_logtime "$GW_LOG" 'msg="gateway up"') || return 1
    GW_START_MS=$((up_ms - t0))
    sleep 1
    return 0
}

# gw_sample: waits for the gateway's next stats line, then reads its CPU ticks at once;
# sets S_TICKS S_FWD S_WALL_MS
gw_sample() {
    local n0 i
    n0=$(stats_count "$GW_LOG")
    for ((i = 0; i < 150; i++)); do
        [ "$(stats_count "$GW_LOG")" -gt "$n0" ] && break
        sleep 0.02
    done
    S_TICKS=$(cpu_ticks "$GW_PID")
    S_WALL_MS=$(date +%s%3N)
    S_FWD=$(( $(stat_of "$GW_LOG" tun_tx_packets) + $(stat_of "$GW_LOG" udp_tx_datagrams) ))
}

# res KEY: a field of the load tool's result line
res() { log_field "$RES_FILE" '^result ' "$1"; }

# ---------------------------------------------------------------------------------------------
# The base: a gateway with one client configured (the bulk one), no session.
gw_start 0 base || die "the base gateway did not come up: $(tail -n 3 "$GW_LOG")"
RSS_BASE=$(rss_kb "$GW_PID")
vpngw_stop "$GW_PID"
log "base gateway (1 client configured): RSS ${RSS_BASE} kB, up in ${GW_START_MS} ms"

declare -A R
ROWS=()

# run_n N: the whole schedule for N clients
run_n() {
    local n=$1 p="N=$1" tool_log=$LAB_DIR/load-$1.log rate fair_rate fair_s tool_pid bulk_pid bulk_log iperf_json
    local a_ticks a_fwd a_wall
    RES_FILE=$LAB_DIR/load-$n.result
    rate=$(( LOAD_RATE_TOTAL / n )); [ "$rate" -ge 1 ] || rate=1
    fair_rate=$(( LOAD_FAIR_RATE_TOTAL / n )); [ "$fair_rate" -ge 1 ] || fair_rate=1
    # Long enough for LOAD_FAIR_MIN_ECHOES echoes a client: the worst client's p99 means
    # something only then.
    fair_s=$(( (LOAD_FAIR_MIN_ECHOES + fair_rate - 1) / fair_rate ))
    [ "$fair_s" -ge "$LOAD_FAIR_SECONDS" ] || fair_s=$LOAD_FAIR_SECONDS
    [ "$fair_s" -le 120 ] || fair_s=120
    R[$n,fair_s]=$fair_s
    log "---- $p: $rate echoes/s per client in the traffic phase, $fair_rate/s for $fair_s s in the fairness phase"
    "$PY" "$LAB_ROOT/bench/cpuwatch.py" snap $$ "$LAB_DIR/cpuwatch-$n" 2>>"$LAB_DIR/cpuwatch.log"

    if ! gw_start "$n" "$n"; then
        not_ok "$p: gateway comes up" "$(tail -n 3 "$GW_LOG")"
        return 1
    fi
    R[$n,start_ms]=$GW_START_MS
    R[$n,start_cpu_ms]=$GW_START_CPU_MS
    R[$n,rss_conf]=$(rss_kb "$GW_PID")

    bulk_log=$LAB_DIR/bulk-$n.log
    vpngw_start client "$NS_C2" "$BULK_CONF" "$bulk_log"
    bulk_pid=$LAST_PID
    wait_log "$bulk_log" 'msg="session up"' 15 || not_ok "$p: the bulk client's session comes up"

    lab_bg "$NS_C1" "$tool_log" sh -c 'exec "$0" "$@" >"'"$RES_FILE"'"' "$LOAD_TOOL" run \
        --keys "$KEYS" --clients "$n" --server "$GW_CLIENT_IP:$VPN_PORT" --server-pub "$SRV_PUB" \
        --ping "$GW_TUN_IP" --inflight "$LOAD_INFLIGHT" --hs-timeout 60 \
        --keepalive-seconds "$LOAD_KA_SECONDS" --traffic-seconds "$LOAD_TRAFFIC_SECONDS" --rate "$rate" \
        --fair-seconds "$fair_s" --fair-rate "$fair_rate"
    tool_pid=$LAST_PID

    local hs_ticks
    hs_ticks=$(cpu_ticks "$GW_PID")
    if wait_log "$tool_log" '^phase=keepalive ' 70; then
        R[$n,rss_hs]=$(rss_kb "$GW_PID")
        R[$n,hs_cpu_us]=$(awk -v t=$(( $(cpu_ticks "$GW_PID") - hs_ticks )) -v hz="$CLK_TCK" -v n="$n" \
            'BEGIN { if (t >= 10) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')
    else
        not_ok "$p: the handshake phase ends" "$(tail -n 3 "$tool_log")"
    fi
    if wait_log "$tool_log" '^phase=traffic ' $((LOAD_KA_SECONDS + 10)); then
        local t_gw t_c1 t_d t_tun
        t_gw=$(udp_errs "$NS_GW"); t_c1=$(udp_errs "$NS_C1"); t_d=$(gw_drops); t_tun=$(tun_drops)
        sleep 1
        gw_sample; a_ticks=$S_TICKS; a_fwd=$S_FWD; a_wall=$S_WALL_MS
        sleep $((LOAD_TRAFFIC_SECONDS > 3 ? LOAD_TRAFFIC_SECONDS - 3 : 1))
        gw_sample
        R[$n,cpu_s]=$(awk -v t=$((S_TICKS - a_ticks)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
        R[$n,wall_s]=$(awk -v w=$((S_WALL_MS - a_wall)) 'BEGIN { printf "%.2f", w / 1000 }')
        R[$n,fwd]=$((S_FWD - a_fwd))
        R[$n,us_per_pkt]=$(awk -v t=$((S_TICKS - a_ticks)) -v hz="$CLK_TCK" -v f=$((S_FWD - a_fwd)) \
            'BEGIN { if (f > 0) printf "%.1f", t / hz * 1e6 / f; else print "n/a" }')
        R[$n,rss_traffic]=$(rss_kb "$GW_PID")
        wait_log "$tool_log" '^phase=traffic_end ' 10
        sleep 1.2   # one more stats line
        R[$n,traffic_gw_rcvbuf]=$(( $(udp_errs "$NS_GW") - t_gw ))
        R[$n,traffic_c1_rcvbuf]=$(( $(udp_errs "$NS_C1") - t_c1 ))
        R[$n,traffic_gw_drops]=$(( $(gw_drops) - t_d ))
        R[$n,traffic_tun_drops]=$(( $(tun_drops) - t_tun ))
    else
        not_ok "$p: the traffic phase starts" "$(tail -n 3 "$tool_log")"
    fi

    iperf_json=$LAB_DIR/iperf-$n.json
    if wait_log "$tool_log" '^phase=fair_wait ' $((LOAD_TRAFFIC_SECONDS + 10)); then
        ip netns exec "$NS_C2" timeout $((fair_s + 30)) \
            iperf3 -c "$NET_IP" -p 5201 -t $((fair_s + 4)) -J >"$iperf_json" 2>&1 &
        local iperf_pid=$! e_gw e_c1 d_gw e_tun
        LAB_PIDS+=("$iperf_pid")
        sleep 2
        e_gw=$(udp_errs "$NS_GW"); e_c1=$(udp_errs "$NS_C1"); d_gw=$(gw_drops); e_tun=$(tun_drops)
        kill -USR1 "$tool_pid" 2>/dev/null
        wait_log "$tool_log" '^phase=fair_end ' $((fair_s + 10))
        sleep 1.2   # one more stats line
        R[$n,fair_gw_rcvbuf]=$(( $(udp_errs "$NS_GW") - e_gw ))
        R[$n,fair_c1_rcvbuf]=$(( $(udp_errs "$NS_C1") - e_c1 ))
        R[$n,fair_gw_drops]=$(( $(gw_drops) - d_gw ))
        R[$n,fair_tun_drops]=$(( $(tun_drops) - e_tun ))
        # The time each echo spent inside the gateway (its per-client histograms, since start):
        # what of the round trip is vpngw's and what is the machine's.
        "$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-$n.json" 2>>"$LAB_DIR/show.err"
        R[$n,inside_p99]=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
out = []
for k in ("udp_to_tun", "tun_to_udp"):
    v = sorted(c["latency_us"][k]["p99"] for c in d["clients"] if c["name"] != "bulk" and c["latency_us"][k]["count"])
    out.append("%.3f / %.3f" % (v[len(v) // 2] / 1000, v[-1] / 1000) if v else "-")
print(" ; ".join(out))' "$LAB_DIR/show-$n.json" 2>>"$LAB_DIR/show.err")
        log "$p: inside the gateway, per load client p99 (median / worst), ms: up (udp_to_tun) ${R[$n,inside_p99]% ; *}, down (tun_to_udp) ${R[$n,inside_p99]#* ; }"
        log "$p: during the fairness phase: gateway UDP socket receive-buffer drops ${R[$n,fair_gw_rcvbuf]}, gateway queue drops ${R[$n,fair_gw_drops]}, gateway TUN drops ${R[$n,fair_tun_drops]}, load clients' socket receive-buffer drops ${R[$n,fair_c1_rcvbuf]}"
        wait "$iperf_pid" 2>/dev/null
        read -r R[$n,bulk_mbps] _ < <(iperf_mbps "$iperf_json")
    fi
    local i
    for ((i = 0; i < (fair_s + 20) * 10; i++)); do
        proc_alive "$tool_pid" || break
        sleep 0.1
    done
    if lab_stop "$tool_pid" 1 TERM && [ "$STOP_RC" = 0 ]; then
        ok "$p: the load tool completes its run"
    else
        not_ok "$p: the load tool completes its run" "exit status $STOP_RC" "$(tail -n 5 "$tool_log")"
    fi
    sed 's/^/#   /' "$tool_log" | grep -v '^#   phase=' >&2

    R[$n,gw_handshakes]=$(stat_of "$GW_LOG" handshakes)
    R[$n,other_cpu]=$("$PY" "$LAB_ROOT/bench/cpuwatch.py" diff $$ "$LAB_DIR/cpuwatch-$n" 2>>"$LAB_DIR/cpuwatch.log")
    log "$p: other processes (not this run's) used ${R[$n,other_cpu]:-?}% of the machine meanwhile"
    check_clean_stop "$p" "bulk client" "$bulk_pid" "$NS_C2" "$TUN_C2"
    check_clean_stop "$p" gateway "$GW_PID" "$NS_GW" "$TUN_GW"
    [ -s "$RES_FILE" ] || { not_ok "$p: the load tool printed its result line"; return 1; }

    local k
    for k in hs_per_s hs_lat_p50_ms hs_lat_p99_ms hs_lat_max_ms handshakes_ok hs_retries \
             ka_sent ka_answered ka_clients_answered \
             traffic_sent traffic_recv traffic_lost traffic_clients_answered traffic_rtt_p50_ms \
             traffic_rtt_p99_ms traffic_rtt_max_ms traffic_worst_client_p99_ms \
             fair_sent fair_recv fair_lost fair_clients_answered fair_rtt_p50_ms fair_rtt_p95_ms \
             fair_rtt_p99_ms fair_rtt_max_ms fair_worst_client_p99_ms sessions_lost auth_fail malformed; do
        R[$n,$k]=$(res "$k")
    done
    ROWS+=("$n")
    assert_n "$n"
}

# lost_ok SENT LOST: under 5%
lost_ok() { [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ $(($2 * 20)) -lt "$1" ]; }
# lt_ms VALUE BOUND
lt_ms() { awk -v v="$1" -v b="$2" 'BEGIN { exit !(v == v + 0 && v < b) }'; }

assert_n() {
    local n=$1 p="N=$1"
    check_eq "$p: every handshake completes" "${R[$n,handshakes_ok]}" "$n"
    # at least: the bulk client is a real one and may retry or rekey under load
    check "$p: the gateway counted at least N + 1 handshakes (bulk too): ${R[$n,gw_handshakes]}" \
        test "${R[$n,gw_handshakes]:-0}" -ge $((n + 1))
    check_eq "$p: every client's keepalives are answered" "${R[$n,ka_clients_answered]}" "$n"
    check_eq "$p: every client gets echo replies" "${R[$n,traffic_clients_answered]}" "$n"
    check_eq "$p: with the bulk client saturating, every client gets echo replies" \
        "${R[$n,fair_clients_answered]}" "$n"
    check_eq "$p: no session lost, no authentication failure" \
        "${R[$n,sessions_lost]}/${R[$n,auth_fail]}/${R[$n,malformed]}" 0/0/0
    check_gt "$p: the bulk client moved data (iperf3, Mbit/s)" "${R[$n,bulk_mbps]%.*}" 0
    if [ "$SMOKE" -eq 1 ]; then
        check "$p: echo loss under 5% (${R[$n,traffic_lost]} of ${R[$n,traffic_sent]})" \
            lost_ok "${R[$n,traffic_sent]}" "${R[$n,traffic_lost]}"
        check "$p: with the bulk client saturating, echo loss under 5% (${R[$n,fair_lost]} of ${R[$n,fair_sent]})" \
            lost_ok "${R[$n,fair_sent]}" "${R[$n,fair_lost]}"
        check "$p: worst client's p99 under load ${R[$n,fair_worst_client_p99_ms]} ms < $LOAD_SMOKE_P99_MS ms (lenient: busy machine)" \
            lt_ms "${R[$n,fair_worst_client_p99_ms]}" "$LOAD_SMOKE_P99_MS"
    else
        log "$p: echo loss ${R[$n,traffic_lost]} of ${R[$n,traffic_sent]}, with the bulk client saturating ${R[$n,fair_lost]} of ${R[$n,fair_sent]} (measured, not asserted outside --smoke)"
        log "$p: fairness: p99 ${R[$n,fair_rtt_p99_ms]} ms, worst client's p99 ${R[$n,fair_worst_client_p99_ms]} ms (goal < 2 ms)"
    fi
}

iperf_server_start || die "iperf3 server did not start"
for n in $LOAD_N; do
    run_n "$n"
done

# ---------------------------------------------------------------------------------------------
# LOAD_BIG clients configured
if [ "$LOAD_BIG" -gt 0 ]; then
    log "---- $LOAD_BIG clients configured"
    if gw_start "$LOAD_BIG" big; then
        BIG_START_MS=$GW_START_MS
        BIG_START_CPU_MS=$GW_START_CPU_MS
        BIG_RSS_CONF=$(rss_kb "$GW_PID")
        BIG_VMSIZE=$(vmsize_kb "$GW_PID")
        ok "N=$LOAD_BIG: gateway up in $BIG_START_MS ms, RSS $BIG_RSS_CONF kB (virtual $BIG_VMSIZE kB)"
        if [ "$LOAD_BIG_HANDSHAKE" = 1 ]; then
            RES_FILE=$LAB_DIR/load-big.result
            big_ticks=$(cpu_ticks "$GW_PID")
            lab_bg "$NS_C1" "$LAB_DIR/load-big.log" sh -c 'exec "$0" "$@" >"'"$RES_FILE"'"' "$LOAD_TOOL" run \
                --keys "$KEYS" --clients "$LOAD_BIG" \
                --server "$GW_CLIENT_IP:$VPN_PORT" --server-pub "$SRV_PUB" --ping "$GW_TUN_IP" \
                --inflight "$LOAD_INFLIGHT" --hs-timeout 120 --keepalive-seconds 0 \
                --traffic-seconds "$LOAD_BIG_TRAFFIC_SECONDS" --rate 1
            big_pid=$LAST_PID
            wait_log "$LAB_DIR/load-big.log" '^phase=keepalive ' 130 &&
                BIG_HS_CPU_US=$(awk -v t=$(( $(cpu_ticks "$GW_PID") - big_ticks )) -v hz="$CLK_TCK" -v n="$LOAD_BIG" \
                    'BEGIN { if (t >= 10) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')
            for ((i = 0; i < (LOAD_BIG_TRAFFIC_SECONDS + 20) * 10; i++)); do
                proc_alive "$big_pid" || break
                sleep 0.1
            done
            lab_stop "$big_pid" 1 TERM; rc=$STOP_RC
            BIG_RSS_SESS=$(rss_kb "$GW_PID")
            sed 's/^/#   /' "$LAB_DIR/load-big.log" | grep -v '^#   phase=' >&2
            check_eq "N=$LOAD_BIG: the load tool completes its run" "$rc" 0
            BIG_HS_OK=$(res handshakes_ok); BIG_HS_RATE=$(res hs_per_s)
            BIG_HS_P99=$(res hs_lat_p99_ms); BIG_ANSWERED=$(res traffic_clients_answered)
            BIG_RTT_P99=$(res traffic_rtt_p99_ms); BIG_HS_RETRIES=$(res hs_retries); BIG_LOST=$(res sessions_lost)
            check_eq "N=$LOAD_BIG: every handshake completes" "$BIG_HS_OK" "$LOAD_BIG"
            check_eq "N=$LOAD_BIG: every client gets echo replies" "$BIG_ANSWERED" "$LOAD_BIG"
        fi
        check_clean_stop "N=$LOAD_BIG" gateway "$GW_PID" "$NS_GW" "$TUN_GW"
    else
        not_ok "N=$LOAD_BIG: gateway comes up" "$(tail -n 3 "$GW_LOG")"
    fi
fi
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Summary and report
per_client() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a == a + 0 && b == b + 0 && n > 0) printf "%.1f", (a - b) / n; else print "n/a" }'; }

table() {
    local n prev=""
    printf '| N | start-up, ms (CPU ms) | handshakes/s (gateway CPU per handshake, us) | handshake latency p50 / p99 / max, ms | gateway RSS: configured / after handshakes / after traffic, MB | memory per client over the base: configured / with session, kB | the same, marginal from the row above, kB | gateway CPU per forwarded packet, us (packets, CPU s / wall s) | echo RTT p50 / p99 / max, ms (no bulk) | with one client saturating (bulk iperf3 Mbit/s): echo RTT p50 / p99 / max, ms | worst client p99, ms | loss, %% (traffic / under load) | other processes'"'"' CPU meanwhile, %% of the machine |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
    for n in "${ROWS[@]}"; do
        printf '| %s | %s (%s) | %s (%s) | %s / %s / %s | %s / %s / %s | %s / %s | %s / %s | %s (%s, %s / %s) | %s / %s / %s | (%s) %s / %s / %s | %s | %s / %s | %s |\n' \
            "$n" "${R[$n,start_ms]}" "${R[$n,start_cpu_ms]}" "${R[$n,hs_per_s]}" "${R[$n,hs_cpu_us]:-n/a}" \
            "${R[$n,hs_lat_p50_ms]}" "${R[$n,hs_lat_p99_ms]}" "${R[$n,hs_lat_max_ms]}" \
            "$(awk -v k="${R[$n,rss_conf]}" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(awk -v k="${R[$n,rss_hs]:-0}" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(awk -v k="${R[$n,rss_traffic]:-0}" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(per_client "${R[$n,rss_conf]}" "$RSS_BASE" "$n")" \
            "$(per_client "${R[$n,rss_traffic]:-x}" "$RSS_BASE" "$n")" \
            "$([ -n "$prev" ] && per_client "${R[$n,rss_conf]}" "${R[$prev,rss_conf]}" $((n - prev)) || echo -)" \
            "$([ -n "$prev" ] && per_client "${R[$n,rss_traffic]:-x}" "${R[$prev,rss_traffic]:-x}" $((n - prev)) || echo -)" \
            "${R[$n,us_per_pkt]:-n/a}" "${R[$n,fwd]:-n/a}" "${R[$n,cpu_s]:-n/a}" "${R[$n,wall_s]:-n/a}" \
            "${R[$n,traffic_rtt_p50_ms]}" "${R[$n,traffic_rtt_p99_ms]}" "${R[$n,traffic_rtt_max_ms]}" \
            "${R[$n,bulk_mbps]:-n/a}" "${R[$n,fair_rtt_p50_ms]}" "${R[$n,fair_rtt_p99_ms]}" "${R[$n,fair_rtt_max_ms]}" \
            "${R[$n,fair_worst_client_p99_ms]}" \
            "$(awk -v l="${R[$n,traffic_lost]}" -v s="${R[$n,traffic_sent]}" 'BEGIN{ if (s > 0) printf "%.2f", 100*l/s; else print "n/a" }')" \
            "$(awk -v l="${R[$n,fair_lost]}" -v s="${R[$n,fair_sent]}" 'BEGIN{ if (s > 0) printf "%.2f", 100*l/s; else print "n/a" }')" \
            "${R[$n,other_cpu]:-n/a}"
        prev=$n
    done
}

big_lines() {
    [ "$LOAD_BIG" -gt 0 ] || return 0
    printf -- '- %s clients configured: gateway start-up (launch to the "gateway up" line) %s ms (its CPU time %s ms), RSS %s MB (virtual %s MB), %s kB a client over the base (configuration alone)\n' \
        "$LOAD_BIG" "${BIG_START_MS:-n/a}" "${BIG_START_CPU_MS:-n/a}" "$(awk -v k="${BIG_RSS_CONF:-0}" 'BEGIN{printf "%.1f", k/1024}')" \
        "$(awk -v k="${BIG_VMSIZE:-0}" 'BEGIN{printf "%.0f", k/1024}')" \
        "$(per_client "${BIG_RSS_CONF:-x}" "$RSS_BASE" "$LOAD_BIG")"
    [ "$LOAD_BIG_HANDSHAKE" = 1 ] || return 0
    printf -- '- all %s with a session (%s handshakes completed at %s/s, %s retries, %s sessions lost and restarted, gateway CPU %s us a client'"'"'s handshake, latency p99 %s ms; each then pinged once a second for %s s, %s clients answered, RTT p99 %s ms): RSS %s MB, %s kB a client over the base\n' \
        "$LOAD_BIG" "${BIG_HS_OK:-n/a}" "${BIG_HS_RATE:-n/a}" "${BIG_HS_RETRIES:-n/a}" "${BIG_LOST:-n/a}" "${BIG_HS_CPU_US:-n/a}" "${BIG_HS_P99:-n/a}" "$LOAD_BIG_TRAFFIC_SECONDS" \
        "${BIG_ANSWERED:-n/a}" "${BIG_RTT_P99:-n/a}" "$(awk -v k="${BIG_RSS_SESS:-0}" 'BEGIN{printf "%.1f", k/1024}')" \
        "$(per_client "${BIG_RSS_SESS:-x}" "$RSS_BASE" "$LOAD_BIG")"
}

fair_lines() {
    local n
    for n in "${ROWS[@]}"; do
        printf -- '- N = %s, traffic phase: %s echoes of %s lost; meanwhile %s datagrams dropped for a full receive buffer at the gateway'"'"'s UDP socket, %s in the gateway'"'"'s own queues, %s at its TUN device, %s at the load clients'"'"' sockets\n' \
            "$n" "${R[$n,traffic_lost]:-n/a}" "${R[$n,traffic_sent]:-n/a}" "${R[$n,traffic_gw_rcvbuf]:-n/a}" \
            "${R[$n,traffic_gw_drops]:-n/a}" "${R[$n,traffic_tun_drops]:-n/a}" "${R[$n,traffic_c1_rcvbuf]:-n/a}"
        printf -- '- N = %s, fairness phase (%s s): %s echoes of %s lost; meanwhile %s datagrams dropped for a full receive buffer at the gateway'"'"'s UDP sockets (16 data sockets, each client on one of them by clientId; mostly the bulk client drops), %s dropped in the gateway'"'"'s own queues (queue_full, codel, inject, no_endpoint, no_session; the bulk flow'"'"'s too), %s at its TUN device, %s at the load clients'"'"' sockets\n' \
            "$n" "${R[$n,fair_s]:-n/a}" "${R[$n,fair_lost]:-n/a}" "${R[$n,fair_sent]:-n/a}" "${R[$n,fair_gw_rcvbuf]:-n/a}" \
            "${R[$n,fair_gw_drops]:-n/a}" "${R[$n,fair_tun_drops]:-n/a}" "${R[$n,fair_c1_rcvbuf]:-n/a}"
        printf -- '- N = %s, time inside the gateway (vpngw show, each load client'"'"'s p99 since start; median / worst client), ms: up (UDP to TUN) %s, down (TUN to UDP) %s\n' \
            "$n" "${R[$n,inside_p99]% ; *}" "${R[$n,inside_p99]#* ; }"
    done
}

log "base RSS (1 client configured): $RSS_BASE kB"
table | sed 's/^/# /'
fair_lines | sed 's/^/# /'
big_lines | sed 's/^/# /'

if [ "$LOAD_REPORT" = 1 ] && [ ${#ROWS[@]} -gt 0 ]; then
    mkdir -p "$LOAD_RESULTS" || die "mkdir $LOAD_RESULTS"
    REPORT=$LOAD_RESULTS/load-$(date -u +%Y-%m-%d).md
    {
        printf '# vpngw: many clients against one gateway, %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf 'Machine: %s cores x %s, Linux %s; git commit %s%s.\n' "$(nproc)" \
            "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(uname -r)" \
            "$(git -C "$LAB_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
            "$(git -C "$LAB_ROOT" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || echo ' (with uncommitted changes)')"
        printf 'Load average (1/5/15 min) at the start: %s; at the end: %s.' "$LOADAVG_START" "$LOADAVG_END"
        printf ' Everything runs on these cores at once: the gateway, the load tool, the bulk client, iperf3, and whatever else the machine is doing.\n\n'
        printf 'Command: `make load` (`bash tests/load/run.sh`) with LOAD_N="%s" LOAD_INFLIGHT=%s LOAD_KA_SECONDS=%s LOAD_KEEPALIVE=%s LOAD_TRAFFIC_SECONDS=%s LOAD_RATE_TOTAL=%s LOAD_FAIR_SECONDS=%s LOAD_FAIR_MIN_ECHOES=%s LOAD_FAIR_RATE_TOTAL=%s LOAD_BIG=%s LOAD_BIG_HANDSHAKE=%s.\n\n' \
            "$LOAD_N" "$LOAD_INFLIGHT" "$LOAD_KA_SECONDS" "$LOAD_KEEPALIVE" "$LOAD_TRAFFIC_SECONDS" "$LOAD_RATE_TOTAL" \
            "$LOAD_FAIR_SECONDS" "$LOAD_FAIR_MIN_ECHOES" "$LOAD_FAIR_RATE_TOTAL" "$LOAD_BIG" "$LOAD_BIG_HANDSHAKE"
        table
        printf '\n'
        fair_lines
        printf '\nBase: a gateway with one client configured and no session, RSS %s kB.\n\n' "$RSS_BASE"
        big_lines
        cat <<'EOF'

## Method

Lab: tests/e2e/lib.sh's namespaces (client hosts -- bridge -- gateway -- internet host, veth
pairs). One `build/vpngw_load` process in one client namespace drives N clients, each with its
own X25519 key and its own UDP socket, so the gateway sees N endpoints; its handshakes and
sealing are vpngw's own core functions. A real `vpngw client` ("bulk") in a second namespace.
For each N a fresh gateway is configured with N + 1 clients (Address = 10.77.0.1/16).

- **Start-up**: from just before the gateway is launched to the timestamp of its
  `msg="gateway up"` line (config parsing, buffers, registry, TUN).
- **Handshakes/s**: the load tool keeps LOAD_INFLIGHT handshakes outstanding and starts the
  next as soon as one completes; N divided by the time from the first HS_INIT to the last
  HS_RESP. Latency: from a client's first HS_INIT to its HS_RESP (retries included).
- **Memory per client**: VmRSS of the gateway (/proc/PID/status) minus the base (a gateway with
  one client configured, no session), divided by N: once right after start (configuration:
  per-client queues and tables), once after the N handshakes and the traffic phase (sessions,
  keys, cipher contexts, packet buffers touched).
- **CPU per packet**: the gateway's utime + stime (/proc/PID/stat) between two of its stats
  lines about LOAD_TRAFFIC_SECONDS - 3 s apart inside the traffic phase, divided by the packets
  it forwarded between them (tun_tx_packets + udp_tx_datagrams: each echo is one packet to
  its TUN and each reply one datagram out, so keepalives are in there too). The traffic is
  ICMP echo from every client to the gateway's tunnel address, LOAD_RATE_TOTAL a second over
  all clients.
- **Fairness**: the bulk client runs iperf3 (TCP, up) to the internet host through the
  gateway, saturating it, while every load client pings the gateway's tunnel address
  (LOAD_FAIR_RATE_TOTAL a second over all clients), for LOAD_FAIR_SECONDS or longer, so
  that each client sends at least LOAD_FAIR_MIN_ECHOES echoes (a p99 of fewer than 100 is
  the client's slowest echo); RTT percentiles over every echo of every client, and the
  p99 of the worst client. The goal is under 2 ms.
- RTT: from just before the load tool sends an echo to the kernel's receive timestamp of the
  reply on the client's socket (SO_TIMESTAMPNS), as ping(8) measures it: the load tool's own
  wake-up on the busy machine is not counted (until 3ef5f7b it was).
- Loss: echoes without a reply within 1 s.
EOF
    } >"$REPORT"
    log "report written to $REPORT"
fi

log "load run took $((SECONDS - T0)) s"
lab_summary
