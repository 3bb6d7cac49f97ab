"""Benchmark input for the hybrid pipeline: a long synthetic VOD that mixes gameplay, talking and menus.

Consumes a length in minutes, a seed and a cache folder; produces a :class:`HybridVod`: an MP4
(H.264 480×270 at 10 fps, keyframes every 2 s, AAC 48 kHz stereo) and a chat log with planted chat
bursts. Made in three cheap steps, so an hour takes seconds rather than minutes:

1. **Speech.** A few English sentences (hype and calm) spoken by ``espeak-ng`` when it is on the
   PATH; without it the segment generator's babbling voice stands in (Whisper then hears little).
2. **A tile.** ``detector.synthetic.segments`` renders up to ``TILE_S`` seconds of stretches
   (``TILE_PATTERN``: gameplay with and without commentary, talking to the camera, menus).
3. **The VOD.** The tile is repeated by stream copy (``-stream_loop``, no re-encoding) and cut to
   the length; the chat log (``detector.synthetic.vod.make_vod`` with neither audio nor video) is made
   for the whole length, so its bursts — and the candidates they raise — do not repeat.

Everything stays in the folder with a JSON marker; a later run with the same length, seed and
generator sources reuses the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from detector.bench.vod import check_minutes, planted_lag
from detector.errors import ConfigError, MediaError
from detector.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

SEED = 11
TILE_S = 600.0
"""Longest stretch rendered frame by frame; longer VODs repeat it."""
TILE_PATTERN: tuple[tuple[str, float], ...] = (
    ("gameplay", 60.0), ("talking", 45.0), ("gameplay", 50.0), ("menu", 20.0), ("talking", 60.0),
    ("gameplay", 80.0), ("menu", 25.0), ("talking", 40.0), ("gameplay", 70.0), ("talking", 35.0),
    ("gameplay", 55.0), ("menu", 20.0), ("talking", 40.0),
)
"""Ten minutes of stretches (a shorter tile takes the pattern's beginning)."""
SENTENCES = (
    "Oh my god! No way! That was insane!",
    "Okay, let me check the map and the next objective.",
    "Let's go! Clip it, chat, clip it right now!",
    "Alright, I think we need to rotate to the other side before the zone closes.",
    "Hahaha, what was that? That was so close!",
    "Thanks for the follow, welcome to the stream, everyone.",
)
_VERSION = 1


@dataclass(frozen=True)
class HybridVod:
    """A generated bench VOD and how it was made."""

    media_path: Path
    chat_path: Path
    duration_s: float
    tile_s: float
    """Length of the rendered tile the VOD repeats."""
    speech: str
    """``espeak-ng`` or ``babble`` (the generator's stand-in voice)."""
    events: tuple[float, ...]
    """Planted chat-burst events (the burst starts ``chat_lag_s`` later)."""
    chat_lag_s: float


def tile_plan(seconds: float) -> tuple[tuple[str, float], ...]:
    """The first ``seconds`` of ``TILE_PATTERN``, repeated if needed (the last stretch cut short)."""
    plan: list[tuple[str, float]] = []
    left = float(seconds)
    while left > 1e-6:
        for label, length in TILE_PATTERN:
            if left <= 1e-6:
                break
            take = min(length, left)
            plan.append((label, take))
            left -= take
    return tuple(plan)


def speech_sample(folder: Path, timeout_s: float = 60.0) -> Path | None:
    """``folder/speech.wav`` spoken by espeak-ng (made once); None when espeak-ng is not installed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    out = folder / "speech.wav"
    if out.is_file() and out.stat().st_size > 0:
        return out
    tmp = folder / "speech.tmp.wav"
    argv = [exe, "-v", "en-us", "-s", "160", "-g", "6", "-w", str(tmp), " ".join(SENTENCES)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("espeak-ng did not speak (%s); the babbling voice stands in", exc)
        return None
    if proc.returncode != 0 or not tmp.is_file():
        log.warning("espeak-ng failed (exit %s); the babbling voice stands in", proc.returncode)
        return None
    tmp.replace(out)
    return out


def _fingerprint(speech: str) -> str:
    from detector.synthetic import audio, chat, segments, vod

    h = hashlib.sha1(f"{_VERSION}:{speech}:{TILE_PATTERN}:{SENTENCES}".encode())
    for module in (vod, audio, chat, segments):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]


def _load(marker: Path, fingerprint: str) -> HybridVod | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.pop("fingerprint", None) != fingerprint:
        return None
    vod = HybridVod(**{**data, "media_path": Path(data["media_path"]), "chat_path": Path(data["chat_path"]),
                       "events": tuple(data["events"])})
    return vod if vod.media_path.is_file() and vod.chat_path.is_file() else None


def _save(marker: Path, vod: HybridVod, fingerprint: str) -> None:
    data = {**asdict(vod), "media_path": str(vod.media_path), "chat_path": str(vod.chat_path),
            "events": list(vod.events), "fingerprint": fingerprint}
    tmp = marker.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(marker)


def _tile(folder: Path, seconds: float, speech: Path | None, seed: int, fingerprint: str) -> Path:
    """The rendered tile (kept, and shared by every length that repeats it)."""
    from detector.synthetic.segments import make_segmented_vod

    path = folder / f"tile-{seconds:g}s-s{seed}-{fingerprint}.mp4"
    if path.is_file():
        return path
    made = make_segmented_vod(folder, tile_plan(seconds), speech_path=speech, seed=seed, name=f"{path.stem}.part")
    made.path.replace(path)
    return path


def hybrid_vod(folder: str | Path, minutes: float, *, seed: int = SEED,
               say: Callable[[str], None] | None = None) -> HybridVod:
    """The bench VOD of ``minutes`` in ``folder``: reused when already there, else made (see the module)."""
    check_minutes(minutes)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the benchmark folder {folder}: {exc.strerror or exc}.",
                          hint="Pass a folder you can write to.") from None
    speech = speech_sample(folder)
    speech_kind = "espeak-ng" if speech else "babble"
    fingerprint = _fingerprint(speech_kind)
    name = f"hybrid-{minutes:g}m-s{seed}"
    marker = folder / f"{name}.json"
    vod = _load(marker, fingerprint)
    if vod is not None:
        if say:
            say(f"reusing the {minutes:g}-minute hybrid VOD in {folder}")
        return vod
    duration = float(minutes) * 60.0
    tile_s = min(TILE_S, duration)
    if say:
        say(f"making a {minutes:g}-minute hybrid VOD ({tile_s:g} s tile, speech: {speech_kind}) in {folder} ...")
    tile = _tile(folder, tile_s, speech, seed, fingerprint)
    media = folder / f"{name}.mp4"
    run_ffmpeg(["-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(tile), "-t", f"{duration:.3f}",
                "-map", "0", "-c", "copy", str(media)], timeout_s=max(120.0, duration / 10), what="repeating the tile")
    if not media.is_file():  # pragma: no cover - ffmpeg said it succeeded
        raise MediaError(f"{media} was not written.")
    from detector.synthetic.vod import make_vod

    lag = planted_lag(minutes)
    chat = make_vod(folder, minutes=minutes, video=False, audio=False, chat=True, seed=seed, chat_lag_s=lag,
                    name=f"{name}-chat")
    assert chat.chat_path is not None
    vod = HybridVod(media, chat.chat_path, duration, tile_s, speech_kind, chat.events, lag)
    _save(marker, vod, fingerprint)
    return vod
