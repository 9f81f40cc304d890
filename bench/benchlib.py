"""Helpers shared by the benchmark scripts in bench/: processes that are
always cleaned up, GoBGP instances on loopback addresses, the agent with a
generated YAML config, result files and plots.

Everything a script starts is registered with a Cleanup and torn down on
exit, on an exception and on SIGINT/SIGTERM. Nothing here asserts a timing:
scripts print what they measured and write it to bench/results/.
"""

import datetime
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
AGENT_BIN = os.environ.get(
    "AGENT_BIN", os.path.join(REPO, "target", "release", "static-vxlan-agent")
)
BENCH_BIN_DIR = os.path.join(REPO, "target", "release")


def say(*parts):
    print("==>", *parts, flush=True)


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with p% of all at or below it."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples: nothing was measured (see the log above)")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    """Resident set size of a process, from /proc (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def require_root(what):
    if os.geteuid() != 0:
        print(f"SKIP: {what} needs root (network namespaces, eBPF)")
        sys.exit(0)


def save(name, data):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
    say(f"results in {os.path.relpath(path, REPO)}")
    return path


class Cleanup:
    """Processes, namespaces, links and directories to remove, newest first."""

    def __init__(self):
        self.actions = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._signal)

    def _signal(self, signum, _frame):
        self.run()
        sys.exit(128 + signum)

    def add(self, action):
        self.actions.append(action)

    def process(self, proc):
        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        self.add(stop)
        return proc

    def netns(self, name):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.add(lambda: subprocess.run(["ip", "netns", "del", name], capture_output=True))
        return name

    def tempdir(self, tag):
        path = tempfile.mkdtemp(prefix=f"sva-bench-{tag}-")
        self.add(lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    def run(self):
        while self.actions:
            action = self.actions.pop()
            try:
                action()
            except Exception as e:  # cleanup goes on whatever one step does
                print(f"cleanup: {e}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.run()


def veth_namespaces(cleanup, tx_name, rx_name, tx_addr="10.200.0.1", rx_addr="10.200.0.2"):
    """Two fresh namespaces joined by a veth pair (vtx, vrx) with /24
    addresses, and a permanent neighbour entry so that the sending side
    never ARPs. Returns the namespace names."""
    tx = cleanup.netns(tx_name)
    rx = cleanup.netns(rx_name)
    ip = lambda *args: subprocess.run(["ip", *args], check=True)  # noqa: E731
    ip("link", "add", "vtx", "netns", tx, "type", "veth", "peer", "name", "vrx", "netns", rx)
    for ns, dev, addr in ((tx, "vtx", tx_addr), (rx, "vrx", rx_addr)):
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")
        ip("-n", ns, "link", "set", "lo", "up")
    mac = json.loads(subprocess.run(["ip", "-j", "-n", rx, "link", "show", "vrx"],
                                    capture_output=True, text=True, check=True).stdout)[0]["address"]
    ip("-n", tx, "neigh", "replace", rx_addr, "lladdr", mac, "dev", "vtx", "nud", "permanent")
    return tx, rx


def wait_until(what, timeout, check, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


ROOTS = os.environ.get("SVA_ROOTS", "/var/cache/static-vxlan-agent/roots")
# GoBGP releases: the host's Debian 12 package, and Debian 13's from the
# root scripts/debian-root.sh makes (a static Go binary: it runs as is).
GOBGP_BINARIES = {
    "3.10": ("/usr/bin/gobgpd", "/usr/bin/gobgp"),
    "3.36": (f"{ROOTS}/trixie/usr/bin/gobgpd", f"{ROOTS}/trixie/usr/bin/gobgp"),
}


def gobgp_available(release):
    return all(os.path.exists(p) for p in GOBGP_BINARIES[release])


class GoBgp:
    """gobgpd (AS 65000) on one loopback address, with neighbors given as
    dicts: address, passive (bool), port (to dial), rr_client (bool).
    `release` picks the binaries (GOBGP_BINARIES)."""

    def __init__(self, cleanup, name, address, neighbors, asn=65000, port=None, release="3.10"):
        self.daemon_bin, self.cli_bin = GOBGP_BINARIES[release]
        self.dir = cleanup.tempdir(name)
        self.address = address
        self.port = port or free_port(address)
        self.api = free_port()
        lines = [
            "[global.config]",
            f"  as = {asn}",
            f'  router-id = "{address}"',
            f"  port = {self.port}",
            f'  local-address-list = ["{address}"]',
        ]
        for n in neighbors:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{n["address"]}"',
                f"    peer-as = {asn}",
                "  [neighbors.transport.config]",
                f'    local-address = "{address}"',
            ]
            if n.get("passive", True):
                lines.append("    passive-mode = true")
            else:
                lines += ["    passive-mode = false", f"    remote-port = {n['port']}"]
            lines += [
                "  [neighbors.timers.config]",
                "    hold-time = 240",
                "    keepalive-interval = 30",
                "    connect-retry = 1",
            ]
            if n.get("rr_client"):
                lines += [
                    "  [neighbors.route-reflector.config]",
                    "    route-reflector-client = true",
                    f'    route-reflector-cluster-id = "{address}"',
                ]
            lines += [
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                '      afi-safi-name = "l2vpn-evpn"',
            ]
        config = os.path.join(self.dir, "gobgpd.toml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "gobgpd.log"), "w")
        self.proc = cleanup.process(
            subprocess.Popen(
                [self.daemon_bin, "-f", config, "-p", "--pprof-disable", f"--api-hosts=127.0.0.1:{self.api}"],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_until(f"gobgpd {name}", 10, lambda: self.cli("global") is not None)

    def cli(self, *args):
        out = subprocess.run(
            [self.cli_bin, "-p", str(self.api), *args], capture_output=True, text=True
        )
        return out.stdout if out.returncode == 0 else None

    def neighbor(self, address):
        """(session state, EVPN routes accepted) as GoBGP reports them."""
        text = self.cli("-j", "neighbor", address)
        if not text:
            return ("unknown", 0)
        value = json.loads(text)
        state = value.get("state", {}).get("session_state", "unknown")
        accepted = 0
        for family in value.get("afi_safis", []) or []:
            accepted += family.get("state", {}).get("accepted", 0) or 0
        return (state, accepted)

    def rss(self):
        return rss_bytes(self.proc.pid)


def established(state):
    # GoBGP's JSON gives the enum as a number (6) or a name, by version.
    return state in (6, "6", "established", "ESTABLISHED")


class Agent:
    """The agent in standalone mode with a YAML config written here."""

    def __init__(self, cleanup, config_text, tag="agent", netns=None, http=None, env=None):
        self.dir = cleanup.tempdir(tag)
        self.config = os.path.join(self.dir, "agent.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        command = [AGENT_BIN, "run", "--config", self.config]
        if http:
            command += ["--http", http]
        if netns:
            command = ["ip", "netns", "exec", netns] + command
        self.log_path = os.path.join(self.dir, "agent.log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        full_env.update(env or {})
        self.proc = cleanup.process(
            subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        )

    def rss(self):
        return rss_bytes(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class NetnsLab:
    """One copy of labs/netns/lab.sh, under its own namespace prefix."""

    SCRIPT = os.path.join(REPO, "labs", "netns", "lab.sh")
    HTTP = "127.0.0.1:8479"

    def __init__(self, prefix):
        self.prefix = prefix
        self.work = f"/tmp/{prefix}-lab"

    def run(self, *args, **env):
        """lab.sh ARGS with extra environment (AGING, HOLD_DOWN, FRR, ...).
        The leaves run FRR 8.4 unless FRR says otherwise: the figures in
        docs/BENCHMARKS.md name their release, and this keeps them
        reproducible now that the lab itself defaults to FRR 10.3."""
        full = dict(os.environ, SVA_LAB=self.prefix, AGENT_BIN=AGENT_BIN)
        full.setdefault("FRR", "8.4")
        full.update(env)
        subprocess.run([self.SCRIPT, *args], check=True, env=full, stdout=subprocess.DEVNULL)

    def ns(self, node):
        return f"{self.prefix}-{node}"

    def agent_state(self):
        """The agent's /state (from inside leaf1), or {} if it does not answer."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns("leaf1"), AGENT_BIN, "show", "--http", self.HTTP, "--json"],
            capture_output=True, text=True, check=False,
        )
        try:
            return json.loads(out.stdout)
        except ValueError:
            return {}

    def agent_log_time(self, needle, after, timeout=30):
        """Unix time of the first agent log line containing `needle` stamped
        at or after `after`, waiting up to `timeout` s for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(os.path.join(self.work, "agent.log"), errors="replace") as f:
                for line in f:
                    if needle in line:
                        at = log_line_time(line)
                        if at is not None and at >= after:
                            return at
            time.sleep(0.05)
        raise SystemExit(f"no {needle!r} in {self.work}/agent.log within {timeout} s")

    def ping_stream(self, cleanup, src, dst):
        """`ping` every 100 ms from host namespace `src` to `dst`, until stop_ping."""
        return cleanup.process(subprocess.Popen(
            ["ip", "netns", "exec", self.ns(src), "ping", "-i", "0.1", "-n", dst],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))

    def fdb(self, leaf):
        """The leaf's FDB on its vxlan0, as `bridge fdb show` prints it."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(leaf), "bridge", "fdb", "show", "dev", "vxlan0"],
            capture_output=True, text=True, check=False,
        ).stdout


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_line_time(line):
    """The UTC timestamp a tracing log line starts with (perhaps inside ANSI
    colours), as Unix seconds; None for a line without one."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", ANSI.sub("", line))
    if not match:
        return None
    return datetime.datetime.fromisoformat(match.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()


def stop_ping(proc):
    """Stops a ping stream with SIGINT: (sent, received) from its summary."""
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(10)[0]
    match = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    if not match:
        # No summary means ping died early: counting that as nothing lost
        # would hide exactly what these streams are there to catch.
        raise SystemExit(f"ping printed no summary: {out[-300:]!r}")
    return int(match.group(1)), int(match.group(2))


def build_release():
    """The agent and the bench binaries, release profile."""
    say("building the release agent and bench tools")
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-p", "static-vxlan-agent",
         "-p", "static-vxlan-agent-bench", "--bins"],
        cwd=REPO,
        check=True,
    )


def plot(path, title, xlabel, ylabel, series, logx=False, logy=False):
    """series: list of (label, xs, ys). Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, xs, ys in series:
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    say(f"plot in {os.path.relpath(path, REPO)}")
