"""Who may publish and play: an access file, an HTTP callback, and the actor that asks them.

Theory of operation:

* Every publish and play request becomes an :class:`AccessRequest`. The connection's relay
  receiver tells the :class:`AccessController` actor to ``check`` it, and routes the request
  to the stream registry only once the controller has told it ``access_decided(token,
  allowed, reason)``. Nothing here ever blocks an actor.
* The access file (``--auth FILE``) is parsed once into an :class:`AccessList` and consulted
  in the controller's thread (a set lookup). :class:`AccessFile` re-reads the file when its
  size or modification time changes, at most once per ``reload_interval``; a file that has
  become unreadable or invalid keeps the previous rules (logged).
* The HTTP callback (``--auth-url URL``, or the hooks' ``on_connect``/``on_publish``/
  ``on_play``, one URL per kind) works like nginx-rtmp's: a form-encoded POST (see
  :func:`callback_form`) whose 2xx answer allows; any other status (redirects are not
  followed), a connection error or no answer within the timeout refuses. A 3xx whose
  ``Location`` is a plain stream name takes a publish or play to that stream instead
  (:meth:`AccessAsker.access_redirected`), as on nginx-rtmp.
  :class:`HttpCallback` runs the requests on a small thread pool with a bound on requests in
  flight; the controller also arms its own deadline, so a callback that trickles bytes cannot
  hold a request past the timeout.
* IP rules (:class:`~rtmp_actors.relay.ip_rules.IpRules`, nginx-rtmp's ``allow``/``deny``
  by address) are asked before both, so a refused address never costs a callback.
* When both are configured both must allow: the file is asked first, and the callback only
  about what the file allows.
* Client-supplied names are data, never code: they reach the callback URL-encoded in the
  request body and are never used in a shell or a path here.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.relay.access_request import AccessKind, AccessRequest
from rtmp_actors.relay.hook_http import (
    BoundedPool,
    HookAnswer,
    check_hook_url,
    hook_opener,
    post_form,
)
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

if TYPE_CHECKING:
    from rtmp_actors.relay.ip_rules import IpRules

__all__ = [
    "AccessAsker",
    "AccessController",
    "AccessFile",
    "AccessKind",
    "AccessList",
    "AccessRequest",
    "AccessRule",
    "HttpCallback",
    "callback_form",
    "client_fields",
    "describe_refusal",
]

logger = logging.getLogger(__name__)


WILDCARD = "*"
"""In a rule, matches any app or any stream key."""
MAX_ACCESS_FILE_SIZE = 1024 * 1024
"""Largest access file read, in bytes."""

# Client-safe reasons (sent in the refusal); the details go to the server's log.
UNKNOWN_KEY = "unknown stream key"
ADDRESS_REFUSED = "not allowed from this address"
CALLBACK_REFUSED = "refused by the auth service"
CALLBACK_TIMEOUT = "the auth service did not answer in time"
CALLBACK_UNAVAILABLE = "the auth service is unavailable"
CALLBACK_BUSY = "too many pending access checks"


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One line of an access file.

    Attributes:
        kinds: What the rule allows.
        app: The application it applies to, or ``*`` for any.
        key: The stream key (without query string) it applies to, or ``*`` for any.
    """

    kinds: frozenset[AccessKind]
    app: str
    key: str


_BOTH = frozenset({AccessKind.PUBLISH, AccessKind.PLAY})
_VERBS = frozenset(kind.value for kind in _BOTH)


class AccessList:
    """Allow rules, read from an access file; anything no rule allows is refused.

    The file has one rule per line; blank lines and everything after a ``#`` that starts a
    line or follows a space are ignored::

        # Encoders publish with their secret keys; anyone may play any stream of "live".
        publish live/cam-7f3a9c
        publish studio-b8e21d        # any app
        play live/*
        shared-test-key              # publish and play, any app

    A rule is ``publish TARGET``, ``play TARGET`` or just ``TARGET`` (both), where TARGET is
    ``KEY`` (any app) or ``APP/KEY``, split at the last ``/`` as in ``rtmp://host/APP/KEY``.
    ``*`` as the app or the key matches any. Keys are compared without their query string
    (``key?token=1`` is ``key``), exactly and case-sensitively.

    Args:
        rules: The rules.
    """

    def __init__(self, rules: Iterable[AccessRule] = ()) -> None:
        self.rules = tuple(rules)
        self._allowed = frozenset(
            (kind, rule.app, rule.key) for rule in self.rules for kind in rule.kinds
        )

    @classmethod
    def parse(cls, text: str, source: str = "<access rules>") -> AccessList:
        """Parse the text of an access file.

        Args:
            text: The rules, one per line.
            source: Names the text in error messages (the file's path).

        Raises:
            ValueError: For a line that is not a rule, naming the source and line number.
        """
        rules = []
        for number, line in enumerate(text.splitlines(), start=1):
            words = _strip_comment(line).split()
            if not words:
                continue
            verb = words[0].lower()
            if len(words) == 1 and verb not in _VERBS:
                kinds, target = _BOTH, words[0]
            elif len(words) == 2 and verb in _VERBS:
                kinds, target = frozenset({AccessKind(verb)}), words[1]
            else:
                msg = (
                    f"{source}:{number}: expected 'publish KEY', 'play KEY' or 'KEY' "
                    f"(KEY may be APP/KEY), not {line.strip()!r}"
                )
                raise ValueError(msg)
            app, slash, key = target.rpartition("/")
            if not slash:
                app = WILDCARD
            if not app or not key:
                msg = f"{source}:{number}: {target!r} has an empty app or key"
                raise ValueError(msg)
            rules.append(AccessRule(kinds, app, key.partition("?")[0]))
        return cls(rules)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AccessList:
        """Read and parse an access file (UTF-8, at most 1 MiB).

        Raises:
            OSError: If the file cannot be read.
            ValueError: If it is too large, not UTF-8, or has a line that is not a rule.
        """
        with open(path, "rb") as file:
            data = file.read(MAX_ACCESS_FILE_SIZE + 1)
        if len(data) > MAX_ACCESS_FILE_SIZE:
            msg = f"{path}: access file is larger than {MAX_ACCESS_FILE_SIZE} bytes"
            raise ValueError(msg)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            msg = f"{path}: access file is not UTF-8: {error}"
            raise ValueError(msg) from None
        return cls.parse(text, str(path))

    def allows(self, kind: AccessKind, app: str, key: str) -> bool:
        """Whether some rule lets a client ``kind`` the stream ``app/key``."""
        name = key.partition("?")[0]
        allowed = self._allowed
        return (
            (kind, app, name) in allowed
            or (kind, WILDCARD, name) in allowed
            or (kind, app, WILDCARD) in allowed
            or (kind, WILDCARD, WILDCARD) in allowed
        )


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    for separator in (" #", "\t#"):
        line = line.partition(separator)[0]
    return line


class AccessFile:
    """An access file, re-read when it changes.

    Args:
        path: The file.
        reload_interval: Look at the file's size and modification time at most this often.
        clock: Monotonic seconds (for tests).

    Raises:
        OSError: If the file cannot be read at first.
        ValueError: If it is not a valid access file at first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reload_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._reload_interval = reload_interval
        self._clock = clock
        self._signature = self._stat()
        self._rules = AccessList.from_file(self.path)
        self._checked_at = clock()

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def current(self) -> AccessList:
        """The rules, re-read first if the file changed since it was last read."""
        now = self._clock()
        if now - self._checked_at < self._reload_interval:
            return self._rules
        self._checked_at = now
        signature = self._stat()
        if signature == self._signature:
            return self._rules
        self._signature = signature
        try:
            self._rules = AccessList.from_file(self.path)
        except (OSError, ValueError) as error:
            logger.error("access file not reloaded, keeping its previous rules: %s", error)
        else:
            logger.info("access file %s reloaded: %d rules", self.path, len(self._rules.rules))
        return self._rules


def client_fields(request: AccessRequest) -> dict[str, str]:
    """nginx-rtmp's form fields about the client: its app, connect details, address, args."""
    return {
        "app": request.app,
        "flashver": request.flash_ver,
        "swfurl": request.swf_url,
        "tcurl": request.tc_url,
        "pageurl": request.page_url,
        "addr": request.addr,
        "args": request.args,
    }


def callback_form(request: AccessRequest) -> dict[str, str]:
    """The fields POSTed to the callback, as nginx-rtmp's ``on_connect``/``on_publish``/``on_play``.

    Fields of every call (nginx-rtmp's session fields):
        call: ``connect``, ``publish`` or ``play``.
        app: The application name.
        flashver: The client's ``flashVer``.
        swfurl: The client's ``swfUrl``.
        tcurl: The ``tcUrl`` the client connected with.
        pageurl: The client's ``pageUrl``.
        addr: The client's IP address.
        args: The query string of the stream key (of the connect's app for ``connect``),
            without ``?``, often a token; may be empty.

    ``connect`` adds ``epoch`` (the server's millisecond clock, as nginx-rtmp); ``publish``
    and ``play`` add ``clientid`` and ``name`` (the stream key without its query string);
    ``publish`` adds ``type`` (``live``, ``record`` or ``append``); ``play`` adds ``start``,
    ``duration`` (as unsigned 32-bit numbers, like nginx-rtmp) and ``reset`` (0 or 1).

    Unlike nginx-rtmp, the client's query arguments are not merged into the form (they could
    override the fields above); they come whole in ``args``.
    """
    form = {"call": request.kind.value, **client_fields(request)}
    if request.kind is AccessKind.CONNECT:
        form["epoch"] = str(int(time.monotonic() * 1000) & 0xFFFFFFFF)
        return form
    form["clientid"] = request.client_id
    form["name"] = request.name
    if request.kind is AccessKind.PUBLISH:
        form["type"] = request.publish_type
    else:
        form["start"] = str(int(request.start) & 0xFFFFFFFF)
        form["duration"] = str(int(request.duration) & 0xFFFFFFFF)
        form["reset"] = "1" if request.reset else "0"
    return form


class HttpCallback:
    """Asks HTTP endpoints about access requests, on a bounded pool of worker threads.

    Proxies from the environment are not used: the callback is normally a local service.

    Args:
        url: An ``http://`` or ``https://`` URL asked about publish and play requests, or one
            URL per kind of request (``on_connect``, ``on_publish``, ``on_play``); a kind
            without a URL is allowed without asking.
        timeout: Seconds for connecting and for each read.
        max_workers: Requests made at the same time.
        max_pending: Requests queued or in flight; beyond this :meth:`submit` refuses at once.

    Raises:
        ValueError: If a URL is not http(s) or names no host.
    """

    def __init__(
        self,
        url: str | Mapping[AccessKind, str],
        timeout: float = 5.0,
        max_workers: int = 4,
        max_pending: int = 64,
    ) -> None:
        urls = dict.fromkeys(_BOTH, url) if isinstance(url, str) else dict(url)
        for each in urls.values():
            check_hook_url(each, "auth")
        self.urls: dict[AccessKind, str] = urls
        self.timeout = timeout
        self._pool = BoundedPool(max_workers, max_pending, "rtmp-auth-callback")
        self._opener = hook_opener()

    def covers(self, kind: AccessKind) -> bool:
        """Whether requests of this kind are asked about."""
        return kind in self.urls

    def ask(self, request: AccessRequest) -> tuple[bool, str]:
        """POST the request's form and judge the answer (blocks); a redirect refuses.

        Returns:
            ``(allowed, reason)``; the reason is client-safe, the details are logged.
        """
        allowed, reason, redirect = self.decide(request)
        return (False, CALLBACK_REFUSED) if redirect is not None else (allowed, reason)

    def decide(self, request: AccessRequest) -> tuple[bool, str, str | None]:
        """Like :meth:`ask`, with nginx-rtmp's redirect (the pool runs this).

        A 3xx answer to a publish or play whose ``Location`` is a plain stream name (no
        ``/``, no control characters) names the stream to use instead, as on nginx-rtmp.

        Returns:
            ``(allowed, reason, redirect)``: ``redirect`` is that name (allowed is then
            False: an asker that cannot redirect refuses), or None.
        """
        url = self.urls.get(request.kind)
        if url is None:
            return True, "", None
        what = f"{request.kind.value} {request.app}/{request.name} from {request.addr or '?'}"
        answer = post_form(self._opener, url, callback_form(request), self.timeout)
        if answer.ok:
            return True, "", None
        redirect = _redirect_name(answer.location)
        redirected = answer.status is not None and 300 <= answer.status < 400
        if redirected and redirect is not None and request.kind is not AccessKind.CONNECT:
            logger.info("auth callback redirects %s to %r", what, redirect)
            return False, CALLBACK_REFUSED, redirect
        return (*self._judge(url, what, answer), None)

    @staticmethod
    def _judge(url: str, what: str, answer: HookAnswer) -> tuple[bool, str]:
        if answer.status is not None:
            logger.info("auth callback refused %s: HTTP %s", what, answer.status)
            return False, CALLBACK_REFUSED
        if answer.timed_out:
            logger.warning("auth callback %s: no answer about %s in time", url, what)
            return False, CALLBACK_TIMEOUT
        logger.warning("auth callback %s unavailable for %s: %s", url, what, answer.error)
        return False, CALLBACK_UNAVAILABLE

    def submit(self, request: AccessRequest, done: Callable[[bool, str, str | None], None]) -> bool:
        """Decide in the background; ``done(allowed, reason, redirect)`` runs on a worker.

        Returns:
            False (and ``done`` is never called) if ``max_pending`` requests are pending or
            the pool has been shut down.
        """

        def decide() -> None:
            try:
                allowed, reason, redirect = self.decide(request)
            except Exception:  # decide() catches what urllib raises; else it is a bug
                logger.exception("auth callback failed")
                allowed, reason, redirect = False, CALLBACK_UNAVAILABLE, None
            done(allowed, reason, redirect)

        return self._pool.submit(decide)

    @property
    def pending(self) -> int:
        """Requests queued or in flight."""
        return self._pool.pending

    def shutdown(self) -> None:
        """Drop queued requests; requests in flight end by their own timeout."""
        self._pool.shutdown(drop_queued=True)


class AccessAsker(abc.ABC):
    """An actor that asks the :class:`AccessController` and takes its answers."""

    @abc.abstractmethod
    def access_decided(self, token: Any, allowed: bool, reason: str) -> None:
        """The answer about the request sent with ``token``."""

    def access_redirected(self, token: Any, name: str) -> None:
        """The callback sent the publish or play ``token`` to the stream ``name`` (a 3xx).

        By default refused: an asker that can take a request to another stream overrides it.
        """
        del name
        self.access_decided(token, False, CALLBACK_REFUSED)


@dataclass(slots=True)
class _Pending:
    request: AccessRequest
    reply_to: ActorHandle[AccessAsker]
    token: Any
    timer: TimerHandle | None = None


class AccessController(MonitoredActor):
    """Decides publish and play requests; answers ``reply_to.access_decided(token, ok, why)``.

    With neither rules nor a callback everything is allowed.

    Args:
        rules: The access file (re-read when it changes) or fixed rules.
        callback: The HTTP callback.
        scheduler: ``scheduler(delay, function)`` runs ``function`` later on some thread (the
            relay's I/O loop); used to refuse a callback that has not answered in time.
            Without it only the callback's socket timeouts apply.
        deadline: Seconds the callback has to answer (default: ``callback.timeout``).
        ip_rules: Allow or deny by the client's address, asked first.
        app_ip_rules: Applications' own address rules, used for their requests instead.
        app_callbacks: Applications' own HTTP callbacks (None: none), used for their
            requests instead of ``callback``.
    """

    def __init__(
        self,
        rules: AccessFile | AccessList | None = None,
        callback: HttpCallback | None = None,
        scheduler: Scheduler | None = None,
        deadline: float | None = None,
        ip_rules: IpRules | None = None,
        app_ip_rules: Mapping[str, IpRules] | None = None,
        app_callbacks: Mapping[str, HttpCallback | None] | None = None,
    ) -> None:
        super().__init__()
        self._app_callbacks = dict(app_callbacks or {})
        self._ip_rules = ip_rules
        self._app_ip_rules = dict(app_ip_rules or {})
        self._rules = rules
        self._callback = callback
        self._schedule = scheduler
        self._deadline = deadline
        self._pending: dict[int, _Pending] = {}
        self._tickets = itertools.count(1)

    def check(self, request: AccessRequest, reply_to: ActorHandle[AccessAsker], token: Any) -> None:
        """Decide ``request``; the answer goes to ``reply_to.access_decided(token, ...)``."""
        ip_rules = self._app_ip_rules.get(request.app, self._ip_rules)
        if ip_rules is not None and not ip_rules.allows(request.kind, request.addr):
            self._refuse(request, "IP rules refuse", reply_to, token, ADDRESS_REFUSED)
            return
        rules = self._rules.current() if isinstance(self._rules, AccessFile) else self._rules
        if request.kind is AccessKind.CONNECT:
            rules = None  # access files name streams, not connections
        if rules is not None and not rules.allows(request.kind, request.app, request.key):
            self._refuse(request, "access file refuses", reply_to, token, UNKNOWN_KEY)
            return
        callback = self._app_callbacks.get(request.app, self._callback)
        if callback is None or not callback.covers(request.kind):
            self._reply(reply_to, token, allowed=True, reason="")
            return
        ticket = next(self._tickets)
        me: ActorHandle[AccessController] = ActorHandle(self.actor_ref)

        def answered(allowed: bool, reason: str, redirect: str | None) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(AccessController.callback_answered, ticket, allowed, reason, redirect)

        if not callback.submit(request, answered):
            logger.warning("auth callback busy: refusing %s %s", request.kind.value, request.key)
            self._reply(reply_to, token, allowed=False, reason=CALLBACK_BUSY)
            return
        pending = self._pending[ticket] = _Pending(request, reply_to, token)
        if self._schedule is not None:

            def expire() -> None:
                with contextlib.suppress(pykka.ActorDeadError):
                    me.tell(AccessController.callback_expired, ticket)

            deadline = self._deadline if self._deadline is not None else callback.timeout
            pending.timer = self._schedule(deadline, expire)

    def _refuse(
        self,
        request: AccessRequest,
        refused_by: str,
        reply_to: ActorHandle[AccessAsker],
        token: Any,
        reason: str,
    ) -> None:
        logger.info(
            "%s %s %s/%s from %s",
            refused_by,
            request.kind.value,
            request.app,
            request.name,
            request.addr or "?",
        )
        self._reply(reply_to, token, allowed=False, reason=reason)

    def callback_answered(
        self, ticket: int, allowed: bool, reason: str, redirect: str | None = None
    ) -> None:
        """The HTTP callback answered (a worker thread tells this)."""
        pending = self._pending.pop(ticket, None)
        if pending is None:
            return  # already refused as expired
        if pending.timer is not None:
            pending.timer.cancel()
        if redirect is None:
            self._reply(pending.reply_to, pending.token, allowed=allowed, reason=reason)
            return
        with contextlib.suppress(pykka.ActorDeadError):
            pending.reply_to.tell(AccessAsker.access_redirected, pending.token, redirect)

    def callback_expired(self, ticket: int) -> None:
        """The HTTP callback did not answer in time (the scheduler tells this)."""
        pending = self._pending.pop(ticket, None)
        if pending is None:
            return
        request = pending.request
        logger.warning(
            "auth callback: no answer about %s %s/%s in time",
            request.kind.value,
            request.app,
            request.name,
        )
        self._reply(pending.reply_to, pending.token, allowed=False, reason=CALLBACK_TIMEOUT)

    @staticmethod
    def _reply(
        reply_to: ActorHandle[AccessAsker], token: Any, *, allowed: bool, reason: str
    ) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # the connection has gone meanwhile
            reply_to.tell(AccessAsker.access_decided, token, allowed, reason)

    def pending_checks(self) -> int:
        """Requests waiting for the callback (for monitoring and tests)."""
        return len(self._pending)

    def on_stop(self) -> None:
        """Refuse whatever is still waiting, and stop the callback's pool."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
            self._reply(pending.reply_to, pending.token, allowed=False, reason=CALLBACK_UNAVAILABLE)
        self._pending.clear()
        self._shut_callbacks()

    def on_failure(self, *_exc_info: Any) -> None:
        """Stop the callbacks' pools."""
        self._shut_callbacks()

    def _shut_callbacks(self) -> None:
        for callback in (self._callback, *self._app_callbacks.values()):
            if callback is not None:
                callback.shutdown()


MAX_REDIRECT_NAME = 256
"""Longest stream name a redirect may give."""


def _redirect_name(location: str | None) -> str | None:
    """The stream name a redirect's ``Location`` gives, or None if it is not a plain name."""
    if not location or len(location) > MAX_REDIRECT_NAME or "/" in location:
        return None
    if not location.isprintable() or location != location.strip():
        return None
    return location


def describe_refusal(kind: AccessKind, reason: str) -> str:
    """The description sent to a refused client: ``Publish denied: <reason>``."""
    what = kind.value.capitalize()
    return f"{what} denied: {reason}" if reason else f"{what} denied"
