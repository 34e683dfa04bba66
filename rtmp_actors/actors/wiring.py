"""Building one connection's actors and joining them (shared by server and client)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pykka

from behaviours.protocol_handler import ProtocolHandler
from behaviours.session_handler import SessionHandler
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo, ConnectionUnit, TransportAdapter
from rtmp_actors.actors.protocol_handler import FlowControl, ProtocolHandlerActor
from rtmp_actors.actors.session_actor import SessionActor
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.transport.io_loop import IoLoop
from rtmp_actors.transport.transport import Transport

__all__ = [
    "EventReceiverFactory",
    "next_connection_id",
    "scope_connection_ids",
    "scoped_id",
    "start_connection",
]

EventReceiverFactory = Callable[[ConnectionInfo], pykka.ActorRef[Any]]
"""Builds the event receiver of a new connection (it is stopped when the connection ends)."""

_connection_ids = itertools.count(1)
_scope = {"prefix": ""}  # set once, at start, by scope_connection_ids


def scope_connection_ids(scope: str) -> None:
    """Put ``scope`` before every connection id made from now on.

    For processes that report to one place: ``serve --workers`` gives worker 2 ``w2.``, so
    its ``w2.s12`` is never taken for worker 1's ``w1.s12`` (in logs, ``/stats``, the
    control API).
    """
    _scope["prefix"] = scope


def scoped_id(name: str) -> str:
    """``name`` (a relay link's id, say) with this process's scope before it."""
    return f"{_scope['prefix']}{name}"


def next_connection_id(prefix: str) -> str:
    """A process-wide unique connection id such as ``s12`` or ``c3`` (after the scope)."""
    return scoped_id(f"{prefix}{next(_connection_ids)}")


def start_connection(
    *,
    role: ConnectionRole,
    loop: IoLoop,
    transport: Transport,
    session: Any,
    session_actor: type[SessionActor],
    connection_id: str,
    receiver_factory: EventReceiverFactory,
    limits: Limits,
    flow: FlowControl,
    digest_handshake: bool = True,
    on_closed: Callable[[ConnectionUnit], None] | None = None,
    start_reading: bool = True,
) -> ConnectionUnit:
    """Start a connection's protocol handler, session and receiver, and begin reading.

    Wiring uses ``tell`` only, queued before the transport starts reading, so each actor has
    its peers before the first byte arrives. With ``start_reading=False`` the caller starts
    the transport later with ``transport.start(unit.adapter)`` (a client, once connected).

    Raises:
        ConnectionAbortedError: If one of the actors was stopped from outside meanwhile
            (the others are stopped and the transport closed).
        Exception: Whatever ``receiver_factory`` raised (likewise cleaned up).
    """
    connection = RtmpConnection(
        role,
        limits=limits,
        digest_handshake=digest_handshake,
        epoch=int(time.monotonic() * 1000),
    )
    protocol_ref = ProtocolHandlerActor.start(
        connection, transport, loop.call_later, connection_id=connection_id, flow=flow
    )
    session_ref = session_actor.start(session, loop.call_later, connection_id=connection_id)
    session_proxy: ActorHandle[SessionHandler] = ActorHandle(session_ref)
    info = ConnectionInfo(connection_id, transport.peer_address, session_proxy, session_ref)
    try:
        receiver_ref = receiver_factory(info)
    except Exception:
        transport.abort("event receiver factory failed")
        protocol_ref.stop(block=False)
        session_ref.stop(block=False)
        raise
    unit = ConnectionUnit(
        connection_id, transport, protocol_ref, session_ref, receiver_ref, on_closed=on_closed
    )
    try:
        ActorHandle[ProtocolHandler](protocol_ref).tell(ProtocolHandler.set_session, session_ref)
        session_proxy.tell(SessionHandler.set_protocol_handler, protocol_ref)
        session_proxy.tell(SessionHandler.set_event_handler, receiver_ref)
    except pykka.ActorDeadError as error:
        # Stopped as it started (a shutdown that stops every actor it sees): none of the
        # rest may stay behind. One that stops after this is seen by the unit's watch.
        transport.abort("stopped while starting")
        for ref in (protocol_ref, session_ref, receiver_ref):
            ref.stop(block=False)
        msg = f"connection {connection_id}: one of its actors stopped while it started"
        raise ConnectionAbortedError(msg) from error
    unit.adapter = TransportAdapter(protocol_ref, transport)
    unit.watch()
    if start_reading:
        transport.start(unit.adapter)
    return unit
