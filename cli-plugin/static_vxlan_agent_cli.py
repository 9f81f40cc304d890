"""The logic of the static-vxlan-agent CLI plugins, free of the SR Linux CLI
framework so that it runs and is tested anywhere (cli-plugin/tests).

The two plugin modules (vxlan_avoid_flooding.py, show_static_vxlan_agent.py)
only read SR Linux datastores into the plain dicts described here, call these
functions, and write the results back through the framework.

Shapes used here (what the thin modules build from the datastores):

- config: {mac_vrf_name: {"bgp-instance": id, "static-vtep": {ip: [macs]}}}
  for every mac-vrf whose bgp-evpn bgp-instance has our container;
- state: the agent's state as published, keyed like the YANG:
  {"agent": {...agent container...},
   "mac-vrfs": {name: {"oper-state", "mac-count",
                       "vtep": {ip: {...}}, "mac": {mac: {...}}}}}
"""

import ipaddress
import json
import re
import subprocess

CONTAINER = "static-vxlan-agent"

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-]?)[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
# VRRP virtual MACs: never a host behind a static VTEP (the predecessor left
# them out of the suggestions too).
_VRRP = re.compile(r"^00:00:5e:00:0[12]:", re.IGNORECASE)
MAX_SUGGESTIONS = 50


class CliError(ValueError):
    """An operator error, shown as is."""


def normalize_mac(text):
    """aa:bb:cc:dd:ee:ff in lower case; accepts '-' or no separators.
    Rejects what cannot be a host: multicast/broadcast and all-zero."""
    text = text.strip()
    if not _MAC.match(text):
        raise CliError(f"{text!r} is not a MAC address (like 00:11:22:33:44:55)")
    digits = re.sub(r"[:-]", "", text).lower()
    mac = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    if int(digits[0:2], 16) & 1:
        raise CliError(f"{mac} is a multicast or broadcast MAC: static MACs must be unicast")
    if digits == "0" * 12:
        raise CliError("00:00:00:00:00:00 is not a host's MAC")
    return mac


def normalize_vtep(text):
    """An IPv4 unicast address, as the YANG's static-vtep key wants it."""
    try:
        ip = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise CliError(f"{text!r} is not an IPv4 address") from None
    if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise CliError(f"{ip} cannot be a VTEP")
    return str(ip)


def avoid_flooding_update(config, mac_vrf, vtep, mac):
    """What `/tools vxlan-avoid-flooding <mac-vrf> vtep <ip> mac <MAC>` adds to
    the candidate configuration: (path, value) to merge, with the bgp-instance
    the mac-vrf really uses (not a hard-coded 1).

    The MAC must not already be a static MAC of another VTEP in this mac-vrf:
    one MAC, one place."""
    vtep = normalize_vtep(vtep)
    mac = normalize_mac(mac)
    vrf = config.get(mac_vrf)
    if vrf is None:
        known = ", ".join(sorted(config)) or "none"
        raise CliError(f"mac-vrf {mac_vrf} does not use the static-vxlan-agent (mac-vrfs that do: {known})")
    vteps = vrf.get("static-vtep", {})
    if vtep not in vteps:
        known = ", ".join(sorted(vteps)) or "none"
        raise CliError(f"{vtep} is not a static VTEP of mac-vrf {mac_vrf} (configured: {known})")
    for other, macs in vteps.items():
        if other != vtep and mac in (normalize_mac(m) for m in macs):
            raise CliError(f"{mac} is already a static MAC of VTEP {other} in mac-vrf {mac_vrf}")
    path = (
        f"/network-instance[name={mac_vrf}]/protocols/bgp-evpn/bgp-instance[id={vrf['bgp-instance']}]"
        f"/{CONTAINER}/static-vtep[vtep-ip={vtep}]"
    )
    return path, {"static-macs": [mac]}


def mac_vrf_suggestions(config, prefix=""):
    """The mac-vrfs that use the agent."""
    return sorted(name for name in config if name.startswith(prefix))


def vtep_suggestions(config, mac_vrf, prefix=""):
    """The static VTEPs configured in the mac-vrf."""
    return sorted(ip for ip in config.get(mac_vrf, {}).get("static-vtep", {}) if ip.startswith(prefix))


def learned_mac_suggestions(state, mac_vrf, vtep, prefix="", extra=()):
    """MACs the agent learned behind the VTEP (and `extra` ones, e.g. from the
    VTEP's own REST API), not yet static, without VRRP MACs; at most 50."""
    macs = state.get("mac-vrfs", {}).get(mac_vrf, {}).get("mac", {})
    found = {
        mac.lower()
        for mac, entry in macs.items()
        if entry.get("vtep") == vtep and entry.get("source") == "learned"
    }
    for mac in extra:
        try:
            found.add(normalize_mac(mac))
        except CliError:
            continue
    prefix = prefix.lower()
    return sorted(m for m in found if m.startswith(prefix) and not _VRRP.match(m))[:MAX_SUGGESTIONS]


def nclu_request(vtep, user, password, netns="srbase-default", scheme="https", port=8080):
    """The curl command (and its stdin) that asks a Cumulus VTEP's NCLU REST
    API for its dynamic bridge MACs. The credentials go through stdin, not
    the command line (where `ps` would show them). `netns`: where the VTEP is
    reachable (SR Linux: srbase-default); None runs curl where we are."""
    url = f"{scheme}://{vtep}:{port}/nclu/v1/rpc"
    command = [
        "curl", "--silent", "--show-error", "--fail", "--insecure", "--max-time", "3",
        "--config", "-", "--request", "POST", "--header", "Content-Type: application/json",
        "--data", json.dumps({"cmd": "show bridge macs dynamic json"}), url,
    ]
    if netns:
        command = ["ip", "netns", "exec", netns] + command
    user_line = json.dumps(f"{user}:{password}")
    return command, f"user = {user_line}\n"


def parse_nclu_macs(text):
    """The MACs NCLU reports on Ethernet ports (ifname e...), normalized;
    entries that are not MACs are skipped."""
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise CliError(f"the VTEP's REST API did not answer JSON: {error}") from None
    if not isinstance(entries, list):
        raise CliError("the VTEP's REST API answered something other than a list of MACs")
    macs = []
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("ifname", "")).startswith("e"):
            try:
                macs.append(normalize_mac(str(entry.get("mac", ""))))
            except CliError:
                continue
    return sorted(set(macs))


def cumulus_macs(vtep, user, password, netns="srbase-default", scheme="https", port=8080):
    """Asks the Cumulus VTEP for its MACs (see nclu_request)."""
    command, stdin = nclu_request(vtep, user, password, netns=netns, scheme=scheme, port=port)
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CliError(f"cannot query {vtep}'s REST API: {error}") from None
    if done.returncode != 0:
        raise CliError(
            f"{vtep}'s REST API failed ({done.stderr.strip() or f'curl exit {done.returncode}'}); "
            "is restserver enabled and are the credentials right?"
        )
    return parse_nclu_macs(done.stdout)


_KEY = re.compile(r'\{\.[\w-]+=="?([^"}]*)"?\}')


def state_from_published(entries):
    """The state shape above, from the telemetry entries the agent publishes
    (its key -> object map, as `GET /yang` serves it standalone)."""
    state = {"mac-vrfs": {}}
    for key, value in entries.items():
        names = _KEY.findall(key)
        if key.endswith("}.protocols.static_vxlan_agent") and names == ["default"]:
            state["agent"] = value
        elif key.endswith(".static_vxlan_agent") and ".bgp_evpn." in key and names:
            state["mac-vrfs"].setdefault(names[0], {}).update(value)
        elif ".static_vxlan_agent.vtep{" in key and len(names) >= 3:
            state["mac-vrfs"].setdefault(names[0], {}).setdefault("vtep", {})[names[-1]] = value
        elif ".static_vxlan_agent.mac{" in key and len(names) >= 3:
            state["mac-vrfs"].setdefault(names[0], {}).setdefault("mac", {})[names[-1]] = value
    return state


def _table(headers, rows):
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(c))) for w, c in zip(widths, row)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |", line]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    out.append(line)
    return "\n".join(out)


def _rt3(vtep):
    """Whether a VTEP's RT-3 is advertised, and why not when its liveness check found it down."""
    if vtep.get("rt3-advertised"):
        return "yes"
    return "no (VTEP down)" if vtep.get("withdrawn-down") else "no"


def _liveness(vtep):
    """The liveness check's verdict with its method and, for ICMP, the last round trip."""
    text = vtep.get("liveness", "unknown")
    method = vtep.get("liveness-method")
    if method:
        text += f" ({method}"
        if vtep.get("last-rtt-us") is not None:
            text += f", {vtep['last-rtt-us']} us"
        text += ")"
    if vtep.get("liveness-error"):
        text += f": {vtep['liveness-error']}"
    return text


def render_state(state, mac_vrf=None):
    """The agent's state as text tables: the BGP session, then per mac-vrf its
    VTEPs and its MACs with sources and sequence numbers."""
    agent = state.get("agent")
    if not agent:
        return "static-vxlan-agent is not configured (network-instance default protocols static-vxlan-agent)"
    bgp = agent.get("bgp", {})
    lines = [
        f"static-vxlan-agent: {agent.get('oper-state', 'unknown')}"
        + (f" ({agent['oper-reason']})" if agent.get("oper-reason") else ""),
        f"  BGP session to {agent.get('peer-address', agent.get('source-address', '?'))}: "
        f"{bgp.get('state', 'unknown')}, peer id {bgp.get('peer-id', '-')}, "
        f"{bgp.get('advertised-routes', 0)} routes advertised"
        + (f", last down: {bgp['last-down-reason']}" if bgp.get("last-down-reason") else ""),
    ]
    evpn = agent.get("evpn-vteps") or []
    lines.append(f"  EVPN VTEPs (never learned from): {', '.join(evpn) if evpn else 'none'}")
    for name, vrf in sorted(state.get("mac-vrfs", {}).items()):
        if mac_vrf and name != mac_vrf:
            continue
        lines.append("")
        lines.append(f"mac-vrf {name}: {vrf.get('oper-state', 'unknown')}, {vrf.get('mac-count', 0)} MACs")
        vteps = [
            (ip, v.get("origin", ""), _rt3(v), v.get("mac-count", 0), _liveness(v))
            for ip, v in sorted(vrf.get("vtep", {}).items(), key=lambda kv: ipaddress.ip_address(kv[0]))
        ]
        lines.append(_table(["VTEP", "origin", "RT-3", "MACs", "liveness"], vteps))
        macs = [
            (mac, m.get("vtep", ""), m.get("source", ""), m.get("sequence", 0), m.get("status", ""),
             " ".join(m.get("ip", [])))
            for mac, m in sorted(vrf.get("mac", {}).items())
        ]
        if macs:
            lines.append(_table(["MAC", "VTEP", "source", "seq", "status", "IPs"], macs))
    return "\n".join(lines)
