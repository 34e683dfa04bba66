"""Typed proxies for the actors, so type checkers know what a proxy call returns.

pykka proxies are dynamic; these classes only describe them. Cast a proxy to use one::

    session = typing.cast(ServerSessionProxy, info.session)
    session.accept_request(request_id)  # -> pykka.Future[None]
"""

from __future__ import annotations

import pykka
from pykka.typing import ActorMemberMixin, proxy_method

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.protocol_handler import ProtocolHandlerActor
from rtmp_actors.actors.server_session import ServerSessionActor

__all__ = [
    "ClientSessionProxy",
    "EventReceiverProxy",
    "ProtocolHandlerProxy",
    "ServerSessionProxy",
]


class ProtocolHandlerProxy(ActorMemberMixin, pykka.ActorProxy[ProtocolHandlerActor]):
    """A proxy to a :class:`ProtocolHandlerActor`."""

    notify_input = proxy_method(ProtocolHandlerActor.notify_input)
    send_message = proxy_method(ProtocolHandlerActor.send_message)
    send_messages = proxy_method(ProtocolHandlerActor.send_messages)
    close_connection = proxy_method(ProtocolHandlerActor.close_connection)
    set_session = proxy_method(ProtocolHandlerActor.set_session)


class _SessionMembers(ActorMemberMixin):
    handle_rtmp_input = proxy_method(ServerSessionActor.handle_rtmp_input)
    handle_rtmp_inputs = proxy_method(ServerSessionActor.handle_rtmp_inputs)
    notify_byte_count = proxy_method(ServerSessionActor.notify_byte_count)
    notify_disconnected = proxy_method(ServerSessionActor.notify_disconnected)
    set_event_handler = proxy_method(ServerSessionActor.set_event_handler)
    set_protocol_handler = proxy_method(ServerSessionActor.set_protocol_handler)


class ServerSessionProxy(_SessionMembers, pykka.ActorProxy[ServerSessionActor]):
    """A proxy to a :class:`ServerSessionActor`."""

    accept_request = proxy_method(ServerSessionActor.accept_request)
    reject_request = proxy_method(ServerSessionActor.reject_request)
    send_metadata = proxy_method(ServerSessionActor.send_metadata)
    send_av_data = proxy_method(ServerSessionActor.send_av_data)
    send_stream_eof = proxy_method(ServerSessionActor.send_stream_eof)
    send_stream_dry = proxy_method(ServerSessionActor.send_stream_dry)
    send_stream_is_recorded = proxy_method(ServerSessionActor.send_stream_is_recorded)
    send_stream_unpublished = proxy_method(ServerSessionActor.send_stream_unpublished)
    send_stream_published = proxy_method(ServerSessionActor.send_stream_published)
    send_ping_request = proxy_method(ServerSessionActor.send_ping_request)
    send_reconnect_request = proxy_method(ServerSessionActor.send_reconnect_request)
    close = proxy_method(ServerSessionActor.close)


class ClientSessionProxy(_SessionMembers, pykka.ActorProxy[ClientSessionActor]):
    """A proxy to a :class:`ClientSessionActor`."""

    request_connection = proxy_method(ClientSessionActor.request_connection)
    request_publish = proxy_method(ClientSessionActor.request_publish)
    request_playback = proxy_method(ClientSessionActor.request_playback)
    publish_av_data = proxy_method(ClientSessionActor.publish_av_data)
    publish_metadata = proxy_method(ClientSessionActor.publish_metadata)
    stop_publish = proxy_method(ClientSessionActor.stop_publish)
    pause_playback = proxy_method(ClientSessionActor.pause_playback)
    receive_media = proxy_method(ClientSessionActor.receive_media)
    stop_playback = proxy_method(ClientSessionActor.stop_playback)
    close = proxy_method(ClientSessionActor.close)


class EventReceiverProxy(ActorMemberMixin, pykka.ActorProxy[EventReceiverActor]):
    """A proxy to an :class:`EventReceiverActor`."""

    send_event = proxy_method(EventReceiverActor.send_event)
