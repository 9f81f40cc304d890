#!/usr/bin/env bash
# Builds the SR Linux RPM: target/rpm/static-vxlan-agent-<version>-1.x86_64.rpm
#
# The agent is built statically (musl, profile "dist": release without
# symbols), staged with the YANG module, the app-manager YAML and the CLI
# plugins, and packed by rpmbuild from rpm/static-vxlan-agent.spec.
# Prints the RPM's path on its last line.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=x86_64-unknown-linux-musl
version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "static-vxlan-agent"))')

cargo build --locked --profile dist --target "$target" -p static-vxlan-agent >&2
binary="target/$target/dist/static-vxlan-agent"

work="$repo/target/rpm"
stage="$work/stage"
rm -rf "$stage" "$work/rpmbuild"
install -D -m 0755 "$binary" "$stage/usr/local/bin/static-vxlan-agent"
install -D -m 0644 yang/static-vxlan-agent.yang "$stage/opt/static-vxlan-agent/yang/static-vxlan-agent.yang"
install -D -m 0644 cli-plugin/static_vxlan_agent_cli.py "$stage/opt/static-vxlan-agent/cli/static_vxlan_agent_cli.py"
install -D -m 0644 rpm/appmgr/static-vxlan-agent.yml "$stage/etc/opt/srlinux/appmgr/static-vxlan-agent.yml"
for plugin in vxlan_avoid_flooding.py show_static_vxlan_agent.py; do
    install -D -m 0644 "cli-plugin/$plugin" "$stage/etc/opt/srlinux/cli/plugins/$plugin"
done

rpmbuild -bb --quiet \
    --define "_topdir $work/rpmbuild" \
    --define "_rpmdir $work" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "version $version" \
    --define "stage $stage" \
    --define "__strip /bin/true" \
    --define "_build_id_links none" \
    --define "debug_package %{nil}" \
    rpm/static-vxlan-agent.spec >&2
echo "$work/static-vxlan-agent-$version-1.x86_64.rpm"
