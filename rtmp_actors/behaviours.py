"""The behaviours (contracts), importable as ``rtmp_actors.behaviours`` too.

They live in the top-level ``behaviours`` package; this module re-exports them.
"""

from behaviours import (
    ByteCountDirection,
    EventReceiver,
    MediaReceiver,
    MediaWriter,
    PacketType,
    PlayedStream,
    PlayerReceiver,
    PlayerSession,
    ProtocolHandler,
    PublisherReceiver,
    PublisherSession,
    SessionHandler,
    SocketHandler,
    event_handler_name,
)

__all__ = [
    "ByteCountDirection",
    "EventReceiver",
    "MediaReceiver",
    "MediaWriter",
    "PacketType",
    "PlayedStream",
    "PlayerReceiver",
    "PlayerSession",
    "ProtocolHandler",
    "PublisherReceiver",
    "PublisherSession",
    "SessionHandler",
    "SocketHandler",
    "event_handler_name",
]
