"""Shared test fixtures: synthetic media generated once per session, and the error-log guard.

The synthetic samples come from :mod:`detector.synthetic.vod`, so their answers (planted event times,
chat lag) are known exactly. Every test fails when something logs at ERROR or above, unless it is
marked ``@pytest.mark.allow_error_logs``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from detector.synthetic.vod import SyntheticVod, make_corrupt_media, make_media_without_audio, make_vod

pytest_plugins = ["pytester"]

SAMPLE_EVENTS = (30.0, 85.0, 140.0)
"""Planted moments of ``sample_vod`` (seconds): audio bursts start here, chat reacts 18 s later."""
AUDIO_ONLY_EVENTS = (50.0, 125.0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_error_logs: the test expects ERROR log records; the error-log guard ignores them")


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture(scope="session")
def sample_vod(synthetic_dir: Path) -> SyntheticVod:
    """3 minutes, 320x180 10 fps H.264 + AAC 48 kHz stereo in .mp4, JSONL chat, 3 events, lag 18 s."""
    return make_vod(synthetic_dir, minutes=3, events=SAMPLE_EVENTS, chat_lag_s=18.0, seed=0, name="sample")


@pytest.fixture(scope="session")
def sample_audio_only(synthetic_dir: Path) -> SyntheticVod:
    """3 minutes of AAC 48 kHz stereo in .m4a (no video), TwitchDownloader JSON chat, 2 events, lag 18 s."""
    return make_vod(synthetic_dir, minutes=3, events=AUDIO_ONLY_EVENTS, chat_lag_s=18.0, video=False,
                    chat_format="twitchdownloader", seed=1, name="audio_only")


@pytest.fixture(scope="session")
def media_no_audio(synthetic_dir: Path) -> Path:
    """A 5 s video-only .mp4 (no audio stream)."""
    return make_media_without_audio(synthetic_dir / "no_audio.mp4")


@pytest.fixture(scope="session")
def corrupt_media(synthetic_dir: Path) -> Path:
    """An .mp4 cut off halfway, before its index (ffmpeg: "moov atom not found")."""
    return make_corrupt_media(synthetic_dir / "corrupt.mp4")


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_error_logs(request: pytest.FixtureRequest):
    """Fail the test if anything reached the root logger at ERROR or above."""
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("allow_error_logs") is None:
        shown = "\n".join(f"  {r.levelname} {r.name}: {r.getMessage()}" for r in handler.records[:5])
        pytest.fail(f"the test logged {len(handler.records)} record(s) at ERROR or above:\n{shown}\n"
                    "Fix the cause, or mark the test @pytest.mark.allow_error_logs if it is expected.",
                    pytrace=False)
