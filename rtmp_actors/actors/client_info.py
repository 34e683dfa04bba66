"""What a server connection is doing, for operators: :class:`SessionSummary`, :class:`ClientInfo`.

A :class:`~rtmp_actors.actors.server_session.ServerSessionActor` answers ``describe()`` with a
:class:`SessionSummary` (what the client asked for: app, streams); the server adds what only
the connection knows (address, bytes, age) to make a :class:`ClientInfo`
(:meth:`~rtmp_actors.server.RtmpServer.clients`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmp_actors.session.server_streams import StreamState

__all__ = ["ClientInfo", "SessionSummary", "StreamSummary"]


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One message stream that publishes or plays.

    Attributes:
        stream_id: The message stream id.
        role: ``"publisher"`` or ``"player"``.
        key: The stream key, without its query string (which often carries a token).
        active: Whether the request was accepted (False while it waits for an answer).
    """

    stream_id: int
    role: str
    key: str
    active: bool


_ROLES = {
    StreamState.PUBLISH_REQUESTED: ("publisher", False),
    StreamState.PUBLISHING: ("publisher", True),
    StreamState.PLAY_REQUESTED: ("player", False),
    StreamState.PLAYING: ("player", True),
}


def stream_summary(
    stream_id: int, state: StreamState, stream_key: str | None
) -> StreamSummary | None:
    """The summary of a stream in ``state``, or None for one that neither publishes nor plays."""
    role = _ROLES.get(state)
    if role is None or stream_key is None:
        return None
    return StreamSummary(stream_id, role[0], stream_key.partition("?")[0], role[1])


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a client asked of its session.

    Attributes:
        app: The application it connected to (None before ``connect``).
        tc_url: Its ``tcUrl``, without the query string.
        flash_ver: Its ``flashVer``.
        caps_ex: Its Enhanced RTMP ``capsEx`` bits (None when it sent none).
        streams: Its publishing and playing streams.
    """

    app: str | None
    tc_url: str | None
    flash_ver: str | None
    caps_ex: int | None
    streams: tuple[StreamSummary, ...]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One open connection of a server.

    Attributes:
        connection_id: The connection's id (as in the logs).
        address: The peer's (host, port), when known.
        since: When the connection was accepted (Unix time).
        bytes_in: Bytes received from the peer so far.
        bytes_out: Bytes sent to the peer so far.
        session: What the client asked for (None if its session did not answer in time).
    """

    connection_id: str
    address: tuple[str, int] | None
    since: float
    bytes_in: int
    bytes_out: int
    session: SessionSummary | None

    @property
    def roles(self) -> tuple[str, ...]:
        """``"publisher"`` and/or ``"player"``, by its streams (empty while it only connected)."""
        if self.session is None:
            return ()
        found = {stream.role for stream in self.session.streams}
        return tuple(role for role in ("publisher", "player") if role in found)
