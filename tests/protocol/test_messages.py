"""Typed messages: golden payloads for every non-AMF type, aggregates, unknown types."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.protocol.messages import (
    Abort,
    Acknowledgement,
    AggregateMessage,
    AudioData,
    BandwidthLimitType,
    BufferEmpty,
    BufferReady,
    DetailedMessage,
    MessageContent,
    PingRequest,
    PingResponse,
    RawMessage,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    SharedObjectMessage,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownMessage,
    UnknownUserControl,
    VideoData,
    WindowAcknowledgementSize,
    decode_content,
    decode_message,
    decode_messages,
    default_chunk_stream_id,
    encode_message,
    expand_aggregate,
)
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server_events import AudioVideoDataReceived

GOLDEN = [
    (SetChunkSize(4096), 1, "00001000"),
    (Abort(6), 2, "00000006"),
    (Acknowledgement(2_500_000), 3, "002625a0"),
    (WindowAcknowledgementSize(5_000_000), 5, "004c4b40"),
    (SetPeerBandwidth(2_500_000, BandwidthLimitType.DYNAMIC), 6, "002625a002"),
    (SetPeerBandwidth(1, BandwidthLimitType.HARD), 6, "0000000100"),
    (StreamBegin(1), 4, "000000000001"),
    (StreamEof(1), 4, "000100000001"),
    (StreamDry(7), 4, "000200000007"),
    (SetBufferLength(1, 3000), 4, "00030000000100000bb8"),
    (StreamIsRecorded(1), 4, "000400000001"),
    (PingRequest(123456), 4, "00060001e240"),
    (PingResponse(123456), 4, "00070001e240"),
    (BufferEmpty(1), 4, "001f00000001"),
    (BufferReady(1), 4, "002000000001"),
    (UnknownUserControl(0x1A, b"\x01\x02"), 4, "001a0102"),
    (AudioData(b"\xaf\x01\x21"), 8, "af0121"),
    (VideoData(b"\x17\x01\x00\x00\x00"), 9, "1701000000"),
    (SharedObjectMessage(b"\x00\x01so"), 19, "0001736f"),
    (SharedObjectMessage(b"raw", amf3=True), 16, "726177"),
    (UnknownMessage(99, b"\xde\xad"), 99, "dead"),
]


@pytest.mark.parametrize(("content", "type_id", "payload_hex"), GOLDEN)
def test_golden_payloads(content: MessageContent, type_id: int, payload_hex: str) -> None:
    assert content.type_id == type_id
    assert content.encode_payload().hex() == payload_hex
    assert decode_content(type_id, bytes.fromhex(payload_hex)) == content


def test_ffmpeg_play_set_buffer_length_capture() -> None:
    # The exact bytes FFmpeg sends after play: stream 1, 3000 ms.
    decoded = decode_content(4, bytes.fromhex("00030000000100000bb8"))
    assert decoded == SetBufferLength(stream_id=1, buffer_length=3000)


@pytest.mark.parametrize(
    ("type_id", "payload_hex", "match"),
    [
        (1, "0000", "Set Chunk Size payload is 2 bytes"),
        (1, "00000000", "outside 1..2147483647"),
        (1, "80000000", "outside 1..2147483647"),
        (2, "01", "Abort"),
        (3, "", "Acknowledgement"),
        (5, "000000", "Window Acknowledgement Size"),
        (6, "00000001", "Set Peer Bandwidth"),
        (6, "0000000103", "unknown limit type 3"),
        (4, "00", "User Control"),
        (4, "000000", "User Control event 0"),
        (4, "000300000001", "SetBufferLength"),
        (4, "0006", "PingRequest"),
        (4, "000700", "PingResponse"),
    ],
)
def test_truncated_or_invalid_payloads(type_id: int, payload_hex: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_content(type_id, bytes.fromhex(payload_hex))


def test_encode_and_decode_message_envelope() -> None:
    message = DetailedMessage(1234, 1, VideoData(b"\x27\x01"))
    raw = encode_message(message)
    assert raw == RawMessage(9, 1, 1234, b"\x27\x01", 6)
    assert type(raw.type_id) is int
    assert decode_message(raw) == message
    assert encode_message(message, chunk_stream_id=40).chunk_stream_id == 40


@pytest.mark.parametrize(
    ("content", "csid"),
    [
        (SetChunkSize(1), 2),
        (PingRequest(0), 2),
        (AudioData(b""), 4),
        (VideoData(b""), 6),
        (UnknownMessage(99, b""), 7),
        (AggregateMessage(b""), 7),
    ],
)
def test_default_chunk_streams(content: MessageContent, csid: int) -> None:
    assert default_chunk_stream_id(content) == csid


def aggregate_entry(type_id: int, timestamp: int, body: bytes) -> bytes:
    header = (
        bytes((type_id,))
        + len(body).to_bytes(3)
        + (timestamp & 0xFFFFFF).to_bytes(3)
        + bytes((timestamp >> 24,))
        + b"\x00\x00\x00"
    )
    return header + body + (11 + len(body)).to_bytes(4)


def test_aggregate_is_split_with_rebased_timestamps() -> None:
    payload = (
        aggregate_entry(9, 5000, b"\x17\x01\x00\x00\x00video")
        + aggregate_entry(8, 5023, b"\xaf\x01aac")
        + aggregate_entry(9, 0x01000000 + 5000, b"\x27\x01\x00\x00\x00late")
    )
    raw = RawMessage(22, 1, 100, payload, 7)
    parts = list(expand_aggregate(raw))
    assert [(p.type_id, p.timestamp, p.stream_id) for p in parts] == [
        (9, 100, 1),
        (8, 123, 1),
        (9, 100 + 0x01000000, 1),
    ]
    assert parts[1].payload == b"\xaf\x01aac"
    decoded = decode_messages(raw)
    assert [type(m.content) for m in decoded] == [VideoData, AudioData, VideoData]
    assert decoded[0].content == VideoData(b"\x17\x01\x00\x00\x00video")


def test_aggregate_rebasing_wraps_at_32_bits() -> None:
    payload = aggregate_entry(8, 10, b"a") + aggregate_entry(8, 30, b"b")
    parts = list(expand_aggregate(RawMessage(22, 1, 0xFFFFFFF0, payload)))
    assert [p.timestamp for p in parts] == [0xFFFFFFF0, 0x00000004]


def test_decode_message_keeps_aggregates_whole() -> None:
    payload = aggregate_entry(8, 0, b"a")
    assert decode_message(RawMessage(22, 1, 0, payload)).content == AggregateMessage(payload)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x08\x00\x00", "truncated sub-message header"),
        (aggregate_entry(8, 0, b"abc")[:-5], "beyond the end"),
        (aggregate_entry(22, 0, aggregate_entry(8, 0, b"a")), "nests another aggregate"),
    ],
)
def test_malformed_aggregates(payload: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_messages(RawMessage(22, 1, 0, payload))


def test_unknown_message_type_is_raw_not_a_crash() -> None:
    decoded = decode_message(RawMessage(200, 3, 9, b"\x01\x02\x03"))
    assert decoded.content == UnknownMessage(200, b"\x01\x02\x03")
    assert encode_message(decoded).payload == b"\x01\x02\x03"


@given(type_id=st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 16, 19, 22, 7, 255]), payload=st.binary())
def test_fuzz_non_amf_payloads_raise_only_protocol_error(type_id: int, payload: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_messages(RawMessage(type_id, 1, 0, payload))


@given(
    content=st.one_of(
        st.builds(SetChunkSize, st.integers(1, 0x7FFFFFFF)),
        st.builds(Abort, st.integers(0, 0xFFFFFFFF)),
        st.builds(Acknowledgement, st.integers(0, 0xFFFFFFFF)),
        st.builds(WindowAcknowledgementSize, st.integers(0, 0xFFFFFFFF)),
        st.builds(
            SetPeerBandwidth, st.integers(0, 0xFFFFFFFF), st.sampled_from(BandwidthLimitType)
        ),
        st.builds(StreamBegin, st.integers(0, 0xFFFFFFFF)),
        st.builds(SetBufferLength, st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)),
        st.builds(PingRequest, st.integers(0, 0xFFFFFFFF)),
        st.builds(AudioData, st.binary()),
        st.builds(VideoData, st.binary()),
    )
)
def test_round_trip_non_amf_contents(content: MessageContent) -> None:
    assert decode_content(content.type_id, content.encode_payload()) == content


# --- Hand-written __init__ of the per-message classes ---------------------------------------

PER_MESSAGE_SAMPLES: list[tuple[type, dict[str, object]]] = [
    (
        RawMessage,
        {"type_id": 9, "stream_id": 1, "timestamp": 40, "payload": b"\x17", "chunk_stream_id": 6},
    ),
    (AudioData, {"data": b"\xaf\x01"}),
    (VideoData, {"data": b"\x17\x01"}),
    (
        DetailedMessage,
        {
            "timestamp": 40,
            "stream_id": 1,
            "content": VideoData(b"\x17"),
            "force_uncompressed": True,
        },
    ),
    (
        AudioVideoDataReceived,
        {
            "app_name": "live",
            "stream_key": "key",
            "stream_id": 1,
            "data_type": MediaType.VIDEO,
            "data": b"\x17\x01",
            "timestamp": 40,
            "received_at": 5.0,
        },
    ),
]


@pytest.mark.parametrize(
    ("cls", "values"), PER_MESSAGE_SAMPLES, ids=[cls.__name__ for cls, _ in PER_MESSAGE_SAMPLES]
)
def test_hand_written_init_matches_the_dataclass_fields(
    cls: type, values: dict[str, object]
) -> None:
    # These classes set their slots directly for speed; they must still be the same dataclass.
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, spec in zip(parameters, fields, strict=True):
        expected = inspect.Parameter.empty if spec.default is dataclasses.MISSING else spec.default
        assert parameter.default == expected
    instance = cls(*values.values())
    assert instance == cls(**values)
    assert {f.name: getattr(instance, f.name) for f in fields} == values
    assert dataclasses.replace(instance) == instance
    assert pickle.loads(pickle.dumps(instance)) == instance
    assert copy.copy(instance) == instance
    assert hash(instance) == hash(cls(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, fields[0].name, None)


def test_defaults_of_the_hand_written_inits() -> None:
    assert RawMessage(8, 1, 0, b"").chunk_stream_id == 0
    message = DetailedMessage(0, 1, AudioData(b""))
    assert message.force_uncompressed is False
    assert message == DetailedMessage(0, 1, AudioData(b""), force_uncompressed=True)
