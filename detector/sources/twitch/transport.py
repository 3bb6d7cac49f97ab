"""Sources stage, Twitch ingestion: one HTTP request to a Twitch endpoint, retried the way Twitch needs.

Consumes a URL (GQL, usher, a playlist), an optional body and headers, and a ``RetryPolicy``;
produces a ``Response`` (status, headers, body) for any answer the caller must judge itself (200,
403, 404, ...). Transient failures — HTTP 5xx, timeouts, refused or cut connections, a body cut
short — are retried with exponential backoff; HTTP 429 waits for the server's ``Retry-After``
(bounded by ``retry_after_max_s``). After the last try a ``DownloadError`` names the operation and
the last failure. ``abort`` is polled before each try and during every wait (``Cancelled``).
Standard library only (``urllib.request``): no new dependency, no process-wide state.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from detector.errors import Cancelled
from detector.records import AbortCheck
from detector.sources.twitch.errors import DownloadError, TransientDownload

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = "highlights-detector (Python urllib)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How requests to Twitch are retried (times in seconds)."""

    attempts: int = 5
    """Tries of one request before it fails with ``DownloadError`` (≥ 1)."""
    backoff_s: float = 1.0
    """First pause after a failed try; doubled each time, up to ``backoff_max_s``."""
    backoff_max_s: float = 30.0
    timeout_s: float = 20.0
    """A request that gets no answer (or no further bytes) for this long fails and is retried."""
    retry_after_max_s: float = 60.0
    """Longest wait honoured from a 429's ``Retry-After`` (a longer one is cut to this)."""

    def delay(self, attempt: int) -> float:
        """Pause after failed try number ``attempt`` (1-based)."""
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempt - 1))


class RateLimited(TransientDownload):
    """Twitch answered 429 Too Many Requests; ``retry_after_s`` is its ``Retry-After`` (None if absent)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer the caller judges itself."""

    status: int
    body: bytes
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def check_abort(abort: AbortCheck | None) -> None:
    if abort is not None and abort():
        raise Cancelled("The download was cancelled.")


def pause(seconds: float, abort: AbortCheck | None) -> None:
    """Sleep ``seconds``, polling ``abort`` every 0.1 s."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        check_abort(abort)
        time.sleep(min(left, 0.1))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the policy's backoff


def http_once(url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None,
              timeout_s: float, what: str) -> Response:
    """One request; ``TransientDownload`` (or ``RateLimited``) for what a later try may fix."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 (URLs come from settings)
            return Response(answer.status, answer.read(), answer.url, dict(answer.headers.items()))
    except urllib.error.HTTPError as exc:
        body = _read_quietly(exc)
        if exc.code == 429:
            raise RateLimited(f"{what}: Twitch answered 429 Too Many Requests",
                              _retry_after(exc.headers.get("Retry-After"))) from None
        if exc.code >= 500:
            raise TransientDownload(f"{what}: HTTP {exc.code} {exc.reason}") from None
        return Response(exc.code, body, url, dict(exc.headers.items()))
    except TimeoutError:
        raise TransientDownload(f"{what}: no answer within {timeout_s:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise TransientDownload(f"{what}: no answer within {timeout_s:g} s") from None
        raise TransientDownload(f"{what}: cannot connect ({reason})") from None
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise TransientDownload(f"{what}: the connection broke ({type(exc).__name__}: {exc})") from None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def with_retries(what: str, step: Callable[[], T], policy: RetryPolicy, abort: AbortCheck | None) -> T:
    """Run ``step`` up to ``policy.attempts`` times while it raises ``TransientDownload``."""
    attempts = max(1, policy.attempts)
    last: TransientDownload | None = None
    for attempt in range(1, attempts + 1):
        check_abort(abort)
        try:
            return step()
        except TransientDownload as exc:
            last = exc
            if attempt >= attempts:
                break
            delay = policy.delay(attempt)
            if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
                delay = min(exc.retry_after_s, policy.retry_after_max_s)
            log.warning("%s failed (try %d of %d): %s; trying again in %.2f s", what, attempt, attempts,
                        _reason(exc, what), delay)
            pause(delay, abort)
    raise DownloadError(f"{what} failed after {attempts} tries: {_reason(last, what) if last else 'unknown'}",
                        hint="Check that Twitch is reachable and the VOD still exists, then retry the job.")


def _reason(exc: TransientDownload, what: str) -> str:
    return exc.message.removeprefix(f"{what}: ")


def request(what: str, url: str, *, policy: RetryPolicy, abort: AbortCheck | None = None,
            data: bytes | None = None, headers: Mapping[str, str] | None = None) -> Response:
    """``http_once`` with retries; returns the first non-transient answer."""
    return with_retries(what, lambda: http_once(url, data=data, headers=headers, timeout_s=policy.timeout_s,
                                                what=what), policy, abort)
