#!/usr/bin/env python3
"""Learning latency in the netns demo lab: from an ARP frame on the static
VTEP's uplink to the MAC in the EVPN leaves' FDB.

Brings up its own copy of labs/netns (namespace prefix "svalat"), starts the
agent, then repeatedly has h1 send a gratuitous ARP from a MAC and IP never
seen before, so every round is a fresh learn: snoop -> proxy core -> RT-2 ->
leaf1's bgpd (the route reflector) -> zebra -> leaf1's FDB, and reflected on
to leaf2's bgpd -> zebra -> leaf2's FDB.

The start is the kernel timestamp of the first VXLAN copy of the frame
leaving static1's uplink (tcpdump -tt); the end is the netlink timestamp of
the FDB entry appearing on each leaf (bridge -timestamp monitor fdb). Both
are the same machine's realtime clock. The agent's own share is split out:
the time its UPDATE carrying the MAC leaves for leaf1's bgpd (tcpdump -x on
leaf1's loopback). Prints p50/p90/p99/max in milliseconds.

usage: sudo scripts/measure-learn-latency.py [ROUNDS]   (default 200)
Needs the release agent binary (scripts/demo.sh builds it) and root.
"""

import math
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, "labs", "netns", "lab.sh")
PREFIX = "svalat"
AGENT_BIN = os.environ.get(
    "AGENT_BIN", os.path.join(REPO, "target", "release", "static-vxlan-agent")
)
STATIC_MAC = "02:00:00:00:0f:0f"  # configured in the lab's agent.yaml
ROUND_TIMEOUT = 5.0

BGP_MAC_RE = re.compile(r"025a0000[0-9a-f]{4}")
MAC_RE = re.compile(r"\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b")

# Runs inside h1's namespace: reads "MAC IP" lines and sends one broadcast
# gratuitous ARP request per line from that MAC and IP.
SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for line in sys.stdin:
    mac, ip = line.split()
    m = bytes.fromhex(mac.replace(":", ""))
    a = socket.inet_aton(ip)
    frame = (b"\xff" * 6 + m + b"\x08\x06"
             + b"\x00\x01\x08\x00\x06\x04\x00\x01" + m + a + b"\x00" * 6 + a)
    s.send(frame)
"""


def ns(node):
    return f"{PREFIX}-{node}"


def lab(*args):
    env = dict(os.environ, SVA_LAB=PREFIX, AGENT_BIN=AGENT_BIN)
    subprocess.run([LAB, *args], check=True, env=env, stdout=subprocess.DEVNULL)


def fdb_has(leaf, mac):
    out = subprocess.run(
        ["ip", "netns", "exec", ns(leaf), "bridge", "fdb", "show", "dev", "vxlan0"],
        capture_output=True, text=True, check=False,
    ).stdout
    return mac in out


class FirstSeen:
    """Records, per MAC, the first timestamp a watcher reported it."""

    def __init__(self):
        self.times = {}
        self.cond = threading.Condition()

    def record(self, mac, stamp):
        with self.cond:
            if mac not in self.times:
                self.times[mac] = stamp
                self.cond.notify_all()

    def wait(self, mac, deadline):
        with self.cond:
            while mac not in self.times:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.times[mac]


def watch_uplink(proc, seen):
    # tcpdump prints the outer packet, ending in "vni 16000000", on one line
    # and the inner frame on the next: "02:5a:..:.. > ff:ff:ff:ff:ff:ff,
    # ethertype ARP ...". The outer line carries the timestamp.
    stamp = None
    for line in proc.stdout:
        if "vni" in line:
            stamp = float(line.split(" ", 1)[0])
            continue
        if stamp is not None and "ethertype ARP" in line:
            inner = MAC_RE.match(line)
            if inner:
                seen.record(inner.group(1), stamp)
        stamp = None


def watch_bgp(proc, seen):
    # tcpdump -x: a header line with the timestamp, then "\t0x0000:  4500 ..."
    # hex lines. Every measured MAC starts 02:5a:00:00, so an UPDATE that
    # advertises one holds "025a0000" + 4 hex digits at a byte boundary.
    stamp, payload = None, []

    def flush():
        if stamp is None:
            return
        data = "".join(payload)
        for found in BGP_MAC_RE.finditer(data):
            if found.start() % 2 == 0:
                mac = ":".join(found.group(0)[i:i + 2] for i in range(0, 12, 2))
                seen.record(mac, stamp)

    for line in proc.stdout:
        if line.startswith("\t0x"):
            payload.append("".join(line.split(":", 1)[1].split()))
            continue
        flush()
        stamp, payload = None, []
        if line[:1].isdigit():
            stamp = float(line.split(" ", 1)[0])
    flush()


def watch_fdb(proc, seen):
    # "Timestamp: Sat Nov 21 06:58:39 2026 713314 usec" then the entry.
    stamp = None
    for line in proc.stdout:
        if line.startswith("Timestamp:"):
            parts = line.split()
            when = datetime.strptime(" ".join(parts[1:6]), "%a %b %d %H:%M:%S %Y")
            stamp = time.mktime(when.timetuple()) + int(parts[6]) / 1e6
            continue
        if stamp is None or line.startswith("Deleted") or "vxlan0" not in line:
            continue
        found = MAC_RE.match(line)
        if found:
            seen.record(found.group(1), stamp)


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with p% of all at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    if os.geteuid() != 0:
        sys.exit("measure-learn-latency: run as root (network namespaces, eBPF, FRR)")
    if not os.access(AGENT_BIN, os.X_OK):
        sys.exit(f"measure-learn-latency: no agent binary at {AGENT_BIN} "
                 "(cargo build --release -p static-vxlan-agent)")
    os.environ.setdefault("TZ", "UTC")
    time.tzset()
    procs = []
    try:
        lab("up")
        # Aging far longer than the run: no withdrawals while measuring.
        os.environ["AGING"] = "3600"
        lab("agent-config")
        lab("agent-start")
        deadline = time.monotonic() + 60
        while not (fdb_has("leaf1", STATIC_MAC) and fdb_has("leaf2", STATIC_MAC)):
            if time.monotonic() > deadline:
                sys.exit("measure-learn-latency: the agent's routes never reached the leaves")
            time.sleep(0.2)

        uplink, update, leaf1, leaf2 = FirstSeen(), FirstSeen(), FirstSeen(), FirstSeen()
        watchers = [
            (["tcpdump", "-i", "up0", "-Q", "out", "-tt", "-l", "-n", "-e",
              "udp", "port", "4789"], "static1", watch_uplink, uplink),
            # The agent's UPDATEs to leaf1's bgpd, both on leaf1's loopback.
            (["tcpdump", "-i", "lo", "-tt", "-l", "-n", "-x",
              "tcp", "and", "src", "host", "1.1.1.254"], "leaf1", watch_bgp, update),
            (["bridge", "-timestamp", "monitor", "fdb"], "leaf1", watch_fdb, leaf1),
            (["bridge", "-timestamp", "monitor", "fdb"], "leaf2", watch_fdb, leaf2),
        ]
        for cmd, node, fn, seen in watchers:
            # stdbuf: line-buffered even into a pipe, so rounds finish promptly.
            p = subprocess.Popen(["ip", "netns", "exec", ns(node), "stdbuf", "-oL", *cmd],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, bufsize=1)
            procs.append(p)
            threading.Thread(target=fn, args=(p, seen), daemon=True).start()
        sender = subprocess.Popen(["ip", "netns", "exec", ns("h1"), sys.executable, "-c", SENDER],
                                  stdin=subprocess.PIPE, text=True, bufsize=1)
        procs.append(sender)
        time.sleep(1.0)  # tcpdump and the monitors are listening

        lat = {"agent UPDATE sent": [], "leaf1 FDB": [], "leaf2 FDB": []}
        lost = 0
        for i in range(rounds):
            mac = f"02:5a:00:00:{i >> 8:02x}:{i & 0xff:02x}"
            ip = f"10.1.{i // 250}.{i % 250 + 1}"
            sender.stdin.write(f"{mac} {ip}\n")
            sender.stdin.flush()
            end = time.monotonic() + ROUND_TIMEOUT
            start = uplink.wait(mac, end)
            t0 = update.wait(mac, end)
            t1, t2 = leaf1.wait(mac, end), leaf2.wait(mac, end)
            if None in (start, t0, t1, t2):
                lost += 1
                continue
            lat["agent UPDATE sent"].append((t0 - start) * 1000)
            lat["leaf1 FDB"].append((t1 - start) * 1000)
            lat["leaf2 FDB"].append((t2 - start) * 1000)
            time.sleep(0.02)

        print(f"learn latency over {rounds} fresh MACs ({lost} not seen within {ROUND_TIMEOUT:.0f} s), ms:")
        print("| from ARP on static1's uplink to | p50 | p90 | p99 | max |")
        print("|---|---|---|---|---|")
        for leaf, values in lat.items():
            if not values:
                continue
            row = [percentile(values, 50), percentile(values, 90),
                   percentile(values, 99), max(values)]
            print(f"| {leaf} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
        return 1 if lost else 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run([LAB, "down"], env=dict(os.environ, SVA_LAB=PREFIX),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    sys.exit(main())
