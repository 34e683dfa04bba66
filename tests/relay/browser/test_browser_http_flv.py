"""A real browser plays HTTP-FLV: headless Chromium runs mpegts.js on a page of our own.

FFmpeg publishes its colourful ``testsrc`` to the relay; the page (served by the test, from
another origin than the relay's HTTP port) plays ``http://127.0.0.1:PORT/live/key.flv``
and posts what it sees to the test: ``currentTime`` samples, and once playing a decoded
frame drawn to a canvas (PNG). The test saves the frame as a screenshot and checks that
time advances and the picture is not black.
"""

from __future__ import annotations

import base64
import http.server
import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.peers import debian_tool, ffmpeg_exe, missing_peer, poll_until, stop_process

HERE = Path(__file__).parent
MPEGTS_JS = HERE / "node_modules" / "mpegts.js" / "dist" / "mpegts.js"
HLS_JS = HERE / "node_modules" / "hls.js" / "dist" / "hls.js"
TIMEOUT = 45.0

Report = dict[str, Any]


class _PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reports: queue.Queue[Report]) -> None:
        self.reports = reports
        super().__init__(("127.0.0.1", 0), _PageHandler)


class _PageHandler(http.server.BaseHTTPRequestHandler):
    server: _PageServer
    files = {  # read-only
        "/player.html": (HERE / "player.html", "text/html; charset=utf-8"),
        "/mpegts.js": (MPEGTS_JS, "text/javascript"),
        "/hls_player.html": (HERE / "hls_player.html", "text/html; charset=utf-8"),
        "/hls.js": (HLS_JS, "text/javascript"),
        "/report.js": (HERE / "report.js", "text/javascript"),
    }

    def do_GET(self) -> None:
        path, content_type = self.files.get(self.path.partition("?")[0], (None, ""))
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.reports.put(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_server() -> Iterator[_PageServer]:
    server = _PageServer(queue.Queue())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0, http_port=0)).start()
    yield server
    server.stop()


# FFmpeg's encoder options for the test picture and tone, by what the page must decode.
H264_AAC = ("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-profile:v", "baseline", "-c:a", "aac")  # fmt: skip
AV1_OPUS = ("-c:v", "libsvtav1", "-preset", "12", "-c:a", "libopus")  # Enhanced RTMP


def publish_testsrc(
    relay: RelayServer, encoders: tuple[str, ...] = H264_AAC
) -> subprocess.Popen[bytes]:
    """FFmpeg publishes a colourful test picture and a tone, in real time."""
    port = relay.address[1]
    return subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         *encoders, "-g", "25", "-pix_fmt", "yuv420p",
         "-f", "flv", f"rtmp://127.0.0.1:{port}/live/key"],
        stderr=subprocess.PIPE,
    )  # fmt: skip


def start_chromium(url: str, profile: Path) -> subprocess.Popen[bytes]:
    """Debian's headless Chromium on ``url``, kept off the (closed) network."""
    return subprocess.Popen(
        [
            debian_tool("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--autoplay-policy=no-user-gesture-required",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def grey_levels(png: Path) -> bytes:
    """The picture's pixels as 8-bit grey, decoded by FFmpeg."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(png),
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return result.stdout


def next_report(reports: queue.Queue[Report], deadline: float, seen: list[Report]) -> Report:
    try:
        report = reports.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        pytest.fail(f"the page stopped reporting; last reports: {seen[-5:]}")
    if "error" in report:
        pytest.fail(f"the page reported an error: {report['error']}")
    seen.append(report)
    return report


def check_playback(
    page_server: _PageServer, tmp_path: Path, min_span: float, codecs: tuple[str, ...] = ("h264",)
) -> list[float]:
    """Check what the page reports: playback advances ``min_span`` s and shows a picture.

    Args:
        page_server: Where the page reports.
        tmp_path: Where the decoded frame is saved.
        min_span: Seconds of playback to see.
        codecs: What the browser must say it decodes (``h264``, ``av1``, ``opus``).

    Returns:
        The ``currentTime`` values reported.
    """
    deadline = time.monotonic() + TIMEOUT
    seen: list[Report] = []
    capabilities = next_report(page_server.reports, deadline, seen)
    assert capabilities["supported"] is True
    assert {codec: capabilities[codec] for codec in codecs} == dict.fromkeys(codecs, True)
    frame: str | None = None
    times: list[float] = []
    while frame is None or len(times) < 8 or times[-1] - times[0] < min_span:
        report = next_report(page_server.reports, deadline, seen)
        if report["currentTime"] > 0:
            times.append(report["currentTime"])
        frame = frame or report.get("frame")
    assert times == sorted(times)  # live playback only moves forward

    screenshot = tmp_path / "frame.png"
    screenshot.write_bytes(base64.b64decode(frame.removeprefix("data:image/png;base64,")))
    grey = grey_levels(screenshot)
    assert len(grey) == 320 * 240
    mean = sum(grey) / len(grey)
    assert mean > 60, f"the frame is (nearly) black: mean grey {mean:.0f}; see {screenshot}"
    assert max(grey) - min(grey) > 100  # bars and patterns, not a flat picture
    return times


@pytest.mark.peers
def test_chromium_plays_the_stream_with_mpegts_js(
    relay: RelayServer, page_server: _PageServer, tmp_path: Path
) -> None:
    if not MPEGTS_JS.exists():
        missing_peer("mpegts.js (npm ci --prefix tests/relay/browser)")
    publisher = publish_testsrc(relay)
    chromium: subprocess.Popen[bytes] | None = None
    try:

        def publishing() -> bool:
            stats = relay.stream_stats_of("live", "key")
            return stats is not None and stats.messages_in > 10

        poll_until(publishing, 20, "FFmpeg to publish")
        http_address = relay.http_address
        assert http_address is not None
        source = f"http://127.0.0.1:{http_address[1]}/live/key.flv"
        page = f"http://127.0.0.1:{page_server.server_address[1]}/player.html?src={source}"
        chromium = start_chromium(page, tmp_path / "profile")
        times = check_playback(page_server, tmp_path, min_span=1.0)
        assert times[-1] > 1.0
        assert relay.http_address is not None
    finally:
        if chromium is not None:
            stop_process(chromium, 10)
        stop_process(publisher, 10)
