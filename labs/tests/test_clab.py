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
    assert link_errors(topology) == []


def link_errors(topology):
    """What is wrong with the links' endpoints. containerlab's schema gives
    `endpoints` as `prefixItems`, a keyword of draft 2020-12 that its own
    draft-07 `$schema` does not know, so validators skip it: the schema
    check above says nothing about them, and this does."""
    names = set(topology["topology"]["nodes"])
    errors, seen = [], set()
    for index, link in enumerate(topology["topology"].get("links", [])):
        endpoints = link.get("endpoints") if isinstance(link, dict) else None
        if not isinstance(endpoints, list) or len(endpoints) != 2:
            errors.append(f"links/{index}: endpoints must be two node:interface strings, got {endpoints!r}")
            continue
        for endpoint in endpoints:
            node, colon, interface = endpoint.partition(":") if isinstance(endpoint, str) else ("", "", "")
            if not (colon and node and interface) or ":" in interface:
                errors.append(f"links/{index}: {endpoint!r} is not node:interface")
            elif node not in names:
                errors.append(f"links/{index}: {endpoint!r} names no defined node")
            elif endpoint in seen:
                errors.append(f"links/{index}: {endpoint!r} is on two links")
            seen.add(endpoint)
    return errors


def test_the_link_check_catches_what_the_schema_does_not(validator):
    topology = yaml.safe_load(TOPOLOGIES[0].read_text())
    assert link_errors(topology) == []
    for mutate, why in [
        (lambda links: links[0].update(endpoints=["spine1:e1-1"]), "two node:interface"),
        (lambda links: links[0].update(endpoints=["spine1:e1-1", "vtep1:eth1", "h1:eth9"]), "two node:interface"),
        (lambda links: links[0].update(endpoints=["spine1", "vtep1:eth1"]), "not node:interface"),
        (lambda links: links[0].update(endpoints=["spine1:e1-1", "nosuch:eth1"]), "no defined node"),
        (lambda links: links[1].update(endpoints=["spine1:e1-1", "vtep2:eth1"]), "on two links"),
    ]:
        broken = copy.deepcopy(topology)
        mutate(broken["topology"]["links"])
        errors = link_errors(broken)
        assert any(why in e for e in errors), (why, errors)
        # The schema alone lets each of these through.
        assert not [e for e in validator.iter_errors(broken) if "links" in list(e.absolute_path)], why


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
