"""``RtmpServer``: accept connections and give each one its actors, under a supervision tree.

Theory of operation:

* A running server is a :class:`Supervisor` (rest-for-one) with two children, in order:
  ``connections`` (:class:`ConnectionsSupervisor`: starts each connection's actors and
  watches them with monitors, as temporary children) and ``listener`` (:class:`Acceptor`: owns
  the listening socket on the I/O loop). The listener failing is restarted alone, on the same
  port; the connections supervisor failing closes every connection, and both restart.
* Accepted sockets arrive on the I/O thread, which only ``tell`` s the connections
  supervisor; a connection's three actors are started on the supervisor's thread, so a burst
  of connections never stalls the I/O loop.
* A connection is a one-for-all unit (:class:`ConnectionUnit`) and is never restarted: its
  socket is gone. Supervising every connection costs no thread of its own: the units are
  driven by monitor callbacks, not by an actor per connection.
* :meth:`RtmpServer.start` runs the tree on its own; :meth:`RtmpServer.child_spec` lets a
  user's supervisor run it instead, as one child among the user's own actors.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Self

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_info import ClientInfo, SessionSummary
from rtmp_actors.actors.connection_unit import ConnectionUnit
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, MonitoredActor, monitor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.actors.supervisor import (
    ChildHandle,
    ChildSpec,
    ChildStartError,
    Strategy,
    Supervisor,
)
from rtmp_actors.actors.wiring import EventReceiverFactory, next_connection_id, start_connection
from rtmp_actors.logs import LogThrottle
from rtmp_actors.protocol.connection import ConnectionRole
from rtmp_actors.session.server import ServerSession
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.transport.address_slots import AddressSlots, Slot
from rtmp_actors.transport.io_loop import IoLoop, Listener
from rtmp_actors.transport.transport import Transport

__all__ = ["Acceptor", "ConnectionsSupervisor", "RtmpServer"]

logger = logging.getLogger(__name__)
REFUSAL_LOG_INTERVAL = 10.0
"""Seconds between two log lines about connections refused at the connection cap."""


class _ConnectionTable:
    """The open connections, shared by the connections supervisor and the server's readers."""

    def __init__(self) -> None:
        # Reentrant: a connection that dies during its own setup reports itself closed from
        # inside the supervisor's accept, on the same thread.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.units: dict[str, ConnectionUnit] = {}
        self.slots: dict[str, Slot] = {}  # each connection's place in its address's count
        self.accepted = 0
        self.closed_bytes = (0, 0)  # (received, sent) over connections that are over

    def closed(self, unit: ConnectionUnit) -> None:
        with self.changed:
            self.units.pop(unit.connection_id, None)
            slot = self.slots.pop(unit.connection_id, None)
            if slot is not None:
                slot.release()
            received, sent = self.closed_bytes
            transport = unit.transport
            self.closed_bytes = (received + transport.bytes_received, sent + transport.bytes_sent)
            self.changed.notify_all()
        logger.info(
            "connection %s closed", unit.connection_id, extra={"connection_id": unit.connection_id}
        )

    def wait_until(self, count: int, deadline: float) -> bool:
        with self.changed:
            while len(self.units) > count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True


class ConnectionsSupervisor(MonitoredActor):
    """Starts every connection's actors and closes them all when it stops or fails.

    Connections are temporary children: watched through monitors (see
    :class:`ConnectionUnit`), never restarted.
    """

    def __init__(self, server: RtmpServer, table: _ConnectionTable) -> None:
        super().__init__()
        self._server = server
        self._table = table
        self._stopping = False
        self._refusals = LogThrottle(REFUSAL_LOG_INTERVAL)

    def accept(self, sock: socket.socket, address: tuple[str, int], slot: Slot) -> None:
        """Give a newly accepted socket its actors (the listener tells this).

        ``slot`` is the connection's place in its address's count, held until it closes.
        """
        server = self._server
        table = self._table
        with table.lock:
            full = len(table.units) >= server.max_connections
        if full or self._stopping:
            left_out = self._refusals.due(time.monotonic())
            if left_out is not None:  # a flood logs a line every few seconds, not one each
                logger.warning(
                    "refusing connection from %s:%s (%s)%s",
                    *address,
                    "shutting down" if self._stopping else f"{server.max_connections} open",
                    f"; {left_out} more refused since the last report" if left_out else "",
                )
            slot.release()
            sock.close()
            return
        connection_id = next_connection_id("s")
        transport = Transport(server.loop, sock, ssl_context=server.ssl_context, server_side=True)
        session = ServerSession(server.config, connection_id=connection_id, now=time.monotonic())
        logger.info(
            "connection %s from %s:%s",
            connection_id,
            *address,
            extra={"connection_id": connection_id},
        )
        with table.lock:
            table.accepted += 1
            table.slots[connection_id] = slot  # released by closed(), even during the start
            try:
                unit = start_connection(
                    role=ConnectionRole.SERVER,
                    loop=server.loop,
                    transport=transport,
                    session=session,
                    session_actor=ServerSessionActor,
                    connection_id=connection_id,
                    receiver_factory=server.event_receiver_factory,
                    limits=server.config.limits,
                    flow=server.flow,
                    on_closed=table.closed,
                )
            except Exception:
                # One connection's bad receiver (or a shutdown under way) must not take the
                # others down.
                logger.exception(
                    "connection %s: could not start (the event receiver factory failed, or "
                    "the server is stopping); closing it",
                    connection_id,
                    extra={"connection_id": connection_id},
                )
                table.slots.pop(connection_id, slot).release()
                return
            if not unit.closed.is_set():
                table.units[connection_id] = unit

    def on_stop(self) -> None:
        """Close every session politely, and drop those still open after the timeout."""
        self._stopping = True
        table = self._table
        with table.lock:
            units = list(table.units.values())
        for unit in units:
            with contextlib.suppress(pykka.ActorDeadError):
                ActorHandle[ServerSessionActor](unit.session_ref).tell(
                    ServerSessionActor.close, "server shutting down"
                )
        if table.wait_until(0, time.monotonic() + self._server.stop_timeout):
            return
        self._abort_all("server shutting down")

    def on_failure(self, *_exc_info: object) -> None:
        """Drop every connection: nobody supervises them any more."""
        self._stopping = True
        self._abort_all("the connections supervisor failed")

    def _abort_all(self, reason: str) -> None:
        table = self._table
        with table.lock:
            leftover = list(table.units.values())
        for unit in leftover:
            logger.warning(
                "connection %s: dropping it (%s)",
                unit.connection_id,
                reason,
                extra={"connection_id": unit.connection_id},
            )
            unit.transport.abort(reason)
        table.wait_until(0, time.monotonic() + 5.0)


class Acceptor(MonitoredActor):
    """Owns the listening socket; accepted sockets go to the connections supervisor.

    The socket is bound in ``__init__``, in the thread that starts the actor, so a server that
    cannot listen fails to start at once (with the ``OSError``).
    """

    def __init__(self, server: RtmpServer, connections: ActorHandle[ConnectionsSupervisor]) -> None:
        super().__init__()
        self._connections = connections
        self._address_slots = server.address_slots
        self._listener: Listener = server.loop.listen(
            server.host, server.port, self._accepted, reuse_port=server.reuse_port
        )
        server.bound(self._listener.address)

    def _accepted(self, sock: socket.socket, address: tuple[str, int]) -> None:
        # On the I/O thread: refuse an address over its limit before anything else is spent
        # on it, otherwise hand over and get back to the loop.
        slot = self._address_slots.acquire(address[0])
        if slot is None:
            sock.close()
            return
        try:
            self._connections.tell(ConnectionsSupervisor.accept, sock, address, slot)
        except pykka.ActorDeadError:
            logger.warning("refusing connection from %s:%s (restarting)", *address)
            slot.release()
            sock.close()

    def address(self) -> tuple[str, int]:
        """The (host, port) it listens on."""
        return self._listener.address

    def on_stop(self) -> None:
        """Stop listening."""
        self._listener.close()

    def on_failure(self, *_exc_info: object) -> None:
        """Stop listening."""
        self._listener.close()


class _ServerTree(Supervisor):
    """The server's supervisor; it also runs the server's own I/O loop, if it has one."""

    def __init__(self, server: RtmpServer, children: list[ChildSpec]) -> None:
        server.tree_starting()
        try:
            super().__init__(children, strategy=Strategy.REST_FOR_ONE, max_restarts=3)
        except BaseException:
            server.tree_stopped()
            raise
        self._server = server

    def on_stop(self) -> None:
        super().on_stop()
        self._server.tree_stopped()

    def on_failure(self, *exc_info: Any) -> None:
        super().on_failure(*exc_info)
        self._server.tree_stopped()


class RtmpServer:
    """An RTMP (or RTMPS) server: one protocol handler and one session actor per connection.

    Run it alone (``start()``/``stop()``, or ``with RtmpServer(...) as server``), or as a child
    of your own supervisor (``ChildSpec`` from :meth:`child_spec`).

    Args:
        host: Address to listen on.
        port: Port to listen on (0 picks a free one, kept across restarts; see
            :attr:`address`).
        event_receiver_factory: Builds each connection's event receiver from its
            :class:`ConnectionInfo` (whose ``session`` handle accepts or rejects requests).
        config: Session settings (chunk size, windows, ping interval, limits, ...).
        flow: Timeouts (handshake, idle) and the slow-peer policy.
        ssl_context: Serve RTMPS with this context.
        max_connections: Connections beyond this are closed as soon as they are accepted.
        io_loop: Share an I/O loop; by default the server runs its own while it runs.
        reuse_port: Listen with ``SO_REUSEPORT``, so that several processes share the port.
        address_slots: Bounds the connections open from one client address (closed at accept,
            before the handshake, beyond its limit); share one between servers to share the
            bound. By default there is none.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1935,
        *,
        event_receiver_factory: EventReceiverFactory,
        config: ServerSessionConfig | None = None,
        flow: FlowControl | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 1000,
        io_loop: IoLoop | None = None,
        reuse_port: bool = False,
        address_slots: AddressSlots | None = None,
    ) -> None:
        self.host = host
        self.reuse_port = reuse_port
        self.port = port
        self.event_receiver_factory = event_receiver_factory
        self.config = config or ServerSessionConfig()
        self.flow = flow or FlowControl()
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.address_slots = address_slots or AddressSlots()
        self._shared_loop = io_loop
        self.loop = io_loop or IoLoop(name="rtmp-server-io")
        self.stop_timeout = 10.0
        self._table = _ConnectionTable()
        self._units = self._table.units  # the open connections (read under the table's lock)
        self._address: tuple[str, int] | None = None
        self._tree: pykka.ActorRef[Any] | None = None
        self._ended = threading.Event()
        self.connections: ChildHandle[ConnectionsSupervisor] = ChildHandle("connections")
        self.listener: ChildHandle[Acceptor] = ChildHandle("listener")

    # --- Supervision --------------------------------------------------------------------------

    def child_spec(self, child_id: str = "rtmp-server") -> ChildSpec:
        """A spec that runs this server as a child of your own :class:`Supervisor`.

        The child is the server's own supervisor; stopping it closes every connection
        politely (within :attr:`stop_timeout`).
        """
        return ChildSpec(child_id, self._start_tree, shutdown_timeout=self.stop_timeout + 10)

    def _start_tree(self) -> pykka.ActorRef[Any]:
        table = self._table
        children = [
            ChildSpec(
                "connections",
                lambda: ConnectionsSupervisor.start(self, table),
                shutdown_timeout=self.stop_timeout + 6,
                handle=self.connections,
            ),
            ChildSpec(
                "listener",
                lambda: Acceptor.start(self, self.connections),
                handle=self.listener,
            ),
        ]
        self._ended.clear()
        ref: pykka.ActorRef[Any] = _ServerTree.start(self, children)
        monitor(ref, self._tree_exited)
        return ref

    def _tree_exited(self, notice: ExitNotice) -> None:
        if notice.reason is not ExitReason.NORMAL:
            logger.error("the RTMP server gave up: %s", notice)
        self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped or given up; False on timeout."""
        return self._ended.wait(timeout)

    def share_loop(self, loop: IoLoop) -> None:
        """Run on ``loop`` from the next start on (its owner starts and stops it)."""
        self._shared_loop = self.loop = loop

    def tree_starting(self) -> None:
        """Start the server's own I/O loop (its supervisor calls this)."""
        if self._shared_loop is None and not self.loop.running:
            self.loop = IoLoop(name="rtmp-server-io").start()

    def tree_stopped(self) -> None:
        """Stop the server's own I/O loop (its supervisor calls this once its children stop)."""
        if self._shared_loop is None:
            self.loop.stop()

    def bound(self, address: tuple[str, int]) -> None:
        """The listener is listening on ``address``; a restarted listener reuses its port."""
        if self._address is None:
            logger.info("RTMP server listening on %s:%s", *address)
        self._address = address
        self.port = address[1]

    # --- Life cycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening, under the server's own supervisor; returns self.

        Raises:
            OSError: If the address cannot be bound.
        """
        try:
            self._tree = self._start_tree()
        except ChildStartError as error:
            if isinstance(error.__cause__, OSError):
                raise error.__cause__ from None
            raise
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        if self._address is None:
            msg = "the server is not started"
            raise RuntimeError(msg)
        return self._address

    @property
    def connection_count(self) -> int:
        """Connections whose actors are still running."""
        with self._table.lock:
            return len(self._table.units)

    @property
    def connections_accepted(self) -> int:
        """Connections accepted (given actors) since the server started."""
        with self._table.lock:
            return self._table.accepted

    def byte_totals(self) -> tuple[int, int]:
        """(bytes received, bytes sent) over every connection so far, open or closed."""
        with self._table.lock:
            received, sent = self._table.closed_bytes
            for unit in self._table.units.values():
                received += unit.transport.bytes_received
                sent += unit.transport.bytes_sent
        return received, sent

    def clients(self, timeout: float = 2.0) -> list[ClientInfo]:
        """Every open connection, with what its client asked for (from outside the actors).

        The sessions are all asked at once; one that does not answer within ``timeout`` is
        listed with ``session=None``.
        """
        with self._table.lock:
            units = list(self._table.units.values())
        futures: list[pykka.Future[SessionSummary] | None] = []
        for unit in units:
            try:
                handle = ActorHandle[ServerSessionActor](unit.session_ref)
                futures.append(handle.ask(ServerSessionActor.describe))
            except pykka.ActorDeadError:
                futures.append(None)
        deadline = time.monotonic() + timeout
        listed = []
        for unit, future in zip(units, futures, strict=True):
            summary = None
            if future is not None:
                with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
                    summary = future.get(timeout=max(0.0, deadline - time.monotonic()))
            transport = unit.transport
            listed.append(
                ClientInfo(
                    unit.connection_id,
                    transport.peer_address,
                    unit.opened_at,
                    transport.bytes_received,
                    transport.bytes_sent,
                    summary,
                )
            )
        return listed

    def session_of(self, connection_id: str) -> ActorHandle[ServerSessionActor] | None:
        """The session actor of an open connection, or None if no such connection is open."""
        with self._table.lock:
            unit = self._table.units.get(connection_id)
        return None if unit is None else ActorHandle(unit.session_ref)

    def wait_for_connections(self, count: int = 0, timeout: float | None = None) -> bool:
        """Wait until at most ``count`` connections are open; False on timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        return self._table.wait_until(count, deadline)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, close every session politely, wait for them, then stop the loop.

        Sessions still open after ``timeout`` seconds are dropped.
        """
        tree, self._tree = self._tree, None
        if tree is None:
            return
        self.stop_timeout = timeout
        with contextlib.suppress(pykka.Timeout):
            tree.stop(timeout=timeout + 10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
