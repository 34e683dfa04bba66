"""ServerSession driven message by message: FFmpeg, librtmp/OBS and Flash-style sequences,
rejections, stream bookkeeping, Enhanced RTMP negotiation, timers, shutdown and fuzzing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behaviours.session_handler import ByteCountDirection
from rtmp_actors.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import (
    CapsEx,
    CheckBandwidth,
    ClearDataFrame,
    CloseStream,
    Command,
    Connect,
    CreateStream,
    DeleteStream,
    FCPublish,
    FCSubscribe,
    FCUnpublish,
    GetStreamLength,
    OnMetaData,
    Pause,
    Play,
    Play2,
    PlayMode,
    Publish,
    ReceiveAudio,
    ReceiveVideo,
    ReleaseStream,
    Seek,
    SetDataFrame,
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
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    VideoData,
    WindowAcknowledgementSize,
    decode_message,
    encode_message,
)
from rtmp_actors.session.events import MediaType, SessionError, SessionEvent
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server import PlayerNotice, ServerSession, SessionOutput, StreamState
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
)

# --- Helpers -----------------------------------------------------------------------------------

EventT = TypeVar("EventT", bound=SessionEvent)

FFMPEG_PUBLISH_CONNECT = Connect(
    app="live",
    type="nonprivate",
    flash_ver="FMLE/3.0 (compatible; Lavf61.1.100)",
    tc_url="rtmp://127.0.0.1:1935/live",
    transaction_id=1,
)
FFMPEG_PLAY_CONNECT = Connect(
    app="live",
    flash_ver="LNX 9,0,124,2",
    tc_url="rtmp://127.0.0.1:1935/live",
    fpad=False,
    capabilities=15,
    audio_codecs=4071,
    video_codecs=252,
    video_function=1,
    transaction_id=1,
)
OBS_CONNECT = Connect(
    app="live",
    type="nonprivate",
    flash_ver="FMLE/3.0 (compatible; FMSc/1.0)",
    swf_url="rtmp://127.0.0.1/live",
    tc_url="rtmp://127.0.0.1/live",
    transaction_id=1,
)
FFMPEG_METADATA = EcmaArray(
    {
        "duration": 0.0,
        "width": 320.0,
        "height": 240.0,
        "videodatarate": 0.0,
        "framerate": 25.0,
        "videocodecid": 7.0,
        "audiodatarate": 62.5,
        "audiosamplerate": 48000.0,
        "audiosamplesize": 16.0,
        "stereo": False,
        "audiocodecid": 10.0,
        "encoder": "Lavf61.1.100",
        "filesize": 0.0,
    }
)
AAC_HEADER = b"\xaf\x00\x11\x90"
AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f"


def message(content: MessageContent, stream_id: int = 0, timestamp: int = 0) -> DetailedMessage:
    return DetailedMessage(timestamp, stream_id, content)


def cmd(command: Command, stream_id: int = 0, *, amf3: bool = False) -> DetailedMessage:
    return message(command.to_message(amf3=amf3), stream_id)


def drain(session: ServerSession) -> SessionOutput:
    """Take the output, checking every message survives the wire format."""
    output = session.take_output()
    for sent in output.messages:
        decoded = decode_message(encode_message(sent))
        assert decoded.stream_id == sent.stream_id
        assert decoded.content.type_id == sent.content.type_id
    return output


def feed(session: ServerSession, *messages: DetailedMessage, now: float = 0.0) -> SessionOutput:
    for each in messages:
        session.handle_message(each, now)
    return drain(session)


def only(output: SessionOutput, kind: type[EventT]) -> EventT:
    """The one event of the output, which must be a ``kind``."""
    (event,) = output.events
    assert isinstance(event, kind)
    return event


def info(sent: DetailedMessage) -> dict[str, Any]:
    """The information object of a sent _result/_error/onStatus-like command."""
    content = sent.content
    assert isinstance(content, CommandMessage)
    first = content.arguments[0]
    assert isinstance(first, dict)
    return first


def command_of(sent: DetailedMessage) -> CommandMessage:
    assert isinstance(sent.content, CommandMessage)
    return sent.content


def status(sent: DetailedMessage) -> tuple[int, str, str, str]:
    """(stream id, command name, level, code) of a sent status command."""
    details = info(sent)
    return sent.stream_id, command_of(sent).name, details.get("level", ""), details["code"]


def shape(messages: Sequence[DetailedMessage]) -> list[tuple[Any, ...]]:
    """A readable summary: commands by name/txn/code, data by handler, the rest as is."""
    result: list[tuple[Any, ...]] = []
    for sent in messages:
        content = sent.content
        if isinstance(content, CommandMessage):
            first = content.arguments[0] if content.arguments else None
            code = first.get("code") if isinstance(first, dict) else None
            result.append((sent.stream_id, content.name, content.transaction_id, code))
        elif isinstance(content, DataMessage):
            result.append((sent.stream_id, "data", *content.values[:1]))
        else:
            result.append((sent.stream_id, content))
    return result


def connected(
    connect: Connect = FFMPEG_PUBLISH_CONNECT,
    config: ServerSessionConfig | None = None,
    now: float = 0.0,
) -> ServerSession:
    session = ServerSession(config or ServerSessionConfig(), connection_id="test", now=now)
    (event,) = feed(session, cmd(connect), now=now).events
    assert isinstance(event, ConnectionRequested)
    session.accept_request(event.request_id)
    drain(session)
    return session


def create_stream(session: ServerSession, transaction_id: float = 2) -> int:
    (reply,) = feed(session, cmd(CreateStream(transaction_id))).messages
    stream_id = command_of(reply).arguments[0]
    assert isinstance(stream_id, int)
    return stream_id


def publishing(session: ServerSession, key: str = "stream") -> int:
    stream_id = create_stream(session)
    (event,) = feed(session, cmd(Publish(key), stream_id)).events
    assert isinstance(event, PublishStreamRequested)
    session.accept_request(event.request_id)
    drain(session)
    return stream_id


def playing(session: ServerSession, key: str = "stream") -> int:
    stream_id = create_stream(session)
    (event,) = feed(session, cmd(Play(key), stream_id)).events
    assert isinstance(event, PlayStreamRequested)
    session.accept_request(event.request_id)
    drain(session)
    return stream_id


def set_data_frame(metadata: dict[str, Any]) -> DataMessage:
    return SetDataFrame(metadata).to_message()


# --- FFmpeg publish ------------------------------------------------------------------------------


def test_ffmpeg_publish_sequence() -> None:
    session = ServerSession(connection_id="ffmpeg", now=5.0)

    output = feed(session, cmd(FFMPEG_PUBLISH_CONNECT), now=5.0)
    assert output.messages == []
    (requested,) = output.events
    assert requested == ConnectionRequested(1, "live", FFMPEG_PUBLISH_CONNECT)
    assert requested.connect.tc_url == "rtmp://127.0.0.1:1935/live"
    connected_before_answer = session.connected
    assert not connected_before_answer

    session.accept_request(requested.request_id)
    output = drain(session)
    assert output.events == []
    assert shape(output.messages) == [
        (0, WindowAcknowledgementSize(5_000_000)),
        (0, SetPeerBandwidth(50_000_000, BandwidthLimitType.DYNAMIC)),
        (0, StreamBegin(0)),
        (0, SetChunkSize(4096)),
        (0, "_result", 1, "NetConnection.Connect.Success"),
        (0, "onBWDone", 0, None),
    ]
    result = command_of(output.messages[4])
    assert result.command_object == {"fmsVer": "FMS/3,0,1,123", "capabilities": 31, "mode": 1}
    assert info(output.messages[4]) == {
        "level": "status",
        "code": "NetConnection.Connect.Success",
        "description": "Connection succeeded.",
        "objectEncoding": 0,
    }
    assert not result.amf3
    assert session.connected
    assert session.app_name == "live"

    # FFmpeg echoes the chunk size, then fires releaseStream, FCPublish and createStream.
    assert feed(session, message(SetChunkSize(4096))).events == [PeerChunkSizeChanged(4096)]
    assert session.peer_chunk_size == 4096
    output = feed(
        session,
        cmd(ReleaseStream("stream", 2)),
        cmd(FCPublish("stream", 3)),
        cmd(CreateStream(4)),
        cmd(CheckBandwidth(5)),
    )
    assert output.events == [ReleaseStreamRequested("live", "stream")]
    assert shape(output.messages) == [
        (0, "_result", 2, None),
        (0, "onFCPublish", 0, "NetStream.Publish.Start"),
        (0, "_result", 4, None),
        (0, "_result", 5, None),
    ]
    assert info(output.messages[1])["description"] == "stream"
    assert command_of(output.messages[2]).arguments == (1,)

    output = feed(session, cmd(Publish("stream", "live", 6), 1))
    assert output.messages == []
    (publish,) = output.events
    assert publish == PublishStreamRequested(2, "live", "stream", 1, "live")
    assert session.streams[1].state.value == "publish requested"

    session.accept_request(publish.request_id)
    output = drain(session)
    assert shape(output.messages) == [
        (0, StreamBegin(1)),
        (1, "onStatus", 0, "NetStream.Publish.Start"),
    ]
    assert info(output.messages[1]) == {
        "level": "status",
        "code": "NetStream.Publish.Start",
        "description": "stream is now published.",
        "details": "stream",
    }
    assert session.streams[1].state is StreamState.PUBLISHING

    output = feed(
        session,
        message(set_data_frame(FFMPEG_METADATA), 1),
        message(AudioData(AAC_HEADER), 1, 0),
        message(VideoData(AVC_HEADER), 1, 0),
        message(VideoData(b"\x27\x01"), 1, 40),
        now=7.5,
    )
    assert output.messages == []
    changed, audio, video, frame = output.events
    assert isinstance(changed, StreamMetaDataChanged)
    assert (changed.app_name, changed.stream_key, changed.stream_id) == ("live", "stream", 1)
    assert changed.meta_data.video_width == 320
    assert changed.meta_data.video_codec == "H.264"
    assert changed.meta_data.audio_sample_rate == 48000
    assert changed.raw == FFMPEG_METADATA
    assert audio == AudioVideoDataReceived("live", "stream", 1, MediaType.AUDIO, AAC_HEADER, 0, 7.5)
    assert video == AudioVideoDataReceived("live", "stream", 1, MediaType.VIDEO, AVC_HEADER, 0, 7.5)
    assert isinstance(frame, AudioVideoDataReceived)
    assert frame.timestamp == 40

    output = feed(session, cmd(FCUnpublish("stream", 7)))
    assert shape(output.messages) == [(0, "onFCUnpublish", 0, "NetStream.Unpublish.Success")]
    assert output.events == []

    output = feed(session, message(CommandMessage("deleteStream", 8, None, (1.0,))))
    assert output.events == [PublishingFinished("live", "stream", 1)]
    assert output.messages == []
    assert session.streams == {}


# --- FFmpeg play ---------------------------------------------------------------------------------


def test_ffmpeg_play_sequence() -> None:
    session = ServerSession()
    (requested,) = feed(session, cmd(FFMPEG_PLAY_CONNECT)).events
    assert isinstance(requested, ConnectionRequested)
    assert requested.connect.audio_codecs == 4071
    session.accept_request(requested.request_id)
    drain(session)

    # FFmpeg sets its window to the bandwidth the server gave it, then creates a stream.
    output = feed(session, message(WindowAcknowledgementSize(2_500_000)), cmd(CreateStream(2)))
    assert output.events == []
    assert shape(output.messages) == [(0, "_result", 2, None)]
    assert session.peer_window_ack_size == 2_500_000

    output = feed(session, cmd(GetStreamLength("stream", 3), 1))
    assert shape(output.messages) == [(1, "_result", 3, None)]
    assert command_of(output.messages[0]).arguments == (0,)

    output = feed(
        session,
        cmd(Play("stream", -2000, transaction_id=4), 1),
        message(SetBufferLength(1, 3000)),
    )
    assert output.messages == []
    (request,) = output.events
    assert request == PlayStreamRequested(
        2, "live", "stream", 1, PlayMode.ANY, -2000, -1, reset=True
    )
    assert session.streams[1].buffer_length == 3000

    session.accept_request(request.request_id)
    output = drain(session)
    assert shape(output.messages) == [
        (1, "onStatus", 0, "NetStream.Play.Reset"),
        (0, StreamBegin(1)),
        (1, "onStatus", 0, "NetStream.Play.Start"),
        (1, "data", "|RtmpSampleAccess"),
        (1, "data", "onStatus"),
    ]
    sample_access = output.messages[3].content
    assert isinstance(sample_access, DataMessage)
    assert sample_access.values == ("|RtmpSampleAccess", True, True)
    data_start = output.messages[4].content
    assert isinstance(data_start, DataMessage)
    assert data_start.values[1] == {"code": "NetStream.Data.Start"}
    assert session.streams[1].state is StreamState.PLAYING

    session.send_metadata(1, StreamMetadata(video_width=640, video_codec="H.264"), 0)
    session.send_av_data(1, MediaType.VIDEO, 40, AVC_HEADER)
    session.send_av_data(1, MediaType.AUDIO, 2**32 + 5, AAC_HEADER)
    metadata, video, audio = drain(session).messages
    assert metadata.stream_id == 1
    assert isinstance(metadata.content, DataMessage)
    assert metadata.content.values == ("onMetaData", {"width": 640, "videocodecid": 7})
    assert isinstance(metadata.content.values[1], EcmaArray)
    assert video == DetailedMessage(40, 1, VideoData(AVC_HEADER))
    assert audio == DetailedMessage(5, 1, AudioData(AAC_HEADER))

    output = feed(session, cmd(DeleteStream(1)))
    assert output.events == [PlayStreamFinished("live", "stream", 1)]
    session.send_av_data(1, MediaType.VIDEO, 80, AVC_HEADER)
    assert drain(session).messages == []


@pytest.mark.parametrize(
    ("start", "mode"),
    [
        (-2, PlayMode.ANY),
        (-2000, PlayMode.ANY),
        (-1, PlayMode.LIVE),
        (-1000, PlayMode.LIVE),
        (0, PlayMode.RECORDED),
        (1500, PlayMode.RECORDED),
    ],
)
def test_play_start_gives_video_type_and_keeps_start(start: float, mode: PlayMode) -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    (event,) = feed(session, cmd(Play("stream", start, 2500, reset=False), stream_id)).events
    assert isinstance(event, PlayStreamRequested)
    assert (event.video_type, event.start_at, event.duration, event.reset) == (
        mode,
        start,
        2500,
        False,
    )


def test_play_with_only_a_name_takes_the_defaults() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    bare = message(CommandMessage("play", 0, None, ("stream",)), stream_id)
    (event,) = feed(session, bare).events
    assert isinstance(event, PlayStreamRequested)
    assert (event.video_type, event.start_at, event.duration, event.reset) == (
        PlayMode.ANY,
        -2,
        -1,
        True,
    )
    session.accept_request(event.request_id)
    assert status(drain(session).messages[0])[3] == "NetStream.Play.Reset"


def test_play_without_reset_sends_no_reset_status() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    event = only(
        feed(session, cmd(Play("stream", -1, reset=False), stream_id)), PlayStreamRequested
    )
    session.accept_request(event.request_id)
    assert shape(drain(session).messages)[:2] == [
        (0, StreamBegin(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Play.Start"),
    ]


# --- librtmp / OBS -------------------------------------------------------------------------------


def test_obs_publish_sequence() -> None:
    session = ServerSession()
    # OBS may announce its chunk size before connect; control messages are fine then.
    output = feed(session, message(SetChunkSize(4096)), cmd(OBS_CONNECT))
    peer_chunk, requested = output.events
    assert peer_chunk == PeerChunkSizeChanged(4096)
    assert isinstance(requested, ConnectionRequested)
    session.accept_request(requested.request_id)
    assert shape(drain(session).messages)[4] == (0, "_result", 1, "NetConnection.Connect.Success")

    output = feed(
        session,
        cmd(ReleaseStream("obs-key", 2)),
        cmd(FCPublish("obs-key", 3)),
        cmd(CreateStream(4)),
    )
    assert shape(output.messages) == [
        (0, "_result", 2, None),
        (0, "onFCPublish", 0, "NetStream.Publish.Start"),
        (0, "_result", 4, None),
    ]
    (event,) = feed(session, cmd(Publish("obs-key", "live", 5), 1)).events
    assert isinstance(event, PublishStreamRequested)
    session.accept_request(event.request_id)
    assert status(drain(session).messages[1]) == (
        1,
        "onStatus",
        "status",
        "NetStream.Publish.Start",
    )

    output = feed(
        session,
        message(set_data_frame({"width": 1280.0, "height": 720.0, "encoder": "obs-output"}), 1),
        message(VideoData(AVC_HEADER), 1),
    )
    assert [type(event) for event in output.events] == [
        StreamMetaDataChanged,
        AudioVideoDataReceived,
    ]

    # librtmp closes with FCUnpublish and deleteStream (a double, as every AMF0 number).
    output = feed(
        session,
        cmd(FCUnpublish("obs-key", 6)),
        message(CommandMessage("deleteStream", 7, None, (1.0,))),
    )
    assert output.events == [PublishingFinished("live", "obs-key", 1)]


def test_librtmp_play_sequence() -> None:
    session = ServerSession()
    requested = only(feed(session, cmd(FFMPEG_PLAY_CONNECT)), ConnectionRequested)
    session.accept_request(requested.request_id)
    drain(session)
    output = feed(
        session,
        message(WindowAcknowledgementSize(2_500_000)),
        message(SetBufferLength(0, 300)),  # for a stream that does not exist yet
        cmd(CreateStream(2)),
        cmd(FCSubscribe("live-key", 3)),
        cmd(Play("live-key", -1000, transaction_id=4), 1),
        message(SetBufferLength(1, 36_000_000)),
    )
    assert shape(output.messages) == [
        (0, "_result", 2, None),
        (0, "onFCSubscribe", 0, "NetStream.Play.Start"),
    ]
    (request,) = output.events
    assert isinstance(request, PlayStreamRequested)
    assert request.video_type is PlayMode.LIVE
    assert session.streams[1].buffer_length == 36_000_000
    session.accept_request(request.request_id)
    assert status(drain(session).messages[2])[3] == "NetStream.Play.Start"


# --- AMF3 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_17", [True, False])
def test_amf3_client_gets_amf3_commands(type_17: bool) -> None:
    connect = Connect(app="flex", object_encoding=3, tc_url="rtmp://h/flex")
    session = ServerSession()
    (event,) = feed(session, cmd(connect, amf3=type_17)).events
    assert isinstance(event, ConnectionRequested)
    assert session.amf3
    session.accept_request(event.request_id)
    messages = drain(session).messages
    commands = [sent for sent in messages if isinstance(sent.content, CommandMessage)]
    assert [command_of(sent).name for sent in commands] == ["_result", "onBWDone"]
    assert all(command_of(sent).amf3 for sent in commands)
    assert all(sent.content.type_id == MessageType.COMMAND_AMF3 for sent in commands)
    decoded = decode_message(encode_message(commands[0]))
    assert info(decoded)["objectEncoding"] == 3
    assert command_of(decoded).transaction_id == 1

    (reply,) = feed(session, cmd(CreateStream(2), amf3=True)).messages
    assert command_of(reply).amf3
    assert command_of(decode_message(encode_message(reply))).arguments == (1,)


def test_amf0_client_gets_amf0_commands() -> None:
    session = connected()
    assert not session.amf3
    (reply,) = feed(session, cmd(CreateStream(2))).messages
    assert reply.content.type_id == MessageType.COMMAND_AMF0


# --- Connect details -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "name", "query"),
    [
        ("live", "live", ""),
        ("live/", "live", ""),
        ("live?token=abc&x=1", "live", "token=abc&x=1"),
        ("live/?token=abc", "live", "token=abc"),
        ("app/instance", "app/instance", ""),
    ],
)
def test_app_name_drops_trailing_slash_and_query(app: str, name: str, query: str) -> None:
    session = ServerSession()
    (event,) = feed(session, cmd(Connect(app=app))).events
    assert isinstance(event, ConnectionRequested)
    assert (event.app_name, event.query, event.connect.app) == (name, query, app)
    assert session.app_name == name


@pytest.mark.parametrize("transaction_id", [1, 1.0, 3.0])
def test_connect_result_echoes_the_transaction_id(transaction_id: float) -> None:
    session = ServerSession()
    connect = cmd(Connect(app="live", transaction_id=transaction_id))
    session.accept_request(only(feed(session, connect), ConnectionRequested).request_id)
    result = command_of(drain(session).messages[4])
    assert result.name == "_result"
    assert result.transaction_id == transaction_id


def test_transaction_ids_are_echoed() -> None:
    session = connected()
    output = feed(
        session,
        message(CommandMessage("createStream", 7.0)),
        message(CommandMessage("releaseStream", 8.0, None, ("k",))),
        message(CommandMessage("getStreamLength", 9.0, None, ("k",))),
    )
    assert [command_of(sent).transaction_id for sent in output.messages] == [7, 8, 9]


def test_commands_before_the_connect_answer_are_handled_after_it() -> None:
    session = ServerSession()
    output = feed(session, cmd(FFMPEG_PUBLISH_CONNECT), cmd(CreateStream(2)))
    assert output.messages == []
    session.accept_request(1)
    names = [name for _, name, *_ in shape(drain(session).messages)[4:]]
    assert names == ["_result", "onBWDone", "_result"]
    assert StreamState.CREATED is session.streams[1].state


def test_too_many_commands_before_the_connect_answer_is_a_session_error() -> None:
    session = ServerSession()
    feed(session, cmd(FFMPEG_PUBLISH_CONNECT))
    for transaction_id in range(32):
        session.handle_message(cmd(CreateStream(transaction_id + 2)), 0.0)
    with pytest.raises(SessionError, match="before connect was answered"):
        session.handle_message(cmd(CreateStream(99)), 0.0)
    session.accept_request(1)
    assert drain(session).messages == []


def test_second_connect_gets_an_error() -> None:
    session = connected()
    (reply,) = feed(session, cmd(Connect(app="other", transaction_id=5))).messages
    assert status(reply) == (0, "_error", "error", "NetConnection.Call.Failed")
    assert command_of(reply).transaction_id == 5
    assert session.app_name == "live"


# --- Rejections ----------------------------------------------------------------------------------


def test_rejected_connect_gets_error_and_closes() -> None:
    session = ServerSession()
    event = only(feed(session, cmd(Connect(app="secret", transaction_id=1))), ConnectionRequested)
    session.reject_request(event.request_id, "Bad token.")
    output = drain(session)
    (reply,) = output.messages
    assert command_of(reply).name == "_error"
    assert command_of(reply).transaction_id == 1
    assert info(reply) == {
        "level": "error",
        "code": "NetConnection.Connect.Rejected",
        "description": "Bad token.",
    }
    assert (output.close, output.close_reason) == (True, "Bad token.")
    assert drain(session).close is False  # reported once
    assert session.closed
    assert not session.connected

    assert feed(session, cmd(CreateStream(2))) == SessionOutput([], [], False, None, [])
    session.notify_disconnected(None)
    assert drain(session).events == [Disconnected(None)]


def test_rejected_connect_with_a_custom_code() -> None:
    session = ServerSession()
    feed(session, cmd(Connect(app="live")))
    session.reject_request(1, "Go away.", "NetConnection.Connect.InvalidApp")
    (reply,) = drain(session).messages
    assert info(reply)["code"] == "NetConnection.Connect.InvalidApp"


def test_invalid_connect_is_rejected_without_event() -> None:
    session = ServerSession()
    bad = message(CommandMessage("connect", 1, {"app": 5}))
    output = feed(session, bad)
    assert output.events == []
    (reply,) = output.messages
    assert status(reply) == (0, "_error", "error", "NetConnection.Connect.Rejected")
    assert output.close


@pytest.mark.parametrize(
    ("code", "expected"),
    [(None, "NetStream.Publish.BadName"), ("NetStream.Publish.Denied", "NetStream.Publish.Denied")],
)
def test_rejected_publish(code: str | None, expected: str) -> None:
    session = connected()
    stream_id = create_stream(session)
    event = only(feed(session, cmd(Publish("taken"), stream_id)), PublishStreamRequested)
    session.reject_request(event.request_id, "Already published.", code)
    output = drain(session)
    (reply,) = output.messages
    assert status(reply) == (stream_id, "onStatus", "error", expected)
    assert info(reply)["description"] == "Already published."
    assert not output.close
    assert session.streams[stream_id].state is StreamState.CREATED

    # The stream may be used again, with a new request id.
    again = only(feed(session, cmd(Publish("free"), stream_id)), PublishStreamRequested)
    assert again.request_id == event.request_id + 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [(None, "NetStream.Play.StreamNotFound"), ("NetStream.Play.Failed", "NetStream.Play.Failed")],
)
def test_rejected_play(code: str | None, expected: str) -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    event = only(feed(session, cmd(Play("nothing"), stream_id)), PlayStreamRequested)
    session.reject_request(event.request_id, "No such stream.", code)
    (reply,) = drain(session).messages
    assert status(reply) == (stream_id, "onStatus", "error", expected)
    assert info(reply)["details"] == "nothing"
    assert session.streams[stream_id].state is StreamState.CREATED


def server_snapshot(session: ServerSession) -> tuple[object, ...]:
    """What a caller can see of the session's state."""
    return (
        dict(session.streams),
        session.pending_request_ids,
        session.pending_call_ids,
        session.connected,
        session.closed,
        session.app_name,
        session.ignored_message_count,
        session.next_deadline(),
    )


def test_answers_to_unknown_or_answered_requests_raise_and_change_nothing() -> None:
    session = connected()
    stream_id = create_stream(session)
    event = only(feed(session, cmd(Publish("stream"), stream_id)), PublishStreamRequested)
    session.accept_request(event.request_id)
    drain(session)
    other = create_stream(session, 3)
    waiting = only(feed(session, cmd(Play("other"), other)), PlayStreamRequested)
    before = server_snapshot(session)
    for request_id, what in [
        (event.request_id, "already answered"),
        (1, "already answered"),  # the connect
        (999, "no request 999"),
        (0, "no request 0"),
        (-1, "no request -1"),
    ]:
        with pytest.raises(LocalProtocolError, match=what):
            session.accept_request(request_id)
        with pytest.raises(LocalProtocolError, match=what):
            session.reject_request(request_id, "late")
    assert drain(session) == SessionOutput([], [], False, None, [])
    assert server_snapshot(session) == before
    assert session.streams[stream_id].state is StreamState.PUBLISHING
    # The request still pending is answered as usual.
    session.accept_request(waiting.request_id)
    assert session.streams[other].state is StreamState.PLAYING


def test_request_errors_are_local_protocol_errors() -> None:
    session = ServerSession()
    with pytest.raises(ProtocolError):  # the base class, for code that catches both kinds
        session.accept_request(1)
    assert issubclass(SessionError, RemoteProtocolError)


def test_answers_after_the_session_closed_are_ignored() -> None:
    session = connected()
    stream_id = create_stream(session)
    event = only(feed(session, cmd(Publish("stream"), stream_id)), PublishStreamRequested)
    session.close()
    drain(session)
    session.accept_request(event.request_id)
    session.reject_request(event.request_id, "late")
    session.accept_request(999)  # nothing is checked once closed: the caller cannot know
    assert drain(session).messages == []
    session.notify_disconnected(None)
    drain(session)
    session.accept_request(event.request_id)
    assert drain(session) == SessionOutput([], [], False, None, [])


def test_withdrawn_requests_are_remembered_within_a_bound() -> None:
    session = connected(config=ServerSessionConfig(max_streams_per_connection=1))
    stream_id = create_stream(session)
    withdrawn = []
    for _ in range(200):  # a client that publishes and closes faster than the user answers
        event = only(feed(session, cmd(Publish("s"), stream_id)), PublishStreamRequested)
        feed(session, cmd(CloseStream(), stream_id))
        withdrawn.append(event.request_id)
    for request_id in withdrawn:  # oldest ones forgotten, newer ones remembered: all late
        session.accept_request(request_id)
    with pytest.raises(LocalProtocolError, match="already answered"):
        session.accept_request(withdrawn[-1])  # answered just now
    with pytest.raises(LocalProtocolError, match="no request"):
        session.accept_request(withdrawn[-1] + 1)
    assert drain(session).messages == []
    assert session.streams[stream_id].state is StreamState.CREATED


def test_request_for_a_stream_closed_meanwhile_is_forgotten() -> None:
    session = connected()
    stream_id = create_stream(session)
    event = only(feed(session, cmd(Publish("stream"), stream_id)), PublishStreamRequested)
    assert session.pending_request_ids == {event.request_id}
    # Never accepted, so nothing finished either.
    assert feed(session, cmd(CloseStream(), stream_id)).events == []
    assert session.pending_request_ids == frozenset()
    session.accept_request(event.request_id)  # late, not wrong: the client withdrew it
    assert drain(session).messages == []
    assert session.streams[stream_id].state is StreamState.CREATED
    with pytest.raises(LocalProtocolError, match="already answered"):
        session.accept_request(event.request_id)


# --- Publish and play edge cases -----------------------------------------------------------------


def test_publish_on_an_unknown_stream_gets_an_error_status() -> None:
    session = connected()
    output = feed(session, cmd(Publish("stream"), 5))
    assert output.events == []
    assert status(output.messages[0]) == (5, "onStatus", "error", "NetStream.Publish.BadName")


def test_publish_on_a_busy_stream_gets_an_error_status() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(session, cmd(Publish("other"), stream_id))
    assert output.events == []
    (reply,) = output.messages
    assert status(reply)[2:] == ("error", "NetStream.Publish.BadName")
    assert "already publishing" in info(reply)["description"]


def test_play_on_a_publishing_stream_gets_an_error_status() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(session, cmd(Play("other"), stream_id))
    assert output.events == []
    assert status(output.messages[0])[2:] == ("error", "NetStream.Play.Failed")


def test_play_again_on_a_playing_stream_switches_streams() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session, "first")
    finished, requested = feed(session, cmd(Play("second"), stream_id)).events
    assert finished == PlayStreamFinished("live", "first", stream_id)
    assert isinstance(requested, PlayStreamRequested)
    assert requested.stream_key == "second"


def test_play2_requests_playback_without_reset() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    play2 = Play2({"streamName": "other", "start": 0, "len": 1000, "transition": "switch"})
    (event,) = feed(session, cmd(play2, stream_id)).events
    assert event == PlayStreamRequested(
        2, "live", "other", stream_id, PlayMode.RECORDED, 0, 1000, reset=False
    )
    nameless = feed(session, cmd(Play2({"start": 0}), stream_id))
    assert nameless.events == []
    assert status(nameless.messages[0])[2:] == ("error", "NetStream.Play.Failed")


@pytest.mark.parametrize("name", ["publish", "play"])
def test_stream_names_over_the_limit_are_refused(name: str) -> None:
    config = ServerSessionConfig(limits=Limits(max_name_length=8))
    session = connected(config=config)
    stream_id = create_stream(session)
    output = feed(session, message(CommandMessage(name, 0, None, ("x" * 9,)), stream_id))
    assert output.events == []
    expected = "NetStream.Publish.BadName" if name == "publish" else "NetStream.Play.Failed"
    assert status(output.messages[0]) == (stream_id, "onStatus", "error", expected)
    assert "max_name_length" in info(output.messages[0])["description"]


def test_app_name_over_the_limit_refuses_the_connect() -> None:
    session = ServerSession(ServerSessionConfig(limits=Limits(max_name_length=4)))
    output = feed(session, cmd(Connect(app="too-long")))
    assert output.events == []
    assert status(output.messages[0])[1:] == ("_error", "error", "NetConnection.Connect.Rejected")
    assert output.close


def test_publish_with_a_non_string_name_is_refused() -> None:
    session = connected()
    stream_id = create_stream(session)
    output = feed(session, message(CommandMessage("publish", 0, None, (42,)), stream_id))
    assert output.events == []
    assert status(output.messages[0])[2:] == ("error", "NetStream.Publish.BadName")


def test_publish_type_is_reported() -> None:
    session = connected()
    stream_id = create_stream(session)
    (event,) = feed(session, cmd(Publish("stream", "record"), stream_id)).events
    assert isinstance(event, PublishStreamRequested)
    assert event.publish_type == "record"


# --- Streams -------------------------------------------------------------------------------------


def test_create_stream_ids_count_up_from_one_and_are_limited() -> None:
    session = connected(config=ServerSessionConfig(max_streams_per_connection=3))
    assert [create_stream(session, tid) for tid in (2, 3, 4)] == [1, 2, 3]
    (reply,) = feed(session, cmd(CreateStream(5))).messages
    assert status(reply) == (0, "_error", "error", "NetConnection.Call.Failed")
    assert command_of(reply).transaction_id == 5
    feed(session, cmd(DeleteStream(2)))
    assert create_stream(session, 6) == 4
    assert sorted(session.streams) == [1, 3, 4]


def test_publish_one_stream_and_play_another_on_one_connection() -> None:
    session = connected()
    published = publishing(session, "mine")
    played = playing(session, "theirs")
    assert (published, played) == (1, 2)

    output = feed(session, message(VideoData(AVC_HEADER), published, 10))
    assert only(output, AudioVideoDataReceived).stream_key == "mine"
    assert feed(session, message(VideoData(AVC_HEADER), played, 10)).events == []

    session.send_av_data(played, MediaType.VIDEO, 10, AVC_HEADER)
    session.send_av_data(published, MediaType.VIDEO, 10, AVC_HEADER)  # not playing: dropped
    assert drain(session).messages == [DetailedMessage(10, played, VideoData(AVC_HEADER))]

    assert feed(session, cmd(CloseStream(), played)).events == [
        PlayStreamFinished("live", "theirs", played)
    ]
    assert session.streams[played].state is StreamState.CREATED
    assert session.streams[published].state is StreamState.PUBLISHING


def test_close_stream_finishes_once_and_allows_republishing() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(session, cmd(CloseStream(), stream_id))
    assert output.events == [PublishingFinished("live", "stream", stream_id)]
    assert status(output.messages[0]) == (
        stream_id,
        "onStatus",
        "status",
        "NetStream.Unpublish.Success",
    )
    # Neither a second closeStream nor the following deleteStream finish it again.
    assert feed(session, cmd(CloseStream(), stream_id)).events == []
    assert feed(session, cmd(DeleteStream(stream_id))).events == []

    stream_id = create_stream(session)
    (event,) = feed(session, cmd(Publish("stream"), stream_id)).events
    assert isinstance(event, PublishStreamRequested)


def test_late_data_and_unknown_streams_are_ignored_and_counted() -> None:
    session = connected()
    stream_id = publishing(session)
    feed(session, cmd(CloseStream(), stream_id))
    before = session.ignored_message_count
    late = [
        message(AudioData(AAC_HEADER), stream_id),  # after closeStream
        message(VideoData(AVC_HEADER), 9),  # unknown stream
        message(set_data_frame({"width": 1.0}), stream_id),
        message(set_data_frame({"width": 1.0}), 0),
    ]
    assert feed(session, *late) == SessionOutput([], [], False, None, [])
    assert session.ignored_message_count == before + 4

    feed(session, cmd(DeleteStream(stream_id)))
    assert feed(session, message(VideoData(AVC_HEADER), stream_id)).events == []


def test_data_on_a_created_or_requested_stream_is_ignored() -> None:
    session = connected()
    stream_id = create_stream(session)
    assert feed(session, message(VideoData(AVC_HEADER), stream_id)).events == []
    feed(session, cmd(Publish("stream"), stream_id))
    assert feed(session, message(AudioData(AAC_HEADER), stream_id)).events == []
    assert session.ignored_message_count == 2


def test_delete_stream_with_a_float_id() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(session, message(CommandMessage("deleteStream", 0, None, (float(stream_id),))))
    assert output.events == [PublishingFinished("live", "stream", stream_id)]
    assert stream_id not in session.streams


def test_delete_stream_of_an_unknown_or_bad_id_is_ignored() -> None:
    session = connected()
    output = feed(
        session,
        cmd(DeleteStream(42)),
        message(CommandMessage("deleteStream", 0, None, ("one",))),
        message(CommandMessage("deleteStream", 0, None, (1.5,))),
    )
    assert output == SessionOutput([], [], False, None, [])


# --- Metadata ------------------------------------------------------------------------------------


def test_bare_on_metadata_and_clear_data_frame() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(
        session,
        message(OnMetaData({"width": 1920.0, "custom": "x"}).to_message(), stream_id),
        message(ClearDataFrame().to_message(), stream_id),
    )
    set_event, cleared = output.events
    assert isinstance(set_event, StreamMetaDataChanged)
    assert set_event.meta_data.video_width == 1920
    assert set_event.meta_data.extra == {"custom": "x"}
    assert cleared == StreamMetaDataChanged("live", "stream", stream_id, StreamMetadata(), {})


def test_other_or_malformed_data_messages_are_ignored() -> None:
    session = connected()
    stream_id = publishing(session)
    output = feed(
        session,
        message(DataMessage(("onTextData", {"text": "hi"})), stream_id),
        message(DataMessage(("@setDataFrame", "onCuePoint", {"name": "x"})), stream_id),
        message(DataMessage(("@setDataFrame", "onMetaData", "not an object")), stream_id),
        message(DataMessage(()), stream_id),
    )
    assert output.events == []
    assert session.ignored_message_count == 4


def test_raw_metadata_is_read_only() -> None:
    session = connected()
    stream_id = publishing(session)
    (event,) = feed(session, message(set_data_frame({"width": 1.0}), stream_id)).events
    assert isinstance(event, StreamMetaDataChanged)
    with pytest.raises(TypeError):
        event.raw["width"] = 2.0  # type: ignore[index]


def test_aggregate_messages_are_split_into_media_events() -> None:
    session = connected()
    stream_id = publishing(session)

    def tag(type_id: int, timestamp: int, body: bytes) -> bytes:
        header = bytes([type_id]) + len(body).to_bytes(3) + timestamp.to_bytes(3) + b"\x00" * 4
        return header + body + (11 + len(body)).to_bytes(4)

    payload = tag(9, 1000, AVC_HEADER) + tag(8, 1020, AAC_HEADER)
    output = feed(session, message(AggregateMessage(payload), stream_id, 500), now=3.0)
    assert output.events == [
        AudioVideoDataReceived("live", "stream", stream_id, MediaType.VIDEO, AVC_HEADER, 500, 3.0),
        AudioVideoDataReceived("live", "stream", stream_id, MediaType.AUDIO, AAC_HEADER, 520, 3.0),
    ]
    assert feed(session, message(AggregateMessage(b"\x09\x00"), stream_id)).events == []


# --- Playback controls and sends -----------------------------------------------------------------


def test_pause_and_unpause_are_reported_for_the_media_writer() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    output = feed(session, cmd(Pause(pause=True, milliseconds=1200), stream_id))
    assert [status(sent) for sent in output.messages] == [
        (stream_id, "onStatus", "status", "NetStream.Pause.Notify")
    ]
    assert output.playback == [PlaybackChoice(stream_id, paused=True)]
    assert session.streams[stream_id].paused
    # The session sends what it is given; the writer's PlaybackRules hold media back.
    session.send_av_data(stream_id, MediaType.VIDEO, 0, AVC_HEADER)
    assert len(drain(session).messages) == 1

    output = feed(session, cmd(Pause(pause=False, milliseconds=1200), stream_id))
    assert status(output.messages[0])[3] == "NetStream.Unpause.Notify"
    assert output.playback == [PlaybackChoice(stream_id)]


def test_an_accepted_play_is_reported_as_a_new_play() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = create_stream(session)
    feed(session, cmd(ReceiveVideo(False), stream_id))  # before the play: kept for it
    (requested,) = feed(session, cmd(Play("key"), stream_id)).events
    session.accept_request(requested.request_id)
    assert drain(session).playback == [PlaybackChoice(stream_id, video=False, new_play=True)]


def test_pause_or_seek_on_a_stream_that_does_not_play_is_ignored() -> None:
    session = connected()
    stream_id = create_stream(session)
    output = feed(session, cmd(Pause(pause=True), stream_id), cmd(Seek(10), stream_id))
    assert output == SessionOutput([], [], False, None, [])


def test_seek_is_acknowledged() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    (reply,) = feed(session, cmd(Seek(5000), stream_id)).messages
    assert status(reply) == (stream_id, "onStatus", "status", "NetStream.Seek.Notify")


def test_a_live_seek_is_only_acknowledged_but_a_delegated_one_goes_to_the_writer() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    output = feed(session, cmd(Seek(5000), stream_id))
    assert output.playback == []  # live: nothing moves
    assert session.delegate_seeks(stream_id)
    assert not session.delegate_seeks(create_stream(session))  # not playing
    output = feed(session, cmd(Seek(2500), stream_id), cmd(Seek(-10), stream_id))
    assert output.messages == []  # the writer answers, in order with its media
    assert output.playback == [
        PlaybackChoice(stream_id, seek=2500),
        PlaybackChoice(stream_id, seek=0),
    ]
    # A new play of the stream is live again until its writer says otherwise.
    *_finished, requested = feed(session, cmd(Play("other"), stream_id)).events
    assert isinstance(requested, PlayStreamRequested)
    session.accept_request(requested.request_id)
    drain(session)
    (reply,) = feed(session, cmd(Seek(1000), stream_id)).messages
    assert status(reply) == (stream_id, "onStatus", "status", "NetStream.Seek.Notify")


def test_seek_and_completion_notices_for_a_recorded_stream() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    notices = session.player_notices(stream_id)
    assert shape(notices[PlayerNotice.SEEKED]) == [
        (0, StreamBegin(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Seek.Notify"),
        (stream_id, "onStatus", 0, "NetStream.Play.Start"),
    ]
    completed = notices[PlayerNotice.COMPLETED]
    assert shape(completed) == [
        (0, StreamEof(stream_id)),
        (stream_id, "data", "onPlayStatus"),
        (stream_id, "onStatus", 0, "NetStream.Play.Stop"),
    ]
    play_status = completed[1].content
    assert isinstance(play_status, DataMessage)
    assert play_status.values[1]["code"] == "NetStream.Play.Complete"  # type: ignore[index]
    for sent in (*notices[PlayerNotice.SEEKED], *completed):  # each survives the wire
        assert decode_message(encode_message(sent)).content.type_id == sent.content.type_id


def test_receive_audio_and_video_flags_are_reported_for_the_media_writer() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    output = feed(session, cmd(ReceiveAudio(enabled=False), stream_id))
    assert output.playback == [PlaybackChoice(stream_id, audio=False)]
    output = feed(
        session, cmd(ReceiveAudio(enabled=True), stream_id), cmd(ReceiveVideo(False), stream_id)
    )
    assert output.playback == [PlaybackChoice(stream_id), PlaybackChoice(stream_id, video=False)]
    assert not session.streams[stream_id].receive_video
    assert drain(session).playback == []  # reported once
    assert session.playback_choice(stream_id) == PlaybackChoice(stream_id, video=False)
    assert session.playback_choice(create_stream(session)) is None  # not playing


def test_user_control_sends_to_a_playing_stream() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    session.send_stream_eof(stream_id)
    session.send_stream_dry(stream_id)
    session.send_stream_is_recorded(stream_id)
    assert shape(drain(session).messages) == [
        (0, StreamEof(stream_id)),
        (0, StreamDry(stream_id)),
        (0, StreamIsRecorded(stream_id)),
    ]


def test_relay_notifications_keep_the_player_playing() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    session.send_stream_unpublished(stream_id)
    session.send_stream_published(stream_id)
    assert shape(drain(session).messages) == [
        (0, StreamEof(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Play.UnpublishNotify"),
        (0, StreamBegin(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Play.PublishNotify"),
    ]
    assert session.streams[stream_id].state is StreamState.PLAYING


def test_player_notices_are_what_the_session_would_send() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    notices = session.player_notices(stream_id)
    assert shape(notices[PlayerNotice.PUBLISHED]) == [
        (0, StreamBegin(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Play.PublishNotify"),
    ]
    assert shape(notices[PlayerNotice.UNPUBLISHED]) == [
        (0, StreamEof(stream_id)),
        (stream_id, "onStatus", 0, "NetStream.Play.UnpublishNotify"),
    ]
    assert drain(session).messages == []  # handed over, not sent
    session.send_stream_published(stream_id)
    assert drain(session).messages == notices[PlayerNotice.PUBLISHED]
    assert session.player_notices(create_stream(session)) == {}  # not playing


def test_sends_to_streams_that_do_not_play_are_ignored() -> None:
    session = connected()
    created = create_stream(session)
    published = publishing(session)
    for stream_id in (created, published, 99):
        session.send_metadata(stream_id, {"width": 1})
        session.send_av_data(stream_id, MediaType.AUDIO, 0, AAC_HEADER)
        session.send_stream_eof(stream_id)
        session.send_stream_dry(stream_id)
        session.send_stream_is_recorded(stream_id)
        session.send_stream_unpublished(stream_id)
        session.send_stream_published(stream_id)
    assert drain(session).messages == []


def test_send_metadata_accepts_raw_properties() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    session.send_metadata(stream_id, {"width": 320.0, "custom": "kept"}, timestamp=77)
    (sent,) = drain(session).messages
    assert sent.timestamp == 77
    assert sent.content == DataMessage(("onMetaData", {"width": 320.0, "custom": "kept"}))


# --- Control messages ----------------------------------------------------------------------------


def test_control_messages_from_the_client() -> None:
    session = connected()
    output = feed(
        session,
        message(Acknowledgement(1_250_000)),
        message(SetPeerBandwidth(5_000_000, BandwidthLimitType.HARD)),
        message(WindowAcknowledgementSize(5_000_000)),
        message(SetChunkSize(128)),  # unchanged: no event
        message(SetChunkSize(60_000)),
        message(PingRequest(1234)),
    )
    assert output.events == [AcknowledgementReceived(1_250_000), PeerChunkSizeChanged(60_000)]
    assert output.messages == [DetailedMessage(0, 0, PingResponse(1234))]
    assert (session.peer_bandwidth, session.peer_window_ack_size) == (5_000_000, 5_000_000)


def test_unsolicited_answers_from_the_client_are_ignored() -> None:
    session = connected()
    output = feed(
        session,
        message(CommandMessage("_result", 1, None, ())),
        message(CommandMessage("onStatus", 0, None, ({"code": "x"},))),
    )
    assert output == SessionOutput([], [], False, None, [])


def test_malformed_known_command_with_a_transaction_gets_an_error() -> None:
    session = connected()
    output = feed(session, message(CommandMessage("releaseStream", 3, None, (None,))))
    assert status(output.messages[0]) == (0, "_error", "error", "NetConnection.Call.Failed")
    assert output.events == []


# --- Before connect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        cmd(CreateStream(1)),
        cmd(Publish("stream"), 1),
        message(AudioData(AAC_HEADER), 1),
        message(set_data_frame({}), 1),
    ],
)
def test_anything_but_connect_first_is_a_session_error(first: DetailedMessage) -> None:
    session = ServerSession(connection_id="early")
    with pytest.raises(SessionError, match="expected connect"):
        session.handle_message(first, 0.0)
    assert session.closed
    assert feed(session, cmd(FFMPEG_PUBLISH_CONNECT)).events == []
    session.notify_disconnected("protocol error")
    assert drain(session).events == [Disconnected("protocol error")]


def test_control_messages_before_connect_are_fine() -> None:
    session = ServerSession()
    output = feed(
        session,
        message(WindowAcknowledgementSize(2_500_000)),
        message(Acknowledgement(100)),
        message(PingResponse(0)),
    )
    assert output.events == [AcknowledgementReceived(100), PingResponseReceived(0, None)]


# --- Enhanced RTMP -------------------------------------------------------------------------------


def enhanced_result(connect: Connect, config: ServerSessionConfig | None = None) -> dict[str, Any]:
    session = ServerSession(config or ServerSessionConfig())
    feed(session, cmd(connect))
    session.accept_request(1)
    return info(drain(session).messages[4])


def test_fourcc_list_is_intersected_and_caps_ex_announced() -> None:
    result = enhanced_result(Connect(app="live", fourcc_list=["av01", "vvc1", "hvc1", "avc1"]))
    assert result["fourCcList"] == ["av01", "hvc1", "avc1"]
    assert result["capsEx"] == int(
        CapsEx.RECONNECT | CapsEx.MULTITRACK | CapsEx.MODEX | CapsEx.TIMESTAMP_NANO_OFFSET
    )
    assert "videoFourCcInfoMap" not in result


def test_client_wildcard_gets_all_our_fourccs() -> None:
    result = enhanced_result(Connect(app="live", fourcc_list=["*"]))
    assert result["fourCcList"] == list(ServerSessionConfig().enhanced_fourccs)


def test_server_wildcard_accepts_the_client_list() -> None:
    config = ServerSessionConfig(enhanced_fourccs=("*",), caps_ex=int(CapsEx.RECONNECT))
    assert enhanced_result(Connect(app="live", fourcc_list=["hvc1", "xyz1"]), config)[
        "fourCcList"
    ] == ["hvc1", "xyz1"]
    result = enhanced_result(Connect(app="live", fourcc_list=["*"], caps_ex=3), config)
    assert result["fourCcList"] == ["*"]
    assert result["capsEx"] == 1


def test_info_maps_state_what_we_forward() -> None:
    connect = Connect(app="live", video_fourcc_info_map={"*": 4}, caps_ex=int(CapsEx.RECONNECT))
    result = enhanced_result(connect)
    assert result["videoFourCcInfoMap"] == {
        "hvc1": 4,
        "av01": 4,
        "vp09": 4,
        "vp08": 4,
        "avc1": 4,
    }
    assert result["audioFourCcInfoMap"] == {
        "Opus": 4,
        "fLaC": 4,
        "mp4a": 4,
        "ac-3": 4,
        "ec-3": 4,
        ".mp3": 4,
    }
    assert "fourCcList" not in result
    star = enhanced_result(connect, ServerSessionConfig(enhanced_fourccs=("*",)))
    assert star["videoFourCcInfoMap"] == star["audioFourCcInfoMap"] == {"*": 4}


def test_legacy_client_gets_no_enhanced_fields() -> None:
    result = enhanced_result(FFMPEG_PUBLISH_CONNECT)
    assert not {"fourCcList", "capsEx", "videoFourCcInfoMap"} & result.keys()


def test_reconnect_request() -> None:
    session = connected(Connect(app="live", caps_ex=int(CapsEx.RECONNECT)))
    assert session.peer_caps_ex == CapsEx.RECONNECT
    session.send_reconnect_request("rtmp://other/live", "Maintenance.")
    (sent,) = drain(session).messages
    reconnect = command_of(sent)
    assert (sent.stream_id, reconnect.name, reconnect.transaction_id) == (0, "onStatus", 0)
    assert reconnect.command_object is None
    assert info(sent) == {
        "level": "status",
        "code": "NetConnection.Connect.ReconnectRequest",
        "description": "Maintenance.",
        "tcUrl": "rtmp://other/live",
    }
    session.send_reconnect_request()
    assert "tcUrl" not in info(drain(session).messages[0])


def test_reconnect_request_before_connect_is_accepted_raises() -> None:
    session = ServerSession()
    with pytest.raises(LocalProtocolError, match="before the connect was accepted"):
        session.send_reconnect_request()
    (event,) = feed(session, cmd(FFMPEG_PUBLISH_CONNECT)).events
    assert isinstance(event, ConnectionRequested)
    with pytest.raises(LocalProtocolError, match="before the connect was accepted"):
        session.send_reconnect_request()
    assert drain(session).messages == []
    session.accept_request(event.request_id)  # the connect still waits, unharmed
    assert session.connected


def test_reconnect_request_once_closed_is_ignored() -> None:
    session = connected()
    session.close()
    drain(session)
    session.send_reconnect_request()
    assert drain(session).messages == []


def test_negative_byte_totals_raise_and_change_nothing() -> None:
    session = connected()
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 100)
    drain(session)
    with pytest.raises(LocalProtocolError, match="negative"):
        session.notify_byte_count(ByteCountDirection.BYTES_SENT, -1)
    assert drain(session).events == []
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 100)  # unchanged: no event
    assert drain(session).events == []


def test_send_metadata_with_an_unencodable_value_raises_and_sends_nothing() -> None:
    session = connected(FFMPEG_PLAY_CONNECT)
    stream_id = playing(session)
    with pytest.raises(LocalProtocolError):
        session.send_metadata(stream_id, {"bad": object()})
    assert drain(session).messages == []
    session.send_metadata(stream_id, {"width": 1.0})
    assert len(drain(session).messages) == 1


# --- Ping ----------------------------------------------------------------------------------------


def test_periodic_ping_and_round_trip() -> None:
    session = ServerSession(ServerSessionConfig(ping_interval=10), now=100.0)
    assert session.next_deadline() is None
    feed(session, cmd(FFMPEG_PUBLISH_CONNECT), now=102.0)
    assert session.next_deadline() is None  # not connected yet
    session.accept_request(1)
    drain(session)
    assert session.next_deadline() == 112.0

    session.handle_timer(111.9)
    assert drain(session) == SessionOutput([], [], False, None, [])
    session.handle_timer(112.0)
    output = drain(session)
    assert output.messages == [DetailedMessage(0, 0, PingRequest(12_000))]
    assert output.events == [PingRequestSent(12_000)]
    assert session.next_deadline() == 122.0

    (event,) = feed(session, message(PingResponse(12_000)), now=112.25).events
    assert isinstance(event, PingResponseReceived)
    assert event.timestamp == 12_000
    assert event.round_trip == pytest.approx(0.25)
    # Answered already, or never sent: no round trip.
    assert feed(session, message(PingResponse(12_000)), now=113.0).events == [
        PingResponseReceived(12_000, None)
    ]


def test_manual_ping_reschedules_and_wraps() -> None:
    session = connected(config=ServerSessionConfig(ping_interval=60))
    late = 2**32 / 1000 + 1.5
    session.send_ping_request(late)
    output = drain(session)
    assert output.events == [PingRequestSent(1500)]
    assert session.next_deadline() == late + 60


def test_ping_can_be_disabled() -> None:
    session = connected(config=ServerSessionConfig(ping_interval=0))
    assert session.next_deadline() is None
    session.handle_timer(1e9)
    assert drain(session).messages == []


# --- Byte totals, close and disconnection --------------------------------------------------------


def test_byte_totals_are_reported_only_on_change() -> None:
    session = ServerSession()
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 3073)
    assert drain(session).events == [NewByteIOTotals(bytes_sent=0, bytes_received=3073)]
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 3073)
    assert drain(session).events == []
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 3073)
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 3073)
    assert drain(session).events == [NewByteIOTotals(bytes_sent=3073, bytes_received=3073)]


def test_unread_byte_totals_are_replaced_by_newer_ones() -> None:
    session = connected()
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 100)
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 200)
    session.handle_message(message(Acknowledgement(50)), 0.0)
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 300)
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 400)
    assert drain(session).events == [
        NewByteIOTotals(bytes_sent=100, bytes_received=200),
        AcknowledgementReceived(50),
        NewByteIOTotals(bytes_sent=300, bytes_received=400),
    ]


def test_close_is_polite_then_closes() -> None:
    session = connected()
    published = publishing(session, "up")
    played = playing(session, "down")
    create_stream(session)  # idle streams get nothing
    session.close("Server shutting down.")
    output = drain(session)
    assert shape(output.messages) == [
        (published, "onStatus", 0, "NetStream.Unpublish.Success"),
        (0, StreamEof(played)),
        (played, "onStatus", 0, "NetStream.Play.Stop"),
    ]
    assert (output.close, output.close_reason) == (True, "Server shutting down.")
    assert output.events == []
    assert not session.connected

    # Everything is ignored now, except the disconnection.
    session.handle_message(message(VideoData(AVC_HEADER), published), 1.0)
    session.send_av_data(played, MediaType.VIDEO, 0, AVC_HEADER)
    session.send_ping_request(1.0)
    session.close("again")
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 10)
    assert drain(session) == SessionOutput([], [], False, None, [])
    session.notify_disconnected(None)
    assert drain(session).events == [
        PublishingFinished("live", "up", published),
        PlayStreamFinished("live", "down", played),
        Disconnected(None),
    ]


def test_disconnection_finishes_active_streams_then_nothing_more() -> None:
    session = connected()
    published = publishing(session, "up")
    played = playing(session, "down")
    feed(session, cmd(Publish("pending"), create_stream(session)))
    session.send_av_data(played, MediaType.VIDEO, 0, AVC_HEADER)  # never taken
    session.notify_disconnected("connection reset")
    output = drain(session)
    assert output.messages == []
    assert output.events == [
        PublishingFinished("live", "up", published),
        PlayStreamFinished("live", "down", played),
        Disconnected("connection reset"),
    ]
    session.notify_disconnected("again")
    session.handle_message(message(VideoData(AVC_HEADER), published), 1.0)
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 99)
    session.accept_request(4)
    session.handle_timer(1e9)
    session.close()
    assert drain(session) == SessionOutput([], [], False, None, [])
    assert session.streams == {}


# --- Config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"chunk_size": 0},
        {"chunk_size": 2**31},
        {"window_ack_size": 0},
        {"peer_bandwidth": 2**32},
        {"ping_interval": -1},
        {"ping_interval": math.nan},
        {"max_streams_per_connection": 0},
        {"caps_ex": -1},
    ],
)
def test_config_rejects_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ServerSessionConfig(**bad)


def test_custom_config_shows_in_the_connect_answer() -> None:
    config = ServerSessionConfig(
        fms_version="FMS/5,0,0,0",
        capabilities=255,
        chunk_size=60_000,
        window_ack_size=5_000_000,
        peer_bandwidth=6_000_000,
    )
    session = ServerSession(config)
    feed(session, cmd(FFMPEG_PUBLISH_CONNECT))
    session.accept_request(1)
    messages = drain(session).messages
    assert [sent.content for sent in messages[:4]] == [
        WindowAcknowledgementSize(5_000_000),
        SetPeerBandwidth(6_000_000, BandwidthLimitType.DYNAMIC),
        StreamBegin(0),
        SetChunkSize(60_000),
    ]
    assert command_of(messages[4]).command_object == {
        "fmsVer": "FMS/5,0,0,0",
        "capabilities": 255,
        "mode": 1,
    }


# --- Fuzzing -------------------------------------------------------------------------------------

amf_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["live", "stream", "onMetaData", "*", "hvc1"]),
)
amf_values = st.recursive(
    amf_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
        st.dictionaries(
            st.sampled_from(["width", "videocodecid", "app", "fourCcList", "capsEx", "code"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
# Biased towards the streams a "busy" session publishes (1) and plays (2) on.
stream_ids = st.one_of(st.sampled_from([1, 2]), st.sampled_from([0, 3, 7]))
# Finite only: the message decoder refuses other transaction ids, and the session echoes them.
transaction_ids = st.one_of(
    st.sampled_from([0, 1, 2.0, 5]), st.floats(allow_nan=False, allow_infinity=False)
)
command_names = st.sampled_from(
    [
        "connect",
        "createStream",
        "releaseStream",
        "FCPublish",
        "FCUnpublish",
        "FCSubscribe",
        "getStreamLength",
        "_checkbw",
        "publish",
        "play",
        "play2",
        "pause",
        "seek",
        "closeStream",
        "deleteStream",
        "receiveAudio",
        "receiveVideo",
        "_result",
        "_error",
        "onStatus",
        "onBWDone",
        "somethingElse",
    ]
)

garbage_commands = st.builds(
    lambda name, tid, obj, args, amf3, sid: message(
        CommandMessage(name, tid, obj, tuple(args), amf3), sid
    ),
    command_names,
    transaction_ids,
    amf_values,
    st.lists(amf_values, max_size=4),
    st.booleans(),
    stream_ids,
)
good_commands = st.one_of(
    st.builds(
        lambda app: cmd(Connect(app=app, fourcc_list=["*"])), st.sampled_from(["live", "a/"])
    ),
    st.builds(lambda tid: cmd(CreateStream(tid)), st.integers(1, 9)),
    st.builds(lambda key, sid: cmd(Publish(key), sid), st.sampled_from(["a", "b"]), stream_ids),
    st.builds(lambda key, sid: cmd(Play(key), sid), st.sampled_from(["a", "b"]), stream_ids),
    st.builds(lambda sid: cmd(CloseStream(), sid), stream_ids),
    st.builds(lambda sid: cmd(DeleteStream(sid)), stream_ids),
    st.builds(lambda flag, sid: cmd(Pause(pause=flag), sid), st.booleans(), stream_ids),
)
data_messages = st.builds(
    lambda head, values, sid: message(DataMessage((*head, *values)), sid),
    st.sampled_from(
        [(), ("@setDataFrame", "onMetaData"), ("onMetaData",), ("@clearDataFrame",), ("x",)]
    ),
    st.lists(amf_values, max_size=2),
    stream_ids,
)
media_messages = st.builds(
    lambda video, data, sid, ts: message(VideoData(data) if video else AudioData(data), sid, ts),
    st.booleans(),
    st.binary(max_size=8),
    stream_ids,
    st.integers(0, 2**32 - 1),
)
control_messages = st.builds(
    message,
    st.one_of(
        st.builds(SetChunkSize, st.integers(1, 2**31 - 1)),
        st.builds(Acknowledgement, st.integers(0, 2**32 - 1)),
        st.builds(PingResponse, st.integers(0, 2**32 - 1)),
        st.builds(PingRequest, st.integers(0, 2**32 - 1)),
        st.builds(SetBufferLength, stream_ids, st.integers(0, 2**32 - 1)),
        st.builds(WindowAcknowledgementSize, st.integers(1, 2**32 - 1)),
        st.builds(AggregateMessage, st.binary(max_size=40)),
    ),
    stream_ids,
)
inbound = st.one_of(
    garbage_commands, good_commands, data_messages, media_messages, control_messages
)
api_calls = st.one_of(
    st.tuples(st.just("accept"), st.integers(0, 8)),
    st.tuples(st.just("accept_pending"), st.none()),
    st.tuples(st.just("reject"), st.integers(0, 8)),
    st.tuples(st.just("answer_call"), st.integers(0, 4)),
    st.tuples(st.just("fail_call"), st.integers(0, 4)),
    st.tuples(st.just("av"), stream_ids),
    st.tuples(st.just("metadata"), stream_ids),
    st.tuples(st.just("notify"), stream_ids),
    st.tuples(st.just("reconnect"), st.none()),
    st.tuples(st.just("timer"), st.floats(0, 1000)),
    st.tuples(st.just("bytes"), st.integers(0, 10**9)),
    st.tuples(st.just("close"), st.none()),
    st.tuples(st.just("disconnect"), st.none()),
)


def call_api(session: ServerSession, action: str, argument: Any) -> None:
    match action:
        case "accept":
            session.accept_request(argument)
        case "accept_pending":
            if session.pending_request_ids:
                session.accept_request(min(session.pending_request_ids))
        case "reject":
            session.reject_request(argument, "no", None if argument % 2 else "Custom.Code")
        case "answer_call":
            session.answer_call(argument, argument, {"n": argument})
        case "fail_call":
            session.fail_call(argument, "no")
        case "av":
            session.send_av_data(argument, MediaType.VIDEO, argument, b"\x17\x01")
        case "metadata":
            session.send_metadata(argument, {"width": 2.0})
        case "notify":
            session.send_stream_unpublished(argument)
            session.send_stream_published(argument)
        case "reconnect":
            session.send_reconnect_request("rtmp://x/y")
        case "timer":
            session.handle_timer(argument)
        case "bytes":
            session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, argument)
        case "close":
            session.close("bye")
        case "disconnect":
            session.notify_disconnected(None)


def fuzz_session(start: str) -> ServerSession:
    """A fresh session, a connected one, or one publishing on 1, playing on 2, idle on 3."""
    config = ServerSessionConfig(ping_interval=1, max_streams_per_connection=4)
    if start == "fresh":
        return ServerSession(config)
    session = connected(Connect(app="live", caps_ex=1), config)
    if start == "busy":
        assert (publishing(session, "a"), playing(session, "b"), create_stream(session)) == (
            1,
            2,
            3,
        )
    return session


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["fresh", "connected", "busy"]),
    st.lists(st.one_of(inbound, api_calls), max_size=30),
)
def test_random_input_raises_only_session_errors(start: str, steps: list[Any]) -> None:
    session = fuzz_session(start)
    disconnected = False
    for now, step in enumerate(steps):
        before = server_snapshot(session)
        try:
            if isinstance(step, DetailedMessage):
                session.handle_message(step, float(now))
            else:
                call_api(session, *step)
        except SessionError:
            assert session.closed
        except LocalProtocolError:
            # Only a call of ours may be refused, and the refusal changes nothing.
            assert not isinstance(step, DetailedMessage)
            assert drain(session) == SessionOutput([], [], False, None, [])
            assert server_snapshot(session) == before
            continue
        output = drain(session)  # also checks every message encodes
        if disconnected:
            assert output == SessionOutput([], [], False, None, [])
        disconnected = disconnected or any(isinstance(e, Disconnected) for e in output.events)
        for sent in output.messages:
            if isinstance(sent.content, CommandMessage):
                assert sent.timestamp == 0
        assert 0 not in session.streams
        assert len(session.streams) <= 4


busy_stream_ids = st.sampled_from([1, 2, 3, 9])
stream_traffic = st.one_of(
    st.builds(
        lambda head, values, sid: message(DataMessage((*head, *values)), sid),
        st.sampled_from(
            [
                ("@setDataFrame", "onMetaData"),
                ("onMetaData",),
                ("@clearDataFrame",),
                ("@setDataFrame",),
            ]
        ),
        st.lists(amf_values, max_size=2),
        busy_stream_ids,
    ),
    st.builds(
        lambda name, args, sid: message(CommandMessage(name, 0, None, tuple(args)), sid),
        st.sampled_from(["pause", "seek", "receiveAudio", "receiveVideo", "play2", "closeStream"]),
        st.lists(amf_values, max_size=3),
        busy_stream_ids,
    ),
    st.builds(lambda data, sid: message(AggregateMessage(data), sid), st.binary(), busy_stream_ids),
    st.builds(
        lambda data, sid: message(AudioData(data), sid), st.binary(max_size=4), busy_stream_ids
    ),
)


@settings(max_examples=300)
@given(st.lists(stream_traffic, min_size=1, max_size=12))
def test_random_stream_traffic_on_a_busy_session(steps: list[DetailedMessage]) -> None:
    session = fuzz_session("busy")
    for now, step in enumerate(steps):
        session.handle_message(step, float(now))
        session.send_av_data(2, MediaType.AUDIO, now, b"\xaf\x01")
        session.send_metadata(2, {"width": float(now)})
        output = drain(session)
        assert not output.close
        for event in output.events:
            if isinstance(event, StreamMetaDataChanged | AudioVideoDataReceived):
                assert (event.stream_id, event.stream_key) == (1, "a")
