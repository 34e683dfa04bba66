"""Protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4).

These manage the connection itself rather than carry data; the chunk codec and the connection
apply some of them (Set Chunk Size, Abort, Window Acknowledgement Size) directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError
from rtmp_actors.protocol.messages._base import (
    MAX_TIMESTAMP,
    MessageContent,
    MessageType,
    _need,
    _pack,
)

__all__ = [
    "Abort",
    "Acknowledgement",
    "BandwidthLimitType",
    "BufferEmpty",
    "BufferReady",
    "PingRequest",
    "PingResponse",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "StreamBegin",
    "StreamDry",
    "StreamEof",
    "StreamIsRecorded",
    "UnknownUserControl",
    "UserControl",
    "UserControlEventType",
    "WindowAcknowledgementSize",
]

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_U16_U32 = struct.Struct(">HI")
_U16_U32_U32 = struct.Struct(">HII")
_U32_U8 = struct.Struct(">IB")


class UserControlEventType(IntEnum):
    """User Control message event types."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7
    BUFFER_EMPTY = 31
    BUFFER_READY = 32


class BandwidthLimitType(IntEnum):
    """Set Peer Bandwidth limit types."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


# --- Protocol control messages (types 1, 2, 3, 5, 6) ---------------------------------------


@dataclass(frozen=True, slots=True)
class SetChunkSize(MessageContent):
    """Type 1: the sender's chunk size from now on (1 to 2^31-1)."""

    type_id: ClassVar[int] = MessageType.SET_CHUNK_SIZE
    size: int

    def encode_payload(self) -> bytes:
        """Return the body.

        Raises:
            LocalProtocolError: If the size is outside 1..2^31-1 (the top bit must be 0).
        """
        if not 1 <= self.size <= 0x7FFFFFFF:
            msg = f"Set Chunk Size of {self.size} is outside 1..2147483647"
            raise LocalProtocolError(msg)
        return _U32.pack(self.size)

    @classmethod
    def decode_payload(cls, payload: bytes) -> SetChunkSize:
        """Parse a type 1 body."""
        _need(payload, 4, "Set Chunk Size")
        (size,) = _U32.unpack_from(payload)
        if size & 0x80000000 or size == 0:
            msg = f"Set Chunk Size of {size} is outside 1..2147483647"
            raise RemoteProtocolError(msg)
        return cls(size)


@dataclass(frozen=True, slots=True)
class Abort(MessageContent):
    """Type 2: drop the partly received message on a chunk stream."""

    type_id: ClassVar[int] = MessageType.ABORT
    chunk_stream_id: int

    def encode_payload(self) -> bytes:
        return _pack(_U32, "Abort", self.chunk_stream_id)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Abort:
        """Parse a type 2 body."""
        _need(payload, 4, "Abort")
        return cls(_U32.unpack_from(payload)[0])


@dataclass(frozen=True, slots=True)
class Acknowledgement(MessageContent):
    """Type 3: the total number of bytes the sender has received so far (wraps at 2^32)."""

    type_id: ClassVar[int] = MessageType.ACKNOWLEDGEMENT
    sequence_number: int

    def encode_payload(self) -> bytes:
        return _pack(_U32, "Acknowledgement", self.sequence_number & MAX_TIMESTAMP)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Acknowledgement:
        """Parse a type 3 body."""
        _need(payload, 4, "Acknowledgement")
        return cls(_U32.unpack_from(payload)[0])


@dataclass(frozen=True, slots=True)
class WindowAcknowledgementSize(MessageContent):
    """Type 5: acknowledge every this many bytes received."""

    type_id: ClassVar[int] = MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE
    size: int

    def encode_payload(self) -> bytes:
        return _pack(_U32, "Window Acknowledgement Size", self.size)

    @classmethod
    def decode_payload(cls, payload: bytes) -> WindowAcknowledgementSize:
        """Parse a type 5 body."""
        _need(payload, 4, "Window Acknowledgement Size")
        return cls(_U32.unpack_from(payload)[0])


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth(MessageContent):
    """Type 6: limit the peer's output window."""

    type_id: ClassVar[int] = MessageType.SET_PEER_BANDWIDTH
    window_size: int
    limit_type: BandwidthLimitType = BandwidthLimitType.DYNAMIC

    def encode_payload(self) -> bytes:
        return _pack(_U32_U8, "Set Peer Bandwidth", self.window_size, self.limit_type)

    @classmethod
    def decode_payload(cls, payload: bytes) -> SetPeerBandwidth:
        """Parse a type 6 body."""
        _need(payload, 5, "Set Peer Bandwidth")
        window_size, limit_type = _U32_U8.unpack_from(payload)
        try:
            return cls(window_size, BandwidthLimitType(limit_type))
        except ValueError:
            msg = f"Set Peer Bandwidth has unknown limit type {limit_type}"
            raise RemoteProtocolError(msg) from None


# --- User Control messages (type 4) ---------------------------------------------------------


class UserControl(MessageContent):
    """Type 4: base class of User Control events."""

    __slots__ = ()

    type_id: ClassVar[int] = MessageType.USER_CONTROL
    event_type: ClassVar[int]


@dataclass(frozen=True, slots=True)
class _StreamEvent(UserControl):
    stream_id: int

    def encode_payload(self) -> bytes:
        return _pack(_U16_U32, type(self).__name__, self.event_type, self.stream_id)


@dataclass(frozen=True, slots=True)
class StreamBegin(_StreamEvent):
    """The stream became functional (server to client)."""

    event_type: ClassVar[int] = UserControlEventType.STREAM_BEGIN


@dataclass(frozen=True, slots=True)
class StreamEof(_StreamEvent):
    """Playback of the stream ended: no more data will follow."""

    event_type: ClassVar[int] = UserControlEventType.STREAM_EOF


@dataclass(frozen=True, slots=True)
class StreamDry(_StreamEvent):
    """The stream has no more data for now."""

    event_type: ClassVar[int] = UserControlEventType.STREAM_DRY


@dataclass(frozen=True, slots=True)
class StreamIsRecorded(_StreamEvent):
    """The stream is a recorded one."""

    event_type: ClassVar[int] = UserControlEventType.STREAM_IS_RECORDED


@dataclass(frozen=True, slots=True)
class BufferEmpty(_StreamEvent):
    """The server's buffer for the stream ran empty (Flash Media Server extension)."""

    event_type: ClassVar[int] = UserControlEventType.BUFFER_EMPTY


@dataclass(frozen=True, slots=True)
class BufferReady(_StreamEvent):
    """The server's buffer for the stream is full again (Flash Media Server extension)."""

    event_type: ClassVar[int] = UserControlEventType.BUFFER_READY


@dataclass(frozen=True, slots=True)
class SetBufferLength(UserControl):
    """The client's buffer length for a stream, in milliseconds (client to server)."""

    event_type: ClassVar[int] = UserControlEventType.SET_BUFFER_LENGTH
    stream_id: int
    buffer_length: int

    def encode_payload(self) -> bytes:
        return _pack(
            _U16_U32_U32, "SetBufferLength", self.event_type, self.stream_id, self.buffer_length
        )


@dataclass(frozen=True, slots=True)
class PingRequest(UserControl):
    """Server asks the client to echo ``timestamp`` in a :class:`PingResponse`."""

    event_type: ClassVar[int] = UserControlEventType.PING_REQUEST
    timestamp: int

    def encode_payload(self) -> bytes:
        return _pack(_U16_U32, type(self).__name__, self.event_type, self.timestamp & MAX_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class PingResponse(UserControl):
    """The answer to a :class:`PingRequest`, carrying its timestamp."""

    event_type: ClassVar[int] = UserControlEventType.PING_RESPONSE
    timestamp: int

    def encode_payload(self) -> bytes:
        return _pack(_U16_U32, type(self).__name__, self.event_type, self.timestamp & MAX_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class UnknownUserControl(UserControl):
    """A User Control event this library has no type for; its data is kept as is."""

    event_type: int  # type: ignore[misc]  # an instance field here, a ClassVar elsewhere
    data: bytes = b""

    def encode_payload(self) -> bytes:
        return _pack(_U16, "User Control event type", self.event_type) + self.data


_STREAM_EVENTS: dict[int, type[_StreamEvent]] = {
    cls.event_type: cls
    for cls in (StreamBegin, StreamEof, StreamDry, StreamIsRecorded, BufferEmpty, BufferReady)
}


def _decode_user_control(payload: bytes) -> UserControl:
    _need(payload, 2, "User Control")
    (event_type,) = _U16.unpack_from(payload)
    stream_event = _STREAM_EVENTS.get(event_type)
    if stream_event is not None:
        _need(payload, 6, f"User Control event {event_type}")
        return stream_event(_U32.unpack_from(payload, 2)[0])
    if event_type == UserControlEventType.SET_BUFFER_LENGTH:
        _need(payload, 10, "User Control SetBufferLength")
        _, stream_id, buffer_length = _U16_U32_U32.unpack_from(payload)
        return SetBufferLength(stream_id, buffer_length)
    if event_type == UserControlEventType.PING_REQUEST:
        _need(payload, 6, "User Control PingRequest")
        return PingRequest(_U32.unpack_from(payload, 2)[0])
    if event_type == UserControlEventType.PING_RESPONSE:
        _need(payload, 6, "User Control PingResponse")
        return PingResponse(_U32.unpack_from(payload, 2)[0])
    return UnknownUserControl(event_type, bytes(payload[2:]))
