"""The handshake against a real FFmpeg, in both roles, over loopback sockets.

FFmpeg as a client always sends a digest C1 (scheme 0). Publishing, it answers S1 with a plain
echo; playing, it checks our S1 digest and S2 signature and answers with a signed C2, aborting
with "Server response validating failed" or "Signature mismatch" if either is wrong. As a
server (``-listen 1``) it only knows the simple handshake.

The sockets live only in these tests; each test closes its socket once the handshake is checked
and FFmpeg exits with an error, which is expected.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rtmp_actors.protocol.handshake import (
    ClientHandshake,
    HandshakeMode,
    PeerResponse,
    ServerHandshake,
)
from tests.peers import ffmpeg_exe

pytestmark = pytest.mark.peers

TIMEOUT = 20.0
# fmt 0 basic header on chunk stream 3, 11-byte message header, then the AMF0 string "connect".
FIRST_CHUNK_BYTES = 12 + 10


@contextmanager
def _ffmpeg(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "warning", *args]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def _log(process: subprocess.Popen[bytes]) -> str:
    """FFmpeg's stderr, once it has exited (killing it if it has not within the timeout)."""
    try:
        _, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate(timeout=TIMEOUT)
    return err.decode(errors="replace")


def _run_server_handshake(
    listener: socket.socket, process: subprocess.Popen[bytes]
) -> tuple[ServerHandshake, bytes]:
    """Accept one connection, run ServerHandshake, return it and the first bytes after it."""
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(TIMEOUT)
        handshake = ServerHandshake(epoch=1000)
        while not handshake.is_complete:
            data = connection.recv(65536)
            if not data:
                pytest.fail(f"FFmpeg closed the connection mid-handshake:\n{_log(process)}")
            connection.sendall(handshake.receive_data(data))
        after = handshake.trailing_data
        while len(after) < FIRST_CHUNK_BYTES:
            data = connection.recv(65536)
            if not data:
                pytest.fail(f"FFmpeg closed the connection after the handshake:\n{_log(process)}")
            after += data
    return handshake, after


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server_socket:
        server_socket.settimeout(TIMEOUT)
        yield server_socket


def _assert_connect_chunk(after: bytes) -> None:
    assert after[0] == 0x03, f"not a fmt 0 chunk on chunk stream 3: {after[:12].hex()}"
    assert after[7] == 20, f"not an AMF0 command message: {after[:12].hex()}"
    assert after[12:22] == b"\x02\x00\x07connect"


def test_ffmpeg_publisher_gets_a_digest_handshake(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1"]
    with _ffmpeg(*source, "-f", "flv", f"rtmp://127.0.0.1:{port}/app/key") as process:
        handshake, after = _run_server_handshake(listener, process)
        log = _log(process)
    assert handshake.mode is HandshakeMode.DIGEST
    assert handshake.digest_scheme == 0
    assert handshake.peer_version == bytes((9, 0, 124, 2))
    # Publishing, FFmpeg does not check S1 and just echoes it.
    assert handshake.peer_response is PeerResponse.ECHOED
    _assert_connect_chunk(after)
    assert "validating failed" not in log
    assert "Signature mismatch" not in log


def test_ffmpeg_player_accepts_our_digest_s1_and_s2(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with _ffmpeg("-i", f"rtmp://127.0.0.1:{port}/app/key", "-f", "null", "-") as process:
        handshake, after = _run_server_handshake(listener, process)
        log = _log(process)
    assert handshake.mode is HandshakeMode.DIGEST
    # A signed C2 means FFmpeg found our S1 digest and our S2 signature valid.
    assert handshake.peer_response is PeerResponse.SIGNED
    _assert_connect_chunk(after)
    assert "validating failed" not in log
    assert "Signature mismatch" not in log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _connect_when_listening(port: int, process: subprocess.Popen[bytes]) -> socket.socket:
    """Connect to FFmpeg's listener, retrying until it is up (bounded by a deadline)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
        # Waiting on the process doubles as the retry interval and notices an early exit.
        try:
            process.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"ffmpeg -listen exited early:\n{_log(process)}")


@pytest.mark.parametrize("digest", [True, False], ids=["digest-c1", "simple-c1"])
def test_client_against_ffmpeg_listen(digest: bool) -> None:
    port = _free_port()
    epoch = 0x00ABCDEF
    listen = ["-listen", "1", "-timeout", str(int(TIMEOUT))]
    with _ffmpeg(*listen, "-i", f"rtmp://127.0.0.1:{port}/app/key", "-f", "null", "-") as process:
        with _connect_when_listening(port, process) as connection:
            connection.settimeout(TIMEOUT)
            handshake = ClientHandshake(epoch, digest=digest)
            connection.sendall(handshake.start())
            while not handshake.is_complete:
                data = connection.recv(65536)
                if not data:
                    pytest.fail(f"FFmpeg closed the connection mid-handshake:\n{_log(process)}")
                connection.sendall(handshake.receive_data(data))
        log = _log(process)
    assert handshake.mode is HandshakeMode.SIMPLE
    # FFmpeg's S1 has zero version bytes and copies our C1's time.
    assert handshake.peer_version == bytes(4)
    assert handshake.peer_epoch == epoch
    assert handshake.peer_response is PeerResponse.ECHOED
    assert handshake.trailing_data == b""
    # FFmpeg only warns about a C2 that does not echo S1; make sure it had no reason to.
    assert "Erroneous C2" not in log
    assert "version mismatch" not in log
