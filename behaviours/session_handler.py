"""The SessionHandler behaviour: the RTMP logic of one connection."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

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
