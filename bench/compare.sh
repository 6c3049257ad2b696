#!/usr/bin/env bash
# Quick side-by-side, kept for old habits: a thin wrapper around bench/run.sh
# (the `make bench` harness) that prints the table and keeps its result files
# out of bench/results (in a temporary directory) and does not wait for the
# machine's load average to drop.
#
# usage: [TUNNELS="raw vpngw wireguard-go openvpn"] bench/compare.sh [seconds per iperf3 run, default 10]
# ("wggo" is accepted for wireguard-go.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tunnels=${TUNNELS:-raw vpngw wireguard-go openvpn}
tunnels=$(echo $(echo " $tunnels " | sed 's/ wggo / wireguard-go /g'))
export BENCH_SECONDS=${1:-${BENCH_SECONDS:-10}}
export BENCH_TUNNELS=$tunnels
export BENCH_LOAD_WAIT=${BENCH_LOAD_WAIT:-0}
export BENCH_RESULTS=${BENCH_RESULTS:-$(mktemp -d /tmp/vpngw-compare.XXXXXX)}
export BENCH_COMMAND="bench/compare.sh"
exec bash "$here/run.sh"
