#!/usr/bin/env python3
"""Snooper benchmarks over a veth pair: throughput against an AF_PACKET +
classic BPF baseline, and the data-plane cost per non-ARP VXLAN frame.

Creates two namespaces (tx, rx) joined by a veth pair, with a static
neighbour entry so the sender never ARPs, and runs target/release/snoop-bench
(bench/src/bin/snoop-bench.rs) in them. Everything is removed on exit.

throughput: FRAMES distinct ARP bindings in VXLAN at each rate (0 = as fast
  as the sender goes), for the snooper in TC mode, in socket mode, and for
  the baseline reader, in that order, ROUNDS times. Receive processing runs
  on the sender's CPU (0); the readers on CPU 1. A rate counts as lossless
  when every frame became an event (or a received frame, for the baseline).
overhead: non-ARP VXLAN frames at a fixed rate with RPS moving receive
  processing to CPU 1; CPU 1's busy time per frame with no snooper, TC and
  socket mode, alternating, ROUNDS times; medians are reported. The BPF
  statistics (kernel.bpf_stats_enabled, restored afterwards) give the
  program's own time per frame.

usage: sudo bench/run.sh snoop [throughput|overhead|all] [ROUNDS]
Writes bench/results/snoop.json, docs/img/snoop-throughput.png.
"""

import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

FRAMES = int(os.environ.get("FRAMES", "1000000"))
RATES = [100_000, 200_000, 300_000, 400_000, 500_000, 0]
OVERHEAD_RATE = 100_000
OVERHEAD_SECONDS = 4
TX_ADDR, RX_ADDR = "10.200.0.1", "10.200.0.2"
BIN = os.path.join(b.BENCH_BIN_DIR, "snoop-bench")


def rps(rx, cpus):
    subprocess.run(["ip", "netns", "exec", rx, "sh", "-c",
                    f"echo {cpus} > /sys/class/net/vrx/queues/rx-0/rps_cpus"], check=True)


def bench(cmd, tx, rx, *args):
    out = subprocess.run([BIN, cmd, "--tx-ns", tx, "--rx-ns", rx, "--rx-if", "vrx",
                          "--src", TX_ADDR, "--dst", RX_ADDR, *args],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"snoop-bench {cmd} failed: {out.stderr.strip()}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def throughput(tx, rx, rounds):
    rps(rx, 0)
    rows = []
    for r in range(rounds):
        for receiver in ("tc", "socket", "afpacket"):
            lines = bench("throughput", tx, rx, "--receiver", receiver, "--frames", str(FRAMES),
                          "--rates", ",".join(map(str, RATES)))
            for line in lines:
                line["round"] = r
                rows.append(line)
                b.say(f"{receiver:8} target {line['target-rate'] or 'max':>7}: sent "
                      f"{line['sent-rate']:9.0f}/s, lost {line['lost']}, program "
                      f"{line.get('program-ns-per-run', 0):.0f} ns/frame")
    return rows


def overhead(tx, rx, rounds):
    rps(rx, 2)  # CPU 1 does the receive work; the sender stays on CPU 0
    rows = []
    try:
        for r in range(rounds):
            for receiver in ("none", "tc", "socket"):
                line = bench("overhead", tx, rx, "--receiver", receiver, "--rate", str(OVERHEAD_RATE),
                             "--seconds", str(OVERHEAD_SECONDS))[0]
                line["round"] = r
                rows.append(line)
                b.say(f"round {r} {receiver:6}: CPU 1 {line['cpu1-ns-per-frame']:.0f} ns/frame, "
                      f"program {line['program-ns-per-run']:.0f} ns/run")
    finally:
        rps(rx, 0)
    return rows


def summarize(results):
    out = {}
    rows = results.get("throughput", [])
    for receiver in ("tc", "socket", "afpacket"):
        mine = [r for r in rows if r["receiver"] == receiver]
        lossless = [r["sent-rate"] for r in mine if r["lost"] == 0]
        out[f"throughput-{receiver}"] = {
            "max-lossless-rate": max(lossless) if lossless else 0,
            "max-sent-rate": max((r["sent-rate"] for r in mine), default=0),
            "program-ns-per-frame-median": statistics.median(
                [r["program-ns-per-run"] for r in mine if r.get("program-runs")] or [0]),
        }
    base = out["throughput-afpacket"]["max-lossless-rate"]
    if base:
        for receiver in ("tc", "socket"):
            # The ratio to the baseline measured in this run.
            out[f"throughput-{receiver}"]["lossless-rate-vs-baseline"] = (
                out[f"throughput-{receiver}"]["max-lossless-rate"] / base)
    rows = results.get("overhead", [])
    medians = {}
    for receiver in ("none", "tc", "socket"):
        mine = [r for r in rows if r["receiver"] == receiver]
        if mine:
            medians[receiver] = {
                "cpu1-ns-per-frame": statistics.median(r["cpu1-ns-per-frame"] for r in mine),
                "program-ns-per-run": statistics.median(r["program-ns-per-run"] for r in mine),
            }
    if "none" in medians:
        base = medians["none"]["cpu1-ns-per-frame"]
        for receiver in ("tc", "socket"):
            if receiver in medians:
                m = medians[receiver]
                m["extra-percent-cpu1"] = 100 * (m["cpu1-ns-per-frame"] - base) / base
                m["extra-percent-program"] = 100 * m["program-ns-per-run"] / base
    out["overhead"] = medians
    return out


def plot_throughput(rows):
    series = []
    for receiver, label in (("tc", "snooper, TC"), ("socket", "snooper, socket filter"),
                            ("afpacket", "AF_PACKET + classic BPF (baseline)")):
        mine = sorted((r for r in rows if r["receiver"] == receiver and r["round"] == 0),
                      key=lambda r: r["sent-rate"])
        series.append((label, [r["sent-rate"] / 1000 for r in mine],
                       [100 * r["received"] / r["sent"] for r in mine]))
    b.plot(os.path.join(b.REPO, "docs", "img", "snoop-throughput.png"),
           "ARP in VXLAN over veth: delivered vs offered (one sender core)",
           "frames/s sent (thousands)", "% delivered as events / frames", series)


def main():
    b.require_root("the snooper benchmark")
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if not os.access(BIN, os.X_OK):
        b.build_release()
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_before = f.read().strip()
    # One section run alone keeps the other's last results.
    results = {}
    results_path = os.path.join(b.RESULTS, "snoop.json")
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
    results.update({"frames": FRAMES, "rates": RATES, "overhead-rate": OVERHEAD_RATE,
                    "overhead-seconds": OVERHEAD_SECONDS})
    with b.Cleanup() as cleanup:
        cleanup.add(lambda: open("/proc/sys/kernel/bpf_stats_enabled", "w").write(stats_before))
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        tx, rx = b.veth_namespaces(cleanup, "svabtx", "svabrx", TX_ADDR, RX_ADDR)
        if what in ("throughput", "all"):
            results["throughput"] = throughput(tx, rx, rounds)
            plot_throughput(results["throughput"])
        if what in ("overhead", "all"):
            results["overhead"] = overhead(tx, rx, rounds)
    results["summary"] = summarize(results)
    print(json.dumps(results["summary"], indent=2))
    b.save("snoop", results)


if __name__ == "__main__":
    main()
