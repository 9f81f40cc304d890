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
rps: throughput again, with RPS moving the receive path (and the program)
  to CPU 1 and the readers on CPU 0 beside the sender, at rates up to 1M/s:
  CPU 1 alone turns frames into events, and the sender no longer shares it.
overhead: non-ARP VXLAN frames at a fixed rate with RPS moving receive
  processing to CPU 1; CPU 1's busy time per frame with no snooper, with a
  TC program that does nothing (bench/empty_tc.py: the floor), TC and socket
  mode, alternating, ROUNDS times; medians are reported. The BPF statistics
  (kernel.bpf_stats_enabled, restored afterwards) give the program's own
  time per frame. Then, with the statistics off, the kernel's test runner
  (`bpftool prog run`, BPF_PROG_TEST_RUN) times the empty program and the
  snooper's TC program on that same frame, PROG_RUN_REPEAT times each,
  ROUNDS times: the program's time without the statistics' own clock reads.

kernel: the same questions with an in-kernel source instead of the UDP
  sender (bench/xdp_source.py: the kernel's test runner in live-frame mode
  passes copies of one frame up vrx's receive path, as a driver would, on
  CPU 1, as fast as that CPU goes, with the BPF statistics off). Throughput:
  KERNEL_FRAMES new ARP bindings (the source numbers each copy), for TC,
  socket and the baseline (readers on CPU 0), frames addressed to this host
  (they end in a full UDP socket on port 4789, as above) and to another
  host (dropped at IP, right after the hooks). Overhead: KERNEL_FRAMES
  non-ARP frames with no snooper, the empty program, TC and socket mode,
  the kernel's time per frame for each, alternating, ROUNDS times, on two
  paths: to the full UDP socket as above, and through a VXLAN device and a
  bridge (vxlan_bridge), which is what a VTEP host does with such a frame.
  kernel-throughput and kernel-overhead run one of the two parts alone and
  keep the other's last rows.

usage: sudo bench/run.sh snoop [throughput|rps|overhead|kernel|kernel-throughput|kernel-overhead|all] [ROUNDS]
Writes bench/results/snoop.json, docs/img/snoop-throughput.png and
docs/img/snoop-throughput-rps.png.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

FRAMES = int(os.environ.get("FRAMES", "1000000"))
RATES = [100_000, 200_000, 300_000, 400_000, 500_000, 0]
RPS_RATES = [200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000, 0]
KERNEL_FRAMES = int(os.environ.get("KERNEL_FRAMES", "2000000"))
XDP_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdp_source.py")
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


def throughput(tx, rx, rounds, rates=RATES, *extra):
    rows = []
    for r in range(rounds):
        for receiver in ("tc", "socket", "afpacket"):
            lines = bench("throughput", tx, rx, "--receiver", receiver, "--frames", str(FRAMES),
                          "--rates", ",".join(map(str, rates)), *extra)
            for line in lines:
                line["round"] = r
                rows.append(line)
                b.say(f"{receiver:8} target {line['target-rate'] or 'max':>7}: sent "
                      f"{line['sent-rate']:9.0f}/s, lost {line['lost']}, program "
                      f"{line.get('program-ns-per-run', 0):.0f} ns/frame, CPU 1 "
                      f"{line.get('cpu1-ns-per-frame', 0):.0f} ns/frame")
    return rows


OVERHEAD_RECEIVERS = ("none", "empty", "tc", "socket")
EMPTY_TC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "empty_tc.py")


def throughput_rps(tx, rx, rounds):
    rps(rx, 2)  # the receive path and the program on CPU 1
    try:
        return throughput(tx, rx, rounds, RPS_RATES, "--reader-cpu", "0")
    finally:
        rps(rx, 0)


def with_empty_program(rx, run):
    """Runs `run()` with bench/empty_tc.py's do-nothing program on vrx's
    ingress; it is detached when the helper's stdin closes."""
    helper = subprocess.Popen(["ip", "netns", "exec", rx, sys.executable, EMPTY_TC, "vrx"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = helper.stdout.readline()
        if not line.startswith("attached"):
            raise RuntimeError(f"empty_tc.py did not attach: {line!r}")
        return run()
    finally:
        helper.stdin.close()
        helper.wait(timeout=10)


PROG_RUN_REPEAT = 1_000_000


def program_id(name):
    """The id of the loaded program whose name starts with `name` (the
    kernel keeps 15 characters; bpftool may show the whole name from BTF),
    waiting up to 10 s for it to appear."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                               check=True).stdout
        ids = [p["id"] for p in json.loads(shown) if p.get("name", "").startswith(name)]
        if ids:
            return max(ids)
        time.sleep(0.1)
    raise RuntimeError(f"no program {name} loaded")


def bpf_stats(value):
    """Turns the kernel's BPF run-time statistics on ("1") or off ("0")."""
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write(value)


def test_run_ns(prog_id, frame_path):
    """The kernel's average time per run of `prog_id` on the frame, with
    the BPF statistics off for the duration."""
    bpf_stats("0")
    try:
        out = subprocess.run(["bpftool", "prog", "run", "id", str(prog_id), "data_in", frame_path,
                              "repeat", str(PROG_RUN_REPEAT)],
                             capture_output=True, text=True, check=True, timeout=120)
    finally:
        bpf_stats("1")
    found = re.search(r"duration \(average\): (\d+)ns", out.stdout + out.stderr)
    if not found:
        raise RuntimeError(f"bpftool prog run said: {out.stdout} {out.stderr}")
    return int(found.group(1))


def test_runs(tx, rx, rounds, workdir):
    """ROUNDS pairs of test runs: the empty program, then the snooper's TC
    ingress program (held loaded by a snoop-bench run that sends one frame
    a second)."""
    frame_path = os.path.join(workdir, "overhead-frame.bin")
    subprocess.run([BIN, "frame", "--src", TX_ADDR, "--dst", RX_ADDR, "--out", frame_path], check=True)
    rows = []
    for r in range(rounds):
        empty = with_empty_program(rx, lambda: test_run_ns(program_id("bench_empty_tc"), frame_path))
        holder = subprocess.Popen([BIN, "overhead", "--tx-ns", tx, "--rx-ns", rx, "--rx-if", "vrx",
                                   "--src", TX_ADDR, "--dst", RX_ADDR, "--receiver", "tc",
                                   "--rate", "1", "--seconds", "30"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            snooper = test_run_ns(program_id("arp_snoop_tc_in"), frame_path)
        finally:
            holder.terminate()
            holder.wait(timeout=30)
        rows.append({"round": r, "repeat": PROG_RUN_REPEAT, "empty-ns": empty, "tc-ns": snooper})
        b.say(f"round {r} test run: empty program {empty} ns, snooper (TC) {snooper} ns per run")
    return rows


def overhead(tx, rx, rounds):
    rps(rx, 2)  # CPU 1 does the receive work; the sender stays on CPU 0
    rows = []
    try:
        for r in range(rounds):
            for receiver in OVERHEAD_RECEIVERS:
                args = ["--rate", str(OVERHEAD_RATE), "--seconds", str(OVERHEAD_SECONDS)]
                if receiver == "empty":
                    line = with_empty_program(
                        rx, lambda: bench("overhead", tx, rx, "--receiver", "none", *args)[0])
                    line["receiver"] = "empty"
                else:
                    line = bench("overhead", tx, rx, "--receiver", receiver, *args)[0]
                line["round"] = r
                rows.append(line)
                b.say(f"round {r} {receiver:6}: CPU 1 {line['cpu1-ns-per-frame']:.0f} ns/frame, "
                      f"program {line['program-ns-per-run']:.0f} ns/run")
    finally:
        rps(rx, 0)
    return rows


def kernel_source(tx, rx, rounds, parts=("throughput", "overhead")):
    """The `kernel` section (or one of its parts): throughput and overhead
    rows, each with the kernel's time per frame, with the BPF statistics
    off throughout."""
    rps(rx, 0)  # the source's CPU runs the whole receive path
    bpf_stats("0")
    rows = {part: [] for part in parts}
    try:
        for r in range(rounds):
            for dest in ("host", "other-host") if "throughput" in parts else ():
                where = ["--other-host"] if dest == "other-host" else []
                for receiver in ("tc", "socket", "afpacket"):
                    line = bench("throughput", tx, rx, "--receiver", receiver, "--frames",
                                 str(KERNEL_FRAMES), "--rates", "0", "--reader-cpu", "0",
                                 "--kernel-source", XDP_SOURCE, *where)[0]
                    line.update(round=r, dest=dest)
                    rows["throughput"].append(line)
                    b.say(f"round {r} to {dest:10} {receiver:8}: {line['sent-rate']:9.0f} frames/s, lost "
                          f"{line['lost']}, {line['kernel-ns-per-frame']:.0f} ns/frame")
            for dest in ("host", "vxlan") if "overhead" in parts else ():
                rows["overhead"] += kernel_overhead(tx, rx, r, dest)
    finally:
        bpf_stats("1")
    return rows


VXLAN_DEVICES = ("vx100", "br100", "d100", "d100p")


def vxlan_bridge(rx):
    """What a VTEP host does with VXLAN: vx100 (VNI 100, port 4789) in a
    bridge with one more port, d100, a veth whose other end d100p stands
    for a container (this kernel has no dummy device). The overhead frame's
    inner destination is unknown to the bridge, so each frame is
    decapsulated, flooded to d100, and dropped at d100p's IP layer (not
    addressed to it). The devices go with the namespace if
    remove_vxlan_bridge does not run."""
    def ip(*args):
        subprocess.run(["ip", "-n", rx, *args], check=True)
    ip("link", "add", "br100", "type", "bridge")
    ip("link", "add", "vx100", "type", "vxlan", "id", "100", "dstport", "4789", "local", RX_ADDR)
    ip("link", "add", "d100", "type", "veth", "peer", "name", "d100p")
    for dev in VXLAN_DEVICES:
        if dev in ("vx100", "d100"):
            ip("link", "set", dev, "master", "br100")
        ip("link", "set", dev, "up")


def remove_vxlan_bridge(rx):
    for dev in ("vx100", "br100", "d100"):  # d100p goes with d100
        subprocess.run(["ip", "-n", rx, "link", "del", dev], capture_output=True)


def flooded(rx):
    out = subprocess.run(["ip", "netns", "exec", rx, "cat", "/sys/class/net/d100/statistics/tx_packets"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def kernel_overhead(tx, rx, r, dest):
    """One round of the kernel source's overhead runs; `dest` "host" ends
    each frame in the full UDP socket, "vxlan" in vxlan_bridge's flood."""
    rows, where = [], []
    if dest == "vxlan":
        vxlan_bridge(rx)
        where = ["--no-sink"]
    try:
        for receiver in OVERHEAD_RECEIVERS:
            args = ["--frames", str(KERNEL_FRAMES), "--kernel-source", XDP_SOURCE, *where]
            before = flooded(rx) if dest == "vxlan" else 0
            if receiver == "empty":
                line = with_empty_program(rx, lambda: bench("overhead", tx, rx, "--receiver", "none", *args)[0])
                line["receiver"] = "empty"
            else:
                line = bench("overhead", tx, rx, "--receiver", receiver, *args)[0]
            if dest == "vxlan" and flooded(rx) - before < line["sent"]:
                raise RuntimeError(f"only {flooded(rx) - before} of {line['sent']} frames crossed the bridge")
            line.update(round=r, dest=dest)
            rows.append(line)
            b.say(f"round {r} overhead to {dest:5} {receiver:6}: {line['kernel-ns-per-frame']:.0f} ns/frame")
    finally:
        if dest == "vxlan":
            remove_vxlan_bridge(rx)
    return rows


def summarize_kernel(kernel):
    out = {}
    for dest in ("host", "other-host"):
        for receiver in ("tc", "socket", "afpacket"):
            mine = [r for r in kernel.get("throughput", []) if r["receiver"] == receiver and r["dest"] == dest]
            if mine:
                out[f"throughput-{dest}-{receiver}"] = {
                    "rounds": len(mine),
                    "lossless-rounds": sum(1 for r in mine if r["lost"] == 0),
                    "frames-per-second-median": statistics.median(r["sent-rate"] for r in mine),
                    "frames-per-second-min": min(r["sent-rate"] for r in mine),
                    "kernel-ns-per-frame-median": statistics.median(r["kernel-ns-per-frame"] for r in mine),
                    "lost-max": max(r["lost"] for r in mine),
                    # Events (or frames, for the baseline) that reached the
                    # reader, per second of sending.
                    "delivered-per-second-median": statistics.median(
                        r["received"] / r["send-seconds"] for r in mine),
                }
        base = out.get(f"throughput-{dest}-afpacket", {}).get("delivered-per-second-median")
        for receiver in ("tc", "socket"):
            if base and f"throughput-{dest}-{receiver}" in out:
                # The ratio to the baseline measured in the same run.
                mine = out[f"throughput-{dest}-{receiver}"]
                mine["delivered-vs-baseline"] = mine["delivered-per-second-median"] / base
    for dest in ("host", "vxlan"):
        medians = {}
        for receiver in OVERHEAD_RECEIVERS:
            mine = [r["kernel-ns-per-frame"] for r in kernel.get("overhead", [])
                    if r["receiver"] == receiver and r.get("dest", "host") == dest]
            if mine:
                medians[receiver] = {"kernel-ns-per-frame": statistics.median(mine), "min": min(mine),
                                     "max": max(mine)}
        if "none" in medians:
            base = medians["none"]["kernel-ns-per-frame"]
            for receiver in ("empty", "tc", "socket"):
                if receiver in medians:
                    m = medians[receiver]
                    m["extra-ns"] = m["kernel-ns-per-frame"] - base
                    m["extra-percent"] = 100 * m["extra-ns"] / base
                    if receiver != "empty" and "empty" in medians:
                        above = m["kernel-ns-per-frame"] - medians["empty"]["kernel-ns-per-frame"]
                        m["extra-ns-above-empty"] = above
                        m["extra-percent-above-empty"] = 100 * above / base
        out[f"overhead-{dest}"] = medians
    return out


def summarize(results):
    out = {}
    for section in ("throughput", "throughput-rps"):
        rows = results.get(section, [])
        if not rows:
            continue
        for receiver in ("tc", "socket", "afpacket"):
            mine = [r for r in rows if r["receiver"] == receiver]
            lossless = [r["sent-rate"] for r in mine if r["lost"] == 0]
            out[f"{section}-{receiver}"] = {
                "max-lossless-rate": max(lossless) if lossless else 0,
                "max-sent-rate": max((r["sent-rate"] for r in mine), default=0),
                "program-ns-per-frame-median": statistics.median(
                    [r["program-ns-per-run"] for r in mine if r.get("program-runs")] or [0]),
            }
        base = out[f"{section}-afpacket"]["max-lossless-rate"]
        if base:
            for receiver in ("tc", "socket"):
                # The ratio to the baseline measured in this run.
                out[f"{section}-{receiver}"]["lossless-rate-vs-baseline"] = (
                    out[f"{section}-{receiver}"]["max-lossless-rate"] / base)
    rows = results.get("overhead", [])
    medians = {}
    for receiver in OVERHEAD_RECEIVERS:
        mine = [r for r in rows if r["receiver"] == receiver]
        if mine:
            medians[receiver] = {
                "cpu1-ns-per-frame": statistics.median(r["cpu1-ns-per-frame"] for r in mine),
                "program-ns-per-run": statistics.median(r["program-ns-per-run"] for r in mine),
            }
    if "none" in medians:
        base = medians["none"]["cpu1-ns-per-frame"]
        for receiver in ("empty", "tc", "socket"):
            if receiver in medians:
                m = medians[receiver]
                m["extra-percent-cpu1"] = 100 * (m["cpu1-ns-per-frame"] - base) / base
                m["extra-percent-program"] = 100 * m["program-ns-per-run"] / base
                if receiver != "empty" and "empty" in medians:
                    # What the snooper costs beyond a program that does nothing.
                    above = m["program-ns-per-run"] - medians["empty"]["program-ns-per-run"]
                    m["program-ns-above-empty"] = above
                    m["extra-percent-above-empty"] = 100 * above / base
    runs = results.get("test-run", [])
    if runs:
        empty = statistics.median(r["empty-ns"] for r in runs)
        tc = statistics.median(r["tc-ns"] for r in runs)
        medians["test-run"] = {"empty-ns": empty, "tc-ns": tc, "tc-ns-above-empty": tc - empty}
        if "none" in medians:
            base = medians["none"]["cpu1-ns-per-frame"]
            medians["test-run"]["tc-percent-of-path"] = 100 * tc / base
    out["overhead"] = medians
    if results.get("kernel"):
        out["kernel"] = summarize_kernel(results["kernel"])
    return out


def plot_throughput(rows, name="snoop-throughput.png",
                    title="ARP in VXLAN over veth: delivered vs offered (one sender core)"):
    series = []
    for receiver, label in (("tc", "snooper, TC"), ("socket", "snooper, socket filter"),
                            ("afpacket", "AF_PACKET + classic BPF (baseline)")):
        mine = sorted((r for r in rows if r["receiver"] == receiver and r["round"] == 0),
                      key=lambda r: r["sent-rate"])
        series.append((label, [r["sent-rate"] / 1000 for r in mine],
                       [100 * r["received"] / r["sent"] for r in mine]))
    b.plot(os.path.join(b.REPO, "docs", "img", name), title,
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
    results.update({"frames": FRAMES, "rates": RATES, "rps-rates": RPS_RATES, "overhead-rate": OVERHEAD_RATE,
                    "overhead-seconds": OVERHEAD_SECONDS, "kernel-frames": KERNEL_FRAMES})
    with b.Cleanup() as cleanup:
        cleanup.add(lambda: bpf_stats(stats_before))
        bpf_stats("1")
        tx, rx = b.veth_namespaces(cleanup, "svabtx", "svabrx", TX_ADDR, RX_ADDR)
        if what in ("throughput", "all"):
            rps(rx, 0)
            results["throughput"] = throughput(tx, rx, rounds)
            plot_throughput(results["throughput"])
        if what in ("rps", "all"):
            results["throughput-rps"] = throughput_rps(tx, rx, rounds)
            plot_throughput(results["throughput-rps"], "snoop-throughput-rps.png",
                            "ARP in VXLAN over veth, receive path on its own core (RPS)")
        if what in ("overhead", "all"):
            results["overhead"] = overhead(tx, rx, rounds)
            with tempfile.TemporaryDirectory() as workdir:
                results["test-run"] = test_runs(tx, rx, rounds, workdir)
        if what in ("kernel", "all"):
            results["kernel"] = kernel_source(tx, rx, rounds)
        elif what in ("kernel-throughput", "kernel-overhead"):
            # One part alone keeps the other's last rows.
            part = what.removeprefix("kernel-")
            results.setdefault("kernel", {}).update(kernel_source(tx, rx, rounds, (part,)))
    results["summary"] = summarize(results)
    print(json.dumps(results["summary"], indent=2))
    b.save("snoop", results)


if __name__ == "__main__":
    main()
