"""The two facts about a media message that forwarding decisions need."""

from __future__ import annotations

from typing import NamedTuple

from rtmp_actors.media._wire import Buffer
from rtmp_actors.media.audio import is_audio_sequence_header
from rtmp_actors.media.video import is_video_keyframe, is_video_sequence_header

__all__ = ["FrameFlags", "frame_flags"]


class FrameFlags(NamedTuple):
    """Whether a message is codec configuration, and whether it is a video keyframe."""

    sequence_header: bool
    keyframe: bool


def frame_flags(video: bool, data: Buffer) -> FrameFlags:
    """Classify one audio (``video=False``) or video message from its first bytes."""
    if video:
        return FrameFlags(is_video_sequence_header(data), is_video_keyframe(data))
    return FrameFlags(is_audio_sequence_header(data), False)
