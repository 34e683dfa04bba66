"""FLV files and audio/video tag headers, legacy and Enhanced RTMP (sans-I/O).

* :mod:`~rtmp_actors.media.flv`: FLV header, tags, streaming reader and writer.
* :mod:`~rtmp_actors.media.video` and :mod:`~rtmp_actors.media.audio`: tag header parsing and
  the cheap per-message checks a relay needs (keyframe, sequence header).
* :mod:`~rtmp_actors.media.metadata`: ``onMetaData`` to and from :class:`StreamMetadata`.
* :mod:`~rtmp_actors.media.codecs`: codec ids, FourCCs and readable codec names.
"""

from rtmp_actors.media.audio import (
    AacPacketType,
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
    is_audio_sequence_header,
    parse_audio_tag,
)
from rtmp_actors.media.codecs import (
    AudioFourCC,
    SoundFormat,
    VideoCodecId,
    VideoFourCC,
    audio_codec_id,
    audio_codec_name,
    fourcc_from_number,
    fourcc_to_number,
    video_codec_id,
    video_codec_name,
)
from rtmp_actors.media.enhanced import MAX_TIMESTAMP_OFFSET_NANO, AvMultitrackType, ModEx, ModExType
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
from rtmp_actors.media.metadata import StreamMetadata, parse_on_metadata
from rtmp_actors.media.video import (
    AvcPacketType,
    VideoCommand,
    VideoFrameType,
    VideoPacketType,
    VideoTagHeader,
    VideoTrack,
    is_video_keyframe,
    is_video_sequence_header,
    parse_video_tag,
)

__all__ = [
    "DEFAULT_MAX_TAG_SIZE",
    "MAX_TIMESTAMP_OFFSET_NANO",
    "AacPacketType",
    "AudioChannel",
    "AudioChannelMask",
    "AudioChannelOrder",
    "AudioFourCC",
    "AudioPacketType",
    "AudioTagHeader",
    "AudioTrack",
    "AvMultitrackType",
    "AvcPacketType",
    "FlvHeader",
    "FlvReader",
    "FlvTag",
    "FlvWriter",
    "ModEx",
    "ModExType",
    "MultichannelConfig",
    "SoundFormat",
    "SoundRate",
    "SoundSize",
    "SoundType",
    "StreamMetadata",
    "TagType",
    "VideoCodecId",
    "VideoCommand",
    "VideoFourCC",
    "VideoFrameType",
    "VideoPacketType",
    "VideoTagHeader",
    "VideoTrack",
    "audio_codec_id",
    "audio_codec_name",
    "fourcc_from_number",
    "fourcc_to_number",
    "is_audio_sequence_header",
    "is_video_keyframe",
    "is_video_sequence_header",
    "parse_audio_tag",
    "parse_on_metadata",
    "parse_video_tag",
    "read_flv_file",
    "video_codec_id",
    "video_codec_name",
    "write_flv_file",
]
