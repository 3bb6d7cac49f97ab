"""The house: importing any detector module stays cheap, whatever stage or family it belongs to.

Every module under ``detector`` is imported in one fresh interpreter; none may pull in a heavy or
optional library at import time (they load inside the function that needs them, so a missing one
makes a feature unavailable with a reason instead of breaking ``import detector...``). The layer and
no-circle rules are import-linter contracts in ``pyproject.toml`` (``lint-imports``).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "faster_whisper", "ctranslate2", "cv2", "scenedetect", "opentimelineio")

CODE = f"""
import importlib, json, pkgutil, sys
import detector
names = sorted(m.name for m in pkgutil.walk_packages(detector.__path__, "detector."))
loaded = {{}}
for name in names:
    importlib.import_module(name)
    for heavy in {HEAVY!r}:
        if heavy in sys.modules and heavy not in loaded:
            loaded[heavy] = name
print(json.dumps({{"modules": len(names), "loaded": loaded}}))
"""


def test_importing_every_detector_module_imports_no_heavy_library() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["modules"] > 100, report  # the walk found the packages, not just the root
    assert report["loaded"] == {}, f"imported at module level (first importer shown): {report['loaded']}"
