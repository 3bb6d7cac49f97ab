"""Synthetic VODs, the chat: background messages, hype bursts after each event, and decoy spam.

Consumes the VOD's length, the planted event times, the chat lag, the decoy times and a seed;
produces ``(offset_s, text, author)`` messages (deterministic from the seed) and writes them as a
JSONL log or a TwitchDownloader JSON document. See ``detector.synthetic.vod`` for what is planted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

_TWO_PI = 2.0 * np.pi

CHAT_FORMATS = ("jsonl", "twitchdownloader")
_ORDINARY = (
    "hi chat", "what rank is he", "this song is nice", "how long has he been live", "gg",
    "anyone know the build", "first time here", "hello from germany", "what game is next",
    "he should go left", "chat is quiet today", "nice shot", "is this ranked", "why is he muted",
    "that was close", "love the stream", "what keyboard is that", "brb", "back", "can we get a song",
    "which server", "wait what happened", "he is tilted", "ok that was clean", "hydrate",
    "what time is it there", "lets see", "mods?", "good morning", "is that a new setup",
)
_BACKGROUND_EMOTES = ("Kappa", "LUL", "KEKW", "monkaS")
_HYPE = ("KEKW", "LUL", "PogChamp", "OMEGALUL", "CLIP IT", "LMAO", "?????", "POGGERS", "NO WAY",
         "LETS GOOO", "WHAT", "OMG", "HOLY")
_DECOY = ("!drop", "!points", "!giveaway", "!discord", "1", "!uptime")
_EMOTE_IDS = {"Kappa": "25", "LUL": "425618", "PogChamp": "305954156"}
"""First-party Twitch emotes: marked as fragments in TwitchDownloader logs (3rd-party ones are not)."""


def _authors(rng: np.random.Generator, count: int = 400) -> list[str]:
    first = ("shadow", "pixel", "lazy", "turbo", "salty", "happy", "night", "frost", "cyber", "mega")
    second = ("fox", "gamer", "panda", "wolf", "potato", "ninja", "cat", "knight", "bean", "owl")
    return [f"{first[rng.integers(10)]}{second[rng.integers(10)]}{rng.integers(1, 9999)}" for _ in range(count)]


def _hype_text(rng: np.random.Generator) -> str:
    words = [str(w) for w in rng.choice(_HYPE, size=int(rng.integers(1, 4)))]
    if rng.random() < 0.3:
        words = [words[0]] * int(rng.integers(2, 5))
    text = " ".join(words)
    return text.upper() if rng.random() < 0.3 else text


def chat_messages(duration_s: float, events: Sequence[float], lag: float, decoys: Sequence[float],
                  seed: int) -> list[tuple[float, str, str]]:
    """Every message, sorted by offset: background, a hype burst ``lag`` after each event, decoys."""
    rng = np.random.default_rng([seed, 2])
    authors = _authors(rng)
    phase = rng.uniform(0.0, _TWO_PI)
    messages: list[tuple[float, str, str]] = []

    def emit(count: int, lo: float, hi: float, make: Callable[[], str]) -> None:
        for offset in rng.uniform(lo, hi, count):
            if 0.0 <= offset < duration_s:
                messages.append((round(float(offset), 3), make(), str(authors[rng.integers(len(authors))])))

    def ordinary() -> str:
        text = str(_ORDINARY[rng.integers(len(_ORDINARY))])
        return f"{text} {_BACKGROUND_EMOTES[rng.integers(len(_BACKGROUND_EMOTES))]}" if rng.random() < 0.05 else text

    def background_rate(t: float) -> float:  # msg/s, drifting between 1 and 2
        return 1.5 + 0.5 * float(np.sin(_TWO_PI * t / 420.0 + phase))

    for second in range(int(np.ceil(duration_s))):
        emit(int(rng.poisson(background_rate(second))), second, second + 1.0, ordinary)
    for start in events:  # total rate factor × background, easing off over the last 30 %
        length, factor = rng.uniform(8.0, 12.0), rng.uniform(5.0, 10.0)
        for k in range(int(np.ceil(length))):
            t = start + lag + k
            shape = min(1.0, 0.4 + 2.0 * (1.0 - k / length))
            extra = max(0.0, factor * shape - 1.0) * background_rate(t)
            emit(int(rng.poisson(extra)), t, start + lag + min(k + 1.0, length), lambda: _hype_text(rng))
    for start in decoys:  # ~4x the background rate of plain command spam, 10 s
        for k in range(10):
            emit(int(rng.poisson(3.0 * background_rate(start + k))), start + k, start + k + 1.0,
                 lambda: str(rng.choice(_DECOY)))
    messages.sort()
    return messages


def _fragments(text: str) -> list[dict[str, object]]:
    """TwitchDownloader message fragments: runs of plain text, and first-party emotes on their own."""
    frags: list[dict[str, object]] = []
    pending = ""
    for i, word in enumerate(text.split(" ")):
        pending += " " if i else ""
        if word in _EMOTE_IDS:
            if pending:
                frags.append({"text": pending, "emoticon": None})
            frags.append({"text": word, "emoticon": {"emoticon_id": _EMOTE_IDS[word]}})
            pending = ""
        else:
            pending += word
    if pending:
        frags.append({"text": pending, "emoticon": None})
    return frags


def write_chat(path: Path, messages: Sequence[tuple[float, str, str]], fmt: str, duration_s: float) -> None:
    """Write ``(offset, text, author)`` messages as ``jsonl`` or a TwitchDownloader JSON file."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for offset, text, author in messages:
                f.write(json.dumps({"offset": offset, "message": text, "author": author}) + "\n")
        return
    if fmt != "twitchdownloader":
        raise ValueError(f"unknown chat format {fmt!r}; expected one of {CHAT_FORMATS}")
    created = datetime(2024, 1, 1, tzinfo=UTC)

    def stamp(seconds: float) -> str:
        return (created + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    comments = [{
        "_id": f"c{i:07d}", "created_at": stamp(offset), "channel_id": "1000", "content_type": "video",
        "content_id": "2000", "content_offset_seconds": offset,
        "commenter": {"display_name": author, "_id": str(10000 + sum(map(ord, author))), "name": author.lower(),
                      "bio": None, "created_at": stamp(-86400.0), "updated_at": stamp(-86400.0), "logo": None},
        "message": {"body": text, "bits_spent": 0, "fragments": _fragments(text), "user_badges": [],
                    "user_color": "#1E90FF", "emoticons": []},
    } for i, (offset, text, author) in enumerate(messages)]
    doc = {
        "FileInfo": {"Version": {"Major": 1, "Minor": 3, "Patch": 1}, "CreatedAt": stamp(duration_s),
                     "UpdatedAt": stamp(duration_s)},
        "streamer": {"name": "synthetic", "id": 1000},
        "video": {"title": "synthetic VOD", "description": None, "id": "2000", "created_at": stamp(0.0),
                  "start": 0, "end": int(duration_s), "length": int(duration_s), "viewCount": 0,
                  "game": "Just Chatting", "chapters": []},
        "comments": comments,
        "embeddedData": None,
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
