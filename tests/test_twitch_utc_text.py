"""TwitchDownloader's text export with UTC times (``[yyyy-MM-dd HH:mm:ss UTC] name: message``) read back.

The export's times are when each comment was sent, so offsets need the VOD's start: ``--vod-start`` as a
time, or a JSON file of the VOD (TwitchDownloader's chat JSON, ``highlights twitch info --json``, a yt-dlp
info JSON). A chat replay downloaded from the Twitch double and written out the way TwitchDownloader's
``ChatText.cs`` writes it must read back with the offsets the JSON has.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.errors import ChatFormatError, ConfigError
from detector.sources.chat import load_chat, parse_chat_bytes
from detector.sources.chat.utc_text import read_vod_start
from detector.sources.twitch import GqlClient, RetryPolicy, download_chat
from highlights.doubles.twitch import NORMAL, TwitchDouble
from tests.cli_runner import run_highlights

DATA = Path(__file__).parent / "data" / "chat"
START = datetime(2024, 3, 1, 18, 0, 0)
SAMPLE = ("[2024-03-01 18:00:12 UTC] Alice_TV: hello chat Kappa\r\n"
          "[2024-03-01 18:01:03 UTC] ボブ: PogChamp PogChamp what a play\r\n"
          "[2024-03-01 18:01:03.250 UTC] carol: note: colons stay in the message\r"
          "[2024-03-01 18:02:00 UTC] dave: \n"
          "\n"
          "[2024-03-01 19:59:59 UTC] eve: LUL\n")


def test_the_export_reads_with_the_vods_start() -> None:
    chat = parse_chat_bytes(SAMPLE.encode(), name="utc.txt", vod_start=START)
    assert chat.format == "twitchdownloader-utc-text" and chat.warnings == ()
    assert [(m.offset_s, m.author, m.text) for m in chat.messages] == [
        (12.0, "Alice_TV", "hello chat Kappa"), (63.0, "ボブ", "PogChamp PogChamp what a play"),
        (63.25, "carol", "note: colons stay in the message"), (120.0, "dave", ""), (7199.0, "eve", "LUL")]


def test_a_start_with_a_zone_is_converted_to_utc() -> None:
    start = datetime(2024, 3, 1, 19, 0, 0, tzinfo=timezone(timedelta(hours=1)))  # 18:00 UTC
    chat = parse_chat_bytes(SAMPLE.encode(), name="utc.txt", vod_start=start)
    assert chat.messages[0].offset_s == 12.0


def test_without_a_start_the_first_message_is_zero_and_a_warning_says_what_to_pass() -> None:
    chat = parse_chat_bytes(SAMPLE.encode(), name="utc.txt")
    assert chat.messages[0].offset_s == 0.0 and chat.messages[-1].offset_s == 7187.0
    assert len(chat.warnings) == 1 and "--vod-start" in chat.warnings[0]


def test_messages_before_the_start_are_dropped_and_bad_lines_are_counted() -> None:
    text = SAMPLE + "[2024-03-01 17:59:00 UTC] early: before the VOD\nnot a line of this export\n"
    chat = parse_chat_bytes(text.encode(), name="utc.txt", vod_start=START)
    assert len(chat.messages) == 5
    assert any("negative offsets" in w for w in chat.warnings) and any("malformed" in w for w in chat.warnings)
    with pytest.raises(ChatFormatError, match="malformed"):
        parse_chat_bytes(b"[2024-03-01 18:00:12 UTC] a: b\njunk\nmore junk\n", name="bad.txt", vod_start=START)


def test_the_vods_start_comes_from_a_time_or_its_json(tmp_path: Path) -> None:
    assert read_vod_start("2024-03-01T18:00:00Z") == datetime(2024, 3, 1, 18, tzinfo=UTC)
    assert read_vod_start("2024-03-01T18:00:00") == START
    assert read_vod_start(str(DATA / "twitchdownloader.json")) == datetime(2024, 3, 1, 18, tzinfo=UTC)
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"vod_id": "1", "created_at": "2024-05-01T12:00:00Z"}))
    assert read_vod_start(str(info)) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    ytdlp = tmp_path / "v.info.json"
    ytdlp.write_text(json.dumps({"id": "v1", "timestamp": 1714564800}))
    assert read_vod_start(str(ytdlp)) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    for bad, says in (("yesterday", "neither an ISO 8601 time"), (str(empty), "names no VOD start"),
                      (str(tmp_path / "none.json"), "no such file")):
        with pytest.raises(ConfigError, match=says):
            read_vod_start(bad)


def test_a_downloaded_replay_written_as_the_export_reads_back_with_its_offsets(tmp_path: Path) -> None:
    with TwitchDouble(tmp_path / "site") as twitch:
        client = GqlClient.from_env(twitch.env(), policy=RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=5.0))
        replay = download_chat(NORMAL, tmp_path / "chat.json", client=client)
    doc = json.loads(replay.path.read_text(encoding="utf-8"))
    start = datetime.fromisoformat(doc["video"]["created_at"].replace("Z", "+00:00"))
    lines = []
    for c in doc["comments"]:  # as TwitchDownloader's ChatText.cs writes TimestampFormat.Utc
        sent = start + timedelta(seconds=c["content_offset_seconds"])
        lines.append(f"[{sent:%Y-%m-%d %H:%M:%S} UTC] {c['commenter']['display_name']}: {c['message']['body']}")
    export = tmp_path / "chat.txt"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chat = load_chat(export, vod_start=read_vod_start(str(replay.path)))
    from_json = load_chat(replay.path)
    assert chat.format == "twitchdownloader-utc-text" and not chat.warnings
    assert [(m.offset_s, m.text) for m in chat.messages] == [(m.offset_s, m.text) for m in from_json.messages]
    assert [m.author for m in chat.messages] == [c["commenter"]["display_name"] for c in doc["comments"]]


def test_detect_reads_the_export_with_vod_start_from_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "chat.txt"
    export.write_text(SAMPLE * 3, encoding="utf-8")
    out = tmp_path / "clips.json"
    code = run_highlights(["detect", "--chat", str(export), "--vod-start", str(DATA / "twitchdownloader.json"),
                           "--json", str(out), "--quiet"], {}, monkeypatch)
    assert code == 0, capsys.readouterr().err
    meta = json.loads(out.read_text())["meta"]
    assert meta["chat_format"] == "twitchdownloader-utc-text" and meta["chat_messages"] == 15
    assert run_highlights(["detect", "--chat", str(export), "--vod-start", "soon"], {}, monkeypatch) == 2
    assert capsys.readouterr().err.startswith("error: --vod-start 'soon' is neither")
