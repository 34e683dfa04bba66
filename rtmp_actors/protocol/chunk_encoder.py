"""Chunk stream encoder: :class:`RawMessage` objects in, bytes out.

Headers are compressed against the previous message on the same chunk stream, the way the
spec intends and FFmpeg does: format 0 for a new chunk stream, another message stream or a
timestamp that goes backwards; format 1 when the type or length changed; format 2 when only
the timestamp delta changed; format 3 when nothing did. Continuation chunks are format 3 and
repeat the extended timestamp whenever the message header carried one.
"""

from __future__ import annotations

import struct

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError
from rtmp_actors.protocol.chunk_decoder import DEFAULT_CHUNK_SIZE
from rtmp_actors.protocol.messages import MessageType, RawMessage, SetChunkSize

__all__ = ["ChunkEncoder", "basic_header"]

_EXTENDED = 0xFFFFFF
_WRAP = 0xFFFFFFFF
_BACKWARDS = 0x80000000  # a modular delta this large means the timestamp went back
_MAX_LENGTH = 0xFFFFFF
_MIN_CSID = 2
_MAX_CSID = 65599

_U32 = struct.Struct(">I")
_STREAM_ID = struct.Struct("<I")


def basic_header(fmt: int, chunk_stream_id: int) -> bytes:
    """Encode a chunk basic header (1, 2 or 3 bytes).

    Args:
        fmt: The message header format, 0 to 3.
        chunk_stream_id: 2 to 65599.
    """
    if chunk_stream_id < 64:
        return bytes((fmt << 6 | chunk_stream_id,))
    offset = chunk_stream_id - 64
    if offset < 256:
        return bytes((fmt << 6, offset))
    return bytes((fmt << 6 | 1, offset & 0xFF, offset >> 8))


class _OutboundChunkStream:
    __slots__ = ("delta", "length", "stream_id", "timestamp", "type_id")

    def __init__(self, message: RawMessage) -> None:
        self.stream_id = message.stream_id
        self.type_id = message.type_id
        self.length = len(message.payload)
        self.timestamp = message.timestamp
        self.delta = message.timestamp


class ChunkEncoder:
    """Splits messages into chunks for one direction of one connection.

    Args:
        chunk_size: The chunk size to start with, 1 to 2^31-1.

    Raises:
        LocalProtocolError: If ``chunk_size`` is out of that range.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 1 <= chunk_size <= 0x7FFFFFFF:
            msg = f"chunk size {chunk_size} is outside 1..2147483647"
            raise LocalProtocolError(msg)
        self._chunk_size = chunk_size
        self._streams: dict[int, _OutboundChunkStream] = {}

    @property
    def chunk_size(self) -> int:
        """The chunk size used for the next message."""
        return self._chunk_size

    def encode(self, message: RawMessage, *, force_full_header: bool = False) -> bytes:
        """Encode one message on its ``chunk_stream_id``.

        Encoding a Set Chunk Size message switches this encoder to the new size for every
        message after it, exactly as the peer's decoder will.

        Args:
            message: The message; its ``chunk_stream_id`` must be 2 to 65599.
            force_full_header: Send a format 0 header whatever the previous message was.

        Raises:
            LocalProtocolError: If a field does not fit the wire format, or a Set Chunk Size
                message carries a size outside 1..2^31-1. Nothing is encoded and the
                encoder's state is unchanged.
        """
        csid = message.chunk_stream_id
        payload = message.payload
        length = len(payload)
        timestamp = message.timestamp
        if not _MIN_CSID <= csid <= _MAX_CSID:
            msg = f"chunk stream id {csid} is outside {_MIN_CSID}..{_MAX_CSID}"
            raise LocalProtocolError(msg)
        if length > _MAX_LENGTH:
            msg = f"a {length}-byte message does not fit the 24-bit length field"
            raise LocalProtocolError(msg)
        if not 0 <= timestamp <= _WRAP:
            msg = f"timestamp {timestamp} is outside the 32-bit range"
            raise LocalProtocolError(msg)
        if not 0 <= message.type_id <= 0xFF or not 0 <= message.stream_id <= _WRAP:
            msg = f"type id {message.type_id} or stream id {message.stream_id} out of range"
            raise LocalProtocolError(msg)
        new_chunk_size = None
        if message.type_id == MessageType.SET_CHUNK_SIZE:
            # Read before any state changes: the bytes are ours, so a bad size is our mistake.
            try:
                new_chunk_size = SetChunkSize.decode_payload(payload).size
            except RemoteProtocolError as error:
                raise LocalProtocolError(str(error)) from None

        previous = self._streams.get(csid)
        delta = 0 if previous is None else (timestamp - previous.timestamp) & _WRAP
        if (
            previous is None
            or force_full_header
            or previous.stream_id != message.stream_id
            or delta >= _BACKWARDS
        ):
            fmt = 0
            field = timestamp
            self._streams[csid] = _OutboundChunkStream(message)
        else:
            field = delta
            if previous.type_id != message.type_id or previous.length != length:
                fmt = 1
            elif previous.delta != delta:
                fmt = 2
            else:
                fmt = 3
            previous.type_id = message.type_id
            previous.length = length
            previous.timestamp = timestamp
            previous.delta = delta

        extended = field >= _EXTENDED
        header_field = (_EXTENDED if extended else field).to_bytes(3)
        header = basic_header(fmt, csid)
        if fmt == 0:
            header += (
                header_field
                + length.to_bytes(3)
                + bytes((message.type_id,))
                + _STREAM_ID.pack(message.stream_id)
            )
        elif fmt == 1:
            header += header_field + length.to_bytes(3) + bytes((message.type_id,))
        elif fmt == 2:
            header += header_field
        extended_bytes = _U32.pack(field) if extended else b""
        header += extended_bytes

        chunk_size = self._chunk_size
        if length <= chunk_size:
            encoded = header + payload
        else:
            continuation = basic_header(3, csid) + extended_bytes
            view = memoryview(payload)
            # Joining with the continuation header as separator writes each chunk exactly once.
            chunks: list[bytes | memoryview] = [
                view[offset : offset + chunk_size] for offset in range(0, length, chunk_size)
            ]
            chunks[0] = header + chunks[0]
            encoded = continuation.join(chunks)

        if new_chunk_size is not None:
            self._chunk_size = new_chunk_size
        return encoded
