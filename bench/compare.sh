#!/usr/bin/env bash
# Side-by-side measurement, one run: the raw routed path, vpngw and
# wireguard-go, in the lab topology
#   client ns (192.0.2.2) -- gateway ns (192.0.2.1 | 198.51.100.1, NAT) -- internet ns (198.51.100.2)
# For each: iperf3 TCP single stream up and down, ping p50/p99 idle and
# during an upload. Prints a Markdown table on stdout; logs go to $OUT.
#
# usage: [TUNNELS="raw vpngw wggo"] bench/compare.sh [seconds per iperf3 run, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VPNGW=${VPNGW:-$ROOT/build/vpngw}
T=${1:-10}
S=$$
NC=bc$S NG=bg$S NI=bi$S
OUT=$(mktemp -d /tmp/vpngw-bench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for n in $NC $NG $NI; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

inc() { ip netns exec $NC "$@"; }
ing() { ip netns exec $NG "$@"; }
ini() { ip netns exec $NI "$@"; }

lab() {
	for n in $NC $NG $NI; do ip netns add $n; ip -n $n link set lo up; done
	ip link add c$S netns $NC type veth peer name gc$S netns $NG
	ip link add i$S netns $NI type veth peer name gi$S netns $NG
	ip -n $NC addr add 192.0.2.2/24 dev c$S; ip -n $NC link set c$S up
	ip -n $NG addr add 192.0.2.1/24 dev gc$S; ip -n $NG link set gc$S up
	ip -n $NG addr add 198.51.100.1/24 dev gi$S; ip -n $NG link set gi$S up
	ip -n $NI addr add 198.51.100.2/24 dev i$S; ip -n $NI link set i$S up
	ing sysctl -qw net.ipv4.ip_forward=1
	ing nft -f - <<NFT
table ip bench_nat {
	chain post { type nat hook postrouting priority srcnat; oifname "gi$S" ip saddr { 10.0.0.0/8, 192.0.2.0/24 } masquerade; }
}
NFT
	ini iperf3 -s -D -I "$OUT/iperf3.pid" >/dev/null
	sleep 0.2
	PIDS+=("$(cat "$OUT/iperf3.pid")")
}

# ping summary: p50 p99 max (ms) over N pings at 10 ms spacing
pings() {
	inc ping -n -q -i 0.01 -c "$1" -W 1 198.51.100.2 >/dev/null 2>&1 || true
	inc ping -n -i 0.01 -c "$1" -W 1 198.51.100.2 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -g |
		awk '{v[NR]=$1} END {if (!NR) {print "- - -"; exit} p50=v[int((NR-1)*0.50)+1]; p99=v[int((NR-1)*0.99)+1]; printf "%.3f %.3f %.3f\n", p50, p99, v[NR]}'  || true
}

iperf() { # args: extra iperf3 flags; prints Gbit/s
	inc iperf3 -c 198.51.100.2 -t "$T" -J "$@" >"$OUT/iperf.json" 2>/dev/null || { echo "-"; return; }
	/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$OUT/iperf.json"
}

measure() { # name
	local up down idle load
	idle=$(pings 200)
	up=$(iperf)
	down=$(iperf -R)
	ip netns exec $NC iperf3 -c 198.51.100.2 -t $((T + 2)) >/dev/null 2>&1 & local ip=$!
	sleep 1
	load=$(pings 500)
	wait $ip || true
	read -r i50 _ _ <<<"$idle"
	read -r _ l99 lmax <<<"$load"
	printf '| %s | %s / %s | %s | %s / %s |\n' "$1" "$up" "$down" "$i50" "$l99" "$lmax"
}

raw() {
	inc ip route add 198.51.100.0/24 via 192.0.2.1
	measure "raw routed path"
	inc ip route del 198.51.100.0/24 via 192.0.2.1
}

vpngw() {
	local sk ck
	sk=$("$VPNGW" genkey); ck=$("$VPNGW" genkey)
	cat >"$OUT/server.conf" <<CONF
[Server]
PrivateKey = $sk
ListenPort = 51820
Address = 10.77.0.1/24
MTU = 1400
Interface = vg$S
[Client]
Name = bench
PublicKey = $(echo "$ck" | "$VPNGW" pubkey)
CONF
	cat >"$OUT/client.conf" <<CONF
[Client]
PrivateKey = $ck
Interface = vc$S
[Server]
PublicKey = $(echo "$sk" | "$VPNGW" pubkey)
Endpoint = 192.0.2.1:51820
Routes = 198.51.100.0/24
CONF
	chmod 600 "$OUT"/*.conf
	ip netns exec $NG "$VPNGW" server "$OUT/server.conf" 2>"$OUT/vpngw-server.log" & local sp=$!
	PIDS+=("$sp")
	sleep 0.3
	ip netns exec $NC "$VPNGW" client "$OUT/client.conf" 2>"$OUT/vpngw-client.log" & local cp=$!
	PIDS+=("$cp")
	for _ in $(seq 50); do grep -q 'session up' "$OUT/vpngw-client.log" && break; sleep 0.1; done
	measure "vpngw"
	kill "$cp" "$sp"; wait "$cp" "$sp" || true
}

wggo() {
	local sk ck
	sk=$(wg genkey); ck=$(wg genkey)
	ip netns exec $NG env WG_PROCESS_FOREGROUND=1 wireguard-go wgg$S >"$OUT/wg-gw.log" 2>&1 & local gp=$!
	ip netns exec $NC env WG_PROCESS_FOREGROUND=1 wireguard-go wgc$S >"$OUT/wg-cl.log" 2>&1 & local cp=$!
	PIDS+=("$gp" "$cp")
	for _ in $(seq 50); do ing ip link show wgg$S >/dev/null 2>&1 && inc ip link show wgc$S >/dev/null 2>&1 && break; sleep 0.1; done
	echo "$sk" >"$OUT/wg-gw.key"; echo "$ck" >"$OUT/wg-cl.key"
	ing wg set wgg$S private-key "$OUT/wg-gw.key" listen-port 51821 peer "$(echo "$ck" | wg pubkey)" allowed-ips 10.78.0.2/32
	inc wg set wgc$S private-key "$OUT/wg-cl.key" peer "$(echo "$sk" | wg pubkey)" endpoint 192.0.2.1:51821 allowed-ips 10.78.0.0/24,198.51.100.0/24
	ing ip addr add 10.78.0.1/24 dev wgg$S; ing ip link set wgg$S mtu 1400 up
	inc ip addr add 10.78.0.2/24 dev wgc$S; inc ip link set wgc$S mtu 1400 up
	inc ip route add 198.51.100.0/24 dev wgc$S
	measure "wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null | cut -d- -f1)"
	kill "$cp" "$gp"; wait "$cp" "$gp" || true
}

lab
echo "| tunnel | TCP 1 stream up / down, Gbit/s | ping idle p50, ms | ping during upload p99 / max, ms |"
echo "|---|---|---|---|"
for t in ${TUNNELS:-raw vpngw wggo}; do $t; done
echo
echo "($(nproc) cores, $(uname -r), iperf3 ${T}s per direction, MTU 1400 in every tunnel; logs in $OUT)"
