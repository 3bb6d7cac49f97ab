"""Sources stage, Twitch ingestion: a live self-test of every request ingestion makes to Twitch.

Consumes a VOD id and ``TwitchEndpoints``; produces ``CheckLine``s, one per step, each with what
Twitch answered, so a user sees in seconds which step Twitch changed: yt-dlp's metadata queries,
the playback token and the usher playlist (one run of yt-dlp's extractor, its exchanges recorded),
then our own requests: one chat replay page by offset, one by cursor (with the chat client id), and
the metadata query that gives muted spans. Every request is tried once (no retries, a short
timeout). When the first request gets no answer at all, the check stops with ``Offline`` instead of
a list of failures. ``highlights twitch check`` prints the lines (and adds Helix when credentials are
set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from detector.errors import DetectorError
from detector.sources.twitch.endpoints import TwitchEndpoints
from detector.sources.twitch.errors import DownloadError
from detector.sources.twitch.gql import CommentPage, GqlClient

CHECK_TIMEOUT_S = 10.0
TOKEN_STEP, USHER_STEP, META_STEP = "playback token", "usher playlist", "yt-dlp metadata"


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One step of the check and what Twitch answered."""

    step: str
    ok: bool | None
    """True: as expected; False: this step fails; None: skipped or not reached."""
    answer: str

    def text(self, width: int = 26) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[self.ok]
        return f"{mark} {self.step:<{width}} {self.answer}"


class Offline(DownloadError):
    """No request got any answer: this machine is offline (or Twitch is unreachable from it)."""

    code = "offline"


def run_check(vod_id: str, endpoints: TwitchEndpoints) -> list[CheckLine]:
    """The check's lines for VOD ``vod_id`` (``Offline`` when nothing answers)."""
    endpoints = replace(endpoints, policy=replace(endpoints.policy, attempts=1, timeout_s=CHECK_TIMEOUT_S))
    lines = _ytdlp_steps(vod_id, endpoints)
    client = GqlClient(endpoints)
    first = _chat_step("chat page by offset", lambda: client.comments_page(vod_id, offset_s=0))
    lines.append(first[0])
    page = first[1]
    if page is None:
        lines.append(CheckLine("chat page by cursor", None, "not reached"))
    elif not page.has_next or not page.cursor:
        lines.append(CheckLine("chat page by cursor", None, "skipped: the first page was the only one"))
    else:
        cursor = page.cursor
        lines.append(_chat_step("chat page by cursor", lambda: client.comments_page(vod_id, cursor=cursor))[0])
    lines.append(_muted_step(client, vod_id))
    return lines


def _ytdlp_steps(vod_id: str, endpoints: TwitchEndpoints) -> list[CheckLine]:
    from detector.sources.twitch.ytdlp_twitch import Exchange, extract_vod

    seen: list[Exchange] = []
    failure: DetectorError | None = None
    try:
        extract_vod(vod_id, endpoints, on_exchanges=seen.extend)
    except DetectorError as exc:
        failure = exc
    if not seen or all(e.status is None for e in seen):
        why = seen[0].answer if seen else (failure.message if failure else "no request was sent")
        raise Offline(f"offline: Twitch did not answer ({why}); nothing was checked.",
                      hint="Check this machine's network (and HIGHLIGHTS_TWITCH_GQL_URL / _USHER_URL if set).")
    steps: dict[str, CheckLine] = {}
    for exchange in seen:
        step = (TOKEN_STEP if any("PlaybackAccessToken" in o for o in exchange.operations)
                else USHER_STEP if exchange.kind == "usher" else META_STEP)
        ok = exchange.status == 200 and "errors:" not in exchange.answer and "video: null" not in exchange.answer
        status = f"HTTP {exchange.status}" if exchange.status is not None else "no answer"
        steps[step] = CheckLine(step, ok, f"{status}: {exchange.answer or 'empty'}")
    lines = [steps.get(s, CheckLine(s, None, "not reached")) for s in (META_STEP, TOKEN_STEP, USHER_STEP)]
    if failure is not None:
        broken = next((i for i, line in enumerate(lines) if line.ok is False), None)
        if broken is None:
            broken = max((i for i, line in enumerate(lines) if line.ok is not None), default=0)
        line = lines[broken]
        lines[broken] = CheckLine(line.step, False, f"{line.answer} — {failure}")
    return lines


def _chat_step(step: str, ask: Callable[[], CommentPage]) -> tuple[CheckLine, CommentPage | None]:
    try:
        page = ask()
    except DetectorError as exc:
        return CheckLine(step, False, str(exc)), None
    more = "a next page" if page.has_next else "no next page"
    return CheckLine(step, True, f"HTTP 200: {len(page.comments)} comments, {more}"), page


def _muted_step(client: GqlClient, vod_id: str) -> CheckLine:
    step = "muted spans (video query)"
    try:
        meta = client.video(vod_id)
    except DetectorError as exc:
        return CheckLine(step, False, str(exc))
    if meta is None:
        return CheckLine(step, False, "HTTP 200: video: null (no such VOD)")
    return CheckLine(step, True, f"HTTP 200: {meta.status}, {meta.length_s:.0f} s, {len(meta.muted)} muted span(s)")
