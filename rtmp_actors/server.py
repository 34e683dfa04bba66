"""``RtmpServer``: accept connections and give each one its actors."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Self

from rtmp_actors.actors.connection_unit import ConnectionUnit
from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.actors.wiring import EventReceiverFactory, next_connection_id, start_connection
from rtmp_actors.protocol.connection import ConnectionRole
from rtmp_actors.session.server import ServerSession
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.transport.io_loop import IoLoop, Listener
from rtmp_actors.transport.transport import Transport

__all__ = ["RtmpServer"]

logger = logging.getLogger(__name__)


class RtmpServer:
    """An RTMP (or RTMPS) server: one protocol handler and one session actor per connection.

    Args:
        host: Address to listen on.
        port: Port to listen on (0 picks a free one; see :attr:`address`).
        event_receiver_factory: Builds each connection's event receiver from its
            :class:`ConnectionInfo` (whose ``session`` proxy accepts or rejects requests).
        config: Session settings (chunk size, windows, ping interval, limits, ...).
        flow: Timeouts (handshake, idle) and the slow-peer policy.
        ssl_context: Serve RTMPS with this context.
        max_connections: Connections beyond this are closed as soon as they are accepted.
        io_loop: Share an I/O loop; by default the server runs its own.
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
    ) -> None:
        self._host = host
        self._port = port
        self._factory = event_receiver_factory
        self.config = config or ServerSessionConfig()
        self._flow = flow or FlowControl()
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._owns_loop = io_loop is None
        self._loop = io_loop or IoLoop(name="rtmp-server-io")
        self._listener: Listener | None = None
        self._units: dict[str, ConnectionUnit] = {}
        # Reentrant: a connection that dies during its own setup reports itself closed from
        # inside _accept, on this thread.
        self._lock = threading.RLock()
        self._all_closed = threading.Condition(self._lock)
        self._stopping = False
        self._accepted = 0
        self._closed_bytes = (0, 0)  # (received, sent) over connections that are over

    # --- Life cycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening; returns self."""
        if self._owns_loop:
            self._loop.start()
        self._listener = self._loop.listen(self._host, self._port, self._accept)
        logger.info("RTMP server listening on %s:%s", *self._listener.address)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        if self._listener is None:
            msg = "the server is not started"
            raise RuntimeError(msg)
        return self._listener.address

    @property
    def connection_count(self) -> int:
        """Connections whose actors are still running."""
        with self._lock:
            return len(self._units)

    @property
    def connections_accepted(self) -> int:
        """Connections accepted (given actors) since the server started."""
        with self._lock:
            return self._accepted

    def byte_totals(self) -> tuple[int, int]:
        """(bytes received, bytes sent) over every connection so far, open or closed."""
        with self._lock:
            received, sent = self._closed_bytes
            for unit in self._units.values():
                received += unit.transport.bytes_received
                sent += unit.transport.bytes_sent
        return received, sent

    def wait_for_connections(self, count: int = 0, timeout: float | None = None) -> bool:
        """Wait until at most ``count`` connections are open; False on timeout."""
        with self._all_closed:
            return self._all_closed.wait_for(lambda: len(self._units) <= count, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, close every session politely, wait for them, then stop the loop.

        Sessions still open after ``timeout`` seconds are dropped.
        """
        with self._lock:
            self._stopping = True
            units = list(self._units.values())
        if self._listener is not None:
            self._listener.close()
        for unit in units:
            with contextlib.suppress(Exception):
                MethodProxy(unit.session_ref).close.defer("server shutting down")
        deadline = time.monotonic() + timeout
        with self._all_closed:
            while self._units and time.monotonic() < deadline:
                self._all_closed.wait(deadline - time.monotonic())
            leftover = list(self._units.values())
        for unit in leftover:
            logger.warning(
                "connection %s did not close in time; dropping it",
                unit.connection_id,
                extra={"connection_id": unit.connection_id},
            )
            unit.transport.abort("server shutting down")
        with self._all_closed:
            end = time.monotonic() + 5.0
            while self._units and time.monotonic() < end:
                self._all_closed.wait(end - time.monotonic())
        if self._owns_loop:
            self._loop.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- Accepting (I/O thread) -------------------------------------------------------------------

    def _accept(self, sock: socket.socket, address: tuple[str, int]) -> None:
        with self._lock:
            full = len(self._units) >= self._max_connections
            stopping = self._stopping
        if full or stopping:
            logger.warning(
                "refusing connection from %s:%s (%s)",
                *address,
                "shutting down" if stopping else f"{self._max_connections} connections open",
            )
            sock.close()
            return
        connection_id = next_connection_id("s")
        transport = Transport(self._loop, sock, ssl_context=self._ssl_context, server_side=True)
        session = ServerSession(self.config, connection_id=connection_id, now=time.monotonic())
        logger.info(
            "connection %s from %s:%s",
            connection_id,
            *address,
            extra={"connection_id": connection_id},
        )
        with self._lock:
            self._accepted += 1
            unit = start_connection(
                role=ConnectionRole.SERVER,
                loop=self._loop,
                transport=transport,
                session=session,
                session_actor=ServerSessionActor,
                connection_id=connection_id,
                receiver_factory=self._factory,
                limits=self.config.limits,
                flow=self._flow,
                on_closed=self._closed,
            )
            if not unit.closed.is_set():
                self._units[connection_id] = unit

    def _closed(self, unit: ConnectionUnit) -> None:
        with self._all_closed:
            self._units.pop(unit.connection_id, None)
            received, sent = self._closed_bytes
            transport = unit.transport
            self._closed_bytes = (received + transport.bytes_received, sent + transport.bytes_sent)
            self._all_closed.notify_all()
        logger.info(
            "connection %s closed", unit.connection_id, extra={"connection_id": unit.connection_id}
        )
