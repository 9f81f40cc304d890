#!/usr/bin/env bash
# The main job: the demo. Installs what it needs (scripts/bootstrap.sh), then
# builds everything.
#
# Until the netns demo lab (labs/netns) lands, the demo builds the whole
# workspace in release mode, eBPF program included, and runs the agent's
# --help; README.md says so. Once the lab exists, this script brings it up.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

./scripts/bootstrap.sh
echo "demo: building the workspace (release), eBPF program included"
cargo build --release --locked --workspace
echo "demo: eBPF object: $(find target/release -name arp-snoop-ebpf -path '*/out/*' -printf '%s bytes\n' | head -n 1)"
echo
./target/release/static-vxlan-agent --help
