"""What to do with a media message for a peer that cannot keep up.

Media is dropped *before* it is encoded (dropping encoded chunks would corrupt the peer's
header decompression): audio frames and video inter frames are dropped while the outbound
queue is above the high-water mark; once a video frame is dropped, every following one is
dropped until the next keyframe, so no frame ever arrives without the frames it depends on.
Sequence headers are never dropped; keyframes always go, since each one unblocks what
follows. A peer that stays congested for longer than allowed is to be disconnected.
"""

from __future__ import annotations

import enum

from rtmp_actors.media.frames import FrameFlags

__all__ = ["CongestionPolicy", "Verdict"]


class Verdict(enum.Enum):
    """The fate of one media message."""

    SEND = "send"
    DROP = "drop"
    DISCONNECT = "disconnect"


class CongestionPolicy:
    """Per-peer drop state.

    Args:
        high_water: Queued outbound bytes above which media is dropped.
        max_congestion: Seconds a peer may stay above ``high_water``.
    """

    def __init__(self, high_water: int, max_congestion: float) -> None:
        self._high_water = high_water
        self._max_congestion = max_congestion
        self._congested_since: float | None = None
        self._waiting_for_keyframe: set[int] = set()
        self.dropped = 0

    def verdict(
        self, *, video: bool, flags: FrameFlags, stream_id: int, queued_bytes: int, now: float
    ) -> Verdict:
        """Decide about one audio (``video=False``) or video message, classified by ``flags``."""
        if flags.sequence_header:
            return Verdict.SEND
        congested = queued_bytes > self._high_water
        if not congested:
            self._congested_since = None
        elif self._congested_since is None:
            self._congested_since = now
        elif now - self._congested_since > self._max_congestion:
            self.dropped += 1
            return Verdict.DISCONNECT
        if not video:
            return self._drop() if congested else Verdict.SEND
        if flags.keyframe:
            self._waiting_for_keyframe.discard(stream_id)
            return Verdict.SEND
        if stream_id in self._waiting_for_keyframe:
            return self._drop()  # it depends on a frame already dropped
        if congested:
            self._waiting_for_keyframe.add(stream_id)
            return self._drop()
        return Verdict.SEND

    def clear_to_send(self, stream_id: int, queued_bytes: int) -> bool:
        """Whether every message for ``stream_id`` would be sent now, whatever its kind.

        True below the high-water mark with no video frame dropped on the stream since its
        last keyframe; then the congestion clock is reset as :meth:`verdict` would.
        """
        if queued_bytes > self._high_water or stream_id in self._waiting_for_keyframe:
            return False
        self._congested_since = None
        return True

    def require_keyframe(self, stream_id: int) -> None:
        """Drop video inter frames for ``stream_id`` until its next keyframe (a gap ahead)."""
        self._waiting_for_keyframe.add(stream_id)

    def _drop(self) -> Verdict:
        self.dropped += 1
        return Verdict.DROP

    def describe(self) -> str:
        """Why a disconnect was decided, for logs and Disconnected reasons."""
        return (
            f"the peer stayed congested for over {self._max_congestion} s "
            f"({self.dropped} media messages dropped)"
        )
