#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, seeded from fuzz/seeds/,
# and prints libFuzzer's final statistics (executions reached).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 20
#
# A crash fails the run; the input is left in fuzz/artifacts/<target>/ and
# belongs in a regression test (bgp-wire/tests/regressions/, or
# agent/tests/regressions/ for ndk_config_commit).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$repo/scripts/versions.sh"
seconds=${1:-20}
cd "$repo/fuzz"

for target in $(cargo "+$EBPF_NIGHTLY" fuzz list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    echo "fuzz: $target for ${seconds}s"
    log="$repo/target/fuzz-$target.log"
    mkdir -p "$repo/target"
    # The first corpus directory collects new inputs; the seeds are read only.
    status=0
    cargo "+$EBPF_NIGHTLY" fuzz run "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    # Show the outcome, not libFuzzer's progress lines (all in $log).
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "fuzz: $target FAILED (exit $status); full log: $log"
        exit 1
    fi
done
