"""Sources stage, Twitch ingestion: a small client for Twitch's GQL endpoint (the one its web player uses).

Consumes a VOD id; produces what the rest of ingestion needs from Twitch GQL: the VOD's playback
access token (``PlaybackAccessToken``, persisted query, ``isVod``/``vodID``), its metadata with the
muted (DMCA) segments (``VodMeta``, from a plain query of ``video(id)`` and its
``muteInfo.mutedSegmentConnection``), and pages of its chat replay (``VideoCommentsByOffsetOrCursor``,
persisted query: ``contentOffsetSeconds`` for the first page, then ``cursor``). Requests are JSON
POSTs to ``HIGHLIGHTS_TWITCH_GQL_URL`` with the ``Client-ID`` header
(``HIGHLIGHTS_TWITCH_GQL_CLIENT_ID``, default: Twitch's public web client id), retried through
``transport`` (5xx, timeouts, cut connections, 429 ``Retry-After``). A GQL ``errors`` array becomes
a ``DownloadError`` naming the operation (Twitch's own "service error"/"timeout" ones are retried
first). A VOD that does not exist is ``video: null``: ``video()`` returns None, the others raise.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from detector.records import AbortCheck
from detector.sources.twitch.errors import DownloadError, TransientDownload
from detector.sources.twitch.playlist import merge_windows
from detector.sources.twitch.transport import RetryPolicy, http_once, with_retries

T = TypeVar("T")

GQL_URL_ENV = "HIGHLIGHTS_TWITCH_GQL_URL"
CLIENT_ID_ENV = "HIGHLIGHTS_TWITCH_GQL_CLIENT_ID"
DEFAULT_GQL_URL = "https://gql.twitch.tv/gql"
WEB_CLIENT_ID = "kimne78kx3ncx6brgo4mv6wki5h1ko"
"""The client id twitch.tv's own web player sends (public; no secret)."""

PLAYBACK_ACCESS_TOKEN = "PlaybackAccessToken"
PLAYBACK_ACCESS_TOKEN_HASH = "0828119ded1c13477966434e15800ff57ddacf13ba1911c129dc2200705b0712"
VIDEO_COMMENTS = "VideoCommentsByOffsetOrCursor"
VIDEO_COMMENTS_HASH = "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a"
VOD_META = "HighlightsVodMeta"
VOD_META_QUERY = (
    "query HighlightsVodMeta($id: ID!) { video(id: $id) { id title description status lengthSeconds createdAt "
    "broadcastType viewCount game { name displayName } owner { id login displayName } "
    "muteInfo { mutedSegmentConnection { nodes { offset duration } } } } }"
)
TRANSIENT_GQL_ERRORS = ("service error", "service timeout", "service unavailable", "timeout", "internal server error")
"""GQL error messages (lower case) that Twitch answers under load; they are retried like a 5xx."""

Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class VodMeta:
    """What Twitch says about one VOD (times in seconds)."""

    vod_id: str
    title: str
    status: str
    """``RECORDED`` for a finished VOD, ``RECORDING`` while the stream still runs (others exist)."""
    length_s: float
    created_at: str | None
    """ISO 8601, UTC (as Twitch writes it)."""
    broadcast_type: str | None
    """``ARCHIVE`` (a past broadcast), ``HIGHLIGHT``, ``UPLOAD``, ..."""
    owner_id: str | None
    owner_login: str | None
    owner_name: str | None
    """The channel's display name."""
    game: str | None = None
    view_count: int = 0
    description: str | None = None
    muted: tuple[Span, ...] = ()
    """Muted (DMCA) spans ``(start_s, end_s)`` on the VOD timeline, sorted and merged."""

    @property
    def is_recording(self) -> bool:
        return self.status.upper() == "RECORDING"

    def with_muted(self, muted: tuple[Span, ...]) -> VodMeta:
        return replace(self, muted=muted)


@dataclass(frozen=True, slots=True)
class PlaybackToken:
    """A VOD's playback access token: usher wants ``value`` as ``token`` and ``signature`` as ``sig``."""

    value: str
    signature: str


@dataclass(frozen=True, slots=True)
class CommentPage:
    """One page of chat replay: GQL comment nodes in offset order and where the next page starts."""

    comments: tuple[dict[str, Any], ...]
    cursor: str | None
    """The cursor of the page's last comment (ask for the next page with it)."""
    has_next: bool
    channel_id: str | None


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class GqlClient:
    """Posts GQL operations to Twitch; one instance per job is fine (it holds no connection)."""

    def __init__(self, url: str = DEFAULT_GQL_URL, client_id: str = WEB_CLIENT_ID, *,
                 policy: RetryPolicy | None = None, abort: AbortCheck | None = None) -> None:
        self.url, self.client_id = url, client_id
        self.policy = policy or RetryPolicy()
        self.abort = abort

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None,
                 abort: AbortCheck | None = None) -> GqlClient:
        env = os.environ if env is None else env
        return cls(env.get(GQL_URL_ENV) or DEFAULT_GQL_URL, env.get(CLIENT_ID_ENV) or WEB_CLIENT_ID,
                   policy=policy, abort=abort)

    def post(self, what: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], T]) -> T:
        """POST ``payload``; ``parse(data)`` runs inside each try (it may raise ``TransientDownload``)."""
        body = json.dumps(payload).encode()
        headers = {"Client-ID": self.client_id, "Content-Type": "application/json"}

        def step() -> T:
            answer = http_once(self.url, data=body, headers=headers, timeout_s=self.policy.timeout_s, what=what)
            if answer.status != 200:
                hint = "Check HIGHLIGHTS_TWITCH_GQL_CLIENT_ID." if answer.status in (400, 401) else None
                raise DownloadError(f"{what}: Twitch GQL answered HTTP {answer.status}: {answer.text()[:200]}",
                                    hint=hint)
            try:
                doc = json.loads(answer.body)
            except ValueError:
                raise TransientDownload(f"{what}: Twitch GQL answered something that is not JSON") from None
            if isinstance(doc, list):  # a batched request is answered by a list
                doc = doc[0] if doc else None
            if not isinstance(doc, dict):
                raise TransientDownload(f"{what}: Twitch GQL answered an empty or malformed document")
            errors = doc.get("errors")
            if errors:
                messages = [str(_dig(e, "message") or e) for e in errors] if isinstance(errors, list) else [str(errors)]
                text = "; ".join(messages)[:300]
                if any(m.strip().lower() in TRANSIENT_GQL_ERRORS for m in messages):
                    raise TransientDownload(f"{what}: Twitch GQL error: {text}")
                hint = ("Twitch wants a client-integrity token from this client id; set "
                        f"{CLIENT_ID_ENV} to one it does not ask that of." if "integrity" in text.lower()
                        else "Twitch may have changed this operation; update the client.")
                raise DownloadError(f"{what}: Twitch GQL error: {text}", hint=hint)
            data = doc.get("data")
            if not isinstance(data, dict):
                raise DownloadError(f"{what}: Twitch GQL answered without data.")
            return parse(data)

        return with_retries(what, step, self.policy, self.abort)

    def playback_token(self, vod_id: str) -> PlaybackToken:
        """The playback access token of VOD ``vod_id`` (``DownloadError`` when Twitch has none)."""
        payload = {
            "operationName": PLAYBACK_ACCESS_TOKEN,
            "variables": {"isLive": False, "login": "", "isVod": True, "vodID": vod_id, "playerType": "embed"},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": PLAYBACK_ACCESS_TOKEN_HASH}},
        }

        def parse(data: dict[str, Any]) -> PlaybackToken:
            token = data.get("videoPlaybackAccessToken")
            if token is None:
                raise DownloadError(f"Twitch has no VOD {vod_id} (no playback token): it was deleted, has expired "
                                    "or never existed.", hint="Check the VOD link.")
            value, signature = _dig(token, "value"), _dig(token, "signature")
            if not isinstance(value, str) or not isinstance(signature, str):
                raise DownloadError(f"The playback token of VOD {vod_id} lacks its value or signature.")
            return PlaybackToken(value, signature)

        return self.post(f"Twitch GQL {PLAYBACK_ACCESS_TOKEN} (VOD {vod_id})", payload, parse)

    def video(self, vod_id: str) -> VodMeta | None:
        """VOD ``vod_id``'s metadata with its muted spans; None when Twitch says it does not exist."""
        payload = {"operationName": VOD_META, "query": VOD_META_QUERY, "variables": {"id": vod_id}}
        return self.post(f"Twitch GQL video metadata (VOD {vod_id})", payload,
                         lambda data: _vod_meta(vod_id, data.get("video")))

    def require_video(self, vod_id: str) -> VodMeta:
        """``video()``, but a missing VOD is a ``DownloadError``."""
        meta = self.video(vod_id)
        if meta is None:
            raise DownloadError(f"Twitch has no VOD {vod_id}: it was deleted, has expired or never existed.",
                                hint="Check the VOD link.")
        return meta

    def comments_page(self, vod_id: str, *, offset_s: int | None = None, cursor: str | None = None) -> CommentPage:
        """One chat replay page: from ``offset_s`` (the first) or after ``cursor`` (the next ones)."""
        variables: dict[str, Any] = {"videoID": vod_id}
        if cursor is not None:
            variables["cursor"] = cursor
        else:
            variables["contentOffsetSeconds"] = int(offset_s or 0)
        payload = {"operationName": VIDEO_COMMENTS, "variables": variables,
                   "extensions": {"persistedQuery": {"version": 1, "sha256Hash": VIDEO_COMMENTS_HASH}}}
        where = f"cursor {cursor[:24]}…" if cursor else f"offset {int(offset_s or 0)} s"
        return self.post(f"Twitch GQL {VIDEO_COMMENTS} (VOD {vod_id}, {where})", payload,
                         lambda data: _comment_page(vod_id, data.get("video")))


def _vod_meta(vod_id: str, video: Any) -> VodMeta | None:
    if video is None:
        return None
    if not isinstance(video, dict):
        raise DownloadError(f"Twitch GQL answered a malformed video record for VOD {vod_id}.")
    nodes = _dig(video, "muteInfo", "mutedSegmentConnection", "nodes") or []
    spans: list[Span] = []
    for node in nodes if isinstance(nodes, list) else []:
        offset, duration = _dig(node, "offset"), _dig(node, "duration")
        if isinstance(offset, (int, float)) and isinstance(duration, (int, float)):
            spans.append((float(offset), float(offset) + float(duration)))
    owner: dict[str, Any] = video["owner"] if isinstance(video.get("owner"), dict) else {}
    return VodMeta(
        vod_id=str(video.get("id") or vod_id), title=str(video.get("title") or ""),
        status=str(video.get("status") or "RECORDED"), length_s=float(video.get("lengthSeconds") or 0),
        created_at=video.get("createdAt"), broadcast_type=video.get("broadcastType"),
        owner_id=_text(owner.get("id")), owner_login=_text(owner.get("login")),
        owner_name=_text(owner.get("displayName")), game=_text(_dig(video, "game", "displayName")),
        view_count=int(video.get("viewCount") or 0), description=_text(video.get("description")),
        muted=tuple(merge_windows(spans, 0.0, math.inf)))


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _comment_page(vod_id: str, video: Any) -> CommentPage:
    if video is None:
        raise DownloadError(f"Twitch has no VOD {vod_id}, so it has no chat replay.", hint="Check the VOD link.")
    comments = _dig(video, "comments")
    edges = _dig(comments, "edges")
    if not isinstance(edges, list):
        raise TransientDownload(f"Twitch answered no comment list for VOD {vod_id}")  # happens; a retry helps
    nodes = tuple(e["node"] for e in edges if isinstance(_dig(e, "node"), dict))
    cursor = next((e.get("cursor") for e in reversed(edges) if isinstance(_dig(e, "cursor"), str)), None)
    return CommentPage(nodes, cursor, bool(_dig(comments, "pageInfo", "hasNextPage")),
                       _text(_dig(video, "creator", "id")))
