#!/usr/bin/env bash
# Regenerates constraints.txt, the exact versions the README's install, the demo and CI use, from pyproject.toml:
# every extra, resolved for Python 3.11 on Linux x86-64 (CI's machine), torch pinned to its CPU build.
# Run it after changing a dependency in pyproject.toml and commit both files. Needs only PyPI (and, where the
# CPU torch wheel is not on this disk, the PyPI-compatible PyTorch CPU index).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${TMPDIR:-/tmp}/highlights-lock-tools"
[ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/python" -m pip install --quiet "uv>=0.9"; }
if [ -d /opt/wheels ]; then
    torch_source=(--find-links /opt/wheels)
else
    torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
fi
"$tools/bin/uv" pip compile pyproject.toml --quiet \
    --all-extras \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 "${torch_source[@]}" \
    --constraint requirements/torch-cpu.txt \
    --custom-compile-command "bash scripts/lock.sh" \
    --output-file constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pinned packages"
