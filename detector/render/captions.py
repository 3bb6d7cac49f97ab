"""Render stage, captions: transcript word timings → an ASS subtitle script for libass.

Consumes ``Word`` records (seconds on the VOD timeline; the transcript signal produces them, and
:func:`read_words` reads them from a JSON file); produces the text of an ASS script whose events
show one caption line at a time with the word being spoken highlighted. Sizes and margins are in
output pixels (``PlayResX/Y`` equal the output size), with a bottom margin that keeps vertical
video captions clear of the app buttons and titles that Shorts/TikTok/Reels draw over the bottom.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.records import Word
from detector.render.errors import CaptionsFormatError

FONT = "DejaVu Sans"
"""Family asked of fontconfig; any sans-serif it substitutes works."""
WHITE, YELLOW, BLACK = "&H00FFFFFF", "&H0000FFFF", "&H00000000"
"""ASS colours are ``&HAABBGGRR``: opaque white text, the current word yellow, black outline."""
MAX_GAP_S = 0.8
"""A pause longer than this starts a new caption line."""
HOLD_S = 0.4
"""How long a line stays up after its last word when nothing follows at once."""


@dataclass(frozen=True, slots=True)
class CaptionBox:
    """Where captions go in the output frame, in pixels: font size and the safe margins."""

    font_px: int
    margin_x: int
    margin_bottom: int

    @staticmethod
    def for_frame(width: int, height: int) -> CaptionBox:
        if height > width:  # vertical: 20 % bottom margin for the app's UI, 7 % at the sides
            return CaptionBox(max(12, round(height * 0.042)), round(width * 0.07), round(height * 0.20))
        return CaptionBox(max(12, round(height * 0.06)), round(width * 0.06), round(height * 0.07))

    def area(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the band two caption lines can occupy (tests and thumbnails use it)."""
        y1 = height - self.margin_bottom + self.font_px // 2
        return self.margin_x, max(0, y1 - 3 * self.font_px), width - self.margin_x, min(height, y1)


# --- reading -----------------------------------------------------------------------------------


def read_words(path: str | os.PathLike[str]) -> tuple[Word, ...]:
    """Words from a JSON file, sorted by start.

    Accepts ``{"words": [...]}``, a bare list, or Whisper-style ``{"segments": [{"words": [...]}]}``;
    each word has ``start``, ``end`` and ``text`` (or ``word``), times in seconds.
    """
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaptionsFormatError("the words file does not exist.", path=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptionsFormatError(f"cannot be read: {exc}.", path=where) from None
    except json.JSONDecodeError as exc:
        raise CaptionsFormatError(f"is not valid JSON (line {exc.lineno}: {exc.msg}).", path=where) from None
    if isinstance(doc, dict) and isinstance(doc.get("segments"), list) and "words" not in doc:
        items: list[Any] = [w for seg in doc["segments"] if isinstance(seg, dict) for w in seg.get("words") or []]
    elif isinstance(doc, dict) and isinstance(doc.get("words"), list):
        items = doc["words"]
    elif isinstance(doc, list):
        items = doc
    else:
        raise CaptionsFormatError('expected a "words" list (or Whisper "segments" with words).', path=where)
    return tuple(sorted((_word(item, i, where) for i, item in enumerate(items)), key=lambda w: w.start_s))


def _word(item: Any, i: int, where: str) -> Word:
    if not isinstance(item, dict):
        raise CaptionsFormatError(f"words[{i}] must be an object.", path=where)
    text = item.get("text", item.get("word"))
    start, end = item.get("start"), item.get("end")
    if not isinstance(text, str):
        raise CaptionsFormatError(f'words[{i}] needs a "text" string.', path=where)
    times = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise CaptionsFormatError(f'words[{i}] "{name}" must be seconds ≥ 0, got {value!r}.', path=where)
        times.append(float(value))
    if times[1] < times[0]:
        raise CaptionsFormatError(f'words[{i}] ends ({end}) before it starts ({start}).', path=where)
    return Word(times[0], times[1], text.strip())


def clip_words(words: Iterable[Word], start_s: float, end_s: float) -> tuple[Word, ...]:
    """The words spoken inside ``[start_s, end_s)``, shifted to clip time (0 = the clip's start)."""
    out = []
    for w in words:
        if w.end_s > start_s and w.start_s < end_s and w.text:
            out.append(Word(round(max(w.start_s, start_s) - start_s, 3), round(min(w.end_s, end_s) - start_s, 3),
                            w.text))
    return tuple(out)


# --- writing -----------------------------------------------------------------------------------


def caption_lines(words: Sequence[Word], max_chars: int) -> list[list[Word]]:
    """Group words into lines of at most ``max_chars`` characters, breaking at pauses too."""
    lines: list[list[Word]] = []
    current: list[Word] = []
    for w in words:
        length = sum(len(x.text) + 1 for x in current) + len(w.text)
        if current and (length > max_chars or w.start_s - current[-1].end_s > MAX_GAP_S):
            lines.append(current)
            current = []
        current.append(w)
    if current:
        lines.append(current)
    return lines


def ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def ass_text(text: str) -> str:
    """Plain text safe inside an ASS event: no override blocks, no escapes, one line."""
    return " ".join(text.replace("\\", "/").replace("{", "(").replace("}", ")").split())


def ass_header(width: int, height: int, styles: Sequence[str]) -> list[str]:
    return [
        "[Script Info]", "ScriptType: v4.00+", f"PlayResX: {width}", f"PlayResY: {height}",
        "WrapStyle: 0", "ScaledBorderAndShadow: yes", "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        *styles, "",
        "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]


def style_line(name: str, font_px: int, margin_x: int, margin_v: int, alignment: int = 2) -> str:
    outline = max(1.0, round(font_px / 12, 1))
    return (f"Style: {name},{FONT},{font_px},{WHITE},{WHITE},{BLACK},&H80000000,-1,0,0,0,100,100,0,0,1,"
            f"{outline},0,{alignment},{margin_x},{margin_x},{margin_v},1")


def captions_ass(words: Sequence[Word], width: int, height: int, duration_s: float) -> str:
    """The ASS script for clip-time ``words`` on a ``width``×``height`` output of ``duration_s``."""
    box = CaptionBox.for_frame(width, height)
    usable = width - 2 * box.margin_x
    max_chars = max(8, int(usable / (box.font_px * 0.62)))  # ~one line of bold sans at this size
    lines = ass_header(width, height, [style_line("Caption", box.font_px, box.margin_x, box.margin_bottom)])
    groups = caption_lines([w for w in words if w.start_s < duration_s], max_chars)
    for g, group in enumerate(groups):
        next_start = groups[g + 1][0].start_s if g + 1 < len(groups) else duration_s
        line_end = min(max(group[-1].end_s + HOLD_S, group[-1].end_s), next_start, duration_s)
        for i, word in enumerate(group):
            start = word.start_s
            end = group[i + 1].start_s if i + 1 < len(group) else line_end
            if end - start < 0.01:
                continue
            text = " ".join(
                f"{{\\c{YELLOW}&}}{ass_text(w.text)}{{\\c{WHITE}&}}" if j == i else ass_text(w.text)
                for j, w in enumerate(group)
            )
            lines.append(f"Dialogue: 0,{ass_time(start)},{ass_time(end)},Caption,,0,0,0,,{text}")
    return "\n".join(lines) + "\n"


def title_ass(title: str, width: int, height: int, duration_s: float, subtitle: str = "") -> str:
    """An ASS script that shows ``title`` (and a smaller ``subtitle``) centred for ``duration_s``."""
    big = max(14, round(min(width, height) * 0.09))
    styles = [style_line("Title", big, round(width * 0.08), 0, alignment=5),
              style_line("Sub", max(10, big // 2), round(width * 0.08), round(height * 0.30), alignment=2)]
    lines = ass_header(width, height, styles)
    lines.append(f"Dialogue: 0,{ass_time(0)},{ass_time(duration_s)},Title,,0,0,0,,{ass_text(title)}")
    if subtitle:
        lines.append(f"Dialogue: 0,{ass_time(0)},{ass_time(duration_s)},Sub,,0,0,0,,{ass_text(subtitle)}")
    return "\n".join(lines) + "\n"


def filter_path(path: str | os.PathLike[str]) -> str:
    """``path`` escaped for a filter option inside an ffmpeg filter graph (two escaping levels)."""
    text = str(path)
    for ch in ("\\", "'", ":"):
        text = text.replace(ch, "\\" + ch)
    for ch in ("\\", "'", "[", "]", ",", ";"):
        text = text.replace(ch, "\\" + ch)
    return text
