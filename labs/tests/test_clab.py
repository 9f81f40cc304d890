"""Every containerlab topology under labs/ validates against containerlab's
JSON schema (../shared/containerlab/clab.schema.json), refers only to files
that exist (or that scripts/build-rpm.sh stages), links only defined nodes,
and gives each SR Linux leaf that runs the agent the BGP group the agent
needs: iBGP, EVPN only, route-reflector client, with the agent's address as
neighbor, and the NDK server enabled."""

import copy
import json
import os
import pathlib
import re

import jsonschema
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = pathlib.Path(os.environ.get("CLAB_SCHEMA", REPO.parent / "shared/containerlab/clab.schema.json"))
TOPOLOGIES = sorted(REPO.glob("labs/**/*.clab.yml"))


def staged_paths():
    """What build-rpm.sh puts under target/rpm/stage."""
    script = (REPO / "scripts/build-rpm.sh").read_text()
    paths = set(re.findall(r'"\$stage(/[^"]+)"', script))
    paths |= {p.replace("$plugin", name) for p in paths for name in re.findall(r"for plugin in ([^;]+);", script)[0].split()}
    return {p for p in paths if "$" not in p}


@pytest.fixture(scope="module")
def validator():
    if not SCHEMA.exists():
        pytest.skip(f"containerlab schema not found at {SCHEMA} (set CLAB_SCHEMA)")
    schema = json.loads(SCHEMA.read_text())
    # The schema's IP-address patterns use ECMAScript Unicode classes
    # ([\p{N}\p{L}] for an interface zone) that Python's re lacks; [^\W_]
    # (Unicode letters and digits) means the same.
    text = json.dumps(schema).replace(r"[\\p{N}\\p{L}]", r"[^\\W_]")
    assert r"\\p{" not in text, "another Unicode class in the schema: translate it too"
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_there_is_a_topology():
    assert TOPOLOGIES, "no labs/**/*.clab.yml"


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: str(p.relative_to(REPO)))
def test_topology_validates_against_the_containerlab_schema(validator, path):
    topology = yaml.safe_load(path.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(topology)]
    assert errors == []


def test_the_schema_check_catches_mistakes(validator):
    topology = yaml.safe_load(TOPOLOGIES[0].read_text())
    broken = copy.deepcopy(topology)
    next(iter(broken["topology"]["nodes"].values()))["kind"] = "no_such_kind"
    assert list(validator.iter_errors(broken))
    broken = copy.deepcopy(topology)
    broken["topology"]["nodes"]["x"] = {"startup-cfg": "typo.cfg"}
    assert list(validator.iter_errors(broken))


def nodes_with_groups(topology):
    groups = topology["topology"].get("groups", {})
    kinds = topology["topology"].get("kinds", {})
    for name, node in topology["topology"]["nodes"].items():
        node = dict(node or {})
        merged = dict(groups.get(node.get("group"), {}))
        merged.update(node)
        merged = {**kinds.get(merged.get("kind"), {}), **merged}
        yield name, merged


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: str(p.relative_to(REPO)))
def test_files_exist_and_links_join_defined_nodes(path):
    topology = yaml.safe_load(path.read_text())
    staged = staged_paths()
    stage = (REPO / "target/rpm/stage").resolve()
    names = set(topology["topology"]["nodes"])
    for name, node in nodes_with_groups(topology):
        if "startup-config" in node:
            assert (path.parent / node["startup-config"]).is_file(), (name, node["startup-config"])
        for bind in node.get("binds", []):
            source = (path.parent / bind.split(":")[0]).resolve()
            if stage in source.parents:
                relative = "/" + str(source.relative_to(stage))
                assert any(s == relative or s.startswith(relative + "/") for s in staged), (name, bind)
            else:
                assert source.exists(), (name, bind)
    for link in topology["topology"].get("links", []):
        for endpoint in link["endpoints"]:
            assert endpoint.split(":")[0] in names, endpoint


def agent_leaves(path):
    topology = yaml.safe_load(path.read_text())
    for name, node in nodes_with_groups(topology):
        if any("static-vxlan-agent" in b for b in node.get("binds", [])):
            yield name, path.parent / node["startup-config"]


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: str(p.relative_to(REPO)))
def test_leaves_with_the_agent_have_its_bgp_group(path):
    leaves = list(agent_leaves(path))
    assert leaves, "no SR Linux node runs the agent"
    for name, config in leaves:
        lines = [line.strip() for line in config.read_text().splitlines() if line.startswith("set ")]
        lo0 = next(
            line.split()[-1].split("/")[0]
            for line in lines
            if line.startswith("set / interface lo0 subinterface 0 ipv4 address")
        )
        prefix = "set / network-instance default protocols bgp"
        group = next(
            (line.split()[-1] for line in lines if line.startswith(f"{prefix} neighbor {lo0} peer-group")), None
        )
        assert group, f"{name}: no BGP neighbor for the agent's address {lo0}"
        wanted = [
            f"{prefix} group {group} peer-as 65000",
            f"{prefix} group {group} afi-safi evpn admin-state enable",
            f"{prefix} group {group} afi-safi ipv4-unicast admin-state disable",
            f"{prefix} group {group} route-reflector client true",
            "set / system ndk-server admin-state enable",
        ]
        for line in wanted:
            assert line in lines, f"{name}: missing {line!r}"
