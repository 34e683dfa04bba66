"""An index of an FLV file: where playback may start, and how long the file plays.

:func:`index_flv` reads tag headers only, seeking over the bodies (it peeks at the first few
bytes of each audio and video body to classify it), so indexing a large file costs one small
read per tag and memory for the seek points only. Seek points are video keyframes; a file
without video gets one audio frame a second instead. The codec configuration tags (sequence
headers) are remembered too: playback that starts at a seek point sends the latest ones
before it first, since the frames cannot be decoded without them.

A file that ends inside a tag (an interrupted recording) is indexed up to its last whole
tag. Anything else malformed, and any tag larger than ``max_tag_size``, raises.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass
from typing import BinaryIO

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.media.flv import (
    DEFAULT_MAX_TAG_SIZE,
    FLV_HEADER_SIZE,
    TAG_HEADER_SIZE,
    FlvHeader,
    TagType,
)
from rtmp_actors.media.frames import frame_flags

__all__ = ["MAX_SEEK_POINTS", "FlvIndex", "index_flv"]

MAX_SEEK_POINTS = 1 << 20
"""Most seek points kept for one file (a day of one keyframe every 100 ms)."""

_PEEK = 32  # enough of a body for the frame classifiers, through ModEx and multitrack wrappers
_AUDIO_SEEK_SPACING = 1000  # ms between seek points of a file without video
_ON_METADATA = b"\x02\x00\x0aonMetaData"  # the AMF0 string that opens an onMetaData tag


@dataclass(frozen=True, slots=True)
class FlvIndex:
    """What :func:`index_flv` learnt about one file. Immutable: players may share it.

    Attributes:
        header: The file header.
        first_tag: Byte offset of the first tag.
        end: Byte offset just after the last whole tag.
        duration: Largest tag timestamp, in milliseconds.
        seek_times: Timestamps of the seek points, ascending.
        seek_offsets: Byte offsets of the seek points' tags.
        video_configs: Byte offsets of the video configuration tags, ascending.
        audio_configs: Byte offsets of the audio configuration tags, ascending.
        metadata: Byte offset and body size of the first ``onMetaData`` tag, if any.
        tags: Whole tags in the file.
    """

    header: FlvHeader
    first_tag: int
    end: int
    duration: int
    seek_times: array[int]
    seek_offsets: array[int]
    video_configs: tuple[int, ...]
    audio_configs: tuple[int, ...]
    metadata: tuple[int, int] | None
    tags: int

    def seek_point(self, milliseconds: float) -> tuple[int, int]:
        """The seek point at or before ``milliseconds``: its (timestamp, byte offset).

        Before the first seek point (or in a file with none) playback starts at the first
        tag, at time 0.
        """
        at = bisect.bisect_right(self.seek_times, milliseconds) - 1
        if at < 0:
            return 0, self.first_tag
        return self.seek_times[at], self.seek_offsets[at]

    def configs_before(self, offset: int) -> list[int]:
        """Offsets of the latest video and audio configuration tags before ``offset``, in order.

        Playback starting at ``offset`` sends these first.
        """
        found = []
        for configs in (self.video_configs, self.audio_configs):
            at = bisect.bisect_left(configs, offset) - 1
            if at >= 0:
                found.append(configs[at])
        return sorted(found)


def index_flv(stream: BinaryIO, *, max_tag_size: int = DEFAULT_MAX_TAG_SIZE) -> FlvIndex:
    """Index the FLV file open in ``stream`` (seekable, binary), from its start.

    Raises:
        RemoteProtocolError: If the header is malformed or a tag header is impossible.
        LimitExceededError: If a tag is larger than ``max_tag_size`` or the file has more
            than :data:`MAX_SEEK_POINTS` seek points.
        OSError: If the file cannot be read.
    """
    stream.seek(0)
    header = FlvHeader.decode(stream.read(FLV_HEADER_SIZE))
    position = header.data_offset + 4  # past PreviousTagSize0
    first_tag = position
    video_times, video_offsets = array("q"), array("q")
    audio_times, audio_offsets = array("q"), array("q")
    video_configs: list[int] = []
    audio_configs: list[int] = []
    metadata: tuple[int, int] | None = None
    duration = tags = 0
    size_of_file = stream.seek(0, 2)
    while position + TAG_HEADER_SIZE <= size_of_file:
        stream.seek(position)
        head = stream.read(TAG_HEADER_SIZE + _PEEK)
        size = int.from_bytes(head[1:4])
        if size > max_tag_size:
            what = f"FLV tag at byte {position}"
            raise LimitExceededError("max_tag_size", size, max_tag_size, what)
        end = position + TAG_HEADER_SIZE + size + 4
        if end > size_of_file:
            break  # an interrupted recording: play what is whole
        tag_type = head[0] & 0x1F
        if head[0] & 0x20:
            msg = f"FLV tag at byte {position} is encrypted (its Filter bit is set)"
            raise RemoteProtocolError(msg)
        timestamp = int.from_bytes(head[4:7]) | head[7] << 24
        body = head[TAG_HEADER_SIZE : TAG_HEADER_SIZE + size]
        if tag_type == TagType.VIDEO:
            flags = frame_flags(True, body)
            if flags.configuration:
                _add_config(video_configs, audio_configs, position, video_tag=True)
            elif flags.keyframe and (not video_times or timestamp >= video_times[-1]):
                _add_point(video_times, video_offsets, timestamp, position)
        elif tag_type == TagType.AUDIO:
            if frame_flags(False, body).configuration:
                _add_config(video_configs, audio_configs, position, video_tag=False)
            elif not audio_times or timestamp >= audio_times[-1] + _AUDIO_SEEK_SPACING:
                _add_point(audio_times, audio_offsets, timestamp, position)
        elif tag_type == TagType.SCRIPT_DATA and metadata is None and body.startswith(_ON_METADATA):
            metadata = (position, size)
        duration = max(duration, timestamp)
        tags += 1
        position = end
    times, offsets = (video_times, video_offsets) if video_times else (audio_times, audio_offsets)
    return FlvIndex(
        header,
        first_tag,
        position,
        duration,
        times,
        offsets,
        tuple(video_configs),
        tuple(audio_configs),
        metadata,
        tags,
    )


def _add_point(times: array[int], offsets: array[int], timestamp: int, offset: int) -> None:
    if len(times) >= MAX_SEEK_POINTS:
        raise LimitExceededError(
            "max_seek_points", len(times) + 1, MAX_SEEK_POINTS, "FLV seek index"
        )
    times.append(timestamp)
    offsets.append(offset)


def _add_config(video: list[int], audio: list[int], offset: int, *, video_tag: bool) -> None:
    if len(video) + len(audio) >= MAX_SEEK_POINTS:
        raise LimitExceededError(
            "max_seek_points", MAX_SEEK_POINTS + 1, MAX_SEEK_POINTS, "FLV configuration tags"
        )
    (video if video_tag else audio).append(offset)
