"""The rough edges a newcomer hits in the first ten minutes (issue 15), one test each.

Each test drives the real code path a user meets (the CLI, the report writer, the chat reader,
setuptools reading pyproject.toml) and states what the user should see. The `--vod-start` notes are
tested beside the other chat formats (``tests/test_chat_formats.py``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from detector.errors import ChatFormatError
from detector.export import write_html_report
from detector.export.html_report import render_html_report
from detector.records import Candidate, DetectionResult, Explanation, SignalTrack
from detector.render.errors import RenderError
from detector.render.selection import parse_span
from detector.sources.chat import load_chat
from highlights.cli import main

ROOT = Path(__file__).resolve().parents[1]
SIMPLE_CHAT = ROOT / "tests" / "data" / "chat" / "simple.jsonl"


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


def one_clip(*, contributions: dict[str, float], signals: dict[str, float]) -> DetectionResult:
    explanation = Explanation(summary="chat ×6.3 over baseline", contributions=contributions)
    clip = Candidate(rank=1, start_s=100.0, end_s=118.0, peak_s=108.0, score=9.5, signals=signals,
                     explanation=explanation)
    track = SignalTrack(name="fused", hop_s=0.5, values=np.linspace(0.0, 1.0, 480, dtype=np.float32))
    meta = {"duration_s": 240.0, "media": "vod.mp4", "chat": "vod.chat.jsonl",
            "timings": {"sources": 0.4, "signal_chat": 1.1, "signal_audio": 2.0, "total": 3.6}}
    return DetectionResult(candidates=(clip,), tracks={"chat": track}, fused=track, meta=meta)


def visible_text(html: str) -> str:
    """The page's text as a reader sees it (tags and their attributes, e.g. tooltips, removed)."""
    return re.sub(r"\s+([,.;])", r"\1", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- the report --------------------------------------------------------------------------------------


def test_report_timings_do_not_add_the_total_into_the_total() -> None:
    text = visible_text(render_html_report(one_clip(contributions={"chat.hype": 5.0}, signals={})))
    timings = text.split("Timings")[1].split("Not used")[0]
    assert timings.count("total") == 1 and "total 3.6 s" in timings  # the pipeline's own total, once
    assert "sources 0.4 s" in timings and "signal_audio 2.0 s" in timings


def test_signals_that_added_nothing_stay_out_of_a_clips_legend() -> None:
    result = one_clip(contributions={"chat.hype": 6.0, "audio.rms": 1.5, "transcript.said": 0.0, "vision.action": 0.0},
                      signals={})
    legend = visible_text(render_html_report(result)).split("chat ×6.3 over baseline")[-1]
    assert "hype messages +6.00" in legend and "loudness +1.50" in legend
    assert "what was said" not in legend and "action on screen" not in legend


def test_what_stood_out_at_the_peak_is_said_in_plain_words() -> None:
    result = one_clip(contributions={"chat.hype": 6.0},
                      signals={"chat.hype": 39.0, "audio.rms": 3.7, "audio.flux": 0.2, "transcript.said": 1.5})
    html = render_html_report(result)
    text = visible_text(html)
    assert "at the peak: hype messages far above usual, loudness well above usual, a reaction was heard" in text
    assert "chat.hype" not in text and "39.00" not in text and "sudden sounds" not in text  # usual: not listed
    assert 'title="chat.hype = 39.00"' in html  # the raw value stays one hover away


def test_the_report_plays_each_rendered_clip_beside_its_explanation(tmp_path: Path) -> None:
    clips = tmp_path / "out" / "clips"
    files = {"16:9": clips / "16x9" / "clip 01.mp4", "9:16": clips / "9x16" / "clip 01.mp4",
             "thumb": clips / "16x9" / "clip 01.jpg"}
    report = write_html_report(one_clip(contributions={"chat.hype": 5.0}, signals={}), tmp_path / "out" / "report.html",
                               clips={1: files})
    html = report.read_text(encoding="utf-8")
    card = html.split('id="clip-1"')[1]
    assert '<video controls preload="none" poster="clips/16x9/clip%2001.jpg" src="clips/16x9/clip%2001.mp4">' in card
    assert '<video controls preload="metadata" src="clips/9x16/clip%2001.mp4">' in card  # relative: movable
    assert card.index("<video") < card.index("chat ×6.3 over baseline")


# --- the command line --------------------------------------------------------------------------------


def test_top_zero_is_a_clear_error(capsys) -> None:
    assert run_cli("detect", "--chat", SIMPLE_CHAT, "--top", "0") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --top 0 is not a number of clips from 1 to 500.") and err.count("\n") == 1


def test_detect_prints_no_empty_progress_bar(capsys) -> None:
    assert run_cli("detect", "--chat", SIMPLE_CHAT) == 0  # progress on, as a user runs it
    captured = capsys.readouterr()
    assert "signal chat" not in captured.err and "highlights in" in captured.out


def test_output_paths_are_checked_before_the_detection_runs(tmp_path: Path, capsys) -> None:
    # The chat log is broken too: had detection run first, its error would come instead.
    broken = tmp_path / "chat.jsonl"
    broken.write_text("not a chat log\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    assert run_cli("detect", "--chat", broken, "--json", blocker / "out.json") == 2
    err = capsys.readouterr().err
    assert "blocker is a file, not a folder" in err and "chat.jsonl" not in err
    assert run_cli("detect", "--chat", broken, "--report", tmp_path) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert run_cli("demo", "--out", blocker / "demo") == 2  # before the sample is made
    assert "blocker is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("span", ["9:99:99-1:00:00", "0:99:99-2:00:00", "1:60-2:00", "1:02:60-1:03:00"])
def test_render_rejects_clock_times_with_60_or_more_minutes_or_seconds(span: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(RenderError, match="below 60"):
        parse_span(span)
    assert run_cli("render", "--media", tmp_path / "vod.mp4", "--clip", span, "--out", tmp_path / "clips") == 2
    assert "minutes and seconds must be below 60" in capsys.readouterr().err


def test_render_still_reads_good_spans() -> None:
    assert parse_span("1:02:03-1:02:33") == (3723.0, 3753.0)
    assert parse_span("59:59-61:00") == (3599.0, 3660.0)  # the first unit may be as large as it likes
    assert parse_span("75.5-90") == (75.5, 90.0)


def test_highlights_run_says_what_to_install_for_a_missing_component() -> None:
    from highlights.cmd_run import COMPONENTS, NEEDS, available

    for _, module, why in COMPONENTS:
        assert "issue" not in why and "pip install" in why
        assert available(module) == (importlib.util.find_spec(NEEDS[module]) is not None)
    assert dict((name, why) for name, _, why in COMPONENTS)["bot"].endswith('pip install -e ".[bot]"')


# --- chat logs ---------------------------------------------------------------------------------------


def _chat_downloader_live(path: Path, start_unix: float, count: int) -> Path:
    """chat-downloader's JSON for live Twitch chat: UNIX times in microseconds, no VOD offsets
    (chat_downloader/sites/twitch.py maps tmi-sent-ts → timestamp × 1000)."""
    items = [{"message_id": f"m{i}", "message": f"message {i} KEKW", "message_type": "text_message",
              "timestamp": int((start_unix + 2.5 * i) * 1_000_000), "author": {"name": f"viewer{i % 40}"}}
             for i in range(count)]
    path.write_text(json.dumps(items, indent=4))
    return path


def test_a_chat_downloader_log_over_two_days_keeps_every_message(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    midnight = datetime(2019, 10, 13, tzinfo=UTC).timestamp()
    log = _chat_downloader_live(tmp_path / "live.json", midnight - 60.0, 400)  # 24 before midnight, 376 after
    chat = load_chat(log)
    assert len(chat.messages) == 400 and chat.messages[-1].offset_s == pytest.approx(997.5)
    assert not any("malformed" in w for w in chat.warnings)
    started = load_chat(log, vod_start=datetime(2019, 10, 12, 23, 55, tzinfo=UTC))
    assert len(started.messages) == 400 and started.messages[0].offset_s == pytest.approx(240.0)
    with pytest.raises(ChatFormatError, match="one-week limit"):  # what the limit is for still holds
        load_chat(_chat_downloader_live(tmp_path / "far.json", midnight, 3), vod_start=datetime(2019, 10, 1))


# --- the install -------------------------------------------------------------------------------------


def test_pyproject_reads_without_setuptools_warnings() -> None:
    # pip builds with setuptools>=77 (build-system.requires) in its own environment; an older one in this venv
    # (a venv's bootstrap copy) is not what reads pyproject.toml on install.
    setuptools = pytest.importorskip("setuptools", minversion="77", reason="needs the setuptools the build uses (>=77)")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    messages = [f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught
                if issubclass(w.category, (DeprecationWarning, UserWarning)) or "setuptools" in w.category.__module__]
    assert not messages, messages
    assert dist.get_name() == "twitch-highlights" and setuptools.__version__


# --- the demo's sample -------------------------------------------------------------------------------


def test_the_showcase_speaks_each_exclamation_after_its_burst_and_never_over_itself() -> None:
    from detector.synthetic.showcase import LINES, VOICE_DIR, speech_plan, talking_spans

    assert sorted(p.stem for p in VOICE_DIR.glob("*.opus")) == sorted(LINES)  # shipped with the package
    events, bursts = (35.0, 110.0, 185.0), (3.5, 3.2, 3.8)
    lengths = {name: 3.5 for name in LINES}
    talking = talking_spans(240.0, events)
    assert talking == ((95.0, 135.0),)  # around the second event
    plan = speech_plan(240.0, events, bursts, talking, lengths)
    hype = [(t, name) for t, name in plan if name.startswith("hype")]
    assert [round(t - e - b, 2) for (t, _), e, b in zip(hype, events, bursts)] == [0.3, 0.3, 0.3]
    assert all(b >= a + 3.5 for (a, _), (b, _) in zip(plan, plan[1:]))  # one line at a time
    assert all(t + 3.5 <= 240.0 for t, _ in plan)
    during_talk = [t for t, name in plan if 95.0 <= t < 135.0 and name.startswith("calm")]
    assert len(during_talk) >= 5  # the streamer keeps talking there
