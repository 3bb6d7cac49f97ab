"""The VODs the local Twitch double serves: an ffmpeg-made HLS VOD and a small catalogue of Twitch VODs.

``build_hls_vod`` cuts a synthetic VOD into an HLS master playlist with separate video and audio
renditions; ``FakeVod`` is one VOD as Twitch's GQL describes it (status, length, muted spans,
subscriber-only or deleted, its chat replay as GQL comment nodes); ``default_catalogue`` holds one
of each kind the tests need, under the ids below (``MISSING`` is in no catalogue);
``make_comments`` generates chat the way Twitch's ``VideoCommentsByOffsetOrCursor`` returns it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.ffmpeg import run_ffmpeg
from detector.synthetic.vod import make_vod

NORMAL, RECORDING, MUTED, SUB_ONLY, DELETED, MISSING = (
    "1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000009")
EMOTES = {"Kappa": "25", "PogChamp": "305954156", "LUL": "425618", "NotLikeThis": "58765"}
WORDS = ("gg", "what", "no way", "clip it", "let's go", "omg", "KEKW", "nice", "ez", "???", "wp", "hype", "日本語", "ça va")

def build_hls_vod(work: Path, *, minutes: float = 1) -> Path:
    """An ffmpeg-made HLS VOD under ``work/site``: ``master.m3u8``, ``video/`` (~5 s) and ``audio/`` (~2 s)."""
    vod = make_vod(work / "src", minutes=minutes, chat=False, width=160, height=90, fps=10)
    root = work / "site"
    root.mkdir(parents=True)
    run_ffmpeg(["-loglevel", "error", "-i", str(vod.media_path), "-map", "0:v", "-map", "0:a", "-c", "copy",
                "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(root / "%v" / "seg%03d.ts"), "-master_pl_name", "master.m3u8",
                "-var_stream_map", "v:0,agroup:aud,name:video a:0,agroup:aud,name:audio,default:yes",
                str(root / "%v" / "index.m3u8")], timeout_s=60, what="making the HLS double")
    return root


def make_comments(n: int, length_s: int, seed: int = 0, *, deleted_every: int = 250) -> list[dict[str, Any]]:
    """``n`` GQL comment nodes in offset order: fragments with emotes, badges, colours, some display names
    differing from logins, every ``deleted_every``-th without commenter (a deleted account)."""
    rng = random.Random(seed)
    users = [{"id": str(5000 + i), "login": f"viewer_{i:02d}",
              "displayName": f"Viewer_{i:02d}" if i % 3 else f" 視聴者{i} "} for i in range(40)]
    badges = ([], [{"id": "c3Vi", "setID": "subscriber", "version": "12"}],
              [{"id": "bW9k", "setID": "moderator", "version": "1"}, {"id": "dmlw", "setID": "vip", "version": "1"}])
    offsets = sorted(rng.randrange(length_s) for _ in range(n))
    nodes = []
    for i, offset in enumerate(offsets):
        fragments: list[dict[str, Any]] = []
        body = ""
        for k in range(rng.randint(1, 4)):
            token = rng.choice(list(EMOTES)) if rng.random() < 0.35 else rng.choice(WORDS)
            texts = [" " if k else "", token] if token in EMOTES else [(" " if k else "") + token]
            for text in texts:
                if not text:
                    continue
                if token in EMOTES and text == token:
                    fragments.append({"emote": {"id": f"{EMOTES[token]};{len(body)};{len(body) + len(token) - 1}",
                                                "emoteID": EMOTES[token], "from": len(body)}, "text": token})
                elif fragments and fragments[-1]["emote"] is None:
                    fragments[-1]["text"] += text
                else:
                    fragments.append({"emote": None, "text": text})
                body += text
        user = None if deleted_every and i % deleted_every == deleted_every - 1 else rng.choice(users)
        nodes.append({
            "id": f"{seed:02d}{i:06d}-6f9c-4c1e-9a7d-comment", "commenter": dict(user) if user else None,
            "contentOffsetSeconds": offset, "createdAt": f"2024-05-01T12:{offset // 60 % 60:02d}:{offset % 60:02d}Z",
            "message": {"fragments": fragments, "userBadges": list(rng.choice(badges)),
                        "userColor": rng.choice([None, "#1E90FF", "#FF69B4"])},
        })
    return nodes


@dataclass
class FakeVod:
    """One VOD of the catalogue (times in seconds)."""

    vod_id: str
    status: str = "RECORDED"
    length_s: int = 60
    muted: list[tuple[int, int]] = field(default_factory=list)
    """GQL's muted nodes ``(offset, duration)``."""
    playlist_muted: list[tuple[float, float]] = field(default_factory=list)
    """Segments overlapping these spans are named ``-muted.ts`` in the media playlists."""
    restricted: bool = False
    deleted: bool = False
    comments: list[dict[str, Any]] = field(default_factory=list)
    title: str = "Synthetic stream"

    def video(self) -> dict[str, Any]:
        nodes = [{"offset": o, "duration": d, "__typename": "VideoMutedSegment"} for o, d in self.muted]
        return {"id": self.vod_id, "title": self.title, "description": None, "status": self.status,
                "lengthSeconds": self.length_s, "createdAt": "2024-05-01T12:00:00Z", "broadcastType": "ARCHIVE",
                "viewCount": 42, "game": {"name": "just chatting", "displayName": "Just Chatting"},
                "owner": {"id": "1000", "login": "synthstreamer", "displayName": "SynthStreamer"},
                "muteInfo": {"mutedSegmentConnection": {"nodes": nodes} if self.muted else None}}


def default_catalogue(comments: int = 3000) -> dict[str, FakeVod]:
    return {v.vod_id: v for v in (
        FakeVod(NORMAL, comments=make_comments(comments, 60)),
        FakeVod(RECORDING, status="RECORDING", length_s=40, comments=make_comments(50, 40, seed=2)),
        FakeVod(MUTED, muted=[(10, 6)], playlist_muted=[(10.0, 16.0), (40.0, 44.0)]),
        FakeVod(SUB_ONLY, restricted=True),
        FakeVod(DELETED, deleted=True),
    )}
