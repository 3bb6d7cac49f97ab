"""The GQL half of the local Twitch double: one operation in, Twitch's answer out (``GqlRules.answer``).

Every rule names where it comes from: yt-dlp's ``yt_dlp/extractor/twitch.py`` and TwitchDownloader's
``TwitchDownloaderCore`` (the clients that talk to Twitch every day), and the issue threads where
Twitch's answers are quoted. What the rules accept is what those clients send today; anything else
is answered the way Twitch answers it (``PersistedQueryNotFound``, ``failed integrity check``, a
GraphQL validation error), never with data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

from highlights.doubles.twitch_vods import FakeVod

WEB_CLIENT_ID = "kimne78kx3ncx6brgo4mv6wki5h1ko"
ACCEPTED_HASHES = {
    # yt-dlp yt_dlp/extractor/twitch.py, TwitchBaseIE._OPERATION_HASHES (since 2025.11.12)
    "VideoMetadata": "45111672eea2e507f8ba44d101a61862f9c56b11dee09a15634cb75cb9b9084d",
    "VideoPlayer_ChapterSelectButtonVideo": "71835d5ef425e154bf282453a926d99b328cdc5e32f36d3a209d0f4778b41203",
    "VideoPlayer_VODSeekbarPreviewVideo": "07e99e4d56c5a7c67117a154777b0baf85a5ffefa393b213f4bc712ccaf85dd6",
    # TwitchDownloader TwitchDownloaderCore/ChatDownloader.cs, DownloadSection
    "VideoCommentsByOffsetOrCursor": "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a",
}
RETIRED_TOKEN_HASH = "0828119ded1c13477966434e15800ff57ddacf13ba1911c129dc2200705b0712"
"""The PlaybackAccessToken hash Twitch answers with PersistedQueryNotFound since November 2025
(streamlink issue #6719); it is in no accepted list, so the rule below refuses it."""
_TOKEN_FIELD = re.compile(
    r"videoPlaybackAccessToken\s*\(\s*id\s*:\s*(?:\"(?P<lit>\d+)\"|\$(?P<var>\w+))\s*,\s*params\s*:\s*\{(?P<params>[^}]*)\}\s*\)"
    r"(?P<include>\s*@include\s*\(\s*if\s*:\s*\$(?P<flag>\w+)\s*\))?")
_VIDEO_FIELD = re.compile(r"\bvideo\s*\(\s*id\s*:\s*(?:\"(?P<lit>\d+)\"|\$(?P<var>\w+))\s*\)")
_SECRET = b"twitch-double"


def cursor_of(index: int) -> str:
    return base64.b64encode(json.dumps({"id": index, "v": 1}).encode()).decode()


def sign(value: str) -> str:
    return hmac.new(_SECRET, value.encode(), hashlib.sha1).hexdigest()


def operation_key(op: dict[str, Any]) -> str:
    """How the double names an operation in ``hits`` and ``faults``: its ``operationName``, else for full text
    ``PlaybackAccessToken`` or ``video`` by the field it asks."""
    query = str(op.get("query") or "")
    if "videoPlaybackAccessToken" in query:
        return "PlaybackAccessToken"
    if op.get("operationName"):
        return str(op["operationName"])
    return "video" if _VIDEO_FIELD.search(query) else "query"


def _envelope(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    # Twitch adds request facts to every answer (lavaplayer PR #190 quotes one).
    return {**doc, "extensions": {"durationMilliseconds": 3, "operationName": name, "requestID": "01DOUBLE"}}


def persisted_query_not_found(name: str) -> dict[str, Any]:
    # An unknown or retired persisted-query hash: HTTP 200, this body, no data (lavaplayer PR #190, streamlink #6719).
    return _envelope(name, {"errors": [{"message": "PersistedQueryNotFound"}]})


class GqlRules:
    """Answers GQL operations over a catalogue of ``FakeVod`` (see the module docstring)."""

    def __init__(self, catalogue: dict[str, FakeVod], base: str, *, page_size: int = 100) -> None:
        self.catalogue, self.base, self.page_size = catalogue, base, page_size
        self.hashes = dict(ACCEPTED_HASHES)

    def vod(self, vod_id: Any) -> FakeVod | None:
        vod = self.catalogue.get(str(vod_id))
        return None if vod is None or vod.deleted else vod  # a deleted VOD is `video: null` (yt-dlp twitch.py)

    def answer(self, op: dict[str, Any], *, client_id: str, user_id: str | None) -> dict[str, Any]:
        name = operation_key(op)
        variables = op.get("variables") if isinstance(op.get("variables"), dict) else {}
        persisted = ((op.get("extensions") or {}).get("persistedQuery") or {}).get("sha256Hash")
        if persisted is not None:
            if self.hashes.get(str(op.get("operationName"))) != persisted:
                return persisted_query_not_found(name)
            return _envelope(name, self._persisted(str(op["operationName"]), variables, client_id))
        if op.get("query"):
            return _envelope(name, self._full_text(str(op["query"]), variables, user_id))
        # Neither a hash nor a query: GraphQL has nothing to run (GraphQL over HTTP: "query" is required).
        return _envelope(name, {"errors": [{"message": "PersistedQueryNotFound"}]})

    # --- persisted queries (the hashes above) --------------------------------------------------------

    def _persisted(self, name: str, variables: dict[str, Any], client_id: str) -> dict[str, Any]:
        vod = self.vod(variables.get("videoID"))
        if name == "VideoMetadata":  # the fields yt-dlp twitch.py _extract_info_gql reads
            return {"data": {"user": None, "currentUser": None, "video": vod.video_metadata(self.base) if vod else None}}
        if name == "VideoPlayer_ChapterSelectButtonVideo":  # yt-dlp reads video.moments.edges[].node
            video = {"id": vod.vod_id, "moments": {"edges": [], "__typename": "VideoMomentConnection"},
                     "__typename": "Video"} if vod else None
            return {"data": {"video": video}}
        if name == "VideoPlayer_VODSeekbarPreviewVideo":  # yt-dlp reads video.seekPreviewsURL (storyboards)
            video = {"id": vod.vod_id, "seekPreviewsURL": f"{self.base}/vods/{vod.vod_id}/storyboards/{vod.vod_id}-info.json",
                     "__typename": "Video"} if vod else None
            return {"data": {"video": video}}
        return self._comments(vod, variables, client_id)

    def _comments(self, vod: FakeVod | None, variables: dict[str, Any], client_id: str) -> dict[str, Any]:
        if vod is None:
            return {"data": {"video": None}}
        creator = {"id": "1000", "channel": {"id": "1000", "__typename": "Channel"}, "__typename": "User"}
        if variables.get("cursor") and client_id == WEB_CLIENT_ID:
            # Pages by cursor with the web player's client id fail Twitch's integrity check; by offset they
            # do not (TwitchDownloader issue #704; jdpurcell/RechatTool issue #17). Shape: GQL errors with a path.
            return {"errors": [{"message": "failed integrity check", "path": ["video", "comments"]}],
                    "data": {"video": {"id": vod.vod_id, "creator": creator, "comments": None, "__typename": "Video"}}}
        if variables.get("cursor"):
            try:
                start = int(json.loads(base64.b64decode(str(variables["cursor"])))["id"]) + 1
            except (ValueError, KeyError, TypeError):
                return {"errors": [{"message": "invalid cursor", "path": ["video", "comments"]}], "data": {"video": None}}
        else:
            offset = int(variables.get("contentOffsetSeconds") or 0)
            start = next((i for i, c in enumerate(vod.comments) if c["contentOffsetSeconds"] >= offset), len(vod.comments))
        page = vod.comments[start:start + self.page_size]
        edges = [{"cursor": cursor_of(start + i), "node": node, "__typename": "VideoCommentEdge"}
                 for i, node in enumerate(page)]
        return {"data": {"video": {"id": vod.vod_id, "creator": creator, "__typename": "Video", "comments": {
            "edges": edges, "pageInfo": {"hasNextPage": start + len(page) < len(vod.comments),
                                         "hasPreviousPage": start > 0, "__typename": "PageInfo"},
            "__typename": "VideoCommentConnection"}}}}

    # --- full-text queries -------------------------------------------------------------------------------

    def _full_text(self, query: str, variables: dict[str, Any], user_id: str | None) -> dict[str, Any]:
        token = _TOKEN_FIELD.search(query)
        if token:
            # The forms yt-dlp twitch.py _download_access_token (an inline id) and TwitchDownloader
            # TwitchHelper.GetVideoToken (PlaybackAccessToken_Template, $vodID with @include(if: $isVod)) send.
            if token["include"] and not variables.get(token["flag"]):
                return {"data": {}}
            if not re.search(r"\bplatform\s*:", token["params"]):
                # Twitch requires params.platform (rdavydov/Twitch-Channel-Points-Miner-v2 PR #657).
                return {"errors": [{"message": "Argument \"params\" has invalid value: field \"platform\" of required "
                                               "type \"String!\" was not provided."}]}
            vod_id = token["lit"] or variables.get(token["var"] or "")
            return {"data": {"videoPlaybackAccessToken": self._token(vod_id, user_id)}}
        video = _VIDEO_FIELD.search(query)
        if video:
            # A full-text video(id:) query, as TwitchDownloader TwitchHelper.GetVideoInfo sends it.
            vod = self.vod(video["lit"] or variables.get(video["var"] or ""))
            return {"data": {"video": vod.video() if vod else None}}
        # Any other field: a GraphQL validation error (GraphQL spec, "Field Selections").
        field = re.search(r"\{\s*(\w+)", query)
        return {"errors": [{"message": f"Cannot query field \"{field[1] if field else '?'}\" on type \"Query\".",
                            "locations": [{"line": 1, "column": 1}]}]}

    def _token(self, vod_id: Any, user_id: str | None) -> dict[str, Any] | None:
        vod = self.vod(vod_id)
        if vod is None:
            return None
        value = json.dumps({"vod_id": int(vod.vod_id), "user_id": int(user_id) if user_id else None,
                            "expires": int(time.time()) + 72000, "chansub": {"restricted_bitrates": []},
                            "privileged": False, "version": 2})
        return {"value": value, "signature": sign(value), "__typename": "PlaybackAccessToken"}
