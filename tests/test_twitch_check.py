"""``highlights twitch check [VOD]`` against the strict Twitch double: one line per step, with what Twitch answered.

All steps pass against today's Twitch (the double); when the double retires a persisted query, refuses
cursor pages to a client id or refuses a playlist, the line of that step fails with Twitch's own words and
the others still pass; with Helix credentials a Helix line is added; offline it is one line.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from highlights.doubles.twitch import SUB_ONLY, TwitchDouble, build_hls_vod
from highlights.doubles.twitch_gql import RETIRED_TOKEN_HASH, WEB_CLIENT_ID
from highlights.doubles.twitch_vods import FakeVod, default_catalogue, make_comments
from tests.cli_runner import run_highlights
from tests.helix_double import HelixDouble

pytest.importorskip("yt_dlp")
STEPS = ("yt-dlp metadata", "playback token", "usher playlist", "chat page by offset", "chat page by cursor",
         "muted spans (video query)", "helix video")


@pytest.fixture(scope="module")
def hls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls_vod(tmp_path_factory.mktemp("hls"), minutes=1)


@pytest.fixture
def twitch(hls_root: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with TwitchDouble(hls_root) as double:
        yield double


def check(argv_vod: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    code = run_highlights(["twitch", "check", argv_vod], env, monkeypatch)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    lines = {}
    for line in out.out.splitlines()[1:]:
        for step in STEPS:
            if line[5:].startswith(step):
                lines[step] = (line[:4].strip(), line[5 + 26:].strip())
    return code, lines, out.out


def test_every_step_passes_against_todays_twitch(twitch: TwitchDouble, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, out = check("1000000001", twitch.env(), monkeypatch, capsys)
    assert code == 0 and out.startswith("Twitch check of VOD 1000000001 (yt-dlp ")
    assert [lines[s][0] for s in STEPS] == ["ok"] * 6 + ["--"]
    assert lines["playback token"][1] == "HTTP 200: videoPlaybackAccessToken: ok"
    assert lines["usher playlist"][1] == "HTTP 200: playlist, 2 renditions"
    assert lines["chat page by cursor"][1] == "HTTP 200: 100 comments, a next page"
    assert "TWITCH_CLIENT_ID" in lines["helix video"][1]
    assert not any(RETIRED_TOKEN_HASH in str(op) for op in twitch.gql_requests)  # nothing sends the retired hash


def test_a_retired_persisted_query_fails_its_own_line(twitch: TwitchDouble, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    twitch.retire("VideoMetadata")
    twitch.retire("VideoCommentsByOffsetOrCursor")
    code, lines, out = check("1000000001", twitch.env(), monkeypatch, capsys)
    assert code == 1
    assert lines["yt-dlp metadata"] == ("FAIL", "HTTP 200: errors: PersistedQueryNotFound | video: ok | video: ok")
    assert lines["playback token"][0] == lines["usher playlist"][0] == "ok"
    assert lines["chat page by offset"][0] == "FAIL" and "PersistedQueryNotFound" in lines["chat page by offset"][1]
    assert lines["chat page by cursor"] == ("--", "not reached")
    assert lines["muted spans (video query)"][0] == "ok"
    assert out.rstrip().endswith("See the README's Twitch section.") and "pip install -U yt-dlp" in out


def test_the_integrity_check_fails_only_the_cursor_line(twitch: TwitchDouble, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    env = {**twitch.env(), "HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT": WEB_CLIENT_ID}
    code, lines, _ = check("1000000001", env, monkeypatch, capsys)
    assert code == 1 and lines["chat page by offset"][0] == "ok"
    state, answer = lines["chat page by cursor"]
    assert state == "FAIL" and "failed integrity check" in answer and "HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT" in answer


def test_a_refused_playlist_fails_the_usher_line(twitch: TwitchDouble, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = check(SUB_ONLY, twitch.env(), monkeypatch, capsys)
    assert code == 1 and lines["playback token"][0] == "ok"
    state, answer = lines["usher playlist"]
    assert state == "FAIL" and answer.startswith("HTTP 403: vod_manifest_restricted") and "subscribers only" in answer


def test_helix_is_checked_when_credentials_are_set(hls_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with HelixDouble() as helix:
        helix.add_user("synthstreamer", display_name="SynthStreamer")
        video = helix.add_vod("synthstreamer", title="Synthetic stream")
        catalogue = {**default_catalogue(200), video["id"]: FakeVod(video["id"], comments=make_comments(30, 60))}
        with TwitchDouble(hls_root, catalogue) as twitch:
            code, lines, _ = check(video["id"], {**twitch.env(), **helix.env()}, monkeypatch, capsys)
    assert code == 0 and lines["helix video"] == ("ok", "ok: “Synthetic stream” by synthstreamer")
    assert lines["chat page by cursor"][0] == "--"  # 30 comments fit on the first page


def test_offline_it_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"HIGHLIGHTS_TWITCH_GQL_URL": f"http://127.0.0.1:{port}/gql", "HIGHLIGHTS_TWITCH_USHER_URL": f"http://127.0.0.1:{port}"}
    assert run_highlights(["twitch", "check"], env, monkeypatch) == 1
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and out.out.startswith("offline: Twitch did not answer (") and out.err == ""
