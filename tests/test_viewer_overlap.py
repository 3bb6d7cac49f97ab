"""Weak labels: our top-K clips against the clips viewers made of the same VOD (``highlights eval
--result --viewer-clips``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.eval.viewer_overlap import Span, viewer_overlap
from highlights.cli import main
from storage.twitch.viewer_clips import ViewerClipLabel, ViewerClipLabels, save_viewer_clips


def test_precision_recall_and_view_share() -> None:
    ours = [Span(100, 130), Span(400, 420), Span(900, 930)]
    viewers = [Span(110, 140, views=50), Span(120, 125, views=500), Span(2000, 2030, views=450)]
    got = viewer_overlap(ours, viewers, 2)
    assert got.ours == 2 and got.precision == 0.5 and got.matches == (1, None)
    assert got.recall == pytest.approx(2 / 3) and got.view_recall == pytest.approx(550 / 1000)
    assert viewer_overlap(ours, [], 3).recall == 0.0 and viewer_overlap([], viewers, 3).precision == 0.0
    assert viewer_overlap([Span(0, 10)], [Span(9.5, 20, 1)], 1).precision == 0.0  # under a second of overlap
    with pytest.raises(ValueError):
        viewer_overlap(ours, viewers, 0)


def test_eval_command_reads_a_result_and_saved_viewer_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "result.json"
    clips = [{"rank": 2, "start": 400.0, "end": 420.0, "peak": 410.0, "score": 3.0},
             {"rank": 1, "start": 100.0, "end": 130.0, "peak": 115.0, "score": 5.0}]
    result.write_text(json.dumps({"clips": clips, "meta": {}}))
    labels = ViewerClipLabels("2012345678", (ViewerClipLabel(105.0, 30.0, 120, "what a play"),
                                             ViewerClipLabel(3000.0, 20.0, 7)))
    saved = save_viewer_clips(tmp_path / "viewer-clips.json", labels)
    assert main(["eval", "--result", str(result), "--viewer-clips", str(saved), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "our clips overlapping a viewer clip: 50% (1 of 2)" in out
    assert "viewer clips we cover: 50%; share of their views: 94%" in out
    assert "#1" in out and "viewer clip with 120 views" in out


@pytest.mark.parametrize("argv, says", [
    (["eval", "--result", "r.json"], "together"),
    (["eval"], "Nothing to evaluate"),
    (["eval", "--result", "missing.json", "--viewer-clips", "missing-too.json"], "missing.json"),
])
def test_eval_mistakes_get_one_line(argv: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
