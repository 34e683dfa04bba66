"""``RtmpClient``: connect to an ``rtmp://`` URL and get a client session actor.

The TCP connect runs on the I/O loop (non-blocking, with a timeout), so it may be started
from inside an actor; only the name lookup happens in the caller's thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.connection_unit import ConnectionUnit
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.actors.wiring import EventReceiverFactory, next_connection_id, start_connection
from rtmp_actors.protocol.connection import ConnectionRole
from rtmp_actors.session.client import ClientSession
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.transport.io_loop import IoLoop
from rtmp_actors.transport.transport import Transport
from rtmp_actors.url import RtmpUrl

__all__ = ["RtmpClient", "shared_io_loop"]

logger = logging.getLogger(__name__)

_shared_loop: IoLoop | None = None
_shared_loop_lock = threading.Lock()


def shared_io_loop() -> IoLoop:
    """The process-wide I/O loop clients use unless given one (started on first use)."""
    global _shared_loop  # noqa: PLW0603 - one lazily started loop per process
    with _shared_loop_lock:
        if _shared_loop is None or not _shared_loop.running:
            _shared_loop = IoLoop(name="rtmp-client-io").start()
        return _shared_loop


class RtmpClient:
    """One client connection: its session actor, and what it connected to.

    Use :meth:`connect`. The event receiver sees ``ConnectionResponseReceived`` once the
    server answers ``connect`` (sent automatically), or ``Disconnected`` if the TCP
    connection, TLS or the handshake fails.

    Attributes:
        url: The parsed URL.
        session: Handle to the :class:`ClientSessionActor`
            (``client.session.tell(ClientSessionActor.request_publish, key)``).
        connection_id: For logs.
    """

    def __init__(self, url: RtmpUrl, unit: ConnectionUnit, connection_id: str) -> None:
        self.url = url
        self._unit = unit
        self.connection_id = connection_id
        self.session_ref: pykka.ActorRef[ClientSessionActor] = unit.session_ref
        self.session: ActorHandle[ClientSessionActor] = ActorHandle(unit.session_ref)

    @classmethod
    def connect(
        cls,
        url: str | RtmpUrl,
        *,
        event_receiver_factory: EventReceiverFactory,
        config: ClientSessionConfig | None = None,
        flow: FlowControl | None = None,
        ssl_context: ssl.SSLContext | None = None,
        io_loop: IoLoop | None = None,
        connect_timeout: float = 10.0,
        digest_handshake: bool = True,
        connect_extra: Mapping[str, Any] | None = None,
    ) -> RtmpClient:
        """Start connecting to ``url``; returns at once.

        Args:
            url: ``rtmp://host[:port]/app/stream_key`` (or ``rtmps://``; the stream key is
                optional here and used by the caller for publish or play).
            event_receiver_factory: Builds the connection's event receiver.
            config: Session settings.
            flow: Timeouts and congestion policy.
            ssl_context: For ``rtmps://`` (default: the system's default context).
            io_loop: The loop to use (default: :func:`shared_io_loop`).
            connect_timeout: Seconds for the TCP connection.
            digest_handshake: Offer the digest handshake (as Flash Player and FFmpeg do).
            connect_extra: Extra fields for the ``connect`` command object.

        Raises:
            ValueError: If the URL is not a valid RTMP URL.
            OSError: If the host name cannot be resolved.
        """
        parsed = url if isinstance(url, RtmpUrl) else RtmpUrl.parse(url, require_stream_key=False)
        loop = io_loop or shared_io_loop()
        family, kind, proto, _, address = socket.getaddrinfo(
            parsed.host, parsed.port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        if parsed.tls and ssl_context is None:
            ssl_context = ssl.create_default_context()
        connection_id = next_connection_id("c")
        transport = Transport(
            loop,
            sock,
            ssl_context=ssl_context if parsed.tls else None,
            server_side=False,
            server_hostname=parsed.host if parsed.tls else None,
        )
        config = config or ClientSessionConfig()
        session = ClientSession(config, connection_id=connection_id)
        unit = start_connection(
            role=ConnectionRole.CLIENT,
            loop=loop,
            transport=transport,
            session=session,
            session_actor=ClientSessionActor,
            connection_id=connection_id,
            receiver_factory=event_receiver_factory,
            limits=config.limits,
            flow=flow or FlowControl(),
            digest_handshake=digest_handshake,
            start_reading=False,
        )
        client = cls(parsed, unit, connection_id)
        # Queued before the socket connects, so the session cannot be gone yet; the connect
        # command waits in the connection until the handshake is over.
        client.session.tell(
            ClientSessionActor.request_connection,
            parsed.app,
            tc_url=parsed.tc_url,
            extra=connect_extra,
        )
        _connect_then_start(loop, transport.socket, address, transport, unit, connect_timeout)
        return client

    def close(self, reason: str | None = None) -> None:
        """Stop every stream politely and close the connection."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.session.tell(ClientSessionActor.close, reason)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection's protocol handler and session have stopped.

        Its event receiver is told to stop then, after the events already sent to it.
        Returns False on timeout.
        """
        return self._unit.closed.wait(timeout)

    @property
    def closed(self) -> bool:
        """Whether the connection is over."""
        return self._unit.closed.is_set()


def _connect_then_start(
    loop: IoLoop,
    sock: socket.socket,
    address: tuple[Any, ...],
    transport: Transport,
    unit: ConnectionUnit,
    timeout: float,
) -> None:
    """Connect ``sock`` on the loop, then start the transport (which sends C0+C1).

    The actors already exist, so a failed connect reaches the event receiver as
    ``Disconnected`` with the reason, like any other end of the connection.
    """
    adapter = unit.adapter
    assert adapter is not None
    target = f"{address[0]}:{address[1]}"

    def fail(reason: str) -> None:
        loop.unregister(sock)
        transport.start(adapter)  # so the failure is reported through connection_lost
        transport.abort(reason)

    def connected(_mask: int) -> None:
        timer.cancel()
        loop.unregister(sock)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            fail(f"connect to {target} failed: {os.strerror(error)}")
            return
        transport.peer_address = address[:2]
        transport.start(adapter)

    def begin() -> None:
        result = sock.connect_ex(address)
        if result not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            timer.cancel()
            fail(f"connect to {target} failed: {os.strerror(result)}")
            return
        loop.register(sock, selectors.EVENT_WRITE, connected)

    timer = loop.call_later(
        timeout, lambda: fail(f"connect to {target} timed out after {timeout} s")
    )
    loop.call_soon(begin)
