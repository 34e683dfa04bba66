"""Audio tag headers: legacy FLV (SoundFormat byte, AAC packet type) and Enhanced RTMP v2.

:func:`parse_audio_tag` reads the header of one audio message (an FLV audio tag body) into an
:class:`AudioTagHeader` without copying the codec payload; :func:`is_audio_sequence_header`
answers a relay's per-message question from a few bytes.

Legacy AAC packet types map onto :class:`AudioPacketType` (sequence header to SEQUENCE_START,
raw to CODED_FRAMES); other legacy formats carry CODED_FRAMES. An empty message is the
"silence" message Enhanced RTMP v2 documents: it parses to a header with no tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.media._wire import (
    MOD_EX,
    Buffer,
    need,
    peek_packet_type,
    read_fourcc,
    read_mod_ex,
    read_multitrack,
)
from rtmp_actors.media.codecs import AudioFourCC, SoundFormat, audio_codec_name
from rtmp_actors.media.enhanced import AvMultitrackType, ModEx

__all__ = [
    "AacPacketType",
    "AudioChannel",
    "AudioChannelMask",
    "AudioChannelOrder",
    "AudioPacketType",
    "AudioTagHeader",
    "AudioTrack",
    "MultichannelConfig",
    "SoundRate",
    "SoundSize",
    "SoundType",
    "is_audio_configuration",
    "is_audio_sequence_header",
    "parse_audio_tag",
]

_WHAT = "audio tag"


class SoundRate(IntEnum):
    """Legacy SoundRate bits (2 bits); see :attr:`hz`."""

    KHZ_5_5 = 0
    KHZ_11 = 1
    KHZ_22 = 2
    KHZ_44 = 3

    @property
    def hz(self) -> int:
        """The rate in samples per second."""
        return (5512, 11025, 22050, 44100)[self]


class SoundSize(IntEnum):
    """Legacy SoundSize bit: bits per sample of uncompressed formats."""

    BITS_8 = 0
    BITS_16 = 1


class SoundType(IntEnum):
    """Legacy SoundType bit."""

    MONO = 0
    STEREO = 1


class AacPacketType(IntEnum):
    """Legacy AAC packet types (the second byte of a SoundFormat 10 tag)."""

    SEQUENCE_HEADER = 0
    RAW = 1


class AudioPacketType(IntEnum):
    """Enhanced RTMP audio packet types; legacy AAC packet types map onto the first two."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


class AudioChannelOrder(IntEnum):
    """How a MultichannelConfig describes its channels."""

    UNSPECIFIED = 0
    """Only the channel count is given."""
    NATIVE = 1
    """A UI32 :class:`AudioChannelMask` says which channels are present, in mask order."""
    CUSTOM = 2
    """An explicit map: one :class:`AudioChannel` per channel, in bitstream order."""


class AudioChannel(IntEnum):
    """Speaker positions, as used by a custom channel map."""

    FRONT_LEFT = 0
    FRONT_RIGHT = 1
    FRONT_CENTER = 2
    LOW_FREQUENCY_1 = 3
    BACK_LEFT = 4
    BACK_RIGHT = 5
    FRONT_LEFT_CENTER = 6
    FRONT_RIGHT_CENTER = 7
    BACK_CENTER = 8
    SIDE_LEFT = 9
    SIDE_RIGHT = 10
    TOP_CENTER = 11
    TOP_FRONT_LEFT = 12
    TOP_FRONT_CENTER = 13
    TOP_FRONT_RIGHT = 14
    TOP_BACK_LEFT = 15
    TOP_BACK_CENTER = 16
    TOP_BACK_RIGHT = 17
    LOW_FREQUENCY_2 = 18
    TOP_SIDE_LEFT = 19
    TOP_SIDE_RIGHT = 20
    BOTTOM_FRONT_CENTER = 21
    BOTTOM_FRONT_LEFT = 22
    BOTTOM_FRONT_RIGHT = 23
    UNUSED = 0xFE
    """The channel is empty and can be skipped."""
    UNKNOWN = 0xFF
    """The channel has data but no known speaker position."""


class AudioChannelMask(IntFlag):
    """Which speakers a native-order MultichannelConfig has (bit n is AudioChannel n)."""

    FRONT_LEFT = 1 << 0
    FRONT_RIGHT = 1 << 1
    FRONT_CENTER = 1 << 2
    LOW_FREQUENCY_1 = 1 << 3
    BACK_LEFT = 1 << 4
    BACK_RIGHT = 1 << 5
    FRONT_LEFT_CENTER = 1 << 6
    FRONT_RIGHT_CENTER = 1 << 7
    BACK_CENTER = 1 << 8
    SIDE_LEFT = 1 << 9
    SIDE_RIGHT = 1 << 10
    TOP_CENTER = 1 << 11
    TOP_FRONT_LEFT = 1 << 12
    TOP_FRONT_CENTER = 1 << 13
    TOP_FRONT_RIGHT = 1 << 14
    TOP_BACK_LEFT = 1 << 15
    TOP_BACK_CENTER = 1 << 16
    TOP_BACK_RIGHT = 1 << 17
    LOW_FREQUENCY_2 = 1 << 18
    TOP_SIDE_LEFT = 1 << 19
    TOP_SIDE_RIGHT = 1 << 20
    BOTTOM_FRONT_CENTER = 1 << 21
    BOTTOM_FRONT_LEFT = 1 << 22
    BOTTOM_FRONT_RIGHT = 1 << 23


_FOURCCS = {str(fourcc): fourcc for fourcc in AudioFourCC}
# Tuples indexed by the bit values: cheaper than calling the enum classes.
_RATES = tuple(SoundRate)
_SIZES = tuple(SoundSize)
_TYPES = tuple(SoundType)
_SOUND_FORMATS: dict[int, SoundFormat] = {int(f): f for f in SoundFormat}
_CHANNELS: dict[int, AudioChannel] = {int(c): c for c in AudioChannel}
_MEDIA_PACKET_TYPES: dict[int, AudioPacketType] = {
    int(t): t
    for t in AudioPacketType
    if t not in (AudioPacketType.MULTITRACK, AudioPacketType.MOD_EX)
}


@dataclass(frozen=True, slots=True)
class MultichannelConfig:
    """An Enhanced RTMP MultichannelConfig packet's content.

    Attributes:
        channel_order: How the channels are described.
        channel_count: How many channels there are.
        channel_mask: The present speakers (native order only), else None.
        channel_mapping: One speaker per channel (custom order only; an :class:`AudioChannel`
            when known), else empty.
    """

    channel_order: AudioChannelOrder
    channel_count: int
    channel_mask: AudioChannelMask | None = None
    channel_mapping: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """One track's part of an audio message (a single-track message has one, with id 0).

    Attributes:
        track_id: The multitrack trackId (0 when the message is not multitrack).
        fourcc: The codec FourCC (an :class:`AudioFourCC` when known); None for legacy formats.
        packet_type: What the payload is.
        payload_offset: Where the codec payload starts in the tag body.
        payload_size: How many bytes the codec payload has.
        multichannel_config: The channel layout, for a MULTICHANNEL_CONFIG packet.
    """

    track_id: int
    fourcc: str | None
    packet_type: AudioPacketType
    payload_offset: int
    payload_size: int
    multichannel_config: MultichannelConfig | None = None

    def payload(self, data: Buffer) -> memoryview:
        """Return this track's codec payload as a view into ``data`` (the parsed tag body)."""
        return memoryview(data)[self.payload_offset : self.payload_offset + self.payload_size]


@dataclass(frozen=True, slots=True)
class AudioTagHeader:
    """The parsed header of one audio message.

    Attributes:
        sound_format: The SoundFormat (a :class:`SoundFormat` when known; 9 when enhanced);
            None for a silence message.
        enhanced: Whether the tag uses the ExAudioTagHeader.
        packet_type: What the message carries (the first track's); None for silence.
        sound_rate: The legacy rate bits; None when enhanced or silence.
        sound_size: The legacy sample size bit; None when enhanced or silence.
        sound_type: The legacy mono/stereo bit; None when enhanced or silence.
        fourcc: The first track's FourCC; None for legacy formats.
        multitrack_type: The multitrack layout, or None when not multitrack.
        tracks: The tracks carried; empty for silence.
        timestamp_offset_nano: Nanoseconds to add to the message timestamp (ModEx), 0 to 999,999.
        mod_ex: Every ModEx entry, in order (including the one that set the nano offset).
        header_size: Where the first payload starts.
    """

    sound_format: int | None
    enhanced: bool
    packet_type: AudioPacketType | None
    sound_rate: SoundRate | None
    sound_size: SoundSize | None
    sound_type: SoundType | None
    fourcc: str | None
    multitrack_type: AvMultitrackType | None
    tracks: tuple[AudioTrack, ...]
    timestamp_offset_nano: int
    mod_ex: tuple[ModEx, ...]
    header_size: int

    @property
    def is_silence(self) -> bool:
        """Whether this is the empty "silence" message."""
        return self.sound_format is None

    @property
    def is_sequence_header(self) -> bool:
        """Whether the message starts a sequence (AAC AudioSpecificConfig, OpusHead, ...)."""
        return self.packet_type == AudioPacketType.SEQUENCE_START

    @property
    def is_sequence_end(self) -> bool:
        """Whether the message ends a sequence."""
        return self.packet_type == AudioPacketType.SEQUENCE_END

    @property
    def is_multitrack(self) -> bool:
        """Whether the message uses the multitrack layout."""
        return self.multitrack_type is not None

    @property
    def codec_name(self) -> str | None:
        """A readable name of the (first track's) codec; None for silence."""
        if self.fourcc is not None:
            return audio_codec_name(self.fourcc)
        return audio_codec_name(self.sound_format) if self.sound_format is not None else None

    @property
    def multichannel_config(self) -> MultichannelConfig | None:
        """The first track's channel layout, for a MULTICHANNEL_CONFIG packet."""
        return self.tracks[0].multichannel_config if self.tracks else None

    def payload(self, data: Buffer) -> memoryview:
        """Return the first track's codec payload as a view into ``data`` (empty if none)."""
        if not self.tracks:
            return memoryview(data)[self.header_size : self.header_size]
        return self.tracks[0].payload(data)


_SILENCE = AudioTagHeader(
    sound_format=None,
    enhanced=False,
    packet_type=None,
    sound_rate=None,
    sound_size=None,
    sound_type=None,
    fourcc=None,
    multitrack_type=None,
    tracks=(),
    timestamp_offset_nano=0,
    mod_ex=(),
    header_size=0,
)


def parse_audio_tag(data: Buffer) -> AudioTagHeader:
    """Parse the header of an audio message (an FLV audio tag body).

    Args:
        data: The whole tag body; nothing is copied from it but the small header fields.

    Returns:
        The header, with payload offsets into ``data``.

    Raises:
        RemoteProtocolError: If the header is cut short, uses an unknown packet type,
            multitrack type or channel order, nests a multitrack, or a track overruns the
            message.
    """
    if not data:
        return _SILENCE
    sound_format = data[0] >> 4
    if sound_format == SoundFormat.EX_HEADER:
        return _parse_enhanced(data)
    rate = _RATES[data[0] >> 2 & 0x03]
    size = _SIZES[data[0] >> 1 & 0x01]
    channels = _TYPES[data[0] & 0x01]
    if sound_format == SoundFormat.AAC:
        need(data, 2, f"{_WHAT} AAC header")
        if data[1] > AacPacketType.RAW:
            msg = f"{_WHAT} has the unknown AAC packet type {data[1]}"
            raise RemoteProtocolError(msg)
        packet_type = (AudioPacketType.SEQUENCE_START, AudioPacketType.CODED_FRAMES)[data[1]]
        header_size = 2
    else:
        packet_type = AudioPacketType.CODED_FRAMES
        header_size = 1
    track = AudioTrack(0, None, packet_type, header_size, len(data) - header_size)
    return AudioTagHeader(
        sound_format=_SOUND_FORMATS.get(sound_format, sound_format),
        enhanced=False,
        packet_type=packet_type,
        sound_rate=rate,
        sound_size=size,
        sound_type=channels,
        fourcc=None,
        multitrack_type=None,
        tracks=(track,),
        timestamp_offset_nano=0,
        mod_ex=(),
        header_size=header_size,
    )


def _media_packet_type(value: int, context: str) -> AudioPacketType:
    packet_type = _MEDIA_PACKET_TYPES.get(value)
    if packet_type is None:
        if value in (AudioPacketType.MULTITRACK, MOD_EX):
            msg = f"{_WHAT} has packet type {value} {context}, where it is not allowed"
        else:
            msg = f"{_WHAT} has the unknown packet type {value}"
        raise RemoteProtocolError(msg)
    return packet_type


def _parse_enhanced(data: Buffer) -> AudioTagHeader:
    packet_type_value = data[0] & 0x0F
    offset = 1
    mod_ex: tuple[ModEx, ...] = ()
    nano = 0
    if packet_type_value == MOD_EX:
        packet_type_value, offset, mod_ex, nano = read_mod_ex(data, offset, _WHAT)
    if packet_type_value == AudioPacketType.MULTITRACK:
        tracks, multitrack_type = _read_multitrack(data, offset)
    else:
        packet_type = _media_packet_type(packet_type_value, "after ModEx")
        fourcc = read_fourcc(data, offset, _FOURCCS, _WHAT)
        tracks = (_read_track(data, offset + 4, len(data), 0, fourcc, packet_type),)
        multitrack_type = None
    first = tracks[0]
    return AudioTagHeader(
        sound_format=SoundFormat.EX_HEADER,
        enhanced=True,
        packet_type=first.packet_type,
        sound_rate=None,
        sound_size=None,
        sound_type=None,
        fourcc=first.fourcc,
        multitrack_type=multitrack_type,
        tracks=tracks,
        timestamp_offset_nano=nano,
        mod_ex=mod_ex,
        header_size=first.payload_offset,
    )


def _read_multitrack(data: Buffer, offset: int) -> tuple[tuple[AudioTrack, ...], AvMultitrackType]:
    return read_multitrack(
        data,
        offset,
        what=_WHAT,
        fourccs=_FOURCCS,
        packet_type=_media_packet_type,
        read_track=_read_track,
    )


def _read_track(
    data: Buffer,
    offset: int,
    end: int,
    track_id: int,
    fourcc: str | None,
    packet_type: AudioPacketType,
) -> AudioTrack:
    config = None
    if packet_type == AudioPacketType.MULTICHANNEL_CONFIG:
        config, offset = _read_multichannel_config(data, offset, end, track_id)
    return AudioTrack(track_id, fourcc, packet_type, offset, end - offset, config)


def _read_multichannel_config(
    data: Buffer, offset: int, end: int, track_id: int
) -> tuple[MultichannelConfig, int]:
    what = f"{_WHAT} track {track_id} MultichannelConfig"
    if offset + 2 > end:
        msg = f"{what} is cut short before its channel order and count"
        raise RemoteProtocolError(msg)
    order_value = data[offset]
    count = data[offset + 1]
    offset += 2
    if order_value == AudioChannelOrder.UNSPECIFIED:
        return MultichannelConfig(AudioChannelOrder.UNSPECIFIED, count), offset
    if order_value == AudioChannelOrder.NATIVE:
        if offset + 4 > end:
            msg = f"{what} is cut short before its channel mask"
            raise RemoteProtocolError(msg)
        mask = int.from_bytes(data[offset : offset + 4])
        return MultichannelConfig(
            AudioChannelOrder.NATIVE, count, AudioChannelMask(mask)
        ), offset + 4
    if order_value == AudioChannelOrder.CUSTOM:
        if offset + count > end:
            msg = f"{what} is cut short in its map of {count} channels"
            raise RemoteProtocolError(msg)
        mapping = tuple(_CHANNELS.get(c, c) for c in data[offset : offset + count])
        return MultichannelConfig(AudioChannelOrder.CUSTOM, count, None, mapping), offset + count
    msg = f"{what} has the unknown channel order {order_value}"
    raise RemoteProtocolError(msg)


# --- Hot-path check -------------------------------------------------------------------------

_AAC = 10
_EX_HEADER = 9
_MULTITRACK = 5


_SEQUENCE_START_TYPES = frozenset({0})
_CONFIGURATION_TYPES = frozenset({0, 2, 4})  # SEQUENCE_START, SEQUENCE_END, MULTICHANNEL_CONFIG


def _is_aac_config_or_enhanced(data: Buffer, enhanced_types: frozenset[int]) -> bool:
    """An AAC sequence header, or an Enhanced packet of one of ``enhanced_types``."""
    if not data:
        return False
    sound_format = data[0] >> 4
    if sound_format == _AAC:
        return len(data) > 1 and data[1] == 0  # AacPacketType.SEQUENCE_HEADER
    if sound_format == _EX_HEADER:
        return peek_packet_type(data, _MULTITRACK) in enhanced_types
    return False


def is_audio_configuration(data: Buffer) -> bool:
    """Tell whether an audio message describes the stream rather than carrying samples.

    True for sequence headers (legacy AAC and Enhanced) and Enhanced SequenceEnd and
    MultichannelConfig packets, inside ModEx and multitrack wrappers. Looks at a few bytes
    only and never raises.
    """
    return _is_aac_config_or_enhanced(data, _CONFIGURATION_TYPES)


def is_audio_sequence_header(data: Buffer) -> bool:
    """Tell whether an audio message is a sequence header (AAC config, OpusHead, ...).

    Covers legacy AAC and Enhanced SequenceStart, inside ModEx and multitrack wrappers. Looks
    at a few bytes only and never raises. A MultichannelConfig packet is not a sequence header.
    """
    return _is_aac_config_or_enhanced(data, _SEQUENCE_START_TYPES)
