#!/usr/bin/env bash
# Compiles our YANG modules (yang/*.yang) against the SR Linux models with
# yanglint, the check SR Linux itself makes when it loads an agent's module.
#
# Usage: scripts/yanglint.sh SRL_YANG_DIR
#   SRL_YANG_DIR  the SR Linux YANG release (e.g. ../shared/srlinux-yang/v25.3.1)
#
# srl_nokia-features.yang is passed as a module of its own so that it is
# "implemented": libyang then enables all of its features, as on a real box,
# and the if-feature guarded nodes we augment next to exist. The Nokia models
# themselves make libyang print warnings; only errors fail this check.
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
exit "$status"
