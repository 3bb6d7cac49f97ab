"""Issue 14, finding 7: the smaller holes, each reproduced as it was reported.

Arabic-Indic and full-width digits passed as VOD ids; a NUL byte or a 256-character word as a
``/highlights`` reference raised a raw ``ValueError``/``OSError``; the dedupe key differed for ``--top
10`` and the default and for a symlinked path; a malformed PostgreSQL URL gave a traceback; a
CR-only chat log lost all but one of its 2,352 messages and a Chatty log with lines out of order most
of them, both exiting 0; a 0.5 GiB gzip bomb took 1.1 GB; job progress showed 99 % from the second
clip on.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from pathlib import Path
from typing import Any

import pytest

from bot.errors import BadVodReference
from bot.vodref import parse_vod
from detector.bench.chaos_inputs import CraftedInput, try_input
from detector.errors import ChatFormatError
from detector.sources.chat import parse_chat_bytes
from detector.synthetic.vod import SyntheticVod
from detector.worker import Worker, WorkerOptions
from highlights.cli import main
from highlights.cmd_jobs import detect_payload
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.records import JobKind, JobRequest
from storage.twitch_ref import BadTwitchReference, parse_twitch
from storage.url import sqlite_url
from tests.bot.harness import BotHarness


# -- VOD ids and references ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["٢٠١٢٣٤٥٦٧٨", "２０１２３４５６７８", "v٢٠١٢٣٤٥٦٧٨", "https://www.twitch.tv/videos/٢٠١٢٣٤٥٦٧٨",
                                  "twitch.tv/somechannel/video/２０１２３４５６７８"])
def test_only_ascii_digits_make_a_vod_id(text: str, tmp_path: Path) -> None:
    with pytest.raises(BadTwitchReference, match="digits other than 0–9"):
        parse_twitch(text)
    for root in (None, tmp_path):
        with pytest.raises(BadVodReference, match="digits other than 0–9"):
            parse_vod(text, root, allow_channel=True)
    assert parse_vod("2012345678", None).dedupe_key("g") == parse_vod("https://www.twitch.tv/videos/2012345678",
                                                                      None).dedupe_key("g")


@pytest.mark.parametrize("text, reply", [
    ("a\x00b", "contains a control character"),
    ("x" * 256, "is too long to be a VOD link, id, channel or file name"),
    ("dir/" + "y" * 300 + ".mp4", "is too long to be a VOD link, id, channel or file name"),
])
async def test_a_nul_byte_or_an_over_long_word_gets_a_clear_reply(text: str, reply: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    h = await BotHarness.start(tmp_path, monkeypatch, media_root=media)
    try:
        answer = await h.answer(h.slash("highlights", vod=text))
        assert reply in answer and "Something went wrong" not in answer
    finally:
        await h.close()


# -- the dedupe key ------------------------------------------------------------------------------------------
def test_the_dedupe_key_is_canonical(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"offset": 1, "message": "hi"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(chat.name)
    key = detect_payload(None, chat, [])[1]
    assert detect_payload(None, chat, [], top=10)[1] == key  # --top 10 is the default 10
    assert detect_payload(None, chat, ["top_k=10.0"])[1] == key
    assert detect_payload(None, link, [])[1] == key  # a link joins the job of its target
    assert detect_payload(None, tmp_path / "." / "chat.jsonl", [])[1] == key
    assert detect_payload(None, chat, [], top=11)[1] != key


# -- storage URLs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["postgresql://u@[::1/db", "postgresql://u@host:99999/db", "postgresql://u@host:port/db",
                                 "postgresql://u@host/db?sslmode", "postgresql://u@host/d b", "postgresql://"])
def test_a_malformed_postgres_url_is_one_clear_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: storage URL") and "Traceback" not in err


# -- chat logs read whole, or refused loudly -------------------------------------------------------------------
def chatty(lines: int = 2352) -> list[str]:
    rng = random.Random(4)
    out = []
    for i in range(lines):
        t = 14 * 3600 + i * 4
        out.append(f"[{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}] <viewer{rng.randrange(300)}> KEKW {i}")
    return out


def test_a_cr_only_chatty_log_is_read_whole() -> None:
    log = parse_chat_bytes("\r".join(chatty()).encode(), name="cr.log")
    assert len(log.messages) == 2352


@pytest.mark.parametrize("block", [1, 50, 500])
def test_a_chatty_log_with_lines_out_of_order_is_read_whole(block: int) -> None:
    lines = chatty()
    blocks = [lines[i: i + block] for i in range(0, len(lines), block)]
    random.Random(block).shuffle(blocks)
    log = parse_chat_bytes("\n".join(x for b in blocks for x in b).encode(), name="reordered.log")
    assert len(log.messages) == 2352
    assert log.duration_s == pytest.approx(2351 * 4, abs=1)  # one stream's length, not days
    assert [m.offset_s for m in log.messages] == sorted(m.offset_s for m in log.messages)


def test_a_real_midnight_is_still_the_next_day() -> None:
    log = parse_chat_bytes(b"[23:59:50] <a> one\n[23:59:58] <b> two\n[00:00:04] <c> three\n", name="midnight.log")
    assert [m.offset_s for m in log.messages] == [0.0, 8.0, 14.0]


def test_a_log_that_would_lose_most_messages_is_refused_loudly() -> None:
    from datetime import datetime

    text = "\n".join(chatty(100)).encode()
    with pytest.raises(ChatFormatError, match="lie before the VOD start"):
        parse_chat_bytes(text, name="late.log", vod_start=datetime(2024, 1, 1, 14, 5))


def test_a_gzip_bomb_is_refused_well_under_a_gigabyte(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb", compresslevel=6) as out:
        out.write(b'{"comments": [')
        block = b" " * (1 << 20)
        for _ in range(512):  # 0.5 GiB inflated: took 1.1 GB of RSS with the old 1 GiB cap
            out.write(block)
        out.write(b"]}")
    outcome = try_input(CraftedInput("gzip bomb", ("--chat", str(bomb))), tmp_path / "run")
    assert outcome.code == 2 and not outcome.traceback and "inflates to more than 128 MiB" in outcome.said
    assert outcome.peak_rss_mb < 1024


# -- honest render progress -----------------------------------------------------------------------------------
class RecordingQueue:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[tuple[str | None, float | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def progress(self, job_id: int, worker_id: str, *, stage: str | None = None,
                       fraction: float | None = None, message: str | None = None) -> bool:
        self.writes.append((stage, fraction))
        return await self.inner.progress(job_id, worker_id, stage=stage, fraction=fraction, message=message)


async def test_render_progress_rises_clip_by_clip(sample_vod: SyntheticVod, tmp_path: Path) -> None:
    payload, key = detect_payload(sample_vod.media_path, sample_vod.chat_path, ["min_gap_s=30"], top=2)
    payload["render"] = {"layouts": ["16:9", "9:16"], "top": 2, "reel": True}
    async with await open_storage(sqlite_url(tmp_path / "q.db")) as storage:
        await storage.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload=payload, dedupe_key=key))
        queue = RecordingQueue(storage.queue)
        worker = Worker(queue, storage.repo, ArtifactStore.for_storage(None, tmp_path / "art"),
                        WorkerOptions(worker_id="w", once=True, idle_s=0.05))
        await asyncio.wait_for(worker.run(), 600)
    rendering = [(s, f) for s, f in queue.writes if s and s.startswith("rendering") and f is not None]
    firsts: dict[str, float] = {}
    for stage, fraction in rendering:
        firsts.setdefault(stage, fraction)
    clip_stages = [s for s in firsts if " clip " in s]
    assert len(clip_stages) == 4, firsts  # 2 clips × 2 layouts
    starts = [firsts[s] for s in clip_stages]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), firsts
    assert starts[1] < 0.9, f"the second clip starts at {starts[1]:.0%} of the job"
    assert any(s.endswith("reel") for s in firsts) and max(f for _, f in rendering) <= 0.99
