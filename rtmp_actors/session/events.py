"""What server and client sessions share: the event base class and the common events."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtmp_actors.errors import RemoteProtocolError

__all__ = [
    "ByteCountDirection",
    "Disconnected",
    "MediaType",
    "NewByteIOTotals",
    "SessionError",
    "SessionEvent",
]


class SessionError(RemoteProtocolError):
    """The peer broke the session protocol badly enough that the connection must end.

    A :class:`~rtmp_actors.errors.RemoteProtocolError`, so code that handles the peer's
    mistakes in one place (``except RemoteProtocolError``) handles this one too.
    """


class ByteCountDirection(enum.Enum):
    """Which byte total a session is told (``notify_byte_count``)."""

    BYTES_RECEIVED = "bytes_received"
    BYTES_SENT = "bytes_sent"


class MediaType(enum.Enum):
    """The kind of an audio/video message (the Elixir library's ``:audio | :video``)."""

    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Base class of every event a session raises to its event receiver."""


@dataclass(frozen=True, slots=True)
class NewByteIOTotals(SessionEvent):
    """The connection's byte totals changed (reported at most every so often, not per read)."""

    bytes_sent: int
    bytes_received: int


@dataclass(frozen=True, slots=True)
class Disconnected(SessionEvent):
    """The connection ended; the session raises nothing after this.

    Attributes:
        reason: Why, in words (for example the protocol error); None when the peer simply
            closed the connection.
    """

    reason: str | None = None
