"""The Helix facade (``storage.twitch.helix``) through real twitchAPI and aiohttp against a local Helix double.

Also the viewer-clip labels (``storage.twitch.viewer_clips``) and ``highlights twitch-clips``. No
request leaves 127.0.0.1; faults (500s, an HTML 502, 429 with a reset time, a slow answer, a cursor
that never ends, revoked tokens, a wrong secret) come from the double.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from highlights import cmd_viewer_clips
from storage.errors import StorageError
from storage.twitch import (
    Helix,
    HelixSettings,
    LiveStream,
    TwitchApiError,
    TwitchAuthFailed,
    TwitchCredentialsMissing,
    TwitchUnavailable,
    TwitchVideo,
    still_recording,
)
from storage.twitch.records import parse_duration
from storage.twitch.viewer_clips import (
    ViewerClipsFileError,
    VodNotFound,
    fetch_viewer_clips,
    load_viewer_clips,
    save_viewer_clips,
)
from tests.helix_double import CLIENT_SECRET, HelixDouble


@pytest.fixture
def double() -> Iterator[HelixDouble]:
    with HelixDouble() as d:
        d.add_user("Streamer", display_name="StreamerTV")
        yield d


def make_helix(double: HelixDouble, **options: object) -> Helix:
    opts: dict[str, object] = {"backoff_s": 0.01, "attempts": 3, "timeout_s": 5.0, "max_wait_s": 3.0}
    opts.update(options)
    return Helix.from_env(double.env(), **opts)


@pytest.fixture
def helix(double: HelixDouble) -> Helix:
    return make_helix(double)


def uid(double: HelixDouble, login: str = "streamer") -> str:
    return str(double.users[login]["id"])


# -- credentials -------------------------------------------------------------------------------------------
def test_missing_credentials_name_the_variables_to_set() -> None:
    with pytest.raises(TwitchCredentialsMissing) as both:
        HelixSettings.from_env({})
    assert "TWITCH_CLIENT_ID" in str(both.value) and "TWITCH_CLIENT_SECRET" in str(both.value)
    assert isinstance(both.value, StorageError) and not both.value.retryable
    with pytest.raises(TwitchCredentialsMissing) as secret_only:
        HelixSettings.from_env({"TWITCH_CLIENT_ID": "abc", "TWITCH_CLIENT_SECRET": "  "})
    assert "TWITCH_CLIENT_SECRET" in str(secret_only.value) and "TWITCH_CLIENT_ID and" not in str(secret_only.value)


def test_settings_default_to_twitch_and_hide_the_secret() -> None:
    s = HelixSettings.from_env({"TWITCH_CLIENT_ID": "abc", "TWITCH_CLIENT_SECRET": "hush"})
    assert s.helix_url == "https://api.twitch.tv/helix" and s.auth_url == "https://id.twitch.tv/oauth2"
    assert "hush" not in repr(s)


async def test_wrong_secret_fails_at_once_without_leaking_it(double: HelixDouble) -> None:
    env = {**double.env(), "TWITCH_CLIENT_SECRET": "not-the-secret"}
    helix = Helix.from_env(env, backoff_s=0.01)
    with pytest.raises(TwitchAuthFailed) as err:
        await helix.user_by_login("streamer")
    assert "TWITCH_CLIENT_SECRET" in str(err.value) and "403" in str(err.value)
    assert "not-the-secret" not in str(err.value) and CLIENT_SECRET not in str(err.value)
    assert not err.value.retryable
    assert double.hits["/oauth2/token"] == 1  # refused credentials are not retried
    assert double.hits["/helix/users"] == 0


async def test_a_revoked_token_is_replaced_once(double: HelixDouble, helix: Helix) -> None:
    assert await helix.user_by_login("streamer") is not None
    token_request = [q for m, p, q in double.requests if p == "/oauth2/token"][0]
    assert token_request["grant_type"] == ["client_credentials"]
    assert not any("client_secret" in url or CLIENT_SECRET in url for url in double.urls)  # sent in the body
    double.revoke_tokens()
    user = await helix.user_by_login("streamer")
    assert user is not None and user.display_name == "StreamerTV"
    assert double.hits["/oauth2/token"] == 2
    assert double.hits["/helix/users"] == 3  # ok, 401, ok after the new token


async def test_token_endpoint_outage_is_retried(double: HelixDouble, helix: Helix) -> None:
    double.fail("/oauth2/token", 500, times=2)
    assert await helix.user_by_login("streamer") is not None
    assert double.hits["/oauth2/token"] == 3


# -- users, videos, streams --------------------------------------------------------------------------------
async def test_user_by_login(double: HelixDouble, helix: Helix) -> None:
    user = await helix.user_by_login("@STREAMER")
    assert user is not None
    assert (user.id, user.login, user.display_name) == (uid(double), "streamer", "StreamerTV")
    assert await helix.user_by_login("nobody_here") is None
    before = double.hits["/helix/users"]
    assert await helix.user_by_login("not a login!") is None
    assert double.hits["/helix/users"] == before  # refused before any request


async def test_video_by_id_and_missing_vod(double: HelixDouble, helix: Helix) -> None:
    created = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    vod = double.add_vod("streamer", created_at=created, duration_s=3723, title="Finals", muted=[(600, 360)])
    got = await helix.video(vod["id"])
    assert isinstance(got, TwitchVideo)
    assert (got.id, got.user_id, got.user_login, got.title, got.type) == (vod["id"], uid(double), "streamer",
                                                                          "Finals", "archive")
    assert got.created_at == created and got.duration_s == 3723.0
    assert got.ended_at == created + timedelta(seconds=3723)
    assert [(m.offset_s, m.duration_s) for m in got.muted_segments] == [(600.0, 360.0)]
    assert await helix.video(f"v{vod['id']}") == got
    assert await helix.video("1999999999") is None  # Helix answers 404
    before = double.hits["/helix/videos"]
    assert await helix.video("not-an-id") is None
    assert double.hits["/helix/videos"] == before


async def test_newest_archive_ignores_highlights_and_uploads(double: HelixDouble, helix: Helix) -> None:
    assert await helix.newest_archive(uid(double)) is None
    now = datetime.now(UTC)
    old = double.add_vod("streamer", created_at=now - timedelta(days=2))
    new = double.add_vod("streamer", created_at=now - timedelta(days=1))
    double.add_vod("streamer", created_at=now - timedelta(hours=1), type="highlight")
    double.add_vod("streamer", created_at=now - timedelta(hours=2), type="upload")
    got = await helix.newest_archive(uid(double))
    assert got is not None and got.id == new["id"] != old["id"]
    assert (await helix.newest_archive_of("Streamer")) == got
    assert await helix.newest_archive_of("nobody_here") is None
    _, query = [(p, q) for _, p, q in double.requests if p == "/helix/videos"][-1]
    assert query["type"] == ["archive"] and query["first"] == ["1"]


async def test_a_vod_still_being_recorded_is_recognised(double: HelixDouble, helix: Helix) -> None:
    finished = double.add_vod("streamer")
    stream, live_vod = double.go_live("streamer")
    assert live_vod is not None
    newest = await helix.newest_archive(uid(double))
    assert newest is not None and newest.id == live_vod["id"] and newest.stream_id == stream["id"]
    assert await helix.is_recording(newest)
    live = await helix.live_stream(uid(double))
    assert live is not None and live.id == stream["id"]
    old = await helix.video(finished["id"])
    assert old is not None and not await helix.is_recording(old)
    double.end_live("streamer")
    assert await helix.live_stream(uid(double)) is None
    assert not await helix.is_recording(newest)


async def test_live_before_its_archive_exists(double: HelixDouble, helix: Helix) -> None:
    finished = double.add_vod("streamer")
    double.go_live("streamer", archive=False)
    newest = await helix.newest_archive(uid(double))
    assert newest is not None and newest.id == finished["id"]
    assert not await helix.is_recording(newest)  # the previous broadcast is finished


def test_still_recording_without_stream_ids() -> None:
    start = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    vod = TwitchVideo(id="1", user_id="9", user_login="s", title="", created_at=start + timedelta(seconds=3),
                      duration_s=60.0, type="archive")
    assert still_recording(vod, LiveStream(id="", user_id="9", user_login="s", started_at=start))
    later = LiveStream(id="", user_id="9", user_login="s", started_at=start + timedelta(hours=3))
    assert not still_recording(vod, later)
    assert not still_recording(vod, None)
    other = LiveStream(id="", user_id="8", user_login="t", started_at=start)
    assert not still_recording(vod, other)


@pytest.mark.parametrize(("text", "seconds"), [("1h2m3s", 3723.0), ("45m", 2700.0), ("59s", 59.0), ("3h0m0s", 10800.0),
                                               ("2h", 7200.0), ("", None), (None, None), ("abc", None), ("1h2x", None)])
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


# -- clips -------------------------------------------------------------------------------------------------
async def test_clips_of_a_vod_are_paginated_filtered_and_ordered(double: HelixDouble, helix: Helix) -> None:
    vod = double.add_vod("streamer", duration_s=4 * 3600)
    other = double.add_vod("streamer", created_at=datetime.now(UTC) - timedelta(days=3))
    for i in range(230):
        double.add_clip(vod["id"], offset_s=(229 - i) * 60.0, duration_s=25.0 + i % 5, views=i, title=f"c{i}")
    double.add_clip(other["id"], offset_s=10.0, views=10_000, created_at=datetime.now(UTC) - timedelta(hours=2))
    double.add_clip(vod["id"], offset_s=None, views=5_000)  # Twitch does not know its offset: not a label
    video = await helix.video(vod["id"])
    assert video is not None
    clips = await helix.clips_of_video(video)
    assert len(clips) == 230
    assert {c.video_id for c in clips} == {vod["id"]}
    assert [c.offset_s for c in clips] == sorted(c.offset_s for c in clips)
    first = clips[0]
    assert (first.offset_s, first.views, first.title, first.duration_s) == (0.0, 229, "c229", 29.0)
    assert first.url.startswith("https://clips.twitch.tv/")
    assert double.hits["/helix/clips"] == 3  # 232 clips in the window, 100 a page
    _, query = [(p, q) for _, p, q in double.requests if p == "/helix/clips"][0]
    assert query["broadcaster_id"] == [uid(double)] and query["first"] == ["100"]
    assert datetime.fromisoformat(query["started_at"][0]) <= video.created_at


async def test_a_clip_cursor_that_never_ends_is_cut_off(double: HelixDouble, helix: Helix) -> None:
    vod = double.add_vod("streamer")
    for i in range(3):
        double.add_clip(vod["id"], offset_s=i * 100.0, views=i)
    double.endless_clip_cursor = True
    video = await helix.video(vod["id"])
    assert video is not None
    clips = await helix.clips_of_video(video, max_scanned=30)
    assert len(clips) == 3
    assert double.hits["/helix/clips"] == 10


# -- faults ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried_then_answered(double: HelixDouble, helix: Helix, status: int) -> None:
    vod = double.add_vod("streamer")
    double.fail("/helix/videos", status, times=2)
    got = await helix.video(vod["id"])
    assert got is not None and got.id == vod["id"]
    assert double.hits["/helix/videos"] == 3
    gc.collect()  # a refused answer that kept its connection would be reported (at ERROR) here


async def test_server_errors_that_persist_become_one_clear_error(double: HelixDouble) -> None:
    helix = make_helix(double, attempts=4)
    vod = double.add_vod("streamer")
    double.fail("/helix/videos", 500, times=None)
    with pytest.raises(TwitchUnavailable) as err:
        await helix.video(vod["id"])
    assert err.value.retryable and "after 4 attempt(s)" in str(err.value) and "500" in str(err.value)
    assert double.hits["/helix/videos"] == 4


async def test_an_html_502_is_a_fault_not_an_empty_answer(double: HelixDouble, helix: Helix) -> None:
    double.fail("/helix/users", 502, times=1, body="<html>Bad Gateway</html>", content_type="text/html")
    user = await helix.user_by_login("streamer")
    assert user is not None  # not "no such user"
    assert double.hits["/helix/users"] == 2


async def test_rate_limit_waits_for_the_reset(double: HelixDouble, helix: Helix) -> None:
    import time

    double.fail("/helix/streams", 429, times=1, headers={"Ratelimit-Reset": str(int(time.time()))},
                body={"error": "Too Many Requests", "status": 429, "message": "slow down"})  # type: ignore[arg-type]
    assert await helix.live_stream(uid(double)) is None
    assert double.hits["/helix/streams"] == 2


async def test_a_slow_answer_times_out_and_is_retried(double: HelixDouble) -> None:
    helix = make_helix(double, attempts=2, timeout_s=0.3)
    double.fail("/helix/users", 200, times=1, delay_s=1.0)
    assert await helix.user_by_login("streamer") is not None
    double.fail("/helix/users", 200, times=2, delay_s=1.0)
    with pytest.raises(TwitchUnavailable, match="TimeoutError"):
        await helix.user_by_login("streamer")


async def test_a_refused_request_is_not_retried(double: HelixDouble, helix: Helix) -> None:
    double.fail("/helix/videos", 400, times=None,
                body='{"error": "Bad Request", "status": 400, "message": "Malformed query params."}')
    with pytest.raises(TwitchApiError) as err:
        await helix.newest_archive(uid(double))
    assert not err.value.retryable and "Malformed query params" in str(err.value)
    assert double.hits["/helix/videos"] == 1


async def test_nothing_listening_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"TWITCH_CLIENT_ID": "a", "TWITCH_CLIENT_SECRET": "b", "HIGHLIGHTS_HELIX_URL": f"http://127.0.0.1:{port}/helix",
           "HIGHLIGHTS_TWITCH_AUTH_URL": f"http://127.0.0.1:{port}/oauth2"}
    helix = Helix.from_env(env, backoff_s=0.01, attempts=2)
    with pytest.raises(TwitchUnavailable, match="ClientConnectorError|Cannot connect"):
        await helix.user_by_login("streamer")


# -- viewer clips as weak labels ----------------------------------------------------------------------------
async def test_viewer_clips_round_trip(double: HelixDouble, helix: Helix, tmp_path: Path) -> None:
    vod = double.add_vod("streamer", duration_s=7200)
    double.add_clip(vod["id"], offset_s=3600, duration_s=30, views=50, title="the play")
    double.add_clip(vod["id"], offset_s=120, duration_s=20.5, views=7, title="früh")
    labels = await fetch_viewer_clips(helix, vod["id"])
    path = save_viewer_clips(tmp_path / "sub" / "clips.json", labels)
    back = load_viewer_clips(path)
    assert back.vod_id == vod["id"] and back.total_views == 57
    assert [(c.offset_s, c.end_s, c.views, c.title) for c in back.clips] == [(120.0, 140.5, 7, "früh"),
                                                                            (3600.0, 3630.0, 50, "the play")]
    assert back.clips == labels.clips
    assert not list(path.parent.glob(".*partial"))
    with pytest.raises(VodNotFound, match="1999999999"):
        await fetch_viewer_clips(helix, "1999999999")


def test_viewer_clip_files_that_cannot_be_read(tmp_path: Path) -> None:
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"offset_s": 5, "duration_s": 30, "views": 2}]))
    assert load_viewer_clips(bare).clips[0].end_s == 35.0
    cases = {"missing.json": None, "text.json": "not json", "other.json": json.dumps({"format": "else", "clips": []}),
             "neg.json": json.dumps({"clips": [{"offset_s": -1, "duration_s": 3, "views": 1}]}),
             "shape.json": json.dumps({"clips": {"a": 1}}), "item.json": json.dumps({"clips": [3]})}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(ViewerClipsFileError) as err:
            load_viewer_clips(tmp_path / name)
        assert name in str(err.value)


def test_twitch_clips_command(double: HelixDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in double.env().items():
        monkeypatch.setenv(key, value)
    vod = double.add_vod("streamer")
    double.add_clip(vod["id"], offset_s=60, views=3)
    parser = argparse.ArgumentParser(prog="highlights")
    cmd_viewer_clips.add_parser(parser.add_subparsers())
    out = tmp_path / "labels.json"
    args = parser.parse_args(["twitch-clips", f"https://www.twitch.tv/videos/{vod['id']}?t=1h", "--out", str(out)])
    assert args.func(args) == 0
    assert "1 viewer clip(s)" in capsys.readouterr().out
    assert load_viewer_clips(out).clips[0].offset_s == 60.0
    missing = parser.parse_args(["twitch-clips", "1999999999", "--out", str(tmp_path / "x.json")])
    with pytest.raises(VodNotFound):
        missing.func(missing)
    monkeypatch.delenv("TWITCH_CLIENT_SECRET")
    with pytest.raises(TwitchCredentialsMissing):
        args.func(args)
