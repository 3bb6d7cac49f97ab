"""``highlights bench chaos``: the report — one table per kind of attack, then the figures.

Consumes a ``ChaosReport``; produces text for the terminal (``format_report``) and a JSON-ready dict
(``to_json``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from detector.bench.chaos import ChaosReport
from detector.bench.chaos_inputs import RSS_LIMIT_MB


def _code(code: int | None) -> str:
    return "hung" if code is None else str(code)


def format_report(r: ChaosReport) -> str:
    out = [f"highlights bench chaos: {len(r.inputs)} crafted inputs, {len(r.kills)} worker kills, "
           f"{len(r.stalls)} stalled-database stops"]
    out.append("")
    out.append("crafted inputs (`highlights detect`, one process each; peak RSS of its largest process)")
    out.append(f"{'input':<52} {'exit':>4} {'s':>6} {'RSS MB':>7}  result")
    for o in r.inputs:
        verdict = "ok" if o.ok else "NOT OK"
        extra = " (read whole)" if o.whole else (" (NOT read whole)" if o.whole is False else "")
        said = f" — {o.said}" if o.code == 2 and o.said else ""
        out.append(f"{o.name[:52]:<52} {_code(o.code):>4} {o.seconds:6.1f} {o.peak_rss_mb:7.0f}  "
                   f"{verdict}{extra}{said[:110]}")
    out.append("")
    out.append("worker kills (SIGKILL while ffmpeg works; a second worker finishes the job)")
    out.append(f"{'backend':<9} {'stage':<7} {'ffmpeg':>6} {'orphans':>7} {'rerun s':>8} {'status':<10} {'attempts':>8} "
               f"{'lost':>4} {'dup':>4} {'leftovers':>9}")
    for k in r.kills:
        if not k.reached:
            out.append(f"{k.backend:<9} {k.stage:<7} missed: {'; '.join(k.notes)}")
            continue
        rerun = f"{k.rerun_s:.1f}" if k.rerun_s is not None else "-"
        out.append(f"{k.backend:<9} {k.stage:<7} {k.ffmpeg_at_kill:>6} {k.orphans:>7} {rerun:>8} {k.status:<10} "
                   f"{k.attempts:>8} {int(k.lost):>4} {int(k.duplicated):>4} {len(k.leftovers):>9}")
        for path in k.leftovers:
            out.append(f"          left behind: {path}")
    if r.stalls:
        out.append("")
        out.append("SIGTERM while the database hangs (queries, the stalled-job recovery's included, get no answer)")
        for stall in r.stalls:
            took = f"{stall.exit_s:.1f} s" if stall.exit_s is not None else "never (killed)"
            out.append(f"{stall.backend:<9} exited after {took}, status {_code(stall.code)}; limit {stall.limit_s:.0f} s "
                       f"(--grace {stall.grace_s:g} s + margin){'' if stall.ok else '  <-- NOT OK'}")
    if r.secrets is not None:
        out.append("")
        out.append(f"secret grep: {r.secrets.runs} command-line runs at DEBUG, {r.secrets.secrets} secrets, "
                   f"{len(r.secrets.leaks)} leaks" + "".join(f"\n  LEAK {x}" for x in r.secrets.leaks))
    if r.votes:
        out.append("")
        out.append("vote attacks")
        for v in r.votes:
            out.append(f"  {v.name}: {'WORKED' if v.moved else 'no effect'} ({v.detail})")
    if r.hostile is not None:
        h = r.hostile
        out.append("")
        out.append(f"hostile references: {h.tried} tried, {h.refused} refused with a clear message, "
                   f"{len(h.accepted)} accepted (all on Twitch: {not h.off_twitch}), {len(h.crashes)} crashes")
        out += [f"  CRASH {c}" for c in h.crashes] + [f"  OFF TWITCH {x}" for x in h.off_twitch]
    for s in r.skipped:
        out.append(f"skipped: {s}")
    f = r.figures
    out.append("")
    out.append(f"figures: lost {f['lost']}, duplicated {f['duplicated']}, orphans {f['orphans']}, leftovers "
               f"{f['leftovers']}, tracebacks {f['tracebacks']}, hangs {f['hangs']}, peak RSS {f['peak_rss_mb']:.0f} MB "
               f"(inputs at or over {RSS_LIMIT_MB:.0f} MB: {f['inputs_over_rss_limit']}), secret leaks "
               f"{f['secret_leaks']}, vote attacks that worked {f['vote_attacks_that_worked']}, kills that missed "
               f"their stage {f['kills_missed']}")
    out.append("result: " + ("every figure is zero" if r.clean else "SOMETHING FAILED (see above)"))
    return "\n".join(out)


def to_json(r: ChaosReport) -> dict[str, Any]:
    data = dataclasses.asdict(r)
    data["figures"] = r.figures
    data["clean"] = r.clean
    return data
