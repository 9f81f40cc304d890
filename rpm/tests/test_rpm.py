"""The SR Linux RPM: built by scripts/build-rpm.sh, inspected with rpm -qlp
and rpm -qip, installed into a scratch root, and its binary run there."""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXPECTED_FILES = {
    "/usr/local/bin/static-vxlan-agent",
    "/opt/static-vxlan-agent",
    "/opt/static-vxlan-agent/yang",
    "/opt/static-vxlan-agent/yang/static-vxlan-agent.yang",
    "/opt/static-vxlan-agent/cli",
    "/opt/static-vxlan-agent/cli/static_vxlan_agent_cli.py",
    "/etc/opt/srlinux/appmgr/static-vxlan-agent.yml",
    "/etc/opt/srlinux/cli/plugins/vxlan_avoid_flooding.py",
    "/etc/opt/srlinux/cli/plugins/show_static_vxlan_agent.py",
}

pytestmark = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed (scripts/bootstrap.sh)")


def cargo_version():
    text = (REPO / "Cargo.toml").read_text()
    return re.search(r'^\[workspace\.package\]\s*\nversion = "([^"]+)"', text, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def rpm_file():
    done = subprocess.run([str(REPO / "scripts/build-rpm.sh")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    path = pathlib.Path(done.stdout.strip().splitlines()[-1])
    assert path.exists(), path
    return path


def rpm(*args):
    done = subprocess.run(["rpm", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_it_holds_exactly_the_agent_its_yang_app_yaml_and_cli_plugins(rpm_file):
    assert set(rpm("-qlp", str(rpm_file)).split()) == EXPECTED_FILES


def test_its_header_names_the_package_and_version(rpm_file):
    info = dict(
        (k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in rpm("-qip", str(rpm_file)).splitlines() if ":" in line)
    )
    assert info["Name"] == "static-vxlan-agent"
    assert info["Version"] == cargo_version()
    assert info["Architecture"] == "x86_64"
    assert info["License"] == "Apache-2.0"
    scripts = rpm("-qp", "--scripts", str(rpm_file))
    assert "app_mgr reload" in scripts, "post-install reloads app_mgr on SR Linux"


def test_it_installs_into_a_scratch_root_and_the_binary_runs(rpm_file, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", str(rpm_file)], check=True, capture_output=True)
    assert rpm("--root", str(root), "-q", "static-vxlan-agent").strip() == f"static-vxlan-agent-{cargo_version()}-1.x86_64"
    for path in EXPECTED_FILES:
        assert (root / path.lstrip("/")).exists(), path
    installed = root / "usr/local/bin/static-vxlan-agent"
    assert os.access(installed, os.X_OK)
    assert (root / "etc/opt/srlinux/appmgr/static-vxlan-agent.yml").read_text() == (
        REPO / "rpm/appmgr/static-vxlan-agent.yml"
    ).read_text()
    version = subprocess.run([str(installed), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"static-vxlan-agent {cargo_version()}"
    if os.geteuid() != 0:
        print("SKIP: running the binary chrooted in the empty root needs root")
        return
    # Inside a root with nothing but the package: only a static binary runs.
    chrooted = subprocess.run(
        ["chroot", str(root), "/usr/local/bin/static-vxlan-agent", "--version"], capture_output=True, text=True, check=False
    )
    assert chrooted.returncode == 0, chrooted.stderr
    assert chrooted.stdout.strip() == f"static-vxlan-agent {cargo_version()}"
