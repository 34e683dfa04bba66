"""The SessionHandler behaviour: the RTMP logic of one connection."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

# Defined in the sans-I/O core, which must not import this package (it imports pykka).
from rtmp_actors.session.events import ByteCountDirection

if TYPE_CHECKING:
    from rtmp_actors.protocol.messages import DetailedMessage

__all__ = ["ByteCountDirection", "SessionHandler"]


class SessionHandler(abc.ABC):
    """Reacts to messages from the peer, answers them, and raises events to its receiver."""

    @abc.abstractmethod
    def handle_rtmp_input(self, message: DetailedMessage) -> None:
        """Take one message the peer sent."""

    @abc.abstractmethod
    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take the connection's byte *total* so far in one direction (not a delta)."""

    @abc.abstractmethod
    def handle_rtmp_inputs(
        self, messages: Sequence[DetailedMessage], byte_totals: tuple[int, int] | None = None
    ) -> None:
        """Take the messages of one or more reads, in order, and maybe new byte totals."""

    @abc.abstractmethod
    def notify_byte_totals(self, bytes_sent: int, bytes_received: int) -> None:
        """Take both byte totals at once."""

    @abc.abstractmethod
    def notify_disconnected(self, reason: str | None) -> None:
        """The connection is gone: raise the final events, then stop."""

    @abc.abstractmethod
    def set_protocol_handler(self, protocol_handler: Any) -> str:
        """Wire the protocol handler actor (a ref); ``"handler_already_set"`` the 2nd time."""

    @abc.abstractmethod
    def set_event_handler(self, receiver: Any) -> str:
        """Wire the event receiver actor (a ref); ``"handler_already_set"`` the 2nd time."""
