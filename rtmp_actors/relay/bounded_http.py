"""A threading HTTP server bounded in what clients can hold: requests, addresses, time.

* At most ``max_clients`` requests are answered at once; more are closed unanswered (logged
  every 10 s at most). The listen backlog takes bursts of players.
* With ``address_slots`` (the relay's count of connections per client address, shared with
  its RTMP listeners) each request holds its address's slot while it is answered; a
  handler that keeps the connection (an HTTP-FLV player) takes the slot over with
  :meth:`BoundedHttpServer.take_address_slot`.
* A client must send its request line and headers within :data:`REQUEST_HEAD_DEADLINE`
  seconds in all: a slow-loris trickle is cut off, however steady. The check runs in
  socketserver's ``service_actions``, on the serving thread: no timer thread.
* The request line and headers may take :data:`MAX_REQUEST_HEAD` bytes in all (the
  standard library alone allows 100 lines of 64 KiB); more is answered 431.
* With an ``ssl_context`` it serves HTTPS: the TLS handshake runs on the request's own
  thread (never on the accepting one), within the same head deadline. A handler that keeps
  the connection takes it with :meth:`BoundedRequestHandler.take_connection`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rtmp_actors.logs import LogThrottle
from rtmp_actors.transport.address_slots import AddressSlots, Slot

__all__ = [
    "MAX_REQUEST_HEAD",
    "REQUEST_HEAD_DEADLINE",
    "BoundedHttpServer",
    "BoundedRequestHandler",
    "RequestHeadTooLargeError",
]

logger = logging.getLogger(__name__)

REQUEST_HEAD_DEADLINE = 10.0
"""Seconds a client has to send its request line and headers, in all."""
_LINGER = 1.0  # seconds an answered, refused client may go on sending
MAX_REQUEST_HEAD = 32 * 1024
"""Bytes a request line and its headers may take, in all (as nginx's default buffers)."""


class RequestHeadTooLargeError(Exception):
    """The request line and headers went past :data:`MAX_REQUEST_HEAD`."""


class _HeadBudget:
    """A handler's ``rfile`` while the head is read: ``readline`` fails past the budget.

    Everything else (a body's ``read``) goes to the file unchanged.
    """

    def __init__(self, file: Any, budget: int) -> None:
        self._file = file
        self._left = budget

    def readline(self, limit: int = -1) -> bytes:
        if self._left < 0:
            raise RequestHeadTooLargeError
        # One byte over the budget shows a line that does not fit.
        size = self._left + 1 if limit < 0 else min(limit, self._left + 1)
        line: bytes = self._file.readline(size)
        self._left -= len(line)
        if self._left < 0:
            raise RequestHeadTooLargeError
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class BoundedHttpServer(ThreadingHTTPServer):
    """A threading HTTP server that serves at most ``max_clients`` requests at once.

    Args:
        address: (host, port) to listen on.
        handler: The request handler class; it calls :meth:`head_read` once it has the
            request head (:class:`BoundedRequestHandler` does).
        max_clients: Requests answered at once; more are closed unanswered.
        address_slots: Counts connections per client address (None: no limit here).
        ssl_context: Serve HTTPS with this context (None: plain HTTP). It may be replaced
            (a reloaded certificate): each new connection reads it once.
        reuse_port: Listen with ``SO_REUSEPORT``, so that several processes share the port
            (``serve --workers``).
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog (socketserver's 5 drops bursts of players)

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_clients: int,
        address_slots: AddressSlots | None = None,
        ssl_context: ssl.SSLContext | None = None,
        *,
        reuse_port: bool = False,
    ) -> None:
        self.allow_reuse_port = reuse_port  # read by server_bind
        self.ssl_context = ssl_context
        self._slots = threading.BoundedSemaphore(max_clients)
        self._address_slots = address_slots
        self._held = threading.local()  # the request thread's address slot, until taken
        self._busy = LogThrottle()
        self._late = LogThrottle()
        self._reading: dict[socket.socket, float] = {}  # request head deadlines, by socket
        self._reading_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        address_slot = None
        if self._address_slots is not None:
            address_slot = self._address_slots.acquire(str(client_address[0]))
            if address_slot is None:  # refused (and logged, at most every 10 s)
                self.shutdown_request(request)
                return
        if not self._slots.acquire(blocking=False):
            left_out = self._busy.due(time.monotonic())
            if left_out is not None:  # a flood logs a line every few seconds, not one each
                logger.warning(
                    "HTTP: too many requests at once; closing one from %s%s",
                    client_address[0],
                    f" ({left_out} more closed since the last report)" if left_out else "",
                )
            if address_slot is not None:
                address_slot.release()
            self.shutdown_request(request)
            return
        try:
            threading.Thread(
                target=self._serve_one, args=(request, client_address, address_slot), daemon=True
            ).start()
        except BaseException:
            self._slots.release()
            if address_slot is not None:
                address_slot.release()
            self.shutdown_request(request)
            raise

    def head_read(self, request: socket.socket) -> None:
        """The request line and headers of ``request`` are in: no more deadline."""
        with self._reading_lock:
            self._reading.pop(request, None)

    def service_actions(self) -> None:
        """Cut off clients whose request head is late (serve_forever calls this twice a second)."""
        now = time.monotonic()
        with self._reading_lock:
            late = [sock for sock, deadline in self._reading.items() if deadline <= now]
            for sock in late:
                del self._reading[sock]
        for sock in late:
            # The handler's blocked read returns at once; it ends the request.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if late and (left_out := self._late.due(now)) is not None:
            logger.info(
                "HTTP: closed %d client(s) that sent no request within %g s%s",
                len(late),
                REQUEST_HEAD_DEADLINE,
                f" ({left_out} more reports left out)" if left_out else "",
            )

    def take_address_slot(self) -> Slot | None:
        """The slot of the request this thread answers, now the caller's to release."""
        slot: Slot | None = getattr(self._held, "slot", None)
        self._held.slot = None
        return slot

    def keep_connection(self) -> None:
        """The request this thread answers keeps its connection: it is not closed here."""
        self._held.kept = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("HTTP: request from %s failed", client_address)

    def _serve_one(self, request: Any, client_address: Any, address_slot: Slot | None) -> None:
        # ThreadingMixIn's, but the slots are free before the client sees the socket close.
        self._held.slot = address_slot
        self._held.kept = False
        context = self.ssl_context  # read once: a reload may replace it
        connection = request
        if context is not None:
            connection = context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
        with self._reading_lock:  # the deadline covers a TLS handshake too
            self._reading[connection] = time.monotonic() + REQUEST_HEAD_DEADLINE
        try:
            if context is None or self._handshake(connection):
                self.finish_request(connection, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.head_read(connection)
            self._slots.release()
            untaken = self.take_address_slot()
            if untaken is not None:
                untaken.release()
            if not self._held.kept:
                self.shutdown_request(connection)

    @staticmethod
    def _handshake(connection: socket.socket) -> bool:
        """Run the TLS handshake of ``connection``; False if it failed (logged)."""
        assert isinstance(connection, ssl.SSLSocket)
        try:
            connection.settimeout(REQUEST_HEAD_DEADLINE)
            connection.do_handshake()
        except (ssl.SSLError, OSError) as error:
            logger.debug("HTTPS: TLS handshake failed: %s", error)
            return False
        return True


class BoundedRequestHandler(BaseHTTPRequestHandler):
    """A request handler for :class:`BoundedHttpServer`: tells it when the head is read."""

    server: BoundedHttpServer
    timeout = 10.0  # a client that sends nothing is dropped after this

    def handle_one_request(self) -> None:
        """The standard library's, with the request head held to :data:`MAX_REQUEST_HEAD`."""
        file = self.rfile
        self.rfile = _HeadBudget(file, MAX_REQUEST_HEAD)  # type: ignore[assignment]
        try:
            super().handle_one_request()
        except RequestHeadTooLargeError:
            self.rfile = file
            for name in ("requestline", "request_version", "command"):
                if not hasattr(self, name):
                    setattr(self, name, "")  # as the standard library's 414 does
            self.close_connection = True
            self.send_error(431, "Request Header Fields Too Large")
            self._linger()
        finally:
            self.rfile = file

    def _linger(self) -> None:
        """Read (briefly) what the client still sends, so a reset does not eat the answer.

        Closing with unread input makes the kernel reset the connection, and a client that
        has not read the answer yet loses it.
        """
        sock = self.connection
        deadline = time.monotonic() + _LINGER
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(65536):
                    break

    def parse_request(self) -> bool:
        """Read the headers (the standard library's), then lift the request head deadline."""
        parsed = super().parse_request()
        self.server.head_read(self.connection)
        return parsed

    def take_connection(self) -> tuple[socket.socket, Slot | None]:
        """The connection and its place in its address's count, now the caller's.

        The server no longer closes it or counts it: for a handler that hands it on (an
        HTTP-FLV player). A TLS connection is the same object (its TLS state stays in it).
        """
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket):
            self.server.keep_connection()
            own: socket.socket = sock
        else:
            own = socket.socket(fileno=sock.detach())  # the server's own close is a no-op now
        return own, self.server.take_address_slot()
