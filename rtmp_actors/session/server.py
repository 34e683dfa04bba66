"""The server side of an RTMP session as a sans-I/O state machine.

Theory of operation
-------------------
:class:`ServerSession` owns the NetConnection and NetStream logic of one client connection.
It opens no socket, starts no thread and reads no clock. Its driver (an actor) feeds it:

* every decoded inbound message, with the time (:meth:`ServerSession.handle_message`);
* the user's answers and sends (:meth:`~ServerSession.accept_request`,
  :meth:`~ServerSession.answer_call`, :meth:`~ServerSession.send_av_data`, ...);
* byte totals, timer ticks and the end of the connection.

After each call the driver drains :meth:`ServerSession.take_output`: messages for the protocol
handler, events for the event receiver, and whether to close the connection once the messages
are flushed.

The connection goes through these phases:

1. *awaiting connect*: only protocol control messages and ``connect`` are allowed; anything
   else raises :class:`~rtmp_actors.session.events.SessionError`.
2. *connect requested*: :class:`~rtmp_actors.session.server_events.ConnectionRequested`
   was raised and waits for an answer. Commands that arrive meanwhile are held (a bounded
   number) and handled after acceptance.
3. *connected*: streams are created, published and played.
4. *closing*: the connect was rejected, :meth:`~ServerSession.close` was called or the peer
   broke the protocol. Input and most API calls are ignored; only the disconnection still
   counts.
5. *disconnected*: :class:`Disconnected` was raised; nothing is raised after it.

Each message stream (``createStream``) is *created*, then *publish requested* or *play
requested*, then *publishing* or *playing*, and back to *created* after ``closeStream``
(:class:`~rtmp_actors.session.server_streams.StreamState`).

Errors are told apart as h11 does. Whatever the peer sends, the session raises nothing but
``SessionError`` (a :class:`~rtmp_actors.errors.RemoteProtocolError`; end the connection):
malformed commands are answered with an error status, and data for streams that do not publish
is dropped and counted (:attr:`ServerSession.ignored_message_count`). The user's mistakes
(answering a request that does not exist or was answered already, asking a client that is not
connected to reconnect) raise :class:`~rtmp_actors.errors.LocalProtocolError` and leave the
session as it was. What the user could not have known is not a mistake: answers to requests
the session withdrew (the client closed the stream, or the session closed) and sends to
streams that no longer play are ignored.

The class is assembled from layers in private modules (``_server_base``, ``_server_publish``,
``_server_play``, ``_server_commands``, ``_server_connect``; see ``_server_base`` for how they
stack); this module keeps the public API, the phases, control messages and pings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands import Connect, NetConnectionCode, NetStreamCode, OnStatus
from rtmp_actors.protocol.messages import (
    Acknowledgement,
    AggregateMessage,
    AudioData,
    CommandMessage,
    DataMessage,
    DetailedMessage,
    MessageContent,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamEof,
    UnknownMessage,
    UserControl,
    VideoData,
    WindowAcknowledgementSize,
)
from rtmp_actors.session._server_base import (
    AUDIO,
    CONNECTED,
    FINISHED,
    U32,
    VIDEO,
    ConnectRequest,
    Phase,
    PlayRequest,
    PublishRequest,
    describe,
)
from rtmp_actors.session._server_connect import ConnectHandling
from rtmp_actors.session.events import ByteCountDirection, SessionEvent
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import (
    AcknowledgementReceived,
    Disconnected,
    NewByteIOTotals,
    PeerChunkSizeChanged,
    PingRequestSent,
    PingResponseReceived,
)
from rtmp_actors.session.server_streams import (
    PlayerNotice,
    StreamInfo,
    StreamState,
    publish_notices,
    unpublish_notices,
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

_CONTROL_TYPES: Final = (
    SetChunkSize,
    Acknowledgement,
    UserControl,
    WindowAcknowledgementSize,
    SetPeerBandwidth,
    UnknownMessage,
)
"""Messages allowed before ``connect``: they concern the chunk stream, not the NetConnection."""
_DEFAULT_CONFIG: Final = ServerSessionConfig()


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


class ServerSession(ConnectHandling):
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
        super().__init__(config, connection_id, now, _LOG)

    # --- Introspection -----------------------------------------------------------------------

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
        return self._phase is Phase.CONNECTED

    @property
    def closed(self) -> bool:
        """Whether the session is closing or disconnected (it ignores input then)."""
        return self._phase in FINISHED

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
        return self._requests.pending_ids

    @property
    def pending_call_ids(self) -> frozenset[int]:
        """The ids of remote calls that wait for answer_call or fail_call."""
        return self._calls.pending_ids

    @property
    def handles_calls(self) -> bool:
        """Whether remote calls are raised as :class:`CallRequested` for the user to answer.

        True by default. Set it to False when nobody would answer them (the event receiver
        has no handler for them): each call is then answered ``_error``
        (``NetConnection.Call.Failed``, "Method 'x' is not handled by this server.") at once
        and notifications are dropped, with no event.
        """
        return self._calls_handled

    @handles_calls.setter
    def handles_calls(self, handled: bool) -> None:
        self._calls_handled = handled

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
        if self._phase is CONNECTED:
            # Audio and video are nearly all that a publisher sends: dispatch them first.
            if type(content) is AudioData:
                self._on_media(message, AUDIO, content.data, now)
                return
            if type(content) is VideoData:
                self._on_media(message, VIDEO, content.data, now)
                return
        if self._phase in FINISHED:
            self._ignore("%s after the session closed", describe(content))
            return
        if self._phase is Phase.AWAITING_CONNECT and not self._allowed_before_connect(content):
            self._fail(f"expected connect as the first command, got {describe(content)}")
        match content:
            case CommandMessage():
                self._on_command(message, content)
            case DataMessage():
                self._on_data(message, content)
            case AudioData(data=data):
                self._on_media(message, AUDIO, data, now)
            case VideoData(data=data):
                self._on_media(message, VIDEO, data, now)
            case AggregateMessage(payload=payload):
                self._on_aggregate(message, payload, now)
            case _:
                self._on_control(content, now)

    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take the connection's byte total in one direction (a total, not a delta).

        Raises :class:`NewByteIOTotals` when the total changed; an unread one from an earlier
        call is replaced rather than followed, since only the latest totals matter.

        Raises:
            LocalProtocolError: If ``total`` is negative; nothing changes.
        """
        changed = self._new_byte_total(direction, total)
        if not changed or self._phase in FINISHED:
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
        if self._phase is Phase.DISCONNECTED:
            return
        for stream in self._ordered_streams():
            self._finish_activity(stream)
        self._streams.clear()
        self._requests.clear()
        self._calls.clear()
        self._held_commands.clear()
        self._messages.clear()  # nowhere to send them any more
        self._close_requested = False
        self._phase = Phase.DISCONNECTED
        self._emit(Disconnected(reason))

    def handle_timer(self, now: float) -> None:
        """Do what is due at ``now``: the periodic ping, calls that waited too long.

        See :meth:`next_deadline`.
        """
        self._now = now
        if self._phase is not Phase.CONNECTED:
            return
        self._expire_calls(now)
        if self._next_ping_at is not None and now >= self._next_ping_at:
            self.send_ping_request(now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should be called next (None: no timer needed)."""
        if self._phase is not Phase.CONNECTED:
            return None
        call_deadline = self._calls.next_deadline()
        if call_deadline is None or self._next_ping_at is None:
            return self._next_ping_at if call_deadline is None else call_deadline
        return min(call_deadline, self._next_ping_at)

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

        An answer to a request the session withdrew meanwhile (the client closed its stream,
        or the session closed) is ignored, logged at debug level: the caller could not know.

        Raises:
            LocalProtocolError: ``request_id`` names no request, or one already answered;
                the session is unchanged.
        """
        request = self._take_request(request_id)
        match request:
            case ConnectRequest():
                self._accept_connect(request)
            case PublishRequest():
                self._accept_publish(request)
            case PlayRequest():
                self._accept_play(request)
            case None:
                pass

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """Refuse a connect, publish or play request.

        A refused connect gets ``_error`` and the connection is closed; a refused publish or
        play gets an error ``onStatus`` and the stream can be used again. Answers to
        withdrawn requests are ignored, as in :meth:`accept_request`.

        Args:
            request_id: The request's id from its event.
            reason: The description sent to the client.
            code: The status code; by default ``NetConnection.Connect.Rejected``,
                ``NetStream.Publish.BadName`` or ``NetStream.Play.StreamNotFound``.

        Raises:
            LocalProtocolError: ``request_id`` names no request, or one already answered;
                the session is unchanged.
        """
        request = self._take_request(request_id)
        match request:
            case ConnectRequest(connect=connect, stream_id=stream_id):
                self._refuse_connect(
                    connect.transaction_id,
                    stream_id,
                    reason,
                    code or NetConnectionCode.CONNECT_REJECTED,
                )
            case PublishRequest(stream_id=stream_id, stream_key=key):
                self._streams[stream_id].reset()
                self._send_stream_error(
                    stream_id, code or NetStreamCode.PUBLISH_BAD_NAME, reason, key
                )
            case PlayRequest(stream_id=stream_id, stream_key=key):
                self._streams[stream_id].reset()
                self._send_stream_error(
                    stream_id, code or NetStreamCode.PLAY_STREAM_NOT_FOUND, reason, key
                )
            case None:
                pass

    def answer_call(self, call_id: int, *values: AmfValue) -> None:
        """Answer a remote call with ``_result``: a null command object, then ``values``.

        Answers to calls that timed out, or that the session dropped when it closed, are
        ignored (logged at debug level), as in :meth:`accept_request`.

        Args:
            call_id: The call's id from its :class:`CallRequested` event.
            values: What the call returns (a Flash responder's result is the first).

        Raises:
            LocalProtocolError: ``call_id`` names no call, or one already answered, or a value
                cannot be encoded in AMF; the call still waits in that last case.
        """
        self._answer_call(call_id, values)

    def fail_call(
        self, call_id: int, description: str, code: str = NetConnectionCode.CALL_FAILED
    ) -> None:
        """Answer a remote call with ``_error``: an information object (level ``error``).

        Late answers are ignored, as in :meth:`answer_call`.

        Args:
            call_id: The call's id from its :class:`CallRequested` event.
            description: Why, for the client's user.
            code: The information's ``code``.

        Raises:
            LocalProtocolError: ``call_id`` names no call, or one already answered.
        """
        self._fail_call(call_id, description, code)

    def send_ping_request(self, now: float) -> None:
        """Send a User Control PingRequest and raise :class:`PingRequestSent`.

        The timestamp is the milliseconds since the session started, wrapped to 32 bits;
        the periodic ping is rescheduled from ``now``.
        """
        self._now = now
        if self._phase in FINISHED:
            self._log.debug("ping request after the session closed: ignored")
            return
        timestamp = max(0, int((now - self._started_at) * 1000)) & U32
        self._send(PingRequest(timestamp))
        self._last_ping = (timestamp, now)
        self._emit(PingRequestSent(timestamp))
        if self._phase is Phase.CONNECTED:
            self._schedule_ping(now)

    def send_reconnect_request(
        self, tc_url: str | None = None, description: str | None = None
    ) -> None:
        """Ask the client to reconnect: Enhanced RTMP v2 ``NetConnection.Connect.ReconnectRequest``.

        Sent on stream 0; clients that did not announce ``CapsEx.RECONNECT`` (see
        :attr:`peer_caps_ex`) will probably ignore it. Ignored once the session is closing.

        Args:
            tc_url: Where to reconnect, absolute or relative; None for the same server.
            description: Text for humans.

        Raises:
            LocalProtocolError: The connect has not been accepted yet; nothing is sent.
        """
        if self._phase in FINISHED:
            self._log.debug("reconnect request after the session closed: ignored")
            return
        if self._phase is not Phase.CONNECTED:
            msg = "send_reconnect_request before the connect was accepted"
            raise LocalProtocolError(msg)
        self._send_command(OnStatus.reconnect_request(tc_url, description), 0)

    def close(self, reason: str | None = None) -> None:
        """End the session politely, then have the connection closed.

        Players get StreamEOF and ``NetStream.Play.Stop``; publishers get
        ``NetStream.Unpublish.Success``. The finished events follow from
        :meth:`notify_disconnected`. Closing again is ignored.
        """
        if self._phase in FINISHED:
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
                self._log.debug("ignoring %s", describe(content))

    def _on_ping_response(self, timestamp: int, now: float) -> None:
        round_trip = None
        if self._last_ping is not None and self._last_ping[0] == timestamp:
            round_trip = max(0.0, now - self._last_ping[1])
            self._last_ping = None
        self._emit(PingResponseReceived(timestamp, round_trip))
