"""``highlights params``: print the table of tunable parameters (name, default, range, unit, meaning)."""

from __future__ import annotations

import argparse

from detector.params import PARAMS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="list the tunable detector parameters")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    width = max(len(p.name) for p in PARAMS)
    print(f"{'name':<{width}}  {'default':>8}  {'range':>16}  {'unit':<6} meaning")
    for p in PARAMS:
        rng = f"[{p.min:g}, {p.max:g}]"
        print(f"{p.name:<{width}}  {p.default:>8g}  {rng:>16}  {p.unit:<6} {p.meaning}")
    return 0
