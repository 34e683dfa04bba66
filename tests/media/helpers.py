"""Test helpers: a tiny AMF0 reader for script tags, FFmpeg's framecrc view of a file, streams."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers import run_ffmpeg

# --- Just enough AMF0 to read what FFmpeg writes (onMetaData and colorInfo) --------------------


def amf0_values(data: bytes) -> list[Any]:
    """Decode back-to-back AMF0 values (numbers, booleans, strings, objects, arrays, null)."""
    values = []
    offset = 0
    while offset < len(data):
        value, offset = _amf0_value(data, offset)
        values.append(value)
    return values


def _amf0_string(data: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">H", data, offset)
    start = offset + 2
    return data[start : start + length].decode(), start + length


def _amf0_properties(data: bytes, offset: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    while True:
        key, offset = _amf0_string(data, offset)
        if key == "" and data[offset] == 0x09:
            return result, offset + 1
        result[key], offset = _amf0_value(data, offset)


def _amf0_value(data: bytes, offset: int) -> tuple[Any, int]:
    marker = data[offset]
    offset += 1
    if marker == 0x00:
        return struct.unpack_from(">d", data, offset)[0], offset + 8
    if marker == 0x01:
        return data[offset] != 0, offset + 1
    if marker == 0x02:
        return _amf0_string(data, offset)
    if marker == 0x03:
        return _amf0_properties(data, offset)
    if marker in (0x05, 0x06):
        return None, offset
    if marker == 0x08:
        return _amf0_properties(data, offset + 4)
    if marker == 0x0A:
        (count,) = struct.unpack_from(">I", data, offset)
        offset += 4
        items = []
        for _ in range(count):
            item, offset = _amf0_value(data, offset)
            items.append(item)
        return items, offset
    msg = f"AMF0 marker {marker:#x} is not supported by the test reader"
    raise ValueError(msg)


# --- FFmpeg's own view of a file, one packet per line -------------------------------------------

_PACKET_LINE = re.compile(
    r"^\s*(\d+),\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*(\d+),\s*0x([0-9a-f]+)(.*)$"
)


@dataclass(frozen=True)
class FfmpegPacket:
    """One demuxed packet as ``-f framecrc`` prints it."""

    size: int
    adler32: int
    keyframe: bool
    composition_time: int  # pts - dts, in the FLV time base of milliseconds
    dts: int


def ffmpeg_packets(path: Path) -> dict[str, list[FfmpegPacket]]:
    """Demux ``path`` with FFmpeg (stream copy, timestamps kept) and group packets by codec.

    Returns:
        FFmpeg codec name (``h264``, ``hevc``, ``av1``, ``vp9``, ``aac``, ``opus``) to the
        packets of that stream, in file order.
    """
    result = run_ffmpeg(
        "-copyts", "-i", str(path), "-map", "0", "-c", "copy", "-f", "framecrc", "-"
    )
    codecs: dict[int, str] = {}
    packets: dict[str, list[FfmpegPacket]] = {}
    for line in result.stdout.decode().splitlines():
        if line.startswith("#codec_id"):
            index, codec = line.removeprefix("#codec_id ").split(": ")
            codecs[int(index)] = codec.strip()
            packets[codec.strip()] = []
            continue
        match = _PACKET_LINE.match(line)
        if match is None:
            continue
        stream, dts, pts, _, size, crc, rest = match.groups()
        flags = re.search(r"F=0x([0-9A-Fa-f]+)", rest)
        keyframe = flags is None or int(flags.group(1), 16) & 1 == 1
        packets[codecs[int(stream)]].append(
            FfmpegPacket(int(size), int(crc, 16), keyframe, int(pts) - int(dts), int(dts))
        )
    return packets


# --- Streams ------------------------------------------------------------------------------------


class TrickleStream(io.RawIOBase):
    """A readable stream that returns at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._step = step
        self.largest_request = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.largest_request = max(self.largest_request, size)
        if size < 0:
            size = len(self._data) - self._position
        size = min(size, self._step)
        chunk = bytes(self._data[self._position : self._position + size])
        self._position += len(chunk)
        return chunk
