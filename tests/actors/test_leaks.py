"""10,000 connect/disconnect cycles leave no threads, registry entries or descriptors behind."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pykka

from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.messages import CommandMessage, DetailedMessage, VideoData
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as server
from tests.actors.harness import TIMEOUT, EventLog, start_server

CYCLES = 10_000
CONCURRENCY = 16


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def reset(sock: socket.socket) -> None:
    """Close abruptly: a TCP reset instead of an orderly close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def handshake(sock: socket.socket) -> RtmpConnection:
    connection = RtmpConnection(ConnectionRole.CLIENT, digest_handshake=False)
    sock.sendall(connection.start())
    while not connection.handshake_complete:
        data = sock.recv(65536)
        if not data:
            msg = "server closed during the handshake"
            raise ConnectionError(msg)
        reply = connection.receive_data(data).to_send
        if reply:
            sock.sendall(reply)
    return connection


CONNECT = DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": "live"}))


def just_close(sock: socket.socket) -> None:
    sock.close()


def reset_mid_handshake(sock: socket.socket) -> None:
    sock.sendall(b"\x03" + bytes(700))
    reset(sock)


def close_mid_message(sock: socket.socket) -> None:
    connection = handshake(sock)
    sock.sendall(connection.send_message(CONNECT))
    partial = connection.send_message(DetailedMessage(0, 1, VideoData(bytes(5000))))
    sock.sendall(partial[: len(partial) // 2])
    reset(sock)


def connect_and_close(sock: socket.socket) -> None:
    connection = handshake(sock)
    sock.sendall(connection.send_message(CONNECT))
    # Wait for the connect answer so the whole session really ran.
    while not any(
        isinstance(m.content, CommandMessage) and m.content.name == "_result"
        for m in connection.receive_data(sock.recv(65536)).messages
    ):
        pass
    sock.close()


PATTERNS: list[Callable[[socket.socket], None]] = [
    just_close,
    just_close,
    reset_mid_handshake,
    close_mid_message,
    connect_and_close,
]


def cycle(address: tuple[str, int], index: int) -> None:
    sock = socket.create_connection(address, timeout=TIMEOUT)
    try:
        PATTERNS[index % len(PATTERNS)](sock)
    except OSError:
        sock.close()  # the server may reset first; that is part of the test


def settle(
    rtmp_server: RtmpServer, known_threads: set[threading.Thread], server_actors: set[str]
) -> None:
    """Wait for every connection to end and for the threads they used to finish.

    ``server_actors`` are the URNs of the server's own supervision tree, which keeps running.
    """
    assert rtmp_server.wait_for_connections(0, 60)
    # A connection counts as ended before its actors' threads have quite finished.
    for ref in pykka.ActorRegistry.get_all():
        if ref.actor_urn not in server_actors:
            assert ref.actor_stopped.wait(TIMEOUT), ref
    for thread in threading.enumerate():
        if thread not in known_threads:
            thread.join(TIMEOUT)
    # One pass of the server's I/O loop after the last close, so its sockets are closed too.
    done = threading.Event()
    rtmp_server.loop.call_soon(done.set)
    assert done.wait(TIMEOUT)


def test_connect_disconnect_cycles_leak_nothing() -> None:
    log = EventLog()
    rtmp_server = start_server(log)
    server_actors = {ref.actor_urn for ref in pykka.ActorRegistry.get_all()}
    try:
        address = rtmp_server.address
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: cycle(address, i), range(50)))  # warm up
            known = set(threading.enumerate())
            settle(rtmp_server, known, server_actors)
            baseline = (threading.active_count(), open_fds(), len(pykka.ActorRegistry.get_all()))

            list(pool.map(lambda i: cycle(address, i), range(CYCLES)))
            settle(rtmp_server, known, server_actors)
            after = (threading.active_count(), open_fds(), len(pykka.ActorRegistry.get_all()))
        assert after == baseline, "(threads, file descriptors, actors) before vs after"
        # The server really saw the sessions.
        connects = sum(isinstance(e, server.ConnectionRequested) for e in _drain(log))
        # At least every cycle that waited for the answer to connect (a reset may discard a
        # connect the server had not read yet, so the others need not all count).
        assert connects >= CYCLES // len(PATTERNS)
    finally:
        rtmp_server.stop()


def _drain(log: EventLog) -> list[object]:
    events = []
    while not log.queue.empty():
        events.append(log.queue.get_nowait())
    return events
