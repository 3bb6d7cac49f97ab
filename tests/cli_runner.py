"""Run ``highlights …`` in-process, the way a user's shell would, with the environment a test gives."""

from __future__ import annotations

from typing import Any


def run_highlights(argv: list[str], env: dict[str, str], monkeypatch: Any) -> int:
    """``highlights …`` (its real ``main``) with ``env`` set."""
    from highlights import cli

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli.main(argv)
