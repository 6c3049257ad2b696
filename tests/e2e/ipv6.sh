#!/usr/bin/env bash
# tests/e2e/ipv6.sh: IPv6 inside the tunnel. The gateway has an IPv6 pool beside the IPv4
# one (Address = 10.77.0.1/24, fd77::1/64) and Masquerade = wan0 (NAT66 in its own ip6
# table); the internet host has an IPv6 address (2001:db8:100::2) and no route back to fd77::.
#
#   a) sessions: each client gets the IPv6 address of its IPv4 host number (fd77::2,
#      fd77::3) on its TUN; the gateway's TUN has fd77::1; the ip6 table and IPv6 forwarding
#   b) ping -6: the gateway's tunnel address, the internet host over NAT66 (client1 full
#      tunnel, client2 a split IPv6 route), client to client through the gateway
#   c) iperf3 over IPv6 through the tunnel and NAT66, up and down, with ping -6 beside it (p50
#      <= 2 ms), also from client2, whose uplink is paced (Bandwidth): its ping goes ahead of
#      its upload's standing queue; and UDP sent with UDP_SEGMENT, over an internet link that
#      checks every checksum
#   d) full tunnel (Routes = 0.0.0.0/0, ::/0) on a host with its own IPv6 default route: the
#      IPv6 default goes into the tunnel, and tcpdump on the client's underlay sees only the
#      tunnel's datagrams while IPv6 ping and TCP run
#   e) too big: a 1500-byte IPv6 packet into a 1400 tunnel gets a Packet Too Big back, on the
#      client (its TUN raised to 1500 by hand) and on the gateway (likewise)
#   f) anti-spoofing: an IPv6 source other than the client's own is dropped and counted
#   g) SIGTERM: the ip6 table is removed, IPv6 forwarding is back off, the client's IPv6
#      rules and route are gone
#   h) the same client against a gateway without an IPv6 pool: IPv4 works as before, IPv6
#      is refused (unreachable), never leaked; then, the client running on, the gateway
#      restarted with its IPv6 pool (IPv6 through the tunnel again) and without it once more
#      (the client's IPv6 address goes, IPv6 is refused again)
#   i) a client host with IPv6 switched off: the gateway offers IPv6, the client cannot take
#      it, says so, and its IPv4 tunnel works all the same
#
# Usage: bash tests/e2e/ipv6.sh (root). TAP-style output; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

lab_start c1 c2

FWMARK=51820
NET6=2001:db8:100::2
GW_TUN6=fd77::1
C1_TUN6=fd77::2
C2_TUN6=fd77::3

# the internet host and the gateway's WAN side speak IPv6; the internet host has no route
# to fd77::/64 (NAT66 answers for it)
ip -n "$NS_GW" -6 addr add 2001:db8:100::1/64 dev wan0 nodad || die "gw wan v6"
ip -n "$NS_NET" -6 addr add "$NET6/64" dev eth0 nodad || die "net v6"
# client1 is a host with default routes of its own (IPv4 and IPv6), as on any LAN
ip -n "$NS_C1" route add default via "$GW_CLIENT_IP" || die "c1 default route"
ip -n "$NS_GW" -6 addr add 2001:db8:77::1/64 dev br0 nodad || die "gw lan v6"
ip -n "$NS_C1" -6 addr add 2001:db8:77::2/64 dev eth0 nodad || die "c1 v6"
ip -n "$NS_C1" -6 route add default via 2001:db8:77::1 || die "c1 v6 default"
ip netns exec "$NS_GW" sysctl -qw net.ipv6.conf.all.forwarding=0 || die "v6 forwarding off"

lab_keypair SRV
lab_keypair K1
lab_keypair K2
SRV_CONF=$LAB_DIR/server.conf
SRV4_CONF=$LAB_DIR/server-v4only.conf
C1_CONF=$LAB_DIR/client1.conf
C2_CONF=$LAB_DIR/client2.conf
write_server_conf "$SRV4_CONF" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32" client2 "$K2_PUB" "$C2_TUN_IP/32"
sed -i 's|^MTU = .*|&\nMasquerade = wan0|' "$SRV4_CONF"
sed "s|^Address = $GW_TUN_IP/24\$|Address = $GW_TUN_IP/24, $GW_TUN6/64|" "$SRV4_CONF" >"$SRV_CONF"
chmod 600 "$SRV_CONF"
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
sed -i 's|^Routes = .*|Routes = 0.0.0.0/0, ::/0|' "$C1_CONF"
sed -i 's|^\[Server\]$|DNS = off\n&|' "$C1_CONF"
write_client_conf "$C2_CONF" "$K2_PRIV" "$TUN_C2" "$SRV_PUB"
sed -i 's|^Routes = .*|Routes = 198.51.100.0/24, 2001:db8:100::/64|' "$C2_CONF"
sed -i 's|^\[Server\]$|DNS = off\n&|' "$C2_CONF"
# client2 paces its uplink (section c): its upload's queue stands in its own flow queues
PACE6=50mbit
sed -i "s|^\\[Server\\]\$|Bandwidth = $PACE6\\n&|" "$C2_CONF"

rules_of_ours() { ip -n "$NS_C1" "$1" rule show 2>/dev/null | grep -c "fwmark $(printf '0x%x' $FWMARK)"; }
v6_default() { ip -n "$NS_C1" -6 route show table $FWMARK 2>/dev/null | grep -c "^$1"; }
ip6_table() { ip netns exec "$NS_GW" nft list tables 2>/dev/null | grep -c "^table ip6 vpngw_$TUN_GW\$"; }
fwd6() { ip netns exec "$NS_GW" cat /proc/sys/net/ipv6/conf/all/forwarding; }
ping6_count() { ping_count "$1" "$2" "$3" -6; }

SRV_LOG=$LAB_DIR/server.log
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 10 || die "server did not come up"
C1_LOG=$LAB_DIR/client1.log
C2_LOG=$LAB_DIR/client2.log
vpngw_start client "$NS_C1" "$C1_CONF" "$C1_LOG"
C1_PID=$LAST_PID
vpngw_start client "$NS_C2" "$C2_CONF" "$C2_LOG"
C2_PID=$LAST_PID

# ---------------------------------------------------------------------------------------------
log "a) sessions with IPv6 addresses"
check "a: gateway logs its IPv6 pool" grep -q "address6=$GW_TUN6/64" "$SRV_LOG"
check "a: client1 session up with address6=$C1_TUN6/64" wait_log "$C1_LOG" "msg=\"session up\".*address6=$C1_TUN6/64" 10
check "a: client2 session up with address6=$C2_TUN6/64" wait_log "$C2_LOG" "msg=\"session up\".*address6=$C2_TUN6/64" 10
check "a: client1's TUN has $C1_TUN6" grep -q "inet6 $C1_TUN6/64" <<<"$(ip -n "$NS_C1" -6 addr show dev "$TUN_C1")"
check "a: the gateway's TUN has $GW_TUN6" grep -q "inet6 $GW_TUN6/64" <<<"$(ip -n "$NS_GW" -6 addr show dev "$TUN_GW")"
check "a: no link-local address on client1's TUN (no RS/MLD chatter)" \
    test -z "$(ip -n "$NS_C1" -6 addr show dev "$TUN_C1" scope link)"
check_eq "a: the gateway's ip6 NAT table exists" "$(ip6_table)" 1
check_eq "a: IPv6 forwarding switched on" "$(fwd6)" 1
check_eq "a: client1's IPv6 default in table $FWMARK goes into the tunnel" "$(v6_default "default dev $TUN_C1")" 1
check_eq "a: and is not unreachable" "$(v6_default "unreachable")" 0
check_eq "a: two IPv6 policy rules carry our fwmark" "$(rules_of_ours -6)" 2
show_ok=$("$VPNGW" show "$TUN_GW" --json 2>&1 | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
c = {x["name"]: x.get("address6") for x in d["clients"]}
print("yes" if d.get("address6") == "fd77::1/64" and c == {"client1": "fd77::2", "client2": "fd77::3"} else d)')
check_eq "a: vpngw show --json: the gateway's and each client's IPv6 address" "$show_ok" yes
show=$("$VPNGW" show "$TUN_C1" 2>&1)
check "a: vpngw show on client1 names its address6 $C1_TUN6/64" grep -q "address6 $C1_TUN6/64" <<<"$show"
route=$(ip -n "$NS_C1" -6 route get "$NET6" 2>&1)
check "a: client1 routes $NET6 into the tunnel ($route)" grep -q "dev $TUN_C1" <<<"$route"
route=$(ip -n "$NS_C2" -6 route get "$NET6" 2>&1)
check "a: client2's split route sends $NET6 into the tunnel ($route)" grep -q "dev $TUN_C2" <<<"$route"

# ---------------------------------------------------------------------------------------------
log "b) ping -6 through the tunnel"
wait_ping "$NS_C1" "$GW_TUN6" 5 >/dev/null
check_eq "b: client1 pings the gateway's $GW_TUN6 (replies of 5)" "$(ping6_count "$NS_C1" "$GW_TUN6" 5)" 5
check_eq "b: client1 pings the internet host $NET6 over NAT66 (replies of 5)" "$(ping6_count "$NS_C1" "$NET6" 5)" 5
check_eq "b: client2 pings $NET6 over its split route (replies of 5)" "$(ping6_count "$NS_C2" "$NET6" 5)" 5
check_eq "b: client1 pings client2's $C2_TUN6 through the gateway (replies of 5)" \
    "$(ping6_count "$NS_C1" "$C2_TUN6" 5)" 5
check_eq "b: IPv4 still works beside it (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3

# ---------------------------------------------------------------------------------------------
log "c) iperf3 over IPv6, up and down"
lab_bg "$NS_NET" "$LAB_DIR/iperf3-server6.log" iperf3 -s -B "$NET6" -p 5202
IPERF6_PID=$LAST_PID
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_NET" ss -Hltn 'sport = :5202' 2>/dev/null | grep -q 5202 && break
    sleep 0.1
done
# IPv6 TCP crosses the tunnel as TSO super-packets cut into segments whose checksums stay
# partial: with checksum offload off on the internet link (as in netns.sh b), the gateway's
# kernel completes them and the internet host checks each one.
ip netns exec "$NS_GW" ethtool -K wan0 tx off >/dev/null 2>&1 &&
    ip netns exec "$NS_NET" ethtool -K eth0 rx off >/dev/null 2>&1 ||
    not_ok "c: checksum offloads off on the internet link" "ethtool -K failed"
# transfer_with_ping6 NS NAME WHAT [iperf3 flags]: a 4 s iperf3 -6 from NS to the internet host
# with an IPv6 ping from NS beside it (from 1 s in, for 2 s), into $LAB_DIR/*-NAME.*; checks
# that the transfer moves, the ping gets replies, and its p50 is <= 2 ms (WHAT names the case).
transfer_with_ping6() {
    local ns=$1 name=$2 what=$3 ping_pid mbps bytes n p50 p99
    shift 3
    (sleep 1; exec ip netns exec "$ns" ping -6 -n -i 0.01 -w 2 "$NET6") >"$LAB_DIR/ping6-$name.log" 2>&1 &
    ping_pid=$!
    ip netns exec "$ns" timeout 30 iperf3 -6 -c "$NET6" -p 5202 -t 4 -J "$@" >"$LAB_DIR/iperf6-$name.json" 2>&1
    wait "$ping_pid"
    read -r mbps bytes < <(iperf_mbps "$LAB_DIR/iperf6-$name.json")
    read -r n p50 p99 < <(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$LAB_DIR/ping6-$name.log" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR) print NR, v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1]; else print 0, "-", "-" }')
    log "c: $what: $mbps Mbit/s, $bytes bytes; ping -6 meanwhile: $n replies, p50 $p50 ms, p99 $p99 ms"
    check_gt "c: iperf3 -6 $what completes through the tunnel and NAT66 (bytes)" "${bytes:-0}" 1000000
    check_gt "c: ping -6 beside the $what gets replies" "$n" 50
    if awk -v v="${p50:-99}" 'BEGIN { exit !(v + 0 <= 2) }'; then ok "c: ping -6 beside the $what: p50 $p50 ms <= 2 ms"
    else not_ok "c: ping -6 beside the $what: p50 <= 2 ms" "p50 $p50 ms, p99 $p99 ms"; fi
}
# Unpaced, the queue rarely stands in vpngw here (these pings were as fast before IPv6 was
# queued by flow). Paced (client2, Bandwidth = PACE6), the upload's queue stands in client2's
# flow queues, CoDel keeping it at about 5 ms: an IPv6 ping beside it has a queue of its own and
# goes first (before git 4b255f9 every IPv6 packet shared one queue: p50 5.1 ms there).
transfer_with_ping6 "$NS_C1" up "upload"
transfer_with_ping6 "$NS_C1" down "download" -R
transfer_with_ping6 "$NS_C2" paced "upload paced at $PACE6 (client2)"

# UDP over IPv6 sent with UDP_SEGMENT: cut from the client's TUN (USO), merged at the gateway.
udpgso_check "c: 1000 IPv6 datagrams sent in 100 UDP_SEGMENT sends, all arrive intact and in order" "$NET6"
udpgso_check_down "c: 1000 IPv6 datagrams sent back in 100 UDP_SEGMENT sends, all arrive intact and in order" "$NET6"
check_eq "c: no TCP or UDP checksum errors at the internet host" \
    "$(ip netns exec "$NS_NET" nstat -az TcpInCsumErrors UdpInCsumErrors Udp6InCsumErrors 2>/dev/null | awk 'NR > 1 { s += $2 } END { print s + 0 }')" 0

# ---------------------------------------------------------------------------------------------
log "d) full tunnel: IPv6 goes through the tunnel, nothing leaks"
PCAP=$LAB_DIR/c1-eth0.pcap
lab_bg "$NS_C1" "$LAB_DIR/tcpdump-c1.log" tcpdump -n -U -i eth0 -w "$PCAP"
TD_PID=$LAST_PID
sleep 1
got=$(ping6_count "$NS_C1" "$NET6" 5)
# (at a rate tcpdump keeps up with: it must see every packet)
ip netns exec "$NS_C1" timeout 20 iperf3 -6 -c "$NET6" -p 5202 -t 2 -b 20M >/dev/null 2>&1
tcp_rc=$?
sleep 1
lab_stop "$TD_PID" 3 INT
read -r tunnel leaks shown < <(capture_leaks "$PCAP")
check_eq "d: IPv6 ping through the tunnel during the capture (replies of 5)" "$got" 5
check_eq "d: IPv6 TCP through the tunnel during the capture (iperf3 exit status)" "$tcp_rc" 0
check_gt "d: the capture holds the tunnel's datagrams" "${tunnel:-0}" 20
check_eq "d: nothing else left eth0 (IPv6 ping and TCP; first leaks: ${shown:-})" "${leaks:-x}" 0

# ---------------------------------------------------------------------------------------------
log "e) too big: Packet Too Big goes back to the sender"
# too_big WHO NS LOG DEV DST [expect_none]: raises DEV's MTU in NS to 1500 by hand, sends DST
# three 1500-byte pings with DF from NS: the sender must learn the tunnel MTU from a Packet
# Too Big and WHO's icmp_too_big_sent (in LOG) must rise; with expect_none, no ping may be
# answered either. DEV goes back to 1400 afterwards.
too_big() {
    local who=$1 ns=$2 logf=$3 dev=$4 dst=$5 expect_none=${6:-} mtu0 out got
    mtu0=$(stat_of "$logf" icmp_too_big_sent); mtu0=${mtu0:-0}
    ip -n "$ns" link set "$dev" mtu 1500
    out=$(ip netns exec "$ns" ping -6 -n -M do -s 1452 -c 3 -i 0.2 -W 1 "$dst" 2>&1)
    if [ -n "$expect_none" ]; then
        got=$(printf '%s\n' "$out" | sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' | head -n 1)
        check_eq "e: $who: ping -6 -M do -s 1452 (1500-byte packets) gets no replies (of 3)" "${got:-?}" 0
    fi
    if printf '%s\n' "$out" | grep -qiE 'mtu ?= ?1400|too big.*1400'; then ok "e: $who: the sender learns the tunnel MTU (Packet Too Big, mtu 1400)"
    else not_ok "e: $who: the sender learns the tunnel MTU (Packet Too Big, mtu 1400)" "ping said: $(printf '%s' "$out" | tr '\n' '|' | cut -c1-300)"; fi
    if wait_stat_gt "$logf" icmp_too_big_sent "$mtu0" 4; then ok "e: $who: icmp_too_big_sent rises"
    else not_ok "e: $who: icmp_too_big_sent rises" "from $mtu0 to '$(stat_of "$logf" icmp_too_big_sent)'"; fi
    ip -n "$ns" link set "$dev" mtu 1400
    ip -n "$ns" -6 route flush cache 2>/dev/null || true
}
too_big client "$NS_C1" "$C1_LOG" "$TUN_C1" "$NET6" expect_none
# the gateway: its own TUN raised by hand, a big packet to client1 from the gateway itself
too_big gateway "$NS_GW" "$SRV_LOG" "$TUN_GW" "$C1_TUN6"
check_eq "e: normal-size IPv6 still passes afterwards (replies of 3)" "$(ping6_count "$NS_C1" "$NET6" 3)" 3

# ---------------------------------------------------------------------------------------------
log "f) anti-spoofing: another IPv6 source is dropped and counted"
sp0=$(stat_of "$SRV_LOG" spoofed_source_drops); sp0=${sp0:-0}
ip -n "$NS_C1" -6 addr add fd77::99/128 dev "$TUN_C1" nodad
got=$(ping_count "$NS_C1" "$GW_TUN6" 3 -6 -I fd77::99)
check_eq "f: ping -6 from fd77::99 (not client1's) gets no replies (of 3)" "$got" 0
if wait_stat_ge "$SRV_LOG" spoofed_source_drops $((sp0 + 3)) 4; then ok "f: the gateway counts spoofed_source_drops (+3)"
else not_ok "f: the gateway counts spoofed_source_drops (+3)" "from $sp0 to '$(stat_of "$SRV_LOG" spoofed_source_drops)'"; fi
ip -n "$NS_C1" -6 addr del fd77::99/128 dev "$TUN_C1"

# ---------------------------------------------------------------------------------------------
log "g) SIGTERM puts everything back"
lab_stop "$IPERF6_PID" 3 TERM
check_clean_stop g client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_eq "g: no IPv6 rule of ours left" "$(rules_of_ours -6)" 0
check_eq "g: no IPv6 default of ours left in table $FWMARK" "$(ip -n "$NS_C1" -6 route show table $FWMARK 2>/dev/null | wc -l)" 0
check_clean_stop g client2 "$C2_PID" "$NS_C2" "$TUN_C2"
check_clean_stop g gateway "$SRV_PID" "$NS_GW" "$TUN_GW"
check_eq "g: the ip6 NAT table is removed" "$(ip6_table)" 0
check_eq "g: IPv6 forwarding is back off" "$(fwd6)" 0

# ---------------------------------------------------------------------------------------------
log "h) a gateway without an IPv6 pool: IPv4 as before, IPv6 refused, never leaked"
SRV4_LOG=$LAB_DIR/server-v4only.log
vpngw_start server "$NS_GW" "$SRV4_CONF" "$SRV4_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV4_LOG" 'msg="gateway up"' 10 || not_ok "h: v4-only gateway up"
check "h: the gateway logs no IPv6 pool" grep -q 'msg="gateway up".*address6=none' "$SRV4_LOG"
check_eq "h: no ip6 NAT table" "$(ip6_table)" 0
C1B_LOG=$LAB_DIR/client1-v4only.log
vpngw_start client "$NS_C1" "$C1_CONF" "$C1B_LOG"
C1_PID=$LAST_PID
check "h: client1 session up with address6=none" wait_log "$C1B_LOG" 'msg="session up".*address6=none' 10
check_eq "h: IPv6 is unreachable in table $FWMARK" "$(v6_default unreachable)" 1
check_eq "h: ping $NET_IP through the tunnel (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
if ping_refused "$NS_C1" "$NET6"; then ok "h: IPv6 beyond the LAN is refused at once ($PING_OUT)"
else not_ok "h: IPv6 beyond the LAN is refused at once" "want exit 2, 'connect: No route to host'; got $PING_OUT"; fi

# the gateway restarted with its IPv6 pool, then without it, under the running client
restart_gateway() { # CONF LOG
    vpngw_stop "$SRV_PID" 5
    vpngw_start server "$NS_GW" "$1" "$2"
    SRV_PID=$LAST_PID
    wait_log "$2" 'msg="gateway up"' 10
}
restart_gateway "$SRV_CONF" "$LAB_DIR/server-again.log"
check "h: after the gateway's restart with an IPv6 pool, client1 has a new session with $C1_TUN6" \
    wait_log "$C1B_LOG" "msg=\"session up\".*address6=$C1_TUN6/64" 20
check_eq "h: the IPv6 default in table $FWMARK goes into the tunnel again" "$(v6_default "default dev $TUN_C1")" 1
check_eq "h: two IPv6 policy rules, as before" "$(rules_of_ours -6)" 2
wait_ping "$NS_C1" "$NET6" 5 >/dev/null
check_eq "h: ping -6 $NET6 through the tunnel (replies of 3)" "$(ping6_count "$NS_C1" "$NET6" 3)" 3
restart_gateway "$SRV4_CONF" "$LAB_DIR/server-v4only-again.log"
check "h: after the restart without an IPv6 pool, a new session with address6=none" \
    wait_log "$C1B_LOG" 'msg="session up".*address6=none' 20 2
check "h: client1's TUN no longer has $C1_TUN6" test -z "$(ip -n "$NS_C1" -6 addr show dev "$TUN_C1" scope global)"
check_eq "h: IPv6 is unreachable in table $FWMARK again" "$(v6_default unreachable)" 1
check_eq "h: ping $NET_IP through the tunnel (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
if ping_refused "$NS_C1" "$NET6"; then ok "h: IPv6 beyond the LAN is refused again ($PING_OUT)"
else not_ok "h: IPv6 beyond the LAN is refused again" "want exit 2, 'connect: No route to host'; got $PING_OUT"; fi

check_clean_stop h client1 "$C1_PID" "$NS_C1" "$TUN_C1"
check_eq "h: no IPv6 block left" "$(v6_default unreachable)" 0
check_eq "h: no IPv6 rule of ours left" "$(rules_of_ours -6)" 0

# ---------------------------------------------------------------------------------------------
log "i) a client host with IPv6 off still gets its IPv4 tunnel"
restart_gateway "$SRV_CONF" "$LAB_DIR/server-i.log"
ip netns exec "$NS_C2" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
C2I_LOG=$LAB_DIR/client2-no-ipv6.log
vpngw_start client "$NS_C2" "$C2_CONF" "$C2I_LOG"
C2_PID=$LAST_PID
check "i: client2 session up, address6=none (not set on its TUN)" wait_log "$C2I_LOG" 'msg="session up".*address6=none' 10
check "i: client2 says it has no IPv6 through the tunnel" wait_log "$C2I_LOG" 'no IPv6 through the tunnel' 2
check_eq "i: ping $NET_IP through the tunnel (replies of 3)" "$(ping_count "$NS_C2" "$NET_IP" 3)" 3
route=$(ip -n "$NS_C2" -6 route get "$NET6" 2>&1)
check "i: no IPv6 route into the tunnel ($route)" test -z "$(grep "dev $TUN_C2" <<<"$route")"
check_clean_stop i client2 "$C2_PID" "$NS_C2" "$TUN_C2"
check_clean_stop i gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

lab_summary
