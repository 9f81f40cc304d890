#!/usr/bin/env python3
"""Learning latency and MAC-move convergence in the netns demo lab: from an
ARP frame on the static VTEP's uplink to the MAC in the EVPN leaves' FDB.

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

move: each round first learns a fresh MAC behind static1 (h1) and waits
until both leaves point it at 1.1.1.1; then h2 sends the same MAC's
gratuitous ARP behind static2. The clock starts at that frame on static2's
uplink and stops at the agent's UPDATE for the move (MAC mobility sequence
1) and at each leaf's FDB entry pointing at 1.1.1.2.

usage: sudo bench/run.sh lab_latency [learn|move] [ROUNDS]   (default learn 200)
Needs the release agent binary (scripts/demo.sh builds it) and root.
Writes bench/results/lab-latency-MODE.json and docs/img/lab-latency-MODE.png.
"""

import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

REPO = b.REPO
LAB = os.path.join(REPO, "labs", "netns", "lab.sh")
PREFIX = "svalat"
AGENT_BIN = os.environ.get(
    "AGENT_BIN", os.path.join(REPO, "target", "release", "static-vxlan-agent")
)
STATIC_MAC = "02:00:00:00:0f:0f"  # configured in the lab's agent.yaml
ROUND_TIMEOUT = 5.0

BGP_MAC_RE = re.compile(r"025a0000[0-9a-f]{4}")
MAC_RE = re.compile(r"\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b")
DST_RE = re.compile(r"\bdst (\S+)")

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
    # FRR 8.4 leaves unless FRR says otherwise (what docs/BENCHMARKS.md records).
    env = dict(os.environ, SVA_LAB=PREFIX, AGENT_BIN=AGENT_BIN)
    env.setdefault("FRR", "8.4")
    subprocess.run([LAB, *args], check=True, env=env, stdout=subprocess.DEVNULL)


def fdb_has(leaf, mac):
    out = subprocess.run(
        ["ip", "netns", "exec", ns(leaf), "bridge", "fdb", "show", "dev", "vxlan0"],
        capture_output=True, text=True, check=False,
    ).stdout
    return mac in out


class Seen:
    """Every timestamp a watcher reported, per key (a MAC, or a MAC and
    where it points)."""

    def __init__(self):
        self.times = {}
        self.cond = threading.Condition()

    def record(self, key, stamp):
        with self.cond:
            self.times.setdefault(key, []).append(stamp)
            self.cond.notify_all()

    def wait(self, key, deadline, after=0.0):
        """The first time `key` was seen at or after `after`."""
        with self.cond:
            while True:
                found = [t for t in self.times.get(key, []) if t >= after]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


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
        dst = DST_RE.search(line)
        if found:
            seen.record(found.group(1), stamp)
            if dst:
                seen.record((found.group(1), dst.group(1)), stamp)


def summary(values):
    return {"p50": b.percentile(values, 50), "p90": b.percentile(values, 90),
            "p99": b.percentile(values, 99), "max": max(values), "count": len(values)}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "learn"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if mode not in ("learn", "move"):
        sys.exit("usage: lab_latency.py [learn|move] [ROUNDS]")
    if os.geteuid() != 0:
        sys.exit("lab_latency: run as root (network namespaces, eBPF, FRR)")
    if not os.access(AGENT_BIN, os.X_OK):
        sys.exit(f"lab_latency: no agent binary at {AGENT_BIN} "
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
                sys.exit("lab_latency: the agent's routes never reached the leaves")
            time.sleep(0.2)

        uplink1, uplink2, update, leaf1, leaf2 = Seen(), Seen(), Seen(), Seen(), Seen()
        capture = ["tcpdump", "-i", "up0", "-Q", "out", "-tt", "-l", "-n", "-e", "udp", "port", "4789"]
        watchers = [
            (capture, "static1", watch_uplink, uplink1),
            (capture, "static2", watch_uplink, uplink2),
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
        senders = {}
        for host in ("h1", "h2"):
            senders[host] = subprocess.Popen(["ip", "netns", "exec", ns(host), sys.executable, "-c", SENDER],
                                             stdin=subprocess.PIPE, text=True, bufsize=1)
            procs.append(senders[host])
        time.sleep(1.0)  # tcpdump and the monitors are listening

        def send(host, mac, ip):
            senders[host].stdin.write(f"{mac} {ip}\n")
            senders[host].stdin.flush()

        lat = {"agent UPDATE sent": [], "leaf1 FDB": [], "leaf2 FDB": []}
        lost = 0
        for i in range(rounds):
            mac = f"02:5a:00:00:{i >> 8:02x}:{i & 0xff:02x}"
            ip = f"10.1.{i // 250}.{i % 250 + 1}"
            end = time.monotonic() + ROUND_TIMEOUT
            send("h1", mac, ip)
            start = uplink1.wait(mac, end)
            t0 = update.wait(mac, end)
            t1, t2 = leaf1.wait((mac, "1.1.1.1"), end), leaf2.wait((mac, "1.1.1.1"), end)
            if mode == "move" and None not in (start, t0, t1, t2):
                # Settled behind static1 everywhere: now the host moves.
                time.sleep(0.02)
                end = time.monotonic() + ROUND_TIMEOUT
                send("h2", mac, ip)
                start = uplink2.wait(mac, end)
                after = start or 0.0
                t0 = update.wait(mac, end, after)
                t1 = leaf1.wait((mac, "1.1.1.2"), end, after)
                t2 = leaf2.wait((mac, "1.1.1.2"), end, after)
            if None in (start, t0, t1, t2):
                lost += 1
                continue
            lat["agent UPDATE sent"].append((t0 - start) * 1000)
            lat["leaf1 FDB"].append((t1 - start) * 1000)
            lat["leaf2 FDB"].append((t2 - start) * 1000)
            time.sleep(0.02)

        what = "fresh MACs learned" if mode == "learn" else "MAC moves from static1 to static2"
        print(f"{rounds} {what} ({lost} not complete within {ROUND_TIMEOUT:.0f} s), ms:")
        origin = "static1" if mode == "learn" else "static2"
        print(f"| from ARP on {origin}'s uplink to | p50 | p90 | p99 | max |")
        print("|---|---|---|---|---|")
        result = {"mode": mode, "rounds": rounds, "incomplete": lost, "ms": {}}
        for leaf, values in lat.items():
            if not values:
                continue
            row = summary(values)
            result["ms"][leaf] = row
            print(f"| {leaf} | " + " | ".join(f"{row[k]:.1f}" for k in ("p50", "p90", "p99", "max")) + " |")
        b.save(f"lab-latency-{mode}", result)
        if all(lat.values()):
            series = []
            for name, values in lat.items():
                ordered = sorted(values)
                series.append((name, ordered, [100 * (k + 1) / len(ordered) for k in range(len(ordered))]))
            b.plot(os.path.join(REPO, "docs", "img", f"lab-latency-{mode}.png"),
                   f"netns lab: {what} ({rounds} rounds)", "milliseconds after the ARP on the uplink",
                   "% of rounds done", series, logx=True)
        return 1 if lost else 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run([LAB, "down"], env=dict(os.environ, SVA_LAB=PREFIX),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    sys.exit(main())
