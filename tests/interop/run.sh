#!/usr/bin/env bash
# tests/interop/run.sh: the independent Python client (tests/interop/vpngw_client.py, written
# from docs/PROTOCOL.md alone) against the real vpngw server, in network namespaces made (and
# removed) here by tests/e2e/lib.sh:
#
#   client host (python client) -- gateway (vpngw server, NAT) -- internet host
#
# Cases: the test vectors of PROTOCOL.md appendix A; a) AES-256-GCM forced, two rekeys under traffic  b) ChaCha20-Poly1305 forced, two
# rekeys, an idle spell of keepalives  c) both offered: the gateway picks AES-256-GCM (skipped
# without AES hardware, where the gateway does not offer it)  d) the gateway's counters agree
# with what the client did  e) a key the gateway does not list gets no session  f) IPv6: the
# gateway has an IPv6 pool; a client that asks (--ipv6) gets the IPv6 form of HS_RESP and pings
# the gateway's IPv6 tunnel address with ICMPv6 through the tunnel (runs a-c, which do not
# ask, check that they get the IPv4 form, and b that the gateway sends them no IPv6).
#
# Usage: bash tests/interop/run.sh   (root; VPNGW=path overrides build/vpngw, LAB_KEEP=1 keeps
# the logs). TAP-style "ok - ..." lines and "N passed, N failed"; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../e2e/lib.sh"
CLIENT_PY=$LAB_ROOT/tests/interop/vpngw_client.py

T0=$SECONDS
lab_init
lab_ensure_tools --install
lab_check_binary
"$PY" -c 'import dissononce, cryptography' 2>/dev/null ||
    die "python3-dissononce and python3-cryptography are needed (make deps)"
log "vpngw: $VPNGW ($("$VPNGW" --version 2>&1 | head -n 1))"
log "run dir: $LAB_DIR, namespaces *-$LAB_SFX"

# the test vectors of PROTOCOL.md appendix A, from the same code that talks to the gateway
if vres=$("$PY" "$CLIENT_PY" --check-vectors "$LAB_ROOT/docs/PROTOCOL.md" 2>&1); then
    ok "PROTOCOL.md appendix A matches the client's own computation ($(tail -n 1 <<<"$vres"))"
else
    not_ok "PROTOCOL.md appendix A matches the client's own computation" "$vres"
fi

lab_up c1 c2

# keys as files, the way `vpngw genkey` / `vpngw pubkey` write them
lab_keypair SRV
lab_keypair K1
lab_keypair KI
# shellcheck disable=SC2153  # set by lab_keypair
printf '%s\n' "$K1_PRIV" >"$LAB_DIR/client.key"
printf '%s\n' "$KI_PRIV" >"$LAB_DIR/intruder.key"
printf '%s\n' "$SRV_PUB" >"$LAB_DIR/server.pub"
chmod 600 "$LAB_DIR/client.key" "$LAB_DIR/intruder.key"

SRV_CONF=$LAB_DIR/server.conf
SRV_LOG=$LAB_DIR/server.log
write_server_conf "$SRV_CONF" "$SRV_PRIV" pyclient "$K1_PUB" "$C1_TUN_IP/32"
GW_TUN6=fd77::1
sed -i "s|^Address = $GW_TUN_IP/24\$|Address = $GW_TUN_IP/24, $GW_TUN6/64|" "$SRV_CONF"
HANDSHAKE='msg=("handshake"|handshake)( |$)'
declare -A CIPHER_NAME=([aes]=aes-256-gcm [chacha]=chacha20-poly1305)
# the gateway offers AES-256-GCM only with AES hardware (x86: AES-NI and PCLMULQDQ)
AES_HW=0
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo && AES_HW=1

vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
if ! wait_tun "$NS_GW" "$TUN_GW" "$SRV_PID"; then
    not_ok "server starts and creates $TUN_GW" "$(tail -n 5 "$SRV_LOG")"
    lab_summary
    exit 1
fi
ok "server starts and creates its TUN device $TUN_GW"

# pyclient NS LOGFILE ARGS...: the Python client against the gateway, bounded by timeout(1);
# its exit status in PY_RC
pyclient() {
    local ns=$1 logf=$2; shift 2
    ip netns exec "$ns" timeout 90 "$PY" "$CLIENT_PY" --endpoint "$GW_CLIENT_IP:$VPN_PORT" \
        --server-pub "$LAB_DIR/server.pub" "$@" >"$logf" 2>&1 </dev/null
    PY_RC=$?
    sed 's/^/#   /' "$logf"
}

# hs_count: how many handshakes the server has logged so far
hs_count() { grep -cE "$HANDSHAKE" "$SRV_LOG" 2>/dev/null || true; }

# interop_run NAME CIPHERS EXPECT REKEYS [EXTRA...]: one client run and its checks
interop_run() {
    local name=$1 ciphers=$2 expect=$3 rekeys=$4; shift 4
    local out=$LAB_DIR/pyclient-$name.log hs0 hs1 new rek cid lines
    hs0=$(hs_count)
    log "$name: Python client offers $ciphers, $rekeys rekeys"
    pyclient "$NS_C1" "$out" --key "$LAB_DIR/client.key" --ciphers "$ciphers" \
        --expect-cipher "$expect" --rekeys "$rekeys" --target "$GW_TUN_IP" --target "$NET_IP" \
        --pings 10 --interval 0.05 --reply-timeout 2 "$@"
    check_eq "$name: Python client exits 0" "$PY_RC" 0
    if grep -q "^RESULT: PASS cipher=${CIPHER_NAME[$expect]} rekeys=$rekeys\$" "$out"; then
        ok "$name: client reports PASS with ${CIPHER_NAME[$expect]} and $rekeys rekeys"
    else
        not_ok "$name: client reports PASS with ${CIPHER_NAME[$expect]} and $rekeys rekeys" \
            "$(grep '^RESULT' "$out")"
    fi
    wait_log "$SRV_LOG" "$HANDSHAKE" 3 $((hs0 + 1 + rekeys))
    hs1=$(hs_count)
    lines=$(grep -E "$HANDSHAKE" "$SRV_LOG" | tail -n +$((hs0 + 1)))
    check_eq "$name: server logs $((1 + rekeys)) handshakes" $((hs1 - hs0)) $((1 + rekeys))
    new=$(grep -cE 'client="?pyclient"? .*session=new ' <<<"$lines") || new=0
    rek=$(grep -cE 'client="?pyclient"? .*session=rekey ' <<<"$lines") || rek=0
    check_eq "$name: server: pyclient's session new once, then rekeyed $rekeys times" \
        "$new/$rek" "1/$rekeys"
    check_eq "$name: server: every handshake of the run chose ${CIPHER_NAME[$expect]}" \
        "$(grep -c "cipher=${CIPHER_NAME[$expect]}\$" <<<"$lines")" $((1 + rekeys))
    cid=$(sed -nE 's/^session up: client_id=([0-9a-f]{32}) .*/\1/p' "$out")
    printf -v "CID_${name//-/_}" %s "$cid"
}

# ---------------------------------------------------------------------------------------------
log "a) AES-256-GCM forced"
if [ "$AES_HW" -eq 1 ]; then
    interop_run aes aes aes 2
    RUNS=1
else
    log "a: skipped: no AES hardware here, so the gateway offers ChaCha20-Poly1305 only"
    RUNS=0
fi

log "b) ChaCha20-Poly1305 forced; an idle spell with 1 s keepalives"
# Meanwhile the gateway's own pings to fd77::2, the IPv6 address the pool would give this
# client had it asked for one: it did not, so they must not reach it (the client counts any
# packet it did not expect as a failure) and count as the gateway's no_route_drops.
noroute0=$(stat_of "$SRV_LOG" no_route_drops)
lab_bg "$NS_GW" "$LAB_DIR/ping6-ipv4-client.log" ping -6 -n -i 0.2 -c 40 -W 1 -w 10 fd77::2
PING6_PID=$LAST_PID
interop_run chacha chacha chacha 2 --idle 3 --keepalive-interval 1
RUNS=$((RUNS + 1))
lab_stop "$PING6_PID" 2 INT
check "b: IPv6 for a client that took the IPv4 form is dropped at the gateway (no_route_drops)" \
    wait_stat_gt "$SRV_LOG" no_route_drops "${noroute0:-0}" 3
if grep -qE '^idle 3.0 s: keepalives sent [1-9][0-9]*, answered [1-9]' "$LAB_DIR/pyclient-chacha.log"; then
    ok "b: keepalives sent and answered while idle"
else
    not_ok "b: keepalives sent and answered while idle" "$(grep '^idle' "$LAB_DIR/pyclient-chacha.log")"
fi

log "c) both ciphers offered"
if [ "$AES_HW" -eq 1 ]; then
    interop_run both aes,chacha aes 1
    RUNS=$((RUNS + 1))
    # shellcheck disable=SC2154  # set by interop_run
    check_ne "c: a new run is a new session (new clientId)" "$CID_both" "$CID_chacha"
else
    interop_run both aes,chacha chacha 1
    RUNS=$((RUNS + 1))
fi

# ---------------------------------------------------------------------------------------------
log "d) the gateway's counters"
# each run's replay and spoof checks are one drop each; wait for a stats line that has them
wait_stat_ge "$SRV_LOG" spoofed_source_drops "$RUNS" 5
check_eq "d: server replay_drops = one per run (the client's replayed datagram)" \
    "$(stat_of "$SRV_LOG" replay_drops)" "$RUNS"
check_eq "d: server spoofed_source_drops = one per run" \
    "$(stat_of "$SRV_LOG" spoofed_source_drops)" "$RUNS"
for c in auth_fail_drops malformed_drops handshake_rejects unknown_client_drops; do
    check_eq "d: server $c = 0" "$(stat_of "$SRV_LOG" "$c")" 0
done
check_eq "d: server keeps one session for the client (active_clients)" \
    "$(stat_of "$SRV_LOG" active_clients)" 1

# ---------------------------------------------------------------------------------------------
log "e) a key the gateway does not list"
rejects0=$(stat_of "$SRV_LOG" handshake_rejects)
hs0=$(hs_count)
pyclient "$NS_C2" "$LAB_DIR/pyclient-intruder.log" --key "$LAB_DIR/intruder.key" \
    --expect-no-session --handshake-timeout 4
check_eq "e: the client gets no session (exits 0 with --expect-no-session)" "$PY_RC" 0
if wait_stat_gt "$SRV_LOG" handshake_rejects "${rejects0:-0}" 5; then
    ok "e: server handshake_rejects rises ($(stat_of "$SRV_LOG" handshake_rejects))"
else
    not_ok "e: server handshake_rejects rises" "$(stats_line "$SRV_LOG" | cut -c1-400)"
fi
check_eq "e: server logs no handshake for it" "$(hs_count)" "$hs0"

# ---------------------------------------------------------------------------------------------
log "f) IPv6: the client asks for it and pings the gateway's $GW_TUN6 with ICMPv6"
out=$LAB_DIR/pyclient-ipv6.log
pyclient "$NS_C1" "$out" --key "$LAB_DIR/client.key" --ipv6 --rekeys 1 \
    --target "$GW_TUN6" --target "$GW_TUN_IP" --pings 10 --interval 0.05 --reply-timeout 2
check_eq "f: Python client exits 0" "$PY_RC" 0
check "f: client reports PASS" grep -q '^RESULT: PASS ' "$out"
check "f: the gateway gave it fd77::2/64 (the IPv6 form of HS_RESP)" grep -q '^address6: fd77::2/64$' "$out"
check "f: every ICMPv6 echo was answered, through a rekey too" \
    grep -qE "^phase final +answered/sent: $GW_TUN6 10/10 " "$out"

# ---------------------------------------------------------------------------------------------
check "server still running" proc_alive "$SRV_PID"
log "last server stats: $(stats_line "$SRV_LOG" | sed -E 's/.*msg="?stats"? ?//' | cut -c1-600)"
check_clean_stop end server "$SRV_PID" "$NS_GW" "$TUN_GW"
log "run time $((SECONDS - T0)) s"
lab_summary
