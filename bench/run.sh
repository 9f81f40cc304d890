#!/bin/sh
# Runs one benchmark script from bench/ with the repository's Python venv,
# adding matplotlib (for the plots) at the pinned version if it is missing,
# and bpftool for the snooper benchmark.
# usage: sudo bench/run.sh origination [ARGS...]
set -eu
cd "$(dirname "$0")/.."
. scripts/versions.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c "import matplotlib" 2>/dev/null ||
    .venv/bin/pip install -q "matplotlib==$MATPLOTLIB_PY_VERSION"
script=$1
shift
# The snooper benchmark times programs with `bpftool prog run`.
if [ "$script" = snoop ] && ! command -v bpftool >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bpftool
fi
exec .venv/bin/python "bench/$script.py" "$@"
