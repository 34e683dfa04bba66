"""Which ticks of a fixed frame rate are due: the clock of a server-generated stream.

Sans-I/O: time is passed in. Tick ``n`` is due at ``start + n / frame_rate``, computed from
``n`` each time, so rounding never accumulates into drift. A caller that falls behind (a slow
source, a busy machine) gets the latest due tick and a count of the ones it skipped, never a
burst of stale ticks to catch up on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Pacer", "Tick"]

# A deadline computed as start + n / rate can land a hair after the float `now` meant to hit it.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Tick:
    """A due tick.

    Attributes:
        index: The tick's number, from 0 at the pacer's start.
        skipped: Ticks before it that were never handed out (the caller fell behind).
        due_at: When it was due (seconds, on the caller's clock).
    """

    index: int
    skipped: int
    due_at: float


class Pacer:
    """Hands out the ticks of ``frame_rate`` per second from ``start`` on.

    Args:
        frame_rate: Ticks per second (positive, finite).
        start: When tick 0 is due.

    Raises:
        ValueError: If ``frame_rate`` is not a positive finite number.
    """

    def __init__(self, frame_rate: float, start: float) -> None:
        if not (math.isfinite(frame_rate) and frame_rate > 0):
            msg = f"frame rate must be a positive number, not {frame_rate!r}"
            raise ValueError(msg)
        self.frame_rate = float(frame_rate)
        self.start = start
        self._next = 0
        self.skipped = 0  # over the pacer's life

    @property
    def next_index(self) -> int:
        """The number of the next tick to hand out."""
        return self._next

    @property
    def next_deadline(self) -> float:
        """When the next tick is due."""
        return self._due_at(self._next)

    def _due_at(self, index: int) -> float:
        return self.start + index / self.frame_rate

    def poll(self, now: float) -> Tick | None:
        """The tick to run at ``now``: the latest due one, or None if none is due yet."""
        if now + _EPSILON < self.next_deadline:
            return None
        latest = max(self._next, math.floor((now - self.start + _EPSILON) * self.frame_rate))
        skipped = latest - self._next
        self.skipped += skipped
        self._next = latest + 1
        return Tick(latest, skipped, self._due_at(latest))

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until the next tick is due (0 if one is due)."""
        return max(0.0, self.next_deadline - now)
