"""Crashes injected into a running relay, with real FFmpeg publishers and rtmpdump players.

Each test crashes one part (a custom event receiver, a stream actor, the registry) and checks
that the other connections keep streaming, that the failed part is gone or restarted, that
the log names the failure, and that nothing leaks.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from pykka.messages import ProxyCall

from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.actors.supervisor import ChildSpec, Supervisor
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as events
from tests.peers import debian_tool, ffmpeg_exe, poll_until, stop_process

TIMEOUT = 30


def crash(ref: pykka.ActorRef[Any]) -> None:
    """Make an actor fail: a call to a method it does not have raises in its own thread."""
    ref.tell(ProxyCall(attr_path=("injected_crash",), args=(), kwargs={}))


def publish(url: str) -> subprocess.Popen[bytes]:
    """FFmpeg publishing a live test pattern until stopped."""
    return subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
         "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def play(url: str, out: Path) -> subprocess.Popen[bytes]:
    """rtmpdump playing ``url`` live into ``out``."""
    return subprocess.Popen(
        [debian_tool("rtmpdump"), "--live", "--quiet", "-r", url, "-o", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def keeps_growing(path: Path, what: str) -> None:
    """Wait until ``path`` has grown by 20 KB from now (a couple of seconds of media)."""
    start = size(path)
    poll_until(lambda: size(path) > start + 20_000, TIMEOUT, what)


def ended(process: subprocess.Popen[bytes], what: str) -> None:
    try:
        process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} is still running")


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        stop_process(process, 10)


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0)).start()
    yield server
    server.stop()


def url(relay: RelayServer, key: str) -> str:
    return f"rtmp://127.0.0.1:{relay.address[1]}/live/{key}"


def stream_ref(relay: RelayServer, key: str) -> pykka.ActorRef[Any]:
    refs = [ref for ref in relay.stream_refs() if ref.proxy().key.get(timeout=5) == key]
    assert len(refs) == 1, f"one stream for {key}"
    return refs[0]


def has_publisher(relay: RelayServer, key: str) -> bool:
    return any(s.key == key and s.publisher for s in relay.stream_stats())


def test_a_crashed_stream_closes_its_peers_and_the_key_can_be_published_again(
    relay: RelayServer,
    peers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    peers.extend(publish(url(relay, key)) for key in ("doomed", "healthy"))
    for key in ("doomed", "healthy"):
        poll_until(lambda key=key: has_publisher(relay, key), TIMEOUT, f"{key} published")
    doomed_player = play(url(relay, "doomed"), tmp_path / "doomed.flv")
    healthy_player = play(url(relay, "healthy"), tmp_path / "healthy.flv")
    peers += [doomed_player, healthy_player]
    keeps_growing(tmp_path / "doomed.flv", "the doomed stream plays")
    keeps_growing(tmp_path / "healthy.flv", "the healthy stream plays")
    doomed = stream_ref(relay, "doomed")
    doomed_publisher = peers[0]

    with caplog.at_level(logging.ERROR):
        crash(doomed)
        ended(doomed_publisher, "the doomed stream's publisher")
        ended(doomed_player, "the doomed stream's player")
    assert "stream live/doomed failed" in caplog.text
    keeps_growing(tmp_path / "healthy.flv", "the healthy stream goes on")

    peers.append(publish(url(relay, "doomed")))  # at once: the registry forgot the stream
    poll_until(lambda: has_publisher(relay, "doomed"), TIMEOUT, "doomed published again")
    assert stream_ref(relay, "doomed") != doomed
    again = play(url(relay, "doomed"), tmp_path / "again.flv")
    peers.append(again)
    keeps_growing(tmp_path / "again.flv", "the new stream plays")


def test_a_crashed_registry_is_restarted_and_adopts_the_live_streams(
    relay: RelayServer,
    peers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    peers.append(publish(url(relay, "live")))
    poll_until(lambda: has_publisher(relay, "live"), TIMEOUT, "published")
    peers.append(play(url(relay, "live"), tmp_path / "first.flv"))
    keeps_growing(tmp_path / "first.flv", "the stream plays")
    stream = stream_ref(relay, "live")
    old_registry = relay.registry.actor_ref

    with caplog.at_level(logging.WARNING):
        crash(old_registry)
        old_registry.actor_stopped.wait(TIMEOUT)
        poll_until(
            lambda: (
                relay.registry.actor_ref != old_registry and relay.registry.actor_ref.is_alive()
            ),
            TIMEOUT,
            "the registry restarted",
        )
    assert "child 'registry'" in caplog.text
    assert "restarting it" in caplog.text
    assert "adopted 1 running streams" in caplog.text
    keeps_growing(tmp_path / "first.flv", "the player goes on through the restart")

    second = play(url(relay, "live"), tmp_path / "second.flv")  # routed by the new registry
    peers.append(second)
    keeps_growing(tmp_path / "second.flv", "a new player joins the adopted stream")
    assert stream_ref(relay, "live") == stream


class _CrashOnPublish(EventReceiverActor):
    """Accepts everything, but fails on a publish of the key "boom"."""

    def __init__(self, info: ConnectionInfo) -> None:
        super().__init__()
        self.session = info.session
        self.disconnected = threading.Event()

    def on_connection_requested(self, event: events.ConnectionRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)

    def on_publish_stream_requested(self, event: events.PublishStreamRequested) -> None:
        if event.stream_key == "boom":
            raise RuntimeError("injected failure in a custom event receiver")
        self.session.tell(ServerSessionActor.accept_request, event.request_id)


def test_a_failing_event_receiver_closes_only_its_connection_in_a_user_tree(
    peers: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    server = RtmpServer(port=0, event_receiver_factory=_CrashOnPublish.start)
    top = Supervisor.start([server.child_spec()])
    try:
        port = server.address[1]
        fine = publish(f"rtmp://127.0.0.1:{port}/live/fine")
        peers.append(fine)
        poll_until(lambda: server.connection_count == 1, TIMEOUT, "the first publisher")
        with caplog.at_level(logging.ERROR):
            boom = publish(f"rtmp://127.0.0.1:{port}/live/boom")
            peers.append(boom)
            ended(boom, "the publisher whose receiver failed")
        assert "injected failure in a custom event receiver" in caplog.text
        assert "event receiver failed" in caplog.text
        assert fine.poll() is None, "the other publisher is still connected"
        assert server.wait_for_connections(1, TIMEOUT)
        before = server.byte_totals()[0]
        poll_until(lambda: server.byte_totals()[0] > before + 20_000, TIMEOUT, "still streaming")
        children = top.proxy().which_children().get(timeout=5)
        assert [(child.child_id, child.alive) for child in children] == [("rtmp-server", True)]
    finally:
        top.stop(timeout=30)
    assert not server.loop.running


def test_a_user_tree_with_the_relay_and_own_actors_stops_cleanly(tmp_path: Path) -> None:
    baseline = (threading.active_count(), len(pykka.ActorRegistry.get_all()))
    relay = RelayServer(RelayConfig(port=0))
    sibling = ChildSpec("sibling", EventReceiverActor.start)
    top = Supervisor.start([relay.child_spec(), sibling])
    try:
        player = play(f"rtmp://127.0.0.1:{relay.address[1]}/live/x", tmp_path / "x.flv")
        poll_until(lambda: relay.rtmp_server.connection_count == 1, TIMEOUT, "a player")
    finally:
        top.stop(timeout=30)
    ended(player, "the player of a relay that stopped")
    assert relay.wait(5)
    poll_until(
        lambda: (threading.active_count(), len(pykka.ActorRegistry.get_all())) == baseline,
        TIMEOUT,
        "threads and actors back to the baseline",
    )


def test_restart_intensity_escalates_to_the_parent_which_restarts_the_server(
    peers: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    server = RtmpServer(port=0, event_receiver_factory=_CrashOnPublish.start)
    top = Supervisor.start([server.child_spec()])
    try:
        port = server.address[1]
        first_tree = top.proxy().which_children().get(timeout=5)[0].actor_ref
        with caplog.at_level(logging.WARNING):
            for _ in range(4):  # the server's own tree allows 3 restarts in 5 s
                listener = server.listener.actor_ref
                crash(listener)
                poll_until(
                    lambda listener=listener: server.listener.actor_ref != listener,
                    TIMEOUT,
                    "a new listener",
                )
            poll_until(
                lambda: (
                    top.proxy().which_children().get(timeout=5)[0].actor_ref
                    not in (first_tree, None)
                ),
                TIMEOUT,
                "the parent restarted the server",
            )
        assert "giving up" in caplog.text
        assert "child 'listener'" in caplog.text
        assert "child 'rtmp-server'" in caplog.text
        assert server.address[1] == port, "the restarted server listens on the same port"
        publisher = publish(f"rtmp://127.0.0.1:{port}/live/fine")
        peers.append(publisher)
        poll_until(lambda: server.byte_totals()[0] > 20_000, TIMEOUT, "a publisher streams")
    finally:
        top.stop(timeout=30)
