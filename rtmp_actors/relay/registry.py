"""The stream registry: where publishers and players of the same (app, key) meet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.relay.stream import LiveStream, PlayRequest, PublishRequest, StreamPolicy
from rtmp_actors.transport.io_loop import Scheduler

__all__ = ["StreamRegistry"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    ref: pykka.ActorRef[LiveStream]
    proxy: MethodProxy
    routed: int = 0  # requests sent to the stream; compared with its idle reports


class StreamRegistry(MonitoredActor):
    """Creates a :class:`LiveStream` per (app, key) on first use and retires idle ones.

    A stream reports itself idle with the number of requests it has handled; the registry
    retires it only if it has routed no newer request to it, so a request can never be sent
    to a stream that is being stopped.
    """

    def __init__(
        self, policy: StreamPolicy, scheduler: Scheduler, observers: Sequence[MethodProxy] = ()
    ) -> None:
        super().__init__()
        self._observers = tuple(observers)
        self._policy = policy
        self._schedule = scheduler
        self._streams: dict[tuple[str, str], _Entry] = {}

    def _entry(self, app: str, key: str) -> _Entry:
        entry = self._streams.get((app, key))
        if entry is None or not entry.ref.is_alive():
            ref = LiveStream.start(
                app,
                key,
                MethodProxy(self.actor_ref),
                self._policy,
                self._schedule,
                observers=self._observers,
            )
            entry = self._streams[(app, key)] = _Entry(ref, MethodProxy(ref))
        return entry

    def publish_requested(self, request: PublishRequest) -> None:
        """Route a publish request to its stream."""
        entry = self._entry(request.app, request.key)
        entry.routed += 1
        entry.proxy.publish_requested.defer(request)

    def play_requested(self, request: PlayRequest) -> None:
        """Route a play request to its stream."""
        entry = self._entry(request.app, request.key)
        entry.routed += 1
        entry.proxy.play_requested.defer(request)

    def stream_idle(self, app: str, key: str, handled: int) -> None:
        """A stream has no publisher and no players: retire it unless a request is on its way."""
        entry = self._streams.get((app, key))
        if entry is None or entry.routed != handled:
            return
        del self._streams[(app, key)]
        entry.ref.stop(block=False)

    def streams(self) -> list[pykka.ActorRef[LiveStream]]:
        """The live streams (for monitoring)."""
        return [entry.ref for entry in self._streams.values()]

    def on_stop(self) -> None:
        """Stop every stream."""
        for entry in self._streams.values():
            with contextlib.suppress(pykka.ActorDeadError):
                entry.ref.stop(block=False)
        self._streams.clear()

    def on_failure(self, *_exc_info: Any) -> None:
        """Stop every stream (the relay server treats this as fatal)."""
        self.on_stop()
