"""Typed, immutable RTMP messages and their payload encodings.

Three layers of message exist:

* :class:`RawMessage` is what the chunk stream carries: a type id, a message stream id, a
  32-bit timestamp and an opaque payload.
* A *content* object (:class:`SetChunkSize`, :class:`VideoData`, :class:`CommandMessage`, ...)
  is the typed, decoded payload of one message type.
* :class:`DetailedMessage` pairs a content object with its timestamp and message stream id; it
  is what sessions send and receive (the Elixir library's ``DetailedMessage``).

:func:`decode_message` and :func:`encode_message` convert between raw and detailed messages.

The code is split by kind: :mod:`~rtmp_actors.protocol.messages._base` (type ids,
:class:`RawMessage`, :class:`MessageContent`), :mod:`~rtmp_actors.protocol.messages.control`
(protocol control and User Control), :mod:`~rtmp_actors.protocol.messages.payloads` (media, AMF
data and commands, the rest) and :mod:`~rtmp_actors.protocol.messages.envelope`
(:class:`DetailedMessage` and the conversions). Import from here.

Decoding raises :class:`~rtmp_actors.errors.RemoteProtocolError` for a malformed body;
encoding raises :class:`~rtmp_actors.errors.LocalProtocolError` for a field the wire cannot
carry.
"""

from rtmp_actors.protocol.messages._base import MAX_TIMESTAMP as MAX_TIMESTAMP
from rtmp_actors.protocol.messages._base import MEDIA_MESSAGE_TYPES as MEDIA_MESSAGE_TYPES
from rtmp_actors.protocol.messages._base import MessageContent, MessageType, RawMessage
from rtmp_actors.protocol.messages._base import slot_setters as slot_setters
from rtmp_actors.protocol.messages.control import (
    Abort,
    Acknowledgement,
    BandwidthLimitType,
    BufferEmpty,
    BufferReady,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownUserControl,
    UserControl,
    UserControlEventType,
    WindowAcknowledgementSize,
)
from rtmp_actors.protocol.messages.envelope import (
    DetailedMessage,
    decode_message,
    decode_messages,
    default_chunk_stream_id,
    encode_message,
    expand_aggregate,
)
from rtmp_actors.protocol.messages.envelope import decode_content as decode_content
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
