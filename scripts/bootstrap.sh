#!/usr/bin/env bash
# Installs everything the demo lab and the test suite need, and nothing twice:
# each step checks first and skips what is already there.
#
#   Debian packages   FRR, GoBGP, iproute2, capture and BPF tools, yanglint, rpm
#   Rust              rustfmt + clippy on stable; the pinned nightly with rust-src
#                     (the eBPF program is built with it)
#   bpf-linker        built against that nightly's own libLLVM, rebuilt when
#                     the pinned nightly changes
#   cargo-fuzz        runs the fuzz targets under fuzz/ with the same nightly
#   Python            a venv under .venv/ with pytest (CLI plugin tests) and the
#                     official NDK bindings (ndk-proto wire-compatibility test)
#
# Runs as root on Debian 12. As another user it only checks, and says what is
# missing.
#
# --demo: only what scripts/demo.sh needs (Debian packages, the toolchains
# and bpf-linker that build the agent); it makes the Debian 13 root itself,
# beside the build. The test-only parts (musl target, cargo-fuzz, cargo-deb,
# the package test's root, the unstable root, the Python venv) wait for
# test.sh.
set -euo pipefail

demo_only=false
[ "${1:-}" = --demo ] && demo_only=true

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$repo/scripts/versions.sh"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- Debian packages ---------------------------------------------------------
apt_packages=(
    frr gobgpd iproute2 iputils-ping iputils-arping tcpdump tshark bpftool
    libyang2-tools rpm curl python3-venv python3-pip musl-tools ca-certificates build-essential
    debootstrap lintian
)
missing=()
for package in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    is_root || die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
    say "installing Debian packages: ${missing[*]}"
    apt-get update -q
    # tshark asks whether non-root users may capture; the default (no) is fine.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "Debian packages: all present"
fi

# --- Rust toolchains ---------------------------------------------------------
command -v rustup >/dev/null 2>&1 || die "rustup is required (stable Rust installed with rustup)"
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH (source \$HOME/.cargo/env)"

installed_components() { rustup component list --installed --toolchain "$1" 2>/dev/null; }

stable_components=$(installed_components stable)
for component in rustfmt clippy; do
    if ! grep -q "^$component" <<<"$stable_components"; then
        say "adding $component to stable"
        rustup component add "$component" --toolchain stable
    fi
done

# The RPM ships a static binary (musl), as SR Linux has no Rust runtime deps to rely on.
if ! $demo_only && ! rustup target list --installed --toolchain stable | grep -q '^x86_64-unknown-linux-musl$'; then
    say "adding the x86_64-unknown-linux-musl target to stable (static binary for the RPM)"
    rustup target add x86_64-unknown-linux-musl --toolchain stable
fi

if ! rustup toolchain list | grep -q "^$EBPF_NIGHTLY"; then
    say "installing $EBPF_NIGHTLY with rust-src (builds the eBPF program)"
    rustup toolchain install "$EBPF_NIGHTLY" --profile minimal --component rust-src
elif ! installed_components "$EBPF_NIGHTLY" | grep -q '^rust-src'; then
    say "adding rust-src to $EBPF_NIGHTLY"
    rustup component add rust-src --toolchain "$EBPF_NIGHTLY"
else
    say "$EBPF_NIGHTLY with rust-src: present"
fi

# --- bpf-linker --------------------------------------------------------------
# bpf-linker links against LLVM and must use the very libLLVM that ships in the
# nightly aya-build runs; a stamp records which one it was built for.
llvm_version=$(rustc "+$EBPF_NIGHTLY" -vV | sed -n 's/^LLVM version: //p')
[ -n "$llvm_version" ] || die "cannot read the LLVM version of $EBPF_NIGHTLY"
llvm_major=${llvm_version%%.*}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
stamp="$cargo_home/.bpf-linker-built-for"
want="bpf-linker $BPF_LINKER_VERSION $EBPF_NIGHTLY llvm-$llvm_version"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
    rustup run "$EBPF_NIGHTLY" bpf-linker --version >/dev/null 2>&1; then
    say "$want: present"
else
    sysroot=$(rustc "+$EBPF_NIGHTLY" --print sysroot)
    libllvm=$(find "$sysroot/lib" -maxdepth 1 -name 'libLLVM.so.*' | head -n 1)
    [ -n "$libllvm" ] || die "no libLLVM.so.* in $sysroot/lib"
    prefix=$(mktemp -d)
    trap 'rm -rf "$prefix"' EXIT
    mkdir -p "$prefix/lib"
    ln -s "$libllvm" "$prefix/lib/libLLVM.so"
    say "building $want (about a minute)"
    LLVM_PREFIX=$prefix cargo install --force --locked bpf-linker --version "$BPF_LINKER_VERSION" \
        --no-default-features --features "llvm-$llvm_major"
    rustup run "$EBPF_NIGHTLY" bpf-linker --version >/dev/null ||
        die "bpf-linker was built but does not run under $EBPF_NIGHTLY"
    echo "$want" >"$stamp"
fi

if $demo_only; then
    say "done (what the demo needs)"
    exit 0
fi

# --- cargo-fuzz --------------------------------------------------------------
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --force --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
else
    say "cargo-fuzz $CARGO_FUZZ_VERSION: present"
fi

# --- cargo-deb (scripts/build-deb.sh) ------------------------------------------
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
    say "installing cargo-deb $CARGO_DEB_VERSION (about four minutes)"
    cargo install --force --locked cargo-deb --version "$CARGO_DEB_VERSION"
else
    say "cargo-deb $CARGO_DEB_VERSION: present"
fi

# --- A Debian 12 root for the package test (agent/debian/tests) ---------------
# minbase plus man-db (man works there), systemd (systemd-analyze --root
# verifies the unit against it) and procps (/bin/kill for ExecReload).
# Cached outside the repository; made once, in a temporary directory renamed
# into place, so an interrupted run leaves nothing half made. Its package
# list is kept beside it.
roots=${SVA_ROOTS:-/var/cache/static-vxlan-agent/roots}
if is_root && [ ! -x "$roots/bookworm/usr/bin/man" ]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || die "no Debian mirror in the host's apt sources for debootstrap"
    say "making the Debian 12 root in $roots/bookworm (about 40 s, 330 MB)"
    mkdir -p "$roots"
    rm -rf "$roots/bookworm.tmp"
    debootstrap --variant=minbase --include=man-db,systemd,procps bookworm "$roots/bookworm.tmp" "$mirror" >"$roots/bookworm.log" 2>&1 ||
        die "debootstrap failed: $roots/bookworm.log"
    chroot "$roots/bookworm.tmp" dpkg-query -W >"$roots/bookworm.packages"
    mv "$roots/bookworm.tmp" "$roots/bookworm"
else
    say "Debian 12 root for the package test: ${roots}/bookworm $( [ -d "$roots/bookworm" ] && echo present || echo 'skipped (not root)')"
fi

# --- Newer FRR and GoBGP, in Debian roots (scripts/debian-root.sh) ------------
# Debian 13 "trixie" (pinned by name): FRR 10.3 and GoBGP 3.36, which the lab
# uses by default and CI runs the interop and end-to-end tests against.
# Debian unstable "sid": FRR 10.7, the first release here whose
# graceful-restart helper keeps l2vpn evpn routes. sid moves, so its exact
# version is whatever sid.packages records; if it cannot be made, the tests
# that need it say SKIP and the rest goes on.
if is_root; then
    "$repo/scripts/debian-root.sh" trixie usr/bin/gobgpd frr gobgpd ||
        die "the Debian 13 root (FRR 10.3, GoBGP 3.36) could not be made"
    "$repo/scripts/debian-root.sh" sid usr/lib/frr/bgpd frr ||
        say "warning: no Debian unstable root (FRR 10.7): its graceful-restart test will be skipped"
else
    say "Debian 13 and unstable roots: skipped (not root)"
fi

# --- Python ------------------------------------------------------------------
venv="$repo/.venv"
if ! "$venv/bin/python" -c 'import pytest' >/dev/null 2>&1 ||
    [ "$("$venv/bin/python" -c 'import pytest; print(pytest.__version__)')" != "$PYTEST_VERSION" ]; then
    say "creating the Python venv in .venv with pytest $PYTEST_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "pytest==$PYTEST_VERSION"
else
    say "Python venv with pytest $PYTEST_VERSION: present"
fi
# Schema validation of the containerlab topologies, and YAML parsing.
for pin in "jsonschema==$JSONSCHEMA_PY_VERSION" "pyyaml==$PYYAML_PY_VERSION"; do
    if [ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('${pin%%==*}'))" 2>/dev/null)" != "${pin##*==}" ]; then
        say "installing $pin in .venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "$pin"
    else
        say "$pin in .venv: present"
    fi
done
# The official NDK descriptors (ndk-proto/tests/wire_compat.rs). --no-deps:
# the *_pb2 modules need protobuf only; grpcio is for Python agents.
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("srlinux-ndk"))' 2>/dev/null)" != "$SRLINUX_NDK_PY_VERSION" ]; then
    say "installing srlinux-ndk $SRLINUX_NDK_PY_VERSION (protobuf $PROTOBUF_PY_VERSION) in .venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
        "srlinux-ndk==$SRLINUX_NDK_PY_VERSION" "protobuf==$PROTOBUF_PY_VERSION"
else
    say "srlinux-ndk $SRLINUX_NDK_PY_VERSION in .venv: present"
fi

say "done"
