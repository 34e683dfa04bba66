"""A live HLS media playlist with a sliding window (sans-I/O: text out, no files).

Theory of operation:

* :meth:`LivePlaylist.add` appends a finished segment and answers the ones that left the
  window (their files can go once players have had time to finish them).
* ``#EXT-X-TARGETDURATION`` never shrinks: it is the configured target rounded up, or the
  longest segment seen (rounded to the nearest second, as RFC 8216 compares them), whichever
  is more, so every segment's rounded duration stays within it.
* ``#EXT-X-MEDIA-SEQUENCE`` is the first listed segment's number: segment numbers only grow.
  A segment after a publisher restart carries ``#EXT-X-DISCONTINUITY``; when one leaves the
  window, ``#EXT-X-DISCONTINUITY-SEQUENCE`` counts it, as RFC 8216 asks.
* ``#EXT-X-ENDLIST`` is added while no publisher publishes (and dropped when one does again).
* fMP4 segments name their init segment: ``#EXT-X-MAP`` goes before the first listed one and
  wherever it changes (a new publication), with ``#EXT-X-VERSION:7``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["LivePlaylist", "Segment", "discontinuities_of"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One finished segment.

    Attributes:
        sequence: Its media sequence number.
        uri: Its file name, relative to the playlist.
        duration: Seconds.
        discontinuity: Whether it starts a new publication (timestamps and codecs may change).
        map_uri: Its init segment (fMP4 segments), else None.
    """

    sequence: int
    uri: str
    duration: float
    discontinuity: bool = False
    map_uri: str | None = None


class LivePlaylist:
    """The segments of a live stream's sliding window, rendered as an M3U8 media playlist.

    Args:
        target_duration: The configured segment duration, in seconds.
        length: Segments listed at most.
        discontinuity_sequence: Discontinuities an earlier playlist of the stream went
            through (one a player may still follow), so the count goes on from there.
    """

    def __init__(
        self, target_duration: float, length: int, discontinuity_sequence: int = 0
    ) -> None:
        if length < 1:
            msg = f"an HLS playlist lists at least one segment, not {length}"
            raise ValueError(msg)
        self._target = max(1, math.ceil(target_duration))
        self._length = length
        self._segments: deque[Segment] = deque()
        self._discontinuity_sequence = discontinuity_sequence
        self.ended = False

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The listed segments, oldest first."""
        return tuple(self._segments)

    @property
    def target_duration(self) -> int:
        """The ``#EXT-X-TARGETDURATION`` value."""
        return self._target

    def add(self, segment: Segment) -> list[Segment]:
        """List a finished segment; returns the segments that left the window."""
        self._target = max(self._target, math.floor(segment.duration + 0.5))
        self._segments.append(segment)
        gone: list[Segment] = []
        while len(self._segments) > self._length:
            old = self._segments.popleft()
            if old.discontinuity:
                self._discontinuity_sequence += 1
            gone.append(old)
        return gone

    def render(self) -> str:
        """The playlist's text."""
        first = self._segments[0].sequence if self._segments else 0
        # fMP4 segments need EXT-X-MAP, which needs version 6 (7 as Apple's tools expect).
        version = 7 if any(s.map_uri for s in self._segments) else 3
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{version}",
            f"#EXT-X-TARGETDURATION:{self._target}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        if self._discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence}")
        current_map = None
        for segment in self._segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.map_uri is not None and segment.map_uri != current_map:
                lines.append(f'#EXT-X-MAP:URI="{segment.map_uri}"')
                current_map = segment.map_uri
            lines.append(f"#EXTINF:{segment.duration:.3f},")
            lines.append(segment.uri)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def discontinuities_of(text: str) -> int:
    """The discontinuity sequence number of the last segment of playlist ``text``.

    A playlist that goes on from it starts counting there (0 for anything unreadable).
    """
    count = 0
    for line in text.splitlines():
        if line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            value = line.partition(":")[2].strip()
            count += int(value) if value.isdigit() and len(value) < 10 else 0
        elif line == "#EXT-X-DISCONTINUITY":
            count += 1
    return count
