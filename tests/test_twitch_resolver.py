"""The real Twitch resolver against the local Twitch double: GQL token → usher → audio download.

Covers VOD metadata (finished, still recording, muted — Twitch's list joined with ``-muted.ts``
segment names — missing), subscriber-only and deleted VODs, faults (5xx, timeouts, 429 with
``Retry-After``, GQL ``errors``) retried then ending in a clear error, abort, and the
``highlights twitch info|audio`` commands. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from detector.errors import Cancelled, ConfigError
from detector.sources.media import probe
from detector.sources.twitch import (
    DownloadError,
    FetchOptions,
    GqlClient,
    RetryPolicy,
    VodStillRecording,
    VodUnavailable,
    default_resolver,
    fetch_audio,
)
from detector.sources.twitch.playlist import muted_spans, parse_master_playlist, parse_media_playlist
from detector.sources.twitch.resolver import usher_vod_url
from tests.twitch_double import (
    DELETED,
    MISSING,
    MUTED,
    NORMAL,
    RECORDING,
    SUB_ONLY,
    TwitchDouble,
    build_hls_vod,
    run_highlights,
)

pytest.importorskip("yt_dlp")

FAST = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=3.0, retry_after_max_s=0.05)
FETCH = FetchOptions(attempts=2, fragment_retries=1, backoff_s=0.01, backoff_max_s=0.02, socket_timeout_s=5.0,
                     reserve_bytes=0)
TOKEN = "gql:PlaybackAccessToken"
META = "gql:HighlightsVodMeta"


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("hls"), minutes=1)


@pytest.fixture
def twitch(hls_root: Path):
    with TwitchDouble(hls_root) as double:
        yield double


def _resolver(twitch: TwitchDouble, policy: RetryPolicy = FAST, abort=None):
    return default_resolver(twitch.env(), policy=policy, abort=abort)


def test_vod_id_to_token_to_usher_to_audio(twitch: TwitchDouble, hls_root: Path, tmp_path: Path) -> None:
    vod = _resolver(twitch).resolve(NORMAL)
    assert vod.playlist_url.startswith(f"{twitch.base}/vod/{NORMAL}.m3u8?")
    assert "sig=" in vod.playlist_url and "token=" in vod.playlist_url and "allow_audio_only=true" in vod.playlist_url
    token_request = next(r for r in twitch.gql_requests if r["operationName"] == "PlaybackAccessToken")
    assert token_request["variables"] == {"isLive": False, "login": "", "isVod": True, "vodID": NORMAL,
                                          "playerType": "embed"}
    assert twitch.client_ids == {"double-client-id"}
    assert vod.meta.title == "Synthetic stream" and vod.muted == ()
    audio = fetch_audio(vod.playlist_url, tmp_path, options=FETCH)
    info = probe(audio.path)
    assert info.has_audio and not info.has_video and info.duration_s == pytest.approx(60.0, abs=0.5)
    assert twitch.segments("video", NORMAL) == set()
    assert twitch.segments("audio", NORMAL) == {p.name for p in (hls_root / "audio").glob("*.ts")}
    assert twitch.hits[TOKEN] == 1 and twitch.hits[f"/vod/{NORMAL}.m3u8"] >= 2  # the check, then yt-dlp


def test_metadata_of_a_finished_vod(twitch: TwitchDouble) -> None:
    meta = GqlClient.from_env(twitch.env(), policy=FAST).require_video(NORMAL)
    assert (meta.vod_id, meta.status, meta.length_s, meta.broadcast_type) == (NORMAL, "RECORDED", 60.0, "ARCHIVE")
    assert (meta.owner_id, meta.owner_login, meta.owner_name) == ("1000", "synthstreamer", "SynthStreamer")
    assert meta.created_at == "2024-05-01T12:00:00Z" and meta.game == "Just Chatting" and not meta.is_recording


def test_muted_spans_join_twitchs_list_and_the_muted_segment_names(twitch: TwitchDouble, hls_root: Path) -> None:
    gql_only = GqlClient.from_env(twitch.env(), policy=FAST).require_video(MUTED)
    assert gql_only.muted == ((10.0, 16.0),)
    vod = _resolver(twitch).resolve(MUTED)
    audio = parse_media_playlist((hls_root / "audio" / "index.m3u8").read_text(), "http://x/audio/index.m3u8")
    late = [s for s in audio.segments if s.end_s > 40.0 and s.start_s < 44.0]
    early = [s for s in audio.segments if s.end_s > 10.0 and s.start_s < 16.0]
    assert vod.muted == ((min(10.0, early[0].start_s), max(16.0, early[-1].end_s)), (late[0].start_s, late[-1].end_s))
    assert not any(p.endswith("-muted.ts") for p in twitch.hits)  # only the playlist was read, no segment


def test_muted_segment_names_in_a_twitch_media_playlist() -> None:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n" + "".join(
        f"#EXTINF:10.000,\n{name}\n" for name in ("0.ts", "1-muted.ts", "2-muted.ts", "3.ts", "4-unmuted.ts",
                                                  "5-muted.ts?x=1")) + "#EXT-X-ENDLIST\n"
    assert muted_spans(parse_media_playlist(text, "https://cdn/abc/chunked/index-dvr.m3u8")) == ((10.0, 30.0),
                                                                                                  (50.0, 60.0))


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
    assert err.value.code == "vod_recording" and not twitch.hits[TOKEN]
    vod = resolver.resolve(RECORDING, allow_recording=True)
    assert vod.meta.is_recording and vod.meta.status == "RECORDING" and vod.meta.length_s == 40.0


def test_a_missing_vod_is_a_clear_error(twitch: TwitchDouble) -> None:
    assert GqlClient.from_env(twitch.env(), policy=FAST).video(MISSING) is None
    resolver = _resolver(twitch)
    with pytest.raises(DownloadError, match=f"no VOD {MISSING}"):
        resolver.resolve(MISSING)
    with pytest.raises(DownloadError, match="no playback token"):
        resolver(MISSING)
    assert not any(p.startswith("/vod/") for p in twitch.hits)


@pytest.mark.parametrize(("vod_id", "says"), [(SUB_ONLY, r"403 \(vod_manifest_restricted\).*subscribers only"),
                                              (DELETED, r"404 .*deleted or has expired")])
def test_sub_only_and_deleted_vods_are_refused_clearly(twitch: TwitchDouble, vod_id: str, says: str) -> None:
    with pytest.raises(VodUnavailable, match=says) as err:
        _resolver(twitch).resolve(vod_id)
    assert err.value.code == "vod_unavailable" and twitch.hits[f"/vod/{vod_id}.m3u8"] == 1  # not retried


def test_a_forged_token_is_refused_by_usher(twitch: TwitchDouble) -> None:
    from detector.sources.twitch.gql import PlaybackToken
    from detector.sources.twitch.transport import request

    url = usher_vod_url(twitch.base, NORMAL, PlaybackToken(json.dumps({"vod_id": int(NORMAL)}), "00" * 20))
    assert request("usher", url, policy=FAST).status == 403


def test_faults_are_retried_then_the_vod_resolves(twitch: TwitchDouble) -> None:
    twitch.faults[TOKEN] = ["500", "503"]
    twitch.faults[META] = ["gql-error", "truncate"]
    twitch.faults[f"/vod/{NORMAL}.m3u8"] = ["500"]
    twitch.faults["/vods/1000000001/audio/index.m3u8"] = ["429"]
    vod = _resolver(twitch).resolve(NORMAL)
    assert vod.meta.vod_id == NORMAL
    assert twitch.hits[TOKEN] == 3 and twitch.hits[META] == 3 and twitch.hits[f"/vod/{NORMAL}.m3u8"] == 2


@pytest.mark.parametrize("fault", ["500", "slow", "429", "truncate"])
def test_a_fault_that_persists_ends_in_a_clear_error(twitch: TwitchDouble, fault: str) -> None:
    twitch.always[TOKEN] = fault
    twitch.slow_s = 3.0  # every answer comes after the client's timeout
    policy = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=0.3, retry_after_max_s=0.02)
    with pytest.raises(DownloadError, match=r"PlaybackAccessToken \(VOD 1000000001\) failed after 3 tries") as err:
        _resolver(twitch, policy)(NORMAL)
    assert err.value.code == "download_error" and twitch.hits[TOKEN] == 3


def test_429_waits_as_long_as_retry_after_says_up_to_the_bound(twitch: TwitchDouble,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(attempts=3, backoff_s=0.2, timeout_s=3.0, retry_after_max_s=0.05)
    client = GqlClient.from_env(twitch.env(), policy=policy)
    twitch.faults[META] = ["429", "429"]
    twitch.retry_after = "0"
    with caplog.at_level(logging.WARNING):
        assert client.require_video(NORMAL).vod_id == NORMAL
    waits = [r.getMessage().rsplit("again in ", 1)[1] for r in caplog.records if "429" in r.getMessage()]
    assert waits == ["0.00 s", "0.00 s"]  # Retry-After: 0 beats the 0.2 s backoff
    caplog.clear()
    twitch.faults[META] = ["429"]
    twitch.retry_after = "3600"
    with caplog.at_level(logging.WARNING):
        client.require_video(NORMAL)
    assert [r.getMessage().rsplit("again in ", 1)[1] for r in caplog.records] == ["0.05 s"]


def test_gql_errors_become_download_errors_without_retries(twitch: TwitchDouble) -> None:
    twitch.always[TOKEN] = "gql-fatal"
    with pytest.raises(DownloadError, match=r"PlaybackAccessToken .*PersistedQueryNotFound"):
        _resolver(twitch)(NORMAL)
    assert twitch.hits[TOKEN] == 1


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
    assert doc["vod_id"] == SUB_ONLY and doc["playlist"].startswith("refused: Twitch refuses")
    assert run_highlights(["twitch", "audio", NORMAL, "--out", str(tmp_path), "-q"], twitch.env(), monkeypatch) == 0
    assert (tmp_path / "audio.m4a").is_file() and "muted: none" in capsys.readouterr().out


def test_cli_errors_are_one_line_and_exit_2(twitch: TwitchDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["twitch", "info", MISSING], ["twitch", "audio", RECORDING, "--out", str(tmp_path)],
                 ["twitch", "info", "https://example.com/videos/123456789"]):
        assert run_highlights(argv, twitch.env(), monkeypatch) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
