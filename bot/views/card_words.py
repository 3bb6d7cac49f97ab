"""The job card's words: stages as a person says them, an honest ETA, why clips are fewer, failures explained.

Consumes a ``Job`` (its stage text from the worker, progress, times, result and error code); produces
plain text for ``bot.views.job_card`` and ``/jobs`` (pure functions). Stages become words ("Reading chat",
"Listening for hype", "Cutting clip 2 of 8"); the ETA appears only once there is a rate to go on and
never says less than the time progress has already stood still; a finished job says where its clips
went and why there are fewer than asked, or none; a failure says what went wrong and what to try.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import discord

from storage.records import Job, JobStatus

ETA_MIN_PROGRESS = 0.05
"""No ETA before this share of the job is done: earlier rates say little."""
ETA_MIN_ELAPSED_S = 10.0
"""…nor before the job ran this long."""
STAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), w) for p, w in (
    (r"^starting$", "Starting"),
    (r"^download(ing)? audio$", "Downloading the sound"),
    (r"^download(ing)? chat$", "Reading chat"),
    (r"^signal chat$", "Reading chat"),
    (r"^decode audio$", "Listening for hype"),
    (r"^signal audio$", "Listening for hype"),
    (r"^(signal transcript|transcribe)$", "Listening to what was said"),
    (r"^(signal vision|vision.*)$", "Looking at the picture"),
    (r"^signal scenes?$", "Finding scene cuts"),
    (r"^segments: sound$", "Telling gameplay from talking (by sound)"),
    (r"^segments: pictures$", "Telling gameplay from talking (by picture)"),
    (r"^download(ing)? (the )?(analysis|overview).*$", "Downloading the video to look at"),
    (r"^(download(ing)? sections?|downloading the section)$", "Downloading the clips' video"),
    (r"^rendering( \S+)? reel$", "Making the reel"),
    (r"^rendering$", "Cutting the clips"),
    (r"^(writing artifacts|storing clips)$", "Saving the clips"),
    (r"^cutting the clip$", "Cutting the clip"),
    (r"^done$", "Finishing"),
))
RENDER_CLIP = re.compile(r"^rendering (?:(?P<layout>\S+) )?clip (?P<i>\d+)/(?P<n>\d+)$")
FAILURES = {
    "media_error": ("the video or audio could not be read (the file may be damaged or incomplete)",
                    "try another copy of the VOD, or ask an admin to check the file"),
    "not_a_file": ("the path is not a video file", "check the file name"),
    "media_too_long": ("the VOD is longer than this server allows", "ask for a shorter VOD"),
    "chat_format_error": ("the chat log's format is not one the bot reads", "use a Twitch chat export (JSON)"),
    "vod_unavailable": ("Twitch no longer has this VOD (deleted or expired)", "pick a newer VOD"),
    "vod_subscriber_only": ("this VOD is for subscribers only", "ask the streamer to make it public"),
    "vod_recording": ("the stream is still live, so the VOD is not finished", "ask again after the stream ends"),
    "download_error": ("downloading from Twitch kept failing", "try again in a few minutes"),
    "rate_limited": ("Twitch asked us to slow down", "try again in a few minutes"),
    "disk_full": ("the worker ran out of disk space", "tell an admin; nothing you can fix"),
    "timeout": ("it took longer than a job may take", "ask for fewer clips, or a shorter VOD"),
    "out_of_memory": ("the worker ran out of memory", "tell an admin; try again later"),
    "extractor_outdated": ("the Twitch downloader needs an update", "tell an admin (update yt-dlp)"),
    "config_error": ("the request had an option the worker could not use", "ask again with the default options"),
}


def eta_seconds(job: Job, now: datetime, stalled_s: float = 0.0) -> float | None:
    """Time left for a running job, or None until it can be honest.

    From the job's measured rate so far (elapsed × left ÷ done), once at least ``ETA_MIN_PROGRESS`` is
    done and ``ETA_MIN_ELAPSED_S`` passed; never less than ``stalled_s``, the time progress has stood
    still (a stage that has taken that long without moving is not about to end in a second)."""
    if job.status is not JobStatus.RUNNING or job.started_at is None or job.progress < ETA_MIN_PROGRESS:
        return None
    elapsed = (now - job.started_at).total_seconds()
    if elapsed < ETA_MIN_ELAPSED_S:
        return None
    return max(elapsed * (1.0 - job.progress) / job.progress, stalled_s, 1.0)


def stage_words(stage: str | None) -> str:
    """What the worker is doing, in words ("Cutting clip 2 of 8")."""
    text = " ".join((stage or "starting").split()).lower()
    clip = RENDER_CLIP.match(text)
    if clip is not None:
        return f"Cutting clip {clip['i']} of {clip['n']}"
    for pattern, words in STAGES:
        if pattern.match(text):
            return words
    if text.startswith("rendering"):
        return "Cutting the clips"
    text = text.replace(":", " —").replace("_", " ")
    return text[:1].upper() + text[1:]


def failure_text(job: Job) -> str:
    """What went wrong, in words, and what to try."""
    code = job.error_code or ""
    what, fix = FAILURES.get(code, ("something went wrong on the worker", "try again later; if it keeps "
                                     "failing, tell an admin"))
    if code == "cancelled":
        return "It was cancelled."
    text = f"It stopped because {what}. What to try: {fix}."
    if code and code not in FAILURES:
        text += f"\n-# ({code})"
    return text[:1000]


def asked_for(job: Job) -> int | None:
    """How many clips the request asked for (None: the worker's default)."""
    payload: dict[str, Any] = job.payload or {}
    top = (payload.get("settings") or {}).get("top_k") if isinstance(payload.get("settings"), dict) else None
    if top is None and isinstance(payload.get("render"), dict):
        top = payload["render"].get("top")
    return int(top) if isinstance(top, int) and not isinstance(top, bool) and top > 0 else None


def found_text(job: Job, found: int, thread_id: str | None) -> str:
    """The finished card's clips line: where they are, and why there are fewer than asked, or none."""
    where = f" in <#{thread_id}>" if thread_id else " in a thread below"
    if found == 0:
        verdict = (job.result or {}).get("chat_verdict")
        why = (f" {plain(str(verdict), 200)}" if isinstance(verdict, str) else
               " Nothing in this VOD stood out enough from its usual chat and sound to be worth a clip.")
        return "No clips this time." + why + " A VOD with a livelier moment, or a longer one, usually gives some."
    text = f"{found} clip{'s' if found != 1 else ''} posted{where}."
    wanted = asked_for(job)
    if wanted is not None and found < wanted:
        text += (f" You asked for {wanted}; only {found} moment{'s' if found != 1 else ''} stood out enough "
                 "from the rest of the VOD (the others would have been filler).")
    return text


def plain(text: str, limit: int = 200) -> str:
    """Someone else's text (a VOD title) shown as typed: markdown and masked-link brackets escaped, cut."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return discord.utils.escape_markdown(text).replace("[", "\\[").replace("]", "\\]")
