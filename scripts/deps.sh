#!/usr/bin/env bash
# Installs the Debian packages vpngw builds and tests with, if missing, plus
# any extra packages named as arguments (bench/deps.sh passes its own).
set -euo pipefail
pkgs=(build-essential pkg-config libsodium-dev libipsec-mb-dev libssl-dev libnftables-dev libmnl-dev libcmocka-dev
      iproute2 iputils-ping iperf3 nftables tcpdump ethtool dnsutils dnsmasq-base python3-dissononce python3-cryptography
      python3-scapy
      clang libclang-rt-dev llvm valgrind man-db "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install packages: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
