"""Result writers: JSON round trip, CSV rows, EDL parse-back, the self-contained HTML report."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from detector.errors import DetectorError
from detector.export import (
    ExportError,
    ResultsFormatError,
    read_json,
    to_json_dict,
    write_csv,
    write_edl,
    write_html_report,
    write_json,
    write_outputs,
)
from detector.export.edl_out import render_edl
from detector.export.html_chart import MAX_POINTS, minmax_downsample
from detector.export.html_report import render_html_report
from detector.export.timefmt import hms, parse_timecode, timecode
from detector.records import Candidate, DetectionResult, Explanation, SignalTrack

HOSTILE = '<script>alert("pwned")</script> & "quotes" <img src=https://evil.example/x.png>'
DURATION = 2 * 3600 + 17 * 60 + 5.5  # 2:17:05


def _track(name: str, hop: float, rng: np.random.Generator, peaks: list[float]) -> SignalTrack:
    n = int(DURATION / hop)
    values = rng.normal(0.0, 0.6, n)
    for p in peaks:
        i = int(p / hop)
        values[i : i + int(8 / hop)] += 5.0 + rng.random() * 3
    values[100:140] = np.nan  # a gap the chart must survive
    return SignalTrack(name=name, hop_s=hop, values=values, features={"raw": values * 2}, meta={"k": 1})


def make_result(mode: str = "both", n: int = 10, *, nan_score: bool = False) -> DetectionResult:
    """A realistic result: tracks of thousands of samples over a 2 h 17 min VOD, ``n`` candidates."""
    rng = np.random.default_rng(7)
    peaks = sorted(rng.uniform(60, DURATION - 120, n).tolist())
    tracks: dict[str, SignalTrack] = {}
    if mode in ("both", "chat"):
        tracks["chat"] = _track("chat", 1.0, rng, peaks)
    if mode in ("both", "audio"):
        tracks["audio"] = _track("audio", 0.5, rng, peaks)
    fused = _track("fused", 1.0, rng, peaks)
    cands = []
    scores = sorted(rng.uniform(1.5, 9.0, n).tolist(), reverse=True)
    for rank, score in enumerate(scores, start=1):
        peak = peaks[(rank * 3) % n]
        contrib = {name: np.float32(score * w) for name, w in zip(tracks, (0.7, 0.3))}
        if len(tracks) == 2:
            contrib["audio"] = np.float64(-0.25) if rank == 3 else contrib["audio"]
        expl = Explanation(
            summary=f"chat ×{score:.1f} over baseline (KEKW, LUL) <b>bold</b> #{rank}",
            contributions=contrib,
            chat_lag_s=18.5 if "chat" in tracks else None,
            chat_rate_ratio=np.float64(score * 1.3) if "chat" in tracks else None,
            top_emotes=(("KEKW", 41 - rank), ("LUL", 12), ("<Kappa>", 3)) if "chat" in tracks else (),
            chat_sample=(f"viewer{rank}: KEKW", HOSTILE, "mod: https://clips.example/abc", "x" * 500)
            if "chat" in tracks
            else (),
            audio_z=np.float32(2.0 + rank / 10) if "audio" in tracks else None,
        )
        cands.append(
            Candidate(
                rank=rank,
                start_s=peak - 12.25,
                end_s=peak + 17.3333,
                peak_s=np.float64(peak),
                score=float("nan") if nan_score and rank == n else score,
                signals={name: np.float32(4.0 + rank) for name in tracks},
                explanation=expl,
            )
        )
    meta = {
        "media": None if mode == "chat" else "/vods/stream <2024>.mp4",
        "chat": None if mode == "audio" else "/vods/chat.json",
        "duration_s": np.float64(DURATION),
        "chat_lag_s": 18.5 if mode != "audio" else None,
        "chat_lag_source": "estimated" if mode == "both" else "prior",
        "device": "cpu",
        "params": {"threshold": 1.0, "top_k": 10.0, "nan_param": float("nan")},
        "timings": {"audio": np.float64(12.3456), "chat": 0.81234, "fusion": 0.05},
        "version": "0.1.0",
        "warnings": ["dropped 3 malformed chat lines <oops>"],
    }
    return DetectionResult(candidates=tuple(cands[:n]), tracks=tracks, fused=fused, meta=meta)


# --- JSON ----------------------------------------------------------------------------------------


def _strict_load(path: Path) -> dict:
    def no_nan(token: str) -> float:
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_nan)


def test_json_round_trip_and_shape(tmp_path: Path) -> None:
    result = make_result(nan_score=True)
    path = write_json(result, tmp_path / "out" / "clips.json")
    doc = _strict_load(path)
    assert set(doc) == {"clips", "meta"}
    assert len(doc["clips"]) == 10
    clip = doc["clips"][0]
    assert set(clip) == {"rank", "start", "end", "peak", "score", "signals", "explanation"}
    assert set(clip["explanation"]) == {
        "summary",
        "contributions",
        "chat_lag_s",
        "chat_rate_ratio",
        "top_emotes",
        "chat_sample",
        "audio_z",
    }
    scores = [c["score"] for c in doc["clips"]]
    assert scores[-1] is None  # NaN → null, sorted last
    assert scores[:-1] == sorted(scores[:-1], reverse=True)
    first = result.candidates[0]
    assert clip["start"] == round(first.start_s, 3) and clip["end"] == round(first.end_s, 3)
    assert clip["explanation"]["top_emotes"][0] == ["KEKW", 40]
    assert HOSTILE in clip["explanation"]["chat_sample"]
    assert isinstance(clip["explanation"]["audio_z"], float)
    assert doc["meta"]["duration_s"] == pytest.approx(DURATION)
    assert doc["meta"]["params"]["nan_param"] is None
    assert doc["meta"]["timings"]["audio"] == 12.346
    assert to_json_dict(result) == doc

    clips = read_json(path)
    assert [c["rank"] for c in clips] == [c["rank"] for c in doc["clips"]]
    assert clips == doc["clips"]


def test_json_modes_and_empty(tmp_path: Path) -> None:
    audio = to_json_dict(make_result("audio"))
    e = audio["clips"][0]["explanation"]
    assert e["chat_lag_s"] is None and e["chat_rate_ratio"] is None and e["top_emotes"] == []
    assert read_json(write_json(make_result(n=0), tmp_path / "empty.json")) == []


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", '"clips"'),
        ('{"clips": [{"rank": 1, "start": 5, "end": 3, "peak": 4, "score": 1}]}', "after"),
        ('{"clips": [{"rank": 1, "start": 5, "end": 9, "score": 1}]}', '"peak"'),
        ('{"clips": [{"rank": "1", "start": 5, "end": 9, "peak": 6, "score": 1}]}', '"rank"'),
        ('{"clips": [{"rank": 1, "start": -2, "end": 9, "peak": 6, "score": 1}]}', '"start"'),
        (
            '{"clips": [{"rank": 1, "start": 2, "end": 9, "peak": 6, "score": 1, "explanation": '
            + '{"top_emotes": [["KEKW"]]}}]}',
            "top_emotes",
        ),
    ],
)
def test_read_json_rejects_malformed(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ResultsFormatError) as info:
        read_json(path)
    assert isinstance(info.value, DetectorError)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_read_json_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsFormatError, match="does not exist"):
        read_json(tmp_path / "nope.json")


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_rows(tmp_path: Path) -> None:
    result = make_result()
    path = write_csv(result, tmp_path / "clips.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10
    assert list(rows[0]) == [
        "rank",
        "start",
        "end",
        "duration",
        "peak",
        "score",
        "start_hms",
        "summary",
        "chat",
        "audio",
    ]
    for row, c in zip(rows, result.candidates):
        assert int(row["rank"]) == c.rank
        assert float(row["start"]) == pytest.approx(c.start_s, abs=1e-3)
        assert float(row["duration"]) == pytest.approx(c.end_s - c.start_s, abs=2e-3)
        assert row["start_hms"] == hms(c.start_s)
        assert float(row["chat"]) == pytest.approx(float(c.signals["chat"]))
        assert row["summary"] == c.explanation.summary


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    base = make_result("chat", n=1)
    c = base.candidates[0]
    evil = Candidate(
        c.rank,
        c.start_s,
        c.end_s,
        c.peak_s,
        c.score,
        c.signals,
        Explanation(summary='=HYPERLINK("x")\nsecond line', contributions={}),
    )
    result = DetectionResult((evil,), base.tracks, base.fused, base.meta)
    with write_csv(result, tmp_path / "c.csv").open(newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["summary"] == '\'=HYPERLINK("x") second line'


# --- EDL -----------------------------------------------------------------------------------------

EVENT = re.compile(
    r"^(\d{3})  (\S+)\s+(\S+)\s+C\s+(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) "
    r"(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d)$"
)


def parse_edl(text: str, fps: int) -> tuple[str, list[dict]]:
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: ") and lines[1] == "FCM: NON-DROP FRAME"
    events: list[dict] = []
    for line in lines[2:]:
        if not line.strip():
            continue
        if line.startswith("* "):
            events[-1].setdefault("comments", []).append(line)
            continue
        m = EVENT.match(line)
        assert m, f"not a CMX 3600 event line: {line!r}"
        assert line[: len("001  AX       V     C        ")][5:] == f"{m[2]:<8} {m[3]:<5} C        "
        src_in, src_out, rec_in, rec_out = (parse_timecode(t, fps) for t in m.groups()[3:])
        events.append(
            {
                "n": int(m[1]),
                "reel": m[2],
                "channel": m[3],
                "src": (src_in, src_out),
                "rec": (rec_in, rec_out),
            }
        )
    return lines[0][len("TITLE: ") :], events


@pytest.mark.parametrize("fps", [30, 25, 24, 60])
def test_edl_parses_back(tmp_path: Path, fps: int) -> None:
    result = make_result()
    path = write_edl(result, tmp_path / "clips.edl", fps=fps, title="My VOD — best of\nday 2 🎉")
    title, events = parse_edl(path.read_text(encoding="ascii"), fps)
    assert title == "My VOD - best of day 2 ?"
    assert [e["n"] for e in events] == list(range(1, 11))
    record = 0
    for e, c in zip(events, result.candidates):
        assert e["reel"] == "AX" and e["channel"] == "V"
        assert e["src"] == (round(c.start_s * fps), round(c.end_s * fps))
        assert e["rec"] == (record, record + e["src"][1] - e["src"][0])
        record = e["rec"][1]
        assert e["comments"][0] == "* FROM CLIP NAME: stream <2024>.mp4"
        assert e["comments"][1].startswith(f"* COMMENT: #{c.rank} score ")


def test_edl_chronological_audio_channel_and_no_media() -> None:
    result = make_result("chat")
    text = render_edl(result, fps=25, channel="B", chronological=True)
    _, events = parse_edl(text, 25)
    starts = [e["src"][0] for e in events]
    assert starts == sorted(starts) and all(e["channel"] == "B" for e in events)
    assert "FROM CLIP NAME" not in text
    assert render_edl(make_result(n=0)).splitlines() == ["TITLE: HIGHLIGHTS", "FCM: NON-DROP FRAME"]


@pytest.mark.parametrize("kwargs", [{"fps": 29.97}, {"fps": 0}, {"channel": "X"}])
def test_edl_rejects_bad_options(kwargs: dict) -> None:
    with pytest.raises(ExportError):
        render_edl(make_result(n=1), **kwargs)


def test_timecode_roundtrip() -> None:
    for frames in (0, 1, 29, 30, 1799, 108_000 * 3 + 17):
        assert parse_timecode(timecode(frames, 30), 30) == frames
    assert timecode(30 * 3723 + 4, 30) == "01:02:03:04"


# --- HTML ----------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.polylines: list[int] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "data")]
        if "id" in a:
            self.ids.add(a["id"] or "")
        if tag == "polyline":
            self.polylines.append(len((a.get("points") or "").split()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    p = _Collector()
    p.feed(html)
    p.close()
    return p


def _self_contained(html: str, page: _Collector) -> None:
    assert all(r.startswith("#") for r in page.refs), page.refs
    assert not re.search(r"""<[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    assert "script" not in page.tags and "img" not in page.tags and "iframe" not in page.tags


@pytest.mark.parametrize("mode", ["both", "chat", "audio"])
def test_html_report_modes(tmp_path: Path, mode: str) -> None:
    result = make_result(mode)
    path = write_html_report(result, tmp_path / f"report-{mode}.html")
    html = path.read_text(encoding="utf-8")
    page = _parse(html)
    _self_contained(html, page)
    text = " ".join(page.text)
    for c in result.candidates:
        assert f"clip-{c.rank}" in page.ids
        assert f'href="#clip-{c.rank}"' in html
        assert f"{hms(c.start_s)} – {hms(c.end_s)}" in text
    assert "2:17:05" in text
    # one polyline run per gap-free stretch, each downsampled
    assert page.polylines and max(page.polylines) <= MAX_POINTS
    assert html.count('class="chart"') == len(result.tracks) + 1
    if mode == "chat":
        assert "none (chat only)" in text and "prior (not estimated)" in text
        assert HOSTILE in text and "&lt;script&gt;" in html and "<Kappa> ×3" in text
    if mode == "audio":
        assert "none (audio only)" in text and "not used (no chat)" in text
        assert "audio z" in text and "chat rate" not in text
    if mode == "both":
        assert "estimated from audio" in text and "stream <2024>.mp4" in text
        assert "dropped 3 malformed chat lines <oops>" in text
        assert "<b>bold</b>" in text  # the summary's markup is shown, not applied


def test_html_report_zero_candidates(tmp_path: Path) -> None:
    html = write_html_report(make_result(n=0), tmp_path / "empty.html").read_text(encoding="utf-8")
    page = _parse(html)
    _self_contained(html, page)
    assert "No highlight candidates" in html and "0 highlight candidates" in html
    assert not any(i.startswith("clip-") for i in page.ids)


def test_html_report_hostile_meta() -> None:
    result = make_result("audio", n=2)
    result.meta["media"] = '"><script>x()</script>.mp4'
    result.meta["device"] = "<iframe src=//evil>"
    html = render_html_report(result)
    page = _parse(html)
    _self_contained(html, page)
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_downsample_keeps_peaks() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 50_001)
    values[12_345] = 40.0
    values[33_333] = -35.0
    values[40_000:40_500] = np.nan
    idx = minmax_downsample(values)
    assert len(idx) <= MAX_POINTS
    assert np.all(np.diff(idx) > 0)
    assert 12_345 in idx and 33_333 in idx
    assert np.isnan(values[idx]).any()  # the gap stays a gap
    assert np.array_equal(minmax_downsample(values[:500]), np.arange(500))


# --- write_outputs -------------------------------------------------------------------------------


def test_write_outputs_all(tmp_path: Path) -> None:
    result = make_result()
    paths = {fmt: tmp_path / "out" / f"clips.{fmt}" for fmt in ("json", "csv", "edl", "html")}
    written = write_outputs(result, **paths)
    assert written == paths
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    assert oct(paths["json"].stat().st_mode & 0o777) == oct(0o644)
    assert write_outputs(result) == {}


def test_write_outputs_failure_writes_nothing(tmp_path: Path) -> None:
    result = make_result()
    with pytest.raises(ExportError):
        write_outputs(result, json=tmp_path / "a.json", edl=tmp_path / "a.edl", edl_fps=23.976)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "clips.json"
    target.write_text("old", encoding="utf-8")
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ExportError, match="blocker"):
        write_outputs(make_result(), json=tmp_path / "blocker" / "x.json")
    with pytest.raises(ExportError, match="folder"):
        write_outputs(make_result(), json=tmp_path)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "clips.json"]
    write_json(make_result(), target)
    assert len(read_json(target)) == 10
