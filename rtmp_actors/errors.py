"""The exceptions rtmp_actors raises.

Every decoder in the protocol core (handshake, chunk stream, messages, AMF, FLV and codec
headers) raises only :class:`ProtocolError` on bad input, whatever the bytes are. Anything else
escaping a decoder is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["LimitExceededError", "ProtocolError", "RtmpError"]


class RtmpError(Exception):
    """Base class of every exception rtmp_actors raises on purpose."""


class ProtocolError(RtmpError):
    """The peer (or a file) sent bytes that break the protocol; the message says what.

    Attributes:
        messages_before_error: Whole messages the raising layer decoded from the same input
            before it met the bad bytes, so callers lose nothing that arrived intact (the
            chunk decoder gives raw messages, a connection decoded ones).
    """

    messages_before_error: Sequence[object] = ()


class LimitExceededError(ProtocolError):
    """The peer asked for more than a configured limit allows (see :class:`~rtmp_actors.Limits`).

    Attributes:
        limit: The name of the limit that was exceeded (a :class:`~rtmp_actors.Limits` field,
            or a reader option such as ``max_tag_size``).
        value: The value the peer asked for.
        maximum: The configured maximum.
    """

    def __init__(self, limit: str, value: int, maximum: int, what: str) -> None:
        super().__init__(f"{what}: {value} exceeds the limit {limit}={maximum}")
        self.limit = limit
        self.value = value
        self.maximum = maximum
