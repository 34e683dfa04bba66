"""Property tests: FLV round-trips; arbitrary bytes raise nothing but RemoteProtocolError."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media.audio import is_audio_sequence_header, parse_audio_tag
from rtmp_actors.media.flv import FlvHeader, FlvReader, FlvTag, FlvWriter
from rtmp_actors.media.video import is_video_keyframe, is_video_sequence_header, parse_video_tag

# --- Strategies ---------------------------------------------------------------------------------

FLV_TAGS = st.builds(
    FlvTag,
    tag_type=st.integers(0, 31),
    timestamp=st.integers(0, 2**32 - 1),
    data=st.binary(max_size=300),
    stream_id=st.integers(0, 2**24 - 1),
    filtered=st.booleans(),
)
FLV_HEADERS = st.builds(
    FlvHeader,
    has_audio=st.booleans(),
    has_video=st.booleans(),
    version=st.integers(0, 255),
    data_offset=st.integers(9, 40),
)

# Pieces that steer random tag bodies into the deeper branches: FourCCs, ModEx sizes (including
# the 256 escape), multitrack layout bytes, track sizes, channel configurations.
PIECES = st.sampled_from(
    [
        b"hvc1", b"av01", b"vp09", b"avc1", b"vvc1", b"vp08", b"Opus", b"mp4a", b"fLaC",
        b"\x02\x00\x00\x01", b"\xff\x00\x02", b"\xff\xff\xff", b"\x00", b"\x01", b"\x06",
        b"\x07", b"\x11", b"\x20", b"\x24", b"\x00\x00\x03", b"\x00\x00\x00", b"\x01\x02",
        b"\x02\x04", b"\x0f\x42\x3f", b"\x0f\x42\x40",
    ]
)  # fmt: skip
CRAFTED_BODIES = st.builds(
    lambda first, pieces: bytes([first]) + b"".join(pieces),
    st.integers(0, 255),
    st.lists(PIECES | st.binary(max_size=6), max_size=8),
)
TAG_BODIES = st.binary(max_size=64) | CRAFTED_BODIES


def write_flv(tags: list[FlvTag], header: FlvHeader | None = None) -> bytes:
    out = io.BytesIO()
    writer = FlvWriter(out, header)
    for tag in tags:
        writer.write_tag(tag)
    return out.getvalue()


# --- FLV round-trips ----------------------------------------------------------------------------


@settings(max_examples=300)
@given(FLV_HEADERS, st.lists(FLV_TAGS, max_size=12))
def test_flv_tags_round_trip_through_writer_and_reader(
    header: FlvHeader, tags: list[FlvTag]
) -> None:
    data = write_flv(tags, header)
    reader = FlvReader(io.BytesIO(data))
    assert reader.header == header
    read_back = list(reader)
    assert read_back == tags
    assert reader.position == len(data)
    assert write_flv(read_back, reader.header) == data


# --- Fuzzing the readers --------------------------------------------------------------------------


def read_all(data: bytes, *, strict: bool, max_tag_size: int) -> list[FlvTag]:
    try:
        reader = FlvReader(io.BytesIO(data), strict=strict, max_tag_size=max_tag_size)
        tags = list(reader)
    except RemoteProtocolError:
        return []
    assert all(len(tag.data) <= max_tag_size for tag in tags)
    assert all(0 <= tag.tag_type <= 31 for tag in tags)
    return tags


@settings(max_examples=500)
@given(st.binary(max_size=200), st.booleans(), st.sampled_from([16, 256, 1 << 24]))
def test_flv_reader_on_arbitrary_bytes(data: bytes, strict: bool, max_tag_size: int) -> None:
    read_all(data, strict=strict, max_tag_size=max_tag_size)
    read_all(b"FLV\x01\x05\x00\x00\x00\x09" + data, strict=strict, max_tag_size=max_tag_size)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(FLV_TAGS, min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.integers(0, 10_000),
    st.booleans(),
)
def test_flv_reader_on_corrupted_files(
    tags: list[FlvTag], flips: list[tuple[int, int]], cut: int, strict: bool
) -> None:
    data = bytearray(write_flv(tags))
    for position, value in flips:
        data[position % len(data)] = value
    del data[len(data) - cut % len(data) :]
    read_all(bytes(data), strict=strict, max_tag_size=1024)


@settings(max_examples=2000)
@given(TAG_BODIES)
def test_parse_video_tag_decodes_or_raises_protocol_error(data: bytes) -> None:
    keyframe = is_video_keyframe(data)
    sequence_header = is_video_sequence_header(data)
    try:
        header = parse_video_tag(data)
    except RemoteProtocolError:
        return
    assert 0 < header.header_size <= len(data)
    for track in header.tracks:
        assert 0 < track.payload_offset <= track.payload_offset + track.payload_size <= len(data)
        assert len(track.payload(data)) == track.payload_size
    assert keyframe is header.is_keyframe
    assert sequence_header is header.is_sequence_header


@settings(max_examples=2000)
@given(TAG_BODIES)
def test_parse_audio_tag_decodes_or_raises_protocol_error(data: bytes) -> None:
    sequence_header = is_audio_sequence_header(data)
    try:
        header = parse_audio_tag(data)
    except RemoteProtocolError:
        return
    assert header.header_size <= len(data)
    for track in header.tracks:
        assert 0 < track.payload_offset <= track.payload_offset + track.payload_size <= len(data)
        assert len(track.payload(data)) == track.payload_size
    assert sequence_header is header.is_sequence_header
    assert header.is_silence is (len(data) == 0)
