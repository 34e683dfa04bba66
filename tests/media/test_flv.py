"""FLV header and tags: golden bytes, strict and lenient reading, limits, streaming memory."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from rtmp_actors.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from rtmp_actors.media.flv import (
    DEFAULT_MAX_TAG_SIZE,
    FlvHeader,
    FlvReader,
    FlvTag,
    FlvWriter,
    TagType,
    read_flv_file,
    write_flv_file,
)
from tests.media.helpers import TrickleStream


def hexbytes(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


FLV_HEADER = "464c5601 05 00000009"
PREVIOUS_TAG_SIZE_0 = "00000000"

# A script tag, a video tag whose timestamp needs the extended byte, a filtered audio tag.
GOLDEN_TAGS = [
    FlvTag(TagType.SCRIPT_DATA, 0, hexbytes("02000a6f6e4d65746144617461 05")),
    FlvTag(TagType.VIDEO, 0x01020304, hexbytes("1700000000")),
    FlvTag(TagType.AUDIO, 0xFFFFFFFF, hexbytes("af01aa"), stream_id=0x010203, filtered=True),
]
GOLDEN_FILE = hexbytes(
    FLV_HEADER
    + PREVIOUS_TAG_SIZE_0
    + "12 00000e 000000 00 000000 02000a6f6e4d65746144617461 05"
    + "00000019"
    + "09 000005 020304 01 000000 1700000000"
    + "00000010"
    + "28 000003 ffffff ff 010203 af01aa"
    + "0000000e"
)


# --- Header -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "hex_text"),
    [
        (FlvHeader(), "464c5601 05 00000009"),
        (FlvHeader(has_audio=False), "464c5601 01 00000009"),
        (FlvHeader(has_video=False), "464c5601 04 00000009"),
        (FlvHeader(has_audio=False, has_video=False), "464c5601 00 00000009"),
        (FlvHeader(data_offset=13), "464c5601 05 0000000d"),
    ],
)
def test_header_golden(header: FlvHeader, hex_text: str) -> None:
    assert header.encode() == hexbytes(hex_text)
    assert FlvHeader.decode(hexbytes(hex_text)) == header


def test_header_decode_ignores_reserved_flag_bits() -> None:
    assert FlvHeader.decode(hexbytes("464c5601 fa 00000009")) == FlvHeader(False, False)


@pytest.mark.parametrize(
    ("hex_text", "message"),
    [
        ("", "FLV header is cut short: 0 of 9 bytes"),
        ("464c5601 05 000000", "cut short: 8 of 9"),
        ("464c5801 05 00000009", r"not an FLV file: it starts with b'FLX'"),
        ("464c5601 05 00000008", "claims a size of 8 bytes, below 9"),
    ],
)
def test_header_errors(hex_text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        FlvHeader.decode(hexbytes(hex_text))
    with pytest.raises(RemoteProtocolError, match=message):
        FlvReader(io.BytesIO(hexbytes(hex_text)))


# --- Writer ------------------------------------------------------------------------------------


def test_writer_golden() -> None:
    out = io.BytesIO()
    writer = FlvWriter(out)
    assert out.getvalue() == hexbytes(FLV_HEADER + PREVIOUS_TAG_SIZE_0)
    for tag in GOLDEN_TAGS:
        writer.write_tag(tag)
    assert out.getvalue() == GOLDEN_FILE
    assert writer.bytes_written == len(GOLDEN_FILE)


def test_writer_from_parts_and_views() -> None:
    out = io.BytesIO()
    writer = FlvWriter(out, FlvHeader(has_audio=False))
    body = bytearray(hexbytes("27 01 000000 aabb"))
    writer.write(TagType.VIDEO, 40, memoryview(body)[:7])
    assert out.getvalue() == hexbytes(
        "464c5601 01 00000009 00000000 09 000007 000028 00 000000 2701000000aabb 00000012"
    )


def test_writer_pads_a_larger_header() -> None:
    out = io.BytesIO()
    FlvWriter(out, FlvHeader(data_offset=12)).write(TagType.AUDIO, 0, b"\x2f")
    assert out.getvalue()[:16] == hexbytes("464c5601 05 0000000c 000000 00000000")
    reader = FlvReader(io.BytesIO(out.getvalue()))
    assert reader.header.data_offset == 12
    assert list(reader) == [FlvTag(TagType.AUDIO, 0, b"\x2f")]


class FlushCounter(io.BytesIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_writer_flushes_each_tag_when_asked() -> None:
    quiet, eager = FlushCounter(), FlushCounter()
    quiet_writer, eager_writer = FlvWriter(quiet), FlvWriter(eager, flush_each_tag=True)
    for tag in GOLDEN_TAGS:
        quiet_writer.write_tag(tag)
        eager_writer.write_tag(tag)
    assert (quiet.flushes, eager.flushes) == (0, 3)
    quiet_writer.flush()
    assert quiet.flushes == 1
    assert quiet.getvalue() == eager.getvalue() == GOLDEN_FILE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tag_type": 32}, "does not fit in 5 bits"),
        ({"tag_type": -1}, "does not fit in 5 bits"),
        ({"timestamp": 1 << 32}, "outside 0..2"),
        ({"timestamp": -1}, "outside 0..2"),
        ({"stream_id": 1 << 24}, "stream id"),
        ({"size": 1 << 24}, "does not fit a UI24 size"),
    ],
)
def test_writer_rejects_fields_that_do_not_fit(fields: dict[str, int], message: str) -> None:
    tag = FlvTag(
        fields.get("tag_type", 9),
        fields.get("timestamp", 0),
        bytes(fields.get("size", 0)),
        stream_id=fields.get("stream_id", 0),
    )
    out = io.BytesIO()
    writer = FlvWriter(out)
    with pytest.raises(LocalProtocolError, match=message):
        writer.write_tag(tag)
    assert len(out.getvalue()) == 13  # nothing half-written


# --- Reader -----------------------------------------------------------------------------------


def test_reader_golden() -> None:
    reader = FlvReader(io.BytesIO(GOLDEN_FILE))
    assert reader.header == FlvHeader()
    assert reader.position == 13
    tags = list(reader)
    assert tags == GOLDEN_TAGS
    assert tags[1].timestamp == 0x01020304
    assert tags[2].timestamp == 0xFFFFFFFF
    assert reader.position == len(GOLDEN_FILE)
    assert reader.read_tag() is None
    assert not reader.truncated


def test_reader_one_tag_at_a_time() -> None:
    reader = FlvReader(io.BytesIO(GOLDEN_FILE))
    assert reader.read_tag() == GOLDEN_TAGS[0]
    assert reader.position == 13 + 11 + 14 + 4
    assert next(reader) == GOLDEN_TAGS[1]


def test_reader_handles_short_reads() -> None:
    stream = TrickleStream(GOLDEN_FILE, step=1)
    assert list(FlvReader(stream)) == GOLDEN_TAGS


def test_reader_keeps_unknown_tag_types() -> None:
    out = io.BytesIO()
    FlvWriter(out).write(31, 7, b"?")
    assert list(FlvReader(io.BytesIO(out.getvalue()))) == [FlvTag(31, 7, b"?")]


def test_header_only_file_has_no_tags() -> None:
    assert list(FlvReader(io.BytesIO(hexbytes(FLV_HEADER + PREVIOUS_TAG_SIZE_0)))) == []


def corrupt(offset: int, replacement: str, data: bytes = GOLDEN_FILE) -> bytes:
    new = hexbytes(replacement)
    return data[:offset] + new + data[offset + len(new) :]


SECOND_BACK_POINTER = 13 + 11 + 14 + 4 + 11 + 5  # after the video tag


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (corrupt(9, "00000001"), "PreviousTagSize0 at byte 9 is 1, not 0"),
        (
            corrupt(SECOND_BACK_POINTER, "00000011"),
            "back pointer after the tag at byte 42 is 17, but the tag takes 16 bytes",
        ),
        (corrupt(13, "52"), "tag at byte 13 has reserved bits set in its type byte 0x52"),
        (GOLDEN_FILE[:11], "ends inside PreviousTagSize0"),
        (GOLDEN_FILE[:20], "ends inside the tag header at byte 13"),
        (GOLDEN_FILE[:30], "ends inside the 14-byte tag body at byte 13"),
        (GOLDEN_FILE[:-2], "ends inside the back pointer of the tag at byte 62"),
    ],
)
def test_strict_reader_errors(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        list(FlvReader(io.BytesIO(data)))


def test_lenient_reader_ignores_wrong_back_pointers_and_reserved_bits() -> None:
    data = corrupt(9, "0000abcd", corrupt(SECOND_BACK_POINTER, "00000000"))
    data = corrupt(13, "d2", data)  # reserved bits on the script tag
    reader = FlvReader(io.BytesIO(data), strict=False)
    assert list(reader) == GOLDEN_TAGS
    assert not reader.truncated


@pytest.mark.parametrize(
    ("cut", "tags_kept"),
    [
        (11, 0),  # inside PreviousTagSize0
        (20, 0),  # inside the first tag header
        (30, 0),  # inside the first tag body
        (len(GOLDEN_FILE) - 2, 3),  # the last tag is whole, its back pointer is cut
        (len(GOLDEN_FILE) - 4, 3),  # the last back pointer is missing altogether
        (len(GOLDEN_FILE) - 5, 2),  # inside the last tag body
    ],
)
def test_lenient_reader_stops_at_a_cut_off_tail(cut: int, tags_kept: int) -> None:
    reader = FlvReader(io.BytesIO(GOLDEN_FILE[:cut]), strict=False)
    assert list(reader) == GOLDEN_TAGS[:tags_kept]
    assert reader.truncated
    assert reader.read_tag() is None


class RecordingStream(io.BytesIO):
    """Remembers the largest read it was asked for."""

    largest_request = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest_request = max(self.largest_request, size if size is not None else -1)
        return super().read(size)


@pytest.mark.parametrize("strict", [True, False])
def test_oversized_tag_is_refused_before_reading_it(strict: bool) -> None:
    # The tag claims 0xffffff bytes; the reader must refuse without asking for them.
    data = hexbytes(FLV_HEADER + PREVIOUS_TAG_SIZE_0 + "09 ffffff 000000 00 000000") + bytes(64)
    stream = RecordingStream(data)
    reader = FlvReader(stream, max_tag_size=1024, strict=strict)
    with pytest.raises(LimitExceededError, match="FLV tag at byte 13: 16777215 exceeds") as error:
        reader.read_tag()
    assert isinstance(error.value, RemoteProtocolError)
    assert error.value.limit == "max_tag_size"
    assert error.value.maximum == 1024
    assert stream.largest_request <= 64


def test_default_max_tag_size_is_the_media_message_limit() -> None:
    assert DEFAULT_MAX_TAG_SIZE == 8 * 1024 * 1024
    out = io.BytesIO()
    FlvWriter(out).write(TagType.VIDEO, 0, bytes(DEFAULT_MAX_TAG_SIZE + 1))
    with pytest.raises(LimitExceededError):
        list(FlvReader(io.BytesIO(out.getvalue())))
    assert len(list(FlvReader(io.BytesIO(out.getvalue()), max_tag_size=1 << 24))) == 1


def test_a_tag_exactly_at_the_limit_is_accepted() -> None:
    out = io.BytesIO()
    FlvWriter(out).write(TagType.AUDIO, 0, bytes(100))
    assert len(list(FlvReader(io.BytesIO(out.getvalue()), max_tag_size=100))) == 1


# --- Paths -------------------------------------------------------------------------------------


def test_path_helpers_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "golden.flv"
    size = write_flv_file(path, GOLDEN_TAGS)
    assert size == len(GOLDEN_FILE)
    assert path.read_bytes() == GOLDEN_FILE
    assert list(read_flv_file(path)) == GOLDEN_TAGS
    assert list(read_flv_file(str(path), strict=False)) == GOLDEN_TAGS


def test_read_flv_file_reports_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.flv"
    path.write_bytes(GOLDEN_FILE[:30])
    with pytest.raises(RemoteProtocolError, match="ends inside"):
        list(read_flv_file(path))


# --- Streaming memory ----------------------------------------------------------------------------

TAG_BODY_SIZE = 1024 * 1024


@pytest.fixture(scope="module")
def large_flv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64 MiB FLV of 1 MiB video tags, written by FlvWriter."""
    path = tmp_path_factory.mktemp("large") / "large.flv"
    body = bytearray(TAG_BODY_SIZE)
    with path.open("wb") as stream:
        writer = FlvWriter(stream)
        for index in range(64):
            body[0] = 0x17 if index % 8 == 0 else 0x27
            body[-1] = index
            writer.write(TagType.VIDEO, index * 40, body)
    return path


def test_reading_a_large_file_keeps_memory_bounded(large_flv: Path) -> None:
    assert large_flv.stat().st_size > 50 * 1024 * 1024
    count = 0
    keyframes = 0
    last_bytes = []
    tracemalloc.start()
    try:
        for tag in read_flv_file(large_flv):
            count += 1
            keyframes += tag.data[0] == 0x17
            last_bytes.append(tag.data[-1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 64
    assert keyframes == 8
    assert last_bytes == list(range(64))
    # One tag in hand, the next being read: a small multiple of the largest tag, not 64 MiB.
    assert peak < 3 * TAG_BODY_SIZE


class GeneratedFlv(io.RawIOBase):
    """A non-seekable stream that makes up an FLV of ``count`` big tags as it is read."""

    def __init__(self, count: int, body_size: int) -> None:
        self._pending = bytearray(hexbytes(FLV_HEADER + PREVIOUS_TAG_SIZE_0))
        self._remaining = count
        self._index = 0
        self._body_size = body_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and self._remaining:
            timestamp = self._index * 40
            self._pending += b"\x09" + self._body_size.to_bytes(3) + timestamp.to_bytes(3)
            self._pending += bytes(4) + bytes((0x17,)) + bytes(self._body_size - 1)
            self._pending += (self._body_size + 11).to_bytes(4)
            self._remaining -= 1
            self._index += 1
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        del self._pending[:size]
        return size


def test_reading_a_generated_stream_of_300_mib_keeps_memory_bounded() -> None:
    stream = io.BufferedReader(GeneratedFlv(300, TAG_BODY_SIZE), buffer_size=64 * 1024)
    tracemalloc.start()
    try:
        count = sum(1 for tag in FlvReader(stream) if len(tag.data) == TAG_BODY_SIZE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 300
    assert peak < 6 * TAG_BODY_SIZE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": 256}, "does not fit in a byte"),
        ({"version": -1}, "does not fit in a byte"),
        ({"data_offset": 8}, "outside 9..2"),
        ({"data_offset": 1 << 32}, "outside 9..2"),
    ],
)
def test_header_rejects_fields_that_do_not_fit(fields: dict[str, int], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        FlvHeader(**fields)  # type: ignore[arg-type]
