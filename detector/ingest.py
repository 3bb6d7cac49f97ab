"""Sources stage for queued jobs: a Twitch VOD id → the local files each later stage needs, no more.

Consumes a DETECT job's Twitch VOD id and its artifact folder; produces ``TwitchSources``: the VOD's
**chat replay** (TwitchDownloader JSON, unless the job brought its own chat file), the whole VOD's
**audio** (the audio-only rendition — no video segment is requested), its metadata and **muted**
(DMCA) spans. During detection, with the hybrid stages on, ``fetch_overview_video`` fetches the whole VOD at
160p for the gameplay/talking segmenter and ``fetch_analysis_video`` the candidate windows' picture
at 360p for the vision model and exact cuts. After detection, ``fetch_render_sections`` downloads only
the stretches the clips to render cover (with margins) and ``SectionMap`` puts each clip on its
section's own timeline. Once the job is done, ``discard_downloads`` removes the audio and video (the
chat replay is kept). Everything goes through ``detector.sources.twitch`` (yt-dlp's Twitch extractor
for resolution, our GQL for muted spans and chat), whose base URLs come from the environment, so tests
and benches point it at a local double.

A chat replay Twitch refuses (``ChatRefused``: "failed integrity check", a retired query) does not
fail the job, and is never a silent downgrade: the job is detected from audio alone and
``TwitchSources.notes`` says "chat replay refused by Twitch: <reason>; these clips come from audio
only", which the result and the Discord card show. A VOD that is gone, subscriber-only (without a
token that grants access) or still recording fails the job for good with that reason; an outage after
retries — chat's included — may pass, so it is retryable. The chat comes first: it is small, and an
outage then costs no audio download.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from detector.records import AbortCheck, Candidate, MediaInfo, ProgressCallback
from detector.sources.frames import SectionedVideo
from detector.sources.twitch import (
    ChatRefused,
    ResolvedVod,
    Section,
    VodMeta,
    default_resolver,
    download_chat,
    fetch_audio,
    fetch_sections,
)

log = logging.getLogger(__name__)

SOURCE_FOLDER = "source"
"""Where a job's downloaded audio, chat and sections live, inside its artifact folder."""
SECTION_MARGIN_S = 10.0
"""Seconds fetched around each clip, so snapping and fades have room."""
SECTION_HEIGHT = 1080
"""The tallest rendition fetched for rendering (a 9:16 crop of 1080p keeps 608 px of width)."""


@dataclass(frozen=True, slots=True)
class TwitchSources:
    """What ingestion fetched for one VOD."""

    vod_id: str
    meta: VodMeta
    audio: Path
    chat: Path | None
    muted: tuple[tuple[float, float], ...]
    warnings: tuple[str, ...] = ()
    chat_refused: str | None = None
    """Twitch's reason when it refused the chat replay (the clips then come from audio only)."""

    @property
    def notes(self) -> tuple[str, ...]:
        """What a person must be told about this job's sources (the result and the job card show them)."""
        return (chat_refused_note(self.chat_refused),) if self.chat_refused else ()


def chat_refused_note(reason: str) -> str:
    return f"chat replay refused by Twitch: {reason}; these clips come from audio only"


def fetch_twitch_sources(vod_id: str, folder: Path, *, want_chat: bool = True,
                         progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> TwitchSources:
    """Resolve ``vod_id`` and download its chat replay (when ``want_chat``) and audio under ``folder``."""
    dest = folder / SOURCE_FOLDER
    resolver = default_resolver(abort=abort)
    vod: ResolvedVod = resolver.resolve(vod_id)
    chat: Path | None = None
    warnings: list[str] = []
    refused: str | None = None
    if want_chat:
        try:
            replay = download_chat(vod.vod_id, dest / "chat.json", client=resolver.gql, meta=vod.meta,
                                   progress=progress, abort=abort)
            if replay.comments:
                chat = replay.path
            else:
                warnings.append("the VOD's chat replay has no messages; detected from the audio alone")
        except ChatRefused as exc:
            refused = exc.reason
            log.warning("VOD %s: %s (%s)", vod_id, chat_refused_note(refused), exc.message)
    audio = fetch_audio(vod.playlist_url, dest, progress=progress, abort=abort)
    muted = tuple((float(a), float(b)) for a, b in vod.meta.muted)
    return TwitchSources(vod.vod_id, vod.meta, audio.path, chat, muted, tuple(warnings), refused)


def muted_seconds(start_s: float, end_s: float, muted: Sequence[tuple[float, float]]) -> float:
    """How many seconds of ``[start_s, end_s)`` fall inside the muted spans."""
    return sum(max(0.0, min(end_s, b) - max(start_s, a)) for a, b in muted)


def flag_muted(candidates: Sequence[Candidate], muted: Sequence[tuple[float, float]]) -> tuple[Candidate, ...]:
    """Candidates with ``explanation.muted_s`` set where they overlap a muted span."""
    out = []
    for c in candidates:
        seconds = muted_seconds(c.start_s, c.end_s, muted)
        if seconds > 0:
            c = replace(c, explanation=replace(c.explanation, muted_s=round(seconds, 1)))
        out.append(c)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SectionMap:
    """Downloaded sections of a VOD, and which one holds each clip."""

    sections: tuple[Section, ...]

    def section_for(self, start_s: float, end_s: float) -> Section | None:
        """The section covering ``[start_s, end_s]`` (None when none does)."""
        for section in self.sections:
            if section.start_s <= start_s + 1e-3 and end_s <= section.end_s + 1e-3:
                return section
        return None

    def locate(self, start_s: float, end_s: float) -> tuple[Path, float] | None:
        """The file holding ``[start_s, end_s]`` and the VOD time its first frame shows (render's
        ``SectionSource``)."""
        section = self.section_for(start_s, end_s)
        return None if section is None else (section.path, section.start_s)

    def local(self, candidate: Candidate) -> tuple[Section, Candidate] | None:
        """The section holding ``candidate`` and the candidate moved onto that file's timeline."""
        section = self.section_for(candidate.start_s, candidate.end_s)
        if section is None:
            return None
        shift = section.start_s
        return section, replace(candidate, start_s=candidate.start_s - shift, end_s=candidate.end_s - shift,
                                peak_s=candidate.peak_s - shift)


def fetch_render_sections(vod_id: str, folder: Path, candidates: Sequence[Candidate], *,
                          height: int = SECTION_HEIGHT, margin_s: float = SECTION_MARGIN_S,
                          progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> SectionMap:
    """Download only the parts of the VOD the ``candidates`` cover (± ``margin_s``), as ``.mp4`` files.

    The playlist is resolved again here: usher's token inside it expires while detection runs."""
    if not candidates:
        return SectionMap(())
    resolver = default_resolver(abort=abort)
    url = resolver(vod_id)
    windows = [(c.start_s, c.end_s) for c in candidates]
    sections = fetch_sections(url, folder / SOURCE_FOLDER, windows, height=height, margin_s=margin_s,
                              progress=progress, abort=abort)
    return SectionMap(tuple(sections))


def discard_downloads(folder: Path) -> int:
    """Remove a finished job's downloaded audio and sections (the clips are rendered by then); the chat
    replay stays, since users reuse it. Returns the bytes freed."""
    freed = 0
    source = folder / SOURCE_FOLDER
    if not source.is_dir():
        return 0
    for path in source.iterdir():
        if path.is_file() and path.suffix.lower() != ".json":
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    return freed


ANALYSIS_HEIGHT = 360
"""Rendition fetched for vision and exact cuts: small frames are all they look at."""


def fetch_analysis_video(vod_id: str, folder: Path, windows: Sequence[tuple[float, float]], duration_s: float, *,
                         height: int = ANALYSIS_HEIGHT, progress: ProgressCallback | None = None,
                         abort: AbortCheck | None = None) -> SectionedVideo | None:
    """The video of ``windows`` only, at a low resolution, as one ``SectionedVideo`` on the VOD timeline
    (the pipeline's ``video_for`` for a Twitch job; None when there is nothing to fetch)."""
    if not windows:
        return None
    from detector.sources.media import probe

    url = default_resolver(abort=abort)(vod_id)
    sections = fetch_sections(url, folder / SOURCE_FOLDER, windows, height=height, margin_s=0.0, name="analysis",
                              progress=progress, abort=abort)
    return SectionedVideo.of([(probe(s.path), s.start_s) for s in sections], duration_s)


OVERVIEW_HEIGHT = 160
"""Rendition fetched whole for the gameplay/talking segmenter: motion, cuts and speech need no more."""


def fetch_overview_video(vod_id: str, folder: Path, length_s: float, *, height: int = OVERVIEW_HEIGHT,
                         progress: ProgressCallback | None = None, abort: AbortCheck | None = None) -> MediaInfo | None:
    """The whole VOD at Twitch's smallest rendition (160p, ~0.1–0.2 GB an hour) for the segmenter, which
    labels every stretch and so needs every stretch's picture (the pipeline's ``overview_for``)."""
    if length_s <= 0:
        return None
    from detector.sources.media import probe

    url = default_resolver(abort=abort)(vod_id)
    sections = fetch_sections(url, folder / SOURCE_FOLDER, [(0.0, length_s)], height=height, margin_s=0.0,
                              name="overview", progress=progress, abort=abort)
    return probe(sections[0].path) if sections else None
