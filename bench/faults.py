"""Recovery times in the netns demo lab (labs/netns), for the faults the
BGP side can meet. Each fault is injected ROUNDS times (default 3) into a
lab whose agent is up; the clock starts at the fault or at the repair and
stops when the agent's state or leaf2's FDB shows the named condition.
Polls every 50 ms, so figures are +-50 ms.

  peer SIGKILL        leaf1's bgpd killed (its kernel closes the TCP
                      session): time until the agent sees the session down;
                      then bgpd started again: time until the agent is
                      established and until leaf2's FDB is whole again.
  peer frozen         leaf1's bgpd stopped with SIGSTOP (no FIN, nothing):
                      only the hold timer (9 s in the lab) can tell; then
                      SIGCONT: time until established again.
  peer restart        leaf1's bgpd restarted (SIGTERM, start): time until
                      the agent is established and leaf2's FDB whole again.
  agent SIGKILL       the agent killed and started again: time from the new
                      start until leaf2's FDB is whole again.

"leaf2's FDB whole" means: the flood entry to static VTEP 1.1.1.1 (its RT-3)
and the static MAC 02:00:00:00:0f:0f behind 1.1.1.1 (its RT-2), both
reflected by leaf1 from the agent's routes. Learning-side faults (a missing
namespace, an interface deleted and created again) are timed by
agent/tests/faults.rs; the NDK server restart by agent/tests/ndk.rs.

usage: sudo bench/run.sh faults [ROUNDS]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

LAB = b.NetnsLab("svaflt")
PREFIX = LAB.prefix
STATIC_MAC = "02:00:00:00:0f:0f"


def lab(*args):
    LAB.run(*args)


def agent_bgp_state():
    return LAB.agent_state().get("bgp", {}).get("state")


def fdb_whole():
    out = LAB.fdb("leaf2")
    return "00:00:00:00:00:00 dst 1.1.1.1" in out and f"{STATIC_MAC} dst 1.1.1.1" in out


def bgpd_pid():
    with open(f"/tmp/{PREFIX}-lab/leaf1/run/bgpd.pid") as f:
        return int(f.read().strip())


def since(start, what, condition, timeout=60):
    b.wait_until(what, timeout, condition)
    return round(time.monotonic() - start, 3)


def recovered(start):
    """Seconds from start until the agent is established, and until
    leaf2's FDB is whole again."""
    up = since(start, "established again", lambda: agent_bgp_state() == "established")
    return up, since(start, "leaf2's FDB whole again", fdb_whole)


def steady():
    b.wait_until("the agent established", 30, lambda: agent_bgp_state() == "established")
    b.wait_until("leaf2's FDB whole", 30, fdb_whole)


def peer_sigkill():
    steady()
    pid = bgpd_pid()
    start = time.monotonic()
    os.kill(pid, 9)
    down = since(start, "the session down", lambda: agent_bgp_state() != "established")
    # bgpd takes a second or more to exit; start it only once it has.
    lab("frr-kill", "leaf1")
    start = time.monotonic()
    lab("frr-start", "leaf1")
    up, whole = recovered(start)
    return {"session down after the kill": down, "established after the start": up,
            "leaf2 FDB whole after the start": whole}


def peer_frozen():
    steady()
    pid = bgpd_pid()
    start = time.monotonic()
    os.kill(pid, 19)  # SIGSTOP
    try:
        down = since(start, "the hold timer", lambda: agent_bgp_state() != "established", timeout=30)
    finally:
        os.kill(pid, 18)  # SIGCONT
    start = time.monotonic()
    up, whole = recovered(start)
    return {"session down after SIGSTOP (hold timer 9 s)": down, "established after SIGCONT": up,
            "leaf2 FDB whole after SIGCONT": whole}


def peer_restart():
    steady()
    start = time.monotonic()
    lab("frr-restart", "leaf1")
    up, whole = recovered(start)
    return {"established after the restart": up, "leaf2 FDB whole after the restart": whole}


def agent_sigkill():
    steady()
    lab("agent-kill")
    b.wait_until("leaf2 drops the agent's routes", 30, lambda: not fdb_whole())
    start = time.monotonic()
    lab("agent-start")
    up, whole = recovered(start)
    return {"established after the start": up, "leaf2 FDB whole after the start": whole}


FAULTS = [("peer SIGKILL", peer_sigkill), ("peer frozen (SIGSTOP)", peer_frozen),
          ("peer restart", peer_restart), ("agent SIGKILL and restart", agent_sigkill)]


def main():
    b.require_root("the fault benchmark")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not os.path.exists(b.AGENT_BIN):
        b.build_release()
    results = {}
    with b.Cleanup() as cleanup:
        cleanup.add(lambda: lab("down"))
        lab("up")
        lab("agent-start")
        for name, fault in FAULTS:
            runs = []
            for r in range(rounds):
                runs.append(fault())
                b.say(f"{name}, round {r + 1}: {runs[-1]}")
            results[name] = {
                measure: {"runs": [run[measure] for run in runs],
                          "median": statistics.median(run[measure] for run in runs)}
                for measure in runs[0]
            }
    b.save("faults", {"rounds": rounds, "seconds": results})
    for name, measures in results.items():
        for measure, values in measures.items():
            print(f"{name:28} {measure:45} median {values['median']:6.3f} s  runs {values['runs']}")


if __name__ == "__main__":
    main()
