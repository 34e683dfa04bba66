"""Events a client session raises (the Elixir library's ``Rtmp.ClientSession.Events``).

Every request the session takes gets exactly one response event
(:class:`ConnectionResponseReceived`, :class:`PublishResponseReceived`,
:class:`PlayResponseReceived`, or for a remote call :class:`CallAnswered` or
:class:`CallFailed`), refusals included: the session answers for the server when the
request is made after ``close``, is cancelled, or the connection ends first. A request the
session refuses as a misuse (raising :class:`~rtmp_actors.errors.LocalProtocolError`) was
never taken and gets no event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.session.events import Disconnected, MediaType, NewByteIOTotals, SessionEvent

__all__ = [
    "AudioVideoDataReceived",
    "CallAnswered",
    "CallFailed",
    "ConnectionResponseReceived",
    "Disconnected",
    "MediaType",
    "NewByteIOTotals",
    "PauseStatusReceived",
    "PlayResetReceived",
    "PlayResponseReceived",
    "PublishResponseReceived",
    "ReconnectRequested",
    "SeekStatusReceived",
    "SessionEvent",
    "StreamEnded",
    "StreamMetaDataReceived",
]


@dataclass(frozen=True, slots=True)
class ConnectionResponseReceived(SessionEvent):
    """The answer to ``request_connection``.

    Attributes:
        was_accepted: True only for a ``_result`` with ``NetConnection.Connect.Success``.
        response_text: The server's description, or the session's reason ("disconnected",
            "session closed") when the server never answered; "" when the server gave none.
        code: The status code (``NetConnection.Connect.Success``, ``...Rejected``...), None
            when the server sent none or never answered.
        information: The server's information object as sent (empty when there was none).
    """

    was_accepted: bool
    response_text: str
    code: str | None = None
    information: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class PublishResponseReceived(SessionEvent):
    """The answer to ``request_publish``.

    Attributes:
        stream_key: The stream key the request named.
        was_accepted: True when the server sent ``NetStream.Publish.Start``.
        response_text: The server's description, or the session's reason ("session closed",
            "cancelled", "disconnected"...).
        code: The status code, None when the server sent none or never answered.
    """

    stream_key: str
    was_accepted: bool
    response_text: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class PlayResponseReceived(SessionEvent):
    """The answer to ``request_playback``.

    Attributes:
        stream_key: The stream key the request named.
        was_accepted: True when the server sent ``NetStream.Play.Start``.
        response_text: The server's description, or the session's reason.
        code: The status code, None when the server sent none or never answered.
    """

    stream_key: str
    was_accepted: bool
    response_text: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class StreamMetaDataReceived(SessionEvent):
    """``onMetaData`` arrived on a stream being played.

    Attributes:
        stream_key: The stream key being played.
        meta_data: The typed metadata.
        raw: The properties as sent (ECMA array or object), for fields the typed form lacks.
    """

    stream_key: str
    meta_data: StreamMetadata
    raw: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class AudioVideoDataReceived(SessionEvent):
    """An audio or video message arrived on a stream being played.

    Attributes:
        stream_key: The stream key being played.
        data_type: Audio or video.
        data: The FLV tag body (tag header byte(s) first).
        timestamp: The message's 32-bit RTMP timestamp, in milliseconds.
        received_at: The session time (``now``, seconds) at which the message was handled.
    """

    stream_key: str
    data_type: MediaType
    data: bytes
    timestamp: int
    received_at: float


@dataclass(frozen=True, slots=True)
class PlayResetReceived(SessionEvent):
    """The server sent ``NetStream.Play.Reset`` for a stream being played.

    Attributes:
        stream_key: The stream key being played.
        description: The server's description ("" when it gave none).
    """

    stream_key: str
    description: str


@dataclass(frozen=True, slots=True)
class PauseStatusReceived(SessionEvent):
    """The server confirmed a pause or resume of a stream being played.

    Attributes:
        stream_key: The stream key being played.
        paused: True for ``NetStream.Pause.Notify``, False for ``NetStream.Unpause.Notify``.
    """

    stream_key: str
    paused: bool


@dataclass(frozen=True, slots=True)
class SeekStatusReceived(SessionEvent):
    """The server answered a seek (``NetStream.Seek.Notify`` or ``NetStream.Seek.Failed``).

    Media from the new position follows a successful seek.

    Attributes:
        stream_key: The stream key being played.
        succeeded: Whether the stream moved (Seek.Notify).
    """

    stream_key: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class StreamEnded(SessionEvent):
    """A stream being played ended; raised once per active period.

    Playback stays requested: if the server signals that the stream is live again
    (``NetStream.Play.PublishNotify``, ``NetStream.Play.Start`` or User Control StreamBegin),
    data flows again and a later end raises this event again. Call ``stop_playback`` to give
    the stream up.

    Attributes:
        stream_key: The stream key being played.
        reason: ``"eof"`` (User Control StreamEOF), ``"unpublished"``
            (``NetStream.Play.UnpublishNotify``), ``"stopped"`` (``NetStream.Play.Stop`` or
            ``NetStream.Play.Complete``), ``"failed"`` (an error-level onStatus after
            playback had started) or ``"disconnected"`` (the connection ended).
    """

    stream_key: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReconnectRequested(SessionEvent):
    """Enhanced RTMP v2: the server asked the client to reconnect.

    The server keeps serving this connection until the client leaves; Enhanced RTMP asks
    publishers to switch at their next keyframe.

    Attributes:
        tc_url: Where to reconnect, absolute or relative to the current URL; None means the
            same URL.
        description: The server's description, if any.
    """

    tc_url: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class CallAnswered(SessionEvent):
    """The server answered a remote call (``call``) with ``_result``.

    Attributes:
        name: The method called.
        transaction_id: What ``call`` returned.
        values: The values after the command object (a Flash responder's result is the first).
        command_object: The command object, usually None.
    """

    name: str
    transaction_id: int
    values: tuple[Any, ...] = field(hash=False)
    command_object: Any = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class CallFailed(SessionEvent):
    """A remote call failed: the server answered ``_error``, or it never will.

    When the session closes or the connection ends first, the information is the session's
    own: level ``error``, code ``NetConnection.Call.Failed``, description ``"session
    closed"`` or ``"disconnected"``.

    Attributes:
        name: The method called.
        transaction_id: What ``call`` returned.
        information: The server's information object (level, code, description), as sent.
    """

    name: str
    transaction_id: int
    information: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def code(self) -> str | None:
        """The information's ``code``, if it has a string one."""
        code = self.information.get("code")
        return code if isinstance(code, str) else None

    @property
    def description(self) -> str:
        """The information's ``description`` ("" when it has none)."""
        description = self.information.get("description")
        return description if isinstance(description, str) else ""
