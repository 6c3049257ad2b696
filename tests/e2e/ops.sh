#!/usr/bin/env bash
# tests/e2e/ops.sh: operating a running gateway (issue 6). In the lab (lib.sh) with two
# clients: `vpngw show` and `vpngw show --json` on the gateway and on a client (names,
# addresses, counters that rise after pings, the control socket's modes), the Prometheus
# endpoint scraped with curl (names, labels, rising counters, 404/405/400), bad control
# requests refused with a precise error and nothing changed; live changes (vpngw set add,
# address, remove; SIGHUP with clients added, renamed, removed) with the other sessions
# untouched and bad set commands changing nothing; persistence: pool addresses survive a
# restart with the clients reordered in the config, a corrupted state file is a warning, a
# crashed run's stale socket is replaced, a second instance of the same name is refused;
# after User = nobody the control socket and metrics still answer and the data threads
# run at real-time priority (RealtimePriority); RealtimePriority = off makes them normal
# threads with a short scheduler slice (SchedSlice), which SchedSlice = off turns off;
# CpuLatency makes a CPU latency request while packets flow (or always); drops by the kernel in front of a stopped gateway
# (full UDP receive buffer, full TUN queue) show in its stats line, `vpngw show` and metrics;
# so do sends and TUN writes the kernel refuses (an nft drop on output, a TUN set down).
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

lab_init
lab_ensure_tools
lab_check_binary
command -v curl >/dev/null 2>&1 || die "curl is missing (apt-get install curl)"

SOCK=/run/vpngw/$TUN_GW.sock
CSOCK=/run/vpngw/$TUN_C1.sock
METRICS=127.0.0.1:9586
CMETRICS=127.0.0.1:9587
STATE=$LAB_DIR/gateway.state   # lib.sh's write_server_conf puts it there
SRV_CONF=$LAB_DIR/server.conf
SRV_LOG=$LAB_DIR/server.log

lab_up c1 c2 in
lab_keypair SRV
lab_keypair K1
lab_keypair K2
lab_keypair K3

# server_conf FILE [NAME PUB]...: the lab's server config (pool addresses only) with metrics
server_conf() {
    local f=$1; shift
    local args=() 
    while [ $# -ge 2 ]; do args+=("$1" "$2" ""); shift 2; done
    write_server_conf "$f" "$SRV_PRIV" "${args[@]}"
    sed -i "/^\[Server\]/a MetricsListen = $METRICS" "$f"
}
server_conf "$SRV_CONF" c1 "$K1_PUB" c2 "$K2_PUB"
write_client_conf "$LAB_DIR/c1.conf" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
sed -i "/^\[Client\]/a MetricsListen = $CMETRICS" "$LAB_DIR/c1.conf"
write_client_conf "$LAB_DIR/c2.conf" "$K2_PRIV" "$TUN_C2" "$SRV_PUB"

vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 5 || die "gateway did not come up"
vpngw_start client "$NS_C1" "$LAB_DIR/c1.conf" "$LAB_DIR/c1.log"
C1_PID=$LAST_PID
vpngw_start client "$NS_C2" "$LAB_DIR/c2.conf" "$LAB_DIR/c2.log"
C2_PID=$LAST_PID
wait_log "$LAB_DIR/c1.log" 'msg="session up"' 10 || die "c1: no session"
wait_log "$LAB_DIR/c2.log" 'msg="session up"' 10 || die "c2: no session"

# json_get FILE EXPR: evaluates a Python expression over the JSON document j
json_get() {
    "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
def client(name):
    return next(c for c in j["clients"] if c["name"] == name)
print(eval(sys.argv[2]))
' "$1" "$2" 2>>"$LAB_DIR/json.err"
}
# ctl_raw REQUEST_BYTES: sends them to the gateway's control socket, prints the reply
ctl_raw() {
    "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode("latin-1"))
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode("utf-8", "replace"))
' "$SOCK" "$1"
}
scrape() { ip netns exec "$1" curl -sS --max-time 5 "http://$2/metrics"; }
# metric FILE NAME LABELS: the value of one sample
metric() { awk -v k="$2{$3}" '$1 == k { print $2; exit }' "$1"; }

# ---------------------------------------------------------------------------------------------
log "i) the control socket"
check_eq "i: directory /run/vpngw is mode 700" "$(stat -c %a /run/vpngw)" 700
check_eq "i: $SOCK is a socket of mode 600" "$(stat -c %F:%a "$SOCK" 2>&1)" "socket:600"
check_eq "i: the client's $CSOCK is mode 600" "$(stat -c %a "$CSOCK" 2>&1)" 600

log "ii) vpngw show on the gateway"
"$VPNGW" show "$TUN_GW" >"$LAB_DIR/show.txt" 2>"$LAB_DIR/show.err"
check_eq "ii: vpngw show $TUN_GW exits 0" "$?" 0
sed 's/^/#   /' "$LAB_DIR/show.txt" | head -n 40
check "ii: text names the interface" grep -q "^interface $TUN_GW: gateway, address 10.77.0.1/24, port $VPN_PORT, 2 clients" "$LAB_DIR/show.txt"
check "ii: text has client c1" grep -q '^client c1$' "$LAB_DIR/show.txt"
check "ii: text has client c2" grep -q '^client c2$' "$LAB_DIR/show.txt"
check "ii: text shows c1's address" grep -q "address      $C1_TUN_IP\$" "$LAB_DIR/show.txt"
check "ii: text abbreviates keys (${K1_PUB:0:8}...)" grep -q "public key   ${K1_PUB:0:8}\.\.\.\$" "$LAB_DIR/show.txt"

"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show1.json"
check_eq "ii: --json is valid JSON for the gateway" "$(json_get "$LAB_DIR/show1.json" 'j["role"] + " " + j["interface"]')" "server $TUN_GW"
check_eq "ii: client names" "$(json_get "$LAB_DIR/show1.json" '",".join(sorted(c["name"] for c in j["clients"]))')" "c1,c2"
check_eq "ii: c1's address" "$(json_get "$LAB_DIR/show1.json" 'client("c1")["address"]')" "$C1_TUN_IP"
check_eq "ii: c2's address" "$(json_get "$LAB_DIR/show1.json" 'client("c2")["address"]')" "$C2_TUN_IP"
check_eq "ii: c1's session is up" "$(json_get "$LAB_DIR/show1.json" 'client("c1")["session_up"]')" True
check_eq "ii: c1's endpoint is its host's address" "$(json_get "$LAB_DIR/show1.json" 'client("c1")["endpoint"].rsplit(":", 1)[0].replace("::ffff:", "").strip("[]")')" "$C1_IP"
check_eq "ii: c1's key abbreviated" "$(json_get "$LAB_DIR/show1.json" 'client("c1")["public_key"]')" "${K1_PUB:0:8}..."
check "ii: c1's handshake was under 30 s ago" test "$(json_get "$LAB_DIR/show1.json" 'client("c1")["handshake_age_s"]')" -lt 30
check_eq "ii: drop reasons for c1" "$(json_get "$LAB_DIR/show1.json" '",".join(client("c1")["drops"])')" \
    "queue_full,codel,auth_fail,replay,no_endpoint,no_session,mtu,spoofed_source"
"$VPNGW" show "$TUN_GW" --json --keys >"$LAB_DIR/keys.json"
check_eq "ii: --keys shows c1's whole key" "$(json_get "$LAB_DIR/keys.json" 'client("c1")["public_key"]')" "$K1_PUB"

rx1=$(json_get "$LAB_DIR/show1.json" 'client("c1")["rx_packets"]')
tx1=$(json_get "$LAB_DIR/show1.json" 'client("c1")["tx_packets"]')
c2rx1=$(json_get "$LAB_DIR/show1.json" 'client("c2")["rx_packets"]')
lat1=$(json_get "$LAB_DIR/show1.json" 'client("c1")["latency_us"]["udp_to_tun"]["count"]')
n=$(ping_count "$NS_C1" "$NET_IP" 10)
check_eq "ii: 10 pings from c1 through the tunnel" "$n" 10
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show2.json"
rx2=$(json_get "$LAB_DIR/show2.json" 'client("c1")["rx_packets"]')
tx2=$(json_get "$LAB_DIR/show2.json" 'client("c1")["tx_packets"]')
lat2=$(json_get "$LAB_DIR/show2.json" 'client("c1")["latency_us"]["udp_to_tun"]["count"]')
check "ii: c1's rx_packets rose by at least 10 ($rx1 -> $rx2)" test "$rx2" -ge $((rx1 + 10))
check "ii: c1's tx_packets rose by at least 10 ($tx1 -> $tx2)" test "$tx2" -ge $((tx1 + 10))
check "ii: c1's latency samples rose by at least 10 ($lat1 -> $lat2)" test "$lat2" -ge $((lat1 + 10))
check_gt "ii: c1's p99 latency after the pings is a number of microseconds above 0" \
    "$(json_get "$LAB_DIR/show2.json" 'client("c1")["latency_us"]["udp_to_tun"]["p99"]')" 0
check "ii: c2's counters did not take c1's pings (rx $c2rx1 -> $(json_get "$LAB_DIR/show2.json" 'client("c2")["rx_packets"]'))" \
    test "$(json_get "$LAB_DIR/show2.json" 'client("c2")["rx_packets"]')" -lt $((c2rx1 + 10))
check "ii: gateway totals: tun_tx_packets >= 10" test "$(json_get "$LAB_DIR/show2.json" 'j["totals"]["tun_tx_packets"]')" -ge 10

"$VPNGW" show --json >"$LAB_DIR/all.json" 2>"$LAB_DIR/all.err"
check_eq "ii: vpngw show --json (every instance) lists this gateway" \
    "$(json_get "$LAB_DIR/all.json" '[o["role"] for o in j if o["interface"] == "'"$TUN_GW"'"][0]')" server

log "iii) vpngw show on a client"
"$VPNGW" show "$TUN_C1" --json >"$LAB_DIR/c1.json"
check_eq "iii: the client reports role client" "$(json_get "$LAB_DIR/c1.json" 'j["role"]')" client
check_eq "iii: its session's address" "$(json_get "$LAB_DIR/c1.json" 'j["session"]["address"]')" "$C1_TUN_IP"
check_eq "iii: its session is up" "$(json_get "$LAB_DIR/c1.json" 'j["session"]["session_up"]')" True
check_eq "iii: its gateway endpoint" "$(json_get "$LAB_DIR/c1.json" 'j["session"]["endpoint"]')" "$GW_CLIENT_IP:$VPN_PORT"
check "iii: it sent at least 10 datagrams" test "$(json_get "$LAB_DIR/c1.json" 'j["session"]["tx_packets"]')" -ge 10
"$VPNGW" show "$TUN_C1" >"$LAB_DIR/c1.txt"
check "iii: text shows the session with the gateway" grep -q '^session with gateway$' "$LAB_DIR/c1.txt"

# ---------------------------------------------------------------------------------------------
log "iv) Prometheus metrics on $METRICS"
scrape "$NS_GW" "$METRICS" >"$LAB_DIR/m1.txt"
check_eq "iv: curl scrapes /metrics" "$?" 0
L="interface=\"$TUN_GW\",client=\"c1\""
check "iv: TYPE line for the per-client counter" grep -q '^# TYPE vpngw_client_rx_packets_total counter$' "$LAB_DIR/m1.txt"
check "iv: TYPE line for the latency histogram" grep -q '^# TYPE vpngw_client_latency_seconds histogram$' "$LAB_DIR/m1.txt"
check "iv: a gateway total" grep -q "^vpngw_udp_rx_datagrams_total{interface=\"$TUN_GW\"} [0-9]" "$LAB_DIR/m1.txt"
check "iv: c2 labelled by name" grep -q "^vpngw_client_rx_packets_total{interface=\"$TUN_GW\",client=\"c2\"} [0-9]" "$LAB_DIR/m1.txt"
check "iv: drops by reason" grep -q "^vpngw_client_drops_total{$L,reason=\"replay\"} 0$" "$LAB_DIR/m1.txt"
check "iv: the +Inf bucket" grep -q "^vpngw_client_latency_seconds_bucket{$L,direction=\"udp_to_tun\",le=\"+Inf\"} [0-9]" "$LAB_DIR/m1.txt"
# every line is a comment or "name{labels} value", histogram buckets never decrease
"$PY" - "$LAB_DIR/m1.txt" >"$LAB_DIR/m1.check" 2>&1 <<'PYEOF'
import re, sys
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*"'
sample = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{' + label + '(?:,' + label + r')*\})? (?P<value>-?[0-9.e+]+|\+Inf)$')
types, last = {}, {}
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(" ")
        assert name not in types, "two TYPE lines for %s" % name
        types[name] = t
        continue
    if line.startswith("# HELP "):
        continue
    m = sample.match(line)
    assert m, "line %d is not a sample: %r" % (n, line)
    name = m.group("name")
    base = re.sub(r'_(bucket|sum|count)$', '', name)
    assert name in types or base in types, "line %d: %s has no TYPE" % (n, name)
    if name.endswith("_bucket"):
        key = re.sub(r',le="[^"]*"', '', m.group("labels"))
        v = float(m.group("value"))
        assert v >= last.get(key, 0), "line %d: bucket decreases" % n
        last[key] = v
print("ok", len(types))
PYEOF
check "iv: the whole exposition parses ($(cat "$LAB_DIR/m1.check"))" grep -q '^ok ' "$LAB_DIR/m1.check"
m_rx1=$(metric "$LAB_DIR/m1.txt" vpngw_client_rx_packets_total "$L")
m_lat1=$(metric "$LAB_DIR/m1.txt" vpngw_client_latency_seconds_count "$L,direction=\"udp_to_tun\"")
n=$(ping_count "$NS_C1" "$NET_IP" 5)
scrape "$NS_GW" "$METRICS" >"$LAB_DIR/m2.txt"
m_rx2=$(metric "$LAB_DIR/m2.txt" vpngw_client_rx_packets_total "$L")
m_lat2=$(metric "$LAB_DIR/m2.txt" vpngw_client_latency_seconds_count "$L,direction=\"udp_to_tun\"")
check "iv: c1's rx packets rose after $n pings ($m_rx1 -> $m_rx2)" test "${m_rx2:-0}" -ge $((${m_rx1:-0} + 5))
check "iv: c1's latency count rose ($m_lat1 -> $m_lat2)" test "${m_lat2:-0}" -ge $((${m_lat1:-0} + 5))
code() { ip netns exec "$NS_GW" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
check_eq "iv: HEAD /metrics is 200" "$(code -I "http://$METRICS/metrics")" 200
check_eq "iv: another path is 404" "$(code "http://$METRICS/foo")" 404
check_eq "iv: POST /metrics is 405" "$(code -X POST "http://$METRICS/metrics")" 405
bad=$(ip netns exec "$NS_GW" "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", 9586), timeout=5)
s.sendall(b"GARBAGE\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
')
check_eq "iv: a malformed request is 400" "$bad" "HTTP/1.1 400 Bad Request"
scrape "$NS_C1" "$CMETRICS" >"$LAB_DIR/mc.txt"
check "iv: the client serves metrics too, with its session" \
    grep -q "^vpngw_client_tx_packets_total{interface=\"$TUN_C1\",client=\"gateway\"} [1-9]" "$LAB_DIR/mc.txt"

# ---------------------------------------------------------------------------------------------
log "v) bad control requests: a precise error, nothing changed"
hs_before=$(json_get "$LAB_DIR/show2.json" 'j["totals"]["handshakes"]')
check_eq "v: an unknown command" "$(ctl_raw $'frobnicate\n')" \
    'error: unknown command "frobnicate"; want: show [json] [keys] | add NAME KEY [ADDRESS] | remove CLIENT | address CLIENT ADDRESS|pool | rename CLIENT NAME'
check_eq "v: an unknown option" "$(ctl_raw $'show yaml\n')" \
    'error: show: unknown option "yaml"; want: show [json] [keys]'
check_eq "v: an option twice" "$(ctl_raw $'show json json\n')" 'error: show: "json" given twice'
check_eq "v: an empty request" "$(ctl_raw $'\n')" 'error: empty request; want: show [json] [keys] | add NAME KEY [ADDRESS] | remove CLIENT | address CLIENT ADDRESS|pool | rename CLIENT NAME'
check_eq "v: a control byte" "$(ctl_raw $'show\001\n')" \
    'error: request has a byte that is not printable ASCII (0x01 at offset 4)'
long=$(printf 'show%600s' '')
check_eq "v: an overlong request" "$(ctl_raw "$long")" 'error: request longer than 512 bytes'
"$VPNGW" show "nosuch$LAB_SFX" >"$LAB_DIR/nosuch.out" 2>"$LAB_DIR/nosuch.err"
check_eq "v: vpngw show of an unknown interface exits 1" "$?" 1
check "v: ... naming its socket" grep -q "vpngw: show nosuch$LAB_SFX: /run/vpngw/nosuch$LAB_SFX.sock: No such file or directory" "$LAB_DIR/nosuch.err"
"$VPNGW" show "$TUN_GW" --yaml >/dev/null 2>"$LAB_DIR/badopt.err"
check_eq "v: vpngw show --yaml exits 2" "$?" 2
check "v: the gateway still runs" proc_alive "$SRV_PID"
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show3.json"
check_eq "v: no new handshakes, same clients" \
    "$(json_get "$LAB_DIR/show3.json" 'str(j["totals"]["handshakes"]) + " " + ",".join(c["name"] + "=" + c["address"] for c in j["clients"])')" \
    "$hs_before c1=$C1_TUN_IP,c2=$C2_TUN_IP"

# ---------------------------------------------------------------------------------------------
log "vi) live changes: vpngw set and SIGHUP, other sessions untouched"
# c3 runs on the third host, unknown to the gateway: its handshakes are refused
write_client_conf "$LAB_DIR/c3.conf" "$K3_PRIV" "$TUN_IN" "$SRV_PUB"
wait_stat_ge "$SRV_LOG" handshake_rejects 0 3 || not_ok "vi: the gateway logs its stats" "no stats line in 3 s"
rejects0=$(stat_of "$SRV_LOG" handshake_rejects)
vpngw_start client "$NS_IN" "$LAB_DIR/c3.conf" "$LAB_DIR/c3.log"
C3_PID=$LAST_PID
# (the gateway names only configured clients in its log: an unknown key shows as a reject)
if wait_stat_gt "$SRV_LOG" handshake_rejects "${rejects0:-0}" 5; then
    ok "vi: c3's handshakes are refused before it is added (handshake_rejects ${rejects0:-?} -> $(stat_of "$SRV_LOG" handshake_rejects))"
else
    not_ok "vi: c3's handshakes are refused before it is added" "handshake_rejects stayed at '${rejects0:-}'"
fi
if grep -q 'msg="session up"' "$LAB_DIR/c3.log"; then
    not_ok "vi: c3 has no session before it is added" "$(grep -m1 'msg="session up"' "$LAB_DIR/c3.log" | cut -c1-200)"
else
    ok "vi: c3 has no session before it is added"
fi
hs_c1=$(grep -c 'msg=handshake client=c1 .*session=new' "$SRV_LOG")
set_out=$("$VPNGW" set "$TUN_GW" add c3 "$K3_PUB" 2>&1)
check_eq "vi: vpngw set add c3: the next free address" "$set_out" "added client c3 at 10.77.0.4"
if wait_log "$LAB_DIR/c3.log" 'msg="session up".* address=10.77.0.4/24' 15; then ok "vi: c3 gets a session at 10.77.0.4"
else not_ok "vi: c3 gets a session at 10.77.0.4"; fi
n=$(ping_count "$NS_IN" "$NET_IP" 3)
check_eq "vi: c3 pings the internet host" "$n" 3

set_out=$("$VPNGW" set "$TUN_GW" address c3 10.77.0.40 2>&1)
check_eq "vi: vpngw set address c3 10.77.0.40" "$set_out" "client c3 has address 10.77.0.40; its next handshake brings it"
if wait_log "$LAB_DIR/c3.log" 'msg="session up".* address=10.77.0.40/24' 20; then ok "vi: c3's new session has 10.77.0.40"
else not_ok "vi: c3's new session has 10.77.0.40"; fi
n=$(ping_count "$NS_IN" "$NET_IP" 3)
check_eq "vi: c3 pings from its new address" "$n" 3

set_out=$("$VPNGW" set "$TUN_GW" remove "$K3_PUB" 2>&1)
check_eq "vi: vpngw set remove (by key)" "$set_out" "removed client c3; its session ended"
n=$(ping_count "$NS_IN" "$NET_IP" 3)
check_eq "vi: c3's session ended at once: no ping gets through" "$n" 0
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-live.json"
check_eq "vi: the gateway lists c1 and c2 only" \
    "$(json_get "$LAB_DIR/show-live.json" '",".join(c["name"] + "=" + c["address"] for c in j["clients"])')" \
    "c1=$C1_TUN_IP,c2=$C2_TUN_IP"

log "vi) bad set commands: a precise error, nothing changed"
bad_set() { # NAME WANT ARGS...
    local name=$1 want=$2 out rc; shift 2
    out=$("$VPNGW" set "$TUN_GW" "$@" 2>&1); rc=$?
    check_eq "vi: $name" "$rc:$out" "1:vpngw: set $TUN_GW: $want"
}
bad_set "a name in use" 'a client is named "c1" already' add c1 "$K3_PUB"
bad_set "a key in use" 'client c2 already has this public key' add c9 "$K2_PUB"
bad_set "not a key" 'add: "notakey": not a base64 32-byte public key' add c9 notakey
bad_set "an address outside the pool" 'address 10.78.0.5 is not a client address of the pool' address c1 10.78.0.5
bad_set "another client's address" 'address 10.77.0.3 belongs to client c2' address c1 10.77.0.3
bad_set "the gateway's address" 'address 10.77.0.1 is not a client address of the pool' add c9 "$K3_PUB" 10.77.0.1
bad_set "an unknown client" 'no client is named "nobody"' remove nobody
bad_set "a missing word" 'address: too few words; want: address CLIENT ADDRESS|pool' address c1
"$VPNGW" set "$TUN_GW" >/dev/null 2>&1
check_eq "vi: vpngw set without a command exits 2" "$?" 2
check_eq "vi: a client's control socket refuses set" "$("$VPNGW" set "$TUN_C1" remove c1 2>&1)" \
    "vpngw: set $TUN_C1: this is a client: add, remove, address and rename change a gateway's clients"
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-bad.json"
check_eq "vi: after the bad commands: the same clients, addresses and sessions" \
    "$(json_get "$LAB_DIR/show-bad.json" '",".join(c["name"] + "=" + c["address"] + "=" + str(c["session_up"]) for c in j["clients"])')" \
    "c1=$C1_TUN_IP=True,c2=$C2_TUN_IP=True"

log "vi) SIGHUP applies the config's difference"
server_conf "$SRV_CONF" c1 "$K1_PUB" c2 "$K2_PUB" c3 "$K3_PUB"
sed -i '$a Address = 10.77.0.50' "$SRV_CONF"
kill -s HUP "$SRV_PID"
if wait_log "$SRV_LOG" 'msg=reloaded added=1 removed=0 changed=0 failed=0 clients=3' 5; then ok "vi: SIGHUP adds c3"
else not_ok "vi: SIGHUP adds c3" "$(grep -E 'reload' "$SRV_LOG" | tail -n 2)"; fi
if wait_log "$LAB_DIR/c3.log" 'msg="session up".* address=10.77.0.50/24' 25; then ok "vi: c3 comes up at its fixed 10.77.0.50"
else not_ok "vi: c3 comes up at its fixed 10.77.0.50"; fi
server_conf "$SRV_CONF" c1 "$K1_PUB" c2b "$K2_PUB"
kill -s HUP "$SRV_PID"
if wait_log "$SRV_LOG" 'msg=reloaded added=0 removed=1 changed=1 failed=0 clients=2' 5; then ok "vi: SIGHUP removes c3 and renames c2"
else not_ok "vi: SIGHUP removes c3 and renames c2" "$(grep -E 'reload' "$SRV_LOG" | tail -n 2)"; fi
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-hup.json"
check_eq "vi: after SIGHUP: c1 and c2b with their addresses" \
    "$(json_get "$LAB_DIR/show-hup.json" '",".join(c["name"] + "=" + c["address"] for c in j["clients"])')" \
    "c1=$C1_TUN_IP,c2b=$C2_TUN_IP"
echo 'Garbage = 1' >>"$SRV_CONF"
kill -s HUP "$SRV_PID"
if wait_log "$SRV_LOG" 'level=error .*msg="reload refused: nothing changed" error=".*Garbage' 5; then ok "vi: a bad config on SIGHUP is refused, naming the key"
else not_ok "vi: a bad config on SIGHUP is refused, naming the key"; fi
n=$(ping_count "$NS_C1" "$NET_IP" 3)
check_eq "vi: c1 still pings" "$n" 3
n=$(ping_count "$NS_C2" "$NET_IP" 3)
check_eq "vi: c2 still pings" "$n" 3
check_eq "vi: c1 never had a new session on the gateway" \
    "$(grep -c 'msg=handshake client=c1 .*session=new' "$SRV_LOG")" "$hs_c1"
stable_session "vi: c1 kept its one session throughout" "$LAB_DIR/c1.log"
stable_session "vi: c2 kept its one session throughout" "$LAB_DIR/c2.log"
vpngw_stop "$C3_PID"
server_conf "$SRV_CONF" c1 "$K1_PUB" c2 "$K2_PUB"
kill -s HUP "$SRV_PID"
wait_log "$SRV_LOG" 'msg=reloaded added=0 removed=0 changed=1 failed=0 clients=2' 5 || not_ok "vi: c2 renamed back"

# ---------------------------------------------------------------------------------------------
log "vii) persistence: pool addresses survive a restart with the clients reordered"
vpngw_stop "$SRV_PID"
check_eq "vii: the gateway exits 0 on SIGTERM" "$STOP_RC" 0
check "vii: its control socket is gone" test ! -e "$SOCK"
check_eq "vii: the state file is mode 600" "$(stat -c %a "$STATE" 2>&1)" 600
check "vii: it names c1's key and address" grep -qxF "client $K1_PUB $C1_TUN_IP" "$STATE"
check "vii: it names c2's key and address" grep -qxF "client $K2_PUB $C2_TUN_IP" "$STATE"
check "vii: it ends with its checksum" grep -qE '^checksum [0-9a-f]{64}$' <(tail -n 1 "$STATE")
check "vii: no temporary file is left" test -z "$(ls "$LAB_DIR" | grep -F 'gateway.state.tmp')"

# a new client first, then c2, then c1: in file order c3 would take c1's address
server_conf "$SRV_CONF" c3 "$K3_PUB" c2 "$K2_PUB" c1 "$K1_PUB"
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 5 || die "gateway did not come up again"
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show4.json"
check_eq "vii: after the restart c1 keeps $C1_TUN_IP, c2 keeps $C2_TUN_IP, the new c3 gets the next"     "$(json_get "$LAB_DIR/show4.json" '",".join(c["name"] + "=" + c["address"] for c in j["clients"])')"     "c3=10.77.0.4,c2=$C2_TUN_IP,c1=$C1_TUN_IP"
# the running client notices the gateway went silent and starts a new session
if wait_log "$LAB_DIR/c1.log" 'msg="session up"' 20 2; then ok "vii: c1 has a new session"
else not_ok "vii: c1 has a new session"; fi
check "vii: c1 was given its old address again" grep -q "msg=\"session up\".* address=$C1_TUN_IP/24" <(grep 'msg="session up"' "$LAB_DIR/c1.log" | tail -n 1)
n=$(ping_count "$NS_C1" "$NET_IP" 5)
check "vii: c1 pings through the tunnel again ($n of 5)" test "$n" -ge 4

log "viii) a crash: a stale control socket, a damaged state file"
kill -s KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
check "viii: after kill -9 the control socket file is left" test -S "$SOCK"
size=$(stat -c %s "$STATE")
truncate -s $((size / 2)) "$STATE"      # as if cut short (what the atomic rename prevents)
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
if wait_log "$SRV_LOG" 'msg="gateway up"' 5; then ok "viii: the gateway starts with a damaged state file"
else not_ok "viii: the gateway starts with a damaged state file"; fi
check "viii: a warning names the state file and why"     grep -qE "level=warn .*msg=\"state file ignored: damaged; pool addresses start afresh\" path=$STATE error=\"line [0-9]+: " "$SRV_LOG"
check "viii: a warning says the stale control socket was replaced"     grep -q "level=warn .*replaced a stale control socket from an earlier run.* path=$SOCK" "$SRV_LOG"
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show5.json"
check_eq "viii: vpngw show answers; addresses in file order again"     "$(json_get "$LAB_DIR/show5.json" '",".join(c["name"] + "=" + c["address"] for c in j["clients"])')"     "c3=10.77.0.2,c2=10.77.0.3,c1=10.77.0.4"
check "viii: a whole state file replaced the damaged one" grep -qE '^checksum [0-9a-f]{64}$' <(tail -n 1 "$STATE")
# a second gateway with the same interface name (another namespace) must not take the socket
lab_ns_add "vpngw-x-$LAB_SFX"
lab_bg "vpngw-x-$LAB_SFX" "$LAB_DIR/dup.log" "$VPNGW" server "$SRV_CONF"
dup=$LAST_PID
for ((i = 0; i < 50; i++)); do proc_alive "$dup" || break; sleep 0.1; done
lab_stop "$dup" 1
check_eq "viii: a second gateway with the same interface name (another namespace) exits 1" "$STOP_RC" 1
check "viii: ... saying another is running" grep -q 'another vpngw with this interface name is running' "$LAB_DIR/dup.log"
shows() { "$VPNGW" show "$TUN_GW" >/dev/null 2>&1; }
check "viii: the first still answers" shows
check_clean_stop "viii" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

log "ix) after User = nobody the control socket and metrics still answer"
sed -i '/^\[Server\]/a User = nobody' "$SRV_CONF"
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
if wait_log "$SRV_LOG" 'msg="dropped root" user=nobody' 5; then ok "ix: the gateway gave up root"
else not_ok "ix: the gateway gave up root"; fi
# thread_slices PID: each thread's scheduler slice in ns, one per line
thread_slices() { local t; for t in /proc/"$1"/task/*; do awk '$1 == "se.slice" {print $3}' "$t/sched"; done; }
check "ix: it says the data threads run real-time" \
    wait_log "$SRV_LOG" 'msg="data threads run real-time, as normal threads while packets come one at a time" RealtimePriority=10 policy=fifo' 5
# The first data thread logs that line; the second may be a moment from its switch (2 s at most).
for _ in $(seq 1 40); do [ "$(thread_policies "$SRV_PID" | grep -cx '1 10')" = 2 ] && break; sleep 0.05; done
check_eq "ix: two threads (up and down) run SCHED_FIFO at priority 10, without root" \
    "$(thread_policies "$SRV_PID" | grep -cx '1 10')" 2
check_eq "ix: the others stay normal threads" "$(thread_policies "$SRV_PID" | grep -cx '0 0')" \
    "$(( $(ls /proc/"$SRV_PID"/task | wc -l) - 2 ))"
"$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-nobody.json"
check_eq "ix: vpngw show answers" "$(json_get "$LAB_DIR/show-nobody.json" 'j["role"] + " " + str(len(j["clients"]))')" "server 3"
check "ix: metrics answer" grep -q "^vpngw_info{interface=\"$TUN_GW\",role=\"server\"} 1$" <(scrape "$NS_GW" "$METRICS")
check_clean_stop "ix" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"
check "ix: without root it could not remove its socket, and says so" \
    grep -q "level=warn .*control socket left behind; the next start replaces it.* path=$SOCK" "$SRV_LOG"

log "x) RealtimePriority = off: normal threads, the data threads with a short slice"
sed -i '/^\[Server\]/a RealtimePriority = off' "$SRV_CONF"
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
check "x: it says so" wait_log "$SRV_LOG" 'msg="data threads run as normal threads" RealtimePriority=off' 5
check_eq "x: no thread is real-time" "$(thread_policies "$SRV_PID" | grep -vc '^0 ')" 0
NO_SLICES=0
if grep -q 'kernel keeps its default time slice' "$SRV_LOG"; then
    NO_SLICES=1
    log "x: this kernel has no custom slices (Linux 6.12+); not checking them"
else
    check "x: it says the data threads asked for a 100 us slice" grep -q 'msg="data threads ask for a short time slice" SchedSlice=100 ' "$SRV_LOG"
    check_eq "x: two threads (up and down) run with it, without root" "$(thread_slices "$SRV_PID" | grep -cx 100000)" 2
fi
check_clean_stop "x" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

log "xi) SchedSlice = off as well leaves every thread at the kernel's slice"
sed -i '/^\[Server\]/a SchedSlice = off' "$SRV_CONF"
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
check "xi: it says so" wait_log "$SRV_LOG" 'msg="data threads keep the kernel.s default time slice" SchedSlice=off' 5
# (with SchedSlice = off vpngw asks for nothing, so it cannot say here what section x said)
if [ "$NO_SLICES" -eq 1 ]; then
    log "xi: this kernel has no custom slices (Linux 6.12+; x: 'kernel keeps its default time slice'); not checking them"
else
    check_eq "xi: no thread runs with a 100 us slice" "$(thread_slices "$SRV_PID" | grep -cx 100000)" 0
fi
check_clean_stop "xi" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

log "xii) CpuLatency: a CPU latency request, opened as root before User = nobody; by default made while clients' packets flow, not many, and withdrawn when they stop or a transfer keeps the gateway busy; with CpuLatencyHold = always held while the gateway runs"
cpu_latency() { od -An -t d4 -N4 /dev/cpu_dma_latency | tr -d ' '; }
# wait_cpu_latency VALUE SECS: until the machine's target is VALUE
wait_cpu_latency() {
    local i
    for i in $(seq 1 $(($2 * 20))); do [ "$(cpu_latency)" = "$1" ] && return 0; sleep 0.05; done
    return 1
}
if [ ! -c /dev/cpu_dma_latency ]; then
    log "xii: this kernel has no /dev/cpu_dma_latency; not checking CpuLatency"
elif [ "$(cpu_latency)" = 0 ]; then
    log "xii: something else already holds the target at 0; these checks cannot tell"
else
    before=$(cpu_latency)
    # The gateway's default: CpuLatency = 0 while packets flow, CpuLatencyHold = 50.
    : >"$SRV_LOG"
    vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
    SRV_PID=$LAST_PID
    check "xii: it says so" wait_log "$SRV_LOG" \
        'msg="CpuLatency: CPUs kept in idle states they leave within this while packets flow" max_us=0 hold_ms=50' 5
    wait_log "$SRV_LOG" 'msg="dropped root" user=nobody' 5 || not_ok "xii: the gateway gave up root"
    proc_alive "$C1_PID" && lab_stop "$C1_PID" 5 TERM
    vpngw_start client "$NS_C1" "$LAB_DIR/c1.conf" "$LAB_DIR/c1-xii.log"
    C1_PID=$LAST_PID
    wait_log "$LAB_DIR/c1-xii.log" 'msg="session up"' 10 || not_ok "xii: c1 session up"
    check "xii: no request with the session up and no traffic" wait_cpu_latency "$before" 3
    # Datagrams anyone can send (here 300 in 3 s, garbage and forged DATA headers) must not
    # keep the machine's CPUs awake.
    ip netns exec "$NS_C1" "$PY" -c '
import os, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 3
while time.time() < end:
    s.sendto(os.urandom(120), (sys.argv[1], int(sys.argv[2])))
    s.sendto(b"VPN1" + bytes([1, 1, 0, 0]) + os.urandom(16) + struct.pack(">IHH", 7, 64, 0) + os.urandom(64),
             (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.02)
' "$GW_CLIENT_IP" "$VPN_PORT" &
    junk_pid=$!
    LAB_PIDS+=("$junk_pid")
    made=0
    for _ in $(seq 1 50); do [ "$(cpu_latency)" = 0 ] && made=1; sleep 0.05; done
    wait "$junk_pid"
    check_eq "xii: datagrams that are not a client's packets make no request" "$made" 0
    ip netns exec "$NS_C1" ping -n -q -i 0.01 -w 3 "$NET_IP" >/dev/null 2>&1 &
    ping_pid=$!
    LAB_PIDS+=("$ping_pid")
    check "xii: the target is 0 us while pings flow, set by a gateway that is no longer root" wait_cpu_latency 0 2
    sleep 0.5
    check_eq "xii: and stays 0 while they do" "$(cpu_latency)" 0
    "$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-xii.json"
    check_eq "xii: vpngw show says it is held, made at least once" \
        "$(json_get "$LAB_DIR/show-xii.json" 'str(j["totals"]["cpu_latency_held"]) + " " + str(min(j["totals"]["cpu_latency_requests"], 1))')" "1 1"
    wait "$ping_pid"
    check "xii: back to $before once they stop" wait_cpu_latency "$before" 2
    "$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-xii.json"
    check_eq "xii: vpngw show says it is not held" "$(json_get "$LAB_DIR/show-xii.json" 'j["totals"]["cpu_latency_held"]')" 0
    check "xii: the metrics count it" grep -q "^vpngw_cpu_latency_requests_total{interface=\"$TUN_GW\"} [1-9][0-9]*$" <(scrape "$NS_GW" "$METRICS")
    # Under a bulk transfer the CPUs are busy anyway: the request goes (cpuhold.h).
    if iperf_server_start; then
        ip netns exec "$NS_C1" ping -n -q -i 0.01 -w 7 "$NET_IP" >/dev/null 2>&1 &
        ping_pid=$!
        LAB_PIDS+=("$ping_pid")
        wait_cpu_latency 0 2 || not_ok "xii: pings make the request before the transfer"
        iperf_run "$NS_C1" "$LAB_DIR/xii-iperf.json" &
        iperf_pid=$!
        LAB_PIDS+=("$iperf_pid")
        check "xii: withdrawn while a transfer keeps the gateway busy" wait_cpu_latency "$before" 3
        wait "$iperf_pid"
        check "xii: made again by the pings once it is over" wait_cpu_latency 0 2
        wait "$ping_pid"
        lab_stop "$IPERF_SERVER_PID" 5 TERM
    else
        not_ok "xii: iperf3 server up"
    fi
    check_clean_stop "xii" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

    sed -i '/^\[Server\]/a CpuLatencyHold = always' "$SRV_CONF"
    : >"$SRV_LOG"
    vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
    SRV_PID=$LAST_PID
    check "xii: CpuLatencyHold = always says so" \
        wait_log "$SRV_LOG" 'msg="CpuLatency: CPUs kept in idle states they leave within this" max_us=0' 5
    sleep 0.3
    check_eq "xii: the target is 0 us with no packet at all" "$(cpu_latency)" 0
    "$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-xii.json"
    check_eq "xii: vpngw show says it is held, made once" \
        "$(json_get "$LAB_DIR/show-xii.json" 'str(j["totals"]["cpu_latency_held"]) + " " + str(j["totals"]["cpu_latency_requests"])')" "1 1"
    check_clean_stop "xii" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"
    check_eq "xii: and $before again once it has exited" "$(cpu_latency)" "$before"
    sed -i '/^CpuLatencyHold = always$/d' "$SRV_CONF"
fi

log "xiii) what the kernel drops in front of vpngw is counted: a full UDP receive buffer, a full TUN queue"
server_conf "$SRV_CONF" c1 "$K1_PUB" c2 "$K2_PUB"
: >"$SRV_LOG"
vpngw_start server "$NS_GW" "$SRV_CONF" "$SRV_LOG"
SRV_PID=$LAST_PID
wait_log "$SRV_LOG" 'msg="gateway up"' 5 || not_ok "xiii: gateway up" "no 'gateway up' in 5 s"
proc_alive "$C1_PID" && lab_stop "$C1_PID" 5 TERM
vpngw_start client "$NS_C1" "$LAB_DIR/c1.conf" "$LAB_DIR/c1-xiii.log"
C1_PID=$LAST_PID
if wait_log "$LAB_DIR/c1-xiii.log" 'msg="session up"' 10 && wait_stat_ge "$SRV_LOG" udp_socket_drops 0 3; then
    check_eq "xiii: both start at 0" "$(stat_of "$SRV_LOG" udp_socket_drops) $(stat_of "$SRV_LOG" tun_queue_drops)" "0 0"
    # A stopped gateway reads nothing: c1's pings fill the receive buffer of its UDP socket
    # (256 KB), and packets for c1 fill its TUN device's queue (64 packets).
    # (c1's address is the pool's choice, after the cases above)
    c1_addr=$(log_field "$LAB_DIR/c1-xiii.log" 'msg="session up"' address); c1_addr=${c1_addr%/*}
    kill -STOP "$SRV_PID"
    ip netns exec "$NS_C1" ping -n -q -i 0.002 -c 500 -w 8 -s 1200 -W 0.1 "$NET_IP" >/dev/null 2>&1
    ip netns exec "$NS_GW" ping -n -q -i 0.002 -c 300 -w 5 -W 0.1 "$c1_addr" >/dev/null 2>&1
    kill -CONT "$SRV_PID"
    check "xiii: udp_socket_drops counts the datagrams dropped at the full receive buffer" \
        wait_stat_gt "$SRV_LOG" udp_socket_drops 0 5
    check "xiii: tun_queue_drops counts the packets dropped at the full TUN queue" \
        wait_stat_gt "$SRV_LOG" tun_queue_drops 0 5
    sleep 1.2   # one more stats line, after the counts settled
    dev_drops=$(ip -n "$NS_GW" -s link show dev "$TUN_GW" | awk '/TX:/ { getline; print $4 }')
    check_eq "xiii: tun_queue_drops is the device's own TX dropped" "$(stat_of "$SRV_LOG" tun_queue_drops)" "$dev_drops"
    log "xiii: udp_socket_drops=$(stat_of "$SRV_LOG" udp_socket_drops) tun_queue_drops=$dev_drops"
    "$VPNGW" show "$TUN_GW" --json >"$LAB_DIR/show-xiii.json"
    check "xiii: vpngw show has them" test "$(json_get "$LAB_DIR/show-xiii.json" 'min(j["totals"]["udp_socket_drops"], j["totals"]["tun_queue_drops"])')" -gt 0
    scrape "$NS_GW" "$METRICS" >"$LAB_DIR/m-xiii.txt"
    check "xiii: and the metrics" grep -q "^vpngw_tun_queue_drops_total{interface=\"$TUN_GW\"} [1-9]" "$LAB_DIR/m-xiii.txt"
    check "xiii: ... both" grep -q "^vpngw_udp_socket_drops_total{interface=\"$TUN_GW\"} [1-9]" "$LAB_DIR/m-xiii.txt"
    # The same at a stopped client: the gateway's pings to it fill its socket, its own
    # pings out fill its TUN queue.
    kill -STOP "$C1_PID"
    ip netns exec "$NS_GW" ping -n -q -i 0.002 -c 500 -w 8 -s 1200 -W 0.1 "$c1_addr" >/dev/null 2>&1
    ip netns exec "$NS_C1" ping -n -q -i 0.002 -c 300 -w 5 -W 0.1 "$NET_IP" >/dev/null 2>&1
    kill -CONT "$C1_PID"
    check "xiii: the client counts its full socket" wait_stat_gt "$LAB_DIR/c1-xiii.log" udp_socket_drops 0 5
    check "xiii: ... and its full TUN queue" wait_stat_gt "$LAB_DIR/c1-xiii.log" tun_queue_drops 0 5
    log "xiii: client: udp_socket_drops=$(stat_of "$LAB_DIR/c1-xiii.log" udp_socket_drops) tun_queue_drops=$(stat_of "$LAB_DIR/c1-xiii.log" tun_queue_drops)"

    log "xiv) what the kernel refuses to take from vpngw is counted: udp_tx_errors, tun_tx_errors"
    check_eq "xiv: both start at 0 at the client" \
        "$(stat_of "$LAB_DIR/c1-xiii.log" udp_tx_errors) $(stat_of "$LAB_DIR/c1-xiii.log" tun_tx_errors)" "0 0"
    # An output rule in c1's namespace: each send of c1 to the gateway fails (EPERM).
    ip netns exec "$NS_C1" nft -f - <<NFT
table inet vpngw_test_out {
    chain out { type filter hook output priority 0; udp dport $VPN_PORT drop; }
}
NFT
    ip netns exec "$NS_C1" ping -n -q -i 0.01 -c 20 -w 3 -W 0.1 "$NET_IP" >/dev/null 2>&1
    ip netns exec "$NS_C1" nft delete table inet vpngw_test_out
    check "xiv: the client counts the sends its kernel refused" \
        wait_stat_ge "$LAB_DIR/c1-xiii.log" udp_tx_errors 20 5
    # c1's TUN set down: the gateway's pings reach c1, whose writes to it fail (EIO).
    ip -n "$NS_C1" link set "$TUN_C1" down
    ip netns exec "$NS_GW" ping -n -q -i 0.01 -c 20 -w 3 -W 0.1 "$c1_addr" >/dev/null 2>&1
    ip -n "$NS_C1" link set "$TUN_C1" up
    check "xiv: ... and the writes to its TUN that failed" \
        wait_stat_ge "$LAB_DIR/c1-xiii.log" tun_tx_errors 20 5
    "$VPNGW" show "$TUN_C1" --json >"$LAB_DIR/show-xiv.json"
    check "xiv: vpngw show has both" test \
        "$(json_get "$LAB_DIR/show-xiv.json" 'min(j["totals"]["udp_tx_errors"], j["totals"]["tun_tx_errors"])')" -ge 20
    log "xiv: client: udp_tx_errors=$(stat_of "$LAB_DIR/c1-xiii.log" udp_tx_errors) tun_tx_errors=$(stat_of "$LAB_DIR/c1-xiii.log" tun_tx_errors)"
    check_eq "xiv: the gateway refused nothing" \
        "$(stat_of "$SRV_LOG" udp_tx_errors) $(stat_of "$SRV_LOG" tun_tx_errors)" "0 0"
else
    not_ok "xiii: c1 gets a session with the new gateway" "no session or no stats line"
fi
check_clean_stop "xiii" gateway "$SRV_PID" "$NS_GW" "$TUN_GW"

lab_summary
