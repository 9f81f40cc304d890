"""The CLI plugins run end to end the way SR Linux runs them, through the
test double in srl_double/ (see its README for the public source of every
call form), against a running agent on a real kernel: completion of the
mac-vrf, the VTEP and a MAC the agent learned from an ARP in VXLAN, the
/tools command writing the candidate, the commit reaching the agent, and
`show static-vxlan-agent` rendering what the agent then publishes."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from agent_process import agent_binary, free_port

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "srl_double"))
# Where the RPM puts the logic module the plugins import: /opt/static-vxlan-agent/cli.
sys.path.insert(0, str(HERE.parent))

import box as srl  # noqa: E402

REPO = HERE.parent.parent
PLUGINS = HERE.parent
VTEP_A, VTEP_B, LEAF = "10.0.0.1", "10.0.0.2", "10.0.0.254"
HOST_MAC, STATIC_MAC = "02:00:00:00:00:01", "02:00:00:00:00:aa"
VNI = 10100




def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


# One ARP request from HOST_MAC (10.1.0.1) in VXLAN, sent as a static VTEP
# sends it: a UDP datagram to port 4789 from the VTEP's address.
SEND_ARP = """
import socket, sys
vni, mac, src, dst = int(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(':', '')), sys.argv[3], sys.argv[4]
frame = bytes([8, 0, 0, 0]) + vni.to_bytes(3, 'big') + b'\\0' + b'\\xff' * 6 + mac + b'\\x08\\x06'
frame += bytes([0, 1, 8, 0, 6, 4, 0, 1]) + mac + socket.inet_aton('10.1.0.1') + bytes(6) + socket.inet_aton(dst)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0)); s.sendto(frame, (dst, 4789))
"""


def running_config(static_macs):
    """The configuration as SR Linux holds it (JSON, lists as arrays)."""
    return {
        "network-instance": [
            {"name": "default", "protocols": {"static-vxlan-agent": {"admin-state": "enable", "local-as": 65000}}},
            {
                "name": "blue",
                "type": "mac-vrf",
                "protocols": {"bgp-evpn": {"bgp-instance": [{"id": 1, "static-vxlan-agent": {
                    "evi": 100,
                    "vni": VNI,
                    "static-vtep": [
                        {"vtep-ip": VTEP_A, "static-macs": list(static_macs)},
                        {"vtep-ip": VTEP_B},
                    ],
                }}]}},
            },
        ]
    }


def agent_yaml(tree, base):
    """What a commit of `tree` makes the agent run on (standalone: its YAML;
    JSON is YAML)."""
    mac_vrfs = {}
    for ni in tree["network-instance"]:
        for bi in ni.get("protocols", {}).get("bgp-evpn", {}).get("bgp-instance", []):
            agent = bi.get("static-vxlan-agent")
            if agent:
                vteps = {v["vtep-ip"]: {"static-macs": v.get("static-macs", [])} for v in agent["static-vtep"]}
                mac_vrfs[ni["name"]] = {"evi": agent["evi"], "vni": agent["vni"], "static-vteps": vteps}
    return json.dumps(dict(base, **{"mac-vrfs": mac_vrfs}))


def published(http):
    with urllib.request.urlopen(f"http://{http}/yang", timeout=2) as response:
        return json.load(response)


def eventually(what, check, seconds=10):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            result = check()
            if result:
                return result
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s ({last})")


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("SKIP: the CLI end-to-end test needs root (network namespaces, eBPF); CI runs it as root")
    if agent_binary() is None:
        pytest.skip("SKIP: the agent is not built (cargo build -p static-vxlan-agent)")
    tag = uuid.uuid4().hex[:6]
    vteps, leaf = f"svacli-v-{tag}", f"svacli-l-{tag}"
    agent = None
    try:
        for ns in (vteps, leaf):
            _ip("netns", "add", ns)
        _ip("link", "add", f"cv{tag}", "netns", vteps, "type", "veth", "peer", "name", f"cl{tag}", "netns", leaf)
        for ns, ifname, addrs in ((vteps, f"cv{tag}", [VTEP_A, VTEP_B]), (leaf, f"cl{tag}", [LEAF])):
            for addr in addrs:
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
        http = f"127.0.0.1:{free_port()}"
        base = {
            "source-address": "127.0.0.1", "peer-address": "127.0.0.1", "peer-port": free_port(),
            "local-as": 65000, "state-file": "", "learning-interfaces": [f"cl{tag}"], "learning-netns": leaf,
        }
        config = tmp_path / "agent.yaml"
        config.write_text(agent_yaml(running_config([STATIC_MAC]), base))
        log = open(tmp_path / "agent.log", "w")
        agent = subprocess.Popen([str(agent_binary()), "run", "--config", str(config), "--http", http],
                                 stdout=log, stderr=log)

        def attached():
            snooper = published(http)['.network_instance{.name=="default"}.protocols.static_vxlan_agent']
            return snooper.get("snooper", {}).get("status") == "running"

        eventually("the snooper runs", attached)
        yield {"vteps": vteps, "http": http, "config": config, "base": base, "agent": agent,
               "log": tmp_path / "agent.log"}
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=10)
        for ns in (vteps, leaf):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def mac_entry(http, mac):
    key = ('.network_instance{.name=="blue"}.protocols.bgp_evpn.bgp_instance{.id==1}'
           f'.static_vxlan_agent.mac{{.address=="{mac}"}}')
    return published(http).get(key)


def test_tools_and_show_run_end_to_end_as_sr_linux_calls_them(lab):
    http = lab["http"]
    subprocess.run(["ip", "netns", "exec", lab["vteps"], sys.executable, "-c", SEND_ARP,
                    str(VNI), HOST_MAC, VTEP_A, LEAF], check=True)
    eventually("the agent learns the host", lambda: (mac_entry(http, HOST_MAC) or {}).get("source") == "learned")

    box = srl.Box(running_config([STATIC_MAC]), published(http))
    box.load(PLUGINS / "vxlan_avoid_flooding.py")
    box.load(PLUGINS / "show_static_vxlan_agent.py")

    # Tab completion, each completer called with SR Linux's five arguments.
    assert box.complete("tools vxlan-avoid-flooding ", "mac-vrf") == ["blue"]
    assert box.complete("tools vxlan-avoid-flooding bl", "mac-vrf") == ["blue"]
    assert box.complete("tools vxlan-avoid-flooding blue vtep ", "vtep") == [VTEP_A, VTEP_B]
    assert box.complete(f"tools vxlan-avoid-flooding blue vtep {VTEP_A} mac ", "mac") == [HOST_MAC]
    assert box.complete(f"tools vxlan-avoid-flooding blue vtep {VTEP_B} mac ", "mac") == []

    # The command writes the candidate with a JSON string, merging.
    text = box.run(f"tools vxlan-avoid-flooding blue vtep {VTEP_A} mac {HOST_MAC.upper()}")
    assert "commit to apply" in text, text
    path = ("/network-instance[name=blue]/protocols/bgp-evpn/bgp-instance[id=1]"
            f"/static-vxlan-agent/static-vtep[vtep-ip={VTEP_A}]")
    assert box.writes == [(path, json.dumps({"static-macs": [HOST_MAC]}))]
    candidate = box.stores[srl.DataStore.Candidate].tree
    blue = candidate["network-instance"][1]["protocols"]["bgp-evpn"]["bgp-instance"][0]["static-vxlan-agent"]
    assert blue["static-vtep"][0]["static-macs"] == [STATIC_MAC, HOST_MAC]
    with pytest.raises(Exception, match="not a MAC"):
        box.run(f"tools vxlan-avoid-flooding blue vtep {VTEP_A} mac 02:00")

    # Commit: the agent runs on the candidate, and the MAC is static now.
    lab["config"].write_text(agent_yaml(candidate, lab["base"]))
    lab["agent"].send_signal(signal.SIGHUP)
    eventually("the MAC becomes static", lambda: (mac_entry(http, HOST_MAC) or {}).get("source") == "static")

    after = srl.Box(candidate, published(http))
    after.load(PLUGINS / "show_static_vxlan_agent.py")
    shown = after.run("show static-vxlan-agent")
    row = next(line for line in shown.splitlines() if HOST_MAC in line)
    assert [c.strip() for c in row.strip("|").split("|")][:3] == [HOST_MAC, VTEP_A, "static"], shown
    assert "mac-vrf blue:" in shown and VTEP_B in shown, shown
    assert after.run("show static-vxlan-agent mac-vrf red").count("mac-vrf") == 0
    # A learned MAC that is static now is no longer suggested.
    again = srl.Box(candidate, published(http))
    again.load(PLUGINS / "vxlan_avoid_flooding.py")
    assert again.complete(f"tools vxlan-avoid-flooding blue vtep {VTEP_A} mac ", "mac") == []
