"""Caps read from the environment (media length, chat size): a positive number, or a ConfigError saying how to fix it."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from detector.errors import ConfigError


def positive_env_number(env: Mapping[str, str] | None, name: str, unit: str, hint: str) -> float | None:
    """``$name`` as a positive finite number (None when unset or blank); ``unit`` and ``hint`` word the error."""
    raw = ((os.environ if env is None else env).get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={raw!r} is not a positive number of {unit}.", hint=hint)
    return value
