#!/usr/bin/env bash
# The main job: the netns demo lab. Installs what it needs
# (scripts/bootstrap.sh --demo), builds the agent (eBPF program included),
# brings up static VTEPs, FRR EVPN leaves and a spine in network namespaces,
# starts the agent, shows which pings now work and, once the state has
# settled, what it learned and what the leaves installed, and tears it all
# down.
#
#   demo.sh [--keep] [--frr 10.3|8.4|10.7]
#   --keep   the lab keeps running; it prints how to tear it down
#   --frr    the leaves' FRR release: 10.3 (default; Debian 13, run from a
#            Debian root that bootstrap makes once), 8.4 (the host's Debian 12
#            package) or 10.7 (Debian unstable; bootstrap.sh makes that root)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces, eBPF, FRR)"; exit 1; }

keep=
frr=10.3
while [ $# -gt 0 ]; do
    case $1 in
    --keep) keep=--keep ;;
    --frr) frr=${2:?--frr needs a release: 10.3, 8.4 or 10.7}; shift ;;
    *) echo "usage: demo.sh [--keep] [--frr 10.3|8.4|10.7]"; exit 2 ;;
    esac
    shift
done

./scripts/bootstrap.sh --demo
# The Debian 13 root (a download) is made while the agent builds (CPU).
root_job=
if [ "$frr" = 10.3 ]; then
    ./scripts/debian-root.sh trixie usr/bin/gobgpd frr gobgpd &
    root_job=$!
elif [ "$frr" = 10.7 ]; then
    ./scripts/debian-root.sh sid usr/lib/frr/bgpd frr &
    root_job=$!
fi
echo "demo: building the agent (release)"
cargo build --release --locked -p static-vxlan-agent
if [ -n "$root_job" ]; then
    wait "$root_job" || { echo "demo: the Debian root for FRR $frr could not be made; try --frr 8.4"; exit 1; }
fi
FRR=$frr AGENT_BIN="$repo/target/release/static-vxlan-agent" exec ./labs/netns/lab.sh demo $keep
