"""``onMetaData`` as a typed value: :class:`StreamMetadata` to and from a plain dict.

The dict is the decoded ECMA array (or object) that follows the ``onMetaData`` name in a script
tag or an ``@setDataFrame`` data message; AMF decoding happens elsewhere. Reading never fails:
a known property whose value has the wrong type, and every unknown property, lands in
:attr:`StreamMetadata.extra` and is written back as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rtmp_actors.media.codecs import (
    audio_codec_id,
    audio_codec_name,
    video_codec_id,
    video_codec_name,
)

__all__ = ["StreamMetadata", "parse_on_metadata"]

_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_MAX_TRACK_ID = 0xFF


def _empty() -> Mapping[Any, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True, repr=False)
class StreamMetadata:
    """What ``onMetaData`` says about a stream; every field is optional.

    The codec fields come in pairs: a readable name (``"H.264"``, ``"Opus"``) and the number
    ``onMetaData`` carries (a legacy id such as 7, or a FourCC stored as a number). Give either
    and the other is filled in; when both are given, the number is what gets written.

    Attributes:
        video_width: Width in pixels (``width``).
        video_height: Height in pixels (``height``).
        video_codec: Readable video codec name (from ``videocodecid``).
        video_codec_id: The ``videocodecid`` number.
        video_frame_rate: Frames per second (``framerate``).
        video_bitrate_kbps: Video bitrate in kilobits per second (``videodatarate``).
        audio_codec: Readable audio codec name (from ``audiocodecid``).
        audio_codec_id: The ``audiocodecid`` number.
        audio_bitrate_kbps: Audio bitrate in kilobits per second (``audiodatarate``).
        audio_sample_rate: Samples per second (``audiosamplerate``).
        audio_sample_size: Bits per sample (``audiosamplesize``).
        audio_channels: Channel count (``audiochannels``, a common non-standard property).
        audio_is_stereo: The ``stereo`` flag.
        encoder: The software that made the stream (``encoder``).
        duration: Length in seconds (``duration``; 0 or absent for live streams).
        file_size: File size in bytes (``filesize``).
        video_tracks: Per-track properties from ``videoTrackIdInfoMap`` (Enhanced RTMP
            multitrack), by trackId; each holds what differs from the default track.
        audio_tracks: Per-track properties from ``audioTrackIdInfoMap``, by trackId.
        extra: Every other property, and known ones whose values had an unusable type.
    """

    video_width: int | None = None
    video_height: int | None = None
    video_codec: str | None = None
    video_codec_id: int | None = None
    video_frame_rate: float | None = None
    video_bitrate_kbps: float | None = None
    audio_codec: str | None = None
    audio_codec_id: int | None = None
    audio_bitrate_kbps: float | None = None
    audio_sample_rate: int | None = None
    audio_sample_size: int | None = None
    audio_channels: int | None = None
    audio_is_stereo: bool | None = None
    encoder: str | None = None
    duration: float | None = None
    file_size: int | None = None
    video_tracks: Mapping[int, StreamMetadata] = field(default_factory=_empty, hash=False)
    audio_tracks: Mapping[int, StreamMetadata] = field(default_factory=_empty, hash=False)
    extra: Mapping[str, Any] = field(default_factory=_empty, hash=False)

    def __post_init__(self) -> None:
        """Fill in the other half of each codec pair and freeze the mappings.

        Raises:
            LocalProtocolError: If a codec name is neither known nor a FourCC.
        """
        if self.video_codec_id is None and self.video_codec is not None:
            object.__setattr__(self, "video_codec_id", video_codec_id(self.video_codec))
        elif self.video_codec is None and self.video_codec_id is not None:
            object.__setattr__(self, "video_codec", video_codec_name(self.video_codec_id))
        if self.audio_codec_id is None and self.audio_codec is not None:
            object.__setattr__(self, "audio_codec_id", audio_codec_id(self.audio_codec))
        elif self.audio_codec is None and self.audio_codec_id is not None:
            object.__setattr__(self, "audio_codec", audio_codec_name(self.audio_codec_id))
        for name in ("video_tracks", "audio_tracks", "extra"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    def __repr__(self) -> str:
        # Only the fields that are set: a typical stream fills a handful of the nineteen.
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name in self.__slots__
            if getattr(self, name) is not None and getattr(self, name) != {}
        ]
        return f"StreamMetadata({', '.join(parts)})"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StreamMetadata:
        """Read the properties of an ``onMetaData`` ECMA array or object.

        Codec ids may be legacy numbers or FourCCs stored as numbers (or, from some encoders,
        FourCC strings). Never raises: unusable values go to :attr:`extra`.
        """
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            target = _READERS.get(key) if isinstance(key, str) else None
            parsed = target[1](value) if target is not None else None
            if target is None or parsed is None:
                extra[key] = value
            else:
                fields[target[0]] = parsed
        return cls(**fields, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """Return the properties for an ``onMetaData`` ECMA array, unset fields left out.

        Codec ids are written as numbers: the legacy id where the codec has one, else the
        FourCC as a number. Track maps are keyed by the trackId as a string, as AMF requires.
        """
        result: dict[str, Any] = {}
        for key, attribute in _WRITE_ORDER:
            value = getattr(self, attribute)
            if value is not None:
                result[key] = value
        if self.video_tracks:
            result["videoTrackIdInfoMap"] = _tracks_to_dict(self.video_tracks)
        if self.audio_tracks:
            result["audioTrackIdInfoMap"] = _tracks_to_dict(self.audio_tracks)
        for key, value in self.extra.items():
            result.setdefault(key, value)
        return result


def parse_on_metadata(values: Sequence[Any]) -> StreamMetadata | None:
    """Find ``onMetaData`` in the values of a script tag or data message.

    Accepts ``["onMetaData", {...}]`` and ``["@setDataFrame", "onMetaData", {...}]``.

    Returns:
        The metadata, or None if the values are not an ``onMetaData`` call with a mapping.
    """
    start = 1 if values and values[0] == "@setDataFrame" else 0
    if len(values) < start + 2 or values[start] != "onMetaData":
        return None
    properties = values[start + 1]
    if not isinstance(properties, Mapping):
        return None
    return StreamMetadata.from_dict(properties)


def _tracks_to_dict(tracks: Mapping[int, StreamMetadata]) -> dict[str, Any]:
    return {str(track_id): track.to_dict() for track_id, track in sorted(tracks.items())}


# --- Value readers: each returns None when the value is unusable -----------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _non_negative(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _count(value: Any) -> int | None:
    number = _non_negative(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _codec_number(value: Any) -> int | None:
    if isinstance(value, str):
        if len(value) != 4:
            return None
        try:
            return int.from_bytes(value.encode("latin-1"))
        except UnicodeEncodeError:
            return None
    number = _count(value)
    return number if number is not None and number <= 0xFFFFFFFF else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _tracks(value: Any) -> Mapping[int, StreamMetadata] | None:
    if not isinstance(value, Mapping) or not value:
        return None
    tracks: dict[int, StreamMetadata] = {}
    for key, properties in value.items():
        track_id = _track_id(key)
        if track_id is None or not isinstance(properties, Mapping):
            return None  # keep the whole map as it was, in extra
        tracks[track_id] = StreamMetadata.from_dict(properties)
    return tracks


def _track_id(key: Any) -> int | None:
    if isinstance(key, str):
        # Only the canonical spelling, so that writing the map back gives the same keys.
        if not key.isascii() or not key.isdigit() or str(int(key)) != key:
            return None
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= _MAX_TRACK_ID:
        return None
    return key


_READERS: dict[str, tuple[str, Any]] = {
    "duration": ("duration", _non_negative),
    "width": ("video_width", _count),
    "height": ("video_height", _count),
    "videodatarate": ("video_bitrate_kbps", _non_negative),
    "framerate": ("video_frame_rate", _non_negative),
    "videocodecid": ("video_codec_id", _codec_number),
    "audiodatarate": ("audio_bitrate_kbps", _non_negative),
    "audiosamplerate": ("audio_sample_rate", _count),
    "audiosamplesize": ("audio_sample_size", _count),
    "stereo": ("audio_is_stereo", _flag),
    "audiochannels": ("audio_channels", _count),
    "audiocodecid": ("audio_codec_id", _codec_number),
    "encoder": ("encoder", _text),
    "filesize": ("file_size", _count),
    "videoTrackIdInfoMap": ("video_tracks", _tracks),
    "audioTrackIdInfoMap": ("audio_tracks", _tracks),
}

# The order FFmpeg writes them in, which players are used to.
_WRITE_ORDER = [
    (key, attribute)
    for key, (attribute, _) in _READERS.items()
    if attribute not in ("video_tracks", "audio_tracks")
]
