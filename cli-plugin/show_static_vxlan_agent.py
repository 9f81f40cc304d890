"""SR Linux CLI plugin: show static-vxlan-agent [mac-vrf <name>]

Renders the agent's published state as tables: the BGP session, per mac-vrf
its static VTEPs (configured or discovered, RT-3, liveness) and its MACs
with sources and MAC mobility sequence numbers.

Only the glue to the SR Linux CLI framework; the rendering and its tests are
in static_vxlan_agent_cli.py.
"""

import sys

sys.path.insert(0, "/opt/static-vxlan-agent/cli")

from srlinux.location import build_path  # noqa: E402
from srlinux.mgmt.cli import CliPlugin, KeyCompleter  # noqa: E402
from srlinux.mgmt.server.server_error import ServerError  # noqa: E402
from srlinux.syntax import Syntax  # noqa: E402

import static_vxlan_agent_cli as logic  # noqa: E402

AGENT_LEAVES = ["oper-state", "oper-reason", "source-address", "peer-address", "evpn-vteps"]
BGP_LEAVES = ["state", "peer-id", "advertised-routes", "last-down-reason"]
VTEP_LEAVES = ["origin", "rt3-advertised", "mac-count", "liveness", "liveness-method", "last-rtt-us",
               "liveness-error", "withdrawn-down"]
MAC_LEAVES = ["vtep", "source", "sequence", "status", "ip"]


def leaves(node, names):
    out = {}
    for name in names:
        value = getattr(node, name.replace("-", "_"), None)
        if value is not None:
            out[name] = list(value) if name in ("evpn-vteps", "ip") else value
    return out


def read_state(state):
    store = state.server_data_store
    result = {"mac-vrfs": {}}
    try:
        data = store.get_data(build_path("/network-instance[name=default]/protocols/static-vxlan-agent"), recursive=True)
        agent = data.network_instance.get("default").protocols.get().static_vxlan_agent.get()
        result["agent"] = leaves(agent, AGENT_LEAVES)
        result["agent"]["bgp"] = leaves(agent.bgp.get(), BGP_LEAVES)
    except (ServerError, AttributeError, KeyError):
        return result
    try:
        path = build_path("/network-instance[name=*]/protocols/bgp-evpn/bgp-instance[id=*]/static-vxlan-agent")
        data = store.get_data(path, recursive=True)
    except ServerError:
        return result
    for ni in data.network_instance.items():
        for bi in ni.protocols.get().bgp_evpn.get().bgp_instance.items():
            agent = bi.static_vxlan_agent.get()
            vrf = leaves(agent, ["oper-state", "mac-count"])
            vrf["vtep"] = {v.address: leaves(v, VTEP_LEAVES) for v in agent.vtep.items()}
            vrf["mac"] = {m.address: leaves(m, MAC_LEAVES) for m in agent.mac.items()}
            result["mac-vrfs"][ni.name] = vrf
    return result


class Plugin(CliPlugin):
    def load(self, cli, **_kwargs):
        syntax = Syntax("static-vxlan-agent", help="State of the static VXLAN agent: session, VTEPs, MACs")
        syntax.add_named_argument(
            "mac-vrf", default="", suggestions=KeyCompleter(path="/network-instance[name=*]"), help="only this mac-vrf"
        )
        cli.show_mode.add_command(syntax, update_location=False, callback=self._print)

    # SR Linux's documented show callback: (state, output, arguments).
    def _print(self, state, output, arguments, **_kwargs):
        mac_vrf = arguments.get("static-vxlan-agent", "mac-vrf") or None
        for line in logic.render_state(read_state(state), mac_vrf).splitlines():
            output.print_line(line)
