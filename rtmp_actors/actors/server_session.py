"""The server session actor: :class:`ServerSession` on pykka (``Rtmp.ServerSession.Handler``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import pykka

from behaviours.event_receiver import receives_event
from behaviours.media_receiver import MediaReceiver
from behaviours.media_writer import MediaWriter
from behaviours.protocol_handler import ProtocolHandler
from behaviours.stream_peers import PlayerSession, PublisherSession
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_info import SessionSummary, stream_summary
from rtmp_actors.actors.session_actor import SessionActor
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.commands import NetConnectionCode
from rtmp_actors.session.events import MediaType, SessionEvent
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server import ServerSession, SessionOutput
from rtmp_actors.session.server_events import (
    AudioVideoDataReceived,
    CallRequested,
    PublishingFinished,
    StreamMetaDataChanged,
)

__all__ = ["ServerSessionActor"]

logger = logging.getLogger(__name__)


class ServerSessionActor(SessionActor, PublisherSession, PlayerSession):
    """One server connection's session logic; the event receiver decides on its requests.

    Every method is meant to be told through an
    :class:`~rtmp_actors.actors.actor_handle.ActorHandle`
    (``handle.tell(ServerSessionActor.accept_request, request_id)``), or asked from outside
    the actor system with a timeout. A call the session cannot honour (a request that does
    not exist, a stream in the wrong state, a value AMF cannot carry) is logged at ERROR and
    refused; the connection goes on. Only a peer's protocol error or a failing part of the
    connection (its event receiver, say) ends it.

    Besides the event receiver, two kinds of peers may be attached to single streams: a
    :class:`~behaviours.MediaReceiver` takes a publishing stream's media straight from here
    (:meth:`route_media`), and a :class:`~behaviours.MediaWriter` writes a playing stream's
    media through a media sink (:meth:`open_media_sink`) and is told the player's choices.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Publishing stream id -> its media receiver; playing stream id -> its media writer.
        self._media_routes: dict[int, ActorHandle[MediaReceiver]] = {}
        self._media_writers: dict[int, ActorHandle[MediaWriter]] = {}

    # --- Routing ------------------------------------------------------------------------------

    def _output_taken(self, output: SessionOutput) -> None:
        # A pause reaches the media's writers before its answer leaves.
        for choice in output.playback:
            self._tell_choice(choice)

    def _tell_choice(self, choice: PlaybackChoice) -> None:
        # One writer owns a stream's rules: its media sink's writer if it has one, else the
        # protocol handler. A new play starts over with the protocol handler.
        if choice.new_play:
            self._media_writers.pop(choice.stream_id, None)
        writer = self._media_writers.get(choice.stream_id)
        with contextlib.suppress(pykka.ActorDeadError):
            if writer is not None:
                writer.tell(
                    MediaWriter.playback_changed, self.connection_id, choice.stream_id, choice
                )
            elif self._protocol is not None:
                self._protocol.tell(ProtocolHandler.playback_changed, choice)

    def _route_events(self, events: list[SessionEvent]) -> list[SessionEvent]:
        routes = self._media_routes
        if not routes:
            return events
        kept: list[SessionEvent] = []
        routed: dict[int, list[SessionEvent]] = {}
        finished: list[int] = []
        for event in events:
            if isinstance(event, AudioVideoDataReceived | StreamMetaDataChanged):
                if event.stream_id in routes:
                    routed.setdefault(event.stream_id, []).append(event)
                    continue
            elif isinstance(event, PublishingFinished) and event.stream_id in routes:
                finished.append(event.stream_id)
            kept.append(event)
        for stream_id, media in routed.items():
            try:
                routes[stream_id].tell(MediaReceiver.media_received, self.connection_id, media)
            except pykka.ActorDeadError:
                # The receiver failed: this publication cannot go on without it.
                logger.error(
                    "%s: the media receiver of stream %d is gone; closing",
                    self.connection_id,
                    stream_id,
                    extra={"connection_id": self.connection_id},
                )
                routes.pop(stream_id)
                ActorHandle[ServerSessionActor](self.actor_ref).tell(
                    ServerSessionActor.close, "the stream ended unexpectedly"
                )
        for stream_id in finished:
            routes.pop(stream_id, None)
        return kept

    def route_media(self, stream_id: int, receiver: ActorHandle[MediaReceiver]) -> None:
        """Send stream ``stream_id``'s media and metadata to ``receiver``, not the event receiver.

        ``receiver.media_received(connection_id, events)`` gets the stream's
        ``AudioVideoDataReceived`` and ``StreamMetaDataChanged`` events in order, one call
        per batch of input, until the publication ends; every other event still goes to the
        event receiver. Call it before accepting the publish request, so no media precedes
        it.
        """
        self._media_routes[stream_id] = receiver

    def open_media_sink(
        self, stream_id: int, reply_to: ActorHandle[MediaWriter], *, answers_seeks: bool = False
    ) -> None:
        """Ask for a direct path for a playing stream (see :class:`MediaSink`).

        The answer is ``reply_to.media_sink_opened(connection_id, stream_id, sink)``, with
        None for the sink when the stream is not playing. Everything this session sent
        before, it writes before the sink opens; the sink carries the stream's notices
        (:meth:`ServerSession.player_notices`). ``reply_to`` writes the stream's media from
        then on and is told the player's choices (``playback_changed``), starting with the
        current ones, until the stream's next play. With ``answers_seeks``, the player's seeks
        are handed to ``reply_to`` too (see :meth:`ServerSession.delegate_seeks`).
        """
        current = self._session.playback_choice(stream_id)
        if current is not None and self._protocol is not None and not self._finished:
            self._media_writers[stream_id] = reply_to
            if answers_seeks:
                self._session.delegate_seeks(stream_id)
            notices = self._session.player_notices(stream_id)
            with contextlib.suppress(pykka.ActorDeadError):
                reply_to.tell(MediaWriter.playback_changed, self.connection_id, stream_id, current)
                self._protocol.tell(
                    ProtocolHandler.open_media_sink,
                    stream_id,
                    reply_to,
                    self.connection_id,
                    notices,
                )
                return
        with contextlib.suppress(pykka.ActorDeadError):
            reply_to.tell(MediaWriter.media_sink_opened, self.connection_id, stream_id, None)

    # --- API ------------------------------------------------------------------------------------

    def set_event_handler(self, receiver: pykka.ActorRef[Any]) -> str:
        """Send events to ``receiver``; calls it has no handler for get ``_error`` at once.

        A receiver handles calls when it has ``on_call_requested`` or sees every event (its
        own ``send_event``/``send_events``); otherwise the session answers each call itself,
        with no round trip through the receiver (:attr:`ServerSession.handles_calls`).
        """
        if self._receiver is None:
            self._session.handles_calls = receives_event(receiver.actor_class, CallRequested)
        return super().set_event_handler(receiver)

    def accept_request(self, request_id: int) -> None:
        """Accept a connect, publish or play request."""
        self._apply(ServerSession.accept_request, request_id)

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """Reject a request with ``reason`` (and a status code other than the default)."""
        self._apply(ServerSession.reject_request, request_id, reason, code)

    def answer_call(self, call_id: int, *values: Any) -> None:
        """Answer a client's remote call (CallRequested) with ``_result`` and ``values``."""
        self._apply(ServerSession.answer_call, call_id, *values)

    def fail_call(
        self, call_id: int, description: str, code: str = NetConnectionCode.CALL_FAILED
    ) -> None:
        """Answer a client's remote call with ``_error`` (``description``, ``code``)."""
        self._apply(ServerSession.fail_call, call_id, description, code)

    def send_metadata(
        self, stream_id: int, metadata: StreamMetadata | Mapping[str, Any], timestamp: int = 0
    ) -> None:
        """Send ``onMetaData`` to a playing stream."""
        self._apply(ServerSession.send_metadata, stream_id, metadata, timestamp)

    def send_av_data(
        self, stream_id: int, data_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send one audio or video message to a playing stream."""
        self._apply(ServerSession.send_av_data, stream_id, data_type, timestamp, data)

    def send_stream_eof(self, stream_id: int) -> None:
        """Tell the player the stream ended (User Control StreamEOF)."""
        self._apply(ServerSession.send_stream_eof, stream_id)

    def send_stream_dry(self, stream_id: int) -> None:
        """Tell the player there is no data for now (User Control StreamDry)."""
        self._apply(ServerSession.send_stream_dry, stream_id)

    def send_stream_is_recorded(self, stream_id: int) -> None:
        """Tell the player the stream is recorded (User Control StreamIsRecorded)."""
        self._apply(ServerSession.send_stream_is_recorded, stream_id)

    def send_stream_unpublished(self, stream_id: int) -> None:
        """The publisher left: StreamEOF and NetStream.Play.UnpublishNotify."""
        self._apply(ServerSession.send_stream_unpublished, stream_id)

    def send_stream_published(self, stream_id: int) -> None:
        """A publisher arrived: StreamBegin and NetStream.Play.PublishNotify."""
        self._apply(ServerSession.send_stream_published, stream_id)

    def send_ping_request(self) -> None:
        """Ping the client now (the answer raises PingResponseReceived)."""
        self._apply(ServerSession.send_ping_request, self._clock())

    def send_reconnect_request(
        self, tc_url: str | None = None, description: str | None = None
    ) -> None:
        """Ask the client to reconnect, possibly elsewhere (Enhanced RTMP v2)."""
        self._apply(ServerSession.send_reconnect_request, tc_url, description)

    def describe(self) -> SessionSummary:
        """What the client asked for: app and streams (ask from outside, with a timeout)."""
        session: ServerSession = self._session
        connect = session.connect_command
        tc_url = None if connect is None or connect.tc_url is None else connect.tc_url
        summaries = (
            stream_summary(info.stream_id, info.state, info.stream_key)
            for info in session.streams.values()
        )
        return SessionSummary(
            session.app_name,
            None if tc_url is None else tc_url.partition("?")[0],
            None if connect is None else connect.flash_ver,
            session.peer_caps_ex,
            tuple(summary for summary in summaries if summary is not None),
        )

    def close(self, reason: str | None = None) -> None:
        """End every stream politely, flush, then close the connection."""
        self._apply(ServerSession.close, reason)
