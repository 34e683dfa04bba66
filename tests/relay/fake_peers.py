"""Fake actors around the relay's registry and receivers: each records the calls it gets.

A fake is a small :class:`MonitoredActor` whose methods put ``(method name, args)`` on its
:class:`Calls`; a test waits on them with a timeout, never with a sleep.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import pykka

from behaviours.stream_peers import (
    PlayerReceiver,
    PlayerSession,
    PublisherReceiver,
    PublisherSession,
)
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import ExitNotice, MonitoredActor, monitor
from rtmp_actors.relay.access import AccessAsker, AccessRequest
from rtmp_actors.relay.stream import PlayRequest, PublishRequest

TIMEOUT = 5.0


class Calls:
    """The calls one fake actor got, in order; :meth:`wait` takes the next of a kind."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
        self._skipped: list[tuple[str, tuple[Any, ...]]] = []

    def put(self, method: str, *args: Any) -> None:
        self._queue.put((method, args))

    def wait(self, method: str, timeout: float = TIMEOUT) -> tuple[Any, ...]:
        """The arguments of the next ``method`` call; other calls are kept for later waits."""
        for index, (name, args) in enumerate(self._skipped):
            if name == method:
                del self._skipped[index]
                return args
        while True:
            try:
                name, args = self._queue.get(timeout=timeout)
            except queue.Empty:
                seen = [name for name, _ in self._skipped]
                msg = f"no {method} call within {timeout} s; other calls: {seen}"
                raise AssertionError(msg) from None
            if name == method:
                return args
            self._skipped.append((name, args))

    def names(self) -> list[str]:
        """Every call so far not taken by :meth:`wait` (without waiting)."""
        while not self._queue.empty():
            self._skipped.append(self._queue.get_nowait())
        return [name for name, _ in self._skipped]


class FakeSession(MonitoredActor, PublisherSession, PlayerSession):
    """A connection's session, as a stream or a relay receiver sees it."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def accept_request(self, request_id: int) -> None:
        self.calls.put("accept_request", request_id)

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        self.calls.put("reject_request", request_id, reason, code)

    def close(self, reason: str | None = None) -> None:
        self.calls.put("close", reason)

    def route_media(self, stream_id: int, receiver: Any) -> None:
        self.calls.put("route_media", stream_id, receiver)

    def open_media_sink(
        self, stream_id: int, reply_to: Any, *, answers_seeks: bool = False
    ) -> None:
        self.calls.put("open_media_sink", stream_id, reply_to)


class FakeReceiver(MonitoredActor, PublisherReceiver, PlayerReceiver):
    """A connection's event receiver, told which stream it publishes to or plays."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        self.calls.put("bind_publisher", stream, stream_id)

    def bind_player(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        self.calls.put("bind_player", stream, stream_id)


class FakeRegistry(MonitoredActor):
    """Stands for the stream registry: records the requests routed to it."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def publish_requested(self, request: PublishRequest) -> None:
        self.calls.put("publish_requested", request)

    def play_requested(self, request: PlayRequest) -> None:
        self.calls.put("play_requested", request)


class FakeStream(MonitoredActor):
    """Stands for a live stream: records its peers leaving."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def publisher_left(self, connection_id: str) -> None:
        self.calls.put("publisher_left", connection_id)

    def player_left(self, connection_id: str, stream_id: int) -> None:
        self.calls.put("player_left", connection_id, stream_id)


Decide = Callable[[AccessRequest], tuple[bool, str]]


class FakeAccess(MonitoredActor):
    """Stands for the access controller: records each check and answers it by ``decide``."""

    def __init__(self, calls: Calls, decide: Decide) -> None:
        super().__init__()
        self.calls = calls
        self.decide = decide

    def check(self, request: AccessRequest, reply_to: ActorHandle[AccessAsker], token: Any) -> None:
        self.calls.put("check", request, reply_to, token)
        allowed, reason = self.decide(request)
        reply_to.tell(AccessAsker.access_decided, token, allowed, reason)


class ExplodingHandle:
    """A handle whose every call raises: whoever uses it fails (to make an actor crash)."""

    def tell(self, method: Callable[..., object], /, *_args: Any) -> None:
        msg = f"exploding handle called with {method.__name__}"
        raise RuntimeError(msg)


def exits_of(ref: pykka.ActorRef[Any]) -> queue.Queue[ExitNotice]:
    """A queue that gets the actor's exit notice.

    Monitors run in the order they were added, so once this one has run, any monitor added
    before it (a registry's, say) has run too.
    """
    exits: queue.Queue[ExitNotice] = queue.Queue()
    monitor(ref, exits.put)
    return exits
