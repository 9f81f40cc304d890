#!/bin/sh
# Runs one benchmark script from bench/ with the repository's Python venv,
# adding matplotlib (for the plots) at the pinned version if it is missing.
# usage: sudo bench/run.sh origination [ARGS...]
set -eu
cd "$(dirname "$0")/.."
. scripts/versions.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c "import matplotlib" 2>/dev/null ||
    .venv/bin/pip install -q "matplotlib==$MATPLOTLIB_PY_VERSION"
script=$1
shift
exec .venv/bin/python "bench/$script.py" "$@"
