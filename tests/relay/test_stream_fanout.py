"""A live stream's fan-out: write-when-ready coalescing, with fake connections.

The stream actor runs for real; its players' sessions are fakes that record what they are
told, and their media sinks write into fake transports. To make the stream busy, a test
parks it on a gate (:meth:`HeldStream.hold`) while it queues more input, then lets it go:
what arrived meanwhile must go out together.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.protocol.messages import AudioData, VideoData, decode_message
from rtmp_actors.relay.stream import LiveStream, PlayRequest, PublishRequest, StreamPolicy
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server import PlayerNotice
from rtmp_actors.session.server_events import AudioVideoDataReceived
from rtmp_actors.transport.io_loop import TimerHandle
from tests.fakes import FakeTransport
from tests.wire import decoder_at

TIMEOUT = 5.0
AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
PUBLISHED, UNPUBLISHED = b"<published notice>", b"<unpublished notice>"
NOTICES = {PlayerNotice.PUBLISHED: PUBLISHED, PlayerNotice.UNPUBLISHED: UNPUBLISHED}


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + bytes([i]) * 64


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + bytes([i]) * 32


def audio(i: int) -> bytes:
    return b"\xaf\x01" + bytes([i]) * 8


class _NotAnActor:
    """What :attr:`_Calls.actor_ref` is: a ref of something that cannot be monitored."""

    actor_class = object


class _Calls:
    """Stands for an :class:`ActorHandle`: records ``tell(Class.method, *args)`` calls."""

    actor_ref = _NotAnActor()  # the stream watches its publisher only if it can be monitored

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()

    def tell(self, method: Callable[..., object], /, *args: Any) -> None:
        self.calls.put((method.__name__, args))

    def wait_for(self, name: str) -> tuple[Any, ...]:
        while True:
            called, args = self.calls.get(timeout=TIMEOUT)
            if called == name:
                return args

    def names(self) -> list[str]:
        """The methods called so far (without waiting)."""
        seen = []
        while not self.calls.empty():
            seen.append(self.calls.get_nowait()[0])
        return seen


class HeldStream(LiveStream):
    """A live stream that can be parked, so that input piles up in its mailbox."""

    def hold(self, gate: threading.Event) -> None:
        assert gate.wait(TIMEOUT)


def no_timers(delay: float, callback: Any) -> TimerHandle:
    return TimerHandle(delay, 0, callback)


def messages_of(transport: FakeTransport) -> list[Any]:
    """Every message written to ``transport`` so far, decoded."""
    decoder = decoder_at(4096)  # the sink's chunk size
    return [decode_message(raw).content for raw in decoder.receive_data(b"".join(transport.sent))]


def media_of(transport: FakeTransport) -> list[tuple[str, bytes]]:
    kinds = {VideoData: "video", AudioData: "audio"}
    return [(kinds[type(c)], c.data) for c in messages_of(transport) if type(c) in kinds]


def media_of_bytes(data: bytes) -> list[tuple[str, bytes]]:
    """The media in one write (decoded on its own: each message starts with a full header)."""
    transport = FakeTransport()
    transport.sent.append(data)
    return media_of(transport)


@dataclass
class Player:
    connection_id: str
    transport: FakeTransport
    session: _Calls


class Harness:
    def __init__(self, **policy: Any) -> None:
        stream_policy = replace(StreamPolicy(idle_publisher_timeout=0), **policy)
        self.ref = HeldStream.start("live", "key", _Calls(), stream_policy, no_timers)
        self.stream = self.ref.proxy()
        self.handle: ActorHandle[HeldStream] = ActorHandle(self.ref)
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

    def media(self, kind: MediaType, timestamp: int, data: bytes, *, wait: bool = True) -> None:
        event = AudioVideoDataReceived("live", "key", 1, kind, data, timestamp, 0.0)
        if wait:
            self.stream.media_received(self.publisher, [event]).get(timeout=TIMEOUT)
        else:
            self.handle.tell(HeldStream.media_received, self.publisher, [event])

    def play(self, *, open_sink: bool = True) -> Player:
        self._players += 1
        player = Player(f"player{self._players}", FakeTransport(), _Calls())
        request = PlayRequest(
            player.connection_id,
            player.session,
            _Calls(),
            1,
            "live",
            "key",
            1,  # type: ignore[arg-type]
        )
        self.stream.play_requested(request).get(timeout=TIMEOUT)
        if open_sink:
            self.open_sink(player)
        return player

    def open_sink(self, player: Player) -> None:
        stream_id, _reply_to = player.session.wait_for("open_media_sink")
        sink = MediaSink(player.transport, stream_id, 4096, 1000, 15.0, NOTICES)
        self.stream.media_sink_opened(player.connection_id, stream_id, sink).get(timeout=TIMEOUT)

    def busy(self) -> threading.Event:
        """Park the stream; input told from now on waits until the returned gate is set."""
        gate = threading.Event()
        self.handle.tell(HeldStream.hold, gate)
        return gate


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_an_idle_stream_writes_each_message_at_once(harness: Harness) -> None:
    harness.publish()
    player = harness.play()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    assert media_of(player.transport) == [("video", keyframe(1))]
    harness.media(MediaType.AUDIO, 10, audio(1))
    assert media_of(player.transport) == [("video", keyframe(1)), ("audio", audio(1))]
    assert len(player.transport.sent) == 2  # no timer held either back


def test_a_busy_stream_coalesces_into_one_shared_write_per_player(harness: Harness) -> None:
    harness.publish()
    first, second = harness.play(), harness.play()
    gate = harness.busy()
    harness.media(MediaType.VIDEO, 0, AVC_CONFIG, wait=False)
    harness.media(MediaType.VIDEO, 0, keyframe(1), wait=False)
    harness.media(MediaType.AUDIO, 10, audio(1), wait=False)
    assert first.transport.sent == second.transport.sent == []
    gate.set()
    harness.sync()
    assert len(first.transport.sent) == len(second.transport.sent) == 1
    assert first.transport.sent[0] is second.transport.sent[0]  # encoded once for both
    assert media_of(first.transport) == [
        ("video", AVC_CONFIG),
        ("video", keyframe(1)),
        ("audio", audio(1)),
    ]


def test_coalesced_bytes_are_the_messages_bytes_in_order(harness: Harness) -> None:
    harness.publish()
    idle, busy = Harness(), harness
    idle.publish()
    idle_player, busy_player = idle.play(), busy.play()
    sent = [(MediaType.VIDEO, 0, keyframe(1))] + [
        (MediaType.AUDIO if i % 2 else MediaType.VIDEO, 40 * i, audio(i) if i % 2 else inter(i))
        for i in range(1, 12)
    ]
    gate = busy.busy()
    for kind, timestamp, data in sent:
        idle.media(kind, timestamp, data)
        busy.media(kind, timestamp, data, wait=False)
    gate.set()
    busy.sync()
    assert len(idle_player.transport.sent) == len(sent)
    assert len(busy_player.transport.sent) == 1
    assert b"".join(idle_player.transport.sent) == busy_player.transport.sent[0]


def test_a_request_in_between_flushes_what_came_before_it(harness: Harness) -> None:
    harness.publish()
    early = harness.play()
    gate = harness.busy()
    harness.media(MediaType.VIDEO, 0, keyframe(1), wait=False)
    late_session = _Calls()
    request = PlayRequest("late", late_session, _Calls(), 1, "live", "key", 1)  # type: ignore[arg-type]
    harness.handle.tell(HeldStream.play_requested, request)
    harness.media(MediaType.VIDEO, 40, inter(2), wait=False)
    gate.set()
    harness.sync()
    late = Player("late", FakeTransport(), late_session)
    harness.open_sink(late)
    # The late player got the keyframe once, from the cache, then the live frame.
    assert media_of(late.transport) == [("video", keyframe(1)), ("video", inter(2))]
    assert media_of(early.transport) == [("video", keyframe(1)), ("video", inter(2))]
    assert len(early.transport.sent) == 2  # the play request split the two


def test_players_take_turns_at_being_written_first(harness: Harness) -> None:
    harness.publish()
    players = [harness.play() for _ in range(3)]
    order: list[str] = []
    for player in players:
        original = player.transport.send_data

        def record(data: bytes, _packet: Any = None, name: str = player.connection_id,
                   send: Any = original) -> None:  # fmt: skip
            order.append(name)
            send(data)

        player.transport.send_data = record  # type: ignore[method-assign]
    for i in range(3):
        harness.media(MediaType.AUDIO, i, audio(i))
    firsts = [order[i * 3] for i in range(3)]
    assert sorted(firsts) == ["player1", "player2", "player3"]


def test_a_player_without_a_keyframe_starts_at_the_next_one() -> None:
    harness = Harness(gop_cache=False)
    harness.publish()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    player = harness.play()  # no cache: it waits for the next keyframe
    harness.media(MediaType.VIDEO, 40, inter(2))  # skipped: it depends on keyframe 1
    harness.media(MediaType.AUDIO, 41, audio(2))  # audio goes at once
    harness.media(MediaType.VIDEO, 80, keyframe(3))
    harness.media(MediaType.VIDEO, 120, inter(4))
    assert media_of(player.transport) == [
        ("audio", audio(2)),
        ("video", keyframe(3)),
        ("video", inter(4)),
    ]


def test_a_player_whose_sink_opens_late_gets_everything_in_order(harness: Harness) -> None:
    harness.publish()
    player = harness.play(open_sink=False)
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.media(MediaType.AUDIO, 10, audio(1))
    assert player.transport.sent == []
    harness.open_sink(player)  # what waited goes at once, in one write
    assert len(player.transport.sent) == 1
    harness.media(MediaType.VIDEO, 40, inter(2))
    assert media_of(player.transport) == [
        ("video", keyframe(1)),
        ("audio", audio(1)),
        ("video", inter(2)),
    ]


def test_the_sessions_notices_are_written_in_order_with_the_media(harness: Harness) -> None:
    player = harness.play()  # waits for a publisher
    harness.publish()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.stream.publisher_left("publisher").get(timeout=TIMEOUT)
    published, media, unpublished = player.transport.sent
    assert (published, unpublished) == (PUBLISHED, UNPUBLISHED)
    assert media_of_bytes(media) == [("video", keyframe(1))]


def test_a_notice_waits_with_the_media_for_a_sink_to_open(harness: Harness) -> None:
    player = harness.play(open_sink=False)
    harness.publish()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    assert player.transport.sent == []
    harness.open_sink(player)
    published, media = player.transport.sent
    assert published == PUBLISHED
    assert media_of_bytes(media) == [("video", keyframe(1))]


def test_a_new_publisher_starts_its_players_at_a_keyframe() -> None:
    harness = Harness(takeover=True)
    harness.publish("first")
    player = harness.play()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.publish("second")
    harness.media(MediaType.VIDEO, 40, inter(2))  # the new publisher's: no keyframe yet
    harness.media(MediaType.VIDEO, 80, keyframe(3))
    sent = player.transport.sent
    assert sent[1] == PUBLISHED  # takeover: no unpublish notice
    assert [media_of_bytes(data) for data in (sent[0], *sent[2:])] == [
        [("video", keyframe(1))],
        [("video", keyframe(3))],
    ]


def test_the_players_choices_apply_to_what_follows(harness: Harness) -> None:
    harness.publish()
    player = harness.play()
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    off = PlaybackChoice(1, video=False)
    harness.stream.playback_changed(player.connection_id, 1, off).get(timeout=TIMEOUT)
    harness.media(MediaType.VIDEO, 40, inter(2))  # off
    harness.media(MediaType.AUDIO, 41, audio(2))
    on = PlaybackChoice(1)
    harness.stream.playback_changed(player.connection_id, 1, on).get(timeout=TIMEOUT)
    harness.media(MediaType.VIDEO, 80, inter(3))  # depends on frame 2: skipped
    harness.media(MediaType.VIDEO, 120, keyframe(4))
    assert media_of(player.transport) == [
        ("video", keyframe(1)),
        ("audio", audio(2)),
        ("video", keyframe(4)),
    ]


def test_a_choice_made_before_the_sink_opens_holds(harness: Harness) -> None:
    harness.publish()
    player = harness.play(open_sink=False)
    paused = PlaybackChoice(1, paused=True)
    harness.stream.playback_changed(player.connection_id, 1, paused).get(timeout=TIMEOUT)
    harness.media(MediaType.VIDEO, 0, AVC_CONFIG)
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    harness.open_sink(player)
    assert media_of(player.transport) == [("video", AVC_CONFIG)]  # configuration only


def test_a_congested_player_gets_the_batch_message_by_message(harness: Harness) -> None:
    harness.publish()
    slow, fast = harness.play(), harness.play()
    slow.transport.queued_bytes = 10_000  # over its high-water mark of 1000
    gate = harness.busy()
    harness.media(MediaType.VIDEO, 0, AVC_CONFIG, wait=False)  # configuration: never dropped
    harness.media(MediaType.AUDIO, 10, audio(1), wait=False)  # dropped for the slow player
    gate.set()
    harness.sync()
    assert media_of(slow.transport) == [("video", AVC_CONFIG)]
    assert media_of(fast.transport) == [("video", AVC_CONFIG), ("audio", audio(1))]
    assert len(slow.transport.sent) == len(fast.transport.sent) == 1


def test_a_closed_player_is_forgotten(harness: Harness) -> None:
    harness.publish()
    gone, staying = harness.play(), harness.play()
    gone.transport.is_closing = True
    harness.media(MediaType.VIDEO, 0, keyframe(1))
    assert harness.stream.stats().get(timeout=TIMEOUT).players == 1
    assert gone.transport.sent == []
    assert media_of(staying.transport) == [("video", keyframe(1))]
