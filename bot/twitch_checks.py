"""What the bot asks Twitch (Helix) while a user waits: does this VOD exist and is it finished, which is a
channel's newest VOD, is this login a real streamer.

Consumes the Helix settings of ``BotConfig.twitch`` (None when the bot has no Twitch credentials) and
checked references; produces Twitch facts (``TwitchVideo``, ``TwitchUser`` from ``storage.twitch``) or
a ``UserFacingError`` the user can act on. Every question is asked after the interaction was deferred
and within ``budget_s`` per command. The policy:

- **a VOD the user named** (``vod``): its facts; ``VodUnavailable`` when Twitch has no such video
  or (with ``access`` settings) serves it to subscribers only and the bot has no token that grants
  access (``storage.twitch.vod_access``), ``VodStillLive`` when its broadcast is still live. When it cannot be checked — no credentials, or
  Twitch (or our credentials) failing, or slower than the budget — the answer is None and an outage
  is logged as a warning: the job is queued unchecked and the worker fails it clearly if the VOD is
  truly gone. Our outage never blocks a user.
- **a channel's newest VOD** (``newest_vod``): nothing can be queued without Helix, so missing
  credentials (``channel_needs_api``, checked before deferring) and outages (``TwitchUnreachable``)
  both ask for the VOD's link instead.
- **a streamer's login** (``user``): the user, ``NotFound`` when Twitch has none, None when unchecked
  (the scheduler's poll looks the login up again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from bot.errors import BadVodReference, NotFound, TwitchUnreachable, VodStillLive, VodUnavailable
from storage.twitch import Helix, HelixSettings, TwitchApiError, TwitchUser, TwitchVideo
from storage.twitch.vod_access import Access, VodAccessSettings, vod_access
from storage.twitch_ref import EXAMPLE

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Outage(Exception):
    """Helix could not answer within the budget (logged where it happened)."""


def channel_needs_api(login: str) -> BadVodReference:
    """The answer to a channel when the bot has no Twitch credentials (no I/O: given before deferring)."""
    return BadVodReference(f"`{login}` is a channel; finding its newest VOD needs Twitch API access, which this "
                           f"bot does not have. Give the VOD's link, like {EXAMPLE}.")


def display(user: TwitchUser) -> str:
    """``StreamerTV`` when it is the login in other letters, else ``Display (login)``."""
    return user.display_name if user.display_name.lower() == user.login else f"{user.display_name} ({user.login})"


class TwitchChecks:
    """The bot's Twitch questions (see the module docstring); one per bot, ``close()`` with it."""

    def __init__(self, settings: HelixSettings | None, *, budget_s: float = 15.0,
                 access: VodAccessSettings | None = None) -> None:
        self.helix = Helix(settings) if settings is not None else None
        self.budget_s = budget_s
        self.access = access

    @property
    def enabled(self) -> bool:
        """Whether the bot has Twitch credentials (else every check is skipped)."""
        return self.helix is not None

    async def close(self) -> None:
        if self.helix is not None:
            await self.helix.close()

    # -- the questions ----------------------------------------------------------------------------------
    async def vod(self, vod_id: str) -> TwitchVideo | None:
        """The VOD's facts once Twitch confirmed it exists and is finished; None when it was not checked."""
        if self.helix is None:
            return None
        helix, deadline = self.helix, self._deadline()
        try:
            video = await self._ask(helix.video(vod_id), deadline, f"VOD {vod_id}", "queueing it unchecked")
        except _Outage:
            return None
        if video is None:
            raise VodUnavailable(f"That VOD does not exist or was deleted (Twitch has no VOD {vod_id}; VODs expire "
                                 "after 7–60 days). Check the link, or ask for another VOD.")
        if await self._recording(helix, video, deadline):
            raise VodStillLive(f"Twitch VOD {video.id} is still live; ask again after the stream ends.")
        if self.access is not None:
            await self._watchable(video.id, self.access, deadline)
        return video

    async def _watchable(self, vod_id: str, access: VodAccessSettings, deadline: float) -> None:
        """``VodUnavailable`` when usher serves the VOD to subscribers only and the bot's token (if any) has no
        access; nothing when it is watchable or cannot be told (logged)."""
        try:
            answer = await self._ask(vod_access(vod_id, access), deadline, f"who may watch VOD {vod_id}",
                                     "queueing it unchecked")
        except _Outage:
            return
        if answer is Access.SUBSCRIBERS:
            who = ("the bot's Twitch account has no access to it" if access.oauth_token else
                   "this bot has no Twitch account to watch it with (an admin can set HIGHLIGHTS_TWITCH_OAUTH_TOKEN)")
            raise VodUnavailable(f"Twitch VOD {vod_id} is for the channel's subscribers only, and {who}. "
                                 "Ask for a public VOD.")
        if answer is Access.GONE:
            raise VodUnavailable(f"That VOD does not exist or was deleted (Twitch has no playlist for VOD {vod_id}). "
                                 "Check the link, or ask for another VOD.")

    async def newest_vod(self, login: str, *, files_too: bool = False) -> tuple[TwitchUser, TwitchVideo]:
        """The channel ``login`` and its newest finished archive; ``files_too``: local files are on, so
        a login that is no channel may have been meant as a file name (the message says so)."""
        if self.helix is None:
            raise channel_needs_api(login)
        helix, deadline = self.helix, self._deadline()
        try:
            user = await self._ask(helix.user_by_login(login), deadline, f"channel {login}", "")
            video = None if user is None else await self._ask(helix.newest_archive(user.id), deadline,
                                                              f"the newest VOD of {login}", "")
        except _Outage:
            raise TwitchUnreachable(f"Twitch is not answering right now, so the newest VOD of **{login}** cannot be "
                                    f"found. Give the VOD's link instead, like {EXAMPLE}, or try again in a few "
                                    "minutes.") from None
        if user is None:
            also = " (and the media folder has no file of that name)" if files_too else ""
            raise NotFound(f"There is no Twitch channel **{login}**{also}. Check the spelling: the login is what "
                           "follows twitch.tv/.")
        if video is None:
            raise VodUnavailable(f"**{display(user)}** has no past broadcasts on Twitch (VODs may be turned off or "
                                 "expired). Give the link of a VOD instead.")
        if await self._recording(helix, video, deadline):
            raise VodStillLive(f"**{display(user)}** is live now: their newest VOD ({video.id}) is still live; ask "
                               "again after the stream ends, or give the link of an earlier VOD.")
        return user, video

    async def user(self, login: str) -> TwitchUser | None:
        """The Twitch user ``login``; ``NotFound`` when there is none; None when it was not checked."""
        if self.helix is None:
            return None
        try:
            user = await self._ask(self.helix.user_by_login(login), self._deadline(), f"streamer {login}",
                                   "accepting it unchecked")
        except _Outage:
            return None
        if user is None:
            raise NotFound(f"There is no Twitch channel **{login}**. Check the spelling: the login is what follows "
                           "twitch.tv/.")
        return user

    # -- budget and outages -----------------------------------------------------------------------------
    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.budget_s

    async def _recording(self, helix: Helix, video: TwitchVideo, deadline: float) -> bool:
        """Whether ``video``'s broadcast is live now; False when that cannot be told (logged)."""
        try:
            return await self._ask(helix.is_recording(video), deadline, f"whether VOD {video.id} is live",
                                   "taking it as finished")
        except _Outage:
            return False

    async def _ask(self, question: Awaitable[T], deadline: float, what: str, then: str) -> T:
        """``question``'s answer, or ``_Outage`` (a warning names ``what`` failed and what happens ``then``)."""
        try:
            async with asyncio.timeout_at(deadline):  # (not wait_for: it can swallow a cancel on Python 3.11)
                return await question
        except TwitchApiError as exc:
            reason = f"{exc.code}: {exc}"
        except TimeoutError:
            reason = f"no answer within {self.budget_s:g} s"
        log.warning("Twitch check of %s failed (%s)%s", what, reason, f"; {then}" if then else "")
        raise _Outage(what)
