"""A non-blocking TCP (or TLS) connection driven by an :class:`IoLoop`.

Theory of operation:

* Reads happen on the loop thread; each block goes to ``TransportProtocol.data_received``,
  which must only hand it on (``tell`` an actor). The reader reports what it has processed
  through :meth:`Transport.input_consumed`; while more than ``max_unconsumed_input`` bytes are
  outstanding, the transport stops reading, so a fast peer meets TCP backpressure instead of
  filling an actor's mailbox.
* :meth:`Transport.send_data` may be called from any thread and never blocks. On a plain TCP
  socket with nothing queued it writes straight away (saving a loop wakeup per message);
  otherwise bytes queue and the loop writes them when the socket is writable. TLS sockets are
  only ever touched on the loop thread, since one OpenSSL connection must not be read and
  written concurrently.
* Outbound memory is bounded: beyond ``max_queued_bytes`` the connection is aborted. Callers
  that can drop data (media) look at :attr:`Transport.queued_bytes` first.
* ``connection_lost`` is called exactly once, on the loop thread, whoever closes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import selectors
import socket
import ssl
import threading
from collections import deque
from typing import Protocol

from behaviours.socket_handler import PacketType, SocketHandler
from rtmp_actors.transport.io_loop import IoLoop, TimerHandle

__all__ = ["Transport", "TransportProtocol"]

logger = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_MAX_BUFFERS_PER_SEND = 64


class TransportProtocol(Protocol):
    """Receives a transport's input; both methods run on the loop thread and must not block."""

    def data_received(self, data: bytes) -> None:
        """Bytes arrived from the peer."""

    def connection_lost(self, reason: str | None) -> None:
        """The connection is gone; ``reason`` is None when the peer closed it cleanly."""


class Transport(SocketHandler):
    """One connection's socket.

    Args:
        loop: The loop that owns the socket.
        sock: A connected socket (made non-blocking here); an ``ssl.SSLSocket`` is taken as
            one whose TLS handshake is done.
        ssl_context: Wrap the socket in TLS with this context.
        server_side: Whether we are the TLS server.
        server_hostname: The name to verify, for a TLS client.
        max_unconsumed_input: Stop reading while this many received bytes are unprocessed.
        max_queued_bytes: Abort the connection when more than this is waiting to be sent.
        linger: Seconds :meth:`close` waits for queued bytes before it aborts.
    """

    def __init__(
        self,
        loop: IoLoop,
        sock: socket.socket,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_side: bool = True,
        server_hostname: str | None = None,
        max_unconsumed_input: int = 1024 * 1024,
        max_queued_bytes: int = 16 * 1024 * 1024,
        linger: float = 5.0,
    ) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # not a TCP socket (a socket pair in tests)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # An SSLSocket comes with its handshake done (an HTTPS request handed over).
        self._tls = ssl_context is not None or isinstance(sock, ssl.SSLSocket)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(
                sock,
                server_side=server_side,
                server_hostname=server_hostname,
                do_handshake_on_connect=False,
            )
        self._loop = loop
        self._sock = sock
        self._protocol: TransportProtocol | None = None
        self._lock = threading.Lock()
        self._queue: deque[bytes | memoryview] = deque()
        self._queued = 0
        self._unconsumed = 0
        self._max_unconsumed = max_unconsumed_input
        self._max_queued = max_queued_bytes
        self._linger = linger
        self._linger_timer: TimerHandle | None = None
        self._tls_handshaking = ssl_context is not None
        self._tls_wants_write = False
        self._reading_paused = False
        self._write_pending = False
        self._closing_reason: str | None = None
        self._closing = False
        self._lost = False
        self.bytes_sent = 0
        self.bytes_received = 0
        try:
            self.peer_address: tuple[str, int] | None = sock.getpeername()[:2]
        except OSError:
            self.peer_address = None

    # --- Starting -------------------------------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        """The transport's socket (the TLS socket when wrapped), e.g. to connect it."""
        return self._sock

    def start(self, protocol: TransportProtocol) -> None:
        """Begin reading into ``protocol`` (from any thread)."""
        self._protocol = protocol
        if self._loop.in_loop_thread():
            self._update_interest()
        else:
            self._loop.call_soon(self._update_interest)

    # --- SocketHandler ----------------------------------------------------------------------------

    @property
    def queued_bytes(self) -> int:
        """Bytes accepted by :meth:`send_data` but not yet written to the socket."""
        return self._queued

    @property
    def is_closing(self) -> bool:
        """Whether the transport is closing or closed."""
        return self._closing or self._lost

    def send_data(self, data: bytes, packet_type: PacketType = PacketType.MISC) -> None:
        """Queue bytes for the peer (any thread, never blocks); dropped once closing."""
        del packet_type  # droppable media is dropped before encoding, by the protocol handler
        if not data:
            return
        schedule = False
        with self._lock:
            if self._closing or self._lost:
                return
            pending: bytes | memoryview = data
            started = self._protocol is not None
            if started and not self._queue and not self._tls:
                try:
                    sent = self._sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as error:
                    reason = f"send failed: {error}"
                    self._loop.call_soon(lambda: self._connection_lost(reason))
                    return
                self.bytes_sent += sent
                if sent == len(data):
                    return
                pending = memoryview(data)[sent:]
            self._queue.append(pending)
            self._queued += len(pending)
            overflow = self._queued > self._max_queued
            if started and not self._write_pending:
                self._write_pending = True
                schedule = True
        if overflow:
            self.abort(f"the peer is too slow: {self._queued} bytes waiting to be sent")
        elif schedule:
            self._loop.call_soon(self._update_interest)

    def close(self, reason: str | None = None) -> None:
        """Send what is queued (for up to ``linger`` seconds), then close (any thread)."""
        with self._lock:
            if self._closing or self._lost:
                return
            self._closing = True
            self._closing_reason = reason
        self._loop.call_soon(self._close_when_flushed)

    def abort(self, reason: str) -> None:
        """Close at once, dropping anything queued (any thread)."""
        with self._lock:
            self._closing = True
            self._closing_reason = reason
            self._queue.clear()
            self._queued = 0
        self._loop.call_soon(lambda: self._connection_lost(reason))

    def input_consumed(self, size: int) -> None:
        """Report that ``size`` received bytes were processed (any thread)."""
        with self._lock:
            self._unconsumed -= size
            resume = self._reading_paused and self._unconsumed <= self._max_unconsumed // 2
            if resume:
                self._reading_paused = False
        if resume:
            self._loop.call_soon(self._update_interest)

    # --- Loop thread ------------------------------------------------------------------------------

    def _update_interest(self) -> None:
        if self._lost:
            return
        events = 0
        if not self._reading_paused and self._protocol is not None:
            events |= selectors.EVENT_READ
        if self._queue or self._tls_wants_write:
            events |= selectors.EVENT_WRITE
        elif self._write_pending:
            with self._lock:
                if not self._queue:
                    self._write_pending = False
        if self._tls_handshaking:
            events |= selectors.EVENT_READ
        self._loop.modify(self._sock, events, self._ready)

    def _ready(self, mask: int) -> None:
        if self._tls_handshaking:
            self._continue_tls_handshake()
            return
        if mask & selectors.EVENT_WRITE:
            self._write()
        if mask & selectors.EVENT_READ and not self._lost:
            self._read()

    def _continue_tls_handshake(self) -> None:
        assert isinstance(self._sock, ssl.SSLSocket)
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._tls_wants_write = False
        except ssl.SSLWantWriteError:
            self._tls_wants_write = True
        except (ssl.SSLError, OSError) as error:
            self._connection_lost(f"TLS handshake failed: {error}")
            return
        else:
            self._tls_handshaking = False
            self._tls_wants_write = False
        self._update_interest()

    def _read(self) -> None:
        protocol = self._protocol
        assert protocol is not None
        while True:
            try:
                data = self._sock.recv(_READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return
            except ssl.SSLWantWriteError:
                self._tls_wants_write = True
                self._update_interest()
                return
            except OSError as error:
                self._connection_lost(f"read failed: {error}")
                return
            if not data:
                self._connection_lost(self._closing_reason if self._closing else None)
                return
            self.bytes_received += len(data)
            with self._lock:
                self._unconsumed += len(data)
                pause = self._unconsumed > self._max_unconsumed
                if pause:
                    self._reading_paused = True
            protocol.data_received(data)
            if pause:
                self._update_interest()
                return
            # TLS may hold decrypted bytes the selector will never signal; plain sockets
            # return to the selector after one read to stay fair to other connections.
            if not (self._tls and isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
                return

    def _write(self) -> None:
        self._tls_wants_write = False
        failure: str | None = None
        with self._lock:
            queue = self._queue
            while queue:
                try:
                    if self._tls:
                        sent = self._sock.send(queue[0])
                    else:
                        sent = self._sock.sendmsg(
                            list(itertools.islice(queue, _MAX_BUFFERS_PER_SEND))
                        )
                except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                    break
                except ssl.SSLWantReadError:
                    break
                except OSError as error:
                    failure = f"send failed: {error}"
                    break
                self.bytes_sent += sent
                self._queued -= sent
                while sent:
                    head = queue[0]
                    if sent >= len(head):
                        sent -= len(head)
                        queue.popleft()
                    else:
                        queue[0] = memoryview(head)[sent:]
                        sent = 0
            flushed = not queue
            if flushed:
                self._write_pending = False
        if failure is not None:
            self._connection_lost(failure)
        elif flushed and self._closing:
            self._finish_close()
        else:
            self._update_interest()

    def _close_when_flushed(self) -> None:
        if self._lost:
            return
        if not self._queue:
            self._finish_close()
            return
        self._linger_timer = self._loop.call_later(
            self._linger,
            lambda: self._connection_lost(
                f"{self._closing_reason or 'closing'}; {self._queued} unsent bytes dropped "
                f"after {self._linger} s"
            ),
        )
        self._update_interest()

    def _finish_close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        self._connection_lost(self._closing_reason)

    def _connection_lost(self, reason: str | None) -> None:
        if self._lost:
            return
        self._lost = True
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        self._loop.unregister(self._sock)
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            self._queue.clear()
            self._queued = 0
        if self._protocol is not None:
            try:
                self._protocol.connection_lost(reason)
            except Exception:
                logger.exception("connection_lost handler failed")
