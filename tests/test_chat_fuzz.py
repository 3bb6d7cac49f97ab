"""Property tests for the chat log parsers: whatever bytes come in, only a valid ChatLog or a
ChatFormatError comes out (never another exception type)."""

from __future__ import annotations

import gzip
import json
import math
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import ChatFormatError
from detector.records import ChatLog
from detector.sources.chat import FORMATS, parse_chat_bytes
from detector.sources.chat.collect import MAX_EMOTES, MAX_NAME_CHARS, MAX_OFFSET_S, MAX_TEXT_CHARS

DATA = Path(__file__).parent / "data" / "chat"
SAMPLES = sorted(p.read_bytes() for p in DATA.iterdir() if p.is_file())

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "comments",
    "content_offset_seconds",
    "commenter",
    "name",
    "login",
    "display_name",
    "message",
    "body",
    "fragments",
    "text",
    "emoticon",
    "time_in_seconds",
    "time_text",
    "timestamp",
    "author",
    "emotes",
    "offset",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["0:01:02", "-0:05", "1:75", "", "Kappa"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
VOD_STARTS = st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
LINE_TEXT = st.text(alphabet=st.sampled_from(list('0123456789:[]<>@+ -/,.Tab#\n\r\t{}"é')), max_size=300)


def check(data: bytes, vod_start: datetime | None = None) -> ChatLog | None:
    """Parses ``data``; asserts the outcome is a ChatFormatError or a well-formed ChatLog."""
    try:
        chat = parse_chat_bytes(data, name="fuzz.log", vod_start=vod_start)
    except ChatFormatError as exc:
        assert "fuzz.log" in str(exc)
        return None
    assert isinstance(chat, ChatLog)
    assert chat.format in FORMATS
    assert chat.source == "fuzz.log"
    assert chat.messages
    previous = 0.0
    for message in chat.messages:
        assert isinstance(message.offset_s, float)
        assert math.isfinite(message.offset_s)
        assert previous <= message.offset_s <= MAX_OFFSET_S
        previous = message.offset_s
        assert isinstance(message.text, str) and len(message.text) <= MAX_TEXT_CHARS
        assert message.author is None or (isinstance(message.author, str) and 0 < len(message.author))
        assert message.author is None or len(message.author) <= MAX_NAME_CHARS
        assert isinstance(message.emotes, tuple) and len(message.emotes) <= MAX_EMOTES
        assert all(isinstance(e, str) and e for e in message.emotes)
    assert all(isinstance(w, str) for w in chat.warnings)
    return chat


@FUZZ
@given(st.binary(max_size=2000), VOD_STARTS)
def test_arbitrary_bytes(data: bytes, vod_start: datetime | None) -> None:
    check(data, vod_start)


@FUZZ
@given(LINE_TEXT, VOD_STARTS)
def test_line_like_text(text: str, vod_start: datetime | None) -> None:
    check(text.encode("utf-8"), vod_start)


@FUZZ
@given(JSON_VALUES)
def test_arbitrary_json_documents(value: object) -> None:
    check(json.dumps(value).encode())
    check(json.dumps({"comments": value}).encode())


@FUZZ
@given(st.lists(JSON_VALUES, min_size=1, max_size=8), VOD_STARTS)
def test_arbitrary_json_lines(values: list[object], vod_start: datetime | None) -> None:
    check("\n".join(json.dumps(v) for v in values).encode(), vod_start)
    check(json.dumps(values).encode(), vod_start)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(min_value=0, max_value=255))
        elif op == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=40))]
        elif op == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=20) | st.sampled_from([b"\n", b"NaN", b"-1e999"])
            )
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(min_value=1, max_value=200))]
    return bytes(data)


@FUZZ
@given(mutated_samples(), VOD_STARTS)
def test_mutated_samples(data: bytes, vod_start: datetime | None) -> None:
    check(data, vod_start)


@FUZZ
@given(mutated_samples(), st.integers(min_value=0, max_value=400))
def test_mutated_gzip(data: bytes, cut: int) -> None:
    packed = gzip.compress(data)
    check(packed)
    check(packed[: max(len(packed) - cut, 2)])


def test_unmutated_samples_parse() -> None:
    for sample in SAMPLES:
        assert check(sample) is not None
