#!/usr/bin/env bash
# Regenerates ebpf-arp-snoop/common/tests/fixtures/*.pcap: real Linux VXLAN
# traffic between two network namespaces, captured on the "leaf" uplink.
# Root only. The namespaces are removed on exit, even on failure.
#
#   ns A (static VTEP) underlay 192.0.2.1, 2001:db8::1 ══ veth ══ ns L (leaf) 192.0.2.2, 2001:db8::2
#   vx0: VNI 10100 over IPv4, overlay 10.10.0.x and 2001:db8:10::x, MACs 02:00:00:00:0a:0x
#   vx6: VNI 20200 over IPv6, overlay 10.20.0.x, MACs 02:00:00:00:14:0x
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/ebpf-arp-snoop/common/tests/fixtures"
mkdir -p "$out"
A="sva-capa$$"
L="sva-capl$$"
tcpdump_pid=""
cleanup() {
    [ -n "$tcpdump_pid" ] && kill "$tcpdump_pid" 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$L" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$L"
ip link add up0 netns "$L" type veth peer name dn0 netns "$A"
for ns_if_n in "$A dn0 1" "$L up0 2"; do
    read -r ns ifname n <<<"$ns_if_n"
    x="ip netns exec $ns"
    $x ip link set lo up
    $x ip addr add "192.0.2.$n/24" dev "$ifname"
    $x ip -6 addr add "2001:db8::$n/64" dev "$ifname" nodad
    $x ip link set "$ifname" up
    other=$((3 - n))
    $x ip link add vx0 type vxlan id 10100 local "192.0.2.$n" remote "192.0.2.$other" dstport 4789
    $x ip link add vx6 type vxlan id 20200 local "2001:db8::$n" remote "2001:db8::$other" dstport 4789
    $x ip link set vx0 addrgenmode none
    $x ip link set vx6 addrgenmode none
    $x ip link set vx0 address "02:00:00:00:0a:0$n" up
    $x ip link set vx6 address "02:00:00:00:14:0$n" up
    $x ip addr add "10.10.0.$n/24" dev vx0
    $x ip -6 addr add "2001:db8:10::$n/64" dev vx0 nodad
    $x ip addr add "10.20.0.$n/24" dev vx6
done
A_X="ip netns exec $A"
L_X="ip netns exec $L"

# capture NAME COMMAND...: runs COMMAND in ns A while capturing on the leaf uplink.
capture() {
    local name=$1
    shift
    $L_X tcpdump -i up0 -U -w "$out/$name.pcap" >/dev/null 2>&1 &
    tcpdump_pid=$!
    sleep 1
    $A_X "$@" >/dev/null 2>&1 || true
    sleep 1
    kill "$tcpdump_pid"
    wait "$tcpdump_pid" 2>/dev/null || true
    tcpdump_pid=""
    for ns in "$A" "$L"; do ip netns exec "$ns" ip neigh flush all nud all; done
    echo "captured $name.pcap: $(stat -c %s "$out/$name.pcap") bytes"
}

capture arp-request-reply ping -c 1 -W 2 10.10.0.2
capture arp-gratuitous arping -U -c 1 -I vx0 10.10.0.1
capture arp-probe arping -D -c 1 -I vx0 10.10.0.2
capture nd-ns-na ping -6 -c 1 -W 2 2001:db8:10::2
capture nd-dad ip -6 addr add 2001:db8:10::99/64 dev vx0
capture ipv6-underlay-arp ping -c 1 -W 2 10.20.0.2
# Neighbors pinned: only ICMP crosses VXLAN, and plain ping on the underlay.
$A_X ip neigh replace 10.10.0.2 lladdr 02:00:00:00:0a:02 dev vx0 nud permanent
$L_X ip neigh replace 10.10.0.1 lladdr 02:00:00:00:0a:01 dev vx0 nud permanent
capture icmp-only sh -c 'ping -c 2 -i 0.2 -W 2 10.10.0.2; ping -c 1 -W 2 192.0.2.2'
