"""Our client against our server over loopback, through the actors and real sockets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server_config import ServerSessionConfig
from tests.actors.harness import TIMEOUT, EventLog, connect, start_server


@pytest.fixture
def server_log() -> EventLog:
    return EventLog()


@pytest.fixture
def rtmp_server(server_log: EventLog) -> Iterator[RtmpServer]:
    running = start_server(server_log)
    yield running
    running.stop()


def video(index: int, keyframe: bool = False) -> bytes:
    return bytes([0x17 if keyframe else 0x27, 0x01, 0, 0, 0]) + index.to_bytes(4) * 300


def test_publish_and_play_through_the_server(rtmp_server: RtmpServer, server_log: EventLog) -> None:
    publisher_log, player_log = EventLog(), EventLog()
    publisher = connect(rtmp_server, publisher_log)
    player = connect(rtmp_server, player_log)

    player.session.tell(ClientSessionActor.request_playback, "key")
    assert player_log.wait(client.PlayResponseReceived).was_accepted
    publisher.session.tell(ClientSessionActor.request_publish, "key")
    assert publisher_log.wait(client.PublishResponseReceived).was_accepted
    request = server_log.wait(server.PublishStreamRequested)
    assert (request.app_name, request.stream_key) == ("live", "key")

    publisher.session.tell(
        ClientSessionActor.publish_metadata, "key", {"width": 640, "height": 360}
    )
    sent = []
    for i in range(30):
        payload = video(i, keyframe=i % 10 == 0)
        sent.append((MediaType.VIDEO, i * 40, payload))
        publisher.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, i * 40, payload
        )
        audio = b"\xaf\x01" + bytes([i]) * 50
        sent.append((MediaType.AUDIO, i * 40 + 5, audio))
        publisher.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.AUDIO, i * 40 + 5, audio
        )

    metadata = player_log.wait(client.StreamMetaDataReceived)
    assert (metadata.meta_data.video_width, metadata.meta_data.video_height) == (640, 360)
    received = [
        (event.data_type, event.timestamp, event.data)
        for event in (player_log.wait(client.AudioVideoDataReceived) for _ in sent)
    ]
    assert received == sent

    publisher.session.tell(ClientSessionActor.stop_publish, "key")
    finished = server_log.wait(server.PublishingFinished)
    assert finished.stream_key == "key"
    for rtmp_client in (publisher, player):
        rtmp_client.close("test over")
        assert rtmp_client.wait_closed(TIMEOUT)
    assert rtmp_server.wait_for_connections(0, TIMEOUT)


def test_several_streams_on_one_connection(rtmp_server: RtmpServer, server_log: EventLog) -> None:
    log = EventLog()
    rtmp_client = connect(rtmp_server, log)
    for key in ("one", "two"):
        rtmp_client.session.tell(ClientSessionActor.request_publish, key)
        answer = log.wait(client.PublishResponseReceived)
        assert (answer.stream_key, answer.was_accepted) == (key, True)
    ids = {server_log.wait(server.PublishStreamRequested).stream_id for _ in range(2)}
    assert len(ids) == 2
    rtmp_client.session.tell(
        ClientSessionActor.publish_av_data, "two", MediaType.AUDIO, 7, b"\xaf\x01two"
    )
    data = server_log.wait(server.AudioVideoDataReceived)
    assert (data.stream_key, data.data) == ("two", b"\xaf\x01two")


def refuse(event: Any) -> str | None:
    if isinstance(event, server.PublishStreamRequested) and event.stream_key == "secret":
        return "this key is taken"
    if isinstance(event, server.PlayStreamRequested) and event.stream_key == "missing":
        return "no such stream"
    if isinstance(event, server.ConnectionRequested) and event.app_name == "closed":
        return "application closed"
    return None


def test_rejections_reach_the_client() -> None:
    server_log = EventLog()
    rejecting = start_server(server_log, refuse)
    try:
        log = EventLog()
        rtmp_client = connect(rejecting, log)
        rtmp_client.session.tell(ClientSessionActor.request_publish, "secret")
        answer = log.wait(client.PublishResponseReceived)
        assert not answer.was_accepted
        assert answer.code == NetStreamCode.PUBLISH_BAD_NAME
        assert "this key is taken" in answer.response_text
        rtmp_client.session.tell(ClientSessionActor.request_playback, "missing")
        played = log.wait(client.PlayResponseReceived)
        assert (played.was_accepted, played.code) == (False, NetStreamCode.PLAY_STREAM_NOT_FOUND)

        host, port = rejecting.address
        refused_log = EventLog()
        from rtmp_actors.client import RtmpClient

        RtmpClient.connect(
            f"rtmp://{host}:{port}/closed/x", event_receiver_factory=refused_log.receiver_factory()
        )
        refused = refused_log.wait(client.ConnectionResponseReceived)
        assert not refused.was_accepted
        assert "application closed" in refused.response_text
        refused_log.wait(client.Disconnected)
    finally:
        rejecting.stop()


def test_ping_round_trip(rtmp_server: RtmpServer, server_log: EventLog) -> None:
    connect(rtmp_server, EventLog())
    requested = server_log.wait(server.ConnectionRequested)
    del requested
    # The receiver's ConnectionInfo holds the session proxy; reach it via the server's unit.
    unit = next(iter(rtmp_server._units.values()))
    unit.session_ref.proxy().send_ping_request().get(timeout=TIMEOUT)
    sent = server_log.wait(server.PingRequestSent)
    answered = server_log.wait(server.PingResponseReceived)
    assert answered.timestamp == sent.timestamp
    assert answered.round_trip is not None
    assert 0 <= answered.round_trip < TIMEOUT


def test_acknowledgements_at_the_window() -> None:
    server_log = EventLog()
    small_window = start_server(server_log, config=ServerSessionConfig(window_ack_size=20_000))
    try:
        publisher_log, player_log = EventLog(), EventLog()
        player = connect(small_window, player_log)
        publisher = connect(small_window, publisher_log)
        player.session.tell(ClientSessionActor.request_playback, "key")
        assert player_log.wait(client.PlayResponseReceived).was_accepted
        publisher.session.tell(ClientSessionActor.request_publish, "key")
        assert publisher_log.wait(client.PublishResponseReceived).was_accepted
        # Ten rounds of ~24 KB, each received before the next is sent, so the player's
        # reads cross the 20 KB window again and again.
        for round_ in range(10):
            for i in range(round_ * 20, round_ * 20 + 20):
                publisher.session.tell(
                    ClientSessionActor.publish_av_data,
                    "key",
                    MediaType.VIDEO,
                    i * 40,
                    video(i, i == 0),
                )
            for _ in range(20):
                player_log.wait(client.AudioVideoDataReceived)
        totals = [server_log.wait(server.AcknowledgementReceived).bytes_received for _ in range(4)]
        # Running totals (not deltas), at least a window apart.
        assert all(later - earlier >= 20_000 for earlier, later in itertools.pairwise(totals))
    finally:
        small_window.stop()


def test_byte_totals_are_reported_on_both_sides(
    rtmp_server: RtmpServer, server_log: EventLog
) -> None:
    log = EventLog()
    rtmp_client = connect(rtmp_server, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, "key")
    log.wait(client.PublishResponseReceived)
    rtmp_client.session.tell(
        ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, video(0, True)
    )
    totals = server_log.wait(server.NewByteIOTotals, lambda e: e.bytes_received > 3073 + 1200)
    assert totals.bytes_sent > 3073
    client_totals = log.wait(client.NewByteIOTotals, lambda e: e.bytes_sent > 3073 + 1200)
    assert client_totals.bytes_received > 3073


def test_server_stop_closes_sessions_politely(server_log: EventLog) -> None:
    stopping = start_server(server_log)
    log = EventLog()
    rtmp_client = connect(stopping, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, "key")
    assert log.wait(client.PublishResponseReceived).was_accepted
    stopping.stop()
    server_log.wait(server.PublishingFinished)
    assert server_log.wait(server.Disconnected)
    log.wait(client.Disconnected)
    assert stopping.connection_count == 0


def test_connection_refused_reaches_the_receiver() -> None:
    from rtmp_actors.client import RtmpClient
    from tests.nginx_rtmp import free_port

    log = EventLog()
    RtmpClient.connect(
        f"rtmp://127.0.0.1:{free_port()}/live/x", event_receiver_factory=log.receiver_factory()
    )
    lost = log.wait(client.Disconnected)
    assert lost.reason is not None
    assert "refused" in lost.reason.lower()


def test_handlers_can_only_be_set_once() -> None:
    from rtmp_actors.actors.event_receivers import QueueEventReceiver
    from rtmp_actors.actors.session_actor import HANDLER_ALREADY_SET
    from rtmp_actors.session.client import ClientSession

    log = EventLog()
    session = ClientSessionActor.start(ClientSession()).proxy()
    first, second = QueueEventReceiver.start(log.queue), QueueEventReceiver.start(log.queue)
    assert session.set_event_handler(first).get(timeout=TIMEOUT) == "ok"
    assert session.set_event_handler(second).get(timeout=TIMEOUT) == HANDLER_ALREADY_SET
    assert session.set_protocol_handler(first).get(timeout=TIMEOUT) == "ok"
    assert session.set_protocol_handler(second).get(timeout=TIMEOUT) == HANDLER_ALREADY_SET
    # Calls that are not valid in the current state are ignored, not fatal.
    session.stop_publish("never-published").get(timeout=TIMEOUT)
    session.stop_playback("never-played").get(timeout=TIMEOUT)
    session.publish_av_data("nothing", MediaType.AUDIO, 0, b"\xaf\x01").get(timeout=TIMEOUT)
    assert session.actor_ref.is_alive()


def test_a_silent_player_is_kept_alive_by_pings() -> None:
    """A player sends nothing but ping responses; the defaults' ratio keeps it connected."""
    defaults_ratio = ServerSessionConfig().ping_interval / FlowControl().idle_timeout
    idle_timeout = 0.9
    server_log = EventLog()
    quick = start_server(
        server_log,
        config=ServerSessionConfig(ping_interval=idle_timeout * defaults_ratio),
        flow=FlowControl(idle_timeout=idle_timeout),
    )
    try:
        connect(quick, EventLog())
        # Answers keep coming for three idle timeouts: a dropped player would answer no more.
        for _ in range(round(3 / defaults_ratio)):
            server_log.wait(server.PingResponseReceived)
        assert not [e for e in server_log.seen if isinstance(e, server.Disconnected)]
    finally:
        quick.stop()
