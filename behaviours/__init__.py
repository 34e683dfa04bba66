"""The contracts rtmp_actors actors implement, mirroring the Elixir ``rtmp`` library.

Each connection has a *protocol handler* (bytes <-> messages) and a *session handler* (RTMP
logic) that exchange messages, and the session raises events to a pluggable *event receiver*.
The *socket handler* is the transport underneath the protocol handler.

==================  =======================================  ===============================
Behaviour           Called by                                Elixir equivalent
==================  =======================================  ===============================
ProtocolHandler     the socket side (input), the session     Rtmp.Behaviours.ProtocolHandler
SessionHandler      the protocol handler                     Rtmp.Behaviours.SessionHandler
EventReceiver       the session handler                      Rtmp.Behaviours.EventReceiver
SocketHandler       the protocol handler                     Rtmp.Behaviours.SocketHandler
MediaReceiver       a publisher's session (routed media)     (none: skips a forwarding hop)
MediaWriter         a player's session (playback choices)    (none: the relay's fan-out)
PublisherSession    a relay stream (answers, routes media)   (none: relay only)
PlayerSession       a relay stream (answers, media sinks)    (none: relay only)
PublisherReceiver   a relay stream (binds the publisher)     (none: relay only)
PlayerReceiver      a relay stream (binds a player)          (none: relay only)
DemandListener      a relay stream (first/last player)       (none: relay only)
StreamSource        a generated stream's pump thread         (none: server-made streams)
PlayedStream        a player's event receiver (it left)      (none: relay only)
==================  =======================================  ===============================

Actors inherit these ABCs (``class X(pykka.ThreadingActor, SessionHandler)``), so a missing
method fails at ``start()``; peers reach each other only by ``tell`` through a typed
:class:`~rtmp_actors.actors.actor_handle.ActorHandle`
(``handle.tell(SessionHandler.notify_disconnected, reason)``, checked by mypy), never by
blocking on an answer. Each ABC declares exactly the methods other actors call.
"""

from behaviours.event_receiver import EventReceiver, event_handler_name
from behaviours.media_receiver import MediaReceiver
from behaviours.media_writer import MediaWriter
from behaviours.protocol_handler import ProtocolHandler
from behaviours.session_handler import ByteCountDirection, SessionHandler
from behaviours.socket_handler import PacketType, SocketHandler
from behaviours.stream_peers import (
    DemandListener,
    PlayedStream,
    PlayerReceiver,
    PlayerSession,
    PublisherReceiver,
    PublisherSession,
)
from behaviours.stream_source import SourceFrame, StreamSource

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
