"""Typed commands: FFmpeg's real connect, every command's wire form, validation, round-trips."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.amf import UNDEFINED, EcmaArray
from rtmp_actors.protocol.commands import (
    CapsEx,
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
    GenericCommand,
    GetStreamLength,
    NetConnectionCode,
    NetStreamCode,
    OnBWDone,
    OnMetaData,
    OnStatus,
    Pause,
    Play,
    Play2,
    PlayMode,
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
from rtmp_actors.protocol.messages import CommandMessage, DataMessage
from tests.protocol.test_amf import amf_trees


def double(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def key(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def string(text: str) -> bytes:
    return b"\x02" + key(text)


def obj(*members: bytes) -> bytes:
    return b"\x03" + b"".join(members) + b"\x00\x00\x09"


# --- FFmpeg's connect, built by hand from the field lists in peers-and-interop.md §5 ---------
# Field order and values were checked against captures of FFmpeg 9.0.2 (imageio-ffmpeg) talking
# to a test listener on port 47481: publish, play, and publish with -rtmp_enhanced_codecs.

FLASH_VER = "FMLE/3.0 (compatible; Lavf63.1.102)"
TC_URL = "rtmp://127.0.0.1:47481/live"

FFMPEG_PUBLISH_CONNECT = (
    string("connect")
    + double(1.0)
    + obj(
        key("app") + string("live"),
        key("type") + string("nonprivate"),
        key("flashVer") + string(FLASH_VER),
        key("tcUrl") + string(TC_URL),
    )
)

FFMPEG_PLAY_CONNECT = (
    string("connect")
    + double(1.0)
    + obj(
        key("app") + string("live"),
        key("flashVer") + string("LNX 9,0,124,2"),
        key("tcUrl") + string(TC_URL),
        key("fpad") + b"\x01\x00",
        key("capabilities") + double(15.0),
        key("audioCodecs") + double(4071.0),
        key("videoCodecs") + double(252.0),
        key("videoFunction") + double(1.0),
    )
)

FFMPEG_ENHANCED_CONNECT = (
    string("connect")
    + double(1.0)
    + obj(
        key("app") + string("live"),
        key("fourCcList") + b"\x0a\x00\x00\x00\x02" + string("hvc1") + string("av01"),
        key("type") + string("nonprivate"),
        key("flashVer") + string(FLASH_VER),
        key("tcUrl") + string(TC_URL),
    )
)

# The enhanced capture, byte for byte.
CAPTURED_ENHANCED_CONNECT = bytes.fromhex(
    "020007636f6e6e656374003ff00000000000000300036170700200046c697665000a666f757243634c697374"
    "0a00000002020004687663310200046176303100047479706502000a6e6f6e70726976617465000866"
    "6c617368566572020023464d4c452f332e302028636f6d70617469626c653b204c61766636332e312e"
    "313032290005746355726c02001b72746d703a2f2f3132372e302e302e313a34373438312f6c697665"
    "000009"
)


def parse_bytes(payload: bytes, limits: Limits | None = None) -> Command:
    message = CommandMessage.decode_payload(payload)
    return parse_command(message) if limits is None else parse_command(message, limits)


def test_hand_built_enhanced_connect_matches_the_capture() -> None:
    assert FFMPEG_ENHANCED_CONNECT == CAPTURED_ENHANCED_CONNECT


def test_ffmpeg_publish_connect_parses() -> None:
    connect = parse_bytes(FFMPEG_PUBLISH_CONNECT)
    assert connect == Connect(
        app="live", type="nonprivate", flash_ver=FLASH_VER, tc_url=TC_URL, transaction_id=1
    )
    assert isinstance(connect, Connect)
    assert not connect.amf3
    assert not connect.enhanced
    assert connect.to_message().encode_payload() == FFMPEG_PUBLISH_CONNECT


def test_ffmpeg_play_connect_parses() -> None:
    connect = parse_bytes(FFMPEG_PLAY_CONNECT)
    assert connect == Connect(
        app="live",
        flash_ver="LNX 9,0,124,2",
        tc_url=TC_URL,
        fpad=False,
        capabilities=15,
        audio_codecs=4071,
        video_codecs=252,
        video_function=1,
    )
    assert connect.to_message().encode_payload() == FFMPEG_PLAY_CONNECT


def test_ffmpeg_enhanced_connect_parses() -> None:
    connect = parse_bytes(FFMPEG_ENHANCED_CONNECT)
    assert isinstance(connect, Connect)
    assert connect.fourcc_list == ["hvc1", "av01"]
    assert connect.enhanced
    assert connect.extra == {}
    assert connect.to_message().encode_payload() == FFMPEG_ENHANCED_CONNECT


def test_enhanced_rtmp_v2_connect_fields_parse() -> None:
    payload = (
        string("connect")
        + double(1.0)
        + obj(
            key("app") + string("live"),
            key("objectEncoding") + double(3.0),
            key("fourCcList") + b"\x0a\x00\x00\x00\x01" + string("*"),
            key("videoFourCcInfoMap") + obj(key("hvc1") + double(7.0), key("*") + double(4.0)),
            key("audioFourCcInfoMap")
            + b"\x08\x00\x00\x00\x01"
            + key("Opus")
            + double(1.0)
            + b"\x00\x00\x09",
            key("capsEx") + double(15.0),
            key("custom") + string("kept"),
        )
        + string("extra-argument")
    )
    connect = parse_bytes(payload)
    assert isinstance(connect, Connect)
    assert connect.amf3
    assert connect.fourcc_list == ["*"]
    assert connect.video_fourcc_info_map == {"hvc1": 7, "*": 4}
    assert connect.audio_fourcc_info_map == {"Opus": FourCcCapability.CAN_DECODE}
    assert connect.caps_ex == CapsEx.RECONNECT | CapsEx.MULTITRACK | CapsEx.MODEX | 8
    assert connect.extra == {"custom": "kept"}
    assert connect.arguments == ("extra-argument",)


def connect_message(**fields: Any) -> CommandMessage:
    return CommandMessage("connect", 1, {"app": "live", **fields})


@pytest.mark.parametrize(
    ("message", "match"),
    [
        pytest.param(CommandMessage("connect", 1), "no command object", id="no-object"),
        pytest.param(CommandMessage("connect", 1, "x"), "must be an object", id="not-object"),
        pytest.param(CommandMessage("connect", 1, {"tcUrl": "x"}), "no app", id="no-app"),
        pytest.param(CommandMessage("connect", 1, {"app": 5}), "app name must be", id="app-int"),
        pytest.param(connect_message(flashVer=9), "flashVer must be a string", id="flashver"),
        pytest.param(connect_message(objectEncoding=5), "0 .AMF0. or 3", id="encoding-5"),
        pytest.param(connect_message(objectEncoding="3"), "whole number", id="encoding-str"),
        pytest.param(connect_message(capabilities="15"), "must be a number", id="caps-str"),
        pytest.param(connect_message(fourCcList="hvc1"), "array of strings", id="fourcc-str"),
        pytest.param(connect_message(fourCcList=[1]), "array of strings", id="fourcc-int"),
        pytest.param(
            connect_message(videoFourCcInfoMap={"hvc1": "7"}), "whole number", id="map-value"
        ),
        pytest.param(connect_message(videoFourCcInfoMap=[]), "must be an object", id="map-list"),
        pytest.param(connect_message(capsEx=1.5), "whole number", id="capsex-fraction"),
        pytest.param(connect_message(fpad="yes"), "must be a boolean", id="fpad-str"),
    ],
)
def test_malformed_connect_is_refused(message: CommandMessage, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        parse_command(message)


def test_connect_absent_markers_for_optional_fields_mean_none() -> None:
    connect = Connect.from_message(connect_message(swfUrl=None, pageUrl=UNDEFINED, fpad=0))
    assert connect.swf_url is None
    assert connect.page_url is None
    assert connect.fpad is False


def test_connect_accepts_an_ecma_array_command_object() -> None:
    message = CommandMessage("connect", 1, EcmaArray({"app": "live"}))
    assert Connect.from_message(message).app == "live"


def test_long_app_name_is_refused_with_the_limit() -> None:
    limits = Limits(max_name_length=4)
    assert Connect.from_message(connect_message(), limits).app == "live"
    with pytest.raises(LimitExceededError) as raised:
        Connect.from_message(CommandMessage("connect", 1, {"app": "lives"}), limits)
    assert raised.value.limit == "max_name_length"
    assert raised.value.value == 5
    assert "connect app name" in str(raised.value)


def test_name_limit_counts_utf8_bytes() -> None:
    limits = Limits(max_name_length=4)
    with pytest.raises(LimitExceededError):
        Publish.from_message(CommandMessage("publish", 0, None, ("ééé",)), limits)


def test_connect_builds_the_command_object_from_set_fields() -> None:
    connect = Connect(app="live", tc_url="rtmp://h/live", object_encoding=0, extra={"x": 1})
    assert connect.to_message() == CommandMessage(
        "connect", 1, {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 0, "x": 1}
    )
    assert connect.to_message(amf3=True).amf3


# --- Answers to connect -------------------------------------------------------------------------


def test_connect_result_success_wire_form() -> None:
    message = ConnectResult.success().to_message()
    assert message == CommandMessage(
        "_result",
        1,
        {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
        (
            {
                "level": "status",
                "code": "NetConnection.Connect.Success",
                "description": "Connection succeeded.",
                "objectEncoding": 0,
            },
        ),
    )
    # Plain values on the wire, not enum members.
    assert type(message.arguments[0]["code"]) is str


def test_connect_result_echoes_enhanced_rtmp_capabilities() -> None:
    result = ConnectResult.success(
        object_encoding=3,
        fourcc_list=["hvc1", "av01"],
        video_fourcc_info_map={"*": FourCcCapability.CAN_FORWARD},
        caps_ex=CapsEx.RECONNECT | CapsEx.MODEX,
    )
    info = result.to_message().arguments[0]
    assert info["objectEncoding"] == 3
    assert info["fourCcList"] == ["hvc1", "av01"]
    assert info["videoFourCcInfoMap"] == {"*": 4}
    assert info["capsEx"] == 5
    assert type(info["capsEx"]) is int
    parsed = ConnectResult.from_message(
        CommandMessage.decode_payload(result.to_message().encode_payload())
    )
    assert parsed == result


def test_connect_result_reads_enhanced_fields_from_the_properties_too() -> None:
    message = CommandMessage(
        "_result",
        1,
        {"fmsVer": "X", "capsEx": 1, "mode": 1},
        ({"code": "NetConnection.Connect.Success", "data": {"version": "1"}},),
    )
    result = ConnectResult.from_message(message)
    assert result.caps_ex == 1
    assert result.extra_properties == {"mode": 1}
    assert result.extra_information == {"data": {"version": "1"}}
    assert result.level is None


def test_connect_result_needs_an_information_object() -> None:
    with pytest.raises(RemoteProtocolError, match="no information object"):
        ConnectResult.from_message(CommandMessage("_result", 1, {"fmsVer": "X"}))


def test_connect_rejected_error() -> None:
    error = ErrorResult.connect_rejected("No such app.")
    assert error.to_message() == CommandMessage(
        "_error",
        1,
        None,
        (
            {
                "level": "error",
                "code": "NetConnection.Connect.Rejected",
                "description": "No such app.",
            },
        ),
    )
    parsed = parse_command(error.to_message())
    assert isinstance(parsed, ErrorResult)
    assert parsed.code == NetConnectionCode.CONNECT_REJECTED
    assert parsed.description == "No such app."


def test_result_and_error_are_generic_until_the_caller_knows_the_request() -> None:
    result = parse_command(CommandMessage("_result", 4, None, (1.0,)))
    assert result == Result(4, None, (1,))
    assert isinstance(result, Result)
    assert result.information is None
    assert CreateStreamResult.from_result(result) == CreateStreamResult(4, 1)
    error = parse_command(CommandMessage("_error", 4))
    assert isinstance(error, ErrorResult)
    assert not isinstance(error, Result)
    assert error.code is None


def test_transaction_ids_compare_numerically() -> None:
    assert Result.from_message(CommandMessage("_result", 1.0)) == Result(1)
    decoded = CommandMessage.decode_payload(CommandMessage("_result", 3.0).encode_payload())
    assert type(decoded.transaction_id) is int
    assert parse_command(decoded).transaction_id == 3


def test_create_stream_and_its_result() -> None:
    assert CreateStream(4).to_message() == CommandMessage("createStream", 4)
    assert parse_command(CommandMessage("createStream", 4)) == CreateStream(4)
    result = CreateStreamResult(4, 1)
    message = result.to_message()
    assert message == CommandMessage("_result", 4, None, (1,))
    # The stream id is the 4th AMF value: name, transaction id, null, id.
    assert message.encode_payload().endswith(b"\x05" + double(1.0))
    assert CreateStreamResult.from_message(message) == result


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        pytest.param((), "whole number", id="missing"),
        pytest.param(("1",), "whole number", id="string"),
        pytest.param((1.5,), "whole number", id="fraction"),
        pytest.param((-1,), "outside", id="negative"),
        pytest.param((2**32,), "outside", id="too-big"),
        pytest.param((float("inf"),), "whole number", id="infinite"),
        pytest.param((True,), "whole number", id="boolean"),
    ],
)
def test_bad_create_stream_result_ids_are_refused(arguments: tuple[Any, ...], match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        CreateStreamResult.from_message(CommandMessage("_result", 4, None, arguments))


# --- onStatus -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "level"),
    [
        (OnStatus.publish_start("key"), NetStreamCode.PUBLISH_START, "status"),
        (OnStatus.publish_bad_name("key"), NetStreamCode.PUBLISH_BAD_NAME, "error"),
        (OnStatus.unpublish_success("key"), NetStreamCode.UNPUBLISH_SUCCESS, "status"),
        (OnStatus.play_reset("key"), NetStreamCode.PLAY_RESET, "status"),
        (OnStatus.play_start("key"), NetStreamCode.PLAY_START, "status"),
        (OnStatus.play_stop("key"), NetStreamCode.PLAY_STOP, "status"),
        (OnStatus.play_stream_not_found("key"), NetStreamCode.PLAY_STREAM_NOT_FOUND, "error"),
        (OnStatus.play_publish_notify("key"), NetStreamCode.PLAY_PUBLISH_NOTIFY, "status"),
        (OnStatus.play_unpublish_notify("key"), NetStreamCode.PLAY_UNPUBLISH_NOTIFY, "status"),
        (OnStatus.pause_notify("key"), NetStreamCode.PAUSE_NOTIFY, "status"),
        (OnStatus.unpause_notify("key"), NetStreamCode.UNPAUSE_NOTIFY, "status"),
        (OnStatus.seek_notify("key", 1500), NetStreamCode.SEEK_NOTIFY, "status"),
    ],
)
def test_net_stream_status_helpers(status: OnStatus, code: str, level: str) -> None:
    message = status.to_message()
    assert message.name == "onStatus"
    assert message.transaction_id == 0
    assert message.command_object is None
    (info,) = message.arguments
    assert info["code"] == code
    assert info["level"] == level
    assert info["details"] == "key"
    assert "key" in info["description"]
    assert status.is_error == (level == "error")
    assert parse_command(message) == status


def test_publish_start_wire_form() -> None:
    message = OnStatus.publish_start("cam1").to_message()
    assert message == CommandMessage(
        "onStatus",
        0,
        None,
        (
            {
                "level": "status",
                "code": "NetStream.Publish.Start",
                "description": "cam1 is now published.",
                "details": "cam1",
            },
        ),
    )


def test_reconnect_request() -> None:
    status = OnStatus.reconnect_request("rtmp://other/live", "Moving.")
    (info,) = status.to_message().arguments
    assert info == {
        "level": "status",
        "code": "NetConnection.Connect.ReconnectRequest",
        "description": "Moving.",
        "tcUrl": "rtmp://other/live",
    }
    assert OnStatus.reconnect_request().to_message().arguments == (
        {"level": "status", "code": "NetConnection.Connect.ReconnectRequest"},
    )


def test_on_status_parsing() -> None:
    status = parse_command(
        CommandMessage("onStatus", 0, None, ({"code": "NetStream.Play.Start", "clientid": 7},))
    )
    assert status == OnStatus("NetStream.Play.Start", None, None, {"clientid": 7})
    with pytest.raises(RemoteProtocolError, match="must be an object"):
        parse_command(CommandMessage("onStatus", 0, None, ()))
    with pytest.raises(RemoteProtocolError, match="no code"):
        parse_command(CommandMessage("onStatus", 0, None, ({"level": "status"},)))
    with pytest.raises(RemoteProtocolError, match="level must be a string"):
        parse_command(CommandMessage("onStatus", 0, None, ({"code": "x", "level": 1},)))


def test_status_constants_are_strings() -> None:
    level: str = StatusLevel.ERROR
    code: str = NetConnectionCode.CONNECT_SUCCESS
    assert level == "error"
    assert code == "NetConnection.Connect.Success"
    assert OnStatus(NetStreamCode.PLAY_START) == OnStatus("NetStream.Play.Start")


# --- Stream commands ------------------------------------------------------------------------------

STREAM_NAME_COMMANDS = [ReleaseStream, FCPublish, FCUnpublish, FCSubscribe, GetStreamLength]


@pytest.mark.parametrize("command_type", STREAM_NAME_COMMANDS)
def test_stream_name_commands(command_type: Any) -> None:
    message = CommandMessage(command_type.name, 2, None, ("key",))
    command = command_type.from_message(message)
    assert command.stream_name == "key"
    assert type(parse_command(message)) is command_type
    assert parse_command(message) == command
    assert command.transaction_id == 2
    assert command.to_message() == message
    with pytest.raises(RemoteProtocolError, match="stream name must be a string"):
        parse_command(CommandMessage(command_type.name, 2, None, ()))
    with pytest.raises(RemoteProtocolError, match="stream name must be a string"):
        parse_command(CommandMessage(command_type.name, 2, None, (5,)))
    with pytest.raises(LimitExceededError):
        parse_command(CommandMessage(command_type.name, 2, None, ("x" * 1025,)))


def test_ffmpeg_publish_sequence_parses() -> None:
    assert parse_command(CommandMessage("releaseStream", 2, None, ("key",))) == ReleaseStream(
        "key", 2
    )
    assert parse_command(CommandMessage("FCPublish", 3, None, ("key",))) == FCPublish("key", 3)
    assert parse_command(CommandMessage("createStream", 4)) == CreateStream(4)
    assert parse_command(CommandMessage("publish", 5, None, ("key", "live"))) == Publish(
        "key", "live", 5
    )
    assert parse_command(CommandMessage("FCUnpublish", 6, None, ("key",))) == FCUnpublish("key", 6)
    assert parse_command(CommandMessage("deleteStream", 7, None, (1.0,))) == DeleteStream(1, 7)


def test_publish() -> None:
    publish = Publish("key?token=1")
    assert publish.to_message() == CommandMessage("publish", 0, None, ("key?token=1", "live"))
    assert Publish.from_message(CommandMessage("publish", 0, None, ("k",))).publish_type == "live"
    assert Publish.from_message(CommandMessage("publish", 0, None, ("k", "record"))) == Publish(
        "k", "record"
    )
    with pytest.raises(RemoteProtocolError, match="publish stream name must be a string, got int"):
        Publish.from_message(CommandMessage("publish", 0, None, (12, "live")))
    with pytest.raises(RemoteProtocolError, match="publish type must be a string"):
        Publish.from_message(CommandMessage("publish", 0, None, ("k", 1)))


@pytest.mark.parametrize(
    ("start", "mode"),
    [
        (-2000, PlayMode.ANY),  # FFmpeg's default (-rtmp_live any, times 1000)
        (-1000, PlayMode.LIVE),  # FFmpeg's -rtmp_live live
        (-2, PlayMode.ANY),
        (-1, PlayMode.LIVE),
        (0, PlayMode.RECORDED),
        (5000, PlayMode.RECORDED),
    ],
)
def test_play_start_is_kept_and_interpreted(start: float, mode: PlayMode) -> None:
    play = Play.from_message(CommandMessage("play", 0, None, ("key", float(start))))
    assert play.start == start
    assert play.mode is mode
    assert play.duration == -1
    assert play.reset is True


def test_play_defaults_and_full_form() -> None:
    assert Play.from_message(CommandMessage("play", 0, None, ("key",))) == Play("key")
    assert Play.from_message(CommandMessage("play", 0, None, ("key", None, UNDEFINED))) == Play(
        "key"
    )
    full = Play("key", 0, 10_000, reset=False)
    assert full.to_message() == CommandMessage("play", 0, None, ("key", 0, 10_000, False))
    assert Play.from_message(full.to_message()) == full
    assert Play.from_message(CommandMessage("play", 0, None, ("key", -2, -1, 0))).reset is False


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        pytest.param((), "stream name", id="no-name"),
        pytest.param(("key", "now"), "start must be a number", id="start-string"),
        pytest.param(("key", -2, True), "duration must be a number", id="duration-bool"),
        pytest.param(("key", -2, -1, "yes"), "reset must be a boolean", id="reset-string"),
    ],
)
def test_malformed_play_is_refused(arguments: tuple[Any, ...], match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        Play.from_message(CommandMessage("play", 0, None, arguments))


def test_play2() -> None:
    parameters = {"streamName": "hd", "oldStreamName": "sd", "transition": "switch"}
    play2 = parse_command(CommandMessage("play2", 0, None, (parameters,)))
    assert play2 == Play2(parameters)
    assert isinstance(play2, Play2)
    assert play2.stream_name == "hd"
    assert play2.to_message() == CommandMessage("play2", 0, None, (parameters,))
    assert Play2({}).stream_name is None
    with pytest.raises(RemoteProtocolError, match="must be an object"):
        parse_command(CommandMessage("play2", 0, None, ("hd",)))
    with pytest.raises(RemoteProtocolError, match="streamName must be a string"):
        parse_command(CommandMessage("play2", 0, None, ({"streamName": 1},)))


def test_pause_seek_and_receive_flags() -> None:
    assert parse_command(CommandMessage("pause", 0, None, (True, 1234.0))) == Pause(True, 1234)
    assert Pause(False, 10).to_message() == CommandMessage("pause", 0, None, (False, 10))
    with pytest.raises(RemoteProtocolError, match="no pause flag"):
        parse_command(CommandMessage("pause", 0, None, ()))
    assert parse_command(CommandMessage("seek", 0, None, (2500,))) == Seek(2500)
    assert Seek(2500).to_message() == CommandMessage("seek", 0, None, (2500,))
    with pytest.raises(RemoteProtocolError, match="seek has no time"):
        parse_command(CommandMessage("seek", 0, None, ()))
    assert parse_command(CommandMessage("receiveAudio", 0, None, (False,))) == ReceiveAudio(False)
    assert ReceiveVideo(True).to_message() == CommandMessage("receiveVideo", 0, None, (True,))
    with pytest.raises(RemoteProtocolError, match="receiveVideo has no flag"):
        parse_command(CommandMessage("receiveVideo", 0, None, ()))
    with pytest.raises(RemoteProtocolError, match="must be a boolean"):
        parse_command(CommandMessage("receiveAudio", 0, None, ("no",)))


def test_close_and_delete_stream() -> None:
    assert parse_command(CommandMessage("closeStream", 0)) == CloseStream()
    assert CloseStream().to_message() == CommandMessage("closeStream", 0)
    delete = parse_command(CommandMessage("deleteStream", 0, None, (1.0,)))
    assert delete == DeleteStream(1)
    assert isinstance(delete, DeleteStream)
    assert type(delete.stream_id) is int
    assert DeleteStream(1).to_message() == CommandMessage("deleteStream", 0, None, (1,))
    for bad in [(), (1.5,), ("1",), (-1,)]:
        with pytest.raises(RemoteProtocolError, match="deleteStream stream id"):
            parse_command(CommandMessage("deleteStream", 0, None, bad))


def test_bandwidth_commands() -> None:
    assert OnBWDone().to_message() == CommandMessage("onBWDone", 0)
    assert OnBWDone(8192).to_message() == CommandMessage("onBWDone", 0, None, (8192,))
    assert parse_command(CommandMessage("onBWDone", 0, None, (8192.0,))) == OnBWDone(8192)
    assert parse_command(CommandMessage("_checkbw", 5)) == CheckBandwidth(5)
    assert CheckBandwidth(5).to_message() == CommandMessage("_checkbw", 5)
    with pytest.raises(RemoteProtocolError, match="bandwidth must be a number"):
        parse_command(CommandMessage("onBWDone", 0, None, ("fast",)))


def test_unknown_commands_pass_through() -> None:
    message = CommandMessage("onFCPublish", 0, None, ({"code": "NetStream.Publish.Start"},))
    command = parse_command(message)
    assert command == GenericCommand(message)
    assert isinstance(command, GenericCommand)
    assert command.name == "onFCPublish"
    assert command.transaction_id == 0
    assert command.to_message() is message
    assert command.to_message(amf3=True) == CommandMessage(
        "onFCPublish", 0, None, message.arguments, amf3=True
    )


def test_from_message_checks_the_command_name() -> None:
    with pytest.raises(RemoteProtocolError, match="expected a 'publish' command, got 'play'"):
        Publish.from_message(CommandMessage("play", 0, None, ("key",)))
    with pytest.raises(RemoteProtocolError, match="expected a '_result'"):
        ConnectResult.from_message(ErrorResult.connect_rejected().to_message())


def test_parse_command_knows_every_typed_command() -> None:
    samples = [
        CommandMessage("connect", 1, {"app": "a"}),
        CommandMessage("_result", 1),
        CommandMessage("_error", 1),
        CommandMessage("onStatus", 0, None, ({"code": "c"},)),
        CommandMessage("createStream", 2),
        CommandMessage("releaseStream", 0, None, ("k",)),
        CommandMessage("FCPublish", 0, None, ("k",)),
        CommandMessage("FCUnpublish", 0, None, ("k",)),
        CommandMessage("FCSubscribe", 0, None, ("k",)),
        CommandMessage("getStreamLength", 0, None, ("k",)),
        CommandMessage("publish", 0, None, ("k", "live")),
        CommandMessage("play", 0, None, ("k", -2, -1, True)),
        CommandMessage("play2", 0, None, ({},)),
        CommandMessage("pause", 0, None, (True, 0)),
        CommandMessage("seek", 0, None, (0,)),
        CommandMessage("closeStream", 0),
        CommandMessage("deleteStream", 0, None, (1,)),
        CommandMessage("receiveAudio", 0, None, (True,)),
        CommandMessage("receiveVideo", 0, None, (True,)),
        CommandMessage("onBWDone", 0),
        CommandMessage("_checkbw", 0),
    ]
    for message in samples:
        command = parse_command(message)
        assert not isinstance(command, GenericCommand), message.name
        assert command.name == message.name
        assert command.to_message() == message


# --- Data messages ------------------------------------------------------------------------------


def test_set_data_frame() -> None:
    metadata = EcmaArray({"width": 1280, "height": 720})
    message = DataMessage(("@setDataFrame", "onMetaData", metadata))
    frame = parse_data(message)
    assert frame == SetDataFrame(metadata)
    assert isinstance(frame, SetDataFrame)
    assert frame.to_message() == message
    assert frame.on_metadata() == OnMetaData(metadata)
    assert frame.on_metadata().to_message() == DataMessage(("onMetaData", metadata))
    assert frame.to_message(amf3=True).amf3


def test_clear_data_frame_and_on_metadata() -> None:
    assert parse_data(DataMessage(("@clearDataFrame",))) == ClearDataFrame()
    assert ClearDataFrame().to_message() == DataMessage(("@clearDataFrame", "onMetaData"))
    assert parse_data(DataMessage(("onMetaData", {"duration": 0}))) == OnMetaData({"duration": 0})


def test_other_data_messages_pass_through() -> None:
    message = DataMessage(("|RtmpSampleAccess", False, False))
    assert parse_data(message) is message
    nameless = DataMessage((1, 2))
    assert parse_data(nameless) is nameless


@pytest.mark.parametrize(
    ("message", "match"),
    [
        pytest.param(DataMessage(("@setDataFrame", "onMetaData")), "must be an object", id="none"),
        pytest.param(DataMessage(("@setDataFrame", 1, {})), "handler must be a string", id="h"),
        pytest.param(DataMessage(("onMetaData", [1])), "must be an object", id="list"),
        pytest.param(DataMessage(("@clearDataFrame", 5)), "handler must be a string", id="c"),
    ],
)
def test_malformed_data_messages_are_refused(message: DataMessage, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        parse_data(message)


def test_metadata_from_bytes() -> None:
    payload = (
        string("@setDataFrame")
        + string("onMetaData")
        + b"\x08\x00\x00\x00\x01"
        + key("videocodecid")
        + double(7.0)
        + b"\x00\x00\x09"
    )
    frame = parse_data(DataMessage.decode_payload(payload))
    assert isinstance(frame, SetDataFrame)
    assert type(frame.metadata) is EcmaArray
    assert frame.metadata == {"videocodecid": 7}
    assert frame.to_message().encode_payload() == payload


# --- Property tests -----------------------------------------------------------------------------

text = st.text(max_size=12)
keys = st.text(min_size=1, max_size=8)
optional_text = st.none() | text
transaction_ids = st.integers(min_value=0, max_value=2**31) | st.floats(
    allow_nan=False, allow_infinity=False
)
numbers = st.integers(min_value=-(2**53), max_value=2**53) | st.floats(
    allow_nan=False, allow_infinity=False
)
optional_numbers = st.none() | numbers
stream_ids = st.integers(min_value=0, max_value=2**32 - 1)
bitmasks = st.integers(min_value=0, max_value=2**31)
fourcc_maps = st.none() | st.dictionaries(keys, bitmasks, max_size=3)
object_encodings = st.sampled_from([None, 0, 3])

CONNECT_KEYS = {
    "app",
    "type",
    "flashVer",
    "swfUrl",
    "tcUrl",
    "fpad",
    "capabilities",
    "audioCodecs",
    "videoCodecs",
    "videoFunction",
    "pageUrl",
    "objectEncoding",
    "fourCcList",
    "videoFourCcInfoMap",
    "audioFourCcInfoMap",
    "capsEx",
}
ENHANCED_KEYS = {"fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx"}


def commands(*, amf3: bool) -> st.SearchStrategy[Command]:
    values = amf_trees(amf3=amf3)

    def extras(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.dictionaries(keys.filter(lambda k: k not in reserved), values, max_size=3)

    return st.one_of(
        st.builds(
            Connect,
            app=text,
            tc_url=optional_text,
            flash_ver=optional_text,
            swf_url=optional_text,
            page_url=optional_text,
            type=optional_text,
            object_encoding=object_encodings,
            capabilities=optional_numbers,
            audio_codecs=optional_numbers,
            video_codecs=optional_numbers,
            video_function=optional_numbers,
            fpad=st.none() | st.booleans(),
            fourcc_list=st.none() | st.lists(text, max_size=3),
            video_fourcc_info_map=fourcc_maps,
            audio_fourcc_info_map=fourcc_maps,
            caps_ex=st.none() | bitmasks,
            extra=extras(CONNECT_KEYS),
            arguments=st.lists(values, max_size=2).map(tuple),
            transaction_id=transaction_ids,
        ),
        st.builds(
            ConnectResult,
            transaction_id=transaction_ids,
            fms_version=optional_text,
            capabilities=optional_numbers,
            level=optional_text,
            code=optional_text,
            description=optional_text,
            object_encoding=object_encodings,
            fourcc_list=st.none() | st.lists(text, max_size=3),
            video_fourcc_info_map=fourcc_maps,
            audio_fourcc_info_map=fourcc_maps,
            caps_ex=st.none() | bitmasks,
            extra_properties=extras({"fmsVer", "capabilities", *ENHANCED_KEYS}),
            extra_information=extras(
                {"level", "code", "description", "objectEncoding", *ENHANCED_KEYS}
            ),
        ),
        st.builds(Result, transaction_ids, values, st.lists(values, max_size=3).map(tuple)),
        st.builds(ErrorResult, transaction_ids, values, st.lists(values, max_size=3).map(tuple)),
        st.builds(CreateStream, transaction_ids),
        st.builds(CreateStreamResult, transaction_ids, stream_ids),
        st.builds(
            OnStatus,
            text,
            optional_text,
            optional_text,
            extras({"level", "code", "description"}),
            transaction_ids,
        ),
        *(st.builds(kind, text, transaction_ids) for kind in STREAM_NAME_COMMANDS),
        st.builds(Publish, text, text, transaction_ids),
        st.builds(Play, text, numbers, numbers, st.booleans(), transaction_ids),
        st.builds(
            Play2,
            st.tuples(extras({"streamName"}), optional_text).map(
                lambda pair: pair[0] if pair[1] is None else {**pair[0], "streamName": pair[1]}
            ),
            transaction_ids,
        ),
        st.builds(Pause, st.booleans(), numbers, transaction_ids),
        st.builds(Seek, numbers, transaction_ids),
        st.builds(CloseStream, transaction_ids),
        st.builds(DeleteStream, stream_ids, transaction_ids),
        st.builds(ReceiveAudio, st.booleans(), transaction_ids),
        st.builds(ReceiveVideo, st.booleans(), transaction_ids),
        st.builds(OnBWDone, optional_numbers, transaction_ids),
        st.builds(CheckBandwidth, transaction_ids),
    )


def read_back(command: Command, message: CommandMessage) -> Command:
    if isinstance(command, ConnectResult | CreateStreamResult):
        return type(command).from_result(Result.from_message(message))
    parsed = parse_command(message)
    assert type(parsed) is type(command)
    return parsed


@given(commands(amf3=False))
def test_typed_commands_round_trip_through_command_messages(command: Command) -> None:
    assert read_back(command, command.to_message()) == command


@given(commands(amf3=False))
def test_typed_commands_round_trip_through_amf0_bytes(command: Command) -> None:
    payload = command.to_message().encode_payload()
    assert read_back(command, CommandMessage.decode_payload(payload)) == command


@given(commands(amf3=True))
def test_typed_commands_round_trip_through_amf3_bytes(command: Command) -> None:
    message = command.to_message(amf3=True)
    assert message.amf3
    decoded = CommandMessage.decode_payload(message.encode_payload(), amf3=True)
    assert decoded.amf3
    assert read_back(command, decoded) == command


@given(
    st.booleans().flatmap(
        lambda amf3: st.tuples(
            st.just(amf3),
            st.one_of(
                st.builds(SetDataFrame, st.dictionaries(keys, amf_trees(amf3=amf3)), text),
                st.builds(ClearDataFrame, text),
                st.builds(OnMetaData, st.dictionaries(keys, amf_trees(amf3=amf3))),
            ),
        )
    )
)
def test_data_messages_round_trip_through_bytes(
    sample: tuple[bool, SetDataFrame | ClearDataFrame | OnMetaData],
) -> None:
    amf3, data = sample
    payload = data.to_message(amf3=amf3).encode_payload()
    assert parse_data(DataMessage.decode_payload(payload, amf3=amf3)) == data


@given(st.text(max_size=20), st.lists(amf_trees(), max_size=4), st.booleans())
def test_parse_command_raises_only_protocol_errors(
    name: str, values: list[Any], use_known_name: bool
) -> None:
    # Known command names with arbitrary arguments: typed, generic, or a RemoteProtocolError.
    names = sorted(
        {"connect", "onStatus", "publish", "play", "play2", "pause", "seek", "deleteStream"}
    )
    chosen = names[len(name) % len(names)] if use_known_name else name
    message = CommandMessage(chosen, 0, values[0] if values else None, tuple(values[1:]))
    try:
        command = parse_command(message)
    except RemoteProtocolError:
        return
    assert isinstance(command, Command)
