#!/usr/bin/env bash
# Compiles our YANG modules (yang/*.yang) against the SR Linux models with
# yanglint, the check SR Linux itself makes when it loads an agent's module.
#
# Usage: scripts/yanglint.sh SRL_YANG_DIR
#        scripts/yanglint.sh SRL_YANG_DIR --data FILE
#   SRL_YANG_DIR  the SR Linux YANG release (e.g. ../shared/srlinux-yang/v25.3.1)
#   --data FILE   only validate FILE as data, state included (config false
#                 nodes): what the agent publishes (agent/tests/yang_state.rs)
#
# srl_nokia-features.yang is passed as a module of its own so that it is
# "implemented": libyang then enables all of its features, as on a real box,
# and the if-feature guarded nodes we augment next to exist. The Nokia models
# themselves make libyang print warnings; only errors fail this check.
#
# Then the example configurations: yang/examples/*.json must validate as
# config data against our module and the SR Linux models, and every
# yang/examples/invalid/*.json must be rejected. For data, the features are
# given one by one (-F) without bgp-backup-path-frr-vpn/-evpn: the
# backup-paths leaves they enable carry a `must ". = false() or ..."` that
# libyang evaluates differently from SR Linux and that fails for every
# mac-vrf, whatever our data says.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
srl=${1:?usage: yanglint.sh SRL_YANG_DIR}
[ -d "$srl" ] || { echo "yanglint: no SR Linux YANG models at $srl" >&2; exit 1; }
command -v yanglint >/dev/null || { echo "yanglint: not installed (run scripts/bootstrap.sh)" >&2; exit 1; }

search=()
while IFS= read -r dir; do
    search+=(-p "$dir")
done < <(find "$srl" -type d | sort)

features=$(find "$srl" -name 'srl_nokia-features.yang' | head -n 1)
[ -n "$features" ] || { echo "yanglint: srl_nokia-features.yang not found under $srl" >&2; exit 1; }

status=0
for module in "$repo"/yang/*.yang; do
    rc=0
    out=$(yanglint "${search[@]}" "$features" "$module" 2>&1) || rc=$?
    # Keep our own messages, drop the Nokia models' warnings.
    errors=$(grep -v -e '^libyang warn' -e '^libyang\[.\]: Previous warning' <<<"$out" || true)
    if [ "$rc" -ne 0 ] || grep -q -e 'libyang err' -e 'YANGLINT\[E\]' <<<"$errors"; then
        echo "yanglint: FAIL ${module#"$repo"/}"
        echo "$errors"
        status=1
    else
        echo "yanglint: ok ${module#"$repo"/}"
    fi
done

all_features=$(grep -oP '^\s*feature \K[\w-]+' "$features" \
    | grep -v -e '^bgp-backup-path-frr-vpn$' -e '^bgp-backup-path-frr-evpn$' | paste -sd, -)
# Prints yanglint's errors for one data file; its exit status is yanglint's.
validate() {
    local out rc=0
    out=$(yanglint "${search[@]}" -F "srl_nokia-features:$all_features" -t config "$features" \
        "$repo"/yang/*.yang "$1" 2>&1) || rc=$?
    grep -v -e '^libyang warn' -e '^libyang\[.\]: Previous warning' <<<"$out" || true
    return "$rc"
}
if [ "${2:-}" = --data ]; then
    file=${3:?usage: yanglint.sh SRL_YANG_DIR --data FILE}
    out=$(yanglint "${search[@]}" -F "srl_nokia-features:$all_features" -t data "$features" \
        "$repo"/yang/*.yang "$file" 2>&1) || { echo "$out"; exit 1; }
    errors=$(grep -v -e '^libyang warn' -e '^libyang\[.\]: Previous warning' <<<"$out" || true)
    if grep -q -e 'libyang err' -e 'YANGLINT\[E\]' <<<"$errors"; then
        echo "$errors"
        exit 1
    fi
    exit 0
fi
for example in "$repo"/yang/examples/*.json; do
    [ -e "$example" ] || continue
    if out=$(validate "$example") && ! grep -q -e 'libyang err' -e 'YANGLINT\[E\]' <<<"$out"; then
        echo "yanglint: ok ${example#"$repo"/}"
    else
        echo "yanglint: FAIL ${example#"$repo"/}"
        echo "$out"
        status=1
    fi
done
for example in "$repo"/yang/examples/invalid/*.json; do
    [ -e "$example" ] || continue
    out=$(validate "$example" || true)
    if grep -q -e 'libyang err' <<<"$out"; then
        echo "yanglint: ok ${example#"$repo"/} is rejected: $(grep -m1 'libyang err' <<<"$out")"
    else
        echo "yanglint: FAIL ${example#"$repo"/} was accepted"
        status=1
    fi
done
exit "$status"
