#!/usr/bin/env bash
# The README's test command: a virtual environment with the worker and dev extras (torch on the CPU),
# the architecture contracts (import-linter), then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch 2.13.0 is the CPU build on this project's machines; a GPU machine installs its own build first.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[dev,worker,postgres]"
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
