"""``highlights bench chaos``: the standing adversarial run, and the figures it must keep at zero.

Consumes the backends to use (``queue_databases.choose_targets``: a new SQLite file, a scratch
PostgreSQL database) and a scratch folder; runs, in order: every crafted input through ``highlights
detect`` (``chaos_inputs``), a SIGKILL of a real worker in each stage on each backend with a second
worker finishing the job (``chaos_kills``), a SIGTERM while the database hangs on each backend
(``chaos_stall``), the secret grep, the vote attacks and the hostile references (``chaos_probes``).
Produces a ``ChaosReport`` whose ``figures`` are: jobs lost and duplicated, orphaned ffmpeg
processes, files left behind, tracebacks, hangs (including a worker that outlived its stop limit),
the largest peak RSS on a crafted input, secrets leaked, vote attacks that moved tuning and hostile
references that crashed or left Twitch.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from detector.bench.chaos_inputs import RSS_LIMIT_MB, InputOutcome, run_inputs
from detector.bench.chaos_kills import STAGES, JobSpec, KillOutcome, kill_mid_stage
from detector.bench.chaos_probes import HostileOutcome, SecretGrep, VoteAttack, grep_secrets, hostile_references, vote_attacks
from detector.bench.chaos_stall import StallOutcome, sigterm_while_hung
from detector.bench.queue_databases import BenchTarget, Skipped

RENDER = {"layouts": ["9:16"], "top": 2, "reel": True}
"""What the killed job renders: re-encoded vertical clips and a reel, so ffmpeg runs long enough to be caught."""


@dataclass(frozen=True, slots=True)
class ChaosReport:
    inputs: tuple[InputOutcome, ...] = ()
    kills: tuple[KillOutcome, ...] = ()
    stalls: tuple[StallOutcome, ...] = ()
    secrets: SecretGrep | None = None
    votes: tuple[VoteAttack, ...] = ()
    hostile: HostileOutcome | None = None
    skipped: tuple[str, ...] = ()
    worker_tracebacks: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def figures(self) -> dict[str, float]:
        reached = [k for k in self.kills if k.reached]
        return {
            "lost": sum(k.lost for k in reached),
            "duplicated": sum(k.duplicated for k in reached),
            "orphans": sum(k.orphans for k in reached),
            "leftovers": sum(len(k.leftovers) for k in reached),
            "tracebacks": sum(o.traceback for o in self.inputs) + self.worker_tracebacks
            + (len(self.hostile.crashes) if self.hostile else 0),
            "hangs": sum(o.hung for o in self.inputs) + sum(not s.ok for s in self.stalls),
            "peak_rss_mb": max((o.peak_rss_mb for o in self.inputs), default=0.0),
            "inputs_over_rss_limit": sum(o.peak_rss_mb >= RSS_LIMIT_MB for o in self.inputs),
            "inputs_not_ok": sum(not o.ok for o in self.inputs),
            "kills_missed": sum(not k.reached for k in self.kills),
            "secret_leaks": len(self.secrets.leaks) if self.secrets else 0,
            "vote_attacks_that_worked": sum(v.moved for v in self.votes),
            "hostile_references_off_twitch": len(self.hostile.off_twitch) if self.hostile else 0,
        }

    @property
    def clean(self) -> bool:
        f = self.figures
        return all(f[k] == 0 for k in f if k != "peak_rss_mb")


def run_chaos(targets: Sequence[BenchTarget | Skipped], say: Callable[[str], None], *, stop_margin_s: float,
              lease_s: float = 3.0, keep: Path | None = None, heavy: bool = True) -> ChaosReport:
    """Everything in the module docstring; ``stop_margin_s``: how long past ``--grace`` a worker may take
    to stop; ``keep``: the scratch folder (default a temp one, removed)."""
    work = keep or Path(tempfile.mkdtemp(prefix="highlights-chaos-"))
    try:
        return asyncio.run(_run(targets, say, work, lease_s, heavy, stop_margin_s))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


async def _run(targets: Sequence[BenchTarget | Skipped], say: Callable[[str], None], work: Path, lease_s: float,
               heavy: bool, stop_margin_s: float) -> ChaosReport:
    from detector.synthetic.vod import make_vod
    from storage.url import sqlite_url

    say("crafted inputs through `highlights detect`, one process each")
    inputs = await asyncio.to_thread(run_inputs, work / "crafted", say, heavy=heavy)
    say("a 3-minute synthetic VOD for the worker kills")
    vod = await asyncio.to_thread(make_vod, work / "vod", minutes=3, name="chaos")
    assert vod.media_path is not None  # made with video and sound
    spec = JobSpec(media=vod.media_path, chat=vod.chat_path, render=RENDER)
    kills: list[KillOutcome] = []
    stalls: list[StallOutcome] = []
    skipped = [f"{t.backend}: {t.reason}" for t in targets if isinstance(t, Skipped)]
    pg_db_for_secrets: BenchTarget | None = None
    for target in (t for t in targets if isinstance(t, BenchTarget)):
        pg_db_for_secrets = target if target.backend == "postgres" else pg_db_for_secrets
        for stage in STAGES:
            async with target.open() as url:
                say(f"{target.backend}: SIGKILL of a worker while ffmpeg works on the {stage} stage")
                outcome = await kill_mid_stage(url, target.backend, stage, spec,
                                               work / "kills" / f"{target.backend}-{stage}", lease_s=lease_s)
                say(_kill_line(outcome))
                kills.append(outcome)
        async with target.open() as url:
            say(f"{target.backend}: SIGTERM while the database hangs")
            stall = await asyncio.to_thread(partial(sigterm_while_hung, url, target.backend, work / "stalls" / target.backend,
                                                    margin_s=stop_margin_s, lease_s=lease_s))
            say(f"  exited {stall.exit_s:.1f} s after SIGTERM (limit {stall.limit_s:.0f} s)" if stall.exit_s is not None
                else "  did not exit: killed")
            stalls.append(stall)
    say("secrets: the command line at DEBUG with passwords in its storage URLs")
    if pg_db_for_secrets is not None:
        async with pg_db_for_secrets.open() as url:
            secrets = await asyncio.to_thread(grep_secrets, url, work / "secrets", vod.media_path)
    else:
        secrets = await asyncio.to_thread(grep_secrets, None, work / "secrets")
    say("vote attacks on a fresh database")
    (work / "votes").mkdir(parents=True, exist_ok=True)
    votes = await asyncio.to_thread(vote_attacks, sqlite_url(work / "votes" / "votes.db"))
    hostile = hostile_references()
    tracebacks = sum("Traceback (most recent call last)" in p.read_text(errors="replace")
                     for p in (work / "kills").rglob("*.log")) + \
        sum("Traceback (most recent call last)" in p.read_text(errors="replace") for p in (work / "stalls").rglob("*.log"))
    return ChaosReport(tuple(inputs), tuple(kills), tuple(stalls), secrets, tuple(votes), hostile, tuple(skipped),
                       tracebacks)


def _kill_line(k: KillOutcome) -> str:
    if not k.reached:
        return f"  missed: {'; '.join(k.notes)}"
    rerun = f"{k.rerun_s:.1f} s" if k.rerun_s is not None else "never"
    return (f"  ffmpeg at the kill {k.ffmpeg_at_kill}, orphans {k.orphans}, job {k.status} after {rerun} "
            f"(attempts {k.attempts}), leftovers {len(k.leftovers)}")
