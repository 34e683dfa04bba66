"""Types shared by the Enhanced RTMP audio and video tag headers (multitrack and ModEx)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["MAX_TIMESTAMP_OFFSET_NANO", "AvMultitrackType", "ModEx", "ModExType"]

MAX_TIMESTAMP_OFFSET_NANO = 999_999
"""Largest TimestampOffsetNano: one nanosecond short of the next millisecond."""


class AvMultitrackType(IntEnum):
    """How a multitrack audio or video message lays out its tracks."""

    ONE_TRACK = 0
    """One track, whose data runs to the end of the message (no size field)."""
    MANY_TRACKS = 1
    """Several tracks of one codec, each with a UI24 size."""
    MANY_TRACKS_MANY_CODECS = 2
    """Several tracks, each with its own FourCC and a UI24 size."""


class ModExType(IntEnum):
    """ModEx (modifier extension) types; audio and video share the numbering."""

    TIMESTAMP_OFFSET_NANO = 0
    """UI24 nanoseconds (0 to 999,999) added to the message's millisecond timestamp."""


@dataclass(frozen=True, slots=True)
class ModEx:
    """One ModEx entry as it appeared before the real packet type.

    Attributes:
        mod_ex_type: The ModExType nibble (a :class:`ModExType` when known).
        data: The entry's data bytes (1 to 65536 of them).
    """

    mod_ex_type: int
    data: bytes
