"""Fragmented MP4 (ISO/IEC 14496-12) for HLS: an init segment and one fragment per segment.

Theory of operation:

* :func:`init_segment` writes ``ftyp`` and a ``moov`` with one ``trak`` per track and an
  ``mvex``: the sample entry carries the codec's configuration record as FLV (Enhanced RTMP)
  delivers it (``avcC``, ``hvcC``, ``av1C``; ``esds`` for AAC; ``dOps``, made from the
  OpusHead, for Opus).
* :func:`media_segment` writes ``styp``, ``moof`` (one ``traf`` per track: ``tfhd``, ``tfdt``,
  ``trun`` with each sample's duration, size, flags and composition offset) and ``mdat``.
  Samples are the FLV payloads as they are: H.264 and HEVC stay length-prefixed, AV1 stays
  OBUs, AAC and Opus stay raw frames.
* Every track's timescale is 1000: FLV timestamps are milliseconds.
* Boxes are built with ``struct`` and joined once; sample data is never copied per byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media._wire import Buffer

__all__ = ["Fmp4Track", "FragmentSample", "init_segment", "media_segment", "opus_dops"]

TIMESCALE = 1000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_SYNC_FLAGS = 0x02000000  # sample_depends_on = 2: an independent (sync) sample
_NON_SYNC_FLAGS = 0x01010000  # depends on others, is_non_sync_sample


def box(kind: bytes, *parts: Buffer) -> bytes:
    """An ISO BMFF box of type ``kind`` holding ``parts``."""
    size = 8 + sum(len(part) for part in parts)
    return b"".join((struct.pack(">I4s", size, kind), *parts))


def full_box(kind: bytes, version: int, flags: int, *parts: Buffer) -> bytes:
    """A full box: a box whose content starts with a version byte and 24 bits of flags."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


@dataclass(frozen=True, slots=True)
class Fmp4Track:
    """One track of the init segment.

    Attributes:
        track_id: 1 and up.
        kind: ``b"vide"`` or ``b"soun"``.
        sample_entry: The ``stsd`` entry (see :func:`video_entry` and the audio ones).
    """

    track_id: int
    kind: bytes
    sample_entry: bytes


def video_entry(fourcc: bytes, config_box: bytes, config: Buffer, width: int, height: int) -> bytes:
    """A visual sample entry (``avc1``, ``hvc1``, ``av01``) with its configuration box."""
    body = struct.pack(
        ">6xH16xHHIIIH32sHh", 1, width, height, 0x480000, 0x480000, 0, 1, b"", 24, -1
    )
    return box(fourcc, body, box(config_box, config))


def _audio_body(channels: int, sample_rate: int) -> bytes:
    rate = min(sample_rate, 0xFFFF) << 16
    return struct.pack(">6xH8xHHHHI", 1, channels, 16, 0, 0, rate)


def aac_entry(audio_specific_config: Buffer, channels: int, sample_rate: int) -> bytes:
    """An ``mp4a`` sample entry whose ``esds`` carries the AudioSpecificConfig."""
    asc = bytes(audio_specific_config)
    decoder_specific = _descriptor(0x05, asc)
    # MPEG-4 audio (0x40), an audio stream (0x15); buffer size and bit rates unknown (0).
    decoder_config = _descriptor(0x04, bytes((0x40, 0x15)) + bytes(11) + decoder_specific)
    es = _descriptor(0x03, struct.pack(">HB", 1, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    return box(b"mp4a", _audio_body(channels, sample_rate), full_box(b"esds", 0, 0, es))


def _descriptor(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size > 0x0FFFFFFF:  # pragma: no cover - configuration records are small
        msg = "MPEG-4 descriptor too big"
        raise RemoteProtocolError(msg)
    # The size in four 7-bit groups, all but the last flagged "more follows".
    length = struct.pack(
        ">BBBB",
        ((size >> 21) & 0x7F) | 0x80,
        ((size >> 14) & 0x7F) | 0x80,
        ((size >> 7) & 0x7F) | 0x80,
        size & 0x7F,
    )
    return bytes((tag,)) + length + body


def opus_dops(opus_head: Buffer) -> tuple[bytes, int]:
    """The ``dOps`` box content made from an OpusHead (RFC 7845), and the channel count.

    Raises:
        RemoteProtocolError: If it is not an OpusHead.
    """
    head = bytes(opus_head)
    if len(head) < 19 or head[:8] != b"OpusHead":
        msg = "Opus sequence header is not an OpusHead"
        raise RemoteProtocolError(msg)
    channels = head[9]
    pre_skip, rate, gain = struct.unpack_from("<HIh", head, 10)
    family = head[18]
    body = struct.pack(">BBHIhB", 0, channels, pre_skip, rate, gain, family)
    if family != 0:
        if len(head) < 21 + channels:
            msg = "OpusHead channel mapping table is cut short"
            raise RemoteProtocolError(msg)
        body += head[19 : 21 + channels]
    return body, channels


def opus_entry(dops: bytes, channels: int) -> bytes:
    """An ``Opus`` sample entry (48 kHz, as Opus always decodes)."""
    return box(b"Opus", _audio_body(channels, 48000), box(b"dOps", dops))


def init_segment(tracks: Sequence[Fmp4Track]) -> bytes:
    """``ftyp`` and ``moov`` for these tracks."""
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6mp41")
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH10x", 0, 0, TIMESCALE, 0, 0x10000, 0x0100),
        _MATRIX,
        bytes(24),
        struct.pack(">I", len(tracks) + 1),
    )
    traks = [_trak(track) for track in tracks]
    trexs = [full_box(b"trex", 0, 0, struct.pack(">IIIII", t.track_id, 1, 0, 0, 0)) for t in tracks]
    return ftyp + box(b"moov", mvhd, *traks, box(b"mvex", *trexs))


def _trak(track: Fmp4Track) -> bytes:
    video = track.kind == b"vide"
    tkhd = full_box(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII8xHHH2x", 0, 0, track.track_id, 0, 0, 0, 0, 0 if video else 0x0100),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, 0, 0x55C4, 0))
    name = b"VideoHandler\x00" if video else b"SoundHandler\x00"
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, track.kind), name)
    header = full_box(b"vmhd", 0, 1, bytes(8)) if video else full_box(b"smhd", 0, 0, bytes(4))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), track.sample_entry),
        full_box(b"stts", 0, 0, bytes(4)),
        full_box(b"stsc", 0, 0, bytes(4)),
        full_box(b"stsz", 0, 0, bytes(8)),
        full_box(b"stco", 0, 0, bytes(4)),
    )
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf", header, dinf, stbl)))


@dataclass(frozen=True, slots=True)
class FragmentSample:
    """One sample of a fragment.

    Attributes:
        duration: Milliseconds until the track's next sample.
        composition_offset: Presentation minus decode time, in milliseconds.
        sync: Whether it is a sync sample (a keyframe; every audio frame).
        data: Its bytes.
    """

    duration: int
    composition_offset: int
    sync: bool
    data: Buffer


def media_segment(
    sequence: int, tracks: Sequence[tuple[int, int, Sequence[FragmentSample]]]
) -> bytes:
    """A media segment: ``styp``, one ``moof`` and its ``mdat``.

    Args:
        sequence: The fragment's sequence number (1 and up).
        tracks: ``(track_id, base decode time in ms, samples)`` per track; tracks without
            samples are left out.
    """
    tracks = [t for t in tracks if t[2]]
    styp = box(b"styp", b"msdh", struct.pack(">I", 0), b"msdhmsix")
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    # The trun data offsets depend on the moof's size: build once with zeros, then for real.
    sizes = [sum(len(s.data) for s in samples) for _, _, samples in tracks]

    def build(moof_size: int) -> bytes:
        trafs = []
        offset = moof_size + 8  # past the mdat header
        for (track_id, base, samples), size in zip(tracks, sizes, strict=True):
            trafs.append(_traf(track_id, base, samples, offset))
            offset += size
        return box(b"moof", mfhd, *trafs)

    moof = build(len(build(0)))
    mdat_size = 8 + sum(sizes)
    parts: list[Buffer] = [styp, moof, struct.pack(">I4s", mdat_size, b"mdat")]
    for _, _, samples in tracks:
        parts.extend(s.data for s in samples)
    return b"".join(parts)


def _traf(track_id: int, base: int, samples: Sequence[FragmentSample], data_offset: int) -> bytes:
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))  # default-base-is-moof
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", max(0, base)))
    entries = struct.Struct(">IIIi")
    rows = b"".join(
        entries.pack(
            s.duration,
            len(s.data),
            _SYNC_FLAGS if s.sync else _NON_SYNC_FLAGS,
            s.composition_offset,
        )
        for s in samples
    )
    # data offset, then per sample: duration, size, flags, composition offset (signed, v1)
    trun = full_box(b"trun", 1, 0x000F01, struct.pack(">Ii", len(samples), data_offset), rows)
    return box(b"traf", tfhd, tfdt, trun)
