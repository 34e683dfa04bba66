"""The envelope (:class:`DetailedMessage`) and the conversions between raw and typed messages.

:func:`decode_message` and :func:`encode_message` convert between raw and detailed messages;
:func:`decode_messages` also expands aggregates.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.messages._base import (
    MAX_TIMESTAMP,
    MessageContent,
    MessageType,
    RawMessage,
    slot_setters,
)
from rtmp_actors.protocol.messages.control import (
    Abort,
    Acknowledgement,
    SetChunkSize,
    SetPeerBandwidth,
    WindowAcknowledgementSize,
    _decode_user_control,
)
from rtmp_actors.protocol.messages.payloads import (
    AggregateMessage,
    AudioData,
    CommandMessage,
    DataMessage,
    SharedObjectMessage,
    UnknownMessage,
    VideoData,
)

__all__ = [
    "DetailedMessage",
    "decode_content",
    "decode_message",
    "decode_messages",
    "default_chunk_stream_id",
    "encode_message",
    "expand_aggregate",
]

_AGGREGATE_TAG_HEADER = struct.Struct(">B3s3sB3s")


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
        RemoteProtocolError: If the body is malformed for its type.
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
        RemoteProtocolError: If the payload is malformed for its type.
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
        RemoteProtocolError: If a sub-message header or body is cut short.
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
        RemoteProtocolError: If the payload (or any sub-message) is malformed.
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
