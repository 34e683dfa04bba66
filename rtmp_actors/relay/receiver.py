"""The relay's event receiver: one per connection, between its session and the streams."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pykka

from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.relay.stream import PlayRequest, PublishRequest
from rtmp_actors.session import server_events as events

__all__ = ["RelayReceiver"]

logger = logging.getLogger(__name__)


class RelayReceiver(EventReceiverActor):
    """Sends requests to the registry and, once bound, media straight to its stream.

    Args:
        connection: The connection's info (its session, for answering requests).
        registry: The stream registry.
    """

    def __init__(self, connection: ConnectionInfo, registry: MethodProxy) -> None:
        super().__init__()
        self._connection_id = connection.connection_id
        self._session = connection.session
        self._registry = registry
        self._me = MethodProxy(self.actor_ref)
        self._publishing: dict[int, MethodProxy] = {}  # stream id -> stream published to
        self._playing: dict[int, MethodProxy] = {}  # stream id -> stream played from

    # --- Binding (from the stream actors) -----------------------------------------------------

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The stream accepted this connection's publisher on ``stream_id``."""
        self._publishing[stream_id] = MethodProxy(stream)

    def bind_player(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The stream accepted this connection's player on ``stream_id``."""
        self._playing[stream_id] = MethodProxy(stream)

    # --- Session events ---------------------------------------------------------------------------

    def on_connection_requested(self, event: events.ConnectionRequested) -> None:
        self._session.accept_request.defer(event.request_id)

    def on_publish_stream_requested(self, event: events.PublishStreamRequested) -> None:
        self._registry.publish_requested.defer(
            PublishRequest(
                self._connection_id,
                self._session,
                self._me,
                event.request_id,
                event.app_name,
                event.stream_key,
                event.stream_id,
            )
        )

    def on_play_stream_requested(self, event: events.PlayStreamRequested) -> None:
        self._registry.play_requested.defer(
            PlayRequest(
                self._connection_id,
                self._session,
                self._me,
                event.request_id,
                event.app_name,
                event.stream_key,
                event.stream_id,
            )
        )

    def on_stream_meta_data_changed(self, event: events.StreamMetaDataChanged) -> None:
        stream = self._publishing.get(event.stream_id)
        if stream is not None:
            self._to_stream(stream, "publisher_metadata", dict(event.raw))

    def on_audio_video_data_received(self, event: events.AudioVideoDataReceived) -> None:
        stream = self._publishing.get(event.stream_id)
        if stream is not None:
            self._to_stream(stream, "publisher_media", event.data_type, event.timestamp, event.data)

    def on_publishing_finished(self, event: events.PublishingFinished) -> None:
        stream = self._publishing.pop(event.stream_id, None)
        if stream is not None:
            self._to_stream(stream, "publisher_left")

    def on_play_stream_finished(self, event: events.PlayStreamFinished) -> None:
        stream = self._playing.pop(event.stream_id, None)
        if stream is not None:
            self._to_stream(stream, "player_left", event.stream_id)

    def on_disconnected(self, event: events.Disconnected) -> None:
        for stream in self._publishing.values():
            self._to_stream(stream, "publisher_left")
        for stream_id, stream in self._playing.items():
            self._to_stream(stream, "player_left", stream_id)
        self._publishing.clear()
        self._playing.clear()

    def _to_stream(self, stream: MethodProxy, method: str, *args: Any) -> None:
        try:
            getattr(stream, method).defer(self._connection_id, *args)
        except pykka.ActorDeadError:
            # The stream actor failed: this connection cannot go on with it.
            logger.error("%s: its stream is gone; closing", self._connection_id)
            with contextlib.suppress(pykka.ActorDeadError):
                self._session.close.defer("the stream ended unexpectedly")
