"""The ProtocolHandler behaviour: bytes in from the socket, messages out to the session."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtmp_actors.protocol.messages import DetailedMessage
    from rtmp_actors.session.playback import PlaybackChoice
    from rtmp_actors.session.server import PlayerNotice

__all__ = ["ProtocolHandler"]


class ProtocolHandler(abc.ABC):
    """Owns the wire state of one connection (handshake, chunk codec, acknowledgements).

    It turns bytes from the peer into messages for its session handler
    (:meth:`SessionHandler.handle_rtmp_input`) and the session's outbound messages into bytes
    for its socket handler (:meth:`SocketHandler.send_data`).
    """

    @abc.abstractmethod
    def notify_input(self, data: bytes) -> None:
        """Take bytes received from the peer, in order."""

    @abc.abstractmethod
    def send_message(self, message: DetailedMessage) -> None:
        """Encode and send one message to the peer."""

    @abc.abstractmethod
    def send_messages(self, messages: Sequence[DetailedMessage]) -> None:
        """Encode several messages, in order, and send them in one write (from the session)."""

    @abc.abstractmethod
    def set_session(self, session: Any) -> str:
        """Wire the session actor (a ref); ``"handler_already_set"`` the second time."""

    @abc.abstractmethod
    def close_connection(self, reason: str | None = None, *, abort: bool = False) -> None:
        """Flush and close the socket, or drop it at once when ``abort`` (from the session)."""

    @abc.abstractmethod
    def connection_lost(self, reason: str | None) -> None:
        """The socket is gone (from the socket side): tell the session, then stop."""

    @abc.abstractmethod
    def playback_changed(self, choice: PlaybackChoice) -> None:
        """A player's new choices for a stream whose media this handler writes."""

    @abc.abstractmethod
    def open_media_sink(
        self,
        stream_id: int,
        reply_to: Any,
        connection_id: str,
        notices: Mapping[PlayerNotice, Sequence[DetailedMessage]] | None = None,
    ) -> None:
        """Open a direct path for a playing stream; answer ``reply_to.media_sink_opened``."""
