"""The client side of an RTMP connection as a sans-I/O state machine.

:class:`ClientSession` mirrors the Elixir library's ``Rtmp.ClientSession.Handler``: the API
methods (``request_connection``, ``request_publish``, ``request_playback``,
``publish_av_data``, ``publish_metadata``, ``stop_publish``, ``stop_playback``) queue outbound
messages, :meth:`ClientSession.handle_message` takes every message the server sends, and
:meth:`ClientSession.take_output` hands both the queued messages and the raised events (see
:mod:`rtmp_actors.session.client_events`) to whoever drives the session.

It differs from the Elixir handler where that one was wrong: any number of streams share one
connection (each publish or play gets its own ``createStream``), refusals are reported
(``was_accepted=False``), byte counts are totals, ``onMetaData`` is recognised, late or unknown
data is ignored rather than fatal, and ``deleteStream`` carries a numeric stream id.

Wire behaviour follows what FFmpeg and librtmp send, so servers see a familiar client:

* ``connect`` (transaction 1) with ``app``, ``type``, ``flashVer``, ``tcUrl``, ``fpad``,
  ``capabilities``, ``audioCodecs``, ``videoCodecs``, ``videoFunction``, ``objectEncoding`` and,
  when configured, Enhanced RTMP ``fourCcList``/``capsEx``; Window Acknowledgement Size once
  accepted.
* Publish: ``releaseStream``, ``FCPublish``, ``createStream``, then ``publish`` on the new
  stream; stop with ``FCUnpublish`` and ``deleteStream``.
* Play: ``createStream``, then ``play`` on the new stream followed by User Control
  SetBufferLength (the order both FFmpeg and librtmp use); stop with ``deleteStream``.
* ``onBWDone`` is answered with ``_checkbw`` and PingRequest with PingResponse. Acknowledgements
  are the protocol layer's job.

Non-media messages go out with timestamp 0, as FFmpeg sends its commands.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from rtmp_actors.errors import ProtocolError
from rtmp_actors.logs import ConnectionLog
from rtmp_actors.media.metadata import StreamMetadata, parse_on_metadata
from rtmp_actors.protocol.amf import AmfValue, EcmaArray
from rtmp_actors.protocol.commands import (
    CheckBandwidth,
    Command,
    Connect,
    ConnectResult,
    CreateStream,
    CreateStreamResult,
    DeleteStream,
    ErrorResult,
    FCPublish,
    FCUnpublish,
    NetConnectionCode,
    NetStreamCode,
    OnStatus,
    Pause,
    Play,
    Publish,
    ReceiveAudio,
    ReceiveVideo,
    ReleaseStream,
    Result,
    SetDataFrame,
    parse_command,
)
from rtmp_actors.protocol.messages import (
    AggregateMessage,
    AudioData,
    CommandMessage,
    DataMessage,
    DetailedMessage,
    MessageContent,
    MessageType,
    PingRequest,
    PingResponse,
    RawMessage,
    SetBufferLength,
    StreamBegin,
    StreamEof,
    VideoData,
    WindowAcknowledgementSize,
    decode_message,
    expand_aggregate,
)
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    ConnectionResponseReceived,
    PauseStatusReceived,
    PlayResetReceived,
    PlayResponseReceived,
    PublishResponseReceived,
    ReconnectRequested,
    StreamEnded,
    StreamMetaDataReceived,
)
from rtmp_actors.session.events import (
    ByteCountDirection,
    Disconnected,
    MediaType,
    NewByteIOTotals,
    SessionEvent,
)

__all__ = ["ClientSession", "ClientState", "ServerCapabilities", "SessionOutput"]

_logger = logging.getLogger(__name__)

_MAX_U32: Final = 0xFFFFFFFF

# What FFmpeg sends when playing (libavformat/rtmpproto.c gen_connect): all codecs it knows,
# and support for seamless seek.
_CAPABILITIES: Final = 15
_AUDIO_CODECS: Final = 4071
_VIDEO_CODECS: Final = 252
_VIDEO_FUNCTION: Final = 1

# Replies to releaseStream, FCPublish, FCUnpublish and _checkbw are ignored; the ids are kept
# only so the replies are not reported as unknown. A server that answers none of them (or
# floods onBWDone) must not grow this without bound.
_MAX_IGNORED_TRANSACTIONS: Final = 64

# onStatus codes that refuse a publish or play even when the level is not "error".
_PUBLISH_FAILURES: Final = frozenset(
    {
        NetStreamCode.PUBLISH_BAD_NAME,
        "NetStream.Publish.Denied",
        "NetStream.Publish.Failed",
        "NetStream.Publish.Rejected",
        NetStreamCode.FAILED,
    }
)
_PLAY_FAILURES: Final = frozenset(
    {
        NetStreamCode.PLAY_STREAM_NOT_FOUND,
        NetStreamCode.PLAY_FAILED,
        "NetStream.Play.Denied",
        "NetStream.Play.Rejected",
        NetStreamCode.FAILED,
    }
)
_PLAY_COMPLETE: Final = "NetStream.Play.Complete"

# commands.py promises ProtocolError for bad input; ValueError and TypeError are caught as well
# so that a gap in a parser costs one ignored server message rather than the connection.
_PARSE_ERRORS: Final = (ProtocolError, ValueError, TypeError)


class ClientState(enum.Enum):
    """Where the session's NetConnection stands."""

    IDLE = "idle"
    """``request_connection`` has not been called."""
    CONNECTING = "connecting"
    """``connect`` was sent; no answer yet."""
    CONNECTED = "connected"
    """The server accepted ``connect``."""
    REFUSED = "refused"
    """The server refused ``connect``."""
    CLOSING = "closing"
    """:meth:`ClientSession.close` was called; waiting for the connection to end."""
    DISCONNECTED = "disconnected"
    """The connection ended; the session does nothing more."""


class SessionOutput(NamedTuple):
    """What the session produced since the last :meth:`ClientSession.take_output`.

    Attributes:
        messages: Messages for the protocol handler to send, in order.
        events: Events for the event receiver, in order.
        close: Whether the driver should now flush and close the connection: True exactly
            once, in the output taken after :meth:`ClientSession.close`.
        close_reason: The reason given to :meth:`ClientSession.close` when ``close`` is set.
    """

    messages: list[DetailedMessage]
    events: list[SessionEvent]
    close: bool
    close_reason: str | None


@dataclass(frozen=True, slots=True)
class ServerCapabilities:
    """What the server said about itself when it accepted ``connect``.

    Attributes:
        fms_version: ``fmsVer`` (``"FMS/3,0,1,123"``...), if sent.
        capabilities: The server's ``capabilities`` bits, if sent.
        object_encoding: The ``objectEncoding`` the server will use, if sent.
        fourcc_list: Enhanced RTMP FourCCs the server supports; None when it announced none.
        video_fourcc_info_map: Enhanced RTMP v2 video FourCC capability bits, if announced.
        audio_fourcc_info_map: Enhanced RTMP v2 audio FourCC capability bits, if announced.
        caps_ex: Enhanced RTMP v2 ``capsEx`` bits (see
            :class:`~rtmp_actors.protocol.commands.CapsEx`), if announced.
    """

    fms_version: str | None = None
    capabilities: float | None = None
    object_encoding: int | None = None
    fourcc_list: tuple[str, ...] | None = None
    video_fourcc_info_map: Mapping[str, int] | None = None
    audio_fourcc_info_map: Mapping[str, int] | None = None
    caps_ex: int | None = None

    @property
    def enhanced(self) -> bool:
        """Whether the server announced any Enhanced RTMP capability."""
        return any(
            value is not None
            for value in (
                self.fourcc_list,
                self.video_fourcc_info_map,
                self.audio_fourcc_info_map,
                self.caps_ex,
            )
        )

    @classmethod
    def from_connect_result(cls, result: ConnectResult) -> ServerCapabilities:
        """Take the capabilities out of a parsed connect ``_result``."""

        def frozen(mapping: dict[str, int] | None) -> Mapping[str, int] | None:
            return None if mapping is None else MappingProxyType(dict(mapping))

        return cls(
            fms_version=result.fms_version,
            capabilities=result.capabilities,
            object_encoding=result.object_encoding,
            fourcc_list=None if result.fourcc_list is None else tuple(result.fourcc_list),
            video_fourcc_info_map=frozen(result.video_fourcc_info_map),
            audio_fourcc_info_map=frozen(result.audio_fourcc_info_map),
            caps_ex=result.caps_ex,
        )


class _Kind(enum.Enum):
    PUBLISH = "publish"
    PLAY = "play"


@dataclass(slots=True, eq=False)
class _Stream:
    """One publish or play request and the message stream it got."""

    key: str
    kind: _Kind
    publish_type: str = "live"
    play: Play | None = None
    stream_id: int | None = None
    command_tid: int | None = None
    """The transaction id of ``publish``/``play`` while an ``_error`` to it is possible."""
    answered: bool = False
    """The response event was raised (a registered, answered stream was accepted)."""
    ended: bool = False
    """Playback: StreamEnded was raised in the current active period."""
    cancelled: bool = False
    """Stopped before ``createStream`` was answered: delete the stream when it arrives."""


class _Transaction(enum.Enum):
    CONNECT = "connect"
    CREATE_STREAM = "createStream"
    STREAM_COMMAND = "publish/play"


def _transaction_key(value: float) -> int | None:
    # Servers echo ids as AMF numbers (2.0 for 2); anything not a whole number matches nothing.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return None
    return int(value)


def _description(text: str | None) -> str:
    return "" if text is None else text


class ClientSession:
    """The business logic of an RTMP client connection; no I/O, no clock, no threads.

    The driver (an actor) calls :meth:`handle_message` for every message the server sends,
    the API methods on behalf of the user and :meth:`notify_byte_count` with the connection's
    byte totals, and after each call drains :meth:`take_output`.

    Nothing the server sends makes the session raise: malformed, unexpected or late messages
    are logged and ignored. The API methods raise only for caller mistakes (a value AMF cannot
    carry, a negative timestamp).

    Args:
        config: The session configuration.
        connection_id: Names the connection in log lines.
        now: The current time in seconds (the driver's clock).
    """

    def __init__(
        self,
        config: ClientSessionConfig | None = None,
        *,
        connection_id: str = "",
        now: float = 0.0,
    ) -> None:
        self._config = config if config is not None else ClientSessionConfig()
        self._connection_id = connection_id
        self._started_at = now
        self._log = ConnectionLog(_logger, connection_id)
        self._state = ClientState.IDLE
        self._amf3 = False
        self._server_capabilities: ServerCapabilities | None = None
        self._next_transaction_id = 1
        self._pending: dict[int, tuple[_Transaction, _Stream | None]] = {}
        self._ignored_transactions: dict[int, None] = {}  # an ordered set, oldest first
        self._publishes: dict[str, _Stream] = {}
        self._plays: dict[str, _Stream] = {}
        self._streams_by_id: dict[int, _Stream] = {}
        self._bytes_sent = 0
        self._bytes_received = 0
        self._messages: list[DetailedMessage] = []
        self._events: list[SessionEvent] = []
        self._close = False
        self._close_reason: str | None = None

    # --- Introspection -------------------------------------------------------------------------

    @property
    def config(self) -> ClientSessionConfig:
        """The session configuration."""
        return self._config

    @property
    def connection_id(self) -> str:
        """The id used in log lines."""
        return self._connection_id

    @property
    def started_at(self) -> float:
        """The ``now`` the session was created at."""
        return self._started_at

    @property
    def state(self) -> ClientState:
        """Where the NetConnection stands."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether the server accepted ``connect`` and the session is not closing."""
        return self._state is ClientState.CONNECTED

    @property
    def server_capabilities(self) -> ServerCapabilities | None:
        """What the server announced in its connect ``_result``; None until accepted."""
        return self._server_capabilities

    @property
    def publishing_keys(self) -> frozenset[str]:
        """Stream keys the server accepted for publishing and that are not stopped."""
        return frozenset(key for key, stream in self._publishes.items() if stream.answered)

    @property
    def playing_keys(self) -> frozenset[str]:
        """Stream keys the server accepted for playback and that are not stopped."""
        return frozenset(key for key, stream in self._plays.items() if stream.answered)

    @property
    def pending_publish_keys(self) -> frozenset[str]:
        """Stream keys requested for publishing that the server has not answered yet."""
        return frozenset(key for key, stream in self._publishes.items() if not stream.answered)

    @property
    def pending_play_keys(self) -> frozenset[str]:
        """Stream keys requested for playback that the server has not answered yet."""
        return frozenset(key for key, stream in self._plays.items() if not stream.answered)

    # --- Driver interface ----------------------------------------------------------------------

    def take_output(self) -> SessionOutput:
        """Return and forget the messages and events produced since the last call."""
        output = SessionOutput(
            self._messages, self._events, self._close, self._close_reason if self._close else None
        )
        self._messages = []
        self._events = []
        self._close = False
        return output

    def handle_message(self, message: DetailedMessage, now: float) -> None:
        """Take one message the server sent.

        Args:
            message: The decoded message.
            now: The current time in seconds (stamped on received audio and video).
        """
        if self._state in (ClientState.CLOSING, ClientState.DISCONNECTED):
            self._log.debug(
                "ignoring %s on stream %d: the session is %s",
                type(message.content).__name__,
                message.stream_id,
                self._state.value,
            )
            return
        content = message.content
        if isinstance(content, CommandMessage):
            self._on_command(message.stream_id, content)
        elif isinstance(content, AudioData | VideoData | DataMessage):
            self._on_stream_content(message, now)
        elif isinstance(content, AggregateMessage):
            self._on_aggregate(message, content, now)
        elif isinstance(content, PingRequest):
            self._send(PingResponse(content.timestamp))
        elif isinstance(content, StreamEof):
            stream = self._play_stream(content.stream_id)
            if stream is not None:
                self._end(stream, "eof")
        elif isinstance(content, StreamBegin):
            stream = self._play_stream(content.stream_id)
            if stream is not None:
                stream.ended = False  # live again (nginx-rtmp's only signal by default)
        else:
            # Window/chunk/bandwidth control is handled by the protocol layer; StreamDry,
            # StreamIsRecorded and the buffer events need nothing from us.
            self._log.debug("ignoring %s", type(content).__name__)

    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take the connection's byte total in one direction (a total, not a delta).

        Raises :class:`~rtmp_actors.session.events.NewByteIOTotals` when the total changed.

        Args:
            direction: Which total.
            total: Bytes so far in that direction.

        Raises:
            ValueError: If ``total`` is negative.
        """
        if total < 0:
            msg = f"byte total must not be negative, got {total}"
            raise ValueError(msg)
        if self._state is ClientState.DISCONNECTED:
            return
        if direction is ByteCountDirection.BYTES_RECEIVED:
            if total == self._bytes_received:
                return
            self._bytes_received = total
        else:
            if total == self._bytes_sent:
                return
            self._bytes_sent = total
        self._emit(NewByteIOTotals(self._bytes_sent, self._bytes_received))

    def notify_disconnected(self, reason: str | None) -> None:
        """The connection ended: answer what is outstanding, then raise Disconnected.

        Requests still waiting for the server get their response event with
        ``was_accepted=False`` and the text ``"disconnected"``; accepted playback that has not
        ended yet gets ``StreamEnded(key, "disconnected")``. Then
        :class:`~rtmp_actors.session.events.Disconnected` is raised, and after it nothing:
        later calls are ignored. Queued messages that were not taken are dropped.

        Args:
            reason: Why, in words; None when the server simply closed the connection.
        """
        if self._state is ClientState.DISCONNECTED:
            return
        if self._state is ClientState.CONNECTING:
            self._emit(ConnectionResponseReceived(False, "disconnected"))
        for stream in self._publishes.values():
            if not stream.answered:
                self._emit(PublishResponseReceived(stream.key, False, "disconnected"))
        for stream in self._plays.values():
            if not stream.answered:
                self._emit(PlayResponseReceived(stream.key, False, "disconnected"))
            else:
                self._end(stream, "disconnected")
        self._forget_all()
        self._messages = []
        self._state = ClientState.DISCONNECTED
        self._emit(Disconnected(reason))

    # --- API (Rtmp.ClientSession.Handler) ------------------------------------------------------

    def request_connection(
        self,
        app_name: str,
        *,
        tc_url: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Send ``connect``; the answer comes as a ConnectionResponseReceived event.

        Only the first call does anything; later ones are logged and ignored.

        Args:
            app_name: The application (``live`` in ``rtmp://host/live/key``).
            tc_url: The URL being connected to (``rtmp://host/live``); left out when None.
                Servers log it and some need it, so the driver should pass it.
            extra: More command object fields; they override the standard ones.

        Raises:
            TypeError: If a value in ``extra`` cannot be encoded in AMF.
            ValueError: If a value in ``extra`` is too large for AMF or contains itself.
        """
        if self._state is not ClientState.IDLE:
            self._log.warning(
                "request_connection(%r) ignored: already %s", app_name, self._state.value
            )
            return
        enhanced = self._config.announces_enhanced
        connect = Connect(
            app=app_name,
            type="nonprivate",
            flash_ver=self._config.flash_version,
            tc_url=tc_url,
            fpad=False,
            capabilities=_CAPABILITIES,
            audio_codecs=_AUDIO_CODECS,
            video_codecs=_VIDEO_CODECS,
            video_function=_VIDEO_FUNCTION,
            object_encoding=self._config.object_encoding,
            fourcc_list=list(self._config.enhanced_fourccs) or None,
            caps_ex=self._config.caps_ex if enhanced else None,
            extra=dict(extra or {}),
            transaction_id=self._next_transaction_id,  # 1, as every client sends it
        )
        message = connect.to_message()  # connect is AMF0 whatever objectEncoding says
        message.encode_payload()  # a bad ``extra`` fails here, not in the protocol handler
        self._new_transaction(_Transaction.CONNECT, None)
        self._messages.append(DetailedMessage(0, 0, message))
        self._state = ClientState.CONNECTING

    def request_publish(self, stream_key: str, publish_type: str = "live") -> None:
        """Ask to publish on a stream key; the answer comes as PublishResponseReceived.

        Sends ``releaseStream``, ``FCPublish`` and ``createStream`` as FFmpeg and OBS do, and
        ``publish`` on the new stream once it exists. Without an accepted connection the
        refusal is raised at once. A key already published or requested is ignored.

        Args:
            stream_key: The stream key (any query string, such as a token, is kept).
            publish_type: ``live``, ``record`` or ``append``.
        """
        if self._state is ClientState.DISCONNECTED:
            return
        if stream_key in self._publishes:
            self._log.info("request_publish(%r) ignored: already requested", stream_key)
            return
        if self._state is not ClientState.CONNECTED:
            self._emit(PublishResponseReceived(stream_key, False, self._not_connected_text()))
            return
        stream = _Stream(stream_key, _Kind.PUBLISH, publish_type=publish_type)
        self._publishes[stream_key] = stream
        self._send_command(ReleaseStream(stream_key, self._new_ignored_transaction()))
        self._send_command(FCPublish(stream_key, self._new_ignored_transaction()))
        self._send_command(CreateStream(self._new_transaction(_Transaction.CREATE_STREAM, stream)))

    def request_playback(
        self,
        stream_key: str,
        *,
        start: float = -2000,
        duration: float = -1,
        reset: bool = True,
    ) -> None:
        """Ask to play a stream key; the answer comes as PlayResponseReceived.

        Sends ``createStream``, then ``play`` on the new stream and SetBufferLength. Without an
        accepted connection the refusal is raised at once. A key already played or requested
        is ignored.

        Args:
            stream_key: The stream key.
            start: What FFmpeg sends (its ``-rtmp_live`` value times 1000): -2000 for "live if
                there is such a stream, else recorded" (FFmpeg's default), -1000 for live only
                (FFmpeg ``-rtmp_live live`` and librtmp ``--live``), 0 or more for a position in
                milliseconds in a recording. Servers read -2000 and -1000 like the spec's -2
                and -1, which may be passed as well.
            duration: Milliseconds to play; -1 for everything.
            reset: Whether the server should flush any previous playlist.
        """
        if self._state is ClientState.DISCONNECTED:
            return
        if stream_key in self._plays:
            self._log.info("request_playback(%r) ignored: already requested", stream_key)
            return
        if self._state is not ClientState.CONNECTED:
            self._emit(PlayResponseReceived(stream_key, False, self._not_connected_text()))
            return
        play = Play(stream_key, start=start, duration=duration, reset=reset)
        stream = _Stream(stream_key, _Kind.PLAY, play=play)
        self._plays[stream_key] = stream
        self._send_command(CreateStream(self._new_transaction(_Transaction.CREATE_STREAM, stream)))

    def publish_av_data(
        self, stream_key: str, av_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Send audio or video on a stream being published; ignored otherwise.

        Args:
            stream_key: The published stream key.
            av_type: Audio or video.
            timestamp: Milliseconds; wraps at 2^32 as RTMP timestamps do.
            data: The FLV tag body (tag header byte(s) first).

        Raises:
            ValueError: If ``timestamp`` is negative.
        """
        if timestamp < 0:
            msg = f"timestamp must not be negative, got {timestamp}"
            raise ValueError(msg)
        stream_id = self._publishing_stream_id(stream_key)
        if stream_id is None:
            self._log.debug("publish_av_data(%r) ignored: not publishing", stream_key)
            return
        content = AudioData(bytes(data)) if av_type is MediaType.AUDIO else VideoData(bytes(data))
        self._messages.append(DetailedMessage(timestamp & _MAX_U32, stream_id, content))

    def publish_metadata(
        self, stream_key: str, metadata: StreamMetadata | Mapping[str, Any]
    ) -> None:
        """Send ``@setDataFrame onMetaData`` on a stream being published; ignored otherwise.

        Args:
            stream_key: The published stream key.
            metadata: Typed metadata, or the properties as a mapping (sent as given).

        Raises:
            TypeError: If a property value cannot be encoded in AMF.
            ValueError: If a property value is too large for AMF or contains itself.
        """
        stream_id = self._publishing_stream_id(stream_key)
        if stream_id is None:
            self._log.info("publish_metadata(%r) ignored: not publishing", stream_key)
            return
        properties = metadata.to_dict() if isinstance(metadata, StreamMetadata) else metadata
        # An ECMA array, as FFmpeg and OBS send it; some servers only look for that.
        message = SetDataFrame(EcmaArray(properties)).to_message()
        message.encode_payload()  # a bad value fails here, not in the protocol handler
        self._messages.append(DetailedMessage(0, stream_id, message))

    def stop_publish(self, stream_key: str) -> None:
        """Stop publishing: ``FCUnpublish`` then ``deleteStream``; ignored when not requested.

        A publish the server has not answered yet is cancelled: its PublishResponseReceived
        comes at once with ``was_accepted=False`` and the text ``"cancelled"``, and a stream the
        server creates for it later is deleted.

        Args:
            stream_key: The stream key.
        """
        stream = self._publishes.get(stream_key)
        if stream is None or self._state is ClientState.DISCONNECTED:
            self._log.info("stop_publish(%r) ignored: not publishing", stream_key)
            return
        self._release(stream, "cancelled")

    def pause_playback(self, stream_key: str, paused: bool, milliseconds: float = 0) -> None:
        """Pause or resume a stream being played (``pause``); ignored when not playing.

        The server answers with ``NetStream.Pause.Notify`` or ``NetStream.Unpause.Notify``;
        a live relay then holds media back, and restarts video at a keyframe.

        Args:
            stream_key: The played stream key.
            paused: True to pause, False to resume.
            milliseconds: The stream time at which playback pauses or resumes.
        """
        stream_id = self._playing_stream_id(stream_key)
        if stream_id is None:
            self._log.info("pause_playback(%r) ignored: not playing", stream_key)
            return
        self._send_command(Pause(paused, milliseconds), stream_id)

    def receive_media(
        self, stream_key: str, *, audio: bool | None = None, video: bool | None = None
    ) -> None:
        """Turn audio and/or video of a played stream on or off (``receiveAudio``/``Video``).

        Ignored when not playing; None leaves that kind as it is.
        """
        stream_id = self._playing_stream_id(stream_key)
        if stream_id is None:
            self._log.info("receive_media(%r) ignored: not playing", stream_key)
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
        stream = self._plays.get(stream_key)
        if stream is None or self._state is ClientState.DISCONNECTED:
            self._log.info("stop_playback(%r) ignored: not playing", stream_key)
            return
        self._release(stream, "cancelled")

    def close(self, reason: str | None = None) -> None:
        """Stop every stream politely, then ask the driver to close the connection.

        Published streams get ``FCUnpublish`` and ``deleteStream``, played ones
        ``deleteStream``; requests still unanswered get their response with
        ``was_accepted=False`` and the text ``"session closed"``. The next output has ``close``
        set; from then on server messages are ignored and new requests are refused. The
        driver sends the messages, closes the connection and calls
        :meth:`notify_disconnected`, which raises Disconnected. A second call is ignored.

        Args:
            reason: Why, in words; handed to the driver as ``close_reason``.
        """
        if self._state in (ClientState.CLOSING, ClientState.DISCONNECTED):
            return
        if self._state is ClientState.CONNECTING:
            self._emit(ConnectionResponseReceived(False, "session closed"))
        for stream in [*self._publishes.values(), *self._plays.values()]:
            self._release(stream, "session closed")
        self._forget_all()
        self._state = ClientState.CLOSING
        self._close = True
        self._close_reason = reason

    # --- Inbound commands ----------------------------------------------------------------------

    def _on_command(self, stream_id: int, message: CommandMessage) -> None:
        if message.name == "onBWDone":
            # FFmpeg answers every onBWDone; its optional argument does not matter. Before
            # connect it would only use up transaction id 1, which connect must have.
            if self._state in (ClientState.CONNECTING, ClientState.CONNECTED):
                self._send_command(CheckBandwidth(self._new_ignored_transaction()))
            return
        try:
            command = parse_command(message, self._config.limits)
        except _PARSE_ERRORS as error:
            self._log.warning("ignoring malformed %r command: %s", message.name, error)
            return
        if isinstance(command, Result | ErrorResult):
            self._on_reply(command)
        elif isinstance(command, OnStatus):
            self._on_status(stream_id, command)
        else:
            # onFCPublish, onFCUnpublish, onFCSubscribe, close, and calls we do not serve.
            self._log.debug("ignoring %r command", message.name)

    def _on_reply(self, reply: Result | ErrorResult) -> None:
        transaction_id = _transaction_key(reply.transaction_id)
        if transaction_id is None:
            self._log.info("ignoring %s with transaction id %r", reply.name, reply.transaction_id)
            return
        if transaction_id in self._ignored_transactions:
            del self._ignored_transactions[transaction_id]
            if isinstance(reply, ErrorResult):
                self._log.info("server refused transaction %d: %s", transaction_id, reply.code)
            return
        pending = self._pending.pop(transaction_id, None)
        if pending is None:
            self._log.info("ignoring %s for unknown transaction %d", reply.name, transaction_id)
            return
        kind, stream = pending
        if kind is _Transaction.CONNECT:
            self._on_connect_reply(reply)
        elif stream is None:  # pragma: no cover - every stream transaction has its stream
            return
        elif kind is _Transaction.CREATE_STREAM:
            self._on_create_stream_reply(stream, reply)
        elif isinstance(reply, ErrorResult):
            stream.command_tid = None
            self._refuse(stream, _description(reply.description), reply.code)

    def _on_connect_reply(self, reply: Result | ErrorResult) -> None:
        information = dict(reply.information or {})
        text = _description(reply.description)
        # FFmpeg does not look at the code at all; a _result without one (ExRTMP sends empty
        # objects) is accepted, a _result carrying some other code is not.
        if isinstance(reply, Result) and reply.code in (None, NetConnectionCode.CONNECT_SUCCESS):
            self._state = ClientState.CONNECTED
            self._server_capabilities = self._read_capabilities(reply)
            self._amf3 = (
                self._config.object_encoding == 3 and self._server_capabilities.object_encoding == 3
            )
            self._emit(ConnectionResponseReceived(True, text, reply.code, information))
            self._send(WindowAcknowledgementSize(self._config.window_ack_size))
        else:
            self._state = ClientState.REFUSED
            self._log.info("connection refused: %s %s", reply.code, text)
            self._emit(ConnectionResponseReceived(False, text, reply.code, information))

    def _read_capabilities(self, reply: Result) -> ServerCapabilities:
        try:
            return ServerCapabilities.from_connect_result(ConnectResult.from_result(reply))
        except _PARSE_ERRORS as error:
            self._log.warning("ignoring unreadable server capabilities: %s", error)
            return ServerCapabilities()

    def _on_create_stream_reply(self, stream: _Stream, reply: Result | ErrorResult) -> None:
        if isinstance(reply, ErrorResult):
            if not stream.cancelled:
                self._refuse(stream, _description(reply.description), reply.code)
            return
        try:
            stream_id = CreateStreamResult.from_result(reply).stream_id
        except _PARSE_ERRORS as error:
            self._log.warning("unusable createStream result for %r: %s", stream.key, error)
            if not stream.cancelled:
                self._refuse(stream, "invalid createStream result", None)
            return
        if stream.cancelled:
            if stream_id != 0 and stream_id not in self._streams_by_id:
                self._send_command(DeleteStream(stream_id))
            return
        if stream_id == 0 or stream_id in self._streams_by_id:
            # 0 is the NetConnection; a reused id (nginx-rtmp always answers 1) would mix two
            # streams' data, so this request fails and the other stream is left alone.
            self._refuse(stream, f"server gave unusable stream id {stream_id}", None)
            return
        stream.stream_id = stream_id
        self._streams_by_id[stream_id] = stream
        stream.command_tid = self._new_transaction(_Transaction.STREAM_COMMAND, stream)
        if stream.kind is _Kind.PUBLISH:
            publish = Publish(stream.key, stream.publish_type, stream.command_tid)
            self._send_command(publish, stream_id)
        else:
            assert stream.play is not None
            self._send_command(replace(stream.play, transaction_id=stream.command_tid), stream_id)
            self._send(SetBufferLength(stream_id, self._config.playback_buffer_length_ms))

    def _on_status(self, stream_id: int, status: OnStatus) -> None:
        if status.code == NetConnectionCode.CONNECT_RECONNECT_REQUEST:
            if self._state is ClientState.CONNECTED:
                tc_url = status.extra.get("tcUrl")
                self._emit(
                    ReconnectRequested(
                        tc_url if isinstance(tc_url, str) else None, status.description
                    )
                )
            return
        stream = self._streams_by_id.get(stream_id)
        if stream is None:
            self._log.debug("ignoring %s on stream %d", status.code, stream_id)
            return
        if stream.command_tid is not None:
            # The server answers publish/play with onStatus; no _error will follow.
            self._pending.pop(stream.command_tid, None)
            stream.command_tid = None
        if stream.kind is _Kind.PUBLISH:
            self._on_publish_status(stream, status)
        else:
            self._on_play_status(stream, status)

    def _on_publish_status(self, stream: _Stream, status: OnStatus) -> None:
        code = status.code
        if code == NetStreamCode.PUBLISH_START:
            if not stream.answered:
                stream.answered = True
                text = _description(status.description)
                self._emit(PublishResponseReceived(stream.key, True, text, code))
        elif status.is_error or code in _PUBLISH_FAILURES:
            if not stream.answered:
                self._refuse(stream, _description(status.description), code)
            else:
                self._log.warning("publishing %r: %s %s", stream.key, code, status.description)
        else:
            self._log.debug("publishing %r: %s", stream.key, code)

    def _on_play_status(self, stream: _Stream, status: OnStatus) -> None:
        code = status.code
        if code == NetStreamCode.PLAY_START:
            stream.ended = False
            if not stream.answered:
                stream.answered = True
                text = _description(status.description)
                self._emit(PlayResponseReceived(stream.key, True, text, code))
        elif code == NetStreamCode.PLAY_RESET:
            self._emit(PlayResetReceived(stream.key, _description(status.description)))
        elif code == NetStreamCode.PLAY_PUBLISH_NOTIFY:
            stream.ended = False
        elif code == NetStreamCode.PLAY_UNPUBLISH_NOTIFY:
            self._end(stream, "unpublished")
        elif code in (NetStreamCode.PLAY_STOP, _PLAY_COMPLETE):
            self._end(stream, "stopped")
        elif code in (NetStreamCode.PAUSE_NOTIFY, NetStreamCode.UNPAUSE_NOTIFY):
            self._emit(PauseStatusReceived(stream.key, code == NetStreamCode.PAUSE_NOTIFY))
        elif status.is_error or code in _PLAY_FAILURES:
            if not stream.answered:
                self._refuse(stream, _description(status.description), code)
            else:
                self._end(stream, "failed")
        else:
            # NetStream.Data.Start, Seek notifications, Play.Switch...
            self._log.debug("playing %r: %s", stream.key, code)

    # --- Inbound stream data -------------------------------------------------------------------

    def _play_stream(self, stream_id: int) -> _Stream | None:
        stream = self._streams_by_id.get(stream_id)
        return stream if stream is not None and stream.kind is _Kind.PLAY else None

    def _on_stream_content(self, message: DetailedMessage, now: float) -> None:
        stream = self._play_stream(message.stream_id)
        content = message.content
        if stream is None:
            # Data for a stream we do not play, or late data after stop_playback.
            self._log.debug("ignoring %s on stream %d", type(content).__name__, message.stream_id)
            return
        if isinstance(content, AudioData):
            self._emit(
                AudioVideoDataReceived(
                    stream.key, MediaType.AUDIO, content.data, message.timestamp, now
                )
            )
        elif isinstance(content, VideoData):
            self._emit(
                AudioVideoDataReceived(
                    stream.key, MediaType.VIDEO, content.data, message.timestamp, now
                )
            )
        elif isinstance(content, DataMessage):
            self._on_data(stream, content)

    def _on_data(self, stream: _Stream, data: DataMessage) -> None:
        values = data.values
        name = data.name
        if name in ("onMetaData", "@setDataFrame"):
            self._on_metadata(stream, values)
        elif name == "onPlayStatus":
            # FMS and Wowza announce the end of a recording here rather than with onStatus.
            info = values[1] if len(values) > 1 else None
            if isinstance(info, Mapping) and info.get("code") == _PLAY_COMPLETE:
                self._end(stream, "stopped")
        else:
            # |RtmpSampleAccess, onStatus NetStream.Data.Start, onTextData, onCuePoint...
            self._log.debug("ignoring %r data on %r", name, stream.key)

    def _on_metadata(self, stream: _Stream, values: tuple[AmfValue, ...]) -> None:
        start = 1 if values and values[0] == "@setDataFrame" else 0
        properties = values[start + 1] if len(values) > start + 1 else None
        if properties == []:  # an empty ECMA array comes back from AMF3 as an empty list
            properties = {}
            values = (*values[: start + 1], properties)
        try:
            metadata = parse_on_metadata(values)
        except _PARSE_ERRORS as error:
            self._log.warning("ignoring unreadable metadata on %r: %s", stream.key, error)
            return
        if metadata is None or not isinstance(properties, Mapping):
            self._log.info("ignoring metadata without properties on %r", stream.key)
            return
        self._emit(StreamMetaDataReceived(stream.key, metadata, dict(properties)))

    def _on_aggregate(
        self, message: DetailedMessage, content: AggregateMessage, now: float
    ) -> None:
        # The protocol layer may hand aggregates over whole; split them here so FMS/Wowza
        # playback works either way.
        raw = RawMessage(
            MessageType.AGGREGATE, message.stream_id, message.timestamp, content.payload
        )
        try:
            parts = [decode_message(part, self._config.limits) for part in expand_aggregate(raw)]
        except _PARSE_ERRORS as error:
            self._log.warning("ignoring malformed aggregate message: %s", error)
            return
        for part in parts:
            if isinstance(part.content, AudioData | VideoData | DataMessage):
                self._on_stream_content(part, now)

    # --- Helpers -------------------------------------------------------------------------------

    def _not_connected_text(self) -> str:
        return "session closed" if self._state is ClientState.CLOSING else "not connected"

    def _publishing_stream_id(self, stream_key: str) -> int | None:
        return self._answered_stream_id(self._publishes.get(stream_key))

    def _playing_stream_id(self, stream_key: str) -> int | None:
        return self._answered_stream_id(self._plays.get(stream_key))

    @staticmethod
    def _answered_stream_id(stream: _Stream | None) -> int | None:
        if stream is None or not stream.answered:
            return None
        return stream.stream_id

    def _new_transaction(self, kind: _Transaction, stream: _Stream | None) -> int:
        transaction_id = self._next_transaction_id
        self._next_transaction_id += 1
        self._pending[transaction_id] = (kind, stream)
        return transaction_id

    def _new_ignored_transaction(self) -> int:
        transaction_id = self._next_transaction_id
        self._next_transaction_id += 1
        self._ignored_transactions[transaction_id] = None
        if len(self._ignored_transactions) > _MAX_IGNORED_TRANSACTIONS:
            del self._ignored_transactions[next(iter(self._ignored_transactions))]
        return transaction_id

    def _send(self, content: MessageContent, stream_id: int = 0) -> None:
        self._messages.append(DetailedMessage(0, stream_id, content))

    def _send_command(self, command: Command, stream_id: int = 0) -> None:
        self._send(command.to_message(amf3=self._amf3), stream_id)

    def _emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def _end(self, stream: _Stream, reason: str) -> None:
        if not stream.ended:
            stream.ended = True
            self._emit(StreamEnded(stream.key, reason))

    def _unregister(self, stream: _Stream) -> None:
        streams = self._publishes if stream.kind is _Kind.PUBLISH else self._plays
        if streams.get(stream.key) is stream:
            del streams[stream.key]
        if stream.stream_id is not None and self._streams_by_id.get(stream.stream_id) is stream:
            del self._streams_by_id[stream.stream_id]
        if stream.command_tid is not None:
            self._pending.pop(stream.command_tid, None)
            stream.command_tid = None

    def _refuse(self, stream: _Stream, text: str, code: str | None) -> None:
        """The server refused a request: forget it, free its stream, answer the caller."""
        owns_id = (
            stream.stream_id is not None and self._streams_by_id.get(stream.stream_id) is stream
        )
        self._unregister(stream)
        if owns_id and stream.stream_id is not None:
            self._send_command(DeleteStream(stream.stream_id))
        self._respond(stream, False, text, code)

    def _release(self, stream: _Stream, text: str) -> None:
        """The user gave a stream up: tell the server, and answer the request if still open."""
        self._unregister(stream)
        if stream.kind is _Kind.PUBLISH:
            self._send_command(FCUnpublish(stream.key, self._new_ignored_transaction()))
        if stream.stream_id is not None:
            self._send_command(DeleteStream(stream.stream_id))
        else:
            stream.cancelled = True  # the createStream answer is still to come
        if not stream.answered:
            self._respond(stream, False, text, None)

    def _respond(self, stream: _Stream, accepted: bool, text: str, code: str | None) -> None:
        stream.answered = True
        if stream.kind is _Kind.PUBLISH:
            self._emit(PublishResponseReceived(stream.key, accepted, text, code))
        else:
            self._emit(PlayResponseReceived(stream.key, accepted, text, code))

    def _forget_all(self) -> None:
        self._pending.clear()
        self._ignored_transactions.clear()
        self._publishes.clear()
        self._plays.clear()
        self._streams_by_id.clear()
