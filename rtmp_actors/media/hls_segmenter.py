"""Cutting one publication's FLV messages into MPEG-TS segments for HLS (sans-I/O).

Theory of operation:

* :class:`TsSegmenter` is fed a publication's audio and video messages in order
  (:meth:`TsSegmenter.feed`) and answers with what to do: :class:`SegmentStart` (open a new
  segment; the previous one, if any, is finished and lasted ``previous_duration`` seconds)
  followed by the bytes to append (the PAT and PMT first). :meth:`TsSegmenter.finish`
  ends the last segment.
* A segment starts at a video keyframe once the current one has lasted at least the target
  duration (for an audio-only stream: at any frame), so each decodes on its own: it begins
  with the PAT and PMT and, in front of the keyframe, the SPS and PPS.
* Video before the first keyframe is dropped (a segment cannot start with it); audio that
  comes while the video waits for its first keyframe (the last second of it) goes into the
  first segment, after the tables.
* Timestamps stay the publisher's (milliseconds to 90 kHz): segments of one publication are
  continuous. A new publication starts a new segmenter (and the playlist a discontinuity).
* H.264 and AAC are carried (MP3 too); a codec MPEG-TS does not carry here (HEVC, AV1, Opus:
  they need fMP4) is reported once in :attr:`TsSegmenter.unsupported` and its messages ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmp_actors.media.audio import AudioPacketType, parse_audio_tag
from rtmp_actors.media.codecs import AudioFourCC, SoundFormat, VideoCodecId, VideoFourCC
from rtmp_actors.media.elementary import AacConfig, AvcConfig, avcc_to_annexb
from rtmp_actors.media.mpegts import TsMuxer, TsStreamType
from rtmp_actors.media.video import VideoPacketType, parse_video_tag
from rtmp_actors.session.events import MediaType

__all__ = ["SegmentStart", "TsSegmenter"]

_TICKS_PER_MS = 90
AUDIO_ONLY_AFTER_MS = 1000  # audio with no video configuration this long: an audio-only stream
MAX_SEGMENT_BYTES = 32 * 1024 * 1024
"""A segment this big is cut at the next frame, keyframe or not: a publisher that sends no
keyframes must not grow one file without bound."""


@dataclass(frozen=True, slots=True)
class SegmentStart:
    """A new segment starts here.

    Attributes:
        timestamp: Its first message's timestamp, in milliseconds.
        previous_duration: How long the segment it ends lasted, in seconds (None for the first).
    """

    timestamp: int
    previous_duration: float | None


Output = SegmentStart | bytes


class TsSegmenter:
    """Cuts one publication into MPEG-TS segments of about ``target_duration`` seconds.

    Args:
        target_duration: Seconds a segment lasts at least (it ends at the next keyframe after).
    """

    def __init__(self, target_duration: float = 2.0) -> None:
        self._target_ms = max(1, round(target_duration * 1000))
        self._avc: AvcConfig | None = None
        self._aac: AacConfig | None = None
        self._mp3 = False
        self._muxer = TsMuxer(None, None)
        self._start: int | None = None  # the current segment's first timestamp
        self._last = 0  # the latest timestamp written
        self._frame_ms = 0  # the latest gap between two video (or audio-only) frames
        self._first_audio: int | None = None
        self._early_audio: list[tuple[int, bytes]] = []  # frames before the first segment
        self._segment_bytes = 0  # written to the current segment
        self.unsupported: set[str] = set()
        """Codecs seen that MPEG-TS segments do not carry here."""

    @property
    def started(self) -> bool:
        """Whether a segment has been started."""
        return self._start is not None

    def feed(self, media_type: MediaType, timestamp: int, data: bytes) -> list[Output]:
        """One message of the publication, in order: what to write.

        Raises:
            RemoteProtocolError: If the message cannot be parsed or converted (it is skipped;
                the segmenter stays usable).
        """
        if media_type is MediaType.VIDEO:
            return self._video(timestamp, data)
        return self._audio(timestamp, data)

    def finish(self) -> tuple[bytes, float | None]:
        """What is left of the last segment, and its duration in seconds.

        Nothing is left (TS is written as it comes); the duration is None if no segment was
        started.
        """
        if self._start is None:
            return b"", None
        duration = (self._last - self._start + self._frame_ms) / 1000
        self._start = None
        return b"", max(duration, 0.001)

    def _video(self, timestamp: int, data: bytes) -> list[Output]:
        if not data:
            return []
        header = parse_video_tag(data)
        is_avc = header.codec_id == VideoCodecId.AVC or header.fourcc == VideoFourCC.AVC
        if not is_avc:
            name = header.codec_name
            if name is not None and not header.is_command:
                self.unsupported.add(name)
            return []
        payload = header.payload(data)
        if header.is_sequence_header:
            self._avc = AvcConfig.parse(payload)
            return []
        if header.packet_type not in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
            return []
        if self._avc is None:
            return []
        keyframe = header.is_keyframe
        out: list[Output] = []
        if keyframe and (self._start is None or timestamp - self._start >= self._target_ms):
            out.extend(self._cut(timestamp))
        elif self._start is None:
            return []  # no segment starts without a keyframe
        elif self._segment_bytes > MAX_SEGMENT_BYTES:
            out.extend(self._cut(timestamp))
        unit = avcc_to_annexb(payload, self._avc, keyframe=keyframe)
        dts = timestamp * _TICKS_PER_MS
        pts = (timestamp + header.composition_time) * _TICKS_PER_MS
        packets = self._muxer.video_access_unit(dts, pts, unit, keyframe=keyframe)
        self._segment_bytes += len(packets)
        out.append(packets)
        if timestamp > self._last:
            self._frame_ms = timestamp - self._last
        self._last = max(self._last, timestamp)
        return out

    def _audio(self, timestamp: int, data: bytes) -> list[Output]:
        if not data:
            return []
        header = parse_audio_tag(data)
        if header.is_silence:
            return []
        is_aac = header.sound_format == SoundFormat.AAC or header.fourcc == AudioFourCC.AAC
        is_mp3 = header.sound_format == SoundFormat.MP3 or header.fourcc == AudioFourCC.MP3
        if not (is_aac or is_mp3):
            name = header.codec_name
            if name is not None:
                self.unsupported.add(name)
            return []
        payload = header.payload(data)
        if is_aac and header.is_sequence_header:
            self._aac = AacConfig.parse(payload)
            return []
        if header.packet_type != AudioPacketType.CODED_FRAMES:
            return []
        if is_aac and self._aac is None:
            return []
        self._mp3 = is_mp3
        if self._aac is not None and is_aac:
            frame = self._aac.adts_header(len(payload)) + payload
        else:
            frame = bytes(payload)
        out: list[Output] = []
        if self._start is None:
            if self._first_audio is None:
                self._first_audio = timestamp
            # Wait for the video's keyframe, unless no video came for a while: audio only.
            if self._avc is not None or timestamp - self._first_audio < AUDIO_ONLY_AFTER_MS:
                self._hold_early(timestamp, frame)
                return []
            out.extend(self._cut(timestamp))
        elif self._avc is None and timestamp - self._start >= self._target_ms:
            out.extend(self._cut(timestamp))  # audio only: any frame starts a segment
        packets = self._muxer.audio_access_unit(timestamp * _TICKS_PER_MS, frame)
        self._segment_bytes += len(packets)
        out.append(packets)
        if self._avc is None:
            if timestamp > self._last:
                self._frame_ms = timestamp - self._last
            self._last = max(self._last, timestamp)
        return out

    def _hold_early(self, timestamp: int, frame: bytes) -> None:
        """Keep the last second of audio that came before the first keyframe."""
        early = self._early_audio
        early.append((timestamp, frame))
        while timestamp - early[0][0] > AUDIO_ONLY_AFTER_MS:
            del early[0]

    def _cut(self, timestamp: int) -> list[Output]:
        previous = None if self._start is None else max(0.001, (timestamp - self._start) / 1000)
        early, self._early_audio = self._early_audio, []
        # The first segment starts with the audio that came before it, if any.
        start = min(timestamp, early[0][0]) if early else timestamp
        self._start = start
        self._last = max(self._last, timestamp) if previous is not None else timestamp
        video = TsStreamType.H264 if self._avc is not None else None
        if self._aac is not None:
            audio: TsStreamType | None = TsStreamType.AAC_ADTS
        else:
            audio = TsStreamType.MP3 if self._mp3 else None
        if (video, audio) != (self._muxer.video, self._muxer.audio):
            self._muxer.set_streams(video, audio)
        self._segment_bytes = 0
        out: list[Output] = [SegmentStart(start, previous), self._muxer.tables()]
        out.extend(self._muxer.audio_access_unit(t * _TICKS_PER_MS, f) for t, f in early)
        return out
