"""Text for the HTML report: attribute-safe escaping and numbers that read "—" when they are not numbers."""

from __future__ import annotations

import math
from html import escape
from typing import Any


def esc(value: Any) -> str:
    """``value`` as text, escaped for element content and attribute values alike."""
    return escape(str(value), quote=True)


def num(value: Any, fmt: str = ".2f", unit: str = "") -> str:
    """``value`` formatted with ``fmt`` and ``unit``; "—" for anything missing, non-numeric or not finite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{v:{fmt}}{unit}" if math.isfinite(v) else "—"
