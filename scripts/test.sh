#!/usr/bin/env bash
# The README's test command: a virtual environment with every extra at the versions in constraints.txt (torch
# on the CPU, so the vision and torch tests run too), the architecture contracts (import-linter), a throwaway
# PostgreSQL on 127.0.0.1 for the storage contract suite, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch 2.13.0 is the CPU build (a wheel on CI's disk; elsewhere install it from the PyTorch CPU index first,
# README "Install"). constraints.txt holds the exact versions the demo uses too (scripts/lock.sh makes it).
.venv/bin/python -m pip install --quiet -c constraints.txt "torch==2.13.0" -e ".[dev,worker,vision,postgres,bot]"
.venv/bin/lint-imports
if url="$(bash scripts/pg.sh start)"; then
    export HIGHLIGHTS_TEST_PG_URL="$url"
    trap 'bash scripts/pg.sh stop' EXIT
else
    echo "note: no PostgreSQL started here; the storage tests start their own server or skip" >&2
fi
.venv/bin/python -m pytest "$@"
