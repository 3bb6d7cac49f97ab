"""Sources stage, Twitch ingestion: a VOD id → its renditions, by yt-dlp's own Twitch extractor.

Consumes a VOD id and ``TwitchEndpoints``; produces ``ExtractedVod`` (the usher master playlist URL
and yt-dlp's format dicts) from ``YoutubeDL.extract_info("https://www.twitch.tv/videos/<id>",
download=False, ie_key="TwitchVod")``. yt-dlp's extractor sends what Twitch accepts today (its
metadata persisted queries, a full-text playback-token query, the usher request), so when Twitch
changes, the fix is ``pip install -U yt-dlp``. Nothing of yt-dlp is replaced: ``TwitchYoutubeDL``
only (1) sends each request to the configured base URL instead of Twitch's fixed one
(``TwitchEndpoints.rewrite``: a no-op unless an endpoint variable is set, as tests do), (2) records
every GQL and usher exchange (``Exchange``: what was asked, the HTTP status, a summary of what Twitch
answered) for error reports and ``highlights twitch check``, and (3) hands a user's OAuth token to
the extractor the way yt-dlp takes it, as twitch.tv's ``auth-token`` cookie (it then sends
``Authorization: OAuth …`` to GQL). ``failure`` turns a yt-dlp error and the exchanges into our
error: usher 403 → ``VodSubscriberOnly``, GQL 401 → ``TwitchAuthFailed``, 5xx/429/no answer →
``TransientDownload``, anything else → ``DownloadError`` with an upgrade hint. Import lazily: it
imports yt-dlp.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yt_dlp
from yt_dlp.networking import Request, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError

from detector.errors import Cancelled
from detector.records import AbortCheck
from detector.sources.twitch.endpoints import OAUTH_TOKEN_ENV, PLAYBACK_CLIENT_ID_ENV, TwitchEndpoints
from detector.sources.twitch.errors import (
    UPGRADE_HINT,
    DownloadError,
    TransientDownload,
    TwitchAuthFailed,
    VodSubscriberOnly,
    VodUnavailable,
)

log = logging.getLogger(__name__)

VOD_PAGE = "https://www.twitch.tv/videos/{vod_id}"
SUBSCRIBER_CODES = ("vod_manifest_restricted", "unauthorized_entitlements")
"""usher's 403 ``error_code`` for subscriber-only VODs (yt-dlp twitch.py checks these two)."""
_BODY_LIMIT = 1 << 20
"""Bytes of one GQL or usher answer kept for a summary."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request yt-dlp sent to Twitch's GQL or usher, and what came back."""

    kind: str
    """``gql`` or ``usher``."""
    operations: tuple[str, ...]
    """GQL: the operation names (``PlaybackAccessToken (full text)`` for the token query); usher: ()."""
    status: int | None
    """HTTP status; None when no answer came (refused connection, timeout)."""
    answer: str
    """What Twitch answered, short: GQL errors or which data came back, usher's error code, or the failure."""

    def line(self) -> str:
        what = ", ".join(self.operations) if self.operations else self.kind
        return f"{what}: {'HTTP ' + str(self.status) if self.status is not None else 'no answer'} {self.answer}".strip()


@dataclass(frozen=True, slots=True)
class ExtractedVod:
    """What yt-dlp's extractor found for one VOD."""

    vod_id: str
    master_url: str
    """The usher master playlist (its signed token expires after a while)."""
    formats: tuple[dict[str, Any], ...]
    """yt-dlp's HLS format dicts (storyboards left out)."""
    info: dict[str, Any]
    exchanges: tuple[Exchange, ...]


def _operations(data: bytes | None) -> tuple[str, ...]:
    try:
        doc = json.loads(data or b"")
    except ValueError:
        return ()
    ops = doc if isinstance(doc, list) else [doc]
    names = []
    for op in ops:
        if not isinstance(op, dict):
            continue
        if op.get("operationName"):
            names.append(str(op["operationName"]))
        elif "PlaybackAccessToken" in str(op.get("query", "")):
            names.append("PlaybackAccessToken (full text)")
        else:
            names.append("query (full text)")
    return tuple(names)


def summarize_gql(body: bytes) -> str:
    """Twitch's GQL answer in a few words: its errors, or which data came back (``video: null``)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "not JSON"
    parts = []
    for answer in doc if isinstance(doc, list) else [doc]:
        if not isinstance(answer, dict):
            continue
        errors = answer.get("errors")
        if errors:
            parts.append("errors: " + "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors))
            continue
        data = answer.get("data")
        if isinstance(data, dict):
            parts.append(", ".join(f"{k}: {'null' if v is None else 'ok'}" for k, v in data.items()))
        elif answer.get("message") or answer.get("error"):  # an HTTP error's body: {"error", "status", "message"}
            parts.append(str(answer.get("message") or answer.get("error")))
    return " | ".join(parts)[:300]


def summarize_usher(body: bytes) -> str:
    """usher's answer in a few words: its JSON ``error_code`` and ``error``, or the playlist's size."""
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("#EXTM3U"):
        return f"playlist, {text.count('#EXT-X-STREAM-INF')} renditions"
    try:
        doc = json.loads(body)
    except ValueError:
        return text[:120]
    first = doc[0] if isinstance(doc, list) and doc else doc
    if isinstance(first, dict):
        return ": ".join(str(first[k]) for k in ("error_code", "error") if first.get(k))
    return text[:120]


class TwitchYoutubeDL(yt_dlp.YoutubeDL):
    """``yt_dlp.YoutubeDL`` that sends Twitch's API requests to the configured endpoints and records them."""

    def __init__(self, params: dict[str, Any], endpoints: TwitchEndpoints, abort: AbortCheck | None = None) -> None:
        if endpoints.playback_client_id:
            args = dict(params.get("extractor_args") or {})
            args["twitch"] = {**args.get("twitch", {}), "client_id": [endpoints.playback_client_id]}
            params = {**params, "extractor_args": args}
        super().__init__(params)
        self.endpoints = endpoints
        self.abort = abort
        self.exchanges: list[Exchange] = []
        if endpoints.oauth_token:
            self.cookiejar.set_cookie(http.cookiejar.Cookie(
                0, "auth-token", endpoints.oauth_token, None, False, ".twitch.tv", True, True, "/", True, True,
                None, True, None, None, {}))

    def urlopen(self, req: Any) -> Any:
        if isinstance(req, str):
            req = Request(req)
        if self.abort is not None and self.abort():
            raise Cancelled("The download was cancelled.")
        original = req.url
        kind = self.endpoints.kind(original)
        req.url = self.endpoints.rewrite(original)
        if kind is None:
            return super().urlopen(req)
        operations = _operations(req.data) if kind == "gql" and isinstance(req.data, bytes) else ()
        summarize = summarize_gql if kind == "gql" else summarize_usher
        try:
            response = super().urlopen(req)
        except HTTPError as exc:
            try:
                exc.response, body = _buffered(exc.response)
            except RequestError:
                body = b""
            self.exchanges.append(Exchange(kind, operations, exc.status, summarize(body)))
            raise
        except RequestError as exc:
            self.exchanges.append(Exchange(kind, operations, None, str(exc.msg or exc)[:200]))
            raise
        try:
            response, body = _buffered(response)
        except RequestError as exc:  # the body was cut short: what yt-dlp would have met reading it
            self.exchanges.append(Exchange(kind, operations, None, f"answer cut short ({exc.msg or exc})"[:200]))
            raise
        self.exchanges.append(Exchange(kind, operations, response.status, summarize(body)))
        return response


def _buffered(response: Response) -> tuple[Response, bytes]:
    """A copy of a (small) answer held in memory, for yt-dlp to read as it would have, and its body
    (``RequestError`` when reading it fails, as yt-dlp's own read would)."""
    try:
        body = response.read()
    finally:
        response.close()
    copy = Response(io.BytesIO(body), url=response.url, headers=dict(response.headers.items()),
                    status=response.status, reason=response.reason)
    return copy, body[:_BODY_LIMIT]


class _Logger:
    """yt-dlp's messages → this module's logger (its errors are logged at INFO: we raise our own, with them)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


def extract_params(endpoints: TwitchEndpoints) -> dict[str, Any]:
    return {"logger": _Logger(), "quiet": True, "no_warnings": False, "noprogress": True, "no_color": True,
            "cachedir": False, "noplaylist": True, "socket_timeout": endpoints.policy.timeout_s,
            "check_formats": False}


def extract_vod(vod_id: str, endpoints: TwitchEndpoints, *, abort: AbortCheck | None = None,
                on_exchanges: Callable[[tuple[Exchange, ...]], None] | None = None) -> ExtractedVod:
    """One try of yt-dlp's Twitch extractor on VOD ``vod_id`` (see ``failure`` for what it raises)."""
    with TwitchYoutubeDL(extract_params(endpoints), endpoints, abort) as ydl:
        try:
            info = ydl.extract_info(VOD_PAGE.format(vod_id=vod_id), download=False, ie_key="TwitchVod", process=False)
        except yt_dlp.utils.DownloadError as exc:
            if on_exchanges is not None:
                on_exchanges(tuple(ydl.exchanges))
            cause = exc.exc_info[1] if exc.exc_info else None
            if isinstance(cause, Cancelled):
                raise cause from None
            raise failure(vod_id, _message(exc), tuple(ydl.exchanges), endpoints) from None
        exchanges = tuple(ydl.exchanges)
    if on_exchanges is not None:
        on_exchanges(exchanges)
    formats = tuple(dict(f) for f in (info or {}).get("formats") or ()
                    if f.get("protocol") in ("m3u8", "m3u8_native") and f.get("manifest_url"))
    if not formats:
        raise DownloadError(f"yt-dlp's Twitch extractor found no HLS rendition for VOD {vod_id}.", hint=UPGRADE_HINT)
    return ExtractedVod(vod_id, str(formats[0]["manifest_url"]), formats, dict(info or {}), exchanges)


def _message(exc: BaseException) -> str:
    return str(exc).removeprefix("ERROR: ").split("; please report this issue", 1)[0].strip()


def failure(vod_id: str, message: str, exchanges: tuple[Exchange, ...], endpoints: TwitchEndpoints) -> DownloadError:
    """Our error for yt-dlp's ``message`` on VOD ``vod_id``, judged by the last exchanges with Twitch."""
    last = exchanges[-1] if exchanges else None
    if last is None or last.status is None or last.status >= 500 or last.status == 429:
        why = last.line() if last is not None else message
        return TransientDownload(f"Resolving Twitch VOD {vod_id} (yt-dlp): {why} ({message})")
    if last.kind == "usher" and last.status == 403:
        if any(code in last.answer for code in SUBSCRIBER_CODES) or "subscriber-only" in message:
            if endpoints.oauth_token:
                return VodSubscriberOnly(
                    f"Twitch VOD {vod_id} is for subscribers only, and the account of {OAUTH_TOKEN_ENV} has no "
                    f"access to it (usher: {last.answer}).", hint="Use the token of an account that subscribes.")
            return VodSubscriberOnly(
                f"Twitch VOD {vod_id} is for subscribers only (usher: {last.answer}).",
                hint=f"Set {OAUTH_TOKEN_ENV} to the auth-token of a Twitch account that subscribes to the channel.")
        return VodUnavailable(f"Twitch refuses the playlist of VOD {vod_id} (usher: HTTP 403 {last.answer}).",
                              hint="The VOD is restricted; pick another VOD or give its media file.")
    if last.kind == "usher" and last.status in (404, 410):
        return VodUnavailable(f"Twitch has no playlist for VOD {vod_id} (usher: HTTP {last.status} {last.answer}): "
                              "it was deleted or has expired.", hint="Check the VOD link.")
    if last.kind == "gql" and last.status == 401:
        return TwitchAuthFailed(f"Twitch refused the OAuth token while resolving VOD {vod_id} ({last.answer}).",
                                hint=f"{OAUTH_TOKEN_ENV} is wrong or expired: copy a fresh auth-token, or unset it.")
    if last.kind == "gql" and last.status == 400:
        return DownloadError(f"Twitch GQL refused yt-dlp's request for VOD {vod_id} ({last.answer}).",
                             hint=f"Check {PLAYBACK_CLIENT_ID_ENV} (unset it for yt-dlp's default); {UPGRADE_HINT}")
    return DownloadError(f"yt-dlp's Twitch extractor failed on VOD {vod_id}: {message} (last answer: {last.line()})",
                         hint=UPGRADE_HINT)
