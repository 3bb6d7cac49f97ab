"""Render stage without big encodes: plans and their keys, layouts, smoothing, captions, encoders, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from detector.records import Word
from detector.render.captions import CaptionBox, captions_ass, clip_words, filter_path, read_words
from detector.render.encode import ENCODER_CHOICES, choose_encoder, encoder_works, listed_encoders, target_video_kbps
from detector.render.errors import CaptionsFormatError, RenderError
from detector.render.facecam import FaceTrack, smooth_path
from detector.render.graph import crop_x_expr, video_graph
from detector.render.layout import choose_layout, geometry, output_size
from detector.render.plan import Box, ClipPlan, SourceRef
from detector.render.runner import parse_progress
from detector.render.selection import load_candidates, parse_span, parse_time
from highlights.cli import main


def _track(box: Box | None, n: int = 10, frame=(1920, 1080)) -> FaceTrack:
    return FaceTrack(tuple(0.5 * i for i in range(n)), tuple(box for _ in range(n)), *frame)


SMALL_FACE = Box(1600, 800, 120, 120)  # a facecam face: 11 % of the frame height
BIG_FACE = Box(800, 300, 400, 400)  # just talking: 37 %


def test_layout_follows_label_and_face_with_overrides():
    small, big, none = _track(SMALL_FACE), _track(BIG_FACE), _track(None)
    assert choose_layout("16:9", face=small) == "source"
    assert choose_layout("9:16", face=small) == "split"
    assert choose_layout("9:16", face=big) == "face"
    assert choose_layout("9:16", face=none) == "center"
    assert choose_layout("auto", face=none) == "source"
    assert choose_layout("auto", face=small, label="talking") == "face"
    assert choose_layout("auto", face=big, label="gameplay") == "split"
    assert choose_layout("9:16-center", face=small) == "center"
    assert choose_layout("9:16-split", face=none) == "center"  # nothing to put on top: falls back
    with pytest.raises(RenderError, match="Unknown layout"):
        choose_layout("4:3")


def test_split_geometry_fills_both_panels_inside_the_source():
    g = geometry("split", 1920, 1080, _track(SMALL_FACE), 0.0)
    assert (g.width, g.height) == (1080, 1920) and 0 < g.top_height < g.height
    for box, (pw, ph) in ((g.facecam, (g.width, g.top_height)), (g.crop, (g.width, g.height - g.top_height))):
        assert box.x >= 0 and box.y >= 0 and box.x + box.w <= 1920 and box.y + box.h <= 1080
        assert abs(box.w / box.h - pw / ph) < 0.02  # cropped to fill: same aspect as its panel
    fx, fy = SMALL_FACE.center
    assert g.facecam.x <= fx <= g.facecam.x + g.facecam.w and g.facecam.y <= fy <= g.facecam.y + g.facecam.h
    assert output_size("source", 3840, 2160) == (1920, 1080)
    assert output_size("center", 640, 360) == (360, 640)


def test_smooth_path_has_no_jitter_and_follows_real_moves():
    rng = np.random.default_rng(3)
    still = 500 + rng.normal(0, 6, 60)
    still[[10, 31]] = [900, np.nan]  # a false detection and a missed frame
    out = smooth_path(still, dead_zone=40)
    assert np.ptp(out) < 15  # jitter and the outlier are gone
    step = np.r_[np.full(20, 300.0), np.full(40, 700.0)] + rng.normal(0, 4, 60)
    moved = smooth_path(step, dead_zone=40)
    assert abs(moved[-1] - 660) < 15 and abs(moved[0] - 300) < 15
    assert np.abs(np.diff(moved)).max() < 150  # eased over several samples, not one jump


def test_crop_expression_interpolates_the_keyframes():
    path = ((0.0, 100), (1.0, 100), (2.0, 160), (4.0, 120))
    expr = crop_x_expr(path)

    def at(t: float) -> float:
        return eval(expr, {"clip": lambda v, a, b: min(max(v, a), b), "t": t})  # noqa: S307 - our own text

    for t, want in ((0.0, 100), (0.5, 100), (1.5, 130), (2.0, 160), (3.0, 140), (9.0, 120)):
        assert at(t) == pytest.approx(want)
    plan = ClipPlan(SourceRef("/x.mp4", 1, 1), 0.0, 4.0, 1080, 1920, layout="face", crop=Box(0, 0, 606, 1080),
                    crop_path=path)
    graph = video_graph(plan, 1920, 1080, ass_file="/tmp/a b's:c.ass")
    assert graph.startswith("[0:v]crop=w=606:h=1080:x='100+") and graph.endswith("[v]")
    assert "\\\\\\'" in graph and "\\\\:" in graph  # the path survives both escaping levels


def test_plan_key_is_stable_and_changes_with_what_matters(tmp_path: Path):
    media = tmp_path / "v.mp4"
    media.write_bytes(b"0" * 100)
    ref = SourceRef.of(media)
    a = ClipPlan(ref, 10.0, 40.0, 1920, 1080)
    assert a.key() == ClipPlan(ref, 10.0, 40.0 + 1e-9, 1920, 1080).key()
    assert a.key() != ClipPlan(ref, 10.0, 40.0, 1920, 1080, loudness_lufs=-16.0).key()
    assert a.key() != ClipPlan(ref, 10.0, 40.0, 1920, 1080, captions=(Word(1, 2, "hi"),)).key()
    os.utime(media, ns=(1, 1))
    assert a.key() != ClipPlan(SourceRef.of(media), 10.0, 40.0, 1920, 1080).key()  # the source changed


def test_words_file_formats_and_errors(tmp_path: Path):
    p = tmp_path / "w.json"
    p.write_text(json.dumps({"words": [{"start": 2.0, "end": 2.4, "text": "b"}, {"start": 1.0, "end": 1.5, "text": "a"}]}))
    assert read_words(p) == (Word(1.0, 1.5, "a"), Word(2.0, 2.4, "b"))
    p.write_text(json.dumps({"segments": [{"words": [{"start": 0.5, "end": 0.9, "word": " hey"}]}]}))
    assert read_words(p) == (Word(0.5, 0.9, "hey"),)
    for bad, msg in (("{", "not valid JSON"), ('{"words": [{"start": 1}]}', "text"),
                     ('[{"start": 2, "end": 1, "text": "x"}]', "before it starts"), ('{"x": 1}', "words")):
        p.write_text(bad)
        with pytest.raises(CaptionsFormatError, match=msg):
            read_words(p)
    with pytest.raises(CaptionsFormatError, match="does not exist"):
        read_words(tmp_path / "missing.json")


def test_ass_highlights_one_word_per_event_inside_safe_margins():
    words = clip_words([Word(99.0, 100.2, "so"), Word(100.5, 100.9, "what"), Word(101.0, 101.3, "{a}"),
                        Word(101.4, 101.9, "play"), Word(131.0, 132.0, "after")], 100.0, 130.0)
    assert [w.text for w in words] == ["so", "what", "{a}", "play"] and words[0].start_s == 0.0
    ass = captions_ass(words, 1080, 1920, 30.0)
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    assert len(events) == 4
    assert all(e.count("\\c&H0000FFFF&") == 1 for e in events)
    assert "{\\c&H0000FFFF&}play" in events[-1] and "(a)" in events[-1]  # braces cannot inject overrides
    box = CaptionBox.for_frame(1080, 1920)
    assert box.margin_bottom >= 0.15 * 1920 and box.margin_x >= 0.05 * 1080
    assert "PlayResX: 1080" in ass and "PlayResY: 1920" in ass
    assert filter_path("/a/b.ass") == "/a/b.ass"


def test_progress_lines_and_bitrate_targets():
    lines = ["frame=10", "out_time_us=1500000", "progress=continue", "out_time_us=N/A", "out_time_us=2750000",
             "progress=end"]
    assert parse_progress(lines) == pytest.approx(2.75)
    kbps = target_video_kbps(10 * 1024 * 1024, 30.0, 128)
    assert 2250 < kbps < 2450  # 10 MiB over 30 s, room for audio, overhead and the 1 s VBV buffer
    with pytest.raises(RenderError, match="Raise the size limit"):
        target_video_kbps(1024 * 1024, 600.0, 128)


def test_encoder_choice_tests_before_trusting():
    assert "libx264" in listed_encoders()
    chosen = choose_encoder("auto")
    assert chosen in ENCODER_CHOICES and encoder_works(chosen)
    assert choose_encoder("libx264") == "libx264"
    with pytest.raises(RenderError, match="Unknown encoder"):
        choose_encoder("divx")
    for hw in ("h264_nvenc", "h264_amf", "h264_vaapi"):  # here: usable only with its device and driver
        if hw in listed_encoders() and encoder_works(hw):
            assert choose_encoder(hw) == hw
        else:
            with pytest.raises(RenderError, match=hw):
                choose_encoder(hw)


def test_spans_and_detect_json(tmp_path: Path):
    assert parse_time("1:02:03.5") == 3723.5 and parse_time("75") == 75.0
    assert parse_span("1:00-1:30") == (60.0, 90.0)
    for bad in ("10", "30-10", "a-b"):
        with pytest.raises(RenderError):
            parse_span(bad)
    doc = {"clips": [{"rank": 2, "start": 50, "end": 80, "peak": 60, "score": 3.0, "segment": "talking"},
                     {"rank": 1, "start": 5, "end": 35, "peak": 20, "score": 7.5}], "meta": {}}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    cands, labels = load_candidates(tmp_path / "d.json")
    assert [c.rank for c in cands] == [1, 2] and labels == {2: "talking"}


def test_cli_render_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("cv2")
    from detector.synthetic.render_source import make_render_source

    src = make_render_source(tmp_path / "src", width=320, height=180, fps=25, seconds=8.0, cuts=(3.0,))
    doc = {"clips": [{"rank": 1, "start": 1.0, "end": 3.5, "peak": 2.0, "score": 5.0},
                     {"rank": 2, "start": 4.0, "end": 6.0, "peak": 5.0, "score": 4.0},
                     {"rank": 3, "start": 6.0, "end": 7.5, "peak": 7.0, "score": 1.0}], "meta": {}}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    (tmp_path / "w.json").write_text(json.dumps([{"start": 1.2, "end": 1.6, "text": "hello"}]))
    out = tmp_path / "out"
    code = main(["render", str(tmp_path / "d.json"), "--media", str(src.path), "--out", str(out), "--layout", "9:16",
                 "--captions", str(tmp_path / "w.json"), "--top", "2", "--reel", "--preset", "ultrafast",
                 "--cache", str(tmp_path / "cache"), "--size-mib", "2"])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["clip-01-0-00-01.jpg", "clip-01-0-00-01.mp4", "clip-02-0-00-04.jpg", "clip-02-0-00-04.mp4",
                     "contact-sheet.jpg", "highlights.edl", "highlights.otio", "reel.mp4", "render.json"]
    manifest = json.loads((out / "render.json").read_text())
    assert [c["layout"] for c in manifest["clips"]] == ["split", "split"]
    assert all(c["size_bytes"] <= 2 * 1024 * 1024 for c in manifest["clips"])
    code = main(["render", "--clip", "0:01-0:03", "--media", str(src.path), "--out", str(out), "--layout", "16:9",
                 "--no-thumbs", "--no-export", "--preset", "ultrafast", "--cache", str(tmp_path / "cache"), "-q"])
    assert code == 0
    assert main(["render", str(tmp_path / "d.json"), "--media", str(tmp_path / "none.mp4"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
