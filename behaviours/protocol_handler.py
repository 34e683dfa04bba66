"""The ProtocolHandler behaviour: bytes in from the socket, messages out to the session."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtmp_actors.protocol.messages import DetailedMessage

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
