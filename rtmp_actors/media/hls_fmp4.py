"""Cutting one publication into fragmented-MP4 segments for HLS (HEVC, AV1, Opus; sans-I/O).

The same contract as :class:`~rtmp_actors.media.hls_segmenter.TsSegmenter` (see there):
segments start at keyframes once the target duration is reached. A fragment can only be
written once all its samples are known, so a segment's bytes come out just before the
:class:`SegmentStart` that ends it (and from :meth:`Fmp4Segmenter.finish` for the last one).
An :class:`InitSegment` comes before the first segment, and again before a segment whose
codec configuration changed; playlists point at it with ``#EXT-X-MAP``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtmp_actors.media.audio import AudioPacketType, parse_audio_tag
from rtmp_actors.media.codecs import AudioFourCC, SoundFormat, VideoCodecId, VideoFourCC
from rtmp_actors.media.elementary import AacConfig
from rtmp_actors.media.fmp4 import (
    Fmp4Track,
    FragmentSample,
    aac_entry,
    init_segment,
    media_segment,
    opus_dops,
    opus_entry,
    video_entry,
)
from rtmp_actors.media.hls_segmenter import AUDIO_ONLY_AFTER_MS, SegmentStart
from rtmp_actors.media.video import VideoPacketType, parse_video_tag
from rtmp_actors.session.events import MediaType

__all__ = ["Fmp4Segmenter", "InitSegment", "needs_fmp4"]

MAX_SEGMENT_BYTES = 32 * 1024 * 1024
"""A segment is cut at this size even without a keyframe (bounded memory)."""
_VIDEO_TRACK, _AUDIO_TRACK = 1, 2
# FLV codec -> (sample entry FourCC, configuration box)
_VIDEO_ENTRIES = {
    VideoFourCC.AVC: (b"avc1", b"avcC"),
    VideoFourCC.HEVC: (b"hvc1", b"hvcC"),
    VideoFourCC.AV1: (b"av01", b"av1C"),
}
_LEGACY_VIDEO = {VideoCodecId.AVC: VideoFourCC.AVC, VideoCodecId.HEVC_LEGACY: VideoFourCC.HEVC}
_CODED = (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X)


@dataclass(frozen=True, slots=True)
class InitSegment:
    """The init segment (``ftyp`` + ``moov``) for the segments that follow."""

    data: bytes


Output = SegmentStart | InitSegment | bytes


def _video_fourcc(codec_id: int | None, fourcc: str | None) -> str | None:
    if fourcc is not None:
        return fourcc
    return _LEGACY_VIDEO.get(codec_id) if codec_id is not None else None  # type: ignore[call-overload]


def needs_fmp4(media_type: MediaType, data: bytes) -> bool:
    """Whether a sequence header names a codec that MPEG-TS segments do not carry here.

    Raises:
        RemoteProtocolError: If the message cannot be parsed.
    """
    if media_type is MediaType.VIDEO:
        header = parse_video_tag(data)
        fourcc = _video_fourcc(header.codec_id, header.fourcc)
        return header.is_sequence_header and fourcc in (VideoFourCC.HEVC, VideoFourCC.AV1)
    audio = parse_audio_tag(data)
    return audio.is_sequence_header and audio.fourcc == AudioFourCC.OPUS


@dataclass(slots=True)
class _Track:
    samples: list[tuple[int, int, bool, bytes]] = field(default_factory=list)  # dts, cts, sync
    last_duration: int = 0
    size: int = 0


class Fmp4Segmenter:
    """Cuts one publication into fMP4 segments of about ``target_duration`` seconds.

    Args:
        target_duration: Seconds a segment lasts at least.
        width: The picture width for the init segment (from ``onMetaData``; 0 if unknown).
        height: The picture height.
    """

    def __init__(self, target_duration: float = 2.0, width: int = 0, height: int = 0) -> None:
        self._target_ms = max(1, round(target_duration * 1000))
        self._size = (width, height)
        self._video_entry: bytes | None = None
        self._audio_entry: bytes | None = None
        self._written_entries: tuple[bytes | None, bytes | None] | None = None
        self._video, self._audio = _Track(), _Track()
        self._start: int | None = None
        self._last = 0
        self._first_audio: int | None = None
        self._early_audio: list[tuple[int, bytes]] = []  # frames before the first segment
        self._sequence = 0
        self.unsupported: set[str] = set()
        """Codecs seen that these segments do not carry."""

    def feed(self, media_type: MediaType, timestamp: int, data: bytes) -> list[Output]:
        """One message of the publication, in order: what to write.

        Raises:
            RemoteProtocolError: If the message cannot be parsed (it is skipped).
        """
        if not data:
            return []
        if media_type is MediaType.VIDEO:
            return self._video_message(timestamp, data)
        return self._audio_message(timestamp, data)

    def finish(self) -> tuple[bytes, float | None]:
        """The last segment's bytes and duration (empty and None if none was started)."""
        if self._start is None:
            return b"", None
        end = self._last + max(self._video.last_duration, self._audio.last_duration, 1)
        data = self._fragment(end)
        duration = max(0.001, (end - self._start) / 1000)
        self._start = None
        return data, duration

    def _video_message(self, timestamp: int, data: bytes) -> list[Output]:
        header = parse_video_tag(data)
        if header.is_command:
            return []
        fourcc = _video_fourcc(header.codec_id, header.fourcc)
        entry = _VIDEO_ENTRIES.get(fourcc) if fourcc is not None else None  # type: ignore[call-overload]
        if entry is None:
            if header.codec_name is not None:
                self.unsupported.add(header.codec_name)
            return []
        payload = header.payload(data)
        if header.is_sequence_header:
            self._video_entry = video_entry(entry[0], entry[1], payload, *self._size)
            return []
        if header.packet_type not in _CODED or self._video_entry is None:
            return []
        keyframe = header.is_keyframe
        out: list[Output] = []
        if self._start is None:
            if not keyframe:
                return []
            out.extend(self._cut(timestamp))
        elif (
            keyframe and timestamp - self._start >= self._target_ms
        ) or self._video.size + self._audio.size > MAX_SEGMENT_BYTES:
            out.extend(self._cut(timestamp))
        self._add(self._video, timestamp, header.composition_time, keyframe, bytes(payload))
        return out

    def _audio_message(self, timestamp: int, data: bytes) -> list[Output]:
        header = parse_audio_tag(data)
        if header.is_silence:
            return []
        is_aac = header.sound_format == SoundFormat.AAC or header.fourcc == AudioFourCC.AAC
        is_opus = header.fourcc == AudioFourCC.OPUS
        if not (is_aac or is_opus):
            if header.codec_name is not None:
                self.unsupported.add(header.codec_name)
            return []
        payload = header.payload(data)
        if header.is_sequence_header:
            if is_aac:
                config = AacConfig.parse(payload)
                self._audio_entry = aac_entry(payload, config.channels, config.sample_rate)
            else:
                dops, channels = opus_dops(payload)
                self._audio_entry = opus_entry(dops, channels)
            return []
        if header.packet_type != AudioPacketType.CODED_FRAMES or self._audio_entry is None:
            return []
        out: list[Output] = []
        if self._start is None:
            if self._first_audio is None:
                self._first_audio = timestamp
            waiting = timestamp - self._first_audio < AUDIO_ONLY_AFTER_MS
            if self._video_entry is not None or waiting:
                early = self._early_audio
                early.append((timestamp, bytes(payload)))
                while timestamp - early[0][0] > AUDIO_ONLY_AFTER_MS:
                    del early[0]
                return []
            out.extend(self._cut(timestamp))
        elif self._video_entry is None and timestamp - self._start >= self._target_ms:
            out.extend(self._cut(timestamp))
        self._add(self._audio, timestamp, 0, True, bytes(payload))
        return out

    def _add(self, track: _Track, dts: int, cts: int, sync: bool, data: bytes) -> None:
        if track.samples:
            track.last_duration = max(0, dts - track.samples[-1][0])
        track.samples.append((dts, cts, sync, data))
        track.size += len(data)
        self._last = max(self._last, dts)

    def _cut(self, timestamp: int) -> list[Output]:
        out: list[Output] = []
        if self._start is not None:
            out.append(self._fragment(timestamp))
            previous: float | None = max(0.001, (timestamp - self._start) / 1000)
        else:
            previous = None
        entries = (self._video_entry, self._audio_entry)
        if entries != self._written_entries:
            tracks = []
            if self._video_entry is not None:
                tracks.append(Fmp4Track(_VIDEO_TRACK, b"vide", self._video_entry))
            if self._audio_entry is not None:
                tracks.append(Fmp4Track(_AUDIO_TRACK, b"soun", self._audio_entry))
            out.append(InitSegment(init_segment(tracks)))
            self._written_entries = entries
        early, self._early_audio = self._early_audio, []
        # The first segment starts with the audio that came before it, if any.
        self._start = min(timestamp, early[0][0]) if early else timestamp
        out.append(SegmentStart(self._start, previous))
        for early_timestamp, frame in early:  # audio that came before the first keyframe
            self._add(self._audio, early_timestamp, 0, True, frame)
        return out

    def _fragment(self, end: int) -> bytes:
        """The pending samples as one fragment; the last video sample lasts until ``end``."""
        self._sequence += 1
        tracks = []
        for track_id, track, until in (
            (_VIDEO_TRACK, self._video, end),
            (_AUDIO_TRACK, self._audio, None),
        ):
            samples = track.samples
            if not samples:
                continue
            fragment = []
            for i, (dts, cts, sync, data) in enumerate(samples):
                if i + 1 < len(samples):
                    duration = samples[i + 1][0] - dts
                elif until is not None and until > dts:
                    duration = until - dts
                else:
                    duration = track.last_duration or 1
                fragment.append(FragmentSample(max(0, duration), cts, sync, data))
            tracks.append((track_id, samples[0][0], fragment))
            track.samples, track.size = [], 0
        return media_segment(self._sequence, tracks) if tracks else b""
