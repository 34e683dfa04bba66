"""Posting a form to an HTTP hook and judging the answer; a bounded pool to do it on.

Shared by the access callback (:mod:`rtmp_actors.relay.access`) and the lifecycle hooks
(:mod:`rtmp_actors.relay.hooks`): both POST nginx-rtmp's form fields and care only about the
status line (and, for a redirect, ``Location``).
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["BoundedPool", "HookAnswer", "check_hook_url", "hook_opener", "post_form"]

logger = logging.getLogger(__name__)

MAX_LOCATION_LENGTH = 1024
"""Longest ``Location`` of a redirect taken from a hook's answer."""


@dataclass(frozen=True, slots=True)
class HookAnswer:
    """What a hook answered.

    Attributes:
        status: The HTTP status, or None when there was no valid HTTP answer.
        error: Why there is no status (refused, reset, not HTTP, ...), for the log.
        timed_out: The hook did not answer within the timeout.
        location: The ``Location`` header of a 3xx answer, if any.
    """

    status: int | None
    error: str = ""
    timed_out: bool = False
    location: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """``HTTP 403``, ``no answer in time`` or the error, for log lines."""
        if self.status is not None:
            return f"HTTP {self.status}"
        return "no answer in time" if self.timed_out else self.error


def check_hook_url(url: str, what: str = "hook") -> None:
    """Raise ValueError unless ``url`` is an ``http://`` or ``https://`` URL with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"{what} URL {url!r} is not an http:// or https:// URL with a host"
        raise ValueError(msg)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Make a 3xx answer an :class:`urllib.error.HTTPError` instead of following it."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def hook_opener() -> urllib.request.OpenerDirector:
    """An opener that follows no redirect and ignores proxies from the environment.

    Hooks are normally local services; a redirect is an answer to judge, not to follow.
    """
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post_form(
    opener: urllib.request.OpenerDirector, url: str, form: Mapping[str, str], timeout: float
) -> HookAnswer:
    """POST ``form`` url-encoded to ``url`` (blocks for up to ``timeout`` per socket step).

    Never raises for what the network or the hook does: a refused connection, a reset, a
    timeout or an answer that is not HTTP comes back as an answer without a status.
    """
    body = urllib.parse.urlencode(form).encode("ascii")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return HookAnswer(response.status)
    except urllib.error.HTTPError as error:
        location = error.headers.get("Location") if error.headers is not None else None
        error.close()
        if location is not None and len(location) > MAX_LOCATION_LENGTH:
            location = None
        return HookAnswer(error.code, location=location)
    except (OSError, ValueError, http.client.HTTPException) as error:
        # URLError (refused, unknown host, connect timeout), read timeouts, resets, and
        # answers that are not HTTP.
        reason = getattr(error, "reason", None)
        timed_out = isinstance(error, TimeoutError) or isinstance(reason, TimeoutError)
        return HookAnswer(None, error=str(error) or type(error).__name__, timed_out=timed_out)


class BoundedPool:
    """A thread pool with a bound on jobs queued or running; beyond it, submit refuses.

    Args:
        max_workers: Jobs run at the same time.
        max_pending: Jobs queued or running at most.
        name: Prefix of the worker threads' names.
    """

    def __init__(self, max_workers: int, max_pending: int, name: str) -> None:
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=name)

    def submit(self, job: Callable[[], object]) -> bool:
        """Run ``job`` on a worker; False (and it never runs) if full or shut down."""
        with self._lock:
            if self._pending >= self._max_pending:
                return False
            self._pending += 1

        def run() -> None:
            try:
                job()
            except Exception:  # a bug in a job must not kill the worker silently
                logger.exception("hook job failed")
            finally:
                self._finished()

        try:
            self._executor.submit(run)
        except RuntimeError:  # shut down
            self._finished()
            return False
        return True

    def _finished(self) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return self._pending

    def shutdown(self, *, drop_queued: bool = False) -> None:
        """Accept no more jobs; the queued ones still run (each bounded by its timeout).

        With ``drop_queued``, jobs not started yet never run.
        """
        self._executor.shutdown(wait=False, cancel_futures=drop_queued)
