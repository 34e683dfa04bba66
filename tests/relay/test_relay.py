"""The relay server with our own clients: fan-out, late joiners, waiting, publisher policies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.stream import StreamPolicy
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT, EventLog

AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
AAC_CONFIG = b"\xaf\x00\x12\x10"


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + i.to_bytes(4) * 100


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + i.to_bytes(4) * 50


def audio(i: int) -> bytes:
    return b"\xaf\x01" + i.to_bytes(2) * 20


def start_relay(**stream: object) -> RelayServer:
    policy = replace(StreamPolicy(), **stream)  # type: ignore[arg-type]
    return RelayServer(RelayConfig(port=0, stream=policy)).start()


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = start_relay()
    yield server
    server.stop()


def connected(relay: RelayServer, log: EventLog) -> RtmpClient:
    host, port = relay.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/live/key", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publisher(relay: RelayServer, log: EventLog, key: str = "key") -> RtmpClient:
    rtmp_client = connected(relay, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    answer = log.wait(client.PublishResponseReceived)
    assert answer.was_accepted, answer
    return rtmp_client


def player(relay: RelayServer, log: EventLog, key: str = "key") -> RtmpClient:
    rtmp_client = connected(relay, log)
    rtmp_client.session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return rtmp_client


def media(log: EventLog, count: int) -> list[tuple[MediaType, int, bytes]]:
    return [
        (e.data_type, e.timestamp, e.data)
        for e in (log.wait(client.AudioVideoDataReceived) for _ in range(count))
    ]


def test_every_player_gets_every_message_in_order(relay: RelayServer) -> None:
    publisher_log, first_log, second_log = EventLog(), EventLog(), EventLog()
    first, second = player(relay, first_log), player(relay, second_log)
    source = publisher(relay, publisher_log)
    source.session.tell(ClientSessionActor.publish_metadata, "key", {"width": 1280, "height": 720})
    sent = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
    for i in range(60):
        sent.append((MediaType.VIDEO, i * 40, keyframe(i) if i % 20 == 0 else inter(i)))
        sent.append((MediaType.AUDIO, i * 40 + 1, audio(i)))
    for kind, timestamp, data in sent:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    for log in (first_log, second_log):
        assert log.wait(client.StreamMetaDataReceived).meta_data.video_width == 1280
        assert media(log, len(sent)) == sent
    del first, second


def test_publisher_and_player_meet_whatever_their_query_strings(relay: RelayServer) -> None:
    """``key?token=a`` and ``key?token=b`` are one stream: the query carries per-client data."""
    publisher_log, player_log = EventLog(), EventLog()
    player(relay, player_log, "key?token=b")
    source = publisher(relay, publisher_log, "key?token=a")
    sent = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.VIDEO, 0, keyframe(0))]
    for kind, timestamp, data in sent:
        source.session.tell(
            ClientSessionActor.publish_av_data, "key?token=a", kind, timestamp, data
        )
    assert media(player_log, len(sent)) == sent
    assert [stats.key for stats in relay.stream_stats()] == ["key"]


def test_a_late_joiner_starts_at_the_last_keyframe(relay: RelayServer) -> None:
    publisher_log, early_log = EventLog(), EventLog()
    player(relay, early_log)  # to know when everything went through
    source = publisher(relay, publisher_log)
    source.session.tell(ClientSessionActor.publish_metadata, "key", {"width": 640})
    stream = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
    for i in range(50):
        stream.append((MediaType.VIDEO, i * 40, keyframe(i) if i % 20 == 0 else inter(i)))
        stream.append((MediaType.AUDIO, i * 40 + 1, audio(i)))
    for kind, timestamp, data in stream:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    media(early_log, len(stream))

    late_log = EventLog()
    player(relay, late_log)
    assert late_log.wait(client.StreamMetaDataReceived).meta_data.video_width == 640
    last_keyframe = stream.index((MediaType.VIDEO, 40 * 40, keyframe(40)))
    expected = stream[:2] + stream[last_keyframe:]
    assert media(late_log, len(expected)) == expected
    # Then live.
    source.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 5000, inter(99))
    assert media(late_log, 1) == [(MediaType.VIDEO, 5000, inter(99))]


def test_players_wait_for_a_publisher_and_survive_its_leaving(relay: RelayServer) -> None:
    watcher_log = EventLog()
    player(relay, watcher_log)  # no publisher yet: accepted, waiting
    first_log = EventLog()
    first = publisher(relay, first_log)
    first.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, keyframe(1))
    assert media(watcher_log, 1) == [(MediaType.VIDEO, 0, keyframe(1))]
    first.session.tell(ClientSessionActor.stop_publish, "key")
    ended = watcher_log.wait(client.StreamEnded)
    assert ended.stream_key == "key"
    # A new publisher: the waiting player gets its stream, starting at a keyframe.
    second = publisher(relay, EventLog())
    second.session.tell(
        ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 100, inter(2)
    )  # skipped: no keyframe
    second.session.tell(
        ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 140, keyframe(3)
    )
    assert media(watcher_log, 1) == [(MediaType.VIDEO, 140, keyframe(3))]


def test_a_paused_player_gets_nothing_then_resumes_at_a_keyframe(relay: RelayServer) -> None:
    pausing_log, steady_log = EventLog(), EventLog()
    pausing, _steady = player(relay, pausing_log), player(relay, steady_log)
    source = publisher(relay, EventLog())
    source.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, keyframe(1))
    for log in (pausing_log, steady_log):
        assert media(log, 1) == [(MediaType.VIDEO, 0, keyframe(1))]

    pausing.session.tell(ClientSessionActor.pause_playback, "key", True)
    assert pausing_log.wait(client.PauseStatusReceived).paused
    while_paused = [(MediaType.VIDEO, 40, inter(2)), (MediaType.AUDIO, 41, audio(2))]
    for kind, timestamp, data in while_paused:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    assert media(steady_log, 2) == while_paused  # so those went out to everybody

    pausing.session.tell(ClientSessionActor.pause_playback, "key", False)
    assert not pausing_log.wait(client.PauseStatusReceived).paused
    after = [
        (MediaType.VIDEO, 80, inter(3)),  # not for the resumed player: its keyframe is gone
        (MediaType.AUDIO, 81, audio(3)),
        (MediaType.VIDEO, 120, keyframe(4)),
        (MediaType.VIDEO, 160, inter(5)),
    ]
    for kind, timestamp, data in after:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    assert media(pausing_log, 3) == after[1:]
    assert media(steady_log, 4) == after


def test_a_player_can_turn_video_off_and_on(relay: RelayServer) -> None:
    listener_log = EventLog()
    listener = player(relay, listener_log)
    source = publisher(relay, EventLog())
    source.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, keyframe(1))
    assert media(listener_log, 1) == [(MediaType.VIDEO, 0, keyframe(1))]

    def receive_video(enabled: bool) -> None:
        listener.session.tell(ClientSessionActor.receive_media, "key", video=enabled)
        # receiveVideo has no answer; an unpause (a no-op here) after it does.
        listener.session.tell(ClientSessionActor.pause_playback, "key", False)
        assert not listener_log.wait(client.PauseStatusReceived).paused

    receive_video(False)
    video_off = [
        (MediaType.VIDEO, 40, inter(2)),
        (MediaType.VIDEO, 41, AVC_CONFIG),  # configuration still comes
        (MediaType.AUDIO, 42, audio(2)),
    ]
    for kind, timestamp, data in video_off:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    assert media(listener_log, 2) == video_off[1:]

    receive_video(True)
    video_on = [
        (MediaType.VIDEO, 80, inter(3)),  # its keyframe was not sent: skipped
        (MediaType.AUDIO, 81, audio(3)),
        (MediaType.VIDEO, 120, keyframe(4)),
    ]
    for kind, timestamp, data in video_on:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    assert media(listener_log, 2) == video_on[1:]


def test_a_second_publisher_is_refused(relay: RelayServer) -> None:
    publisher(relay, EventLog())
    log = EventLog()
    intruder = connected(relay, log)
    intruder.session.tell(ClientSessionActor.request_publish, "key")
    answer = log.wait(client.PublishResponseReceived)
    assert not answer.was_accepted
    assert answer.code == NetStreamCode.PUBLISH_BAD_NAME
    # Other keys are free.
    intruder.session.tell(ClientSessionActor.request_publish, "other")
    assert log.wait(client.PublishResponseReceived).was_accepted


def test_takeover_replaces_the_publisher() -> None:
    relay = start_relay(takeover=True)
    try:
        watcher_log, old_log = EventLog(), EventLog()
        player(relay, watcher_log)
        publisher(relay, old_log)
        new = publisher(relay, EventLog())
        old_log.wait(client.Disconnected)  # the old publisher is closed
        new.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, keyframe(7))
        assert media(watcher_log, 1) == [(MediaType.VIDEO, 0, keyframe(7))]
    finally:
        relay.stop()


def test_an_idle_publisher_is_dropped() -> None:
    relay = start_relay(idle_publisher_timeout=0.3)
    try:
        stale_log = EventLog()
        publisher(relay, stale_log)  # then silence, like an encoder after a network cut
        lost = stale_log.wait(client.Disconnected)
        assert lost is not None
        publisher(relay, EventLog())  # the reconnecting encoder is let in
    finally:
        relay.stop()


def test_idle_streams_are_retired(relay: RelayServer) -> None:
    log = EventLog()
    source = publisher(relay, log)
    source.session.tell(ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 0, keyframe(1))
    stats = relay.stream_stats()
    assert [(s.app, s.key, s.publisher is not None) for s in stats] == [("live", "key", True)]
    [stream] = relay.stream_refs()
    source.close()
    assert source.wait_closed(TIMEOUT)
    assert relay.rtmp_server.wait_for_connections(0, TIMEOUT)
    # The stream retires itself once nobody uses it: the registry stops it and forgets it.
    assert stream.actor_stopped.wait(TIMEOUT)
    assert relay.stream_stats() == []
