"""What every message shares: the type ids, the raw message and the typed payload base class.

:class:`RawMessage` is what the chunk stream carries; :class:`MessageContent` is the base of the
typed payloads in :mod:`~rtmp_actors.protocol.messages.control` and
:mod:`~rtmp_actors.protocol.messages.payloads`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_TIMESTAMP",
    "MEDIA_MESSAGE_TYPES",
    "MessageContent",
    "MessageType",
    "RawMessage",
    "slot_setters",
]

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
        """Return the message body bytes.

        Raises:
            LocalProtocolError: If a field does not fit its place on the wire.
        """
        raise NotImplementedError


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        msg = f"{what} payload is {len(payload)} bytes, needs at least {size}"
        raise RemoteProtocolError(msg)


def _pack(layout: struct.Struct, what: str, *values: object) -> bytes:
    # Encoding is our side of the wire: a field that does not fit is the caller's mistake.
    try:
        return layout.pack(*values)
    except struct.error as error:
        msg = f"{what} cannot carry {values}: {error}"
        raise LocalProtocolError(msg) from None
