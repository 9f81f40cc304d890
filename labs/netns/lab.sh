#!/usr/bin/env bash
# The static-vxlan-agent demo lab, in Linux network namespaces (root only).
#
#   h1 10.0.0.101 ── static1 VTEP 1.1.1.1 ─┐                 ┌─ leaf1 VTEP 1.1.1.3 ── h3 10.0.0.103
#   02:00:00:00:01:01 (bridge + vxlan,     │                 │  FRR zebra+bgpd, route reflector
#                      static flood list)  ├──── spine ──────┤  agent 1.1.1.254 on leaf1's lo,
#   h2 10.0.0.102 ── static2 VTEP 1.1.1.2 ─┘  (IP router)    │  snooping leaf1's uplink
#   02:00:00:00:02:02                                        └─ leaf2 VTEP 1.1.1.4 ── h4 10.0.0.104
#                                                               FRR, RR client of leaf1
#   One service: VNI 16000000 (above 65535 on purpose), EVI 100, route target 65000:100, AS 65000.
#
# usage: lab.sh up | agent-config | agent-start | agent-stop | agent-kill | agent-reload | show
#              | frr-restart LEAF | frr-kill LEAF | frr-start LEAF | vtep-cut N | vtep-restore N
#              | down | demo [--keep]
#              | vtysh LEAF ARGS...
#   SVA_LAB      namespace prefix (default: sva), so several labs can coexist
#   AGENT_BIN    the agent binary (default: target/release/static-vxlan-agent)
#   FRR          the leaves' FRR release: 10.3 (default; a Debian 13 root), 8.4 (the host's
#                Debian 12 package) or 10.7 (a Debian unstable root). Roots come from
#                scripts/debian-root.sh (bootstrap.sh makes them); the lab keeps the release
#                it was brought up with until "down".
#   LIVENESS     the agent's liveness method for the static VTEPs (default icmp; none)
#   HOLD_DOWN    its hold-down in seconds (default 5)
#   vtep-cut N   takes static VTEP N's uplink down (a dead VTEP); vtep-restore N brings it back
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
P=${SVA_LAB:-sva}
W=/tmp/$P-lab
AGENT_BIN=${AGENT_BIN:-$repo/target/release/static-vxlan-agent}
VNI=16000000
NSS="spine static1 static2 leaf1 leaf2 h1 h2 h3 h4"
HTTP=127.0.0.1:8479
ROOTS=${SVA_ROOTS:-/var/cache/static-vxlan-agent/roots}

ns() { echo "$P-$1"; }
x() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
say() { printf 'lab: %s\n' "$*"; }

# The FRR release: the one the lab came up with, else $FRR.
FRR=$(cat "$W/frr-release" 2>/dev/null || echo "${FRR:-10.3}")
case $FRR in
8.4) FRR_ROOT= ;;
10.3) FRR_ROOT=$ROOTS/trixie ;;
10.7) FRR_ROOT=$ROOTS/sid ;;
*) say "FRR=$FRR: known releases are 8.4, 10.3 and 10.7"; exit 2 ;;
esac

# FRR from a root runs chrooted in the namespace: its libfrr needs the root's
# glibc. ip netns exec gives each command a private mount namespace, so the
# proc and sys mounts below live and die with the daemons they serve. FRR 10
# daemons find each other through a pathspace (-N): one per leaf.
in_frr() {
    local leaf=$1
    shift
    if [ -z "$FRR_ROOT" ]; then
        x "$leaf" "$@"
    else
        # shellcheck disable=SC2016
        ip netns exec "$(ns "$leaf")" sh -c 'mount -t proc proc "$0/proc" && mount --rbind /sys "$0/sys" && exec chroot "$0" "$@"' \
            "$FRR_ROOT" "$@"
    fi
}
vty() {
    local leaf=$1
    shift
    if [ -z "$FRR_ROOT" ]; then
        vtysh --vty_socket "$W/$leaf/run" "$@"
    else
        chroot "$FRR_ROOT" vtysh -N "$P-$leaf" "$@"
    fi
}
frr_version() {
    if [ -z "$FRR_ROOT" ]; then
        dpkg-query -W -f '${Version}' frr
    else
        awk '$1 == "frr" {print $2}' "$FRR_ROOT.packages"
    fi
}

# alive PID: the process still runs or holds what it had. A zombie whose
# threads have all exited does not: it has released its sockets, and whoever
# reaps orphans here (PID 1) may take a second or more. A zombie leader
# with a thread still exiting may yet hold them.
alive() {
    [ -e "/proc/$1" ] || return 1
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] && return 0
    [ "$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -gt 1 ]
}

any_alive() { local pid; for pid in "$@"; do alive "$pid" && return 0; done; return 1; }

# wait_until SECONDS CMD...: polls every 0.1 s.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

net_up() {
    for n in $NSS; do ip netns add "$(ns "$n")"; x "$n" ip link set lo up; done
    local i=1
    for node in static1 static2 leaf1 leaf2; do
        # node uplink 192.168.100.(4i-3)/30, spine side .(4i-2)/30
        ip link add up0 netns "$(ns "$node")" type veth peer name "sp-$node" netns "$(ns spine)"
        x "$node" ip addr add "192.168.100.$((4 * i - 3))/30" dev up0
        x spine ip addr add "192.168.100.$((4 * i - 2))/30" dev "sp-$node"
        x "$node" ip link set up0 up
        x spine ip link set "sp-$node" up
        x "$node" ip addr add "1.1.1.$i/32" dev lo
        x "$node" ip route add default via "192.168.100.$((4 * i - 2))" src "1.1.1.$i"
        x spine ip route add "1.1.1.$i/32" via "192.168.100.$((4 * i - 3))"
        i=$((i + 1))
    done
    x spine sysctl -qw net.ipv4.ip_forward=1
    # The agent's own address, on leaf1 (SR Linux: a loopback of the default network-instance),
    # reachable from the static VTEPs: the agent's ICMP probes come from it.
    x leaf1 ip addr add 1.1.1.254/32 dev lo
    x spine ip route add 1.1.1.254/32 via 192.168.100.9

    # Static VTEPs: classic Linux static VXLAN with data-plane learning and a flood list.
    for s in 1 2; do
        x "static$s" ip link add br0 type bridge
        x "static$s" ip link add vxlan0 type vxlan id $VNI local "1.1.1.$s" dstport 4789
        x "static$s" ip link set vxlan0 master br0
        for other in 1 2 3 4; do
            [ "$other" = "$s" ] && continue
            x "static$s" bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst "1.1.1.$other"
        done
    done
    # EVPN leaves: no data-plane learning on the vxlan port; FRR programs it.
    for l in 3 4; do
        local leaf=leaf$((l - 2))
        x "$leaf" ip link add br0 type bridge
        x "$leaf" ip link add vxlan0 type vxlan id $VNI local "1.1.1.$l" dstport 4789 nolearning
        x "$leaf" ip link set vxlan0 master br0
        x "$leaf" ip link set vxlan0 type bridge_slave learning off
    done
    # Hosts.
    for h in 1 2 3 4; do
        local vtep
        case $h in 1) vtep=static1 ;; 2) vtep=static2 ;; 3) vtep=leaf1 ;; 4) vtep=leaf2 ;; esac
        ip link add eth0 netns "$(ns "h$h")" type veth peer name "h$h" netns "$(ns $vtep)"
        x "h$h" ip link set eth0 address "02:00:00:00:0$h:0$h"
        x "h$h" ip addr add "10.0.0.10$h/24" dev eth0
        x "h$h" ip link set eth0 up
        x "$vtep" ip link set "h$h" master br0
        x "$vtep" ip link set "h$h" up
    done
    for node in static1 static2 leaf1 leaf2; do
        x "$node" ip link set br0 up
        x "$node" ip link set vxlan0 up
    done
}

# frr_dirs LEAF: the leaf's directory, inside the FRR root when there is one
# ($W/LEAF is then a link to it), and its run directory (sockets, pid files).
frr_dirs() {
    local leaf=$1
    if [ -z "$FRR_ROOT" ]; then
        mkdir -p "$W/$leaf/run"
    else
        # An empty vtysh.conf for the pathspace, or vtysh complains at every call.
        mkdir -p "$FRR_ROOT$W/$leaf" "$FRR_ROOT/run/frr/$P-$leaf" "$FRR_ROOT/etc/frr/$P-$leaf"
        : >"$FRR_ROOT/etc/frr/$P-$leaf/vtysh.conf"
        ln -sfn "$FRR_ROOT$W/$leaf" "$W/$leaf"
        ln -sfn "$FRR_ROOT/run/frr/$P-$leaf" "$W/$leaf/run"
    fi
}

# frr_start LEAF: zebra and bgpd (FRR 10: mgmtd, zebra, then bgpd and the
# configuration through vtysh, since zebra's goes through mgmtd).
frr_start() {
    local leaf=$1
    if [ -z "$FRR_ROOT" ]; then
        chown -R frr:frr "$W/$leaf"
        x "$leaf" /usr/lib/frr/zebra -d -f "$W/$leaf/zebra.conf" -i "$W/$leaf/run/zebra.pid" \
            -z "$W/$leaf/run/zserv.api" --vty_socket "$W/$leaf/run"
    else
        # The daemons open their log as root before dropping to frr: create it
        # as frr first, or it ends up root's and they cannot reopen it.
        touch "$W/$leaf/frr.log"
        chroot "$FRR_ROOT" chown -R frr:frr "$W/$leaf/" "/run/frr/$P-$leaf"
        # What a daemon prints before it detaches goes to start.log.
        in_frr "$leaf" /usr/lib/frr/mgmtd -d -N "$P-$leaf" -P 0 --log "file:$W/$leaf/frr.log" >>"$W/$leaf/start.log" 2>&1
        in_frr "$leaf" /usr/lib/frr/zebra -d -N "$P-$leaf" -P 0 --log "file:$W/$leaf/frr.log" >>"$W/$leaf/start.log" 2>&1
    fi
    bgpd_start "$leaf" || { say "bgpd on $leaf did not start"; return 1; }
}

# bgpd_run LEAF: starts bgpd alone. FRR 10's bgpd listens on the leaf's own
# address only: once zebra reports the agent's 1.1.1.254 as local, a bgpd on
# 0.0.0.0 refuses it as a neighbor ("the local system").
bgpd_run() {
    local leaf=$1
    if [ -z "$FRR_ROOT" ]; then
        x "$leaf" /usr/lib/frr/bgpd -d -f "$W/$leaf/bgpd.conf" -i "$W/$leaf/run/bgpd.pid" \
            -z "$W/$leaf/run/zserv.api" --vty_socket "$W/$leaf/run"
    else
        local address
        address=$(awk '/bgp router-id/ {print $3}' "$W/$leaf/bgpd.conf")
        in_frr "$leaf" /usr/lib/frr/bgpd -d -N "$P-$leaf" -P 0 -l "$address" --log "file:$W/$leaf/frr.log" >>"$W/$leaf/start.log" 2>&1
    fi
}

frr_up() {
    echo "$FRR" >"$W/frr-release"
    for l in 3 4; do
        local leaf=leaf$((l - 2)) neighbors
        frr_dirs "$leaf"
        cat >"$W/$leaf/zebra.conf" <<EOF
hostname $leaf
log file $W/$leaf/frr.log informational
ip nht resolve-via-default
EOF
        if [ "$leaf" = leaf1 ]; then
            neighbors=" neighbor 1.1.1.4 remote-as 65000
 neighbor 1.1.1.4 update-source 1.1.1.3
 neighbor 1.1.1.4 timers connect 1
 neighbor 1.1.1.254 remote-as 65000
 neighbor 1.1.1.254 update-source 1.1.1.3
 neighbor 1.1.1.254 passive
 address-family l2vpn evpn
  neighbor 1.1.1.4 activate
  neighbor 1.1.1.4 route-reflector-client
  neighbor 1.1.1.254 activate
  neighbor 1.1.1.254 route-reflector-client"
        else
            neighbors=" neighbor 1.1.1.3 remote-as 65000
 neighbor 1.1.1.3 update-source 1.1.1.4
 neighbor 1.1.1.3 timers connect 1
 address-family l2vpn evpn
  neighbor 1.1.1.3 activate"
        fi
        cat >"$W/$leaf/bgpd.conf" <<EOF
hostname $leaf
log file $W/$leaf/frr.log informational
router bgp 65000
 bgp router-id 1.1.1.$l
 no bgp default ipv4-unicast
 timers bgp 3 9
$neighbors
  advertise-all-vni
  vni $VNI
   rd 1.1.1.$l:100
   route-target import 65000:100
   route-target export 65000:100
  exit-vni
 exit-address-family
EOF
        # FRR 10 takes one file through vtysh; its logging is on the command line.
        grep -hv '^log file' "$W/$leaf/zebra.conf" "$W/$leaf/bgpd.conf" >"$W/$leaf/frr.conf"
        frr_start "$leaf"
    done
    for leaf in leaf1 leaf2; do
        wait_until 15 vty "$leaf" -c "show evpn vni $VNI json" || { say "FRR on $leaf did not come up"; return 1; }
    done
    wait_until 20 leaves_peered || { say "leaf1 and leaf2 did not peer"; return 1; }
}

leaves_peered() {
    local out
    out=$(vty leaf2 -c 'show bgp l2vpn evpn summary json')
    grep -q '"state":"Established"' <<<"$out"
}

up() {
    [ "$(id -u)" -eq 0 ] || { say "must run as root"; exit 1; }
    down 2>/dev/null || true
    if [ -n "$FRR_ROOT" ] && [ ! -x "$FRR_ROOT/usr/lib/frr/bgpd" ]; then
        say "FRR $FRR needs the Debian root $FRR_ROOT: run scripts/bootstrap.sh"
        exit 1
    fi
    mkdir -p "$W"
    net_up
    frr_up
    say "up: 4 VTEPs, 4 hosts, FRR $(frr_version) on leaf1 and leaf2 (namespaces $P-*)"
}

agent_config() {
    cat >"$W/agent.yaml" <<EOF
# The agent in leaf1's namespace: its own address 1.1.1.254, peering with
# leaf1's bgpd (route reflector), snooping leaf1's uplink.
source-address: 1.1.1.254
peer-address: 1.1.1.3
local-as: 65000
hold-time: 9
# Kept across agent restarts (the kill-and-restart e2e test relies on it).
state-file: $W/learned-table.json
learning-interfaces: [up0]
mac-aging-secs: ${AGING:-300}
# A static VTEP that stops answering pings for 0.9 s has its routes withdrawn.
liveness:
  method: ${LIVENESS:-icmp}
  hold-down-secs: ${HOLD_DOWN:-5}
mac-vrfs:
  blue:
    evi: 100
    vni: $VNI
    static-vteps:
      1.1.1.1:
        static-macs: ["02:00:00:00:0f:0f"]
      1.1.1.2: {}
EOF
}

agent_start() {
    [ -f "$W/agent.yaml" ] || agent_config
    # Not through x(): a backgrounded function runs in a subshell, and $!
    # would be that subshell, not the agent. ip netns exec execs in place.
    ip netns exec "$(ns leaf1)" "$AGENT_BIN" run --config "$W/agent.yaml" --http "$HTTP" >>"$W/agent.log" 2>&1 &
    echo $! >"$W/agent.pid"
    wait_until 10 x leaf1 "$AGENT_BIN" show --http "$HTTP" --json || { say "the agent did not start"; tail -20 "$W/agent.log"; return 1; }
    say "agent started (pid $(cat "$W/agent.pid")), log $W/agent.log"
}

agent_stop() {
    local signal=${1:-TERM}
    [ -f "$W/agent.pid" ] || return 0
    local pid
    pid=$(cat "$W/agent.pid")
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 500); do alive "$pid" || break; sleep 0.01; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$W/agent.pid"
}

show() {
    x leaf1 "$AGENT_BIN" show --http "$HTTP"
    echo
    echo "leaf2 (FRR) sees these MACs in VNI $VNI:"
    vty leaf2 -c "show evpn mac vni $VNI"
    echo "leaf2 floods BUM traffic to:"
    x leaf2 bridge fdb show dev vxlan0 | grep 00:00:00:00:00:00 || true
}

down() {
    agent_stop TERM
    # Whatever else still runs with this lab's config (a crashed test, say).
    pkill -KILL -f -- "--config $W/agent.yaml" 2>/dev/null || true
    local pids=()
    for leaf in leaf1 leaf2; do
        for daemon in bgpd zebra mgmtd; do
            local f="$W/$leaf/run/$daemon.pid"
            [ -f "$f" ] && pids+=("$(cat "$f")")
        done
    done
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 1 30); do any_alive "${pids[@]}" || break; sleep 0.1; done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    for n in $NSS; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
    if [ -n "$FRR_ROOT" ]; then
        rm -rf "${FRR_ROOT:?}$W" "$FRR_ROOT/run/frr/$P-leaf"[12] "$FRR_ROOT/etc/frr/$P-leaf"[12]
    fi
    rm -rf "$W"
}

# bgpd_start LEAF: starts bgpd with its configuration and waits for its vty.
bgpd_start() {
    local leaf=$1
    bgpd_run "$leaf"
    wait_until 10 vty "$leaf" -d bgpd -c 'show bgp summary' || return 1
    # FRR 10: bgpd starts empty; the configuration comes through vtysh (zebra's
    # part again too, which changes nothing there).
    if [ -n "$FRR_ROOT" ]; then
        vty "$leaf" -f "$W/$leaf/frr.conf" >>"$W/$leaf/vtysh.log" 2>&1
    fi
}

# bgpd_stop LEAF SIGNAL: signals bgpd and waits until it is gone.
bgpd_stop() {
    local leaf=$1 pid
    pid=$(cat "$W/$leaf/run/bgpd.pid")
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 1000); do alive "$pid" || break; sleep 0.01; done
}

frr_restart() {
    bgpd_stop "$1" TERM
    bgpd_start "$1"
}

agent_reload() { kill -HUP "$(cat "$W/agent.pid")"; }

# vtep_cut N / vtep_restore N: static VTEP N (1 or 2) loses its uplink, or
# gets it back with its routes (a link going down takes them with it).
vtep_cut() { x "static$1" ip link set up0 down; }
vtep_restore() {
    local i=$1
    x "static$i" ip link set up0 up
    x "static$i" ip route replace default via "192.168.100.$((4 * i - 2))" src "1.1.1.$i"
    x spine ip route replace "1.1.1.$i/32" via "192.168.100.$((4 * i - 3))"
}

# converged: the agent's snooper counters account for every MAC it learned
# (they are read from the kernel every 2 s), and leaf2 holds every MAC the
# agent advertises, behind the right VTEP. What "show" prints is then the
# settled state, not a moment in between.
converged() {
    local agent leaf2
    agent=$(x leaf1 "$AGENT_BIN" show --http "$HTTP" --json) || return 1
    leaf2=$(vty leaf2 -c "show evpn mac vni $VNI json") || return 1
    AGENT_STATE=$agent LEAF2_MACS=$leaf2 python3 - <<'PY'
import json, os, sys
state = json.loads(os.environ["AGENT_STATE"])
remote = json.loads(os.environ["LEAF2_MACS"]).get("macs", {})
macs = state["proxy"]["mac-vrfs"]["blue"]["macs"]
learned = sum(1 for m in macs.values() if m["source"] == "learned")
matched = sum(i.get("matched", 0) for i in state["snooper"]["interfaces"].values())
active = {mac: m["vtep"] for mac, m in macs.items() if m.get("status") == "active"}
ok = learned > 0 and matched >= learned and all(remote.get(mac, {}).get("remoteVtep") == vtep for mac, vtep in active.items())
sys.exit(0 if ok else 1)
PY
}

ping_ok() { x "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }

# retry_ping FROM TO: up to 10 tries (the first ARP teaches the agent).
retry_ping() {
    for _ in $(seq 1 10); do ping_ok "$1" "$2" && return 0; sleep 0.3; done
    return 1
}

demo() {
    local keep=${1:-}
    if [ "$keep" != --keep ]; then
        # Tear down however the demo ends: bash runs the EXIT trap on a
        # signal only if the signal is trapped (e.g. SIGPIPE from "| head").
        trap 'down || true' EXIT
        trap 'exit 130' INT TERM HUP PIPE
    fi
    up
    echo
    say "1. Without the agent, h1 (static VTEP) cannot reach h3 (EVPN leaf):"
    if ping_ok h1 10.0.0.103 || ping_ok h1 10.0.0.103; then say "   h1 -> h3 works (unexpected)"; else say "   h1 -> h3 fails, as expected: leaf1 does not know h1's VTEP"; fi
    echo
    say "2. Start the agent in leaf1's namespace:"
    agent_start
    echo
    say "3. The same pings now:"
    for pair in "h1 10.0.0.103" "h3 10.0.0.101" "h1 10.0.0.104" "h4 10.0.0.101" "h2 10.0.0.103"; do
        # shellcheck disable=SC2086
        if retry_ping $pair; then say "   ping ${pair/ / -> }: ok"; else say "   ping ${pair/ / -> }: FAILED"; fi
    done
    echo
    say "4. What the agent learned and advertised, and what the EVPN leaves installed:"
    wait_until 15 converged || say "   (not settled after 15 s: the tables below may still change)"
    show
    echo
    if [ "$keep" = --keep ]; then
        say "the lab keeps running. Try: ip netns exec $P-h1 ping 10.0.0.104"
        say "  state: ip netns exec $P-leaf1 $AGENT_BIN show --http $HTTP"
        say "  tear down: $here/lab.sh down"
    fi
}

case "${1:-demo}" in
up) up ;;
agent-start) agent_start ;;
agent-stop) agent_stop TERM ;;
agent-kill) agent_stop KILL ;;
agent-config) agent_config ;;
agent-reload) agent_reload ;;
frr-restart) frr_restart "${2:-leaf1}" ;;
frr-kill) bgpd_stop "${2:-leaf1}" KILL ;;
frr-start) bgpd_start "${2:-leaf1}" ;;
vtysh)
    shift
    leaf=${1:?usage: lab.sh vtysh LEAF ARGS...}
    shift
    vty "$leaf" "$@"
    ;;
vtep-cut) vtep_cut "${2:?static VTEP number}" ;;
vtep-restore) vtep_restore "${2:?static VTEP number}" ;;
show) show ;;
down) down ;;
demo) demo "${2:-}" ;;
help | -h | --help) sed -n '12,24p' "$0" ;;
*) echo "usage: $0 up|agent-config|agent-start|agent-stop|agent-kill|agent-reload|show|frr-restart LEAF|frr-kill LEAF|frr-start LEAF|vtep-cut N|vtep-restore N|vtysh LEAF ARGS...|down|demo [--keep]"; exit 2 ;;
esac
