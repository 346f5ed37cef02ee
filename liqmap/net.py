"""HTTP retries, in one place: the downloader, the webhook sink and the exchange clients share them.

A call is retried when it fails in a way that may pass (a connection error, a
timeout, HTTP 5xx, 429 or 418), with exponential backoff, honouring the
server's ``Retry-After``, and never past an overall deadline; anything else
is raised at once.  Each wait is announced on the ``liqmap.net`` logger (the
command line prints it), so a host that does not answer is never silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # httpx (with the rich it imports) is loaded by the first call: reading files needs neither
    import httpx

T = TypeVar("T")

log = logging.getLogger(__name__)

#: The first wait between tries (it doubles each time); read at each call, so tests can shorten it.
BACKOFF_S = 1.0

#: Statuses worth another try: server errors, and the rate limits (Binance sends 418 after ignored 429s).
RETRY_STATUSES = frozenset({418, 429}) | frozenset(range(500, 600))


class TransientError(Exception):
    """A failure that may pass; ``retry_after_s`` is the server's own wait, when it gave one."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unreachable(TransientError):
    """No connection or no answer at all, to the last try: the command cannot run without that host."""


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (only the delta-seconds form), or None."""
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86_400 else None


def raise_for_transient(response: httpx.Response, what: str) -> httpx.Response:
    """Raise :class:`TransientError` for a status worth retrying; return the response otherwise."""
    if response.status_code in RETRY_STATUSES:
        prefix = f"{what}: " if what else ""
        raise TransientError(f"{prefix}HTTP {response.status_code}", retry_after_seconds(response))
    return response


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    retries: int = 3,
    backoff_s: float | None = None,
    max_backoff_s: float = 60.0,
    deadline_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``call()``, retried up to ``retries`` times on transient failures.

    Waits ``backoff_s`` (default :data:`BACKOFF_S`), then twice that, up to
    ``max_backoff_s`` (or the server's ``Retry-After`` when longer), logging
    each wait.  A wait that would end past ``deadline_s`` (counted from the
    first try) is not made: the last failure is raised instead, as
    :class:`TransientError` naming ``what`` and the tries (:class:`Unreachable`
    when it was a failed connection or a timeout).
    """
    import httpx

    backoff_s = BACKOFF_S if backoff_s is None else backoff_s
    started = clock()
    attempt = 0
    while True:
        try:
            return call()
        except (TransientError, httpx.TransportError) as exc:
            problem = _describe(exc)
            wait = min(backoff_s * 2**attempt, max_backoff_s)
            if isinstance(exc, TransientError) and exc.retry_after_s is not None:
                wait = max(wait, exc.retry_after_s)
            out_of_time = deadline_s is not None and clock() - started + wait > deadline_s
            if attempt >= retries or out_of_time:
                reason = f"deadline of {deadline_s:g}s" if out_of_time and attempt < retries else f"{attempt + 1} tries"
                error = Unreachable if isinstance(exc, httpx.TransportError) else TransientError
                raise error(f"{what}: {problem} (gave up after {reason})") from exc
            log.warning("%s: %s; trying again in %gs (try %d of %d)", what, problem, wait, attempt + 2, retries + 1)
            sleep(wait)
            attempt += 1


def _describe(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({exc or type(exc).__name__})"
    return str(exc)
