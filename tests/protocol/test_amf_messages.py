"""Command and data payloads (types 20, 17, 18, 15) through messages.py and the AMF codec."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.messages import (
    CommandMessage,
    DataMessage,
    MessageType,
    RawMessage,
    decode_message,
    encode_message,
)
from tests.protocol.test_amf import amf_trees, same


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def double(value: float) -> str:
    return struct.pack(">d", value).hex()


CREATE_STREAM_AMF0 = h(f"02 000c 63726561746553747265616d 00 {double(2.0)} 05")


def test_type_20_command_golden_bytes() -> None:
    message = CommandMessage("createStream", 2)
    assert message.type_id == MessageType.COMMAND_AMF0
    assert message.encode_payload() == CREATE_STREAM_AMF0
    assert CommandMessage.decode_payload(CREATE_STREAM_AMF0) == message


def test_type_17_command_starts_with_the_format_byte_and_switches_after_the_header() -> None:
    # Name and transaction id stay AMF0; the command object and arguments are AMF3, each
    # behind its own 0x11 marker.
    message = CommandMessage("_result", 4, None, (1, "x"), amf3=True)
    wire = h(f"00 02 0007 5f726573756c74 00 {double(4.0)} 11 01 11 04 01 11 06 03 78")
    assert message.type_id == MessageType.COMMAND_AMF3
    assert message.encode_payload() == wire
    assert CommandMessage.decode_payload(wire, amf3=True) == message


def test_type_17_accepts_amf0_values_after_the_format_byte() -> None:
    # Values switch to AMF3 only where a 0x11 marker says so.
    wire = b"\x00" + CREATE_STREAM_AMF0
    assert CommandMessage.decode_payload(wire, amf3=True) == CommandMessage(
        "createStream", 2, amf3=True
    )


def test_command_transaction_id_comes_back_as_an_int() -> None:
    message = CommandMessage.decode_payload(CREATE_STREAM_AMF0)
    assert type(message.transaction_id) is int
    assert message.transaction_id == 2.0


def test_command_with_an_object_and_arguments() -> None:
    wire = h(
        f"02 0007 636f6e6e656374 00 {double(1.0)}"
        " 03 0003 617070 02 0004 6c697665 000009"
        " 02 0003 617267"
    )
    message = CommandMessage.decode_payload(wire)
    assert message == CommandMessage("connect", 1, {"app": "live"}, ("arg",))
    assert message.encode_payload() == wire


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        pytest.param("", "command name", id="empty"),
        pytest.param("05", "command name", id="not-a-string"),
        pytest.param("02 0001 61 02 0001 62", "transaction id", id="string-transaction-id"),
        pytest.param("02 0001 61 01 01", "transaction id", id="boolean-transaction-id"),
        pytest.param("02 0001 61 00 3ff0", "truncated", id="truncated"),
    ],
)
def test_malformed_command_payloads_raise(wire: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        CommandMessage.decode_payload(h(wire))


SET_DATA_FRAME = h(
    "02 000d 40736574446174614672616d65"  # "@setDataFrame"
    " 02 000a 6f6e4d65746144617461"  # "onMetaData"
    f" 08 00000002 0005 7769647468 00 {double(640.0)}"  # ECMA array: width 640
    " 000c 766964656f636f6465636964 00 4000000000000000 000009"  # videocodecid 2 ... end
)


def test_type_18_set_data_frame_golden_bytes() -> None:
    metadata = EcmaArray({"width": 640, "videocodecid": 2})
    message = DataMessage(("@setDataFrame", "onMetaData", metadata))
    assert message.type_id == MessageType.DATA_AMF0
    assert message.encode_payload() == SET_DATA_FRAME
    decoded = DataMessage.decode_payload(SET_DATA_FRAME)
    assert decoded == message
    assert type(decoded.values[2]) is EcmaArray
    assert decoded.name == "@setDataFrame"


def test_type_15_data_golden_bytes() -> None:
    message = DataMessage(("onMetaData", {"w": 1}), amf3=True)
    wire = h("00 11 06 15 6f6e4d65746144617461 11 0a 0b 01 03 77 04 01 01")
    assert message.type_id == MessageType.DATA_AMF3
    assert message.encode_payload() == wire
    assert DataMessage.decode_payload(wire, amf3=True) == message


def test_type_15_without_the_format_byte_still_decodes() -> None:
    decoded = DataMessage.decode_payload(SET_DATA_FRAME, amf3=True)
    assert decoded.values[0] == "@setDataFrame"
    assert decoded.amf3


def test_raw_messages_decode_into_commands_and_data() -> None:
    command = decode_message(RawMessage(20, 0, 0, CREATE_STREAM_AMF0))
    assert command.content == CommandMessage("createStream", 2)
    data = decode_message(RawMessage(18, 1, 40, SET_DATA_FRAME))
    assert isinstance(data.content, DataMessage)
    assert data.content.values[1] == "onMetaData"
    raw = encode_message(command)
    assert raw.type_id == 20
    assert raw.payload == CREATE_STREAM_AMF0


def test_nesting_limit_applies_through_message_decoding() -> None:
    deep = h("02 0001 61 00 3ff0000000000000") + h("0a 00000001") * 33 + h("05")
    with pytest.raises(RemoteProtocolError, match="depth"):
        CommandMessage.decode_payload(deep)


# --- Property tests ---------------------------------------------------------------------------

names = st.text(min_size=1, max_size=30).filter(lambda s: len(s.encode()) <= 1024)
transaction_ids = st.integers(min_value=0, max_value=2**53) | st.floats(
    allow_nan=False, allow_infinity=False
)


@given(names, transaction_ids, amf_trees(), st.lists(amf_trees(), max_size=3))
def test_amf0_command_payload_round_trip(
    name: str, transaction_id: float, command_object: object, arguments: list[object]
) -> None:
    message = CommandMessage(name, transaction_id, command_object, tuple(arguments))
    decoded = CommandMessage.decode_payload(message.encode_payload())
    assert decoded.name == name
    assert decoded.transaction_id == transaction_id
    assert same(decoded.command_object, command_object)
    assert same(list(decoded.arguments), arguments)


@given(names, transaction_ids, amf_trees(amf3=True), st.lists(amf_trees(amf3=True), max_size=3))
def test_amf3_command_payload_round_trip(
    name: str, transaction_id: float, command_object: object, arguments: list[object]
) -> None:
    message = CommandMessage(name, transaction_id, command_object, tuple(arguments), amf3=True)
    decoded = CommandMessage.decode_payload(message.encode_payload(), amf3=True)
    assert decoded.amf3
    assert decoded.name == name
    assert decoded.transaction_id == transaction_id
    assert same(decoded.command_object, command_object)
    assert same(list(decoded.arguments), arguments)


@given(
    st.booleans().flatmap(lambda a: st.tuples(st.just(a), st.lists(amf_trees(amf3=a), max_size=3)))
)
def test_data_payload_round_trip(sample: tuple[bool, list[object]]) -> None:
    amf3, values = sample
    # The handler name comes first, as in real data messages (a type 15 body may omit its
    # format byte, so one starting with a number would be ambiguous).
    message = DataMessage(("onMetaData", *values), amf3=amf3)
    decoded = DataMessage.decode_payload(message.encode_payload(), amf3=amf3)
    assert same(list(decoded.values), list(message.values))


@settings(max_examples=500)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_command_payload(payload: bytes, amf3: bool) -> None:
    try:
        message = CommandMessage.decode_payload(payload, amf3=amf3)
    except RemoteProtocolError:
        return
    assert isinstance(message.name, str)
    assert isinstance(message.transaction_id, int | float)


@settings(max_examples=500)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_data_payload(payload: bytes, amf3: bool) -> None:
    try:
        message = DataMessage.decode_payload(payload, amf3=amf3)
    except RemoteProtocolError:
        return
    assert isinstance(message.values, tuple)


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=0x12), max_size=150), st.booleans())
def test_fuzz_command_payload_behind_a_valid_header(markers: list[int], amf3: bool) -> None:
    header = (b"\x00" if amf3 else b"") + h(f"02 0001 61 00 {double(1.0)}")
    try:
        message = CommandMessage.decode_payload(header + bytes(markers), amf3=amf3)
    except RemoteProtocolError:
        return
    assert message.name == "a"
