"""Agent restarts: how long the EVPN leaves go without the agent's routes,
per FRR release, and how soon a restarted agent has sent its whole table.

usage: sudo bench/run.sh agent_restart [ROUNDS] [MACS]

1. First table (no lab): the agent starts with MACS learned MACs (default
   10,000) in its state file and bench/src/bin/bgp-sink as its peer on
   loopback. Timed from just before the process is spawned to the UPDATE
   that completes the MACS RT-2 (the sink's clock), five times.
2. SIGKILL and restart in the netns lab (labs/netns/lab.sh), ROUNDS times
   (default 10) per FRR release (8.4, 10.3, and 10.7 where its Debian root
   exists) and per time down (0 s: started again at once, as a supervisor
   would; 3 s: as the end-to-end test does). Each round the agent is killed
   and started again after that time, while
   h1 pings h4 every 100 ms and leaf2's FDB is read every 20 ms. Recorded per
   round: the longest time leaf2 went without h1's MAC or the flood entry of
   static1 (1.1.1.1), pings lost, and the agent's time from the restart
   command to its "initial table sent" log line.

Writes bench/results/agent_restart.json. Asserts no timing.
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

H1_MAC = "02:00:00:00:01:01"
ROOTS = os.environ.get("SVA_ROOTS", "/var/cache/static-vxlan-agent/roots")


def first_table(cleanup, macs):
    """Seconds from spawn to the last of MACS restored routes at the sink."""
    work = cleanup.tempdir("restart-table")
    now_ms = int(time.time() * 1000)
    vteps = [f"192.0.2.{i}" for i in range(1, 5)]
    saved = []
    for i in range(macs):
        hi, lo = divmod(i, 256)
        saved.append({
            "mac": f"02:41:00:{hi // 256:02x}:{hi % 256:02x}:{lo:02x}",
            "vtep": vteps[i % len(vteps)],
            "ips": {f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}": now_ms},
            "last-seen-unix-ms": now_ms,
            "sequence": 0,
        })
    state_file = os.path.join(work, "learned.json")
    with open(state_file, "w") as f:
        json.dump({"format": "static-vxlan-agent learned table", "version": 1,
                   "written-at-unix-ms": now_ms, "mac-vrfs": {"blue": saved}}, f)
    runs = []
    for _ in range(5):
        port = b.free_port()
        sink = subprocess.Popen(
            [os.path.join(b.BENCH_BIN_DIR, "bgp-sink"), "--listen", f"127.0.0.1:{port}", "--asn", "65000",
             "--expect", str(macs), "--timeout", "60"],
            stdout=subprocess.PIPE, text=True)
        cleanup.process(sink)
        sink.stdout.readline()  # {"listening": ...}
        config = (
            f"source-address: 127.0.0.41\npeer-address: 127.0.0.1\npeer-port: {port}\nlocal-as: 65000\n"
            f"state-file: {state_file}\nmac-aging-secs: 3600\n"
            f"max-macs-per-mac-vrf: {macs * 2}\nmax-macs-per-vtep: {macs * 2}\n"
            "mac-vrfs:\n  blue:\n    evi: 100\n    vni: 10100\n    static-vteps:\n"
            + "".join(f"      {v}: {{}}\n" for v in vteps)
        )
        spawned = time.time()
        agent = b.Agent(cleanup, config, tag="restart-agent")
        result = json.loads(sink.stdout.readline())
        agent.stop()
        sink.wait(10)
        if not result["complete"]:
            b.say(f"first table incomplete: {result}")
            continue
        total = result["established-unix"] + result["elapsed-s"] - spawned
        runs.append({"spawn-to-last-route-s": round(total, 3),
                     "spawn-to-established-s": round(result["established-unix"] - spawned, 3),
                     "established-to-last-route-s": round(result["elapsed-s"], 3)})
        b.say(f"first table, {macs} learned MACs: {runs[-1]}")
    return runs


class FdbWatch(threading.Thread):
    """Reads leaf2's FDB every 20 ms; keeps (time, h1 and the flood entry present)."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab = lab
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            fdb = self.lab.fdb("leaf2")
            present = any(l.startswith(H1_MAC) and "dst 1.1.1.1" in l for l in fdb.splitlines()) \
                and "00:00:00:00:00:00 dst 1.1.1.1" in fdb
            self.samples.append((time.monotonic(), present))
            time.sleep(0.02)

    def longest_gap(self):
        longest, since = 0.0, None
        for at, present in self.samples:
            if not present and since is None:
                since = at
            elif present and since is not None:
                longest = max(longest, at - since)
                since = None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest


def frr_rounds(cleanup, release, rounds, downs):
    lab = b.NetnsLab("svarst")
    env = {"FRR": release, "AGING": "300"}
    try:
        lab.run("up", **env)
        lab.run("agent-start", **env)
        b.wait_until("h1 -> h4", 20, lambda: subprocess.run(
            ["ip", "netns", "exec", lab.ns("h1"), "ping", "-c", "1", "-W", "1", "10.0.0.104"],
            capture_output=True).returncode == 0, interval=0.3)
        saved = os.path.join(lab.work, "learned-table.json")
        b.wait_until("h1 in the state file", 15,
                     lambda: os.path.exists(saved) and H1_MAC in open(saved).read(), interval=0.5)
        version = subprocess.run([lab.SCRIPT, "vtysh", "leaf2", "-c", "show version"], capture_output=True,
                                 text=True, env=dict(os.environ, SVA_LAB=lab.prefix)).stdout.split("\n")[0]
        results = {}
        for down in downs:
            results[str(down)] = [restart_round(cleanup, lab, env, release, down, r) for r in range(rounds)]
        return {"frr": version, "rounds": results}
    finally:
        lab.run("down", **env)


def restart_round(cleanup, lab, env, release, down, r):
    """One SIGKILL, `down` seconds, and a restart, watched at leaf2."""
    watch = FdbWatch(lab)
    watch.start()
    ping = lab.ping_stream(cleanup, "h1", "10.0.0.104")
    time.sleep(1)
    lab.run("agent-kill", **env)
    time.sleep(down)
    restarted = time.time()
    lab.run("agent-start", **env)
    b.wait_until("leaf2 holds h1 again", 30, lambda: watch.samples and watch.samples[-1][1])
    time.sleep(2)
    watch.stopped.set()
    watch.join()
    sent, received = b.stop_ping(ping)
    table_sent = lab.agent_log_time("initial table sent", restarted)
    result = {"longest-fdb-gap-s": round(watch.longest_gap(), 3), "pings-sent": sent,
              "pings-lost": sent - received, "restart-to-table-sent-s": round(table_sent - restarted, 3)}
    b.say(f"FRR {release}, down {down} s, round {r + 1}: {result}")
    return result


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None


def main():
    b.require_root("agent_restart")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    macs = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    b.build_release()
    out = {"macs": macs}
    with b.Cleanup() as cleanup:
        out["first-table"] = first_table(cleanup, macs)
    out["first-table-summary"] = summary([r["spawn-to-last-route-s"] for r in out["first-table"]])
    out["releases"] = {}
    for release, root in (("8.4", None), ("10.3", "trixie"), ("10.7", "sid")):
        if root and not os.path.exists(os.path.join(ROOTS, root, "usr/lib/frr/bgpd")):
            b.say(f"FRR {release}: no Debian root in {ROOTS}/{root}; skipped")
            continue
        with b.Cleanup() as cleanup:
            data = frr_rounds(cleanup, release, rounds, (0, 3))
        data["summary"] = {
            down: {key: summary([r[key] for r in runs])
                   for key in ("longest-fdb-gap-s", "pings-lost", "restart-to-table-sent-s")}
            for down, runs in data["rounds"].items()
        }
        out["releases"][release] = data
        b.say(f"FRR {release}: {data['summary']}")
    b.save("agent_restart", out)


if __name__ == "__main__":
    main()
