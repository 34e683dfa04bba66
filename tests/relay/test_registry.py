"""The stream registry, alone: real registry and streams, fake sessions and receivers.

Which stream a request reached is what the stream tells the request's receiver
(``bind_publisher``/``bind_player`` carry the stream's ref). The registry handles its
messages in order, so asking it for its streams after a ``tell`` waits until the told call
has been handled.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import _watch_of
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.registry import StreamRegistry, StreamTable
from rtmp_actors.relay.stream import (
    PATIENT_MESSAGES,
    LiveStream,
    PlayRequest,
    PublishRequest,
    StreamPolicy,
)
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import TimerHandle
from tests.relay.fake_peers import (
    TIMEOUT,
    Calls,
    ExplodingHandle,
    FakeReceiver,
    FakeSession,
    exits_of,
)


def monitor_count(ref: pykka.ActorRef[Any]) -> int:
    """How many monitor callbacks wait for the actor's exit (a white-box check)."""
    return len(_watch_of(ref)._callbacks)


POLICY = StreamPolicy(idle_publisher_timeout=0)  # no timers


def no_timers(delay: float, callback: Any) -> TimerHandle:
    return TimerHandle(delay, 0, callback)


@dataclass
class Peer:
    """One fake connection: its session and its receiver, and the calls they got."""

    connection_id: str
    session: ActorHandle[FakeSession]
    receiver: ActorHandle[FakeReceiver]
    session_calls: Calls
    receiver_calls: Calls

    @classmethod
    def start(cls, connection_id: str) -> Peer:
        session_calls, receiver_calls = Calls(), Calls()
        return cls(
            connection_id,
            ActorHandle(FakeSession.start(session_calls)),
            ActorHandle(FakeReceiver.start(receiver_calls)),
            session_calls,
            receiver_calls,
        )

    def publish(self, key: str, app: str = "live", request_id: int = 1) -> PublishRequest:
        return PublishRequest(
            self.connection_id, self.session, self.receiver, request_id, app, key, 1
        )

    def play(self, key: str, app: str = "live", request_id: int = 1) -> PlayRequest:
        return PlayRequest(self.connection_id, self.session, self.receiver, request_id, app, key, 1)

    def published_to(self) -> pykka.ActorRef[Any]:
        """The stream that accepted this peer's publish."""
        stream: pykka.ActorRef[Any]
        stream, stream_id = self.receiver_calls.wait("bind_publisher")
        assert stream_id == 1
        assert self.session_calls.wait("accept_request") == (1,)
        return stream

    def plays(self) -> pykka.ActorRef[Any]:
        """The stream that accepted this peer's play."""
        stream: pykka.ActorRef[Any]
        stream, stream_id = self.receiver_calls.wait("bind_player")
        assert stream_id == 1
        assert self.session_calls.wait("accept_request") == (1,)
        return stream


class CrashingRegistry(StreamRegistry):
    """A registry that can be made to fail, as a bug in it would."""

    def crash(self) -> None:
        msg = "registry bug"
        raise RuntimeError(msg)


def start_registry(
    table: StreamTable | None = None, kind: type[StreamRegistry] = StreamRegistry
) -> ActorHandle[StreamRegistry]:
    return ActorHandle(kind.start(POLICY, no_timers, table=table))


def streams_of(registry: ActorHandle[StreamRegistry]) -> list[pykka.ActorRef[Any]]:
    return registry.ask(StreamRegistry.streams).get(timeout=TIMEOUT)


def test_a_publisher_and_a_player_of_the_same_key_meet_in_one_stream() -> None:
    registry = start_registry()
    encoder, player = Peer.start("encoder"), Peer.start("player")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    registry.tell(StreamRegistry.play_requested, player.play("key"))
    stream = encoder.published_to()
    assert player.plays() == stream
    assert streams_of(registry) == [stream]


def test_different_keys_and_apps_get_different_streams() -> None:
    registry = start_registry()
    first, second, third = Peer.start("a"), Peer.start("b"), Peer.start("c")
    registry.tell(StreamRegistry.publish_requested, first.publish("one"))
    registry.tell(StreamRegistry.publish_requested, second.publish("two"))
    registry.tell(StreamRegistry.publish_requested, third.publish("one", app="other"))
    streams = {first.published_to(), second.published_to(), third.published_to()}
    assert len(streams) == 3
    assert set(streams_of(registry)) == streams


def test_an_idle_report_with_a_stale_count_does_not_retire_the_stream() -> None:
    registry = start_registry()
    encoder, player = Peer.start("encoder"), Peer.start("player")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    registry.tell(StreamRegistry.play_requested, player.play("key"))
    stream = encoder.published_to()
    assert player.plays() == stream
    # A report of one handled request, when two were routed: the play was on its way.
    registry.tell(StreamRegistry.stream_idle, "live", "key", 1)
    assert streams_of(registry) == [stream]
    assert stream.is_alive()
    # A report that counts every routed request: nothing is on its way, the stream retires.
    registry.tell(StreamRegistry.stream_idle, "live", "key", 2)
    assert streams_of(registry) == []
    assert stream.actor_stopped.wait(TIMEOUT)


def test_an_idle_report_for_an_unknown_stream_is_ignored() -> None:
    registry = start_registry()
    encoder = Peer.start("encoder")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    stream = encoder.published_to()
    registry.tell(StreamRegistry.stream_idle, "live", "other", 0)
    assert streams_of(registry) == [stream]


def test_a_publisher_that_dies_without_unpublishing_frees_the_key_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = start_registry()
    encoder = Peer.start("encoder")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    encoder.published_to()
    # Its session dies and its receiver never says it left (a crashed pull link, say).
    with caplog.at_level(logging.INFO, logger="rtmp_actors.relay.stream"):
        encoder.session.actor_ref.stop(timeout=TIMEOUT)
        again = Peer.start("encoder-again")
        registry.tell(StreamRegistry.publish_requested, again.publish("key"))
        again.published_to()  # accepted (by this stream or, once it retired, a fresh one)
    assert again.session_calls.names().count("reject_request") == 0
    assert "publisher encoder exited without unpublishing" in caplog.text


def test_a_publisher_publishing_again_and_again_leaves_no_monitors_behind() -> None:
    registry = start_registry()
    encoder, player = Peer.start("encoder"), Peer.start("player")
    registry.tell(StreamRegistry.play_requested, player.play("key"))  # keeps the stream alive
    stream = player.plays()
    for _ in range(5):  # as a pull link does on each reconnection
        registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
        assert encoder.published_to() == stream
        ActorHandle[LiveStream](stream).tell(LiveStream.publisher_left, "encoder")
    streams_of(registry)  # the registry, and so the stream, handled everything before
    stream.proxy().stats().get(timeout=TIMEOUT)
    assert monitor_count(encoder.session.actor_ref) == 0


def test_a_publisher_that_is_gone_before_being_accepted_does_not_hold_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = start_registry()
    gone = Peer.start("gone")
    gone.session.actor_ref.stop(timeout=TIMEOUT)
    with caplog.at_level(logging.INFO, logger="rtmp_actors.relay.stream"):
        registry.tell(StreamRegistry.publish_requested, gone.publish("key"))
        encoder = Peer.start("encoder")
        registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
        encoder.published_to()
    assert "publisher gone is gone before being accepted" in caplog.text
    assert encoder.session_calls.names().count("reject_request") == 0


def test_a_failed_stream_is_forgotten_logged_and_replaced_by_a_fresh_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = start_registry()
    encoder, player = Peer.start("encoder"), Peer.start("player")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    failed = encoder.published_to()
    exited = exits_of(failed)
    # A play whose receiver raises when the stream binds it: the stream fails handling it.
    broken = PlayRequest("player", player.session, ExplodingHandle(), 1, "live", "key", 1)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="rtmp_actors.relay.registry"):
        registry.tell(StreamRegistry.play_requested, broken)
        assert exited.get(timeout=TIMEOUT).exception is not None
        assert streams_of(registry) == []  # after its exit notice: forgotten at once
    # The failed stream closed its peers, which may connect again at once.
    (reason,) = encoder.session_calls.wait("close")
    assert reason == "stream live/key failed"
    assert player.session_calls.wait("close") == ("stream live/key failed",)
    [record] = [r for r in caplog.records if r.name == "rtmp_actors.relay.registry"]
    assert record.levelno == logging.ERROR
    assert "live/key failed" in record.getMessage()
    assert "exploding handle" in record.getMessage()

    again = Peer.start("encoder-again")
    registry.tell(StreamRegistry.publish_requested, again.publish("key"))
    fresh = again.published_to()
    assert fresh != failed
    assert fresh.is_alive()
    assert streams_of(registry) == [fresh]


def test_a_restarted_registry_adopts_the_running_streams_and_drops_the_dead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = StreamTable()
    crashing = start_registry(table, CrashingRegistry)
    alive_peer, dying_peer = Peer.start("alive"), Peer.start("dying")
    crashing.tell(StreamRegistry.publish_requested, alive_peer.publish("alive"))
    crashing.tell(StreamRegistry.publish_requested, dying_peer.publish("dying"))
    alive, dying = alive_peer.published_to(), dying_peer.published_to()

    registry_exit = exits_of(crashing.actor_ref)
    ActorHandle[CrashingRegistry](crashing.actor_ref).tell(CrashingRegistry.crash)
    assert registry_exit.get(timeout=TIMEOUT).exception is not None
    assert alive.is_alive()  # a failing registry leaves its streams running
    dying.stop(timeout=TIMEOUT)  # and one of them ends while no registry watches
    assert {ref.actor_urn for ref in table.refs()} == {alive.actor_urn, dying.actor_urn}

    with caplog.at_level(logging.WARNING, logger="rtmp_actors.relay.registry"):
        registry = start_registry(table)
        assert streams_of(registry) == [alive]  # adopted; the dead one dropped
    assert "adopted 1 running streams" in caplog.text

    # Requests for the adopted stream's key reach it; the dead one's key gets a fresh stream.
    player = Peer.start("player")
    registry.tell(StreamRegistry.play_requested, player.play("alive"))
    assert player.plays() == alive
    again = Peer.start("dying-again")
    registry.tell(StreamRegistry.publish_requested, again.publish("dying"))
    fresh = again.published_to()
    assert fresh != dying
    assert set(streams_of(registry)) == {alive, fresh}

    # The adopted stream is watched again: when it ends, the new registry forgets it.
    exited = exits_of(alive)
    alive.stop(timeout=TIMEOUT)
    exited.get(timeout=TIMEOUT)
    assert streams_of(registry) == [fresh]


def test_stopping_the_registry_stops_its_streams() -> None:
    registry = start_registry()
    encoder = Peer.start("encoder")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    stream = encoder.published_to()
    registry.actor_ref.stop(timeout=TIMEOUT)
    assert not stream.is_alive()


class _RecordingObserver(StreamObserver):
    """Puts each call it gets, with the media's timestamps, on a queue."""

    def __init__(self, calls: queue.Queue[tuple[str, Any]]) -> None:
        super().__init__()
        self._calls = calls

    def stream_published(self, app: str, key: str) -> None:
        self._calls.put(("published", key))

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        self._calls.put(("metadata", dict(metadata)))

    def stream_media_batch(
        self, app: str, key: str, media: Sequence[tuple[MediaType, int, bytes]]
    ) -> None:
        self._calls.put(("media", [timestamp for _, timestamp, _ in media]))

    def stream_unpublished(self, app: str, key: str) -> None:
        self._calls.put(("unpublished", key))


def _calls_until_unpublished(calls: queue.Queue[tuple[str, Any]]) -> list[tuple[str, Any]]:
    seen = [calls.get(timeout=TIMEOUT)]
    while seen[-1][0] != "unpublished":
        seen.append(calls.get(timeout=TIMEOUT))
    return seen


def test_a_patient_observer_gets_the_media_in_batches_and_in_order() -> None:
    prompt_calls: queue.Queue[tuple[str, Any]] = queue.Queue()
    patient_calls: queue.Queue[tuple[str, Any]] = queue.Queue()
    prompt = ActorHandle[StreamObserver](_RecordingObserver.start(prompt_calls))
    patient = ActorHandle[StreamObserver](_RecordingObserver.start(patient_calls))
    registry = ActorHandle(
        StreamRegistry.start(POLICY, no_timers, observers=[prompt], patient_observers=[patient])
    )
    encoder = Peer.start("encoder")
    registry.tell(StreamRegistry.publish_requested, encoder.publish("key"))
    stream = ActorHandle[LiveStream](encoder.published_to())
    first = range(0, 100, 10)  # 10 messages over 90 ms: below both limits
    then = range(100, 300, 5)  # 40 messages over 195 ms: 32 reach the count
    for timestamp in first:
        stream.tell(LiveStream.publisher_media, "encoder", MediaType.AUDIO, timestamp, b"\xaf\x01")
    stream.tell(LiveStream.publisher_metadata, "encoder", {"width": 640})
    for timestamp in then:
        stream.tell(LiveStream.publisher_media, "encoder", MediaType.AUDIO, timestamp, b"\xaf\x01")
    stream.tell(LiveStream.publisher_left, "encoder")

    # The others get each message of the publisher's as it comes.
    assert _calls_until_unpublished(prompt_calls) == [
        ("published", "key"),
        *[("media", [t]) for t in first],
        ("metadata", {"width": 640}),
        *[("media", [t]) for t in then],
        ("unpublished", "key"),
    ]
    # The patient one gets them gathered, and never after what followed them.
    assert _calls_until_unpublished(patient_calls) == [
        ("published", "key"),
        ("media", list(first)),
        ("metadata", {"width": 640}),
        ("media", list(then)[:PATIENT_MESSAGES]),
        ("media", list(then)[PATIENT_MESSAGES:]),
        ("unpublished", "key"),
    ]
