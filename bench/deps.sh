#!/usr/bin/env bash
# Installs the Debian packages `make bench` needs on top of scripts/deps.sh's
# list, if missing: the comparison tunnels (wireguard-go, OpenVPN), openssl
# for OpenVPN's run-time self-signed certificates, iperf3 and gnuplot
# for the plot, ethtool to switch segmentation offloads off for the
# 200 Mbit/s bottleneck runs.
set -euo pipefail
pkgs=(openvpn wireguard-go wireguard-tools openssl iperf3 gnuplot-nox
      ethtool iproute2 iputils-ping nftables procps)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "bench deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "bench deps: need root to install packages: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
