#!/usr/bin/env bash
# tests/e2e/dns.sh: the gateway's DNS proxy, in network namespaces made (and removed) here.
#
#   client1 -- gateway (vpngw server: DNS proxy on 10.77.0.1:53) -- internet host (dnsmasq)
#
# dnsmasq on the internet host is the only server that knows secret.lab.example; the gateway
# finds it as the nameserver of its own resolv.conf (/etc/netns/<gw ns>/resolv.conf, written
# here), and client1 (DNS = auto) makes the address it is told its resolver: it rewrites its
# namespace's resolv.conf itself, and puts the old one back when it stops.
#
# Cases: i) bad input: an unusable UpstreamDNS value (a host name, an unreachable address) is a
#    warning naming it and the tunnel comes up; no usable upstream, no resolv.conf at all, or port
#    53 taken: a warning, the proxy off, clients told dns=none, the tunnel up
#  a) client1 is told dns=10.77.0.1 in the handshake  b) dig over UDP and TCP, and getent (the
#    system resolver) resolve secret.lab.example through the proxy  c) an unknown name is NXDOMAIN
#  d) an answer too big for UDP: TC, dig asks again over TCP, the proxy fetches it over TCP whole
#  e) the counters rose by what was asked
#  k) malformed queries are dropped and counted, another opcode gets NOTIMP, TCP connections over
#    the limit of 32 are closed, a query from outside the tunnel gets nothing
#  f) upstream hung (SIGSTOP): the query times out, SERVFAIL, timeouts counted, one warning, the
#    tunnel keeps working; it answers again after SIGCONT
#  g) upstream stopped: refused at once (ICMP port unreachable), SERVFAIL, counted, tunnel works
#  h) SIGTERM stops the gateway cleanly  j) an IPv6 upstream with a port, over UDP and TCP, with
#    the gateway running as nobody (User =)
#
# Usage: bash tests/e2e/dns.sh   (root; VPNGW=path overrides build/vpngw, LAB_KEEP=1 keeps the
# logs). Prints TAP-style "ok - ..." lines and "N passed, N failed"; exit 1 on any failure.
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

T0=$SECONDS
lab_init
lab_ensure_tools --install
for cmd in dnsmasq dig getent ss unshare; do
    command -v "$cmd" >/dev/null 2>&1 || "$LAB_ROOT/scripts/deps.sh" >/dev/null || die "cannot install $cmd"
    command -v "$cmd" >/dev/null 2>&1 || die "missing tool: $cmd (make deps)"
done
lab_check_binary
log "vpngw: $VPNGW ($("$VPNGW" --version 2>&1 | head -n 1))"
log "run dir: $LAB_DIR, namespaces *-$LAB_SFX"

lab_up c1

SECRET=secret.lab.example
GW_WAN_IP6=2001:db8:51::1
NET_IP6=2001:db8:51::2
SECRET_IP=198.51.100.77
SESSION_UP='msg="session up"'
lab_keypair SRV
lab_keypair K1
C1_CONF=$LAB_DIR/client1.conf
# shellcheck disable=SC2153  # SRV_PRIV and friends are set by lab_keypair
write_client_conf "$C1_CONF" "$K1_PRIV" "$TUN_C1" "$SRV_PUB"
lab_netns_etc "$NS_C1" resolv.conf <<EOF
nameserver 192.0.2.53
EOF

# server_conf FILE EXTRA_LINE: the lab's server config without DNS = (so clients are told the
# proxy's address), with EXTRA_LINE in [Server]
server_conf() {
    write_server_conf "$1" "$SRV_PRIV" client1 "$K1_PUB" "$C1_TUN_IP/32"
    sed -i '/^DNS = /d' "$1"
    [ -z "$2" ] || sed -i "/^StatsInterval = /a $2" "$1"
}

# start_pair NAME SERVER_CMD_PREFIX...: start the gateway (optionally under a wrapper) and
# client1; SRV_PID, C1_PID, SRV_LOG, C1_LOG set. Returns 1 if client1 got no session.
start_pair() {
    local name=$1; shift
    SRV_LOG=$LAB_DIR/server-$name.log
    C1_LOG=$LAB_DIR/client1-$name.log
    lab_bg "$NS_GW" "$SRV_LOG" "$@" "$VPNGW" server "$SRV_CONF"
    SRV_PID=$LAST_PID
    wait_tun "$NS_GW" "$TUN_GW" "$SRV_PID"
    vpngw_start client "$NS_C1" "$C1_CONF" "$C1_LOG"
    C1_PID=$LAST_PID
    wait_log "$C1_LOG" "$SESSION_UP" 10 || return 1
    wait_ping "$NS_C1" "$NET_IP" 5
}

# stop_pair NAME: both stop; the gateway must exit 0
stop_pair() {
    vpngw_stop "$C1_PID" 5
    vpngw_stop "$SRV_PID" 5
    check_eq "$1: the gateway exits 0 on SIGTERM" "$STOP_RC" 0
}

# dig_c1 ARGS...: dig from client1 at the gateway's proxy, bounded
dig_c1() { ip netns exec "$NS_C1" timeout 20 dig @"$GW_TUN_IP" +time=8 +tries=1 "$@" 2>&1; }
# status_of DIG_OUTPUT: NOERROR, NXDOMAIN, SERVFAIL, ... (empty when no answer came)
status_of() { sed -nE 's/.*status: ([A-Z]+),.*/\1/p' <<<"$1" | head -n 1; }
# ms_since T_NS: milliseconds since T_NS (date +%s%N)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# check_ms_between NAME MS LO HI
check_ms_between() {
    if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then ok "$1 ($2 ms)"
    else not_ok "$1" "took $2 ms, want $3-$4 ms"; fi
}
# stat_now NAME: the counter in the gateway's latest stats line
stat_now() { stat_of "$SRV_LOG" "$1"; }
# wait_stat_eq NAME VALUE: until the stats line shows it (5 s)
wait_stat_eq() {
    local i
    for ((i = 0; i < 25; i++)); do
        [ "$(stat_now "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
# check_stat NAME VALUE: the gateway's counter reaches VALUE
check_stat() {
    if wait_stat_eq "$1" "$2"; then ok "$3 ($1=$2)"
    else not_ok "$3" "$1 is '$(stat_now "$1")', want $2"; fi
}

# ---------------------------------------------------------------------------------------------
log "i) bad input: unusable upstreams, none at all, no resolv.conf"
SRV_CONF=$LAB_DIR/server-bad.conf
server_conf "$SRV_CONF" "UpstreamDNS = dns.example, 203.0.113.9"
if start_pair bad-upstream; then
    ok "i: with UpstreamDNS = dns.example, 203.0.113.9 the tunnel comes up"
    check "i: the host name is a warning naming file, line and value" \
        grep -qE "warning: .*server-bad.conf:[0-9]+: UpstreamDNS = dns.example: want an IP address" "$SRV_LOG"
    check "i: the unreachable address is a warning naming it" \
        grep -qE 'level=warn .*msg="upstream DNS failing" upstream=203.0.113.9:53 reason="Network is unreachable"' "$SRV_LOG"
    check_eq "i: client1 is told dns=$GW_TUN_IP (the proxy runs)" \
        "$(log_field "$C1_LOG" "$SESSION_UP" dns)" "$GW_TUN_IP"
    t=$(date +%s%N)
    out=$(dig_c1 "$SECRET")
    ms=$(ms_since "$t")
    check_eq "i: a query gets SERVFAIL" "$(status_of "$out")" SERVFAIL
    check_ms_between "i: at once, not after a timeout" "$ms" 0 1000
    check_eq "i: client1 pings $NET_IP through the tunnel (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
else
    not_ok "i: with UpstreamDNS = dns.example, 203.0.113.9 the tunnel comes up" "no session"
fi
stop_pair i

server_conf "$SRV_CONF" "UpstreamDNS = dns.example"
if start_pair no-upstream; then
    ok "i: with no usable UpstreamDNS the tunnel comes up"
    check "i: the proxy is off, with a warning" grep -qE 'level=warn .*msg="DNS proxy off: no usable UpstreamDNS"' "$SRV_LOG"
    check_eq "i: client1 is told dns=none" "$(log_field "$C1_LOG" "$SESSION_UP" dns)" none
    check_eq "i: client1 pings $NET_IP (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
else
    not_ok "i: with no usable UpstreamDNS the tunnel comes up" "no session"
fi
stop_pair i

# no /etc/resolv.conf at all: an empty /etc (tmpfs) in a mount namespace of the gateway's own
server_conf "$SRV_CONF" ""
# shellcheck disable=SC2016  # $0 and $@ are the inner shell's
if start_pair no-resolv-conf unshare --mount sh -c 'mount -t tmpfs vpngw-empty-etc /etc && exec "$0" "$@"'; then
    ok "i: with no resolv.conf and no UpstreamDNS the tunnel comes up"
    check "i: the proxy is off, with a warning naming the file" \
        grep -qE 'level=warn .*msg="DNS proxy off: no upstream DNS" file=/etc/resolv.conf error="No such file or directory"' "$SRV_LOG"
    check_eq "i: client1 is told dns=none" "$(log_field "$C1_LOG" "$SESSION_UP" dns)" none
    check_eq "i: client1 pings $NET_IP (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
else
    not_ok "i: with no resolv.conf and no UpstreamDNS the tunnel comes up" "no session"
fi
stop_pair i

# port 53 on the tunnel address already taken (IP_FREEBIND: before the address exists)
lab_bg "$NS_GW" "$LAB_DIR/holder.log" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
s.bind((sys.argv[1], 53))
print("bound", flush=True)
time.sleep(60)' "$GW_TUN_IP"
HOLDER_PID=$LAST_PID
wait_log "$LAB_DIR/holder.log" '^bound' 5 || die "could not take $GW_TUN_IP:53 for the test"
server_conf "$SRV_CONF" "UpstreamDNS = $NET_IP"
if start_pair port-taken; then
    ok "i: with port 53 taken the tunnel comes up"
    check "i: the proxy is off, with a warning naming the address and the error" \
        grep -qE "level=warn .*msg=\"DNS proxy off: cannot listen\" address=$GW_TUN_IP:53 proto=udp step=\"bind\" error=\"Address already in use\"" "$SRV_LOG"
    check_eq "i: client1 is told dns=none" "$(log_field "$C1_LOG" "$SESSION_UP" dns)" none
    check_eq "i: client1 pings $NET_IP (replies of 3)" "$(ping_count "$NS_C1" "$NET_IP" 3)" 3
else
    not_ok "i: with port 53 taken the tunnel comes up" "no session"
fi
stop_pair i
lab_stop "$HOLDER_PID" 2

# ---------------------------------------------------------------------------------------------
log "the upstream: dnsmasq on the internet host; the gateway's resolv.conf names it"
BIG=big.lab.example
txt() { printf '%*s' 200 '' | tr ' ' "$1"; }
DNSMASQ_LOG=$LAB_DIR/dnsmasq.log
lab_bg "$NS_NET" "$DNSMASQ_LOG" dnsmasq --no-daemon --no-resolv --no-hosts --conf-file=/dev/null \
    --pid-file= --user=root --group=root --listen-address="$NET_IP" --bind-interfaces \
    --local=/lab.example/ --host-record="$SECRET,$SECRET_IP" \
    --txt-record="$BIG,$(txt a),$(txt b),$(txt c)" --log-queries --log-facility=-
DNSMASQ_PID=$LAST_PID
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_NET" ss -Hlun "sport = :53" 2>/dev/null | grep -q "$NET_IP" && break
    sleep 0.1
done
ip netns exec "$NS_NET" ss -Hlun "sport = :53" | grep -q "$NET_IP" || die "dnsmasq does not listen on $NET_IP:53"
lab_netns_etc "$NS_GW" resolv.conf <<EOF
# the gateway's resolver: only dnsmasq on the internet host
nameserver $NET_IP
EOF

SRV_CONF=$LAB_DIR/server.conf
server_conf "$SRV_CONF" ""
if ! start_pair main; then
    not_ok "a: client1 logs session up" "no '$SESSION_UP' within 10 s"
    lab_summary
    exit 1
fi
check "a: the proxy starts with the gateway's resolv.conf nameserver" \
    grep -qE "msg=\"DNS proxy up\" listen=$GW_TUN_IP:53 upstreams=$NET_IP:53 source=/etc/resolv.conf" "$SRV_LOG"
check_eq "a: client1's handshake response carries dns=$GW_TUN_IP" "$(log_field "$C1_LOG" "$SESSION_UP" dns)" "$GW_TUN_IP"
wait_stat_eq dns_queries_udp 0 || true

# ---------------------------------------------------------------------------------------------
log "b) $SECRET through the proxy: dig over UDP, over TCP, and the system resolver"
check_eq "b: dig over UDP" "$(dig_c1 +short "$SECRET")" "$SECRET_IP"
check_stat dns_queries_udp 1 "b: the gateway counts one UDP query"
check_eq "b: dig over TCP" "$(dig_c1 +tcp +short "$SECRET")" "$SECRET_IP"
check_stat dns_queries_tcp 1 "b: the gateway counts one TCP query"
check "b: client1 made the gateway its resolver (its namespace's resolv.conf)" \
    grep -qx "nameserver $GW_TUN_IP" "/etc/netns/$NS_C1/resolv.conf"
got=$(ip netns exec "$NS_C1" timeout 15 getent ahostsv4 "$SECRET" | awk 'NR == 1 { print $1 }')
check_eq "b: getent ahostsv4 (glibc, the resolver client1 set)" "$got" "$SECRET_IP"
check_stat dns_queries_udp 2 "b: getent's one A query counted"
n=$(grep -c "query\[A\] $SECRET from $GW_WAN_IP" "$DNSMASQ_LOG")
check_eq "b: dnsmasq saw each of the three from the gateway's own address $GW_WAN_IP" "$n" 3
if grep -E "query\[.*\] .* from " "$DNSMASQ_LOG" | grep -vq " from $GW_WAN_IP\$"; then
    not_ok "b: dnsmasq saw queries from no one but the gateway" "$(grep -m1 -v "from $GW_WAN_IP" "$DNSMASQ_LOG")"
else
    ok "b: dnsmasq saw queries from no one but the gateway"
fi

# ---------------------------------------------------------------------------------------------
log "c) a name the upstream does not know"
out=$(dig_c1 nosuch.lab.example)
check_eq "c: nosuch.lab.example is NXDOMAIN" "$(status_of "$out")" NXDOMAIN
check_stat dns_queries_udp 3 "c: counted"

# ---------------------------------------------------------------------------------------------
log "d) an answer too big for UDP (~600 bytes of TXT, no EDNS): TC, then TCP"
out=$(dig_c1 +noedns +ignore TXT "$BIG")
check "d: over UDP the answer comes back truncated (TC)" grep -qE 'flags:[^;]* tc' <<<"$out"
out=$(dig_c1 +noedns TXT "$BIG")
check "d: dig then asks over TCP and gets all three strings" \
    grep -qE "^$BIG\..*\"$(txt a)\" \"$(txt b)\" \"$(txt c)\"" <<<"$out"
check_stat dns_queries_udp 5 "d: two UDP queries"
check_stat dns_queries_tcp 2 "d: one TCP query"

# ---------------------------------------------------------------------------------------------
log "e) the counters"
check_stat dns_answers 7 "e: every query answered (2 + getent's + NXDOMAIN + 3 of d)"
for c in dns_timeouts dns_servfail dns_upstream_errors dns_malformed dns_unmatched dns_dropped_full dns_reply_drops dns_inflight; do
    check_eq "e: $c is 0" "$(stat_now "$c")" 0
done

# ---------------------------------------------------------------------------------------------
log "l) each UDP query goes upstream from a port of its own (a forged answer must guess it too)"
lab_bg "$NS_NET" "$LAB_DIR/tcpdump-l.log" tcpdump -n -l -i eth0 "udp and dst port 53 and src host $GW_WAN_IP"
TD_PID=$LAST_PID
sleep 1
for i in 1 2 3 4 5 6; do dig_c1 +short "$SECRET" >/dev/null; done
sleep 0.5
lab_stop "$TD_PID" 3 INT
ports=$(sed -nE "s/.* IP $GW_WAN_IP\.([0-9]+) > .*/\1/p" "$LAB_DIR/tcpdump-l.log")
n=$(grep -c . <<<"$ports")
check_eq "l: tcpdump on the upstream's side saw the 6 queries" "$n" 6
check_eq "l: from 6 different ports ($(tr '\n' ' ' <<<"$ports"))" "$(sort -u <<<"$ports" | grep -c .)" 6

# ---------------------------------------------------------------------------------------------
log "k) bad queries and the TCP connection limit (python3, from client1)"
out=$(ip netns exec "$NS_C1" timeout 30 "$PY" - "$GW_TUN_IP" <<'PYEOF' 2>&1
import select, socket, struct, sys, time
gw = sys.argv[1]

def query(qid, flags=0x0100, name=b"\x06secret\x03lab\x07example\x00"):
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
for junk in (b"\x01\x02\x03\x04\x05", query(7, flags=0x8180), query(8) + b"\x00" * 600):
    u.sendto(junk, (gw, 53))
u.sendto(query(9, flags=0x2000), (gw, 53))  # opcode 4, NOTIFY
r = u.recv(512)
print("notify-reply id=%d rcode=%d qr=%d" % (struct.unpack(">H", r[:2])[0], r[3] & 15, r[2] >> 7))

def tcp():
    t = socket.create_connection((gw, 53), timeout=3)
    return t

t = tcp()
t.sendall(b"\x00\x00")  # a frame of length 0
t.settimeout(3)
print("zero-frame closed=%s" % (t.recv(10) == b""))
t.close()

conns = [tcp() for _ in range(40)]
time.sleep(0.5)
readable, _, _ = select.select(conns, [], [], 0.5)  # a closed connection reads as EOF
closed = sum(1 for c in readable if c.recv(10) == b"")
print("connections=40 closed_by_gateway=%d" % closed)
c = [c for c in conns if c not in readable][0]
q = query(10)
c.settimeout(3)
c.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", c.recv(2))[0]
r = b""
while len(r) < n:
    r += c.recv(n - len(r))
print("tcp-answer id=%d ancount=%d" % (struct.unpack(">H", r[:2])[0], struct.unpack(">H", r[6:8])[0]))
for c in conns:
    c.close()
PYEOF
)
printf '%s\n' "$out" >"$LAB_DIR/k.out"
check "k: an opcode the proxy does not forward gets NOTIMP under its own id" grep -qx "notify-reply id=9 rcode=4 qr=1" <<<"$out"
check_stat dns_notimp 1 "k: counted"
check_stat dns_malformed 4 "k: three bad datagrams and a TCP frame of length 0 dropped"
check "k: the TCP connection with the bad frame is closed" grep -qx "zero-frame closed=True" <<<"$out"
check "k: of 40 TCP connections at once, the 8 over the limit of 32 are closed" \
    grep -qx "connections=40 closed_by_gateway=8" <<<"$out"
check_stat dns_dropped_full 8 "k: counted"
check "k: a query on one of the 32 is answered" grep -qx "tcp-answer id=10 ancount=1" <<<"$out"
# the internet host, given a route to the pool, is still no client: the proxy is tied to the TUN
udp=$(stat_now dns_queries_udp)
ip -n "$NS_NET" route add "$TUN_NET" via "$GW_WAN_IP"
out=$(ip netns exec "$NS_NET" timeout 10 dig @"$GW_TUN_IP" +time=2 +tries=1 "$SECRET" 2>&1)
ip -n "$NS_NET" route del "$TUN_NET" via "$GW_WAN_IP"
check_eq "k: a query from outside the tunnel gets no answer" "$(status_of "$out")" ""
sleep 1.2
check_eq "k: and is not counted" "$(stat_now dns_queries_udp)" "$udp"

# UDP datagrams the gateway's kernel got for a port nothing listens on
udp_noports() { ip netns exec "$NS_GW" nstat -az UdpNoPorts | awk '$1 == "UdpNoPorts" { print $2 }'; }

# ---------------------------------------------------------------------------------------------
log "f) upstream hung (SIGSTOP): the query times out"
kill -STOP "$DNSMASQ_PID"
t=$(date +%s%N)
dig_c1 hung.lab.example >"$LAB_DIR/dig-hung.out" &
DIG_PID=$!
LAB_PIDS+=("$DIG_PID")
check_eq "f: meanwhile client1 pings $NET_IP through the tunnel (replies of 5)" \
    "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
wait "$DIG_PID"
ms=$(ms_since "$t")
out=$(cat "$LAB_DIR/dig-hung.out")
check_eq "f: the client gets SERVFAIL" "$(status_of "$out")" SERVFAIL
check_ms_between "f: after two tries of 2 s" "$ms" 3800 6000
check_stat dns_timeouts 2 "f: both tries time out"
check_stat dns_servfail 1 "f: one SERVFAIL"
n=$(grep -c "msg=\"upstream DNS failing\" upstream=$NET_IP:53 reason=\"no answer in time\"" "$SRV_LOG")
check_eq "f: one warning names the upstream" "$n" 1
noports=$(udp_noports)
kill -CONT "$DNSMASQ_PID"
check_eq "f: after SIGCONT, $SECRET resolves again" "$(dig_c1 +short "$SECRET")" "$SECRET_IP"
check "f: the gateway logs that the upstream answers again" \
    wait_log "$SRV_LOG" "msg=\"upstream DNS answers again\" upstream=$NET_IP:53" 3
# Each try had a socket (a port) of its own, closed when the query gave up: the late answers
# (one per try) meet closed ports in the kernel and reach nothing of ours.
late=0
for _ in $(seq 1 50); do
    late=$(( $(udp_noports) - noports ))
    [ "$late" -ge 2 ] && break
    sleep 0.1
done
check "f: the late answers to the timed-out query find its ports closed (UdpNoPorts +$late)" [ "$late" -ge 2 ]
check_eq "f: and answer nothing of ours" "$(stat_now dns_unmatched)" 0

# ---------------------------------------------------------------------------------------------
log "g) upstream stopped: refused at once"
lab_stop "$DNSMASQ_PID" 5
t=$(date +%s%N)
out=$(dig_c1 "$SECRET")
ms=$(ms_since "$t")
check_eq "g: SERVFAIL, both tries refused" "$(status_of "$out")" SERVFAIL
check_ms_between "g: at once, not after a timeout" "$ms" 0 1000
check_stat dns_upstream_errors 2 "g: two upstream errors (none before)"
check_stat dns_servfail 2 "g: one more SERVFAIL"
check "g: a warning names the upstream and the refusal" \
    grep -qE "level=warn .*msg=\"upstream DNS failing\" upstream=$NET_IP:53 reason=\"refused" "$SRV_LOG"
check_eq "g: client1 pings $NET_IP through the tunnel (replies of 5)" "$(ping_count "$NS_C1" "$NET_IP" 5)" 5
stable_session "g: client1 kept its one session throughout" "$C1_LOG"

# ---------------------------------------------------------------------------------------------
log "h) clean stop"
vpngw_stop "$C1_PID" 5
check_clean_stop h server "$SRV_PID" "$NS_GW" "$TUN_GW"
final=$(stats_line "$SRV_LOG" | grep -oE 'dns_queries_udp=[0-9]+ dns_queries_tcp=[0-9]+ dns_answers=[0-9]+')
log "final: $final"
if ip netns exec "$NS_GW" ss -Hlnut "sport = :53" | grep -q .; then
    not_ok "h: nothing listens on port 53 after the gateway stopped" "$(ip netns exec "$NS_GW" ss -Hlnut "sport = :53")"
else
    ok "h: nothing listens on port 53 after the gateway stopped"
fi

# ---------------------------------------------------------------------------------------------
log "j) an IPv6 upstream with a port: UpstreamDNS = [$NET_IP6]:5353, and User = nobody"
ip -n "$NS_GW" -6 addr add "$GW_WAN_IP6/64" dev wan0 nodad
ip -n "$NS_NET" -6 addr add "$NET_IP6/64" dev eth0 nodad
lab_bg "$NS_NET" "$LAB_DIR/dnsmasq6.log" dnsmasq --no-daemon --no-resolv --no-hosts --conf-file=/dev/null \
    --pid-file= --user=root --group=root --listen-address="$NET_IP6" --bind-interfaces --port=5353 \
    --local=/lab.example/ --host-record="$SECRET,$SECRET_IP" --log-queries --log-facility=-
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_NET" ss -Hlun "sport = :5353" 2>/dev/null | grep -q "$NET_IP6" && break
    sleep 0.1
done
server_conf "$SRV_CONF" "UpstreamDNS = [$NET_IP6]:5353"
sed -i '/^StatsInterval = /a User = nobody' "$SRV_CONF"
if start_pair ipv6; then
    check "j: the gateway gave up root after binding port 53" grep -qE 'dropped root.*user=nobody' "$SRV_LOG"
    check "j: the proxy starts with the IPv6 upstream" \
        grep -qE "msg=\"DNS proxy up\" listen=$GW_TUN_IP:53 upstreams=\[$NET_IP6\]:5353 source=UpstreamDNS" "$SRV_LOG"
    check_eq "j: dig over UDP" "$(dig_c1 +short "$SECRET")" "$SECRET_IP"
    check_eq "j: dig over TCP" "$(dig_c1 +tcp +short "$SECRET")" "$SECRET_IP"
    n=$(grep -c "query\[A\] $SECRET from $GW_WAN_IP6" "$LAB_DIR/dnsmasq6.log")
    check_eq "j: dnsmasq saw both from the gateway's IPv6 address" "$n" 2
else
    not_ok "j: client1 logs session up" "no session"
fi
stop_pair j

log "took $((SECONDS - T0)) s"
lab_summary
