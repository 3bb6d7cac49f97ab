"""The VODs the local Twitch double serves: an ffmpeg-made HLS VOD laid out like Twitch's, and a catalogue.

``build_hls_vod`` cuts a synthetic VOD into the renditions Twitch's usher lists for a VOD: ``chunked``
(the source: H.264 and AAC muxed in MPEG-TS segments) and ``audio_only`` (the same AAC alone), each a
folder with ``index-dvr.m3u8`` and segments ``0.ts``, ``1.ts``, … (ffmpeg's own ``master.m3u8`` beside
them serves tests that need no Twitch). ``FakeVod`` is one VOD as Twitch's GQL and usher describe it
(status, length, muted spans, subscribers only, deleted, its chat replay as GQL comment nodes);
``default_catalogue`` holds one of each kind the tests need, under the ids below (``MISSING`` is in
no catalogue); ``make_comments`` generates chat the way ``VideoCommentsByOffsetOrCursor`` returns it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.ffmpeg import run_ffmpeg
from detector.synthetic.vod import make_vod

NORMAL, RECORDING, MUTED, SUB_ONLY, DELETED, DVR_MUTED, MISSING = (
    "1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000006", "1000000009")
RENDITIONS = ("chunked", "audio_only")
SUBSCRIBER_TOKEN = "subscriber0token0abcdefghij0123"
"""An OAuth token of a user who subscribes to the channel of ``SUB_ONLY``."""
OTHER_TOKEN = "othervieweroauthtoken0123456789"
"""An OAuth token of a user who does not."""
USERS = {SUBSCRIBER_TOKEN: "7001", OTHER_TOKEN: "7002"}
"""The OAuth tokens the double knows → their Twitch user ids."""
EMOTES = {"Kappa": "25", "PogChamp": "305954156", "LUL": "425618", "NotLikeThis": "58765"}
WORDS = ("gg", "what", "no way", "clip it", "let's go", "omg", "KEKW", "nice", "ez", "???", "wp", "hype", "日本語", "ça va")


def build_hls_vod(work: Path, *, minutes: float = 1, width: int = 160, height: int = 90, fps: int = 10,
                  seed: int = 0) -> Path:
    """A synthetic VOD as Twitch serves one, under ``work/site``: ``chunked/`` and ``audio_only/`` (2 s segments)."""
    vod = make_vod(work / "src", minutes=minutes, chat=False, width=width, height=height, fps=fps, seed=seed)
    root = work / "site"
    root.mkdir(parents=True)
    run_ffmpeg(["-loglevel", "error", "-i", str(vod.media_path), "-map", "0:v", "-map", "0:a", "-map", "0:a",
                "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(root / "%v" / "%d.ts"), "-master_pl_name", "master.m3u8",
                "-var_stream_map", "v:0,a:0,name:chunked a:1,name:audio_only",
                str(root / "%v" / "index-dvr.m3u8")], timeout_s=120, what="making the HLS double")
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
    """Segments overlapping these spans are muted: ``-muted.ts`` in usher's playlists, ``-unmuted.ts`` in
    ``index-dvr.m3u8``."""
    dvr_playlist: bool = False
    """usher's master names ``index-dvr.m3u8`` (with ``-unmuted.ts`` names) rather than ``index-muted-….m3u8``."""
    subscribers: frozenset[str] | None = None
    """User ids allowed to play it; None: public."""
    deleted: bool = False
    comments: list[dict[str, Any]] = field(default_factory=list)
    title: str = "Synthetic stream"
    created_at: str = "2024-05-01T12:00:00Z"

    @property
    def muted_slug(self) -> str:
        return f"M{int(self.vod_id) % 100000:05d}Q"

    def video(self) -> dict[str, Any]:
        """The ``video`` record of a full-text ``video(id:)`` query (what our metadata query asks)."""
        nodes = [{"offset": o, "duration": d, "__typename": "VideoMutedSegment"} for o, d in self.muted]
        return {"id": self.vod_id, "title": self.title, "description": None, "status": self.status,
                "lengthSeconds": self.length_s, "createdAt": self.created_at, "broadcastType": "ARCHIVE",
                "viewCount": 42, "game": {"name": "just chatting", "displayName": "Just Chatting"},
                "owner": {"id": "1000", "login": "synthstreamer", "displayName": "SynthStreamer"},
                "muteInfo": {"mutedSegmentConnection": {"nodes": nodes} if self.muted else None}}

    def video_metadata(self, base: str) -> dict[str, Any]:
        """The ``video`` of the ``VideoMetadata`` persisted query (the fields yt-dlp reads)."""
        processing = self.status == "RECORDING"  # yt-dlp twitch.py: a 404_processing thumbnail means still live
        thumb = (f"{base}/ttv-static/404_processing_320x180.png" if processing
                 else f"{base}/cf_vods/{self.vod_id}/thumb/thumb0-320x180.jpg")
        return {"id": self.vod_id, "title": self.title, "description": None, "previewThumbnailURL": thumb,
                "createdAt": self.created_at, "publishedAt": self.created_at, "lengthSeconds": self.length_s,
                "viewCount": 42, "broadcastType": "ARCHIVE", "status": self.status,
                "owner": {"id": "1000", "login": "synthstreamer", "displayName": "SynthStreamer",
                          "__typename": "User"},
                "game": {"id": "509658", "slug": "just-chatting", "boxArtURL": None, "name": "Just Chatting",
                         "displayName": "Just Chatting", "__typename": "Game"}, "__typename": "Video"}


def default_catalogue(comments: int = 3000) -> dict[str, FakeVod]:
    return {v.vod_id: v for v in (
        FakeVod(NORMAL, comments=make_comments(comments, 60)),
        FakeVod(RECORDING, status="RECORDING", length_s=40, comments=make_comments(50, 40, seed=2)),
        FakeVod(MUTED, muted=[(10, 6)], playlist_muted=[(10.0, 16.0), (40.0, 44.0)]),
        FakeVod(DVR_MUTED, playlist_muted=[(20.0, 24.0)], dvr_playlist=True),
        FakeVod(SUB_ONLY, subscribers=frozenset({USERS[SUBSCRIBER_TOKEN]}), comments=make_comments(80, 60, seed=4)),
        FakeVod(DELETED, deleted=True),
    )}
