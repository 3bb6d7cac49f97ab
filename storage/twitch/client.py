"""twitchAPI's ``Twitch`` client, adapted so that every failed answer raises instead of reading as data.

Consumed only by ``storage.twitch.helix``. twitchAPI 4.5 hands a 429 (after sleeping) and statuses it
does not know (502, 504, 403…) back as if they were answers, which would read as "no such user" or
"no VOD"; it reads the token answer after closing its HTTP session (which fails when the body comes in
a later packet), puts the client secret in the token URL, and keeps its token-refresh lock when a
refresh fails. ``HelixClient`` overrides those three steps of twitchAPI (private methods, checked by
``tests/storage/test_helix.py`` against a local double) and leaves the rest as it is.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from twitchAPI.twitch import Twitch
from twitchAPI.type import TwitchAPIException, TwitchAuthorizationException, TwitchBackendException


class Throttled(Exception):
    """Helix answered 429: wait ``wait_s`` and try again."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"rate limited by Twitch (reset in {wait_s:.1f} s)")
        self.wait_s = wait_s


class HelixClient(Twitch):
    """twitchAPI's client, made to raise on answers it would otherwise pass on as if they were data."""

    async def _check_request_return(self, session: aiohttp.ClientSession, response: aiohttp.ClientResponse,
                                    method: str, url: str, auth_type: Any, required_scope: Any,
                                    data: dict[str, Any] | None = None, retries: int = 1) -> aiohttp.ClientResponse:
        # Every answer this override refuses is released first: an unreleased response keeps its
        # connection, and aiohttp reports it as an unclosed connection when it is collected.
        if response.status == 429:
            reset = response.headers.get("Ratelimit-Reset", "")
            wait = float(reset) - time.time() if reset.isdigit() else 1.0
            response.release()
            raise Throttled(max(wait, 0.0))
        if response.status >= 500:  # 503 included: our own retry (helix.py) waits and asks again
            response.release()
            raise TwitchBackendException(f"Twitch answered HTTP {response.status}")
        checked = await super()._check_request_return(session, response, method, url, auth_type, required_scope,
                                                      data, retries)
        if checked.status >= 400:
            message = await response_message(checked)
            checked.release()
            raise TwitchAPIException(f"Twitch answered HTTP {checked.status}: {message}")
        return checked

    async def _generate_app_token(self) -> None:
        """The client-credentials token request, with the credentials in the form body (not the URL, so no
        log or error message carries the secret) and the answer read before its session closes
        (twitchAPI 4.5 reads it after, which fails when the body arrives in a later packet)."""
        form = {"client_id": self.app_id, "client_secret": self.app_secret or "", "grant_type": "client_credentials"}
        async with aiohttp.ClientSession(timeout=self.session_timeout) as session:  # type: ignore[arg-type]
            async with session.post(self.auth_base_url + "token", data=form) as answer:
                if answer.status != 200:
                    raise TwitchAuthorizationException(f"Authentication failed with code {answer.status}: "
                                                       f"{await response_message(answer)}")
                try:
                    body = await answer.json(content_type=None)
                except ValueError:
                    body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise TwitchBackendException("the token endpoint's answer has no access_token")
        self._app_auth_token = str(token)

    async def _refresh_app_token(self) -> None:
        try:
            await super()._refresh_app_token()
        finally:  # twitchAPI leaves its refresh lock held when the refresh fails: every later 401 would hang
            self._app_token_refresh_lock = False


async def response_message(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)
        return str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else ""
    except (ValueError, aiohttp.ClientError):
        return ""
