"""Video tag headers: legacy FLV (AVC and older codecs) and Enhanced RTMP v1/v2.

:func:`parse_video_tag` reads the header of one video message (an FLV video tag body) into a
:class:`VideoTagHeader`. It never copies the codec payload: each :class:`VideoTrack` says where
its payload starts and how long it is, and :meth:`VideoTrack.payload` slices a memoryview.

:func:`is_video_keyframe` and :func:`is_video_sequence_header` answer the two questions a relay
asks of every message by looking at a few bytes, without building anything.

Legacy AVC packet types are mapped onto :class:`VideoPacketType` (sequence header to
SEQUENCE_START, NALU to CODED_FRAMES, end of sequence to SEQUENCE_END) so callers can treat
legacy and enhanced streams alike; other legacy codecs carry CODED_FRAMES.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media._wire import (
    MOD_EX,
    Buffer,
    need,
    peek_packet_type,
    read_fourcc,
    read_mod_ex,
    read_multitrack,
    si24,
)
from rtmp_actors.media.codecs import VideoCodecId, VideoFourCC, video_codec_name
from rtmp_actors.media.enhanced import AvMultitrackType, ModEx

__all__ = [
    "AvcPacketType",
    "VideoCommand",
    "VideoFrameType",
    "VideoPacketType",
    "VideoTagHeader",
    "VideoTrack",
    "is_video_configuration",
    "is_video_keyframe",
    "is_video_sequence_header",
    "parse_video_tag",
]

_WHAT = "video tag"


class VideoFrameType(IntEnum):
    """The frame type: the high nibble (legacy) or bits 4-6 (enhanced) of the first byte."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoPacketType(IntEnum):
    """Enhanced RTMP video packet types; legacy AVC packet types map onto the first three."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    """Coded frames with an implied composition time of zero."""
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class AvcPacketType(IntEnum):
    """Legacy AVC packet types (the second byte of a CodecID 7 tag)."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class VideoCommand(IntEnum):
    """The byte a command frame (frame type 5) carries instead of video."""

    START_SEEK = 0
    END_SEEK = 1


# Codecs whose CodedFrames carry an SI24 composition time (B-frames reorder them).
_CTS_FOURCCS = frozenset({VideoFourCC.AVC, VideoFourCC.HEVC, VideoFourCC.VVC})
# Legacy codec ids laid out like AVC: packet type byte and SI24 composition time.
_AVC_LIKE = frozenset({int(VideoCodecId.AVC), int(VideoCodecId.HEVC_LEGACY)})
_CODEC_IDS: dict[int, VideoCodecId] = {int(c): c for c in VideoCodecId}
_FOURCCS = {str(fourcc): fourcc for fourcc in VideoFourCC}
_FRAME_TYPES: dict[int, VideoFrameType] = {int(t): t for t in VideoFrameType}
_COMMANDS: dict[int, VideoCommand] = {int(c): c for c in VideoCommand}
# Packet types that may describe media (Multitrack and ModEx are wrappers, handled before).
_MEDIA_PACKET_TYPES: dict[int, VideoPacketType] = {
    int(t): t for t in VideoPacketType if t < VideoPacketType.MULTITRACK
}
_LEGACY_PACKET_TYPES = (
    VideoPacketType.SEQUENCE_START,
    VideoPacketType.CODED_FRAMES,
    VideoPacketType.SEQUENCE_END,
)


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """One track's part of a video message (a single-track message has one, with id 0).

    Attributes:
        track_id: The multitrack trackId (0 when the message is not multitrack).
        fourcc: The codec FourCC (a :class:`VideoFourCC` when known); None for legacy codecs.
        packet_type: What the payload is.
        composition_time: Presentation minus decode time in milliseconds (SI24; 0 when the
            packet type has none).
        payload_offset: Where the codec payload starts in the tag body.
        payload_size: How many bytes the codec payload has.
    """

    track_id: int
    fourcc: str | None
    packet_type: VideoPacketType
    composition_time: int
    payload_offset: int
    payload_size: int

    def payload(self, data: Buffer) -> memoryview:
        """Return this track's codec payload as a view into ``data`` (the parsed tag body)."""
        return memoryview(data)[self.payload_offset : self.payload_offset + self.payload_size]


@dataclass(frozen=True, slots=True)
class VideoTagHeader:
    """The parsed header of one video message.

    Attributes:
        frame_type: The frame type (a :class:`VideoFrameType` when known; Enhanced RTMP ignores
            it on Metadata packets, so any value is kept there).
        enhanced: Whether the tag uses the ExVideoTagHeader.
        codec_id: The legacy CodecID (a :class:`VideoCodecId` when known); None if enhanced.
        packet_type: What the message carries (the first track's); None for a command frame.
        fourcc: The first track's FourCC; None for legacy codecs and command frames.
        composition_time: The first track's composition time in milliseconds.
        command: The command of a command frame (a :class:`VideoCommand` when known), else None.
        multitrack_type: The multitrack layout, or None when not multitrack.
        tracks: The tracks carried; empty for a command frame.
        timestamp_offset_nano: Nanoseconds to add to the message timestamp (ModEx), 0 to 999,999.
        mod_ex: Every ModEx entry, in order (including the one that set the nano offset).
        header_size: Where the first payload starts (or where the header ends, for a command).
    """

    frame_type: int
    enhanced: bool
    codec_id: int | None
    packet_type: VideoPacketType | None
    fourcc: str | None
    composition_time: int
    command: int | None
    multitrack_type: AvMultitrackType | None
    tracks: tuple[VideoTrack, ...]
    timestamp_offset_nano: int
    mod_ex: tuple[ModEx, ...]
    header_size: int

    @property
    def is_keyframe(self) -> bool:
        """Whether the message carries coded pictures of a key (or generated key) frame."""
        return (
            self.frame_type in (VideoFrameType.KEY, VideoFrameType.GENERATED_KEY)
            and self.packet_type in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X)
            and self.command is None
        )

    @property
    def is_sequence_header(self) -> bool:
        """Whether the message starts a sequence (decoder configuration record)."""
        return self.packet_type in (
            VideoPacketType.SEQUENCE_START,
            VideoPacketType.MPEG2TS_SEQUENCE_START,
        )

    @property
    def is_sequence_end(self) -> bool:
        """Whether the message ends a sequence."""
        return self.packet_type == VideoPacketType.SEQUENCE_END

    @property
    def is_command(self) -> bool:
        """Whether this is a command frame (no video, just :attr:`command`)."""
        return self.command is not None

    @property
    def is_multitrack(self) -> bool:
        """Whether the message uses the multitrack layout."""
        return self.multitrack_type is not None

    @property
    def codec_name(self) -> str | None:
        """A readable name of the (first track's) codec; None for an enhanced command frame."""
        if self.codec_id is not None:
            return video_codec_name(self.codec_id)
        return video_codec_name(self.fourcc) if self.fourcc is not None else None

    def payload(self, data: Buffer) -> memoryview:
        """Return the first track's codec payload as a view into ``data`` (empty if none)."""
        if not self.tracks:
            return memoryview(data)[self.header_size : self.header_size]
        return self.tracks[0].payload(data)


def parse_video_tag(data: Buffer) -> VideoTagHeader:
    """Parse the header of a video message (an FLV video tag body).

    Args:
        data: The whole tag body; nothing is copied from it but the small header fields.

    Returns:
        The header, with payload offsets into ``data``.

    Raises:
        RemoteProtocolError: If the header is cut short, uses a reserved frame type, packet type or
            multitrack type, nests a multitrack, or a track overruns the message.
    """
    if not data:
        msg = "video tag is empty"
        raise RemoteProtocolError(msg)
    if data[0] & 0x80:
        return _parse_enhanced(data)
    return _parse_legacy(data)


def _frame_type(value: int) -> VideoFrameType:
    frame_type = _FRAME_TYPES.get(value)
    if frame_type is None:
        msg = f"{_WHAT} has the reserved frame type {value}"
        raise RemoteProtocolError(msg)
    return frame_type


def _parse_legacy(data: Buffer) -> VideoTagHeader:
    frame_type = _frame_type(data[0] >> 4)
    codec_id: int = _CODEC_IDS.get(data[0] & 0x0F, data[0] & 0x0F)
    if frame_type == VideoFrameType.COMMAND:
        # The command byte follows the first byte directly, for every codec (AVC included), as
        # the Enhanced RTMP spec's pseudocode reads legacy tags.
        need(data, 2, f"{_WHAT} command frame")
        command = _COMMANDS.get(data[1], data[1])
        return VideoTagHeader(
            frame_type=frame_type,
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
    if codec_id in _AVC_LIKE:
        need(data, 5, f"{_WHAT} AVC header")
        if data[1] > AvcPacketType.END_OF_SEQUENCE:
            msg = f"{_WHAT} has the unknown AVC packet type {data[1]}"
            raise RemoteProtocolError(msg)
        packet_type = _LEGACY_PACKET_TYPES[data[1]]
        composition_time = si24(data, 2)
        header_size = 5
    else:
        packet_type = VideoPacketType.CODED_FRAMES
        composition_time = 0
        header_size = 1
    track = VideoTrack(0, None, packet_type, composition_time, header_size, len(data) - header_size)
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


def _media_packet_type(value: int, context: str) -> VideoPacketType:
    packet_type = _MEDIA_PACKET_TYPES.get(value)
    if packet_type is None:
        if value in (VideoPacketType.MULTITRACK, MOD_EX):
            msg = f"{_WHAT} has packet type {value} {context}, where it is not allowed"
        else:
            msg = f"{_WHAT} has the unknown packet type {value}"
        raise RemoteProtocolError(msg)
    return packet_type


def _parse_enhanced(data: Buffer) -> VideoTagHeader:
    raw_frame_type = (data[0] >> 4) & 0x07
    packet_type_value = data[0] & 0x0F
    offset = 1
    mod_ex: tuple[ModEx, ...] = ()
    nano = 0
    if packet_type_value == MOD_EX:
        packet_type_value, offset, mod_ex, nano = read_mod_ex(data, offset, _WHAT)
    if raw_frame_type == VideoFrameType.COMMAND and packet_type_value != VideoPacketType.METADATA:
        need(data, offset + 1, f"{_WHAT} command frame")
        command = _COMMANDS.get(data[offset], data[offset])
        return VideoTagHeader(
            frame_type=VideoFrameType.COMMAND,
            enhanced=True,
            codec_id=None,
            packet_type=None,
            fourcc=None,
            composition_time=0,
            command=command,
            multitrack_type=None,
            tracks=(),
            timestamp_offset_nano=nano,
            mod_ex=mod_ex,
            header_size=offset + 1,
        )
    if packet_type_value == VideoPacketType.MULTITRACK:
        tracks, multitrack_type = _read_multitrack(data, offset)
    else:
        packet_type = _media_packet_type(packet_type_value, "after ModEx")
        fourcc = read_fourcc(data, offset, _FOURCCS, _WHAT)
        tracks = (_read_track(data, offset + 4, len(data), 0, fourcc, packet_type),)
        multitrack_type = None
    first = tracks[0]
    # Enhanced RTMP ignores the frame type of Metadata packets (FFmpeg writes 5 there), so only
    # media packets must have a defined one.
    frame_type: int = (
        _FRAME_TYPES.get(raw_frame_type, raw_frame_type)
        if first.packet_type == VideoPacketType.METADATA
        else _frame_type(raw_frame_type)
    )
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


def _read_multitrack(data: Buffer, offset: int) -> tuple[tuple[VideoTrack, ...], AvMultitrackType]:
    return read_multitrack(
        data,
        offset,
        what=_WHAT,
        fourccs=_FOURCCS,
        packet_type=_media_packet_type,
        read_track=_read_track,
    )


def _read_track(
    data: Buffer,
    offset: int,
    end: int,
    track_id: int,
    fourcc: str | None,
    packet_type: VideoPacketType,
) -> VideoTrack:
    composition_time = 0
    if packet_type == VideoPacketType.CODED_FRAMES and fourcc in _CTS_FOURCCS:
        if offset + 3 > end:
            msg = f"{_WHAT} track {track_id} is too short for its composition time"
            raise RemoteProtocolError(msg)
        composition_time = si24(data, offset)
        offset += 3
    return VideoTrack(track_id, fourcc, packet_type, composition_time, offset, end - offset)


# --- Hot-path checks ------------------------------------------------------------------------
# Plain ints and frozensets: these run for every video message a relay forwards.

_KEY_FRAME_TYPES = frozenset({1, 4})  # KEY, GENERATED_KEY
_CODED_PACKET_TYPES = frozenset({1, 3})  # CODED_FRAMES, CODED_FRAMES_X
_START_PACKET_TYPES = frozenset({0, 5})  # SEQUENCE_START, MPEG2TS_SEQUENCE_START
_COMMAND_FRAME = 5
_MULTITRACK = 6


def is_video_keyframe(data: Buffer) -> bool:
    """Tell whether a video message carries coded pictures of a key frame.

    Sequence headers, metadata and command frames are not keyframes here, even though the
    first two usually have the key frame type. Looks at a few bytes only and never raises:
    malformed input is simply not a keyframe.
    """
    if not data:
        return False
    first = data[0]
    if first & 0x80:
        if (first >> 4) & 0x07 not in _KEY_FRAME_TYPES:
            return False
        return peek_packet_type(data, _MULTITRACK) in _CODED_PACKET_TYPES
    if first >> 4 not in _KEY_FRAME_TYPES:
        return False
    if first & 0x0F in _AVC_LIKE:
        return len(data) > 1 and data[1] == 1  # AvcPacketType.NALU
    return True


_CONFIGURATION_PACKET_TYPES = frozenset({0, 2, 4, 5})  # SEQUENCE_START/END, METADATA, MPEG2TS


def is_video_configuration(data: Buffer) -> bool:
    """Tell whether a video message describes the stream rather than carrying a picture.

    True for sequence headers and ends (legacy AVC-like and Enhanced) and Enhanced metadata
    (such as HDR colour information), inside ModEx and multitrack wrappers: the messages a
    player needs whatever frames it skips. Looks at a few bytes only and never raises.
    """
    if not data:
        return False
    first = data[0]
    if first & 0x80:
        # Whatever the frame type: FFmpeg sends metadata with the command frame type.
        return peek_packet_type(data, _MULTITRACK) in _CONFIGURATION_PACKET_TYPES
    if first & 0x0F in _AVC_LIKE and first >> 4 != _COMMAND_FRAME:
        return len(data) > 1 and data[1] in (0, 2)  # SEQUENCE_HEADER, END_OF_SEQUENCE
    return False


def is_video_sequence_header(data: Buffer) -> bool:
    """Tell whether a video message is a sequence header (decoder configuration).

    Covers legacy AVC and Enhanced SequenceStart and MPEG2TSSequenceStart, inside ModEx and
    multitrack wrappers. Looks at a few bytes only and never raises.
    """
    if not data:
        return False
    first = data[0]
    if first & 0x80:
        if (first >> 4) & 0x07 == _COMMAND_FRAME:
            return False
        return peek_packet_type(data, _MULTITRACK) in _START_PACKET_TYPES
    if first & 0x0F in _AVC_LIKE and first >> 4 != _COMMAND_FRAME:
        return len(data) > 1 and data[1] == 0  # AvcPacketType.SEQUENCE_HEADER
    return False
