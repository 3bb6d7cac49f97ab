"""Chaos bench: crafted inputs, each given to ``highlights detect`` in a process of its own.

Consumes a scratch folder; produces the inputs (``crafted_inputs``: media whose headers lie, special
files in place of media or chat, corrupted and oversized chat logs in real formats) and, for each, an
``InputOutcome`` (``try_input``): the exit status, seconds, peak RSS of the largest process (the
detector or its ffmpeg, from ``wait4``), whether a traceback was printed, whether it hung, and whether
a log that must be read whole was (its message count). A good outcome is exit 0 (or exit 2 with one
line saying what is wrong), no traceback, no hang, and under ``RSS_LIMIT_MB``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.bench import crafted_media as crafted

RSS_LIMIT_MB = 1024.0
TIMEOUT_S = 120.0
CHATTY_LINES = 2352
"""The length of the CR-only log in the issue's reproduction."""


@dataclass(frozen=True, slots=True)
class CraftedInput:
    name: str
    args: tuple[str, ...]
    """``highlights detect`` arguments (paths included)."""
    messages: int | None = None
    """For chat logs that must be read whole: how many messages they hold."""


@dataclass(frozen=True, slots=True)
class InputOutcome:
    name: str
    code: int | None
    seconds: float
    peak_rss_mb: float
    traceback: bool
    hung: bool
    whole: bool | None
    said: str
    """The last line the command printed on stderr (its error, if any)."""

    @property
    def ok(self) -> bool:
        return (self.code in (0, 2) and not self.traceback and not self.hung and self.peak_rss_mb < RSS_LIMIT_MB
                and self.whole is not False)


def _chatty(lines: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    start = 14 * 3600
    out = []
    for i in range(lines):
        t = start + i * 4 + rng.randrange(4)
        out.append(f"[{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}] <viewer{rng.randrange(400)}> "
                   f"{rng.choice(['KEKW', 'PogChamp', 'no way', 'LUL', 'what a play', 'gg'])} {i}")
    return out


def crafted_inputs(folder: Path, *, heavy: bool = True) -> list[CraftedInput]:
    """Make every crafted input under ``folder``; ``heavy=False`` leaves out the slow, large ones."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder
    made: list[CraftedInput] = []

    def media(name: str, path: Path) -> None:
        made.append(CraftedInput(name, (str(path),)))

    def chat(name: str, path: Path, messages: int | None = None) -> None:
        made.append(CraftedInput(name, ("--chat", str(path)), messages))

    media("MKV whose header claims 5e7 s", crafted.lying_mkv(f / "claims-5e7.mkv", 5e7))
    media("MKV whose header claims 1e7 s", crafted.lying_mkv(f / "claims-1e7.mkv", 1e7))
    media("MKV whose header claims 1e12 s", crafted.lying_mkv(f / "claims-1e12.mkv", 1e12))
    media("MKV whose header claims 23 h (under the cap)", crafted.lying_mkv(f / "claims-23h.mkv", 23 * 3600.0))
    media("MP4 whose mvhd/mdhd claim 4e6 s", crafted.lying_mp4(f / "claims-4e6.mp4", 4e6))
    media("MKV whose packets jump 5e7 s ahead", crafted.timestamp_jump_mkv(f / "jump.mkv", 5e7))
    media("WAV whose data chunk claims 4 GiB", crafted.lying_wav(f / "claims-4gib.wav"))
    whole = crafted.lying_mkv(f / "whole.mkv", 6.0)
    cut = f / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    media("MKV cut off after a third", cut)
    (f / "random.mp4").write_bytes(random.Random(3).randbytes(200_000))
    media("random bytes named .mp4", f / "random.mp4")
    (f / "empty.mp4").write_bytes(b"")
    media("an empty .mp4", f / "empty.mp4")
    # special files in place of a file
    fifo = f / "fifo.mp4"
    if not fifo.exists():
        os.mkfifo(fifo)
    media("a FIFO as media", fifo)
    chat("a FIFO as --chat", fifo)
    media("/dev/zero as media", Path("/dev/zero"))
    chat("/dev/urandom as --chat", Path("/dev/urandom"))
    sock = f / "socket.mp4"
    if not sock.exists():
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock))
        s.close()
    media("a socket as media", sock)
    loop = f / "loop.mp4"
    if not loop.is_symlink():
        loop.symlink_to(loop.name)
    media("a symlink loop as media", loop)
    chat("a symlink loop as --chat", loop)
    broken = f / "broken.json"
    if not broken.is_symlink():
        broken.symlink_to("nowhere.json")
    chat("a link to a missing chat log", broken)
    media("a directory as media", f)
    # chat logs in real formats, corrupted
    lines = _chatty(CHATTY_LINES)
    (f / "cr-only.log").write_bytes("\r".join(lines).encode())
    chat(f"Chatty log with CR-only line ends ({CHATTY_LINES} lines)", f / "cr-only.log", CHATTY_LINES)
    blocks = [lines[i: i + 200] for i in range(0, len(lines), 200)]
    random.Random(9).shuffle(blocks)
    (f / "reordered.log").write_text("\n".join(x for b in blocks for x in b), encoding="utf-8")
    chat("Chatty log with its lines out of order", f / "reordered.log", CHATTY_LINES)
    (f / "mixed-endings.log").write_bytes(b"".join(line.encode() + [b"\r\n", b"\n", b"\r"][i % 3]
                                                   for i, line in enumerate(lines)))
    chat("Chatty log with mixed line ends", f / "mixed-endings.log", CHATTY_LINES)
    (f / "nul.log").write_bytes("\n".join(lines[:500]).encode().replace(b"KEKW", b"KE\x00KW"))
    chat("Chatty log with NUL bytes in messages", f / "nul.log", 500)
    (f / "latin1.log").write_bytes("\n".join(lines[:500]).replace("gg", "ggé").encode("latin-1"))
    chat("Chatty log in Latin-1, not UTF-8", f / "latin1.log", 500)
    doc = json.dumps({"comments": [{"content_offset_seconds": i, "commenter": {"name": "a"},
                                    "message": {"body": "KEKW"}} for i in range(2000)]})
    (f / "truncated.json").write_text(doc[: len(doc) // 2], encoding="utf-8")
    chat("TwitchDownloader JSON cut off halfway", f / "truncated.json")
    (f / "one-line.log").write_text("[0:00:01] a: " + "x" * 10_000_000, encoding="utf-8")
    chat("a 10 MB single line", f / "one-line.log", 1)
    _gzip(f / "bomb-spaces.json.gz", b'{"comments": [', b" " * (1 << 20), 512 if heavy else 160, b"]}")
    chat("gzip bomb: 0.5 GiB of spaces in JSON" if heavy else "gzip bomb: 160 MiB of spaces in JSON",
         f / "bomb-spaces.json.gz")
    _gzip(f / "bomb-objects.json.gz", b'{"comments": [', b"{}," * ((1 << 20) // 3), 100, b"{}]}")
    chat("JSON of 35 million empty objects (gzip)", f / "bomb-objects.json.gz")
    if heavy:
        line = b"[0:00:01] someone: KEKW\n"
        _gzip(f / "bomb-lines.log.gz", b"", line * ((1 << 20) // len(line)), 120, b"")
        chat("text log of 5 million one-word messages (gzip)", f / "bomb-lines.log.gz")
    return made


def _gzip(path: Path, head: bytes, block: bytes, blocks: int, tail: bytes) -> None:
    if path.exists():
        return
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(head)
        for _ in range(blocks):
            out.write(block)
        out.write(tail)


def try_input(item: CraftedInput, work: Path, *, timeout_s: float = TIMEOUT_S,
              env: dict[str, str] | None = None) -> InputOutcome:
    """Run ``highlights detect`` on ``item`` in a process of its own and judge what happened."""
    work.mkdir(parents=True, exist_ok=True)
    out_json = work / "result.json"
    out_json.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "highlights", "detect", *item.args, "--json", str(out_json), "--quiet"]
    err_path = work / "stderr.txt"
    t0 = time.monotonic()
    with err_path.open("wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env=env, start_new_session=True)
        code, rss_kb, hung = _wait(proc, timeout_s)
    seconds = time.monotonic() - t0
    text = err_path.read_text(encoding="utf-8", errors="replace")
    whole = None
    if item.messages is not None:
        whole = False
        if code == 0 and out_json.exists():
            whole = json.loads(out_json.read_text(encoding="utf-8"))["meta"]["chat_messages"] == item.messages
    said = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    return InputOutcome(item.name, code, seconds, rss_kb / 1024.0, "Traceback (most recent call last)" in text,
                        hung, whole, said[:200])


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int | None, float, bool]:
    """(exit status, peak RSS in KiB of the largest process in its tree, hung); a hang is killed."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, float(usage.ru_maxrss), False
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None, float(usage.ru_maxrss), True
        time.sleep(0.05)


def run_inputs(folder: Path, say: Callable[[str], None], *, heavy: bool = True) -> list[InputOutcome]:
    outcomes = []
    for i, item in enumerate(crafted_inputs(folder / "inputs", heavy=heavy), start=1):
        outcome = try_input(item, folder / "runs" / str(i))
        say(f"{item.name}: exit {outcome.code}, {outcome.seconds:.1f} s, {outcome.peak_rss_mb:.0f} MB"
            + ("" if outcome.ok else "  <-- NOT OK"))
        outcomes.append(outcome)
    return outcomes
