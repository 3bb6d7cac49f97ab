"""Fixtures shared by the bot tests: ``h``, a started bot against the Discord double (closed afterwards).

A module that needs other harness options (test_bot_permissions.py, test_discord_double.py) defines its own ``h``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.harness import BotHarness


@pytest.fixture
async def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.start(tmp_path, monkeypatch)
    try:
        yield harness
    finally:
        await harness.close()
