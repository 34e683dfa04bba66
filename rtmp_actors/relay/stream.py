"""One live stream: its publisher, its players, and the fan-out between them.

Theory of operation:

* Everything about a stream happens in its actor, in order: publish and play requests
  (routed here by the registry), the publisher's media, players leaving. There are no
  locks and no shared state with other streams.
* Players get exactly the publisher's messages (same payload objects, same timestamps). A
  player that joins mid-stream first gets the metadata, codec configuration and the current
  GOP (see :class:`GopCache`); if no GOP is cached, its video starts at the next keyframe.
* Fan-out is batched: a message may wait up to ``batch_window`` for the ones after it, and
  then every player in step with the stream gets the whole batch, encoded once for all, in
  one write. The cost of a write to a socket hardly depends on its size, so this cuts the
  server's system time per player nearly in proportion. With many players, writing a batch
  costs a while itself; the window then stretches to twice that CPU time (up to
  ``max_batch_window``), so a stream's writing keeps to about a third of a core and each
  write carries more. CPU time, not wall time: a thread that was merely preempted did not
  cost more, and stretching the window for it would only add latency. Players not yet in
  step (waiting for their connection's direct path or for a keyframe) are served message
  by message.
* A player may wait for a publisher: it is accepted at once and told when one arrives
  (``NetStream.Play.PublishNotify``) or leaves (StreamEOF and
  ``NetStream.Play.UnpublishNotify``), and keeps waiting.
* A second publisher is refused with ``NetStream.Publish.BadName``, or takes over when the
  policy says so. A publisher that sends nothing for ``idle_publisher_timeout`` seconds is
  dropped, so an encoder that reconnects after a network cut is not locked out.
* When the stream has neither publisher nor players it tells the registry, which retires it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka

from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import NetStreamCode, OnStatus
from rtmp_actors.protocol.messages import AudioData, DataMessage, MessageContent, VideoData
from rtmp_actors.protocol.prepared import PreparedBatch, PreparedMessage
from rtmp_actors.relay.gop_cache import GopCache, configuration_key
from rtmp_actors.relay.metrics import RateMeter
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server import publish_notices, unpublish_notices
from rtmp_actors.transport.io_loop import TimerHandle

__all__ = ["LiveStream", "PlayRequest", "PublishRequest", "StreamPolicy", "StreamStats"]

logger = logging.getLogger(__name__)

Scheduler = Callable[[float, Callable[[], None]], TimerHandle]


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How live streams behave.

    Attributes:
        gop_cache: Keep the current GOP for late joiners.
        takeover: A second publisher replaces the first instead of being refused.
        idle_publisher_timeout: Seconds without media before a publisher is dropped (0: never).
        max_gop_bytes: Most bytes kept in the GOP cache of one stream.
        batch_window: Seconds a message may wait for the ones after it, so that each player
            gets them in one write (0: every message is written at once).
        max_batch_window: The longest the window stretches to while writing a batch to every
            player costs much (it stretches to twice the CPU time the last batch took).
        max_batch_bytes: A batch holding this many payload bytes is written at once.
    """

    gop_cache: bool = True
    takeover: bool = False
    idle_publisher_timeout: float = 10.0
    max_gop_bytes: int = 32 * 1024 * 1024
    batch_window: float = 0.010
    max_batch_window: float = 0.050
    max_batch_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """A connection asks to publish (built by the connection's relay receiver)."""

    connection_id: str
    session: MethodProxy
    receiver: MethodProxy
    request_id: int
    app: str
    key: str
    stream_id: int


@dataclass(frozen=True, slots=True)
class PlayRequest:
    """A connection asks to play."""

    connection_id: str
    session: MethodProxy
    receiver: MethodProxy
    request_id: int
    app: str
    key: str
    stream_id: int


@dataclass(slots=True)
class _Player:
    request: PlayRequest
    needs_keyframe: bool = False
    # The direct path to the player's connection, once its protocol handler opened it;
    # until then messages wait in ``pending``, in order (None once the sink is open).
    sink: MediaSink | None = None
    pending: list[PreparedMessage] | None = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return self.request.connection_id, self.request.stream_id


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


def _payload(message: PreparedMessage) -> bytes:
    content = message.content
    assert isinstance(content, VideoData | AudioData)
    return content.data


def _metadata_message(metadata: Mapping[str, Any]) -> PreparedMessage:
    return PreparedMessage(DataMessage(("onMetaData", EcmaArray(metadata))), 0)


class LiveStream(MonitoredActor):
    """The actor for one (app, stream key).

    Args:
        app: The application name.
        key: The stream key.
        registry: Told when the stream becomes idle (``stream_idle(app, key, handled)``).
        policy: Stream behaviour.
        scheduler: ``scheduler(delay, callback)`` for the idle-publisher check.
        clock: Seconds, monotonic.
        cpu_clock: CPU seconds of the calling thread, to measure what writing a batch costs.
        observers: Actors that see every publication of the stream (see
            :class:`~rtmp_actors.relay.observer.StreamObserver`): recorders, push relays.
    """

    def __init__(
        self,
        app: str,
        key: str,
        registry: MethodProxy,
        policy: StreamPolicy,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.monotonic,
        observers: Sequence[MethodProxy] = (),
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        super().__init__()
        self._observers = tuple(observers)
        self.app = app
        self.key = key
        self._registry = registry
        self._policy = policy
        self._schedule = scheduler
        self._clock = clock
        self._cache = GopCache(max_bytes=policy.max_gop_bytes)
        self._publisher: PublishRequest | None = None
        self._players: dict[tuple[str, int], _Player] = {}
        # Players in step with the stream get every message through the batch; the others
        # (no direct path yet, or waiting for a keyframe) are served message by message.
        self._in_step: dict[tuple[str, int], MediaSink] = {}
        self._joining: dict[tuple[str, int], _Player] = {}
        self._batch: list[PreparedMessage] = []
        self._batch_bytes = 0
        self._batch_starts: dict[tuple[str, int], int] = {}  # players that joined mid-batch
        self._flush_timer: TimerHandle | None = None
        self._cpu_clock = cpu_clock
        self._flush_cost = 0.0  # CPU seconds the last batch took to write to everybody
        self._handled = 0  # requests handled, so the registry can tell a stale idle report
        self._last_media = 0.0
        self._publishing_since: float | None = None
        self._bytes_in = 0
        self._messages_in = 0
        self._rate = RateMeter(clock())
        self._idle_timer: TimerHandle | None = None

    # --- Requests (from the registry) ---------------------------------------------------------

    def publish_requested(self, request: PublishRequest) -> None:
        """Accept, refuse, or (by policy) let a new publisher take over."""
        self._handled += 1
        current = self._publisher
        if current is not None and not self._policy.takeover:
            logger.info(
                "%s/%s: refusing publisher %s, %s is publishing",
                self.app,
                self.key,
                request.connection_id,
                current.connection_id,
                extra={"connection_id": request.connection_id},
            )
            with contextlib.suppress(pykka.ActorDeadError):
                request.session.reject_request.defer(
                    request.request_id,
                    f"{self.app}/{self.key} is already being published",
                    NetStreamCode.PUBLISH_BAD_NAME,
                )
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
                current.session.close.defer("another publisher took over the stream")
        self._start_publishing(request)

    def _start_publishing(self, request: PublishRequest) -> None:
        self._publisher = request
        self._cache.clear()
        self._publishing_since = self._clock()
        self._last_media = self._publishing_since
        self._rate = RateMeter(self._publishing_since)
        with contextlib.suppress(pykka.ActorDeadError):
            # Bind before accepting: the receiver's media events only start after the accept.
            request.receiver.bind_publisher.defer(self.actor_ref, request.stream_id)
            request.session.accept_request.defer(request.request_id)
        self._flush_batch()
        for player in list(self._players.values()):
            self._send_notices(player, publish_notices(player.request.stream_id, request.key))
            self._fall_out_of_step(player)
        self._arm_idle_check()
        self._tell_observers("stream_published")
        logger.info(
            "%s/%s: %s publishing",
            self.app,
            self.key,
            request.connection_id,
            extra={"connection_id": request.connection_id},
        )

    def play_requested(self, request: PlayRequest) -> None:
        """Accept a player; it gets the cached start of the stream, then the live messages."""
        self._handled += 1
        player = _Player(request)
        self._players[player.key] = player
        self._joining[player.key] = player
        with contextlib.suppress(pykka.ActorDeadError):
            request.receiver.bind_player.defer(self.actor_ref, request.stream_id)
            request.session.accept_request.defer(request.request_id)
            request.session.open_media_sink.defer(request.stream_id, MethodProxy(self.actor_ref))
        if self._publisher is not None:
            self._send_join(player)
        elif len(self._players) == 1:
            self._tell_observers("stream_wanted")  # a pull relay may fetch it from upstream

    def _send_join(self, player: _Player) -> None:
        request = player.request
        if self._cache.metadata is not None:
            self._send(player, _metadata_message(self._cache.metadata))
        if self._policy.gop_cache:
            for message in self._cache.join():
                prepared = _media_message(message.media_type, message.timestamp, message.data)
                self._send(player, prepared)
            player.needs_keyframe = self._cache.waits_for_keyframe
        else:
            player.needs_keyframe = True
        logger.debug(
            "%s/%s: %s joined",
            self.app,
            self.key,
            request.connection_id,
            extra={"connection_id": request.connection_id},
        )

    # --- Publisher traffic (from the publisher's receiver) ------------------------------------

    def publisher_metadata(self, connection_id: str, metadata: Mapping[str, Any]) -> None:
        """The publisher sent (or cleared, with an empty mapping) ``onMetaData``."""
        if not self._is_publisher(connection_id):
            return
        self._cache.set_metadata(metadata or None)
        self._tell_observers("stream_metadata", metadata)
        self._add_to_batch(_metadata_message(metadata), 0)
        self._batch_added()

    def publisher_media(
        self, connection_id: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """The publisher sent one audio or video message: cache it and fan it out."""
        if not self._is_publisher(connection_id):
            return
        self._last_media = self._clock()
        self._bytes_in += len(data)
        self._rate.add(self._last_media, len(data))
        self._messages_in += 1
        # Encoded and classified once, for the cache and every player alike.
        prepared = _media_message(media_type, timestamp, data)
        keyframe = prepared.frame_flags.keyframe
        if self._policy.gop_cache or self._players:
            self._cache.add(media_type, timestamp, data, keyframe=keyframe)
        for observer in self._observers:
            with contextlib.suppress(pykka.ActorDeadError):
                observer.stream_media.defer(self.app, self.key, media_type, timestamp, data)
        self._add_to_batch(prepared, len(data))
        self._batch_added()

    def _add_to_batch(self, prepared: PreparedMessage, size: int) -> None:
        """Queue a message for the players in step; serve the joining ones right away."""
        self._batch.append(prepared)
        self._batch_bytes += size
        if not self._joining:
            return
        index = len(self._batch) - 1
        skip_for_waiting: bool | None = None  # worked out only if a player waits for a keyframe
        for player in list(self._joining.values()):
            if player.needs_keyframe and prepared.is_video:
                if skip_for_waiting is None:
                    # Configuration always goes through: it is not a frame.
                    skip_for_waiting = not prepared.frame_flags.keyframe and (
                        configuration_key(MediaType.VIDEO, _payload(prepared)) is None
                    )
                if skip_for_waiting:
                    continue
                if prepared.frame_flags.keyframe:
                    player.needs_keyframe = False
            if player.sink is not None and not player.needs_keyframe:
                self._step_in(player, index)  # this message goes out with its batch
            else:
                self._send(player, prepared)

    def _batch_added(self) -> None:
        policy = self._policy
        if self._batch_bytes >= policy.max_batch_bytes or not policy.batch_window:
            self._flush_batch()
        elif self._flush_timer is None:
            window = min(max(policy.batch_window, 2 * self._flush_cost), policy.max_batch_window)
            self._flush_timer = self._schedule(window, self._flush_callback())

    def flush_batch(self) -> None:
        """Write the open batch to the players in step (its timer calls this)."""
        self._flush_timer = None
        self._flush_batch()

    def _flush_batch(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._batch:
            return
        batch = PreparedBatch(self._batch)
        starts = self._batch_starts
        self._batch, self._batch_bytes, self._batch_starts = [], 0, {}
        closed: list[tuple[str, int]] = []
        began = self._cpu_clock()
        # The hot loop: one write of bytes shared by everybody per player, nothing else.
        for key, sink in self._in_step.items():
            if not sink.send_batch(batch, starts.get(key, 0) if starts else 0):
                closed.append(key)
        self._flush_cost = self._cpu_clock() - began
        for key in closed:  # closing connections; their receivers say they left
            self._forget(key)

    def publisher_left(self, connection_id: str) -> None:
        """The publisher stopped or disconnected: players are told and keep waiting."""
        if not self._is_publisher(connection_id):
            return
        logger.info(
            "%s/%s: %s stopped publishing",
            self.app,
            self.key,
            connection_id,
            extra={"connection_id": connection_id},
        )
        self._end_publishing(notify=True)
        self._maybe_idle()

    def _end_publishing(self, *, notify: bool) -> None:
        self._tell_observers("stream_unpublished")
        self._publisher = None
        self._publishing_since = None
        self._cache.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._flush_batch()
        if notify:
            for player in list(self._players.values()):
                self._send_notices(player, unpublish_notices(player.request.stream_id, self.key))

    def _tell_observers(self, method: str, *args: Any) -> None:
        for observer in self._observers:
            with contextlib.suppress(pykka.ActorDeadError):
                getattr(observer, method).defer(self.app, self.key, *args)

    def _is_publisher(self, connection_id: str) -> bool:
        return self._publisher is not None and self._publisher.connection_id == connection_id

    # --- Players ------------------------------------------------------------------------------

    def player_left(self, connection_id: str, stream_id: int) -> None:
        """A player stopped or disconnected."""
        if self._forget((connection_id, stream_id)):
            if not self._players:
                self._tell_observers("stream_unwanted")
            self._maybe_idle()

    def _forget(self, key: tuple[str, int]) -> bool:
        self._in_step.pop(key, None)
        self._joining.pop(key, None)
        self._batch_starts.pop(key, None)
        return self._players.pop(key, None) is not None

    def _step_in(self, player: _Player, batch_index: int) -> None:
        """From ``batch_index`` of the open batch on, the player gets every message."""
        assert player.sink is not None
        key = player.key
        del self._joining[key]
        self._in_step[key] = player.sink
        if batch_index:
            self._batch_starts[key] = batch_index

    def _fall_out_of_step(self, player: _Player) -> None:
        """The player waits for a keyframe again (the batch was flushed before)."""
        player.needs_keyframe = True
        key = player.key
        if self._in_step.pop(key, None) is not None:
            self._joining[key] = player

    def media_sink_opened(self, connection_id: str, stream_id: int, sink: MediaSink | None) -> None:
        """A player's connection opened its direct path (or refused it with None)."""
        player = self._players.get((connection_id, stream_id))
        if player is None:
            return  # it left meanwhile
        if sink is None:
            # Refused: the accept was handled first, so its session is not playing and never
            # will be for this request (the connection is going away). Its receiver will say
            # it left; nothing more is sent to it meanwhile.
            self._forget(player.key)
            return
        pending, player.pending = player.pending or [], None
        player.sink = sink
        for message in pending:
            if not sink.send(message):
                self._forget(player.key)
                return
        if not player.needs_keyframe:
            self._step_in(player, len(self._batch))  # it had everything up to now

    def _send(self, player: _Player, message: PreparedMessage) -> None:
        """Send one message to a player now, through its sink when it has one.

        A player in step must not have an open batch (flush it first), or this would
        overtake it.
        """
        sink = player.sink
        if sink is not None:
            if not sink.send(message):  # the connection is closing; its receiver says it left
                self._forget(player.key)
            return
        pending = player.pending
        assert pending is not None  # a player has a sink or is waiting for one
        if len(pending) < _MAX_PENDING:
            pending.append(message)
        else:  # the sink is slow to open: start it at a keyframe instead
            pending.clear()
            player.needs_keyframe = True

    def _send_notices(self, player: _Player, notices: tuple[MessageContent, OnStatus]) -> None:
        user_control, status = notices
        self._send(player, PreparedMessage(user_control, 0))
        self._send(player, PreparedMessage(status.to_message(), 0))

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
        if publisher is None:
            return
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
        with contextlib.suppress(pykka.ActorDeadError):
            publisher.session.close.defer(f"no media for {silent:.0f} s")
        self._end_publishing(notify=True)
        self._maybe_idle()

    def _idle_callback(self) -> Callable[[], None]:
        return self._timer_callback("check_idle_publisher")

    def _flush_callback(self) -> Callable[[], None]:
        return self._timer_callback("flush_batch")

    def _timer_callback(self, method: str) -> Callable[[], None]:
        """A callback for the scheduler (another thread) that tells this actor ``method()``."""
        call = getattr(MethodProxy(self.actor_ref), method)

        def tell() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                call.defer()

        return tell

    def _maybe_idle(self) -> None:
        if self._publisher is None and not self._players:
            with contextlib.suppress(pykka.ActorDeadError):
                self._registry.stream_idle.defer(self.app, self.key, self._handled)

    # --- Monitoring -------------------------------------------------------------------------------

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
        """Cancel the timers."""
        for timer in (self._idle_timer, self._flush_timer):
            if timer is not None:
                timer.cancel()
