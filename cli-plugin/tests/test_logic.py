"""The CLI plugins' logic: input checks, the candidate-config change, the
suggestions, the Cumulus NCLU query against a real local HTTP server, and the
tables rendered from the state a real agent publishes."""

import ast
import base64
import http.server
import json
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from agent_process import agent_binary, free_port

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import static_vxlan_agent_cli as logic  # noqa: E402

REPO = HERE.parent.parent
CONFIG = {
    "blue": {"bgp-instance": 2, "static-vtep": {"192.0.2.1": ["02:00:00:00:00:01"], "192.0.2.2": []}},
    "red": {"bgp-instance": 1, "static-vtep": {}},
}


@pytest.mark.parametrize(
    "text,mac",
    [("00:11:22:33:44:55", "00:11:22:33:44:55"), ("00-11-22-AA-BB-CC", "00:11:22:aa:bb:cc"), ("001122aabbcc", "00:11:22:aa:bb:cc")],
)
def test_macs_are_normalized(text, mac):
    assert logic.normalize_mac(text) == mac


@pytest.mark.parametrize(
    "text,why",
    [("01:00:5e:00:00:01", "unicast"), ("ff:ff:ff:ff:ff:ff", "unicast"), ("00:00:00:00:00:00", "not a host"), ("00:11:22", "not a MAC"), ("00:11-22:33:44:55", "not a MAC")],
)
def test_bad_macs_say_why(text, why):
    with pytest.raises(logic.CliError, match=why):
        logic.normalize_mac(text)


def test_vteps_must_be_unicast_ipv4():
    assert logic.normalize_vtep(" 192.0.2.1 ") == "192.0.2.1"
    for bad in ("2001:db8::1", "224.0.0.1", "0.0.0.0", "vtep1"):
        with pytest.raises(logic.CliError):
            logic.normalize_vtep(bad)


def test_the_update_goes_to_the_static_vtep_under_the_bgp_instance_in_use():
    path, value = logic.avoid_flooding_update(CONFIG, "blue", "192.0.2.2", "00-AA-BB-CC-DD-EE")
    assert path == (
        "/network-instance[name=blue]/protocols/bgp-evpn/bgp-instance[id=2]"
        "/static-vxlan-agent/static-vtep[vtep-ip=192.0.2.2]"
    )
    assert value == {"static-macs": ["00:aa:bb:cc:dd:ee"]}


@pytest.mark.parametrize(
    "mac_vrf,vtep,mac,why",
    [
        ("green", "192.0.2.1", "00:aa:bb:cc:dd:ee", "does not use the static-vxlan-agent .*blue, red"),
        ("blue", "192.0.2.9", "00:aa:bb:cc:dd:ee", "not a static VTEP of mac-vrf blue .*192.0.2.1, 192.0.2.2"),
        ("blue", "192.0.2.2", "02:00:00:00:00:01", "already a static MAC of VTEP 192.0.2.1"),
    ],
)
def test_updates_that_make_no_sense_are_refused(mac_vrf, vtep, mac, why):
    with pytest.raises(logic.CliError, match=why):
        logic.avoid_flooding_update(CONFIG, mac_vrf, vtep, mac)


def test_suggestions_follow_the_configuration_and_learned_state():
    assert logic.mac_vrf_suggestions(CONFIG) == ["blue", "red"]
    assert logic.vtep_suggestions(CONFIG, "blue", "192.0.2.") == ["192.0.2.1", "192.0.2.2"]
    assert logic.vtep_suggestions(CONFIG, "green") == []
    macs = {f"02:00:00:00:01:{i:02x}": {"vtep": "192.0.2.1", "source": "learned"} for i in range(60)}
    macs["00:00:5e:00:01:07"] = {"vtep": "192.0.2.1", "source": "learned"}  # VRRP
    macs["02:00:00:00:00:01"] = {"vtep": "192.0.2.1", "source": "static"}
    macs["02:00:00:00:02:01"] = {"vtep": "192.0.2.2", "source": "learned"}
    state = {"mac-vrfs": {"blue": {"mac": macs}}}
    suggested = logic.learned_mac_suggestions(state, "blue", "192.0.2.1", extra=["AA:00:00:00:00:01", "junk"])
    assert len(suggested) == logic.MAX_SUGGESTIONS
    assert "00:00:5e:00:01:07" not in suggested and "02:00:00:00:00:01" not in suggested
    assert "02:00:00:00:02:01" not in suggested
    assert logic.learned_mac_suggestions(state, "blue", "192.0.2.1", prefix="AA") == []
    assert logic.learned_mac_suggestions(state, "blue", "192.0.2.1", prefix="aa", extra=["AA:00:00:00:00:01"]) == [
        "aa:00:00:00:00:01"
    ]


class _Nclu(http.server.BaseHTTPRequestHandler):
    """A Cumulus NCLU REST endpoint as the predecessor used it."""

    reply = None

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(b"cumulus:secret").decode():
            self.send_response(401)
            self.end_headers()
            return
        if self.path != "/nclu/v1/rpc" or json.loads(body) != {"cmd": "show bridge macs dynamic json"}:
            self.send_response(400)
            self.end_headers()
            return
        payload = _Nclu.reply.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def nclu():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Nclu)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_cumulus_macs_come_from_its_rest_api(nclu):
    _Nclu.reply = json.dumps(
        [
            {"mac": "00:11:22:33:44:01", "ifname": "swp2", "vlan": 10},
            {"mac": "00:11:22:33:44:02", "ifname": "e1-2", "vlan": 10},
            {"mac": "00:11:22:33:44:03", "ifname": "eth0"},
            {"mac": "not-a-mac", "ifname": "e1-3"},
        ]
    )
    macs = logic.cumulus_macs("127.0.0.1", "cumulus", "secret", netns=None, scheme="http", port=nclu)
    assert macs == ["00:11:22:33:44:02", "00:11:22:33:44:03"]
    with pytest.raises(logic.CliError, match="credentials"):
        logic.cumulus_macs("127.0.0.1", "cumulus", "wrong", netns=None, scheme="http", port=nclu)
    _Nclu.reply = "<html>not json</html>"
    with pytest.raises(logic.CliError, match="did not answer JSON"):
        logic.cumulus_macs("127.0.0.1", "cumulus", "secret", netns=None, scheme="http", port=nclu)


def test_the_password_is_not_on_the_command_line():
    command, stdin = logic.nclu_request("192.0.2.1", "root", "p@ss word")
    assert command[:4] == ["ip", "netns", "exec", "srbase-default"]
    assert not any("p@ss" in part for part in command)
    assert stdin == 'user = "root:p@ss word"\n'




@pytest.mark.skipif(agent_binary() is None, reason="the agent is not built (cargo build -p static-vxlan-agent)")
def test_the_tables_render_what_a_real_agent_publishes(tmp_path):
    http = f"127.0.0.1:{free_port()}"
    config = tmp_path / "agent.yaml"
    config.write_text(
        "source-address: 127.0.0.1\n"
        f"peer-address: 127.0.0.1\npeer-port: {free_port()}\nlocal-as: 65000\nstate-file: ''\n"
        "mac-vrfs:\n  blue:\n    evi: 100\n    vni: 10100\n    static-vteps:\n"
        "      192.0.2.1:\n        static-macs: ['02:00:00:00:00:01']\n      192.0.2.2: {}\n"
    )
    agent = subprocess.Popen(
        [str(agent_binary()), "run", "--config", str(config), "--http", http],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        entries = None
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://{http}/yang", timeout=2) as response:
                    entries = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        assert entries, "the agent did not serve /yang"
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    state = logic.state_from_published(entries)
    assert set(state["mac-vrfs"]["blue"]["vtep"]) == {"192.0.2.1", "192.0.2.2"}
    text = logic.render_state(state)
    assert "static-vxlan-agent: down (BGP session" in text
    assert "mac-vrf blue: down, 1 MACs" in text
    row = next(line for line in text.splitlines() if "02:00:00:00:00:01" in line)
    assert [c.strip() for c in row.strip("|").split("|")][:4] == ["02:00:00:00:00:01", "192.0.2.1", "static", "0"]
    assert logic.render_state({"mac-vrfs": {}}).startswith("static-vxlan-agent is not configured")


def test_a_vtep_found_down_says_so():
    vtep = {"origin": "configured", "rt3-advertised": False, "mac-count": 2, "liveness": "down",
            "liveness-method": "icmp", "last-rtt-us": 85, "withdrawn-down": True}
    state = {"agent": {"oper-state": "up", "bgp": {}}, "mac-vrfs": {"blue": {"vtep": {"192.0.2.1": vtep}}}}
    row = next(line for line in logic.render_state(state).splitlines() if "192.0.2.1" in line)
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "192.0.2.1", "configured", "no (VTEP down)", "2", "down (icmp, 85 us)"]
    unknown = {"liveness": "unknown", "liveness-method": "icmp", "rt3-advertised": True,
               "liveness-error": "cannot open a raw ICMP socket"}
    assert logic._liveness(unknown) == "unknown (icmp): cannot open a raw ICMP socket"
    assert logic._rt3(unknown) == "yes"


def test_the_framework_modules_are_glue_only():
    """They compile, define the Plugin class SR Linux looks for, and import
    only the framework and the logic module."""
    for name in ("vxlan_avoid_flooding.py", "show_static_vxlan_agent.py"):
        tree = ast.parse((HERE.parent / name).read_text(), name)
        imports = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        assert imports <= {"srlinux", "sys", "json", "static_vxlan_agent_cli"}, (name, imports)
        assert any(isinstance(n, ast.ClassDef) and n.name == "Plugin" for n in tree.body), name
