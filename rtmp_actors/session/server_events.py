"""The events a :class:`~rtmp_actors.session.server.ServerSession` raises to its event receiver.

``*Requested`` events with a ``request_id`` wait for an answer: the user calls
``accept_request(request_id)`` or ``reject_request(request_id, reason)``; a
:class:`CallRequested` with a ``call_id`` waits for ``answer_call`` or ``fail_call``. The
others only report.
Fields that hold dicts or messages are left out of the hash, so hashing an event never fails
on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.commands import Connect, PlayMode
from rtmp_actors.protocol.messages import slot_setters
from rtmp_actors.session.events import Disconnected, MediaType, NewByteIOTotals, SessionEvent

__all__ = [
    "AcknowledgementReceived",
    "AudioVideoDataReceived",
    "CallRequested",
    "ConnectionRequested",
    "Disconnected",
    "NewByteIOTotals",
    "PeerChunkSizeChanged",
    "PingRequestSent",
    "PingResponseReceived",
    "PlayStreamFinished",
    "PlayStreamRequested",
    "PublishStreamRequested",
    "PublishingFinished",
    "ReleaseStreamRequested",
    "ServerSessionEvent",
    "StreamMetaDataChanged",
]


@dataclass(frozen=True, slots=True)
class ConnectionRequested(SessionEvent):
    """A client asked to connect to an application; answer with accept or reject.

    Attributes:
        request_id: Pass to ``accept_request`` / ``reject_request``.
        app_name: The application name without a query string or trailing "/".
        connect: The whole ``connect`` command: ``tc_url``, ``flash_ver``, the app as sent
            (query included), Enhanced RTMP ``fourcc_list``/info maps/``caps_ex``, ...
    """

    request_id: int
    app_name: str
    connect: Connect = field(hash=False)

    @property
    def query(self) -> str:
        """The query string after ``?`` in the app as sent (``""`` when there is none)."""
        _, _, query = self.connect.app.partition("?")
        return query


@dataclass(frozen=True, slots=True)
class PublishStreamRequested(SessionEvent):
    """A client asked to publish on one of its streams; answer with accept or reject.

    Attributes:
        request_id: Pass to ``accept_request`` / ``reject_request``.
        app_name: The connection's application name.
        stream_key: The stream name as sent (any query string kept).
        stream_id: The message stream the client publishes on.
        publish_type: ``live``, ``record``, ``append`` or whatever else the client sent.
    """

    request_id: int
    app_name: str
    stream_key: str
    stream_id: int
    publish_type: str


@dataclass(frozen=True, slots=True)
class PlayStreamRequested(SessionEvent):
    """A client asked to play a stream; answer with accept or reject.

    Attributes:
        request_id: Pass to ``accept_request`` / ``reject_request``.
        app_name: The connection's application name.
        stream_key: The stream name as sent (any query string kept).
        stream_id: The message stream the client plays on.
        video_type: What the start value asks for: live only, recorded only, or any.
        start_at: The start value as sent: -2/-2000 (any), -1/-1000 (live) or a position in
            milliseconds into a recording.
        duration: Milliseconds to play; -1 for all.
        reset: Whether the client asked to flush any previous playlist.
    """

    request_id: int
    app_name: str
    stream_key: str
    stream_id: int
    video_type: PlayMode
    start_at: float
    duration: float
    reset: bool


@dataclass(frozen=True, slots=True)
class ReleaseStreamRequested(SessionEvent):
    """A publisher sent ``releaseStream`` before publishing (already answered; informational).

    Attributes:
        app_name: The connection's application name.
        stream_key: The stream name the publisher wants freed.
    """

    app_name: str
    stream_key: str


@dataclass(frozen=True, slots=True)
class PublishingFinished(SessionEvent):
    """An accepted publication ended (closeStream, deleteStream or disconnection).

    Attributes:
        app_name: The connection's application name.
        stream_key: The stream that was published.
        stream_id: The message stream it was published on.
    """

    app_name: str
    stream_key: str
    stream_id: int


@dataclass(frozen=True, slots=True)
class PlayStreamFinished(SessionEvent):
    """An accepted playback ended (closeStream, deleteStream, a new play or disconnection).

    Attributes:
        app_name: The connection's application name.
        stream_key: The stream that was played.
        stream_id: The message stream it was played on.
    """

    app_name: str
    stream_key: str
    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamMetaDataChanged(SessionEvent):
    """A publisher sent new metadata (``@setDataFrame``/``onMetaData``) or cleared it.

    Attributes:
        app_name: The connection's application name.
        stream_key: The published stream.
        stream_id: The message stream it is published on.
        meta_data: The typed metadata (empty after ``@clearDataFrame``).
        raw: The properties exactly as received, read-only (relay these to players).
    """

    app_name: str
    stream_key: str
    stream_id: int
    meta_data: StreamMetadata = field(hash=False)
    raw: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class AudioVideoDataReceived(SessionEvent):
    """A publisher sent one audio or video message.

    Attributes:
        app_name: The connection's application name.
        stream_key: The published stream.
        stream_id: The message stream it is published on.
        data_type: Audio or video.
        data: The FLV tag body (tag header byte(s) first).
        timestamp: The message timestamp in milliseconds (32-bit).
        received_at: The session time (seconds, monotonic) when it was handled.
    """

    app_name: str
    stream_key: str
    stream_id: int
    data_type: MediaType
    data: bytes
    timestamp: int
    received_at: float

    # One per media message: set the slots directly (see slot_setters).
    def __init__(
        self,
        app_name: str,
        stream_key: str,
        stream_id: int,
        data_type: MediaType,
        data: bytes,
        timestamp: int,
        received_at: float,
    ) -> None:
        _set_av_app_name(self, app_name)
        _set_av_stream_key(self, stream_key)
        _set_av_stream_id(self, stream_id)
        _set_av_data_type(self, data_type)
        _set_av_data(self, data)
        _set_av_timestamp(self, timestamp)
        _set_av_received_at(self, received_at)


(
    _set_av_app_name,
    _set_av_stream_key,
    _set_av_stream_id,
    _set_av_data_type,
    _set_av_data,
    _set_av_timestamp,
    _set_av_received_at,
) = slot_setters(
    AudioVideoDataReceived,
    "app_name",
    "stream_key",
    "stream_id",
    "data_type",
    "data",
    "timestamp",
    "received_at",
)


@dataclass(frozen=True, slots=True)
class AcknowledgementReceived(SessionEvent):
    """The client acknowledged bytes.

    Attributes:
        bytes_received: The client's received-bytes total (32-bit, wraps).
    """

    bytes_received: int


@dataclass(frozen=True, slots=True)
class PingRequestSent(SessionEvent):
    """The session sent a ping request.

    Attributes:
        timestamp: The ping's timestamp: milliseconds since the session started (32-bit).
    """

    timestamp: int


@dataclass(frozen=True, slots=True)
class PingResponseReceived(SessionEvent):
    """The client answered a ping.

    Attributes:
        timestamp: The timestamp the response carries.
        round_trip: Seconds since the matching ping was sent; None when the response does
            not answer the last ping this session sent.
    """

    timestamp: int
    round_trip: float | None = None


@dataclass(frozen=True, slots=True)
class PeerChunkSizeChanged(SessionEvent):
    """The client changed its chunk size (the decoder already uses the new one).

    Attributes:
        new_chunk_size: The client's chunk size from now on.
    """

    new_chunk_size: int


@dataclass(frozen=True, slots=True)
class CallRequested(SessionEvent):
    """The client called a method the session does not handle itself (``NetConnection.call``).

    Answer with ``answer_call(call_id, *values)`` (``_result``) or
    ``fail_call(call_id, description)`` (``_error``). A call with transaction id 0 is a
    notification: ``call_id`` is None and nothing may be answered. A call left unanswered
    for the session's ``call_timeout`` gets ``_error`` from the session.

    Attributes:
        call_id: Pass to ``answer_call`` / ``fail_call``; None for a notification.
        name: The method name (the command name on the wire).
        arguments: The values after the command object.
        transaction_id: The client's transaction id (0 for a notification).
        stream_id: The message stream it arrived on (0 for ``NetConnection.call``).
        command_object: The command object, usually None.
    """

    call_id: int | None
    name: str
    arguments: tuple[Any, ...] = field(hash=False)
    transaction_id: float
    stream_id: int
    command_object: Any = field(default=None, hash=False)

    @property
    def is_notification(self) -> bool:
        """Whether the client expects no answer (transaction id 0)."""
        return self.call_id is None


ServerSessionEvent = (
    ConnectionRequested
    | PublishStreamRequested
    | PlayStreamRequested
    | ReleaseStreamRequested
    | PublishingFinished
    | PlayStreamFinished
    | StreamMetaDataChanged
    | AudioVideoDataReceived
    | AcknowledgementReceived
    | PingRequestSent
    | PingResponseReceived
    | PeerChunkSizeChanged
    | CallRequested
    | NewByteIOTotals
    | Disconnected
)
"""Every event a server session raises."""
