"""Client session: driven message by message, with server replies built from commands.py."""

from __future__ import annotations

import logging
import struct
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behaviours.session_handler import ByteCountDirection
from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol import amf
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import (
    CapsEx,
    Command,
    ConnectResult,
    CreateStreamResult,
    ErrorResult,
    NetConnectionCode,
    NetStreamCode,
    OnBWDone,
    OnStatus,
    Pause,
    ReceiveAudio,
    ReceiveVideo,
    Result,
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
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownMessage,
    VideoData,
    WindowAcknowledgementSize,
    decode_message,
    encode_message,
)
from rtmp_actors.session.client import ClientSession, ClientState, SessionOutput
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    ConnectionResponseReceived,
    Disconnected,
    MediaType,
    NewByteIOTotals,
    PauseStatusReceived,
    PlayResetReceived,
    PlayResponseReceived,
    PublishResponseReceived,
    ReconnectRequested,
    StreamEnded,
    StreamMetaDataReceived,
)
from rtmp_actors.session.events import SessionError

# --- Helpers -----------------------------------------------------------------------------------


def from_server(
    content: Command | MessageContent, stream_id: int = 0, timestamp: int = 0
) -> DetailedMessage:
    """A server message; typed commands are turned into their command message."""
    if isinstance(content, Command):
        content = content.to_message()
    return DetailedMessage(timestamp, stream_id, content)


def over_the_wire(message: DetailedMessage) -> DetailedMessage:
    """Encode and decode, as the protocol layer would (proves the message is sendable)."""
    return decode_message(encode_message(message))


def commands(output: SessionOutput) -> list[tuple[int, CommandMessage]]:
    """(stream id, command) for each command in the output, in order."""
    return [
        (message.stream_id, message.content)
        for message in output.messages
        if isinstance(message.content, CommandMessage)
    ]


def command_names(output: SessionOutput) -> list[str]:
    return [command.name for _, command in commands(output)]


def tid_of(output: SessionOutput, name: str) -> float:
    """The transaction id of the last command with that name."""
    found = [command for _, command in commands(output) if command.name == name]
    assert found, f"no {name} in {command_names(output)}"
    return found[-1].transaction_id


def connected_session(config: ClientSessionConfig | None = None) -> ClientSession:
    session = ClientSession(config, connection_id="test")
    session.request_connection("live", tc_url="rtmp://localhost/live")
    session.handle_message(from_server(ConnectResult.success()), now=1.0)
    session.take_output()
    return session


def publish(session: ClientSession, key: str, stream_id: int = 1) -> SessionOutput:
    """Request a publish and let the server accept it; returns the output after createStream."""
    session.request_publish(key)
    create_tid = tid_of(session.take_output(), "createStream")
    session.handle_message(from_server(CreateStreamResult(create_tid, stream_id)), now=2.0)
    after_create = session.take_output()
    session.handle_message(from_server(OnStatus.publish_start(key), stream_id), now=2.0)
    accepted = session.take_output()
    assert accepted.events == [
        PublishResponseReceived(key, True, f"{key} is now published.", "NetStream.Publish.Start")
    ]
    return after_create


def play(session: ClientSession, key: str, stream_id: int = 1, *, start: bool = True) -> None:
    session.request_playback(key)
    create_tid = tid_of(session.take_output(), "createStream")
    session.handle_message(from_server(CreateStreamResult(create_tid, stream_id)), now=2.0)
    session.take_output()
    if start:
        session.handle_message(from_server(OnStatus.play_start(key), stream_id), now=2.0)
        assert session.take_output().events == [
            PlayResponseReceived(key, True, f"Started playing {key}.", "NetStream.Play.Start")
        ]


def audio(stream_id: int, timestamp: int = 40, data: bytes = b"\xaf\x01\x21") -> DetailedMessage:
    return DetailedMessage(timestamp, stream_id, AudioData(data))


# --- connect -----------------------------------------------------------------------------------


def test_connect_sends_what_ffmpeg_sends() -> None:
    session = ClientSession(connection_id="c1")
    session.request_connection("live", tc_url="rtmp://example.com/live")
    output = session.take_output()

    assert len(output.messages) == 1
    message = over_the_wire(output.messages[0])
    assert (message.stream_id, message.timestamp) == (0, 0)
    command = message.content
    assert isinstance(command, CommandMessage)
    assert not command.amf3
    assert (command.name, command.transaction_id) == ("connect", 1)
    assert isinstance(command.command_object, dict)
    # Same fields in the same order as FFmpeg's gen_connect.
    assert list(command.command_object) == [
        "app",
        "type",
        "flashVer",
        "tcUrl",
        "fpad",
        "capabilities",
        "audioCodecs",
        "videoCodecs",
        "videoFunction",
        "objectEncoding",
    ]
    assert command.command_object == {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; rtmp_actors)",
        "tcUrl": "rtmp://example.com/live",
        "fpad": False,
        "capabilities": 15,
        "audioCodecs": 4071,
        "videoCodecs": 252,
        "videoFunction": 1,
        "objectEncoding": 0,
    }
    assert session.state is ClientState.CONNECTING
    assert output.events == []
    assert not output.close


def test_connect_announces_enhanced_rtmp_when_configured() -> None:
    config = ClientSessionConfig(
        enhanced_fourccs=("hvc1", "av01", "Opus"), caps_ex=CapsEx.RECONNECT | CapsEx.MODEX
    )
    session = ClientSession(config)
    session.request_connection("live")
    command = over_the_wire(session.take_output().messages[0]).content
    assert isinstance(command, CommandMessage)
    assert isinstance(command.command_object, dict)
    assert command.command_object["fourCcList"] == ["hvc1", "av01", "Opus"]
    assert command.command_object["capsEx"] == 5
    assert "tcUrl" not in command.command_object


def test_connect_sends_caps_ex_alone_and_zero_caps_ex_with_fourccs() -> None:
    session = ClientSession(ClientSessionConfig(caps_ex=CapsEx.RECONNECT))
    session.request_connection("live")
    (_, command) = commands(session.take_output())[0]
    assert isinstance(command.command_object, dict)
    assert command.command_object["capsEx"] == 1
    assert "fourCcList" not in command.command_object

    session = ClientSession(ClientSessionConfig(enhanced_fourccs=("hvc1",)))
    session.request_connection("live")
    (_, command) = commands(session.take_output())[0]
    assert isinstance(command.command_object, dict)
    assert command.command_object["capsEx"] == 0
    assert command.command_object["fourCcList"] == ["hvc1"]


def test_connect_extra_fields_are_added_and_override() -> None:
    session = ClientSession()
    session.request_connection("live", extra={"pageUrl": "https://x", "flashVer": "LNX 9,0"})
    (_, command) = commands(session.take_output())[0]
    assert isinstance(command.command_object, dict)
    assert command.command_object["pageUrl"] == "https://x"
    assert command.command_object["flashVer"] == "LNX 9,0"


def test_connect_with_unencodable_extra_raises_and_keeps_transaction_1() -> None:
    session = ClientSession()
    with pytest.raises(LocalProtocolError):
        session.request_connection("live", extra={"bad": object()})
    assert session.take_output().messages == []
    assert session.state is ClientState.IDLE
    session.request_connection("live")
    assert tid_of(session.take_output(), "connect") == 1


def test_second_request_connection_raises_and_changes_nothing() -> None:
    session = ClientSession(connection_id="conn-7")
    session.request_connection("live")
    session.take_output()
    with pytest.raises(LocalProtocolError, match="connect was sent already"):
        session.request_connection("other")
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.state is ClientState.CONNECTING
    # The first connect is still the one answered.
    session.handle_message(from_server(ConnectResult.success()), now=1.0)
    assert session.connected
    with pytest.raises(LocalProtocolError, match="connect was sent already"):
        session.request_connection("other")
    (event,) = session.take_output().events
    assert isinstance(event, ConnectionResponseReceived)
    assert event.was_accepted


def test_request_connection_once_closing_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    session = ClientSession(connection_id="conn-7")
    session.close()
    session.take_output()
    with caplog.at_level(logging.DEBUG, logger="rtmp_actors.session.client"):
        session.request_connection("live")
    assert session.take_output() == SessionOutput([], [], False, None)
    assert [record.getMessage() for record in caplog.records] == [
        "[conn-7] request_connection('live') ignored: the session is closing"
    ]


def test_connect_success_raises_event_and_sends_window_ack_size() -> None:
    config = ClientSessionConfig(window_ack_size=5_000_000)
    session = ClientSession(config)
    session.request_connection("live")
    session.take_output()
    result = ConnectResult.success(
        description="Welcome.", fourcc_list=["hvc1", "av01"], caps_ex=CapsEx.RECONNECT
    )
    session.handle_message(from_server(result), now=1.0)
    output = session.take_output()

    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, ConnectionResponseReceived)
    assert event.was_accepted
    assert event.response_text == "Welcome."
    assert event.code == "NetConnection.Connect.Success"
    assert event.information["fourCcList"] == ["hvc1", "av01"]
    assert [m.content for m in output.messages] == [WindowAcknowledgementSize(5_000_000)]
    assert session.connected
    capabilities = session.server_capabilities
    assert capabilities is not None
    assert capabilities.fourcc_list == ("hvc1", "av01")
    assert capabilities.caps_ex == 1
    assert capabilities.fms_version == "FMS/3,0,1,123"
    assert capabilities.enhanced


def test_connect_success_from_a_plain_server_has_no_enhanced_capabilities() -> None:
    session = connected_session()
    assert session.server_capabilities is not None
    assert not session.server_capabilities.enhanced


def test_connect_error_is_reported_as_refused() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    session.handle_message(from_server(ErrorResult.connect_rejected("Go away.")), now=1.0)
    output = session.take_output()

    assert output.events == [
        ConnectionResponseReceived(
            False,
            "Go away.",
            "NetConnection.Connect.Rejected",
            {"level": "error", "code": "NetConnection.Connect.Rejected", "description": "Go away."},
        )
    ]
    assert output.messages == []  # no Window Acknowledgement Size for a refused connection
    assert session.state is ClientState.REFUSED
    assert not session.connected


@pytest.mark.parametrize(
    "code", ["NetConnection.Connect.Rejected", "NetConnection.Connect.InvalidApp", "Bogus"]
)
def test_connect_result_with_another_code_is_refused(code: str) -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    session.handle_message(from_server(ConnectResult(code=code, level="error")), now=1.0)
    output = session.take_output()
    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, ConnectionResponseReceived)
    assert not event.was_accepted
    assert event.code == code
    assert session.state is ClientState.REFUSED


def test_connect_result_without_code_is_accepted_like_ffmpeg_does() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    session.handle_message(from_server(Result(1, {}, ({},))), now=1.0)
    output = session.take_output()
    assert output.events == [ConnectionResponseReceived(True, "", None, {})]
    assert session.connected


def test_replies_are_matched_numerically() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    # The server echoes the transaction id as a double.
    reply = ConnectResult.success().to_message()
    session.handle_message(
        from_server(CommandMessage("_result", 1.0, reply.command_object, reply.arguments)), 1.0
    )
    session.take_output()
    assert session.connected

    session.request_publish("key")
    create_tid = tid_of(session.take_output(), "createStream")
    assert create_tid == 4
    # 4.0 for 4, stream id 1.0 for 1.
    session.handle_message(
        from_server(CommandMessage("_result", float(create_tid), None, (1.0,))), now=2.0
    )
    output = session.take_output()
    assert [(sid, c.name) for sid, c in commands(output)] == [(1, "publish")]


def test_reply_for_unknown_transaction_is_ignored() -> None:
    session = connected_session()
    session.handle_message(from_server(CreateStreamResult(99, 1)), now=2.0)
    session.handle_message(from_server(ErrorResult.connect_rejected(transaction_id=1)), 2.0)
    for tid in (2.5, float("nan"), float("inf"), -1):
        session.handle_message(from_server(CommandMessage("_result", tid, None, (1,))), 2.0)
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.connected


# --- publish -----------------------------------------------------------------------------------


def test_publish_sends_release_fcpublish_create_then_publish_on_the_new_stream() -> None:
    session = connected_session()
    session.request_publish("my-key?token=1")
    output = session.take_output()
    sent = [over_the_wire(message) for message in output.messages]
    assert [(m.stream_id, m.content) for m in sent] == [
        (0, CommandMessage("releaseStream", 2, None, ("my-key?token=1",))),
        (0, CommandMessage("FCPublish", 3, None, ("my-key?token=1",))),
        (0, CommandMessage("createStream", 4, None, ())),
    ]
    assert output.events == []
    assert session.pending_publish_keys == {"my-key?token=1"}

    session.handle_message(from_server(CreateStreamResult(4, 7)), now=2.0)
    output = session.take_output()
    sent = [over_the_wire(message) for message in output.messages]
    assert [(m.stream_id, m.content) for m in sent] == [
        (7, CommandMessage("publish", 5, None, ("my-key?token=1", "live")))
    ]
    assert output.events == []

    session.handle_message(from_server(OnStatus.publish_start("my-key?token=1"), 7), 3.0)
    output = session.take_output()
    assert output.events == [
        PublishResponseReceived(
            "my-key?token=1", True, "my-key?token=1 is now published.", "NetStream.Publish.Start"
        )
    ]
    assert session.publishing_keys == {"my-key?token=1"}
    assert session.pending_publish_keys == frozenset()


def test_publish_type_is_sent() -> None:
    session = connected_session()
    session.request_publish("rec", "record")
    session.handle_message(from_server(CreateStreamResult(4, 1)), now=2.0)
    assert commands(session.take_output())[-1][1].arguments == ("rec", "record")


def test_publish_bad_name_is_refused_and_the_stream_deleted() -> None:
    session = connected_session()
    session.request_publish("taken")
    session.handle_message(from_server(CreateStreamResult(4, 1)), now=2.0)
    session.take_output()
    session.handle_message(from_server(OnStatus.publish_bad_name("taken"), 1), now=3.0)
    output = session.take_output()

    assert output.events == [
        PublishResponseReceived(
            "taken", False, "taken is not available.", "NetStream.Publish.BadName"
        )
    ]
    assert [(sid, c.name, c.arguments) for sid, c in commands(output)] == [
        (0, "deleteStream", (1,))
    ]
    assert session.publishing_keys == frozenset()
    with pytest.raises(LocalProtocolError, match="request_publish it first"):
        session.publish_av_data("taken", MediaType.VIDEO, 0, b"\x17\x00")
    assert session.take_output().messages == []


def test_publish_refused_by_an_error_level_status_with_another_code() -> None:
    session = connected_session()
    session.request_publish("k")
    session.handle_message(from_server(CreateStreamResult(4, 1)), now=2.0)
    session.take_output()
    status = OnStatus("NetStream.Publish.Unauthorized", "error", "no token")
    session.handle_message(from_server(status, 1), now=3.0)
    assert session.take_output().events == [
        PublishResponseReceived("k", False, "no token", "NetStream.Publish.Unauthorized")
    ]


def test_error_to_create_stream_refuses_the_publish() -> None:
    session = connected_session()
    session.request_publish("k")
    session.take_output()
    error = ErrorResult.with_status(4, "NetConnection.Call.Failed", "no streams left")
    session.handle_message(from_server(error), now=2.0)
    output = session.take_output()
    assert output.events == [
        PublishResponseReceived("k", False, "no streams left", "NetConnection.Call.Failed")
    ]
    assert output.messages == []
    # The key is free again.
    session.request_publish("k")
    assert command_names(session.take_output()) == ["releaseStream", "FCPublish", "createStream"]


def test_error_to_publish_refuses_the_publish() -> None:
    session = connected_session()
    session.request_publish("k")
    session.handle_message(from_server(CreateStreamResult(4, 1)), now=2.0)
    publish_tid = tid_of(session.take_output(), "publish")
    error = ErrorResult.with_status(publish_tid, "NetStream.Publish.Denied", "denied")
    session.handle_message(from_server(error), now=3.0)
    output = session.take_output()
    assert output.events == [
        PublishResponseReceived("k", False, "denied", "NetStream.Publish.Denied")
    ]
    assert command_names(output) == ["deleteStream"]


def test_errors_to_release_stream_and_fcpublish_are_ignored() -> None:
    session = connected_session()
    session.request_publish("k")
    output = session.take_output()
    for name in ("releaseStream", "FCPublish"):
        error = ErrorResult.with_status(tid_of(output, name), "NetConnection.Call.Failed", "?")
        session.handle_message(from_server(error), now=2.0)
    assert session.take_output() == SessionOutput([], [], False, None)
    session.handle_message(from_server(CreateStreamResult(tid_of(output, "createStream"), 1)), 2.0)
    session.handle_message(from_server(OnStatus.publish_start("k"), 1), now=3.0)
    events = session.take_output().events
    assert len(events) == 1
    assert isinstance(events[0], PublishResponseReceived)
    assert events[0].was_accepted


def test_requests_before_connect_is_accepted_raise_and_change_nothing() -> None:
    session = ClientSession()
    for state in ("idle", "connecting"):
        with pytest.raises(LocalProtocolError, match=f"accepted connect.*{state}"):
            session.request_publish("k")
        with pytest.raises(LocalProtocolError, match="before the server accepted connect"):
            session.request_playback("k")
        assert session.take_output() == SessionOutput([], [], False, None)
        assert session.pending_publish_keys == session.pending_play_keys == frozenset()
        if state == "idle":
            session.request_connection("live")
            assert tid_of(session.take_output(), "connect") == 1
    # Nothing was used up: once accepted, the same requests go out as usual.
    session.handle_message(from_server(ConnectResult.success()), now=1.0)
    session.take_output()
    session.request_publish("k")
    assert command_names(session.take_output()) == ["releaseStream", "FCPublish", "createStream"]


def test_request_publish_after_refused_connection_raises() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.handle_message(from_server(ErrorResult.connect_rejected()), now=1.0)
    session.take_output()
    with pytest.raises(LocalProtocolError, match=r"the session is refused"):
        session.request_publish("k")
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.state is ClientState.REFUSED


def test_request_publish_twice_for_a_key_raises_and_keeps_the_first() -> None:
    session = connected_session()
    session.request_publish("k")
    session.take_output()
    with pytest.raises(LocalProtocolError, match="already requested"):
        session.request_publish("k")
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.pending_publish_keys == {"k"}
    publish(session, "other", stream_id=1)
    with pytest.raises(LocalProtocolError, match="already requested"):
        session.request_publish("other")
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.publishing_keys == {"other"}
    session.publish_av_data("other", MediaType.AUDIO, 0, b"\xaf")  # still publishing
    assert len(session.take_output().messages) == 1


def test_the_same_key_may_be_published_and_played() -> None:
    session = connected_session()
    publish(session, "k", stream_id=1)
    play(session, "k", stream_id=2)
    assert session.publishing_keys == session.playing_keys == {"k"}


def test_publish_av_data_goes_out_on_the_publishing_stream() -> None:
    session = connected_session()
    publish(session, "k", stream_id=3)
    session.publish_av_data("k", MediaType.VIDEO, 1234, b"\x17\x01frame")
    session.publish_av_data("k", MediaType.AUDIO, 2**32 + 5, b"\xaf\x01")
    messages = [over_the_wire(m) for m in session.take_output().messages]
    assert messages == [
        DetailedMessage(1234, 3, VideoData(b"\x17\x01frame")),
        DetailedMessage(5, 3, AudioData(b"\xaf\x01")),  # wraps like RTMP timestamps
    ]
    with pytest.raises(LocalProtocolError, match="negative"):
        session.publish_av_data("k", MediaType.AUDIO, -1, b"")
    assert session.take_output().messages == []
    session.publish_av_data("k", MediaType.AUDIO, 6, b"\xaf\x01")
    assert session.take_output().messages == [DetailedMessage(6, 3, AudioData(b"\xaf\x01"))]


def test_publish_data_before_publish_start_or_for_unknown_keys_raises() -> None:
    session = connected_session()
    session.request_publish("k")
    session.handle_message(from_server(CreateStreamResult(4, 1)), now=2.0)
    session.take_output()
    with pytest.raises(LocalProtocolError, match="not publishing; the server has not accepted"):
        session.publish_av_data("k", MediaType.VIDEO, 0, b"\x17")
    with pytest.raises(LocalProtocolError, match="not publishing; the server has not accepted"):
        session.publish_metadata("k", StreamMetadata(video_width=640))
    with pytest.raises(LocalProtocolError, match="request_publish it first"):
        session.publish_av_data("nope", MediaType.AUDIO, 0, b"\xaf")
    with pytest.raises(LocalProtocolError, match="request_publish it first"):
        session.publish_metadata("nope", {"width": 1})
    assert session.take_output() == SessionOutput([], [], False, None)
    # The request is still on: the server's acceptance goes through as usual.
    session.handle_message(from_server(OnStatus.publish_start("k"), 1), now=3.0)
    (accepted,) = session.take_output().events
    assert isinstance(accepted, PublishResponseReceived)
    assert accepted.was_accepted
    session.publish_av_data("k", MediaType.VIDEO, 0, b"\x17")
    assert session.take_output().messages == [DetailedMessage(0, 1, VideoData(b"\x17"))]


def test_publish_data_once_closing_or_disconnected_is_ignored() -> None:
    session = connected_session()
    publish(session, "k", stream_id=1)
    session.close()
    session.take_output()
    session.publish_av_data("k", MediaType.VIDEO, 0, b"\x17")
    session.publish_metadata("k", {"width": 1})
    session.pause_playback("k", True)
    session.receive_media("k", audio=False)
    assert session.take_output() == SessionOutput([], [], False, None)
    session.notify_disconnected(None)
    session.take_output()
    session.publish_av_data("k", MediaType.VIDEO, 0, b"\x17")
    assert session.take_output() == SessionOutput([], [], False, None)


@pytest.mark.parametrize(
    "metadata",
    [
        StreamMetadata(video_width=1280, video_height=720, video_codec="H.264", encoder="me"),
        {"width": 1280, "height": 720, "videocodecid": 7, "encoder": "me"},
    ],
    ids=["typed", "mapping"],
)
def test_publish_metadata_sends_set_data_frame_with_an_ecma_array(metadata: Any) -> None:
    session = connected_session()
    publish(session, "k", stream_id=2)
    session.publish_metadata("k", metadata)
    (message,) = session.take_output().messages
    raw = encode_message(message)
    assert (raw.type_id, raw.stream_id) == (MessageType.DATA_AMF0, 2)
    assert raw.payload[raw.payload.index(b"onMetaData") + len(b"onMetaData")] == 0x08  # ECMA
    content = decode_message(raw).content
    assert isinstance(content, DataMessage)
    assert content.values[:2] == ("@setDataFrame", "onMetaData")
    assert isinstance(content.values[2], EcmaArray)
    assert content.values[2] == {"width": 1280, "height": 720, "videocodecid": 7, "encoder": "me"}


def test_publish_metadata_with_an_unencodable_value_raises() -> None:
    session = connected_session()
    publish(session, "k")
    with pytest.raises(LocalProtocolError):
        session.publish_metadata("k", {"bad": object()})
    assert session.take_output().messages == []
    session.publish_metadata("k", {"good": 1})
    assert len(session.take_output().messages) == 1


def test_stop_publish_sends_fcunpublish_then_delete_stream_with_a_numeric_id() -> None:
    session = connected_session()
    publish(session, "k", stream_id=5)
    session.stop_publish("k")
    output = session.take_output()
    sent = [over_the_wire(message) for message in output.messages]
    assert [(m.stream_id, m.content) for m in sent] == [
        (0, CommandMessage("FCUnpublish", 6, None, ("k",))),
        (0, CommandMessage("deleteStream", 0, None, (5,))),
    ]
    # On the wire the stream id is an AMF0 number (marker 0x00) holding 5.0.
    payload = encode_message(output.messages[1]).payload
    assert payload.endswith(b"\x05\x00" + struct.pack(">d", 5.0))
    assert output.events == []
    assert session.publishing_keys == frozenset()
    with pytest.raises(LocalProtocolError, match="request_publish it first"):
        session.publish_av_data("k", MediaType.AUDIO, 0, b"\xaf")
    session.handle_message(from_server(OnStatus.unpublish_success("k"), 5), now=4.0)
    assert session.take_output() == SessionOutput([], [], False, None)


def test_stop_when_not_active_is_ignored() -> None:
    session = connected_session()
    session.stop_publish("k")
    session.stop_playback("k")
    assert session.take_output() == SessionOutput([], [], False, None)
    publish(session, "k")
    session.stop_playback("k")  # publishing "k" is not playing it
    assert session.take_output() == SessionOutput([], [], False, None)
    session.stop_publish("k")
    session.take_output()
    session.stop_publish("k")
    assert session.take_output() == SessionOutput([], [], False, None)


def test_stop_publish_before_create_stream_answer_cancels_and_deletes_the_stream_later() -> None:
    session = connected_session()
    session.request_publish("k")
    create_tid = tid_of(session.take_output(), "createStream")
    session.stop_publish("k")
    output = session.take_output()
    assert output.events == [PublishResponseReceived("k", False, "cancelled")]
    assert command_names(output) == ["FCUnpublish"]

    session.handle_message(from_server(CreateStreamResult(create_tid, 1)), now=2.0)
    output = session.take_output()
    assert [(c.name, c.arguments) for _, c in commands(output)] == [("deleteStream", (1,))]
    assert output.events == []


def test_stop_playback_after_play_sent_but_unanswered_cancels() -> None:
    session = connected_session()
    play(session, "k", stream_id=1, start=False)
    session.stop_playback("k")
    output = session.take_output()
    assert output.events == [PlayResponseReceived("k", False, "cancelled")]
    assert [(c.name, c.arguments) for _, c in commands(output)] == [("deleteStream", (1,))]
    session.handle_message(from_server(OnStatus.play_start("k"), 1), now=3.0)
    session.handle_message(audio(1), now=3.0)
    assert session.take_output() == SessionOutput([], [], False, None)


def test_same_stream_id_twice_fails_the_second_request() -> None:
    # nginx-rtmp answers every createStream with 1: it serves one stream per connection.
    session = connected_session()
    publish(session, "a", stream_id=1)
    session.request_publish("b")
    create_tid = tid_of(session.take_output(), "createStream")
    session.handle_message(from_server(CreateStreamResult(create_tid, 1)), now=3.0)
    output = session.take_output()
    assert output.events == [
        PublishResponseReceived("b", False, "server gave unusable stream id 1")
    ]
    assert output.messages == []  # deleting stream 1 would end "a"
    assert session.publishing_keys == {"a"}


@pytest.mark.parametrize(
    "reply",
    [
        CommandMessage("_result", 4, None, ("one",)),
        CommandMessage("_result", 4, None, ()),
        CommandMessage("_result", 4, None, (1.5,)),
        CommandMessage("_result", 4, None, (0,)),
        CommandMessage("_result", 4, None, (-3,)),
    ],
)
def test_unusable_create_stream_result_refuses(reply: CommandMessage) -> None:
    session = connected_session()
    session.request_publish("k")
    session.take_output()
    session.handle_message(from_server(reply), now=2.0)
    output = session.take_output()
    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, PublishResponseReceived)
    assert not event.was_accepted
    assert command_names(output) == []


# --- play --------------------------------------------------------------------------------------


def test_play_sends_create_stream_then_play_and_set_buffer_length() -> None:
    session = connected_session()
    session.request_playback("cam")
    output = session.take_output()
    assert [(m.stream_id, m.content) for m in map(over_the_wire, output.messages)] == [
        (0, CommandMessage("createStream", 2, None, ())),
    ]
    session.handle_message(from_server(CreateStreamResult(2, 1)), now=2.0)
    sent = [over_the_wire(m) for m in session.take_output().messages]
    # play first, then SetBufferLength: the order of FFmpeg (gen_play, gen_buffer_time) and
    # librtmp (SendPlay, RTMP_SendCtrl).
    assert [(m.stream_id, m.content) for m in sent] == [
        (1, CommandMessage("play", 3, None, ("cam", -2000, -1, True))),
        (0, SetBufferLength(1, 3000)),
    ]
    assert session.pending_play_keys == {"cam"}


def test_play_arguments_and_buffer_length_are_configurable() -> None:
    session = connected_session(ClientSessionConfig(playback_buffer_length_ms=500))
    session.request_playback("cam", start=-1000, duration=5000, reset=False)
    session.take_output()
    session.handle_message(from_server(CreateStreamResult(2, 4)), now=2.0)
    sent = session.take_output().messages
    assert isinstance(sent[0].content, CommandMessage)
    assert sent[0].content.arguments == ("cam", -1000, 5000, False)
    assert sent[1].content == SetBufferLength(4, 500)


def test_play_start_and_reset_raise_events() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1, start=False)
    session.handle_message(from_server(OnStatus.play_reset("cam"), 1), now=3.0)
    session.handle_message(from_server(OnStatus.play_start("cam"), 1), now=3.0)
    assert session.take_output().events == [
        PlayResetReceived("cam", "Playing and resetting cam."),
        PlayResponseReceived("cam", True, "Started playing cam.", "NetStream.Play.Start"),
    ]
    assert session.playing_keys == {"cam"}


def test_play_stream_not_found_is_refused() -> None:
    session = connected_session()
    play(session, "nope", stream_id=1, start=False)
    session.handle_message(from_server(OnStatus.play_stream_not_found("nope"), 1), now=3.0)
    output = session.take_output()
    assert output.events == [
        PlayResponseReceived("nope", False, "nope not found.", "NetStream.Play.StreamNotFound")
    ]
    assert [(c.name, c.arguments) for _, c in commands(output)] == [("deleteStream", (1,))]
    assert session.playing_keys == frozenset()
    session.handle_message(audio(1), now=3.0)
    assert session.take_output().events == []


def test_error_to_play_is_refused() -> None:
    session = connected_session()
    session.request_playback("k")
    session.handle_message(from_server(CreateStreamResult(2, 1)), now=2.0)
    play_tid = tid_of(session.take_output(), "play")
    error = ErrorResult.with_status(play_tid, "NetStream.Play.Failed", "nope")
    session.handle_message(from_server(error), now=2.0)
    assert session.take_output().events == [
        PlayResponseReceived("k", False, "nope", "NetStream.Play.Failed")
    ]


def test_audio_and_video_for_a_played_stream_are_raised_even_before_play_start() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1, start=False)
    session.handle_message(audio(1, timestamp=20, data=b"\xaf\x00\x12\x10"), now=5.5)
    session.handle_message(from_server(OnStatus.play_start("cam"), 1), now=5.6)
    session.handle_message(DetailedMessage(40, 1, VideoData(b"\x17\x01")), now=5.75)
    assert session.take_output().events == [
        AudioVideoDataReceived("cam", MediaType.AUDIO, b"\xaf\x00\x12\x10", 20, 5.5),
        PlayResponseReceived("cam", True, "Started playing cam.", "NetStream.Play.Start"),
        AudioVideoDataReceived("cam", MediaType.VIDEO, b"\x17\x01", 40, 5.75),
    ]


def test_data_for_streams_not_played_is_ignored() -> None:
    session = connected_session()
    publish(session, "pub", stream_id=1)
    session.handle_message(audio(1), now=3.0)  # our own publishing stream
    session.handle_message(audio(9), now=3.0)  # nobody's
    session.handle_message(audio(0), now=3.0)  # the NetConnection
    assert session.take_output() == SessionOutput([], [], False, None)


def test_stop_playback_sends_delete_stream_and_late_data_is_ignored() -> None:
    session = connected_session()
    play(session, "cam", stream_id=2)
    session.stop_playback("cam")
    output = session.take_output()
    sent = [over_the_wire(m) for m in output.messages]
    assert [(m.stream_id, m.content) for m in sent] == [
        (0, CommandMessage("deleteStream", 0, None, (2,)))
    ]
    assert output.events == []
    assert session.playing_keys == frozenset()
    session.handle_message(audio(2), now=4.0)
    session.handle_message(DetailedMessage(0, 2, VideoData(b"\x17")), now=4.0)
    session.handle_message(from_server(OnStatus.play_stop("cam"), 2), now=4.0)
    session.handle_message(from_server(StreamEof(2)), now=4.0)
    on_metadata = DataMessage(("onMetaData", {"width": 1}))
    session.handle_message(DetailedMessage(0, 2, on_metadata), now=4.0)
    assert session.take_output() == SessionOutput([], [], False, None)


def _metadata_message(values: tuple[Any, ...], amf3: bool) -> DetailedMessage:
    return over_the_wire(DetailedMessage(0, 1, DataMessage(values, amf3)))


@pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])
@pytest.mark.parametrize(
    "values",
    [
        ("onMetaData", EcmaArray({"width": 640, "height": 360, "videocodecid": 7, "foo": "x"})),
        ("onMetaData", {"width": 640, "height": 360, "videocodecid": 7, "foo": "x"}),
        (
            "@setDataFrame",
            "onMetaData",
            EcmaArray({"width": 640, "height": 360, "videocodecid": 7, "foo": "x"}),
        ),
    ],
    ids=["ecma", "object", "set-data-frame"],
)
def test_metadata_on_a_played_stream_is_raised(values: tuple[Any, ...], amf3: bool) -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    message = _metadata_message(values, amf3)
    assert message.content.type_id == (MessageType.DATA_AMF3 if amf3 else MessageType.DATA_AMF0)
    session.handle_message(message, now=3.0)
    (event,) = session.take_output().events
    assert isinstance(event, StreamMetaDataReceived)
    assert event.stream_key == "cam"
    assert event.meta_data.video_width == 640
    assert event.meta_data.video_height == 360
    assert event.meta_data.video_codec == "H.264"
    assert event.meta_data.extra == {"foo": "x"}
    assert event.raw == {"width": 640, "height": 360, "videocodecid": 7, "foo": "x"}


def test_empty_amf3_metadata_is_raised_as_empty() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(_metadata_message(("onMetaData", EcmaArray()), True), now=3.0)
    assert session.take_output().events == [StreamMetaDataReceived("cam", StreamMetadata(), {})]


@pytest.mark.parametrize(
    "values",
    [
        ("onMetaData",),
        ("onMetaData", "not a map"),
        ("@setDataFrame", "onMetaData"),
        ("@setDataFrame", 3, {"width": 1}),
        ("|RtmpSampleAccess", False, False),
        ("onStatus", {"code": "NetStream.Data.Start"}),
        ("onFCPublish", {"code": "NetStream.Publish.Start"}),
        (),
        (1, 2, 3),
    ],
)
def test_other_or_malformed_data_messages_are_ignored(values: tuple[Any, ...]) -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(DetailedMessage(0, 1, DataMessage(values)), now=3.0)
    assert session.take_output() == SessionOutput([], [], False, None)


def _aggregate(*tags: tuple[int, int, bytes]) -> bytes:
    payload = b""
    for type_id, timestamp, body in tags:
        header = struct.pack(
            ">B3s3sB3s",
            type_id,
            len(body).to_bytes(3),
            (timestamp & 0xFFFFFF).to_bytes(3),
            timestamp >> 24,
            b"\0\0\0",
        )
        payload += header + body + struct.pack(">I", 11 + len(body))
    return payload


def test_aggregate_messages_are_split() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    payload = _aggregate((9, 1000, b"\x17\x01"), (8, 1020, b"\xaf\x01"))
    session.handle_message(DetailedMessage(500, 1, AggregateMessage(payload)), now=3.0)
    assert session.take_output().events == [
        AudioVideoDataReceived("cam", MediaType.VIDEO, b"\x17\x01", 500, 3.0),
        AudioVideoDataReceived("cam", MediaType.AUDIO, b"\xaf\x01", 520, 3.0),
    ]
    session.handle_message(DetailedMessage(0, 1, AggregateMessage(b"\x09\x00")), now=3.0)
    assert session.take_output().events == []


# --- end of stream -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (from_server(StreamEof(1)), "eof"),
        (from_server(OnStatus.play_unpublish_notify("cam"), 1), "unpublished"),
        (from_server(OnStatus.play_stop("cam"), 1), "stopped"),
        (from_server(OnStatus("NetStream.Play.Complete"), 1), "stopped"),
        (
            DetailedMessage(
                0, 1, DataMessage(("onPlayStatus", {"code": "NetStream.Play.Complete"}))
            ),
            "stopped",
        ),
        (from_server(OnStatus("NetStream.Play.Failed", "error", "boom"), 1), "failed"),
    ],
    ids=["eof", "unpublish-notify", "play-stop", "play-complete", "on-play-status", "failed"],
)
def test_stream_ended_is_raised_once(message: DetailedMessage, reason: str) -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(message, now=3.0)
    # Servers send several of these for one end (nginx-rtmp: StreamEOF and UnpublishNotify).
    session.handle_message(from_server(StreamEof(1)), now=3.0)
    session.handle_message(from_server(OnStatus.play_unpublish_notify("cam"), 1), now=3.0)
    session.handle_message(from_server(OnStatus.play_stop("cam"), 1), now=3.0)
    assert session.take_output().events == [StreamEnded("cam", reason)]
    assert session.playing_keys == {"cam"}  # playback stays requested


@pytest.mark.parametrize(
    "rearm",
    [
        from_server(OnStatus.play_publish_notify("cam"), 1),
        from_server(OnStatus.play_start("cam"), 1),
        from_server(StreamBegin(1)),
    ],
    ids=["publish-notify", "play-start", "stream-begin"],
)
def test_stream_ended_is_raised_again_after_the_stream_comes_back(rearm: DetailedMessage) -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(from_server(OnStatus.play_unpublish_notify("cam"), 1), now=3.0)
    session.handle_message(audio(1, timestamp=7), now=3.5)  # a relay publishes again
    session.handle_message(rearm, now=4.0)
    session.handle_message(from_server(StreamEof(1)), now=5.0)
    session.handle_message(from_server(StreamEof(1)), now=5.0)
    assert session.take_output().events == [
        StreamEnded("cam", "unpublished"),
        AudioVideoDataReceived("cam", MediaType.AUDIO, b"\xaf\x01\x21", 7, 3.5),
        StreamEnded("cam", "eof"),
    ]


def test_stream_events_for_other_streams_are_ignored() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    publish(session, "pub", stream_id=2)
    session.handle_message(from_server(StreamEof(2)), now=3.0)
    session.handle_message(from_server(StreamEof(3)), now=3.0)
    session.handle_message(from_server(OnStatus.play_stop("x"), 3), now=3.0)
    session.handle_message(from_server(OnStatus.play_stop("x"), 0), now=3.0)
    assert session.take_output() == SessionOutput([], [], False, None)


# --- NetConnection traffic ---------------------------------------------------------------------


def test_reconnect_request_is_raised() -> None:
    session = connected_session()
    session.handle_message(
        from_server(OnStatus.reconnect_request("rtmp://edge2/live", "maintenance")), now=3.0
    )
    session.handle_message(from_server(OnStatus.reconnect_request()), now=3.0)
    assert session.take_output().events == [
        ReconnectRequested("rtmp://edge2/live", "maintenance"),
        ReconnectRequested(None, None),
    ]


def test_ping_request_is_answered_with_the_same_timestamp() -> None:
    session = ClientSession()
    session.handle_message(from_server(PingRequest(123456)), now=1.0)
    output = session.take_output()
    assert [(m.stream_id, m.content) for m in output.messages] == [(0, PingResponse(123456))]
    assert output.events == []


def test_on_bw_done_is_answered_with_checkbw_and_its_reply_ignored() -> None:
    session = connected_session()
    session.handle_message(from_server(OnBWDone(8192)), now=2.0)
    session.handle_message(from_server(CommandMessage("onBWDone", 0, None, ("junk",))), 2.0)
    output = session.take_output()
    assert [(sid, c.name, c.transaction_id) for sid, c in commands(output)] == [
        (0, "_checkbw", 2),
        (0, "_checkbw", 3),
    ]
    session.handle_message(from_server(Result(2)), now=2.0)
    session.handle_message(from_server(ErrorResult.with_status(3, "x", "y")), now=2.0)
    assert session.take_output() == SessionOutput([], [], False, None)


@pytest.mark.parametrize(
    "content",
    [
        SetPeerBandwidth(2_500_000),
        WindowAcknowledgementSize(2_500_000),
        SetChunkSize(4096),
        StreamBegin(0),
        StreamDry(1),
        StreamIsRecorded(1),
        UnknownMessage(99, b"?"),
        CommandMessage("onFCPublish", 0, None, ({"code": "NetStream.Publish.Start"},)),
        CommandMessage("onFCUnpublish", 0, None, ()),
        CommandMessage("onFCSubscribe", 0, None, ()),
        CommandMessage("close", 0, None, ()),
        CommandMessage("onStatus", 0, None, ()),
        CommandMessage("onStatus", 0, None, ({"code": 5},)),
        CommandMessage("_result", 0, None, ()),
    ],
)
def test_other_server_messages_are_accepted_silently(content: MessageContent) -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(from_server(content), now=3.0)
    assert session.take_output() == SessionOutput([], [], False, None)
    assert session.playing_keys == {"cam"}


def test_amf3_object_encoding_switches_later_commands_to_amf3() -> None:
    session = ClientSession(ClientSessionConfig(object_encoding=3))
    session.request_connection("live")
    (_, connect) = commands(session.take_output())[0]
    assert not connect.amf3
    assert isinstance(connect.command_object, dict)
    assert connect.command_object["objectEncoding"] == 3
    session.handle_message(from_server(ConnectResult.success(object_encoding=3)), now=1.0)
    session.take_output()
    session.request_publish("k")
    output = session.take_output()
    assert [encode_message(m).type_id for m in output.messages] == [MessageType.COMMAND_AMF3] * 3


def test_amf0_server_keeps_commands_amf0() -> None:
    session = ClientSession(ClientSessionConfig(object_encoding=3))
    session.request_connection("live")
    session.handle_message(from_server(ConnectResult.success(object_encoding=0)), now=1.0)
    session.take_output()
    session.request_publish("k")
    assert all(not c.amf3 for _, c in commands(session.take_output()))


# --- several streams ---------------------------------------------------------------------------


def test_several_streams_share_one_connection() -> None:
    session = connected_session()
    session.request_publish("a")
    tid_a = tid_of(session.take_output(), "createStream")
    session.request_publish("b")
    tid_b = tid_of(session.take_output(), "createStream")
    session.request_playback("c")
    tid_c = tid_of(session.take_output(), "createStream")
    assert len({tid_a, tid_b, tid_c}) == 3

    # Answers out of order.
    session.handle_message(from_server(CreateStreamResult(tid_c, 3)), now=2.0)
    session.handle_message(from_server(CreateStreamResult(tid_a, 1)), now=2.0)
    session.handle_message(from_server(CreateStreamResult(tid_b, 2)), now=2.0)
    output = session.take_output()
    assert [(sid, c.name, c.arguments[0]) for sid, c in commands(output)] == [
        (3, "play", "c"),
        (1, "publish", "a"),
        (2, "publish", "b"),
    ]
    session.handle_message(from_server(OnStatus.publish_start("b"), 2), now=3.0)
    session.handle_message(from_server(OnStatus.play_start("c"), 3), now=3.0)
    session.handle_message(from_server(OnStatus.publish_bad_name("a"), 1), now=3.0)
    events = session.take_output().events
    assert [(type(e).__name__, e.stream_key, e.was_accepted) for e in events] == [  # type: ignore[attr-defined]
        ("PublishResponseReceived", "b", True),
        ("PlayResponseReceived", "c", True),
        ("PublishResponseReceived", "a", False),
    ]
    assert session.publishing_keys == {"b"}
    assert session.playing_keys == {"c"}

    session.publish_av_data("b", MediaType.VIDEO, 10, b"\x17")
    assert [m.stream_id for m in session.take_output().messages] == [2]
    session.handle_message(audio(3), now=4.0)
    session.handle_message(audio(2), now=4.0)
    assert [e.stream_key for e in session.take_output().events] == ["c"]  # type: ignore[attr-defined]

    session.stop_publish("b")
    assert [(c.name, c.arguments) for _, c in commands(session.take_output())] == [
        ("FCUnpublish", ("b",)),
        ("deleteStream", (2,)),
    ]
    session.handle_message(audio(3), now=5.0)
    assert len(session.take_output().events) == 1  # "c" still plays


def test_same_key_can_be_published_and_played() -> None:
    session = connected_session()
    publish(session, "k", stream_id=1)
    play(session, "k", stream_id=2)
    assert session.publishing_keys == session.playing_keys == {"k"}
    session.stop_playback("k")
    assert [(c.name, c.arguments) for _, c in commands(session.take_output())] == [
        ("deleteStream", (2,))
    ]
    assert session.publishing_keys == {"k"}


# --- byte counts, close, disconnect ------------------------------------------------------------


def test_new_byte_io_totals_only_when_a_total_changes() -> None:
    session = ClientSession()
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 0)
    assert session.take_output().events == []
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 3073)
    session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, 3073)
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 3500)
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 4000)
    assert session.take_output().events == [
        NewByteIOTotals(bytes_sent=0, bytes_received=3073),
        NewByteIOTotals(bytes_sent=3500, bytes_received=3073),
        NewByteIOTotals(bytes_sent=4000, bytes_received=3073),  # a total, not 3500 + 4000
    ]
    with pytest.raises(LocalProtocolError, match="negative"):
        session.notify_byte_count(ByteCountDirection.BYTES_SENT, -1)
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 4001)
    assert session.take_output().events == [  # -1 was not kept: 4000 was the last total
        NewByteIOTotals(bytes_sent=4001, bytes_received=3073)
    ]


def test_notify_disconnected_answers_what_is_outstanding_then_disconnected() -> None:
    session = connected_session()
    play(session, "playing", stream_id=1)
    play(session, "requested", stream_id=2, start=False)
    publish(session, "published", stream_id=3)
    session.request_publish("creating")
    session.take_output()
    session.publish_av_data("published", MediaType.AUDIO, 0, b"\xaf")  # never taken
    session.notify_disconnected("connection reset")
    output = session.take_output()
    assert output.messages == []
    assert Counter(output.events[:-1]) == Counter(
        [
            PlayResponseReceived("requested", False, "disconnected"),
            PublishResponseReceived("creating", False, "disconnected"),
            StreamEnded("playing", "disconnected"),
        ]
    )
    assert output.events[-1] == Disconnected("connection reset")
    assert session.state is ClientState.DISCONNECTED

    # Nothing after Disconnected.
    session.handle_message(audio(1), now=9.0)
    session.handle_message(from_server(PingRequest(1)), now=9.0)
    session.request_publish("x")
    session.request_playback("y")
    session.stop_publish("published")
    session.publish_av_data("published", MediaType.AUDIO, 0, b"")
    session.notify_byte_count(ByteCountDirection.BYTES_SENT, 10)
    session.close()
    session.notify_disconnected(None)
    assert session.take_output() == SessionOutput([], [], False, None)


def test_notify_disconnected_while_connecting_answers_the_connection_request() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    session.notify_disconnected(None)
    assert session.take_output().events == [
        ConnectionResponseReceived(False, "disconnected"),
        Disconnected(None),
    ]


def test_ended_playback_gets_no_second_stream_ended_on_disconnect() -> None:
    session = connected_session()
    play(session, "cam", stream_id=1)
    session.handle_message(from_server(StreamEof(1)), now=3.0)
    session.notify_disconnected(None)
    assert session.take_output().events == [StreamEnded("cam", "eof"), Disconnected(None)]


def test_close_stops_everything_politely_and_asks_to_close() -> None:
    session = connected_session()
    publish(session, "pub", stream_id=1)
    play(session, "cam", stream_id=2)
    session.request_playback("later")
    session.take_output()
    session.close("bye")
    output = session.take_output()
    assert [(sid, c.name, c.arguments) for sid, c in commands(output)] == [
        (0, "FCUnpublish", ("pub",)),
        (0, "deleteStream", (1,)),
        (0, "deleteStream", (2,)),
    ]
    assert output.events == [PlayResponseReceived("later", False, "session closed")]
    assert (output.close, output.close_reason) == (True, "bye")
    assert session.state is ClientState.CLOSING

    # Close is asked for once; then server traffic is ignored and requests are refused.
    session.handle_message(audio(2), now=5.0)
    session.handle_message(from_server(PingRequest(1)), now=5.0)
    session.request_publish("pub")
    assert session.take_output() == SessionOutput(
        [], [PublishResponseReceived("pub", False, "session closed")], False, None
    )
    session.close("again")
    assert session.take_output() == SessionOutput([], [], False, None)
    session.notify_disconnected(None)
    assert session.take_output().events == [Disconnected(None)]


def test_close_while_connecting_answers_the_connection_request() -> None:
    session = ClientSession()
    session.request_connection("live")
    session.take_output()
    session.close()
    output = session.take_output()
    assert output.events == [ConnectionResponseReceived(False, "session closed")]
    assert output.close
    assert output.close_reason is None


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="object_encoding"):
        ClientSessionConfig(object_encoding=1)
    with pytest.raises(ValueError, match="FourCC"):
        ClientSessionConfig(enhanced_fourccs=("hevc1",))
    with pytest.raises(ValueError, match="window_ack_size"):
        ClientSessionConfig(window_ack_size=0)
    config = ClientSessionConfig(enhanced_fourccs=["hvc1", "*"])  # type: ignore[arg-type]
    assert config.enhanced_fourccs == ("hvc1", "*")


# --- Fuzzing: whatever the server sends --------------------------------------------------------

_CODES = [
    *(str(code) for code in NetStreamCode),
    *(str(code) for code in NetConnectionCode),
    "NetStream.Play.Complete",
    "NetStream.Publish.Denied",
]
_KEYS = ["a", "b"]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**33), 2**33),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(_CODES),
    st.just(amf.UNDEFINED),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["code", "level", "description", "tcUrl", "capsEx", "fourCcList"])
            | st.text(max_size=5),
            children,
            max_size=4,
        ),
        st.dictionaries(st.text(max_size=5), children, max_size=3).map(EcmaArray),
    ),
    max_leaves=8,
)
_info = st.fixed_dictionaries(
    {"code": st.sampled_from(_CODES) | _values},
    optional={
        "level": st.sampled_from(["status", "error", "warning"]) | _values,
        "description": st.text(max_size=10) | _values,
        "tcUrl": st.text(max_size=10) | _values,
        "objectEncoding": st.sampled_from([0, 3]) | _values,
        "fourCcList": st.lists(st.sampled_from(["hvc1", "av01"])) | _values,
    },
)
_tids = st.integers(0, 12) | st.floats() | st.integers(0, 12).map(float)
_stream_ids = st.integers(0, 4)
_commands = st.builds(
    CommandMessage,
    name=st.sampled_from(["_result", "_error", "onStatus", "onBWDone", "onFCPublish", "close"])
    | st.text(max_size=6),
    transaction_id=_tids,
    command_object=_values | _info,
    arguments=st.lists(_info | _values | _stream_ids | st.floats(), max_size=3).map(tuple),
    amf3=st.booleans(),
)
_data = st.builds(
    DataMessage,
    values=st.lists(
        st.sampled_from(["onMetaData", "@setDataFrame", "onPlayStatus", "|RtmpSampleAccess"])
        | _info
        | _values,
        max_size=4,
    ).map(tuple),
    amf3=st.booleans(),
)
# Well-formed replies too, so that random runs get streams created, accepted and ended.
_replies = st.one_of(
    st.builds(
        lambda tid, stream_id: CreateStreamResult(tid, stream_id).to_message(),
        st.integers(1, 12),
        st.integers(1, 4),
    ),
    st.builds(
        lambda code, level: OnStatus(code, level).to_message(),
        st.sampled_from(_CODES),
        st.sampled_from(["status", "error"]),
    ),
)
_contents = st.one_of(
    _commands,
    _replies,
    _replies,
    _data,
    st.builds(AudioData, st.binary(max_size=8)),
    st.builds(VideoData, st.binary(max_size=8)),
    st.builds(PingRequest, st.integers(0, 2**32 - 1)),
    st.builds(StreamEof, _stream_ids),
    st.builds(StreamBegin, _stream_ids),
    st.builds(StreamDry, _stream_ids),
    st.builds(SetPeerBandwidth, st.integers(0, 2**32 - 1)),
    st.builds(AggregateMessage, st.binary(max_size=40)),
    st.builds(UnknownMessage, st.integers(23, 255), st.binary(max_size=4)),
)
_server_messages = st.builds(
    DetailedMessage, st.integers(0, 2**32 - 1), _stream_ids, _contents
).map(lambda message: ("server", message))
# Replies to what the client really sent: (which sent transaction, stream id, as a double, as
# an _error), so that runs get streams created, accepted, refused and ended.
_answers = st.tuples(
    st.integers(0, 5), st.integers(0, 2) | st.integers(0, 4), st.booleans(), st.integers(0, 3)
).map(lambda answer: ("answer", answer))
_LIKELY_CODES = [
    "NetStream.Publish.Start",
    "NetStream.Play.Start",
    "NetStream.Play.Reset",
    "NetStream.Play.UnpublishNotify",
    "NetStream.Play.PublishNotify",
    "NetStream.Play.Stop",
]
_statuses = st.tuples(
    st.sampled_from(_LIKELY_CODES) | st.sampled_from(_CODES),
    st.sampled_from(["status", "status", "error"]),
    st.integers(-3, -1) | st.integers(0, 4),
).map(lambda status: ("status", status))
_media = st.integers(0, 3).map(lambda index: ("media", index))
_api_calls = st.one_of(
    st.tuples(
        st.sampled_from(["publish", "play", "stop_publish", "stop_play", "av", "meta", "connect"]),
        st.sampled_from(_KEYS),
    ),
    st.tuples(st.just("bytes"), st.integers(0, 10)),
)
_requests = st.tuples(st.sampled_from(["publish", "play"]), st.sampled_from(_KEYS))
# Rare, since nothing interesting happens after them.
_endings = st.tuples(st.sampled_from(["close", "disconnect"]), st.none())
_step = st.one_of(
    _server_messages, _answers, _answers, _statuses, _statuses, _media, _requests, _api_calls
)
_steps = st.lists(
    st.tuples(st.integers(0, 29), _step, _endings).map(lambda t: t[2] if t[0] == 0 else t[1]),
    min_size=5,
    max_size=50,
)


def client_snapshot(session: ClientSession) -> tuple[object, ...]:
    """What a caller can see of the session's state."""
    return (
        session.state,
        session.server_capabilities,
        session.publishing_keys,
        session.playing_keys,
        session.pending_publish_keys,
        session.pending_play_keys,
    )


class _Fuzz:
    """Drives a session with random steps, remembering what it sent."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.sent_transactions: list[float] = []
        self.stream_ids: list[int] = []
        self.requests: Counter[tuple[str, str]] = Counter()

    def apply(self, step: tuple[str, Any]) -> None:
        session = self.session
        action, argument = step
        if action == "server":
            session.handle_message(argument, now=1.0)
        elif action == "answer":
            which, stream_id, as_float, as_error = argument
            as_error = as_error == 0
            if not self.sent_transactions:
                return
            tid = self.sent_transactions[which % len(self.sent_transactions)]
            tid = float(tid) if as_float else tid
            reply: Command = (
                ErrorResult.with_status(tid, "NetStream.Publish.Denied", "no")
                if as_error
                else CreateStreamResult(tid, stream_id)
            )
            session.handle_message(from_server(reply), now=1.0)
        elif action == "status":
            code, level, stream_id = argument
            if stream_id < 0 and self.stream_ids:  # a stream the client publishes or plays on
                stream_id = self.stream_ids[stream_id % len(self.stream_ids)]
            session.handle_message(from_server(OnStatus(code, level), abs(stream_id)), now=1.0)
        elif action == "media":
            if self.stream_ids:
                stream_id = self.stream_ids[argument % len(self.stream_ids)]
                session.handle_message(audio(stream_id), now=1.0)
        elif action in ("publish", "play"):
            if action == "publish":
                session.request_publish(argument)
            else:
                session.request_playback(argument)
            self.requests[action, argument] += 1  # not when the call raised
        elif action == "stop_publish":
            session.stop_publish(argument)
        elif action == "stop_play":
            session.stop_playback(argument)
        elif action == "av":
            session.publish_av_data(argument, MediaType.VIDEO, 5, b"\x17\x01")
        elif action == "meta":
            session.publish_metadata(argument, {"width": 2})
        elif action == "connect":
            session.request_connection(argument)
        elif action == "close":
            session.close("fuzz")
        elif action == "disconnect":
            session.notify_disconnected("fuzz")
        else:
            session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, argument)

    def remember(self, output: SessionOutput) -> None:
        for stream_id, command in commands(output):
            if command.name in ("createStream", "publish", "play"):
                self.sent_transactions.append(command.transaction_id)
            if command.name in ("publish", "play"):
                self.stream_ids.append(stream_id)


@settings(max_examples=300, deadline=None)
@given(start=st.sampled_from(["connecting", "connected", "streaming"]), steps=_steps)
def test_random_server_messages_never_break_the_session(
    start: str, steps: list[tuple[str, Any]]
) -> None:
    session = ClientSession(ClientSessionConfig(enhanced_fourccs=("hvc1",)))
    fuzz = _Fuzz(session)
    if start == "connecting":
        session.request_connection("live")
        session.take_output()
    else:
        session = fuzz.session = connected_session(ClientSessionConfig(enhanced_fourccs=("hvc1",)))
    if start == "streaming":
        publish(session, "a", stream_id=1)
        play(session, "b", stream_id=2)
        fuzz.requests.update([("publish", "a"), ("play", "b")])
        fuzz.stream_ids += [1, 2]
    responses: Counter[tuple[str, str]] = Counter(fuzz.requests)
    disconnected = False
    for step in steps:
        before = client_snapshot(session)
        try:
            fuzz.apply(step)
        except SessionError:
            return  # the only exception the session may raise on its own
        except LocalProtocolError:
            # Only a call of ours may be refused, and the refusal changes nothing.
            assert step[0] not in ("server", "answer", "status", "media")
            assert session.take_output() == SessionOutput([], [], False, None)
            assert client_snapshot(session) == before
            continue
        output = session.take_output()
        fuzz.remember(output)
        if disconnected:
            assert output.events == []
            assert output.messages == []
        for message in output.messages:
            encode_message(message)  # everything sent can go on the wire
        for event in output.events:
            if isinstance(event, PublishResponseReceived):
                responses["publish", event.stream_key] += 1
            elif isinstance(event, PlayResponseReceived):
                responses["play", event.stream_key] += 1
            elif isinstance(event, Disconnected):
                assert event is output.events[-1]
                disconnected = True
        # At most one response per request.
        assert all(responses[key] <= fuzz.requests[key] for key in responses)


# --- pause and receiveAudio/receiveVideo ---------------------------------------------------------


def test_pause_and_receive_media_go_out_on_the_playing_stream() -> None:
    session = connected_session()
    play(session, "k", stream_id=2)
    session.pause_playback("k", True, 1500)
    session.pause_playback("k", False)
    session.receive_media("k", video=False)
    session.receive_media("k", audio=True, video=True)
    sent = [(sid, parse_command(c)) for sid, c in commands(session.take_output())]
    assert sent == [
        (2, Pause(True, 1500)),
        (2, Pause(False, 0)),
        (2, ReceiveVideo(False)),
        (2, ReceiveAudio(True)),
        (2, ReceiveVideo(True)),
    ]


def test_pause_and_receive_media_raise_unless_playing() -> None:
    session = connected_session()
    play(session, "k", start=False)  # not answered yet
    with pytest.raises(LocalProtocolError, match="not playing; the server has not accepted"):
        session.pause_playback("k", True)
    with pytest.raises(LocalProtocolError, match="request_playback it first"):
        session.receive_media("other", audio=False)
    publish(session, "p", stream_id=2)
    with pytest.raises(LocalProtocolError, match="'p'\\): the key is not playing"):
        session.pause_playback("p", True)  # publishing "p" is not playing it
    assert session.take_output().messages == []
    session.handle_message(from_server(OnStatus.play_start("k"), 1), now=3.0)
    session.take_output()
    session.pause_playback("k", True)
    assert [c.name for _, c in commands(session.take_output())] == ["pause"]


def test_pause_notifications_raise_pause_status_received() -> None:
    session = connected_session()
    play(session, "k", stream_id=1)
    session.handle_message(from_server(OnStatus.pause_notify("k"), 1), now=3.0)
    session.handle_message(from_server(OnStatus.unpause_notify("k"), 1), now=3.0)
    assert session.take_output().events == [
        PauseStatusReceived("k", True),
        PauseStatusReceived("k", False),
    ]
