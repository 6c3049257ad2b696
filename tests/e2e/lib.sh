# shellcheck shell=bash disable=SC2034  # variables here are used by the sourcing scripts
# tests/e2e/lib.sh: helpers for vpngw's network-namespace lab (sourced, not run).
#
# Lab topology (all made here, all removed on exit):
#
#   client hosts                     gateway                        internet host
#   c1 eth0 192.0.2.2  --veth-- gc1 \                                198.51.100.2
#   c2 eth0 192.0.2.3  --veth-- gc2  >- br0 192.0.2.1   wan0 198.51.100.1 --veth-- eth0
#   in eth0 192.0.2.4  --veth-- gin /   (ip_forward=1, nft masquerade 10.77.0.0/24 out wan0)
#
# Client hosts get only their on-link 192.0.2.0/24 route: the internet host is reachable only
# through the tunnel. The internet host has no route back to 10.77.0.0/24 (the NAT answers).
#
# Conventions: every namespace name ends in the run's suffix ($LAB_SFX, default the PID of the
# shell), and so do the TUN device names, because vpngw keeps its control socket (for
# `vpngw show`) at /run/vpngw/<interface>.sock, which every namespace shares. Every process is started with
# lab_bg (PID recorded) and stopped by PID; lab_cleanup (trap on EXIT INT TERM) stops them and
# deletes the namespaces. Logs go to $LAB_DIR (a fresh temp dir); on failure their tails are
# printed.

# ---------------------------------------------------------------------------------------------
# Paths and names

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(cd "$LAB_LIB_DIR/../.." && pwd)
VPNGW=${VPNGW:-$LAB_ROOT/build/vpngw}
case $VPNGW in /*) ;; *) VPNGW=$LAB_ROOT/$VPNGW ;; esac
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

LAB_SFX=${LAB_SFX:-$$}
LAB_SFX=${LAB_SFX:0:7}          # keeps "vgi$LAB_SFX" within IFNAMSIZ (15)
NS_GW=vpngw-gw-$LAB_SFX
NS_NET=vpngw-net-$LAB_SFX
NS_C1=vpngw-c1-$LAB_SFX
NS_C2=vpngw-c2-$LAB_SFX
NS_IN=vpngw-in-$LAB_SFX

GW_CLIENT_IP=192.0.2.1
GW_WAN_IP=198.51.100.1
NET_IP=198.51.100.2
C1_IP=192.0.2.2
C2_IP=192.0.2.3
IN_IP=192.0.2.4
TUN_NET=10.77.0.0/24
GW_TUN_IP=10.77.0.1
C1_TUN_IP=10.77.0.2
C2_TUN_IP=10.77.0.3
VPN_PORT=51820

# TUN device names (unique per run, see above)
TUN_GW=vg$LAB_SFX
TUN_C1=vc1$LAB_SFX
TUN_C2=vc2$LAB_SFX
TUN_IN=vci$LAB_SFX

LAB_DIR=""
LAB_PIDS=()
LAB_NSS=()
LAB_TMPDIRS=()                  # extra temp dirs (lab_mktemp_dir) removed on exit
LAB_ETC_NS=()                   # /etc/netns/<ns> dirs (lab_netns_etc) removed on exit
LAB_FAILED=0
LAB_PASSED=0
LAB_CLEANED=0
LAB_KEEP=${LAB_KEEP:-0}          # 1: keep $LAB_DIR (logs, configs, pcaps) after the run
LAB_QUIET=${LAB_QUIET:-0}        # 1: print no tails of logs on failure
LAST_PID=""
STOP_RC=""

# ---------------------------------------------------------------------------------------------
# Output and assertions

log()  { printf '# %s\n' "$*"; }
warn() { printf '# WARNING: %s\n' "$*" >&2; }
die()  { printf 'FATAL: %s\n' "$*" >&2; LAB_FAILED=$((LAB_FAILED + 1)); exit 1; }

ok()     { LAB_PASSED=$((LAB_PASSED + 1)); printf 'ok - %s\n' "$1"; }
not_ok() {
    LAB_FAILED=$((LAB_FAILED + 1)); printf 'not ok - %s\n' "$1"
    if [ $# -gt 1 ]; then printf '#   %s\n' "${@:2}"; fi
    return 0
}
# check NAME CMD...: ok if CMD succeeds, else not ok.
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; return 0; else not_ok "$name" "command failed: $*"; return 1; fi
}
# check_eq NAME GOT WANT / check_ne / check_gt (integers)
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; return 1; fi; }
check_ne() { if [ "$2" != "$3" ]; then ok "$1"; else not_ok "$1" "both are '$2'"; return 1; fi; }
check_gt() {
    if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -gt "$3" ]; then ok "$1"
    else not_ok "$1" "got '$2', want > $3"; return 1; fi
}

# lab_summary: the closing line; returns non-zero when any assertion failed.
lab_summary() {
    printf '%d passed, %d failed\n' "$LAB_PASSED" "$LAB_FAILED"
    [ "$LAB_FAILED" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# Setup, tools, cleanup

lab_need_root() {
    [ "$(id -u)" -eq 0 ] || die "the namespace lab needs root (ip netns, TUN devices)"
}

# lab_ensure_tools [--install]: check the commands the lab uses; with --install, apt-get the
# missing packages (only those).
lab_ensure_tools() {
    local install=0 cmd missing=() pkgs=()
    [ "${1:-}" = --install ] && install=1
    local -A pkg_of=([ip]=iproute2 [ping]=iputils-ping [iperf3]=iperf3 [tcpdump]=tcpdump
                     [nft]=nftables [timeout]=coreutils [bridge]=iproute2 [tc]=iproute2 [ethtool]=ethtool)
    for cmd in ip ping iperf3 tcpdump nft timeout tc ethtool; do
        command -v "$cmd" >/dev/null 2>&1 || { missing+=("$cmd"); pkgs+=("${pkg_of[$cmd]}"); }
    done
    [ -x "$PY" ] || { missing+=(python3); pkgs+=(python3); PY=/usr/bin/python3; }
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$install" -eq 1 ]; then
        log "installing missing packages: ${pkgs[*]}"
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q \
            -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >/dev/null ||
            { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q >/dev/null &&
              DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q \
                  -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >/dev/null; } ||
            die "could not install: ${pkgs[*]}"
        return 0
    fi
    die "missing tools: ${missing[*]} (apt-get install -y ${pkgs[*]})"
}

lab_check_binary() {
    [ -x "$VPNGW" ] || die "vpngw binary not found at $VPNGW (run make, or set VPNGW=)"
    "$VPNGW" --version >/dev/null 2>&1 || die "$VPNGW --version fails"
}

# lab_init: temp dir and cleanup trap. Call once, first.
lab_init() {
    lab_need_root
    LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vpngw-e2e.$LAB_SFX.XXXXXX") || die "mktemp failed"
    trap 'lab_cleanup' EXIT
    trap 'lab_cleanup; exit 130' INT
    trap 'lab_cleanup; exit 143' TERM
}

# lab_mktemp_dir VAR: a fresh temp dir outside $LAB_DIR (which is 0700), removed on exit
lab_mktemp_dir() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/vpngw-e2e-x.$LAB_SFX.XXXXXX") || die "mktemp failed"
    LAB_TMPDIRS+=("$d")
    printf -v "$1" '%s' "$d"
}

# lab_netns_etc NS FILE: stdin to /etc/netns/NS/FILE, which `ip netns exec NS` mounts over
# /etc/FILE (e.g. resolv.conf); removed on exit
lab_netns_etc() {
    local d=/etc/netns/$1
    case $1 in *-"$LAB_SFX") ;; *) die "lab_netns_etc: $1 is not one of this run's namespaces" ;; esac
    mkdir -p "$d" || die "mkdir $d"
    LAB_ETC_NS+=("$d")
    cat >"$d/$2" || die "cannot write $d/$2"
}

# proc_alive PID: running (not a zombie)
proc_alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# lab_bg NS LOGFILE CMD...: start CMD in namespace NS in the background, stderr (and stdout) to
# LOGFILE; its PID (ip netns exec execs the command, so it is CMD's own PID) in LAST_PID.
lab_bg() {
    local ns=$1 logf=$2; shift 2
    ip netns exec "$ns" "$@" >>"$logf" 2>&1 </dev/null &
    LAST_PID=$!
    LAB_PIDS+=("$LAST_PID")
}

# udpgso_up DST BATCHES GAP_MS: client1 makes BATCHES UDP_SEGMENT sends of 10 datagrams
# (tests/e2e/udpgso.py), GAP_MS apart (0: as fast as it goes), to port 9999 of DST (the
# internet host, IPv4 or IPv6) through the tunnel; UDPGSO_OUT gets the receiver's count,
# "datagrams N bad M reordered R".
udpgso_up() {
    local dst=$1 out=$LAB_DIR/udpgso-$RANDOM.out pid i
    lab_bg "$NS_NET" "$out" "$PY" "$LAB_ROOT/tests/e2e/udpgso.py" recv 9999 4
    pid=$LAST_PID
    sleep 0.5
    ip netns exec "$NS_C1" "$PY" "$LAB_ROOT/tests/e2e/udpgso.py" send "$dst" 9999 "$2" "$3" ||
        not_ok "the UDP_SEGMENT sender to $dst" "exit status $?"
    for ((i = 0; i < 80; i++)); do proc_alive "$pid" || break; sleep 0.1; done
    lab_stop "$pid"
    UDPGSO_OUT=$(cat "$out" 2>/dev/null)
}

# udpgso_down DST BATCHES GAP_MS: the same the other way, from the internet host (DST, its
# address) to client1, through the gateway's NAT: client1 sends one datagram to DST's port
# 9998 first, the internet host answers its source with the sends. The gateway cuts what its
# TUN hands it as UDP super-packets, the client merges them back.
udpgso_down() {
    local pid
    lab_bg "$NS_NET" "$LAB_DIR/udpgso-push-$RANDOM.out" "$PY" "$LAB_ROOT/tests/e2e/udpgso.py" push 9998 "$2" "$3"
    pid=$LAST_PID
    sleep 0.5
    UDPGSO_OUT=$(ip netns exec "$NS_C1" timeout 20 "$PY" "$LAB_ROOT/tests/e2e/udpgso.py" pull "$1" 9998 4 2>&1)
    lab_stop "$pid"
}

# udpgso_check NAME DST / udpgso_check_down NAME DST: 1000 datagrams in 100 sends 2 ms
# apart, up / down; all must arrive intact and in order.
udpgso_check() {
    udpgso_up "$2" 100 2
    check_eq "$1" "$UDPGSO_OUT" "datagrams 1000 bad 0 reordered 0"
}
udpgso_check_down() {
    udpgso_down "$2" 100 2
    check_eq "$1" "$UDPGSO_OUT" "datagrams 1000 bad 0 reordered 0"
}

# udpgso_burst NAME DST: 2000 sends (20,000 datagrams) as fast as the sender goes, up and
# then down: many batches in flight at once at every stage. Some may be lost on the way
# (full queues); none may arrive damaged or out of order. Checks named NAME up / NAME down.
udpgso_burst() {
    local name=$1 dst=$2 dir n bad r
    for dir in up down; do
        "udpgso_$dir" "$dst" 2000 0
        read -r n bad r < <(sed -n 's/^datagrams \([0-9]*\) bad \([0-9]*\) reordered \([0-9]*\)$/\1 \2 \3/p' <<<"$UDPGSO_OUT")
        log "$name $dir: ${n:-?} of 20000 arrived, ${bad:-?} damaged, ${r:-?} out of order"
        check_gt "$name $dir: datagrams arrived" "${n:-0}" 999
        check_eq "$name $dir: none damaged or out of order" "bad ${bad:-?} reordered ${r:-?}" "bad 0 reordered 0"
    done
}

# lab_stop PID [TIMEOUT_S] [SIGNAL]: signal PID (TERM by default), wait up to TIMEOUT_S (5)
# for it to exit. Sets STOP_RC to its exit status ("timeout" if it did not exit; it is then
# killed). Returns 0 if it exited in time.
lab_stop() {
    local pid=$1 t=${2:-5} sig=${3:-TERM} i n
    STOP_RC=""
    [ -n "$pid" ] || return 1
    if ! proc_alive "$pid"; then
        wait "$pid" 2>/dev/null; STOP_RC=$?
        return 0
    fi
    kill -s "$sig" "$pid" 2>/dev/null
    n=$((t * 10))
    for ((i = 0; i < n; i++)); do
        proc_alive "$pid" || break
        sleep 0.1
    done
    if proc_alive "$pid"; then
        kill -s KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        STOP_RC=timeout
        return 1
    fi
    wait "$pid" 2>/dev/null; STOP_RC=$?
    return 0
}

lab_print_logs() {
    local f
    [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ] || return 0
    for f in "$LAB_DIR"/*.log; do
        [ -e "$f" ] || continue
        printf '# ----- tail of %s -----\n' "$(basename "$f")"
        # the events, then only the last of the (many) stats lines
        grep -vE 'msg=("stats"|stats)( |$)' "$f" | tail -n 20 | sed 's/^/#   /'
        stats_line "$f" | sed 's/^/#   /'
    done
}

lab_cleanup() {
    local rc=$? pid i ns ifn d
    [ "$LAB_CLEANED" -eq 1 ] && return 0
    LAB_CLEANED=1
    trap - EXIT INT TERM
    # stop what we started (by PID), politely first
    for pid in "${LAB_PIDS[@]}"; do proc_alive "$pid" && kill -s TERM "$pid" 2>/dev/null; done
    for ((i = 0; i < 30; i++)); do
        local any=0
        for pid in "${LAB_PIDS[@]}"; do proc_alive "$pid" && any=1; done
        [ "$any" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${LAB_PIDS[@]}"; do
        if proc_alive "$pid"; then kill -s KILL "$pid" 2>/dev/null; fi
        wait "$pid" 2>/dev/null
    done
    for ns in "${LAB_NSS[@]}"; do ip netns del "$ns" 2>/dev/null; rm -rf "/etc/netns/$ns"; done
    for d in "${LAB_TMPDIRS[@]}"; do [ -n "$d" ] && rm -rf "$d"; done
    for d in "${LAB_ETC_NS[@]}"; do rm -rf "$d"; done
    [ ${#LAB_ETC_NS[@]} -eq 0 ] || rmdir /etc/netns 2>/dev/null   # only if no other run uses it
    # control sockets of killed instances (names carry this run's suffix)
    for ifn in "$TUN_GW" "$TUN_C1" "$TUN_C2" "$TUN_IN"; do
        rm -f "/run/vpngw/$ifn.sock"
    done
    if [ "$LAB_FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
        [ "$LAB_QUIET" -eq 1 ] || lab_print_logs
        if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
            if [ "$LAB_KEEP" -eq 1 ]; then log "logs kept in $LAB_DIR"; else rm -rf "$LAB_DIR"; fi
        fi
    elif [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
        if [ "$LAB_KEEP" -eq 1 ]; then log "logs kept in $LAB_DIR"; else rm -rf "$LAB_DIR"; fi
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------
# Topology

lab_ns_add() {
    ip netns add "$1" || die "ip netns add $1"
    LAB_NSS+=("$1")
    ip -n "$1" link set lo up
    # `ip netns exec` mounts this over /etc/resolv.conf: a client that sets the
    # resolver (DNS = auto) changes the namespace's file, never the host's.
    mkdir -p "/etc/netns/$1" && printf '# resolv.conf of lab namespace %s\n' "$1" >"/etc/netns/$1/resolv.conf" ||
        die "/etc/netns/$1/resolv.conf"
}

# lab_add_client_host NS PORTNAME IP: a client host joined to the gateway's bridge br0.
lab_add_client_host() {
    local ns=$1 port=$2 addr=$3
    lab_ns_add "$ns"
    # made inside the gateway namespace, peer straight into the host: no names in the root ns
    ip -n "$NS_GW" link add "$port" type veth peer name eth0 netns "$ns" || die "veth $port"
    ip -n "$NS_GW" link set "$port" master br0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 \
        net.ipv4.conf.default.promote_secondaries=1 net.ipv4.conf.eth0.promote_secondaries=1
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}

# lab_start HOST...: what most tests do first: the run dir and cleanup trap, the tools
# (installed when missing), the binary, then the lab with those client hosts (lab_up).
lab_start() {
    lab_init
    lab_ensure_tools --install
    lab_check_binary
    log "vpngw: $VPNGW ($("$VPNGW" --version 2>&1 | head -n 1))"
    log "run dir: $LAB_DIR, namespaces *-$LAB_SFX"
    lab_up "$@"
}

# lab_up [c1] [c2] [in]: gateway, internet host, and the named client hosts.
lab_up() {
    local h
    lab_ns_add "$NS_GW"
    lab_ns_add "$NS_NET"
    ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 || die "ip_forward"
    ip -n "$NS_GW" link add br0 type bridge stp_state 0 forward_delay 0 || die "bridge"
    ip -n "$NS_GW" addr add "$GW_CLIENT_IP/24" dev br0
    ip -n "$NS_GW" link set br0 up
    ip -n "$NS_GW" link add wan0 type veth peer name eth0 netns "$NS_NET" || die "veth wan0"
    ip -n "$NS_GW" addr add "$GW_WAN_IP/24" dev wan0
    ip -n "$NS_GW" link set wan0 up
    ip -n "$NS_NET" addr add "$NET_IP/24" dev eth0
    ip -n "$NS_NET" link set eth0 up
    ip netns exec "$NS_GW" nft -f - <<EOF || die "nft masquerade"
table ip vpngw_test {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr $TUN_NET oifname "wan0" masquerade
    }
}
EOF
    for h in "$@"; do
        case $h in
            c1) lab_add_client_host "$NS_C1" gc1 "$C1_IP" ;;
            c2) lab_add_client_host "$NS_C2" gc2 "$C2_IP" ;;
            in) lab_add_client_host "$NS_IN" gin "$IN_IP" ;;
            *) die "lab_up: unknown host $h" ;;
        esac
    done
    # underlay sanity (bounded): the bridge ports forward at once with STP off
    for h in "$@"; do
        local ns ip_ok=0 i
        case $h in c1) ns=$NS_C1 ;; c2) ns=$NS_C2 ;; in) ns=$NS_IN ;; esac
        for ((i = 0; i < 10; i++)); do
            if ip netns exec "$ns" ping -n -q -c 1 -W 1 "$GW_CLIENT_IP" >/dev/null 2>&1; then
                ip_ok=1; break
            fi
            sleep 0.2
        done
        [ "$ip_ok" -eq 1 ] || die "underlay: $ns cannot reach $GW_CLIENT_IP"
    done
    ip netns exec "$NS_NET" ping -n -q -c 1 -W 2 "$GW_WAN_IP" >/dev/null 2>&1 ||
        die "underlay: internet host cannot reach $GW_WAN_IP"
}

# ---------------------------------------------------------------------------------------------
# vpngw: keys, configs, processes

vpngw_genkey() { "$VPNGW" genkey; }
vpngw_pubkey() { printf '%s\n' "$1" | "$VPNGW" pubkey; }

# lab_keypair VAR: sets VAR_PRIV and VAR_PUB
lab_keypair() {
    local priv pub
    priv=$(vpngw_genkey) || die "vpngw genkey failed"
    [ -n "$priv" ] || die "vpngw genkey printed nothing"
    pub=$(vpngw_pubkey "$priv") || die "vpngw pubkey failed"
    [ -n "$pub" ] || die "vpngw pubkey printed nothing"
    printf -v "${1}_PRIV" '%s' "$priv"
    printf -v "${1}_PUB" '%s' "$pub"
}

# write_server_conf FILE PRIV [NAME PUB ADDR]...
write_server_conf() {
    local f=$1 priv=$2; shift 2
    {
        printf '[Server]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\nMTU = 1400\n' \
            "$priv" "$VPN_PORT" "$GW_TUN_IP"
        printf 'Interface = %s\nDNS = %s\nStatsInterval = 1\n' "$TUN_GW" "$GW_TUN_IP"
        # pool addresses are remembered here, not in the machine's /var/lib/vpngw
        printf 'StateFile = %s/gateway.state\n' "$LAB_DIR"
        while [ $# -ge 3 ]; do
            printf '\n[Client]\nName = %s\nPublicKey = %s\n' "$1" "$2"
            [ -n "$3" ] && printf 'Address = %s\n' "$3"
            shift 3
        done
    } >"$f"
    chmod 600 "$f"
}

# write_client_conf FILE PRIV IFNAME SERVER_PUB
write_client_conf() {
    {
        printf '[Client]\nPrivateKey = %s\nInterface = %s\nKeepaliveInterval = 2\n' "$2" "$3"
        printf 'StatsInterval = 1\n\n[Server]\nPublicKey = %s\nEndpoint = %s:%s\n' \
            "$4" "$GW_CLIENT_IP" "$VPN_PORT"
        printf 'Routes = 198.51.100.0/24\n'
    } >"$1"
    chmod 600 "$1"
}

# print_conf FILE: a config with its private key masked
print_conf() {
    sed -E 's/^(PrivateKey *= *).{6}.*/\1<hidden>/' "$1" | sed 's/^/    /'
}

# vpngw_start ROLE NS CONF LOGFILE: PID in LAST_PID
vpngw_start() {
    lab_bg "$2" "$4" "$VPNGW" "$1" "$3"
}

# vpngw_stop PID [TIMEOUT_S]: SIGTERM, wait (5 s); exit status in STOP_RC ("timeout": killed)
vpngw_stop() { lab_stop "$1" "${2:-5}" TERM; }

# check_clean_stop PREFIX WHO PID NS TUN: SIGTERM makes WHO exit 0 within 5 s and its TUN goes
check_clean_stop() {
    local pfx=$1 who=$2 pid=$3 ns=$4 tun=$5
    if vpngw_stop "$pid" 5; then
        check_eq "$pfx: $who exits 0 within 5 s of SIGTERM" "$STOP_RC" 0
    else
        not_ok "$pfx: $who exits 0 within 5 s of SIGTERM" "still running after 5 s (killed)"
    fi
    if tun_exists "$ns" "$tun"; then not_ok "$pfx: $who's TUN $tun is gone"
    else ok "$pfx: $who's TUN $tun is gone"; fi
}

# ---------------------------------------------------------------------------------------------
# Logs and counters

# wait_log FILE ERE TIMEOUT_S [COUNT]: wait until FILE has COUNT (1) lines matching ERE.
wait_log() {
    local f=$1 re=$2 t=$3 want=${4:-1} i n
    for ((i = 0; i <= t * 10; i++)); do
        n=$(grep -cE -- "$re" "$f" 2>/dev/null) || n=0
        [ "$n" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# log_field FILE ERE KEY: KEY's value in the last line of FILE matching ERE
log_field() {
    grep -E -- "$2" "$1" 2>/dev/null | tail -n 1 |
        awk -v k="$3" '{ for (i = 1; i <= NF; i++) { n = index($i, "=");
            if (n > 1 && substr($i, 1, n - 1) == k) { v = substr($i, n + 1); gsub(/"/, "", v); print v; exit } } }'
}

# stat_of LOGFILE NAME: NAME's value in the last stats line (empty if none)
stat_of() { log_field "$1" 'msg=("stats"|stats)( |$)' "$2"; }

# stats_line LOGFILE: the last stats line
stats_line() { grep -E 'msg=("stats"|stats)( |$)' "$1" 2>/dev/null | tail -n 1; }

# wait_stat_gt LOGFILE NAME MIN TIMEOUT_S: wait until the last stats line has NAME > MIN
wait_stat_gt() {
    local i v
    for ((i = 0; i <= $4 * 5; i++)); do
        v=$(stat_of "$1" "$2")
        [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt "$3" ] && return 0
        sleep 0.2
    done
    return 1
}

# wait_stat_ge LOGFILE NAME MIN TIMEOUT_S: wait until the last stats line has NAME >= MIN
wait_stat_ge() { wait_stat_gt "$1" "$2" $(($3 - 1)) "$4"; }

# stable_session NAME CLIENT_LOG: assert the client logged exactly one "session up" and never
# gave the gateway up as silent (a rekey logs msg=rekeyed, not a new session)
stable_session() {
    local n dead
    n=$(grep -c 'msg="session up"' "$2" 2>/dev/null) || n=0
    dead=$(grep -c 'gateway silent' "$2" 2>/dev/null) || dead=0
    if [ "$n" -eq 1 ] && [ "$dead" -eq 0 ]; then
        ok "$1"
    else
        not_ok "$1" "$n 'session up' lines, $dead 'gateway silent' lines in $(basename "$2"):" \
            "$(grep -m1 'gateway silent' "$2" | cut -c1-200)"
    fi
}

# ---------------------------------------------------------------------------------------------
# Traffic

# ping_count NS DST COUNT [EXTRA...]: prints the number of replies (ping -i 0.2, bounded)
ping_count() {
    local ns=$1 dst=$2 c=$3 out; shift 3
    out=$(ip netns exec "$ns" ping -n -q -c "$c" -i 0.2 -W 2 -w $((c + 5)) "$@" "$dst" 2>&1)
    printf '%s\n' "$out" >>"$LAB_DIR/ping.log"
    printf '%s\n' "$out" | sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' | head -n 1 |
        grep -E '^[0-9]+$' || echo 0
}

# ping_summary NS DST COUNT: ping and print ping's own summary lines
ping_summary() {
    ip netns exec "$1" ping -n -q -c "$3" -i 0.2 -W 2 -w $(($3 + 5)) "$2" 2>&1 | tail -n 2
}

# ping_refused NS DST: one IPv6 ping to DST is refused at once, before anything is sent: an
# IPv6 route of type unreachable (the client's block, netcfg_linux.c) makes connect() fail
# with EHOSTUNREACH, and ping exits 2 with "connect: No route to host". A ping that went out
# unanswered (exit 1, "100% packet loss"), or that a router answered with an ICMPv6
# "Destination unreachable", is not. PING_OUT gets the exit status and ping's last line.
ping_refused() {
    local out rc
    out=$(ip netns exec "$1" timeout 5 ping -6 -n -c 1 -W 1 "$2" 2>&1); rc=$?
    PING_OUT="exit $rc: $(tail -n 1 <<<"$out")"
    [ "$rc" -eq 2 ] && grep -q 'connect: No route to host' <<<"$out"
}

# wait_ping NS DST TIMEOUT_S: until one ping gets a reply
wait_ping() {
    local i end=$((SECONDS + $3))
    for ((i = 0; i < $3 * 2 + 2; i++)); do
        ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.2
    done
    return 1
}

# thread_policies PID: each thread's "policy rt_priority" (SCHED_FIFO is 1), one per line;
# /proc/PID/task/TID/stat fields 41 and 40, counted after its "(comm)" field
thread_policies() {
    local t
    for t in /proc/"$1"/task/*; do sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $39, $38}'; done
}

# fifo_threads PID: how many of its threads run SCHED_FIFO now
fifo_threads() { thread_policies "$1" | grep -c '^1 '; }

# fifo_watch PID OUT: "most fewest" SCHED_FIFO threads PID had at once, sampled for 4 s, into OUT
fifo_watch() {
    local max=0 min=99 n i
    for ((i = 0; i < 40; i++)); do
        n=$(fifo_threads "$1")
        [ "$n" -gt "$max" ] && max=$n
        [ "$n" -lt "$min" ] && min=$n
        sleep 0.1
    done
    echo "$max $min" >"$2"
}

# steal_ticks: clock ticks the hypervisor has taken from this VM's CPUs so far (all CPUs; it
# only counts while a CPU wants to run, so an idle lab sees none)
steal_ticks() {
    local st
    read -r _ _ _ _ _ _ _ _ st _ </proc/stat
    echo "$st"
}

# steal_mark: the steal counter and the time now, for steal_since
steal_mark() { echo "$(steal_ticks) $EPOCHREALTIME"; }

# steal_since MARK: the % of one CPU the host stole since steal_mark printed MARK
steal_since() {
    local st0 t0
    read -r st0 t0 <<<"$1"
    awk -v t=$(($(steal_ticks) - st0)) -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$EPOCHREALTIME" \
        'BEGIN { printf "%.0f\n", 100 * t / hz / (t1 - t0) }'
}

# steal_watch OUT SECS: the CPU time the hypervisor took from this VM ("steal" in /proc/stat),
# sampled every 0.25 s for SECS s into OUT as "epoch_seconds steal_ticks" lines, in the
# background (LAST_PID). A stolen CPU stalls every thread of the lab at once, ours and the
# kernel's: a test that judges a transfer's intervals asks this which ones the host disturbed.
steal_watch() {
    local out=$1 n=$(($2 * 4 + 8))
    (
        for ((i = 0; i < n; i++)); do
            echo "$EPOCHREALTIME $(steal_ticks)"
            sleep 0.25
        done
    ) >"$out" 2>/dev/null &
    LAST_PID=$!
    LAB_PIDS+=("$LAST_PID")
}

# iperf_server_start: iperf3 -s on the internet host; waits until it listens
iperf_server_start() {
    local i
    lab_bg "$NS_NET" "$LAB_DIR/iperf3-server.log" iperf3 -s -B "$NET_IP" -p 5201
    IPERF_SERVER_PID=$LAST_PID
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$NS_NET" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q 5201 && return 0
        sleep 0.1
    done
    return 1
}

# iperf_run NS OUTJSON [ARGS...]: 5 s TCP test to the internet host, JSON to OUTJSON
iperf_run() {
    local ns=$1 out=$2; shift 2
    ip netns exec "$ns" timeout 30 iperf3 -c "$NET_IP" -p 5201 -t 5 -J "$@" >"$out" 2>&1
}

# iperf_mbps JSON: "<received Mbit/s> <received bytes>" from iperf3 -J output
iperf_mbps() {
    "$PY" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    r = d["end"]["sum_received"]
    print("%.1f %d" % (r["bits_per_second"] / 1e6, r["bytes"]))
except Exception as e:
    print("0 0")
' "$1"
}

# tun_exists NS IFNAME
tun_exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }
# wait_tun NS TUN PID: waits up to 5 s for TUN to appear in NS while PID (the vpngw making it) runs;
# true when it is there
wait_tun() {
    local i
    for ((i = 0; i < 50; i++)); do
        tun_exists "$1" "$2" && return 0
        proc_alive "$3" || break
        sleep 0.1
    done
    tun_exists "$1" "$2"
}

# capture_leaks PCAP: for a capture of a client's underlay, prints "TUNNEL LEAKS FIRST": the
# tunnel's datagrams (UDP port VPN_PORT to or from GW_CLIENT_IP), the packets that are anything else
# (ARP, ND and link-scope multicast aside, which never leave the link) and the first three of
# those, or "-"
capture_leaks() {
    "$PY" - "$1" "$VPN_PORT" "$GW_CLIENT_IP" <<'EOF'
import sys
from scapy.all import rdpcap, UDP, IP, IPv6, ARP, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RS, ICMPv6ND_RA
port, gw = int(sys.argv[2]), sys.argv[3]
leaks = tunnel = 0
shown = []
for p in rdpcap(sys.argv[1]):
    if p.haslayer(ARP) or any(p.haslayer(l) for l in (ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RS, ICMPv6ND_RA)):
        continue
    # link-scope multicast (MLD reports and the like) never leaves the link
    if p.haslayer(IPv6) and p[IPv6].dst.lower().startswith("ff02:"):
        continue
    if p.haslayer(UDP) and p.haslayer(IP) and port in (p[UDP].sport, p[UDP].dport) and gw in (p[IP].src, p[IP].dst):
        tunnel += 1
        continue
    leaks += 1
    if leaks <= 3:
        shown.append(p.summary().replace(" ", "_"))
print(tunnel, leaks, ",".join(shown) or "-")
EOF
}
