"""Byte-level helpers shared by the audio and video tag parsers (private)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media.enhanced import MAX_TIMESTAMP_OFFSET_NANO, AvMultitrackType, ModEx, ModExType

Buffer = bytes | bytearray | memoryview
"""What the parsers accept: anything indexable to ints and sliceable."""

MOD_EX = 7
"""The ModEx packet type, the same number for audio and video."""


def need(data: Buffer, end: int, what: str) -> None:
    """Raise unless ``data`` has at least ``end`` bytes."""
    if end > len(data):
        msg = f"{what} is cut short: needs {end} bytes, the tag has {len(data)}"
        raise RemoteProtocolError(msg)


def ui24(data: Buffer, offset: int) -> int:
    """Read a big-endian unsigned 24-bit number (the caller checked the length)."""
    return (data[offset] << 16) | (data[offset + 1] << 8) | data[offset + 2]


def si24(data: Buffer, offset: int) -> int:
    """Read a big-endian two's complement 24-bit number (the caller checked the length)."""
    value = ui24(data, offset)
    return value - 0x1000000 if value & 0x800000 else value


def read_fourcc(data: Buffer, offset: int, known: Mapping[str, str], what: str) -> str:
    """Read a FourCC, returning the enum member when it is a known one."""
    need(data, offset + 4, f"{what} FourCC")
    fourcc = bytes(data[offset : offset + 4]).decode("latin-1")
    return known.get(fourcc, fourcc)


def read_mod_ex(data: Buffer, offset: int, what: str) -> tuple[int, int, tuple[ModEx, ...], int]:
    """Read the ModEx entries that follow a ModEx packet type.

    Args:
        data: The tag body.
        offset: Where the first entry's size byte is.
        what: "audio tag" or "video tag", for messages.

    Returns:
        The real packet type, the offset after the last entry, the entries, and the
        TimestampOffsetNano (0 when there is none; the last one wins).
    """
    entries: list[ModEx] = []
    nano = 0
    packet_type = MOD_EX
    while packet_type == MOD_EX:
        need(data, offset + 1, f"{what} ModEx size")
        size = data[offset] + 1
        offset += 1
        if size == 256:
            # 256 is the escape: the real size follows as UI16 + 1.
            need(data, offset + 2, f"{what} ModEx 16-bit size")
            size = ((data[offset] << 8) | data[offset + 1]) + 1
            offset += 2
        need(data, offset + size + 1, f"{what} ModEx data of {size} bytes")
        entry_data = bytes(data[offset : offset + size])
        offset += size
        mod_ex_type = data[offset] >> 4
        packet_type = data[offset] & 0x0F
        offset += 1
        if mod_ex_type == ModExType.TIMESTAMP_OFFSET_NANO:
            if size < 3:
                msg = f"{what} TimestampOffsetNano has {size} bytes of data, needs 3"
                raise RemoteProtocolError(msg)
            nano = ui24(entry_data, 0)
            if nano > MAX_TIMESTAMP_OFFSET_NANO:
                msg = f"{what} TimestampOffsetNano {nano} is above {MAX_TIMESTAMP_OFFSET_NANO}"
                raise RemoteProtocolError(msg)
            entries.append(ModEx(ModExType.TIMESTAMP_OFFSET_NANO, entry_data))
        else:
            entries.append(ModEx(mod_ex_type, entry_data))
    return packet_type, offset, tuple(entries), nano


def peek_packet_type(data: Buffer, multitrack: int) -> int:
    """Find an enhanced tag's effective packet type, skipping ModEx and a multitrack wrapper.

    Used on the hot path, so it builds nothing and never raises.

    Args:
        data: A tag body whose first byte has the enhanced flag (video) or SoundFormat 9.
        multitrack: The Multitrack packet type number (6 for video, 5 for audio).

    Returns:
        The packet type of the media inside, or -1 if the bytes are cut short.
    """
    end = len(data)
    packet_type = data[0] & 0x0F
    offset = 1
    while packet_type == MOD_EX:
        if offset >= end:
            return -1
        size = data[offset] + 1
        offset += 1
        if size == 256:
            if offset + 2 > end:
                return -1
            size = ((data[offset] << 8) | data[offset + 1]) + 1
            offset += 2
        offset += size
        if offset >= end:
            return -1
        packet_type = data[offset] & 0x0F
        offset += 1
    if packet_type == multitrack:
        if offset >= end:
            return -1
        packet_type = data[offset] & 0x0F
    return packet_type


P = TypeVar("P")
T = TypeVar("T")

_LAYOUTS = tuple(AvMultitrackType)


def read_multitrack(
    data: Buffer,
    offset: int,
    *,
    what: str,
    fourccs: Mapping[str, str],
    packet_type: Callable[[int, str], P],
    read_track: Callable[[Buffer, int, int, int, str | None, P], T],
) -> tuple[tuple[T, ...], AvMultitrackType]:
    """Read the tracks of a multitrack audio or video message, starting at its layout byte.

    Audio and video lay tracks out the same way; only their packet types and what a track
    holds differ, which ``packet_type`` and ``read_track`` supply.

    Raises:
        RemoteProtocolError: If the layout is unknown or a track is cut short.
    """
    need(data, offset + 1, f"{what} multitrack type")
    layout_value = data[offset] >> 4
    if layout_value > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        msg = f"{what} has the unknown multitrack type {layout_value}"
        raise RemoteProtocolError(msg)
    layout = _LAYOUTS[layout_value]
    inner_type = packet_type(data[offset] & 0x0F, "inside a multitrack")
    offset += 1
    fourcc: str | None = None
    if layout != AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        fourcc = read_fourcc(data, offset, fourccs, what)
        offset += 4
    tracks: list[T] = []
    end_of_data = len(data)
    while True:
        if layout == AvMultitrackType.MANY_TRACKS_MANY_CODECS:
            fourcc = read_fourcc(data, offset, fourccs, f"{what} track {len(tracks)}")
            offset += 4
        need(data, offset + 1, f"{what} track id")
        track_id = data[offset]
        offset += 1
        if layout == AvMultitrackType.ONE_TRACK:
            end = end_of_data
        else:
            need(data, offset + 3, f"{what} track {track_id} size")
            end = offset + 3 + ui24(data, offset)
            offset += 3
            if end > end_of_data:
                msg = (
                    f"{what} track {track_id} claims {end - offset} bytes, "
                    f"only {end_of_data - offset} remain"
                )
                raise RemoteProtocolError(msg)
        tracks.append(read_track(data, offset, end, track_id, fourcc, inner_type))
        offset = end
        if layout == AvMultitrackType.ONE_TRACK or offset >= end_of_data:
            return tuple(tracks), layout
