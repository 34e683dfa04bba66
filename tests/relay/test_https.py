"""The HTTP port's content over HTTPS: HTTP-FLV and HLS to FFmpeg, stats, certificate reload."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hls import HlsSettings
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.tls import TlsSettings
from tests.actors.harness import TIMEOUT, EventLog
from tests.conftest import make_self_signed
from tests.peers import ffmpeg_exe, poll_until, stop_process
from tests.relay import http_flv_client
from tests.relay.browser.test_browser_http_flv import publish_testsrc
from tests.relay.test_http_flv import start_stream
from tests.relay.test_tls_listener import der_of, presented_certificate, tls_pair

__all__ = ["tls_pair"]  # the fixture, imported to be used here


@pytest.fixture
def relay(tls_pair: tuple[Path, Path], tmp_path: Path) -> Iterator[RelayServer]:
    cert, key = tls_pair
    tls = TlsSettings(https_port=0, cert=str(cert), key=str(key))
    hls = HlsSettings(dir=str(tmp_path / "hls"), segment_duration=1.0, playlist_length=3)
    server = RelayServer(RelayConfig(port=0, http_port=0, tls=tls, hls=hls)).start()
    yield server
    server.stop()


def https_base(relay: RelayServer) -> str:
    address = relay.https_address
    assert address is not None
    return f"https://127.0.0.1:{address[1]}"


def fetch(url: str, cafile: Path) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, context=context, timeout=TIMEOUT) as answer:
        return answer.status, answer.read()


def test_stats_and_http_flv_over_https(relay: RelayServer, tls_pair: tuple[Path, Path]) -> None:
    cert, _ = tls_pair
    status, body = fetch(f"{https_base(relay)}/stats", cert)
    assert status == 200
    assert b'"connections"' in body
    start_stream(relay, EventLog())
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # it names 127.0.0.1, but wrap_socket is given no name
    address = relay.https_address
    assert address is not None
    with (
        socket.create_connection(address, timeout=TIMEOUT) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(b"GET /live/key.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        file = tls.makefile("rb")
        assert file.readline().split()[1] == b"200"
        while file.readline() not in (b"\r\n", b""):
            pass
        assert file.read(3 + 2) == b"d\r\nFL"  # the first chunk: the FLV header, over TLS


@pytest.mark.peers
def test_ffmpeg_reads_http_flv_and_hls_over_https(
    relay: RelayServer, tls_pair: tuple[Path, Path]
) -> None:
    cert, _ = tls_pair
    publisher = publish_testsrc(relay)
    try:
        root = relay.hls_root
        assert root is not None
        playlist = root / "live" / "key" / "index.m3u8"

        def listed() -> bool:
            return playlist.exists() and playlist.read_text().count("#EXTINF") >= 2

        poll_until(listed, 20, "two segments to be listed")  # FFmpeg publishes in real time
        for url in (
            f"{https_base(relay)}/live/key.flv",
            f"{https_base(relay)}/hls/live/key/index.m3u8",
        ):
            result = subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
                 "-i", url, "-frames:v", "25", "-f", "framemd5", "-"],
                capture_output=True, text=True, timeout=TIMEOUT, check=False,
                # FFmpeg verifies certificates; its HLS reader's own requests take no
                # -ca_file, but OpenSSL's default trust store follows SSL_CERT_FILE.
                env={**os.environ, "SSL_CERT_FILE": str(cert)},
            )  # fmt: skip
            assert result.returncode == 0, (url, result.stderr[-2000:])
            frames = [line for line in result.stdout.splitlines() if line.startswith("0,")]
            assert len(frames) == 25, url  # decoded video frames, over TLS
    finally:
        stop_process(publisher, 10)


def test_plain_http_on_the_https_port_gets_no_answer(relay: RelayServer) -> None:
    address = relay.https_address
    assert address is not None
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert b"HTTP/1" not in answer  # a TLS alert at most, then closed
    assert http_flv_client.request(relay.http_address[1], "/stats").status == 200  # type: ignore[index]


def test_reload_gives_new_https_connections_the_new_certificate(
    relay: RelayServer, tls_pair: tuple[Path, Path]
) -> None:
    cert, key = tls_pair
    address = relay.https_address
    assert address is not None
    old = der_of(cert)
    assert presented_certificate(address[1]) == old
    make_self_signed(cert, key)
    assert relay.reload_tls()
    assert presented_certificate(address[1]) == der_of(cert) != old
    assert fetch(f"{https_base(relay)}/stats", cert)[0] == 200  # trusting only the new one


def test_an_https_port_needs_the_http_port(tls_pair: tuple[Path, Path]) -> None:
    cert, key = tls_pair
    tls = TlsSettings(https_port=0, cert=str(cert), key=str(key))
    with pytest.raises(ValueError, match="needs the HTTP port"):
        RelayServer(RelayConfig(port=0, tls=tls))
    with pytest.raises(ValueError, match="HTTPS port needs a certificate"):
        TlsSettings(https_port=0)
