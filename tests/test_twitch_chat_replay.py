"""Chat replay download against the strict Twitch double: pagination, client ids, refusals, faults, abort.

The double serves 3000 generated comments (100 per page, so 30 pages; emotes as fragments, badges,
display names differing from logins, a few deleted commenters) and refuses cursor pages to the web
client id ("failed integrity check") and unknown persisted queries. The file written must be
TwitchDownloader JSON that ``load_chat`` reads back as exactly what the double served, and no
failure may leave a file (or a temporary one) behind. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.errors import Cancelled
from detector.sources.chat import load_chat
from detector.sources.twitch import ChatRefused, DownloadError, GqlClient, RetryPolicy, VodUnavailable, download_chat
from detector.sources.twitch.chat_replay import comment_record
from detector.sources.twitch.endpoints import ANDROID_CLIENT_ID, WEB_CLIENT_ID
from highlights.doubles.twitch import MISSING, NORMAL, RECORDING, TwitchDouble
from tests.cli_runner import run_highlights

FAST = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=3.0, retry_after_max_s=0.02)
COMMENTS = "gql:VideoCommentsByOffsetOrCursor"


@pytest.fixture
def twitch(tmp_path_factory: pytest.TempPathFactory):
    with TwitchDouble(tmp_path_factory.mktemp("empty-site")) as double:
        yield double


def _client(twitch: TwitchDouble, policy: RetryPolicy = FAST, **env: str) -> GqlClient:
    return GqlClient.from_env({**twitch.env(), **env}, policy=policy)


def _served(twitch: TwitchDouble, vod_id: str) -> list[tuple[float, str, str, tuple[str, ...]]]:
    """What the double holds, as ``(offset, text, login, emotes)``; deleted commenters left out."""
    return [(float(c["contentOffsetSeconds"]), "".join(f["text"] for f in c["message"]["fragments"]),
             c["commenter"]["login"], tuple(f["text"] for f in c["message"]["fragments"] if f["emote"]))
            for c in twitch.catalogue[vod_id].comments if c["commenter"]]


def _read_back(path: Path) -> list[tuple[float, str, str | None, tuple[str, ...]]]:
    log = load_chat(path)
    assert log.format == "twitchdownloader-json" and not log.warnings
    return [(m.offset_s, m.text, m.author, m.emotes) for m in log.messages]


def test_the_whole_chat_is_paged_and_reads_back_as_served(twitch: TwitchDouble, tmp_path: Path) -> None:
    seen: list[tuple[str, float, float | None]] = []
    replay = download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch), progress=lambda *a: seen.append(a))
    served = _served(twitch, NORMAL)
    assert replay.comments == len(served) == 3000 - 12 and replay.skipped == 12 and replay.pages == 30
    assert _read_back(replay.path) == served
    ops = twitch.operations("VideoCommentsByOffsetOrCursor")
    assert {op["_client_id"] for op in ops} == {ANDROID_CLIENT_ID}  # TwitchDownloader's chat client id
    asks = [op["variables"] for op in ops]
    assert asks[0] == {"videoID": NORMAL, "contentOffsetSeconds": 0}
    assert all(set(a) == {"videoID", "cursor"} for a in asks[1:]) and len({a["cursor"] for a in asks[1:]}) == 29
    assert twitch.hits[COMMENTS] == 30
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and seen[-1] == ("download chat", 60.0, 60.0) and len(seen) > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.json"]


def test_the_file_is_twitchdownloader_json(twitch: TwitchDouble, tmp_path: Path) -> None:
    path = download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch)).path
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert list(doc) == ["FileInfo", "streamer", "video", "comments", "embeddedData"]
    assert doc["streamer"] == {"name": "SynthStreamer", "id": 1000}
    assert doc["video"]["id"] == NORMAL and doc["video"]["length"] == 60.0 and doc["video"]["game"] == "Just Chatting"
    served = {c["id"]: c for c in twitch.catalogue[NORMAL].comments}
    for comment in doc["comments"]:
        node = served[comment["_id"]]
        assert comment["content_offset_seconds"] == node["contentOffsetSeconds"]
        assert comment["commenter"]["display_name"] == node["commenter"]["displayName"].strip()
        assert comment["commenter"]["name"] == node["commenter"]["login"]
        assert comment["message"]["user_badges"] == [{"_id": b["setID"], "version": b["version"]}
                                                     for b in node["message"]["userBadges"]]
        assert comment["channel_id"] == "1000" and comment["content_id"] == NORMAL
    assert any(c["commenter"]["display_name"] != c["commenter"]["name"] for c in doc["comments"])
    assert any(len(c["message"]["user_badges"]) == 2 for c in doc["comments"])


def test_comment_record_fragments_emoticons_and_bits() -> None:
    node = {"id": "abc", "createdAt": "2024-05-01T12:00:05Z", "contentOffsetSeconds": 5,
            "commenter": {"id": "7", "login": "someone", "displayName": " SomeOne "},
            "message": {"fragments": [{"text": "Cheer100 hi ", "emote": None},
                                      {"text": "Kappa", "emote": {"emoteID": "25", "from": 12}},
                                      {"text": " cheer50", "emote": None}],
                        "userBadges": [{"setID": "bits", "version": "100"}, {"setID": "", "version": ""}],
                        "userColor": "#FF0000"}}
    record = comment_record(node, "1000000001", "1000")
    assert record is not None
    assert record["commenter"] == {"display_name": "SomeOne", "_id": "7", "name": "someone", "bio": None, "logo": None}
    message = record["message"]
    assert message["body"] == "Cheer100 hi Kappa cheer50" and message["bits_spent"] == 150
    assert message["fragments"][1] == {"text": "Kappa", "emoticon": {"emoticon_id": "25"}}
    assert message["emoticons"] == [{"_id": "25", "begin": 12, "end": 16}]
    assert message["user_badges"] == [{"_id": "bits", "version": "100"}] and message["user_color"] == "#FF0000"
    assert comment_record({**node, "commenter": None}, "1", "1") is None


def test_a_page_that_repeats_its_cursor_once_is_asked_again(twitch: TwitchDouble, tmp_path: Path) -> None:
    twitch.faults[COMMENTS] = ["", "", "repeat", "repeat"]
    replay = download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch))
    assert twitch.hits[COMMENTS] == 32 and replay.pages == 30
    assert _read_back(replay.path) == _served(twitch, NORMAL)


def test_a_cursor_that_keeps_repeating_ends_in_a_clear_error_and_keeps_nothing(twitch: TwitchDouble,
                                                                                 tmp_path: Path) -> None:
    twitch.faults[COMMENTS] = ["", ""]
    twitch.always[COMMENTS] = "repeat"
    with pytest.raises(DownloadError, match=rf"chat replay of VOD {NORMAL} keeps answering the same page"):
        download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch))
    assert twitch.hits[COMMENTS] == 2 + 3
    assert list(tmp_path.iterdir()) == []


def test_server_errors_timeouts_and_rate_limits_are_retried(twitch: TwitchDouble, tmp_path: Path) -> None:
    twitch.slow_s = 5.0  # the client gives up after timeout_s; the other answers come well within it
    twitch.faults[COMMENTS] = ["", "500", "429", "", "gql-error", "slow", "", "truncate"]
    policy = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.02, timeout_s=1.5, retry_after_max_s=0.02)
    replay = download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch, policy))
    assert twitch.hits[COMMENTS] == 30 + 5
    assert _read_back(replay.path) == _served(twitch, NORMAL)


def test_a_failure_midway_keeps_the_old_file_and_no_partial_one(twitch: TwitchDouble, tmp_path: Path) -> None:
    out = tmp_path / "chat.json"
    out.write_text("previous download", encoding="utf-8")
    twitch.faults[COMMENTS] = ["", "", "", ""]
    twitch.always[COMMENTS] = "503"
    with pytest.raises(DownloadError, match=r"VideoCommentsByOffsetOrCursor \(VOD 1000000001, cursor .*"
                                            r"failed after 3 tries: .*HTTP 503"):
        download_chat(NORMAL, out, client=_client(twitch))
    assert out.read_text(encoding="utf-8") == "previous download"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.json"]


def test_abort_stops_the_download_and_keeps_nothing(twitch: TwitchDouble, tmp_path: Path) -> None:
    seen: list[float] = []
    with pytest.raises(Cancelled):
        download_chat(NORMAL, tmp_path / "sub" / "chat.json", client=_client(twitch),
                      progress=lambda s, d, t: seen.append(d), abort=lambda: len(seen) >= 3)
    assert twitch.hits[COMMENTS] == 3
    assert list((tmp_path / "sub").iterdir()) == []


def test_the_web_client_id_is_refused_cursor_pages_and_the_refusal_says_so(twitch: TwitchDouble,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "chat.json"
    with pytest.raises(ChatRefused, match="failed integrity check") as err:
        download_chat(NORMAL, out, client=_client(twitch, HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT=WEB_CLIENT_ID))
    assert err.value.reason == "failed integrity check" and err.value.code == "chat_refused"
    assert "HIGHLIGHTS_TWITCH_CLIENT_ID_CHAT" in str(err.value)
    assert twitch.hits[COMMENTS] == 2  # the first page (by offset) came; the cursor page is refused, not retried
    assert list(tmp_path.iterdir()) == []


def test_a_retired_comments_query_is_refused_with_twitchs_words(twitch: TwitchDouble, tmp_path: Path) -> None:
    twitch.retire("VideoCommentsByOffsetOrCursor")
    with pytest.raises(ChatRefused, match="PersistedQueryNotFound") as err:
        download_chat(NORMAL, tmp_path / "chat.json", client=_client(twitch))
    assert err.value.reason == "PersistedQueryNotFound" and twitch.hits[COMMENTS] == 1
    assert list(tmp_path.iterdir()) == []


def test_a_missing_vod_has_no_chat_and_asks_no_page(twitch: TwitchDouble, tmp_path: Path) -> None:
    with pytest.raises(VodUnavailable, match=f"no VOD {MISSING}"):
        download_chat(MISSING, tmp_path / "chat.json", client=_client(twitch))
    assert not twitch.hits[COMMENTS] and list(tmp_path.iterdir()) == []


def test_a_recording_vods_chat_so_far_is_downloaded(twitch: TwitchDouble, tmp_path: Path) -> None:
    replay = download_chat(RECORDING, tmp_path / "chat.json", client=_client(twitch))
    assert replay.meta.is_recording and replay.pages == 1 and replay.comments == 50
    assert _read_back(replay.path) == _served(twitch, RECORDING)


def test_cli_chat(twitch: TwitchDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chat.json"
    assert run_highlights(["twitch", "chat", f"twitch.tv/videos/{NORMAL}", "--out", str(out), "-q"], twitch.env(), monkeypatch) == 0
    assert f"wrote 2988 comments (30 pages) of VOD {NORMAL}" in capsys.readouterr().out
    assert len(load_chat(out).messages) == 2988
    assert run_highlights(["twitch", "chat", MISSING, "--out", str(tmp_path / "x.json")], twitch.env(), monkeypatch) == 2
    assert capsys.readouterr().err.startswith("error: Twitch has no VOD")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.json"]
