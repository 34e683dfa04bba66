"""Push and pull relays: republishing local streams upstream, fetching wanted ones from an origin.

Theory of operation:

* Both are :class:`~rtmp_actors.relay.observer.StreamObserver` actors (``PushRelay`` and
  ``PullRelay``), one per relay server, that start one small actor per link
  (``PushLink``, ``PullLink``). A link owns one :class:`~rtmp_actors.client.RtmpClient` at a
  time; the client's events come back to it through a forwarding receiver, tagged with the
  attempt they belong to, so events of a connection the link has given up are ignored.
* A link that loses its upstream (refused, unreachable, dropped) tries again after a delay
  that starts at ``LinkSettings.initial_backoff`` and doubles up to ``max_backoff``; an
  accepted publish (push) or play (pull) resets it.
* Push: for every published local stream whose ``app/key`` matches a push URL, a
  ``PushLink`` connects to the URL's server and publishes the stream under the same key in
  the URL's app. Media is forwarded as it arrives and never queued in the link: before the
  upstream accepts (and after a reconnect) the link only keeps metadata, codec configuration
  and the current GOP (:class:`~rtmp_actors.relay.gop_cache.GopCache`, bounded by
  ``max_cache_bytes``) and sends those first, so the upstream starts at a keyframe. A slow
  upstream is the client's protocol handler's business (it drops media under congestion).
  When the local stream is unpublished the link stops publishing and closes politely.
* Pull (edge mode): when a first player waits for ``app/key`` and nobody publishes it
  locally (``stream_wanted``), a ``PullLink`` plays the key from the first matching pull
  URL's server. Once the origin sends media it publishes into the local stream through the
  registry, like any publisher (so local players, late joiners and the GOP cache all work
  as usual); it stops publishing locally when the origin's stream ends, and starts again when
  it resumes. When the last player leaves (``stream_unwanted``) the link lingers for
  ``pull_linger`` seconds, then closes. It reconnects with backoff while players remain.
  It gives up when a local publisher has the stream (its publish is refused, or a takeover
  closes it); the pull relay starts a new link if players are left waiting for a stream
  whose publisher went away.
* Loops: a stream is pulled only while nobody publishes it here, and a stream being pulled
  from ``rtmp://origin/app`` is never pushed to ``rtmp://origin/app`` (the same scheme,
  host, port and app, compared as written, not as resolved). So an edge can push its
  encoders' streams to an origin and pull the others from the same origin without sending
  anything back where it came from. Pull loops (A pulls from B and B from A, or a server
  from itself) carry no media, since a pull only publishes what its origin sends; their
  connections idle until the players leave. Push loops across servers (A pushes to B, B
  pushes to A) cannot be seen from one server: the second publish is refused upstream and
  retried with backoff, at most every ``max_backoff`` seconds.

URLs: ``rtmp[s]://host[:port]/app[?query][#pattern]``. The path is the app (no stream key);
a query is appended to every stream key (``?token=...``); ``pattern`` is an
:func:`fnmatch.fnmatchcase` pattern on the local ``app/key`` (default ``*``: every stream).
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pykka

from behaviours.event_receiver import event_handler_name
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.client import RtmpClient
from rtmp_actors.relay.gop_cache import GopCache
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.stream import PublishRequest
from rtmp_actors.session import client_events as events
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import IoLoop, Scheduler, TimerHandle
from rtmp_actors.url import RtmpUrl

__all__ = [
    "Backoff",
    "LinkSettings",
    "LinkTarget",
    "PullLink",
    "PullRelay",
    "PushLink",
    "PushRelay",
    "RelayLinks",
]

logger = logging.getLogger(__name__)

StreamName = tuple[str, str]  # (app, key)

_link_ids = itertools.count(1)


# --- Settings and URLs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How push and pull links behave.

    Attributes:
        initial_backoff: Seconds before the first reconnection attempt.
        max_backoff: The delay doubles after each failure up to this many seconds.
        pull_linger: Seconds a pull link stays connected after its last player left.
        max_cache_bytes: Most bytes of the current GOP a link keeps for a (re)start.
        connect_timeout: Seconds for the TCP connection to the upstream.
        close_timeout: Seconds a stopping link waits for its connection to close politely.
        flow: Timeouts and congestion policy of the upstream connections; the idle timeout
            is longer than servers' usual 60-second pings.
        session: Client session settings for the upstream connections.
    """

    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    pull_linger: float = 5.0
    max_cache_bytes: int = 8 * 1024 * 1024
    connect_timeout: float = 10.0
    close_timeout: float = 5.0
    flow: FlowControl = field(default_factory=lambda: FlowControl(idle_timeout=150.0))
    session: ClientSessionConfig = field(default_factory=ClientSessionConfig)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """A push or pull URL: where to connect, and which local streams it is for.

    Attributes:
        text: The URL as given (for logs).
        base: The server and app (its ``stream_key`` is empty).
        query: Appended to every stream key (without the ``?``), or "".
        pattern: An fnmatch pattern on the local ``app/key``.
    """

    text: str
    base: RtmpUrl
    query: str = ""
    pattern: str = "*"

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

    def matches(self, app: str, key: str) -> bool:
        """Whether the local stream ``app/key`` is one this URL is for."""
        return fnmatch.fnmatchcase(f"{app}/{key}", self.pattern)

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
    """Reconnection delays: ``initial``, doubling up to ``maximum``; :meth:`reset` on success.

    Args:
        initial: The first delay, seconds.
        maximum: The largest delay, seconds.
    """

    def __init__(self, initial: float = 1.0, maximum: float = 30.0) -> None:
        if not 0 < initial <= maximum:
            msg = f"backoff needs 0 < initial <= maximum, got {initial} and {maximum}"
            raise ValueError(msg)
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        """The delay before the next attempt (and double it for the one after)."""
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        """An attempt succeeded: start again from the initial delay."""
        self._next = self._initial


# --- The upstream connection every link has ------------------------------------------------------


class _UpstreamReceiver(EventReceiverActor):
    """Forwards one connection's events to its link, tagged with the link's attempt number."""

    def __init__(self, link: MethodProxy, attempt: int) -> None:
        super().__init__()
        self._link = link
        self._attempt = attempt

    def send_events(self, batch: Sequence[Any]) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._link.upstream_events.defer(self._attempt, list(batch))

    def send_event(self, event: Any) -> None:
        self.send_events((event,))


class _Phase(enum.Enum):
    CONNECTING = "connecting"  # a client exists; waiting for connect and publish/play answers
    ACTIVE = "active"  # publishing (push) or playing (pull) upstream
    WAITING = "waiting"  # no client; a reconnection is scheduled
    FINISHING = "finishing"  # closing the client politely, then stopping


class _UpstreamLink(MonitoredActor):
    """One upstream connection at a time, reconnected with backoff until the link finishes.

    Subclasses say what to do once connected (:meth:`_on_connected`) and with the other
    events (``_on_<event>``), and whether to try again after a failure (:meth:`_should_retry`).
    """

    def __init__(
        self,
        name: str,
        url: RtmpUrl,
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None,
    ) -> None:
        super().__init__()
        self.link_name = name
        self.url = url
        self._settings = settings
        self._schedule = scheduler
        self._io_loop = io_loop
        self._backoff = Backoff(settings.initial_backoff, settings.max_backoff)
        self._client: RtmpClient | None = None
        self._attempt = 0
        self._phase = _Phase.WAITING
        self._timer: TimerHandle | None = None
        self._me = MethodProxy(self.actor_ref)

    # --- Connecting -------------------------------------------------------------------------

    def on_start(self) -> None:
        self._connect()

    def _connect(self) -> None:
        self._attempt += 1
        attempt = self._attempt
        me = self._me
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

    def retry_due(self, attempt: int) -> None:
        """A reconnection timer fired (a timer tells this)."""
        if attempt == self._attempt and self._phase is _Phase.WAITING:
            self._timer = None
            self._connect()

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
        self._arm(delay, "retry_due", self._attempt)

    def _drop_client(self, reason: str) -> None:
        client, self._client = self._client, None
        self._attempt += 1  # the old connection's events are ignored from now on
        if client is not None:
            client.close(reason)

    def _arm(self, delay: float, method: str, *args: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        me = self._me

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                getattr(me, method).defer(*args)

        self._timer = self._schedule(delay, fire)

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
        self._arm(self._settings.close_timeout, "stop_now")
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

    def on_stop(self) -> None:
        """Cancel the timer; close a connection still open (as the relay stops)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._client is not None:
            self._client.close("relay link stopped")
            self._client = None

    def on_failure(self, *_exc_info: object) -> None:
        """Clean up like :meth:`on_stop`."""
        self.on_stop()


# --- Push ----------------------------------------------------------------------------------------


class PushLink(_UpstreamLink):
    """Republishes one local stream to one upstream URL, reconnecting with backoff.

    Args:
        target: The push URL.
        app: The local app.
        key: The local stream key.
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for reconnection timers.
        io_loop: The loop for the upstream connection (default: the shared client loop).
    """

    def __init__(
        self,
        target: LinkTarget,
        app: str,
        key: str,
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
    ) -> None:
        url = target.url_for(key)
        name = f"push{next(_link_ids)} {app}/{key} -> {target.base.tc_url}/{key}"
        super().__init__(name, url, settings, scheduler, io_loop)
        self._cache = GopCache(max_bytes=settings.max_cache_bytes)

    def _on_connected(self) -> None:
        assert self._client is not None
        self._client.session.request_publish.defer(self.url.stream_key)

    def _on_publish_response_received(self, event: events.PublishResponseReceived) -> None:
        if not event.was_accepted:
            self._failed(f"publishing refused: {event.response_text}")
            return
        assert self._client is not None
        self._phase = _Phase.ACTIVE
        self._backoff.reset()
        logger.info("%s: publishing", self.link_name)
        key, session = self.url.stream_key, self._client.session
        if self._cache.metadata:
            session.publish_metadata.defer(key, self._cache.metadata)
        for message in self._cache.join():
            session.publish_av_data.defer(key, message.media_type, message.timestamp, message.data)

    # --- From the push relay ----------------------------------------------------------------

    def metadata(self, metadata: Mapping[str, Any]) -> None:
        """The local publisher sent (or cleared, with an empty mapping) ``onMetaData``."""
        self._cache.set_metadata(metadata or None)
        if self._phase is _Phase.ACTIVE and metadata and self._client is not None:
            self._client.session.publish_metadata.defer(self.url.stream_key, metadata)

    def media(self, media_type: MediaType, timestamp: int, data: bytes) -> None:
        """The local publisher sent one audio or video message: forward it at once."""
        self._cache.add(media_type, timestamp, data)
        if self._phase is _Phase.ACTIVE and self._client is not None:
            self._client.session.publish_av_data.defer(
                self.url.stream_key, media_type, timestamp, data
            )

    def _before_finish(self, reason: str) -> None:
        self._cache.clear()
        if self._client is not None and self._phase is _Phase.ACTIVE:
            self._client.session.stop_publish.defer(self.url.stream_key)


class PushRelay(StreamObserver):
    """Starts a :class:`PushLink` for each published stream and push URL that match.

    Args:
        targets: The push URLs (strings are parsed with :meth:`LinkTarget.parse`).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers.
        io_loop: The loop for upstream connections (default: the shared client loop).
    """

    def __init__(
        self,
        targets: Sequence[LinkTarget | str],
        settings: LinkSettings | None = None,
        scheduler: Scheduler | None = None,
        io_loop: IoLoop | None = None,
    ) -> None:
        super().__init__()
        self._targets = tuple(
            t if isinstance(t, LinkTarget) else LinkTarget.parse(t) for t in targets
        )
        self._settings = settings or LinkSettings()
        self._io_loop = io_loop
        self._schedule = scheduler or _default_scheduler(io_loop)
        self._links: dict[StreamName, list[MethodProxy]] = {}
        self._started: list[pykka.ActorRef[Any]] = []  # finishing ones too, for shutdown
        self._pulled: dict[StreamName, LinkTarget] = {}

    # --- Loop protection (from pull links) --------------------------------------------------

    def stream_pulled(self, app: str, key: str, source: LinkTarget) -> None:
        """``app/key`` is about to be published here by a pull from ``source``."""
        self._pulled[(app, key)] = source

    def stream_unpulled(self, app: str, key: str) -> None:
        """The pull of ``app/key`` stopped publishing here."""
        self._pulled.pop((app, key), None)

    # --- StreamObserver ---------------------------------------------------------------------

    def stream_published(self, app: str, key: str) -> None:
        self._stop_links((app, key), "the local stream restarted")
        self._started = [ref for ref in self._started if ref.is_alive()]
        source = self._pulled.get((app, key))
        links = []
        for target in self._targets:
            if not target.matches(app, key):
                continue
            if source is not None and target.same_place(source):
                logger.info("not pushing %s/%s to %s: it is pulled from there", app, key, target)
                continue
            ref = PushLink.start(target, app, key, self._settings, self._schedule, self._io_loop)
            self._started.append(ref)
            links.append(MethodProxy(ref))
        if links:
            self._links[(app, key)] = links

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        for link in self._links.get((app, key), ()):
            with contextlib.suppress(pykka.ActorDeadError):
                link.metadata.defer(metadata)

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        for link in self._links.get((app, key), ()):
            with contextlib.suppress(pykka.ActorDeadError):
                link.media.defer(media_type, timestamp, data)

    def stream_unpublished(self, app: str, key: str) -> None:
        self._stop_links((app, key), "the local stream ended")

    def _stop_links(self, name: StreamName, reason: str) -> None:
        for link in self._links.pop(name, ()):
            with contextlib.suppress(pykka.ActorDeadError):
                link.finish.defer(reason)

    # --- Life cycle -------------------------------------------------------------------------

    def links(self) -> list[pykka.ActorRef[Any]]:
        """The links of published streams (for monitoring and tests)."""
        return [link.actor_ref for links in self._links.values() for link in links]

    def shutdown(self) -> list[pykka.ActorRef[Any]]:
        """Finish every link politely; returns their refs, to wait for (from outside)."""
        for name in list(self._links):
            self._stop_links(name, "relay shutting down")
        return [ref for ref in self._started if ref.is_alive()]

    def on_stop(self) -> None:
        """Stop the links that are left."""
        for ref in self._started:
            ref.stop(block=False)
        self._started.clear()
        self._links.clear()

    def on_failure(self, *_exc_info: Any) -> None:
        """Stop the links."""
        self.on_stop()


# --- Pull ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LocalPublish:
    """The pull link's current publish into the local stream."""

    connection_id: str
    request_id: int
    stream: MethodProxy | None = None
    accepted: bool = False
    leaving: bool = False  # left before the stream answered: leave as soon as it does


class PullLink(_UpstreamLink):
    """Plays one stream from an origin and publishes it into the local stream of that name.

    It is its own session and receiver in the :class:`PublishRequest` it sends the registry,
    so the stream answers it with ``bind_publisher``, ``accept_request``,
    ``reject_request`` and ``close`` tells.

    Args:
        source: The pull URL.
        app: The local app.
        key: The stream key (played from the origin, published here).
        registry: The stream registry.
        manager: The pull relay (told ``link_finished``).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for reconnection and linger timers.
        io_loop: The loop for the upstream connection (default: the shared client loop).
        push_relay: Told which streams are pulled from where, so they are not pushed back.
    """

    def __init__(
        self,
        source: LinkTarget,
        app: str,
        key: str,
        registry: MethodProxy,
        manager: MethodProxy,
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        push_relay: MethodProxy | None = None,
    ) -> None:
        number = next(_link_ids)
        super().__init__(
            f"pull{number} {source.base.tc_url}/{key} -> {app}/{key}",
            source.url_for(key),
            settings,
            scheduler,
            io_loop,
        )
        self._id = f"pull{number}"
        self._source = source
        self.app = app
        self.key = key
        self._registry = registry
        self._manager = manager
        self._push_relay = push_relay
        self._cache = GopCache(max_bytes=settings.max_cache_bytes)
        self._local: _LocalPublish | None = None
        self._origin_live = False  # media came from the origin since its stream (re)started
        self._requests = itertools.count(1)
        self._wanted = True
        self._linger: TimerHandle | None = None

    # --- Upstream ---------------------------------------------------------------------------

    def _on_connected(self) -> None:
        assert self._client is not None
        self._client.session.request_playback.defer(self.url.stream_key)

    def _on_play_response_received(self, event: events.PlayResponseReceived) -> None:
        if not event.was_accepted:
            self._failed(f"playback refused: {event.response_text}")
            return
        self._phase = _Phase.ACTIVE
        self._backoff.reset()
        logger.info("%s: playing", self.link_name)

    def _on_stream_meta_data_received(self, event: events.StreamMetaDataReceived) -> None:
        self._origin_live = True
        local = self._local
        metadata = dict(event.raw)
        if local is not None and local.accepted and local.stream is not None:
            local.stream.publisher_metadata.defer(local.connection_id, metadata)
            return
        self._cache.set_metadata(metadata or None)
        if local is None:
            self._publish_locally()

    def _on_audio_video_data_received(self, event: events.AudioVideoDataReceived) -> None:
        self._origin_live = True
        local = self._local
        if local is not None and local.accepted and local.stream is not None:
            local.stream.publisher_media.defer(
                local.connection_id, event.data_type, event.timestamp, event.data
            )
            return
        self._cache.add(event.data_type, event.timestamp, event.data)
        if local is None:
            self._publish_locally()

    def _on_stream_ended(self, event: events.StreamEnded) -> None:
        logger.info("%s: the origin's stream ended (%s)", self.link_name, event.reason)
        self._leave_local()

    def _lost_upstream(self) -> None:
        self._leave_local()

    def _should_retry(self) -> bool:
        return self._wanted

    # --- Publishing into the local stream ---------------------------------------------------

    def _publish_locally(self) -> None:
        """Ask the registry to publish into the local stream; media is kept until accepted."""
        request_id = next(self._requests)
        local = self._local = _LocalPublish(f"{self._id}.{request_id}", request_id)
        if self._push_relay is not None:
            # Told before the registry, so it arrives before the stream's stream_published.
            with contextlib.suppress(pykka.ActorDeadError):
                self._push_relay.stream_pulled.defer(self.app, self.key, self._source)
        self._registry.publish_requested.defer(
            PublishRequest(
                local.connection_id,
                self._me,
                self._me,
                request_id,
                self.app,
                self.key,
                request_id,  # the stream id: one per local publish
            )
        )

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The local stream is about to accept publish ``stream_id`` (from the stream)."""
        local = self._local
        if local is not None and local.request_id == stream_id:
            local.stream = MethodProxy(stream)

    def route_media(self, stream_id: int, receiver: MethodProxy) -> None:
        """The local stream would take media straight from a session; the link sends its own."""

    def accept_request(self, request_id: int) -> None:
        """The local stream accepted the publish: send what was kept, then go live."""
        local = self._local
        if local is None or local.request_id != request_id or local.stream is None:
            return
        local.accepted = True
        if local.leaving:
            # The origin's stream ended (or the link is finishing) while the stream decided.
            live_again = self._origin_live
            self._leave_local(keep_cache=True)
            if live_again and self._phase is not _Phase.FINISHING:
                self._publish_locally()  # media came after the end: a new local publish
            self._stop_if_done()
            return
        logger.info("%s: publishing locally", self.link_name)
        if self._cache.metadata is not None:
            local.stream.publisher_metadata.defer(local.connection_id, self._cache.metadata)
        for message in self._cache.join():
            local.stream.publisher_media.defer(
                local.connection_id, message.media_type, message.timestamp, message.data
            )
        self._cache.clear()

    def reject_request(self, request_id: int, description: str = "", *_args: Any) -> None:
        """The local stream refused the publish: somebody publishes it here; give up."""
        local = self._local
        if local is None or local.request_id != request_id:
            return
        self._local = None
        self._tell_unpulled()
        logger.info("%s: not needed, published locally (%s)", self.link_name, description)
        self._finish("published locally")
        self._stop_if_done()

    def close(self, reason: str | None = None) -> None:
        """The local stream dropped this publisher (a takeover, or silence): give up."""
        if self._local is None or not self._local.accepted:
            return
        self._local = None
        self._tell_unpulled()
        self._finish(f"dropped by the local stream: {reason or 'no reason given'}")

    def _leave_local(self, *, keep_cache: bool = False) -> None:
        """Stop publishing into the local stream (now, or once it has answered)."""
        local = self._local
        if not keep_cache:
            self._origin_live = False
            self._cache.clear()
        if local is None:
            return
        if not local.accepted:
            local.leaving = True  # the answer is on its way; leave when it comes
            return
        self._local = None
        if local.stream is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                local.stream.publisher_left.defer(local.connection_id)
        self._tell_unpulled()

    def _tell_unpulled(self) -> None:
        if self._push_relay is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._push_relay.stream_unpulled.defer(self.app, self.key)

    # --- Wanted or not (from the pull relay) ------------------------------------------------

    def wanted(self) -> None:
        """A player waits again: stay."""
        self._wanted = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def unwanted(self) -> None:
        """The last player left: close after the linger time unless one comes back."""
        self._wanted = False
        if self._linger is not None:
            self._linger.cancel()
        me = self._me

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.linger_over.defer()

        self._linger = self._schedule(self._settings.pull_linger, fire)

    def linger_over(self) -> None:
        """The linger timer fired."""
        self._linger = None
        if not self._wanted:
            self._finish("no players left")

    def _before_finish(self, reason: str) -> None:
        self._wanted = False
        self._leave_local()
        self._tell_manager(reason)

    def _can_stop(self) -> bool:
        return self._local is None  # a local publish still unanswered: leave it first

    def _tell_manager(self, reason: str) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._manager.link_finished.defer(self.app, self.key, self.actor_ref, reason)

    def on_stop(self) -> None:
        """Leave the local stream, cancel timers, close the connection."""
        if self._linger is not None:
            self._linger.cancel()
        if self._local is not None and self._local.accepted:
            self._leave_local()
        if self._phase is not _Phase.FINISHING:
            self._tell_manager("stopped")
        super().on_stop()


class PullRelay(StreamObserver):
    """Starts a :class:`PullLink` when a stream nobody publishes here is wanted.

    A link starts when a first player waits for a stream (``stream_wanted``), or when the
    publisher of a stream with waiting players leaves and no link runs for it. The first
    pull URL that matches the stream is used.

    Args:
        sources: The pull URLs (strings are parsed with :meth:`LinkTarget.parse`).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers.
        io_loop: The loop for upstream connections (default: the shared client loop).
        registry: The stream registry (or give it later with :meth:`set_registry`).
        push_relay: The push relay, told which streams are pulled (loop protection).
    """

    def __init__(
        self,
        sources: Sequence[LinkTarget | str],
        settings: LinkSettings | None = None,
        scheduler: Scheduler | None = None,
        io_loop: IoLoop | None = None,
        registry: pykka.ActorRef[Any] | None = None,
        push_relay: pykka.ActorRef[Any] | None = None,
    ) -> None:
        super().__init__()
        self._sources = tuple(
            s if isinstance(s, LinkTarget) else LinkTarget.parse(s) for s in sources
        )
        self._settings = settings or LinkSettings()
        self._io_loop = io_loop
        self._schedule = scheduler or _default_scheduler(io_loop)
        self._registry = MethodProxy(registry) if registry is not None else None
        self._push_relay = MethodProxy(push_relay) if push_relay is not None else None
        self._wanted: set[StreamName] = set()
        self._published: set[StreamName] = set()
        self._links: dict[StreamName, pykka.ActorRef[PullLink]] = {}
        self._started: list[pykka.ActorRef[Any]] = []  # finishing ones too, for shutdown
        self._me = MethodProxy(self.actor_ref)

    def set_registry(self, registry: pykka.ActorRef[Any]) -> None:
        """Publish pulled streams into this registry."""
        self._registry = MethodProxy(registry)

    # --- StreamObserver ---------------------------------------------------------------------

    def stream_wanted(self, app: str, key: str) -> None:
        self._wanted.add((app, key))
        link = self._links.get((app, key))
        if link is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                MethodProxy(link).wanted.defer()
            return
        self._maybe_start(app, key)

    def stream_unwanted(self, app: str, key: str) -> None:
        self._wanted.discard((app, key))
        link = self._links.get((app, key))
        if link is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                MethodProxy(link).unwanted.defer()

    def stream_published(self, app: str, key: str) -> None:
        self._published.add((app, key))

    def stream_unpublished(self, app: str, key: str) -> None:
        self._published.discard((app, key))
        self._maybe_start(app, key)

    # --- From the links ---------------------------------------------------------------------

    def link_finished(self, app: str, key: str, link: pykka.ActorRef[Any], reason: str) -> None:
        """A link gave up; look again shortly whether players still wait for its stream.

        The look waits a moment so that the stream's own notices (a local publisher that
        took over sends ``stream_published`` just after the link is told) arrive first, and
        so that a link that keeps failing is not restarted in a tight loop.
        """
        if self._links.get((app, key)) != link:
            return
        del self._links[(app, key)]
        logger.debug("pull of %s/%s finished: %s", app, key, reason)
        me = self._me

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.recheck.defer(app, key)

        self._schedule(self._settings.initial_backoff, fire)

    def recheck(self, app: str, key: str) -> None:
        """Start a link if players still wait for ``app/key`` and nobody publishes it."""
        self._maybe_start(app, key)

    def _maybe_start(self, app: str, key: str) -> None:
        name = (app, key)
        if name not in self._wanted or name in self._published or name in self._links:
            return
        if self._registry is None:
            logger.error("pull relay has no registry; cannot pull %s/%s", app, key)
            return
        source = next((s for s in self._sources if s.matches(app, key)), None)
        if source is None:
            return
        logger.info("pulling %s/%s from %s", app, key, source)
        self._started = [ref for ref in self._started if ref.is_alive()]
        self._links[name] = PullLink.start(
            source,
            app,
            key,
            self._registry,
            self._me,
            self._settings,
            self._schedule,
            self._io_loop,
            self._push_relay,
        )
        self._started.append(self._links[name])

    # --- Life cycle -------------------------------------------------------------------------

    def links(self) -> list[pykka.ActorRef[PullLink]]:
        """The running links (for monitoring and tests)."""
        return [ref for ref in self._links.values() if ref.is_alive()]

    def shutdown(self) -> list[pykka.ActorRef[Any]]:
        """Finish every link politely; returns their refs, to wait for (from outside)."""
        self._wanted.clear()
        for ref in self._links.values():
            with contextlib.suppress(pykka.ActorDeadError):
                MethodProxy(ref).finish.defer("relay shutting down")
        self._links.clear()
        return [ref for ref in self._started if ref.is_alive()]

    def on_stop(self) -> None:
        """Stop the links that are left."""
        for ref in self._started:
            ref.stop(block=False)
        self._started.clear()
        self._links.clear()

    def on_failure(self, *_exc_info: Any) -> None:
        """Stop the links."""
        self.on_stop()


# --- Wiring into a relay server ------------------------------------------------------------------


class RelayLinks:
    """The push and pull relays of one relay server (used from outside the actor system).

    Args:
        push: Push URLs (``RelayConfig.push``).
        pull: Pull URLs (``RelayConfig.pull``).
        scheduler: ``scheduler(delay, callback)`` (the relay's I/O loop's ``call_later``).
        io_loop: The loop for upstream connections (the relay's).
        settings: Link behaviour.

    Raises:
        ValueError: If a URL is not a valid push or pull URL.
    """

    def __init__(
        self,
        push: Sequence[str],
        pull: Sequence[str],
        *,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        settings: LinkSettings | None = None,
    ) -> None:
        push_targets = [LinkTarget.parse(url) for url in push]
        pull_sources = [LinkTarget.parse(url) for url in pull]
        settings = settings or LinkSettings()
        self.push_ref: pykka.ActorRef[PushRelay] | None = None
        self.pull_ref: pykka.ActorRef[PullRelay] | None = None
        if push_targets:
            self.push_ref = PushRelay.start(push_targets, settings, scheduler, io_loop)
        if pull_sources:
            self.pull_ref = PullRelay.start(
                pull_sources, settings, scheduler, io_loop, push_relay=self.push_ref
            )

    @property
    def observers(self) -> tuple[MethodProxy, ...]:
        """The stream observers to give the registry."""
        return tuple(MethodProxy(ref) for ref in (self.push_ref, self.pull_ref) if ref)

    def attach(self, registry: pykka.ActorRef[Any]) -> None:
        """Give the pull relay the registry to publish pulled streams into."""
        if self.pull_ref is not None:
            MethodProxy(self.pull_ref).set_registry.defer(registry)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every link politely (waiting up to ``timeout``), then stop the relays."""
        deadline = time.monotonic() + timeout
        links: list[pykka.ActorRef[Any]] = []
        for ref in (self.pull_ref, self.push_ref):
            if ref is None:
                continue
            try:
                links += MethodProxy(ref).shutdown().get(timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout):
                continue
        for link in links:
            link.actor_stopped.wait(max(0.0, deadline - time.monotonic()))
        for ref in (self.pull_ref, self.push_ref):
            if ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.stop(timeout=max(0.1, deadline - time.monotonic()))


def _connection_failure(answer: events.ConnectionResponseReceived, batch: list[Any]) -> str:
    """Why a connection was not accepted: the server's refusal, or the connection's end."""
    if answer.code is not None:
        return f"connection refused: {answer.response_text or answer.code}"
    # No answer from a server: the Disconnected that comes with it says what happened.
    lost = next((e for e in batch if isinstance(e, events.Disconnected)), None)
    reason = lost.reason if lost is not None and lost.reason else answer.response_text
    return f"cannot connect: {reason}"


def _default_scheduler(io_loop: IoLoop | None) -> Scheduler:
    if io_loop is not None:
        return io_loop.call_later
    from rtmp_actors.client import shared_io_loop  # noqa: PLC0415 - started only when needed

    return shared_io_loop().call_later
