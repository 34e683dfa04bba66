"""A live stream's batched fan-out, with fake connections and a hand-driven timer.

The stream actor runs for real; its players' sessions are fakes that record what they are
told, and their media sinks write into fake transports. The batch timer only fires when a
test fires it, so every test decides exactly what one batch holds.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.congestion import CongestionPolicy
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.protocol.messages import (
    AudioData,
    CommandMessage,
    StreamEof,
    VideoData,
    decode_message,
)
from rtmp_actors.relay.stream import LiveStream, PlayRequest, PublishRequest, StreamPolicy
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import TimerHandle
from tests.actors.test_congestion import FakeTransport
from tests.wire import decoder_at

TIMEOUT = 5.0
AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
WINDOW = 0.010


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + bytes([i]) * 64


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([i]) * 32


def audio(i: int) -> bytes:
    return b"\xaf\x01" + bytes([i]) * 8


class _Calls:
    """Stands for an actor proxy: records ``name.defer(*args)`` calls."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()

    def __getattr__(self, name: str) -> Any:
        calls = self.calls

        class _Method:
            @staticmethod
            def defer(*args: Any) -> None:
                calls.put((name, args))

        return _Method()

    def wait_for(self, name: str) -> tuple[Any, ...]:
        while True:
            called, args = self.calls.get(timeout=TIMEOUT)
            if called == name:
                return args


def messages_of(transport: FakeTransport) -> list[Any]:
    """Every message written to ``transport`` so far, decoded."""
    decoder = decoder_at(4096)  # the sink's chunk size
    return [decode_message(raw).content for raw in decoder.receive_data(b"".join(transport.sent))]


class Timers:
    """A scheduler whose timers fire only when the test says so."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[float, Callable[[], None]]] = queue.Queue()

    def __call__(self, delay: float, callback: Callable[[], None]) -> Any:
        self.pending.put((delay, callback))
        return TimerHandle(delay, 0, callback)

    def fire_batch_timer(self) -> float:
        """Fire the batch timer (the only timer: idle publishers are never dropped here)."""
        delay, callback = self.pending.get(timeout=TIMEOUT)
        callback()
        return delay


@dataclass
class Player:
    transport: FakeTransport
    session: _Calls


class Harness:
    def __init__(self, cpu_clock: Callable[[], float] | None = None, **policy: Any) -> None:
        self.timers = Timers()
        stream_policy = replace(
            StreamPolicy(idle_publisher_timeout=0, batch_window=WINDOW), **policy
        )
        self.ref = LiveStream.start(
            "live",
            "key",
            _Calls(),
            stream_policy,
            self.timers,  # type: ignore[arg-type]
            **({"cpu_clock": cpu_clock} if cpu_clock else {}),
        )
        self.stream = self.ref.proxy()
        self.publisher_session = _Calls()
        self._players = 0

    def sync(self) -> None:
        """Wait until the stream handled everything told so far."""
        self.stream.stats().get(timeout=TIMEOUT)

    def publish(self, connection_id: str = "publisher") -> None:
        request = PublishRequest(
            connection_id,
            self.publisher_session,
            _Calls(),
            1,
            "live",
            "key",
            1,  # type: ignore[arg-type]
        )
        self.stream.publish_requested(request).get(timeout=TIMEOUT)
        self.publisher = connection_id

    def media(self, kind: MediaType, timestamp: int, data: bytes) -> None:
        self.stream.publisher_media(self.publisher, kind, timestamp, data).get(timeout=TIMEOUT)

    def play(self, *, open_sink: bool = True) -> Player:
        self._players += 1
        connection_id = f"player{self._players}"
        session = _Calls()
        request = PlayRequest(connection_id, session, _Calls(), 1, "live", "key", 1)  # type: ignore[arg-type]
        self.stream.play_requested(request).get(timeout=TIMEOUT)
        player = Player(FakeTransport(), session)
        if open_sink:
            self.open_sink(connection_id, player)
        return player

    def open_sink(self, connection_id: str, player: Player) -> None:
        stream_id, _reply_to = player.session.wait_for("open_media_sink")
        sink = MediaSink(player.transport, stream_id, 4096, CongestionPolicy(1000, 15.0))
        self.stream.media_sink_opened(connection_id, stream_id, sink).get(timeout=TIMEOUT)


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield Harness()
    pykka.ActorRegistry.stop_all(timeout=10)


def media_of(contents: list[Any]) -> list[tuple[str, bytes]]:
    kinds = {VideoData: "video", AudioData: "audio"}
    return [(kinds[type(c)], c.data) for c in contents if type(c) in kinds]


def test_messages_wait_for_the_window_then_go_in_one_shared_write(harness: Harness) -> None:
    harness.publish()
    first, second = harness.play(), harness.play()
    harness.media(MediaType.VIDEO, 0, AVC_CONFIG)
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.media(MediaType.AUDIO, 10, audio(1))
    harness.sync()
    assert first.transport.sent == second.transport.sent == []  # held for the window

    assert harness.timers.fire_batch_timer() == WINDOW
    harness.sync()
    assert len(first.transport.sent) == len(second.transport.sent) == 1
    assert first.transport.sent[0] is second.transport.sent[0]  # encoded once for both
    assert media_of(messages_of(first.transport)) == [
        ("video", AVC_CONFIG),
        ("video", keyframe(1)),
        ("audio", audio(1)),
    ]


def test_a_zero_window_writes_every_message_at_once() -> None:
    harness = Harness(batch_window=0.0)
    try:
        harness.publish()
        player = harness.play()
        harness.media(MediaType.VIDEO, 0, keyframe(1))
        harness.media(MediaType.AUDIO, 10, audio(1))
        assert media_of(messages_of(player.transport)) == [
            ("video", keyframe(1)),
            ("audio", audio(1)),
        ]
        assert len(player.transport.sent) == 2
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)


def test_a_batch_that_reaches_its_byte_limit_is_written_at_once() -> None:
    harness = Harness(max_batch_bytes=100)
    try:
        harness.publish()
        player = harness.play()
        harness.media(MediaType.AUDIO, 0, audio(1))  # 10 bytes: held
        assert player.transport.sent == []
        harness.media(MediaType.VIDEO, 0, keyframe(2))  # 79 more: still under 100
        assert player.transport.sent == []
        harness.media(MediaType.VIDEO, 40, keyframe(3))  # over: the batch goes
        assert media_of(messages_of(player.transport)) == [
            ("audio", audio(1)),
            ("video", keyframe(2)),
            ("video", keyframe(3)),
        ]
        assert len(player.transport.sent) == 1
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)


def test_a_player_joining_mid_batch_gets_the_cache_then_only_what_follows(
    harness: Harness,
) -> None:
    harness.publish()
    early = harness.play()
    harness.media(MediaType.VIDEO, 0, keyframe(1))  # in the open batch, and in the GOP cache
    late = harness.play()  # joins from the cache: the keyframe, at once
    assert media_of(messages_of(late.transport)) == [("video", keyframe(1))]
    harness.media(MediaType.VIDEO, 40, inter(2))
    harness.timers.fire_batch_timer()
    harness.sync()
    assert media_of(messages_of(early.transport)) == [("video", keyframe(1)), ("video", inter(2))]
    assert media_of(messages_of(late.transport)) == [("video", keyframe(1)), ("video", inter(2))]
    assert len(early.transport.sent) == 1


def test_a_player_waiting_for_a_keyframe_steps_in_at_it() -> None:
    harness = Harness(gop_cache=False)
    try:
        harness.publish()
        harness.media(MediaType.VIDEO, 0, keyframe(1))
        harness.timers.fire_batch_timer()
        player = harness.play()  # no cache: it waits for the next keyframe
        harness.media(MediaType.VIDEO, 40, inter(2))  # skipped: it depends on keyframe 1
        harness.media(MediaType.AUDIO, 41, audio(2))  # audio goes at once
        assert media_of(messages_of(player.transport)) == [("audio", audio(2))]
        harness.media(MediaType.VIDEO, 80, keyframe(3))  # from here on, with the batch
        harness.media(MediaType.VIDEO, 120, inter(4))
        assert len(player.transport.sent) == 1
        harness.timers.fire_batch_timer()
        harness.sync()
        assert media_of(messages_of(player.transport)) == [
            ("audio", audio(2)),
            ("video", keyframe(3)),
            ("video", inter(4)),
        ]
        assert len(player.transport.sent) == 2
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)


def test_a_player_whose_sink_opens_late_gets_everything_in_order(harness: Harness) -> None:
    harness.publish()
    player = harness.play(open_sink=False)
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.media(MediaType.AUDIO, 10, audio(1))
    harness.open_sink("player1", player)  # what waited goes at once
    harness.media(MediaType.VIDEO, 40, inter(2))  # the rest with the batch
    harness.timers.fire_batch_timer()
    harness.sync()
    assert media_of(messages_of(player.transport)) == [
        ("video", keyframe(1)),
        ("audio", audio(1)),
        ("video", inter(2)),
    ]


def test_the_unpublish_notices_follow_the_open_batch(harness: Harness) -> None:
    harness.publish()
    player = harness.play()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.stream.publisher_left("publisher").get(timeout=TIMEOUT)
    contents = messages_of(player.transport)
    assert media_of(contents) == [("video", keyframe(1))]
    assert isinstance(contents[-2], StreamEof)
    assert isinstance(contents[-1], CommandMessage)
    assert contents[-1].arguments[0]["code"] == "NetStream.Play.UnpublishNotify"


def test_a_congested_player_gets_the_batch_message_by_message(harness: Harness) -> None:
    harness.publish()
    slow, fast = harness.play(), harness.play()
    slow.transport.queued_bytes = 10_000  # over its high-water mark of 1000
    harness.media(MediaType.VIDEO, 0, AVC_CONFIG)  # configuration: never dropped
    harness.media(MediaType.AUDIO, 10, audio(1))  # dropped for the slow player
    harness.timers.fire_batch_timer()
    harness.sync()
    assert media_of(messages_of(slow.transport)) == [("video", AVC_CONFIG)]
    assert media_of(messages_of(fast.transport)) == [("video", AVC_CONFIG), ("audio", audio(1))]


def test_a_closed_player_is_forgotten(harness: Harness) -> None:
    harness.publish()
    gone, staying = harness.play(), harness.play()
    gone.transport.is_closing = True
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.timers.fire_batch_timer()
    harness.sync()
    assert harness.stream.stats().get(timeout=TIMEOUT).players == 1
    assert gone.transport.sent == []
    assert media_of(messages_of(staying.transport)) == [("video", keyframe(1))]


def test_the_window_stretches_while_writing_a_batch_costs_much() -> None:
    clock = SteppingClock()
    harness = Harness(cpu_clock=clock, max_batch_window=0.050)
    try:
        harness.publish()
        harness.play()
        clock.step = 0.015  # per reading of the CPU clock: writing a batch costs 15 ms
        harness.media(MediaType.VIDEO, 0, keyframe(1))
        assert harness.timers.fire_batch_timer() == WINDOW  # nothing written yet
        harness.sync()
        harness.media(MediaType.VIDEO, 40, inter(2))
        assert harness.timers.fire_batch_timer() == pytest.approx(0.030)
        harness.sync()
        clock.step = 0.100
        harness.media(MediaType.VIDEO, 80, inter(3))
        assert harness.timers.fire_batch_timer() == pytest.approx(0.030)
        harness.sync()
        harness.media(MediaType.VIDEO, 120, inter(4))
        assert harness.timers.fire_batch_timer() == 0.050  # never beyond the longest window
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)


class SteppingClock:
    """Advances by ``step`` each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now
