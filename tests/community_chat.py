"""Synthetic chat of a community with known moments, for the ranker and adaptation tests.

``community_chat`` makes a VOD's chat: steady background talk from many chatters, a spammer, and at
each moment (VOD time ``t``) the crowd reacts ``lag_s`` later for a few seconds — short, shouted,
with the hand lexicon's reactions and the community's own word (``token``, e.g. a channel emote no
hand lexicon knows). ``decoys`` are bursts that look like hype to any generic ranker (short,
shouted, hand-lexicon words) but are no moment this community clips: a raid arriving. ``gql_nodes`` turns a log into Twitch GQL
comment nodes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.records import ChatLog, ChatMessage

BACKGROUND = ("how is everyone doing today", "what rank is he now", "anyone know the song name", "first time here",
              "he should buy the other item", "what did i miss", "good morning from spain", "is this ranked")


def community_chat(length_s: float, moments: Sequence[float], *, seed: int = 0, lag_s: float = 20.0,
                   token: str = "zoomCrew", rate: float = 1.0, burst: int = 45, decoys: Sequence[float] = (),
                   authors: bool = True, react_share: float = 0.5) -> ChatLog:
    rng = np.random.default_rng(seed)
    msgs: list[ChatMessage] = []
    for i, t in enumerate(np.sort(rng.uniform(0, length_s, int(rate * length_s)))):
        msgs.append(ChatMessage(float(t), str(rng.choice(BACKGROUND)), f"viewer{i % 150}" if authors else None))
    for t in np.arange(3.0, length_s, 2.0):  # a spammer: one person, the same line every 2 s
        msgs.append(ChatMessage(float(t), "follow my channel pls", "spammer" if authors else None))
    for m in moments:
        for j, dt in enumerate(np.sort(rng.uniform(0, 8, burst))):
            text = (f"{token} {token}" if rng.random() < 0.6 else "WHAT") if rng.random() > react_share * 0.5 else "OMG"
            msgs.append(ChatMessage(float(m + lag_s + dt), text, f"fan{j}" if authors else None))
    for d in decoys:
        for j, dt in enumerate(np.sort(rng.uniform(0, 10, burst))):
            msgs.append(ChatMessage(float(d + lag_s + dt), "POGGERS RAID" if j % 2 else "HYPE RAID HYPE",
                                    f"raider{j}" if authors else None))
    msgs.sort(key=lambda m: m.offset_s)
    return ChatLog(source=f"community-{seed}", format="jsonl", messages=tuple(m for m in msgs if m.offset_s < length_s + 60))


def write_jsonl(chat: ChatLog, path) -> None:  # type: ignore[no-untyped-def]
    import json

    with open(path, "w", encoding="utf-8") as f:
        for m in chat.messages:
            f.write(json.dumps({"offset": m.offset_s, "message": m.text, "author": m.author}) + "\n")


def gql_nodes(chat: ChatLog) -> list[dict[str, Any]]:
    """The log as Twitch's ``VideoCommentsByOffsetOrCursor`` comment nodes (whole seconds, as GQL gives)."""
    nodes = []
    for i, m in enumerate(chat.messages):
        offset = int(m.offset_s)
        author = m.author or "anon"
        nodes.append({"id": f"{i:08d}-5b1e-4c1e-9a7d-community", "commenter": {"id": str(10_000 + zlib.crc32(author.encode()) % 89_999),
                                                                              "login": author, "displayName": author},
                      "contentOffsetSeconds": offset,
                      "createdAt": f"2024-05-01T{12 + offset // 3600:02d}:{offset // 60 % 60:02d}:{offset % 60:02d}Z",
                      "message": {"fragments": [{"emote": None, "text": m.text}], "userBadges": [], "userColor": None}})
    return nodes
