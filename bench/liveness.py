#!/usr/bin/env python3
"""Static-VTEP liveness in the netns demo lab (labs/netns), with the lab's
ICMP liveness (300 ms x 3).

down/up, ROUNDS times (default 10): static1's uplink is cut (lab.sh
vtep-cut 1), then restored. Per round:
  detection   cut -> the agent's "static VTEP down" log line (its own
              microsecond timestamp; the same machine's clock as the cut)
  flood gone  cut -> leaf2's FDB deletes the flood entry to 1.1.1.1 (RT-3
              withdrawn) and the static MAC behind it (RT-2 withdrawn), as
              `bridge monitor fdb` reports them (read as they come)
  back        restore -> leaf2's FDB has the flood entry again (the
              hold-down, 5 s by default, is in this figure)
A ping stream h4 -> h2 (behind the other static VTEP, every 100 ms) runs
throughout; its loss is reported.

flap: static1 is cut for 1.5 s and restored for 1.5 s, for 60 s (20 flaps),
once with the default hold-down (5 s) and once with none: the UPDATE
messages leaf1's bgpd received from the agent in that minute (FRR's
neighbor messageStats) and the routes the agent announced and withdrew.

usage: sudo bench/run.sh liveness [ROUNDS]
Writes bench/results/liveness.json.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

LAB = b.NetnsLab("svaliv")
WORK = LAB.work
STATIC_MAC = "02:00:00:00:0f:0f"


def lab(*args, **env):
    LAB.run(*args, **env)


def ns(node):
    return LAB.ns(node)


def agent_state():
    return LAB.agent_state()


def whole():
    text = LAB.fdb("leaf2")
    return "00:00:00:00:00:00 dst 1.1.1.1" in text and f"{STATIC_MAC} dst 1.1.1.1" in text


class FdbMonitor:
    """`bridge monitor fdb` on leaf2: every line with when it was read."""

    def __init__(self, cleanup):
        self.proc = cleanup.process(subprocess.Popen(
            ["ip", "netns", "exec", ns("leaf2"), "bridge", "monitor", "fdb"],
            stdout=subprocess.PIPE, text=True, bufsize=1))
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append((time.time(), line))
                self.cond.notify_all()

    def wait(self, after, match, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, line in self.lines:
                    if at >= after and match(line):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"liveness: no FDB line matching within {timeout} s")
                self.cond.wait(left)


def down_up_rounds(cleanup, rounds):
    monitor = FdbMonitor(cleanup)
    ping = LAB.ping_stream(cleanup, "h4", "10.0.0.102")
    runs = []
    for r in range(rounds):
        b.wait_until("leaf2's FDB whole", 60, whole)
        time.sleep(1)
        cut = time.time()
        lab("vtep-cut", "1")
        detected = LAB.agent_log_time("static VTEP down", cut)
        flood = monitor.wait(cut, lambda l: l.startswith("Deleted 00:00:00:00:00:00") and "dst 1.1.1.1" in l)
        mac = monitor.wait(cut, lambda l: l.startswith(f"Deleted {STATIC_MAC}") and "dst 1.1.1.1" in l)
        time.sleep(0.5)
        restored = time.time()
        lab("vtep-restore", "1")
        back = monitor.wait(restored, lambda l: l.startswith("00:00:00:00:00:00") and "dst 1.1.1.1" in l)
        run = {"detection": round((detected - cut) * 1000), "flood entry gone": round((flood - cut) * 1000),
               "static MAC gone": round((mac - cut) * 1000), "back after restore": round((back - restored) * 1000)}
        runs.append(run)
        b.say(f"round {r + 1}: {run} (ms)")
    sent, received = b.stop_ping(ping)
    return runs, {"sent": sent, "received": received}


def neighbor_updates():
    out = subprocess.run(
        [b.NetnsLab.SCRIPT, "vtysh", "leaf1", "-c", "show bgp neighbor 1.1.1.254 json"],
        env=dict(os.environ, SVA_LAB=LAB.prefix),
        capture_output=True, text=True, check=False).stdout
    try:
        return json.loads(out)["1.1.1.254"]["messageStats"]["updatesRecv"]
    except (ValueError, KeyError):
        return None


def flap_minute(hold_down):
    lab("agent-stop")
    lab("agent-config", HOLD_DOWN=str(hold_down))
    lab("agent-start")
    b.wait_until("leaf2's FDB whole", 60, whole)
    time.sleep(3)
    before_updates = neighbor_updates()
    before = agent_state().get("bgp", {}).get("counters", {})
    end = time.monotonic() + 60
    flaps = 0
    while time.monotonic() < end:
        lab("vtep-cut", "1")
        time.sleep(1.5)
        lab("vtep-restore", "1")
        time.sleep(1.5)
        flaps += 1
    after = agent_state().get("bgp", {}).get("counters", {})
    updates = neighbor_updates() - before_updates
    # Back to a steady lab for whatever comes next.
    b.wait_until("leaf2's FDB whole", 60, whole)
    return {"hold-down-secs": hold_down, "flaps": flaps, "updates received by leaf1": updates,
            "routes announced": after.get("routes-announced", 0) - before.get("routes-announced", 0),
            "routes withdrawn": after.get("routes-withdrawn", 0) - before.get("routes-withdrawn", 0)}


def main():
    b.require_root("the liveness benchmark")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    if not os.path.exists(b.AGENT_BIN):
        b.build_release()
    with b.Cleanup() as cleanup:
        cleanup.add(lambda: lab("down"))
        lab("up")
        lab("agent-config")
        lab("agent-start")
        # The static MAC is advertised from the start; learn nothing else.
        runs, ping = down_up_rounds(cleanup, rounds)
        flaps = [flap_minute(5), flap_minute(0)]
    summary = {key: {"median": statistics.median(r[key] for r in runs), "min": min(r[key] for r in runs),
                     "max": max(r[key] for r in runs)} for key in runs[0]}
    b.save("liveness", {"rounds": rounds, "ms": runs, "summary-ms": summary, "ping-h4-h2": ping,
                        "flapping-minute": flaps})
    for key, values in summary.items():
        print(f"{key:22} median {values['median']:6} ms  min {values['min']:6}  max {values['max']:6}")
    print(f"ping h4 -> h2 throughout: {ping['received']}/{ping['sent']} answered")
    for flap in flaps:
        print(f"flapping minute, hold-down {flap['hold-down-secs']} s: {flap}")


if __name__ == "__main__":
    main()
