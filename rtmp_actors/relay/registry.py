"""The stream registry: where publishers and players of the same (app, key) meet.

Theory of operation:

* The registry creates a :class:`LiveStream` per (app, key) on first use, routes every publish
  and play request to it, and retires it when it reports itself idle. A stream reports idle
  with the number of requests it has handled; the registry retires it only if it has routed
  no newer request to it, so a request is never sent to a stream that is being stopped.
* It supervises its streams with monitors, as temporary children: a stream that fails closes
  its own publisher and players (see :meth:`LiveStream.on_failure`), and the registry forgets
  it at once, logging which stream failed and why, so the encoder can publish again at once.
  A stream is never restarted: its peers are gone with it.
* The registry itself is a permanent child of the relay's supervisor. Its table of streams is
  a :class:`StreamTable` that outlives it (like an OTP heir): a restarted registry adopts the
  streams that are still running, monitors them again and goes on routing to them, so a
  registry crash leaves no stream orphaned and interrupts no player. Requests that were in
  the failed registry's mailbox are lost with it; their connections' own timeouts end them.
  Streams reach the registry through a handle that follows its restarts.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, MonitoredActor, monitor
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.stream import (
    LiveStream,
    PlayRequest,
    PublishRequest,
    StreamOwner,
    StreamPolicy,
)
from rtmp_actors.transport.io_loop import Scheduler

__all__ = ["StreamRegistry", "StreamTable"]

logger = logging.getLogger(__name__)

StreamName = tuple[str, str]

STOP_TIMEOUT = 10.0
"""Seconds the registry waits for its streams when it stops."""
_Route = Callable[[LiveStream, Any], None]


@dataclass(slots=True)
class _Entry:
    ref: pykka.ActorRef[LiveStream]
    handle: ActorHandle[LiveStream]
    routed: int = 0  # requests sent to the stream; compared with its idle reports


class StreamTable:
    """The registry's streams, kept across registry restarts.

    Only the running registry touches it (one at a time: a supervisor starts the next
    incarnation after the last one has exited); the lock makes a snapshot from outside
    (:meth:`refs`) safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[StreamName, _Entry] = {}

    def get(self, name: StreamName) -> _Entry | None:
        """The entry of ``name``, if any."""
        return self._entries.get(name)

    def put(self, name: StreamName, entry: _Entry) -> None:
        """Add or replace the entry of ``name``."""
        with self._lock:
            self._entries[name] = entry

    def pop(self, name: StreamName) -> _Entry | None:
        """Remove and return the entry of ``name``."""
        with self._lock:
            return self._entries.pop(name, None)

    def items(self) -> list[tuple[StreamName, _Entry]]:
        """A snapshot of every entry."""
        with self._lock:
            return list(self._entries.items())

    def refs(self) -> list[pykka.ActorRef[LiveStream]]:
        """A snapshot of every stream's ref."""
        with self._lock:
            return [entry.ref for entry in self._entries.values()]


class PublishRoute(abc.ABC):
    """Where a relay receiver sends publish requests: the registry, or a gate in front of it.

    A cluster node (:class:`~rtmp_actors.cluster.node.ClusterNode`) is such a gate: it claims
    the stream key in the cluster first, and refuses the publish if another node has it.
    """

    @abc.abstractmethod
    def publish_requested(self, request: PublishRequest) -> None:
        """Route (or refuse) a publish request."""


class StreamRegistry(MonitoredActor, StreamOwner, PublishRoute):
    """Creates a :class:`LiveStream` per (app, key) on first use and retires idle ones.

    Args:
        policy: How the streams behave.
        scheduler: ``scheduler(delay, callback)`` for the streams' timers.
        observers: Actors that see every stream (recorders, push and pull relays).
        patient_observers: Observers that take the media in batches (HLS; see
            :class:`~rtmp_actors.relay.stream.LiveStream`).
        table: Where the streams are kept; pass the same one to every incarnation so a
            restarted registry adopts the running streams.
        me: The handle the streams use to reach the registry (one that follows restarts);
            by default a handle to this incarnation.
    """

    def __init__(
        self,
        policy: StreamPolicy,
        scheduler: Scheduler,
        observers: Sequence[ActorHandle[StreamObserver]] = (),
        *,
        patient_observers: Sequence[ActorHandle[StreamObserver]] = (),
        table: StreamTable | None = None,
        me: ActorHandle[StreamOwner] | None = None,
    ) -> None:
        super().__init__()
        self._observers = tuple(observers)
        self._patient_observers = tuple(patient_observers)
        self._policy = policy
        self._schedule = scheduler
        self._streams = table if table is not None else StreamTable()
        self._me: ActorHandle[StreamOwner] = me if me is not None else ActorHandle(self.actor_ref)

    def on_start(self) -> None:
        """Adopt the streams a failed incarnation left running; forget the dead ones."""
        adopted = 0
        for name, entry in self._streams.items():
            if entry.ref.is_alive():
                self._watch(name, entry.ref)
                adopted += 1
            else:
                self._streams.pop(name)
        if adopted:
            logger.warning("stream registry restarted: adopted %d running streams", adopted)

    def _watch(self, name: StreamName, ref: pykka.ActorRef[LiveStream]) -> None:
        registry = self.actor_ref

        def exited(notice: ExitNotice) -> None:
            registry.tell(_StreamExited(name, ref.actor_urn, notice))

        monitor(ref, exited)

    def _entry(self, app: str, key: str) -> _Entry:
        name = (app, key)
        entry = self._streams.get(name)
        if entry is None or not entry.ref.is_alive():
            ref = LiveStream.start(
                app,
                key,
                self._me,
                self._policy,
                self._schedule,
                observers=self._observers,
                patient_observers=self._patient_observers,
            )
            entry = _Entry(ref, ActorHandle(ref))
            self._streams.put(name, entry)
            self._watch(name, ref)
        return entry

    def publish_requested(self, request: PublishRequest) -> None:
        """Route a publish request to its stream."""
        self._route(request, LiveStream.publish_requested)

    def play_requested(self, request: PlayRequest) -> None:
        """Route a play request to its stream."""
        self._route(request, LiveStream.play_requested)

    def _route(self, request: PublishRequest | PlayRequest, method: _Route) -> None:
        entry = self._entry(request.app, request.key)
        entry.routed += 1
        try:
            entry.handle.tell(method, request)
        except pykka.ActorDeadError:  # it failed just now: a fresh stream takes the request
            self._streams.pop((request.app, request.key))
            entry = self._entry(request.app, request.key)
            entry.routed += 1
            entry.handle.tell(method, request)

    def stream_idle(self, app: str, key: str, handled: int) -> None:
        """A stream has no publisher and no players: retire it unless a request is on its way."""
        entry = self._streams.get((app, key))
        if entry is None or entry.routed != handled:
            return
        self._streams.pop((app, key))
        entry.ref.stop(block=False)

    def on_receive(self, message: object) -> object:
        """Forget streams that exited on their own."""
        if isinstance(message, _StreamExited):
            self._stream_exited(message)
            return None
        return super().on_receive(message)

    def _stream_exited(self, message: _StreamExited) -> None:
        entry = self._streams.get(message.name)
        if entry is None or entry.ref.actor_urn != message.urn:
            return  # retired by us, or already replaced
        self._streams.pop(message.name)
        notice = message.notice
        if notice.reason is ExitReason.NORMAL:
            return
        app, key = message.name
        logger.error(
            "stream %s/%s failed: %r; its publisher and players were closed",
            app,
            key,
            notice.exception,
        )

    def describe_streams(self, observer: ActorHandle[StreamObserver]) -> None:
        """Have every stream describe itself to ``observer``, an observer that just started.

        The observer first gets the list (``streams_running``); each stream then answers in
        its own order (see :meth:`LiveStream.describe_to`), so the observer sees every later
        change of it.
        """
        entries = self._streams.items()
        with contextlib.suppress(pykka.ActorDeadError):
            observer.tell(StreamObserver.streams_running, frozenset(name for name, _ in entries))
        for _name, entry in entries:
            with contextlib.suppress(pykka.ActorDeadError):
                entry.handle.tell(LiveStream.describe_to, observer)

    def describe_stream(self, app: str, key: str, observer: ActorHandle[StreamObserver]) -> None:
        """Have the stream ``app/key``, if it runs, describe itself to ``observer``."""
        entry = self._streams.get((app, key))
        if entry is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                entry.handle.tell(LiveStream.describe_to, observer)

    def close_publisher(self, app: str, key: str, reason: str) -> None:
        """Close the connection publishing ``app/key`` here, if any (its players keep waiting).

        For a publisher that lost its cluster claim to one on another node.
        """
        entry = self._streams.get((app, key))
        if entry is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                entry.handle.tell(LiveStream.close_publisher, reason)

    def streams(self) -> list[pykka.ActorRef[LiveStream]]:
        """The live streams (for monitoring)."""
        return self._streams.refs()

    def on_stop(self) -> None:
        """Stop every stream and wait for them (their last words go to the observers)."""
        futures = []
        for name, entry in self._streams.items():
            self._streams.pop(name)
            with contextlib.suppress(pykka.ActorDeadError):
                futures.append(entry.ref.stop(block=False))
        deadline = time.monotonic() + STOP_TIMEOUT
        for future in futures:
            with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
                future.get(timeout=max(0.0, deadline - time.monotonic()))

    def on_failure(self, *_exc_info: object) -> None:
        """Leave the streams running: the next incarnation adopts them (see the module)."""


@dataclass(frozen=True, slots=True)
class _StreamExited:
    name: StreamName
    urn: str
    notice: ExitNotice
