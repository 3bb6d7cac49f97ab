"""``highlights twitch``: look up a Twitch VOD, download its chat replay or only its audio, or check Twitch.

``info VOD`` prints what Twitch says (title, channel, status, length, muted spans, whether its
playlist can be fetched); ``chat VOD --out FILE`` saves the whole chat replay as TwitchDownloader
JSON; ``audio VOD --out DIR`` downloads the audio-only rendition to ``DIR/audio.m4a``; ``check [VOD]``
tries every request ingestion makes (playback token, usher playlist, a chat page by offset and one by
cursor, the muted-spans query, Helix when credentials are set) and prints one line per step with what
Twitch answered (exit 1 when a step fails, one "offline" line when nothing answers). VOD is a
``twitch.tv/videos/…`` link or a bare id. Endpoints, client ids and the OAuth token come from the
environment (``detector.sources.twitch.endpoints``; defaults: Twitch itself).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from highlights.progress import TerminalProgress

if TYPE_CHECKING:
    from detector.sources.twitch.check import CheckLine


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("twitch", help="look up a Twitch VOD, download its chat replay or its audio",
                       description="Talk to Twitch directly: VOD facts, the chat replay (TwitchDownloader JSON), "
                                   "or the audio only.")
    actions = p.add_subparsers(dest="twitch_action", metavar="ACTION", required=True)
    vod_help = "a twitch.tv/videos/… link or a VOD id"
    info = actions.add_parser("info", help="what Twitch says about a VOD (status, length, muted spans)")
    info.add_argument("vod", metavar="VOD", help=vod_help)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=run_info)
    chat = actions.add_parser("chat", help="download the whole chat replay as TwitchDownloader JSON")
    chat.add_argument("vod", metavar="VOD", help=vod_help)
    chat.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the JSON file")
    chat.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    chat.set_defaults(func=run_chat)
    audio = actions.add_parser("audio", help="download only the VOD's audio (DIR/audio.m4a)")
    audio.add_argument("vod", metavar="VOD", help=vod_help)
    audio.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for audio.m4a")
    audio.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    audio.set_defaults(func=run_audio)
    check = actions.add_parser("check", help="try each request to Twitch once and print what Twitch answered",
                               description="A live self-test: one line per step, so you see which step Twitch "
                                           "changed. When a step fails, upgrade yt-dlp (pip install -U yt-dlp) "
                                           "or set the environment variable the line names.")
    check.add_argument("vod", metavar="VOD", nargs="?", default=DEFAULT_CHECK_VOD,
                       help=f"the VOD to try (default {DEFAULT_CHECK_VOD}, a Riot Games VOD kept since 2020 "
                            "that yt-dlp's own tests use)")
    check.set_defaults(func=run_check)


DEFAULT_CHECK_VOD = "635475444"


def _vod_id(text: str) -> str:
    from storage.twitch_ref import parse_twitch

    return str(parse_twitch(text).vod_id)  # a channel is refused: allow_channel is off


def clock(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour)."""
    total = max(int(round(seconds)), 0)
    h, rest = divmod(total, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def spans_text(spans: tuple[tuple[float, float], ...]) -> str:
    return ", ".join(f"{clock(a)}–{clock(b)}" for a, b in spans) or "none"


def run_info(args: argparse.Namespace) -> int:
    from detector.sources.twitch import VodUnavailable, default_resolver

    vod_id = _vod_id(args.vod)
    resolver = default_resolver()
    playlist = "ok"
    try:
        meta = resolver.resolve(vod_id, allow_recording=True).meta
    except VodUnavailable as exc:  # the facts are still there; only the playlist is refused
        playlist = f"refused: {exc.message}"
        meta = resolver.gql.require_video(vod_id)
    if args.json:
        print(json.dumps({**dataclasses.asdict(meta), "is_recording": meta.is_recording, "playlist": playlist},
                         indent=2, ensure_ascii=False))
        return 0
    rows = [
        ("VOD", f"{meta.vod_id}  https://www.twitch.tv/videos/{meta.vod_id}"),
        ("title", meta.title),
        ("channel", f"{meta.owner_name} ({meta.owner_login}, id {meta.owner_id})"),
        ("status", f"{meta.status}{' — still live' if meta.is_recording else ''} ({meta.broadcast_type})"),
        ("length", clock(meta.length_s)),
        ("created", meta.created_at or "?"),
        ("game", meta.game or "?"),
        ("muted", spans_text(meta.muted)),
        ("playlist", playlist),
    ]
    for name, value in rows:
        print(f"{name:<9} {value}")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    from detector.sources.twitch import download_chat

    vod_id = _vod_id(args.vod)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        replay = download_chat(vod_id, args.out, progress=progress)
    finally:
        progress.close()
    print(f"wrote {replay.comments} comments ({replay.pages} pages) of VOD {vod_id} to {replay.path}")
    return 0


def run_audio(args: argparse.Namespace) -> int:
    from detector.sources.twitch import default_resolver, fetch_audio

    vod_id = _vod_id(args.vod)
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        vod = default_resolver().resolve(vod_id)
        audio = fetch_audio(vod.playlist_url, args.out, progress=progress)
    finally:
        progress.close()
    print(f"wrote {audio.path} ({clock(audio.duration_s)}, {audio.segments} segments); muted: {spans_text(vod.muted)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from detector.sources.twitch.check import Offline
    from detector.sources.twitch.check import run_check as check_vod
    from detector.sources.twitch.endpoints import TwitchEndpoints

    vod_id = _vod_id(args.vod)
    try:
        lines = check_vod(vod_id, TwitchEndpoints.from_env())
    except Offline as exc:
        print(exc.message)
        return 1
    lines.append(_helix_line(vod_id))
    print(f"Twitch check of VOD {vod_id} (yt-dlp {_ytdlp_version()}):")
    for line in lines:
        print(line.text())
    failed = [line for line in lines if line.ok is False]
    if failed:
        print(f"{len(failed)} step(s) failed: upgrade yt-dlp (pip install -U yt-dlp) if a yt-dlp step fails; "
              "otherwise the line names what to change. See the README's Twitch section.")
    return 1 if failed else 0


def _ytdlp_version() -> str:
    from yt_dlp.version import __version__

    return str(__version__)


def _helix_line(vod_id: str) -> CheckLine:
    import asyncio

    from detector.sources.twitch.check import CheckLine
    from storage.twitch import Helix, HelixSettings, TwitchApiError, TwitchCredentialsMissing

    try:
        settings = HelixSettings.from_env(attempts=1, timeout_s=10.0)
    except TwitchCredentialsMissing:
        return CheckLine("helix video", None, "skipped: TWITCH_CLIENT_ID / TWITCH_CLIENT_SECRET are not set")

    async def ask() -> CheckLine:
        helix = Helix(settings)
        try:
            video = await helix.video(vod_id)
        except TwitchApiError as exc:
            return CheckLine("helix video", False, f"{exc.code}: {exc}")
        finally:
            await helix.close()
        if video is None:
            return CheckLine("helix video", False, "no such video")
        return CheckLine("helix video", True, f"ok: “{video.title}” by {video.user_login}")

    return asyncio.run(ask())
