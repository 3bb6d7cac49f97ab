"""Output stage, HTML report: the report's inline stylesheet and signal colours.

Consumed by ``html_report``; a light, print-friendly page in system fonts, with no web fonts
or other external resources (rendered clips, when shown, are files beside the report).
"""

from __future__ import annotations

from collections.abc import Iterable

PALETTE = ("#2563eb", "#dc2626", "#059669", "#7c3aed", "#d97706", "#0891b2", "#db2777", "#65a30d")
FUSED_COLOUR = "#1f2937"


_FAMILY_COLOURS = (("chat", 0), ("audio", 1), ("transcript", 2), ("speech", 2), ("vision", 3), ("scene", 4))
"""Signal families keep their colour from report to report (chat is always blue, audio red...)."""


def signal_colours(names: Iterable[str]) -> dict[str, str]:
    """A colour per signal name: its family's colour, else the next unused palette colour."""
    colours: dict[str, str] = {}
    pending = []
    for name in dict.fromkeys(names):
        family = next((i for prefix, i in _FAMILY_COLOURS if name.lower().startswith(prefix)), None)
        if family is None:
            pending.append(name)
        else:
            colours[name] = PALETTE[family]
    free = [c for c in PALETTE if c not in colours.values()] or list(PALETTE)
    for i, name in enumerate(pending):
        colours[name] = free[i % len(free)]
    return colours


CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #1f2937;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 12px; }
h3 { font-size: 15px; margin: 0; }
.muted { color: #6b7280; }
.panel { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 16px 20px;
  box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.facts-grid { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 12px 0 0; }
.facts-grid dt { color: #6b7280; }
.facts-grid dd { margin: 0; overflow-wrap: anywhere; }
.tag { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  background: #eef2ff; color: #3730a3; margin-left: 6px; }
.tag.prior { background: #fef3c7; color: #92400e; }
.warn { background: #fffbeb; border: 1px solid #fde68a; border-radius: 8px; padding: 8px 12px; margin-top: 12px; }
.warn ul { margin: 4px 0 0 18px; padding: 0; }
.warn-text { color: #b45309; }
details { margin-top: 12px; }
summary { cursor: pointer; color: #374151; }
table.params { border-collapse: collapse; margin-top: 8px; font-size: 13px; }
table.params td { padding: 2px 14px 2px 0; border-bottom: 1px solid #f0f1f3; }
table.params td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart-block { margin-bottom: 14px; }
.chart-head { display: flex; align-items: baseline; gap: 10px; margin-bottom: 2px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -1px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .plot { fill: #fff; stroke: #e5e7eb; }
svg.chart .grid { stroke: #eef0f3; }
svg.chart .zero { stroke: #9ca3af; stroke-width: 1; }
svg.chart .threshold { stroke: #f59e0b; stroke-width: 1; stroke-dasharray: 5 4; }
svg.chart .trace { fill: none; stroke-width: 1.2; stroke-linejoin: round; pointer-events: none; }
svg.chart .band { fill: #fb923c; fill-opacity: .22; }
svg.chart a:hover .band { fill-opacity: .45; }
svg.chart .rank { font-size: 11px; font-weight: 600; fill: #c2410c; text-anchor: middle; }
svg.chart .tick, svg.chart .ylab { font-size: 11px; fill: #6b7280; }
svg.chart .ylab.thr { fill: #b45309; paint-order: stroke; stroke: #fff; stroke-width: 3px; font-weight: 600; }
.clip { display: grid; grid-template-columns: 64px 1fr; gap: 16px; margin-bottom: 14px; scroll-margin-top: 12px; }
.clip:target { outline: 2px solid #fb923c; }
.clip .rank { font-size: 26px; font-weight: 700; color: #c2410c; text-align: center; }
.when { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; }
.when .times { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.score { margin-left: auto; font-weight: 600; font-variant-numeric: tabular-nums; }
.summary { margin: 6px 0 10px; }
.bar { display: flex; height: 12px; border-radius: 6px; overflow: hidden; background: #f1f2f4; }
.bar span { display: block; height: 100%; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; margin: 6px 0 8px; }
.legend .neg { color: #6b7280; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; color: #374151; }
.stats b { font-variant-numeric: tabular-nums; }
.emotes { margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px; }
.chip { background: #f3f4f6; border: 1px solid #e5e7eb; border-radius: 999px; padding: 0 10px; font-size: 13px; }
.chat { list-style: none; margin: 10px 0 0; padding: 8px 12px; background: #f9fafb; border-radius: 8px;
  border: 1px solid #f0f1f3; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  max-height: 220px; overflow: auto; }
.chat li { overflow-wrap: anywhere; }
.media { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 12px; margin: 10px 0 4px; }
.media figure { margin: 0; }
.media video { display: block; background: #111827; border-radius: 8px; }
.media .wide video { width: 480px; max-width: 100%; aspect-ratio: 16 / 9; }
.media .tall video { height: 270px; aspect-ratio: 9 / 16; }
.media figcaption { font-size: 12px; color: #6b7280; }
.empty { text-align: center; padding: 28px; color: #6b7280; }
footer { margin-top: 32px; font-size: 12px; color: #9ca3af; }
"""
