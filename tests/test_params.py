"""The table of tunable parameters: defaults, clamping, config files, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.params import PARAMS, PARAMS_BY_NAME, Settings


def test_every_default_lies_in_its_range() -> None:
    for p in PARAMS:
        assert p.min <= p.default <= p.max, p.name
        assert p.meaning and p.name.islower()


def test_values_are_clamped_to_the_range_with_a_note() -> None:
    s = Settings({"min_gap_s": 1.0, "top_k": "7.4"})
    assert s["min_gap_s"] == PARAMS_BY_NAME["min_gap_s"].min
    assert s["top_k"] == 7
    assert any("min_gap_s" in note for note in s.clamped)


@pytest.mark.parametrize("bad, message", [
    ({"no_such": 1}, "Unknown parameter 'no_such'"),
    ({"threshold": "high"}, "must be a number"),
    ({"threshold": float("nan")}, "must be finite"),
])
def test_bad_values_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(bad)


def test_config_file_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text("[detector]\nthreshold = 2.5\nmin_gap_s = 90\n")
    s = Settings.load(cfg, ["min_gap_s=120"])
    assert s["threshold"] == 2.5 and s["min_gap_s"] == 120


@pytest.mark.parametrize("text, message", [("threshold = [", "not valid TOML"), ("nope = 1", "Unknown parameter")])
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Settings.load(cfg)


def test_missing_config_and_malformed_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="name=value"):
        Settings.load(None, ["threshold"])
