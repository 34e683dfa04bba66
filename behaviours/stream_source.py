"""The StreamSource behaviour: an object that produces a stream the server generates itself.

A source is what a renderer, a test pattern or a camera looks like to the relay: the server
asks it for frames at its frame rate, on a thread of its own, and streams them to the
players of one key (see :meth:`~rtmp_actors.relay.server.RelayServer.add_source`). The
calls a source gets, in this order, all on that thread (a new one for each start, so one
thread at a time):

* :meth:`StreamSource.start` once the stream starts (at once, or on the first player in
  on-demand mode), then :meth:`StreamSource.metadata` (sent as ``onMetaData``),
* :meth:`StreamSource.next_frames` once per due tick, at ``frame_rate`` ticks per second,
* :meth:`StreamSource.stop` when the stream stops (removed, or the last player left in
  on-demand mode); an on-demand source may be started again later.

A source that raises ends its stream (the log says why); the server keeps running.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rtmp_actors.media.frames import frame_flags
from rtmp_actors.session.events import MediaType

__all__ = ["MAX_FRAME_SIZE", "SourceFrame", "StreamSource"]

MAX_FRAME_SIZE = 8 * 1024 * 1024
"""The largest frame body a source may hand over (the relay's media message limit)."""
_MAX_TIMESTAMP = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SourceFrame:
    """One audio or video message of a generated stream.

    Attributes:
        media_type: Audio or video.
        timestamp: Milliseconds on the stream's clock (an RTMP timestamp, 32 bits).
        data: The FLV tag body, exactly what an RTMP audio or video message carries: the
            codec header bytes first (e.g. ``0x17 0x01`` and a composition time for an
            H.264 keyframe). Codec configuration (sequence headers) are frames too; a
            source sends them before its first coded frame, and again after a restart.

    Raises:
        TypeError: If a field has the wrong type.
        ValueError: If ``data`` is empty or too large, or ``timestamp`` is out of range.
    """

    media_type: MediaType
    timestamp: int
    data: bytes

    def __post_init__(self) -> None:
        # Typed fields, but filled by user code: checked here rather than deep in the relay.
        media_type: object = self.media_type
        timestamp: object = self.timestamp
        data: object = self.data
        if not isinstance(media_type, MediaType):
            msg = f"media_type must be a MediaType, not {media_type!r}"
            raise TypeError(msg)
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            msg = f"timestamp must be an int, not {type(timestamp).__name__}"
            raise TypeError(msg)
        if not isinstance(data, bytes):
            msg = f"data must be bytes, not {type(data).__name__}"
            raise TypeError(msg)
        if not 0 <= self.timestamp <= _MAX_TIMESTAMP:
            msg = f"timestamp {self.timestamp} is outside 0..{_MAX_TIMESTAMP}"
            raise ValueError(msg)
        if not self.data:
            msg = "a frame needs at least its codec header byte"
            raise ValueError(msg)
        if len(self.data) > MAX_FRAME_SIZE:
            msg = f"a frame of {len(self.data)} bytes is over the {MAX_FRAME_SIZE}-byte limit"
            raise ValueError(msg)

    @classmethod
    def video(cls, timestamp: int, data: bytes) -> SourceFrame:
        """A video frame (or video sequence header)."""
        return cls(MediaType.VIDEO, timestamp, data)

    @classmethod
    def audio(cls, timestamp: int, data: bytes) -> SourceFrame:
        """An audio frame (or audio sequence header)."""
        return cls(MediaType.AUDIO, timestamp, data)

    @property
    def is_sequence_header(self) -> bool:
        """Whether this is codec configuration rather than a coded frame (read from the bytes)."""
        return frame_flags(self.media_type is MediaType.VIDEO, self.data).configuration

    @property
    def is_keyframe(self) -> bool:
        """Whether this is a video keyframe (read from the bytes)."""
        return self.media_type is MediaType.VIDEO and frame_flags(True, self.data).keyframe


class StreamSource(abc.ABC):
    """Produces the frames of a server-generated stream; see the module for the call order.

    Only :meth:`next_frames` and :attr:`frame_rate` are required.
    """

    @property
    @abc.abstractmethod
    def frame_rate(self) -> float:
        """Ticks per second: how often :meth:`next_frames` is called (e.g. 25.0)."""

    def start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Prepare to produce frames (open an encoder, say)."""

    def stop(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what :meth:`start` took; no more frames are asked for until a new start."""

    def metadata(self) -> Mapping[str, Any] | None:
        """The stream's ``onMetaData`` (width, height, codec ids...), or None for none."""
        return None

    @abc.abstractmethod
    def next_frames(self, now: float) -> Sequence[SourceFrame]:
        """The frames for the tick due at ``now`` (seconds, monotonic), possibly none.

        It should return within one frame interval: while it runs, later ticks are skipped,
        not queued. Ticks the source fell behind on are skipped, so ``now`` may jump.
        """
