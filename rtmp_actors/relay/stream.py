"""One live stream: its publisher, its players, and the fan-out between them.

Theory of operation:

* Everything about a stream happens in its actor, in order: publish and play requests
  (routed here by the registry), the publisher's media (straight from the publisher's
  session, see :meth:`ServerSessionActor.route_media`), players' choices, players leaving.
  There are no locks and no shared state with other streams or connections.
* Players get exactly the publisher's messages (same payload objects, same timestamps). A
  player that joins mid-stream first gets the metadata, codec configuration and the current
  GOP (see :class:`GopCache`); if no GOP is cached, its video starts at the next keyframe.
* Fan-out writes when it can, with no timer: a message that arrives while the actor has
  nothing else to do goes to every player at once. Messages that arrive while it is busy
  (writing the last ones to hundreds of players, say) wait in its mailbox and go out
  together, one write per player for all of them, encoded once and shared by everybody. So
  low load gets the lowest latency, and high load gets large writes by itself. A player
  whose socket is not writable has its bytes queued by its transport, and the I/O loop
  writes everything queued in one system call when the socket drains.
* The stream writes its players' media, so it owns their :class:`PlaybackRules` (pause,
  receiveAudio/receiveVideo, congestion drops, restarting at keyframes); each player's
  session tells it the player's choices. Notices to players (a publisher arrived or left)
  are built by the player's session and handed over with its media sink, so the stream
  writes them in order with the media, with no round trip on the way.
* A player may wait for a publisher: it is accepted at once and told when one arrives
  (``NetStream.Play.PublishNotify``) or leaves (StreamEOF and
  ``NetStream.Play.UnpublishNotify``), and keeps waiting.
* A second publisher is refused with ``NetStream.Publish.BadName``, or takes over when the
  policy says so. A publisher that sends nothing for ``idle_publisher_timeout`` seconds is
  dropped, so an encoder that reconnects after a network cut is not locked out.
* A server-generated stream (:mod:`rtmp_actors.relay.generated`) publishes like a pull link,
  but is never taken over nor dropped as idle; on demand, it is told when the stream gains
  its first player and loses its last (:class:`DemandListener`).
* When the stream has neither publisher nor players it tells the registry, which retires it.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

import pykka

from behaviours.media_receiver import MediaReceiver
from behaviours.media_writer import MediaWriter
from behaviours.stream_peers import (
    DemandListener,
    PlayedStream,
    PlayerReceiver,
    PlayerSession,
    PublisherReceiver,
    PublisherSession,
)
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.actors.monitoring import (
    ExitNotice,
    MonitorCallback,
    MonitoredActor,
    demonitor,
    monitor,
)
from rtmp_actors.actors.when_idle import WhenIdle
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData
from rtmp_actors.protocol.prepared import PreparedBatch, PreparedMessage
from rtmp_actors.relay.gop_cache import GopCache
from rtmp_actors.relay.observer import StreamObserver, StreamSnapshot
from rtmp_actors.relay.rate_meter import RateMeter
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.playback import PlaybackChoice, PlaybackRules
from rtmp_actors.session.server import PlayerNotice
from rtmp_actors.session.server_events import AudioVideoDataReceived, StreamMetaDataChanged
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

if TYPE_CHECKING:
    from rtmp_actors.relay.upstream import LinkTarget

__all__ = [
    "LiveStream",
    "PlayRequest",
    "PublishRequest",
    "StreamOwner",
    "StreamPolicy",
    "StreamStats",
    "refuse_second_publisher",
]

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")

PATIENT_MESSAGES = 32
"""Media messages a patient observer gets at once, at most (see :class:`LiveStream`)."""
PATIENT_MS = 250
"""Milliseconds of media a patient observer may be told late, at most."""


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How live streams behave.

    Attributes:
        gop_cache: Keep the current GOP for late joiners.
        takeover: A second publisher replaces the first instead of being refused.
        idle_publisher_timeout: Seconds without media before a publisher is dropped (0: never).
        max_gop_bytes: Most bytes kept in the GOP cache of one stream.
    """

    gop_cache: bool = True
    takeover: bool = False
    idle_publisher_timeout: float = 10.0
    max_gop_bytes: int = 32 * 1024 * 1024


class StreamOwner(abc.ABC):
    """Who created a stream and retires it (the registry)."""

    @abc.abstractmethod
    def stream_idle(self, app: str, key: str, handled: int) -> None:
        """The stream has no publisher and no players, after ``handled`` requests."""


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """A connection asks to publish (built by the connection's relay receiver).

    ``session`` is the publishing connection's session (or a pull link standing in for one),
    ``receiver`` its event receiver, ``pulled_from`` the pull URL when a pull link publishes
    (so that a restarted push relay still does not push the stream back there).
    ``generated`` marks a server-generated stream: it is never taken over and never dropped
    as idle (it paces itself, and is silent on purpose while on demand); ``demand``, if set,
    is told whenever the stream gains its first player or loses its last one.
    """

    connection_id: str
    session: ActorHandle[PublisherSession]
    receiver: ActorHandle[PublisherReceiver]
    request_id: int
    app: str
    key: str
    stream_id: int
    pulled_from: LinkTarget | None = None
    generated: bool = False
    demand: ActorHandle[DemandListener] | None = None


@dataclass(frozen=True, slots=True)
class PlayRequest:
    """A connection asks to play."""

    connection_id: str
    session: ActorHandle[PlayerSession]
    receiver: ActorHandle[PlayerReceiver]
    request_id: int
    app: str
    key: str
    stream_id: int


@dataclass(slots=True)
class _Player:
    request: PlayRequest
    # The player's rules, made once its first media sink opens (they need the connection's
    # congestion limits); until then what they will start from is kept here.
    rules: PlaybackRules | None = None
    choice: PlaybackChoice | None = None
    needs_keyframe: bool = False
    # Until its media sink is open, messages and notices wait here, in order.
    pending: list[PreparedMessage | PlayerNotice] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return self.request.connection_id, self.request.stream_id

    def require_keyframe(self) -> None:
        if self.rules is None:
            self.needs_keyframe = True
        else:
            self.rules.require_keyframe()


@dataclass(frozen=True, slots=True)
class StreamStats:
    """A snapshot of one stream, for monitoring.

    ``bytes_in`` and ``messages_in`` count audio and video payloads over the stream's life;
    ``bitrate_kbps`` is their rate over the last few seconds (0 without a publisher);
    ``publishing_since`` is on the stream's clock (``time.monotonic`` by default).
    """

    app: str
    key: str
    publisher: str | None
    players: int
    bytes_in: int
    messages_in: int
    publishing_since: float | None
    metadata: Mapping[str, Any] | None = field(default=None)
    bitrate_kbps: float = 0.0


_MAX_PENDING = 4096


def _media_message(media_type: MediaType, timestamp: int, data: bytes) -> PreparedMessage:
    content = VideoData(data) if media_type is MediaType.VIDEO else AudioData(data)
    return PreparedMessage(content, timestamp)


def _metadata_message(metadata: Mapping[str, Any]) -> PreparedMessage:
    return PreparedMessage(DataMessage(("onMetaData", EcmaArray(metadata))), 0)


def refuse_second_publisher(request: PublishRequest, publishing: str) -> None:
    """Refuse ``request`` with ``NetStream.Publish.BadName``: ``publishing`` has the key."""
    logger.info(
        "%s/%s: refusing publisher %s, %s is publishing it",
        request.app,
        request.key,
        request.connection_id,
        publishing,
        extra={"connection_id": request.connection_id},
    )
    with contextlib.suppress(pykka.ActorDeadError):
        request.session.tell(
            PublisherSession.reject_request,
            request.request_id,
            f"{request.app}/{request.key} is already being published",
            NetStreamCode.PUBLISH_BAD_NAME,
        )


class LiveStream(MonitoredActor, MediaReceiver, MediaWriter, PlayedStream):
    """The actor for one (app, stream key).

    Args:
        app: The application name.
        key: The stream key.
        registry: Told when the stream becomes idle (``stream_idle(app, key, handled)``).
        policy: Stream behaviour.
        scheduler: ``scheduler(delay, callback)`` for the idle-publisher check.
        clock: Seconds, monotonic.
        observers: Actors that see every publication of the stream (see
            :class:`~rtmp_actors.relay.observer.StreamObserver`): recorders, push relays.
        patient_observers: Observers that take the media in batches of up to
            :data:`PATIENT_MESSAGES` messages or :data:`PATIENT_MS` of it (HLS, whose
            players wait seconds for a segment): one wake-up of theirs for many messages,
            where the others get each batch of the publisher's input as it comes. Anything
            else they are told comes after the media before it.
    """

    def __init__(
        self,
        app: str,
        key: str,
        registry: ActorHandle[StreamOwner],
        policy: StreamPolicy,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.monotonic,
        observers: Sequence[ActorHandle[StreamObserver]] = (),
        patient_observers: Sequence[ActorHandle[StreamObserver]] = (),
    ) -> None:
        super().__init__()
        self._prompt = tuple(observers)
        self._patient = tuple(patient_observers)
        self._observers = self._prompt + self._patient
        self._patient_media: list[tuple[MediaType, int, bytes]] = []
        self.app = app
        self.key = key
        self._registry = registry
        self._policy = policy
        self._schedule = scheduler
        self._clock = clock
        self._me: ActorHandle[LiveStream] = ActorHandle(self.actor_ref)
        self._cache = GopCache(max_bytes=policy.max_gop_bytes)
        self._publisher: PublishRequest | None = None
        self._publisher_watch: MonitorCallback | None = None
        self._players: dict[tuple[str, int], _Player] = {}
        # Players with a current media sink get the batches; the others wait for one.
        self._writing: dict[tuple[str, int], tuple[MediaSink, PlaybackRules]] = {}
        self._waiting: dict[tuple[str, int], _Player] = {}
        self._batch: list[PreparedMessage] = []
        self._flush_when_idle = WhenIdle(self, self._flush)
        self._turn = 0  # who is written first rotates, so no player is always last
        self._handled = 0  # requests handled, so the registry can tell a stale idle report
        self._last_media = 0.0
        self._publishing_since: float | None = None
        self._bytes_in = 0
        self._messages_in = 0
        self._rate = RateMeter(clock())
        self._idle_timer: TimerHandle | None = None
        self._demand_told = False  # what the publisher's demand listener last heard
        # Media of the input batch being handled, for the observers (told once per batch).
        self._observer_media: list[tuple[MediaType, int, bytes]] = []

    # --- Requests (from the registry) ---------------------------------------------------------

    def publish_requested(self, request: PublishRequest) -> None:
        """Accept, refuse, or (by policy) let a new publisher take over."""
        self._flush()
        self._handled += 1
        current = self._publisher
        if current is not None and (not self._policy.takeover or current.generated):
            refuse_second_publisher(request, current.connection_id)
            self._maybe_idle()
            return
        if current is not None:
            logger.info(
                "%s/%s: %s takes over from %s",
                self.app,
                self.key,
                request.connection_id,
                current.connection_id,
                extra={"connection_id": request.connection_id},
            )
            self._end_publishing(notify=False)
            with contextlib.suppress(pykka.ActorDeadError):
                current.session.tell(
                    PublisherSession.close, "another publisher took over the stream"
                )
        self._start_publishing(request)

    def _start_publishing(self, request: PublishRequest) -> None:
        try:
            # Routed and bound before the accept: media only starts after it.
            request.session.tell(PublisherSession.route_media, request.stream_id, self._me)
            request.receiver.tell(
                PublisherReceiver.bind_publisher, self.actor_ref, request.stream_id
            )
            request.session.tell(PublisherSession.accept_request, request.request_id)
        except pykka.ActorDeadError:
            # Gone between asking and being accepted: nobody would ever say it left.
            logger.info(
                "%s/%s: publisher %s is gone before being accepted",
                self.app,
                self.key,
                request.connection_id,
                extra={"connection_id": request.connection_id},
            )
            self._maybe_idle()
            return
        self._publisher = request
        self._cache.clear()
        self._publishing_since = self._clock()
        self._last_media = self._publishing_since
        self._rate = RateMeter(self._publishing_since)
        self._watch_publisher(request)
        for player in list(self._players.values()):
            self._notify(player, PlayerNotice.PUBLISHED)
            player.require_keyframe()  # a new publication: nothing before it is decodable
        self._arm_idle_check()
        self._demand_told = False
        self._tell_demand()
        if request.pulled_from is None:
            self._tell_observers(StreamObserver.stream_published)
        else:
            self._tell_observers(StreamObserver.stream_pulled_in)
        logger.info(
            "%s/%s: %s publishing",
            self.app,
            self.key,
            request.connection_id,
            extra={"connection_id": request.connection_id},
        )

    def play_requested(self, request: PlayRequest) -> None:
        """Accept a player; it gets the cached start of the stream, then the live messages."""
        self._flush()
        self._handled += 1
        player = _Player(request)
        # A stream id played again: the new play replaces the old (demand is unchanged).
        self._forget(player.key, tell_demand=False)
        self._players[player.key] = player
        self._waiting[player.key] = player
        with contextlib.suppress(pykka.ActorDeadError):
            request.receiver.tell(PlayerReceiver.bind_player, self.actor_ref, request.stream_id)
            request.session.tell(PlayerSession.accept_request, request.request_id)
            request.session.tell(PlayerSession.open_media_sink, request.stream_id, self._me)
        self._tell_demand()
        if self._publisher is not None:
            self._join(player)
        elif len(self._players) == 1:
            self._tell_observers(
                StreamObserver.stream_wanted
            )  # a pull relay may fetch it from upstream

    def _join(self, player: _Player) -> None:
        if self._cache.metadata is not None:
            self._hold(player, _metadata_message(self._cache.metadata))
        if self._policy.gop_cache:
            for message in self._cache.join():
                self._hold(player, message.prepared)  # encoded once for all joiners too
            player.needs_keyframe = self._cache.waits_for_keyframe
        else:
            player.needs_keyframe = True
        logger.debug(
            "%s/%s: %s joined",
            self.app,
            self.key,
            player.request.connection_id,
            extra={"connection_id": player.request.connection_id},
        )

    # --- Publisher traffic (from the publisher's session) -------------------------------------

    def media_received(
        self, connection_id: str, events: Sequence[AudioVideoDataReceived | StreamMetaDataChanged]
    ) -> None:
        """The publisher's media and metadata from one batch of its input."""
        if not self._is_publisher(connection_id):
            return
        now = self._clock()
        for event in events:
            if isinstance(event, AudioVideoDataReceived):
                self._take_media(event.data_type, event.timestamp, event.data, now)
            else:
                self._take_metadata(dict(event.raw))
        self._tell_observer_media()
        self._flush_when_idle.request()

    def publisher_metadata(self, connection_id: str, metadata: Mapping[str, Any]) -> None:
        """The publisher sent (or cleared, with an empty mapping) ``onMetaData``."""
        if self._is_publisher(connection_id):
            self._take_metadata(metadata)
            self._tell_observer_media()
            self._flush_when_idle.request()

    def publisher_media(
        self, connection_id: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """The publisher sent one audio or video message."""
        if self._is_publisher(connection_id):
            self._take_media(media_type, timestamp, data, self._clock())
            self._tell_observer_media()
            self._flush_when_idle.request()

    def publisher_media_batch(
        self, connection_id: str, media: Sequence[tuple[MediaType, int, bytes]]
    ) -> None:
        """Several audio or video messages at once (a pull link's batch of input)."""
        if self._is_publisher(connection_id):
            now = self._clock()
            for media_type, timestamp, data in media:
                self._take_media(media_type, timestamp, data, now)
            self._tell_observer_media()
            self._flush_when_idle.request()

    def publisher_paused(self, connection_id: str) -> None:
        """The publisher stopped its media for now (an on-demand source lost its players).

        What the cache holds would be stale for the next joiner, who then waits for the
        publisher's fresh start (its sequence headers and first keyframe) instead.
        """
        if self._is_publisher(connection_id):
            self._flush()
            self._cache.clear()

    def _take_metadata(self, metadata: Mapping[str, Any]) -> None:
        self._cache.set_metadata(metadata or None)
        self._tell_observer_media()  # observers see media and metadata in the publisher's order
        self._tell_observers(StreamObserver.stream_metadata, metadata)
        self._add(_metadata_message(metadata))

    def _take_media(self, media_type: MediaType, timestamp: int, data: bytes, now: float) -> None:
        self._last_media = now
        self._bytes_in += len(data)
        self._rate.add(now, len(data))
        self._messages_in += 1
        # Encoded and classified once, for the cache and every player alike.
        prepared = _media_message(media_type, timestamp, data)
        if self._policy.gop_cache or self._players:
            keyframe = prepared.frame_flags.keyframe
            self._cache.add(media_type, timestamp, data, keyframe=keyframe, prepared=prepared)
        if self._observers:
            self._observer_media.append((media_type, timestamp, data))
        self._add(prepared)

    def _tell_observer_media(self) -> None:
        """Hand the observers the batch's media at once (before anything else they are told).

        The patient ones get it once enough has gathered (or before anything else).
        """
        media, self._observer_media = self._observer_media, []
        if not media:
            return
        self._tell(self._prompt, StreamObserver.stream_media_batch, media)
        if self._patient:
            pending = self._patient_media
            pending.extend(media)
            if len(pending) >= PATIENT_MESSAGES or pending[-1][1] - pending[0][1] >= PATIENT_MS:
                self._tell_patient_media()

    def _tell_patient_media(self) -> None:
        media, self._patient_media = self._patient_media, []
        if media:
            self._tell(self._patient, StreamObserver.stream_media_batch, media)

    def _add(self, message: PreparedMessage) -> None:
        self._batch.append(message)
        for player in self._waiting.values():
            self._hold(player, message)

    def _flush(self) -> None:
        """Write the batch to every player with a sink: one write each, shared bytes."""
        if not self._batch:
            return
        writers = list(self._writing.items())
        if not writers:
            self._batch.clear()
            return
        batch = PreparedBatch(self._batch)
        self._batch = []
        turn = self._turn = (self._turn + 1) % len(writers)
        now = self._clock()
        # The hot loop: one write per player, of bytes shared by everybody when it can.
        closed = [
            key
            for key, (sink, rules) in itertools.chain(writers[turn:], writers[:turn])
            if not sink.send_batch(batch, rules, now)
        ]
        for key in closed:  # closing connections; their receivers say they left
            self._forget(key)

    def publisher_left(self, connection_id: str) -> None:
        """The publisher stopped or disconnected: players are told and keep waiting."""
        if not self._is_publisher(connection_id):
            return
        self._flush()
        logger.info(
            "%s/%s: %s stopped publishing",
            self.app,
            self.key,
            connection_id,
            extra={"connection_id": connection_id},
        )
        self._end_publishing(notify=True)
        self._maybe_idle()

    def _watch_publisher(self, request: PublishRequest) -> None:
        """Notice a publisher that dies without saying so (a crashed session or pull link)."""
        ref = request.session.actor_ref
        if not issubclass(ref.actor_class, MonitoredActor):
            return  # a test double: it says when it leaves

        def exited(_notice: ExitNotice) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._me.tell(LiveStream.publisher_exited, request)

        self._publisher_watch = exited
        monitor(ref, exited)

    def _unwatch_publisher(self) -> None:
        """Drop the monitor: a pull link publishes again on each reconnection, for days."""
        watch, self._publisher_watch = self._publisher_watch, None
        if watch is not None and self._publisher is not None:
            demonitor(self._publisher.session.actor_ref, watch)

    def close_publisher(self, reason: str) -> None:
        """Close the current publisher's connection and end its publication.

        Players are told, and keep waiting (for a publisher here, or a pull from elsewhere).
        """
        current = self._publisher
        if current is None:
            return
        logger.info(
            "%s/%s: closing publisher %s: %s",
            self.app,
            self.key,
            current.connection_id,
            reason,
            extra={"connection_id": current.connection_id},
        )
        self._drop_publisher(current, reason)

    def _drop_publisher(self, current: PublishRequest, reason: str) -> None:
        """Close the publisher's connection, end its publication, retire if nobody is left."""
        with contextlib.suppress(pykka.ActorDeadError):
            current.session.tell(PublisherSession.close, reason)
        self._end_publishing(notify=True)
        self._maybe_idle()

    def publisher_exited(self, request: PublishRequest) -> None:
        """The publisher's actor has exited; end its publication if it is still the current one.

        Its receiver normally says so first (``publisher_left``), and then this does nothing.
        """
        if self._publisher is not request:
            return
        logger.info(
            "%s/%s: publisher %s exited without unpublishing",
            self.app,
            self.key,
            request.connection_id,
            extra={"connection_id": request.connection_id},
        )
        self._end_publishing(notify=True)
        self._maybe_idle()

    def _end_publishing(self, *, notify: bool) -> None:
        self._flush()
        self._tell_observers(StreamObserver.stream_unpublished)
        self._unwatch_publisher()
        self._publisher = None
        self._publishing_since = None
        self._cache.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for player in list(self._players.values()):
            player.pending.clear()  # the start of a publication that is over
            if notify:
                self._notify(player, PlayerNotice.UNPUBLISHED)

    def _tell_observers(
        self,
        method: Callable[Concatenate[StreamObserver, str, str, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        self._tell_patient_media()  # what came before goes first
        self._tell(self._observers, method, *args, **kwargs)

    def _tell(
        self,
        observers: tuple[ActorHandle[StreamObserver], ...],
        method: Callable[Concatenate[StreamObserver, str, str, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        for observer in observers:
            with contextlib.suppress(pykka.ActorDeadError):
                observer.tell(method, self.app, self.key, *args, **kwargs)

    def _is_publisher(self, connection_id: str) -> bool:
        return self._publisher is not None and self._publisher.connection_id == connection_id

    # --- Players ------------------------------------------------------------------------------

    def player_left(self, connection_id: str, stream_id: int) -> None:
        """A player stopped or disconnected."""
        self._flush()
        if self._forget((connection_id, stream_id)):
            if not self._players:
                self._tell_observers(StreamObserver.stream_unwanted)
            self._maybe_idle()

    def _forget(self, key: tuple[str, int], *, tell_demand: bool = True) -> bool:
        self._writing.pop(key, None)
        self._waiting.pop(key, None)
        forgotten = self._players.pop(key, None) is not None
        if forgotten and tell_demand and not self._players:
            self._tell_demand()
        return forgotten

    def _tell_demand(self) -> None:
        """Tell an on-demand publisher when the stream gains its first or loses its last player."""
        publisher = self._publisher
        wanted = bool(self._players)
        if publisher is None or publisher.demand is None or wanted == self._demand_told:
            return
        self._demand_told = wanted
        with contextlib.suppress(pykka.ActorDeadError):
            publisher.demand.tell(DemandListener.demand_changed, wanted)

    def playback_changed(self, connection_id: str, stream_id: int, choice: PlaybackChoice) -> None:
        """The player changed what it wants (pause, receiveAudio/receiveVideo)."""
        player = self._players.get((connection_id, stream_id))
        if player is None:
            return
        self._flush()  # what came before the change goes by the old choice
        player.choice = choice
        if player.rules is not None:
            player.rules.apply(choice)

    def media_sink_opened(self, connection_id: str, stream_id: int, sink: MediaSink | None) -> None:
        """A player's connection opened its direct path (or refused it with None)."""
        player = self._players.get((connection_id, stream_id))
        if player is None:
            return  # it left meanwhile
        self._flush()
        if sink is None:
            # Refused: the connection is going away (or the stream no longer plays). Its
            # receiver will say it left; nothing more is sent to it meanwhile.
            self._forget(player.key)
            return
        # A player's one sink opens once: its rules start from what was kept for them.
        rules = player.rules = sink.new_rules(start_at_keyframe=player.needs_keyframe)
        if player.choice is not None:
            rules.apply(player.choice)
        if not self._send_pending(player, sink, rules):
            self._forget(player.key)
            return
        del self._waiting[player.key]
        self._writing[player.key] = (sink, rules)

    def _send_pending(self, player: _Player, sink: MediaSink, rules: PlaybackRules) -> bool:
        """Write what waited for the sink, in order; False once the connection is closed."""
        pending, player.pending = player.pending, []
        now = self._clock()
        run: list[PreparedMessage] = []
        for item in pending:
            if isinstance(item, PlayerNotice):
                if not (sink.send(run, rules, now) and sink.send_notice(item)):
                    return False
                run = []
            else:
                run.append(item)
        return sink.send(run, rules, now)

    def _notify(self, player: _Player, notice: PlayerNotice) -> None:
        """Tell a player about its publisher, in order with its media."""
        sink = self._writing.get(player.key)
        if sink is None:
            player.pending.append(notice)
        elif not sink[0].send_notice(notice):
            self._forget(player.key)

    def _hold(self, player: _Player, message: PreparedMessage) -> None:
        """Keep a message for a player whose sink is not open yet."""
        pending = player.pending
        if len(pending) < _MAX_PENDING:
            pending.append(message)
        else:  # the sink is slow to open: start it at a keyframe instead (notices stay)
            player.pending = [item for item in pending if isinstance(item, PlayerNotice)]
            player.require_keyframe()

    # --- Idle handling --------------------------------------------------------------------------

    def _arm_idle_check(self) -> None:
        if self._policy.idle_publisher_timeout:
            self._idle_timer = self._schedule(
                self._policy.idle_publisher_timeout, self._idle_callback()
            )

    def check_idle_publisher(self) -> None:
        """Drop a publisher that has been silent for too long (a timer calls this)."""
        self._idle_timer = None
        publisher = self._publisher
        if publisher is None or publisher.pulled_from is not None or publisher.generated:
            return  # a pull link has its own timers (linger, hold, backoff); a source paces
        silent = self._clock() - self._last_media
        timeout = self._policy.idle_publisher_timeout
        if silent < timeout:
            self._idle_timer = self._schedule(timeout - silent, self._idle_callback())
            return
        logger.warning(
            "%s/%s: dropping publisher %s, silent for %.1f s",
            self.app,
            self.key,
            publisher.connection_id,
            silent,
            extra={"connection_id": publisher.connection_id},
        )
        self._drop_publisher(publisher, f"no media for {silent:.0f} s")

    def _idle_callback(self) -> Callable[[], None]:
        """A callback for the scheduler (another thread) that tells this actor to check."""
        me = self._me

        def tell() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(LiveStream.check_idle_publisher)

        return tell

    def _maybe_idle(self) -> None:
        if self._publisher is None and not self._players:
            with contextlib.suppress(pykka.ActorDeadError):
                self._registry.tell(StreamOwner.stream_idle, self.app, self.key, self._handled)

    # --- Monitoring -------------------------------------------------------------------------------

    def describe_to(self, observer: ActorHandle[StreamObserver]) -> None:
        """Tell ``observer`` (one that just started) what this stream is doing now."""
        self._flush()
        # Before the snapshot, which holds it too: a new observer ignores media of a stream
        # it has not been described yet, so it sees none twice.
        self._tell_patient_media()
        publisher = self._publisher
        snapshot = StreamSnapshot(
            self.app,
            self.key,
            published=publisher is not None,
            wanted=bool(self._players),
            metadata=self._cache.metadata if publisher is not None else None,
            media=tuple(
                (message.media_type, message.timestamp, message.data)
                for message in self._cache.join()
            )
            if publisher is not None
            else (),
            pulled_from=publisher.pulled_from if publisher is not None else None,
        )
        with contextlib.suppress(pykka.ActorDeadError):
            observer.tell(StreamObserver.stream_snapshot, snapshot)

    def stats(self) -> StreamStats:
        """A snapshot for monitoring (ask it from outside the actor system, with a timeout)."""
        return StreamStats(
            self.app,
            self.key,
            self._publisher.connection_id if self._publisher else None,
            len(self._players),
            self._bytes_in,
            self._messages_in,
            self._publishing_since,
            self._cache.metadata,
            self._rate.kbps(self._clock()) if self._publisher else 0.0,
        )

    def on_stop(self) -> None:
        """Cancel the idle timer; hand the patient observers what they have not had yet."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._tell_patient_media()

    def on_failure(self, *_exc_info: object) -> None:
        """Close the publisher and the players: a stream's state cannot be rebuilt.

        The registry forgets the stream (it monitors it), so the encoder can publish again at
        once and the players can play again; observers see the publication end.
        """
        self.on_stop()
        reason = f"stream {self.app}/{self.key} failed"
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            self._tell_observers(StreamObserver.stream_unpublished)
            with contextlib.suppress(pykka.ActorDeadError):
                publisher.session.tell(PublisherSession.close, reason)
        for player in self._players.values():
            with contextlib.suppress(pykka.ActorDeadError):
                player.request.session.tell(PlayerSession.close, reason)
        self._players.clear()
        self._writing.clear()
        self._waiting.clear()
