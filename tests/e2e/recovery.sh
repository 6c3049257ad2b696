#!/usr/bin/env bash
# tests/e2e/recovery.sh: sessions that should survive, survive.
#
#   a) the gateway unreachable for 30 s (an nftables blackout): the client keeps retrying with
#      backoff and is back soon after the path returns, without anyone's help
#   b) NAT rebinding: the client sits behind a relay that behaves like a NAT and changes its
#      outside port mid-session; the tunnel keeps working with at most a ping or two lost
#   c) IPv6 underlay: Endpoint = [2001:db8:77::1]:port, ping and iperf3 through the tunnel; then
#      the same gateway through a host name that resolves to its IPv6 address
#   e) a gateway with two addresses on the clients' side answers from the one the client wrote
#      to (a reply from another would be dropped by the client, and by any NAT on its way)
#   d) Endpoint given as a host name: the gateway's address changes (and the name with it);
#      the client notices the silence, resolves the name again and is back
#   f) an idle tunnel whose keepalive answers are lost for a while keeps its session (the
#      client probes every second before it calls the gateway gone)
#   g) a client that only receives loses the keepalive that confirms a rekey: the gateway goes
#      on sealing with the old keypair, and the client nudges it with a keepalive a second
#      before its copy of that keypair expires (15 s); nothing of the stream is lost
#   h) the gateway restarts under a client in use (KeepaliveInterval 10, the default): the client
#      probes after 2 s without an answer and handshakes again after 4 s, which the restarted
#      gateway answers as a new session; back within 8 s, not after the interval and 5 s (15 s)
#
# Usage: bash tests/e2e/recovery.sh (root). TAP-style output; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

lab_start c1 c2

lab_keypair SRV
lab_keypair K1
lab_keypair K2
SRV_CONF=$LAB_DIR/server.conf
C1_CONF=$LAB_DIR/client1.conf
C2_CONF=$LAB_DIR/client2.conf
write_server_conf "$SRV_CONF" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32" client2 "$K2_PUB" "$C2_TUN_IP/32"
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
write_client_conf "$C2_CONF" "$K2_PRIV" "$TUN_C2" "$SRV_PUB"
SESSION_UP='msg="session up"'

SRV_LOG=$LAB_DIR/server.log
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 10 || die "server did not come up"

# ping_until NS DST TIMEOUT_S: one ping at a time until one is answered; prints the ms it took
ping_until() {
    local t0 i
    t0=$(date +%s%N)
    for ((i = 0; i < $3 * 3; i++)); do
        if ip netns exec "$1" ping -n -q -c 1 -W 0.3 "$2" >/dev/null 2>&1; then
            echo $((($(date +%s%N) - t0) / 1000000)); return 0
        fi
        [ $((($(date +%s%N) - t0) / 1000000000)) -ge "$3" ] && break
    done
    echo none; return 1
}

# start_gw_c1 SRV_CONF SRV_LOG C1_CONF C1_LOG: a gateway, then client1 (g and h); sets SRV_PID, C1_PID
start_gw_c1() {
    vpngw_start server "$NS_GW" "$1" "$2"
    SRV_PID=$LAST_PID
    wait_log "$2" 'msg="gateway up"' 10 || die "gateway ($1) did not come up"
    vpngw_start client "$NS_C1" "$3" "$4"
    C1_PID=$LAST_PID
}

# ---------------------------------------------------------------------------------------------
log "a) the gateway unreachable for 30 s"
C1_LOG=$LAB_DIR/client1.log
vpngw_start client "$NS_C1" "$C1_CONF" "$C1_LOG"
C1_PID=$LAST_PID
check "a: client1 session up" wait_log "$C1_LOG" "$SESSION_UP" 10
check_eq "a: ping $NET_IP before (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
sleep 1.2   # a stats line after the pings
sent0=$(stat_of "$C1_LOG" udp_tx_datagrams)
ip netns exec "$NS_GW" nft -f - <<EOF || die "nft blackout"
table inet vpngw_blackout {
    chain in { type filter hook input priority 0; policy accept; udp dport $VPN_PORT drop; }
    chain out { type filter hook output priority 0; policy accept; udp sport $VPN_PORT drop; }
}
EOF
sleep 30
hs_before=$(grep -c 'msg=handshake ' "$SRV_LOG")
ip netns exec "$NS_GW" nft delete table inet vpngw_blackout || die "nft delete blackout"
check "a: the client saw the silence" grep -q 'gateway silent' "$C1_LOG"
# keepalives until it calls the gateway silent (7 s), then HS_INITs at 1, 2, 4, 8, 8 s: 8 or more
retries=$(( $(stat_of "$C1_LOG" udp_tx_datagrams) - ${sent0:-0} ))
check_gt "a: it kept sending (keepalives, then handshake retries) during the blackout: datagrams" "$retries" 7
ms=$(ping_until "$NS_C1" "$NET_IP" 20)
check "a: back within 12 s of the path's return (took ${ms} ms)" test "$ms" != none -a "${ms/none/99999}" -le 12000
log "recovery after a 30 s blackout: ${ms} ms; gateway handshakes before the return: $hs_before"
lab_stop "$C1_PID" 5 TERM

# ---------------------------------------------------------------------------------------------
log "f) an idle tunnel loses the answers to a keepalive: the session stays"
# KeepaliveInterval = 6: after 6 s of silence client1 sends a keepalive, and calls the gateway
# gone at 11 s. Its next regular keepalive would come at 12 s, so one lost answer would end
# the session; instead it probes every second from 7 s on. The gateway's datagrams to it are
# dropped from 0 to about 8 s of the silence: the keepalives at 6 and 7 s go unanswered.
sed 's|^KeepaliveInterval = 2$|KeepaliveInterval = 6|' "$C1_CONF" >"$LAB_DIR/client1-ka6.conf"
chmod 600 "$LAB_DIR/client1-ka6.conf"
C1_LOG=$LAB_DIR/client1-ka6.log
vpngw_start client "$NS_C1" "$LAB_DIR/client1-ka6.conf" "$C1_LOG"
C1_PID=$LAST_PID
if wait_log "$C1_LOG" "$SESSION_UP" 10 && [ "$(ping_count "$NS_C1" "$NET_IP" 2)" = 2 ]; then
    sleep 1.2
    sent0=$(stat_of "$C1_LOG" udp_tx_datagrams)
    ip netns exec "$NS_C1" nft -f - <<EOF || die "nft drop"
table inet vpngw_lost_answers {
    chain in { type filter hook input priority 0; policy accept; udp sport $VPN_PORT drop; }
}
EOF
    sleep 7.5
    ip netns exec "$NS_C1" nft delete table inet vpngw_lost_answers || die "nft delete drop"
    sleep 6     # past the 11 s at which the old timer would have given up
    check "f: no 'gateway silent'" test "$(grep -c 'gateway silent' "$C1_LOG")" -eq 0
    check_eq "f: still the one session" "$(grep -c "$SESSION_UP" "$C1_LOG")" 1
    probes=$(( $(stat_of "$C1_LOG" udp_tx_datagrams) - ${sent0:-0} ))
    check_eq "f: ping $NET_IP after (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
    log "f: datagrams sent from the drop on: $probes"
else
    not_ok "f: client1 session up with KeepaliveInterval = 6"
fi
check_clean_stop f client1 "$C1_PID" "$NS_C1" "$TUN_C1"

# ---------------------------------------------------------------------------------------------
log "b) NAT rebinding: the client's outside port changes mid-session"
RELAY_LOG=$LAB_DIR/relay.log
lab_bg "$NS_C1" "$RELAY_LOG" "$PY" -u "$LAB_LIB_DIR/udprelay.py" 127.0.0.1:5555 "$GW_CLIENT_IP:$VPN_PORT" 120
RELAY_PID=$LAST_PID
wait_log "$RELAY_LOG" '^ready' 5 || not_ok "b: relay starts"
C1N_CONF=$LAB_DIR/client1-nat.conf
sed "s|^Endpoint = .*|Endpoint = 127.0.0.1:5555|" "$C1_CONF" >"$C1N_CONF"
C1N_LOG=$LAB_DIR/client1-nat.log
vpngw_start client "$NS_C1" "$C1N_CONF" "$C1N_LOG"
C1_PID=$LAST_PID
check "b: client1 (behind the relay) session up" wait_log "$C1N_LOG" "$SESSION_UP" 10
PING_LOG=$LAB_DIR/ping-rebind.log
ip netns exec "$NS_C1" ping -n -i 0.1 -c 60 -W 1 "$NET_IP" >"$PING_LOG" 2>&1 &
PING_PID=$!
LAB_PIDS+=("$PING_PID")
sleep 2
kill -USR1 "$RELAY_PID"
sleep 1.5
kill -USR1 "$RELAY_PID"
wait "$PING_PID"
got=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$PING_LOG")
check_ge() { if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want >= $3"; fi; }
check_ge "b: continuous ping across two rebinds loses at most 2 of 60 (got ${got:-0})" "${got:-0}" 58
lab_stop "$RELAY_PID" 3 TERM
relay=$(grep '^relay ' "$RELAY_LOG")
log "$relay"
check "b: the relay did rebind twice (three outside ports)" grep -qE 'rebinds=2 .*ports=[0-9]+,[0-9]+,[0-9]+' <<<"$relay"
check_eq "b: the client kept its one session" "$(grep -c "$SESSION_UP" "$C1N_LOG")" 1
lab_stop "$C1_PID" 5 TERM

# ---------------------------------------------------------------------------------------------
log "c) IPv6 underlay"
ip -n "$NS_GW" -6 addr add 2001:db8:77::1/64 dev br0 nodad || die "gw v6"
ip -n "$NS_C1" -6 addr add 2001:db8:77::2/64 dev eth0 nodad || die "c1 v6"
C16_CONF=$LAB_DIR/client1-v6.conf
sed "s|^Endpoint = .*|Endpoint = [2001:db8:77::1]:$VPN_PORT|" "$C1_CONF" >"$C16_CONF"
C16_LOG=$LAB_DIR/client1-v6.log
vpngw_start client "$NS_C1" "$C16_CONF" "$C16_LOG"
C1_PID=$LAST_PID
check "c: client1 over IPv6 session up" wait_log "$C16_LOG" "$SESSION_UP" 10
check "c: the gateway saw it come from its IPv6 address" wait_log "$SRV_LOG" 'msg=handshake client=client1 endpoint=\[2001:db8:77::2\]' 3
check_eq "c: ping $NET_IP through the tunnel over IPv6 (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
iperf_server_start || not_ok "c: iperf3 server starts"
for dir in up down; do
    args=(); [ $dir = down ] && args=(-R)
    if iperf_run "$NS_C1" "$LAB_DIR/iperf6-$dir.json" -t 3 "${args[@]}"; then
        read -r mbps bytes < <(iperf_mbps "$LAB_DIR/iperf6-$dir.json")
        check_gt "c: iperf3 $dir through the tunnel over IPv6 ($mbps Mbit/s)" "$bytes" 1000000
    else
        not_ok "c: iperf3 $dir through the tunnel over IPv6" "$(tail -n 3 "$LAB_DIR/iperf6-$dir.json")"
    fi
done
check_clean_stop c client1 "$C1_PID" "$NS_C1" "$TUN_C1"
# the same through a host name that resolves to the IPv6 address
lab_netns_etc "$NS_C1" hosts <<EOF
2001:db8:77::1 gw6.lab.example
EOF
sed -i "s|^Endpoint = .*|Endpoint = gw6.lab.example:$VPN_PORT|" "$C16_CONF"
C16N_LOG=$LAB_DIR/client1-v6-name.log
vpngw_start client "$NS_C1" "$C16_CONF" "$C16N_LOG"
C1_PID=$LAST_PID
check "c: client1 with Endpoint = gw6.lab.example (an IPv6 address) session up" wait_log "$C16N_LOG" "$SESSION_UP" 10
check "c: it resolved the name to the IPv6 address" grep -q 'msg="client starting" .*endpoint=\[2001:db8:77::1\]:' "$C16N_LOG"
check_eq "c: ping $NET_IP through it (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
check_clean_stop c client1 "$C1_PID" "$NS_C1" "$TUN_C1"

# ---------------------------------------------------------------------------------------------
log "e) a gateway with two addresses answers from the one the client wrote to"
ip -n "$NS_GW" addr add 192.0.2.31/24 dev br0 || die "second gateway address"
C1M_CONF=$LAB_DIR/client1-second-address.conf
sed "s|^Endpoint = .*|Endpoint = 192.0.2.31:$VPN_PORT|" "$C1_CONF" >"$C1M_CONF"
C1M_LOG=$LAB_DIR/client1-second-address.log
PCAP=$LAB_DIR/c1-second-address.pcap
lab_bg "$NS_C1" "$LAB_DIR/tcpdump-e.log" tcpdump -n -U -i eth0 -w "$PCAP" udp port $VPN_PORT
TD_PID=$LAST_PID
sleep 1
vpngw_start client "$NS_C1" "$C1M_CONF" "$C1M_LOG"
C1_PID=$LAST_PID
check "e: client1 (Endpoint = 192.0.2.31, the gateway's second address) session up" wait_log "$C1M_LOG" "$SESSION_UP" 10
check_eq "e: ping $NET_IP (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
sleep 0.5
lab_stop "$TD_PID" 3 INT
srcs=$(tcpdump -n -r "$PCAP" 2>/dev/null | awk '$3 ~ /\.51820$/ { sub(/\.51820$/, "", $3); print $3 }' | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
log "gateway datagrams by source address: $srcs"
check "e: every datagram from the gateway comes from 192.0.2.31 ($srcs)" grep -qE '^192\.0\.2\.31:[0-9]+ $' <<<"$srcs"
check_clean_stop e client1 "$C1_PID" "$NS_C1" "$TUN_C1"
ip -n "$NS_GW" addr del 192.0.2.31/24 dev br0

# ---------------------------------------------------------------------------------------------
log "d) Endpoint as a host name; the gateway's address changes"
HOSTS=/etc/netns/$NS_C2/hosts
printf '%s gw.lab.example\n' "$GW_CLIENT_IP" >"$HOSTS"
sed -i "s|^Endpoint = .*|Endpoint = gw.lab.example:$VPN_PORT|" "$C2_CONF"
C2_LOG=$LAB_DIR/client2.log
vpngw_start client "$NS_C2" "$C2_CONF" "$C2_LOG"
C2_PID=$LAST_PID
check "d: client2 (Endpoint = gw.lab.example) session up" wait_log "$C2_LOG" "$SESSION_UP" 10
check_eq "d: ping $NET_IP (replies of 3)" "$(ping_count "$NS_C2" "$NET_IP" 3)" 3
# the gateway moves to 192.0.2.21, and the name follows (rewritten in place: the client's
# mount of the file sees it)
ip netns exec "$NS_GW" sysctl -qw net.ipv4.conf.br0.promote_secondaries=1   # keep .21 when .1 goes
ip -n "$NS_GW" addr add 192.0.2.21/24 dev br0
ip -n "$NS_GW" addr del "$GW_CLIENT_IP/24" dev br0
printf '192.0.2.21 gw.lab.example\n' >"$HOSTS"
ms=$(ping_until "$NS_C2" "$NET_IP" 30)
check "d: back through the tunnel within 20 s (took ${ms} ms)" test "$ms" != none -a "${ms/none/99999}" -le 20000
check "d: the client says the gateway moved" grep -q 'msg="gateway moved: its name resolves to a new address" old=192.0.2.1:51820 new=192.0.2.21:51820' "$C2_LOG"
log "recovery after the gateway's address changed: ${ms} ms"
check_clean_stop d client2 "$C2_PID" "$NS_C2" "$TUN_C2"
rm -f "$HOSTS"

# ---------------------------------------------------------------------------------------------
log "g) a rekey's confirming keepalive is lost while the client only receives"
# KeepaliveInterval = 30 at the gateway (the client takes it), RekeyAfter = 20 at the client:
# the client rekeys at 20 s and sends its keepalive under the new keys at once, which is dropped
# on its way out (nft: the header's type byte, KEEPALIVE = 2), as are any more for 2 s. The
# gateway streams to the client throughout (50 datagrams a second, 42 s), the client sends
# nothing of its own, and its next regular keepalive is due 30 s after the lost one: without a
# nudge the gateway's datagrams fail from 15 s after the rekey (the old keypair's grace) until
# the next rekey at 40 s.
check_clean_stop g server "$SRV_PID" "$NS_GW" "$TUN_GW"
ip -n "$NS_GW" addr replace "$GW_CLIENT_IP/24" dev br0 || die "the gateway's address back"   # d) moved it
sed 's|^StatsInterval = 1$|StatsInterval = 1\nKeepaliveInterval = 30|' "$SRV_CONF" >"$LAB_DIR/server-ka30.conf"
sed -e 's|^KeepaliveInterval = 2$|RekeyAfter = 20|' -e "s|^Endpoint = .*|Endpoint = $GW_CLIENT_IP:$VPN_PORT|" \
    "$C1_CONF" >"$LAB_DIR/client1-rekey.conf"
chmod 600 "$LAB_DIR/server-ka30.conf" "$LAB_DIR/client1-rekey.conf"
SRV_LOG=$LAB_DIR/server-ka30.log C1_LOG=$LAB_DIR/client1-rekey.log
start_gw_c1 "$LAB_DIR/server-ka30.conf" "$SRV_LOG" "$LAB_DIR/client1-rekey.conf" "$C1_LOG"
STREAM=$LAB_ROOT/tests/e2e/udpstream.py
if wait_log "$C1_LOG" "$SESSION_UP" 10 && grep -q 'keepalive_s=30 ' "$C1_LOG"; then
    lab_bg "$NS_C1" "$LAB_DIR/stream-recv.log" "$PY" "$STREAM" recv 9999 60
    RECV_PID=$LAST_PID
    sleep 0.5
    lab_bg "$NS_GW" "$LAB_DIR/stream-send.log" "$PY" "$STREAM" send "$C1_TUN_IP" 9999 50 42
    SEND_PID=$LAST_PID
    sleep 1
    ip netns exec "$NS_C1" nft -f - <<EOF || die "nft keepalive drop"
table inet vpngw_lost_keepalive {
    chain out { type filter hook output priority 0; policy accept; udp dport $VPN_PORT @th,104,8 2 counter drop; }
}
EOF
    if wait_log "$C1_LOG" 'msg=rekeyed' 30; then
        sleep 2
        dropped=$(ip netns exec "$NS_C1" nft list table inet vpngw_lost_keepalive | sed -nE 's/.*counter packets ([0-9]+).*/\1/p')
        ip netns exec "$NS_C1" nft delete table inet vpngw_lost_keepalive || die "nft delete keepalive drop"
        check_gt "g: the rekey's keepalive was dropped (keepalives dropped: ${dropped:-none})" "${dropped:-0}" 0
        for ((i = 0; i < 600; i++)); do proc_alive "$SEND_PID" || proc_alive "$RECV_PID" || break; sleep 0.1; done
        lab_stop "$SEND_PID" 2 TERM
        lab_stop "$RECV_PID" 2 TERM
        read -r _ got _ sent _ lost _ gap < <(grep '^received' "$LAB_DIR/stream-recv.log") || true
        log "g: $(cat "$LAB_DIR/stream-send.log"); $(grep '^received' "$LAB_DIR/stream-recv.log"); rekeys: $(grep -c 'msg=rekeyed' "$C1_LOG"), client auth_fail_drops $(stat_of "$C1_LOG" auth_fail_drops)"
        check_gt "g: the stream ran (datagrams sent: ${sent:-none})" "${sent:-0}" 1500
        if [ -n "${lost:-}" ] && [ "$lost" -le $((sent / 100)) ]; then
            ok "g: the stream through the rekey lost at most 1% ($lost of $sent, longest gap $gap s)"
        else
            not_ok "g: the stream through the rekey lost at most 1%" "lost ${lost:-?} of ${sent:-?}, longest gap ${gap:-?} s"
        fi
        check_eq "g: still the one session" "$(grep -c "$SESSION_UP" "$C1_LOG")" 1
    else
        not_ok "g: client1 rekeyed within 30 s (RekeyAfter = 20)"
        ip netns exec "$NS_C1" nft delete table inet vpngw_lost_keepalive 2>/dev/null
        lab_stop "$SEND_PID" 2 TERM
        lab_stop "$RECV_PID" 2 TERM
    fi
else
    not_ok "g: client1 session up with the gateway's KeepaliveInterval = 30" "$(grep -v stats "$C1_LOG" | tail -n 3)"
fi
check_clean_stop g client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_clean_stop g server "$SRV_PID" "$NS_GW" "$TUN_GW"

# ---------------------------------------------------------------------------------------------
log "h) the gateway restarts under a client in use"
grep -v '^KeepaliveInterval' "$C1_CONF" | sed "s|^Endpoint = .*|Endpoint = $GW_CLIENT_IP:$VPN_PORT|" \
    >"$LAB_DIR/client1-ka10.conf"
chmod 600 "$LAB_DIR/client1-ka10.conf"
SRV_LOG=$LAB_DIR/server-h.log C1_LOG=$LAB_DIR/client1-ka10.log
start_gw_c1 "$SRV_CONF" "$SRV_LOG" "$LAB_DIR/client1-ka10.conf" "$C1_LOG"
if wait_log "$C1_LOG" "$SESSION_UP" 10 && grep -q 'keepalive_s=10 ' "$C1_LOG" &&
    [ "$(ping_count "$NS_C1" "$NET_IP" 2)" = 2 ]; then
    vpngw_stop "$SRV_PID" 5
    check_eq "h: the gateway exits 0" "$STOP_RC" 0
    SRV_LOG=$LAB_DIR/server-h-again.log
    vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
    SRV_PID=$LAST_PID
    wait_log "$SRV_LOG" 'msg="gateway up"' 10 || die "server (h, restarted) did not come up"
    # the client is in use: one ping at a time until one is answered
    ms=$(ping_until "$NS_C1" "$NET_IP" 30)
    log "h: through the tunnel again ${ms} ms after the restarted gateway was up"
    check "h: back within 8 s of the gateway's restart (took ${ms} ms)" test "$ms" != none -a "${ms/none/99999}" -le 8000
    check "h: the client handshook again because nothing came back" grep -q 'msg="nothing back while sending: handshaking again"' "$C1_LOG"
    check "h: no 'gateway silent' (it did not wait for the interval and 5 s)" test "$(grep -c 'gateway silent' "$C1_LOG")" -eq 0
    check_eq "h: a new session (the restarted gateway knew no other)" "$(grep -c "$SESSION_UP" "$C1_LOG")" 2
else
    not_ok "h: client1 session up with KeepaliveInterval 10 and pinging" "$(grep -v stats "$C1_LOG" | tail -n 3)"
fi
check_clean_stop h client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_clean_stop h server "$SRV_PID" "$NS_GW" "$TUN_GW"

lab_summary
