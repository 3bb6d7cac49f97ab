#!/usr/bin/env bash
# The README's test command: a virtual environment with the worker, PostgreSQL and dev extras (torch on
# the CPU), the architecture contracts (import-linter), a throwaway PostgreSQL on 127.0.0.1 for the
# storage contract suite, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch 2.13.0 is the CPU build on this project's machines; a GPU machine installs its own build first.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[dev,worker,postgres,bot]"
.venv/bin/lint-imports
if url="$(bash scripts/pg.sh start)"; then
    export HIGHLIGHTS_TEST_PG_URL="$url"
    trap 'bash scripts/pg.sh stop' EXIT
else
    echo "note: no PostgreSQL started here; the storage tests start their own server or skip" >&2
fi
.venv/bin/python -m pytest "$@"
