#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
#
# Installs what it needs first (scripts/bootstrap.sh), then runs every check
# even after one fails, prints each runner's own summary, and ends with one
# line of totals. Exits non-zero if anything failed.
#
# Privileged tests (network namespaces, eBPF) run when this runs as root and
# print "SKIP: reason" otherwise.
#
# Environment:
#   SRL_YANG_DIR   SR Linux YANG models v25.3.1 (default: ../shared/srlinux-yang/v25.3.1)
#   FUZZ_SECONDS   how long each fuzz target runs (default 20)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1

"$repo/scripts/bootstrap.sh" || { echo "test: bootstrap failed"; exit 1; }

log_dir="$repo/target/test-logs"
mkdir -p "$log_dir"

passed=0
failed=0
skipped=0
steps=()

# add_counts LOG: adds the test counts a runner printed to the totals.
add_counts() {
    local log=$1 p f s
    case "$2" in
    cargo)
        # One "test result:" line per test binary.
        read -r p f s < <(awk '/^test result:/ {
                for (i = 1; i <= NF; i++) {
                    if ($(i) ~ /^passed/) p += $(i - 1)
                    if ($(i) ~ /^failed/) f += $(i - 1)
                    if ($(i) ~ /^ignored/) s += $(i - 1)
                }
            } END { print p + 0, f + 0, s + 0 }' "$log")
        ;;
    pytest)
        local last
        last=$(grep -E '[0-9]+ (passed|failed|skipped)' "$log" | tail -n 1)
        p=$(grep -oE '[0-9]+ passed' <<<"$last" | grep -oE '[0-9]+')
        f=$(grep -oE '[0-9]+ failed' <<<"$last" | grep -oE '[0-9]+')
        s=$(grep -oE '[0-9]+ skipped' <<<"$last" | grep -oE '[0-9]+')
        ;;
    esac
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    skipped=$((skipped + ${s:-0}))
}

# step NAME KIND COMMAND...: runs one check, shows its output, records its
# result. KIND is "cargo" or "pytest" for runners whose counts we add up,
# or "check" for a single pass/fail check (fmt, clippy, yanglint), which
# counts as one test.
step() {
    local name=$1 kind=$2
    shift 2
    local log="$log_dir/$name.log"
    printf '\n==> %s: %s\n' "$name" "$*"
    local start=$SECONDS
    "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    local took=$((SECONDS - start))
    if [ "$kind" = check ]; then
        if [ "$status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    else
        add_counts "$log" "$kind"
        # A runner that died before reporting (build error) still fails.
        if [ "$status" -ne 0 ] && ! grep -qE '[1-9][0-9]* failed' "$log"; then
            failed=$((failed + 1))
        fi
    fi
    if [ "$status" -eq 0 ]; then
        steps+=("ok    ${took}s  $name")
    else
        steps+=("FAIL  ${took}s  $name (exit $status, log: ${log#"$repo"/})")
    fi
}

# --- Rust ----------------------------------------------------------------------
step fmt check cargo fmt --all --check
step clippy check cargo clippy --workspace --all-targets --locked -- -D warnings
step cargo-test cargo cargo test --workspace --locked

# --- The same interop and end-to-end tests against current releases: FRR 10.3
# and GoBGP 3.36 (Debian 13 root), and the graceful-restart test against FRR
# 10.7 (Debian unstable root), the first helper that keeps EVPN routes -------
roots=${SVA_ROOTS:-/var/cache/static-vxlan-agent/roots}
release_of() { awk -v p="$2" '$1 == p {print $2}' "$roots/$1.packages" 2>/dev/null; }
echo "FRR $(dpkg-query -W -f '${Version}' frr 2>/dev/null) and GoBGP $(dpkg-query -W -f '${Version}' gobgpd 2>/dev/null) (host);" \
    "FRR $(release_of trixie frr) and GoBGP $(release_of trixie gobgpd) (trixie root); FRR $(release_of sid frr) (sid root)"
step current-releases cargo env SVA_FRR=10.3 SVA_GOBGP=3.36 \
    cargo test --locked -p static-vxlan-agent --test interop_frr --test interop_gobgp --test e2e
if [ -x "$roots/sid/usr/lib/frr/bgpd" ]; then
    step frr-10.7-graceful-restart cargo env SVA_FRR=10.7 \
        cargo test --locked -p static-vxlan-agent --test e2e an_agent_restart_behind_a_graceful_restart_helper
else
    echo "SKIP: frr-10.7-graceful-restart: no Debian unstable root in $roots (bootstrap.sh could not make it)"
    skipped=$((skipped + 1))
fi

# --- Fuzzing: every target for a bounded time (crashers go to
# bgp-wire/tests/regressions/) ----------------------------------------------------
step fuzz check "$repo/scripts/fuzz.sh" "${FUZZ_SECONDS:-20}"

# --- Python: the CLI plugins, the RPM (built and installed into a scratch
# root), the Debian package (built, linted, installed into a Debian 12 root),
# the containerlab topologies against containerlab's schema -----------------
python_tests=()
for dir in cli-plugin rpm agent/debian labs; do
    if [ -n "$(find "$dir" -path '*/tests/test_*.py' -print -quit 2>/dev/null)" ]; then
        python_tests+=("$dir")
    fi
done
step pytest pytest "$repo/.venv/bin/python" -m pytest -q -p no:cacheprovider "${python_tests[@]}"

# --- YANG ----------------------------------------------------------------------
srl_yang=${SRL_YANG_DIR:-$repo/../shared/srlinux-yang/v25.3.1}
if compgen -G "yang/*.yang" >/dev/null; then
    step yanglint check "$repo/scripts/yanglint.sh" "$srl_yang"
else
    echo "SKIP: yanglint: yang/ has no modules yet"
fi

# --- Summary -------------------------------------------------------------------
printf '\n==> summary\n'
printf '  %s\n' "${steps[@]}"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
