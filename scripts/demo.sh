#!/usr/bin/env bash
# scripts/demo.sh (what `make demo` runs): one client, one gateway, one internet host, each in
# its own network namespace; a real vpngw full tunnel between the first two (the client sets up
# its routes, policy rules and resolver itself); a name looked up through the gateway's DNS
# proxy; ping and iperf3 through the tunnel; the live counters; then everything is torn down and
# the client's host is as it was. Needs root.
# VPNGW=path overrides build/vpngw; LAB_KEEP=1 keeps the logs and configs.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

say() { printf '\n== %s\n' "$*"; }

lab_init
lab_ensure_tools --install
if [ ! -x "$VPNGW" ]; then
    say "Building vpngw"
    make -C "$ROOT" >/dev/null || die "make failed"
fi
lab_check_binary

say "vpngw $("$VPNGW" --version 2>&1 | head -n 1)"
cat <<EOF
Three network namespaces, joined by veth pairs:
  client host $NS_C1     eth0 $C1_IP
  gateway     $NS_GW     br0 $GW_CLIENT_IP (client side), wan0 $GW_WAN_IP (internet side)
  internet    $NS_NET    eth0 $NET_IP
The client host has a default route via $GW_CLIENT_IP like any LAN host; the client makes a
full tunnel (Routes = 0.0.0.0/0, ::/0) so that everything goes through vpngw instead.
The gateway NATs the tunnel's $TUN_NET out of wan0 (nftables table vpngw_test).
The internet host runs dnsmasq, the gateway's only resolver; it alone knows www.lab.example.
EOF
lab_up c1
ip -n "$NS_C1" route add default via "$GW_CLIENT_IP" || die "client default route"
printf 'nameserver 192.0.2.53\n' >"/etc/netns/$NS_C1/resolv.conf"
lab_netns_etc "$NS_GW" resolv.conf <<EOF
nameserver $NET_IP
EOF
lab_bg "$NS_NET" "$LAB_DIR/dnsmasq.log" dnsmasq --no-daemon --no-resolv --no-hosts --conf-file=/dev/null \
    --pid-file= --user=root --group=root --listen-address="$NET_IP" --bind-interfaces \
    --local=/lab.example/ --host-record="www.lab.example,$NET_IP"
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_NET" ss -Hlun "sport = :53" 2>/dev/null | grep -q "$NET_IP" && break
    sleep 0.1
done

say "Keys: vpngw genkey (private), vpngw pubkey (public from private)"
lab_keypair SRV
lab_keypair K1
# shellcheck disable=SC2153  # set by lab_keypair
printf '  gateway public key: %s\n  client  public key: %s\n' "$SRV_PUB" "$K1_PUB"

SRV_CONF=$LAB_DIR/server.conf
C1_CONF=$LAB_DIR/client.conf
write_server_conf "$SRV_CONF" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32"
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
sed -i 's|^Routes = .*|Routes = 0.0.0.0/0, ::/0|' "$C1_CONF"
sed -i '/^DNS = /d' "$SRV_CONF"   # clients are told the gateway's DNS proxy
say "Gateway config ($SRV_CONF; private key hidden here)"
print_conf "$SRV_CONF"
say "Client config ($C1_CONF)"
print_conf "$C1_CONF"

SRV_LOG=$LAB_DIR/server.log
C1_LOG=$LAB_DIR/client.log
say "Starting the gateway: vpngw server server.conf (in $NS_GW)"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
sleep 0.5
proc_alive "$SRV_PID" || die "vpngw server exited at once"
say "Starting the client: vpngw client client.conf (in $NS_C1)"
vpngw_start client "$NS_C1" "$C1_CONF" "$C1_LOG"
C1_PID=$LAST_PID
wait_log "$C1_LOG" 'msg="session up"' 10 || die "no session within 10 s"
echo "client: $(grep -m1 'msg="session up"' "$C1_LOG")"
if wait_log "$SRV_LOG" 'msg=("handshake"|handshake)( |$)' 3; then
    echo "server: $(grep -m1 -E 'msg=("handshake"|handshake)( |$)' "$SRV_LOG")"
fi
echo "client host, before the tunnel: resolv.conf 'nameserver 192.0.2.53', default via $GW_CLIENT_IP"
echo "client host now:"
echo "  ip rule (the full tunnel's policy rules):"
ip -n "$NS_C1" rule | sed 's/^/    /'
echo "  ip route get $NET_IP:       $(ip -n "$NS_C1" route get "$NET_IP" | head -n 1)"
echo "  ip route get $GW_CLIENT_IP (the tunnel's own UDP, marked): $(ip -n "$NS_C1" route get "$GW_CLIENT_IP" mark 51820 | head -n 1)"
echo "  resolv.conf:"
sed 's/^/    /' "/etc/netns/$NS_C1/resolv.conf"

say "getent hosts www.lab.example (the system resolver -> the gateway's DNS proxy -> dnsmasq)"
ip netns exec "$NS_C1" timeout 10 getent hosts www.lab.example | sed 's/^/    /'

wait_ping "$NS_C1" "$GW_TUN_IP" 5
say "ping -c 10 the gateway's tunnel address $GW_TUN_IP"
ping_summary "$NS_C1" "$GW_TUN_IP" 10 | sed 's/^/    /'
say "ping -c 10 www.lab.example (through the tunnel and the gateway's NAT)"
ping_summary "$NS_C1" www.lab.example 10 | sed 's/^/    /'

say "iperf3 TCP, 5 s each way, client host <-> internet host"
if iperf_server_start; then
    for dir in up down; do
        args=(); [ "$dir" = down ] && args=(-R)
        json=$LAB_DIR/iperf3-$dir.json
        if iperf_run "$NS_C1" "$json" "${args[@]}"; then
            read -r mbps _ < <(iperf_mbps "$json")
            printf '    %-5s %s Mbit/s\n' "$dir" "$mbps"
        else
            printf '    %-5s failed (%s)\n' "$dir" "$(grep -m1 '"error"' "$json")"
        fi
    done
else
    echo "    iperf3 server did not start"
fi

sleep 1.2   # one more stats line (StatsInterval = 1)
say "Last stats line of the gateway"
stats_line "$SRV_LOG" | sed -E 's/.*msg=("stats"|stats) ?//' | fold -s -w 100 | sed 's/^/    /'
say "Last stats line of the client"
stats_line "$C1_LOG" | sed -E 's/.*msg=("stats"|stats) ?//' | fold -s -w 100 | sed 's/^/    /'

say "Tearing down: SIGTERM to client and gateway, then the namespaces"
vpngw_stop "$C1_PID" 5; echo "    client exited: $STOP_RC"
vpngw_stop "$SRV_PID" 5; echo "    gateway exited: $STOP_RC"
echo "client host after the client stopped:"
echo "  ip rule:"
ip -n "$NS_C1" rule | sed 's/^/    /'
echo "  resolv.conf:"
sed 's/^/    /' "/etc/netns/$NS_C1/resolv.conf"
echo "Done."
