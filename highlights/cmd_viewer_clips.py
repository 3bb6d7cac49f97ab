"""``highlights twitch-clips VOD --out FILE``: save viewers' clips of a Twitch VOD as weak labels.

Consumes a VOD link or id and the Helix credentials of the environment (``TWITCH_CLIENT_ID``,
``TWITCH_CLIENT_SECRET``; ``HIGHLIGHTS_HELIX_URL`` / ``HIGHLIGHTS_TWITCH_AUTH_URL`` to point elsewhere);
produces a JSON file (``storage.twitch.viewer_clips``) with each clip's VOD offset, duration, views,
title and URL, which the evaluation compares with our top clips. A summary goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.twitch.viewer_clips import ViewerClipLabels


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("twitch-clips", help="save viewers' clips of a Twitch VOD (weak labels) as JSON",
                       description="Fetch the clips viewers made of a Twitch VOD through Helix and save their "
                                   "VOD offsets, durations and view counts. Needs TWITCH_CLIENT_ID and "
                                   "TWITCH_CLIENT_SECRET.")
    p.add_argument("vod", metavar="VOD", help="a VOD link (https://www.twitch.tv/videos/<id>) or its id")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="JSON file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from storage.twitch.helix import Helix
    from storage.twitch.viewer_clips import fetch_viewer_clips, save_viewer_clips
    from storage.twitch_ref import BadTwitchReference, parse_twitch

    ref = parse_twitch(args.vod)
    if ref.vod_id is None:
        raise BadTwitchReference(f"{args.vod!r} is a channel; give one of its VODs' links or ids")
    helix = Helix.from_env()

    async def fetch() -> ViewerClipLabels:
        async with helix:
            return await fetch_viewer_clips(helix, ref.vod_id or "")

    labels = asyncio.run(fetch())
    path = save_viewer_clips(args.out, labels)
    print(f"{len(labels.clips)} viewer clip(s) of VOD {ref.vod_id} ({labels.total_views} views) saved to {path}")
    return 0
