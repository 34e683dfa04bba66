"""Audio tag headers: golden bytes for legacy and enhanced forms, errors, the hot-path check."""

from __future__ import annotations

import pytest

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media.audio import (
    AudioChannel,
    AudioChannelMask,
    AudioChannelOrder,
    AudioPacketType,
    AudioTagHeader,
    AudioTrack,
    MultichannelConfig,
    SoundRate,
    SoundSize,
    SoundType,
    is_audio_configuration,
    is_audio_sequence_header,
    parse_audio_tag,
)
from rtmp_actors.media.codecs import AudioFourCC, SoundFormat
from rtmp_actors.media.enhanced import AvMultitrackType, ModEx, ModExType

START = AudioPacketType.SEQUENCE_START
CODED = AudioPacketType.CODED_FRAMES
CONFIG = AudioPacketType.MULTICHANNEL_CONFIG
OPUS = AudioFourCC.OPUS


def tag(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


def legacy(
    sound_format: int,
    rate: SoundRate,
    size: SoundSize,
    channels: SoundType,
    packet_type: AudioPacketType,
    header_size: int,
    payload_size: int,
) -> AudioTagHeader:
    return AudioTagHeader(
        sound_format=sound_format,
        enhanced=False,
        packet_type=packet_type,
        sound_rate=rate,
        sound_size=size,
        sound_type=channels,
        fourcc=None,
        multitrack_type=None,
        tracks=(AudioTrack(0, None, packet_type, header_size, payload_size),),
        timestamp_offset_nano=0,
        mod_ex=(),
        header_size=header_size,
    )


def enhanced(
    tracks: tuple[AudioTrack, ...],
    *,
    multitrack_type: AvMultitrackType | None = None,
    nano: int = 0,
    mod_ex: tuple[ModEx, ...] = (),
) -> AudioTagHeader:
    first = tracks[0]
    return AudioTagHeader(
        sound_format=SoundFormat.EX_HEADER,
        enhanced=True,
        packet_type=first.packet_type,
        sound_rate=None,
        sound_size=None,
        sound_type=None,
        fourcc=first.fourcc,
        multitrack_type=multitrack_type,
        tracks=tracks,
        timestamp_offset_nano=nano,
        mod_ex=mod_ex,
        header_size=first.payload_offset,
    )


K44, K22, K11, K5 = SoundRate.KHZ_44, SoundRate.KHZ_22, SoundRate.KHZ_11, SoundRate.KHZ_5_5
B16, B8 = SoundSize.BITS_16, SoundSize.BITS_8
STEREO, MONO = SoundType.STEREO, SoundType.MONO

LEGACY_CASES = [
    pytest.param(
        "af 00 1190", legacy(SoundFormat.AAC, K44, B16, STEREO, START, 2, 2), id="aac-config"
    ),
    pytest.param(
        "af 01 21100465", legacy(SoundFormat.AAC, K44, B16, STEREO, CODED, 2, 4), id="aac-raw"
    ),
    pytest.param(
        "2a fffb9064", legacy(SoundFormat.MP3, K22, B16, MONO, CODED, 1, 4), id="mp3-22k-mono"
    ),
    pytest.param("e6 fffb", legacy(SoundFormat.MP3_8K, K11, B16, MONO, CODED, 1, 2), id="mp3-8k"),
    pytest.param(
        "72 d5d5", legacy(SoundFormat.G711_A_LAW, K5, B16, MONO, CODED, 1, 2), id="g711-alaw"
    ),
    pytest.param(
        "80 ff", legacy(SoundFormat.G711_MU_LAW, K5, B8, MONO, CODED, 1, 1), id="g711-mulaw"
    ),
    pytest.param(
        "3f 0100", legacy(SoundFormat.PCM_LITTLE_ENDIAN, K44, B16, STEREO, CODED, 1, 2), id="pcm"
    ),
    pytest.param(
        "52 00", legacy(SoundFormat.NELLYMOSER_8K_MONO, K5, B16, MONO, CODED, 1, 1), id="nelly-8k"
    ),
    pytest.param("b6", legacy(SoundFormat.SPEEX, K11, B16, MONO, CODED, 1, 0), id="speex-empty"),
    pytest.param("c0 00", legacy(12, K5, B8, MONO, CODED, 1, 1), id="reserved-format-kept"),
]


@pytest.mark.parametrize(("hex_text", "expected"), LEGACY_CASES)
def test_legacy_golden(hex_text: str, expected: AudioTagHeader) -> None:
    assert parse_audio_tag(tag(hex_text)) == expected


def test_legacy_details() -> None:
    data = tag("af 01 21100465")
    header = parse_audio_tag(data)
    assert header.codec_name == "AAC"
    assert bytes(header.payload(data)) == tag("21100465")
    assert header.payload(data).obj is data
    assert header.sound_rate is not None
    assert header.sound_rate.hz == 44100
    assert [rate.hz for rate in SoundRate] == [5512, 11025, 22050, 44100]
    assert parse_audio_tag(tag("c0 00")).codec_name == "audio codec 12"
    assert parse_audio_tag(tag("2a ff")).codec_name == "MP3"


def test_empty_message_is_silence() -> None:
    header = parse_audio_tag(b"")
    assert header.is_silence
    assert header.sound_format is None
    assert header.packet_type is None
    assert header.tracks == ()
    assert header.codec_name is None
    assert header.multichannel_config is None
    assert bytes(header.payload(b"")) == b""
    assert not header.is_sequence_header
    assert not parse_audio_tag(tag("af 01 00")).is_silence


# --- Enhanced, single track -----------------------------------------------------------------------

ENHANCED_CASES = [
    pytest.param(
        "90 4f707573 4f707573486561640101380180bb000000 0000",
        enhanced((AudioTrack(0, OPUS, START, 5, 19),)),
        id="opus-sequence-start",
    ),
    pytest.param(
        "91 4f707573 f87249", enhanced((AudioTrack(0, OPUS, CODED, 5, 3),)), id="opus-coded"
    ),
    pytest.param(
        "92 664c6143",
        enhanced((AudioTrack(0, AudioFourCC.FLAC, AudioPacketType.SEQUENCE_END, 5, 0),)),
        id="flac-sequence-end",
    ),
    pytest.param(
        "90 6d703461 1190",
        enhanced((AudioTrack(0, AudioFourCC.AAC, START, 5, 2),)),
        id="mp4a-sequence-start",
    ),
    pytest.param(
        "91 61632d33 0b77",
        enhanced((AudioTrack(0, AudioFourCC.AC3, CODED, 5, 2),)),
        id="ac-3-coded",
    ),
    pytest.param(
        "91 65632d33 0b77",
        enhanced((AudioTrack(0, AudioFourCC.EAC3, CODED, 5, 2),)),
        id="ec-3-coded",
    ),
    pytest.param(
        "91 2e6d7033 fffb",
        enhanced((AudioTrack(0, AudioFourCC.MP3, CODED, 5, 2),)),
        id="mp3-fourcc-coded",
    ),
    pytest.param(
        "91 61626364 00", enhanced((AudioTrack(0, "abcd", CODED, 5, 1),)), id="unknown-fourcc"
    ),
]


@pytest.mark.parametrize(("hex_text", "expected"), ENHANCED_CASES)
def test_enhanced_golden(hex_text: str, expected: AudioTagHeader) -> None:
    assert parse_audio_tag(tag(hex_text)) == expected


def test_enhanced_names_and_payload() -> None:
    data = tag("90 4f707573 4f707573486561640101380180bb0000000000")
    header = parse_audio_tag(data)
    assert header.codec_name == "Opus"
    assert header.is_sequence_header
    assert bytes(header.payload(data)).startswith(b"OpusHead")
    assert parse_audio_tag(tag("92 664c6143")).is_sequence_end


# --- MultichannelConfig ---------------------------------------------------------------------------


def test_multichannel_native_order_with_mask() -> None:
    # 5.1: front left/right/centre, LFE, back left/right.
    data = tag("94 4f707573 01 06 0000003f")
    header = parse_audio_tag(data)
    config = MultichannelConfig(AudioChannelOrder.NATIVE, 6, AudioChannelMask(0x3F))
    assert header == enhanced((AudioTrack(0, OPUS, CONFIG, 11, 0, config),))
    assert header.multichannel_config == config
    mask = config.channel_mask
    assert mask is not None
    assert AudioChannelMask.LOW_FREQUENCY_1 in mask
    assert AudioChannelMask.SIDE_LEFT not in mask
    assert not header.is_sequence_header


def test_multichannel_native_mask_keeps_unknown_bits() -> None:
    header = parse_audio_tag(tag("94 4f707573 01 01 81000004"))
    config = header.multichannel_config
    assert config is not None
    assert config.channel_mask == 0x81000004
    assert config.channel_mask is not None
    assert AudioChannelMask.FRONT_CENTER in config.channel_mask


def test_multichannel_custom_order_with_map() -> None:
    data = tag("94 61632d33 02 04 00 01 fe 30")
    header = parse_audio_tag(data)
    config = header.multichannel_config
    assert config == MultichannelConfig(
        AudioChannelOrder.CUSTOM,
        4,
        None,
        (AudioChannel.FRONT_LEFT, AudioChannel.FRONT_RIGHT, AudioChannel.UNUSED, 0x30),
    )
    assert header.tracks[0].payload_offset == 11
    assert header.tracks[0].payload_size == 0


def test_multichannel_unspecified_order() -> None:
    header = parse_audio_tag(tag("94 6d703461 00 02"))
    assert header.multichannel_config == MultichannelConfig(AudioChannelOrder.UNSPECIFIED, 2)
    assert header.header_size == 7


# --- Multitrack ---------------------------------------------------------------------------------


def test_multitrack_one_track() -> None:
    # What FFmpeg writes for a second audio stream: OneTrack, CodedFrames, Opus, track 1.
    data = tag("95 01 4f707573 01 f8afe9")
    header = parse_audio_tag(data)
    assert header == enhanced(
        (AudioTrack(1, OPUS, CODED, 7, 3),), multitrack_type=AvMultitrackType.ONE_TRACK
    )
    assert header.is_multitrack


def test_multitrack_many_tracks() -> None:
    data = tag("95 11 6d703461  00 000002 aabb  01 000001 cc")
    header = parse_audio_tag(data)
    assert header == enhanced(
        (
            AudioTrack(0, AudioFourCC.AAC, CODED, 10, 2),
            AudioTrack(1, AudioFourCC.AAC, CODED, 16, 1),
        ),
        multitrack_type=AvMultitrackType.MANY_TRACKS,
    )
    assert [bytes(t.payload(data)) for t in header.tracks] == [tag("aabb"), tag("cc")]


def test_multitrack_many_codecs_with_per_track_channel_config() -> None:
    data = tag("95 24  4f707573 00 000006 01 02 00000003  65632d33 01 000002 00 06")
    header = parse_audio_tag(data)
    assert header == enhanced(
        (
            AudioTrack(
                0,
                OPUS,
                CONFIG,
                16,
                0,
                MultichannelConfig(AudioChannelOrder.NATIVE, 2, AudioChannelMask(3)),
            ),
            AudioTrack(
                1,
                AudioFourCC.EAC3,
                CONFIG,
                26,
                0,
                MultichannelConfig(AudioChannelOrder.UNSPECIFIED, 6),
            ),
        ),
        multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
    )


# --- ModEx ---------------------------------------------------------------------------------------


def test_mod_ex_nano_offset() -> None:
    data = tag("97 02 0001f4 01 4f707573 f8")
    header = parse_audio_tag(data)
    assert header == enhanced(
        (AudioTrack(0, OPUS, CODED, 10, 1),),
        nano=500,
        mod_ex=(ModEx(ModExType.TIMESTAMP_OFFSET_NANO, tag("0001f4")),),
    )


def test_mod_ex_256_escape_then_multitrack() -> None:
    body = bytes(range(256))
    data = tag("97 ff 00ff") + body + tag("15  00 2e6d7033 02 fffb")
    header = parse_audio_tag(data)
    assert header.mod_ex == (ModEx(1, body),)
    assert header.timestamp_offset_nano == 0
    assert header.multitrack_type == AvMultitrackType.ONE_TRACK
    assert header.tracks == (AudioTrack(2, AudioFourCC.MP3, START, 4 + 256 + 1 + 1 + 4 + 1, 2),)
    assert is_audio_sequence_header(data)


# --- Errors -------------------------------------------------------------------------------------

ERROR_CASES = [
    ("af", "AAC header is cut short"),
    ("af 02 00", "unknown AAC packet type 2"),
    ("90 4f70", "FourCC is cut short"),
    ("93 4f707573", "unknown packet type 3"),
    ("96 4f707573", "unknown packet type 6"),
    ("9f 4f707573", "unknown packet type 15"),
    ("95", "multitrack type is cut short"),
    ("95 31 4f707573 00", "unknown multitrack type 3"),
    ("95 05 4f707573 00", "packet type 5 inside a multitrack"),
    ("95 07 4f707573 00", "packet type 7 inside a multitrack"),
    ("95 01 4f707573", "track id is cut short"),
    ("95 11 4f707573 00 000005 aa", "claims 5 bytes, only 1 remain"),
    ("95 21 4f70", "FourCC is cut short"),
    ("94 4f707573 01", "cut short before its channel order and count"),
    ("94 4f707573 01 06 0000", "cut short before its channel mask"),
    ("94 4f707573 02 04 0001", "cut short in its map of 4 channels"),
    ("94 4f707573 03 02", "unknown channel order 3"),
    ("95 14 4f707573 00 000001 01", "cut short before its channel order and count"),
    ("97", "ModEx size is cut short"),
    ("97 02 0f4240 01 4f707573", "TimestampOffsetNano 1000000 is above 999999"),
    ("97 00 00 01 4f707573", "TimestampOffsetNano has 1 bytes of data, needs 3"),
    ("97 02 000000 03 4f707573", "unknown packet type 3"),
]


@pytest.mark.parametrize(("hex_text", "message"), ERROR_CASES)
def test_malformed_tags_raise_protocol_error(hex_text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        parse_audio_tag(tag(hex_text))
    assert is_audio_sequence_header(tag(hex_text)) in (True, False)


# --- Hot-path check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_text", "expected"),
    [
        ("af 00 1190", True),
        ("af 01 21", False),
        ("a0 00", True),  # any AAC rate/size/type bits
        ("2f 00", False),  # MP3: the second byte is frame data
        ("90 4f707573 00", True),
        ("91 4f707573 00", False),
        ("94 4f707573 01 01 00000004", False),
        ("95 00 4f707573 01 00", True),
        ("95 01 4f707573 01 00", False),
        ("97 02 000001 00 4f707573", True),
        ("97 02 000001 05 20 4f707573 00 000000", True),
        ("af", False),
        ("", False),
        ("97 02 00", False),
        ("95", False),
    ],
)
def test_is_audio_sequence_header(hex_text: str, expected: bool) -> None:
    data = tag(hex_text)
    assert is_audio_sequence_header(data) is expected
    assert is_audio_sequence_header(memoryview(data)) is expected
    try:
        header = parse_audio_tag(data)
    except RemoteProtocolError:
        assert not expected
    else:
        assert header.is_sequence_header is expected


@pytest.mark.parametrize(
    ("hex_text", "expected"),
    [
        ("af 00 1190", True),
        ("af 01 21", False),
        ("90 4f707573 00", True),  # SequenceStart
        ("92 4f707573", True),  # SequenceEnd
        ("94 4f707573 01 01 00000004", True),  # MultichannelConfig
        ("91 4f707573 00", False),
        ("95 01 4f707573 01 00", False),
        ("2f 00", False),
        ("", False),
        ("97 02 00", False),
    ],
)
def test_audio_configuration_is_whatever_carries_no_samples(hex_text: str, expected: bool) -> None:
    data = tag(hex_text)
    assert is_audio_configuration(data) is expected
    if is_audio_sequence_header(data):
        assert expected
