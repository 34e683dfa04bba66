"""A small MPEG-TS muxer (ISO/IEC 13818-1) for HLS segments.

One program, with one video and one audio elementary stream at most.

Theory of operation:

* :class:`TsMuxer` turns access units (Annex B video, ADTS audio) into 188-byte transport
  packets: each becomes one PES packet, cut into transport packets whose last one is padded
  with adaptation-field stuffing. The first packet of a video PES carries the PCR (the video
  is the PCR stream when there is video) and, for a keyframe, the random access flag.
* The PAT and PMT are built once per set of streams (their CRC is the only per-byte loop, over
  a few dozen bytes) and written with :meth:`TsMuxer.tables` at the start of every segment.
* Continuity counters run on per PID across segments, as one long stream would have them.
* Payloads are sliced with memoryviews and joined once per access unit: no copy per packet.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from enum import IntEnum

from rtmp_actors.media._wire import Buffer

__all__ = ["PACKET_SIZE", "TsMuxer", "TsStreamType", "mpeg_crc32"]

PACKET_SIZE = 188
_PAYLOAD_SIZE = PACKET_SIZE - 4
PMT_PID = 0x1000
VIDEO_PID = 0x100
AUDIO_PID = 0x101
_VIDEO_STREAM_ID = 0xE0
_AUDIO_STREAM_ID = 0xC0
_PROGRAM = 1
_TS_CLOCK_MASK = (1 << 33) - 1
_HEADER = struct.Struct(">BHB")
_PES_START = struct.Struct(">3sBHBBB")
_U16 = struct.Struct(">H")
_STUFFING = b"\xff" * PACKET_SIZE


class TsStreamType(IntEnum):
    """The PMT's stream_type of each codec the muxer carries."""

    MP3 = 0x03
    AAC_ADTS = 0x0F
    H264 = 0x1B
    HEVC = 0x24


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def mpeg_crc32(data: Buffer) -> int:
    """The CRC-32/MPEG-2 of a PSI section (not reflected, no final XOR)."""
    crc = 0xFFFFFFFF
    for byte in bytes(data):  # sections are a few dozen bytes, built once per stream set
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _section(table_id: int, id_field: int, body: bytes) -> bytes:
    """A long-form PSI section (version 0, current) with its CRC."""
    length = 5 + len(body) + 4  # from after the length field through the CRC
    head = struct.pack(">BHHBBB", table_id, 0xB000 | length, id_field, 0xC1, 0, 0)
    section = head + body
    return section + mpeg_crc32(section).to_bytes(4)


def _pts_field(prefix: int, ticks: int) -> bytes:
    """A 5-byte PTS or DTS field with its 4-bit prefix and marker bits."""
    ticks &= _TS_CLOCK_MASK
    return struct.pack(
        ">BHH",
        (prefix << 4) | ((ticks >> 29) & 0x0E) | 1,
        ((ticks >> 14) & 0xFFFE) | 1,
        ((ticks << 1) & 0xFFFE) | 1,
    )


def _pcr_field(ticks: int) -> bytes:
    """The 6-byte PCR: a 33-bit 90 kHz base, reserved bits, a 27 MHz extension of 0."""
    base = ticks & _TS_CLOCK_MASK
    return struct.pack(">IH", base >> 1, ((base & 1) << 15) | 0x7E00)


class TsMuxer:
    """Muxes access units of one program into transport packets.

    Args:
        video: The video stream's type, or None for none.
        audio: The audio stream's type, or None for none.
    """

    def __init__(self, video: TsStreamType | None, audio: TsStreamType | None) -> None:
        self._counters = {0: 0, PMT_PID: 0, VIDEO_PID: 0, AUDIO_PID: 0}
        self._tables = b""
        self.set_streams(video, audio)

    def set_streams(self, video: TsStreamType | None, audio: TsStreamType | None) -> None:
        """Change the program's streams (the next :meth:`tables` announce them)."""
        self.video, self.audio = video, audio
        streams: list[tuple[TsStreamType, int]] = []
        if video is not None:
            streams.append((video, VIDEO_PID))
        if audio is not None:
            streams.append((audio, AUDIO_PID))
        self._pcr_pid = VIDEO_PID if video is not None else AUDIO_PID
        pat = _section(0x00, 1, struct.pack(">HH", _PROGRAM, 0xE000 | PMT_PID))
        entries = b"".join(struct.pack(">BHH", kind, 0xE000 | pid, 0xF000) for kind, pid in streams)
        pmt_body = struct.pack(">HH", 0xE000 | self._pcr_pid, 0xF000) + entries
        pmt = _section(0x02, _PROGRAM, pmt_body)
        self._sections = ((0, pat), (PMT_PID, pmt))

    def tables(self) -> bytes:
        """The PAT and PMT, as two transport packets (write them first in every segment)."""
        packets = []
        for pid, section in self._sections:
            payload = b"\x00" + section  # pointer_field 0: the section starts right away
            packets.append(self._header(pid, start=True, adaptation=False))
            packets.append(payload + _STUFFING[: _PAYLOAD_SIZE - len(payload)])
        return b"".join(packets)

    def video_access_unit(self, dts: int, pts: int, data: Buffer, *, keyframe: bool) -> bytes:
        """One video access unit (Annex B) with its 90 kHz decode and presentation times."""
        if pts == dts:
            header = _pts_header(_VIDEO_STREAM_ID, 0x80, _pts_field(2, pts), 0)
        else:
            times = _pts_field(3, pts) + _pts_field(1, dts)
            header = _pts_header(_VIDEO_STREAM_ID, 0xC0, times, 0)  # length 0: unbounded
        pcr = _pcr_field(dts) if self._pcr_pid == VIDEO_PID else None
        return self._packetize(VIDEO_PID, header, data, pcr, random_access=keyframe)

    def audio_access_unit(self, pts: int, data: Buffer) -> bytes:
        """One audio frame (ADTS for AAC) with its 90 kHz presentation time."""
        size = 8 + len(data)  # from after the length field: flags, header length, PTS, data
        header = _pts_header(
            _AUDIO_STREAM_ID, 0x80, _pts_field(2, pts), size if size <= 0xFFFF else 0
        )
        pcr = _pcr_field(pts) if self._pcr_pid == AUDIO_PID else None
        return self._packetize(AUDIO_PID, header, data, pcr, random_access=pcr is not None)

    def _header(self, pid: int, *, start: bool, adaptation: bool) -> bytes:
        counter = self._counters[pid]
        self._counters[pid] = (counter + 1) & 0x0F
        control = 0x30 if adaptation else 0x10
        return _HEADER.pack(0x47, (0x4000 if start else 0) | pid, control | counter)

    def _packetize(
        self, pid: int, header: bytes, data: Buffer, pcr: bytes | None, *, random_access: bool
    ) -> bytes:
        view = memoryview(data)
        parts: list[Buffer] = []
        # The first packet: PES header, adaptation field if any, as much payload as fits.
        fields = b""
        if pcr is not None or random_access:
            flags = (0x40 if random_access else 0) | (0x10 if pcr is not None else 0)
            fields = bytes((flags,)) + (pcr or b"")
        room = _PAYLOAD_SIZE - len(header) - (len(fields) + 1 if fields else 0)
        first = min(room, len(view))
        parts.extend(self._packet(pid, fields, room - first, start=True, has_fields=bool(fields)))
        parts.append(header)
        parts.append(view[:first])
        offset, end = first, len(view)
        # Full packets in the middle: a 4-byte header and a slice.
        while end - offset >= _PAYLOAD_SIZE:
            parts.append(self._header(pid, start=False, adaptation=False))
            parts.append(view[offset : offset + _PAYLOAD_SIZE])
            offset += _PAYLOAD_SIZE
        if offset < end:  # the last one, padded
            parts.extend(self._packet(pid, b"", _PAYLOAD_SIZE - (end - offset), start=False))
            parts.append(view[offset:])
        return b"".join(parts)

    def _packet(
        self, pid: int, fields: bytes, stuffing: int, *, start: bool, has_fields: bool = False
    ) -> Iterable[bytes]:
        """A packet's header and adaptation field, with ``stuffing`` bytes to pad.

        ``stuffing`` counts bytes beyond the adaptation field ``fields`` (already made room
        for, with its length byte, when ``has_fields``).
        """
        if not has_fields and not stuffing:
            return (self._header(pid, start=start, adaptation=False),)
        if not has_fields:
            # An adaptation field of ``stuffing`` bytes: its length byte, then flags + 0xFF.
            if stuffing == 1:
                field = b"\x00"
            else:
                field = bytes((stuffing - 1, 0)) + _STUFFING[: stuffing - 2]
            return (self._header(pid, start=start, adaptation=True), field)
        field = bytes((len(fields) + stuffing,)) + fields + _STUFFING[:stuffing]
        return (self._header(pid, start=start, adaptation=True), field)


def _pts_header(stream_id: int, flags: int, times: bytes, length: int) -> bytes:
    """A PES header: start code, stream id, packet length, flags and the time fields."""
    return _PES_START.pack(b"\x00\x00\x01", stream_id, length, 0x80, flags, len(times)) + times
