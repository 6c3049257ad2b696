#!/usr/bin/env bash
# tests/e2e/nat.sh: `Masquerade =` on the gateway, in namespaces of its own (client --
# gateway -- internet host, no NAT set up by the test): the gateway's own nftables table
# makes the internet host reachable through the tunnel; after a kill -9 a restarted gateway
# replaces the table it left; a clean stop removes it and puts ip_forward back; a
# Masquerade interface that does not exist is a warning naming it, and the tunnel comes up;
# with User = nobody both sides give up root, keep only CAP_NET_ADMIN (and CAP_SYS_NICE
# where RLIMIT_RTPRIO cannot be raised), still work, and still go real-time under load.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${VPNGW:-$ROOT/build/vpngw}
S=$$
NC=natc-$S NG=natg-$S NI=nati-$S TUN=vn$S CTUN=vnc$S
OUT=$(mktemp -d /tmp/vpngw-nat.XXXXXX)
SP='' CP='' IP='' IPC='' FAIL=0 CLEANED=0 RC=''
# alive PID: running, not a zombie (kill -0 would also find a child not yet reaped)
alive() {
	local st
	[ -n "${1:-}" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}
# reap PID SECONDS: wait at most SECONDS for PID to exit by itself, then TERM it and after 2 s
# KILL it; its exit status in RC (137 when it had to be killed)
reap() {
	local pid=$1 i
	RC=
	[ -n "$pid" ] || return 1
	for ((i = 0; i < $2 * 10; i++)); do alive "$pid" || break; sleep 0.1; done
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 20; i++)); do alive "$pid" || break; sleep 0.1; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	RC=$?
}
# stop PID [SECONDS]: SIGTERM, then as reap (10 s)
stop() { [ -n "$1" ] && kill -TERM "$1" 2>/dev/null; reap "$1" "${2:-10}"; }
cleanup() {
	[ "$CLEANED" -eq 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	local p i any
	for p in $IPC $CP $SP $IP; do kill "$p" 2>/dev/null; done
	for ((i = 0; i < 30; i++)); do
		any=0
		for p in $IPC $CP $SP $IP; do alive "$p" && any=1; done
		[ "$any" -eq 0 ] && break
		sleep 0.1
	done
	for p in $IPC $CP $SP $IP; do alive "$p" && kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for n in $NC $NG $NI; do ip netns del "$n" 2>/dev/null; done
	# control sockets a kill -9 or User = left (/run/vpngw is root's)
	rm -f "/run/vpngw/$TUN.sock" "/run/vpngw/$CTUN.sock"
	if [ "$FAIL" -eq 0 ]; then rm -rf "$OUT"; else tail -n 5 "$OUT"/*.log; fi
}
trap cleanup EXIT
trap 'FAIL=$((FAIL + 1)); cleanup; exit 130' INT
trap 'FAIL=$((FAIL + 1)); cleanup; exit 143' TERM
ok() { printf 'ok - %s\n' "$1"; }
not_ok() { printf 'not ok - %s\n' "$1"; FAIL=$((FAIL + 1)); }
check() { if "${@:2}"; then ok "$1"; else not_ok "$1"; fi; }
wait_for() { # FILE PATTERN SECONDS
	for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
wait_after() { # FILE FIRST THEN SECONDS: until a line matching THEN follows one matching FIRST
	for _ in $(seq $(($4 * 10))); do
		awk -v a="$2" -v b="$3" 'index($0, a) { seen = 1 } seen && index($0, b) { found = 1 } END { exit !found }' \
			"$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
pings() { ip netns exec "$NC" ping -n -q -c "$1" -i 0.2 -W 1 -w $(($1 + 5)) 198.51.100.2 2>&1 |
	sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p'; }
table_count() { ip netns exec "$NG" nft list tables 2>/dev/null | grep -c "ip vpngw_$TUN\$"; }
# the conntrack bypass for the tunnel's port (Conntrack = bypass, the default)
notrack_count() { ip netns exec "$NG" nft list tables 2>/dev/null | grep -c "inet vpngw_${TUN}_notrack\$"; }
notrack_hits() { # packets its prerouting and output rules matched
	ip netns exec "$NG" nft list table inet "vpngw_${TUN}_notrack" 2>/dev/null |
		sed -nE 's/.*port 51820 counter packets ([0-9]+).*/\1/p' | paste -sd' '; }

for n in $NC $NG $NI; do ip netns add "$n" && ip -n "$n" link set lo up || exit 1; done
ip link add "c$S" netns "$NC" type veth peer name "gc$S" netns "$NG"
ip link add "i$S" netns "$NI" type veth peer name "gi$S" netns "$NG"
ip -n "$NC" addr add 192.0.2.2/24 dev "c$S"
ip -n "$NG" addr add 192.0.2.1/24 dev "gc$S"
ip -n "$NG" addr add 198.51.100.1/24 dev "gi$S"
ip -n "$NI" addr add 198.51.100.2/24 dev "i$S"
for l in "$NC:c$S" "$NG:gc$S" "$NG:gi$S" "$NI:i$S"; do ip -n "${l%%:*}" link set "${l#*:}" up; done

sk=$("$B" genkey) ck=$("$B" genkey)
server_conf() { # MASQUERADE_IFACE
	printf '[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\nInterface = %s\nMasquerade = %s\nStateFile = %s\n[Client]\nPublicKey = %s\n' \
		"$sk" "$TUN" "$1" "$OUT/server.state" "$(echo "$ck" | "$B" pubkey)" >"$OUT/server.conf"
	chmod 600 "$OUT/server.conf"
}
printf '[Client]\nPrivateKey = %s\nInterface = %s\nKeepaliveInterval = 1\nDNS = off\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\nRoutes = 198.51.100.0/24\n' \
	"$ck" "$CTUN" "$(echo "$sk" | "$B" pubkey)" >"$OUT/client.conf"
chmod 600 "$OUT/client.conf"
start_server() { # LOG
	ip netns exec "$NG" "$B" server "$OUT/server.conf" 2>"$OUT/$1" &
	SP=$!
}

# ip_forward off before the first start (a fresh namespace copies the host's): the gateway
# must switch it on, and each clean stop below must put back the 0 the test set
ip netns exec "$NG" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
server_conf "gi$S"
start_server server1.log
check "gateway logs its masquerade" wait_for "$OUT/server1.log" "masquerading the client pool" 5
ip netns exec "$NC" "$B" client "$OUT/client.conf" 2>"$OUT/client.log" &
CP=$!
check "client session up" wait_for "$OUT/client.log" 'session up' 10
check "ip_forward switched on" test "$(ip netns exec "$NG" cat /proc/sys/net/ipv4/ip_forward)" = 1
r=$(pings 5)
check "ping the internet host through the tunnel and the gateway's NAT: ${r:-0} of 5" test "${r:-0}" -eq 5
check "the gateway's nftables table exists" test "$(table_count)" -eq 1
check "the conntrack bypass table exists" test "$(notrack_count)" -eq 1
read -r hin hout <<<"$(notrack_hits)"
check "the tunnel's datagrams skip conntrack both ways (notrack rules matched ${hin:-0} in, ${hout:-0} out)" \
	test "${hin:-0}" -gt 0 -a "${hout:-0}" -gt 0

# a crash leaves the table behind; the next start replaces it
kill -9 "$SP"; reap "$SP" 5; SP=
check "after kill -9 the table is still there" test "$(table_count)" -eq 1
start_server server2.log
check "the restarted gateway masquerades again" wait_for "$OUT/server2.log" "masquerading the client pool" 5
check "one table, not two" test "$(table_count)" -eq 1
check "one conntrack bypass table, not two" test "$(notrack_count)" -eq 1
check "client back in a new session" wait_for "$OUT/client.log" 'gateway silent' 15
check "... and logs a new session up after it" wait_after "$OUT/client.log" 'gateway silent' 'msg="session up"' 10
r=$(pings 5)
check "ping after the restart: ${r:-0} of 5" test "${r:-0}" -ge 4

stop "$SP"; rc=$RC; SP=
check "clean stop exits 0" test "$rc" -eq 0
check "clean stop removes the table" test "$(table_count)" -eq 0
check "and the conntrack bypass table" test "$(notrack_count)" -eq 0
# (ip_forward stays on here: the crashed first gateway turned it on, and the second cannot
# know it was off before; the next case checks the restore)

# an interface that does not exist: a warning naming it, and the tunnel still comes up;
# ip_forward, off at its start, is off again after its clean stop
ip netns exec "$NG" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
server_conf nosuch0
start_server server3.log
check "a missing Masquerade interface is a warning naming it" wait_for "$OUT/server3.log" \
	'level=warn .*msg="Masquerade interface does not exist (yet); the rule waits for it" interface=nosuch0$' 5
check "the gateway still comes up" wait_for "$OUT/server3.log" 'gateway up' 5
check "the client gets a session with it" wait_for "$OUT/server3.log" 'msg=handshake' 20
stop "$SP"; SP=
check "clean stop puts ip_forward back to 0" test "$(ip netns exec "$NG" cat /proc/sys/net/ipv4/ip_forward)" = 0

# least privilege: both sides with User = nobody keep only CAP_NET_ADMIN (and CAP_SYS_NICE
# for their real-time data threads where RLIMIT_RTPRIO cannot be raised instead) and still
# work, and the gateway still undoes its NAT and ip_forward on a clean stop
stop "$CP"; CP=
ip netns exec "$NG" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
server_conf "gi$S"
sed -i '1a User = nobody' "$OUT/server.conf"
sed -i 's/^\[Server\]$/User = nobody\n&/' "$OUT/client.conf"
start_server server4.log
check "gateway drops root" wait_for "$OUT/server4.log" 'dropped root.*user=nobody' 5
ip netns exec "$NC" "$B" client "$OUT/client.conf" 2>"$OUT/client4.log" &
CP=$!
check "client drops root" wait_for "$OUT/client4.log" 'dropped root.*user=nobody' 5
check "client session up without root" wait_for "$OUT/client4.log" 'session up' 10
for who in server client; do
	pid=$SP; [ "$who" = client ] && pid=$CP
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
	cap=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
	check "$who runs as nobody (uid $uid)" test "$uid" = "$(id -u nobody)"
	log=$OUT/server4.log; [ "$who" = client ] && log=$OUT/client4.log
	if grep -q 'dropped root.*capabilities=net_admin,sys_nice' "$log"; then
		check "$who keeps only CAP_NET_ADMIN and CAP_SYS_NICE (CapEff $cap)" test "$cap" = 0000000000801000
	else
		check "$who keeps only CAP_NET_ADMIN (CapEff $cap)" test "$cap" = 0000000000001000
	fi
done
# Under load the data threads go real-time (SCHED_FIFO 10) without root too: watch
# both processes' threads during 3 s of iperf3 (when it gets past 1000 Mbit/s, where the
# gate surely opens; a sanitizer build may not).
fifo_now() { for t in /proc/"$1"/task/*; do sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $39, $38}'; done | grep -cx '1 10'; }
# (the server is bounded too: timeout(1), and stopped by PID once the client is done)
ip netns exec "$NI" timeout 40 iperf3 -s -1 -B 198.51.100.2 -p 5201 >"$OUT/iperf3-server.log" 2>&1 &
IP=$!
for _ in $(seq 50); do ip netns exec "$NI" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q 5201 && break; sleep 0.1; done
ip netns exec "$NC" timeout 20 iperf3 -c 198.51.100.2 -p 5201 -t 3 -f m >"$OUT/iperf3.txt" 2>&1 &
IPC=$!
fmax_s=0 fmax_c=0
for _ in $(seq 25); do
	n=$(fifo_now "$SP"); [ "$n" -gt "$fmax_s" ] && fmax_s=$n
	n=$(fifo_now "$CP"); [ "$n" -gt "$fmax_c" ] && fmax_c=$n
	sleep 0.1
done
reap "$IPC" 25; IPC=
reap "$IP" 3; IP=
mbps=$(awk '/receiver/ {for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print int($(i-1))}' "$OUT/iperf3.txt")
if [ "${mbps:-0}" -ge 1000 ]; then
	check "under load ($mbps Mbit/s) the gateway's two data threads run SCHED_FIFO 10 without root" test "$fmax_s" -eq 2
	check "and the client's two ($fmax_c)" test "$fmax_c" -eq 2
else
	echo "# iperf3 without root: ${mbps:-no} Mbit/s, too slow to require real-time data threads"
fi
r=$(pings 5)
check "ping through the tunnel and NAT without root: ${r:-0} of 5" test "${r:-0}" -eq 5
stop "$CP"; rc=$RC; CP=
check "client exits 0 without root" test "$rc" -eq 0
check "client's TUN is gone" test -z "$(ip -n "$NC" link show "$CTUN" 2>/dev/null)"
stop "$SP"; rc=$RC; SP=
check "gateway exits 0 without root" test "$rc" -eq 0
check "gateway without root still removes its table" test "$(table_count)" -eq 0
check "and its conntrack bypass table" test "$(notrack_count)" -eq 0
check "and puts ip_forward back to 0" test "$(ip netns exec "$NG" cat /proc/sys/net/ipv4/ip_forward)" = 0

# Conntrack = track: no bypass table, the tunnel works as before
server_conf "gi$S"
sed -i '1a Conntrack = track' "$OUT/server.conf"
start_server server5.log
check "Conntrack = track: the gateway comes up" wait_for "$OUT/server5.log" 'gateway up' 5
check "Conntrack = track: no conntrack bypass table" test "$(notrack_count)" -eq 0
ip netns exec "$NC" "$B" client "$OUT/client.conf" 2>"$OUT/client5.log" &
CP=$!
check "Conntrack = track: client session up" wait_for "$OUT/client5.log" 'session up' 10
r=$(pings 3)
check "Conntrack = track: ping through the tunnel and NAT: ${r:-0} of 3" test "${r:-0}" -eq 3
stop "$CP"; CP=
stop "$SP"; SP=

echo "nat: $FAIL failed"
[ "$FAIL" -eq 0 ]
