"""What the user does with a requested stream of a client session.

Media and metadata go out on a stream being published; pause and receiveAudio/receiveVideo on
one being played; stopping gives either up. A call naming a key that is not publishing (or
playing) is the caller's mistake while the session runs, since the caller learns of each
acceptance from an event: it raises :class:`~rtmp_actors.errors.LocalProtocolError` and sends
nothing. Once the session is closing or disconnected the call is late and ignored. Stopping
is always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import Pause, ReceiveAudio, ReceiveVideo, Seek, SetDataFrame
from rtmp_actors.protocol.messages import AudioData, VideoData
from rtmp_actors.session._client_base import U32, ClientBase, Kind
from rtmp_actors.session.client_state import ClientState
from rtmp_actors.session.events import MediaType

__all__ = ["StreamCalls"]


class StreamCalls(ClientBase):
    """The client session's API for streams it requested."""

    def publish_av_data(
        self, stream_key: str, av_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send audio or video on a stream being published.

        Args:
            stream_key: The published stream key.
            av_type: Audio or video.
            timestamp: Milliseconds; wraps at 2^32 as RTMP timestamps do.
            data: The FLV tag body (tag header byte(s) first).

        Raises:
            LocalProtocolError: ``timestamp`` is negative, or the key is not publishing (not
                requested, or not accepted yet); nothing is sent. Ignored instead once the
                session is closing or disconnected.
        """
        if timestamp < 0:
            msg = f"timestamp must not be negative, got {timestamp}"
            raise LocalProtocolError(msg)
        stream_id = self._publishing_stream_id(stream_key)
        if stream_id is None:
            self._not_active("publish_av_data", stream_key, Kind.PUBLISH)
            return
        content = AudioData(bytes(data)) if av_type is MediaType.AUDIO else VideoData(bytes(data))
        self._send(content, stream_id, timestamp & U32)

    def publish_metadata(
        self, stream_key: str, metadata: StreamMetadata | Mapping[str, Any]
    ) -> None:
        """Send ``@setDataFrame onMetaData`` on a stream being published.

        Args:
            stream_key: The published stream key.
            metadata: Typed metadata, or the properties as a mapping (sent as given).

        Raises:
            LocalProtocolError: A property value cannot be encoded in AMF, or the key is not
                publishing; nothing is sent. Ignored instead once the session is closing or
                disconnected.
        """
        stream_id = self._publishing_stream_id(stream_key)
        if stream_id is None:
            self._not_active("publish_metadata", stream_key, Kind.PUBLISH)
            return
        properties = metadata.to_dict() if isinstance(metadata, StreamMetadata) else metadata
        # An ECMA array, as FFmpeg and OBS send it; some servers only look for that.
        message = SetDataFrame(EcmaArray(properties)).to_message()
        message.encode_payload()  # a bad value fails here, not in the protocol handler
        self._send(message, stream_id)

    def stop_publish(self, stream_key: str) -> None:
        """Stop publishing: ``FCUnpublish`` then ``deleteStream``; ignored when not requested.

        A publish the server has not answered yet is cancelled: its PublishResponseReceived
        comes at once with ``was_accepted=False`` and the text ``"cancelled"``, and a stream the
        server creates for it later is deleted. Stopping what is not active is allowed, so
        that teardown code need not track what the server answered.

        Args:
            stream_key: The stream key.
        """
        self._stop("stop_publish", stream_key, Kind.PUBLISH)

    def pause_playback(self, stream_key: str, paused: bool, milliseconds: float = 0) -> None:
        """Pause or resume a stream being played (``pause``).

        The server answers with ``NetStream.Pause.Notify`` or ``NetStream.Unpause.Notify``;
        a live relay then holds media back, and restarts video at a keyframe.

        Args:
            stream_key: The played stream key.
            paused: True to pause, False to resume.
            milliseconds: The stream time at which playback pauses or resumes.

        Raises:
            LocalProtocolError: The key is not playing (not requested, or not accepted yet);
                nothing is sent. Ignored instead once the session is closing or disconnected.
        """
        stream_id = self._playing_stream_id(stream_key)
        if stream_id is None:
            self._not_active("pause_playback", stream_key, Kind.PLAY)
            return
        self._send_command(Pause(paused, milliseconds), stream_id)

    def seek_playback(self, stream_key: str, milliseconds: float) -> None:
        """Move a played recording to ``milliseconds`` (``seek``).

        The server answers with ``NetStream.Seek.Notify`` (a
        :class:`~rtmp_actors.session.client_events.SeekStatusReceived`), then sends media
        from the keyframe at or before that time. A live stream does not move.

        Raises:
            LocalProtocolError: As :meth:`pause_playback`.
        """
        stream_id = self._playing_stream_id(stream_key)
        if stream_id is None:
            self._not_active("seek_playback", stream_key, Kind.PLAY)
            return
        self._send_command(Seek(milliseconds), stream_id)

    def receive_media(
        self, stream_key: str, *, audio: bool | None = None, video: bool | None = None
    ) -> None:
        """Turn audio and/or video of a played stream on or off (``receiveAudio``/``Video``).

        None leaves that kind as it is.

        Raises:
            LocalProtocolError: As :meth:`pause_playback`.
        """
        stream_id = self._playing_stream_id(stream_key)
        if stream_id is None:
            self._not_active("receive_media", stream_key, Kind.PLAY)
            return
        if audio is not None:
            self._send_command(ReceiveAudio(audio), stream_id)
        if video is not None:
            self._send_command(ReceiveVideo(video), stream_id)

    def stop_playback(self, stream_key: str) -> None:
        """Stop playing: ``deleteStream``; ignored when not requested.

        Playback the server has not answered yet is cancelled like in :meth:`stop_publish`.
        Data that still arrives for the stream is ignored.

        Args:
            stream_key: The stream key.
        """
        self._stop("stop_playback", stream_key, Kind.PLAY)

    def _stop(self, method: str, stream_key: str, kind: Kind) -> None:
        streams = self._publishes if kind is Kind.PUBLISH else self._plays
        stream = streams.get(stream_key)
        if stream is None or self._state is ClientState.DISCONNECTED:
            doing = "publishing" if kind is Kind.PUBLISH else "playing"
            self._log.info("%s(%r) ignored: not %s", method, stream_key, doing)
            return
        self._release(stream, "cancelled")
