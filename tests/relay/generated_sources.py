"""A tiny stream source for generated-stream tests: H.264-shaped tags at a chosen rate."""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence
from typing import Any

from behaviours.stream_source import SourceFrame, StreamSource

AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
AAC_CONFIG = b"\xaf\x00\x12\x10"


class FakeSource(StreamSource):
    """A sequence header, then a keyframe every ``gop`` frames and inter frames between.

    ``events`` gets ``"start"`` and ``"stop"`` as they happen; ``ticks`` counts calls.
    """

    def __init__(
        self,
        rate: float = 50.0,
        *,
        frame_size: int = 100,
        gop: int = 25,
        fail_at: int | None = None,
        audio: bool = False,
    ) -> None:
        self.rate = rate
        self.events: queue.Queue[str] = queue.Queue()
        self.ticks = 0
        self._frame_size = frame_size
        self._gop = gop
        self._fail_at = fail_at
        self._audio = audio
        self._frame = 0

    @property
    def frame_rate(self) -> float:
        return self.rate

    def start(self) -> None:
        self._frame = 0
        self.events.put("start")

    def stop(self) -> None:
        self.events.put("stop")

    def metadata(self) -> Mapping[str, Any] | None:
        return {"width": 320.0, "height": 240.0, "framerate": self.rate, "videocodecid": 7.0}

    def next_frames(self, now: float) -> Sequence[SourceFrame]:
        self.ticks += 1
        if self._fail_at is not None and self.ticks >= self._fail_at:
            msg = "the renderer crashed"
            raise RuntimeError(msg)
        timestamp = round(self._frame * 1000 / self.rate)
        frames = []
        if self._frame == 0:
            frames.append(SourceFrame.video(0, AVC_CONFIG))
            if self._audio:
                frames.append(SourceFrame.audio(0, AAC_CONFIG))
        kind = b"\x17" if self._frame % self._gop == 0 else b"\x27"
        body = self._frame.to_bytes(4) * (self._frame_size // 4)
        frames.append(SourceFrame.video(timestamp, kind + b"\x01\x00\x00\x00" + body))
        if self._audio:
            frames.append(SourceFrame.audio(timestamp, b"\xaf\x01" + bytes(20)))
        self._frame += 1
        return frames
