"""Resolution against the strict Twitch double: our metadata query, then yt-dlp's own Twitch extractor.

Covers what is sent (yt-dlp's persisted metadata queries and full-text playback token with its client
id, our full-text video query with the web client id, usher), VOD kinds (finished, still recording,
muted by usher's ``-muted`` and by ``index-dvr``'s ``-unmuted`` names, missing, deleted,
subscriber-only with and without a token, a bad token), faults retried then ending in a clear error,
an extractor Twitch has outgrown, abort, and the ``highlights twitch info|audio`` commands.
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from detector.errors import Cancelled, ConfigError
from detector.sources.media import probe
from detector.sources.twitch import (
    DownloadError,
    ExtractorOutdated,
    FetchOptions,
    GqlClient,
    RetryPolicy,
    TwitchAuthFailed,
    VodStillRecording,
    VodSubscriberOnly,
    VodUnavailable,
    default_resolver,
    fetch_audio,
)
from detector.sources.twitch.endpoints import ANDROID_CLIENT_ID, WEB_CLIENT_ID, TwitchEndpoints
from detector.sources.twitch.playlist import muted_spans, parse_master_playlist, parse_media_playlist
from highlights.doubles.twitch import (
    DELETED,
    DVR_MUTED,
    MISSING,
    MUTED,
    NORMAL,
    OTHER_TOKEN,
    RECORDING,
    SUB_ONLY,
    SUBSCRIBER_TOKEN,
    TwitchDouble,
    build_hls_vod,
)
from highlights.doubles.twitch_gql import ACCEPTED_HASHES
from tests.cli_runner import run_highlights

yt_dlp = pytest.importorskip("yt_dlp")

FAST = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=3.0, retry_after_max_s=0.05)
FETCH = FetchOptions(attempts=2, fragment_retries=1, backoff_s=0.01, backoff_max_s=0.02, socket_timeout_s=5.0,
                     reserve_bytes=0)
TOKEN, META, YTDLP_META = "gql:PlaybackAccessToken", "gql:video", "gql:VideoMetadata"


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("hls"), minutes=1)


@pytest.fixture
def twitch(hls_root: Path):
    with TwitchDouble(hls_root) as double:
        yield double


def _resolver(twitch: TwitchDouble, policy: RetryPolicy = FAST, abort=None, **env: str):
    return default_resolver({**twitch.env(), **env}, policy=policy, abort=abort)


def _ytdlp_client_id() -> str:
    from yt_dlp.extractor.twitch import TwitchVodIE

    return TwitchVodIE(yt_dlp.YoutubeDL({"quiet": True}))._CLIENT_ID


def test_resolution_sends_what_yt_dlp_and_twitchdownloader_send(twitch: TwitchDouble, hls_root: Path,
                                                                  tmp_path: Path) -> None:
    vod = _resolver(twitch).resolve(NORMAL)
    assert vod.playlist_url.startswith(f"{twitch.base}/vod/{NORMAL}.m3u8?")
    assert "sig=" in vod.playlist_url and "token=" in vod.playlist_url and "allow_audio_only=true" in vod.playlist_url
    (ours,) = twitch.operations("video")
    assert ours["_client_id"] == WEB_CLIENT_ID and "muteInfo" in ours["query"] and "persistedQuery" not in str(ours)
    (token,) = twitch.operations("PlaybackAccessToken")
    assert "extensions" not in token and re.search(r'videoPlaybackAccessToken\(\s*id: "1000000001"', token["query"])
    ytdlp_ops = twitch.operations("VideoMetadata") + twitch.operations("VideoPlayer_ChapterSelectButtonVideo")
    assert {op["extensions"]["persistedQuery"]["sha256Hash"] for op in ytdlp_ops} <= set(ACCEPTED_HASHES.values())
    assert token["_client_id"] == ytdlp_ops[0]["_client_id"] == _ytdlp_client_id() != WEB_CLIENT_ID
    assert not token["_auth"]  # anonymous without HIGHLIGHTS_TWITCH_OAUTH_TOKEN
    assert vod.meta.title == "Synthetic stream" and vod.muted == ()
    audio = fetch_audio(vod.playlist_url, tmp_path, options=FETCH)
    info = probe(audio.path)
    assert info.has_audio and not info.has_video and info.duration_s == pytest.approx(60.0, abs=0.5)
    assert twitch.segments("chunked", NORMAL) == set()
    assert twitch.segments("audio_only", NORMAL) == {p.name for p in (hls_root / "audio_only").glob("*.ts")}
    assert twitch.hits[TOKEN] == 1


def test_each_client_id_has_its_own_variable(twitch: TwitchDouble) -> None:
    custom = "abcdefghijklmnopqrstuvwxyz0123"
    _resolver(twitch, HIGHLIGHTS_TWITCH_CLIENT_ID_PLAYBACK=custom, HIGHLIGHTS_TWITCH_CLIENT_ID_METADATA=ANDROID_CLIENT_ID)\
        .resolve(NORMAL)
    assert twitch.operations("PlaybackAccessToken")[0]["_client_id"] == custom
    assert twitch.operations("VideoMetadata")[0]["_client_id"] == custom
    assert twitch.operations("video")[0]["_client_id"] == ANDROID_CLIENT_ID
    endpoints = TwitchEndpoints.from_env({})
    assert (endpoints.metadata_client_id, endpoints.chat_client_id, endpoints.playback_client_id) == \
        (WEB_CLIENT_ID, ANDROID_CLIENT_ID, None)
    with pytest.raises(ConfigError, match="HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT"):
        TwitchEndpoints.from_env({"HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT": "no spaces allowed"})
    from detector.sources.twitch import endpoints as worker
    from storage.twitch import vod_access as bot  # the bot's check reads the same variables (storage cannot import us)

    assert (bot.GQL_URL_ENV, bot.USHER_URL_ENV, bot.PLAYBACK_CLIENT_ID_ENV, bot.OAUTH_TOKEN_ENV, bot.WEB_CLIENT_ID) == \
        (worker.GQL_URL_ENV, worker.USHER_URL_ENV, worker.PLAYBACK_CLIENT_ID_ENV, worker.OAUTH_TOKEN_ENV,
         worker.WEB_CLIENT_ID)


def test_metadata_of_a_finished_vod(twitch: TwitchDouble) -> None:
    meta = GqlClient.from_env(twitch.env(), policy=FAST).require_video(NORMAL)
    assert (meta.vod_id, meta.status, meta.length_s, meta.broadcast_type) == (NORMAL, "RECORDED", 60.0, "ARCHIVE")
    assert (meta.owner_id, meta.owner_login, meta.owner_name) == ("1000", "synthstreamer", "SynthStreamer")
    assert meta.created_at == "2024-05-01T12:00:00Z" and meta.game == "Just Chatting" and not meta.is_recording


def test_muted_spans_join_twitchs_list_and_the_muted_segment_names(twitch: TwitchDouble, hls_root: Path) -> None:
    gql_only = GqlClient.from_env(twitch.env(), policy=FAST).require_video(MUTED)
    assert gql_only.muted == ((10.0, 16.0),)
    vod = _resolver(twitch).resolve(MUTED)
    audio = parse_media_playlist((hls_root / "audio_only" / "index-dvr.m3u8").read_text(), "http://x/a/index-dvr.m3u8")
    late = [s for s in audio.segments if s.end_s > 40.0 and s.start_s < 44.0]
    early = [s for s in audio.segments if s.end_s > 10.0 and s.start_s < 16.0]
    assert vod.muted == ((min(10.0, early[0].start_s), max(16.0, early[-1].end_s)), (late[0].start_s, late[-1].end_s))
    assert not any(p.endswith(".ts") for p in twitch.hits)  # only the playlist was read, no segment
    assert any("/index-muted-" in p for p in twitch.hits)


def test_unmuted_names_of_index_dvr_count_as_muted_and_are_fetched_as_muted(twitch: TwitchDouble, hls_root: Path,
                                                                           tmp_path: Path) -> None:
    vod = _resolver(twitch).resolve(DVR_MUTED)
    assert len(vod.muted) == 1 and vod.muted[0][0] <= 20.0 and vod.muted[0][1] >= 24.0
    audio = fetch_audio(vod.playlist_url, tmp_path, options=FETCH)
    assert probe(audio.path).duration_s == pytest.approx(60.0, abs=0.5)
    fetched = twitch.segments("audio_only", DVR_MUTED)
    assert any(n.endswith("-muted.ts") for n in fetched) and not any(n.endswith("-unmuted.ts") for n in fetched)
    assert not any(p.endswith("-unmuted.ts") for p in twitch.hits)  # never asked: it would be a 403


def test_muted_segment_names_in_a_twitch_media_playlist() -> None:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n" + "".join(
        f"#EXTINF:10.000,\n{name}\n" for name in ("0.ts", "1-muted.ts", "2-muted.ts", "3.ts", "4-unmuted.ts",
                                                  "5-muted.ts?x=1")) + "#EXT-X-ENDLIST\n"
    playlist = parse_media_playlist(text, "https://cdn/abc/chunked/index-dvr.m3u8")
    assert muted_spans(playlist) == ((10.0, 30.0), (40.0, 60.0))
    assert playlist.segments[4].uri == "https://cdn/abc/chunked/4-muted.ts"


def test_a_twitch_master_playlist_lists_its_audio_only_rendition() -> None:
    master = """#EXTM3U
#EXT-X-TWITCH-INFO:ORIGIN="s3",B="false",REGION="EU"
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="chunked",NAME="1080p60",AUTOSELECT=NO,DEFAULT=NO
#EXT-X-STREAM-INF:BANDWIDTH=8000000,CODECS="avc1.64002A,mp4a.40.2",RESOLUTION=1920x1080,VIDEO="chunked",FRAME-RATE=60.000
https://cdn.example/abc/chunked/index-dvr.m3u8
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="audio_only",NAME="Audio Only",AUTOSELECT=NO,DEFAULT=NO
#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS="mp4a.40.2",VIDEO="audio_only"
https://cdn.example/abc/audio_only/index-dvr.m3u8
"""
    renditions = parse_master_playlist(master, "https://usher.example/vod/1.m3u8")
    assert [(r.uri.rsplit("/", 2)[1], r.audio_only) for r in renditions] == [("chunked", False), ("audio_only", True)]


def test_a_vod_still_recording_waits_unless_allowed(twitch: TwitchDouble) -> None:
    resolver = _resolver(twitch)
    with pytest.raises(VodStillRecording, match="still being recorded") as err:
        resolver.resolve(RECORDING)
    assert err.value.code == "vod_recording" and not err.value.retryable and not twitch.hits[TOKEN]
    vod = resolver.resolve(RECORDING, allow_recording=True)
    assert vod.meta.is_recording and vod.meta.length_s == 40.0


@pytest.mark.parametrize("vod_id", [MISSING, DELETED])
def test_a_missing_or_deleted_vod_fails_for_good_before_yt_dlp_runs(twitch: TwitchDouble, vod_id: str) -> None:
    assert GqlClient.from_env(twitch.env(), policy=FAST).video(vod_id) is None
    with pytest.raises(VodUnavailable, match=f"no VOD {vod_id}: it was deleted") as err:
        _resolver(twitch).resolve(vod_id)
    assert err.value.code == "vod_unavailable" and not err.value.retryable
    assert twitch.hits[META] == 2 and not twitch.hits[YTDLP_META] and not any(p.startswith("/vod/") for p in twitch.hits)
    with pytest.raises(VodUnavailable):  # yt-dlp alone says the same ("Video … does not exist")
        _resolver(twitch)(vod_id)


def test_a_subscriber_only_vod_without_a_token_fails_for_good(twitch: TwitchDouble) -> None:
    with pytest.raises(VodSubscriberOnly, match=r"for subscribers only \(usher: vod_manifest_restricted") as err:
        _resolver(twitch).resolve(SUB_ONLY)
    assert err.value.code == "vod_subscriber_only" and not err.value.retryable
    assert "HIGHLIGHTS_TWITCH_OAUTH_TOKEN" in str(err.value)
    assert twitch.hits[f"/vod/{SUB_ONLY}.m3u8"] == 1  # never retried


def test_a_subscriber_only_vod_with_a_token_is_sent_as_yt_dlp_sends_it(twitch: TwitchDouble, tmp_path: Path) -> None:
    vod = _resolver(twitch, HIGHLIGHTS_TWITCH_OAUTH_TOKEN=f"OAuth {SUBSCRIBER_TOKEN}").resolve(SUB_ONLY)
    token = twitch.operations("PlaybackAccessToken")[0]
    assert token["_auth"] == f"OAuth {SUBSCRIBER_TOKEN}"  # yt-dlp: Authorization from the auth-token cookie
    assert not twitch.operations("video")[0]["_auth"]  # our own queries need no account
    assert fetch_audio(vod.playlist_url, tmp_path, options=FETCH).path.is_file()
    with pytest.raises(VodSubscriberOnly, match="has no access"):
        _resolver(twitch, HIGHLIGHTS_TWITCH_OAUTH_TOKEN=OTHER_TOKEN).resolve(SUB_ONLY)


def test_a_token_twitch_does_not_know_fails_for_good(twitch: TwitchDouble) -> None:
    with pytest.raises(TwitchAuthFailed, match="Authorization") as err:
        _resolver(twitch, HIGHLIGHTS_TWITCH_OAUTH_TOKEN="expiredtoken0123456789abcdef").resolve(NORMAL)
    assert err.value.code == "twitch_auth" and not err.value.retryable and twitch.hits[YTDLP_META] == 1
    with pytest.raises(ConfigError, match="does not look like a Twitch token"):
        _resolver(twitch, HIGHLIGHTS_TWITCH_OAUTH_TOKEN="not a token")


def test_when_twitch_outgrows_yt_dlp_the_job_says_upgrade(twitch: TwitchDouble) -> None:
    for operation in ("VideoMetadata", "VideoPlayer_ChapterSelectButtonVideo", "VideoPlayer_VODSeekbarPreviewVideo"):
        twitch.retire(operation)
    with pytest.raises(ExtractorOutdated, match="which Twitch lists") as err:
        _resolver(twitch).resolve(NORMAL)
    assert "pip install -U yt-dlp" in str(err.value) and not err.value.retryable
    assert twitch.hits[YTDLP_META] == 1  # not retried: only an upgrade helps


def test_faults_are_retried_then_the_vod_resolves(twitch: TwitchDouble) -> None:
    twitch.faults[TOKEN] = ["500", "503"]
    twitch.faults[META] = ["gql-error", "truncate"]
    twitch.faults[f"/vod/{NORMAL}.m3u8"] = ["500"]
    twitch.faults[f"/vods/{NORMAL}/audio_only/index-dvr.m3u8"] = ["429"]
    vod = _resolver(twitch, RetryPolicy(attempts=4, backoff_s=0.01, backoff_max_s=0.02, timeout_s=3.0,
                                        retry_after_max_s=0.05)).resolve(NORMAL)
    assert vod.meta.vod_id == NORMAL
    assert twitch.hits[META] == 3 and twitch.hits[TOKEN] == 4 and twitch.hits[f"/vod/{NORMAL}.m3u8"] == 2


@pytest.mark.parametrize("fault", ["500", "slow", "429", "truncate"])
def test_an_outage_that_persists_ends_in_a_retryable_error(twitch: TwitchDouble, fault: str) -> None:
    twitch.always[TOKEN] = fault
    twitch.slow_s = 3.0  # every answer comes after the client's timeout
    policy = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=0.5, retry_after_max_s=0.02)
    with pytest.raises(DownloadError, match=r"Resolving Twitch VOD 1000000001 \(yt-dlp\) failed after 3 tries") as err:
        _resolver(twitch, policy)(NORMAL)
    assert err.value.code == "download_error" and err.value.retryable and twitch.hits[TOKEN] == 3


def test_bad_ids_are_refused_before_any_request(twitch: TwitchDouble) -> None:
    for bad in ("abc", "12345", "1/../2"):
        with pytest.raises(ConfigError):
            _resolver(twitch).resolve(bad)
    assert not twitch.hits


def test_abort_stops_the_waits_between_tries(twitch: TwitchDouble) -> None:
    twitch.always[TOKEN] = "500"
    policy = RetryPolicy(attempts=5, backoff_s=30.0, timeout_s=3.0)
    with pytest.raises(Cancelled):
        _resolver(twitch, policy, abort=lambda: twitch.hits[TOKEN] >= 1)(NORMAL)
    assert twitch.hits[TOKEN] == 1


# --- highlights twitch info|audio ---------------------------------------------------------------

def test_cli_info_and_audio(twitch: TwitchDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run_highlights(["twitch", "info", f"https://www.twitch.tv/videos/{MUTED}?t=1m"], twitch.env(), monkeypatch) == 0
    out = capsys.readouterr().out
    assert "SynthStreamer (synthstreamer, id 1000)" in out
    assert re.search(r"muted     0:(08|10)–0:1[68], 0:(38|40)–0:4[46]\n", out)  # joined, on segment bounds
    assert run_highlights(["twitch", "info", SUB_ONLY, "--json"], twitch.env(), monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["vod_id"] == SUB_ONLY and doc["playlist"].startswith("refused: Twitch VOD 1000000004 is for subscribers")
    assert run_highlights(["twitch", "audio", NORMAL, "--out", str(tmp_path), "-q"], twitch.env(), monkeypatch) == 0
    assert (tmp_path / "audio.m4a").is_file() and "muted: none" in capsys.readouterr().out


def test_cli_errors_are_one_line_and_exit_2(twitch: TwitchDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["twitch", "info", MISSING], ["twitch", "audio", RECORDING, "--out", str(tmp_path)],
                 ["twitch", "audio", SUB_ONLY, "--out", str(tmp_path)],
                 ["twitch", "info", "https://example.com/videos/123456789"]):
        assert run_highlights(argv, twitch.env(), monkeypatch) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
