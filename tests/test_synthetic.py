"""The synthetic sample generator (known answers, determinism) and the shared test fixtures."""

from __future__ import annotations

import itertools
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from detector.synthetic.audio import make_audio_chunks
from detector.synthetic.vod import SyntheticVod, default_events, make_vod

HYPE = re.compile(r"KEKW|LUL|PogChamp|POGCHAMP|OMEGALUL|CLIP IT|LMAO|\?\?\?\?\?|POGGERS|NO WAY|LETS GOOO|"
                  r"WHAT|OMG|HOLY")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _rate(offsets: np.ndarray, lo: float, hi: float) -> float:
    return float(((offsets >= lo) & (offsets < hi)).sum()) / (hi - lo)


@pytest.mark.parametrize("minutes", [3, 10, 30, 60, 240])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_events_are_spread_out(minutes: int, seed: int) -> None:
    duration = minutes * 60.0
    events = default_events(duration, np.random.default_rng(seed))
    assert len(events) == max(1, round(minutes / 5))
    assert list(events) == sorted(events)
    assert all(min(60.0, duration / 4) <= e <= duration - min(60.0, duration / 4) for e in events)
    assert all(b - a >= 60.0 for a, b in itertools.pairwise(events))


def test_same_seed_same_vod_other_seed_differs(tmp_path: Path) -> None:
    one = make_vod(tmp_path / "a", minutes=20, video=False, audio=False, seed=5)
    two = make_vod(tmp_path / "b", minutes=20, video=False, audio=False, seed=5)
    other = make_vod(tmp_path / "c", minutes=20, video=False, audio=False, seed=6)
    assert one.media_path is None and one.chat_path is not None
    assert (one.events, one.decoys, one.burst_s) == (two.events, two.decoys, two.burst_s)
    assert one.chat_path.read_bytes() == two.chat_path.read_bytes()
    assert one.events != other.events
    first = [np.concatenate(list(make_audio_chunks(25.0, 8000, [5.0], [3.5], seed))) for seed in (3, 3, 4)]
    assert np.array_equal(first[0], first[1]) and not np.array_equal(first[0], first[2])
    assert len(first[0]) == 25 * 8000 and first[0].dtype == np.float32


def test_chat_background_bursts_and_decoys(tmp_path: Path) -> None:
    vod = make_vod(tmp_path, minutes=30, video=False, audio=False, chat_lag_s=15.0, seed=3)
    rows = _jsonl(vod.chat_path)
    assert set(rows[0]) == {"offset", "message", "author"}
    offsets = np.array([r["offset"] for r in rows])
    assert np.all(np.diff(offsets) >= 0) and offsets[0] >= 0 and offsets[-1] < vod.duration_s
    assert len(vod.events) == 6 and len(vod.decoys) == 3
    reactions = [e + vod.chat_lag_s for e in vod.events]
    busy = [(t - 5, t + 20) for t in reactions] + [(d - 5, d + 15) for d in vod.decoys]
    quiet = np.ones(len(rows), dtype=bool)
    for lo, hi in busy:
        quiet &= ~((offsets >= lo) & (offsets < hi))
    background = quiet.sum() / (vod.duration_s - sum(hi - lo for lo, hi in busy))
    assert 1.0 <= background <= 2.0
    assert sum(bool(HYPE.search(r["message"])) for r, q in zip(rows, quiet) if q) < 0.05 * quiet.sum()
    assert len({r["author"] for r in rows}) > 100
    ratios = []
    for t in reactions:
        local = _rate(offsets, t - 35, t - 2)
        ratios.append(_rate(offsets, t, t + 6) / local)
        burst = [r["message"] for r in rows if t <= r["offset"] < t + 8]
        assert sum(bool(HYPE.search(m)) for m in burst) > 0.6 * len(burst)
        assert local < 2.5  # nothing before the lag
    assert min(ratios) >= 2.5 and np.mean(ratios) >= 5.0, ratios  # 5-10x, give or take Poisson noise
    for d in vod.decoys:
        assert all(abs(d - e) > 45 and abs(d - r) > 45 for e, r in zip(vod.events, reactions))
        spam = [r["message"] for r in rows if d <= r["offset"] < d + 10]
        assert _rate(offsets, d, d + 10) >= 2.5 * _rate(offsets, d - 30, d - 2)
        assert not any(HYPE.search(m) for m in spam if m.startswith("!") or m == "1")


def test_twitchdownloader_chat_format(sample_audio_only: SyntheticVod) -> None:
    doc = json.loads(sample_audio_only.chat_path.read_text(encoding="utf-8"))
    assert {"FileInfo", "streamer", "video", "comments"} <= set(doc)
    assert doc["video"]["length"] == 180
    comments = doc["comments"]
    assert len(comments) > 150
    for c in comments:
        assert isinstance(c["content_offset_seconds"], float)
        assert c["commenter"]["display_name"] and c["commenter"]["name"]
        assert "".join(f["text"] for f in c["message"]["fragments"]) == c["message"]["body"]
    marked = {f["text"] for c in comments for f in c["message"]["fragments"] if f["emoticon"]}
    assert marked and marked <= {"Kappa", "LUL", "PogChamp"}


def test_media_flavours(tmp_path: Path) -> None:
    video_only = make_vod(tmp_path, minutes=0.5, events=[10.0], video=True, audio=False, chat=False)
    assert video_only.media_path.suffix == ".mp4" and video_only.chat_path is None
    assert video_only.events == (10.0,) and 3.0 <= video_only.burst_s[0] <= 4.0


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chat format"):
        make_vod(tmp_path, chat_format="irc")
    with pytest.raises(ValueError, match="does not fit"):
        make_vod(tmp_path, minutes=1, events=[50.0], audio=False, video=False)
    with pytest.raises(ValueError, match="does not fit"):
        make_vod(tmp_path, minutes=1, events=[-1.0], audio=False, video=False)


def test_sample_fixtures_match_their_description(sample_vod: SyntheticVod, sample_audio_only: SyntheticVod) -> None:
    assert sample_vod.media_path.suffix == ".mp4" and sample_vod.chat_path.suffix == ".jsonl"
    assert sample_vod.events == (30.0, 85.0, 140.0) and sample_vod.chat_lag_s == 18.0
    assert sample_audio_only.media_path.suffix == ".m4a" and sample_audio_only.chat_path.suffix == ".json"
    assert sample_vod.duration_s == sample_audio_only.duration_s == 180.0


# --- the error-log guard in conftest -----------------------------------------------------------

@pytest.mark.allow_error_logs
def test_marked_test_may_log_errors() -> None:
    logging.getLogger("detector.test").error("expected in this test")


@pytest.mark.allow_error_logs  # the inner run's records reach this process's root logger too
def test_error_log_guard_fails_unmarked_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_guard="""
        import logging
        import pytest

        def test_logs_error():
            logging.getLogger("x").error("boom")

        def test_logs_warning():
            logging.getLogger("x").warning("fine")

        @pytest.mark.allow_error_logs
        def test_allowed():
            logging.getLogger("x").error("allowed")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR x: boom*"])
