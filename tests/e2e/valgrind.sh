#!/usr/bin/env bash
# tests/e2e/valgrind.sh: a gateway and a client under valgrind memcheck in two network
# namespaces of their own: handshake, 20 pings through the tunnel, several rekeys
# (RekeyAfter = 2), then SIGTERM. Both must exit 0 with no memcheck error and no leak
# (valgrind's --error-exitcode turns either into a non-zero exit).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${VPNGW:-$ROOT/build/vpngw}
S=$$
NC=vgc-$S NG=vgg-$S
OUT=$(mktemp -d /tmp/vpngw-valgrind.XXXXXX)
SP='' CP='' FAIL=0 CLEANED=0 RC=''
# alive PID: running, not a zombie (kill -0 would also find a child not yet reaped)
alive() {
	local st
	[ -n "${1:-}" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}
# stop PID SECONDS: SIGTERM, wait at most SECONDS for PID to exit, then KILL it; its exit
# status in RC ("timeout" when it had to be killed)
stop() {
	local pid=$1 i
	RC=
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < $2 * 10; i++)); do alive "$pid" || break; sleep 0.1; done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		RC=timeout
		return 1
	fi
	wait "$pid" 2>/dev/null
	RC=$?
}
cleanup() {
	[ "$CLEANED" -eq 1 ] && return
	CLEANED=1
	trap - EXIT INT TERM
	local p i any
	for p in $CP $SP; do kill "$p" 2>/dev/null; done
	# memcheck's leak check at exit takes a while: 10 s, then KILL
	for ((i = 0; i < 100; i++)); do
		any=0
		for p in $CP $SP; do alive "$p" && any=1; done
		[ "$any" -eq 0 ] && break
		sleep 0.1
	done
	for p in $CP $SP; do alive "$p" && kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del "$NC" 2>/dev/null
	ip netns del "$NG" 2>/dev/null
	[ "$FAIL" -eq 0 ] && rm -rf "$OUT"
}
trap cleanup EXIT
trap 'FAIL=$((FAIL + 1)); cleanup; exit 130' INT
trap 'FAIL=$((FAIL + 1)); cleanup; exit 143' TERM
ok() { printf 'ok - %s\n' "$1"; }
not_ok() { printf 'not ok - %s\n' "$1"; FAIL=$((FAIL + 1)); }

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is missing (make deps)" >&2; exit 1; }
ip netns add "$NC" && ip netns add "$NG" || exit 1
ip link add "c$S" netns "$NC" type veth peer name "g$S" netns "$NG"
ip -n "$NC" addr add 192.0.2.2/24 dev "c$S"
ip -n "$NG" addr add 192.0.2.1/24 dev "g$S"
for ns in "$NC:c$S" "$NG:g$S"; do
	ip -n "${ns%%:*}" link set "${ns#*:}" up
	ip -n "${ns%%:*}" link set lo up
done

sk=$("$B" genkey) ck=$("$B" genkey)
printf '[Server]\nPrivateKey = %s\nAddress = 10.77.0.1/24\nInterface = vgs%s\nStateFile = %s\n[Client]\nPublicKey = %s\n' \
	"$sk" "$S" "$OUT/server.state" "$(echo "$ck" | "$B" pubkey)" >"$OUT/server.conf"
printf '[Client]\nPrivateKey = %s\nInterface = vgc%s\nRekeyAfter = 2\nDNS = off\n[Server]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n' \
	"$ck" "$S" "$(echo "$sk" | "$B" pubkey)" >"$OUT/client.conf"
chmod 600 "$OUT"/*.conf

VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9
	--suppressions="$ROOT/tests/e2e/valgrind.supp")
ip netns exec "$NG" "${VG[@]}" --log-file="$OUT/server.vg" "$B" server "$OUT/server.conf" 2>"$OUT/server.log" &
SP=$!
sleep 2
ip netns exec "$NC" "${VG[@]}" --log-file="$OUT/client.vg" "$B" client "$OUT/client.conf" 2>"$OUT/client.log" &
CP=$!
for _ in $(seq 60); do grep -q 'session up' "$OUT/client.log" && break; sleep 0.5; done
if grep -q 'session up' "$OUT/client.log"; then ok "session up under valgrind"; else not_ok "session up under valgrind"; fi

replies=$(ip netns exec "$NC" ping -n -q -c 20 -i 0.3 -W 2 -w 30 10.77.0.1 2>&1 |
	sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p')
if [ "${replies:-0}" -ge 19 ]; then ok "ping through the tunnel: ${replies} of 20"; else not_ok "ping through the tunnel: ${replies:-0} of 20"; fi
rekeys=$(grep -c 'msg=rekeyed' "$OUT/client.log")
if [ "$rekeys" -ge 1 ]; then ok "rekeys under valgrind: $rekeys"; else not_ok "at least one rekey under valgrind"; fi

for who in client server; do
	pid=$CP; [ "$who" = server ] && pid=$SP
	# (under memcheck the exit with its leak check takes seconds, not minutes)
	stop "$pid" 60
	rc=$RC
	[ "$who" = client ] && CP= || SP=
	summary=$(grep -h 'ERROR SUMMARY' "$OUT/$who.vg")
	if [ "$rc" = 0 ]; then ok "$who exits 0 under memcheck (${summary#*== })"
	else not_ok "$who exit $rc under memcheck: ${summary#*== } (see $OUT/$who.vg)"; fi
done
[ "$FAIL" -eq 0 ]
