"""A small HTTP-FLV client for tests: raw socket, its own chunked decoding, FLV tags out."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import BinaryIO

from rtmp_actors.media.flv import FlvReader, FlvTag

TIMEOUT = 20.0


class ChunkedBody:
    """Reads an HTTP/1.1 chunked body (or a plain one) from a socket file, strictly.

    Attributes:
        ended: Whether the terminating chunk (and the blank line after it) arrived.
        chunks: Sizes of the chunks read so far.
    """

    def __init__(self, file: BinaryIO | None, *, chunked: bool) -> None:
        self.file = self._file = file
        self._chunked = chunked
        self._left = 0
        self.ended = False
        self.chunks: list[int] = []

    def _readline(self) -> bytes:
        assert self._file is not None
        return self._file.readline(1024)

    def _exact(self, size: int) -> bytes:
        assert self._file is not None
        return self._file.read(size)

    def read(self, size: int) -> bytes:
        """Up to ``size`` body bytes; b"" at the end of the body."""
        if not self._chunked:
            return self._exact(size)
        if self._left == 0:
            if self.ended:
                return b""
            line = self._readline()
            if not line:
                return b""  # cut off: FlvReader reports it
            assert line.endswith(b"\r\n"), line
            self._left = int(line[:-2], 16)
            if self._left == 0:
                assert self._readline() == b"\r\n"
                self.ended = True
                return b""
            self.chunks.append(self._left)
        data = self._exact(min(size, self._left))
        self._left -= len(data)
        if self._left == 0:
            assert self._exact(2) == b"\r\n"
        return data


@dataclass
class HttpFlvResponse:
    """A response to an HTTP-FLV request: status, headers, and (for 200) the FLV tags."""

    sock: socket.socket
    status: int
    headers: dict[str, str]
    body: ChunkedBody
    reader: FlvReader | None = None
    seen: list[FlvTag] = field(default_factory=list)

    def tag(self) -> FlvTag | None:
        """The next tag; None at the end of the stream."""
        if self.reader is None:
            self.reader = FlvReader(self.body)
        tag = self.reader.read_tag()
        if tag is not None:
            self.seen.append(tag)
        return tag

    def text(self) -> str:
        """The whole (short) body of a refusal."""
        length = int(self.headers.get("content-length", "0"))
        return self.body.read(length).decode()

    def close(self) -> None:
        """Close the connection (the socket's file too: it keeps the socket open)."""
        file = self.body.file
        if file is not None:
            file.close()
        self.sock.close()


def request(
    port: int,
    target: str,
    *,
    method: str = "GET",
    version: str = "HTTP/1.1",
    receive_buffer: int | None = None,
    read_body: bool = True,
) -> HttpFlvResponse:
    """Send one request and read the status line and headers (not the body)."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"{method} {target} {version}\r\nHost: 127.0.0.1\r\n\r\n".encode("latin-1"))
    if not read_body:
        return HttpFlvResponse(sock, 0, {}, ChunkedBody(None, chunked=False))
    file = sock.makefile("rb")
    status_line = file.readline(1024).decode("latin-1")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := file.readline(8192)) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    chunked = headers.get("transfer-encoding") == "chunked"
    return HttpFlvResponse(sock, status, headers, ChunkedBody(file, chunked=chunked))
