#!/usr/bin/env python3
"""Learning benchmarks with the real agent: learn-to-advertise latency over
10,000 learns, and the agent's memory at 0, 10k, 100k and 1M learned MACs.

A veth pair joins two namespaces: the static VTEP side (tx, 10.200.0.1) and
the learning side (rx), where the agent's snooper sits on the veth (TC
mode). The agent runs in the root namespace and peers over loopback with
bgp-sink (bench/src/bin/bgp-sink.rs), which logs every RT-2 with the time
it read the UPDATE. snoop-bench sends ARP requests in VXLAN from
10.200.0.1, one distinct MAC and IP per frame, and logs when each frame was
handed to the kernel. Both clocks are the same realtime clock.

latency: 10,000 learns at each of three paced rates, one agent; the
  latency of a MAC is from its frame's send time to the first RT-2 for it.
  The UPDATE read by the sink is what crossed the wire towards the peer.
memory: a fresh agent; learned MACs are added in steps up to 1M and, at each
  step, once the sink holds every route and the agent is idle for 3 s, its
  RSS is read. Frames lost on the way (a full ring buffer under the send
  rate) are sent again, so each step ends with exactly that many MACs. Run
  twice: MACs in order (the worst case for B-tree nodes, which the agent's
  tables were until they packed their chunks) and scattered
  (MEMORY_ORDERS="sequential,random").

usage: sudo bench/run.sh learning [latency|memory|all]
Writes bench/results/learning.json, docs/img/learning-latency.png and
docs/img/learning-memory.png.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

TX_ADDR, RX_ADDR = "10.200.0.1", "10.200.0.2"
AGENT_ADDR, SINK_ADDR = "127.0.0.2", "127.0.0.4"
LATENCY_LEARNS = 10_000
LATENCY_RATES = [int(r) for r in os.environ.get("LATENCY_RATES", "200,2000,10000").split(",")]
MEMORY_STEPS = [int(n) for n in os.environ.get("MEMORY_STEPS", "0,10000,100000,1000000").split(",")]
MEMORY_SEND_RATE = int(os.environ.get("MEMORY_SEND_RATE", "50000"))
MEMORY_ORDERS = os.environ.get("MEMORY_ORDERS", "sequential,random").split(",")
# snoop-bench's --order random numbers this many bindings (host_of in bench/src/lib.rs).
RANDOM_ORDER_HOSTS = 1 << 22
SNOOP_BENCH = os.path.join(b.BENCH_BIN_DIR, "snoop-bench")
SINK = os.path.join(b.BENCH_BIN_DIR, "bgp-sink")


def agent_config(rx, port):
    return "\n".join([
        f"source-address: {AGENT_ADDR}",
        f"peer-address: {SINK_ADDR}",
        f"peer-port: {port}",
        "local-as: 65000",
        "hold-time: 240",
        "state-file: ''",
        "mac-aging-secs: 86400",
        "max-macs-per-mac-vrf: 4000000",
        "max-macs-per-vtep: 4000000",
        "learning-interfaces: [vrx]",
        f"learning-netns: {rx}",
        "mac-vrfs:",
        "  blue:",
        "    evi: 100",
        "    vni: 100",
        "    static-vteps:",
        f"      {TX_ADDR}: {{}}",
    ]) + "\n"


class RouteLog:
    """Follows bgp-sink's route log: first read time per MAC."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.rest = ""
        self.first = {}

    def poll(self):
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                data = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return len(self.first)
        lines = (self.rest + data).split("\n")
        self.rest = lines.pop()
        for line in lines:
            mac, _ip, at = line.split()
            self.first.setdefault(mac, int(at))
        return len(self.first)


def start(cleanup, rx, tag):
    work = cleanup.tempdir(tag)
    log = os.path.join(work, "routes.log")
    port = b.free_port(SINK_ADDR)
    sink = cleanup.process(subprocess.Popen(
        [SINK, "--listen", f"{SINK_ADDR}:{port}", "--asn", "65000", "--expect", str(10**9),
         "--timeout", "3600", "--log-routes", log], stdout=subprocess.PIPE, text=True))
    if "listening" not in sink.stdout.readline():
        raise RuntimeError("bgp-sink did not start")
    agent = b.Agent(cleanup, agent_config(rx, port), tag=tag)
    return agent, RouteLog(log)


def send(tx, first, count, rate, stamps=None, order="sequential"):
    cmd = [SNOOP_BENCH, "send", "--tx-ns", tx, "--src", TX_ADDR, "--dst", RX_ADDR,
           "--frames", str(count), "--rate", str(rate), "--first", str(first), "--order", order]
    if stamps:
        cmd += ["--stamps", stamps]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def host_of(n, order):
    """The host binding n stands for: host_of in bench/src/lib.rs, which snoop-bench uses."""
    if order == "random":
        return (n * 0x9E3779B1) & (RANDOM_ORDER_HOSTS - 1)
    return n


def mac_of(n, order="sequential"):
    n = host_of(n, order)
    return "02:5b:" + ":".join(f"{(n >> s) & 0xff:02x}" for s in (24, 16, 8, 0))


def warm_up(tx, routes, first):
    """One learn end to end, so the session and the snooper are up."""
    def learned():
        send(tx, first, 1, 0)
        time.sleep(0.2)
        return routes.poll() >= 1
    b.wait_until("a first learn through the agent", 60, learned, interval=0.5)


def latency(tx, rx):
    rows = []
    with b.Cleanup() as cleanup:
        agent, routes = start(cleanup, rx, "lat")
        warm_up(tx, routes, 50_000_000)
        work = cleanup.tempdir("latstamps")
        first = 1_000_000
        for rate in LATENCY_RATES:
            stamps = os.path.join(work, f"stamps-{rate}")
            send(tx, first, LATENCY_LEARNS, rate, stamps)
            sent = {}
            with open(stamps) as f:
                for line in f:
                    mac, at = line.split()
                    sent[mac] = int(at)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all(m in routes.first for m in sent):
                routes.poll()
                time.sleep(0.2)
            routes.poll()
            ms = [(routes.first[m] - t) / 1e6 for m, t in sent.items() if m in routes.first]
            if not ms:
                raise RuntimeError(f"{rate}/s: none of {len(sent)} learns reached the sink within 30 s")
            row = {"rate": rate, "learns": len(sent), "advertised": len(ms),
                   "p50-ms": b.percentile(ms, 50), "p90-ms": b.percentile(ms, 90),
                   "p99-ms": b.percentile(ms, 99), "max-ms": max(ms),
                   "agent-rss-bytes": agent.rss()}
            rows.append(row)
            b.say(f"{rate}/s: {len(ms)} of {len(sent)} advertised; p50 {row['p50-ms']:.2f} ms, "
                  f"p99 {row['p99-ms']:.2f} ms, max {row['max-ms']:.2f} ms")
            first += LATENCY_LEARNS
            time.sleep(1)
    return rows


def memory(tx, rx, order):
    if order not in ("sequential", "random"):
        raise ValueError(f"MEMORY_ORDERS: {order!r} is neither sequential nor random")
    if order == "random" and max(MEMORY_STEPS) > RANDOM_ORDER_HOSTS:
        raise ValueError(f"random order numbers at most {RANDOM_ORDER_HOSTS} MACs")
    rows = []
    with b.Cleanup() as cleanup:
        agent, routes = start(cleanup, rx, "mem")
        warm_up(tx, routes, 50_000_000)
        have = 0
        for target in MEMORY_STEPS:
            t = time.monotonic()
            start_at = have
            while have < target:
                send(tx, have, target - have, MEMORY_SEND_RATE, order=order)
                # Until the sink has them all, or nothing more comes.
                last = -1
                for _ in range(60):
                    count = routes.poll()
                    if count > target or count == last:
                        break
                    last = count
                    time.sleep(1)
                hole = next((n for n in range(start_at, target) if mac_of(n, order) not in routes.first), None)
                if hole is None:
                    have = target
                else:
                    b.say(f"  {target - hole} MACs from {mac_of(hole, order)} on not learned yet: sending again")
                    have = hole
            time.sleep(3)
            rss = agent.rss()
            rows.append({"learned": target, "rss-bytes": rss, "seconds": time.monotonic() - t})
            b.say(f"{target:>9} learned MACs ({order}): agent RSS {rss / 2**20:.1f} MiB")
    base = rows[0]["rss-bytes"]
    for row in rows[1:]:
        row["bytes-per-mac"] = (row["rss-bytes"] - base) / row["learned"]
    return rows


def main():
    b.require_root("the learning benchmarks")
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    for binary in (b.AGENT_BIN, SNOOP_BENCH, SINK):
        if not os.access(binary, os.X_OK):
            b.build_release()
            break
    results_path = os.path.join(b.RESULTS, "learning.json")
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
    with b.Cleanup() as cleanup:
        tx, rx = b.veth_namespaces(cleanup, "svalntx", "svalnrx", TX_ADDR, RX_ADDR)
        # Something listens on 4789 so that frames do not each cost an ICMP error.
        sink = cleanup.process(subprocess.Popen(
            ["ip", "netns", "exec", rx, "python3", "-c",
             "import socket,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
             "s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096);s.bind(('0.0.0.0',4789));"
             "time.sleep(86400)"]))
        assert sink.poll() is None
        if what in ("latency", "all"):
            results["latency"] = latency(tx, rx)
            rows = results["latency"]
            b.plot(os.path.join(b.REPO, "docs", "img", "learning-latency.png"),
                   "ARP on the wire -> RT-2 UPDATE read by the peer (10k learns per rate)",
                   "learns per second", "milliseconds",
                   [(p, [r["rate"] for r in rows], [r[f"{p}-ms"] for r in rows])
                    for p in ("p50", "p99", "max")], logx=True)
        if what in ("memory", "all"):
            for order in MEMORY_ORDERS:
                # "memory" stays the in-order run, as before this option.
                results["memory" if order == "sequential" else f"memory-{order}"] = memory(tx, rx, order)
            series = [(f"agent RSS, MACs {label}", [max(r["learned"], 1) for r in rows],
                       [r["rss-bytes"] / 2**20 for r in rows])
                      for label, rows in (("in order", results.get("memory")),
                                          ("scattered", results.get("memory-random"))) if rows]
            b.plot(os.path.join(b.REPO, "docs", "img", "learning-memory.png"),
                   "Agent RSS by learned MACs (each with one IP: 2 RT-2)",
                   "learned MACs", "RSS (MiB)", series, logx=True)
    b.save("learning", results)


if __name__ == "__main__":
    main()
