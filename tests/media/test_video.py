"""Video tag headers: golden bytes for every legacy and enhanced form, errors, hot-path checks."""

from __future__ import annotations

import pytest

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media.codecs import VideoCodecId, VideoFourCC
from rtmp_actors.media.enhanced import AvMultitrackType, ModEx, ModExType
from rtmp_actors.media.video import (
    VideoCommand,
    VideoFrameType,
    VideoPacketType,
    VideoTagHeader,
    VideoTrack,
    is_video_configuration,
    is_video_keyframe,
    is_video_sequence_header,
    parse_video_tag,
)

KEY = VideoFrameType.KEY
INTER = VideoFrameType.INTER
START = VideoPacketType.SEQUENCE_START
CODED = VideoPacketType.CODED_FRAMES
CODED_X = VideoPacketType.CODED_FRAMES_X
END = VideoPacketType.SEQUENCE_END
HVC1 = VideoFourCC.HEVC
AV01 = VideoFourCC.AV1


def tag(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


def legacy(
    frame_type: int,
    codec_id: int,
    packet_type: VideoPacketType,
    composition_time: int,
    header_size: int,
    payload_size: int,
) -> VideoTagHeader:
    track = VideoTrack(0, None, packet_type, composition_time, header_size, payload_size)
    return VideoTagHeader(
        frame_type=frame_type,
        enhanced=False,
        codec_id=codec_id,
        packet_type=packet_type,
        fourcc=None,
        composition_time=composition_time,
        command=None,
        multitrack_type=None,
        tracks=(track,),
        timestamp_offset_nano=0,
        mod_ex=(),
        header_size=header_size,
    )


def enhanced(
    frame_type: int,
    tracks: tuple[VideoTrack, ...],
    *,
    multitrack_type: AvMultitrackType | None = None,
    nano: int = 0,
    mod_ex: tuple[ModEx, ...] = (),
) -> VideoTagHeader:
    first = tracks[0]
    return VideoTagHeader(
        frame_type=frame_type,
        enhanced=True,
        codec_id=None,
        packet_type=first.packet_type,
        fourcc=first.fourcc,
        composition_time=first.composition_time,
        command=None,
        multitrack_type=multitrack_type,
        tracks=tracks,
        timestamp_offset_nano=nano,
        mod_ex=mod_ex,
        header_size=first.payload_offset,
    )


# --- Legacy -------------------------------------------------------------------------------------

LEGACY_CASES = [
    pytest.param(
        "17 00 000000 01640028ffe1",
        legacy(KEY, VideoCodecId.AVC, START, 0, 5, 6),
        id="avc-sequence-header",
    ),
    pytest.param(
        "17 01 000050 00000002 0910",
        legacy(KEY, VideoCodecId.AVC, CODED, 80, 5, 6),
        id="avc-keyframe-cts-80",
    ),
    pytest.param(
        "27 01 ffffd8 00000001 41",
        legacy(INTER, VideoCodecId.AVC, CODED, -40, 5, 5),
        id="avc-inter-negative-cts",
    ),
    pytest.param(
        "27 01 7fffff 00",
        legacy(INTER, VideoCodecId.AVC, CODED, 0x7FFFFF, 5, 1),
        id="avc-largest-cts",
    ),
    pytest.param(
        "27 01 800000 00",
        legacy(INTER, VideoCodecId.AVC, CODED, -0x800000, 5, 1),
        id="avc-smallest-cts",
    ),
    pytest.param(
        "17 02 000000", legacy(KEY, VideoCodecId.AVC, END, 0, 5, 0), id="avc-end-of-sequence"
    ),
    pytest.param(
        "47 01 000000 aa",
        legacy(VideoFrameType.GENERATED_KEY, VideoCodecId.AVC, CODED, 0, 5, 1),
        id="avc-generated-keyframe",
    ),
    pytest.param(
        "1c 01 000028 bbcc",
        legacy(KEY, VideoCodecId.HEVC_LEGACY, CODED, 40, 5, 2),
        id="de-facto-hevc-id-12",
    ),
    pytest.param(
        "22 001122", legacy(INTER, VideoCodecId.SORENSON_H263, CODED, 0, 1, 3), id="h263-inter"
    ),
    pytest.param(
        "34 0102",
        legacy(VideoFrameType.DISPOSABLE_INTER, VideoCodecId.ON2_VP6, CODED, 0, 1, 2),
        id="vp6-disposable",
    ),
    pytest.param(
        "15 00000003 aa",
        legacy(KEY, VideoCodecId.ON2_VP6_ALPHA, CODED, 0, 1, 5),
        id="vp6-alpha-key",
    ),
    pytest.param(
        "13 ff", legacy(KEY, VideoCodecId.SCREEN_VIDEO, CODED, 0, 1, 1), id="screen-video"
    ),
    pytest.param(
        "26", legacy(INTER, VideoCodecId.SCREEN_VIDEO_V2, CODED, 0, 1, 0), id="screen-video-2"
    ),
    pytest.param("1f 99", legacy(KEY, 15, CODED, 0, 1, 1), id="unknown-codec-kept"),
]


@pytest.mark.parametrize(("hex_text", "expected"), LEGACY_CASES)
def test_legacy_golden(hex_text: str, expected: VideoTagHeader) -> None:
    assert parse_video_tag(tag(hex_text)) == expected


def test_legacy_payload_is_a_view_of_the_codec_data() -> None:
    data = tag("27 01 000028 00000003 419a22")
    header = parse_video_tag(data)
    payload = header.payload(data)
    assert isinstance(payload, memoryview)
    assert payload.obj is data  # no copy
    assert bytes(payload) == tag("00000003 419a22")
    assert header.codec_name == "H.264"


@pytest.mark.parametrize(
    ("hex_text", "codec_id", "command"),
    [
        ("57 00", VideoCodecId.AVC, VideoCommand.START_SEEK),
        ("52 01", VideoCodecId.SORENSON_H263, VideoCommand.END_SEEK),
        ("54 07", VideoCodecId.ON2_VP6, 7),  # reserved commands are kept as numbers
    ],
)
def test_legacy_command_frame(hex_text: str, codec_id: int, command: int) -> None:
    header = parse_video_tag(tag(hex_text))
    assert header == VideoTagHeader(
        frame_type=VideoFrameType.COMMAND,
        enhanced=False,
        codec_id=codec_id,
        packet_type=None,
        fourcc=None,
        composition_time=0,
        command=command,
        multitrack_type=None,
        tracks=(),
        timestamp_offset_nano=0,
        mod_ex=(),
        header_size=2,
    )
    assert header.is_command
    assert not header.is_keyframe
    assert not header.is_sequence_header
    assert bytes(header.payload(tag(hex_text))) == b""


# --- Enhanced, single track -----------------------------------------------------------------------

ENHANCED_CASES = [
    pytest.param(
        "90 68766331 0101600000",
        enhanced(KEY, (VideoTrack(0, HVC1, START, 0, 5, 5),)),
        id="hvc1-sequence-start",
    ),
    pytest.param(
        "91 68766331 000050 0000000a 2801",
        enhanced(KEY, (VideoTrack(0, HVC1, CODED, 80, 8, 6),)),
        id="hvc1-coded-frames-cts",
    ),
    pytest.param(
        "a1 68766331 ffffff 00",
        enhanced(INTER, (VideoTrack(0, HVC1, CODED, -1, 8, 1),)),
        id="hvc1-negative-cts",
    ),
    pytest.param(
        "a3 68766331 00000005 0201",
        enhanced(INTER, (VideoTrack(0, HVC1, CODED_X, 0, 5, 6),)),
        id="hvc1-coded-frames-x",
    ),
    pytest.param(
        "92 68766331", enhanced(KEY, (VideoTrack(0, HVC1, END, 0, 5, 0),)), id="hvc1-sequence-end"
    ),
    pytest.param(
        "91 61766331 000028 00000001 65",
        enhanced(KEY, (VideoTrack(0, VideoFourCC.AVC, CODED, 40, 8, 5),)),
        id="avc1-coded-frames-cts",
    ),
    pytest.param(
        "a1 76766331 fffff6 aabb",
        enhanced(INTER, (VideoTrack(0, VideoFourCC.VVC, CODED, -10, 8, 2),)),
        id="vvc1-coded-frames-cts",
    ),
    pytest.param(
        "90 61763031 81000c00",
        enhanced(KEY, (VideoTrack(0, AV01, START, 0, 5, 4),)),
        id="av01-sequence-start",
    ),
    pytest.param(
        # AV1 has no composition time: the three bytes after the FourCC are OBU data.
        "91 61763031 12000a0b",
        enhanced(KEY, (VideoTrack(0, AV01, CODED, 0, 5, 4),)),
        id="av01-coded-frames-no-cts",
    ),
    pytest.param(
        "95 61763031 80040a",
        enhanced(KEY, (VideoTrack(0, AV01, VideoPacketType.MPEG2TS_SEQUENCE_START, 0, 5, 3),)),
        id="av01-mpeg2ts-sequence-start",
    ),
    pytest.param(
        "a1 76703039 8249834200",
        enhanced(INTER, (VideoTrack(0, VideoFourCC.VP9, CODED, 0, 5, 5),)),
        id="vp09-coded-frames",
    ),
    pytest.param(
        "91 76703038 9d012a",
        enhanced(KEY, (VideoTrack(0, VideoFourCC.VP8, CODED, 0, 5, 3),)),
        id="vp08-coded-frames",
    ),
    pytest.param(
        "b3 78797a31 00",
        enhanced(VideoFrameType.DISPOSABLE_INTER, (VideoTrack(0, "xyz1", CODED_X, 0, 5, 1),)),
        id="unknown-fourcc-kept",
    ),
]


@pytest.mark.parametrize(("hex_text", "expected"), ENHANCED_CASES)
def test_enhanced_golden(hex_text: str, expected: VideoTagHeader) -> None:
    assert parse_video_tag(tag(hex_text)) == expected


def test_enhanced_payload_and_names() -> None:
    data = tag("91 68766331 000050 0000000a 2801")
    header = parse_video_tag(data)
    assert bytes(header.payload(data)) == tag("0000000a 2801")
    assert header.codec_name == "HEVC"
    assert header.is_keyframe
    assert not header.is_sequence_header
    assert not header.is_multitrack


def test_metadata_packet_ignores_the_command_frame_type() -> None:
    # FFmpeg 9 writes its colorInfo Metadata packets with frame type 5 (command); the spec says
    # the frame type of a Metadata packet is ignored, so this is metadata, not a command.
    data = tag("d4 61763031 020009 636f6c6f72496e666f 03")
    header = parse_video_tag(data)
    assert header == enhanced(
        VideoFrameType.COMMAND, (VideoTrack(0, AV01, VideoPacketType.METADATA, 0, 5, 13),)
    )
    assert header.command is None
    assert not header.is_keyframe
    assert bytes(header.payload(data))[3:12] == b"colorInfo"


def test_metadata_packet_with_reserved_frame_type_is_kept() -> None:
    header = parse_video_tag(tag("f4 76703039 05"))
    assert header.frame_type == 7
    assert header.packet_type == VideoPacketType.METADATA


@pytest.mark.parametrize(
    ("hex_text", "command", "header_size"),
    [
        ("d0 00", VideoCommand.START_SEEK, 2),
        ("d1 01", VideoCommand.END_SEEK, 2),
        # The packet type nibble means nothing on a command frame (no FourCC follows) ...
        ("d6 01", VideoCommand.END_SEEK, 2),
        # ... but ModEx still comes first: a nano offset, then SequenceStart, then the command.
        ("d7 02 0003e8 00 00", VideoCommand.START_SEEK, 7),
    ],
)
def test_enhanced_command_frame(hex_text: str, command: int, header_size: int) -> None:
    header = parse_video_tag(tag(hex_text))
    assert header.frame_type == VideoFrameType.COMMAND
    assert header.enhanced
    assert header.command == command
    assert header.packet_type is None
    assert header.fourcc is None
    assert header.tracks == ()
    assert header.header_size == header_size
    assert header.codec_name is None
    assert not header.is_keyframe
    assert not is_video_keyframe(tag(hex_text))
    assert not is_video_sequence_header(tag(hex_text))


def test_enhanced_command_after_mod_ex_keeps_the_nano_offset() -> None:
    header = parse_video_tag(tag("d7 02 0003e8 00 00"))
    assert header.timestamp_offset_nano == 1000
    assert header.mod_ex == (ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("0003e8")),)


# --- Enhanced multitrack ------------------------------------------------------------------------


def test_multitrack_one_track() -> None:
    # What FFmpeg writes for a second video stream: OneTrack, CodedFrames, hvc1, track 1.
    data = tag("96 01 68766331 01 000050 0000000a 94")
    header = parse_video_tag(data)
    assert header == enhanced(
        KEY,
        (VideoTrack(1, HVC1, CODED, 80, 10, 5),),
        multitrack_type=AvMultitrackType.ONE_TRACK,
    )
    assert header.is_multitrack
    assert header.is_keyframe
    assert bytes(header.tracks[0].payload(data)) == tag("0000000a 94")


def test_multitrack_many_tracks_one_codec() -> None:
    data = tag("96 11 61763031  00 000003 aabbcc  01 000002 ddee  05 000000")
    header = parse_video_tag(data)
    assert header == enhanced(
        KEY,
        (
            VideoTrack(0, AV01, CODED, 0, 10, 3),
            VideoTrack(1, AV01, CODED, 0, 17, 2),
            VideoTrack(5, AV01, CODED, 0, 23, 0),
        ),
        multitrack_type=AvMultitrackType.MANY_TRACKS,
    )
    assert [bytes(t.payload(data)) for t in header.tracks] == [tag("aabbcc"), tag("ddee"), b""]


def test_multitrack_many_tracks_composition_time_is_inside_each_track() -> None:
    data = tag("a6 11 68766331  00 000005 000010 aabb  02 000004 fffff6 cc")
    header = parse_video_tag(data)
    assert header.frame_type == INTER
    assert header.tracks == (
        VideoTrack(0, HVC1, CODED, 16, 13, 2),
        VideoTrack(2, HVC1, CODED, -10, 22, 1),
    )
    assert header.composition_time == 16


def test_multitrack_many_tracks_many_codecs() -> None:
    data = tag("96 20  68766331 00 000002 1122  61763031 01 000003 334455")
    header = parse_video_tag(data)
    assert header == enhanced(
        KEY,
        (VideoTrack(0, HVC1, START, 0, 10, 2), VideoTrack(1, AV01, START, 0, 20, 3)),
        multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
    )
    assert header.is_sequence_header
    assert header.fourcc == HVC1


def test_multitrack_after_mod_ex() -> None:
    data = tag("97 02 000002 06  00 76703039 03 aa")
    header = parse_video_tag(data)
    assert header == enhanced(
        KEY,
        (VideoTrack(3, VideoFourCC.VP9, START, 0, 12, 1),),
        multitrack_type=AvMultitrackType.ONE_TRACK,
        nano=2,
        mod_ex=(ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("000002")),),
    )


# --- ModEx ------------------------------------------------------------------------------------


def test_mod_ex_timestamp_offset_nano() -> None:
    data = tag("97 02 0f423f 01 68766331 000010 65")
    header = parse_video_tag(data)
    assert header == enhanced(
        KEY,
        (VideoTrack(0, HVC1, CODED, 16, 13, 1),),
        nano=999_999,
        mod_ex=(ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("0f423f")),),
    )


def test_mod_ex_nano_uses_the_first_three_bytes_of_longer_data() -> None:
    header = parse_video_tag(tag("97 03 000064 ff 01 61763031 00"))
    assert header.timestamp_offset_nano == 100
    assert header.mod_ex == (ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("000064ff")),)


def test_mod_ex_255_bytes_fits_the_8_bit_size() -> None:
    body = bytes(range(255))
    data = tag("97 fe") + body + tag("53 61763031 00")
    header = parse_video_tag(data)
    assert header.mod_ex == (ModEx(5, body),)
    assert header.packet_type == CODED_X
    assert header.header_size == 2 + 255 + 1 + 4


@pytest.mark.parametrize("size", [256, 300, 65536])
def test_mod_ex_256_escape_to_16_bit_size(size: int) -> None:
    body = bytes(i % 251 for i in range(size))
    data = tag("97 ff") + (size - 1).to_bytes(2) + body + tag("a0 61763031 cafe")
    header = parse_video_tag(data)
    assert header.mod_ex == (ModEx(0xA, body),)
    assert header.timestamp_offset_nano == 0
    assert header.packet_type == START
    assert header.header_size == 4 + size + 1 + 4
    assert bytes(header.payload(data)) == tag("cafe")
    assert is_video_sequence_header(data)


def test_mod_ex_nano_in_escaped_form() -> None:
    header = parse_video_tag(tag("97 ff 0002 0001f4 01 68766331 000000 aa"))
    assert header.timestamp_offset_nano == 500
    assert header.composition_time == 0


def test_mod_ex_chain_keeps_every_entry_and_the_last_nano() -> None:
    data = tag("97 02 000001 07  00 aa 17  02 000003 03 61763031 ff")
    header = parse_video_tag(data)
    assert header.mod_ex == (
        ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("000001")),
        ModEx(1, tag("aa")),
        ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("000003")),
    )
    assert header.timestamp_offset_nano == 3
    assert header.packet_type == CODED_X
    assert is_video_keyframe(data)


# --- Errors -------------------------------------------------------------------------------------

ERROR_CASES = [
    ("", "empty"),
    ("07 01 000000", "reserved frame type 0"),
    ("67 01 000000", "reserved frame type 6"),
    ("77 00 000000", "reserved frame type 7"),
    ("e1 68766331 000000", "reserved frame type 6"),
    ("81 68766331 000000", "reserved frame type 0"),
    ("17", "cut short"),
    ("17 01 0000", "cut short"),
    ("17 03 000000", "unknown AVC packet type 3"),
    ("57", "command frame is cut short"),
    ("d0", "command frame is cut short"),
    ("98 68766331", "unknown packet type 8"),
    ("9f 68766331", "unknown packet type 15"),
    ("91 6876", "FourCC is cut short"),
    ("91 68766331 0000", "too short for its composition time"),
    ("a1 61766331 00", "too short for its composition time"),
    ("96", "multitrack type is cut short"),
    ("96 31 61763031 00", "unknown multitrack type 3"),
    ("96 06 61763031 00", "packet type 6 inside a multitrack"),
    ("96 07 61763031 00", "packet type 7 inside a multitrack"),
    ("96 09 61763031 00", "unknown packet type 9"),
    ("96 01 61763031", "track id is cut short"),
    ("96 11 61763031 00 0000", "size is cut short"),
    ("96 11 61763031 00 000010 aa", "claims 16 bytes, only 1 remain"),
    ("96 11 61763031 00 000001 aa 01", "size is cut short"),
    ("96 21 6876", "FourCC is cut short"),
    ("96 11 68766331 00 000002 0000", "too short for its composition time"),
    ("97", "ModEx size is cut short"),
    ("97 ff 00", "16-bit size is cut short"),
    ("97 05 000000", "ModEx data of 6 bytes is cut short"),
    ("97 02 000000", "ModEx data of 3 bytes is cut short"),
    ("97 01 0001 01 61763031", "TimestampOffsetNano has 2 bytes of data, needs 3"),
    ("97 02 0f4240 01 61763031", "TimestampOffsetNano 1000000 is above 999999"),
    ("97 02 000000 06 31", "unknown multitrack type 3"),
    ("97 02 000000 08 61763031", "unknown packet type 8"),
]


@pytest.mark.parametrize(("hex_text", "message"), ERROR_CASES)
def test_malformed_tags_raise_protocol_error(hex_text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        parse_video_tag(tag(hex_text))


@pytest.mark.parametrize(("hex_text", "message"), ERROR_CASES)
def test_hot_path_checks_never_raise_on_malformed_tags(hex_text: str, message: str) -> None:
    del message
    data = tag(hex_text)
    assert is_video_keyframe(data) in (True, False)
    assert is_video_sequence_header(data) in (True, False)
    assert is_video_configuration(data) in (True, False)


# --- Hot-path checks agree with the parser ----------------------------------------------------

HOT_PATH_CASES = [
    # (hex, keyframe, sequence header)
    ("17 00 000000 01", False, True),
    ("17 01 000050 00", True, False),
    ("27 01 000000 00", False, False),
    ("17 02 000000", False, False),
    ("47 01 000000 00", True, False),
    ("1c 00 000000 01", False, True),
    ("1c 01 000000 01", True, False),
    ("12 00", True, False),  # H.263 key frame: no packet type, the byte is picture data
    ("22 00", False, False),
    ("57 00", False, False),
    ("90 68766331 01", False, True),
    ("91 68766331 000000 00", True, False),
    ("93 68766331 00", True, False),
    ("c3 68766331 00", True, False),  # generated key frame
    ("a3 68766331 00", False, False),
    ("94 61763031 00", False, False),  # metadata is not a keyframe
    ("d4 61763031 00", False, False),
    ("95 61763031 00", False, True),
    ("92 61763031", False, False),
    ("96 00 61763031 00 aa", False, True),
    ("96 01 61763031 00 aa", True, False),
    ("a6 01 61763031 00 aa", False, False),
    ("97 02 000001 01 61763031 aa", True, False),
    ("97 02 000001 00 61763031 aa", False, True),
    ("97 02 000001 06 03 61763031 00 aa", True, False),
]


@pytest.mark.parametrize(("hex_text", "keyframe", "sequence_header"), HOT_PATH_CASES)
def test_hot_path_checks(hex_text: str, keyframe: bool, sequence_header: bool) -> None:
    data = tag(hex_text)
    assert is_video_keyframe(data) is keyframe
    assert is_video_sequence_header(data) is sequence_header
    header = parse_video_tag(data)
    assert header.is_keyframe is keyframe
    assert header.is_sequence_header is sequence_header
    # Views and bytearrays work as well as bytes.
    assert is_video_keyframe(memoryview(data)) is keyframe
    assert is_video_sequence_header(bytearray(data)) is sequence_header


@pytest.mark.parametrize(
    ("hex_text", "configuration"),
    [
        ("17 00 000000 01", True),  # AVC sequence header
        ("17 02 000000", True),  # AVC end of sequence
        ("17 01 000050 00", False),
        ("27 01 000000 00", False),
        ("12 00", False),  # H.263 pictures
        ("90 68766331 01", True),  # SequenceStart
        ("92 61763031", True),  # SequenceEnd
        ("94 61763031 00", True),  # Metadata (colorInfo)
        ("d4 68766331 02", True),  # Metadata with the command frame type, as FFmpeg sends it
        ("95 61763031 00", True),  # MPEG2TSSequenceStart
        ("91 68766331 000000 00", False),
        ("a3 68766331 00", False),
        ("d1 68766331 000000", False),  # a command frame with coded frames: not configuration
        ("57 00", False),  # legacy command frame
        ("97 02 000001 04 61763031 aa", True),  # ModEx around Metadata
        ("96 04 61763031 00 aa", True),  # multitrack Metadata
        ("", False),
        ("97", False),
    ],
)
def test_configuration_is_whatever_carries_no_picture(hex_text: str, configuration: bool) -> None:
    data = tag(hex_text)
    assert is_video_configuration(data) is configuration
    assert is_video_configuration(memoryview(data)) is configuration
    if is_video_sequence_header(data):
        assert configuration  # every sequence header is configuration
    if configuration:
        assert not is_video_keyframe(data)


def test_hot_path_checks_need_only_the_first_bytes() -> None:
    # A relay may hand over a large frame: the answer depends on the first bytes only.
    big = tag("17 01 000000") + bytes(1_000_000)
    assert is_video_keyframe(big)
    assert not is_video_sequence_header(big)
    assert not is_video_keyframe(b"")
    assert not is_video_sequence_header(b"")
    assert not is_video_keyframe(tag("17"))
    assert not is_video_keyframe(tag("97 05 00"))
    assert not is_video_keyframe(tag("97 ff 00"))
    assert not is_video_sequence_header(tag("96"))


def test_multitrack_metadata_ignores_the_frame_type_too() -> None:
    header = parse_video_tag(tag("86 04 61763031 02 0200"))
    assert header.frame_type == 0
    assert header.packet_type == VideoPacketType.METADATA
    assert header.tracks == (VideoTrack(2, AV01, VideoPacketType.METADATA, 0, 7, 2),)
    # A command frame type on a multitrack message makes it a command (the spec checks the
    # command before the multitrack wrapper).
    assert parse_video_tag(tag("d6 04 61763031 02")).command == 4
