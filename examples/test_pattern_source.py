"""A server-generated stream: a moving test pattern rendered in Python, encoded by FFmpeg.

    python examples/test_pattern_source.py [PORT] [--on-demand]   # 127.0.0.1, 1935 by default
    ffplay rtmp://127.0.0.1:1935/live/pattern     # or: rtmpdump -r ... -o out.flv

Every tick, :class:`TestPatternSource` draws colour bars with a box that bounces across them
(320x240 RGB, plain ``bytes`` operations: a row is built once per colour layout), writes the
raw picture to an FFmpeg that encodes H.264 (and a 440 Hz AAC tone from FFmpeg's own
``sine`` source), and hands the FLV tags FFmpeg has produced so far to the relay. A thread
reads FFmpeg's FLV output with the library's :class:`FlvReader` into a bounded queue.

Importable: ``from examples.test_pattern_source import TestPatternSource``. Stop with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from behaviours.stream_source import SourceFrame, StreamSource
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.flv import FlvReader, TagType
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.running import serve_forever
from rtmp_actors.session.events import MediaType

logger = logging.getLogger(__name__)

# 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
BARS = [
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
]
BOX = bytes((255, 255, 255))
_MAX_QUEUED_TAGS = 500  # FFmpeg blocks on its output beyond this: bounded memory


def ffmpeg_exe() -> str:
    """The FFmpeg shipped with imageio-ffmpeg."""
    import imageio_ffmpeg  # noqa: PLC0415 - only this example needs it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


class TestPatternSource(StreamSource):
    """Colour bars and a bouncing box, encoded to H.264 (+ an AAC tone) by an FFmpeg process.

    Args:
        width: Picture width (even).
        height: Picture height (even).
        fps: Frames per second.
        audio: Add a 440 Hz AAC tone.
        ffmpeg: The FFmpeg binary (default: imageio-ffmpeg's).
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: int = 25,
        *,
        audio: bool = True,
        ffmpeg: str | None = None,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.audio = audio
        self._ffmpeg = ffmpeg
        self._bar_row = b"".join(
            bytes(BARS[x * len(BARS) // width]) for x in range(width)
        )  # one row of bars, reused for every row
        self._box = max(8, height // 6)
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._tags: queue.Queue[SourceFrame | None] = queue.Queue(_MAX_QUEUED_TAGS)
        self._frame = 0

    @property
    def frame_rate(self) -> float:
        return float(self.fps)

    def metadata(self) -> Mapping[str, Any] | None:
        info: dict[str, Any] = {
            "width": float(self.width),
            "height": float(self.height),
            "framerate": float(self.fps),
            "videocodecid": 7.0,
            "encoder": "rtmp_actors test pattern",
        }
        if self.audio:
            info.update(audiocodecid=10.0, audiosamplerate=44100.0, stereo=False)
        return info

    # --- Rendering ------------------------------------------------------------------------------

    def render(self, frame: int) -> bytes:
        """The RGB24 picture of frame number ``frame``."""
        size, w = self._box, self.width
        x = _bounce(frame * 4, w - size)
        y = _bounce(frame * 3, self.height - size)
        bars = self._bar_row
        boxed = bars[: x * 3] + BOX * size + bars[(x + size) * 3 :]
        return bars * y + boxed * size + bars * (self.height - y - size)

    # --- The encoder ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start FFmpeg and the thread that reads its FLV output."""
        self._frame = 0
        self._tags = queue.Queue(_MAX_QUEUED_TAGS)
        tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"] if self.audio else []
        command = [
            self._ffmpeg or ffmpeg_exe(),
            "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{self.width}x{self.height}", "-r", str(self.fps), "-i", "pipe:0",
            *tone,
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-g", str(self.fps), "-pix_fmt", "yuv420p",
            *(["-c:a", "aac", "-b:a", "64k", "-ac", "1"] if self.audio else []),
            "-flush_packets", "1", "-f", "flv", "pipe:1",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout = self._process.stdout
        assert stdout is not None
        self._reader = threading.Thread(
            target=self._read_tags, args=(stdout, self._tags), name="pattern-flv", daemon=True
        )
        self._reader.start()

    @staticmethod
    def _read_tags(stdout: IO[bytes], tags: queue.Queue[SourceFrame | None]) -> None:
        try:
            for tag in FlvReader(stdout):
                if tag.tag_type == TagType.VIDEO:
                    tags.put(SourceFrame(MediaType.VIDEO, tag.timestamp, tag.data))
                elif tag.tag_type == TagType.AUDIO:
                    tags.put(SourceFrame(MediaType.AUDIO, tag.timestamp, tag.data))
                # FFmpeg's onMetaData is skipped: metadata() describes the stream.
        except (ProtocolError, ValueError, OSError) as error:
            logger.warning("reading FFmpeg's output: %s", error)
        finally:
            tags.put(None)  # FFmpeg's output ended

    def next_frames(self, now: float) -> Sequence[SourceFrame]:
        """Render and encode this tick's picture; return what FFmpeg has produced so far."""
        process = self._process
        if process is None or process.stdin is None:
            msg = "the source is not started"
            raise RuntimeError(msg)
        process.stdin.write(self.render(self._frame))
        process.stdin.flush()
        self._frame += 1
        frames: list[SourceFrame] = []
        while True:
            try:
                frame = self._tags.get_nowait()
            except queue.Empty:
                return frames
            if frame is None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                msg = f"FFmpeg stopped: {error.strip() or process.poll()}"
                raise RuntimeError(msg)
            frames.append(frame)

    def stop(self) -> None:
        """End FFmpeg (closing its input lets it finish) and the reader thread."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # FFmpeg is gone already
                process.stdin.close()
        process.terminate()
        # Keep the reader moving until FFmpeg's output ends, so it never blocks on the queue.
        reader = self._reader
        while reader is not None and reader.is_alive():
            try:
                self._tags.get(timeout=0.1)
            except queue.Empty:
                continue
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bounce(position: int, span: int) -> int:
    """``position`` folded back and forth into 0..span."""
    if span <= 0:
        return 0
    position %= 2 * span
    return position if position <= span else 2 * span - position


def main(argv: list[str]) -> None:
    """Serve the pattern at rtmp://127.0.0.1:PORT/live/pattern."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = [a for a in argv if not a.startswith("--")]
    port = int(args[0]) if args else 1935
    relay = RelayServer(RelayConfig(host="127.0.0.1", port=port))

    def ready(server: RelayServer) -> None:
        server.add_source("live", "pattern", TestPatternSource(), on_demand="--on-demand" in argv)
        host, bound = server.address
        # One write (print makes two): a log line cannot land inside it.
        sys.stderr.write(f"playing at rtmp://{host}:{bound}/live/pattern\n")

    serve_forever(relay, ready=ready)


if __name__ == "__main__":
    main(sys.argv[1:])
