"""The relay's event receiver, alone: a real RelayReceiver between fake actors.

Its session, the registry, the access controller and the streams are fakes that record what
they are told; the test hands the receiver its session's events (``send_event``) as the
session would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.protocol.commands import Connect, NetStreamCode, PlayMode
from rtmp_actors.relay.access import AccessKind, AccessRequest
from rtmp_actors.relay.app_hooks import HookSet, RelayHooks
from rtmp_actors.relay.receiver import RelayReceiver
from rtmp_actors.relay.stream import PlayRequest, PublishRequest
from rtmp_actors.session import server_events as events
from tests.relay.fake_peers import (
    TIMEOUT,
    Calls,
    Decide,
    FakeAccess,
    FakeRegistry,
    FakeSession,
    FakeStream,
    exits_of,
)

CONNECTION_ID = "conn-7"
PEER = ("192.0.2.7", 50123)
TC_URL = "rtmp://relay.example/live"
FLASH_VER = "FMLE/3.0 (compatible; FMSc/1.0)"


def connect_event() -> events.ConnectionRequested:
    return events.ConnectionRequested(
        request_id=1,
        app_name="live",
        connect=Connect(app="live", tc_url=TC_URL, flash_ver=FLASH_VER),
    )


def publish_event(key: str = "key", request_id: int = 2, stream_id: int = 1) -> Any:
    return events.PublishStreamRequested(
        request_id=request_id,
        app_name="live",
        stream_key=key,
        stream_id=stream_id,
        publish_type="live",
    )


def play_event(key: str = "key", request_id: int = 3, stream_id: int = 1) -> Any:
    return events.PlayStreamRequested(
        request_id=request_id,
        app_name="live",
        stream_key=key,
        stream_id=stream_id,
        video_type=PlayMode.LIVE,
        start_at=-1000,
        duration=-1,
        reset=True,
    )


@dataclass
class Harness:
    """A started receiver and the fakes around it."""

    receiver: ActorHandle[RelayReceiver]
    session: ActorHandle[FakeSession]
    session_calls: Calls
    registry: ActorHandle[FakeRegistry]
    registry_calls: Calls
    access_calls: Calls

    def send(self, event: object) -> None:
        self.receiver.tell(RelayReceiver.send_event, event)

    def connected(self) -> None:
        self.send(connect_event())
        assert self.session_calls.wait("accept_request") == (1,)

    def sync(self) -> None:
        """Wait until the receiver has handled everything sent to it so far."""
        self.receiver.ask(RelayReceiver.send_events, []).get(timeout=TIMEOUT)


def start(
    decide: Decide | None = None, kind: type[RelayReceiver] = RelayReceiver, **options: Any
) -> Harness:
    session_calls, registry_calls, access_calls = Calls(), Calls(), Calls()
    session_ref = FakeSession.start(session_calls)
    info = ConnectionInfo(CONNECTION_ID, PEER, ActorHandle(session_ref), session_ref)
    registry: ActorHandle[Any] = ActorHandle(FakeRegistry.start(registry_calls))
    access: ActorHandle[Any] | None = None
    if decide is not None:
        access = ActorHandle(FakeAccess.start(access_calls, decide))
    ref = kind.start(info, registry, access, **options)
    return Harness(
        ActorHandle(ref),
        info.session,
        session_calls,
        registry,
        registry_calls,
        access_calls,
    )


@pytest.fixture
def harness() -> Harness:
    return start()


def bound_stream() -> tuple[pykka.ActorRef[FakeStream], Calls]:
    calls = Calls()
    return FakeStream.start(calls), calls


def test_the_connection_is_accepted(harness: Harness) -> None:
    harness.connected()
    assert harness.session_calls.names() == []  # nothing else


def test_a_publish_goes_to_the_registry_with_what_the_stream_needs(harness: Harness) -> None:
    """The stream is named by the key without its query string (per-client arguments)."""
    harness.connected()
    harness.send(publish_event("cam?token=1", request_id=5, stream_id=3))
    (request,) = harness.registry_calls.wait("publish_requested")
    assert request == PublishRequest(
        CONNECTION_ID, harness.session, harness.receiver, 5, "live", "cam", 3
    )
    assert harness.session_calls.names() == []  # the stream answers, not the receiver


def test_a_play_goes_to_the_registry_with_what_the_stream_needs(harness: Harness) -> None:
    harness.connected()
    harness.send(play_event("cam", request_id=6, stream_id=4))
    (request,) = harness.registry_calls.wait("play_requested")
    assert request == PlayRequest(
        CONNECTION_ID, harness.session, harness.receiver, 6, "live", "cam", 4
    )


def test_the_access_controller_is_asked_about_the_whole_request_first() -> None:
    harness = start(decide=lambda _request: (True, ""))
    harness.connected()
    harness.send(publish_event("cam", request_id=5))
    checked, _reply_to, token = harness.access_calls.wait("check")
    assert checked == AccessRequest(
        AccessKind.PUBLISH,
        "live",
        "cam",
        PEER[0],
        TC_URL,
        FLASH_VER,
        "live",
        client_id=CONNECTION_ID,
    )
    assert token == 5
    (request,) = harness.registry_calls.wait("publish_requested")  # allowed: routed
    assert request.request_id == 5
    harness.send(play_event("cam", request_id=6))
    checked, _reply_to, token = harness.access_calls.wait("check")
    assert (checked.kind, checked.publish_type, token) == (AccessKind.PLAY, "", 6)
    harness.registry_calls.wait("play_requested")


@pytest.mark.parametrize(
    ("event", "code", "refusal"),
    [
        (publish_event(), NetStreamCode.PUBLISH_BAD_NAME, "Publish denied: not on the list"),
        (play_event(), NetStreamCode.PLAY_FAILED, "Play denied: not on the list"),
    ],
    ids=["publish", "play"],
)
def test_a_refusal_rejects_the_request_with_its_code(
    event: Any, code: NetStreamCode, refusal: str
) -> None:
    harness = start(decide=lambda _request: (False, "not on the list"))
    harness.connected()
    harness.send(event)
    assert harness.session_calls.wait("reject_request") == (event.request_id, refusal, code)
    harness.sync()
    assert harness.registry_calls.names() == []  # never routed


def test_a_disconnection_tells_the_bound_streams_their_peers_left(harness: Harness) -> None:
    published, publisher_calls = bound_stream()
    played, player_calls = bound_stream()
    harness.receiver.tell(RelayReceiver.bind_publisher, published, 1)
    harness.receiver.tell(RelayReceiver.bind_player, played, 2)
    harness.send(events.Disconnected("peer closed"))
    assert publisher_calls.wait("publisher_left") == (CONNECTION_ID,)
    assert player_calls.wait("player_left") == (CONNECTION_ID, 2)


def test_a_finished_publish_or_play_tells_only_its_own_stream(harness: Harness) -> None:
    published, publisher_calls = bound_stream()
    played, player_calls = bound_stream()
    harness.receiver.tell(RelayReceiver.bind_publisher, published, 1)
    harness.receiver.tell(RelayReceiver.bind_player, played, 2)
    harness.send(events.PublishingFinished("live", "key", 1))
    assert publisher_calls.wait("publisher_left") == (CONNECTION_ID,)
    harness.send(events.PlayStreamFinished("live", "key", 2))
    assert player_calls.wait("player_left") == (CONNECTION_ID, 2)
    harness.send(events.Disconnected(None))  # both have been told already
    harness.sync()
    assert publisher_calls.names() == player_calls.names() == []


class FaultyReceiver(RelayReceiver):
    """A relay receiver with a bug in one of its handlers."""

    def on_stream_meta_data_changed(self, event: events.StreamMetaDataChanged) -> None:
        msg = "handler bug"
        raise RuntimeError(msg)


def test_a_failing_receiver_still_tells_its_streams_their_peers_left() -> None:
    harness = start(kind=FaultyReceiver)
    published, publisher_calls = bound_stream()
    played, player_calls = bound_stream()
    harness.receiver.tell(RelayReceiver.bind_publisher, published, 1)
    harness.receiver.tell(RelayReceiver.bind_player, played, 2)
    exited = exits_of(harness.receiver.actor_ref)
    harness.send(events.StreamMetaDataChanged("live", "key", 1, None, {}))  # type: ignore[arg-type]
    notice = exited.get(timeout=TIMEOUT)
    assert isinstance(notice.exception, RuntimeError)
    assert publisher_calls.wait("publisher_left") == (CONNECTION_ID,)
    assert player_calls.wait("player_left") == (CONNECTION_ID, 2)


@pytest.mark.parametrize(
    ("event", "code"),
    [(publish_event(), NetStreamCode.PUBLISH_BAD_NAME), (play_event(), NetStreamCode.PLAY_FAILED)],
    ids=["publish", "play"],
)
def test_a_dead_registry_makes_the_receiver_reject_the_request(
    harness: Harness, event: Any, code: NetStreamCode
) -> None:
    harness.connected()
    harness.registry.actor_ref.stop(timeout=TIMEOUT)
    harness.send(event)
    request_id, reason, rejected_with = harness.session_calls.wait("reject_request")
    assert (request_id, rejected_with) == (event.request_id, code)
    assert "stream registry is not running" in reason
    assert harness.receiver.actor_ref.is_alive()  # a refusal, not a failure


ON_CONNECT = RelayHooks(HookSet({AccessKind.CONNECT: "http://127.0.0.1:9/connect"}, 5.0, None), {})
"""Hooks that ask about connects (the fake access controller answers)."""


def test_with_on_connect_the_connect_is_asked_about_and_may_be_refused() -> None:
    harness = start(decide=lambda request: (request.app != "closed", "not today"), hooks=ON_CONNECT)
    harness.send(
        events.ConnectionRequested(
            request_id=1,
            app_name="closed",
            connect=Connect(app="closed?k=v", tc_url=TC_URL, flash_ver=FLASH_VER, page_url="p"),
        )
    )
    checked, _reply_to, token = harness.access_calls.wait("check")
    assert checked == AccessRequest(
        AccessKind.CONNECT,
        "closed",
        "?k=v",
        PEER[0],
        TC_URL,
        FLASH_VER,
        page_url="p",
        client_id=CONNECTION_ID,
    )
    assert checked.args == "k=v"
    assert token == 1
    assert harness.session_calls.wait("reject_request") == (1, "Connect denied: not today", None)
    harness.send(connect_event())  # app "live": allowed
    harness.access_calls.wait("check")
    assert harness.session_calls.wait("accept_request") == (1,)


def test_without_on_connect_the_connect_is_accepted_at_once() -> None:
    harness = start(decide=lambda _request: (False, "no"))
    harness.connected()
    harness.sync()
    assert harness.access_calls.names() == []
