#!/usr/bin/env bash
# The main job: the netns demo lab. Installs what it needs
# (scripts/bootstrap.sh), builds the agent (eBPF program included), brings up
# static VTEPs, FRR EVPN leaves and a spine in network namespaces, starts the
# agent, shows what it learned and which pings now work, and tears it all
# down. With --keep the lab keeps running and it prints how to tear it down.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces, eBPF, FRR)"; exit 1; }

./scripts/bootstrap.sh
echo "demo: building the agent (release)"
cargo build --release --locked -p static-vxlan-agent
AGENT_BIN="$repo/target/release/static-vxlan-agent" exec ./labs/netns/lab.sh demo "${1:-}"
