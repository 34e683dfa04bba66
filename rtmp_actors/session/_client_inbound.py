"""What a client session does with what the server sends: replies, statuses, stream data.

Nothing the server sends makes the session raise: malformed, unexpected or late messages are
logged and ignored. Replies are matched to requests by transaction id; ``onStatus`` on a
message stream answers (or ends) the publish or play that owns the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.metadata import parse_on_metadata
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands import (
    CheckBandwidth,
    ConnectResult,
    CreateStreamResult,
    DeleteStream,
    ErrorResult,
    NetConnectionCode,
    NetStreamCode,
    OnStatus,
    Publish,
    Result,
    parse_command,
)
from rtmp_actors.protocol.messages import (
    AggregateMessage,
    AudioData,
    CommandMessage,
    DataMessage,
    DetailedMessage,
    MessageType,
    RawMessage,
    SetBufferLength,
    VideoData,
    WindowAcknowledgementSize,
    decode_message,
    expand_aggregate,
)
from rtmp_actors.session._client_base import (
    ClientBase,
    Kind,
    Stream,
    Transaction,
    description,
    transaction_key,
)
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    CallAnswered,
    CallFailed,
    ConnectionResponseReceived,
    PauseStatusReceived,
    PlayResetReceived,
    PlayResponseReceived,
    PublishResponseReceived,
    ReconnectRequested,
    SeekStatusReceived,
    StreamMetaDataReceived,
)
from rtmp_actors.session.client_state import ClientState, ServerCapabilities
from rtmp_actors.session.events import MediaType

__all__ = ["ClientInbound"]

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

# The decoders promise RemoteProtocolError for bad input; ValueError and TypeError are caught
# as well so that a gap in a parser costs one ignored server message rather than the connection.
_PARSE_ERRORS: Final = (ProtocolError, ValueError, TypeError)


class ClientInbound(ClientBase):
    """The client session's handling of the server's commands and stream data."""

    # --- Commands ----------------------------------------------------------------------------

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
        transaction_id = transaction_key(reply.transaction_id)
        if transaction_id is None:
            self._log.info("ignoring %s with transaction id %r", reply.name, reply.transaction_id)
            return
        if transaction_id in self._ignored_transactions:
            del self._ignored_transactions[transaction_id]
            if isinstance(reply, ErrorResult):
                self._log.info("server refused transaction %d: %s", transaction_id, reply.code)
            return
        name = self._calls.pop(transaction_id, None)
        if name is not None:
            self._on_call_reply(name, transaction_id, reply)
            return
        pending = self._pending.pop(transaction_id, None)
        if pending is None:
            self._log.info("ignoring %s for unknown transaction %d", reply.name, transaction_id)
            return
        kind, stream = pending
        if kind is Transaction.CONNECT:
            self._on_connect_reply(reply)
        elif stream is None:  # pragma: no cover - every stream transaction has its stream
            return
        elif kind is Transaction.CREATE_STREAM:
            self._on_create_stream_reply(stream, reply)
        elif isinstance(reply, ErrorResult):
            stream.command_tid = None
            self._refuse(stream, description(reply.description), reply.code)

    def _on_call_reply(self, name: str, transaction_id: int, reply: Result | ErrorResult) -> None:
        if isinstance(reply, Result):
            self._emit(CallAnswered(name, transaction_id, reply.arguments, reply.command_object))
        else:
            self._log.info("call %r failed: %s %s", name, reply.code, reply.description)
            self._emit(CallFailed(name, transaction_id, dict(reply.information or {})))

    def _on_connect_reply(self, reply: Result | ErrorResult) -> None:
        information = dict(reply.information or {})
        text = description(reply.description)
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

    def _on_create_stream_reply(self, stream: Stream, reply: Result | ErrorResult) -> None:
        if isinstance(reply, ErrorResult):
            if not stream.cancelled:
                self._refuse(stream, description(reply.description), reply.code)
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
        stream.command_tid = self._new_transaction(Transaction.STREAM_COMMAND, stream)
        if stream.kind is Kind.PUBLISH:
            publish = Publish(stream.key, stream.publish_type, stream.command_tid)
            self._send_command(publish, stream_id)
        else:
            assert stream.play is not None
            self._send_command(replace(stream.play, transaction_id=stream.command_tid), stream_id)
            self._send(SetBufferLength(stream_id, self._config.playback_buffer_length_ms))

    # --- Statuses ----------------------------------------------------------------------------

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
        if stream.kind is Kind.PUBLISH:
            self._on_publish_status(stream, status)
        else:
            self._on_play_status(stream, status)

    def _on_publish_status(self, stream: Stream, status: OnStatus) -> None:
        code = status.code
        if code == NetStreamCode.PUBLISH_START:
            if not stream.answered:
                stream.answered = True
                text = description(status.description)
                self._emit(PublishResponseReceived(stream.key, True, text, code))
        elif status.is_error or code in _PUBLISH_FAILURES:
            if not stream.answered:
                self._refuse(stream, description(status.description), code)
            else:
                self._log.warning("publishing %r: %s %s", stream.key, code, status.description)
        else:
            self._log.debug("publishing %r: %s", stream.key, code)

    def _on_play_status(self, stream: Stream, status: OnStatus) -> None:
        code = status.code
        if code == NetStreamCode.PLAY_START:
            stream.ended = False
            if not stream.answered:
                stream.answered = True
                text = description(status.description)
                self._emit(PlayResponseReceived(stream.key, True, text, code))
        elif code == NetStreamCode.PLAY_RESET:
            self._emit(PlayResetReceived(stream.key, description(status.description)))
        elif code == NetStreamCode.PLAY_PUBLISH_NOTIFY:
            stream.ended = False
        elif code == NetStreamCode.PLAY_UNPUBLISH_NOTIFY:
            self._end(stream, "unpublished")
        elif code in (NetStreamCode.PLAY_STOP, _PLAY_COMPLETE):
            self._end(stream, "stopped")
        elif code in (NetStreamCode.PAUSE_NOTIFY, NetStreamCode.UNPAUSE_NOTIFY):
            self._emit(PauseStatusReceived(stream.key, code == NetStreamCode.PAUSE_NOTIFY))
        elif code in (NetStreamCode.SEEK_NOTIFY, NetStreamCode.SEEK_FAILED) and stream.answered:
            # A failed seek leaves the stream playing where it was.
            self._emit(SeekStatusReceived(stream.key, code == NetStreamCode.SEEK_NOTIFY))
        elif status.is_error or code in _PLAY_FAILURES:
            if not stream.answered:
                self._refuse(stream, description(status.description), code)
            else:
                self._end(stream, "failed")
        else:
            # NetStream.Data.Start, Seek notifications, Play.Switch...
            self._log.debug("playing %r: %s", stream.key, code)

    # --- Stream data -------------------------------------------------------------------------

    def _play_stream(self, stream_id: int) -> Stream | None:
        stream = self._streams_by_id.get(stream_id)
        return stream if stream is not None and stream.kind is Kind.PLAY else None

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

    def _on_data(self, stream: Stream, data: DataMessage) -> None:
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

    def _on_metadata(self, stream: Stream, values: tuple[AmfValue, ...]) -> None:
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
