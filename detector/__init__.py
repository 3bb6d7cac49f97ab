"""The highlight detector: VOD media and chat in, ranked and explained highlight candidates out.

Importing this package is cheap: it never imports torch, transformers or faster-whisper. Heavy
libraries are imported lazily by the stage that needs them (see ``detector.compute``).
Stages, in data-flow order: ``sources`` → ``signals`` → ``fusion`` → outputs; ``pipeline`` is the
only module that knows that order.
"""

from __future__ import annotations

from detector.errors import DetectorError

__all__ = ["DetectorError"]
