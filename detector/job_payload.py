"""Worker stage, the edge of a DETECT job: its JSON payload → a checked ``DetectRequest``.

Consumes the payload as the bot, the scheduler or ``highlights jobs add`` enqueued it::

    {"media": "/abs/video.mp4" | null, "chat": "/abs/chat.json" | null,
     "settings": {"top_k": 5, ...}, "vod_start": "2024-05-01T12:00:00+00:00" | null,
     "window": [start_s, end_s] | null, "device": "auto" | null,
     "vod": {"twitch_vod_id": "...", "streamer_id": 1, "title": "...", "source": "..."} | null,
     "render": {"layout": "16:9", "top": 5, "captions": false} | null,
     "transcript": true | {"language": "en", "full": false, "keywords": [...]} | null,
     "hybrid": true | {"segments": true, "vision": true, "scenes": true, "profile": "cpu"} | null}

and produces a ``DetectRequest`` (``render`` is for the render stage, which burns captions in from the
transcript's words: asking for captions turns the transcript on). A payload naming only a Twitch VOD
(``vod.twitch_vod_id``) is valid: the worker fetches its audio and chat first (``detector.ingest``) and
passes the local files in. Anything malformed raises ``ConfigError`` naming the key and what it
should be, so the job fails for good with a message a person can act on.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import ConfigError
from storage.records import Tuning

if TYPE_CHECKING:
    from detector.hybrid import HybridOptions
    from detector.pipeline import DetectRequest
    from detector.signals.transcript import TranscriptOptions

_PAYLOAD_KEYS = frozenset({"media", "chat", "settings", "vod_start", "window", "device", "vod", "render",
                           "transcript", "hybrid"})


def request_from_payload(payload: dict[str, Any], default_device: str = "auto") -> DetectRequest:
    """The ``DetectRequest`` a DETECT job's payload describes; ``ConfigError`` names what is wrong."""
    from detector.params import Settings
    from detector.pipeline import DetectRequest

    unknown = sorted(set(payload) - _PAYLOAD_KEYS)
    if unknown:
        raise ConfigError(f"The detect job's payload has unknown keys {unknown}.",
                          hint=f"Known keys: {', '.join(sorted(_PAYLOAD_KEYS))}.")
    media, chat = payload.get("media"), payload.get("chat")
    if not media and not chat and twitch_vod_of(payload) is None:
        raise ConfigError("The detect job names neither a media file, a chat log nor a Twitch VOD.",
                          hint="Enqueue it with a MEDIA path, --chat FILE, both, or a Twitch VOD.")
    settings = payload.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError("The detect job's settings must be a table of name = value.")
    vod_start = None
    if payload.get("vod_start"):
        try:
            vod_start = datetime.fromisoformat(str(payload["vod_start"]))
        except ValueError:
            raise ConfigError(f"The detect job's vod_start {payload['vod_start']!r} is not ISO 8601.") from None
    window = payload.get("window")
    if window is not None and (not isinstance(window, list | tuple) or len(window) != 2):
        raise ConfigError(f"The detect job's window must be [start_s, end_s], got {window!r}.")
    return DetectRequest(media=Path(media) if media else None, chat=Path(chat) if chat else None,
                         settings=Settings(settings), device=str(payload.get("device") or default_device),
                         vod_start=vod_start, window=(float(window[0]), float(window[1])) if window else None,
                         transcript=transcript_from_payload(payload), hybrid=hybrid_from_payload(payload))


def transcript_from_payload(payload: dict[str, Any]) -> TranscriptOptions | None:
    """The payload's ``transcript`` option (``true`` or ``{"language", "full", "keywords"}``); a render
    that asks for captions turns the transcript on, since captions are made of its words."""
    from detector.signals.transcript import TranscriptOptions

    raw = payload.get("transcript")
    render = payload.get("render")
    if raw is None and isinstance(render, dict) and render.get("captions") is True:
        raw = True
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict) or set(raw) - {"language", "full", "keywords"}:
        raise ConfigError(f"The detect job's transcript must be true or {{language, full, keywords}}; got {raw!r}.")
    language, full, keywords = raw.get("language"), raw.get("full", False), raw.get("keywords", [])
    if language is not None and not (isinstance(language, str) and language.isalpha() and 2 <= len(language) <= 3):
        raise ConfigError(f"The detect job's transcript language {language!r} is not a language code.")
    if not isinstance(full, bool) or not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ConfigError("The detect job's transcript.full must be true/false and keywords a list of words.")
    return TranscriptOptions(language=language, full_transcript=full, keywords=tuple(keywords))


def merge_tuning(payload: dict[str, Any], tuning: Tuning | None) -> dict[str, Any]:
    """``payload`` with ``tuning``'s parameters under its own settings (names the table lacks are dropped)."""
    from detector.params import PARAMS_BY_NAME

    settings = payload.get("settings") or {}
    if tuning is None or not tuning.params or not isinstance(settings, dict):
        return payload
    tuned = {k: v for k, v in tuning.params.items() if k in PARAMS_BY_NAME}
    return {**payload, "settings": {**tuned, **settings}}


def twitch_vod_of(payload: dict[str, Any]) -> str | None:
    """The Twitch VOD id to download when the payload names one and no media file (checked)."""
    facts = payload.get("vod")
    if payload.get("media") or not isinstance(facts, dict) or not facts.get("twitch_vod_id"):
        return None
    from detector.sources.twitch.resolver import check_vod_id

    return check_vod_id(str(facts["twitch_vod_id"]))


HYBRID_KEYS = frozenset({"segments", "vision", "scenes", "profile"})


def hybrid_from_payload(payload: dict[str, Any]) -> HybridOptions | None:
    """The payload's ``hybrid`` option: ``true`` (every stage) or ``{segments, vision, scenes, profile}``."""
    from detector.hybrid import HybridOptions

    raw = payload.get("hybrid")
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict) or set(raw) - HYBRID_KEYS:
        raise ConfigError(f"The detect job's hybrid must be true or {{{', '.join(sorted(HYBRID_KEYS))}}}; got {raw!r}.")
    flags = {k: raw.get(k, True) for k in ("segments", "vision", "scenes")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise ConfigError("The detect job's hybrid.segments, .vision and .scenes must be true or false.")
    profile = raw.get("profile")
    from detector.models.hardware import PROFILES

    if profile is not None and profile not in PROFILES:
        raise ConfigError(f"The detect job's hybrid.profile {profile!r} is not a hardware profile.",
                          hint=f"Use one of {', '.join(sorted(PROFILES))}, or leave it out to choose from the machine.")
    return HybridOptions(**flags, profile=profile)
