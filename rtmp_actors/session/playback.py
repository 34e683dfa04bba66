"""What a player gets of one playing stream: its own choices, and what its connection can take.

One :class:`PlaybackRules` object decides about every media message written to one playing
stream of one connection, whoever writes it (the connection's protocol handler for media sent
through the session, a live stream's actor for relayed media). It is owned by that writer
alone; the player's session tells the writer about changes as immutable
:class:`PlaybackChoice` values. The rules, in order:

* Codec configuration and other messages that describe the stream rather than carry a frame
  (sequence headers and ends, Enhanced RTMP metadata such as HDR colour information) always
  go: they are tiny, and a player needs them the moment media resumes.
* Pause and receiveAudio/receiveVideo: what the player turned off is not sent. Video that
  was off restarts at a keyframe.
* Congestion: audio frames and video inter frames are dropped while more than ``high_water``
  bytes wait to be sent. Once a video frame is dropped, every following one is dropped until
  the next keyframe, so no frame ever arrives without the frames it depends on; keyframes
  always go, since each one unblocks what follows. A player above the mark for longer than
  ``max_congestion`` seconds is to be disconnected.

Media is decided about *before* it is encoded: dropping encoded chunks would corrupt the
peer's header decompression.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtmp_actors.media.frames import FrameFlags

__all__ = ["PlaybackChoice", "PlaybackRules", "Verdict"]


@dataclass(frozen=True, slots=True)
class PlaybackChoice:
    """A player's choices for one playing stream, as its session last heard them.

    Attributes:
        stream_id: The player's message stream.
        paused: The player paused (``pause``).
        audio: The player wants audio (``receiveAudio``).
        video: The player wants video (``receiveVideo``).
        new_play: A play was just accepted on the stream: what was decided for an earlier
            play of it no longer holds.
        seek: The player just asked to seek to this many milliseconds, and the writer answers
            seeks (see ``ServerSession.delegate_seeks``); None otherwise.
    """

    stream_id: int
    paused: bool = False
    audio: bool = True
    video: bool = True
    new_play: bool = False
    seek: float | None = None


class Verdict(enum.Enum):
    """The fate of one media message."""

    SEND = "send"
    DROP = "drop"
    DISCONNECT = "disconnect"


class PlaybackRules:
    """The media rules of one playing stream of one connection (sans-I/O: ``now`` is passed in).

    Args:
        high_water: Queued outbound bytes above which media is dropped.
        max_congestion: Seconds a player may stay above ``high_water``.
        start_at_keyframe: Drop video inter frames until the first keyframe (a player joining
            a stream that is already running, with no keyframe to start from).

    Attributes:
        dropped: Media messages dropped for congestion or while waiting for a keyframe.
    """

    __slots__ = (
        "_audio",
        "_congested_since",
        "_high_water",
        "_max_congestion",
        "_open",
        "_video",
        "_waiting_for_keyframe",
        "dropped",
    )

    def __init__(
        self, high_water: int, max_congestion: float, *, start_at_keyframe: bool = False
    ) -> None:
        self._high_water = high_water
        self._max_congestion = max_congestion
        self._audio = self._video = self._open = True
        self._waiting_for_keyframe = start_at_keyframe
        self._congested_since: float | None = None
        self.dropped = 0

    @property
    def waiting_for_keyframe(self) -> bool:
        """Whether video inter frames are dropped until the next keyframe."""
        return self._waiting_for_keyframe

    def apply(self, choice: PlaybackChoice) -> None:
        """Take the player's current choices."""
        if choice.new_play:
            self._waiting_for_keyframe = False
            self._congested_since = None
        self._audio = choice.audio and not choice.paused
        self._video = choice.video and not choice.paused
        self._open = self._audio and self._video

    def require_keyframe(self) -> None:
        """Drop video inter frames until the next keyframe (the writer left a gap)."""
        self._waiting_for_keyframe = True

    def admit(self, *, video: bool, flags: FrameFlags, queued_bytes: int, now: float) -> Verdict:
        """Decide about one audio (``video=False``) or video message, classified by ``flags``.

        Args:
            video: Whether it is video.
            flags: Its sequence header and keyframe flags.
            queued_bytes: Bytes waiting to be sent to the player, this message not included.
            now: Seconds, monotonic.
        """
        if flags.configuration:
            return Verdict.SEND
        # The congestion clock runs whatever the player chose: a peer that stopped reading
        # is dropped even while paused, and one that caught up meanwhile starts afresh.
        congested = queued_bytes > self._high_water
        if not congested:
            self._congested_since = None
        elif self._congested_since is None:
            self._congested_since = now
        elif now - self._congested_since > self._max_congestion:
            self.dropped += 1
            return Verdict.DISCONNECT
        if not self._open:
            if video and not self._video:
                self._waiting_for_keyframe = True  # frames are skipped: restart at a keyframe
                return Verdict.DROP
            if not video and not self._audio:
                return Verdict.DROP
        if not video:
            return self._drop() if congested else Verdict.SEND
        if flags.keyframe:
            self._waiting_for_keyframe = False
            return Verdict.SEND
        if self._waiting_for_keyframe:
            return self._drop()  # it depends on a frame that was not sent
        if congested:
            self._waiting_for_keyframe = True
            return self._drop()
        return Verdict.SEND

    def clear_to_send(self, queued_bytes: int) -> bool:
        """Whether every message would be sent now, whatever its kind (the fast path).

        True when the player takes everything, no keyframe is awaited and the connection is
        below the high-water mark; then the congestion clock is reset as :meth:`admit` would.
        """
        if not self._open or self._waiting_for_keyframe or queued_bytes > self._high_water:
            return False
        self._congested_since = None
        return True

    def _drop(self) -> Verdict:
        self.dropped += 1
        return Verdict.DROP

    def describe(self) -> str:
        """Why a disconnect was decided, for logs and Disconnected reasons."""
        return (
            f"the peer stayed congested for over {self._max_congestion} s "
            f"({self.dropped} media messages dropped)"
        )
