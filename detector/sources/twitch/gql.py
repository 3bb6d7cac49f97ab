"""Sources stage, Twitch ingestion: our own requests to Twitch's GQL, only where yt-dlp gives nothing.

yt-dlp's Twitch extractor owns resolution (metadata, playback token, usher; ``ytdlp_twitch``). Two
things it does not give are asked here: a VOD's **muted (DMCA) spans** and status, by a full-text
query of ``video(id:)`` with ``muteInfo.mutedSegmentConnection`` (the web client id, as TwitchDownloader's
``GetVideoInfo`` sends its full-text video query), and its **chat replay**, page by page, with
``VideoCommentsByOffsetOrCursor`` (``contentOffsetSeconds`` for the first page, then ``cursor``). Chat
stays a persisted query with the hash TwitchDownloader's ``ChatDownloader.cs`` sends today: Twitch
gives comments to no full-text query a client can send, and it checks integrity per client id, so
chat uses the Android app's id (``TwitchEndpoints.chat_client_id``). Each operation has its own client
id and environment variable (``endpoints``).

Requests are JSON POSTs retried through ``transport`` (5xx, timeouts, cut connections, 429
``Retry-After``; Twitch's own "service error"/"timeout" GQL errors too). Any other GQL ``errors``
array is a ``GqlError`` naming the operation and Twitch's messages — for chat a ``ChatRefused``,
which ingestion turns into an audio-only result that says so. A VOD that does not exist is
``video: null``: ``video()`` returns None, the others raise ``VodUnavailable``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from detector.records import AbortCheck
from detector.sources.twitch.endpoints import (
    CHAT_CLIENT_ID_ENV,
    METADATA_CLIENT_ID_ENV,
    TwitchEndpoints,
)
from detector.sources.twitch.errors import ChatRefused, DownloadError, GqlError, TransientDownload, VodUnavailable
from detector.sources.twitch.playlist import merge_windows
from detector.sources.twitch.transport import RetryPolicy, http_once, with_retries

T = TypeVar("T")

VIDEO_COMMENTS = "VideoCommentsByOffsetOrCursor"
VIDEO_COMMENTS_HASH = "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a"
"""The persisted query TwitchDownloader's ChatDownloader.cs sends (checked 2026-08)."""
VOD_META_FIELDS = ("id title description status lengthSeconds createdAt broadcastType viewCount "
                   "game { name displayName } owner { id login displayName } "
                   "muteInfo { mutedSegmentConnection { nodes { offset duration } } }")
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
    """Posts our GQL operations to Twitch; one instance per job is fine (it holds no connection)."""

    def __init__(self, endpoints: TwitchEndpoints | None = None, *, abort: AbortCheck | None = None) -> None:
        self.endpoints = endpoints or TwitchEndpoints()
        self.abort = abort

    @property
    def policy(self) -> RetryPolicy:
        return self.endpoints.policy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None,
                 abort: AbortCheck | None = None) -> GqlClient:
        endpoints = TwitchEndpoints.from_env(env)
        return cls(replace(endpoints, policy=policy) if policy is not None else endpoints, abort=abort)

    def with_abort(self, abort: AbortCheck | None) -> GqlClient:
        return self if abort is None or self.abort is not None else GqlClient(self.endpoints, abort=abort)

    def post(self, what: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], T], *, client_id: str,
             client_id_env: str, refused: type[GqlError] = GqlError) -> T:
        """POST ``payload`` with ``client_id``; ``parse(data)`` runs inside each try (it may raise
        ``TransientDownload``). Twitch's non-transient ``errors`` raise ``refused``."""
        body = json.dumps(payload).encode()
        headers = {"Client-ID": client_id, "Content-Type": "application/json"}

        def step() -> T:
            answer = http_once(self.endpoints.gql_url, data=body, headers=headers, timeout_s=self.policy.timeout_s,
                               what=what)
            if answer.status != 200:
                reason = _http_reason(answer.body) or answer.text()[:200]
                raise refused(f"{what}: Twitch GQL answered HTTP {answer.status}: {reason}", reasons=(reason,),
                              hint=f"Check {client_id_env} (unset it for the default)." if answer.status in (400, 401)
                              else None)
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
                messages = tuple(str(_dig(e, "message") or e) for e in errors) if isinstance(errors, list) \
                    else (str(errors),)
                text = "; ".join(messages)[:300]
                if any(m.strip().lower() in TRANSIENT_GQL_ERRORS for m in messages):
                    raise TransientDownload(f"{what}: Twitch GQL error: {text}")
                raise refused(f"{what}: Twitch GQL error: {text}", reasons=messages, hint=_hint(text, client_id_env))
            data = doc.get("data")
            if not isinstance(data, dict):
                raise refused(f"{what}: Twitch GQL answered without data.", reasons=("no data",))
            return parse(data)

        return with_retries(what, step, self.policy, self.abort)

    def video(self, vod_id: str) -> VodMeta | None:
        """VOD ``vod_id``'s metadata with its muted spans; None when Twitch says it does not exist."""
        payload = {"query": f'query{{video(id:"{_digits(vod_id)}"){{{VOD_META_FIELDS}}}}}', "variables": {}}
        return self.post(f"Twitch GQL video metadata (VOD {vod_id})", payload,
                         lambda data: _vod_meta(vod_id, data.get("video")),
                         client_id=self.endpoints.metadata_client_id, client_id_env=METADATA_CLIENT_ID_ENV)

    def require_video(self, vod_id: str) -> VodMeta:
        """``video()``, but a missing VOD is ``VodUnavailable`` (deleted, expired or never existed: for good)."""
        meta = self.video(vod_id)
        if meta is None:
            raise VodUnavailable(f"Twitch has no VOD {vod_id}: it was deleted, has expired or never existed.",
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
                         lambda data: _comment_page(vod_id, data.get("video")),
                         client_id=self.endpoints.chat_client_id, client_id_env=CHAT_CLIENT_ID_ENV,
                         refused=ChatRefused)


def _digits(vod_id: str) -> str:
    text = str(vod_id)
    if not text.isdigit():
        raise DownloadError(f"{vod_id!r} is not a Twitch VOD id.")
    return text


def _http_reason(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("message") or doc.get("error") or "") if isinstance(doc, dict) else ""


def _hint(text: str, client_id_env: str) -> str:
    lowered = text.lower()
    if "integrity" in lowered:
        return (f"Twitch wants a client-integrity token from this client id; set {client_id_env} to one it does "
                "not ask that of (see `highlights twitch check`).")
    if "persistedquerynotfound" in lowered:
        return "Twitch retired the persisted query this client sends; update the project (see `highlights twitch check`)."
    return "Twitch may have changed this operation; see `highlights twitch check`."


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
        raise VodUnavailable(f"Twitch has no VOD {vod_id}, so it has no chat replay.", hint="Check the VOD link.")
    comments = _dig(video, "comments")
    edges = _dig(comments, "edges")
    if not isinstance(edges, list):
        raise TransientDownload(f"Twitch answered no comment list for VOD {vod_id}")  # happens; a retry helps
    nodes = tuple(e["node"] for e in edges if isinstance(_dig(e, "node"), dict))
    cursor = next((e.get("cursor") for e in reversed(edges) if isinstance(_dig(e, "cursor"), str)), None)
    return CommentPage(nodes, cursor, bool(_dig(comments, "pageInfo", "hasNextPage")),
                       _text(_dig(video, "creator", "id")))
