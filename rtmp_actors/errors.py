"""The exceptions rtmp_actors raises.

Two kinds of mistake, told apart as h11 does:

* :class:`RemoteProtocolError`: the peer (or a file) broke the protocol. Every decoder in the
  protocol core (handshake, chunk stream, messages, AMF, FLV and codec headers) raises only
  this on bad input, whatever the bytes are; a connection that meets one ends. Anything else
  escaping a decoder is a bug.
* :class:`LocalProtocolError`: the caller misused the API (answered a request that does not
  exist, sent media on a stream it does not publish, encoded a value RTMP cannot carry). The
  connection's state is unchanged; fix the calling code.

Both are :class:`ProtocolError` s, so code that catches that keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "LimitExceededError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RtmpError",
]


class RtmpError(Exception):
    """Base class of every exception rtmp_actors raises on purpose."""


class ProtocolError(RtmpError):
    """Something broke the RTMP protocol: the common base of the two kinds below.

    Attributes:
        messages_before_error: Whole messages the raising layer decoded from the same input
            before it met the bad bytes, so callers lose nothing that arrived intact (the
            chunk decoder gives raw messages, a connection decoded ones).
    """

    messages_before_error: Sequence[object] = ()


class RemoteProtocolError(ProtocolError):
    """The peer (or a file) sent bytes that break the protocol; the message says what."""


class LocalProtocolError(ProtocolError):
    """The caller used the API in a way the protocol or the session's state does not allow."""


class LimitExceededError(RemoteProtocolError):
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
