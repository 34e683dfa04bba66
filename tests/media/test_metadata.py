"""onMetaData to and from StreamMetadata, and the codec naming behind it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.media.codecs import (
    AudioFourCC,
    VideoFourCC,
    audio_codec_id,
    audio_codec_name,
    fourcc_from_number,
    fourcc_to_number,
    video_codec_id,
    video_codec_name,
)
from rtmp_actors.media.metadata import StreamMetadata, parse_on_metadata

AV01 = 0x61763031  # 'av01' == 1635135537, the spec's example
OPUS = 0x4F707573  # 'Opus' == 1332770163

# What FFmpeg 9 writes for AV1 + Opus, as an AMF decoder hands it over (numbers are floats).
FFMPEG_AV1_OPUS = {
    "duration": 2.007,
    "width": 320.0,
    "height": 240.0,
    "videodatarate": 0.0,
    "framerate": 25.0,
    "videocodecid": 1635135537.0,
    "audiodatarate": 62.5,
    "audiosamplerate": 48000.0,
    "audiosamplesize": 16.0,
    "stereo": False,
    "audiocodecid": 1332770163.0,
    "encoder": "Lavf63.1.102",
    "filesize": 131836.0,
}


def test_from_ffmpeg_dict() -> None:
    metadata = StreamMetadata.from_dict(FFMPEG_AV1_OPUS)
    assert metadata == StreamMetadata(
        video_width=320,
        video_height=240,
        video_codec="AV1",
        video_codec_id=AV01,
        video_frame_rate=25.0,
        video_bitrate_kbps=0.0,
        audio_codec="Opus",
        audio_codec_id=OPUS,
        audio_bitrate_kbps=62.5,
        audio_sample_rate=48000,
        audio_sample_size=16,
        audio_is_stereo=False,
        encoder="Lavf63.1.102",
        duration=2.007,
        file_size=131836,
    )
    assert isinstance(metadata.video_width, int)
    assert metadata.extra == {}
    assert metadata.audio_channels is None


def test_to_dict_for_publishing() -> None:
    metadata = StreamMetadata(
        video_width=1920,
        video_height=1080,
        video_codec="H.264",
        video_frame_rate=30.0,
        video_bitrate_kbps=4500.0,
        audio_codec="AAC",
        audio_bitrate_kbps=160.0,
        audio_sample_rate=48000,
        audio_channels=2,
        audio_is_stereo=True,
        encoder="rtmp_actors",
    )
    assert metadata.to_dict() == {
        "width": 1920,
        "height": 1080,
        "videodatarate": 4500.0,
        "framerate": 30.0,
        "videocodecid": 7,
        "audiodatarate": 160.0,
        "audiosamplerate": 48000,
        "stereo": True,
        "audiochannels": 2,
        "audiocodecid": 10,
        "encoder": "rtmp_actors",
    }
    assert StreamMetadata().to_dict() == {}


@pytest.mark.parametrize(
    ("video_codec", "audio_codec", "videocodecid", "audiocodecid"),
    [
        ("H.264", "AAC", 7, 10),
        ("HEVC", "Opus", 0x68766331, OPUS),  # no standard legacy id: the FourCC
        ("AV1", "FLAC", AV01, 0x664C6143),
        ("VP9", "MP3", 0x76703039, 2),
        ("VP8", "AC-3", 0x76703038, 0x61632D33),
        ("VVC", "E-AC-3", 0x76766331, 0x65632D33),
        ("On2 VP6", "Speex", 4, 11),
        ("hvc1", "Opus", 0x68766331, OPUS),  # a FourCC works as a name too
    ],
)
def test_codec_names_become_ids(
    video_codec: str, audio_codec: str, videocodecid: int, audiocodecid: int
) -> None:
    written = StreamMetadata(video_codec=video_codec, audio_codec=audio_codec).to_dict()
    assert written == {"videocodecid": videocodecid, "audiocodecid": audiocodecid}


def test_codec_id_wins_over_name_when_both_are_given() -> None:
    # avc1 as an Enhanced FourCC, named H.264 like the legacy id.
    metadata = StreamMetadata(video_codec="H.264", video_codec_id=0x61766331)
    assert metadata.to_dict() == {"videocodecid": 0x61766331}
    assert StreamMetadata.from_dict(metadata.to_dict()).video_codec == "H.264"


def test_unknown_codec_name_is_a_programming_error() -> None:
    with pytest.raises(LocalProtocolError, match=r"unknown video codec name 'H\.266'"):
        StreamMetadata(video_codec="H.266")
    with pytest.raises(LocalProtocolError, match="unknown audio codec name"):
        StreamMetadata(audio_codec="Vorbis")


@pytest.mark.parametrize(
    ("value", "name", "number"),
    [
        (7.0, "H.264", 7),
        (12.0, "HEVC", 12),  # the de facto legacy HEVC id
        (2.0, "Sorenson H.263", 2),
        (9.0, "video codec 9", 9),
        (1752589105.0, "HEVC", 0x68766331),
        (1635135537, "AV1", AV01),
        (0x61766331, "H.264", 0x61766331),
        (0x78797A31, "xyz1", 0x78797A31),  # unknown FourCC: itself
        (0x00000100, "video codec 256", 0x100),  # not printable: a number
        ("avc1", "H.264", 0x61766331),  # some encoders write the FourCC as a string
    ],
)
def test_video_codec_id_forms(value: Any, name: str, number: int) -> None:
    metadata = StreamMetadata.from_dict({"videocodecid": value})
    assert metadata.video_codec == name
    assert metadata.video_codec_id == number
    assert metadata.extra == {}


@pytest.mark.parametrize(
    ("value", "name"),
    [(10, "AAC"), (2, "MP3"), (14, "MP3 8 kHz"), (7, "G.711 A-law"), (OPUS, "Opus")],
)
def test_audio_codec_id_forms(value: int, name: str) -> None:
    assert StreamMetadata.from_dict({"audiocodecid": float(value)}).audio_codec == name


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("width", "320"),
        ("width", -1.0),
        ("width", 320.5),
        ("width", True),
        ("width", math.inf),
        ("height", None),
        ("framerate", math.nan),
        ("duration", -2.0),
        ("videocodecid", 2.0**40),
        ("videocodecid", "h.264"),
        ("videocodecid", "\u0100vc1"),
        ("audiocodecid", [10]),
        ("stereo", 1.0),
        ("encoder", 42.0),
        ("filesize", "big"),
        ("videoTrackIdInfoMap", "nope"),
        ("videoTrackIdInfoMap", {}),
        ("videoTrackIdInfoMap", {"first": {"width": 1.0}}),
        ("videoTrackIdInfoMap", {"256": {"width": 1.0}}),
        ("videoTrackIdInfoMap", {"01": {"width": 1.0}}),
        ("audioTrackIdInfoMap", {"1": 5.0}),
    ],
)
def test_unusable_values_go_to_extra(key: str, value: Any) -> None:
    metadata = StreamMetadata.from_dict({key: value, "width2": 1.0})
    assert metadata.to_dict().keys() == {key, "width2"}
    assert metadata.extra.keys() == {key, "width2"}
    assert metadata.video_width is None
    assert metadata.video_codec is None
    assert metadata.video_tracks == {}


def test_unknown_properties_survive_a_round_trip() -> None:
    source = {"width": 640.0, "creationdate": "Mon Jan 1", "hasKeyframes": True, "x": [1, 2]}
    metadata = StreamMetadata.from_dict(source)
    assert metadata.extra == {"creationdate": "Mon Jan 1", "hasKeyframes": True, "x": [1, 2]}
    assert metadata.to_dict() == {"width": 640, **metadata.extra}


def test_track_info_maps() -> None:
    source = {
        "videocodecid": float(AV01),
        "width": 1920.0,
        "videoTrackIdInfoMap": {
            "1": {"width": 1280.0, "height": 720.0, "videodatarate": 2000.0},
            "2": {"videocodecid": float(0x68766331), "width": 3840.0, "height": 2160.0},
        },
        "audioTrackIdInfoMap": {"1": {"audiocodecid": float(OPUS), "language": "fr"}},
    }
    metadata = StreamMetadata.from_dict(source)
    assert metadata.video_tracks == {
        1: StreamMetadata(video_width=1280, video_height=720, video_bitrate_kbps=2000.0),
        2: StreamMetadata(video_codec="HEVC", video_width=3840, video_height=2160),
    }
    assert metadata.audio_tracks == {
        1: StreamMetadata(audio_codec="Opus", extra={"language": "fr"})
    }
    written = metadata.to_dict()
    assert written["videoTrackIdInfoMap"] == {
        "1": {"width": 1280, "height": 720, "videodatarate": 2000.0},
        "2": {"width": 3840, "height": 2160, "videocodecid": 0x68766331},
    }
    assert written["audioTrackIdInfoMap"] == {"1": {"audiocodecid": OPUS, "language": "fr"}}
    assert StreamMetadata.from_dict(written) == metadata


def test_metadata_is_immutable() -> None:
    tracks = {1: StreamMetadata(video_width=1)}
    metadata = StreamMetadata(video_tracks=tracks, extra={"a": 1})
    tracks[2] = StreamMetadata()
    assert list(metadata.video_tracks) == [1]  # a copy was taken
    with pytest.raises(TypeError):
        metadata.extra["b"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        metadata.video_width = 5  # type: ignore[misc]
    assert hash(metadata) == hash(StreamMetadata(video_tracks=tracks, extra={"a": 1}))


def test_repr_shows_only_what_is_set() -> None:
    metadata = StreamMetadata(video_width=320, extra={"x": 1})
    assert repr(metadata) == "StreamMetadata(video_width=320, extra=mappingproxy({'x': 1}))"


@pytest.mark.parametrize(
    ("values", "expected_width"),
    [
        (["onMetaData", {"width": 320.0}], 320),
        (["@setDataFrame", "onMetaData", {"width": 640.0}], 640),
    ],
)
def test_parse_on_metadata(values: list[Any], expected_width: int) -> None:
    metadata = parse_on_metadata(values)
    assert metadata is not None
    assert metadata.video_width == expected_width


@pytest.mark.parametrize(
    "values",
    [[], ["onMetaData"], ["onCuePoint", {}], ["onMetaData", 5.0], ["@setDataFrame", "x", {}]],
)
def test_parse_on_metadata_rejects_other_calls(values: list[Any]) -> None:
    assert parse_on_metadata(values) is None


# --- Codec helpers --------------------------------------------------------------------------------


def test_fourcc_numbers() -> None:
    assert fourcc_to_number("av01") == 1635135537
    assert fourcc_to_number(AudioFourCC.OPUS) == 1332770163
    assert fourcc_from_number(1635135537) == VideoFourCC.AV1
    with pytest.raises(LocalProtocolError, match="four characters"):
        fourcc_to_number("abc")
    with pytest.raises(LocalProtocolError, match="32-bit"):
        fourcc_from_number(1 << 32)


def test_codec_names_both_ways() -> None:
    for fourcc in VideoFourCC:
        assert video_codec_name(video_codec_id(video_codec_name(fourcc))) == video_codec_name(
            fourcc
        )
    for audio_fourcc in AudioFourCC:
        name = audio_codec_name(audio_fourcc)
        assert audio_codec_name(audio_codec_id(name)) == name
    assert video_codec_name("vp09") == "VP9"
    assert audio_codec_name(".mp3") == "MP3"
    assert audio_codec_id("MP3") == 2  # the legacy id, not the '.mp3' FourCC
    assert video_codec_id("HEVC") == 0x68766331  # 12 is not standard


# --- Properties ---------------------------------------------------------------------------------

AMF_SCALARS = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=8)
)
AMF_VALUES = st.recursive(
    AMF_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
KNOWN_KEYS = st.sampled_from(
    [
        "duration", "width", "height", "videodatarate", "framerate", "videocodecid",
        "audiodatarate", "audiosamplerate", "audiosamplesize", "stereo", "audiochannels",
        "audiocodecid", "encoder", "filesize", "videoTrackIdInfoMap", "audioTrackIdInfoMap",
    ]
)  # fmt: skip
TRACK_MAPS = st.dictionaries(
    st.sampled_from(["0", "1", "01", "2", "7", "255", "256", "x"]),
    st.dictionaries(KNOWN_KEYS, AMF_VALUES, max_size=3) | AMF_SCALARS,
    max_size=3,
)
METADATA_DICTS = st.dictionaries(
    KNOWN_KEYS | st.text(max_size=6), AMF_VALUES | TRACK_MAPS, max_size=8
)


@settings(max_examples=400)
@given(METADATA_DICTS)
def test_from_dict_never_raises_and_round_trips(values: dict[str, Any]) -> None:
    metadata = StreamMetadata.from_dict(values)
    written = metadata.to_dict()
    assert written.keys() == values.keys()
    again = StreamMetadata.from_dict(written)
    assert again == metadata
    assert again.to_dict() == written
