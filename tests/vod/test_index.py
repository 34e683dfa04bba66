"""The FLV index (seek points, configuration tags, duration) and reading from a seek point."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.media.flv import FlvHeader, FlvReader, FlvWriter, TagType
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.messages import DataMessage
from rtmp_actors.vod.index import index_flv

METADATA = DataMessage(("onMetaData", EcmaArray({"width": 160.0}))).encode_payload()
AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
AAC_CONFIG = b"\xaf\x00\x12\x10"


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + bytes([i]) * 300


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([i]) * 100


def audio(i: int) -> bytes:
    return b"\xaf\x01" + bytes([i]) * 50


TAGS = [
    (TagType.SCRIPT_DATA, 0, METADATA),
    (TagType.VIDEO, 0, AVC_CONFIG),
    (TagType.AUDIO, 0, AAC_CONFIG),
    (TagType.VIDEO, 0, keyframe(0)),
    (TagType.AUDIO, 0, audio(0)),
    (TagType.VIDEO, 40, inter(1)),
    (TagType.VIDEO, 1000, keyframe(2)),
    (TagType.AUDIO, 1010, audio(3)),
    (TagType.VIDEO, 1040, inter(4)),
    (TagType.VIDEO, 2000, keyframe(5)),
    (TagType.AUDIO, 2020, audio(6)),
]


def golden() -> tuple[bytes, list[int]]:
    """The file, and the byte offset of each of its tags."""
    out = io.BytesIO()
    writer = FlvWriter(out)
    offsets = []
    for tag_type, timestamp, data in TAGS:
        offsets.append(writer.bytes_written)
        writer.write(tag_type, timestamp, data)
    return out.getvalue(), offsets


def test_the_index_finds_keyframes_configuration_metadata_and_duration() -> None:
    data, offsets = golden()
    index = index_flv(io.BytesIO(data))
    assert index.first_tag == 13 == offsets[0]
    assert index.end == len(data)
    assert index.tags == len(TAGS)
    assert index.duration == 2020
    assert list(index.seek_times) == [0, 1000, 2000]
    assert list(index.seek_offsets) == [offsets[3], offsets[6], offsets[9]]
    assert index.video_configs == (offsets[1],)
    assert index.audio_configs == (offsets[2],)
    assert index.metadata == (offsets[0], len(METADATA))


@pytest.mark.parametrize(
    ("asked", "point"),
    [(0, 0), (999, 0), (1000, 1), (1500, 1), (2000, 2), (99_999, 2)],
)
def test_a_seek_lands_on_the_keyframe_at_or_before(asked: float, point: int) -> None:
    data, offsets = golden()
    index = index_flv(io.BytesIO(data))
    keyframes = [(0, offsets[3]), (1000, offsets[6]), (2000, offsets[9])]
    assert index.seek_point(asked) == keyframes[point]


def test_configuration_before_a_seek_point_is_the_latest_of_each_kind() -> None:
    data, offsets = golden()
    index = index_flv(io.BytesIO(data))
    assert index.configs_before(offsets[6]) == [offsets[1], offsets[2]]
    assert index.configs_before(offsets[1]) == []  # nothing before the first tag


def test_a_file_that_starts_before_its_first_keyframe_starts_at_its_first_tag() -> None:
    out = io.BytesIO()
    writer = FlvWriter(out)
    writer.write(TagType.AUDIO, 0, audio(0))
    writer.write(TagType.VIDEO, 500, keyframe(1))
    index = index_flv(io.BytesIO(out.getvalue()))
    assert index.seek_point(100) == (0, 13)


def test_an_audio_only_file_gets_a_seek_point_a_second() -> None:
    out = io.BytesIO()
    writer = FlvWriter(out, FlvHeader(has_video=False))
    offsets = []
    for i in range(0, 3000, 100):
        offsets.append(writer.bytes_written)
        writer.write(TagType.AUDIO, i, audio(i % 256))
    index = index_flv(io.BytesIO(out.getvalue()))
    assert list(index.seek_times) == [0, 1000, 2000]
    assert list(index.seek_offsets) == [offsets[0], offsets[10], offsets[20]]


def test_an_interrupted_recording_is_indexed_up_to_its_last_whole_tag() -> None:
    data, offsets = golden()
    index = index_flv(io.BytesIO(data[: offsets[-1] + 20]))
    assert index.end == offsets[-1]
    assert index.tags == len(TAGS) - 1
    assert index.duration == 2000


def test_a_tag_larger_than_the_limit_is_refused() -> None:
    data, _ = golden()
    with pytest.raises(LimitExceededError):
        index_flv(io.BytesIO(data), max_tag_size=200)


def test_an_encrypted_tag_is_refused() -> None:
    data, offsets = golden()
    damaged = bytearray(data)
    damaged[offsets[3]] |= 0x20
    with pytest.raises(RemoteProtocolError, match="encrypted"):
        index_flv(io.BytesIO(bytes(damaged)))


def test_not_an_flv_file_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        index_flv(io.BytesIO(b"ID3\x04\x00\x00\x00\x00\x00\x00"))


@given(st.binary(max_size=400))
def test_arbitrary_bytes_index_or_raise_only_a_protocol_error(data: bytes) -> None:
    for candidate in (data, b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00" + data):
        try:
            index = index_flv(io.BytesIO(candidate))
        except RemoteProtocolError:
            continue
        assert index.first_tag <= index.end <= len(candidate)
        assert list(index.seek_times) == sorted(index.seek_times)


def test_reading_resumes_at_a_seek_point() -> None:
    data, _ = golden()
    stream = io.BytesIO(data)
    index = index_flv(stream)
    _, offset = index.seek_point(1200)
    stream.seek(offset)
    tags = list(FlvReader.resume(stream, index.header, offset))
    assert [(t.tag_type, t.timestamp, t.data) for t in tags] == TAGS[6:]


def test_an_ffmpeg_file_has_a_keyframe_a_second(vod_dir: Path) -> None:
    with open(vod_dir / "test.flv", "rb") as file:
        index = index_flv(file)
        assert index.metadata is not None
        assert len(index.video_configs) >= 1
        assert len(index.audio_configs) == 1
        assert 5900 <= index.duration <= 6100
        times = list(index.seek_times)
        assert len(times) == 6
        assert all(900 <= b - a <= 1100 for a, b in itertools.pairwise(times))
        # Each seek point is a keyframe of the file, read back from its offset.
        for timestamp, offset in zip(index.seek_times, index.seek_offsets, strict=True):
            file.seek(offset)
            tag = FlvReader.resume(file, index.header, offset).read_tag()
            assert tag is not None
            assert (tag.tag_type, tag.timestamp, tag.data[:2]) == (
                TagType.VIDEO,
                timestamp,
                b"\x17\x01",
            )


TAG_STRATEGY = st.tuples(
    st.sampled_from(["key", "inter", "audio", "config"]),
    st.integers(min_value=0, max_value=500),  # ms since the previous tag
)


@given(st.lists(TAG_STRATEGY, max_size=60))
def test_written_files_index_back_to_their_keyframes(tags: list[tuple[str, int]]) -> None:
    out = io.BytesIO()
    writer = FlvWriter(out)
    keyframes: list[tuple[int, int]] = []
    configs: list[int] = []
    timestamp = 0
    for i, (kind, step) in enumerate(tags):
        timestamp += step
        offset = writer.bytes_written
        if kind == "key":
            keyframes.append((timestamp, offset))
            writer.write(TagType.VIDEO, timestamp, keyframe(i % 256))
        elif kind == "inter":
            writer.write(TagType.VIDEO, timestamp, inter(i % 256))
        elif kind == "audio":
            writer.write(TagType.AUDIO, timestamp, audio(i % 256))
        else:
            configs.append(offset)
            writer.write(TagType.VIDEO, timestamp, AVC_CONFIG)
    index = index_flv(io.BytesIO(out.getvalue()))
    assert index.tags == len(tags)
    assert index.duration == timestamp
    assert index.video_configs == tuple(configs)
    if keyframes:
        assert list(zip(index.seek_times, index.seek_offsets, strict=True)) == keyframes
        for time, offset in keyframes:
            assert index.seek_point(time + 0.5)[1] >= offset
