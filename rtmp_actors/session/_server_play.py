"""Playing on a server session: the request, its acceptance, the player's choices, the sends.

A ``play`` (or ``play2``) on a created stream raises
:class:`~rtmp_actors.session.server_events.PlayStreamRequested`; once the user accepts it, the
stream is *playing*. The player's pause, seek and receiveAudio/receiveVideo are answered here
and handed on as :class:`~rtmp_actors.session.playback.PlaybackChoice` values to whoever writes
the stream's media. The user's sends to a player (media, metadata, notices) are dropped unless
the stream plays: the client may stop playing at any moment, so a send that arrives after it
did is late rather than wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.amf import AmfValue, EcmaArray
from rtmp_actors.protocol.commands import NetStreamCode, OnMetaData, OnStatus, Pause, Play, Play2
from rtmp_actors.protocol.messages import (
    AudioData,
    DataMessage,
    DetailedMessage,
    MessageContent,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UserControl,
    VideoData,
)
from rtmp_actors.session._server_base import U32, PlayRequest, ServerBase
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server_events import PlayStreamRequested
from rtmp_actors.session.server_streams import (
    PlayerNotice,
    StreamState,
    completion_notices,
    publish_notices,
    seek_notices,
    unpublish_notices,
)

_NOTICES: dict[PlayerNotice, Callable[[int, str], tuple[MessageContent | OnStatus, ...]]] = {
    PlayerNotice.PUBLISHED: publish_notices,
    PlayerNotice.UNPUBLISHED: unpublish_notices,
    PlayerNotice.SEEKED: seek_notices,
    PlayerNotice.COMPLETED: completion_notices,
}

__all__ = ["PlayHandling"]


def _number_or(value: AmfValue, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return default
    return value


class PlayHandling(ServerBase):
    """The play side of the server session's message streams."""

    # --- The user's sends to players ---------------------------------------------------------

    def send_metadata(
        self,
        stream_id: int,
        metadata: StreamMetadata | Mapping[str, Any],
        timestamp: int = 0,
    ) -> None:
        """Send ``onMetaData`` to a playing stream (ignored unless it is playing).

        Args:
            stream_id: The player's message stream.
            metadata: Typed metadata, or the raw properties (as a publisher sent them).
            timestamp: The message timestamp in milliseconds.

        Raises:
            LocalProtocolError: A property value cannot be encoded in AMF; nothing is sent.
        """
        if self._playing_stream(stream_id) is None:
            return
        properties = metadata.to_dict() if isinstance(metadata, StreamMetadata) else metadata
        data = OnMetaData(EcmaArray(properties)).to_message()
        data.encode_payload()  # a bad value fails here, not in the protocol handler
        self._send(data, stream_id, timestamp & U32)

    def send_av_data(
        self, stream_id: int, data_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send one audio or video message to a playing stream (ignored unless it is playing).

        Pause and receiveAudio/receiveVideo are applied by whoever writes the media (see
        ``SessionOutput.playback``), together with the congestion rules, in one place.

        Args:
            stream_id: The player's message stream.
            data_type: Audio or video.
            timestamp: The message timestamp in milliseconds (wrapped to 32 bits).
            data: The FLV tag body.
        """
        if self._playing_stream(stream_id) is None:
            return
        content = AudioData(data) if data_type is MediaType.AUDIO else VideoData(data)
        self._send(content, stream_id, timestamp & U32)

    def send_stream_eof(self, stream_id: int) -> None:
        """Send User Control StreamEOF for a playing stream."""
        if self._playing_stream(stream_id) is not None:
            self._send(StreamEof(stream_id))

    def send_stream_dry(self, stream_id: int) -> None:
        """Send User Control StreamDry (no data for now) for a playing stream."""
        if self._playing_stream(stream_id) is not None:
            self._send(StreamDry(stream_id))

    def send_stream_is_recorded(self, stream_id: int) -> None:
        """Send User Control StreamIsRecorded for a playing stream."""
        if self._playing_stream(stream_id) is not None:
            self._send(StreamIsRecorded(stream_id))

    def send_stream_unpublished(self, stream_id: int) -> None:
        """Tell a player its publisher left: StreamEOF and ``NetStream.Play.UnpublishNotify``.

        The stream stays playing: the player keeps waiting for a new publisher.
        """
        self._messages.extend(self._notice_messages(stream_id, PlayerNotice.UNPUBLISHED))

    def send_stream_published(self, stream_id: int) -> None:
        """Tell a player a publisher arrived: StreamBegin and ``NetStream.Play.PublishNotify``."""
        self._messages.extend(self._notice_messages(stream_id, PlayerNotice.PUBLISHED))

    def player_notices(self, stream_id: int) -> dict[PlayerNotice, list[DetailedMessage]]:
        """The notices of a playing stream, for a writer that sends them in order with media.

        A relay writes a playing stream's media past the session (see ``MediaSink``); it
        gets these when the stream's media sink opens, so its notices keep their place among
        the media without a round trip through the session. Empty unless the stream plays.
        """
        notices = {notice: self._notice_messages(stream_id, notice) for notice in PlayerNotice}
        return notices if all(notices.values()) else {}

    def playback_choice(self, stream_id: int) -> PlaybackChoice | None:
        """The player's current choices for a playing stream (None unless it plays)."""
        stream = self._playing_stream(stream_id)
        return None if stream is None else stream.choice()

    def delegate_seeks(self, stream_id: int) -> bool:
        """Hand the playing stream's seeks to its media writer, until the stream's next play.

        A live stream cannot seek: the session answers ``seek`` with ``NetStream.Seek.Notify``
        and nothing moves. A writer that can (a file player) calls this; each ``seek`` then
        reaches it as a :class:`PlaybackChoice` with ``seek`` set, and the session sends
        nothing, so the writer's answer (:attr:`PlayerNotice.SEEKED`) comes in order with
        the media from the new position.

        Returns:
            False (and nothing changes) unless the stream plays.
        """
        stream = self._playing_stream(stream_id)
        if stream is None:
            return False
        stream.seeks_delegated = True
        return True

    def _notice_messages(self, stream_id: int, notice: PlayerNotice) -> list[DetailedMessage]:
        stream = self._playing_stream(stream_id)
        if stream is None or stream.stream_key is None:
            return []
        messages = []
        for part in _NOTICES[notice](stream_id, stream.stream_key):
            content = part.to_message(amf3=self._amf3) if isinstance(part, OnStatus) else part
            # User control events travel on stream 0, whatever stream they are about.
            on_stream = 0 if isinstance(content, UserControl) else stream_id
            messages.append(DetailedMessage(0, on_stream, content))
        return messages

    # --- What the player asks for ------------------------------------------------------------

    def _on_play2(self, command: Play2, stream_id: int) -> None:
        key = command.stream_name
        if key is None:
            self._send_stream_error(
                stream_id, NetStreamCode.PLAY_FAILED, "play2 has no streamName."
            )
            return
        parameters = command.parameters
        start = _number_or(parameters.get("start"), -2)
        duration = _number_or(parameters.get("len"), -1)
        self._request_play(Play(key, start, duration, reset=False), stream_id)

    def _request_play(self, command: Play, stream_id: int) -> None:
        key = command.stream_name
        playing = self._playing_stream(stream_id)
        if playing is not None:
            # Flash players switch streams by calling play again on the same NetStream.
            self._finish_activity(playing)
        state, code = StreamState.PLAY_REQUESTED, NetStreamCode.PLAY_FAILED
        if self._claim_stream(stream_id, key, state, code) is None:
            return
        request_id = self._requests.add(PlayRequest(stream_id, key, command.reset))
        self._emit(
            PlayStreamRequested(
                request_id,
                self._app,
                key,
                stream_id,
                command.mode,
                command.start,
                command.duration,
                command.reset,
            )
        )

    def _accept_play(self, request: PlayRequest) -> None:
        stream_id, key = request.stream_id, request.stream_key
        stream = self._streams[stream_id]
        stream.state = StreamState.PLAYING
        stream.seeks_delegated = False  # a new play: its writer says again if it seeks
        self._playback.append(stream.choice(new_play=True))
        if request.reset:
            self._send_command(OnStatus.play_reset(key), stream_id)
        self._send(StreamBegin(stream_id))
        self._send_command(OnStatus.play_start(key), stream_id)
        self._send(DataMessage(("|RtmpSampleAccess", True, True)), stream_id)
        data_start = {"code": str(NetStreamCode.DATA_START)}
        self._send(DataMessage(("onStatus", data_start)), stream_id)

    def _on_pause(self, command: Pause, stream_id: int) -> None:
        stream = self._playing_stream(stream_id)
        if stream is None or stream.stream_key is None:
            self._ignore("pause on stream %d, which is not playing", stream_id)
            return
        stream.paused = command.pause
        self._playback.append(stream.choice())
        status = OnStatus.pause_notify if command.pause else OnStatus.unpause_notify
        self._send_command(status(stream.stream_key), stream_id)

    def _on_seek(self, milliseconds: float, stream_id: int) -> None:
        stream = self._playing_stream(stream_id)
        if stream is None or stream.stream_key is None:
            self._ignore("seek on stream %d, which is not playing", stream_id)
            return
        if stream.seeks_delegated:
            self._playback.append(stream.choice(seek=max(0.0, milliseconds)))
            return
        self._send_command(OnStatus.seek_notify(stream.stream_key, milliseconds), stream_id)

    def _set_receive(self, stream_id: int, media: MediaType, *, enabled: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            self._ignore("receive%s on unknown stream %d", media.value.title(), stream_id)
            return
        if media is MediaType.AUDIO:
            stream.receive_audio = enabled
        else:
            stream.receive_video = enabled
        if stream.state is StreamState.PLAYING:
            self._playback.append(stream.choice())
