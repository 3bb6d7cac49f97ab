"""Benchmark input: a cached synthetic VOD with known answers.

Consumes a length in minutes, a seed and a cache folder; produces a
:class:`~detector.synthetic.vod.SyntheticVod`: an audio-only ``.m4a`` (AAC, 48 kHz stereo, as Twitch
serves it) and its chat log with planted chat bursts. Generating an hour takes a while, so the
files stay in the folder with a small JSON marker holding the planted answers; a later run with the
same length, seed, chat format and generator source reuses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from detector.errors import ConfigError
from detector.synthetic.vod import SyntheticVod, make_vod

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "highlights-bench"
"""Where generated VODs are kept between runs when ``--keep`` is not given."""
SEED = 7
MIN_MINUTES = 0.5
"""Shorter VODs leave no room for a planted event and its late chat burst."""
MAX_MINUTES = 24 * 60.0
MAX_CHAT_LAG_S = 18.0
"""The planted chat reaction lag (shorter for very short VODs, so the burst fits)."""
CHAT_FORMATS = ("jsonl", "twitchdownloader")


def planted_lag(minutes: float) -> float:
    """The chat lag planted in a VOD of ``minutes``: 18 s, or a quarter of a very short VOD."""
    return round(min(MAX_CHAT_LAG_S, minutes * 60.0 / 4.0), 2)


def check_minutes(minutes: float) -> None:
    if not (MIN_MINUTES <= minutes <= MAX_MINUTES):
        raise ConfigError(f"--minutes {minutes:g} is out of range.",
                          hint=f"Use {MIN_MINUTES:g} to {MAX_MINUTES:g} minutes.")


def _generator_fingerprint() -> str:
    from detector.synthetic import audio, chat, vod

    source = b"".join(Path(module.__file__ or "").read_bytes() for module in (vod, audio, chat))
    return hashlib.sha1(source).hexdigest()[:16]


def _marker_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.json"


def _load_marker(marker: Path, fingerprint: str) -> SyntheticVod | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != fingerprint:
        return None
    media, chat = Path(data["media_path"]), Path(data["chat_path"])
    if not (media.is_file() and chat.is_file()):
        return None
    return SyntheticVod(media, chat, float(data["duration_s"]), tuple(data["events"]),
                        float(data["chat_lag_s"]), tuple(data["burst_s"]), tuple(data["decoys"]))


def _save_marker(marker: Path, vod: SyntheticVod, fingerprint: str) -> None:
    data = {
        "fingerprint": fingerprint, "media_path": str(vod.media_path), "chat_path": str(vod.chat_path),
        "duration_s": vod.duration_s, "events": list(vod.events), "chat_lag_s": vod.chat_lag_s,
        "burst_s": list(vod.burst_s), "decoys": list(vod.decoys),
    }
    tmp = marker.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(marker)


def cached_vod(folder: str | Path, minutes: float, *, seed: int = SEED, chat_format: str = "jsonl",
               say: Callable[[str], None] | None = None) -> SyntheticVod:
    """The synthetic VOD of ``minutes`` in ``folder``: reused when already there, else generated."""
    check_minutes(minutes)
    if chat_format not in CHAT_FORMATS:
        raise ConfigError(f"Unknown chat format {chat_format!r}.", hint=f"Use one of {', '.join(CHAT_FORMATS)}.")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the benchmark folder {folder}: {exc.strerror or exc}.",
                          hint="Pass --keep DIR with a folder you can write to.") from None
    name = f"vod-{minutes:g}m-s{seed}-{chat_format}"
    marker = _marker_path(folder, name)
    fingerprint = _generator_fingerprint()
    vod = _load_marker(marker, fingerprint)
    if vod is not None:
        log.info("reusing %s", vod.media_path)
        if say:
            say(f"reusing the {minutes:g}-minute synthetic VOD in {folder}")
        return vod
    if say:
        say(f"making a {minutes:g}-minute synthetic VOD (AAC 48 kHz stereo + chat) in {folder} ...")
    vod = make_vod(folder, minutes=minutes, video=False, chat_format=chat_format, seed=seed,
                   chat_lag_s=planted_lag(minutes), name=name)
    _save_marker(marker, vod, fingerprint)
    return vod
