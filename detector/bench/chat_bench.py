"""Chat benchmark (``highlights bench chat``): how long chat analysis takes on a long VOD's chat.

Generates a 4-hour chat log (about 100k messages by default, TwitchDownloader-like JSON Lines with
authors, reactions, emotes, copypasta and bursts) once, then times in the same process, side by
side, best of ``repeats``: parsing the file (``load_chat``), the hand-feature chat signal as it was
before the ranker (per-message lexicon, counts, rolling baselines), the ranker's per-message table
and window features and model, and the whole chat signal with the ranker (what ``detect`` runs), plus
chat-only ``detect`` end to end. Wall-clock numbers on a shared machine vary; the ratios between rows
of one run are the comparable part.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORDS = ("what", "no way", "gg", "nice", "lol", "is this ranked", "hello chat", "first time here", "?", "LETS GO",
         "KEKW", "PogChamp", "LUL", "monkaS", "OMEGALUL", "Sadge", "he is so good", "what did i miss")


@dataclass(frozen=True, slots=True)
class ChatBenchRow:
    name: str
    seconds: float
    ratio: float
    """Seconds over the parse row's seconds."""


def make_chat_file(path: Path, *, hours: float = 4.0, messages: int = 100_000, seed: int = 0) -> Path:
    """A JSON Lines chat log of ``hours`` with about ``messages`` messages (bursts every few minutes)."""
    rng = np.random.default_rng(seed)
    length = hours * 3600.0
    base = rng.uniform(0, length, int(messages * 0.85))
    centres = rng.uniform(0, length, max(int(length / 240), 1))
    burst = (rng.choice(centres, int(messages * 0.15)) + rng.exponential(6.0, int(messages * 0.15)))
    offsets = np.sort(np.clip(np.concatenate([base, burst]), 0, length))
    with path.open("w", encoding="utf-8") as f:
        for t in offsets:
            words = rng.choice(WORDS, size=int(rng.integers(1, 5)))
            text = " ".join(str(w) for w in words)
            f.write(json.dumps({"offset": round(float(t), 3), "message": text, "author": f"user{int(rng.integers(0, 5000))}"})
                    + "\n")
    return path


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_chat_bench(path: Path, *, repeats: int = 3) -> tuple[int, list[ChatBenchRow]]:
    """``(messages, rows)`` for the chat log at ``path`` (see the module docstring)."""
    from detector.compute import select_backend
    from detector.params import Settings
    from detector.pipeline import DetectRequest, detect
    from detector.signals.base import HOP_S, SignalContext, SignalInputs
    from detector.signals.chat import ChatSignal, chat_counts, excess_z
    from detector.signals.ranker.features import window_features
    from detector.signals.ranker.messages import message_table
    from detector.signals.ranker.model import default_model
    from detector.sources.chat import load_chat

    chat = load_chat(path)
    settings = Settings()
    ctx = SignalContext(settings=settings, backend=select_backend("cpu"))
    inputs = SignalInputs(duration_s=chat.duration_s, chat=chat)
    n_bins = int(np.ceil(chat.duration_s / HOP_S)) + 1
    model = default_model()

    def hand_features() -> None:
        counts = chat_counts(message_table(chat), n_bins)
        smooth = max(int(round(settings["chat_smooth_s"] / HOP_S)), 1)
        for per_bin in counts.values():
            excess_z(ctx.backend.moving_average(per_bin, smooth) / HOP_S, settings["chat_baseline_s"], smooth * HOP_S)

    def ranker_only() -> None:
        model.z_score(window_features(message_table(chat), n_bins, HOP_S))

    timed = [
        ("parse the log (load_chat)", lambda: load_chat(path)),
        ("message table + hand chat features", hand_features),
        ("ranker: message table + window features + model", ranker_only),
        ("chat signal with the ranker (both of the above)", lambda: ChatSignal().compute(inputs, ctx)),
        ("detect, chat only, end to end (parse included)",
         lambda: detect(DetectRequest(chat=path, settings=settings, device="cpu"))),
    ]
    seconds = [(name, _best(fn, repeats)) for name, fn in timed]
    floor = seconds[0][1] or 1e-9
    return len(chat.messages), [ChatBenchRow(name, s, s / floor) for name, s in seconds]


def format_chat_bench(messages: int, hours: float, rows: list[ChatBenchRow]) -> str:
    lines = [f"chat analysis of a {hours:g}-hour VOD's chat ({messages} messages), best of the repeats:",
             f"{'stage':<52} {'seconds':>8} {'× parse':>8}"]
    lines += [f"{r.name:<52} {r.seconds:>8.3f} {r.ratio:>8.2f}" for r in rows]
    return "\n".join(lines)
