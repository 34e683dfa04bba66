"""What a late joiner needs to start a live stream cleanly (sans-I/O).

A player that joins mid-stream needs, in order: the stream's metadata, every piece of codec
configuration (AVC/HEVC/AV1/... sequence headers, AAC/Opus/... sequence starts, Enhanced RTMP
multichannel configurations and video metadata such as colorInfo; one of each per track),
and then the frames since the most recent keyframe, so its decoder starts on a keyframe
rather than on a frame that refers to one it never saw.

The cache is codec-agnostic: it looks only at the FLV tag header bytes, and keeps payloads as
the very ``bytes`` objects the publisher sent (no copies). Its size is bounded: a GOP larger
than the limits is dropped, and late joiners then start at the next keyframe instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any, NamedTuple

from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.audio import parse_audio_tag
from rtmp_actors.media.video import VideoPacketType, is_video_keyframe, parse_video_tag
from rtmp_actors.session.events import MediaType

__all__ = ["CachedMedia", "GopCache", "configuration_key"]

_ENHANCED_VIDEO_CONFIG_TYPES = frozenset({0, 4, 5, 6, 7})  # SeqStart, Metadata, TS, multi, ModEx
_ENHANCED_AUDIO_CONFIG_TYPES = frozenset({0, 4, 5, 7})  # SeqStart, Multichannel, multi, ModEx
_VIDEO_CONFIG_PACKETS = frozenset(
    {
        VideoPacketType.SEQUENCE_START,
        VideoPacketType.METADATA,
        VideoPacketType.MPEG2TS_SEQUENCE_START,
    }
)


class CachedMedia(NamedTuple):
    """One audio or video message kept for late joiners (a tuple: one is made per message).

    ``prepared`` is whatever the caller keeps with it (a live stream keeps the message
    encoded for its players, so joiners share those bytes too).
    """

    media_type: MediaType
    timestamp: int
    data: bytes
    prepared: Any = None


def _video_key(data: bytes) -> Hashable | None:
    first = data[0]
    if first & 0x80:
        if first & 0x0F not in _ENHANCED_VIDEO_CONFIG_TYPES:
            return None
    elif len(data) < 2 or data[1] != 0:  # legacy: only the AVC/HEVC sequence header
        return None
    try:
        header = parse_video_tag(data)
    except ProtocolError:
        return None
    if header.packet_type not in _VIDEO_CONFIG_PACKETS:
        return None
    tracks = tuple(track.track_id for track in header.tracks) or (0,)
    return ("video", header.packet_type, tracks)


def _audio_key(data: bytes) -> Hashable | None:
    first = data[0]
    if first >> 4 == 9:  # ExAudioTagHeader
        if first & 0x0F not in _ENHANCED_AUDIO_CONFIG_TYPES:
            return None
    elif first >> 4 != 10 or len(data) < 2 or data[1] != 0:  # legacy: AAC sequence header
        return None
    try:
        header = parse_audio_tag(data)
    except ProtocolError:
        return None
    if not (header.is_sequence_header or header.multichannel_config is not None):
        return None
    tracks = tuple(track.track_id for track in header.tracks) or (0,)
    kind = "config" if header.is_sequence_header else "multichannel"
    return ("audio", kind, tracks)


def configuration_key(media_type: MediaType, data: bytes) -> Hashable | None:
    """A key naming the configuration a message carries, or None for a coded frame.

    Two messages with the same key configure the same thing (the newer one replaces the
    older): for example the video sequence header of multitrack track 1. Cheap for coded
    frames, which are recognised from one or two bytes.
    """
    if not data:
        return None
    return _video_key(data) if media_type is MediaType.VIDEO else _audio_key(data)


class GopCache:
    """Metadata, codec configuration and the current group of pictures of one live stream.

    Args:
        max_bytes: Most payload bytes kept in the current GOP.
        max_messages: Most messages kept in the current GOP.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_messages: int = 4096) -> None:
        self._max_bytes = max_bytes
        self._max_messages = max_messages
        self.metadata: Mapping[str, Any] | None = None
        self._configuration: dict[Hashable, CachedMedia] = {}
        self._gop: list[CachedMedia] = []
        self._gop_bytes = 0
        self._has_video = False

    def clear(self) -> None:
        """Forget everything (the publisher left)."""
        self.metadata = None
        self._configuration.clear()
        self._gop.clear()
        self._gop_bytes = 0
        self._has_video = False

    def set_metadata(self, metadata: Mapping[str, Any] | None) -> None:
        """Remember the latest ``onMetaData`` (None clears it)."""
        self.metadata = metadata

    def add(
        self,
        media_type: MediaType,
        timestamp: int,
        data: bytes,
        *,
        keyframe: bool | None = None,
        prepared: Any = None,
    ) -> None:
        """Take one message the publisher sent (``keyframe`` if the caller already knows)."""
        key = configuration_key(media_type, data)
        message = CachedMedia(media_type, timestamp, data, prepared)
        if key is not None:
            self._configuration[key] = message
            return
        if media_type is MediaType.VIDEO:
            self._has_video = True
            if keyframe if keyframe is not None else is_video_keyframe(data):
                self._gop = [message]
                self._gop_bytes = len(data)
                return
        if not self._gop:
            return  # no keyframe yet: joiners start live, at the next keyframe
        self._gop.append(message)
        self._gop_bytes += len(data)
        if self._gop_bytes > self._max_bytes or len(self._gop) > self._max_messages:
            self._gop.clear()
            self._gop_bytes = 0

    @property
    def gop_size(self) -> int:
        """Messages in the current GOP."""
        return len(self._gop)

    def join(self) -> Iterator[CachedMedia]:
        """What a player joining now gets before the live messages: configuration, then GOP."""
        yield from self._configuration.values()
        yield from self._gop

    @property
    def waits_for_keyframe(self) -> bool:
        """Whether a joiner should skip video until the next keyframe (no GOP is cached)."""
        return self._has_video and not self._gop
