"""The Debian package: built by scripts/build-deb.sh, inspected with dpkg-deb
and lintian, installed with dpkg into a Debian 12 root made by debootstrap
(scripts/bootstrap.sh caches it), its unit verified with systemd-analyze
against that root, purged; and the installed agent started exactly as the
unit starts it (its user, its capabilities, through setpriv) learns an ARP
inside VXLAN in a network namespace made here."""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
ROOTS = pathlib.Path(os.environ.get("SVA_ROOTS", "/var/cache/static-vxlan-agent/roots"))
UNIT = "lib/systemd/system/static-vxlan-agent.service"
CONFFILE = "/etc/static-vxlan-agent/config.yaml"
EXPECTED_FILES = {
    "/usr/bin/static-vxlan-agent",
    CONFFILE,
    "/" + UNIT,
    "/usr/share/man/man1/static-vxlan-agent.1.gz",
    "/usr/share/bash-completion/completions/static-vxlan-agent",
    "/usr/share/zsh/vendor-completions/_static-vxlan-agent",
    "/usr/share/static-vxlan-agent/yang/static-vxlan-agent.yang",
    "/usr/share/doc/static-vxlan-agent/STANDALONE.md",
    "/usr/share/doc/static-vxlan-agent/copyright",
    "/usr/share/doc/static-vxlan-agent/changelog.Debian.gz",
    "/usr/share/lintian/overrides/static-vxlan-agent",
}

pytestmark = pytest.mark.skipif(shutil.which("cargo-deb") is None, reason="cargo-deb is not installed (scripts/bootstrap.sh)")


def cargo_version():
    text = (REPO / "Cargo.toml").read_text()
    return re.search(r'^\[workspace\.package\]\s*\nversion = "([^"]+)"', text, re.MULTILINE).group(1)


def run(*args, check=True, **kwargs):
    done = subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def deb():
    done = run(str(REPO / "scripts/build-deb.sh"), check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    path = pathlib.Path(done.stdout.strip().splitlines()[-1])
    assert path.name == f"static-vxlan-agent_{cargo_version()}_amd64.deb", path
    return path


def need_root():
    if os.geteuid() != 0:
        pytest.skip("SKIP: installing into a chroot and dropping to the agent's user need root; CI runs it as root")
    if not (ROOTS / "bookworm/usr/bin/man").exists():
        pytest.skip(f"SKIP: no Debian 12 root in {ROOTS}/bookworm (scripts/bootstrap.sh makes it as root)")


@pytest.fixture()
def root():
    """A throwaway copy of the cached Debian 12 root: an overlay on it, so
    the cache stays clean and nothing is copied. Under a directory anyone
    may traverse: the agent's user runs the binary from there."""
    need_root()
    base = pathlib.Path(tempfile.mkdtemp(prefix="sva-root-"))
    base.chmod(0o755)
    upper, work, merged = (base / name for name in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={ROOTS / 'bookworm'},upperdir={upper},workdir={work}", str(merged))
    try:
        yield merged
    finally:
        run("umount", str(merged), check=False)
        shutil.rmtree(base, ignore_errors=True)


def install(root, deb):
    shutil.copy(deb, root / "tmp" / deb.name)
    run("chroot", str(root), "dpkg", "-i", f"/tmp/{deb.name}")


def test_it_holds_the_agent_unit_conffile_man_page_completions_and_yang(deb):
    listed = run("dpkg-deb", "-c", str(deb)).stdout
    files = {line.split()[-1].lstrip(".") for line in listed.splitlines() if not line.startswith("d")}
    assert files == EXPECTED_FILES
    mode = next(line.split()[0] for line in listed.splitlines() if line.endswith("/usr/bin/static-vxlan-agent"))
    assert mode == "-rwxr-xr-x"
    fields = {name: run("dpkg-deb", "-f", str(deb), name).stdout.strip() for name in
              ("Package", "Version", "Architecture", "Section", "Depends", "Maintainer")}
    # The version is the binary's own --version.
    assert fields["Package"] == "static-vxlan-agent" and fields["Version"] == cargo_version()
    assert fields["Architecture"] == "amd64" and fields["Section"] == "net"
    assert fields["Depends"] == "passwd", "the binary is static; useradd makes the user"
    with tempfile.TemporaryDirectory() as control:
        run("dpkg-deb", "-e", str(deb), control)
        assert pathlib.Path(control, "conffiles").read_text().split() == [CONFFILE]
        for script in ("postinst", "prerm", "postrm"):
            assert os.access(pathlib.Path(control, script), os.X_OK), script
    # The shipped configuration is valid and does nothing: off, no session.
    shipped = (REPO / "agent/debian/config.yaml").read_text()
    assert re.search(r"^enabled: false$", shipped, re.MULTILINE) and re.search(r"^connect: false\b", shipped, re.MULTILINE)


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed (scripts/bootstrap.sh)")
def test_lintian_finds_no_error(deb):
    done = run("lintian", "--fail-on", "error", str(deb), check=False)
    errors = [line for line in done.stdout.splitlines() if line.startswith("E:")]
    assert done.returncode == 0 and not errors, done.stdout + done.stderr


def test_it_installs_runs_and_purges_in_a_debian_12_root(root, deb):
    install(root, deb)
    for path in EXPECTED_FILES:
        assert (root / path.lstrip("/")).exists(), path
    user = run("chroot", str(root), "getent", "passwd", "static-vxlan-agent").stdout.split(":")
    assert user[5:7] == ["/var/lib/static-vxlan-agent", "/usr/sbin/nologin\n"], user
    state_dir = root / "var/lib/static-vxlan-agent"
    assert state_dir.is_dir() and state_dir.stat().st_uid == int(user[2]) and oct(state_dir.stat().st_mode)[-3:] == "750"
    conffiles = run("chroot", str(root), "dpkg-query", "-W", "-f=${Conffiles}", "static-vxlan-agent").stdout
    assert CONFFILE in conffiles
    version = run("chroot", str(root), "static-vxlan-agent", "--version").stdout.strip()
    assert version == f"static-vxlan-agent {cargo_version()}"
    checked = run("chroot", str(root), "static-vxlan-agent", "check-config", CONFFILE)
    assert checked.stdout.strip() == f"{CONFFILE}: valid"
    page = run("chroot", str(root), "env", "MANPAGER=cat", "MANWIDTH=100", "man", "static-vxlan-agent").stdout
    assert "static-vxlan-agent" in page and "check-config" in page, page
    # The unit, against this root's systemd: every directive known, every
    # command there. systemd-analyze prints problems it does not fail on.
    verified = run("systemd-analyze", "--man=no", f"--root={root}", "verify", "static-vxlan-agent.service", check=False)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr

    # Purge: everything goes but the system user (Debian policy keeps it).
    run("chroot", str(root), "dpkg", "--purge", "static-vxlan-agent")
    for path in EXPECTED_FILES | {"/etc/static-vxlan-agent", "/var/lib/static-vxlan-agent"}:
        assert not (root / path.lstrip("/")).exists(), path
    assert run("chroot", str(root), "getent", "passwd", "static-vxlan-agent", check=False).returncode == 0


def unit_settings(unit_text):
    settings = {}
    for line in unit_text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def vxlan_arp(vni, mac, ip, target):
    """An ARP request from MAC/IP for TARGET inside a VXLAN header."""
    header = bytes([0x08, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\x00"
    arp = (b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + socket.inet_aton(ip) + b"\x00" * 6 + socket.inet_aton(target))
    return header + b"\xff" * 6 + mac + b"\x08\x06" + arp


def test_the_agent_run_as_the_unit_runs_it_learns_an_arp(root, deb):
    install(root, deb)
    unit = unit_settings((root / UNIT).read_text())
    assert unit["ExecStart"] == ["/usr/bin/static-vxlan-agent run --config /etc/static-vxlan-agent/config.yaml"]
    assert unit["NoNewPrivileges"] == ["yes"]
    caps = unit["AmbientCapabilities"][0].split()
    assert caps == unit["CapabilityBoundingSet"][0].split()
    user = run("chroot", str(root), "getent", "passwd", unit["User"][0]).stdout.split(":")
    uid, gid = user[2], user[3]
    netns = f"svadeb{os.getpid() % 100000}"
    run("ip", "netns", "add", netns)
    # World-traversable: the agent's user reads its configuration here.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="sva-deb-"))
    scratch.chmod(0o755)
    agent = None
    try:
        run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            http = f"127.0.0.1:{probe.getsockname()[1]}"
        config = scratch / "config.yaml"
        config.write_text(
            "source-address: 127.0.0.1\nconnect: false\nstate-file: ''\n"
            f"http: '{http}'\nlearning-interfaces: [lo]\nlearning-netns: {netns}\n"
            "mac-vrfs:\n  blue:\n    evi: 100\n    vni: 100\n    static-vteps:\n      127.0.0.3: {}\n"
        )
        config.chmod(0o644)
        binary = str(root / "usr/bin/static-vxlan-agent")
        cap_list = ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
        setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs",
                   f"--inh-caps=-all,{cap_list}", f"--ambient-caps=-all,{cap_list}",
                   f"--bounding-set=-all,{cap_list}"]
        # ExecStartPre, then ExecStart, with the unit's user and capabilities.
        assert run(*setpriv, binary, "check-config", str(config)).returncode == 0
        log = open(scratch / "agent.log", "w")
        agent = subprocess.Popen([*setpriv, binary, "run", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        frame = vxlan_arp(100, bytes.fromhex("0200000000aa"), "10.0.0.1", "10.0.0.2")
        send = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.bind(('127.0.0.3', 0)); s.sendto(bytes.fromhex(sys.argv[1]), ('127.0.0.1', 4789))")
        deadline = time.time() + 20
        learned = None
        while time.time() < deadline and learned is None:
            run("ip", "netns", "exec", netns, "python3", "-c", send, frame.hex())
            # http: from the file (no --http): served in the agent's own namespace.
            shown = run(binary, "show", "--http", http, "--json", check=False)
            try:
                state = json.loads(shown.stdout)
            except ValueError:
                state = {}
            mac = state.get("proxy", {}).get("mac-vrfs", {}).get("blue", {}).get("macs", {}).get("02:00:00:00:00:aa")
            if mac and mac.get("vtep") == "127.0.0.3":
                learned = state
            else:
                time.sleep(0.3)
        text = (scratch / "agent.log").read_text()
        assert learned, f"not learned in 20 s\n{text}"
        status = pathlib.Path(f"/proc/{agent.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.MULTILINE), status
        assert sorted(learned["capabilities"]) == sorted(c.upper() for c in caps), learned["capabilities"]
        # Plain lines for the journal: no ANSI colours when not on a terminal.
        assert "\x1b[" not in text and "panicked" not in text, text
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        run("ip", "netns", "del", netns, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
