"""Worker stage, the ADAPT job: a guild × streamer's labels → its adapted chat ranker, stored.

Consumes an ADAPT job (payload ``{"guild_id", "streamer_id", "vods": N}``, queued weekly per
subscription by the scheduler, or by ``highlights adapt --twitch``), Helix (the streamer's ``N``
newest VODs and their viewers' clips), Twitch's chat replay of those VODs (GQL; cached under the
artifact root so a weekly refresh downloads only new VODs), and the votes members cast on this
guild's posted clips of the streamer; produces a new adaptation version in the repository
(``Repository.new_adaptation``) that the next DETECT job of the pair uses, and a result saying what
it learned from ("adapted from 212 viewer clips over 9 VODs"). Too few labels store nothing and say
why; a Twitch outage is retried later.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.errors import ConfigError, DetectorError
from detector.job_control import JobControl
from detector.signals.ranker.adapt import AdaptError, AdaptOptions, adapt
from detector.signals.ranker.labels import VotedSpan, from_viewer_clips, from_votes, merge_spans
from detector.signals.ranker.model import default_model
from detector.signals.ranker.training import LabelledSpan
from storage.artifacts import ArtifactStore
from storage.records import Job
from storage.repo.port import Repository
from storage.twitch.errors import TwitchApiError

log = logging.getLogger(__name__)

DEFAULT_VODS = 10
CACHE_DIR = "chat-cache"


class AdaptSourceError(DetectorError):
    """Twitch could not give the labels or the chat (its own code and retryability are kept)."""

    def __init__(self, exc: TwitchApiError) -> None:
        super().__init__(f"Adapting needs Twitch: {exc}")
        self.code = exc.code
        self.retryable = exc.retryable


def describe(viewer_clips: int, votes: int, vods: int) -> tuple[str, str]:
    """``(source, summary)`` of an adaptation, e.g. ("viewer clips", "adapted from 212 viewer clips over 9 VODs")."""
    parts = [f"{viewer_clips} viewer clip{'s' if viewer_clips != 1 else ''}"] if viewer_clips else []
    if votes:
        parts.append(f"{votes} voted clip{'s' if votes != 1 else ''}")
    source = " and ".join(p.split(" ", 1)[1] for p in parts) or "nothing"
    return source, f"adapted from {' and '.join(parts) or 'nothing'} over {vods} VOD{'s' if vods != 1 else ''}"


class AdaptJob:
    """Runs one ADAPT job (see the module docstring)."""

    def __init__(self, repo: Repository, artifacts: ArtifactStore, options: AdaptOptions | None = None) -> None:
        self.repo = repo
        self.artifacts = artifacts
        self.options = options or AdaptOptions()

    async def run(self, job: Job, control: JobControl) -> dict[str, Any]:
        guild, streamer_id, n_vods = check_payload(job.payload)
        streamer = await self.repo.get_streamer(streamer_id)
        control.report("asking Twitch for VODs and viewer clips", 0.05)
        spans: list[LabelledSpan] = []
        n_clips = 0
        try:
            from storage.twitch.helix import Helix

            async with Helix.from_env() as helix:
                user_id = streamer.twitch_user_id
                if not user_id:
                    user = await helix.user_by_login(streamer.login)
                    if user is None:
                        raise ConfigError(f"Twitch has no channel {streamer.login!r}; nothing to adapt from.")
                    user_id = user.id
                videos = await helix.recent_archives(user_id, n_vods)
                for i, video in enumerate(videos):
                    clips = await helix.clips_of_video(video)
                    if not clips:
                        continue
                    control.report(f"chat of VOD {video.id}", 0.1 + 0.7 * i / max(len(videos), 1))
                    chat = await self._chat(video.id, streamer_id, control)
                    spans.append(from_viewer_clips(video.id, chat, [(c.offset_s, c.offset_s + c.duration_s) for c in clips]))
                    n_clips += len(clips)
        except TwitchApiError as exc:
            raise AdaptSourceError(exc) from exc
        vote_spans, n_votes = await self._votes(guild, streamer_id, control)
        merged = merge_spans([*spans, *vote_spans])
        source, summary = describe(n_clips, n_votes, len(merged))
        control.report("fitting", 0.85)
        try:
            model = await control.supervise(asyncio.to_thread(
                adapt, default_model(), merged, options=self.options, source=source, summary=summary))
        except AdaptError as exc:
            log.info("job %d: no adaptation for guild %s × %s: %s", job.id, guild, streamer.login, exc)
            return {"adapted": False, "reason": str(exc), "viewer_clips": n_clips, "votes": n_votes, "vods": len(merged)}
        control.raise_if_stopped()
        await control.confirm_owned()
        stored = await self.repo.new_adaptation(guild, streamer_id, model.to_dict(), source=source, summary=summary,
                                                labels_used=n_clips + n_votes, vods_used=len(merged), by="scheduler")
        log.info("job %d: guild %s × %s adapted (version %d): %s", job.id, guild, streamer.login, stored.version, summary)
        return {"adapted": True, "version": stored.version, "summary": summary, "viewer_clips": n_clips,
                "votes": n_votes, "vods": len(merged), "lexicon_tokens": len(model.lexicon.weights) if model.lexicon else 0}

    async def _chat(self, vod_id: str, streamer_id: int, control: JobControl):  # -> ChatLog
        """The VOD's chat replay, downloaded once into the artifact root's chat cache."""
        from detector.sources.chat import load_chat
        from detector.sources.twitch.chat_replay import download_chat

        path = self.artifacts.root / CACHE_DIR / str(int(streamer_id)) / f"{vod_id}.json"
        if not path.exists():
            self.artifacts.ensure_free_space()
            await control.supervise(asyncio.to_thread(download_chat, vod_id, path, abort=control.should_abort))
        return await asyncio.to_thread(load_chat, path)

    async def _votes(self, guild: str, streamer_id: int, control: JobControl) -> tuple[list[LabelledSpan], int]:
        """Spans from the clips this guild voted on, for the VODs whose chat can be found."""
        by_vod: dict[int, list[VotedSpan]] = defaultdict(list)
        for clip in await self.repo.list_voted_clips(guild, streamer_id):
            if clip.vod_id is not None and clip.up_votes != clip.down_votes:
                by_vod[clip.vod_id].append(VotedSpan(clip.start_s, clip.end_s, clip.up_votes, clip.down_votes))
        spans, n = [], 0
        for vod_id, voted in by_vod.items():
            vod = await self.repo.get_vod(vod_id)
            if not vod.twitch_vod_id:
                continue
            try:
                chat = await self._chat(vod.twitch_vod_id, streamer_id, control)
            except DetectorError as exc:  # a VOD deleted since: its votes cannot be used
                log.info("votes on VOD %s left out: %s", vod.twitch_vod_id, exc)
                continue
            spans.append(from_votes(vod.twitch_vod_id, chat, voted))
            n += len(voted)
        return spans, n


def check_payload(payload: dict[str, Any]) -> tuple[str, int, int]:
    """``(guild_id, streamer_id, vods)`` of an ADAPT job's payload; ``ConfigError`` names what is wrong."""
    guild, streamer, vods = payload.get("guild_id"), payload.get("streamer_id"), payload.get("vods", DEFAULT_VODS)
    if not isinstance(guild, str) or not guild or isinstance(streamer, bool) or not isinstance(streamer, int):
        raise ConfigError(f"The adapt job's payload needs guild_id (text) and streamer_id (a number); got {payload!r}.")
    if isinstance(vods, bool) or not isinstance(vods, int) or not 1 <= vods <= 100:
        raise ConfigError(f"The adapt job's vods must be a number of VODs in [1, 100], got {vods!r}.")
    return guild, streamer, vods


def cached_chats(artifacts: ArtifactStore, streamer_id: int) -> Sequence[Path]:
    """The chat replays cached for one streamer (for inspection and tests)."""
    folder = artifacts.root / CACHE_DIR / str(int(streamer_id))
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
