"""The Twitch double's own rules, asked over raw HTTP (no client of ours in between): one test per rule.

A double is only as good as its strictness, so each rule the double carries (``highlights/doubles/twitch.py``,
``highlights/doubles/twitch_gql.py``, each with its reference) is checked here with the request Twitch
refuses and the one it accepts.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from highlights.doubles.twitch import (
    DELETED,
    DVR_MUTED,
    MUTED,
    NORMAL,
    OTHER_TOKEN,
    RECORDING,
    SUB_ONLY,
    SUBSCRIBER_TOKEN,
    TwitchDouble,
    build_hls_vod,
)
from highlights.doubles.twitch_gql import ACCEPTED_HASHES, RETIRED_TOKEN_HASH, WEB_CLIENT_ID

ANDROID = "kd1unb4b3q4t58fwlpcbzcbnm76a8fp"
YTDLP_TOKEN_QUERY = ('{ videoPlaybackAccessToken(id: "%s", params: {platform: "web", playerBackend: "mediaplayer", '
                     'playerType: "site"}) { value signature } }')
TEMPLATE_QUERY = ("query PlaybackAccessToken_Template($login: String!, $isLive: Boolean!, $vodID: ID!, $isVod: Boolean!, "
                  "$playerType: String!) { streamPlaybackAccessToken(channelName: $login, params: {platform: \"web\", "
                  "playerBackend: \"mediaplayer\", playerType: $playerType}) @include(if: $isLive) { value signature } "
                  "videoPlaybackAccessToken(id: $vodID, params: {platform: \"web\", playerBackend: \"mediaplayer\", "
                  "playerType: $playerType}) @include(if: $isVod) { value signature } }")


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("hls"), minutes=1)


@pytest.fixture
def twitch(hls_root: Path):
    with TwitchDouble(hls_root) as double:
        yield double


def post(twitch: TwitchDouble, doc: Any, *, client_id: str | None = WEB_CLIENT_ID,
         auth: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if client_id:
        headers["Client-ID"] = client_id
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(f"{twitch.base}/gql", data=json.dumps(doc).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def persisted(name: str, variables: dict[str, Any], digest: str | None = None) -> dict[str, Any]:
    return {"operationName": name, "variables": variables,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest or ACCEPTED_HASHES[name]}}}


def token(twitch: TwitchDouble, vod_id: str, *, auth: str | None = None) -> dict[str, str]:
    status, doc = post(twitch, {"query": YTDLP_TOKEN_QUERY % vod_id}, auth=auth)
    assert status == 200
    return doc["data"]["videoPlaybackAccessToken"]


def usher(twitch: TwitchDouble, vod_id: str, grant: dict[str, str], *, v2: bool = False) -> tuple[int, str, bytes]:
    query = urlencode({"allow_source": "true", "allow_audio_only": "true", "sig": grant["signature"],
                       "token": grant["value"]})
    return get(f"{twitch.base}/vod/{'v2/' if v2 else ''}{vod_id}.m3u8?{query}")


# --- GQL ------------------------------------------------------------------------------------------

def test_a_request_without_client_id_is_refused(twitch: TwitchDouble) -> None:
    status, doc = post(twitch, {"query": YTDLP_TOKEN_QUERY % NORMAL}, client_id=None)
    assert status == 400 and doc["message"] == "No client id specified"


def test_an_unknown_oauth_token_is_refused_and_other_authorization_is_ignored(twitch: TwitchDouble) -> None:
    status, doc = post(twitch, {"query": YTDLP_TOKEN_QUERY % NORMAL}, auth="OAuth notatokenwhichtwitchknows01")
    assert (status, doc["message"]) == (401, 'The "Authorization" token is invalid.')
    assert post(twitch, {"query": YTDLP_TOKEN_QUERY % NORMAL}, auth="random garbage")[0] == 200
    assert post(twitch, {"query": YTDLP_TOKEN_QUERY % NORMAL}, auth=f"OAuth {SUBSCRIBER_TOKEN}")[0] == 200


def test_the_retired_playback_token_hash_is_persisted_query_not_found(twitch: TwitchDouble) -> None:
    variables = {"isLive": False, "login": "", "isVod": True, "vodID": NORMAL, "playerType": "embed"}
    status, doc = post(twitch, persisted("PlaybackAccessToken", variables, RETIRED_TOKEN_HASH))
    assert status == 200 and doc["errors"] == [{"message": "PersistedQueryNotFound"}] and "data" not in doc
    assert doc["extensions"]["operationName"] == "PlaybackAccessToken"


def test_an_unknown_hash_of_a_known_operation_and_a_retired_one_are_not_found(twitch: TwitchDouble) -> None:
    ok = persisted("VideoMetadata", {"channelLogin": "", "videoID": NORMAL})
    assert post(twitch, [ok])[1][0]["data"]["video"]["id"] == NORMAL  # a batch is answered by a list
    wrong = persisted("VideoMetadata", {"channelLogin": "", "videoID": NORMAL}, "ab" * 32)
    assert post(twitch, wrong)[1]["errors"] == [{"message": "PersistedQueryNotFound"}]
    twitch.retire("VideoMetadata")
    assert post(twitch, ok)[1]["errors"] == [{"message": "PersistedQueryNotFound"}]


@pytest.mark.parametrize("form", ["yt-dlp", "TwitchDownloader"])
def test_full_text_token_queries_get_a_signed_token(twitch: TwitchDouble, form: str) -> None:
    if form == "yt-dlp":
        doc = {"query": YTDLP_TOKEN_QUERY % NORMAL}
    else:
        doc = {"operationName": "PlaybackAccessToken_Template", "query": TEMPLATE_QUERY,
               "variables": {"isLive": False, "login": "", "isVod": True, "vodID": NORMAL, "playerType": "embed"}}
    grant = post(twitch, doc)[1]["data"]["videoPlaybackAccessToken"]
    assert json.loads(grant["value"])["vod_id"] == int(NORMAL) and len(grant["signature"]) == 40
    assert usher(twitch, NORMAL, grant)[0] == 200


def test_a_token_query_without_platform_is_refused(twitch: TwitchDouble) -> None:
    doc = post(twitch, {"query": YTDLP_TOKEN_QUERY.replace('platform: "web", ', "") % NORMAL})[1]
    assert "platform" in doc["errors"][0]["message"] and "data" not in doc


def test_an_unknown_full_text_field_is_a_validation_error(twitch: TwitchDouble) -> None:
    doc = post(twitch, {"query": "query { everything { id } }"})[1]
    assert doc["errors"][0]["message"] == 'Cannot query field "everything" on type "Query".'


def test_chat_pages_by_cursor_fail_the_integrity_check_with_the_web_client_id(twitch: TwitchDouble) -> None:
    first = post(twitch, persisted("VideoCommentsByOffsetOrCursor", {"videoID": NORMAL, "contentOffsetSeconds": 0}))[1]
    edges = first["data"]["video"]["comments"]["edges"]
    assert len(edges) == 100  # by offset the web id is fine
    by_cursor = persisted("VideoCommentsByOffsetOrCursor", {"videoID": NORMAL, "cursor": edges[-1]["cursor"]})
    refused = post(twitch, by_cursor)[1]
    assert refused["errors"] == [{"message": "failed integrity check", "path": ["video", "comments"]}]
    assert refused["data"]["video"]["comments"] is None
    page = post(twitch, by_cursor, client_id=ANDROID)[1]["data"]["video"]["comments"]
    assert page["edges"][0]["node"]["id"] == twitch.catalogue[NORMAL].comments[100]["id"]


def test_a_deleted_vod_is_video_null_everywhere(twitch: TwitchDouble) -> None:
    assert post(twitch, persisted("VideoMetadata", {"channelLogin": "", "videoID": DELETED}))[1]["data"]["video"] is None
    assert post(twitch, {"query": f'query{{video(id:"{DELETED}"){{id title}}}}', "variables": {}})[1] == \
        {"data": {"video": None}, "extensions": {"durationMilliseconds": 3, "operationName": "video",
                                                 "requestID": "01DOUBLE"}}
    assert post(twitch, persisted("VideoCommentsByOffsetOrCursor", {"videoID": DELETED, "contentOffsetSeconds": 0}),
                client_id=ANDROID)[1]["data"]["video"] is None
    assert token(twitch, DELETED) is None


def test_a_recording_vod_shows_a_processing_thumbnail(twitch: TwitchDouble) -> None:
    video = post(twitch, persisted("VideoMetadata", {"channelLogin": "", "videoID": RECORDING}))[1]["data"]["video"]
    assert "/404_processing_" in video["previewThumbnailURL"] and video["status"] == "RECORDING"


# --- usher and the CDN ----------------------------------------------------------------------------

def test_usher_refuses_a_token_it_did_not_sign(twitch: TwitchDouble) -> None:
    grant = token(twitch, NORMAL)
    status, kind, body = usher(twitch, NORMAL, {**grant, "signature": "0" * 40})
    assert status == 403 and json.loads(body)[0]["error_code"] == "unauthorized"
    assert usher(twitch, MUTED, grant)[0] == 403  # a token for another VOD


def test_a_subscriber_only_vod_answers_the_403_body_yt_dlp_checks_for(twitch: TwitchDouble) -> None:
    status, kind, body = usher(twitch, SUB_ONLY, token(twitch, SUB_ONLY))
    assert status == 403 and kind == "application/json"
    assert json.loads(body)[0]["error_code"] == "vod_manifest_restricted"
    assert usher(twitch, SUB_ONLY, token(twitch, SUB_ONLY, auth=f"OAuth {OTHER_TOKEN}"))[0] == 403
    assert usher(twitch, SUB_ONLY, token(twitch, SUB_ONLY, auth=f"OAuth {SUBSCRIBER_TOKEN}"), v2=True)[0] == 200


def test_the_master_playlist_is_shaped_like_ushers(twitch: TwitchDouble) -> None:
    master = usher(twitch, NORMAL, token(twitch, NORMAL))[2].decode()
    assert master.startswith("#EXTM3U\n#EXT-X-TWITCH-INFO:")
    assert 'GROUP-ID="audio_only",NAME="Audio Only"' in master and 'VIDEO="chunked"' in master
    assert f"{twitch.base}/vods/{NORMAL}/chunked/index-dvr.m3u8" in master


def test_muted_segments_are_named_muted_by_usher_and_unmuted_in_index_dvr(twitch: TwitchDouble) -> None:
    vod = twitch.catalogue[MUTED]
    master = usher(twitch, MUTED, token(twitch, MUTED))[2].decode()
    muted_url = f"{twitch.base}/vods/{MUTED}/audio_only/index-muted-{vod.muted_slug}.m3u8"
    assert muted_url in master and "index-dvr" not in master
    names = [line for line in get(muted_url)[2].decode().splitlines() if line.endswith(".ts")]
    muted = [n for n in names if n.endswith("-muted.ts")]
    assert muted and not any(n.endswith("-unmuted.ts") for n in names)
    dvr = [line for line in get(f"{twitch.base}/vods/{MUTED}/audio_only/index-dvr.m3u8")[2].decode().splitlines()
           if line.endswith(".ts")]
    assert [n.replace("-unmuted", "-muted") for n in dvr] == names
    number = muted[0].split("-")[0]
    base = f"{twitch.base}/vods/{MUTED}/audio_only/"
    assert get(base + f"{number}-muted.ts")[0] == 200
    status, kind, body = get(base + f"{number}-unmuted.ts")
    assert status == 403 and b"AccessDenied" in body
    assert get(base + f"{number}.ts")[0] == 403  # the original of a muted segment is gone
    assert get(base + "0-muted.ts")[0] == 403 and get(base + "0.ts")[0] == 200
    dvr_master = usher(twitch, DVR_MUTED, token(twitch, DVR_MUTED))[2].decode()
    assert "/index-dvr.m3u8" in dvr_master


def test_a_recording_vods_playlist_has_no_end(twitch: TwitchDouble) -> None:
    text = get(f"{twitch.base}/vods/{RECORDING}/audio_only/index-dvr.m3u8")[2].decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
    assert "#EXT-X-ENDLIST" in get(f"{twitch.base}/vods/{NORMAL}/audio_only/index-dvr.m3u8")[2].decode()


def test_a_deleted_vods_files_are_gone(twitch: TwitchDouble) -> None:
    assert get(f"{twitch.base}/vods/{DELETED}/audio_only/index-dvr.m3u8")[0] == 403
