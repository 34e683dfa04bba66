"""The client session actor: :class:`ClientSession` on pykka (``Rtmp.ClientSession.Handler``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtmp_actors.actors.session_actor import SessionActor
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.session.client import ClientSession
from rtmp_actors.session.events import MediaType

__all__ = ["ClientSessionActor"]


class ClientSessionActor(SessionActor):
    """One client connection's session logic; answers come back as events.

    Every method is meant to be told through an
    :class:`~rtmp_actors.actors.actor_handle.ActorHandle`
    (``handle.tell(ClientSessionActor.request_publish, "key")``), or asked from outside the
    actor system with a timeout. A call the session cannot honour (a stream that is not
    active, a value AMF cannot carry) is logged at ERROR and refused; the connection goes on.
    Only a peer's protocol error or a failing part of the connection ends it.
    """

    def request_connection(
        self, app_name: str, *, tc_url: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Connect to ``app_name``; the answer is a ConnectionResponseReceived event."""
        self._apply(ClientSession.request_connection, app_name, tc_url=tc_url, extra=extra)

    def request_publish(self, stream_key: str, publish_type: str = "live") -> None:
        """Publish on ``stream_key``; the answer is a PublishResponseReceived event."""
        self._apply(ClientSession.request_publish, stream_key, publish_type)

    def request_playback(
        self, stream_key: str, *, start: float = -2000, duration: float = -1, reset: bool = True
    ) -> None:
        """Play ``stream_key``; the answer is a PlayResponseReceived event.

        ``start`` -2000 plays live or recorded (FFmpeg's default), -1000 live only, 0 or more
        a recording from that many milliseconds.
        """
        self._apply(
            ClientSession.request_playback, stream_key, start=start, duration=duration, reset=reset
        )

    def publish_av_data(
        self, stream_key: str, av_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send one audio or video message on a stream being published."""
        self._apply(ClientSession.publish_av_data, stream_key, av_type, timestamp, data)

    def publish_metadata(
        self, stream_key: str, metadata: StreamMetadata | Mapping[str, Any]
    ) -> None:
        """Send ``@setDataFrame onMetaData`` on a stream being published."""
        self._apply(ClientSession.publish_metadata, stream_key, metadata)

    def stop_publish(self, stream_key: str) -> None:
        """Stop publishing ``stream_key`` (ignored when not publishing)."""
        self._apply(ClientSession.stop_publish, stream_key)

    def pause_playback(self, stream_key: str, paused: bool, milliseconds: float = 0) -> None:
        """Pause (or resume, with ``paused=False``) a stream being played."""
        self._apply(ClientSession.pause_playback, stream_key, paused, milliseconds)

    def seek_playback(self, stream_key: str, milliseconds: float) -> None:
        """Ask the server to move a played recording to ``milliseconds``."""
        self._apply(ClientSession.seek_playback, stream_key, milliseconds)

    def receive_media(
        self, stream_key: str, *, audio: bool | None = None, video: bool | None = None
    ) -> None:
        """Turn audio and/or video of a played stream on or off (None: unchanged)."""
        self._apply(ClientSession.receive_media, stream_key, audio=audio, video=video)

    def stop_playback(self, stream_key: str) -> None:
        """Stop playing ``stream_key`` (ignored when not playing)."""
        self._apply(ClientSession.stop_playback, stream_key)

    def call(self, name: str, *arguments: Any, command_object: Any = None) -> int | None:
        """Call ``name`` on the server; the answer is a CallAnswered or CallFailed event.

        Returns the call's transaction id (the events carry it) to an ``ask``; None when
        the session refused the call (logged: not connected, too many calls waiting...).
        """
        return self._apply(ClientSession.call, name, *arguments, command_object=command_object)

    def notify(self, name: str, *arguments: Any, command_object: Any = None) -> None:
        """Send ``name`` to the server as a command it must not answer (transaction id 0)."""
        self._apply(ClientSession.notify, name, *arguments, command_object=command_object)

    def close(self, reason: str | None = None) -> None:
        """Stop every stream politely, flush, then close the connection."""
        self._apply(ClientSession.close, reason)
