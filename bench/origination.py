#!/usr/bin/env python3
"""Route origination: N RT-2 routes from the agent, and from GoBGP, in one run.

For each N the agent is configured with N static MACs behind 10 static VTEPs
(plus their 10 RT-3 routes) and four transfers are timed, all on loopback:

  agent  -> bgp-sink   the agent's own sending rate (bench/src/bin/bgp-sink.rs
                       decodes and counts, clock from Established to the Nth RT-2)
  agent  -> GoBGP A    time until A's RIB holds all routes
  GoBGP A -> bgp-sink  GoBGP sending the same routes (reflected to an RR client)
  GoBGP A -> GoBGP B   GoBGP to GoBGP, the same routes

The sink measures exactly (its own clock). The GoBGP receivers are polled
through the gobgp CLI, with 0.1 s between polls (polling harder slows GoBGP
down); those times are good to about two poll intervals, which the output
states. RSS of the agent
and of GoBGP A after the transfer are printed too.

The three GoBGP transfers run once per GoBGP release (GOBGP_RELEASES,
default "3.10 3.36": Debian 12's and Debian 13's, from the root
scripts/debian-root.sh makes), in the same run.

usage: sudo bench/origination.py [N ...]      (default: 10000 100000 1000000)
       GOBGP_TIMEOUT=SECS (default 600) bounds each GoBGP transfer;
       GOBGP_UP_TO=N runs the GoBGP transfers only for sizes up to N.
Results of earlier runs for other sizes are kept in the results file.
Writes bench/results/origination.json and docs/img/origination.png.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

VTEPS = 10
AGENT_ADDR = "127.0.0.2"
A_ADDR = "127.0.0.3"
SINK_ADDR = "127.0.0.4"
B_ADDR = "127.0.0.5"
# How long a GoBGP transfer may take before it is reported as incomplete
# (with what arrived); GoBGP can need many minutes for 1M routes.
GOBGP_TIMEOUT = int(os.environ.get("GOBGP_TIMEOUT", "600"))
# Sizes above this skip the GoBGP transfers (GoBGP 3.10 did not take 100k
# routes within 240 s here, so 1M would only measure its time limit).
POLL_SLEEP = 0.1
GOBGP_RELEASES = [r for r in os.environ.get("GOBGP_RELEASES", "3.10 3.36").split() if b.gobgp_available(r)]
GOBGP_UP_TO = int(os.environ.get("GOBGP_UP_TO", str(10**9)))


def agent_config(n, peer, port):
    per_vtep = [n // VTEPS + (1 if i < n % VTEPS else 0) for i in range(VTEPS)]
    lines = [
        f"source-address: {AGENT_ADDR}",
        f"peer-address: {peer}",
        f"peer-port: {port}",
        "local-as: 65000",
        "hold-time: 240",
        "state-file: ''",
        f"max-macs-per-mac-vrf: {n + 1}",
        f"max-macs-per-vtep: {n + 1}",
        "mac-vrfs:",
        "  blue:",
        "    evi: 100",
        "    vni: 10100",
        "    static-vteps:",
    ]
    index = 0
    for v, count in enumerate(per_vtep):
        lines.append(f"      192.0.2.{v + 1}:")
        lines.append("        static-macs:")
        for _ in range(count):
            index += 1
            mac = "02:%02x:%02x:%02x:%02x:%02x" % (
                v, (index >> 24) & 0xFF, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF)
            lines.append(f"          - \"{mac}\"")
    return "\n".join(lines) + "\n"


def start_sink(cleanup, address, expect, timeout=GOBGP_TIMEOUT, port=None):
    """bgp-sink listening on `address` (`port`, or a free one), ready."""
    port = port or b.free_port(address)
    proc = cleanup.process(subprocess.Popen(
        [os.path.join(b.BENCH_BIN_DIR, "bgp-sink"), "--listen", f"{address}:{port}",
         "--asn", "65000", "--expect", str(expect), "--timeout", str(timeout)],
        stdout=subprocess.PIPE, text=True))
    ready = proc.stdout.readline()
    if "listening" not in ready:
        raise RuntimeError(f"bgp-sink did not start: {ready!r}")
    return proc, port


def sink_result(proc, timeout):
    out, _ = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def poll_receiver(gobgp, neighbor, expect, timeout):
    """Polls GoBGP until `neighbor`'s session is up and `expect` routes are
    accepted. Returns elapsed seconds from the first poll seeing the session
    established to the first seeing all routes, the mean poll interval, and
    what was accepted."""
    start = time.monotonic()
    est = None
    polls = []
    accepted = 0
    while time.monotonic() - start < timeout:
        t = time.monotonic()
        state, accepted = gobgp.neighbor(neighbor)
        polls.append(t)
        if est is None and b.established(state):
            est = t
        if est is not None and accepted >= expect:
            interval = (polls[-1] - polls[0]) / max(1, len(polls) - 1)
            return {"complete": True, "elapsed-s": t - est, "poll-interval-s": interval,
                    "accepted": accepted}
        # Each poll costs GoBGP an API call; polling harder slows its ingest.
        time.sleep(POLL_SLEEP)
    return {"complete": False, "elapsed-s": time.monotonic() - (est or start), "accepted": accepted,
            "poll-interval-s": (polls[-1] - polls[0]) / max(1, len(polls) - 1)}


def run_one(n):
    result = {"n": n}
    with b.Cleanup() as cleanup:
        # 1. agent -> sink
        sink, sink_port = start_sink(cleanup, SINK_ADDR, n)
        config = agent_config(n, SINK_ADDR, sink_port)
        t = time.monotonic()
        agent = b.Agent(cleanup, config, tag="orig-sink")
        r = sink_result(sink, 900)
        r["agent-start-to-done-s"] = time.monotonic() - t
        r["agent-rss-bytes"] = agent.rss()
        result["agent-to-sink"] = r
        agent.stop()
        b.say(f"N={n}: agent -> sink {r['rt2']} RT-2 in {r['elapsed-s']:.3f} s "
              f"({r['rt2-per-s']:,.0f}/s), agent RSS {r['agent-rss-bytes'] / 2**20:.1f} MiB")

    result["gobgp"] = {}
    if n > GOBGP_UP_TO:
        return result
    for release in GOBGP_RELEASES:
        result["gobgp"][release] = gobgp_transfers(n, release)
    return result


def gobgp_transfers(n, release):
    """The three transfers with GoBGP `release`: agent -> A, A -> sink, A -> B."""
    result = {}
    with b.Cleanup() as cleanup:
        # 2. agent -> GoBGP A. A already has its two route-reflector clients
        # configured (the sink and B, dialled on ports chosen now); they are
        # not up yet, so A only receives.
        sink_port = b.free_port(SINK_ADDR)
        b_port = b.free_port(B_ADDR)
        gobgp_a = b.GoBgp(cleanup, "a", A_ADDR, [
            {"address": AGENT_ADDR, "passive": True},
            {"address": SINK_ADDR, "passive": False, "port": sink_port, "rr_client": True},
            {"address": B_ADDR, "passive": False, "port": b_port, "rr_client": True},
        ], release=release)
        agent = b.Agent(cleanup, agent_config(n, A_ADDR, gobgp_a.port), tag="orig-gobgp")
        r = poll_receiver(gobgp_a, AGENT_ADDR, n + VTEPS, GOBGP_TIMEOUT)
        r["agent-rss-bytes"] = agent.rss()
        r["gobgp-rss-bytes"] = gobgp_a.rss()
        result["agent-to-gobgp"] = r
        b.say(f"N={n}: agent -> GoBGP {release} {r['accepted']} routes in {r['elapsed-s']:.3f} s "
              f"(poll {r['poll-interval-s'] * 1000:.0f} ms), GoBGP RSS {r['gobgp-rss-bytes'] / 2**20:.0f} MiB")

        # 3. GoBGP A -> sink: A dials it within its 1 s connect-retry; the
        # sink's clock starts at Established.
        sink, _ = start_sink(cleanup, SINK_ADDR, n, port=sink_port)
        r = sink_result(sink, GOBGP_TIMEOUT + 60)
        result["gobgp-to-sink"] = r
        b.say(f"N={n}: GoBGP {release} -> sink {r['rt2']} RT-2 in {r['elapsed-s']:.3f} s ({r['rt2-per-s']:,.0f}/s)"
              + ("" if r["complete"] else " INCOMPLETE"))

        # 4. GoBGP A -> GoBGP B.
        gobgp_b = b.GoBgp(cleanup, "b", B_ADDR, [{"address": A_ADDR, "passive": True}], port=b_port,
                          release=release)
        r = poll_receiver(gobgp_b, A_ADDR, n + VTEPS, GOBGP_TIMEOUT)
        r["gobgp-rss-bytes"] = gobgp_b.rss()
        result["gobgp-to-gobgp"] = r
        b.say(f"N={n}: GoBGP {release} -> GoBGP {r['accepted']} routes in {r['elapsed-s']:.3f} s "
              f"(poll {r['poll-interval-s'] * 1000:.0f} ms)" + ("" if r["complete"] else " INCOMPLETE"))
        agent.stop()
    return result


def rate(r, key="rt2"):
    """Routes per second of one transfer (partial transfers count what came)."""
    if not r or r.get("elapsed-s", 0) <= 0:
        return 0.0
    return r.get(key, r.get("accepted", 0)) / r["elapsed-s"]


def summary(results):
    print()
    print("| N | GoBGP | agent -> sink | GoBGP -> sink | ratio | agent -> GoBGP | GoBGP -> GoBGP | ratio |")
    print("|---|---|---|---|---|---|---|---|")

    def cell(x, key):
        if x is None:
            return "not run"
        done = "" if x["complete"] else f" (incomplete: {x.get(key, 0):,} in {x['elapsed-s']:.0f} s)"
        return f"{x['elapsed-s']:.3f} s, {rate(x, key):,.0f}/s{done}"

    for r in results:
        a_s = r["agent-to-sink"]
        for release, g in (r["gobgp"] or {"-": {}}).items():
            g_s, a_g, g_g = g.get("gobgp-to-sink"), g.get("agent-to-gobgp"), g.get("gobgp-to-gobgp")
            sink_ratio = f"{rate(a_s) / rate(g_s):.1f}x" if g_s and rate(g_s) else "-"
            gobgp_ratio = (f"{rate(a_g, 'accepted') / rate(g_g, 'accepted'):.1f}x"
                           if a_g and g_g and rate(g_g, "accepted") else "-")
            print(f"| {r['n']:,} | {release} | {cell(a_s, 'rt2')} | {cell(g_s, 'rt2')} | {sink_ratio} "
                  f"| {cell(a_g, 'accepted')} | {cell(g_g, 'accepted')} | {gobgp_ratio} |")
    print()


def upgrade(r):
    """A result from before GoBGP releases were compared: its GoBGP was 3.10."""
    if "gobgp" not in r:
        old = {k: r.pop(k, None) for k in ("agent-to-gobgp", "gobgp-to-sink", "gobgp-to-gobgp")}
        r["gobgp"] = {"3.10": old} if any(old.values()) else {}
    return r


def main():
    b.require_root("the origination benchmark")
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    b.build_release()
    path = os.path.join(b.RESULTS, "origination.json")
    earlier = json.load(open(path)) if os.path.exists(path) else []
    results = [upgrade(r) for r in earlier if r["n"] not in sizes]
    for n in sizes:
        results.append(run_one(n))
        results.sort(key=lambda r: r["n"])
        b.save("origination", results)  # partial results survive an interrupted run
    summary(results)
    def series(label, pick, count="rt2"):
        points = [(r["n"], rate(pick(r), count)) for r in results if pick(r)]
        return (label, [p[0] for p in points], [p[1] for p in points])

    lines = [series("agent -> bgp-sink", lambda r: r["agent-to-sink"])]
    for release in sorted({rel for r in results for rel in r["gobgp"]}):
        def pick(key, rel=release):
            return lambda r: r["gobgp"].get(rel, {}).get(key)
        lines += [series(f"GoBGP {release} -> bgp-sink", pick("gobgp-to-sink")),
                  series(f"agent -> GoBGP {release}", pick("agent-to-gobgp"), "accepted"),
                  series(f"GoBGP {release} -> GoBGP {release}", pick("gobgp-to-gobgp"), "accepted")]
    b.plot(os.path.join(b.REPO, "docs", "img", "origination.png"),
           "RT-2 origination, routes per second (higher is better)", "routes (N)", "routes/s",
           lines, logx=True, logy=True)


if __name__ == "__main__":
    main()
