"""Chat log parsers (detector.sources.chat): every format from sample files, and every error case."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.errors import ChatFormatError
from detector.records import ChatLog
from detector.sources.chat import FORMATS, load_chat, parse_chat_bytes
from detector.sources.chat.collect import MAX_TEXT_CHARS
from detector.sources.chat.decode import inflate_if_gzip

DATA = Path(__file__).parent / "data" / "chat"
DEV_CHAT = Path(__file__).resolve().parents[2] / "shared/eval/lol-worlds-2019-dev/chat/102844212429092040.jsonl"


def offsets(chat: ChatLog) -> list[float]:
    return [m.offset_s for m in chat.messages]


def authors(chat: ChatLog) -> list[str | None]:
    return [m.author for m in chat.messages]


def texts(chat: ChatLog) -> list[str]:
    return [m.text for m in chat.messages]


def assert_valid(chat: ChatLog) -> None:
    assert chat.format in FORMATS
    assert chat.messages
    values = offsets(chat)
    assert values == sorted(values)
    assert all(math.isfinite(v) and v >= 0 for v in values)


# --- every format from its sample --------------------------------------------------------------


def test_twitchdownloader_json() -> None:
    chat = load_chat(DATA / "twitchdownloader.json")
    assert_valid(chat)
    assert chat.format == "twitchdownloader-json"
    assert chat.source == str(DATA / "twitchdownloader.json")
    assert offsets(chat) == [12.5, 63.0, 64.25, 120.0]
    assert authors(chat) == ["alice_tv", "bob", "Carol", None]
    assert texts(chat)[0] == "hello chat Kappa"
    assert texts(chat)[2] == "LUL no body field here"  # joined from fragments
    assert [m.emotes for m in chat.messages] == [("Kappa",), ("PogChamp", "PogChamp"), ("LUL",), ()]
    assert chat.warnings == ()
    assert chat.has_authors


def test_gzip_is_detected_by_magic_bytes_not_extension(tmp_path: Path) -> None:
    plain = load_chat(DATA / "twitchdownloader.json")
    packed = tmp_path / "chat.txt"
    packed.write_bytes(gzip.compress((DATA / "twitchdownloader.json").read_bytes()))
    chat = load_chat(packed)
    assert chat.format == plain.format
    assert chat.messages == plain.messages
    jsonl = gzip.compress((DATA / "simple.jsonl").read_bytes())
    assert parse_chat_bytes(jsonl).format == "jsonl"


def test_chat_downloader_json_current_format() -> None:
    chat = load_chat(DATA / "chat_downloader.json")
    assert_valid(chat)
    assert chat.format == "chat-downloader-json"
    assert offsets(chat) == [4.75, 3725.5]  # the pre-stream (negative) message is dropped
    assert authors(chat) == ["dave", "Frank"]
    assert chat.messages[0].emotes == ("Kappa",)
    assert any("negative offsets" in w for w in chat.warnings)
    assert any("not chat messages" in w for w in chat.warnings)  # the subscription item


def test_chat_downloader_json_old_format_with_time_text() -> None:
    chat = load_chat(DATA / "chat_downloader_old.json")
    assert chat.format == "chat-downloader-json"
    assert offsets(chat) == [5.0, 65.0, 3723.0]
    assert authors(chat) == ["gina", "hank", "ivan"]


def test_chat_downloader_live_timestamps_use_vod_start() -> None:
    start = datetime.fromtimestamp(1571000000, tz=UTC)
    chat = load_chat(DATA / "chat_downloader_live.json", vod_start=start)
    assert offsets(chat) == [10.0, 12.5]
    assert chat.warnings == ()
    naive = load_chat(DATA / "chat_downloader_live.json", vod_start=start.replace(tzinfo=None))
    assert offsets(naive) == [10.0, 12.5]  # a naive vod_start counts as UTC for UNIX times
    unknown = load_chat(DATA / "chat_downloader_live.json")
    assert offsets(unknown) == [0.0, 2.5]
    assert any("no VOD start time" in w for w in unknown.warnings)


def test_chat_downloader_json_lines() -> None:
    chat = load_chat(DATA / "chat_downloader.jsonl")
    assert chat.format == "chat-downloader-jsonl"
    assert offsets(chat) == [1.5, 3.0]
    assert chat.messages[1].emotes == ("Kappa",)


def test_simple_jsonl() -> None:
    chat = load_chat(DATA / "simple.jsonl")
    assert_valid(chat)
    assert chat.format == "jsonl"
    assert offsets(chat) == [10.0, 10.5, 11.25, 12.0]
    assert authors(chat) == ["nina", None, None, "oscar"]
    assert chat.messages[3].emotes == ("KEKW",)
    assert chat.warnings == ()


def test_single_jsonl_line_is_a_log() -> None:
    chat = parse_chat_bytes(b'{"offset": 3, "message": "only one"}')
    assert chat.format == "jsonl"
    assert texts(chat) == ["only one"]


def test_irc_with_dates_and_vod_start() -> None:
    chat = load_chat(DATA / "irc_dated.log", vod_start=datetime(2019, 10, 12, 14, 0, 0))
    assert_valid(chat)
    assert chat.format == "irc-log"
    assert offsets(chat) == [185.0, 187.0, 240.0]
    assert authors(chat) == ["riotmod", "subfan", "quinn"]  # mode characters @ and + dropped
    assert any("not chat messages" in w for w in chat.warnings)  # the "* paul has joined" line


def test_irc_with_aware_vod_start_reads_times_in_its_zone() -> None:
    zone = timezone(timedelta(hours=2))
    chat = load_chat(DATA / "irc_dated.log", vod_start=datetime(2019, 10, 12, 14, 3, 0, tzinfo=zone))
    assert offsets(chat) == [5.0, 7.0, 60.0]


def test_irc_without_date_uses_vod_start_date() -> None:
    chat = load_chat(DATA / "irc_undated.log", vod_start=datetime(2019, 10, 12, 14, 0, 0))
    assert chat.format == "irc-log"
    assert offsets(chat) == [185.0, 187.0, 240.0]
    assert chat.warnings == ()


def test_irc_without_vod_start_counts_from_first_message_with_warning() -> None:
    chat = load_chat(DATA / "irc_undated.log")
    assert chat.format == "irc-log"
    assert offsets(chat) == [0.0, 2.0, 55.0]
    assert any("no VOD start time" in w and "14:03:05" in w for w in chat.warnings)


def test_irc_midnight_rollover() -> None:
    chat = load_chat(DATA / "irc_midnight.log", vod_start=datetime(2019, 10, 12, 23, 50, 0))
    assert offsets(chat) == [590.0, 598.0, 603.0, 1200.0]
    assert any("midnight" in w for w in chat.warnings)


def test_irc_log_starting_after_midnight_gets_the_next_day() -> None:
    data = b"[00:05:00] <a> just after midnight\n[00:06:00] <b> more\n"
    chat = parse_chat_bytes(data, vod_start=datetime(2019, 10, 12, 23, 55, 0))
    assert offsets(chat) == [600.0, 660.0]


def test_bracket_text_offsets_with_badges() -> None:
    chat = load_chat(DATA / "bracket.txt", vod_start=datetime(2019, 10, 12, 14, 0, 0))
    assert_valid(chat)
    assert chat.format == "bracket-text"  # single-digit hours: offsets even with a vod_start
    assert offsets(chat) == [5.0, 83.0, 84.0, 84.0, 120.0, 3723.0, 3724.0]
    assert authors(chat) == ["alice", "bob_mod", "carl", "dana", "aerger_login", "opname", "eve"]
    assert texts(chat)[1] == "please be nice"
    assert texts(chat)[-1] == ""
    assert chat.warnings == ()


@pytest.mark.parametrize(
    ("data", "vod_start", "fmt", "first"),
    [
        (b"[0:01:00] a: x\n[0:02:00] b: y\n", None, "bracket-text", 60.0),
        (b"[0:01:00] a: x\n[0:02:00] b: y\n", datetime(2020, 1, 1, 0, 0), "bracket-text", 60.0),
        (b"[25:00:00] <a> x\n[26:00:00] <b> y\n", datetime(2020, 1, 1), "bracket-text", 90000.0),
        (b"[09:00:10] a: x\n[09:00:20] b: y\n", datetime(2020, 1, 1, 9, 0), "irc-log", 10.0),
        (b"[09:00:10] a: x\n[09:00:20] b: y\n", None, "irc-log", 0.0),
        (b"[2020-01-01 12:00:10] a: x\n", datetime(2020, 1, 1, 12, 0), "irc-log", 10.0),
        (b"[12:00:10] a: x\n[12:00:20] b: y\n", datetime(2020, 1, 1, 12, 0), "irc-log", 10.0),
        (b"[12:00:10] a: x\n[12:00:20] b: y\n", None, "bracket-text", 43210.0),
        (b"[12:00:10] <a> x\n[12:00:20] <b> y\n", None, "irc-log", 0.0),
    ],
)
def test_wall_clock_or_offset_rule(data: bytes, vod_start: datetime | None, fmt: str, first: float) -> None:
    chat = parse_chat_bytes(data, vod_start=vod_start)
    assert chat.format == fmt
    assert chat.messages[0].offset_s == first


def test_ambiguous_two_digit_hours_warn_when_read_as_offsets() -> None:
    chat = parse_chat_bytes(b"[12:00:10] a: x\n")
    assert any("--vod-start" in w for w in chat.warnings)
    assert not any("vod_start" in w for w in chat.warnings)  # the flag's name, not the code's


def test_wall_clock_warning_names_the_flag_a_user_can_pass() -> None:
    chat = parse_chat_bytes(b"[2019-10-12 14:00:05] <a> x\n[2019-10-12 14:00:07] <b> y\n")
    warning = next(w for w in chat.warnings if "wall-clock" in w)
    assert "--vod-start" in warning and "vod_start" not in warning


def test_plain_lines() -> None:
    chat = load_chat(DATA / "plain.txt")
    assert_valid(chat)
    assert chat.format == "plain-text"
    assert offsets(chat) == [5.0, 83.0, 754.5, 3723.0]
    assert texts(chat) == ["hello there", "LUL", "fractional seconds", "an hour later"]
    assert not chat.has_authors


@pytest.mark.skipif(not DEV_CHAT.exists(), reason="the LoL Worlds 2019 dev set is not available here")
def test_dev_set_jsonl_parses() -> None:
    chat = load_chat(DEV_CHAT)
    assert chat.format == "jsonl"
    assert_valid(chat)
    with DEV_CHAT.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    assert len(chat.messages) == lines
    assert chat.warnings == ()


# --- robustness -----------------------------------------------------------------------------------


def raises(data: bytes, *, match: str, **kwargs: object) -> ChatFormatError:
    with pytest.raises(ChatFormatError, match=match) as info:
        parse_chat_bytes(data, name="sample.log", **kwargs)  # type: ignore[arg-type]
    assert "sample.log" in str(info.value)
    assert info.value.code == "chat_format_error"
    return info.value


def test_unknown_format_names_file_line_and_expectation() -> None:
    error = raises(b"\n\nthis is not a chat log\nnor is this\n", match="unrecognised chat log format")
    assert error.line == 3
    assert error.expected and "TwitchDownloader" in error.expected
    assert "sample.log, line 3" in str(error)


def test_a_few_bad_lines_are_skipped_with_a_warning() -> None:
    good = [f"[0:00:{i:02d}] user{i}: msg {i}" for i in range(10)]
    lines = good[:4] + ["garbage line"] + good[4:] + ["more garbage", "??"]
    chat = parse_chat_bytes("\n".join(lines).encode())
    assert len(chat.messages) == 10
    assert "skipped 3 malformed lines (first: line 5" in " ".join(chat.warnings)


def test_mostly_bad_lines_raise() -> None:
    lines = ["[0:00:01] a: ok"] + [f"junk {i}" for i in range(5)]
    error = raises("\n".join(lines).encode(), match="5 of 6 lines are malformed")
    assert error.line == 2
    assert error.expected


def test_mostly_bad_jsonl_lines_raise_with_line_number() -> None:
    data = b'{"offset": 1, "message": "ok"}\n{"offset": "x", "message": "a"}\n{"offset": 2}\nnot json\n'
    error = raises(data, match="3 of 4 lines are malformed")
    assert error.line == 2
    assert "offset" in str(error)


def test_non_utf8_bytes_are_replaced_with_a_warning() -> None:
    chat = parse_chat_bytes(b"[0:00:01] bob: caf\xe9 \xff\xfe ok\n")
    assert "\ufffd" in chat.messages[0].text
    assert any("not valid UTF-8" in w for w in chat.warnings)


def test_utf16_with_bom_is_decoded() -> None:
    chat = parse_chat_bytes("[0:00:01] bob: ünïcode\n".encode("utf-16"))
    assert texts(chat) == ["ünïcode"]


def test_huge_lines_are_truncated() -> None:
    body = "x" * 10_000_000
    jsonl = json.dumps({"offset": 1.0, "message": body}).encode() + b'\n{"offset": 2, "message": "short"}\n'
    chat = parse_chat_bytes(jsonl)
    assert len(chat.messages[0].text) == MAX_TEXT_CHARS
    assert any("truncated 1 messages" in w for w in chat.warnings)
    text = ("[0:00:01] bob: " + body + "\n[0:00:02] amy: hi\n").encode()
    chat = parse_chat_bytes(text)
    assert [len(t) for t in texts(chat)] == [MAX_TEXT_CHARS, 2]
    garbage = ("y" * 10_000_000 + "\n0:01 fine\n0:02 fine\n").encode()
    chat = parse_chat_bytes(garbage)
    assert texts(chat) == ["fine", "fine"]


def test_negative_offsets_are_dropped_with_a_warning() -> None:
    chat = parse_chat_bytes(b'{"offset": -5, "message": "a"}\n{"offset": 1, "message": "b"}\n')
    assert texts(chat) == ["b"]
    assert any("negative offsets" in w for w in chat.warnings)
    raises(b'{"offset": -5, "message": "a"}\n', match="negative offsets")


def test_unordered_offsets_are_sorted_stably_with_a_warning() -> None:
    data = b"0:05 c\n0:01 a\n0:05 d\n0:03 b\n"
    chat = parse_chat_bytes(data)
    assert texts(chat) == ["a", "b", "c", "d"]
    assert any("sorted" in w for w in chat.warnings)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_inf_offsets_are_malformed(value: str) -> None:
    bad = f'{{"offset": {value}, "message": "bad"}}\n'.encode()
    good = b'{"offset": 1, "message": "good"}\n{"offset": 2, "message": "good"}\n'
    chat = parse_chat_bytes(bad + good)
    assert texts(chat) == ["good", "good"]
    assert any("malformed" in w for w in chat.warnings)
    raises(bad, match="malformed")


def test_offsets_beyond_a_week_are_malformed() -> None:
    raises(b'[{"time_in_seconds": 1e12, "message": "x"}]', match="one-week limit")


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", b'{"comments": []}', b"[]", b"# only a header\n"])
def test_empty_logs_have_no_messages(data: bytes) -> None:
    raises(data, match="no messages")


def test_log_of_only_notices_has_no_messages() -> None:
    raises(b"[14:00:00] * joined\n[14:00:01] * left\n", match="no messages.*notices")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ChatFormatError, match="not found") as info:
        load_chat(tmp_path / "nope.json")
    assert info.value.path == str(tmp_path / "nope.json")
    with pytest.raises(ChatFormatError, match="is a directory"):
        load_chat(tmp_path)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"video": {"id": "1"}}, 'without a "comments" list'),
        ({"comments": {"a": 1}}, '"comments" is an object, not a list'),
        ({"comments": [{"content_offset_seconds": 1, "message": {"body": 5}}]}, "must be a string"),
        ({"comments": [{"content_offset_seconds": "1", "message": {"body": "x"}}]}, "must be a number"),
        ({"comments": [{"content_offset_seconds": 1, "message": "hi"}]}, '"message" must be an object'),
        ({"comments": [{"content_offset_seconds": 1, "message": {}}]}, "neither"),
        (
            {"comments": [{"content_offset_seconds": 1, "message": {"body": "x"}, "commenter": 7}]},
            "commenter",
        ),
        ({"comments": [{"content_offset_seconds": True, "message": {"body": "x"}}]}, "must be a number"),
        ([{"time_in_seconds": 1, "message": 12}], "must be a string"),
        ([{"time_text": "1:xx", "message": "m"}], "not H:MM:SS"),
        ([{"time_text": "1:75", "message": "m"}], "60 or more"),
        ([{"time_in_seconds": 1, "message": "m", "emotes": "Kappa"}], "emotes"),
        ([{"time_in_seconds": 1, "message": "m", "author": ["x"]}], "author"),
        ([1, 2, 3], "not chat messages"),
        ([{"a": 1}], "not chat messages"),
        ("just a string", "unrecognised chat log format"),
        (42, "unrecognised chat log format"),
        (None, "unrecognised chat log format"),
    ],
)
def test_json_of_the_wrong_shape(doc: object, match: str) -> None:
    raises(json.dumps(doc).encode(), match=match)


def test_invalid_json_reports_its_line() -> None:
    data = b'{\n  "comments": [\n    {"content_offset_seconds": 1,\n    oops\n  ]\n}\n'
    error = raises(data, match="not valid JSON")
    assert error.line == 4


def test_deeply_nested_and_oversized_json_is_an_error() -> None:
    raises(b"[" * 200_000 + b"]" * 200_000, match="JSON")
    raises(b'[{"time_in_seconds": ' + b"9" * 5000 + b', "message": "m"}]', match="JSON")


def test_corrupt_and_oversized_gzip() -> None:
    packed = gzip.compress(b'{"offset": 1, "message": "a"}\n' * 1000)
    raises(packed[: len(packed) // 2], match="gzip")
    raises(packed[:4] + b"\x00" * 40, match="gzip")
    with pytest.raises(ChatFormatError, match="too large"):
        inflate_if_gzip(packed, "big.gz", limit=1000)


def test_bracket_line_is_not_mistaken_for_json() -> None:
    chat = parse_chat_bytes(b"[0:00:01] bob: [1, 2]\n[0:00:02] amy: text\n")
    assert chat.format == "bracket-text"
    assert authors(chat) == ["bob", "amy"]
    assert texts(chat)[0] == "[1, 2]"


def test_text_log_with_a_bracketed_header_line() -> None:
    chat = parse_chat_bytes(b"[Log started]\n[0:00:01] amy: hi\n[0:00:02] bob: yo\n")
    assert chat.format == "bracket-text"
    assert authors(chat) == ["amy", "bob"]
    assert any("malformed" in w for w in chat.warnings)
    raises(b"[Log started]\nnothing else\n", match="not valid JSON")


def test_formats_lists_every_format_name() -> None:
    assert set(FORMATS) == {
        "twitchdownloader-json",
        "chat-downloader-json",
        "chat-downloader-jsonl",
        "jsonl",
        "irc-log",
        "bracket-text",
        "plain-text",
        "twitchdownloader-utc-text",
    }
    assert all(isinstance(v, str) and v for v in FORMATS.values())
