#!/usr/bin/env bash
# tests/e2e/clientnet.sh: the client sets up the host's network itself (netlink), as
# wg-quick would, and puts everything back.
#
#   a) full tunnel (Routes = 0.0.0.0/0, ::/0) on a host with its own default routes (IPv4 and
#      IPv6): the internet host is reached through the tunnel, the tunnel's UDP is not, the
#      LAN stays reachable, IPv6 beyond the LAN is refused; the resolver is the gateway's
#  b) nothing leaks: tcpdump on the client's underlay sees only the tunnel's datagrams while
#      ping, TCP, DNS and IPv6 traffic runs (and, as a control, sees the leak once it is down)
#   c) SIGTERM: rules, IPv6 block and resolv.conf are back as they were
#   d) kill -9, then a new start: the leftovers are found and removed, and undone at the end
#   e) DNS = off leaves the resolver alone
#   f) a smaller underlay MTU: gateway MTU = auto, the client clamps to its own path, iperf3
#      completes both ways, and a sender of a too-big DF datagram learns the tunnel's MTU from
#      the ICMP it gets back
#   g) a route the host already has for a network the client wants is left alone (a warning),
#      and is still there after the client stops
#
# Usage: bash tests/e2e/clientnet.sh (root). TAP-style output; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

lab_start c1 c2
# dig sends b)'s DNS query; dns.sh gets it the same way
command -v dig >/dev/null 2>&1 || "$LAB_ROOT/scripts/deps.sh" >/dev/null || die "cannot install dig"
command -v dig >/dev/null 2>&1 || die "missing tool: dig (make deps)"

FWMARK=51820
RESOLV=/etc/netns/$NS_C1/resolv.conf
printf 'nameserver 192.0.2.53\nsearch lab.example\n' >"$RESOLV"
RESOLV_ORIG=$(cat "$RESOLV")

# c1 is a host with default routes of its own (IPv4 and IPv6), as on any LAN
ip -n "$NS_C1" route add default via "$GW_CLIENT_IP" || die "c1 default route"
ip -n "$NS_GW" -6 addr add 2001:db8:77::1/64 dev br0 nodad || die "gw v6"
ip -n "$NS_C1" -6 addr add 2001:db8:77::2/64 dev eth0 nodad || die "c1 v6"
ip -n "$NS_C1" -6 route add default via 2001:db8:77::1 || die "c1 v6 default"

lab_keypair SRV
lab_keypair K1
lab_keypair K2
SRV_CONF=$LAB_DIR/server.conf
C1_CONF=$LAB_DIR/client1.conf
write_server_conf "$SRV_CONF" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32" client2 "$K2_PUB" "$C2_TUN_IP/32"
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
sed -i 's|^Routes = .*|Routes = 0.0.0.0/0, ::/0|' "$C1_CONF"

rules_of_ours() { # FAMILY: our policy rules in the client namespace
    ip -n "$NS_C1" "$1" rule show 2>/dev/null | grep -c "fwmark $(printf '0x%x' $FWMARK)"
}
v6_block() { ip -n "$NS_C1" -6 route show table $FWMARK 2>/dev/null | grep -c unreachable; }

SRV_LOG=$LAB_DIR/server.log
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 10 || die "server did not come up"

start_c1() { # LOG
    vpngw_start client "$NS_C1" "$C1_CONF" "$1"
    C1_PID=$LAST_PID
    wait_log "$1" 'msg="session up"' 10
}

# ---------------------------------------------------------------------------------------------
log "a) full tunnel on a host with its own default routes"
C1_LOG=$LAB_DIR/client1.log
check "a: client1 session up" start_c1 "$C1_LOG"
wait_log "$C1_LOG" 'msg="system resolver set"' 5
route=$(ip -n "$NS_C1" route get "$NET_IP" 2>&1)
check "a: the internet host is routed into the tunnel ($route)" grep -q "dev $TUN_C1" <<<"$route"
route=$(ip -n "$NS_C1" route get "$GW_CLIENT_IP" mark $FWMARK 2>&1)
check "a: the tunnel's own marked UDP goes out eth0 ($route)" grep -q "dev eth0" <<<"$route"
check_eq "a: two IPv4 policy rules carry our fwmark" "$(rules_of_ours -4)" 2
check_eq "a: two IPv6 policy rules carry our fwmark" "$(rules_of_ours -6)" 2
check_eq "a: IPv6 beyond the LAN is unreachable in table $FWMARK" "$(v6_block)" 1
check_eq "a: ping $NET_IP through the tunnel (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
check_eq "a: the LAN stays reachable: ping -6 2001:db8:77::1 (replies of 3)" \
    "$(ping_count "$NS_C1" 2001:db8:77::1 3)" 3
if ping_refused "$NS_C1" 2001:db8:99::1; then ok "a: IPv6 beyond the LAN is refused at once ($PING_OUT)"
else not_ok "a: IPv6 beyond the LAN is refused at once" "want exit 2, 'connect: No route to host'; got $PING_OUT"; fi
check "a: resolv.conf names the gateway's DNS" grep -qx "nameserver $GW_TUN_IP" "$RESOLV"
check "a: resolv.conf says who wrote it" grep -q "^# vpngw $TUN_C1:" "$RESOLV"

# ---------------------------------------------------------------------------------------------
log "b) nothing leaks outside the tunnel"
PCAP=$LAB_DIR/c1-eth0.pcap
lab_bg "$NS_C1" "$LAB_DIR/tcpdump-c1.log" tcpdump -n -U -i eth0 -w "$PCAP"
TD_PID=$LAST_PID
sleep 1
iperf_server_start || not_ok "b: iperf3 server starts"
check_eq "b: ping $NET_IP while capturing (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
# (at a rate tcpdump keeps up with: it must see every packet)
ip netns exec "$NS_C1" timeout 20 iperf3 -c "$NET_IP" -p 5201 -t 2 -b 20M >"$LAB_DIR/iperf3-b.txt" 2>&1
check_eq "b: iperf3 TCP while capturing completes (exit status)" "$?" 0
# Nothing serves DNS on the internet host: its port unreachable, back through the tunnel, is
# what dig reports when its query got there ("connection refused", exit 9: no answer)
out=$(ip netns exec "$NS_C1" timeout 10 dig +time=1 +tries=1 @"$NET_IP" leak.lab.example 2>&1); rc=$?
check "b: dig's query reached $NET_IP:53 while capturing (exit $rc: $(grep -m1 -iE 'refused|timed out|error|unreachable|status:' <<<"$out"))" \
    test "$rc" -eq 9 -a -n "$(grep -i 'connection refused' <<<"$out")"
ip netns exec "$NS_C1" ping -6 -n -c 2 -W 1 2001:db8:99::1 >/dev/null 2>&1
sleep 1
lab_stop "$TD_PID" 3 INT
read -r tunnel leaks shown < <(capture_leaks "$PCAP")
check_gt "b: the capture holds the tunnel's datagrams" "${tunnel:-0}" 20
check_eq "b: nothing else left eth0 (ping, TCP, DNS, IPv6; first leaks: ${shown:-})" "${leaks:-x}" 0

# ---------------------------------------------------------------------------------------------
log "c) SIGTERM puts everything back"
check_clean_stop c client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_eq "c: no IPv4 rule of ours left" "$(rules_of_ours -4)" 0
check_eq "c: no IPv6 rule of ours left" "$(rules_of_ours -6)" 0
check_eq "c: no IPv6 block left" "$(v6_block)" 0
check_eq "c: resolv.conf is as before" "$(cat "$RESOLV")" "$RESOLV_ORIG"
# the control: without the tunnel the same ping does leave through eth0, and the capture sees it
PCAP2=$LAB_DIR/c1-eth0-down.pcap
lab_bg "$NS_C1" "$LAB_DIR/tcpdump-c1b.log" tcpdump -n -U -i eth0 -w "$PCAP2"
TD_PID=$LAST_PID
sleep 1
ip netns exec "$NS_C1" ping -n -c 2 -W 1 "$NET_IP" >/dev/null 2>&1
sleep 0.5
lab_stop "$TD_PID" 3 INT
read -r tunnel leaks shown < <(capture_leaks "$PCAP2")
check_gt "c: control: with the tunnel down, the capture sees the ping leave in clear" "${leaks:-0}" 0

# ---------------------------------------------------------------------------------------------
log "d) kill -9, then a new start cleans up what the dead run left"
C1K_LOG=$LAB_DIR/client1-killed.log
check "d: client1 session up" start_c1 "$C1K_LOG"
wait_log "$C1K_LOG" 'msg="system resolver set"' 5
lab_stop "$C1_PID" 3 KILL
check_eq "d: after kill -9 the IPv4 rules are still there" "$(rules_of_ours -4)" 2
check "d: after kill -9 resolv.conf is still the tunnel's" grep -q "^# vpngw $TUN_C1:" "$RESOLV"
C1R_LOG=$LAB_DIR/client1-again.log
check "d: client1 starts again, session up" start_c1 "$C1R_LOG"
check "d: it says it removed the old rules" grep -q 'removed routing rules a previous run left behind' "$C1R_LOG"
check "d: it says it restored the old resolver file" grep -q 'restored the resolver configuration' "$C1R_LOG"
check_eq "d: exactly two IPv4 rules of ours (no duplicates)" "$(rules_of_ours -4)" 2
check_eq "d: ping $NET_IP (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
check_clean_stop d client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_eq "d: no rule of ours left" "$(($(rules_of_ours -4) + $(rules_of_ours -6)))" 0
check_eq "d: resolv.conf is as it was before the first run" "$(cat "$RESOLV")" "$RESOLV_ORIG"

# ---------------------------------------------------------------------------------------------
log "e) DNS = off"
sed -i 's|^KeepaliveInterval = 2$|KeepaliveInterval = 2\nDNS = off|' "$C1_CONF"
C1O_LOG=$LAB_DIR/client1-dnsoff.log
check "e: client1 session up" start_c1 "$C1O_LOG"
check_eq "e: resolv.conf untouched while the tunnel is up" "$(cat "$RESOLV")" "$RESOLV_ORIG"
check_clean_stop e client1 "$C1_PID" "$NS_C1" "$TUN_C1"

# ---------------------------------------------------------------------------------------------
log "f) a smaller underlay MTU: MTU = auto on the gateway, the client clamps to its path"
vpngw_stop "$SRV_PID" 5
ip -n "$NS_GW" link set gc1 down   # c1 is done; the bridge now takes its MTU from gc2 alone
ip -n "$NS_GW" link set gc2 mtu 1300
ip -n "$NS_C2" link set eth0 mtu 1300
sed -i 's|^MTU = 1400$|MTU = auto|' "$SRV_CONF"
SRV2_LOG=$LAB_DIR/server-auto.log
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV2_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV2_LOG" 'msg="gateway up"' 10
gw_mtu=$(log_field "$SRV2_LOG" 'msg="gateway up"' mtu)
check_eq "f: gateway MTU = auto: 1300 (bridge) - 96 (IPv6 UDP + our header + tag)" "$gw_mtu" 1204
C2_CONF=$LAB_DIR/client2.conf
write_client_conf "$C2_CONF" "$K2_PRIV" "$TUN_C2" "$SRV_PUB"
C2_LOG=$LAB_DIR/client2.log
vpngw_start client "$NS_C2" "$C2_CONF" "$C2_LOG"
C2_PID=$LAST_PID
check "f: client2 session up" wait_log "$C2_LOG" 'msg="session up"' 10
c2_mtu=$(ip -n "$NS_C2" -o link show dev "$TUN_C2" 2>/dev/null | sed -nE 's/.* mtu ([0-9]+) .*/\1/p')
check_eq "f: client2's TUN MTU is the gateway's" "$c2_mtu" 1204
for dir in up down; do
    args=(); [ $dir = down ] && args=(-R)
    if iperf_run "$NS_C2" "$LAB_DIR/iperf-$dir.json" "${args[@]}"; then
        read -r mbps bytes < <(iperf_mbps "$LAB_DIR/iperf-$dir.json")
        check_gt "f: iperf3 $dir across the 1300-byte underlay completes ($mbps Mbit/s)" "$bytes" 1000000
    else
        not_ok "f: iperf3 $dir across the 1300-byte underlay completes" "$(tail -n 3 "$LAB_DIR/iperf-$dir.json")"
    fi
done
# A sender beyond the gateway with a DF datagram too big for the tunnel gets ICMP back and
# learns the tunnel's MTU (kernel path MTU discovery, through the gateway's NAT).
ptb=$("$PY" - "$NS_C2" "$NS_NET" "$NET_IP" <<'EOF'
import os, socket, subprocess, sys, time
ns_c, ns_net, net_ip = sys.argv[1:4]
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_MTU = 10, 2, 14
srv = subprocess.Popen(["ip", "netns", "exec", ns_net, "/usr/bin/python3", "-c", f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, {IP_MTU_DISCOVER}, {IP_PMTUDISC_DO})
s.bind(("{net_ip}", 7777)); s.settimeout(5)
data, peer = s.recvfrom(100)
s.connect(peer)
for i in range(6):
    try:
        s.send(b"x" * 1300)
    except OSError as e:
        pass
    time.sleep(0.3)
print(s.getsockopt(socket.IPPROTO_IP, {IP_MTU}), flush=True)
"""], stdout=subprocess.PIPE, text=True)
time.sleep(0.5)
subprocess.run(["ip", "netns", "exec", ns_c, "/usr/bin/python3", "-c",
    f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hi', ('{net_ip}', 7777))"], timeout=5)
try:
    out, _ = srv.communicate(timeout=10)
except subprocess.TimeoutExpired:
    srv.kill(); out = "timeout"
print(out.strip() or "none")
EOF
)
check_eq "f: a DF sender beyond the gateway learns the tunnel's MTU from ICMP (its path MTU)" "$ptb" 1204
check_clean_stop f client2 "$C2_PID" "$NS_C2" "$TUN_C2"

# ---------------------------------------------------------------------------------------------
log "g) a route of the host's own for a network the client wants: left alone, with a warning"
ip -n "$NS_C2" route add 198.51.100.0/24 via "$GW_CLIENT_IP" dev eth0 || die "c2 own route"
C2G_LOG=$LAB_DIR/client2-own-route.log
vpngw_start client "$NS_C2" "$C2_CONF" "$C2G_LOG"
C2_PID=$LAST_PID
check "g: client2 session up" wait_log "$C2G_LOG" 'msg="session up"' 10
check "g: it warns that the route exists over another device" \
    grep -q 'msg="route not added: the same route exists over another device" route=198.51.100.0/24' "$C2G_LOG"
check_clean_stop g client2 "$C2_PID" "$NS_C2" "$TUN_C2"
check "g: the host's own route is still there afterwards" \
    grep -q "198.51.100.0/24 via $GW_CLIENT_IP dev eth0" <<<"$(ip -n "$NS_C2" route)"
check_clean_stop g server "$SRV_PID" "$NS_GW" "$TUN_GW"

lab_summary
