"""The two facts about a media message that forwarding decisions need."""

from __future__ import annotations

from typing import NamedTuple

from rtmp_actors.media._wire import Buffer
from rtmp_actors.media.audio import is_audio_configuration
from rtmp_actors.media.video import is_video_configuration, is_video_keyframe

__all__ = ["FrameFlags", "frame_flags"]


class FrameFlags(NamedTuple):
    """What forwarding decisions need to know of one audio or video message.

    ``configuration``: it describes the stream rather than carrying a frame (codec
    configuration, sequence ends, metadata). ``keyframe``: it is a video keyframe.
    """

    configuration: bool
    keyframe: bool


# Every possible answer, built once: frame_flags runs for every media message relayed.
_FLAGS = (
    (
        FrameFlags(configuration=False, keyframe=False),
        FrameFlags(configuration=False, keyframe=True),
    ),
    (FrameFlags(configuration=True, keyframe=False), FrameFlags(configuration=True, keyframe=True)),
)


def frame_flags(video: bool, data: Buffer) -> FrameFlags:
    """Classify one audio (``video=False``) or video message from its first bytes."""
    if video:
        return _FLAGS[is_video_configuration(data)][is_video_keyframe(data)]
    return _FLAGS[is_audio_configuration(data)][False]
