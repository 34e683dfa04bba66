"""Running our server and clients against each other in tests."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor, QueueEventReceiver
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType

TIMEOUT = 10.0
E = TypeVar("E")


class EventLog:
    """A queue of events that tests wait on, keeping what they skipped."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.seen: list[Any] = []

    def wait(self, kind: type[E], predicate: Callable[[E], bool] | None = None) -> E:
        """The next event of ``kind`` (matching ``predicate``); fail after the timeout."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.queue.get(timeout=max(0.0, remaining))
            except queue.Empty:
                kinds = [type(e).__name__ for e in self.seen[-20:]]
                msg = f"no {kind.__name__} within {TIMEOUT} s; last events: {kinds}"
                raise AssertionError(msg) from None
            self.seen.append(event)
            if isinstance(event, kind) and (predicate is None or predicate(event)):
                return event

    def receiver_factory(self) -> Callable[[ConnectionInfo], Any]:
        """A factory giving each client connection a receiver that feeds this log."""
        return lambda _info: QueueEventReceiver.start(self.queue)


@dataclass
class Relay:
    """A minimal in-test relay: publishers' media goes to every player of the same key."""

    players: dict[str, list[tuple[ActorHandle[ServerSessionActor], int]]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_player(
        self, key: str, session: ActorHandle[ServerSessionActor], stream_id: int
    ) -> None:
        with self.lock:
            self.players.setdefault(key, []).append((session, stream_id))

    def forward(
        self, key: str, send: Callable[[ActorHandle[ServerSessionActor], int], None]
    ) -> None:
        with self.lock:
            targets = list(self.players.get(key, ()))
        for session, stream_id in targets:
            send(session, stream_id)


class ServerProbe(EventReceiverActor):
    """A server-side receiver: logs events, decides requests, relays media."""

    def __init__(
        self,
        info: ConnectionInfo,
        log: EventLog,
        relay: Relay,
        decide: Callable[[Any], str | None],
    ) -> None:
        super().__init__()
        self.info = info
        self.log = log
        self.relay = relay
        self.decide = decide

    def send_event(self, event: Any) -> None:
        self.log.queue.put(event)
        with contextlib.suppress(pykka.ActorDeadError):  # the session may have ended already
            self._react(event)

    def _react(self, event: Any) -> None:
        session: ActorHandle[ServerSessionActor] = self.info.session
        request_id = getattr(event, "request_id", None)
        if request_id is not None:
            refusal = self.decide(event)
            if refusal is None:
                session.tell(ServerSessionActor.accept_request, request_id)
            else:
                session.tell(ServerSessionActor.reject_request, request_id, refusal)
        if isinstance(event, server.PlayStreamRequested) and self.decide(event) is None:
            self.relay.add_player(event.stream_key, session, event.stream_id)
        elif isinstance(event, server.AudioVideoDataReceived):
            self.relay.forward(
                event.stream_key,
                lambda s, sid: s.tell(
                    ServerSessionActor.send_av_data,
                    sid,
                    event.data_type,
                    event.timestamp,
                    event.data,
                ),
            )
        elif isinstance(event, server.StreamMetaDataChanged):
            self.relay.forward(
                event.stream_key,
                lambda s, sid: s.tell(ServerSessionActor.send_metadata, sid, event.meta_data),
            )


def start_server(
    log: EventLog, decide: Callable[[Any], str | None] = lambda _e: None, **options: Any
) -> RtmpServer:
    """A server on a free loopback port whose receivers feed ``log``."""
    relay = Relay()
    return RtmpServer(
        "127.0.0.1",
        0,
        event_receiver_factory=lambda info: ServerProbe.start(info, log, relay, decide),
        **options,
    ).start()


def connect(server_: RtmpServer, log: EventLog, key: str = "key", **options: Any) -> RtmpClient:
    """A client connected to ``server_`` (the connection answer is awaited)."""
    host, port = server_.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/live/{key}", event_receiver_factory=log.receiver_factory(), **options
    )
    answer = log.wait(client.ConnectionResponseReceived)
    assert answer.was_accepted, answer
    return rtmp_client


__all__ = ["TIMEOUT", "EventLog", "MediaType", "Relay", "ServerProbe", "connect", "start_server"]
