"""Codec identifiers: legacy FLV codec ids, Enhanced RTMP FourCCs, and readable names for both.

Legacy FLV names a video codec with a 4-bit CodecID and an audio codec with a 4-bit SoundFormat.
Enhanced RTMP names codecs with a FourCC, which ``onMetaData`` stores as the big-endian number
of its four ASCII bytes (``'av01'`` is 1635135537). :func:`video_codec_name` and
:func:`audio_codec_name` turn either form into a readable name; :func:`video_codec_id` and
:func:`audio_codec_id` go back, preferring the legacy id where one exists because every player
understands it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from rtmp_actors.errors import LocalProtocolError

__all__ = [
    "AudioFourCC",
    "SoundFormat",
    "VideoCodecId",
    "VideoFourCC",
    "audio_codec_id",
    "audio_codec_name",
    "fourcc_from_number",
    "fourcc_to_number",
    "video_codec_id",
    "video_codec_name",
]


class VideoCodecId(IntEnum):
    """Legacy FLV video CodecID values (the low nibble of the first video byte)."""

    JPEG = 1
    SORENSON_H263 = 2
    SCREEN_VIDEO = 3
    ON2_VP6 = 4
    ON2_VP6_ALPHA = 5
    SCREEN_VIDEO_V2 = 6
    AVC = 7
    # Not in any Adobe or Veovera spec, but the de facto HEVC id of Chinese CDNs, SRS and
    # nginx-http-flv; it uses the AVC header layout (packet type and composition time).
    HEVC_LEGACY = 12


class SoundFormat(IntEnum):
    """FLV SoundFormat values (the high nibble of the first audio byte)."""

    PCM_PLATFORM_ENDIAN = 0
    ADPCM = 1
    MP3 = 2
    PCM_LITTLE_ENDIAN = 3
    NELLYMOSER_16K_MONO = 4
    NELLYMOSER_8K_MONO = 5
    NELLYMOSER = 6
    G711_A_LAW = 7
    G711_MU_LAW = 8
    EX_HEADER = 9
    AAC = 10
    SPEEX = 11
    MP3_8K = 14
    DEVICE_SPECIFIC = 15


class VideoFourCC(StrEnum):
    """Enhanced RTMP video FourCCs."""

    AVC = "avc1"
    HEVC = "hvc1"
    VVC = "vvc1"
    AV1 = "av01"
    VP8 = "vp08"
    VP9 = "vp09"


class AudioFourCC(StrEnum):
    """Enhanced RTMP audio FourCCs."""

    AAC = "mp4a"
    OPUS = "Opus"
    FLAC = "fLaC"
    AC3 = "ac-3"
    EAC3 = "ec-3"
    MP3 = ".mp3"


_VIDEO_LEGACY_NAMES: dict[int, str] = {
    VideoCodecId.JPEG: "JPEG",
    VideoCodecId.SORENSON_H263: "Sorenson H.263",
    VideoCodecId.SCREEN_VIDEO: "Screen Video",
    VideoCodecId.ON2_VP6: "On2 VP6",
    VideoCodecId.ON2_VP6_ALPHA: "On2 VP6 with alpha",
    VideoCodecId.SCREEN_VIDEO_V2: "Screen Video 2",
    VideoCodecId.AVC: "H.264",
    VideoCodecId.HEVC_LEGACY: "HEVC",
}

_VIDEO_FOURCC_NAMES: dict[str, str] = {
    VideoFourCC.AVC: "H.264",
    VideoFourCC.HEVC: "HEVC",
    VideoFourCC.VVC: "VVC",
    VideoFourCC.AV1: "AV1",
    VideoFourCC.VP8: "VP8",
    VideoFourCC.VP9: "VP9",
}

_AUDIO_LEGACY_NAMES: dict[int, str] = {
    SoundFormat.PCM_PLATFORM_ENDIAN: "Linear PCM, platform endian",
    SoundFormat.ADPCM: "ADPCM",
    SoundFormat.MP3: "MP3",
    SoundFormat.PCM_LITTLE_ENDIAN: "Linear PCM, little endian",
    SoundFormat.NELLYMOSER_16K_MONO: "Nellymoser 16 kHz mono",
    SoundFormat.NELLYMOSER_8K_MONO: "Nellymoser 8 kHz mono",
    SoundFormat.NELLYMOSER: "Nellymoser",
    SoundFormat.G711_A_LAW: "G.711 A-law",
    SoundFormat.G711_MU_LAW: "G.711 mu-law",
    SoundFormat.AAC: "AAC",
    SoundFormat.SPEEX: "Speex",
    SoundFormat.MP3_8K: "MP3 8 kHz",
    SoundFormat.DEVICE_SPECIFIC: "Device-specific sound",
}

_AUDIO_FOURCC_NAMES: dict[str, str] = {
    AudioFourCC.AAC: "AAC",
    AudioFourCC.OPUS: "Opus",
    AudioFourCC.FLAC: "FLAC",
    AudioFourCC.AC3: "AC-3",
    AudioFourCC.EAC3: "E-AC-3",
    AudioFourCC.MP3: "MP3",
}


def fourcc_to_number(fourcc: str) -> int:
    """Return a FourCC as the big-endian number ``onMetaData`` stores it as.

    Raises:
        LocalProtocolError: If ``fourcc`` is not four characters in the 0-255 range.
    """
    try:
        raw = fourcc.encode("latin-1")
    except UnicodeEncodeError:
        raw = b""  # a character above 255 has no place in a FourCC
    if len(raw) != 4:
        msg = f"a FourCC has four characters in the 0-255 range, not {fourcc!r}"
        raise LocalProtocolError(msg)
    return int.from_bytes(raw)


def fourcc_from_number(value: int) -> str:
    """Return the FourCC stored as a number (the inverse of :func:`fourcc_to_number`).

    Raises:
        LocalProtocolError: If ``value`` is outside 0..2^32-1.
    """
    if not 0 <= value <= 0xFFFFFFFF:
        msg = f"{value} is not a 32-bit FourCC number"
        raise LocalProtocolError(msg)
    return value.to_bytes(4).decode("latin-1")


def _is_printable_fourcc(fourcc: str) -> bool:
    return all(" " <= char <= "~" for char in fourcc)


def _codec_name(
    codec: int | str,
    legacy_names: dict[int, str],
    fourcc_names: dict[str, str],
    kind: str,
) -> str:
    if isinstance(codec, str):
        return fourcc_names.get(codec, codec)
    if codec in legacy_names:
        return legacy_names[codec]
    if codec > 0xFF and codec <= 0xFFFFFFFF:
        fourcc = fourcc_from_number(codec)
        if fourcc in fourcc_names:
            return fourcc_names[fourcc]
        if _is_printable_fourcc(fourcc):
            return fourcc
    return f"{kind} codec {codec}"


def video_codec_name(codec: int | str) -> str:
    """Return a readable name for a video codec.

    Args:
        codec: A legacy CodecID (7), a FourCC string (``"hvc1"``) or a FourCC stored as a
            number (as ``onMetaData`` has it).

    Returns:
        ``"H.264"``, ``"HEVC"``, ``"AV1"``... An unknown FourCC comes back as itself (when
        printable) and an unknown number as ``"video codec N"``.
    """
    return _codec_name(codec, _VIDEO_LEGACY_NAMES, _VIDEO_FOURCC_NAMES, "video")


def audio_codec_name(codec: int | str) -> str:
    """Return a readable name for an audio codec.

    Args:
        codec: A legacy SoundFormat (10), a FourCC string (``"Opus"``) or a FourCC stored as a
            number (as ``onMetaData`` has it).

    Returns:
        ``"AAC"``, ``"Opus"``, ``"MP3"``... An unknown FourCC comes back as itself (when
        printable) and an unknown number as ``"audio codec N"``.
    """
    return _codec_name(codec, _AUDIO_LEGACY_NAMES, _AUDIO_FOURCC_NAMES, "audio")


# A name goes back to the legacy id when there is one; HEVC's 12 is not standard, so HEVC goes
# back to its FourCC.
def _reverse(
    legacy_names: dict[int, str], fourcc_names: dict[str, str], skip: frozenset[int]
) -> dict[str, int]:
    ids = {name: fourcc_to_number(fourcc) for fourcc, name in fourcc_names.items()}
    ids.update({name: int(code) for code, name in legacy_names.items() if code not in skip})
    return ids


_VIDEO_IDS_BY_NAME = _reverse(
    _VIDEO_LEGACY_NAMES, _VIDEO_FOURCC_NAMES, frozenset({VideoCodecId.HEVC_LEGACY})
)
_AUDIO_IDS_BY_NAME = _reverse(_AUDIO_LEGACY_NAMES, _AUDIO_FOURCC_NAMES, frozenset())


def _codec_id(name: str, ids_by_name: dict[str, int], kind: str) -> int:
    if name in ids_by_name:
        return ids_by_name[name]
    if len(name) == 4:
        try:
            return fourcc_to_number(name)
        except LocalProtocolError:
            pass
    msg = f"unknown {kind} codec name {name!r} (give a FourCC or a known name)"
    raise LocalProtocolError(msg)


def video_codec_id(name: str) -> int:
    """Return the ``videocodecid`` number for a codec name from :func:`video_codec_name`.

    A four-character name is taken as a FourCC. Codecs with a legacy id get it (H.264 is 7);
    the others get their FourCC as a number.

    Raises:
        LocalProtocolError: If the name is neither known nor a FourCC.
    """
    return _codec_id(name, _VIDEO_IDS_BY_NAME, "video")


def audio_codec_id(name: str) -> int:
    """Return the ``audiocodecid`` number for a codec name from :func:`audio_codec_name`.

    A four-character name is taken as a FourCC. Codecs with a legacy SoundFormat get it (AAC is
    10, MP3 is 2); the others get their FourCC as a number.

    Raises:
        LocalProtocolError: If the name is neither known nor a FourCC.
    """
    return _codec_id(name, _AUDIO_IDS_BY_NAME, "audio")
