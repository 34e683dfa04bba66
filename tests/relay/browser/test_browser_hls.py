"""A real browser plays HLS: headless Chromium runs hls.js on a page of our own.

The same set-up as the HTTP-FLV browser test (whose helpers this reuses): FFmpeg publishes
``testsrc`` in real time to a relay with HLS on, as H.264/AAC (MPEG-TS segments) and as
AV1/Opus over Enhanced RTMP (fMP4 segments); the page plays
``http://127.0.0.1:PORT/hls/live/key/index.m3u8`` from another origin and posts
``currentTime`` samples and a decoded frame; the test checks that time advances and that the
frame is a picture, not black.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.server import RelayServer
from tests.peers import missing_peer, poll_until, stop_process
from tests.relay.browser.test_browser_http_flv import (
    AV1_OPUS,
    H264_AAC,
    HLS_JS,
    _PageServer,
    check_playback,
    page_server,
    publish_testsrc,
    start_chromium,
)

__all__ = ["page_server"]  # the fixture, imported to be used here


@pytest.fixture
def hls_relay() -> Iterator[RelayServer]:
    settings = HlsSettings(segment_duration=1.0, playlist_length=4)
    server = RelayServer(RelayConfig(port=0, http_port=0, hls=settings)).start()
    yield server
    server.stop()


@pytest.mark.peers
@pytest.mark.parametrize(
    ("encoders", "codecs", "segment_tag"),
    [
        (H264_AAC, ("h264",), "#EXTINF"),  # MPEG-TS segments
        (AV1_OPUS, ("av1", "opus"), "#EXT-X-MAP"),  # fMP4: Enhanced RTMP in, CMAF out
    ],
    ids=["h264-aac-ts", "av1-opus-fmp4"],
)
def test_chromium_plays_the_stream_with_hls_js(
    hls_relay: RelayServer,
    page_server: _PageServer,
    tmp_path: Path,
    encoders: tuple[str, ...],
    codecs: tuple[str, ...],
    segment_tag: str,
) -> None:
    if not HLS_JS.exists():
        missing_peer("hls.js (npm ci --prefix tests/relay/browser)")
    publisher = publish_testsrc(hls_relay, encoders)
    chromium = None
    try:
        root = hls_relay.hls_root
        assert root is not None
        playlist = root / "live" / "key" / "index.m3u8"

        def listed() -> bool:
            text = playlist.read_text() if playlist.exists() else ""
            return text.count("#EXTINF") >= 2 and segment_tag in text

        poll_until(listed, 20, "two segments to be listed")  # FFmpeg publishes in real time
        http_address = hls_relay.http_address
        assert http_address is not None
        source = f"http://127.0.0.1:{http_address[1]}/hls/live/key/index.m3u8"
        page = f"http://127.0.0.1:{page_server.server_address[1]}/hls_player.html?src={source}"
        chromium = start_chromium(page, tmp_path / "profile")
        check_playback(page_server, tmp_path, min_span=1.5, codecs=codecs)
    finally:
        if chromium is not None:
            stop_process(chromium, 10)
        stop_process(publisher, 10)
