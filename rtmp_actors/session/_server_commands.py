"""The commands of a connected client: dispatch, stream creation and deletion, the odd calls.

Every command is parsed first; a malformed one is answered with an error status (or, without
a transaction id, dropped and counted), never fatal. NetStream commands go to the publish and
play layers; the calls FFmpeg, OBS and Flash make around them (``releaseStream``,
``FCPublish``, ``getStreamLength``, ``_checkbw``...) get the answers those clients expect.
Any other command is a remote call for the user (``_server_calls``).
"""

from __future__ import annotations

from rtmp_actors.errors import ProtocolError
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands import (
    CheckBandwidth,
    CloseStream,
    Command,
    Connect,
    CreateStream,
    CreateStreamResult,
    DeleteStream,
    ErrorResult,
    FCPublish,
    FCSubscribe,
    FCUnpublish,
    GetStreamLength,
    NetConnectionCode,
    NetStreamCode,
    OnBWDone,
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
    StatusLevel,
    parse_command,
)
from rtmp_actors.protocol.messages import CommandMessage, DetailedMessage
from rtmp_actors.session._server_base import U32, Stream
from rtmp_actors.session._server_calls import CallHandling
from rtmp_actors.session._server_play import PlayHandling
from rtmp_actors.session._server_publish import PublishHandling
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server_events import ReleaseStreamRequested
from rtmp_actors.session.server_streams import StreamState

__all__ = ["CommandHandling"]


class CommandHandling(PublishHandling, PlayHandling, CallHandling):
    """What a connected server session does with each command."""

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
                self._on_call(content, stream_id)

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

    def _answer_error(self, command: Command, stream_id: int, description: str) -> None:
        self._send_command(
            ErrorResult.with_status(
                command.transaction_id, NetConnectionCode.CALL_FAILED, description
            ),
            stream_id,
        )

    def _send_fc_status(self, name: str, code: str, stream_key: str, stream_id: int) -> None:
        info: dict[str, AmfValue] = {
            "level": str(StatusLevel.STATUS),
            "code": str(code),
            "description": stream_key,
        }
        self._send(CommandMessage(name, 0, None, (info,), self._amf3), stream_id)

    # --- Stream creation and deletion --------------------------------------------------------

    def _on_create_stream(self, command: CreateStream, reply_stream_id: int) -> None:
        if len(self._streams) >= self._config.max_streams_per_connection:
            limit = self._config.max_streams_per_connection
            self._answer_error(command, reply_stream_id, f"No more than {limit} streams.")
            return
        stream_id = self._allocate_stream_id()
        self._streams[stream_id] = Stream(stream_id)
        self._send_command(CreateStreamResult(command.transaction_id, stream_id), reply_stream_id)

    def _allocate_stream_id(self) -> int:
        # Ids count up from 1 and are not reused soon; 0 is the NetConnection's.
        while True:
            stream_id = self._next_stream_id
            self._next_stream_id = stream_id % U32 + 1
            if stream_id not in self._streams:
                return stream_id

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
