"""Supervising one connection as a unit: transport, protocol handler, session, receiver.

A socket cannot be restarted, so the policy is one-for-all with no restarts:

* If the protocol handler fails, the session is told the connection is gone (it raises its
  finishing events and ``Disconnected`` with the reason) and the socket is dropped.
* If the session fails, the protocol handler is stopped, the socket dropped, and the event
  receiver gets ``Disconnected`` with the reason directly.
* If the event receiver fails (an exception in one of its handlers), nobody is left to
  decide on the connection's requests: the socket is dropped, the session raises its
  finishing events into the void and stops, and the protocol handler stops.
* On a normal end (the peer or we closed), the protocol handler tells the session, the
  session raises ``Disconnected`` and stops, and the protocol handler stops.

Once both actors have exited, a receiver created for this connection is told to stop (after
the events already sent to it) and ``on_closed`` is called, so nothing outlives the
connection. ``on_closed`` does not wait for the receiver: one stuck in a handler must not
keep the connection's place in the server.
Every failure is logged at ERROR with the connection id, the part and the exception. This is
a policy object run from monitor callbacks, not an actor: a supervisor thread per connection
would cost as much memory as the connection itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from behaviours.event_receiver import EventReceiver
from behaviours.protocol_handler import ProtocolHandler
from behaviours.session_handler import SessionHandler
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, MonitoredActor, monitor
from rtmp_actors.session.events import Disconnected

__all__ = ["ConnectionInfo", "ConnectionUnit", "TransportAdapter"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What an event receiver factory learns about a new connection.

    Attributes:
        connection_id: Unique within the process, for logs.
        peer_address: The peer's (host, port), when known.
        session: Calls the session actor's methods
            (``session.tell(ServerSessionActor.accept_request, request_id)``).
        session_ref: The session actor's ref.
    """

    connection_id: str
    peer_address: tuple[str, int] | None
    session: ActorHandle[Any]
    session_ref: pykka.ActorRef[Any]


class TransportAdapter:
    """Hands a transport's input to the protocol handler actor (runs on the I/O thread)."""

    def __init__(self, protocol_ref: pykka.ActorRef[Any], transport: Any) -> None:
        self._protocol: ActorHandle[ProtocolHandler] = ActorHandle(protocol_ref)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Tell the protocol handler; if it is gone, the connection is over."""
        try:
            self._protocol.tell(ProtocolHandler.notify_input, data)
        except pykka.ActorDeadError:
            self._transport.abort("protocol handler is gone")

    def connection_lost(self, reason: str | None) -> None:
        """Tell the protocol handler the socket closed."""
        # If it already exited, the unit tears down the rest.
        with contextlib.suppress(pykka.ActorDeadError):
            self._protocol.tell(ProtocolHandler.connection_lost, reason)


class ConnectionUnit:
    """Ties one connection's parts together and tears them down together.

    Args:
        connection_id: For logs.
        transport: The connection's transport (``abort`` is used on failures).
        protocol_ref: The protocol handler actor.
        session_ref: The session actor.
        receiver_ref: The event receiver.
        owns_receiver: Stop the receiver when the connection is over.
        on_closed: Called once, from an exiting actor's thread, when the protocol handler and
            the session have stopped (and the receiver has been told to).
    """

    def __init__(
        self,
        connection_id: str,
        transport: Any,
        protocol_ref: pykka.ActorRef[Any],
        session_ref: pykka.ActorRef[Any],
        receiver_ref: pykka.ActorRef[Any] | None,
        *,
        owns_receiver: bool = True,
        on_closed: Callable[[ConnectionUnit], None] | None = None,
    ) -> None:
        self.connection_id = connection_id
        self.transport = transport
        self.opened_at = time.time()  # for operators listing connections
        self.protocol_ref = protocol_ref
        self.session_ref = session_ref
        self.receiver_ref = receiver_ref
        self._owns_receiver = owns_receiver
        self._on_closed = on_closed
        self._lock = threading.Lock()
        self._exited: set[str] = set()
        self.closed = threading.Event()
        self.failure: str | None = None
        self.adapter: TransportAdapter | None = None

    def watch(self) -> None:
        """Start watching both actors (call once they are wired)."""
        monitor(self.protocol_ref, self._protocol_exited)
        monitor(self.session_ref, self._session_exited)
        receiver = self.receiver_ref
        if receiver is not None and issubclass(receiver.actor_class, MonitoredActor):
            monitor(receiver, self._receiver_exited)

    def _protocol_exited(self, notice: ExitNotice) -> None:
        # A protocol handler stops by itself only once the transport is lost (and it has told
        # the session); stopped from outside (a shutdown), it leaves both to be ended here.
        # Both calls do nothing the second time.
        if notice.reason is not ExitReason.NORMAL:
            reason = f"protocol handler failed: {notice.exception!r}"
            self._note_failure(reason)
        else:
            reason = "protocol handler stopped"
        self.transport.abort(reason)
        with contextlib.suppress(pykka.ActorDeadError):
            ActorHandle[SessionHandler](self.session_ref).tell(
                SessionHandler.notify_disconnected, reason
            )
        self._exit("protocol")

    def _session_exited(self, notice: ExitNotice) -> None:
        if notice.reason is not ExitReason.NORMAL:
            reason = f"session failed: {notice.exception!r}"
            self._note_failure(reason)
            self.transport.abort(reason)
            self.protocol_ref.stop(block=False)
            if self.receiver_ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    ActorHandle[EventReceiver](self.receiver_ref).tell(
                        EventReceiver.send_event, Disconnected(reason)
                    )
        else:
            # By itself a session ends once disconnected; stopped from outside, it takes the
            # connection with it (the protocol handler stops when the transport is lost).
            self.transport.abort("session stopped")
        self._exit("session")

    def _receiver_exited(self, notice: ExitNotice) -> None:
        if notice.reason is ExitReason.NORMAL or self.closed.is_set():
            return  # stopped by us once the connection was over, or by its owner
        reason = f"event receiver failed: {notice.exception!r}"
        self._note_failure(reason)
        self.transport.abort(reason)
        with contextlib.suppress(pykka.ActorDeadError):
            ActorHandle[SessionHandler](self.session_ref).tell(
                SessionHandler.notify_disconnected, reason
            )

    def _note_failure(self, reason: str) -> None:
        logger.error("connection %s: %s", self.connection_id, reason)
        with self._lock:
            if self.failure is None:
                self.failure = reason

    def _exit(self, part: str) -> None:
        with self._lock:
            self._exited.add(part)
            done = len(self._exited) == 2 and not self.closed.is_set()
            if done:
                self.closed.set()
        if not done:
            return
        if self._owns_receiver and self.receiver_ref is not None:
            self.receiver_ref.stop(block=False)
        if self._on_closed is not None:
            try:
                self._on_closed(self)
            except Exception:
                logger.exception("connection %s: on_closed failed", self.connection_id)
