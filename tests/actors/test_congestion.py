"""Slow peers: media is dropped before encoding (never a frame without its keyframe), then the
peer is disconnected after a bounded time; the publisher and other players never notice."""

from __future__ import annotations

import socket
from typing import Any

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl, ProtocolHandlerActor
from rtmp_actors.protocol.commands import CreateStream, Play
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.messages import (
    AudioData,
    CommandMessage,
    DetailedMessage,
    VideoData,
)
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from tests.actors.harness import EventLog, connect, start_server
from tests.actors.test_teardown import raw_handshake
from tests.fakes import Clock, FakeTransport

KEYFRAME = b"\x17\x01\x00\x00\x00key"
INTER = b"\x27\x01\x00\x00\x00inter"
SEQUENCE_HEADER = b"\x17\x00\x00\x00\x00avcC"
AUDIO = b"\xaf\x01aac"


def handler_with(transport: FakeTransport, clock: Clock) -> tuple[ProtocolHandlerActor, Any]:
    """A protocol handler (not started: its methods are called directly) past the handshake."""
    connection = RtmpConnection(ConnectionRole.SERVER)
    peer = RtmpConnection(ConnectionRole.CLIENT)
    to_server = peer.start()
    while not connection.handshake_complete:
        to_client = connection.receive_data(to_server).to_send
        to_server = peer.receive_data(to_client).to_send
    actor = ProtocolHandlerActor(
        connection,
        transport,
        lambda _delay, _callback: None,  # type: ignore[arg-type, return-value]
        flow=FlowControl(high_water=1000, max_congestion=5.0),
        clock=clock,
    )
    return actor, peer


def delivered(peer: RtmpConnection, transport: FakeTransport) -> list[bytes]:
    """The media payloads the peer decodes from what was sent."""
    data = b"".join(transport.sent)
    transport.sent.clear()
    return [
        m.content.data
        for m in peer.receive_data(data).messages
        if isinstance(m.content, VideoData | AudioData)
    ]


def send(actor: ProtocolHandlerActor, payload: bytes, timestamp: int) -> None:
    content = AudioData(payload) if payload is AUDIO else VideoData(payload)
    actor.send_message(DetailedMessage(timestamp, 1, content))


def test_congestion_drops_inter_frames_until_the_next_keyframe() -> None:
    transport, clock = FakeTransport(), Clock()
    actor, peer = handler_with(transport, clock)
    send(actor, SEQUENCE_HEADER, 0)
    send(actor, KEYFRAME, 0)
    send(actor, INTER, 40)
    assert delivered(peer, transport) == [SEQUENCE_HEADER, KEYFRAME, INTER]

    transport.queued_bytes = 5000  # congested
    send(actor, INTER, 80)  # dropped
    send(actor, AUDIO, 81)  # dropped
    send(actor, SEQUENCE_HEADER, 82)  # never dropped
    transport.queued_bytes = 0  # the queue drained...
    send(actor, INTER, 120)  # ...but this frame depends on the dropped one: still dropped
    send(actor, AUDIO, 121)  # audio frames stand alone: sent
    transport.queued_bytes = 5000
    send(actor, KEYFRAME, 160)  # a keyframe goes out even while congested
    transport.queued_bytes = 0
    send(actor, INTER, 200)  # and unblocks what follows
    assert delivered(peer, transport) == [SEQUENCE_HEADER, AUDIO, KEYFRAME, INTER]


def test_congestion_for_too_long_disconnects() -> None:
    transport, clock = FakeTransport(), Clock()
    actor, _ = handler_with(transport, clock)
    transport.queued_bytes = 5000
    send(actor, INTER, 0)
    clock.now = 4.9
    send(actor, INTER, 40)
    assert transport.aborted is None
    clock.now = 5.1
    send(actor, INTER, 80)
    assert transport.aborted is not None
    assert "congested for over 5.0 s" in transport.aborted
    assert "3 media messages dropped" in transport.aborted


def start_raw_player(port: int, key: str) -> socket.socket:
    """A player that plays ``key`` and then never reads again (a tiny receive buffer)."""
    sock, connection = raw_handshake(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        connection.send_message(
            DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": "live"}))
        )
        + connection.send_message(DetailedMessage(0, 0, CreateStream(2).to_message()))
        + connection.send_message(DetailedMessage(0, 1, Play(key).to_message()))
    )
    return sock


def first_disconnection(log: EventLog) -> server.Disconnected | None:
    """The first Disconnected the server raised so far (without waiting)."""
    while not log.queue.empty():
        log.seen.append(log.queue.get_nowait())
    return next((e for e in log.seen if isinstance(e, server.Disconnected)), None)


def test_a_player_that_stops_reading_is_dropped_and_slows_nobody() -> None:
    server_log = EventLog()
    rtmp_server = start_server(server_log, flow=FlowControl(high_water=100_000, max_congestion=0.5))
    try:
        publisher_log, good_log = EventLog(), EventLog()
        publisher = connect(rtmp_server, publisher_log)
        good_player = connect(rtmp_server, good_log)
        good_player.session.tell(ClientSessionActor.request_playback, "key")
        assert good_log.wait(client.PlayResponseReceived).was_accepted
        slow = start_raw_player(rtmp_server.address[1], "key")
        server_log.wait(
            server.PlayStreamRequested, lambda e: e.stream_id == 1 and e.request_id == 2
        )
        publisher.session.tell(ClientSessionActor.request_publish, "key")
        assert publisher_log.wait(client.PublishResponseReceived).was_accepted

        frame = bytes(50_000)
        lost = None
        for i in range(2000):
            payload = (KEYFRAME if i % 50 == 0 else INTER) + frame
            publisher.session.tell(
                ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, i * 40, payload
            )
            # The good player keeps up with every frame, before and after the slow one goes.
            received = good_log.wait(client.AudioVideoDataReceived)
            assert received.timestamp == i * 40
            lost = first_disconnection(server_log)
            if lost is not None and i > 100:
                break
        assert lost is not None, "the slow player was never disconnected"
        assert lost.reason is not None
        assert "congested" in lost.reason
        assert "media messages dropped" in lost.reason
        slow.close()
        # The publisher never noticed.
        assert not any(isinstance(e, client.Disconnected) for e in publisher_log.seen)
        publisher.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 999_999, KEYFRAME
        )
        assert good_log.wait(client.AudioVideoDataReceived).timestamp == 999_999
    finally:
        rtmp_server.stop()
