"""The ``highlights`` command line end to end: detect in all three modes, demo, eval, lexicon, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detector.synthetic.vod import SyntheticVod
from highlights.cli import main


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.mark.parametrize("mode", ["both", "audio", "chat"])
def test_detect_writes_every_output(mode: str, sample_vod: SyntheticVod, tmp_path: Path, capsys) -> None:
    args = {"both": [sample_vod.media_path, "--chat", sample_vod.chat_path],
            "audio": [sample_vod.media_path], "chat": ["--chat", sample_vod.chat_path]}[mode]
    out = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "edl", "html")}
    code = run_cli("detect", *args, "--top", "3", "--set", "min_gap_s=30", "--json", out["json"],
                   "--csv", out["csv"], "--edl", out["edl"], "--report", out["html"], "--quiet")
    assert code == 0
    data = json.loads(out["json"].read_text())
    clips = data["clips"]
    assert 1 <= len(clips) <= 3
    assert [c["score"] for c in clips] == sorted((c["score"] for c in clips), reverse=True)
    assert all(0 <= c["start"] < c["end"] <= sample_vod.duration_s + 1 for c in clips)
    assert data["meta"]["mode"] == {"both": "audio+chat", "audio": "audio", "chat": "chat"}[mode]
    assert len(out["csv"].read_text().strip().splitlines()) == len(clips) + 1
    assert "FCM: NON-DROP FRAME" in out["edl"].read_text()
    assert "<svg" in out["html"].read_text()
    assert capsys.readouterr().out == ""  # --quiet prints nothing


def test_detect_prints_a_ranked_table(sample_vod: SyntheticVod, capsys) -> None:
    assert run_cli("detect", sample_vod.media_path, "--chat", sample_vod.chat_path, "--top", "3",
                   "--set", "min_gap_s=30", "--quiet") == 0
    assert run_cli("detect", "--chat", sample_vod.chat_path, "--top", "2") == 0
    out = capsys.readouterr().out
    assert "2 highlights in 0:02:5" in out and "  1. " in out and "chat lag 12.0 s (prior)" in out


@pytest.mark.parametrize("args, message", [
    (["detect"], "Nothing to detect on"),
    (["detect", "missing.mp4"], "missing.mp4"),
    (["detect", "--chat", "missing.json"], "missing.json"),
    (["detect", "--chat", "{chat}", "--set", "bogus=1"], "Unknown parameter 'bogus'"),
    (["detect", "--chat", "{chat}", "--set", "threshold"], "name=value"),
    (["detect", "--chat", "{chat}", "--vod-start", "yesterday"], "ISO 8601"),
    (["detect", "--chat", "{chat}", "--lexicon", "nope.json"], "Lexicon file nope.json does not exist"),
    (["detect", "--chat", "{chat}", "--device", "cuda"], "cuda"),
])
def test_bad_input_gets_one_clear_line(args: list[str], message: str, sample_vod: SyntheticVod, capsys,
                                       monkeypatch) -> None:
    args = [a.replace("{chat}", str(sample_vod.chat_path)) for a in args]
    if "cuda" in args:
        import detector.compute

        if detector.compute.gpu_present():
            pytest.skip("a GPU is present")
    code = run_cli(*args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_console_script_reports_errors_without_traceback(corrupt_media: Path, media_no_audio: Path) -> None:
    for path, message in ((corrupt_media, corrupt_media.name), (media_no_audio, "no audio stream")):
        proc = subprocess.run([sys.executable, "-m", "highlights", "detect", str(path)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2
        assert message in proc.stderr and "Traceback" not in proc.stderr


def test_demo_shows_every_feature(tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "demo"
    assert run_cli("demo", "--out", out_dir, "--minutes", "3") == 0  # two planted moments, one while talking
    out = capsys.readouterr().out
    assert "report:" in out and "planted moments" in out
    for name in ("report.html", "highlights.json", "highlights.csv", "highlights.edl"):
        assert (out_dir / name).stat().st_size > 0
    found = out.split("found ")[1].split(" of ")
    assert found[0] == found[1].split(";")[0]  # every planted moment was found
    doc = json.loads((out_dir / "highlights.json").read_text())
    assert {label for _, _, label, _ in doc["meta"]["segments"]["spans"]} >= {"gameplay", "talking"}
    assert any(c["signals"].get("transcript.said", 0) > 0 for c in doc["clips"])  # the transcript track moved
    wide, tall = (json.loads((out_dir / "clips" / f / "render.json").read_text())["clips"] for f in ("16x9", "9x16"))
    assert {(c["width"], c["height"]) for c in wide} == {(1280, 720)} and {(c["width"], c["height"]) for c in tall} == {
        (720, 1280)}
    assert {"split", "face"} <= {c["layout"] for c in tall}  # facecam over gameplay; a face crop while talking
    assert sum(c["caption_words"] for c in wide) > 0 and sum(c["caption_words"] for c in tall) > 0
    assert (out_dir / "clips" / "16x9" / "reel.mp4").stat().st_size > 0
    report = (out_dir / "report.html").read_text()
    for c in wide:  # each clip plays in the report, linked relative to it, with its thumbnail
        assert f'src="clips/16x9/{c["file"]}"' in report and f'src="clips/9x16/{c["file"]}"' in report
    assert report.count("<video") == 2 * len(wide) and report.count('poster="clips/16x9/') == len(wide)
    if "vision" in doc["meta"]["unavailable_signals"] or not doc["meta"].get("vision"):
        said = [line for line in out.splitlines() if "vision" in line]
        assert len(said) == 1 and said[0].startswith("vision: ")  # said once, calmly
        assert "not used: vision" not in capsys.readouterr().err


def make_dataset(root: Path, vods: list[SyntheticVod]) -> Path:
    (root / "chat").mkdir(parents=True)
    games = ["game,twitch_vod_id,game_start_s,game_end_s,chat_file"]
    labels = ["game,start_s,end_s"]
    for i, vod in enumerate(vods):
        name = f"g{i}"
        (root / "chat" / f"{name}.jsonl").write_bytes(vod.chat_path.read_bytes())
        games.append(f"{name},{1000 + i},0,{vod.duration_s},chat/{name}.jsonl")
        labels += [f"{name},{e - 3},{e + 8}" for e in vod.events]
    (root / "games.csv").write_text("\n".join(games) + "\n")
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    return root


def test_eval_lexicon_and_cv(sample_vod: SyntheticVod, tmp_path: Path, capsys) -> None:
    jsonl_vods = [sample_vod, sample_vod]
    dataset = make_dataset(tmp_path / "ds", jsonl_vods)
    assert run_cli("eval", "--dataset", dataset, "--top", "3", "--set", "min_gap_s=30") == 0
    out = capsys.readouterr().out
    assert "means over games" in out and "ours" in out and "old-default" in out and "msg-rate" in out
    mean_line = next(line for line in out.splitlines() if line.startswith("ours "))
    # P@10 with three clips asked for: all three are hits, the seven missing ranks count as misses.
    assert float(mean_line.split()[3]) == pytest.approx(0.3)
    assert run_cli("lexicon", "--dataset", dataset, "--out", tmp_path / "lex.json") == 0
    assert "tokens from 2 games" in capsys.readouterr().out
    assert run_cli("eval", "--dataset", dataset, "--top", "3", "--cv", "--set", "min_gap_s=30") == 0
    out = capsys.readouterr().out
    assert "default(cv)" in out and "adapted(cv)" in out and "leave-one-game-out" in out
    assert run_cli("detect", "--chat", sample_vod.chat_path, "--lexicon", tmp_path / "lex.json", "--quiet",
                   "--json", tmp_path / "o.json") == 0
    meta = json.loads((tmp_path / "o.json").read_text())["meta"]
    assert meta["chat_lexicon"]["games"] == 2


def test_eval_reports_a_broken_dataset(tmp_path: Path, capsys) -> None:
    assert run_cli("eval", "--dataset", tmp_path) == 2
    assert "games.csv" in capsys.readouterr().err


def test_params_lists_the_table(capsys) -> None:
    assert run_cli("params") == 0
    assert "min_gap_s" in capsys.readouterr().out


def test_detect_with_transcript_quotes_what_was_said(tmp_path: Path, capsys) -> None:
    pytest.importorskip("faster_whisper")
    speech = Path(__file__).parent / "data" / "speech" / "exclaim_en.wav"
    out = tmp_path / "t.json"
    assert run_cli("detect", speech, "--transcript", "--language", "en", "--top", "1", "--json", out, "--quiet") == 0
    clip = json.loads(out.read_text())["clips"][0]
    assert "god" in clip["explanation"]["quote"].lower()
    assert run_cli("detect", speech, "--transcript", "--language", "english!") == 2
    assert "not a language code" in capsys.readouterr().err
