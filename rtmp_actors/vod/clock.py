"""The playback clock of a file being played: which tags are due at a given moment.

Sans-I/O: the caller passes ``now`` (monotonic seconds). Playback maps the file's timestamps
onto the wall clock from a start point; everything up to ``lead`` seconds ahead of the
current media time is due, so a player's buffer stays a little ahead (as nginx-rtmp's file
playback does). Pausing freezes media time; resuming goes on from where it froze; seeking
restarts the mapping at the new media time.
"""

from __future__ import annotations

__all__ = ["PlaybackClock"]


class PlaybackClock:
    """Media time of one player of a file.

    Args:
        lead: Seconds of media sent ahead of real time.
        now: When playback starts.
        media_time: Media time (milliseconds) at ``now``.
    """

    __slots__ = ("_base_media", "_base_now", "_lead_ms", "_paused")

    def __init__(self, lead: float, now: float, media_time: float = 0.0) -> None:
        self._lead_ms = lead * 1000.0
        self._base_now = now
        self._base_media = media_time
        self._paused = False

    @property
    def paused(self) -> bool:
        """Whether media time stands still."""
        return self._paused

    def media_time(self, now: float) -> float:
        """Media time (milliseconds) being played at ``now``."""
        if self._paused:
            return self._base_media
        return self._base_media + (now - self._base_now) * 1000.0

    def due(self, now: float) -> float:
        """Tags with timestamps up to this (milliseconds) are due at ``now``.

        Nothing is due while paused: the player wants no more media until it resumes.
        """
        if self._paused:
            return float("-inf")
        return self.media_time(now) + self._lead_ms

    def wait(self, timestamp: float, now: float) -> float | None:
        """Seconds from ``now`` until the tag at ``timestamp`` is due (None while paused)."""
        if self._paused:
            return None
        return max(0.0, (timestamp - self.due(now)) / 1000.0)

    def pause(self, now: float) -> None:
        """Freeze media time at ``now`` (nothing if already paused)."""
        if not self._paused:
            self._base_media = self.media_time(now)
            self._paused = True

    def resume(self, now: float) -> None:
        """Let media time run again from where it froze (nothing unless paused)."""
        if self._paused:
            self._base_now = now
            self._paused = False

    def seek(self, media_time: float, now: float) -> None:
        """Make ``media_time`` the media time at ``now``; a paused clock stays paused."""
        self._base_media = media_time
        self._base_now = now
