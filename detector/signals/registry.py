"""The signal registry: the plugins the pipeline runs over the whole VOD, by name.

Consumed by the pipeline (which signals to compute) and ``highlights doctor`` (which can run here).
Kept apart from ``detector.signals.base`` so the base never imports its plugins: the plugins import
the base, the registry imports the plugins. Importing a plugin is cheap (heavy imports are lazy).
"""

from __future__ import annotations

from detector.signals.audio import AudioSignal
from detector.signals.base import Signal
from detector.signals.chat import ChatSignal


def registry() -> dict[str, type[Signal]]:
    """All known signals by name."""
    return {cls.NAME: cls for cls in (ChatSignal, AudioSignal)}
