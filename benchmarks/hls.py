"""CPU per stream of HLS packaging: the project's MPEG-TS segmenter against PyAV (libavformat).

``python benchmarks/hls.py muxers`` encodes a 4 Mbit/s H.264/AAC FLV with FFmpeg once, then
packages its tags into MPEG-TS both ways, in this process, and prints the CPU seconds each
needs per minute of media:

* ``rtmp_actors``: :class:`~rtmp_actors.media.hls_segmenter.TsSegmenter` (AVCC to Annex B,
  ADTS, PES and TS packets in Python with struct and memoryview), segments of 2 s.
* ``pyav``: PyAV's ``mpegts`` muxer fed the same payloads as packets (libavformat inserts the
  ``h264_mp4toannexb`` filter and the ADTS headers itself), one container per 2 s segment.
  PyAV is not a dependency: install it (``pip install av``) to include it; it is skipped
  otherwise.

``python benchmarks/hls.py servers`` publishes the same file (real time, with FFmpeg) to a
relay with HLS on and to nginx-rtmp with ``hls on`` in the same run, and prints each server
process's CPU seconds per stream per minute (needs nginx-rtmp: see ``servers.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import cpu_times, relay_process  # noqa: E402
from rtmp_actors.media.audio import parse_audio_tag  # noqa: E402
from rtmp_actors.media.flv import TagType, read_flv_file  # noqa: E402
from rtmp_actors.media.hls_segmenter import SegmentStart, TsSegmenter  # noqa: E402
from rtmp_actors.media.video import VideoPacketType, parse_video_tag  # noqa: E402
from rtmp_actors.session.events import MediaType  # noqa: E402
from tests.nginx_rtmp import free_port, nginx_rtmp  # noqa: E402

Tag = tuple[MediaType, int, bytes]
SECONDS = 30
BITRATE = "4M"


def ffmpeg() -> str:
    """The FFmpeg that imageio-ffmpeg ships."""
    import imageio_ffmpeg  # noqa: PLC0415 - only the benchmark needs it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make_input(directory: Path, seconds: int = SECONDS) -> Path:
    """A 4 Mbit/s 720p H.264 (keyframe every 2 s) and 128 kbit/s AAC FLV."""
    path = directory / "input.flv"
    subprocess.run(
        [
            *(ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-b:v", BITRATE),
            *("-maxrate", BITRATE, "-bufsize", "8M", "-c:a", "aac", "-b:a", "128k"),
            *("-f", "flv", str(path)),
        ],
        check=True,
    )
    return path


def read_tags(path: Path) -> list[Tag]:
    """The file's audio and video tags."""
    kinds = {TagType.AUDIO: MediaType.AUDIO, TagType.VIDEO: MediaType.VIDEO}
    return [
        (kinds[TagType(tag.tag_type)], tag.timestamp, tag.data)
        for tag in read_flv_file(path)
        if tag.tag_type in kinds
    ]


def package_rtmp_actors(tags: list[Tag]) -> int:
    """Package with the project's segmenter; returns the bytes produced."""
    segmenter = TsSegmenter(2.0)
    total = 0
    for media_type, timestamp, data in tags:
        for out in segmenter.feed(media_type, timestamp, data):
            if not isinstance(out, SegmentStart):
                total += len(out)
    return total


def package_pyav(tags: list[Tag], source: Path) -> int:
    """Package with PyAV's mpegts muxer, a container per 2 s segment; returns the bytes.

    The streams' codec parameters (extradata included) come from PyAV's own reading of the
    source file: PyAV cannot set them on a stream it did not open an encoder for.
    """
    import av  # noqa: PLC0415 - optional

    millis = Fraction(1, 1000)
    templates = av.open(str(source))
    video_template = templates.streams.video[0]
    audio_template = templates.streams.audio[0]
    total = 0
    container: Any = None
    buffer = io.BytesIO()
    streams: dict[MediaType, Any] = {}
    segment_start: int | None = None

    def open_segment() -> None:
        nonlocal container, buffer
        buffer = io.BytesIO()
        container = av.open(buffer, "w", format="mpegts")
        video = container.add_stream_from_template(video_template)
        video.time_base = millis
        audio = container.add_stream_from_template(audio_template)
        audio.time_base = millis
        streams[MediaType.VIDEO], streams[MediaType.AUDIO] = video, audio

    def close_segment() -> int:
        container.close()
        return len(buffer.getvalue())

    for media_type, timestamp, data in tags:
        if media_type is MediaType.VIDEO:
            video_header = parse_video_tag(data)
            payload = bytes(video_header.payload(data))
            if video_header.packet_type is not VideoPacketType.CODED_FRAMES:
                continue  # the configuration is the template's; an end of sequence is empty
            keyframe = video_header.is_keyframe
            pts = timestamp + video_header.composition_time
            if keyframe and (segment_start is None or timestamp - segment_start >= 2000):
                if segment_start is not None:
                    total += close_segment()
                open_segment()
                segment_start = timestamp
        else:
            audio_header = parse_audio_tag(data)
            payload = bytes(audio_header.payload(data))
            if audio_header.is_sequence_header:
                continue
            keyframe, pts = True, timestamp
        if segment_start is None:
            continue
        packet = av.Packet(payload)
        packet.stream = streams[media_type]
        packet.time_base = millis
        packet.dts, packet.pts = timestamp, pts
        packet.is_keyframe = keyframe
        container.mux(packet)
    if segment_start is not None:
        total += close_segment()
    templates.close()
    return total


def cpu_per_minute(
    package: Callable[[list[Tag]], int], tags: list[Tag], media_seconds: float
) -> tuple[float, int]:
    """CPU seconds ``package`` takes per minute of media (best of three), and its output size."""
    best = float("inf")
    size = 0
    for _ in range(3):
        started = time.process_time()
        size = package(tags)
        best = min(best, time.process_time() - started)
    return best * 60 / media_seconds, size


def muxers() -> None:
    """Compare the two muxers on the same input."""
    with tempfile.TemporaryDirectory() as directory:
        source = make_input(Path(directory))
        tags = read_tags(source)
        _compare(tags, source)


def _compare(tags: list[Tag], source: Path) -> None:
    media_seconds = max(t for _, t, _ in tags) / 1000
    candidates: dict[str, Callable[[list[Tag]], int]] = {"rtmp_actors": package_rtmp_actors}
    try:
        import av  # noqa: F401, PLC0415 - optional

        candidates["pyav"] = lambda tags: package_pyav(tags, source)
    except ImportError:
        print("pyav: not installed (pip install av), skipped")
    mbit = sum(len(d) for _, _, d in tags) * 8 / media_seconds / 1e6
    print(f"input: {media_seconds:.1f} s at {mbit:.2f} Mbit/s, {len(tags)} tags")
    for name, package in candidates.items():
        cpu, size = cpu_per_minute(package, tags, media_seconds)
        print(f"{name:12s} {cpu:6.3f} CPU s per stream per minute ({size / 1e6:.1f} MB of TS)")


def main() -> None:
    """Run the benchmark named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["muxers", "servers"])
    parser.add_argument("--streams", type=int, default=2, help="servers: streams at once")
    args = parser.parse_args()
    if args.what == "muxers":
        muxers()
    else:
        servers(args.streams)


@contextlib.contextmanager
def nginx_server(workdir: Path, *, hls: bool) -> Iterator[tuple[int, int]]:
    """nginx-rtmp with ``hls on`` (or off) until the block ends; yields (port, pid)."""
    directives = f"hls on; hls_path {workdir}/hls; hls_fragment 2s; hls_playlist_length 10s;"
    with nginx_rtmp(workdir, application=directives if hls else "") as port:
        yield port, int((workdir / "nginx.pid").read_text())


@contextlib.contextmanager
def relay_server(workdir: Path, *, hls: bool) -> Iterator[tuple[int, int]]:
    """``rtmp-actors serve`` with ``--hls DIR`` (or without) until the block ends."""
    port, http_port = free_port(), free_port()
    args = ["--port", str(port), "--http", str(http_port), "--log-level", "WARNING"]
    if hls:
        args += ["--hls", str(workdir / "hls")]
    with relay_process(args, port, ROOT) as process:
        yield port, process.pid


def publish_all(port: int, source: Path, streams: int) -> None:
    """Publish ``source`` in real time as ``streams`` streams at once, until it ends."""
    publishers = [
        subprocess.Popen(
            [
                *(ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re"),
                *("-i", str(source), "-c", "copy", "-f", "flv"),
                f"rtmp://127.0.0.1:{port}/live/s{i}",
            ],
        )
        for i in range(streams)
    ]
    for publisher in publishers:
        publisher.wait(timeout=SECONDS * 4)


def servers(streams: int) -> None:
    """CPU seconds per stream per minute of each server, with and without HLS."""
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        source = make_input(work)
        media_minutes = SECONDS / 60
        print(f"{streams} streams of {SECONDS} s at {BITRATE}bit/s, published in real time")
        results: dict[str, dict[bool, float]] = {}
        starters = {"rtmp-actors": relay_server, "nginx-rtmp": nginx_server}
        for name, start in starters.items():
            for hls in (False, True):
                with start(work / f"{name}-{hls}", hls=hls) as (port, pid):
                    before = sum(cpu_times([pid]))
                    publish_all(port, source, streams)
                    used = sum(cpu_times([pid])) - before
                results.setdefault(name, {})[hls] = used / streams / media_minutes
        print(f"{'server':12s} {'HLS off':>8s} {'HLS on':>8s} {'HLS cost':>9s}  CPU s/stream/min")
        for name, by_hls in results.items():
            off, on = by_hls[False], by_hls[True]
            print(f"{name:12s} {off:8.2f} {on:8.2f} {on - off:9.2f}")


if __name__ == "__main__":
    main()
