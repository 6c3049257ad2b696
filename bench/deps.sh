#!/usr/bin/env bash
# The Debian packages `make bench` needs on top of the build and test ones:
# the comparison tunnels (wireguard-go, OpenVPN), openssl for OpenVPN's
# run-time self-signed certificates, gnuplot for the plot, ethtool to switch
# segmentation offloads off for the 200 Mbit/s bottleneck runs.
set -euo pipefail
exec "$(dirname "$0")/../scripts/deps.sh" openvpn wireguard-go wireguard-tools openssl gnuplot-nox ethtool procps
