"""The server session actor: :class:`ServerSession` on pykka (``Rtmp.ServerSession.Handler``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pykka

from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.actors.playback_gate import PlaybackGate
from rtmp_actors.actors.session_actor import SessionActor
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server import StreamState

__all__ = ["ServerSessionActor"]


class ServerSessionActor(SessionActor):
    """One server connection's session logic; the event receiver decides on its requests.

    Every method is meant to be called through a proxy without waiting on the result (or from
    outside the actor system with ``.get(timeout=...)``). Calls about streams that are not in
    the right state are ignored, never fatal.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gates: dict[int, PlaybackGate] = {}  # of the streams with a media sink

    def _inputs_handled(self) -> None:
        # A pause or receiveAudio/Video reaches the sinks before its answer leaves.
        if self._gates:
            self._refresh_gates()

    def _refresh_gates(self) -> None:
        streams = self._session.streams
        for stream_id, gate in list(self._gates.items()):
            stream = streams.get(stream_id)
            if stream is None or stream.state is not StreamState.PLAYING:
                del self._gates[stream_id]  # a new play gets a new sink and gate
                continue
            gate.update(
                paused=stream.paused,
                receive_audio=stream.receive_audio,
                receive_video=stream.receive_video,
            )

    def accept_request(self, request_id: int) -> None:
        """Accept a connect, publish or play request."""
        self._apply("accept_request", request_id)

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """Reject a request with ``reason`` (and a status code other than the default)."""
        self._apply("reject_request", request_id, reason, code)

    def send_metadata(
        self, stream_id: int, metadata: StreamMetadata | Mapping[str, Any], timestamp: int = 0
    ) -> None:
        """Send ``onMetaData`` to a playing stream."""
        self._apply("send_metadata", stream_id, metadata, timestamp)

    def send_av_data(
        self, stream_id: int, data_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send one audio or video message to a playing stream."""
        self._apply("send_av_data", stream_id, data_type, timestamp, data)

    def send_stream_eof(self, stream_id: int) -> None:
        """Tell the player the stream ended (User Control StreamEOF)."""
        self._apply("send_stream_eof", stream_id)

    def send_stream_dry(self, stream_id: int) -> None:
        """Tell the player there is no data for now (User Control StreamDry)."""
        self._apply("send_stream_dry", stream_id)

    def send_stream_is_recorded(self, stream_id: int) -> None:
        """Tell the player the stream is recorded (User Control StreamIsRecorded)."""
        self._apply("send_stream_is_recorded", stream_id)

    def send_stream_unpublished(self, stream_id: int) -> None:
        """The publisher left: StreamEOF and NetStream.Play.UnpublishNotify."""
        self._apply("send_stream_unpublished", stream_id)

    def send_stream_published(self, stream_id: int) -> None:
        """A publisher arrived: StreamBegin and NetStream.Play.PublishNotify."""
        self._apply("send_stream_published", stream_id)

    def send_ping_request(self) -> None:
        """Ping the client now (the answer raises PingResponseReceived)."""
        self._apply("send_ping_request", self._clock())

    def send_reconnect_request(
        self, tc_url: str | None = None, description: str | None = None
    ) -> None:
        """Ask the client to reconnect, possibly elsewhere (Enhanced RTMP v2)."""
        self._apply("send_reconnect_request", tc_url, description)

    def open_media_sink(self, stream_id: int, reply_to: MethodProxy) -> None:
        """Ask for a direct path for a playing stream (see :class:`MediaSink`).

        The answer is ``reply_to.media_sink_opened(connection_id, stream_id, sink)``, with
        None for the sink when the stream is not playing. Media sent through the sink skips
        this session, which keeps the sink's :class:`PlaybackGate` current instead: pause
        and receiveAudio/receiveVideo apply to it (video resumes at a keyframe).
        """
        stream = self._session.streams.get(stream_id)
        playing = stream is not None and stream.state is StreamState.PLAYING
        if playing and self._protocol is not None and not self._finished:
            gate = self._gates[stream_id] = PlaybackGate()
            self._refresh_gates()
            with contextlib.suppress(pykka.ActorDeadError):
                self._protocol.open_media_sink.defer(stream_id, reply_to, self.connection_id, gate)
                return
        with contextlib.suppress(pykka.ActorDeadError):
            reply_to.media_sink_opened.defer(self.connection_id, stream_id, None)

    def close(self, reason: str | None = None) -> None:
        """End every stream politely, flush, then close the connection."""
        self._apply("close", reason)
