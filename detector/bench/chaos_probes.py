"""Chaos bench: the quick probes — secrets in output, vote attacks, hostile references.

Consumes a PostgreSQL server URL (optional) and a scratch folder; produces:

- ``grep_secrets``: runs of the real command line at DEBUG with passwords in the storage URL (the
  ``user:pw@`` and ``?password=`` forms) — listing jobs, a worker running a job, a refused
  connection — and every secret found in what they printed;
- ``vote_attacks``: the attacks of issue 14 on real storage — one person voting on 20 clips alone,
  one heavy voter against a community, 30 members of another guild — and whether each moved tuning;
- ``hostile_references``: texts a user could type as a VOD reference, and any that raised something
  other than the clear ``BadTwitchReference`` or were accepted pointing anywhere but Twitch.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SECRETS = ("Pw-user-8f3kQz", "Pw-query-Zx91bT", "Pw-refused-4nQ7", "Pw-refused-query-m2Kd")


@dataclass(frozen=True, slots=True)
class SecretGrep:
    runs: int
    secrets: int
    leaks: tuple[str, ...]
    """``run: secret`` for each secret found in a run's output."""


def _with_password(server_url: str, db_url: str, user_pw: str, query_pw: str) -> tuple[str, str]:
    parts = urlsplit(db_url)
    user = (parts.username or "postgres")
    host = parts.netloc.rpartition("@")[2]
    in_userinfo = urlunsplit(parts._replace(netloc=f"{user}:{user_pw}@{host}"))
    in_query = urlunsplit(parts._replace(query=f"password={query_pw}"))
    return in_userinfo, in_query


def grep_secrets(db_url: str | None, work: Path, media: Path | None = None) -> SecretGrep:
    """Run the CLI at DEBUG with secrets in its storage URLs; which secrets its output showed.

    ``db_url``: a fresh PostgreSQL database whose server trusts local connections (the password is
    then sent only if asked, and never checked); None: only the refused connection runs."""
    work.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, list[str]]] = []
    refused = f"postgresql://someone:{SECRETS[2]}@127.0.0.1:1/db"
    runs.append(("refused connection, user:pw@", ["jobs", "list", "--storage", refused]))
    runs.append(("refused connection, ?password=",
                 ["jobs", "list", "--storage", f"postgresql://someone@127.0.0.1:1/db?password={SECRETS[3]}"]))
    runs.append(("malformed URL with a password", ["jobs", "list", "--storage",
                                                   f"postgresql://someone:{SECRETS[2]}@[::1/db"]))
    if db_url is not None:
        with_user, with_query = _with_password(db_url, db_url, SECRETS[0], SECRETS[1])
        for label, url in (("user:pw@", with_user), ("?password=", with_query)):
            if media is not None:
                runs.append((f"jobs add, {label}", ["jobs", "add", str(media), "--storage", url]))
            runs.append((f"jobs list, {label}", ["jobs", "list", "--storage", url]))
            runs.append((f"worker --once, {label}", ["worker", "--once", "--storage", url,
                                                     "--artifacts", str(work / "artifacts")]))
    leaks = []
    for label, args in runs:
        proc = subprocess.run([sys.executable, "-m", "highlights", "-vv", *args], capture_output=True,
                              timeout=300, check=False, cwd=work)
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        leaks += [f"{label}: {s}" for s in SECRETS if s in text]
    return SecretGrep(len(runs), len(SECRETS), tuple(leaks))


@dataclass(frozen=True, slots=True)
class VoteAttack:
    name: str
    moved: bool
    """Whether the attack changed what tuning proposes (or stored a vote it must not)."""
    detail: str


async def _attacks(url: str) -> list[VoteAttack]:
    from storage.errors import ForeignVote
    from storage.factory import open_storage
    from storage.records import JobKind, JobRequest
    from storage.repo.port import ClipDraft
    from storage.tuning import TuningOptions, VotedClip, propose

    async with await open_storage(url) as st:
        repo = st.repo
        streamer = await repo.upsert_streamer("chaos_caster")
        vod = await repo.upsert_vod(source="/chaos.mp4", streamer_id=streamer.id)
        job = (await st.queue.enqueue(JobRequest(kind=JobKind.DETECT, payload={}, guild_id="g1"))).job
        drafts = [ClipDraft(rank=i + 1, start_s=i * 60.0, end_s=i * 60.0 + 30, peak_s=i * 60.0 + 15, score=1.0,
                            signals={"audio.rms": float(i % 2) * 3, "chat.hype": float((i + 1) % 2) * 3},
                            explanation={}) for i in range(200)]
        clips = await repo.save_candidates(job.id, drafts, vod_id=vod.id)

        async def proposal(options: TuningOptions) -> object:
            voted = []
            for clip in await repo.list_voted_clips("g1", streamer.id):
                votes = await repo.list_votes(clip.id)
                voted.append(VotedClip(clip.signals, sum(v.value > 0 for v in votes), sum(v.value < 0 for v in votes),
                                       tuple((v.user_id, v.value) for v in votes)))
            return propose(voted, None, options)

        out = []
        for clip in clips[:20]:  # one person likes loud clips and dislikes chatty ones, alone
            await repo.vote(clip.id, "lone", 1 if clip.signals["audio.rms"] else -1, guild_id="g1")
        alone = await proposal(TuningOptions())
        out.append(VoteAttack("one person votes on 20 clips alone", alone is not None,
                              "no tuning version (fewer than 5 voters)" if alone is None else str(alone)))
        for user in ("m1", "m2", "m3", "m4", "m5"):  # the community likes chatty clips
            for clip in clips[:8]:
                await repo.vote(clip.id, user, 1 if clip.signals["chat.hype"] else -1, guild_id="g1")
        for clip in clips:  # the heavy voter goes on alone
            await repo.vote(clip.id, "lone", 1 if clip.signals["audio.rms"] else -1, guild_id="g1")
        capped = await proposal(TuningOptions())
        uncapped = await proposal(TuningOptions(max_votes_per_voter=1e9))
        won = capped is not None and capped.params["w_chat_hype"] > capped.params["w_audio_rms"]  # type: ignore[attr-defined]
        lost_uncapped = uncapped is not None and \
            uncapped.params["w_audio_rms"] > uncapped.params["w_chat_hype"]  # type: ignore[attr-defined]
        out.append(VoteAttack("one heavy voter (200 votes) against 5 members (8 each)", not won,
                              f"community's taste wins with the cap: {won}; the heavy voter would win without it: "
                              f"{lost_uncapped}"))
        refused = 0
        for n in range(30):  # members of another guild vote on this guild's clips
            try:
                await repo.vote(clips[0].id, f"outsider{n}", -1, guild_id="g2")
            except ForeignVote:
                refused += 1
        stored = [v for v in await repo.list_votes(clips[0].id) if v.user_id.startswith("outsider")]
        out.append(VoteAttack("30 members of another guild vote", bool(stored),
                              f"{refused} of 30 refused, {len(stored)} stored"))
        return out


def vote_attacks(url: str) -> list[VoteAttack]:
    """The attacks on a fresh database at ``url``."""
    return asyncio.run(_attacks(url))


HOSTILE = (
    "https://evil.example/videos/2012345678", "https://twitch.tv.evil.example/videos/2012345678",
    "https://twitch.tv@evil.example/videos/2012345678", "https://evil.example#twitch.tv/videos/2012345678",
    "http://127.0.0.1/videos/2012345678", "http://2130706433/videos/2012345678", "http://0x7f.1/videos/1234567",
    "http://[::1]/videos/2012345678", "http://localhost:8080/videos/2012345678", "https://twitch.tv:8443/videos/2012345678",
    "file:///etc/passwd", "javascript:alert(1)", "ftp://twitch.tv/videos/2012345678", "//evil.example/videos/1234567",
    "https://twitch.tv/videos/2012345678/../../../../etc/passwd", "../../etc/passwd", "/etc/passwd",
    "https://twitch.tv/videos/%32%30%31%32%33%34%35%36%37%38", "https://xn--twtch-2fa.tv/videos/2012345678",
    "https://twіtch.tv/videos/2012345678", "٢٠١٢٣٤٥٦٧٨", "２０１２３４５６７８", "https://twitch.tv/videos/٢٠١٢٣٤٥٦٧٨",
    "2012345678\x00", "a\x00b", "\x1b[31m2012345678", "x" * 256, "9" * 13, "v" + "1" * 40, "https://" + "a" * 600,
    "https://twitch.tv/videos/2012345678?t=1h&url=https://evil.example", "twitch.tv/videos/2012345678\n@evil",
    "https://clips.twitch.tv/SomeClip", "https://www.twitch.tv/directory", "@", "@@@", " ", "\u202e8765432102",
)


@dataclass(frozen=True, slots=True)
class HostileOutcome:
    tried: int
    refused: int
    accepted: tuple[str, ...]
    crashes: tuple[str, ...]
    """``text: exception`` for anything but a clear ``BadTwitchReference``."""
    off_twitch: tuple[str, ...]


def hostile_references() -> HostileOutcome:
    from storage.twitch_ref import TWITCH_HOSTS, BadTwitchReference, parse_twitch

    refused, accepted, crashes, off = 0, [], [], []
    for text in HOSTILE:
        for channels in (False, True):
            try:
                ref = parse_twitch(text, allow_channel=channels)
            except BadTwitchReference:
                refused += 1
                continue
            except Exception as exc:  # noqa: BLE001 - counting is the point
                crashes.append(f"{text[:40]!r}: {type(exc).__name__}: {exc}")
                continue
            accepted.append(f"{text[:40]!r} -> {ref.url}")
            if (urlsplit(ref.url).hostname or "") not in TWITCH_HOSTS or (ref.vod_id and not ref.vod_id.isascii()):
                off.append(ref.url)
    return HostileOutcome(2 * len(HOSTILE), refused, tuple(accepted), tuple(crashes), tuple(off))
