#!/usr/bin/env bash
# debian-root.sh SUITE CHECK PACKAGE...: makes, once, a Debian root of SUITE
# with PACKAGE... installed, under $SVA_ROOTS (default
# /var/cache/static-vxlan-agent/roots), and records what is in it.
#
#   ROOTS/SUITE            the root (complete once CHECK, a path inside it, exists)
#   ROOTS/SUITE.packages   `dpkg-query -W` of the root: the exact versions the tests ran
#   ROOTS/SUITE.log        debootstrap's and apt's output
#
# The newer FRR and GoBGP releases the lab and the tests can run come from
# such roots (Debian 13 "trixie": FRR 10.3, GoBGP 3.36; unstable "sid": FRR
# 10.7). They run chrooted inside the lab's network namespaces: a network
# namespace belongs to a process, a chroot only changes its file system, and
# nothing of the newer release is mixed into the host.
#
# The root is made in SUITE.tmp and renamed into place, so an interrupted run
# leaves nothing half made. The mirror is the host's own apt source, read at
# run time. Services never start inside the root (policy-rc.d says no).
# Root only. Exits 0 if the root is there (made now or before).
set -euo pipefail

suite=${1:?usage: debian-root.sh SUITE CHECK PACKAGE...}
check=${2:?usage: debian-root.sh SUITE CHECK PACKAGE...}
shift 2
roots=${SVA_ROOTS:-/var/cache/static-vxlan-agent/roots}
root=$roots/$suite

say() { printf 'debian-root: %s\n' "$*"; }
die() { printf 'debian-root: error: %s\n' "$*" >&2; exit 1; }

if [ -e "$root/$check" ]; then
    say "$suite root: present ($root)"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "making the $suite root needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed"

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || die "no Debian mirror in the host's apt sources"

tmp=$root.tmp
log=$root.log
start=$SECONDS
say "making the $suite root in $root with $* (about a minute, 350 MB)"
mkdir -p "$roots"
rm -rf "$tmp"
debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$log" 2>&1 ||
    die "debootstrap $suite failed (last lines of $log):$(printf '\n'; tail -5 "$log")"
# No service may start while packages are installed in the root.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"
# A moving suite (sid) can be served with a Release file past its
# Valid-Until; the packages are still what the suite holds.
echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99sva-no-valid-until"
in_root() {
    # proc only for the duration of one command, in a private mount namespace.
    unshare --mount --propagation private sh -c \
        'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$tmp" "$@"
}
{
    in_root apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends "$@" &&
        in_root apt-get clean
} >>"$log" 2>&1 || die "installing $* in the $suite root failed (last lines of $log):$(printf '\n'; tail -5 "$log")"
rm -rf "$tmp"/var/lib/apt/lists/*
[ -e "$tmp/$check" ] || die "$check is not in the $suite root after installing $*"
chroot "$tmp" dpkg-query -W >"$root.packages"
mv "$tmp" "$root"
say "$suite root made in $((SECONDS - start)) s, $(du -sh "$root" | cut -f1); versions in $root.packages"
