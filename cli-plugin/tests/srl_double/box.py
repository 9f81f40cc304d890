"""An SR Linux box as far as our CLI plugins can tell: datastores, the CLI
state object handed to plugins, plugin loading, command lines run and
completed. See README.md for what each call is modelled on."""

import copy
import importlib.util
import json
import pathlib
import re
import shlex
import sys
import types

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from srlinux.location import Path  # noqa: E402
from srlinux.mgmt.server.server_error import ServerError  # noqa: E402
from srlinux.schema import DataStore  # noqa: E402

REPO = HERE.parent.parent.parent


def _schema():
    """List keys and containers: SR Linux's nodes above ours, and ours as
    our YANG module declares them."""
    lists = {"network-instance": "name", "bgp-instance": "id"}
    containers = {"protocols", "bgp-evpn"}
    text = (REPO / "yang" / "static-vxlan-agent.yang").read_text()
    for match in re.finditer(r'\blist ([\w-]+) \{\s*(?:[^{}]*?)key "([\w-]+)"', text):
        lists[match.group(1)] = match.group(2)
    containers.update(re.findall(r"\bcontainer ([\w-]+) \{", text))
    return lists, containers


LISTS, CONTAINERS = _schema()


def parse_path(path):
    """`/a[k=v]/b` -> [("a", {"k": "v"}), ("b", {})]."""
    steps = []
    for part in re.findall(r"[^/\[]+(?:\[[^\]]*\])*", str(path)):
        name = part.split("[", 1)[0]
        keys = dict(re.findall(r"\[([\w-]+)=([^\]]*)\]", part))
        steps.append((name, keys))
    return steps


class Absent:
    """A container or list that has no data."""

    def exists(self):
        return False

    def items(self):
        return []

    def get(self, key=None):
        raise KeyError(f"no data{'' if key is None else f' for {key!r}'}")


class Entry:
    """A container or list entry of a data tree: children and leaves as
    attributes (`-` written `_`)."""

    def __init__(self, value):
        self._value = value

    def exists(self):
        return True

    def __getattr__(self, attr):
        name = attr.replace("_", "-")
        value = self._value.get(name)
        # A name can be a list in one place and a leaf in another (`vtep`):
        # the data says which, the schema says what an absent one is.
        is_entries = isinstance(value, list) and all(isinstance(e, dict) for e in value) and value
        if name in LISTS and (value is None or is_entries):
            return ListNode(name, value or [])
        if name in CONTAINERS and (value is None or isinstance(value, dict)):
            return Container(value) if isinstance(value, dict) else Absent()
        if isinstance(value, dict):
            raise AttributeError(f"{name} is neither a leaf, a container nor a list in the schema")
        return value


class Container:
    def __init__(self, value):
        self._value = value

    def exists(self):
        return True

    def get(self):
        return Entry(self._value)


class ListNode:
    def __init__(self, name, entries):
        self._name = name
        self._entries = entries

    def exists(self):
        return bool(self._entries)

    def items(self):
        return [Entry(e) for e in self._entries]

    def get(self, key):
        for entry in self._entries:
            if str(entry.get(LISTS[self._name])) == str(key):
                return Entry(entry)
        raise KeyError(f"{self._name} has no entry {key!r}")


def _select(tree, steps):
    """The part of `tree` on `steps` (keys may be `*`), with everything below
    the last step; None if nothing is there."""
    if not steps:
        return copy.deepcopy(tree)
    (name, keys), rest = steps[0], steps[1:]
    value = tree.get(name)
    if value is None:
        return None
    if name in LISTS:
        kept = []
        for entry in value:
            if all(v == "*" or str(entry.get(k)) == v for k, v in keys.items()):
                below = _select(entry, rest)
                if below is not None:
                    keyed = {LISTS[name]: entry.get(LISTS[name])}
                    keyed.update(below)
                    kept.append(keyed)
        return {name: kept} if kept else None
    below = _select(value, rest)
    return None if below is None else {name: below}


def _node_at(tree, steps, create):
    """The dict at `steps` (exact keys), created on the way when `create`."""
    node = tree
    for name, keys in steps:
        if name in LISTS:
            entries = node.setdefault(name, []) if create else node.get(name, [])
            key = LISTS[name]
            want = keys.get(key)
            found = next((e for e in entries if str(e.get(key)) == want), None)
            if found is None:
                if not create:
                    return None
                found = {key: int(want) if want.isdigit() and key == "id" else want}
                entries.append(found)
            node = found
        else:
            if name not in node:
                if not create:
                    return None
                node[name] = {}
            node = node[name]
    return node


def _merge(into, value):
    for name, new in value.items():
        old = into.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            _merge(old, new)
        elif isinstance(old, list) and isinstance(new, list) and name not in LISTS:
            into[name] = old + [v for v in new if v not in old]  # a leaf-list merges
        else:
            into[name] = copy.deepcopy(new)


class Store:
    """One datastore: a JSON tree as SR Linux's JSON shows it (lists as
    arrays of entries that carry their keys)."""

    def __init__(self, tree):
        self.tree = tree

    def get_data(self, path, recursive=True):
        if not isinstance(path, Path):
            raise TypeError("get_data wants a path from build_path")
        selected = _select(self.tree, parse_path(path))
        if selected is None:
            raise ServerError(f"no data at {path}")
        return Entry(selected)


def state_tree(published):
    """The State datastore from telemetry entries keyed by js_path_with_keys
    (`.network_instance{.name=="blue"}.protocols...`), as the NDK gets them."""
    tree = {}
    for js_path, leaves in published.items():
        node = tree
        for step in re.findall(r'\.([\w]+)((?:\{[^}]*\})*)', js_path):
            name = step[0].replace("_", "-")
            keys = dict((k.replace("_", "-"), v.strip('"')) for k, v in re.findall(r'\{\.([\w]+)==("?[^}]*?"?)\}', step[1]))
            if name in LISTS:
                entries = node.setdefault(name, [])
                key = LISTS[name]
                found = next((e for e in entries if str(e.get(key)) == keys.get(key)), None)
                if found is None:
                    found = {key: keys.get(key)}
                    entries.append(found)
                node = found
            else:
                node = node.setdefault(name, {})
        _merge(node, leaves)
    return tree


class Output:
    def __init__(self):
        self.lines = []

    def print_line(self, text=""):
        self.lines.append(str(text))

    def text(self):
        return "\n".join(self.lines)


class CommandNode:
    def __init__(self):
        self.commands = {}

    def add_command(self, syntax, update_location=False, callback=None, schema=None):
        if update_location is not False:
            raise AssertionError("plugins here pass update_location=False")
        node = CommandNode()
        self.commands[syntax.name] = (syntax, callback, node)
        return node


class Arguments:
    """What a callback or completer reads argument values from."""

    def __init__(self, command, values):
        self._command = command
        self._values = values

    def get(self, *names):
        """`get(name)` in a completer; `get(command, name)` in a callback."""
        if len(names) == 2:
            if names[0] != self._command:
                raise KeyError(f"not an argument of {names[0]!r}: this is {self._command!r}")
            names = names[1:]
        (name,) = names
        if name not in self._values:
            raise KeyError(f"{self._command} has no argument {name!r}")
        return self._values[name]

    def get_or(self, name, default):
        value = self._values.get(name)
        return default if value in (None, "") else value


class Server:
    def __init__(self, box):
        self._box = box

    def get_data_store(self, data_store):
        return self._box.stores[data_store]

    def set_json(self, path, value, data_store, is_replace):
        if not isinstance(path, Path):
            raise TypeError("set_json wants a path from build_path")
        if not isinstance(value, str):
            raise TypeError(f"set_json's value is a JSON string, got {type(value).__name__}")
        if data_store is not DataStore.Candidate:
            raise AssertionError("plugins write the candidate only")
        parsed = json.loads(value)
        node = _node_at(self._box.stores[DataStore.Candidate].tree, parse_path(path), create=True)
        if is_replace:
            node.clear()
        _merge(node, parsed)
        self._box.writes.append((str(path), value))


class Box:
    """Datastores and loaded plugins; `run` and `complete` take a command
    line as typed after the mode (`show ...` or `tools ...`)."""

    def __init__(self, running, published):
        self.stores = {
            DataStore.Running: Store(copy.deepcopy(running)),
            DataStore.Candidate: Store(copy.deepcopy(running)),
            DataStore.State: Store(state_tree(published)),
        }
        self.writes = []
        self.modes = {"show": CommandNode(), "tools": CommandNode()}
        self.state = types.SimpleNamespace(
            server=Server(self),
            server_data_store=self.stores[DataStore.State],
            command_tree=types.SimpleNamespace(tools_mode=types.SimpleNamespace(root=self.modes["tools"])),
            system_features=types.SimpleNamespace(vxlan=True),
            keys_at=self._keys_at,
        )

    def _keys_at(self, path, data_store):
        steps = parse_path(path)
        try:
            data = self.stores[data_store].get_data(Path(path))
        except ServerError:
            return []
        tree = data._value
        for name, _ in steps[:-1]:
            tree = tree[name][0] if name in LISTS else tree[name]
        name = steps[-1][0]
        return [str(e[LISTS[name]]) for e in tree.get(name, [])]

    def load(self, plugin_file):
        spec = importlib.util.spec_from_file_location(pathlib.Path(plugin_file).stem, plugin_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        plugin = module.Plugin()
        from srlinux.mgmt.cli.tools_plugin import ToolsPlugin

        if isinstance(plugin, ToolsPlugin):
            required = [r.module for r in plugin.get_required_plugins()]
            assert "tools_mode" in required, "a tools plugin requires tools_mode"
            plugin.on_tools_load(self.state)
        else:
            cli = types.SimpleNamespace(show_mode=self.modes["show"])
            plugin.load(cli)
        return plugin

    def _parse(self, line, partial=False):
        words = shlex.split(line)
        mode, command = words[0], words[1]
        syntax, callback, _ = self.modes[mode].commands[command]
        values = {a.name: a.default for a in syntax.arguments}
        unnamed = [a for a in syntax.arguments if a.kind == "unnamed"]
        named = {a.name: a for a in syntax.arguments if a.kind != "unnamed"}
        rest = words[2:]
        pending = None
        i = 0
        while i < len(rest):
            word = rest[i]
            if word in named and named[word].kind == "boolean":
                values[word] = True
            elif word in named:
                if i + 1 == len(rest):
                    pending = named[word]
                    break
                values[word] = rest[i + 1]
                i += 1
            elif unnamed:
                argument = unnamed.pop(0)
                values[argument.name] = word
                pending = argument
            else:
                raise ValueError(f"{command}: unexpected {word!r}")
            i += 1
        return syntax, callback, values, pending

    def run(self, line):
        """Runs a command as SR Linux calls callbacks: show (state, output,
        arguments), tools (state, input, output, arguments)."""
        syntax, callback, values, _ = self._parse(line)
        missing = [a.name for a in syntax.arguments if values[a.name] is None]
        if missing:
            raise ValueError(f"{syntax.name}: missing {missing}")
        output = Output()
        arguments = Arguments(syntax.name, values)
        if line.split()[0] == "tools":
            callback(self.state, None, output, arguments)
        else:
            callback(self.state, output, arguments)
        return output.text()

    def complete(self, line, argument_name):
        """The suggestions for `argument_name` with `line` typed so far (its
        last word is the partial word, possibly empty)."""
        partial_word = "" if line.endswith(" ") else line.split()[-1]
        typed = line if line.endswith(" ") else line[: len(line) - len(partial_word)]
        syntax, _, values, _ = self._parse(typed + " ", partial=True)
        argument = syntax.argument(argument_name)
        values[argument_name] = partial_word
        completer = argument.suggestions
        return list(completer(argument, self.state, Arguments(syntax.name, values), partial_word, line))
