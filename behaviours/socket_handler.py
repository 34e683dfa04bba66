"""The SocketHandler behaviour: the transport under a protocol handler."""

from __future__ import annotations

import abc
import enum

__all__ = ["PacketType", "SocketHandler"]


class PacketType(enum.Enum):
    """What outbound bytes carry, so a congested transport knows what it may drop."""

    AUDIO = "audio"
    VIDEO = "video"
    MISC = "misc"


class SocketHandler(abc.ABC):
    """Sends bytes to the peer without ever blocking the caller."""

    @abc.abstractmethod
    def send_data(self, data: bytes, packet_type: PacketType = PacketType.MISC) -> None:
        """Queue ``data`` for the peer; returns at once."""

    @abc.abstractmethod
    def close(self, reason: str | None = None) -> None:
        """Flush what is queued (within a bounded time), then close the connection."""
