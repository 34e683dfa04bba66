"""What push and pull links share: settings, URLs, backoff, and the upstream connection.

Theory of operation:

* A link (:class:`~rtmp_actors.relay.push.PushLink`,
  :class:`~rtmp_actors.relay.pull.PullLink`) is a small actor that owns one
  :class:`~rtmp_actors.client.RtmpClient` at a time. The client's events come back to it
  through a forwarding receiver, tagged with the attempt they belong to, so events of a
  connection the link has given up are ignored.
* A link that loses its upstream (refused, unreachable, dropped) tries again after a delay
  that starts at ``LinkSettings.initial_backoff`` and doubles up to ``max_backoff``; an
  accepted publish (push) or play (pull) that lasts ``stable_after`` seconds resets it (one
  that is dropped sooner keeps the delays growing), and the link tells the relay that started
  it (its :class:`_LinkOwner`), which restarts the link if it crashes (see
  :mod:`rtmp_actors.relay.link_manager`).

URLs: ``rtmp[s]://host[:port]/app[?query][#pattern]``. The path is the app (no stream key);
a query is appended to every stream key (``?token=...``); ``pattern`` is an
:func:`fnmatch.fnmatchcase` pattern on the local ``app/key`` (default ``*``: every stream).
"""

from __future__ import annotations

import abc
import contextlib
import enum
import fnmatch
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import pykka

from behaviours.event_receiver import event_handler_name
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.client import RtmpClient
from rtmp_actors.protocol.commands import CapsEx
from rtmp_actors.session import client_events as events
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.transport.io_loop import IoLoop, Scheduler, TimerHandle
from rtmp_actors.url import RtmpUrl

__all__ = ["Backoff", "LinkSettings", "LinkTarget", "StreamName"]

logger = logging.getLogger(__name__)

StreamName = tuple[str, str]  # (app, key)

_A = TypeVar("_A")
_P = ParamSpec("_P")

_link_ids = itertools.count(1)
"""Numbers for link names (``push3 ...``, ``pull4 ...``), unique in the process."""


def _tell_later(
    schedule: Scheduler,
    delay: float,
    actor: ActorHandle[_A],
    method: Callable[Concatenate[_A, _P], object],
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> TimerHandle:
    """Tell ``actor`` to call ``method`` after ``delay`` seconds, unless it has stopped by then."""

    def fire() -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            actor.tell(method, *args, **kwargs)

    return schedule(delay, fire)


def _default_scheduler(io_loop: IoLoop | None) -> Scheduler:
    """``io_loop``'s ``call_later``, or the shared client loop's."""
    if io_loop is not None:
        return io_loop.call_later
    from rtmp_actors.client import shared_io_loop  # noqa: PLC0415 - started only when needed

    return shared_io_loop().call_later


# --- Settings and URLs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How push and pull links behave.

    Attributes:
        initial_backoff: Seconds before the first reconnection attempt (or restart of a
            crashed link).
        max_backoff: The delay doubles after each failure up to this many seconds.
        stable_after: Seconds an accepted link must keep going for the delays to start over
            (for reconnections, and for restarts of a crashed link).
        pull_linger: Seconds a pull link stays connected after its last player left.
        hold_timeout: Seconds a cluster edge's pull link holds its players through a lost
            origin, waiting for the stream to show up again (see ``PullLink(hold=...)``).
        max_cache_bytes: Most bytes of the current GOP a link keeps for a (re)start.
        connect_timeout: Seconds for the TCP connection to the upstream.
        close_timeout: Seconds a stopping link waits for its connection to close politely.
        flow: Timeouts and congestion policy of the upstream connections; the idle timeout
            is longer than servers' usual 60-second pings.
        session: Client session settings for the upstream connections.
    """

    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    stable_after: float = 10.0
    pull_linger: float = 5.0
    hold_timeout: float = 30.0
    max_cache_bytes: int = 8 * 1024 * 1024
    connect_timeout: float = 10.0
    close_timeout: float = 5.0
    flow: FlowControl = field(default_factory=lambda: FlowControl(idle_timeout=150.0))
    # Links follow Enhanced RTMP reconnect requests, and say so (capsEx).
    session: ClientSessionConfig = field(
        default_factory=lambda: ClientSessionConfig(caps_ex=CapsEx.RECONNECT)
    )

    def backoff(self) -> Backoff:
        """A new :class:`Backoff` with these delays."""
        return Backoff(self.initial_backoff, self.max_backoff, self.stable_after)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """A push or pull URL: where to connect, and which local streams it is for.

    Attributes:
        text: The URL as given (for logs).
        base: The server and app (its ``stream_key`` is empty).
        query: Appended to every stream key (without the ``?``), or "".
        pattern: An fnmatch pattern on the local ``app/key``.
        skip_apps: Apps whose streams this URL is not for (they have their own URLs; see
            :mod:`rtmp_actors.relay.applications`).
    """

    text: str
    base: RtmpUrl
    query: str = ""
    pattern: str = "*"
    skip_apps: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> LinkTarget:
        """Parse ``rtmp[s]://host[:port]/app[?query][#pattern]``.

        Raises:
            ValueError: If the URL is not a valid RTMP URL or names no app.
        """
        without_pattern, _, pattern = text.partition("#")
        parts = urlsplit(without_pattern)
        path_only = parts._replace(query="").geturl()
        parsed = RtmpUrl.parse(path_only, require_stream_key=False)
        app = f"{parsed.app}/{parsed.stream_key}" if parsed.stream_key else parsed.app
        base = RtmpUrl(parsed.scheme, parsed.host, parsed.port, app, "")
        return cls(text, base, parts.query, pattern or "*")

    @classmethod
    def parse_all(cls, urls: Sequence[LinkTarget | str]) -> tuple[LinkTarget, ...]:
        """Parse the strings among ``urls`` (see :meth:`parse`)."""
        return tuple(url if isinstance(url, LinkTarget) else cls.parse(url) for url in urls)

    def matches(self, app: str, key: str) -> bool:
        """Whether the local stream ``app/key`` is one this URL is for."""
        return app not in self.skip_apps and fnmatch.fnmatchcase(f"{app}/{key}", self.pattern)

    def url_for(self, key: str) -> RtmpUrl:
        """The upstream URL of the local stream key ``key``."""
        stream_key = f"{key}&{self.query}" if "?" in key else f"{key}?{self.query}"
        return RtmpUrl(
            self.base.scheme,
            self.base.host,
            self.base.port,
            self.base.app,
            stream_key if self.query else key,
        )

    def same_place(self, other: LinkTarget) -> bool:
        """Whether both URLs name the same server and app (as written)."""
        mine, theirs = self.base, other.base
        return (mine.scheme, mine.host.lower(), mine.port, mine.app) == (
            theirs.scheme,
            theirs.host.lower(),
            theirs.port,
            theirs.app,
        )

    def __str__(self) -> str:
        """The URL without its query (which may hold a secret), for logs."""
        pattern = "" if self.pattern == "*" else f"#{self.pattern}"
        return f"{self.base.tc_url}{pattern}"


class Backoff:
    """Reconnection delays: ``initial``, doubling up to ``maximum``, reset after a stable run.

    A success (:meth:`succeeded`) resets the delays only if it lasts: the next failure after
    it waits ``initial`` again if at least ``stable_after`` seconds have passed since the
    success, and keeps doubling otherwise. So an upstream that accepts and drops at once is
    not hammered at the initial delay forever.

    Args:
        initial: The first delay, seconds.
        maximum: The largest delay, seconds.
        stable_after: Seconds a success must last to reset the delays (0: any success does).
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 30.0,
        stable_after: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < initial <= maximum:
            msg = f"backoff needs 0 < initial <= maximum, got {initial} and {maximum}"
            raise ValueError(msg)
        if stable_after < 0:
            msg = f"backoff needs stable_after >= 0, got {stable_after}"
            raise ValueError(msg)
        self._initial = initial
        self._maximum = maximum
        self._stable_after = stable_after
        self._clock = clock
        self._next = initial
        self._succeeded_at: float | None = None

    def next_delay(self) -> float:
        """A failure: the delay before the next attempt (doubled for the one after)."""
        if self._succeeded_at is not None:
            if self._clock() - self._succeeded_at >= self._stable_after:
                self._next = self._initial
            self._succeeded_at = None
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def succeeded(self) -> None:
        """An attempt succeeded: if it lasts ``stable_after``, the delays start over."""
        self._succeeded_at = self._clock()

    def reset(self) -> None:
        """Start again from the initial delay now, however long the last success lasted."""
        self._next = self._initial
        self._succeeded_at = None


# --- The upstream connection every link has ------------------------------------------------------


class _LinkOwner(abc.ABC):
    """What a link tells the relay that started it."""

    @abc.abstractmethod
    def link_accepted(self, app: str, key: str, urn: str) -> None:
        """The link ``urn`` of ``app/key`` was accepted upstream (it publishes or plays)."""


class _UpstreamReceiver(EventReceiverActor):
    """Forwards one connection's events to its link, tagged with the link's attempt number."""

    def __init__(self, link: ActorHandle[_UpstreamLink], attempt: int) -> None:
        super().__init__()
        self._link = link
        self._attempt = attempt

    def send_events(self, batch: Sequence[Any]) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._link.tell(_UpstreamLink.upstream_events, self._attempt, list(batch))

    def send_event(self, event: Any) -> None:
        self.send_events((event,))


class _Phase(enum.Enum):
    """Where a link is with its upstream connection."""

    CONNECTING = "connecting"  # a client exists; waiting for connect and publish/play answers
    ACTIVE = "active"  # publishing (push) or playing (pull) upstream
    WAITING = "waiting"  # no client; a reconnection is scheduled
    FINISHING = "finishing"  # closing the client politely, then stopping


class _UpstreamLink(MonitoredActor):
    """One upstream connection at a time, reconnected with backoff until the link finishes.

    Subclasses say what to do once connected (:meth:`_on_connected`) and with the other
    events (``_on_<event>``), and whether to try again after a failure (:meth:`_should_retry`).

    Args:
        name: For logs.
        app: The local app.
        key: The local stream key.
        url: The upstream URL.
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the link's timers.
        io_loop: The loop for the upstream connection (default: the shared client loop).
        manager: The relay that started the link, told ``link_accepted``.
    """

    def __init__(
        self,
        name: str,
        app: str,
        key: str,
        url: RtmpUrl,
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None,
        manager: ActorHandle[_LinkOwner] | None,
    ) -> None:
        super().__init__()
        self.link_name = name
        self.app = app
        self.key = key
        self.url = url
        self._settings = settings
        self._schedule = scheduler
        self._io_loop = io_loop
        self._manager = manager
        self._backoff = settings.backoff()
        self._client: RtmpClient | None = None
        self._attempt = 0
        self._phase = _Phase.WAITING
        self._timer: TimerHandle | None = None
        self._me: ActorHandle[Self] = ActorHandle(self.actor_ref)

    # --- Connecting -------------------------------------------------------------------------

    def on_start(self) -> None:
        self._connect()

    def _connect(self) -> None:
        self._attempt += 1
        attempt = self._attempt
        me: ActorHandle[_UpstreamLink] = self._me
        try:
            self._client = RtmpClient.connect(
                self.url,
                event_receiver_factory=lambda _info: _UpstreamReceiver.start(me, attempt),
                config=self._settings.session,
                flow=self._settings.flow,
                io_loop=self._io_loop,
                connect_timeout=self._settings.connect_timeout,
            )
        except (OSError, ValueError) as error:
            self._client = None
            self._failed(f"cannot connect: {error}")
            return
        self._phase = _Phase.CONNECTING
        logger.debug("%s: connecting (attempt %d)", self.link_name, attempt)

    def _upstream(
        self,
        method: Callable[Concatenate[ClientSessionActor, _P], object],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """Tell the upstream session; one that has just ended is followed by Disconnected."""
        if self._client is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._client.session.tell(method, *args, **kwargs)

    def retry_due(self, attempt: int) -> None:
        """A reconnection timer fired (a timer tells this)."""
        if attempt == self._attempt and self._phase is _Phase.WAITING:
            self._timer = None
            self._connect()

    def _answered(
        self,
        answer: events.PublishResponseReceived | events.PlayResponseReceived,
        doing: str,
        done: str,
    ) -> bool:
        """The upstream answered the publish or play; whether it accepted.

        Accepted: the link is active, its backoff starts over once it has lasted (see
        :class:`Backoff`), and its relay is told.
        Refused: the link fails (and tries again later).
        """
        if not answer.was_accepted:
            self._failed(f"{doing} refused: {answer.response_text}")
            return False
        self._phase = _Phase.ACTIVE
        self._backoff.succeeded()
        logger.info("%s: %s", self.link_name, done)
        if self._manager is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._manager.tell(_LinkOwner.link_accepted, self.app, self.key, self.actor_urn)
        return True

    def _failed(self, reason: str) -> None:
        """The upstream refused, failed or went away: drop the client, maybe try again."""
        if self._phase is _Phase.FINISHING:
            return
        self._drop_client(reason)
        if not self._should_retry():
            self._finish(reason)
            return
        delay = self._backoff.next_delay()
        logger.warning("%s: %s; trying again in %g s", self.link_name, reason, delay)
        self._phase = _Phase.WAITING
        self._arm(delay, _UpstreamLink.retry_due, self._attempt)

    def _drop_client(self, reason: str) -> None:
        client, self._client = self._client, None
        self._attempt += 1  # the old connection's events are ignored from now on
        if client is not None:
            client.close(reason)

    def _arm(
        self,
        delay: float,
        method: Callable[Concatenate[Self, _P], object],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """Tell this link ``method`` after ``delay`` (replacing the timer already armed)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = _tell_later(self._schedule, delay, self._me, method, *args, **kwargs)

    # --- Upstream events --------------------------------------------------------------------

    def upstream_events(self, attempt: int, batch: list[Any]) -> None:
        """Events of the upstream connection (from its forwarding receiver)."""
        if attempt != self._attempt:
            return  # a connection given up on
        for event in batch:
            if isinstance(event, events.Disconnected):
                self._client = None
                if self._phase is _Phase.FINISHING:
                    self._stop_if_done()
                    return
                self._lost_upstream()
                self._failed(f"connection lost: {event.reason or 'closed by the server'}")
                return
            if self._phase is _Phase.FINISHING:
                continue
            if isinstance(event, events.ConnectionResponseReceived):
                if not event.was_accepted:
                    self._failed(_connection_failure(event, batch))
                    return
                self._on_connected()
            else:
                handler = getattr(self, "_" + event_handler_name(event), None)
                if handler is not None:
                    handler(event)
            if attempt != self._attempt:
                return  # the handler gave the connection up

    def _on_connected(self) -> None:
        raise NotImplementedError

    def _on_reconnect_requested(self, event: events.ReconnectRequested) -> None:
        """Enhanced RTMP v2: the upstream asks the link to move (to ``tc_url``) or reconnect."""
        try:
            url = reconnect_url(self.url, event.tc_url)
        except ValueError as error:
            logger.warning("%s: ignoring a reconnect request: %s", self.link_name, error)
            return
        logger.info(
            "%s: the upstream asks to reconnect to %s/%s (%s)",
            self.link_name,
            url.tc_url,
            url.stream_key,
            event.description or "no reason given",
        )
        self.url = url
        self._drop_client("reconnecting, as the upstream asked")
        self._connect()

    def _lost_upstream(self) -> None:
        """The upstream connection ended unexpectedly (before the retry decision)."""

    def _should_retry(self) -> bool:
        return True

    # --- Finishing --------------------------------------------------------------------------

    def finish(self, reason: str = "done") -> None:
        """Close the upstream connection politely, then stop."""
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        if self._phase is _Phase.FINISHING:
            return
        self._phase = _Phase.FINISHING
        self._before_finish(reason)
        if self._client is not None:
            logger.info("%s: closing (%s)", self.link_name, reason)
            self._client.close(reason)
        self._arm(self._settings.close_timeout, _UpstreamLink.stop_now)
        self._stop_if_done()

    def _before_finish(self, reason: str) -> None:
        """The link is about to close its connection and stop."""

    def _stop_if_done(self) -> None:
        """Stop once finishing, the connection is closed and nothing else is pending."""
        if self._phase is _Phase.FINISHING and self._client is None and self._can_stop():
            self.stop()

    def _can_stop(self) -> bool:
        return True

    def stop_now(self) -> None:
        """Finishing took too long (the connection did not close): stop anyway."""
        self.stop()

    def _clean_up(self) -> None:
        """Cancel the timer; close a connection still open (as the relay stops, or a crash)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._client is not None:
            self._client.close("relay link stopped")
            self._client = None

    def on_stop(self) -> None:
        """Clean up (see :meth:`_clean_up`)."""
        self._clean_up()

    def on_failure(self, *_exc_info: object) -> None:
        """Clean up; the relay learns of the crash from its monitor."""
        self._clean_up()


def reconnect_url(current: RtmpUrl, tc_url: str | None) -> RtmpUrl:
    """Where a reconnect request sends a link.

    That is ``tc_url`` (absolute, or relative to the current URL) with the link's stream key,
    or the current URL when the request names none.

    Raises:
        ValueError: If ``tc_url`` is not an RTMP URL.
    """
    if not tc_url:
        return current
    absolute = urljoin(f"{current.tc_url}/", tc_url)
    parsed = RtmpUrl.parse(absolute.rstrip("/"), require_stream_key=False)
    app = f"{parsed.app}/{parsed.stream_key}" if parsed.stream_key else parsed.app
    return RtmpUrl(parsed.scheme, parsed.host, parsed.port, app, current.stream_key)


def _connection_failure(answer: events.ConnectionResponseReceived, batch: list[Any]) -> str:
    """Why a connection was not accepted: the server's refusal, or the connection's end."""
    if answer.code is not None:
        return f"connection refused: {answer.response_text or answer.code}"
    # No answer from a server: the Disconnected that comes with it says what happened.
    lost = next((e for e in batch if isinstance(e, events.Disconnected)), None)
    reason = lost.reason if lost is not None and lost.reason else answer.response_text
    return f"cannot connect: {reason}"
