"""Turning FLV codec payloads into the elementary streams MPEG-TS carries.

FLV (like MP4) stores H.264 as length-prefixed NAL units with the parameter sets in a separate
decoder configuration record (AVCC); MPEG-TS wants Annex B (start codes, parameter sets in
band). FLV stores raw AAC frames with an AudioSpecificConfig; MPEG-TS wants each frame behind
an ADTS header. Both conversions work on whole NAL units and frames (slices, never a loop per
byte).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media._wire import Buffer

__all__ = ["AacConfig", "AvcConfig", "avcc_to_annexb"]

START_CODE = b"\x00\x00\x00\x01"
ACCESS_UNIT_DELIMITER = START_CODE + b"\x09\xf0"
"""An H.264 AUD (any slice types): MPEG-TS readers expect one before each access unit."""
_NAL_SPS, _NAL_PPS, _NAL_AUD, _NAL_IDR = 7, 8, 9, 5
_U16 = struct.Struct(">H")
_ADTS = struct.Struct(">BBBBBBB")
# The sampling frequencies an AudioSpecificConfig's 4-bit index names.
AAC_SAMPLE_RATES: tuple[int, ...] = (96000, 88200, 64000, 48000, 44100, 32000, 24000)
AAC_SAMPLE_RATES += (22050, 16000, 12000, 11025, 8000, 7350)


@dataclass(frozen=True, slots=True)
class AvcConfig:
    """The parts of an AVCDecoderConfigurationRecord that Annex B needs.

    Attributes:
        length_size: Bytes in each NAL unit's length prefix (1, 2 or 4).
        parameter_sets: The SPS and PPS NAL units, each behind a start code, ready to go in
            front of a keyframe.
    """

    length_size: int
    parameter_sets: bytes

    @classmethod
    def parse(cls, record: Buffer) -> AvcConfig:
        """Read an AVCDecoderConfigurationRecord (an AVC sequence header's payload).

        Raises:
            RemoteProtocolError: If the record is cut short or is not version 1.
        """
        data = memoryview(record)
        if len(data) < 7 or data[0] != 1:
            msg = "AVC decoder configuration record is cut short or not version 1"
            raise RemoteProtocolError(msg)
        length_size = (data[4] & 0x03) + 1
        if length_size == 3:
            msg = "AVC decoder configuration record has a 3-byte NAL length"
            raise RemoteProtocolError(msg)
        sets: list[bytes] = []
        offset = 5
        for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count
            if offset >= len(data):
                msg = "AVC decoder configuration record is cut short"
                raise RemoteProtocolError(msg)
            count = data[offset] & count_mask
            offset += 1
            for _ in range(count):
                if offset + 2 > len(data):
                    msg = "AVC decoder configuration record is cut short"
                    raise RemoteProtocolError(msg)
                (size,) = _U16.unpack_from(data, offset)
                end = offset + 2 + size
                if end > len(data):
                    msg = "AVC parameter set overruns its configuration record"
                    raise RemoteProtocolError(msg)
                sets.append(START_CODE)
                sets.append(bytes(data[offset + 2 : end]))
                offset = end
        return cls(length_size, b"".join(sets))


def avcc_to_annexb(payload: Buffer, config: AvcConfig, *, keyframe: bool) -> bytes:
    """One access unit, from length-prefixed NAL units to Annex B.

    An AUD goes first (the publisher's own is dropped) and, in front of a keyframe that does
    not carry its own, the configuration's SPS and PPS, so every segment decodes on its own.

    Raises:
        RemoteProtocolError: If a NAL unit's length overruns the payload.
    """
    data = memoryview(payload)
    size = config.length_size
    parts: list[bytes | memoryview] = [ACCESS_UNIT_DELIMITER]
    units: list[memoryview] = []
    has_sps = False
    offset, end = 0, len(data)
    while offset + size <= end:
        length = int.from_bytes(data[offset : offset + size])
        offset += size
        if offset + length > end:
            msg = f"H.264 NAL unit of {length} bytes overruns its message"
            raise RemoteProtocolError(msg)
        unit = data[offset : offset + length]
        offset += length
        if not length:
            continue
        nal_type = unit[0] & 0x1F
        if nal_type == _NAL_AUD:
            continue
        has_sps = has_sps or nal_type == _NAL_SPS
        units.append(unit)
    if keyframe and not has_sps:
        parts.append(config.parameter_sets)
    for unit in units:
        parts.append(START_CODE)
        parts.append(unit)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class AacConfig:
    """What an ADTS header needs from an AudioSpecificConfig.

    Attributes:
        object_type: The audio object type (2 is AAC LC).
        frequency_index: The sampling frequency index (see ``AAC_SAMPLE_RATES``).
        channels: The channel configuration (1 to 7).
    """

    object_type: int
    frequency_index: int
    channels: int

    @classmethod
    def parse(cls, config: Buffer) -> AacConfig:
        """Read the first two bytes of an AudioSpecificConfig (an AAC sequence header).

        Raises:
            RemoteProtocolError: If it is cut short or names what ADTS cannot carry.
        """
        if len(config) < 2:
            msg = "AAC AudioSpecificConfig is cut short"
            raise RemoteProtocolError(msg)
        object_type = config[0] >> 3
        frequency_index = ((config[0] & 0x07) << 1) | (config[1] >> 7)
        channels = (config[1] >> 3) & 0x0F
        if not 1 <= object_type <= 31 or object_type == 31:
            msg = f"AAC object type {object_type} cannot be carried in ADTS"
            raise RemoteProtocolError(msg)
        if frequency_index >= len(AAC_SAMPLE_RATES):
            msg = f"AAC sampling frequency index {frequency_index} is not in the table"
            raise RemoteProtocolError(msg)
        return cls(object_type, frequency_index, channels)

    @property
    def sample_rate(self) -> int:
        """Samples per second."""
        return AAC_SAMPLE_RATES[self.frequency_index]

    def adts_header(self, frame_size: int) -> bytes:
        """The 7-byte ADTS header (no CRC) of a raw AAC frame of ``frame_size`` bytes.

        Raises:
            RemoteProtocolError: If the frame is too big for ADTS.
        """
        length = frame_size + 7
        if length > 0x1FFF:
            msg = f"AAC frame of {frame_size} bytes is too big for ADTS"
            raise RemoteProtocolError(msg)
        # ADTS has two bits of profile: object types above 4 (HE-AAC) signal as LC.
        profile = min(self.object_type, 4) - 1
        channels = self.channels
        return _ADTS.pack(
            0xFF,
            0xF1,  # MPEG-4, layer 0, no CRC
            (profile << 6) | (self.frequency_index << 2) | (channels >> 2),
            ((channels & 0x03) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 0x07) << 5) | 0x1F,  # buffer fullness 0x7FF: variable bit rate
            0xFC,  # ... and one raw data block
        )
