"""The I/O loop and transports over real loopback sockets."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.transport import IoLoop, Transport

TIMEOUT = 10


class RecordingProtocol:
    """Collects what a transport delivers; optionally reports input as consumed."""

    def __init__(self, consume: bool = True) -> None:
        self.transport: Transport | None = None
        self.received: queue.Queue[bytes] = queue.Queue()
        self.lost: queue.Queue[str | None] = queue.Queue()
        self.consume = consume

    def data_received(self, data: bytes) -> None:
        self.received.put(data)
        if self.consume and self.transport is not None:
            self.transport.input_consumed(len(data))

    def connection_lost(self, reason: str | None) -> None:
        self.lost.put(reason)

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            data += self.received.get(timeout=TIMEOUT)
        return data


@pytest.fixture
def loop() -> Iterator[IoLoop]:
    io_loop = IoLoop(name="test-io").start()
    yield io_loop
    io_loop.stop()
    assert not io_loop.running


def serve_one(
    loop: IoLoop, protocol: RecordingProtocol, **transport_options: object
) -> tuple[socket.socket, queue.Queue[Transport]]:
    """Listen, connect a client socket, and wrap the accepted side in a transport."""
    accepted: queue.Queue[Transport] = queue.Queue()

    def on_accept(sock: socket.socket, _address: tuple[str, int]) -> None:
        transport = Transport(loop, sock, **transport_options)  # type: ignore[arg-type]
        protocol.transport = transport
        transport.start(protocol)
        accepted.put(transport)

    listener = loop.listen("127.0.0.1", 0, on_accept)
    client = socket.create_connection(listener.address, timeout=TIMEOUT)
    accepted.get(timeout=TIMEOUT)
    listener.close()
    return client, accepted


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_round_trip_and_byte_counts(loop: IoLoop) -> None:
    protocol = RecordingProtocol()
    client, _ = serve_one(loop, protocol)
    transport = protocol.transport
    assert transport is not None
    client.sendall(b"hello")
    assert protocol.read_exactly(5) == b"hello"
    transport.send_data(b"world" * 1000)
    assert recv_exactly(client, 5000) == b"world" * 1000
    assert transport.bytes_received == 5
    assert transport.bytes_sent == 5000
    assert transport.peer_address == client.getsockname()[:2]
    client.close()
    assert protocol.lost.get(timeout=TIMEOUT) is None  # the peer closed cleanly


def test_large_send_is_queued_and_flushed_in_order(loop: IoLoop) -> None:
    protocol = RecordingProtocol()
    client, _ = serve_one(loop, protocol)
    transport = protocol.transport
    assert transport is not None
    blocks = [bytes([i]) * 100_000 for i in range(50)]
    for block in blocks:
        transport.send_data(block)
    assert recv_exactly(client, 5_000_000) == b"".join(blocks)
    client.close()


def test_close_flushes_then_reports_the_reason(loop: IoLoop) -> None:
    protocol = RecordingProtocol()
    client, _ = serve_one(loop, protocol)
    transport = protocol.transport
    assert transport is not None
    payload = bytes(3_000_000)
    transport.send_data(payload)
    transport.close("session over")
    transport.send_data(b"too late")  # ignored once closing
    assert recv_exactly(client, len(payload)) == payload
    assert client.recv(10) == b""  # then an orderly end of stream
    assert protocol.lost.get(timeout=TIMEOUT) == "session over"
    assert protocol.lost.empty()


def test_slow_reader_is_aborted_beyond_the_queue_limit(loop: IoLoop) -> None:
    protocol = RecordingProtocol()
    client, _ = serve_one(loop, protocol, max_queued_bytes=2_000_000)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport = protocol.transport
    assert transport is not None
    # The client never reads: the kernel buffers fill, then the queue, then the limit trips.
    for _ in range(400):
        transport.send_data(bytes(100_000))
        if transport.is_closing:
            break
    reason = protocol.lost.get(timeout=TIMEOUT)
    assert reason is not None
    assert "too slow" in reason
    assert transport.queued_bytes == 0  # the memory is released
    client.close()


def test_reading_pauses_until_input_is_consumed(loop: IoLoop) -> None:
    protocol = RecordingProtocol(consume=False)
    client, _ = serve_one(loop, protocol, max_unconsumed_input=100_000)
    transport = protocol.transport
    assert transport is not None
    client.setblocking(False)
    sent = 0
    # Keep sending until the kernel pushes back: the transport stopped reading.
    stalled = threading.Event()
    for _ in range(100_000):
        try:
            sent += client.send(bytes(65536))
        except BlockingIOError:
            stalled.set()
            break
    assert stalled.is_set()
    received = 0
    while received <= 100_000:
        received += len(protocol.received.get(timeout=TIMEOUT))
    # Reading stopped within one read of the threshold; the rest waits in kernel buffers.
    assert received <= 100_000 + 256 * 1024
    assert received < sent
    transport.input_consumed(received)
    # Reading resumes: the rest arrives once consumed.
    while received < sent:
        block = protocol.received.get(timeout=TIMEOUT)
        received += len(block)
        transport.input_consumed(len(block))
    assert received == sent
    client.close()


def test_timers_run_and_cancelled_ones_do_not(loop: IoLoop) -> None:
    fired: queue.Queue[str] = queue.Queue()
    cancelled = loop.call_later(0.01, lambda: fired.put("cancelled"))
    cancelled.cancel()
    loop.call_later(0.05, lambda: fired.put("second"))
    loop.call_later(0.02, lambda: fired.put("first"))
    assert [fired.get(timeout=TIMEOUT), fired.get(timeout=TIMEOUT)] == ["first", "second"]
    assert fired.empty()


def test_stop_hooks_run_on_the_loop_thread() -> None:
    io_loop = IoLoop().start()
    ran: queue.Queue[bool] = queue.Queue()
    io_loop.add_stop_hook(lambda: ran.put(io_loop.in_loop_thread()))
    io_loop.stop()
    assert ran.get(timeout=TIMEOUT) is True


def test_tls_round_trip(loop: IoLoop, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    protocol = RecordingProtocol()
    accepted: queue.Queue[Transport] = queue.Queue()

    def on_accept(sock: socket.socket, _address: tuple[str, int]) -> None:
        transport = Transport(loop, sock, ssl_context=server_context)
        protocol.transport = transport
        transport.start(protocol)
        accepted.put(transport)

    listener = loop.listen("127.0.0.1", 0, on_accept)
    client_context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(listener.address, timeout=TIMEOUT) as raw,
        client_context.wrap_socket(raw, server_hostname="localhost") as client,
    ):
        transport = accepted.get(timeout=TIMEOUT)
        client.sendall(b"secret" * 10_000)
        assert protocol.read_exactly(60_000) == b"secret" * 10_000
        transport.send_data(b"reply" * 100_000)
        assert recv_exactly(client, 500_000) == b"reply" * 100_000  # type: ignore[arg-type]
    listener.close()
    assert protocol.lost.get(timeout=TIMEOUT) in (None, "read failed: EOF occurred")


class CountingSocket(socket.socket):
    """A socket that remembers the buffers of each ``sendmsg`` call."""

    calls: list[int]

    def sendmsg(self, buffers: Any, *args: Any) -> int:
        buffers = list(buffers)
        self.calls.append(len(buffers))
        return super().sendmsg(buffers, *args)


def test_writes_queued_while_the_socket_is_full_go_in_one_system_call(loop: IoLoop) -> None:
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    counting = CountingSocket(ours.family, ours.type, fileno=ours.detach())
    counting.calls = []
    transport = Transport(loop, counting)
    transport.start(RecordingProtocol())
    filler = bytes(1_000_000)
    transport.send_data(filler)  # more than the socket takes: the rest waits in the queue
    assert transport.queued_bytes > 0
    blocks = [bytes([i]) * 1000 for i in range(1, 11)]
    for block in blocks:
        transport.send_data(block)  # the peer reads nothing yet: all of them wait
    peer.settimeout(TIMEOUT)
    assert recv_exactly(peer, len(filler) + 10_000) == filler + b"".join(blocks)
    # The first write once the socket drained carried the filler's rest and every block.
    assert counting.calls[0] == 1 + len(blocks)
    transport.abort("done")
    peer.close()
