"""The behaviours (contracts), importable as ``rtmp_actors.behaviours`` too.

They live in the top-level ``behaviours`` package; this module re-exports them.
"""

from behaviours import (
    ByteCountDirection,
    DemandListener,
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
    SourceFrame,
    StreamSource,
    event_handler_name,
)

__all__ = [
    "ByteCountDirection",
    "DemandListener",
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
    "SourceFrame",
    "StreamSource",
    "event_handler_name",
]
