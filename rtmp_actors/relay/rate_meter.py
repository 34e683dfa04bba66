"""A byte-rate meter in fixed memory: per-second byte counts in a ring of ``window`` slots.

The memory is fixed whatever the message rate, and the rate is always over the last few
seconds rather than since the stream began.
"""

from __future__ import annotations

import math

__all__ = ["RateMeter"]


class RateMeter:
    """Bytes over a sliding window of recent whole seconds, in fixed memory.

    The rate is the bytes counted in the last ``window`` clock seconds (the current, partial,
    one included) divided by the time they cover: that time starts at the meter's ``start``
    when that is more recent, and is never taken as less than one second, so the first
    reading after a burst does not spike.

    Args:
        start: When measuring began (seconds, same clock as :meth:`add`).
        window: Seconds the rate is measured over (at least 1).
    """

    __slots__ = ("_bytes", "_seconds", "_start", "_window")

    def __init__(self, start: float, window: int = 5) -> None:
        if window < 1:
            msg = f"window must be at least 1 second, not {window}"
            raise ValueError(msg)
        self._window = window
        self._start = start
        self._seconds = [-1] * window  # the clock second each slot counts
        self._bytes = [0] * window

    def add(self, now: float, size: int) -> None:
        """Count ``size`` bytes at time ``now``."""
        second = math.floor(now)
        slot = second % self._window
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._bytes[slot] = 0
        self._bytes[slot] += size

    def kbps(self, now: float) -> float:
        """The rate at ``now``, in kilobits (1000 bits) per second."""
        current = math.floor(now)
        oldest = current - self._window + 1
        total = sum(
            size
            for second, size in zip(self._seconds, self._bytes, strict=True)
            if oldest <= second <= current
        )
        covered = now - max(float(oldest), self._start)
        return total * 8 / 1000 / max(covered, 1.0)
