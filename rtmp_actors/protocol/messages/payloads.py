"""The messages that carry data rather than manage the connection.

Audio and video (types 8, 9), AMF data and commands (15, 17, 18, 20), shared objects (16, 19),
aggregates (22), and types this library does not know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol import amf
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.messages._base import MessageContent, MessageType, slot_setters

__all__ = [
    "AggregateMessage",
    "AudioData",
    "CommandMessage",
    "DataMessage",
    "SharedObjectMessage",
    "UnknownMessage",
    "VideoData",
]

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
