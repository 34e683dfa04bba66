"""Push and pull relays restart a link that crashed, after a backoff, while it is needed;
a relay that crashed is restarted by its supervisor, adopts its links and catches up.

The links connect to a socket that listens but never answers, so they wait for the RTMP
handshake without arming timers of their own: every timer the fake scheduler sees is the
relay's restart (or a timer the test makes a link arm). Crashes are injected by making one
of the link's methods raise; the conftest stops every actor after each test.
"""

from __future__ import annotations

import logging
import queue
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pykka
import pytest
from pykka.messages import ProxyCall

from behaviours.stream_peers import PublisherReceiver, PublisherSession
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.actors.supervisor import ChildHandle, ChildSpec, Supervisor
from rtmp_actors.relay.link_manager import LinkTable
from rtmp_actors.relay.links import LinkSettings, PullLink, PullRelay, PushLink, PushRelay
from rtmp_actors.relay.observer import StreamSnapshot
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.stream import PublishRequest
from rtmp_actors.relay.upstream import _UpstreamLink
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT
from tests.peers import poll_until
from tests.relay.test_links import ManualTimers, keyframe

SETTINGS = LinkSettings(
    initial_backoff=1.0,
    max_backoff=8.0,
    pull_linger=5.0,
    close_timeout=3.0,
    flow=FlowControl(handshake_timeout=600.0, idle_timeout=0.0),  # no timeout in a test
)


class InjectedError(Exception):
    """The injected failure."""


def make_crash(monkeypatch: pytest.MonkeyPatch, link_class: type[Any], method: str) -> None:
    """Make ``link_class.method`` raise, for this test.

    The stand-in keeps the method's name: an :class:`ActorHandle` sends a call by name.
    """

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise InjectedError("injected crash")

    crash.__name__ = method
    monkeypatch.setattr(link_class, method, crash)


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A push or pull URL whose server accepts TCP connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield f"rtmp://127.0.0.1:{listener.getsockname()[1]}/live"
    finally:
        listener.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: queue.Queue[logging.LogRecord] = queue.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.put(record)

    def next(self) -> str:
        return self.records.get(timeout=TIMEOUT).getMessage()


@pytest.fixture
def errors() -> Iterator[_Records]:
    """The relays' ERROR lines about crashed links, to wait on."""
    handler = _Records()
    logger = logging.getLogger("rtmp_actors.relay.link_manager")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def only_link(relay: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
    links: list[pykka.ActorRef[Any]] = relay.proxy().links().get(timeout=TIMEOUT)
    assert len(links) == 1, links
    return links[0]


def crashed(link: pykka.ActorRef[Any]) -> None:
    assert link.actor_stopped.wait(TIMEOUT), "the link did not crash"


# --- Push -----------------------------------------------------------------------------------------


def test_a_crashed_push_link_is_restarted_after_backoff_while_the_stream_is_published(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    relay = PushRelay.start([silent_url], SETTINGS, timers)
    relay.proxy().stream_published("live", "cam")
    first = only_link(relay)
    make_crash(monkeypatch, PushLink, "metadata")
    relay.proxy().stream_metadata("live", "cam", {"width": 640})
    crashed(first)
    # Which link failed (the stream and the URL) and why, at ERROR.
    line = errors.next()
    assert "push of live/cam to " + silent_url in line
    assert "injected crash" in line
    delay, restart = timers.next()
    assert delay == SETTINGS.initial_backoff
    assert relay.proxy().links().get(timeout=TIMEOUT) == []  # nothing until the delay is over
    restart()
    second = only_link(relay)
    assert second != first
    assert second.is_alive()


def test_a_crashed_push_link_is_not_restarted_after_its_stream_is_unpublished(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    relay = PushRelay.start([silent_url], SETTINGS, timers)
    relay.proxy().stream_published("live", "cam")
    link = only_link(relay)
    make_crash(monkeypatch, PushLink, "media")
    relay.proxy().stream_media("live", "cam", MediaType.VIDEO, 0, keyframe(0))
    crashed(link)
    _, restart = timers.next()  # armed ...
    relay.proxy().stream_unpublished("live", "cam")  # ... but the stream is over meanwhile
    restart()
    assert relay.proxy().links().get(timeout=TIMEOUT) == []
    assert pykka.ActorRegistry.get_by_class(PushLink) == []
    assert "injected crash" in errors.next()


def test_repeated_crashes_double_the_backoff_until_a_link_is_accepted(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    settings = replace(SETTINGS, stable_after=0.0)  # any acceptance counts as lasting
    relay = PushRelay.start([silent_url], settings, timers)
    relay.proxy().stream_published("live", "cam")
    make_crash(monkeypatch, PushLink, "metadata")
    delays: list[float] = []
    for _ in range(5):
        link = only_link(relay)
        relay.proxy().stream_metadata("live", "cam", {"n": len(delays)})
        crashed(link)
        delay, restart = timers.next()
        delays.append(delay)
        restart()
    assert delays == [1, 2, 4, 8, 8]
    # The upstream accepts the current link (it tells its relay so): the next crash waits the
    # least again.
    link = only_link(relay)
    relay.proxy().link_accepted("live", "cam", link.actor_urn)
    relay.proxy().stream_metadata("live", "cam", {"n": "again"})
    crashed(link)
    delay, _ = timers.next()
    assert delay == settings.initial_backoff
    assert errors.records.qsize() == 6


def test_a_link_that_crashes_soon_after_being_accepted_keeps_backing_off(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    settings = replace(SETTINGS, stable_after=3600.0)  # no acceptance in this test lasts
    relay = PushRelay.start([silent_url], settings, timers)
    relay.proxy().stream_published("live", "cam")
    make_crash(monkeypatch, PushLink, "metadata")
    delays: list[float] = []
    for _ in range(3):
        link = only_link(relay)
        relay.proxy().link_accepted("live", "cam", link.actor_urn)  # accepted, then crashes
        relay.proxy().stream_metadata("live", "cam", {"n": len(delays)})
        crashed(link)
        delay, restart = timers.next()
        delays.append(delay)
        restart()
    assert delays == [1, 2, 4]
    assert errors.records.qsize() == 3


# --- Pull -----------------------------------------------------------------------------------------


class _Peer(MonitoredActor):
    """Stands in for the registry and the local stream: records what the pull link tells."""

    def __init__(self, calls: queue.Queue[tuple[Any, ...]]) -> None:
        super().__init__()
        self._calls = calls

    def publish_requested(self, request: PublishRequest) -> None:
        self._calls.put(("publish_requested", request))

    def publisher_media(self, connection_id: str, *media: Any) -> None:
        self._calls.put(("publisher_media", connection_id, *media))

    def publisher_left(self, connection_id: str) -> None:
        self._calls.put(("publisher_left", connection_id))


def test_a_crashed_pull_link_leaves_the_local_stream_and_restarts_while_players_want_it(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    calls: queue.Queue[tuple[Any, ...]] = queue.Queue()
    peer = _Peer.start(calls)
    relay = PullRelay.start([silent_url], SETTINGS, timers, registry=ActorHandle(peer))
    relay.proxy().stream_wanted("live", "cam")
    first = only_link(relay)
    # The origin sends a keyframe (as the link's first connection, attempt 1, would): the
    # link publishes it into the local stream, which the test accepts, standing in for it.
    origin_media = client.AudioVideoDataReceived("cam", MediaType.VIDEO, keyframe(0), 0, 0.0)
    ActorHandle[_UpstreamLink](first).tell(_UpstreamLink.upstream_events, 1, [origin_media])
    name, request = calls.get(timeout=TIMEOUT)
    assert name == "publish_requested"
    request.receiver.tell(PublisherReceiver.bind_publisher, peer, request.stream_id)
    request.session.tell(PublisherSession.accept_request, request.request_id)
    assert calls.get(timeout=TIMEOUT) == (
        "publisher_media",
        request.connection_id,
        MediaType.VIDEO,
        0,
        keyframe(0),
    )

    make_crash(monkeypatch, PullLink, "wanted")
    relay.proxy().stream_wanted("live", "cam")  # a player again: the link crashes on it
    crashed(first)
    # It left the local stream on its way out, so the stream's players keep waiting.
    assert calls.get(timeout=TIMEOUT) == ("publisher_left", request.connection_id)
    line = errors.next()
    assert "pull of live/cam from " + silent_url in line
    assert "injected crash" in line
    delay, restart = timers.next()
    assert delay == SETTINGS.initial_backoff
    restart()
    second = only_link(relay)
    assert second != first


def test_a_crashed_pull_link_is_not_restarted_once_no_player_wants_it(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    peer = _Peer.start(queue.Queue())
    relay = PullRelay.start([silent_url], SETTINGS, timers, registry=ActorHandle(peer))
    relay.proxy().stream_wanted("live", "cam")
    link = only_link(relay)
    make_crash(monkeypatch, PullLink, "linger_over")
    relay.proxy().stream_unwanted("live", "cam")
    delay, linger_over = timers.next()  # the link lingers ...
    assert delay == SETTINGS.pull_linger
    linger_over()  # ... and crashes as it should close
    crashed(link)
    assert "injected crash" in errors.next()  # logged once the relay knows
    assert timers.armed.empty()  # no restart
    assert relay.proxy().links().get(timeout=TIMEOUT) == []
    assert pykka.ActorRegistry.get_by_class(PullLink) == []


# --- A crashed relay -----------------------------------------------------------------------------


def crash_relay(handle: ChildHandle[Any]) -> pykka.ActorRef[Any]:
    """Make the relay fail (a call to a method it lacks); wait for its restart; the new one."""
    old = handle.actor_ref
    old.tell(ProxyCall(attr_path=("injected_crash",), args=(), kwargs={}))
    assert old.actor_stopped.wait(TIMEOUT), "the relay did not crash"
    poll_until(  # the supervisor restarts it as soon as it handles the exit notice
        lambda: handle.actor_ref != old and handle.actor_ref.is_alive(),
        TIMEOUT,
        "the relay restarted",
    )
    return handle.actor_ref


class _Registry(MonitoredActor):
    """Stands in for the registry: records which streams the push relay asks to describe."""

    def __init__(self, asked: queue.Queue[tuple[str, str]]) -> None:
        super().__init__()
        self._asked = asked

    def describe_stream(self, app: str, key: str, observer: Any) -> None:
        self._asked.put((app, key))


def published(key: str, **kwargs: Any) -> StreamSnapshot:
    return StreamSnapshot("live", key, published=True, wanted=False, **kwargs)


def test_a_crashed_push_relay_adopts_its_links_and_reconciles_with_the_streams(
    silent_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    timers = ManualTimers()
    handle: ChildHandle[PushRelay] = ChildHandle("push-relay")
    table = LinkTable[PushLink]()
    Supervisor.start(
        [
            ChildSpec(
                "push-relay",
                lambda: PushRelay.start([silent_url], SETTINGS, timers, table=table, owner=handle),
                handle=handle,
            )
        ]
    )
    handle.tell(PushRelay.stream_published, "live", "cam")
    handle.tell(PushRelay.stream_published, "live", "gone")
    before = {ref.actor_urn: ref for ref in handle.ask(PushRelay.links).get(timeout=TIMEOUT)}
    assert len(before) == 2

    with caplog.at_level(logging.WARNING):
        crash_relay(handle)
        adopted = handle.ask(PushRelay.links).get(timeout=TIMEOUT)
    assert {ref.actor_urn for ref in adopted} == set(before), "the same links run on"
    assert "PushRelay restarted: adopted 2 running links" in caplog.text

    # The registry lists the running streams: "gone" ended while the relay was down.
    handle.tell(PushRelay.streams_running, frozenset({("live", "cam"), ("live", "new")}))
    gone = [ref for ref in before.values() if ref.proxy().key.get(timeout=TIMEOUT) == "gone"]
    assert gone[0].actor_stopped.wait(TIMEOUT), "the stale link finished"
    # "cam" is still published: its link is kept; "new" was published meanwhile: pushed now.
    handle.tell(PushRelay.stream_snapshot, published("cam"))
    handle.tell(PushRelay.stream_snapshot, published("new", metadata={"width": 640}))
    links = handle.ask(PushRelay.links).get(timeout=TIMEOUT)
    keys = sorted(ref.proxy().key.get(timeout=TIMEOUT) for ref in links)
    assert keys == ["cam", "new"]
    cam = next(ref for ref in links if ref.proxy().key.get(timeout=TIMEOUT) == "cam")
    assert cam.actor_urn in before
    # A stream whose snapshot says it is no longer published loses its link.
    handle.tell(PushRelay.stream_snapshot, StreamSnapshot("live", "cam", False, False))
    assert cam.actor_stopped.wait(TIMEOUT)


def test_a_push_link_restarted_after_a_crash_starts_from_the_streams_snapshot(
    silent_url: str, errors: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers = ManualTimers()
    asked: queue.Queue[tuple[str, str]] = queue.Queue()
    registry: ActorHandle[StreamRegistry] = ActorHandle(_Registry.start(asked))
    relay = PushRelay.start([silent_url], SETTINGS, timers, registry=registry)
    relay.proxy().stream_published("live", "cam")
    first = only_link(relay)
    make_crash(monkeypatch, PushLink, "metadata")
    relay.proxy().stream_metadata("live", "cam", {"width": 640})
    crashed(first)
    assert "injected crash" in errors.next()
    monkeypatch.undo()
    _, restart = timers.next()
    restart()  # asks the registry for the stream's cached start, rather than starting blind
    assert asked.get(timeout=TIMEOUT) == ("live", "cam")
    assert relay.proxy().links().get(timeout=TIMEOUT) == []
    snapshot = published("cam", metadata={"width": 640}, media=((MediaType.VIDEO, 0, keyframe(0)),))
    relay.proxy().stream_snapshot(snapshot).get(timeout=TIMEOUT)
    second = only_link(relay)
    assert second != first
    start = ActorHandle[PushLink](second).ask(PushLink.start_of_stream).get(timeout=TIMEOUT)
    assert start == ({"width": 640}, [(MediaType.VIDEO, 0)])


def test_a_crashed_pull_relay_adopts_its_link_which_reports_to_the_new_one(
    silent_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    timers = ManualTimers()
    peer = ActorHandle(_Peer.start(queue.Queue()))
    handle: ChildHandle[PullRelay] = ChildHandle("pull-relay")
    table = LinkTable[PullLink]()

    def start() -> pykka.ActorRef[Any]:
        return PullRelay.start(
            [silent_url], SETTINGS, timers, registry=peer, table=table, owner=handle
        )

    Supervisor.start([ChildSpec("pull-relay", start, handle=handle)])
    handle.tell(PullRelay.stream_wanted, "live", "cam")
    [link] = handle.ask(PullRelay.links).get(timeout=TIMEOUT)
    with caplog.at_level(logging.WARNING):
        crash_relay(handle)
        assert handle.ask(PullRelay.links).get(timeout=TIMEOUT) == [link]
    assert "PullRelay restarted: adopted 1 running links" in caplog.text

    # The snapshot says the players left while the relay was down: the link lingers, ends,
    # and tells the new incarnation, which forgets it.
    handle.tell(PullRelay.stream_snapshot, StreamSnapshot("live", "cam", False, False))
    delay, linger_over = timers.next()
    assert delay == SETTINGS.pull_linger
    linger_over()
    assert link.actor_stopped.wait(TIMEOUT)
    _, recheck = timers.next()  # the new relay heard of it: it looks again shortly
    recheck()
    assert handle.ask(PullRelay.links).get(timeout=TIMEOUT) == []
    # A snapshot with players waiting and no publisher starts a pull.
    handle.tell(PullRelay.stream_snapshot, StreamSnapshot("live", "cam", False, True))
    [again] = handle.ask(PullRelay.links).get(timeout=TIMEOUT)
    assert again != link
