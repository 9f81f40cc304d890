"""SR Linux CLI plugin: /tools vxlan-avoid-flooding <mac-vrf> vtep <ip> mac <MAC>

Adds the MAC as a static MAC of that static VTEP in the candidate
configuration; the operator commits. The agent then advertises it (sticky
RT-2), so the fabric stops flooding traffic for it to every static VTEP.

This module is only the glue to the SR Linux CLI framework, which exists on
the box alone; the logic and its tests are in static_vxlan_agent_cli.py.
Installed in /etc/opt/srlinux/cli/plugins/ by the RPM, next to the logic
module in /opt/static-vxlan-agent/cli/.
"""

import json
import sys

sys.path.insert(0, "/opt/static-vxlan-agent/cli")

from srlinux.location import build_path  # noqa: E402
from srlinux.mgmt.cli import ExecuteError  # noqa: E402
from srlinux.mgmt.cli.required_plugin import RequiredPlugin  # noqa: E402
from srlinux.mgmt.cli.tools_plugin import ToolsPlugin  # noqa: E402
from srlinux.mgmt.server.server_error import ServerError  # noqa: E402
from srlinux.schema import DataStore  # noqa: E402
from srlinux.syntax import Syntax  # noqa: E402

import static_vxlan_agent_cli as logic  # noqa: E402

COMMAND = "vxlan-avoid-flooding"


def read_config(state):
    """Our mac-vrfs from the running configuration, as logic's config shape."""
    store = state.server.get_data_store(DataStore.Running)
    path = build_path("/network-instance[name=*]/protocols/bgp-evpn/bgp-instance[id=*]")
    config = {}
    try:
        data = store.get_data(path, recursive=True)
    except ServerError:
        return config
    for ni in data.network_instance.items():
        if not ni.protocols.exists() or not ni.protocols.get().bgp_evpn.exists():
            continue
        for bi in ni.protocols.get().bgp_evpn.get().bgp_instance.items():
            if not bi.static_vxlan_agent.exists():
                continue
            agent = bi.static_vxlan_agent.get()
            vteps = {v.vtep_ip: list(v.static_macs or []) for v in agent.static_vtep.items()}
            config[ni.name] = {"bgp-instance": bi.id, "static-vtep": vteps}
    return config


def read_state(state, mac_vrf):
    """The MACs the agent learned in the mac-vrf, as logic's state shape."""
    store = state.server.get_data_store(DataStore.State)
    path = build_path(
        f"/network-instance[name={mac_vrf}]/protocols/bgp-evpn/bgp-instance[id=*]/static-vxlan-agent/mac[address=*]"
    )
    macs = {}
    try:
        data = store.get_data(path, recursive=True)
        for ni in data.network_instance.items():
            for bi in ni.protocols.get().bgp_evpn.get().bgp_instance.items():
                for mac in bi.static_vxlan_agent.get().mac.items():
                    macs[mac.address] = {"vtep": mac.vtep, "source": mac.source}
    except (ServerError, KeyError):
        pass
    return {"mac-vrfs": {mac_vrf: {"mac": macs}}}


# SR Linux calls a `suggestions=` completer with five positional arguments,
# and a completer reads the other arguments by name alone (as the
# predecessor's CumulusMACCompleter, which runs on boxes, does).


class MacVrfCompleter:
    def __call__(self, syntax_argument, state, arguments, partial_word, line):
        return logic.mac_vrf_suggestions(read_config(state), partial_word)


class VtepCompleter:
    def __call__(self, syntax_argument, state, arguments, partial_word, line):
        mac_vrf = arguments.get_or("mac-vrf", "")
        return logic.vtep_suggestions(read_config(state), mac_vrf, partial_word)


class MacCompleter:
    def __call__(self, syntax_argument, state, arguments, partial_word, line):
        mac_vrf = arguments.get_or("mac-vrf", "")
        vtep = arguments.get_or("vtep", "")
        extra = []
        user = arguments.get_or("cumulus-user", "")
        if user:
            try:
                extra = logic.cumulus_macs(vtep, user, arguments.get_or("cumulus-password", ""))
            except logic.CliError as error:
                return [f"< {error} >"]
        return logic.learned_mac_suggestions(read_state(state, mac_vrf), mac_vrf, vtep, partial_word, extra)


def avoid_flooding(state, input, output, arguments, **_kwargs):
    try:
        path, value = logic.avoid_flooding_update(
            read_config(state),
            arguments.get(COMMAND, "mac-vrf"),
            arguments.get(COMMAND, "vtep"),
            arguments.get(COMMAND, "mac"),
        )
    except logic.CliError as error:
        raise ExecuteError(str(error))
    # The form of the one public /tools plugin known to write the candidate
    # on a box: the value as a JSON string, the datastore named.
    state.server.set_json(
        path=build_path(path), value=json.dumps(value), data_store=DataStore.Candidate, is_replace=False
    )
    output.print_line(f"added {value['static-macs'][0]} to {path}/static-macs: commit to apply")


class Plugin(ToolsPlugin):
    def get_required_plugins(self):
        return [RequiredPlugin("tools_mode")]

    def on_tools_load(self, state):
        syntax = (
            Syntax(COMMAND, help="Stops flooding to static VTEPs for a MAC: makes it a static MAC of its VTEP")
            .add_unnamed_argument("mac-vrf", suggestions=MacVrfCompleter(), help="a mac-vrf using the agent")
            .add_named_argument("vtep", suggestions=VtepCompleter(), help="the static VTEP the MAC is behind")
            .add_named_argument("mac", suggestions=MacCompleter(), help="the MAC (learned ones are suggested)")
            .add_named_argument("cumulus-user", default="", help="also suggest the MACs a Cumulus VTEP reports")
            .add_named_argument("cumulus-password", default="", help="its NCLU REST API password")
        )
        state.command_tree.tools_mode.root.add_command(syntax, update_location=False, callback=avoid_flooding)
