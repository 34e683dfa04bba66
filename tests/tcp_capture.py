"""A recording TCP proxy for tests: relays one connection and keeps each direction's bytes."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class CaptureProxy:
    """Accept one connection on a loopback port and relay it to ``upstream_port``.

    Attributes:
        port: Where clients should connect.
        client_bytes: Everything the client sent.
        server_bytes: Everything the server sent.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.client_bytes = bytearray()
        self.server_bytes = bytearray()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-proxy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            self.closed.set()
            return
        server = socket.create_connection(("127.0.0.1", self._upstream_port))
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, (server, self.client_bytes))
        selector.register(server, selectors.EVENT_READ, (client, self.server_bytes))
        try:
            open_sides = 2
            while open_sides:
                for key, _ in selector.select(timeout=30):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    destination, record = key.data
                    data = source.recv(262144)
                    if not data:
                        selector.unregister(source)
                        open_sides -= 1
                        with contextlib.suppress(OSError):
                            destination.shutdown(socket.SHUT_WR)
                        continue
                    record += data
                    with contextlib.suppress(OSError):
                        destination.sendall(data)
        except OSError:
            pass
        finally:
            selector.close()
            client.close()
            server.close()
            self._listener.close()
            self.closed.set()

    def close(self) -> None:
        """Stop accepting (if nothing connected yet)."""
        self._listener.close()
