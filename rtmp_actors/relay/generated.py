"""Server-generated streams: a :class:`StreamSource` published into a live stream.

Theory of operation:

* A :class:`GeneratedStream` actor publishes one (app, key) through the registry exactly as
  a pull link does: it is the publisher's session and receiver in its
  :class:`PublishRequest`, so the live stream's GOP cache, fan-out and every player's
  :class:`PlaybackRules` (pause, congestion drops) apply unchanged. Its request is marked
  ``generated``: an RTMP publisher to the key is refused as for any taken key (takeover
  policy or not), and the stream never drops it as idle. If the key is already published,
  the stream refuses the source and :meth:`RelayServer.add_source` raises.
* A :class:`_Pump` thread of its own calls the source at its frame rate (see
  :class:`~rtmp_actors.relay.pacing.Pacer`: no drift, late ticks skipped) and tells the
  live stream each tick's frames; it never waits for the stream or any player. Players that
  read slowly are the stream's business (their congestion drops); if the stream itself falls
  behind (its mailbox holds over ``max_backlog`` ticks) the pump drops frames until the
  next keyframe, so memory stays bounded whatever the source produces.
* Always on by default: the source runs from ``add_source`` to ``remove_source``. On demand,
  it is started when the stream gets its first player and stopped when the last one leaves
  (the stream tells it, see :class:`DemandListener`); the stream's cache is cleared then,
  so the next player starts at the source's fresh sequence headers and keyframe.
* Removal ends the publication (players get StreamEOF and ``NetStream.Play.UnpublishNotify``
  and keep waiting, as when an RTMP publisher leaves). A source that raises is logged with
  the reason and its stream ends the same way; nothing else is affected.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from behaviours.media_receiver import MediaReceiver
from behaviours.stream_peers import DemandListener, PublisherReceiver, PublisherSession
from behaviours.stream_source import SourceFrame, StreamSource
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.errors import RtmpError
from rtmp_actors.relay.pacing import Pacer
from rtmp_actors.relay.registry import PublishRoute
from rtmp_actors.relay.stream import LiveStream, PublishRequest
from rtmp_actors.session.events import MediaType

__all__ = ["FrameGate", "GeneratedStream", "SourceError", "SourceStats"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 50
"""Ticks the live stream may have waiting before the pump drops frames (2 s at 25 fps)."""
_JOIN_TIMEOUT = 5.0
_REQUEST_ID = 1


class SourceError(RtmpError):
    """A stream source could not be added (the key is taken, or the relay did not answer)."""


@dataclass(frozen=True, slots=True)
class SourceStats:
    """What a generated stream's pump has done so far (over the actor's life).

    Attributes:
        running: The source is started and being ticked.
        ticks: Ticks the source was called for.
        skipped_ticks: Ticks skipped because the source (or the machine) fell behind.
        frames_sent: Frames handed to the live stream.
        frames_dropped: Frames dropped because the live stream fell behind.
    """

    running: bool
    ticks: int
    skipped_ticks: int
    frames_sent: int
    frames_dropped: int


class _Counters:
    """Counts kept by the pump thread, read by the actor (single ints: no lock needed)."""

    def __init__(self) -> None:
        self.ticks = 0
        self.skipped = 0
        self.sent = 0
        self.dropped = 0


class FrameGate:
    """Which frames go on while the live stream is behind: sans-I/O, for the pump.

    From the moment the stream is behind, frames are dropped; once it has caught up they go
    on again from the next keyframe (from any frame for an audio-only source), so what the
    players get stays decodable. Sequence headers always go on: they are tiny and every later
    frame needs them.
    """

    def __init__(self) -> None:
        self.dropping = False
        self._seen_video = False

    def keep(self, frame: SourceFrame, behind: bool) -> bool:
        """Whether ``frame`` goes to the stream, ``behind`` saying if the stream is behind."""
        if frame.is_sequence_header:
            return True
        self._seen_video = self._seen_video or frame.media_type is MediaType.VIDEO
        if behind:
            self.dropping = True
            return False
        if self.dropping and (frame.is_keyframe or not self._seen_video):
            self.dropping = False
        return not self.dropping


class _Pump:
    """The thread that ticks a source and tells the live stream its frames.

    The source is started, ticked and stopped on this thread only.
    """

    def __init__(
        self,
        name: str,
        source: StreamSource,
        stream: ActorHandle[LiveStream],
        connection_id: str,
        counters: _Counters,
        on_failure: Callable[[str | None], None],
        clock: Callable[[], float],
        max_backlog: int,
    ) -> None:
        self._source = source
        self._stream = stream
        self._connection_id = connection_id
        self._counters = counters
        self._on_failure = on_failure
        self._clock = clock
        self._max_backlog = max_backlog
        self._stopping = threading.Event()
        self._gate = FrameGate()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait (bounded) for the source's stop."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT)
            if self._thread.is_alive():
                logger.warning(
                    "%s: the source did not stop within %g s", self._thread.name, _JOIN_TIMEOUT
                )

    def _run(self) -> None:
        name = self._thread.name
        try:
            self._source.start()
            try:
                self._tick_forever()
            finally:
                self._source.stop()
        except pykka.ActorDeadError:
            # The live stream stopped (the relay is stopping): not the source's fault.
            logger.info("%s: the live stream is gone; stopping", name)
            self._on_failure(None)
        except Exception as error:  # a user's source: anything may come out of it
            logger.exception("%s: the source failed: %r", name, error)
            self._on_failure(f"{type(error).__name__}: {error}")

    def _tick_forever(self) -> None:
        metadata = self._source.metadata()
        if metadata is not None:
            self._stream.tell(LiveStream.publisher_metadata, self._connection_id, dict(metadata))
        pacer = Pacer(self._source.frame_rate, self._clock())
        counters = self._counters
        while not self._stopping.is_set():
            now = self._clock()
            tick = pacer.poll(now)
            if tick is None:
                # Pacing, not synchronisation: the stop event ends the wait at once.
                self._stopping.wait(pacer.wait_time(now))
                continue
            counters.ticks += 1
            counters.skipped += tick.skipped
            frames = self._source.next_frames(now)
            if self._stopping.is_set():
                return
            self._send(frames)

    def _send(self, frames: Sequence[object]) -> None:
        """Tell the stream this tick's frames (user code made them: checked here)."""
        media: list[tuple[MediaType, int, bytes]] = []
        behind = self._stream_backlog() > self._max_backlog
        if behind and not self._gate.dropping:
            logger.warning(
                "%s: the live stream is over %d ticks behind; dropping frames",
                self._thread.name,
                self._max_backlog,
            )
        for item in frames:
            if not isinstance(item, SourceFrame):
                msg = f"next_frames must return SourceFrame objects, not {type(item).__name__}"
                raise TypeError(msg)
            frame = item
            if not self._gate.keep(frame, behind):
                self._counters.dropped += 1
                continue
            media.append((frame.media_type, frame.timestamp, frame.data))
        if media:
            self._counters.sent += len(media)
            self._stream.tell(LiveStream.publisher_media_batch, self._connection_id, media)

    def _stream_backlog(self) -> int:
        inbox = self._stream.actor_ref.actor_inbox
        qsize: Callable[[], int] | None = getattr(inbox, "qsize", None)
        return qsize() if qsize is not None else 0


class GeneratedStream(MonitoredActor, PublisherSession, PublisherReceiver, DemandListener):
    """Publishes what a :class:`StreamSource` produces into the live stream ``app/key``.

    Args:
        app: The application name.
        key: The stream key.
        source: What produces the frames.
        route: Where the publish request goes (the registry, or a cluster node).
        on_demand: Run the source only while the stream has players.
        ready: Resolved once the stream accepts the source (or with :class:`SourceError`
            if it refuses it).
        clock: Seconds, monotonic (the pump's and the source's ``now``).
        max_backlog: Ticks the live stream may have waiting before frames are dropped.
    """

    def __init__(
        self,
        app: str,
        key: str,
        source: StreamSource,
        route: ActorHandle[PublishRoute],
        *,
        on_demand: bool = False,
        ready: concurrent.futures.Future[None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
    ) -> None:
        super().__init__()
        self.app = app
        self.key = key
        self.connection_id = f"source:{app}/{key}"
        self._source = source
        self._route = route
        self._on_demand = on_demand
        self._ready = ready if ready is not None else concurrent.futures.Future()
        self._clock = clock
        self._max_backlog = max_backlog
        self._me: ActorHandle[GeneratedStream] = ActorHandle(self.actor_ref)
        self._stream: ActorHandle[LiveStream] | None = None
        self._accepted = False
        self._pump: _Pump | None = None
        self._counters = _Counters()

    def on_start(self) -> None:
        """Ask to publish the key."""
        me = self._me
        self._route.tell(
            PublishRoute.publish_requested,
            PublishRequest(
                self.connection_id,
                me,
                me,
                _REQUEST_ID,
                self.app,
                self.key,
                _REQUEST_ID,
                generated=True,
                demand=me if self._on_demand else None,
            ),
        )

    # --- Answers from the live stream -----------------------------------------------------------

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The live stream is about to accept the source."""
        with contextlib.suppress(pykka.ActorDeadError):
            self._stream = ActorHandle(stream)

    def route_media(self, stream_id: int, receiver: ActorHandle[MediaReceiver]) -> None:
        """The stream would take media from a session; the pump tells it directly."""

    def accept_request(self, request_id: int) -> None:
        """Publishing: start the source now (always on) or on the first player (on demand)."""
        if self._stream is None:
            return
        self._accepted = True
        if not self._ready.done():
            self._ready.set_result(None)
        logger.info(
            "%s/%s: generated stream publishing (%s)",
            self.app,
            self.key,
            "on demand" if self._on_demand else "always on",
        )
        if not self._on_demand:
            self._start_pump()

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """The key is taken: the source is not added."""
        if not self._ready.done():
            self._ready.set_exception(
                SourceError(f"cannot add a source to {self.app}/{self.key}: {reason}")
            )
        self.actor_ref.stop(block=False)

    def close(self, reason: str | None = None) -> None:
        """The live stream dropped the source (it failed, or a cluster claim was lost)."""
        logger.warning(
            "%s/%s: generated stream closed by the relay: %s",
            self.app,
            self.key,
            reason or "no reason given",
        )
        self._accepted = False  # the stream ended the publication itself
        self.actor_ref.stop(block=False)

    def demand_changed(self, wanted: bool) -> None:
        """On demand: run the source while the stream has players."""
        if not (self._on_demand and self._accepted):
            return
        if wanted:
            self._start_pump()
        elif self._pump is not None:
            self._stop_pump()
            if self._stream is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    self._stream.tell(LiveStream.publisher_paused, self.connection_id)

    # --- The pump ---------------------------------------------------------------------------

    def _start_pump(self) -> None:
        if self._pump is not None or self._stream is None:
            return
        me = self._me

        def failed(reason: str | None) -> None:  # on the pump's thread
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(GeneratedStream.source_failed, reason)

        self._pump = _Pump(
            f"source {self.app}/{self.key}",
            self._source,
            self._stream,
            self.connection_id,
            self._counters,
            failed,
            self._clock,
            self._max_backlog,
        )
        self._pump.start()

    def _stop_pump(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.stop()

    def source_failed(self, reason: str | None) -> None:
        """The source raised (``reason``) or the live stream is gone (None): stop.

        The server goes on; the live stream's players are told the stream ended.
        """
        if reason is not None:
            logger.error(
                "%s/%s: generated stream ends, its source failed: %s", self.app, self.key, reason
            )
        self.actor_ref.stop(block=False)

    def stats(self) -> SourceStats:
        """What the pump has done so far (ask from outside the actor system, with a timeout)."""
        counters = self._counters
        return SourceStats(
            self._pump is not None,
            counters.ticks,
            counters.skipped,
            counters.sent,
            counters.dropped,
        )

    def on_stop(self) -> None:
        """Stop the source, then end the publication (players are told it ended)."""
        self._stop_pump()
        if not self._ready.done():
            self._ready.set_exception(
                SourceError(f"{self.app}/{self.key}: stopped before publishing")
            )
        if self._accepted and self._stream is not None:
            self._accepted = False
            with contextlib.suppress(pykka.ActorDeadError):
                self._stream.tell(LiveStream.publisher_left, self.connection_id)

    def on_failure(self, *_exc_info: object) -> None:
        """Same clean-up as a stop."""
        self.on_stop()
