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

Errors are told apart as h11 does. Nothing the server sends makes the session raise. The
caller's mistakes raise :class:`~rtmp_actors.errors.LocalProtocolError` and leave the session
as it was: a second ``request_connection``, a publish or play before the server accepted
``connect``, a key requested twice, media, metadata, pause or receiveAudio/receiveVideo for a
key that is not (yet) publishing or playing, a value AMF cannot carry, a negative timestamp.
Once the session is closing or disconnected such calls are late rather than wrong, and are
ignored; stopping a stream that is not active is always allowed.

Wire behaviour follows what FFmpeg and librtmp send, so servers see a familiar client:

* ``connect`` (transaction 1) with ``app``, ``type``, ``flashVer``, ``tcUrl``, ``fpad``,
  ``capabilities``, ``audioCodecs``, ``videoCodecs``, ``videoFunction``, ``objectEncoding`` and,
  when configured, Enhanced RTMP ``fourCcList``/``capsEx``; Window Acknowledgement Size once
  accepted.
* Publish: ``releaseStream``, ``FCPublish``, ``createStream``, then ``publish`` on the new
  stream; stop with ``FCUnpublish`` and ``deleteStream``.
* Play: ``createStream``, then ``play`` on the new stream followed by User Control
  SetBufferLength (the order both FFmpeg and librtmp use); stop with ``deleteStream``.
* Remote calls (:meth:`ClientSession.call`) go out on stream 0 with a fresh transaction id.
* ``onBWDone`` is answered with ``_checkbw`` and PingRequest with PingResponse. Acknowledgements
  are the protocol layer's job.

Non-media messages go out with timestamp 0, as FFmpeg sends its commands.

The class is assembled from layers in private modules: ``_client_base`` (the state and the
bookkeeping), ``_client_inbound`` (what the server sends) and ``_client_streams`` (the calls on
a requested stream: media, metadata, pause, stop); this module keeps the connection-level API
(connect, requests, close) and the driver interface.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.commands import (
    Connect,
    CreateStream,
    FCPublish,
    Play,
    ReleaseStream,
)
from rtmp_actors.protocol.messages import (
    AggregateMessage,
    AudioData,
    CommandMessage,
    DataMessage,
    DetailedMessage,
    PingRequest,
    PingResponse,
    StreamBegin,
    StreamEof,
    VideoData,
)
from rtmp_actors.session._client_base import CALL_FAILED, OVER, Kind, Stream, Transaction
from rtmp_actors.session._client_inbound import ClientInbound
from rtmp_actors.session._client_streams import StreamCalls
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.client_events import (
    CallFailed,
    ConnectionResponseReceived,
    PlayResponseReceived,
    PublishResponseReceived,
)
from rtmp_actors.session.client_state import ClientState, ServerCapabilities
from rtmp_actors.session.events import (
    ByteCountDirection,
    Disconnected,
    NewByteIOTotals,
    SessionEvent,
)

__all__ = ["ClientSession", "ClientState", "ServerCapabilities", "SessionOutput"]

_logger = logging.getLogger(__name__)

# What FFmpeg sends when playing (libavformat/rtmpproto.c gen_connect): all codecs it knows,
# and support for seamless seek.
_CAPABILITIES: Final = 15
_AUDIO_CODECS: Final = 4071
_VIDEO_CODECS: Final = 252
_VIDEO_FUNCTION: Final = 1
_NOT_ACCEPTED: Final = frozenset({ClientState.IDLE, ClientState.CONNECTING, ClientState.REFUSED})
_SESSION_COMMANDS: Final = frozenset(
    {
        "connect",
        "createStream",
        "deleteStream",
        "closeStream",
        "publish",
        "play",
        "play2",
        "pause",
        "seek",
        "receiveAudio",
        "receiveVideo",
        "_result",
        "_error",
        "onStatus",
    }
)
"""Commands the session sends and tracks itself: a user's call of one would confuse it."""


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


class ClientSession(StreamCalls, ClientInbound):
    """The business logic of an RTMP client connection; no I/O, no clock, no threads.

    The driver (an actor) calls :meth:`handle_message` for every message the server sends,
    the API methods on behalf of the user and :meth:`notify_byte_count` with the connection's
    byte totals, and after each call drains :meth:`take_output`.

    Nothing the server sends makes the session raise: malformed, unexpected or late messages
    are logged and ignored. The API methods raise :class:`~rtmp_actors.errors.LocalProtocolError`
    only for the caller's mistakes (see the module docstring), and then change nothing.

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
        config = config if config is not None else ClientSessionConfig()
        super().__init__(config, connection_id, now, _logger)

    # --- Introspection -------------------------------------------------------------------------

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
        if self._state in OVER:
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
            LocalProtocolError: If ``total`` is negative; nothing changes.
        """
        changed = self._new_byte_total(direction, total)
        if changed and self._state is not ClientState.DISCONNECTED:
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
        self._fail_calls("disconnected")
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

        Ignored once the session is closing or disconnected.

        Args:
            app_name: The application (``live`` in ``rtmp://host/live/key``).
            tc_url: The URL being connected to (``rtmp://host/live``); left out when None.
                Servers log it and some need it, so the driver should pass it.
            extra: More command object fields; they override the standard ones.

        Raises:
            LocalProtocolError: ``connect`` was sent already, or a value in ``extra`` cannot
                be encoded in AMF; nothing is sent.
        """
        if self._state in OVER:
            self._log.debug(
                "request_connection(%r) ignored: the session is %s", app_name, self._state.value
            )
            return
        if self._state is not ClientState.IDLE:
            msg = (
                f"request_connection({app_name!r}): connect was sent already ({self._state.value})"
            )
            raise LocalProtocolError(msg)
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
        self._new_transaction(Transaction.CONNECT, None)
        self._messages.append(DetailedMessage(0, 0, message))
        self._state = ClientState.CONNECTING

    def request_publish(self, stream_key: str, publish_type: str = "live") -> None:
        """Ask to publish on a stream key; the answer comes as PublishResponseReceived.

        Sends ``releaseStream``, ``FCPublish`` and ``createStream`` as FFmpeg and OBS do, and
        ``publish`` on the new stream once it exists. Once :meth:`close` was called the
        refusal (``"session closed"``) is raised at once; after the disconnection the call is
        ignored.

        Args:
            stream_key: The stream key (any query string, such as a token, is kept).
            publish_type: ``live``, ``record`` or ``append``.

        Raises:
            LocalProtocolError: The server has not accepted ``connect``, or the key is already
                published or requested; nothing is sent.
        """
        if not self._may_request("request_publish", stream_key, self._publishes):
            return
        stream = Stream(stream_key, Kind.PUBLISH, publish_type=publish_type)
        self._publishes[stream_key] = stream
        self._send_command(ReleaseStream(stream_key, self._new_ignored_transaction()))
        self._send_command(FCPublish(stream_key, self._new_ignored_transaction()))
        self._send_command(CreateStream(self._new_transaction(Transaction.CREATE_STREAM, stream)))

    def request_playback(
        self,
        stream_key: str,
        *,
        start: float = -2000,
        duration: float = -1,
        reset: bool = True,
    ) -> None:
        """Ask to play a stream key; the answer comes as PlayResponseReceived.

        Sends ``createStream``, then ``play`` on the new stream and SetBufferLength. Closing
        and disconnected sessions answer as in :meth:`request_publish`.

        Args:
            stream_key: The stream key.
            start: What FFmpeg sends (its ``-rtmp_live`` value times 1000): -2000 for "live if
                there is such a stream, else recorded" (FFmpeg's default), -1000 for live only
                (FFmpeg ``-rtmp_live live`` and librtmp ``--live``), 0 or more for a position in
                milliseconds in a recording. Servers read -2000 and -1000 like the spec's -2
                and -1, which may be passed as well.
            duration: Milliseconds to play; -1 for everything.
            reset: Whether the server should flush any previous playlist.

        Raises:
            LocalProtocolError: The server has not accepted ``connect``, or the key is already
                played or requested; nothing is sent.
        """
        if not self._may_request("request_playback", stream_key, self._plays):
            return
        play = Play(stream_key, start=start, duration=duration, reset=reset)
        stream = Stream(stream_key, Kind.PLAY, play=play)
        self._plays[stream_key] = stream
        self._send_command(CreateStream(self._new_transaction(Transaction.CREATE_STREAM, stream)))

    def call(self, name: str, *arguments: Any, command_object: Any = None) -> int:
        """Call a method on the server (``NetConnection.call``); returns the transaction id.

        Sends the command on stream 0 with a fresh transaction id; the answer comes as
        :class:`~rtmp_actors.session.client_events.CallAnswered` (``_result``) or
        :class:`~rtmp_actors.session.client_events.CallFailed` (``_error``, or the session
        closing or the connection ending first), carrying that id. Once :meth:`close` was
        called the failure (``"session closed"``) is raised at once; after the
        disconnection the call is ignored.

        Args:
            name: The method; not one of the commands the session sends itself
                (``connect``, ``createStream``, ``publish``, ``play``, ...).
            arguments: The values after the command object.
            command_object: The command object (null by default, as Flash sends it).

        Raises:
            LocalProtocolError: The server has not accepted ``connect``, ``name`` is empty
                or one of the session's own commands, a value cannot be encoded in AMF, or
                ``Limits.max_pending_calls`` calls already wait; nothing is sent.
        """
        transaction_id = self._next_transaction_id
        message = self._user_command("call", name, transaction_id, command_object, arguments)
        if message is None:
            return transaction_id
        limit = self._config.limits.max_pending_calls
        if len(self._calls) >= limit:
            msg = f"call({name!r}): {limit} calls already wait for the server's answer"
            raise LocalProtocolError(msg)
        self._next_transaction_id += 1
        if self._state is ClientState.CLOSING:
            information = {"level": "error", "code": CALL_FAILED, "description": "session closed"}
            self._emit(CallFailed(name, transaction_id, information))
            return transaction_id
        self._calls[transaction_id] = name
        self._messages.append(DetailedMessage(0, 0, message))
        return transaction_id

    def notify(self, name: str, *arguments: Any, command_object: Any = None) -> None:
        """Send a command the server must not answer (transaction id 0) on stream 0.

        Ignored once the session is closing or disconnected.

        Raises:
            LocalProtocolError: As for :meth:`call` (but there is no pending limit).
        """
        message = self._user_command("notify", name, 0, command_object, arguments)
        if message is not None and self._state is ClientState.CONNECTED:
            self._messages.append(DetailedMessage(0, 0, message))

    def _user_command(
        self,
        method: str,
        name: str,
        transaction_id: int,
        command_object: Any,
        arguments: tuple[Any, ...],
    ) -> CommandMessage | None:
        """The user's command, checked; None when the session is disconnected.

        Raises:
            LocalProtocolError: See :meth:`call`.
        """
        if self._state is ClientState.DISCONNECTED:
            self._log.debug("%s(%r) ignored: the session is disconnected", method, name)
            return None
        if self._state in _NOT_ACCEPTED:
            msg = f"{method}({name!r}) before the server accepted connect ({self._state.value})"
            raise LocalProtocolError(msg)
        if not name or name in _SESSION_COMMANDS:
            msg = f"{method}({name!r}): not a method name the session leaves to its user"
            raise LocalProtocolError(msg)
        message = CommandMessage(name, transaction_id, command_object, arguments, self._amf3)
        message.encode_payload()  # a value AMF cannot carry fails here, not in the handler
        return message

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
        if self._state in OVER:
            return
        if self._state is ClientState.CONNECTING:
            self._emit(ConnectionResponseReceived(False, "session closed"))
        for stream in [*self._publishes.values(), *self._plays.values()]:
            self._release(stream, "session closed")
        self._fail_calls("session closed")
        self._forget_all()
        self._state = ClientState.CLOSING
        self._close = True
        self._close_reason = reason

    # --- Helpers -------------------------------------------------------------------------------

    def _may_request(self, method: str, stream_key: str, streams: Mapping[str, Stream]) -> bool:
        """Whether a publish or play request goes ahead; refuses it when the session closes.

        Raises:
            LocalProtocolError: Before the server accepted ``connect``, or for a key already
                requested.
        """
        if self._state is ClientState.DISCONNECTED:
            return False
        if self._state in _NOT_ACCEPTED:
            msg = (
                f"{method}({stream_key!r}) before the server accepted connect"
                f" (the session is {self._state.value})"
            )
            raise LocalProtocolError(msg)
        if stream_key in streams:
            msg = f"{method}({stream_key!r}): the key is already requested"
            raise LocalProtocolError(msg)
        if self._state is ClientState.CLOSING:
            refusal = (
                PublishResponseReceived if streams is self._publishes else PlayResponseReceived
            )
            self._emit(refusal(stream_key, False, "session closed"))
            return False
        return True
