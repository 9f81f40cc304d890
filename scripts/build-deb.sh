#!/usr/bin/env bash
# Builds the Debian package: target/deb/static-vxlan-agent_<version>_amd64.deb
#
# The same static musl binary as the RPM (profile "dist"), its man page and
# bash/zsh completions generated from its clap definitions, the systemd
# unit, the example configuration (a conffile) and the YANG module, packed
# by cargo-deb from agent/Cargo.toml's [package.metadata.deb]. The version
# is the binary's own --version. Prints the package's path on its last line.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=x86_64-unknown-linux-musl
command -v cargo-deb >/dev/null || { echo "build-deb: cargo-deb is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }

cargo build --locked --profile dist --target "$target" -p static-vxlan-agent >&2
binary="target/$target/dist/static-vxlan-agent"
version=$("$binary" --version | awk '{print $2}')

assets="$repo/target/deb-assets"
rm -rf "$assets"
mkdir -p "$assets"
"$binary" manpage "$assets"
gzip -9n "$assets/static-vxlan-agent.1"
"$binary" completions bash >"$assets/static-vxlan-agent.bash"
"$binary" completions zsh >"$assets/_static-vxlan-agent"
# A native package's changelog (Debian policy 12.7), dated by the last commit
# so that two builds of one tree are the same.
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
cat >"$assets/changelog" <<CHANGELOG
static-vxlan-agent ($version) unstable; urgency=medium

  * Built from the static-vxlan-agent repository; see its git history.

 -- static-vxlan-agent maintainers <maintainers@static-vxlan-agent.invalid>  $when
CHANGELOG

mkdir -p target/deb
cargo deb --no-build --no-strip --locked -p static-vxlan-agent --target "$target" --profile dist \
    --deb-version "$version" --output "target/deb/static-vxlan-agent_${version}_amd64.deb" >&2
echo "$repo/target/deb/static-vxlan-agent_${version}_amd64.deb"
