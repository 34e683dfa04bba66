"""FLV files written by the real FFmpeg 9 (legacy and Enhanced), read tag by tag.

Each file is cross-checked against FFmpeg's own demuxer (``-f framecrc``): every coded frame we
find must match FFmpeg's packet in size, Adler-32 checksum, decode timestamp, keyframe flag and
composition time, which proves the header sizes and payload offsets as well as the fields.
"""

from __future__ import annotations

import io
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtmp_actors.media.audio import (
    AudioChannelOrder,
    AudioPacketType,
    is_audio_sequence_header,
    parse_audio_tag,
)
from rtmp_actors.media.codecs import (
    AudioFourCC,
    VideoCodecId,
    VideoFourCC,
    audio_codec_name,
    video_codec_name,
)
from rtmp_actors.media.enhanced import AvMultitrackType
from rtmp_actors.media.flv import FlvHeader, FlvTag, FlvWriter, TagType, read_flv_file
from rtmp_actors.media.metadata import StreamMetadata, parse_on_metadata
from rtmp_actors.media.video import (
    VideoFrameType,
    VideoPacketType,
    is_video_keyframe,
    is_video_sequence_header,
    parse_video_tag,
)
from tests.media.helpers import FfmpegPacket, amf0_values, ffmpeg_packets

pytestmark = pytest.mark.peers

FFMPEG_CODECS = {"H.264": "h264", "HEVC": "hevc", "AV1": "av1", "VP9": "vp9"}
FFMPEG_CODECS |= {"AAC": "aac", "Opus": "opus"}


@dataclass(frozen=True)
class Sample:
    fixture: str
    video_codec: str
    audio_codec: str
    video_codec_id: int
    audio_codec_id: int


SAMPLES = [
    Sample("h264_aac_flv", "H.264", "AAC", 7, 10),
    Sample("hevc_flv", "HEVC", "AAC", int.from_bytes(b"hvc1"), 10),
    Sample("av1_opus_flv", "AV1", "Opus", int.from_bytes(b"av01"), int.from_bytes(b"Opus")),
    Sample("vp9_opus_flv", "VP9", "Opus", int.from_bytes(b"vp09"), int.from_bytes(b"Opus")),
    Sample("multitrack_flv", "H.264", "AAC", 7, 10),
]
SAMPLE_PARAMS = [pytest.param(sample, id=sample.fixture) for sample in SAMPLES]


def sample_path(request: pytest.FixtureRequest, sample: Sample) -> Path:
    path = request.getfixturevalue(sample.fixture)
    assert isinstance(path, Path)
    return path


def media_tags(path: Path) -> list[FlvTag]:
    return [t for t in read_flv_file(path) if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]


def our_packets(path: Path) -> dict[str, list[FfmpegPacket]]:
    """Our view of the coded frames, in the shape of FFmpeg's, grouped by FFmpeg codec name."""
    packets: dict[str, list[FfmpegPacket]] = defaultdict(list)
    for flv_tag in media_tags(path):
        data = flv_tag.data
        if flv_tag.tag_type == TagType.VIDEO:
            video = parse_video_tag(data)
            for track in video.tracks:
                if track.packet_type not in (
                    VideoPacketType.CODED_FRAMES,
                    VideoPacketType.CODED_FRAMES_X,
                ):
                    continue
                name = video_codec_name(track.fourcc) if track.fourcc else video.codec_name
                payload = track.payload(data)
                packets[FFMPEG_CODECS[str(name)]].append(
                    FfmpegPacket(
                        len(payload),
                        zlib.adler32(payload, 0),
                        video.is_keyframe,
                        track.composition_time,
                        flv_tag.timestamp,
                    )
                )
        else:
            audio = parse_audio_tag(data)
            for audio_track in audio.tracks:
                if audio_track.packet_type != AudioPacketType.CODED_FRAMES:
                    continue
                fourcc = audio_track.fourcc
                name = audio_codec_name(fourcc) if fourcc else audio.codec_name
                payload = audio_track.payload(data)
                packets[FFMPEG_CODECS[str(name)]].append(
                    FfmpegPacket(len(payload), zlib.adler32(payload, 0), True, 0, flv_tag.timestamp)
                )
    return dict(packets)


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_every_coded_frame_matches_ffmpegs_demuxer(
    request: pytest.FixtureRequest, sample: Sample
) -> None:
    path = sample_path(request, sample)
    ours = our_packets(path)
    theirs = ffmpeg_packets(path)
    assert set(ours) == set(theirs)
    for codec, packets in theirs.items():
        assert len(packets) > 10, codec
        assert ours[codec] == packets, codec


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_reader_then_writer_reproduces_the_file(
    request: pytest.FixtureRequest, sample: Sample
) -> None:
    path = sample_path(request, sample)
    original = path.read_bytes()
    out = io.BytesIO()
    writer = FlvWriter(out, FlvHeader(has_audio=True, has_video=True))
    for flv_tag in read_flv_file(path):
        writer.write_tag(flv_tag)
    assert out.getvalue() == original


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_on_metadata_script_tag(request: pytest.FixtureRequest, sample: Sample) -> None:
    path = sample_path(request, sample)
    first = next(read_flv_file(path))
    assert first.tag_type == TagType.SCRIPT_DATA
    assert first.timestamp == 0
    assert first.data.startswith(b"\x02\x00\x0aonMetaData\x08")  # string, then ECMA array
    metadata = parse_on_metadata(amf0_values(first.data))
    assert metadata is not None
    assert metadata.video_codec == sample.video_codec
    assert metadata.video_codec_id == sample.video_codec_id
    assert metadata.audio_codec == sample.audio_codec
    assert metadata.audio_codec_id == sample.audio_codec_id
    assert (metadata.video_width, metadata.video_height) == (
        (160, 120) if sample.fixture == "multitrack_flv" else (320, 240)
    )
    assert metadata.video_frame_rate == 25
    assert metadata.audio_sample_rate == 48000
    assert metadata.encoder is not None
    assert metadata.encoder.startswith("Lavf")
    assert metadata.duration is not None
    assert 0.9 < metadata.duration < 2.2
    assert metadata.file_size == path.stat().st_size
    # And back: the typed view writes the same codec numbers FFmpeg wrote.
    written = metadata.to_dict()
    assert written["videocodecid"] == sample.video_codec_id
    assert written["audiocodecid"] == sample.audio_codec_id
    assert StreamMetadata.from_dict(written) == metadata


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_first_video_and_audio_tags_are_sequence_headers(
    request: pytest.FixtureRequest, sample: Sample
) -> None:
    tags = media_tags(request.getfixturevalue(sample.fixture))
    first_video = next(t for t in tags if t.tag_type == TagType.VIDEO)
    video = parse_video_tag(first_video.data)
    assert video.is_sequence_header
    assert is_video_sequence_header(first_video.data)
    assert video.codec_name == sample.video_codec
    assert video.frame_type == VideoFrameType.KEY
    assert video.payload(first_video.data).nbytes > 0
    first_audio = next(t for t in tags if t.tag_type == TagType.AUDIO)
    audio = parse_audio_tag(first_audio.data)
    assert audio.is_sequence_header
    assert is_audio_sequence_header(first_audio.data)
    assert audio.codec_name == sample.audio_codec


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_hot_path_checks_agree_with_the_parser_on_every_tag(
    request: pytest.FixtureRequest, sample: Sample
) -> None:
    keyframes = 0
    for flv_tag in media_tags(request.getfixturevalue(sample.fixture)):
        if flv_tag.tag_type == TagType.VIDEO:
            video = parse_video_tag(flv_tag.data)
            assert is_video_keyframe(flv_tag.data) is video.is_keyframe
            assert is_video_sequence_header(flv_tag.data) is video.is_sequence_header
            keyframes += video.is_keyframe
        else:
            audio = parse_audio_tag(flv_tag.data)
            assert is_audio_sequence_header(flv_tag.data) is audio.is_sequence_header
    assert keyframes >= 2  # -g 25 at 25 fps: a keyframe every second, per video track


@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_timestamps_never_go_back_within_a_track(
    request: pytest.FixtureRequest, sample: Sample
) -> None:
    last: dict[tuple[int, int], int] = {}
    for flv_tag in media_tags(request.getfixturevalue(sample.fixture)):
        if flv_tag.tag_type == TagType.VIDEO:
            track_ids = [t.track_id for t in parse_video_tag(flv_tag.data).tracks]
        else:
            track_ids = [t.track_id for t in parse_audio_tag(flv_tag.data).tracks]
        for track_id in track_ids:
            key = (flv_tag.tag_type, track_id)
            assert flv_tag.timestamp >= last.get(key, 0), key
            last[key] = flv_tag.timestamp
    assert len(last) == (4 if sample.fixture == "multitrack_flv" else 2)


def test_h264_b_frames_have_composition_times(h264_aac_flv: Path) -> None:
    frames = [
        parse_video_tag(t.data) for t in media_tags(h264_aac_flv) if t.tag_type == TagType.VIDEO
    ]
    coded = [f for f in frames if f.packet_type == VideoPacketType.CODED_FRAMES]
    assert all(f.codec_id == VideoCodecId.AVC and not f.enhanced for f in frames)
    assert len(coded) == 50  # two seconds at 25 fps
    assert coded[0].is_keyframe
    assert sum(f.is_keyframe for f in coded) == 2
    assert sum(f.composition_time != 0 for f in coded) > 10
    assert all(f.composition_time >= 0 for f in coded)
    # FFmpeg ends a legacy AVC stream with an end-of-sequence packet.
    assert frames[-1].is_sequence_end


def test_hevc_uses_coded_frames_x_when_there_is_no_reordering(hevc_flv: Path) -> None:
    frames = [parse_video_tag(t.data) for t in media_tags(hevc_flv) if t.tag_type == 9]
    kinds = {f.packet_type for f in frames}
    assert VideoPacketType.CODED_FRAMES_X in kinds
    assert VideoPacketType.CODED_FRAMES in kinds
    assert all(f.composition_time == 0 for f in frames if f.packet_type == 3)
    assert any(f.composition_time > 0 for f in frames if f.packet_type == 1)
    assert all(f.enhanced and f.fourcc == VideoFourCC.HEVC for f in frames)


@pytest.mark.parametrize("fixture", ["hevc_flv", "av1_opus_flv", "vp9_opus_flv"])
def test_enhanced_files_carry_a_color_info_metadata_packet(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    found = []
    for flv_tag in media_tags(request.getfixturevalue(fixture)):
        if flv_tag.tag_type != TagType.VIDEO:
            continue
        video = parse_video_tag(flv_tag.data)
        if video.packet_type == VideoPacketType.METADATA:
            # FFmpeg marks it as a command frame; the spec says to ignore the frame type.
            assert video.frame_type == VideoFrameType.COMMAND
            assert video.command is None
            found.append(amf0_values(bytes(video.payload(flv_tag.data))))
    assert len(found) == 1
    name, color_info = found[0]
    assert name == "colorInfo"
    assert set(color_info) >= {"colorConfig"}


@pytest.mark.parametrize("fixture", ["av1_opus_flv", "vp9_opus_flv"])
def test_opus_multichannel_config_matches_the_opus_head(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    opus_head = None
    configs = []
    for flv_tag in media_tags(request.getfixturevalue(fixture)):
        if flv_tag.tag_type != TagType.AUDIO:
            continue
        audio = parse_audio_tag(flv_tag.data)
        assert audio.fourcc == AudioFourCC.OPUS
        if audio.is_sequence_header:
            opus_head = bytes(audio.payload(flv_tag.data))
        elif audio.packet_type == AudioPacketType.MULTICHANNEL_CONFIG:
            configs.append(audio.multichannel_config)
    assert opus_head is not None
    assert opus_head.startswith(b"OpusHead")
    assert len(configs) == 1
    config = configs[0]
    assert config is not None
    assert config.channel_order == AudioChannelOrder.NATIVE
    assert config.channel_count == opus_head[9]  # the OpusHead channel count byte
    assert config.channel_mask is not None
    assert config.channel_mask.bit_count() == config.channel_count


def test_multitrack_file_tracks(multitrack_flv: Path) -> None:
    video_tracks: dict[int, set[str | None]] = defaultdict(set)
    audio_tracks: dict[int, set[str | None]] = defaultdict(set)
    multitrack_sequence_headers = 0
    for flv_tag in media_tags(multitrack_flv):
        if flv_tag.tag_type == TagType.VIDEO:
            video = parse_video_tag(flv_tag.data)
            for track in video.tracks:
                video_tracks[track.track_id].add(track.fourcc or video.codec_name)
            if video.is_multitrack:
                assert video.multitrack_type == AvMultitrackType.ONE_TRACK
                multitrack_sequence_headers += video.is_sequence_header
        else:
            audio = parse_audio_tag(flv_tag.data)
            for audio_track in audio.tracks:
                audio_tracks[audio_track.track_id].add(audio_track.fourcc or audio.codec_name)
            if audio.is_multitrack:
                assert audio.multitrack_type == AvMultitrackType.ONE_TRACK
    # FFmpeg 9 quirk: the HEVC track's colorInfo Metadata packet is not multitrack-wrapped,
    # so on the wire it belongs to track 0 (the legacy H.264 track).
    assert dict(video_tracks) == {0: {"H.264", VideoFourCC.HEVC}, 1: {VideoFourCC.HEVC}}
    assert dict(audio_tracks) == {0: {"AAC"}, 1: {AudioFourCC.OPUS}}
    assert multitrack_sequence_headers == 1
