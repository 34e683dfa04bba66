"""What a relay stream calls on the connections that publish and play it.

A :class:`~rtmp_actors.relay.stream.LiveStream` answers a connection's publish or play request
and later closes it; it reaches the connection's session (or a pull link standing in for one)
and its event receiver only through these methods.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from behaviours.media_receiver import MediaReceiver
    from behaviours.media_writer import MediaWriter
    from rtmp_actors.actors.actor_handle import ActorHandle

__all__ = [
    "DemandListener",
    "PlayedStream",
    "PlayerReceiver",
    "PlayerSession",
    "PublisherReceiver",
    "PublisherSession",
]


class _AnsweredSession(abc.ABC):
    @abc.abstractmethod
    def accept_request(self, request_id: int) -> None:
        """Accept the publish or play request ``request_id``."""

    @abc.abstractmethod
    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """Refuse the request with ``reason`` (and a status code other than the default)."""

    @abc.abstractmethod
    def close(self, reason: str | None = None) -> None:
        """End the connection politely."""


class PublisherSession(_AnsweredSession):
    """The session of a connection that publishes into a stream."""

    @abc.abstractmethod
    def route_media(self, stream_id: int, receiver: ActorHandle[MediaReceiver]) -> None:
        """Send stream ``stream_id``'s media to ``receiver`` (before the publish is accepted)."""


class PlayerSession(_AnsweredSession):
    """The session of a connection that plays a stream."""

    @abc.abstractmethod
    def open_media_sink(
        self, stream_id: int, reply_to: ActorHandle[MediaWriter], *, answers_seeks: bool = False
    ) -> None:
        """Open a direct path for ``stream_id``; ``reply_to.media_sink_opened`` answers.

        With ``answers_seeks``, ``reply_to`` is also told the player's seeks and answers them.
        """


class PublisherReceiver(abc.ABC):
    """The event receiver of a publishing connection, told which stream it publishes to."""

    @abc.abstractmethod
    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """Stream ``stream_id`` of this connection publishes into ``stream``."""


class PlayerReceiver(abc.ABC):
    """The event receiver of a playing connection, told which stream it plays."""

    @abc.abstractmethod
    def bind_player(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """Stream ``stream_id`` of this connection plays ``stream``."""


class DemandListener(abc.ABC):
    """A publisher that produces only while somebody plays (a generated stream on demand)."""

    @abc.abstractmethod
    def demand_changed(self, wanted: bool) -> None:
        """The stream has players now (``wanted``) or has none left."""


class PlayedStream(abc.ABC):
    """What a connection plays from: a live stream, or a file player; told when it leaves."""

    @abc.abstractmethod
    def player_left(self, connection_id: str, stream_id: int) -> None:
        """Stream ``stream_id`` of connection ``connection_id`` stopped playing (or is gone)."""
