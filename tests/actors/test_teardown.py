"""A connection is supervised as a unit: failures tear it down cleanly and say why."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.protocol_handler import FlowControl, ProtocolHandlerActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.logs import LogThrottle
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.messages import CommandMessage, DetailedMessage
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server import ServerSession
from tests.actors.harness import TIMEOUT, EventLog, ServerProbe, connect, start_server


def server_side_actors() -> list[Any]:
    kinds = (ProtocolHandlerActor, ServerSessionActor, ServerProbe)
    return [ref for kind in kinds for ref in pykka.ActorRegistry.get_by_class(kind)]


def assert_nothing_outlives_the_connection() -> None:
    """The server side's actors, receiver included, stop (it is told to once the rest is gone)."""
    for ref in server_side_actors():
        assert ref.actor_stopped.wait(TIMEOUT), f"{ref} outlived its connection"


def publish(rtmp_server: RtmpServer, log: EventLog) -> Any:
    rtmp_client = connect(rtmp_server, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, "key")
    assert log.wait(client.PublishResponseReceived).was_accepted
    return rtmp_client


def test_failing_session_tears_the_connection_down(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ServerSession.handle_message

    def explode_on_boom(self: ServerSession, message: DetailedMessage, now: float) -> None:
        if "boom" in repr(message.content):
            msg = "boom"
            raise RuntimeError(msg)
        original(self, message, now)

    monkeypatch.setattr(ServerSession, "handle_message", explode_on_boom)
    server_log = EventLog()
    rtmp_server = start_server(server_log)
    try:
        log = EventLog()
        rtmp_client = publish(rtmp_server, log)
        rtmp_client.session.tell(ClientSessionActor.publish_metadata, "key", {"boom": 1})
        lost = server_log.wait(server.Disconnected)
        assert lost.reason is not None
        assert "session failed" in lost.reason
        assert "boom" in lost.reason
        log.wait(client.Disconnected)  # the socket was dropped
        assert rtmp_server.wait_for_connections(0, TIMEOUT)
        assert_nothing_outlives_the_connection()
    finally:
        rtmp_server.stop()


def test_failing_protocol_handler_tears_the_connection_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = ProtocolHandlerActor.notify_input

    def explode_on_kaboom(self: ProtocolHandlerActor, data: bytes) -> None:
        if b"kaboom" in data:
            msg = "kaboom"
            raise RuntimeError(msg)
        original(self, data)

    monkeypatch.setattr(ProtocolHandlerActor, "notify_input", explode_on_kaboom)
    server_log = EventLog()
    rtmp_server = start_server(server_log)
    try:
        log = EventLog()
        rtmp_client = publish(rtmp_server, log)
        rtmp_client.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, b"\x17\x01kaboom"
        )
        # The session is told why, ends its streams, and reports the reason.
        finished = server_log.wait(server.PublishingFinished)
        assert finished.stream_key == "key"
        lost = server_log.wait(server.Disconnected)
        assert lost.reason is not None
        assert "protocol handler failed" in lost.reason
        assert "kaboom" in lost.reason
        log.wait(client.Disconnected)
        assert rtmp_server.wait_for_connections(0, TIMEOUT)
        assert_nothing_outlives_the_connection()
    finally:
        rtmp_server.stop()


@pytest.mark.parametrize("stopped", ["protocol handler", "session"])
def test_an_actor_stopped_from_outside_takes_its_connection_with_it(stopped: str) -> None:
    # A shutdown may stop one actor of a connection that started after it began: the rest
    # must not be left running (nor the socket open).
    server_log = EventLog()
    rtmp_server = start_server(server_log)
    try:
        log = EventLog()
        rtmp_client = publish(rtmp_server, log)
        [protocol] = [
            ref
            for ref in pykka.ActorRegistry.get_by_class(ProtocolHandlerActor)
            if ref.actor_urn == rtmp_client._unit.protocol_ref.actor_urn
        ]
        target = protocol if stopped == "protocol handler" else rtmp_client._unit.session_ref
        target.stop(timeout=TIMEOUT)
        assert rtmp_client.wait_closed(TIMEOUT), "the connection's other actors stopped"
        receiver = rtmp_client._unit.receiver_ref
        assert receiver is not None
        assert receiver.actor_stopped.wait(TIMEOUT), "the receiver stopped with them"
        assert server_log.wait(server.Disconnected) is not None  # the socket was closed
        assert rtmp_server.wait_for_connections(0, TIMEOUT)
    finally:
        rtmp_server.stop()


def test_a_connection_whose_actor_stops_as_it_starts_leaves_nothing_behind() -> None:
    # A shutdown stopping every actor it sees may stop some of a connection being built.
    rtmp_server = start_server(EventLog())
    before = {ref.actor_urn for ref in pykka.ActorRegistry.get_all()}
    log = EventLog()

    def stopping_factory(info: ConnectionInfo) -> Any:
        info.session_ref.stop()
        return log.receiver_factory()(info)

    try:
        host, port = rtmp_server.address
        with pytest.raises(ConnectionAbortedError, match="stopped while it started"):
            RtmpClient.connect(
                f"rtmp://{host}:{port}/live", event_receiver_factory=stopping_factory
            )
        left = [r for r in pykka.ActorRegistry.get_all() if r.actor_urn not in before]
        for ref in left:  # told to stop: gone at once
            assert ref.actor_stopped.wait(TIMEOUT), f"{ref} stayed"
    finally:
        rtmp_server.stop()


def raw_handshake(port: int) -> tuple[socket.socket, RtmpConnection]:
    """A raw socket that has completed the handshake with the server."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    connection = RtmpConnection(ConnectionRole.CLIENT)
    sock.sendall(connection.start())
    while not connection.handshake_complete:
        data = sock.recv(65536)
        assert data, "server closed during the handshake"
        reply = connection.receive_data(data).to_send
        if reply:
            sock.sendall(reply)
    return sock, connection


def peer_closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (orderly, or by reset after an abort)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_garbage_from_one_peer_ends_only_that_connection() -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log)
    try:
        good_log = EventLog()
        good = publish(rtmp_server, good_log)
        sock, connection = raw_handshake(rtmp_server.address[1])
        with sock:
            connect_command = DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": "live"}))
            sock.sendall(connection.send_message(connect_command))
            server_log.wait(server.ConnectionRequested, lambda e: e.request_id == 1)
            # A format 1 chunk on a chunk stream never opened: undecodable.
            sock.sendall(bytes.fromhex("4a000014000002080000aabb"))
            lost = server_log.wait(server.Disconnected)
            assert lost.reason is not None
            assert "protocol error" in lost.reason
            assert "chunk stream 10" in lost.reason
            assert peer_closed(sock)
        # The other connection is untouched.
        good.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.AUDIO, 1, b"\xaf\x01still here"
        )
        data = server_log.wait(server.AudioVideoDataReceived)
        assert data.data == b"\xaf\x01still here"
        assert rtmp_server.wait_for_connections(1, TIMEOUT)
    finally:
        rtmp_server.stop()


def test_handshake_timeout() -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log, flow=FlowControl(handshake_timeout=0.2))
    try:
        with socket.create_connection(rtmp_server.address, timeout=TIMEOUT) as sock:
            sock.sendall(b"\x03")  # C0, then silence
            lost = server_log.wait(server.Disconnected)
            assert lost.reason is not None
            assert "handshake not completed within 0.2 s" in lost.reason
            assert peer_closed(sock)
        assert not any(isinstance(e, server.ConnectionRequested) for e in server_log.seen)
    finally:
        rtmp_server.stop()


def test_idle_timeout() -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log, flow=FlowControl(idle_timeout=0.3))
    try:
        sock, _ = raw_handshake(rtmp_server.address[1])
        with sock:
            lost = server_log.wait(server.Disconnected)
            assert lost.reason is not None
            assert "no data from the peer" in lost.reason
    finally:
        rtmp_server.stop()


class ClumsyReceiver(EventReceiverActor):
    """Accepts requests, but its connect handler raises after accepting."""

    def __init__(self, info: ConnectionInfo, log: EventLog) -> None:
        super().__init__()
        self.session = info.session
        self.log = log

    def on_connection_requested(self, event: server.ConnectionRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)
        msg = "handler bug"
        raise ValueError(msg)

    def on_publish_stream_requested(self, event: server.PublishStreamRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)
        self.log.queue.put(event)


def test_an_exception_in_an_event_handler_closes_only_that_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_log = EventLog()
    rtmp_server = RtmpServer(
        "127.0.0.1", 0, event_receiver_factory=lambda info: ClumsyReceiver.start(info, server_log)
    ).start()
    try:
        with caplog.at_level(logging.ERROR):
            log = EventLog()
            host, port = rtmp_server.address
            RtmpClient.connect(
                f"rtmp://{host}:{port}/live/key", event_receiver_factory=log.receiver_factory()
            )
            assert log.wait(client.Disconnected) is not None
            assert rtmp_server.wait_for_connections(0, TIMEOUT)
        assert "ClumsyReceiver failed handling ConnectionRequested" in caplog.text
        assert "event receiver failed: ValueError('handler bug')" in caplog.text
        assert rtmp_server.connections_accepted == 1
    finally:
        rtmp_server.stop()


def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log, max_connections=1)
    try:
        first = publish(rtmp_server, EventLog())
        with socket.create_connection(rtmp_server.address, timeout=TIMEOUT) as second:
            assert peer_closed(second)  # closed without a handshake
        assert rtmp_server.connection_count == 1
        first.close()
        assert rtmp_server.wait_for_connections(0, TIMEOUT)
    finally:
        rtmp_server.stop()


def test_a_flood_beyond_the_limit_logs_a_line_not_one_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log, max_connections=1)
    try:
        caplog.set_level(logging.WARNING, logger="rtmp_actors.server")
        first = publish(rtmp_server, EventLog())
        for _ in range(20):
            with socket.create_connection(rtmp_server.address, timeout=TIMEOUT) as refused:
                assert peer_closed(refused)
        lines = [r for r in caplog.records if "refusing connection" in r.getMessage()]
        assert len(lines) == 1  # the next comes after REFUSAL_LOG_INTERVAL, with a count
        first.close()
    finally:
        rtmp_server.stop()


def test_a_throttled_line_says_how_many_were_left_out() -> None:
    throttle = LogThrottle(10.0)
    assert throttle.due(0.0) == 0
    assert [throttle.due(t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert throttle.due(10.0) == 3
    assert throttle.due(15.0) is None
