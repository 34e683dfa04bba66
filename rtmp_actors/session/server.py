"""The server side of an RTMP session as a sans-I/O state machine.

Theory of operation
-------------------
:class:`ServerSession` owns the NetConnection and NetStream logic of one client connection.
It opens no socket, starts no thread and reads no clock. Its driver (an actor) feeds it:

* every decoded inbound message, with the time (:meth:`ServerSession.handle_message`);
* the user's answers and sends (:meth:`~ServerSession.accept_request`,
  :meth:`~ServerSession.send_av_data`, ...);
* byte totals, timer ticks and the end of the connection.

After each call the driver drains :meth:`ServerSession.take_output`: messages for the protocol
handler, events for the event receiver, and whether to close the connection once the messages
are flushed.

The connection goes through these phases:

1. *awaiting connect*: only protocol control messages and ``connect`` are allowed; anything
   else raises :class:`~rtmp_actors.session.events.SessionError`.
2. *connect requested*: :class:`ConnectionRequested` was raised and waits for an answer.
   Commands that arrive meanwhile are held (a bounded number) and handled after acceptance.
3. *connected*: streams are created, published and played.
4. *closing*: the connect was rejected, :meth:`~ServerSession.close` was called or the peer
   broke the protocol. Input and API calls are ignored; only the disconnection still counts.
5. *disconnected*: :class:`Disconnected` was raised; nothing is raised after it.

Each message stream (``createStream``) is *created*, then *publish requested* or *play
requested*, then *publishing* or *playing*, and back to *created* after ``closeStream``.
Whatever the peer sends, the session raises nothing but ``SessionError``: malformed commands
are answered with an error status, and data for streams that do not publish is dropped and
counted (:attr:`ServerSession.ignored_message_count`).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NamedTuple, NoReturn

from rtmp_actors.errors import ProtocolError
from rtmp_actors.logs import ConnectionLog
from rtmp_actors.media.codecs import AudioFourCC, VideoFourCC
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.amf import AmfValue, EcmaArray
from rtmp_actors.protocol.commands import (
    CheckBandwidth,
    ClearDataFrame,
    CloseStream,
    Command,
    Connect,
    ConnectResult,
    CreateStream,
    CreateStreamResult,
    DeleteStream,
    ErrorResult,
    FCPublish,
    FCSubscribe,
    FCUnpublish,
    FourCcCapability,
    GetStreamLength,
    NetConnectionCode,
    NetStreamCode,
    OnBWDone,
    OnMetaData,
    OnStatus,
    Pause,
    Play,
    Play2,
    Publish,
    ReceiveAudio,
    ReceiveVideo,
    ReleaseStream,
    Result,
    Seek,
    SetDataFrame,
    StatusLevel,
    parse_command,
    parse_data,
)
from rtmp_actors.protocol.messages import (
    Acknowledgement,
    AggregateMessage,
    AudioData,
    BandwidthLimitType,
    CommandMessage,
    DataMessage,
    DetailedMessage,
    MessageContent,
    MessageType,
    PingRequest,
    PingResponse,
    RawMessage,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownMessage,
    UserControl,
    VideoData,
    WindowAcknowledgementSize,
    decode_messages,
)
from rtmp_actors.session.events import ByteCountDirection, MediaType, SessionError, SessionEvent
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import (
    AcknowledgementReceived,
    AudioVideoDataReceived,
    ConnectionRequested,
    Disconnected,
    NewByteIOTotals,
    PeerChunkSizeChanged,
    PingRequestSent,
    PingResponseReceived,
    PlayStreamFinished,
    PlayStreamRequested,
    PublishingFinished,
    PublishStreamRequested,
    ReleaseStreamRequested,
    StreamMetaDataChanged,
    UnhandleableCommand,
)

__all__ = [
    "PlayerNotice",
    "ServerSession",
    "SessionOutput",
    "StreamInfo",
    "StreamState",
    "publish_notices",
    "unpublish_notices",
]

_LOG = logging.getLogger(__name__)

_U32: Final = 0xFFFFFFFF
_DEFAULT_CHUNK_SIZE: Final = 128
_MAX_HELD_COMMANDS: Final = 32
"""Most commands held while the connect waits for an answer (real clients send none)."""
_BANDWIDTH_HINT: Final = 8192
"""The figure sent with ``onBWDone``, as FMS and FFmpeg's own server do."""
_CONTROL_TYPES: Final = (
    SetChunkSize,
    Acknowledgement,
    UserControl,
    WindowAcknowledgementSize,
    SetPeerBandwidth,
    UnknownMessage,
)
"""Messages allowed before ``connect``: they concern the chunk stream, not the NetConnection."""
_VIDEO_FOURCCS: Final = frozenset(VideoFourCC)
_AUDIO_FOURCCS: Final = frozenset(AudioFourCC)
_WILDCARD: Final = "*"
_DEFAULT_CONFIG: Final = ServerSessionConfig()


class StreamState(enum.Enum):
    """Where a message stream is in its life."""

    CREATED = "created"
    PUBLISH_REQUESTED = "publish requested"
    PUBLISHING = "publishing"
    PLAY_REQUESTED = "play requested"
    PLAYING = "playing"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A snapshot of one message stream, for introspection.

    Attributes:
        stream_id: The message stream id.
        state: Where the stream is in its life.
        stream_key: The stream name being published or played (None while only created).
        paused: Whether the player paused playback.
        receive_audio: Whether the player wants audio (``receiveAudio``).
        receive_video: Whether the player wants video (``receiveVideo``).
        buffer_length: The player's buffer length in ms (Set Buffer Length), if it sent one.
    """

    stream_id: int
    state: StreamState
    stream_key: str | None
    paused: bool
    receive_audio: bool
    receive_video: bool
    buffer_length: int | None


class SessionOutput(NamedTuple):
    """What the session produced since the last :meth:`ServerSession.take_output`.

    Attributes:
        messages: Messages for the protocol handler, in order.
        events: Events for the event receiver, in order.
        close: Flush the messages, then close the connection (reported once).
        close_reason: Why, when ``close`` is set.
        playback: The players' new choices (pause, receiveAudio/receiveVideo, a new play),
            in order, for whoever writes each playing stream's media: it applies them with
            :class:`~rtmp_actors.session.playback.PlaybackRules`. Take them before the
            messages: a pause must hold back media before its answer leaves.
    """

    messages: list[DetailedMessage]
    events: list[SessionEvent]
    close: bool
    close_reason: str | None
    playback: list[PlaybackChoice]


class _Phase(enum.Enum):
    AWAITING_CONNECT = enum.auto()
    CONNECT_REQUESTED = enum.auto()
    CONNECTED = enum.auto()
    CLOSING = enum.auto()
    DISCONNECTED = enum.auto()


_FINISHED: Final = frozenset({_Phase.CLOSING, _Phase.DISCONNECTED})
# Looking an enum member up on its class is slow next to the rest of the per-media-message
# work; the inbound media path uses these instead.
_CONNECTED: Final = _Phase.CONNECTED
_PUBLISHING: Final = StreamState.PUBLISHING
_AUDIO: Final = MediaType.AUDIO
_VIDEO: Final = MediaType.VIDEO


@dataclass(slots=True)
class _Stream:
    stream_id: int
    state: StreamState = StreamState.CREATED
    stream_key: str | None = None
    paused: bool = False
    receive_audio: bool = True
    receive_video: bool = True
    buffer_length: int | None = None

    def reset(self) -> None:
        self.state = StreamState.CREATED
        self.stream_key = None
        self.paused = False

    def choice(self, *, new_play: bool = False) -> PlaybackChoice:
        return PlaybackChoice(
            self.stream_id, self.paused, self.receive_audio, self.receive_video, new_play
        )

    def info(self) -> StreamInfo:
        return StreamInfo(
            self.stream_id,
            self.state,
            self.stream_key,
            self.paused,
            self.receive_audio,
            self.receive_video,
            self.buffer_length,
        )


@dataclass(frozen=True, slots=True)
class _ConnectRequest:
    connect: Connect
    stream_id: int


@dataclass(frozen=True, slots=True)
class _PublishRequest:
    stream_id: int
    stream_key: str


@dataclass(frozen=True, slots=True)
class _PlayRequest:
    stream_id: int
    stream_key: str
    reset: bool


_Request = _ConnectRequest | _PublishRequest | _PlayRequest


class PlayerNotice(enum.Enum):
    """What a waiting player is told about its stream's publisher."""

    PUBLISHED = "published"  # StreamBegin and NetStream.Play.PublishNotify
    UNPUBLISHED = "unpublished"  # StreamEOF and NetStream.Play.UnpublishNotify


def publish_notices(stream_id: int, stream_key: str) -> tuple[StreamBegin, OnStatus]:
    """What a waiting player is told when a publisher arrives."""
    return StreamBegin(stream_id), OnStatus.play_publish_notify(stream_key)


def unpublish_notices(stream_id: int, stream_key: str) -> tuple[StreamEof, OnStatus]:
    """What a player is told when its publisher leaves; it keeps waiting for another."""
    return StreamEof(stream_id), OnStatus.play_unpublish_notify(stream_key)


def _app_name(app: str) -> str:
    """The application name without its query string and trailing slashes."""
    name, _, _ = app.partition("?")
    return name.rstrip("/")


def _negotiate_fourcc_list(theirs: list[str], ours: tuple[str, ...]) -> list[str]:
    """The FourCCs both sides handle; ``"*"`` on one side accepts the other side's list."""
    if _WILDCARD in ours:
        return [_WILDCARD] if _WILDCARD in theirs else [c for c in theirs if c != _WILDCARD]
    if _WILDCARD in theirs:
        return list(ours)
    return [fourcc for fourcc in theirs if fourcc in ours]


def _info_map(ours: tuple[str, ...], kind: frozenset[str]) -> dict[str, int]:
    """Our FourCCs of one kind (video or audio), each marked as forwardable."""
    if _WILDCARD in ours:
        return {_WILDCARD: FourCcCapability.CAN_FORWARD.value}
    return {fourcc: FourCcCapability.CAN_FORWARD.value for fourcc in ours if fourcc in kind}


def _number_or(value: AmfValue, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return default
    return value


def _describe(content: MessageContent) -> str:
    if isinstance(content, CommandMessage):
        return f"command {content.name!r}"
    return type(content).__name__


class ServerSession:
    """The RTMP server logic of one connection (see the module docstring for the phases).

    Args:
        config: How the server presents itself and what it allows.
        connection_id: Used in log lines.
        now: The session start (seconds, monotonic); ping timestamps count from here.
    """

    def __init__(
        self,
        config: ServerSessionConfig = _DEFAULT_CONFIG,
        *,
        connection_id: str = "",
        now: float = 0.0,
    ) -> None:
        self._config = config
        self._connection_id = connection_id
        self._log = ConnectionLog(_LOG, connection_id)
        self._started_at = now
        self._now = now
        self._phase = _Phase.AWAITING_CONNECT
        self._connect: Connect | None = None
        self._app_name: str | None = None
        self._amf3 = False
        self._streams: dict[int, _Stream] = {}
        self._next_stream_id = 1
        self._requests: dict[int, _Request] = {}
        self._next_request_id = 1
        self._held_commands: list[DetailedMessage] = []
        self._messages: list[DetailedMessage] = []
        self._playback: list[PlaybackChoice] = []
        self._events: list[SessionEvent] = []
        self._close_requested = False
        self._close_reason: str | None = None
        self._bytes_received = 0
        self._bytes_sent = 0
        self._peer_chunk_size = _DEFAULT_CHUNK_SIZE
        self._peer_window_ack_size: int | None = None
        self._peer_bandwidth: int | None = None
        self._last_ping: tuple[int, float] | None = None
        self._next_ping_at: float | None = None
        self._ignored = 0

    # --- Introspection -----------------------------------------------------------------------

    @property
    def connection_id(self) -> str:
        """The id used in log lines."""
        return self._connection_id

    @property
    def config(self) -> ServerSessionConfig:
        """The session's settings."""
        return self._config

    @property
    def app_name(self) -> str | None:
        """The application the client connects to (None before ``connect``)."""
        return self._app_name

    @property
    def connect_command(self) -> Connect | None:
        """The client's ``connect`` command (None before it arrived)."""
        return self._connect

    @property
    def connected(self) -> bool:
        """Whether the connect was accepted and the session is not closing."""
        return self._phase is _Phase.CONNECTED

    @property
    def closed(self) -> bool:
        """Whether the session is closing or disconnected (it ignores input then)."""
        return self._phase in _FINISHED

    @property
    def amf3(self) -> bool:
        """Whether commands to the client are sent as AMF3 (type 17)."""
        return self._amf3

    @property
    def streams(self) -> Mapping[int, StreamInfo]:
        """A snapshot of the client's message streams by id."""
        return MappingProxyType({sid: stream.info() for sid, stream in self._streams.items()})

    @property
    def pending_request_ids(self) -> frozenset[int]:
        """The ids of requests that wait for accept_request or reject_request."""
        return frozenset(self._requests)

    @property
    def peer_chunk_size(self) -> int:
        """The client's chunk size (128 until it sends Set Chunk Size)."""
        return self._peer_chunk_size

    @property
    def peer_window_ack_size(self) -> int | None:
        """The Window Acknowledgement Size the client asked of us, if any."""
        return self._peer_window_ack_size

    @property
    def peer_bandwidth(self) -> int | None:
        """The Set Peer Bandwidth window the client gave us, if any."""
        return self._peer_bandwidth

    @property
    def peer_caps_ex(self) -> int | None:
        """The client's Enhanced RTMP ``capsEx`` bits (None when it sent none)."""
        return None if self._connect is None else self._connect.caps_ex

    @property
    def ignored_message_count(self) -> int:
        """How many inbound messages were dropped as late, misdirected or malformed."""
        return self._ignored

    # --- Driver interface --------------------------------------------------------------------

    def handle_message(self, message: DetailedMessage, now: float) -> None:
        """Take one message from the client.

        Args:
            message: The decoded message.
            now: The current time (seconds, monotonic).

        Raises:
            SessionError: The client broke the session protocol (for example, a command
                before ``connect``); end the connection.
        """
        self._now = now
        content = message.content
        if self._phase is _CONNECTED:
            # Audio and video are nearly all that a publisher sends: dispatch them first.
            if type(content) is AudioData:
                self._on_media(message, _AUDIO, content.data, now)
                return
            if type(content) is VideoData:
                self._on_media(message, _VIDEO, content.data, now)
                return
        if self._phase in _FINISHED:
            self._ignore("%s after the session closed", _describe(content))
            return
        if self._phase is _Phase.AWAITING_CONNECT and not self._allowed_before_connect(content):
            self._fail(f"expected connect as the first command, got {_describe(content)}")
        match content:
            case CommandMessage():
                self._on_command(message, content)
            case DataMessage():
                self._on_data(message, content)
            case AudioData(data=data):
                self._on_media(message, _AUDIO, data, now)
            case VideoData(data=data):
                self._on_media(message, _VIDEO, data, now)
            case AggregateMessage(payload=payload):
                self._on_aggregate(message, payload, now)
            case _:
                self._on_control(content, now)

    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take the connection's byte total in one direction (a total, not a delta).

        Raises :class:`NewByteIOTotals` when the total changed; an unread one from an earlier
        call is replaced rather than followed, since only the latest totals matter.
        """
        if self._phase in _FINISHED:
            return
        if direction is ByteCountDirection.BYTES_RECEIVED:
            changed, self._bytes_received = total != self._bytes_received, total
        else:
            changed, self._bytes_sent = total != self._bytes_sent, total
        if not changed:
            return
        if self._events and isinstance(self._events[-1], NewByteIOTotals):
            self._events.pop()
        self._emit(NewByteIOTotals(self._bytes_sent, self._bytes_received))

    def notify_disconnected(self, reason: str | None) -> None:
        """The connection ended: report the streams still active, then :class:`Disconnected`.

        Nothing is raised after this; later calls are ignored.

        Args:
            reason: Why, in words; None when the client simply closed the connection.
        """
        if self._phase is _Phase.DISCONNECTED:
            return
        for stream in self._ordered_streams():
            self._finish_activity(stream)
        self._streams.clear()
        self._requests.clear()
        self._held_commands.clear()
        self._messages.clear()  # nowhere to send them any more
        self._close_requested = False
        self._phase = _Phase.DISCONNECTED
        self._emit(Disconnected(reason))

    def handle_timer(self, now: float) -> None:
        """Do what is due at ``now``: the periodic ping (see :meth:`next_deadline`)."""
        self._now = now
        if (
            self._phase is _Phase.CONNECTED
            and self._next_ping_at is not None
            and now >= self._next_ping_at
        ):
            self.send_ping_request(now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should be called next (None: no timer needed)."""
        return self._next_ping_at if self._phase is _Phase.CONNECTED else None

    def take_output(self) -> SessionOutput:
        """Return and forget the messages and events produced since the last call."""
        output = SessionOutput(
            self._messages,
            self._events,
            self._close_requested,
            self._close_reason if self._close_requested else None,
            self._playback,
        )
        self._messages = []
        self._events = []
        if self._playback:
            self._playback = []
        self._close_requested = False
        return output

    # --- User interface ----------------------------------------------------------------------

    def accept_request(self, request_id: int) -> None:
        """Accept a connect, publish or play request.

        Unknown or already answered request ids are ignored (logged at debug level).
        """
        request = self._take_request(request_id)
        match request:
            case _ConnectRequest():
                self._accept_connect(request)
            case _PublishRequest():
                self._accept_publish(request)
            case _PlayRequest():
                self._accept_play(request)
            case None:
                pass

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """Refuse a connect, publish or play request.

        A refused connect gets ``_error`` and the connection is closed; a refused publish or
        play gets an error ``onStatus`` and the stream can be used again. Unknown or already
        answered request ids are ignored (logged at debug level).

        Args:
            request_id: The request's id from its event.
            reason: The description sent to the client.
            code: The status code; by default ``NetConnection.Connect.Rejected``,
                ``NetStream.Publish.BadName`` or ``NetStream.Play.StreamNotFound``.
        """
        request = self._take_request(request_id)
        match request:
            case _ConnectRequest(connect=connect, stream_id=stream_id):
                self._refuse_connect(
                    connect.transaction_id,
                    stream_id,
                    reason,
                    code or NetConnectionCode.CONNECT_REJECTED,
                )
            case _PublishRequest(stream_id=stream_id, stream_key=key):
                self._streams[stream_id].reset()
                self._send_stream_error(
                    stream_id, code or NetStreamCode.PUBLISH_BAD_NAME, reason, key
                )
            case _PlayRequest(stream_id=stream_id, stream_key=key):
                self._streams[stream_id].reset()
                self._send_stream_error(
                    stream_id, code or NetStreamCode.PLAY_STREAM_NOT_FOUND, reason, key
                )
            case None:
                pass

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
        """
        if self._playing_stream(stream_id) is None:
            return
        properties = metadata.to_dict() if isinstance(metadata, StreamMetadata) else metadata
        data = OnMetaData(EcmaArray(properties)).to_message()
        self._send(data, stream_id, timestamp & _U32)

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
        self._send(content, stream_id, timestamp & _U32)

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

    def _notice_messages(self, stream_id: int, notice: PlayerNotice) -> list[DetailedMessage]:
        stream = self._playing_stream(stream_id)
        if stream is None or stream.stream_key is None:
            return []
        notices = publish_notices if notice is PlayerNotice.PUBLISHED else unpublish_notices
        user_control, status = notices(stream_id, stream.stream_key)
        return [
            DetailedMessage(0, 0, user_control),
            DetailedMessage(0, stream_id, status.to_message(amf3=self._amf3)),
        ]

    def playback_choice(self, stream_id: int) -> PlaybackChoice | None:
        """The player's current choices for a playing stream (None unless it plays)."""
        stream = self._playing_stream(stream_id)
        return None if stream is None else stream.choice()

    def send_ping_request(self, now: float) -> None:
        """Send a User Control PingRequest and raise :class:`PingRequestSent`.

        The timestamp is the milliseconds since the session started, wrapped to 32 bits;
        the periodic ping is rescheduled from ``now``.
        """
        self._now = now
        if self._phase in _FINISHED:
            self._log.debug("ping request after the session closed: ignored")
            return
        timestamp = max(0, int((now - self._started_at) * 1000)) & _U32
        self._send(PingRequest(timestamp))
        self._last_ping = (timestamp, now)
        self._emit(PingRequestSent(timestamp))
        if self._phase is _Phase.CONNECTED:
            self._schedule_ping(now)

    def send_reconnect_request(
        self, tc_url: str | None = None, description: str | None = None
    ) -> None:
        """Ask the client to reconnect: Enhanced RTMP v2 ``NetConnection.Connect.ReconnectRequest``.

        Sent on stream 0 whenever connected; clients that did not announce ``CapsEx.RECONNECT`` (see
        :attr:`peer_caps_ex`) will probably ignore it.

        Args:
            tc_url: Where to reconnect, absolute or relative; None for the same server.
            description: Text for humans.
        """
        if self._phase is not _Phase.CONNECTED:
            self._log.debug("reconnect request while not connected: ignored")
            return
        self._send_command(OnStatus.reconnect_request(tc_url, description), 0)

    def close(self, reason: str | None = None) -> None:
        """End the session politely, then have the connection closed.

        Players get StreamEOF and ``NetStream.Play.Stop``; publishers get
        ``NetStream.Unpublish.Success``. The finished events follow from
        :meth:`notify_disconnected`.
        """
        if self._phase in _FINISHED:
            return
        for stream in self._ordered_streams():
            if stream.stream_key is None:
                continue
            if stream.state is StreamState.PLAYING:
                self._send(StreamEof(stream.stream_id))
                self._send_command(OnStatus.play_stop(stream.stream_key), stream.stream_id)
            elif stream.state is StreamState.PUBLISHING:
                self._send_command(OnStatus.unpublish_success(stream.stream_key), stream.stream_id)
        self._close(reason)

    # --- Inbound: control messages -----------------------------------------------------------

    @staticmethod
    def _allowed_before_connect(content: MessageContent) -> bool:
        if isinstance(content, CommandMessage):
            return content.name == Connect.name
        return isinstance(content, _CONTROL_TYPES)

    def _on_control(self, content: MessageContent, now: float) -> None:
        match content:
            case SetChunkSize(size=size):
                if size != self._peer_chunk_size:
                    self._peer_chunk_size = size
                    self._emit(PeerChunkSizeChanged(size))
            case Acknowledgement(sequence_number=sequence_number):
                self._emit(AcknowledgementReceived(sequence_number))
            case WindowAcknowledgementSize(size=size):
                self._peer_window_ack_size = size
            case SetPeerBandwidth(window_size=window_size):
                self._peer_bandwidth = window_size
            case PingRequest(timestamp=timestamp):
                self._send(PingResponse(timestamp))
            case PingResponse(timestamp=timestamp):
                self._on_ping_response(timestamp, now)
            case SetBufferLength(stream_id=stream_id, buffer_length=buffer_length):
                # Only for known streams: the peer must not grow a table of its own ids.
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.buffer_length = buffer_length
            case _:
                self._log.debug("ignoring %s", _describe(content))

    def _on_ping_response(self, timestamp: int, now: float) -> None:
        round_trip = None
        if self._last_ping is not None and self._last_ping[0] == timestamp:
            round_trip = max(0.0, now - self._last_ping[1])
            self._last_ping = None
        self._emit(PingResponseReceived(timestamp, round_trip))

    # --- Inbound: connect --------------------------------------------------------------------

    def _on_command(self, message: DetailedMessage, content: CommandMessage) -> None:
        if self._phase is _Phase.AWAITING_CONNECT:
            self._on_connect(message, content)
        elif self._phase is _Phase.CONNECT_REQUESTED:
            self._hold(message)
        else:
            self._dispatch_command(message, content)

    def _on_connect(self, message: DetailedMessage, content: CommandMessage) -> None:
        self._amf3 = content.amf3
        try:
            connect = Connect.from_message(content, self._config.limits)
        except ProtocolError as error:
            self._refuse_connect(
                content.transaction_id,
                message.stream_id,
                f"Invalid connect: {error}",
                NetConnectionCode.CONNECT_REJECTED,
            )
            return
        self._connect = connect
        self._app_name = _app_name(connect.app)
        self._amf3 = content.amf3 or connect.amf3
        self._phase = _Phase.CONNECT_REQUESTED
        request_id = self._new_request(_ConnectRequest(connect, message.stream_id))
        self._emit(ConnectionRequested(request_id, self._app_name, connect))

    def _hold(self, message: DetailedMessage) -> None:
        # Real clients wait for the connect _result; a bounded few are kept for after it.
        if len(self._held_commands) >= _MAX_HELD_COMMANDS:
            self._fail(f"more than {_MAX_HELD_COMMANDS} commands before connect was answered")
        self._held_commands.append(message)

    def _accept_connect(self, request: _ConnectRequest) -> None:
        config = self._config
        self._phase = _Phase.CONNECTED
        self._send(WindowAcknowledgementSize(config.window_ack_size))
        self._send(SetPeerBandwidth(config.peer_bandwidth, BandwidthLimitType.DYNAMIC))
        self._send(StreamBegin(0))
        # The protocol handler switches its encoder when it encodes this message.
        self._send(SetChunkSize(config.chunk_size))
        self._send_command(self._connect_result(request.connect), request.stream_id)
        self._send_command(OnBWDone(_BANDWIDTH_HINT), 0)
        self._schedule_ping(self._now)
        held, self._held_commands = self._held_commands, []
        for message in held:
            if self._phase is _Phase.CONNECTED and isinstance(message.content, CommandMessage):
                self._dispatch_command(message, message.content)

    def _connect_result(self, connect: Connect) -> ConnectResult:
        config = self._config
        ours = config.enhanced_fourccs
        sent_info_map = (
            connect.video_fourcc_info_map is not None or connect.audio_fourcc_info_map is not None
        )
        return ConnectResult(
            transaction_id=connect.transaction_id,
            fms_version=config.fms_version,
            capabilities=config.capabilities,
            object_encoding=connect.object_encoding or 0,
            fourcc_list=(
                None
                if connect.fourcc_list is None
                else _negotiate_fourcc_list(connect.fourcc_list, ours)
            ),
            video_fourcc_info_map=_info_map(ours, _VIDEO_FOURCCS) if sent_info_map else None,
            audio_fourcc_info_map=_info_map(ours, _AUDIO_FOURCCS) if sent_info_map else None,
            caps_ex=config.caps_ex if connect.enhanced else None,
            extra_properties={"mode": 1},
        )

    def _refuse_connect(
        self, transaction_id: float, stream_id: int, reason: str, code: str
    ) -> None:
        self._send_command(ErrorResult.with_status(transaction_id, code, reason), stream_id)
        self._close(reason)

    # --- Inbound: commands once connected ----------------------------------------------------

    def _dispatch_command(self, message: DetailedMessage, content: CommandMessage) -> None:
        try:
            command = parse_command(content, self._config.limits)
        except ProtocolError as error:
            self._on_malformed_command(message, content, error)
            return
        stream_id = message.stream_id
        match command:
            case CreateStream():
                self._on_create_stream(command, stream_id)
            case ReleaseStream(stream_name=key):
                self._emit(ReleaseStreamRequested(self._app, key))
                self._send_command(Result(command.transaction_id), stream_id)
            case FCPublish(stream_name=key):
                self._send_fc_status("onFCPublish", NetStreamCode.PUBLISH_START, key, stream_id)
            case FCUnpublish(stream_name=key):
                self._send_fc_status(
                    "onFCUnpublish", NetStreamCode.UNPUBLISH_SUCCESS, key, stream_id
                )
            case FCSubscribe(stream_name=key):
                self._send_fc_status("onFCSubscribe", NetStreamCode.PLAY_START, key, stream_id)
            case GetStreamLength():
                # Live streams have no length; FFmpeg only uses it to pick live or recorded.
                self._send_command(Result(command.transaction_id, None, (0,)), stream_id)
            case CheckBandwidth():
                self._send_command(Result(command.transaction_id), stream_id)
            case Publish():
                self._on_publish(command, stream_id)
            case Play():
                self._request_play(command, stream_id)
            case Play2():
                self._on_play2(command, stream_id)
            case Pause():
                self._on_pause(command, stream_id)
            case Seek(milliseconds=milliseconds):
                self._on_seek(milliseconds, stream_id)
            case ReceiveAudio(enabled=enabled):
                self._set_receive(stream_id, MediaType.AUDIO, enabled=enabled)
            case ReceiveVideo(enabled=enabled):
                self._set_receive(stream_id, MediaType.VIDEO, enabled=enabled)
            case CloseStream():
                self._on_close_stream(stream_id)
            case DeleteStream(stream_id=deleted):
                self._on_delete_stream(deleted)
            case Connect():
                self._answer_error(command, stream_id, "Already connected.")
            case Result() | ErrorResult() | OnStatus() | OnBWDone():
                self._ignore("unsolicited %r from the client", content.name)
            case _:
                self._on_unknown_command(content, stream_id)

    def _on_malformed_command(
        self, message: DetailedMessage, content: CommandMessage, error: ProtocolError
    ) -> None:
        self._log.info("malformed %r command: %s", content.name, error)
        stream_id = message.stream_id
        if content.name == Publish.name:
            self._send_stream_error(stream_id, NetStreamCode.PUBLISH_BAD_NAME, str(error))
        elif content.name in (Play.name, Play2.name):
            self._send_stream_error(stream_id, NetStreamCode.PLAY_FAILED, str(error))
        elif content.transaction_id != 0:
            self._send_command(
                ErrorResult.with_status(
                    content.transaction_id, NetConnectionCode.CALL_FAILED, str(error)
                ),
                stream_id,
            )
        else:
            self._ignored += 1

    def _on_unknown_command(self, content: CommandMessage, stream_id: int) -> None:
        self._log.debug("unknown command %r on stream %d", content.name, stream_id)
        if content.transaction_id != 0:
            self._send_command(
                ErrorResult.with_status(
                    content.transaction_id,
                    NetConnectionCode.CALL_FAILED,
                    f"Unknown command {content.name}.",
                ),
                stream_id,
            )
        self._emit(UnhandleableCommand(content, stream_id))

    def _answer_error(self, command: Command, stream_id: int, description: str) -> None:
        self._send_command(
            ErrorResult.with_status(
                command.transaction_id, NetConnectionCode.CALL_FAILED, description
            ),
            stream_id,
        )

    def _on_create_stream(self, command: CreateStream, reply_stream_id: int) -> None:
        if len(self._streams) >= self._config.max_streams_per_connection:
            limit = self._config.max_streams_per_connection
            self._answer_error(command, reply_stream_id, f"No more than {limit} streams.")
            return
        stream_id = self._allocate_stream_id()
        self._streams[stream_id] = _Stream(stream_id)
        self._send_command(CreateStreamResult(command.transaction_id, stream_id), reply_stream_id)

    def _allocate_stream_id(self) -> int:
        # Ids count up from 1 and are not reused soon; 0 is the NetConnection's.
        while True:
            stream_id = self._next_stream_id
            self._next_stream_id = stream_id % _U32 + 1
            if stream_id not in self._streams:
                return stream_id

    # --- Inbound: publish and play -----------------------------------------------------------

    def _on_publish(self, command: Publish, stream_id: int) -> None:
        key = command.stream_name
        stream = self._idle_stream(stream_id)
        if isinstance(stream, str):
            self._send_stream_error(stream_id, NetStreamCode.PUBLISH_BAD_NAME, stream, key)
            return
        stream.state = StreamState.PUBLISH_REQUESTED
        stream.stream_key = key
        request_id = self._new_request(_PublishRequest(stream_id, key))
        self._emit(
            PublishStreamRequested(request_id, self._app, key, stream_id, command.publish_type)
        )

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
        stream = self._idle_stream(stream_id)
        if isinstance(stream, str):
            self._send_stream_error(stream_id, NetStreamCode.PLAY_FAILED, stream, key)
            return
        stream.state = StreamState.PLAY_REQUESTED
        stream.stream_key = key
        request_id = self._new_request(_PlayRequest(stream_id, key, command.reset))
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

    def _idle_stream(self, stream_id: int) -> _Stream | str:
        """The created stream that may start publishing or playing, or why it may not."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return f"Stream {stream_id} does not exist."
        if stream.state is not StreamState.CREATED:
            return f"Stream {stream_id} is already {stream.state.value}."
        return stream

    def _accept_publish(self, request: _PublishRequest) -> None:
        stream = self._streams[request.stream_id]
        stream.state = StreamState.PUBLISHING
        self._send(StreamBegin(request.stream_id))
        self._send_command(OnStatus.publish_start(request.stream_key), request.stream_id)

    def _accept_play(self, request: _PlayRequest) -> None:
        stream_id, key = request.stream_id, request.stream_key
        stream = self._streams[stream_id]
        stream.state = StreamState.PLAYING
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
        self._send_command(OnStatus.seek_notify(stream.stream_key, milliseconds), stream_id)

    def _set_receive(self, stream_id: int, media: MediaType, *, enabled: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            self._ignore("receive%s on unknown stream %d", media.value.title(), stream_id)
        else:
            if media is MediaType.AUDIO:
                stream.receive_audio = enabled
            else:
                stream.receive_video = enabled
            if stream.state is StreamState.PLAYING:
                self._playback.append(stream.choice())

    def _on_close_stream(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            self._ignore("closeStream on unknown stream %d", stream_id)
            return
        if stream.state is StreamState.PUBLISHING and stream.stream_key is not None:
            # The client keeps its NetConnection: tell it the publication ended.
            self._send_command(OnStatus.unpublish_success(stream.stream_key), stream_id)
        self._finish_activity(stream)

    def _on_delete_stream(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            self._ignore("deleteStream of unknown stream %d", stream_id)
            return
        self._finish_activity(stream)

    def _finish_activity(self, stream: _Stream) -> None:
        """End what the stream does, raising the finished event if it was accepted."""
        key = stream.stream_key
        if stream.state is StreamState.PUBLISHING and key is not None:
            self._emit(PublishingFinished(self._app, key, stream.stream_id))
        elif stream.state is StreamState.PLAYING and key is not None:
            self._emit(PlayStreamFinished(self._app, key, stream.stream_id))
        self._drop_requests_for(stream.stream_id)
        stream.reset()

    # --- Inbound: data and media -------------------------------------------------------------

    def _publishing_stream(self, stream_id: int) -> _Stream | None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.PUBLISHING:
            return None
        return stream

    def _on_data(self, message: DetailedMessage, content: DataMessage) -> None:
        stream = self._publishing_stream(message.stream_id)
        if stream is None:
            self._ignore("data on stream %d, which is not publishing", message.stream_id)
            return
        try:
            parsed = parse_data(content)
        except ProtocolError as error:
            self._ignore("malformed %r data: %s", content.name, error)
            return
        match parsed:
            case (
                SetDataFrame(handler="onMetaData", metadata=metadata)
                | OnMetaData(metadata=metadata)
            ):
                self._metadata_changed(stream, metadata)
            case ClearDataFrame(handler="onMetaData"):
                self._metadata_changed(stream, {})
            case _:
                self._ignore("data %r on stream %d", content.name, message.stream_id)

    def _metadata_changed(self, stream: _Stream, properties: Mapping[str, Any]) -> None:
        raw = MappingProxyType(dict(properties))
        metadata = StreamMetadata.from_dict(raw)
        key = stream.stream_key or ""
        self._emit(StreamMetaDataChanged(self._app, key, stream.stream_id, metadata, raw))

    def _on_media(
        self, message: DetailedMessage, media: MediaType, data: bytes, now: float
    ) -> None:
        # _publishing_stream and _emit, inlined: this runs for every media message.
        stream = self._streams.get(message.stream_id)
        if stream is None or stream.state is not _PUBLISHING or stream.stream_key is None:
            self._ignore("%s on stream %d, which is not publishing", media.value, message.stream_id)
            return
        self._events.append(
            AudioVideoDataReceived(
                self._app_name or "",
                stream.stream_key,
                stream.stream_id,
                media,
                data,
                message.timestamp,
                now,
            )
        )

    def _on_aggregate(self, message: DetailedMessage, payload: bytes, now: float) -> None:
        if self._publishing_stream(message.stream_id) is None:
            self._ignore("aggregate on stream %d, which is not publishing", message.stream_id)
            return
        raw = RawMessage(MessageType.AGGREGATE, message.stream_id, message.timestamp, payload)
        try:
            parts = decode_messages(raw, self._config.limits)
        except ProtocolError as error:
            self._ignore("malformed aggregate: %s", error)
            return
        for part in parts:
            if isinstance(part.content, AudioData | VideoData | DataMessage):
                self.handle_message(part, now)
            else:
                self._ignore("%s inside an aggregate", _describe(part.content))

    # --- Helpers -----------------------------------------------------------------------------

    @property
    def _app(self) -> str:
        return self._app_name or ""

    def _ordered_streams(self) -> list[_Stream]:
        return [self._streams[stream_id] for stream_id in sorted(self._streams)]

    def _playing_stream(self, stream_id: int) -> _Stream | None:
        if self._phase is not _Phase.CONNECTED:
            return None
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.PLAYING:
            return None
        return stream

    def _new_request(self, request: _Request) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        self._requests[request_id] = request
        return request_id

    def _take_request(self, request_id: int) -> _Request | None:
        if self._phase in _FINISHED:
            self._log.debug("answer to request %s after the session closed: ignored", request_id)
            return None
        request = self._requests.pop(request_id, None)
        if request is None:
            self._log.debug("no pending request %s: answer ignored", request_id)
        return request

    def _drop_requests_for(self, stream_id: int) -> None:
        for request_id, request in list(self._requests.items()):
            if not isinstance(request, _ConnectRequest) and request.stream_id == stream_id:
                del self._requests[request_id]

    def _schedule_ping(self, now: float) -> None:
        interval = self._config.ping_interval
        self._next_ping_at = now + interval if interval > 0 else None

    def _send(self, content: MessageContent, stream_id: int = 0, timestamp: int = 0) -> None:
        self._messages.append(DetailedMessage(timestamp, stream_id, content))

    def _send_command(self, command: Command, stream_id: int) -> None:
        self._send(command.to_message(amf3=self._amf3), stream_id)

    def _send_stream_error(
        self, stream_id: int, code: str, description: str, stream_key: str | None = None
    ) -> None:
        extra: dict[str, AmfValue] = {} if stream_key is None else {"details": stream_key}
        status = OnStatus(code, StatusLevel.ERROR, description, extra)
        self._send_command(status, stream_id)

    def _send_fc_status(self, name: str, code: str, stream_key: str, stream_id: int) -> None:
        info: dict[str, AmfValue] = {
            "level": str(StatusLevel.STATUS),
            "code": str(code),
            "description": stream_key,
        }
        self._send(CommandMessage(name, 0, None, (info,), self._amf3), stream_id)

    def _emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def _ignore(self, message: str, *args: object) -> None:
        self._ignored += 1
        self._log.debug("ignored: " + message, *args)

    def _close(self, reason: str | None) -> None:
        self._phase = _Phase.CLOSING
        self._requests.clear()
        self._held_commands.clear()
        self._next_ping_at = None
        self._close_requested = True
        self._close_reason = reason

    def _fail(self, reason: str) -> NoReturn:
        self._phase = _Phase.CLOSING
        self._requests.clear()
        self._held_commands.clear()
        self._next_ping_at = None
        self._log.warning("session error: %s", reason)
        raise SessionError(reason)
