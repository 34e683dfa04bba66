"""Server-generated streams with our own clients: pacing, joining, removal, failures, demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behaviours.stream_source import SourceFrame
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.generated import FrameGate, SourceError
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.stream import StreamPolicy
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import EventLog
from tests.actors.test_congestion import start_raw_player
from tests.relay.generated_sources import AVC_CONFIG, FakeSource
from tests.relay.test_relay import connected, player, publisher


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0)).start()
    yield server
    server.stop()


def videos(log: EventLog, count: int) -> list[client.AudioVideoDataReceived]:
    return [
        log.wait(client.AudioVideoDataReceived, lambda e: e.data_type is MediaType.VIDEO)
        for _ in range(count)
    ]


# --- SourceFrame -----------------------------------------------------------------------------


def test_source_frames_say_what_their_bytes_are() -> None:
    header = SourceFrame.video(0, AVC_CONFIG)
    assert header.is_sequence_header
    assert not header.is_keyframe
    key = SourceFrame.video(40, b"\x17\x01\x00\x00\x00" + bytes(10))
    assert key.is_keyframe
    assert not key.is_sequence_header
    assert not SourceFrame.video(80, b"\x27\x01\x00\x00\x00\x01").is_keyframe
    assert SourceFrame.audio(0, b"\xaf\x00\x12\x10").is_sequence_header
    assert not SourceFrame.audio(0, b"\xaf\x01\x21").is_sequence_header


@pytest.mark.parametrize(
    ("media_type", "timestamp", "data", "error"),
    [
        ("video", 0, b"\x17", TypeError),
        (MediaType.VIDEO, 1.5, b"\x17", TypeError),
        (MediaType.VIDEO, True, b"\x17", TypeError),
        (MediaType.VIDEO, 0, bytearray(b"\x17"), TypeError),
        (MediaType.VIDEO, -1, b"\x17", ValueError),
        (MediaType.VIDEO, 2**32, b"\x17", ValueError),
        (MediaType.AUDIO, 0, b"", ValueError),
        (MediaType.VIDEO, 0, bytes(8 * 1024 * 1024 + 1), ValueError),
    ],
)
def test_bad_source_frames_are_refused(
    media_type: object, timestamp: object, data: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        SourceFrame(media_type, timestamp, data)  # type: ignore[arg-type]


@given(video=st.booleans(), timestamp=st.integers(0, 2**32 - 1), data=st.binary(max_size=64))
def test_any_bytes_make_a_frame_or_a_value_error(video: bool, timestamp: int, data: bytes) -> None:
    media_type = MediaType.VIDEO if video else MediaType.AUDIO
    try:
        frame = SourceFrame(media_type, timestamp, data)
    except ValueError:
        assert not data
        return
    assert isinstance(frame.is_sequence_header, bool)
    assert isinstance(frame.is_keyframe, bool)


# --- FrameGate -------------------------------------------------------------------------------

KEY = SourceFrame.video(0, b"\x17\x01\x00\x00\x00\x01")
INTER = SourceFrame.video(40, b"\x27\x01\x00\x00\x00\x02")
SOUND = SourceFrame.audio(40, b"\xaf\x01\x03")


def test_the_gate_drops_while_behind_and_resumes_at_a_keyframe() -> None:
    gate = FrameGate()
    header = SourceFrame.video(0, AVC_CONFIG)
    assert [gate.keep(f, behind=False) for f in (header, KEY, INTER, SOUND)] == [True] * 4
    assert [gate.keep(f, behind=True) for f in (header, KEY, INTER, SOUND)] == [
        True,  # sequence headers always go
        False,
        False,
        False,
    ]
    # Caught up, but mid-GOP: still dropped until the next keyframe.
    assert [gate.keep(f, behind=False) for f in (INTER, SOUND, KEY, INTER, SOUND)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_an_audio_only_source_resumes_as_soon_as_the_stream_catches_up() -> None:
    gate = FrameGate()
    assert not gate.keep(SOUND, behind=True)
    assert gate.keep(SOUND, behind=False)


# --- Playing a generated stream ----------------------------------------------------------------


def test_a_player_gets_the_sequence_header_then_a_keyframe_at_the_frame_rate(
    relay: RelayServer,
) -> None:
    source = FakeSource(rate=50)
    relay.add_source("live", "gen", source)
    assert source.events.get(timeout=5) == "start"
    log = EventLog()
    player(relay, log, "gen")
    assert log.wait(client.StreamMetaDataReceived).meta_data.video_width == 320
    first, second = videos(log, 2)
    assert first.data == AVC_CONFIG
    assert second.data[0] == 0x17  # a keyframe (the cached GOP's first frame)
    videos(log, 30)  # past any cached GOP: now live
    started = time.monotonic()
    live = videos(log, 40)
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 2.4, f"40 frames at 50 fps took {elapsed:.2f} s"
    stamps = [frame.timestamp for frame in live]
    assert stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] == 39 * 20


def test_an_rtmp_publisher_cannot_take_a_generated_key_even_with_takeover() -> None:
    config = RelayConfig(port=0, stream=replace(StreamPolicy(), takeover=True))
    with RelayServer(config) as relay:
        relay.add_source("live", "gen", FakeSource())
        log = EventLog()
        rtmp_client = connected(relay, log)
        rtmp_client.session.tell(ClientSessionActor.request_publish, "gen")
        answer = log.wait(client.PublishResponseReceived)
        assert not answer.was_accepted
        assert answer.code == NetStreamCode.PUBLISH_BAD_NAME


def test_a_source_cannot_take_a_published_key_or_one_with_a_source(relay: RelayServer) -> None:
    publisher(relay, EventLog(), "taken")
    with pytest.raises(SourceError, match="already being published"):
        relay.add_source("live", "taken", FakeSource())
    relay.add_source("live", "gen", FakeSource())
    with pytest.raises(SourceError, match="already has a source"):
        relay.add_source("live", "gen", FakeSource())


def test_removing_a_source_ends_the_stream_for_its_players(relay: RelayServer) -> None:
    source = FakeSource()
    relay.add_source("live", "gen", source)
    log = EventLog()
    player(relay, log, "gen")
    videos(log, 3)
    assert relay.remove_source("live", "gen")
    ended = log.wait(client.StreamEnded)
    assert ended.stream_key == "gen"
    assert ended.reason in {"eof", "unpublished"}
    assert source.events.get(timeout=5) == "start"
    assert source.events.get(timeout=5) == "stop"
    assert not relay.remove_source("live", "gen")
    # The key is free again, for a publisher or a new source.
    relay.add_source("live", "gen", FakeSource())
    assert videos(log, 1)[0].data == AVC_CONFIG  # the waiting player gets the new one


def test_a_failing_source_ends_its_stream_and_the_server_goes_on(
    relay: RelayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="rtmp_actors.relay.generated")
    relay.add_source("live", "healthy", FakeSource())
    failing = FakeSource(fail_at=10)
    relay.add_source("live", "failing", failing)
    healthy_log, failing_log = EventLog(), EventLog()
    player(relay, healthy_log, "healthy")
    player(relay, failing_log, "failing")
    assert failing_log.wait(client.StreamEnded).stream_key == "failing"
    assert failing.events.get(timeout=5) == "start"
    assert failing.events.get(timeout=5) == "stop"  # stopped even so
    assert any("the renderer crashed" in record.getMessage() for record in caplog.records)
    # The other stream never noticed; the failed key takes a new source.
    videos(healthy_log, 10)
    relay.add_source("live", "failing", FakeSource())
    assert videos(failing_log, 1)[0].data == AVC_CONFIG


def test_an_on_demand_source_runs_only_while_somebody_plays(relay: RelayServer) -> None:
    source = FakeSource()
    relay.add_source("live", "gen", source, on_demand=True)
    stats = relay.source_stats("live", "gen")
    assert stats is not None
    assert (stats.running, stats.ticks) == (False, 0)
    assert source.events.empty()
    log = EventLog()
    watcher = player(relay, log, "gen")
    assert source.events.get(timeout=5) == "start"
    assert videos(log, 2)[0].data == AVC_CONFIG
    watcher.session.tell(ClientSessionActor.stop_playback, "gen")
    assert source.events.get(timeout=5) == "stop"
    # A new player starts it again, and gets its fresh start, not a stale GOP.
    again = EventLog()
    player(relay, again, "gen")
    assert source.events.get(timeout=5) == "start"
    first, second = videos(again, 2)
    assert first.data == AVC_CONFIG
    assert second.timestamp == 0


def test_a_player_that_never_reads_slows_neither_the_source_nor_other_players() -> None:
    flow = FlowControl(high_water=100_000, max_congestion=0.5)
    with RelayServer(RelayConfig(port=0, flow=flow)) as relay:
        source = FakeSource(rate=50, frame_size=80_000)  # 4 MB/s
        relay.add_source("live", "gen", source)
        good = EventLog()
        player(relay, good, "gen")
        slow = start_raw_player(relay.address[1], "gen")
        try:
            videos(good, 10)
            started, ticks_before = time.monotonic(), source.ticks
            dropped = False
            for _ in range(100):
                videos(good, 1)
                if not dropped:
                    stats = relay.stream_stats()
                    dropped = bool(stats) and stats[0].players == 1
            elapsed = time.monotonic() - started
            ticked = source.ticks - ticks_before
        finally:
            slow.close()
        # The good player kept the frame rate, and so did the source.
        assert 1.4 < elapsed < 4.0, f"100 frames at 50 fps took {elapsed:.2f} s"
        assert ticked == pytest.approx(elapsed * 50, rel=0.25)
        # The slow one was dropped (bounded memory: congested past high_water for 0.5 s).
        assert dropped, "the slow player was never dropped"
        stats_after = relay.source_stats("live", "gen")
        assert stats_after is not None
        assert stats_after.frames_dropped == 0  # the stream itself never fell behind


def test_an_on_demand_source_starts_for_a_player_who_was_waiting(relay: RelayServer) -> None:
    log = EventLog()
    player(relay, log, "gen")  # nobody publishes yet: accepted, waiting
    source = FakeSource()
    relay.add_source("live", "gen", source, on_demand=True)
    assert source.events.get(timeout=5) == "start"
    assert videos(log, 1)[0].data == AVC_CONFIG


class _BadSource(FakeSource):
    def next_frames(self, now: float) -> list[object]:  # type: ignore[override]
        return [b"\x17\x01raw bytes, not a SourceFrame"]


def test_a_source_returning_something_else_than_frames_ends_with_a_reason(
    relay: RelayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="rtmp_actors.relay.generated")
    source = _BadSource()
    log = EventLog()
    player(relay, log, "bad")
    relay.add_source("live", "bad", source)
    assert source.events.get(timeout=5) == "start"
    assert source.events.get(timeout=5) == "stop"
    assert log.wait(client.StreamEnded).stream_key == "bad"
    assert any(
        "must return SourceFrame objects, not bytes" in record.getMessage()
        for record in caplog.records
    )


def test_stopping_the_relay_stops_its_sources() -> None:
    source = FakeSource()
    relay = RelayServer(RelayConfig(port=0)).start()
    try:
        relay.add_source("live", "gen", source)
        assert source.events.get(timeout=5) == "start"
    finally:
        relay.stop()
    assert source.events.get(timeout=5) == "stop"
    assert relay.source_stats("live", "gen") is None
