"""Typed, immutable RTMP messages and their payload encodings.

Three layers of message exist:

* :class:`RawMessage` is what the chunk stream carries: a type id, a message stream id, a
  32-bit timestamp and an opaque payload.
* A *content* object (:class:`SetChunkSize`, :class:`VideoData`, :class:`CommandMessage`, ...)
  is the typed, decoded payload of one message type.
* :class:`DetailedMessage` pairs a content object with its timestamp and message stream id; it
  is what sessions send and receive (the Elixir library's ``DetailedMessage``).

:func:`decode_message` and :func:`encode_message` convert between raw and detailed messages.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol import amf
from rtmp_actors.protocol.amf import AmfValue

__all__ = [
    "Abort",
    "Acknowledgement",
    "AggregateMessage",
    "AudioData",
    "BandwidthLimitType",
    "BufferEmpty",
    "BufferReady",
    "CommandMessage",
    "DataMessage",
    "DetailedMessage",
    "MessageContent",
    "MessageType",
    "PingRequest",
    "PingResponse",
    "RawMessage",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "SharedObjectMessage",
    "StreamBegin",
    "StreamDry",
    "StreamEof",
    "StreamIsRecorded",
    "UnknownMessage",
    "UnknownUserControl",
    "UserControl",
    "UserControlEventType",
    "VideoData",
    "WindowAcknowledgementSize",
    "decode_message",
    "decode_messages",
    "default_chunk_stream_id",
    "encode_message",
    "expand_aggregate",
]

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_U16_U32 = struct.Struct(">HI")
_U16_U32_U32 = struct.Struct(">HII")
_U32_U8 = struct.Struct(">IB")
_AGGREGATE_TAG_HEADER = struct.Struct(">B3s3sB3s")

MAX_TIMESTAMP = 0xFFFFFFFF


def slot_setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    """The functions that set the named slots of ``cls``'s instances, bypassing ``__setattr__``.

    A frozen dataclass's generated ``__init__`` sets every field through
    ``object.__setattr__``, which makes building one about twice as slow as setting its slots
    directly. The classes built once per media message (here and in the session events) define
    their ``__init__`` with these instead; the instances are just as frozen afterwards.
    """
    return tuple(cls.__dict__[name].__set__ for name in names)


class MessageType(IntEnum):
    """RTMP message type ids."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACKNOWLEDGEMENT_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


MEDIA_MESSAGE_TYPES = frozenset({MessageType.AUDIO, MessageType.VIDEO, MessageType.AGGREGATE})
"""Types whose size is bounded by ``Limits.max_media_message_size``."""


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


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One whole message as the chunk stream carries it.

    Attributes:
        type_id: The message type id (see :class:`MessageType`); unknown ids are kept as is.
        stream_id: The message stream id (0 for the NetConnection).
        timestamp: The 32-bit timestamp in milliseconds (wraps at 2^32).
        payload: The message body.
        chunk_stream_id: The chunk stream it arrived on (0 when not known or not chosen yet).
    """

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes
    chunk_stream_id: int = 0

    def __init__(
        self, type_id: int, stream_id: int, timestamp: int, payload: bytes, chunk_stream_id: int = 0
    ) -> None:
        _set_raw_type_id(self, type_id)
        _set_raw_stream_id(self, stream_id)
        _set_raw_timestamp(self, timestamp)
        _set_raw_payload(self, payload)
        _set_raw_chunk_stream_id(self, chunk_stream_id)


(
    _set_raw_type_id,
    _set_raw_stream_id,
    _set_raw_timestamp,
    _set_raw_payload,
    _set_raw_chunk_stream_id,
) = slot_setters(RawMessage, "type_id", "stream_id", "timestamp", "payload", "chunk_stream_id")


class MessageContent:
    """Base class of the typed message payloads."""

    __slots__ = ()

    type_id: ClassVar[int]

    def encode_payload(self) -> bytes:
        """Return the message body bytes."""
        raise NotImplementedError


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        msg = f"{what} payload is {len(payload)} bytes, needs at least {size}"
        raise RemoteProtocolError(msg)


# --- Protocol control messages (types 1, 2, 3, 5, 6) ---------------------------------------


@dataclass(frozen=True, slots=True)
class SetChunkSize(MessageContent):
    """Type 1: the sender's chunk size from now on (1 to 2^31-1)."""

    type_id: ClassVar[int] = MessageType.SET_CHUNK_SIZE
    size: int

    def encode_payload(self) -> bytes:
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
        return _U32.pack(self.chunk_stream_id)

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
        return _U32.pack(self.sequence_number & MAX_TIMESTAMP)

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
        return _U32.pack(self.size)

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
        return _U32_U8.pack(self.window_size, self.limit_type)

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
        return _U16_U32.pack(self.event_type, self.stream_id)


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
        return _U16_U32_U32.pack(self.event_type, self.stream_id, self.buffer_length)


@dataclass(frozen=True, slots=True)
class PingRequest(UserControl):
    """Server asks the client to echo ``timestamp`` in a :class:`PingResponse`."""

    event_type: ClassVar[int] = UserControlEventType.PING_REQUEST
    timestamp: int

    def encode_payload(self) -> bytes:
        return _U16_U32.pack(self.event_type, self.timestamp & MAX_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class PingResponse(UserControl):
    """The answer to a :class:`PingRequest`, carrying its timestamp."""

    event_type: ClassVar[int] = UserControlEventType.PING_RESPONSE
    timestamp: int

    def encode_payload(self) -> bytes:
        return _U16_U32.pack(self.event_type, self.timestamp & MAX_TIMESTAMP)


@dataclass(frozen=True, slots=True)
class UnknownUserControl(UserControl):
    """A User Control event this library has no type for; its data is kept as is."""

    event_type: int  # type: ignore[misc]  # an instance field here, a ClassVar elsewhere
    data: bytes = b""

    def encode_payload(self) -> bytes:
        return _U16.pack(self.event_type) + self.data


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


# --- Audio and video (types 8, 9) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioData(MessageContent):
    """Type 8: one FLV audio tag body (tag header byte(s) first)."""

    type_id: ClassVar[int] = MessageType.AUDIO
    data: bytes

    def __init__(self, data: bytes) -> None:
        _set_audio_data(self, data)

    def encode_payload(self) -> bytes:
        return self.data


(_set_audio_data,) = slot_setters(AudioData, "data")


@dataclass(frozen=True, slots=True)
class VideoData(MessageContent):
    """Type 9: one FLV video tag body (tag header byte(s) first)."""

    type_id: ClassVar[int] = MessageType.VIDEO
    data: bytes

    def __init__(self, data: bytes) -> None:
        _set_video_data(self, data)

    def encode_payload(self) -> bytes:
        return self.data


(_set_video_data,) = slot_setters(VideoData, "data")


# --- AMF data and commands (types 15, 17, 18, 20) ---------------------------------------------


def _strip_amf3_format_byte(payload: bytes) -> bytes:
    # Types 15 and 17 start with a format selector byte that must be 0 (AMF0 values follow,
    # each of which may switch to AMF3). Some senders omit it on type 15; AMF0 data never
    # starts with a number, so a leading 0 can only be the selector.
    return payload[1:] if payload[:1] == b"\x00" else payload


@dataclass(frozen=True, slots=True)
class DataMessage(MessageContent):
    """Types 18 (AMF0) and 15 (AMF3): a list of values, such as ``@setDataFrame`` metadata.

    Attributes:
        values: The decoded values; the first is usually the handler name (``onMetaData``).
        amf3: Whether the message travels as type 15.
    """

    values: tuple[AmfValue, ...]
    amf3: bool = False

    @property
    def type_id(self) -> int:  # type: ignore[override]
        """15 for AMF3, 18 for AMF0."""
        return MessageType.DATA_AMF3 if self.amf3 else MessageType.DATA_AMF0

    @property
    def name(self) -> str | None:
        """The first value when it is a string (the data handler name), else None."""
        first = self.values[0] if self.values else None
        return first if isinstance(first, str) else None

    def encode_payload(self) -> bytes:
        body = amf.encode_values(self.values, amf3=self.amf3)
        return b"\x00" + body if self.amf3 else body

    @classmethod
    def decode_payload(
        cls, payload: bytes, *, amf3: bool = False, limits: Limits = DEFAULT_LIMITS
    ) -> DataMessage:
        """Parse a type 18 body, or a type 15 body when ``amf3``."""
        body = _strip_amf3_format_byte(payload) if amf3 else payload
        return cls(tuple(amf.decode_values(body, limits)), amf3)


@dataclass(frozen=True, slots=True)
class CommandMessage(MessageContent):
    """Types 20 (AMF0) and 17 (AMF3): a remote procedure call or its answer.

    Attributes:
        name: The command name (``connect``, ``_result``, ``onStatus``, ...).
        transaction_id: A number; 0 when no answer is expected.
        command_object: The command object (often None).
        arguments: The values after the command object.
        amf3: Whether the message travels as type 17.
    """

    name: str
    transaction_id: float = 0
    command_object: AmfValue = None
    arguments: tuple[AmfValue, ...] = ()
    amf3: bool = False

    @property
    def type_id(self) -> int:  # type: ignore[override]
        """17 for AMF3, 20 for AMF0."""
        return MessageType.COMMAND_AMF3 if self.amf3 else MessageType.COMMAND_AMF0

    def encode_payload(self) -> bytes:
        head = amf.encode_values((self.name, self.transaction_id))
        rest = amf.encode_values((self.command_object, *self.arguments), amf3=self.amf3)
        return b"\x00" + head + rest if self.amf3 else head + rest

    @classmethod
    def decode_payload(
        cls, payload: bytes, *, amf3: bool = False, limits: Limits = DEFAULT_LIMITS
    ) -> CommandMessage:
        """Parse a type 20 body, or a type 17 body when ``amf3``."""
        if amf3:
            if payload[:1] != b"\x00":
                msg = f"AMF3 command message starts with format byte {payload[:1].hex()}, not 00"
                raise RemoteProtocolError(msg)
            payload = payload[1:]
        values = amf.decode_values(payload, limits)
        if not values or not isinstance(values[0], str):
            msg = "command message does not start with a command name string"
            raise RemoteProtocolError(msg)
        name = values[0]
        name_length = len(name.encode())
        if name_length > limits.max_name_length:
            raise LimitExceededError(
                "max_name_length", name_length, limits.max_name_length, "command name"
            )
        transaction_id = values[1] if len(values) > 1 else 0
        if (
            isinstance(transaction_id, bool)
            or not isinstance(transaction_id, int | float)
            or not math.isfinite(transaction_id)
        ):
            msg = f"command {name!r} has a transaction id {transaction_id!r} that is not a number"
            raise RemoteProtocolError(msg)
        command_object = values[2] if len(values) > 2 else None
        return cls(name, transaction_id, command_object, tuple(values[3:]), amf3)


# --- Shared objects, aggregates, unknown types ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedObjectMessage(MessageContent):
    """Types 19 (AMF0) and 16 (AMF3): a shared object message, kept as raw bytes."""

    payload: bytes
    amf3: bool = False

    @property
    def type_id(self) -> int:  # type: ignore[override]
        """16 for AMF3, 19 for AMF0."""
        return MessageType.SHARED_OBJECT_AMF3 if self.amf3 else MessageType.SHARED_OBJECT_AMF0

    def encode_payload(self) -> bytes:
        return self.payload


@dataclass(frozen=True, slots=True)
class AggregateMessage(MessageContent):
    """Type 22: several FLV-tag-shaped sub-messages in one body (see :func:`expand_aggregate`)."""

    type_id: ClassVar[int] = MessageType.AGGREGATE
    payload: bytes

    def encode_payload(self) -> bytes:
        return self.payload


@dataclass(frozen=True, slots=True)
class UnknownMessage(MessageContent):
    """A message of a type this library does not know; passed through untouched."""

    type_id: int  # type: ignore[misc]  # an instance field here, a ClassVar elsewhere
    payload: bytes

    def encode_payload(self) -> bytes:
        return self.payload


# --- The envelope and conversions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetailedMessage:
    """A typed message with its timestamp and message stream id.

    Attributes:
        timestamp: 32-bit timestamp in milliseconds.
        stream_id: The message stream id (0 for the NetConnection).
        content: The typed payload.
        force_uncompressed: Send with a full (format 0) chunk header.
    """

    timestamp: int
    stream_id: int
    content: MessageContent
    force_uncompressed: bool = field(default=False, compare=False)

    def __init__(
        self,
        timestamp: int,
        stream_id: int,
        content: MessageContent,
        force_uncompressed: bool = False,
    ) -> None:
        _set_detailed_timestamp(self, timestamp)
        _set_detailed_stream_id(self, stream_id)
        _set_detailed_content(self, content)
        _set_detailed_force_uncompressed(self, force_uncompressed)


(
    _set_detailed_timestamp,
    _set_detailed_stream_id,
    _set_detailed_content,
    _set_detailed_force_uncompressed,
) = slot_setters(DetailedMessage, "timestamp", "stream_id", "content", "force_uncompressed")


def default_chunk_stream_id(content: MessageContent) -> int:
    """Choose the chunk stream a message is sent on.

    Control messages share chunk stream 2 (the protocol requires it); commands, data, audio and
    video each get their own so their headers compress well.
    """
    type_id = content.type_id
    if type_id <= MessageType.SET_PEER_BANDWIDTH:
        return 2
    if type_id == MessageType.AUDIO:
        return 4
    if type_id == MessageType.VIDEO:
        return 6
    if type_id in (MessageType.DATA_AMF0, MessageType.DATA_AMF3):
        return 5
    if type_id in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
        return 3
    return 7


def encode_message(message: DetailedMessage, chunk_stream_id: int | None = None) -> RawMessage:
    """Encode a detailed message's payload, choosing a chunk stream unless one is given."""
    content = message.content
    return RawMessage(
        int(content.type_id),
        message.stream_id,
        message.timestamp,
        content.encode_payload(),
        chunk_stream_id if chunk_stream_id is not None else default_chunk_stream_id(content),
    )


_FIXED_DECODERS = {
    MessageType.SET_CHUNK_SIZE: SetChunkSize.decode_payload,
    MessageType.ABORT: Abort.decode_payload,
    MessageType.ACKNOWLEDGEMENT: Acknowledgement.decode_payload,
    MessageType.USER_CONTROL: _decode_user_control,
    MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE: WindowAcknowledgementSize.decode_payload,
    MessageType.SET_PEER_BANDWIDTH: SetPeerBandwidth.decode_payload,
    MessageType.AGGREGATE: AggregateMessage,
}


def decode_content(type_id: int, payload: bytes, limits: Limits = DEFAULT_LIMITS) -> MessageContent:
    """Decode one message body of the given type.

    Raises:
        ProtocolError: If the body is malformed for its type.
    """
    if type_id == MessageType.VIDEO:
        return VideoData(payload)
    if type_id == MessageType.AUDIO:
        return AudioData(payload)
    fixed = _FIXED_DECODERS.get(type_id)  # type: ignore[call-overload]
    if fixed is not None:
        return fixed(payload)  # type: ignore[no-any-return]
    if type_id == MessageType.COMMAND_AMF0:
        return CommandMessage.decode_payload(payload, limits=limits)
    if type_id == MessageType.COMMAND_AMF3:
        return CommandMessage.decode_payload(payload, amf3=True, limits=limits)
    if type_id == MessageType.DATA_AMF0:
        return DataMessage.decode_payload(payload, limits=limits)
    if type_id == MessageType.DATA_AMF3:
        return DataMessage.decode_payload(payload, amf3=True, limits=limits)
    if type_id == MessageType.SHARED_OBJECT_AMF0:
        return SharedObjectMessage(payload)
    if type_id == MessageType.SHARED_OBJECT_AMF3:
        return SharedObjectMessage(payload, amf3=True)
    return UnknownMessage(type_id, payload)


def decode_message(raw: RawMessage, limits: Limits = DEFAULT_LIMITS) -> DetailedMessage:
    """Decode a raw message into a detailed one; aggregates stay whole (see decode_messages).

    Raises:
        ProtocolError: If the payload is malformed for its type.
    """
    return DetailedMessage(
        raw.timestamp, raw.stream_id, decode_content(raw.type_id, raw.payload, limits)
    )


def expand_aggregate(raw: RawMessage) -> Iterator[RawMessage]:
    """Split an aggregate message into its sub-messages.

    Each sub-message is an FLV tag (11-byte header, body, 4-byte back pointer). Timestamps are
    rebased so the first sub-message carries the aggregate's own timestamp and the others keep
    their distance from it; all take the aggregate's message stream id.

    Raises:
        ProtocolError: If a sub-message header or body is cut short.
    """
    payload = memoryview(raw.payload)
    offset = 0
    end = len(payload)
    first_timestamp: int | None = None
    while offset < end:
        if end - offset < 11:
            msg = f"aggregate message has a truncated sub-message header at byte {offset}"
            raise RemoteProtocolError(msg)
        type_id, size_bytes, ts_bytes, ts_high, _ = _AGGREGATE_TAG_HEADER.unpack_from(
            payload, offset
        )
        size = int.from_bytes(size_bytes)
        timestamp = int.from_bytes(ts_bytes) | (ts_high << 24)
        body_start = offset + 11
        body_end = body_start + size
        if body_end + 4 > end:
            msg = f"aggregate sub-message at byte {offset} claims {size} bytes beyond the end"
            raise RemoteProtocolError(msg)
        if first_timestamp is None:
            first_timestamp = timestamp
        rebased = (raw.timestamp + timestamp - first_timestamp) & MAX_TIMESTAMP
        yield RawMessage(
            type_id,
            raw.stream_id,
            rebased,
            bytes(payload[body_start:body_end]),
            raw.chunk_stream_id,
        )
        offset = body_end + 4


def decode_messages(raw: RawMessage, limits: Limits = DEFAULT_LIMITS) -> list[DetailedMessage]:
    """Decode a raw message, expanding an aggregate into its decoded sub-messages.

    Raises:
        ProtocolError: If the payload (or any sub-message) is malformed.
    """
    if raw.type_id != MessageType.AGGREGATE:
        return [decode_message(raw, limits)]
    result = []
    for sub in expand_aggregate(raw):
        if sub.type_id == MessageType.AGGREGATE:
            msg = "aggregate message nests another aggregate"
            raise RemoteProtocolError(msg)
        result.append(decode_message(sub, limits))
    return result
