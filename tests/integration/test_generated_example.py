"""The test-pattern example's generated stream, played by FFmpeg and rtmpdump."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from examples.test_pattern_source import TestPatternSource
from rtmp_actors.media.flv import FlvReader, FlvTag, TagType
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.nginx_rtmp import free_port
from tests.peers import debian_tool, ffmpeg_exe, run_ffmpeg, stop_process

pytestmark = pytest.mark.peers

TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pattern_url() -> Iterator[str]:
    """A relay serving the test pattern (always on) at the returned URL."""
    relay = RelayServer(RelayConfig(port=0)).start()
    try:
        relay.add_source("live", "pattern", TestPatternSource(ffmpeg=ffmpeg_exe()))
        host, port = relay.address
        yield f"rtmp://{host}:{port}/live/pattern"
    finally:
        relay.stop()


def framemd5(url: str, seconds: float) -> tuple[list[str], list[str]]:
    """FFmpeg plays ``url`` for ``seconds``: its header lines and its decoded video hashes."""
    result = run_ffmpeg("-i", url, "-t", str(seconds), "-f", "framemd5", "-", timeout=TIMEOUT)
    lines = result.stdout.decode().splitlines()
    header = [line for line in lines if line.startswith("#")]
    video = [line.rsplit(",", 1)[1].strip() for line in lines if line.startswith("0,")]
    return header, video


def test_ffmpeg_decodes_the_moving_test_pattern(pattern_url: str) -> None:
    header, video = framemd5(pattern_url, 2)
    assert "#dimensions 0: 320x240" in header
    assert "#media_type 1: audio" in header  # the tone
    assert len(video) >= 40, f"{len(video)} frames in 2 s at 25 fps"
    assert len(set(video)) > len(video) // 2  # the box moves: pictures differ


def test_rtmpdump_plays_the_test_pattern(pattern_url: str, tmp_path: Path) -> None:
    rtmpdump = debian_tool("rtmpdump")
    out = tmp_path / "pattern.flv"
    # rtmpdump's --stop asks the server for a play duration, which a live relay does not
    # honour, so the test reads rtmpdump's output and ends it after 2 s of video.
    process = subprocess.Popen(
        [rtmpdump, "-q", "--live", "-r", pattern_url, "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        with out.open("wb") as copy:
            reader = FlvReader(_Tee(process.stdout, copy))
            video = [tag for tag in _until(reader, 50) if tag.tag_type == TagType.VIDEO]
    finally:
        stop_process(process, timeout=5)
    assert video[0].data[:2] == b"\x17\x00"  # the AVC sequence header first
    assert video[1].data[0] == 0x17  # then a keyframe
    probe = subprocess.run(
        [
            debian_tool("ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v",
            "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json",
            str(out),
        ],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    (stream,) = json.loads(probe.stdout)["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 240)
    assert int(stream["nb_read_frames"]) >= 45


def test_the_example_serves_the_pattern_to_ffmpeg() -> None:
    ffmpeg_exe()  # skips (or fails in CI) without the peer
    port = free_port()
    example = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "test_pattern_source.py"), str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert example.stderr is not None
        url = _announced_url(example.stderr)
        assert url == f"rtmp://127.0.0.1:{port}/live/pattern"
        header, video = framemd5(url, 1)
        assert "#dimensions 0: 320x240" in header
        assert len(video) >= 20
    finally:
        stop_process(example, timeout=10)
    assert example.returncode == 0  # SIGTERM stops it cleanly


def _announced_url(stderr: IO[str]) -> str:
    """The URL the example prints once it serves (read on a thread: readline blocks)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the example never said where it plays; it said: {seen}")
        seen.append(line)
        if line.startswith("playing at "):
            return line.removeprefix("playing at ").strip()


class _Tee:
    """A readable stream that copies what is read to ``copy``."""

    def __init__(self, source: IO[bytes], copy: IO[bytes]) -> None:
        self._source, self._copy = source, copy

    def read(self, size: int, /) -> bytes:
        data = self._source.read(size)
        self._copy.write(data)
        return data


def _until(reader: FlvReader, video_tags: int) -> Iterator[FlvTag]:
    """The reader's tags up to the ``video_tags``-th video tag."""
    count = 0
    for tag in reader:
        yield tag
        count += tag.tag_type == TagType.VIDEO
        if count >= video_tags:
            return
