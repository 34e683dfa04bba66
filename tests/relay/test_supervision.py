"""Crashes injected into a running relay, with real FFmpeg publishers and rtmpdump players.

Each test crashes one part (a custom event receiver, a stream actor, the registry, a push or
pull relay, the recorder) and checks
that the other connections keep streaming, that the failed part is gone or restarted, that
the log names the failure, and that nothing leaks.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from pykka.messages import ProxyCall

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.actors.supervisor import ChildHandle, ChildSpec, Supervisor
from rtmp_actors.client import shared_io_loop
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.link_manager import _LinkManager
from rtmp_actors.relay.links import LinkSettings
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


def _footprint() -> tuple[int, int, int]:
    """(threads, open file descriptors, actors) of this process."""
    return (
        threading.active_count(),
        len(os.listdir("/proc/self/fd")),
        len(pykka.ActorRegistry.get_all()),
    )


@pytest.fixture(autouse=True)
def nothing_leaks() -> Iterator[None]:
    """After the test's relays and peers have stopped, everything is back to the baseline.

    Set up before (so torn down after) the test's other fixtures. The shared client I/O loop
    that push and pull links use is started first, so that its thread counts as the baseline.
    """
    shared_io_loop()
    baseline = _footprint()
    yield
    poll_until(
        lambda: _footprint() == baseline,
        TIMEOUT,
        f"(threads, file descriptors, actors) back to {baseline}",
    )


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


@pytest.fixture
def edges() -> Iterator[list[RelayServer]]:
    """Relays started by the test (pushing to or pulling from ``relay``), stopped after it."""
    started: list[RelayServer] = []
    yield started
    for server in started:
        server.stop()


def base_url(relay: RelayServer) -> str:
    return f"rtmp://127.0.0.1:{relay.address[1]}/live"


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
        # on_start logs the adoption on the new registry's thread, maybe after it is alive.
        poll_until(lambda: "adopted 1 running streams" in caplog.text, TIMEOUT, "adopted")
    assert "child 'registry'" in caplog.text
    assert "restarting it" in caplog.text
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


def restarted(handle: ChildHandle[Any], old: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
    """Wait until the supervisor has replaced the crashed ``old`` incarnation; the new one."""
    assert old.actor_stopped.wait(TIMEOUT), f"{handle.name} did not crash"
    poll_until(
        lambda: handle.actor_ref != old and handle.actor_ref.is_alive(),
        TIMEOUT,
        f"{handle.name} restarted",
    )
    return handle.actor_ref


def running_links(relay: pykka.ActorRef[Any]) -> list[pykka.ActorRef[Any]]:
    links: list[pykka.ActorRef[Any]] = (
        ActorHandle[_LinkManager[Any]](relay).ask(_LinkManager.links).get(timeout=TIMEOUT)
    )
    return links


def publisher_of(relay: RelayServer, key: str) -> str | None:
    return next((s.publisher for s in relay.stream_stats() if s.key == key), None)


def test_a_crashed_pull_relay_is_restarted_and_adopts_its_pulls_without_a_break(
    relay: RelayServer,
    edges: list[RelayServer],
    peers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rtmp_actors")  # a failure shows the links' story
    edge = RelayServer(
        RelayConfig(port=0, pull=(base_url(relay),)), link_settings=LinkSettings(pull_linger=0.5)
    ).start()
    edges.append(edge)
    peers.append(publish(url(relay, "far")))  # on the origin, pulled by the edge
    peers.append(publish(url(edge, "near")))  # on the edge itself
    poll_until(lambda: has_publisher(relay, "far"), TIMEOUT, "far published on the origin")
    poll_until(lambda: has_publisher(edge, "near"), TIMEOUT, "near published on the edge")
    far_player = play(url(edge, "far"), tmp_path / "far.flv")
    near_player = play(url(edge, "near"), tmp_path / "near.flv")
    peers += [far_player, near_player]
    keeps_growing(tmp_path / "far.flv", "the pulled stream plays on the edge")
    keeps_growing(tmp_path / "near.flv", "the edge's own stream plays")
    pull = edge.pull_relay
    assert pull is not None
    old = pull.actor_ref
    [link] = running_links(old)
    origin_player = next(s for s in relay.stream_stats() if s.key == "far").players

    with caplog.at_level(logging.WARNING):
        crash(old)
        new = restarted(pull, old)
    # Asked after on_start, which logs the adoption: the log is complete by then.
    assert running_links(new) == [link], "the same link goes on"
    assert "child 'pull-relay'" in caplog.text
    assert "injected_crash" in caplog.text
    assert "adopted 1 running links" in caplog.text
    keeps_growing(tmp_path / "far.flv", "the pulled stream goes on through the restart")
    keeps_growing(tmp_path / "near.flv", "the edge's own stream goes on")
    assert far_player.poll() is None, "the player of the pulled stream never noticed"
    assert next(s for s in relay.stream_stats() if s.key == "far").players == origin_player

    # The adopted link reports to the new incarnation: when the last player leaves, the pull
    # ends after its linger and the new relay forgets it.
    stop_process(far_player, 10)
    assert link.actor_stopped.wait(TIMEOUT), "the pull ended once nobody played it"
    poll_until(lambda: running_links(new) == [], TIMEOUT, "the new relay forgot the link")


def test_a_crashed_push_relay_is_restarted_and_adopts_its_pushes_without_a_break(
    relay: RelayServer,
    edges: list[RelayServer],
    peers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = RelayServer(RelayConfig(port=0, push=(base_url(relay),))).start()
    edges.append(edge)
    peers.append(publish(url(edge, "up")))
    poll_until(lambda: has_publisher(relay, "up"), TIMEOUT, "pushed to the origin")
    player = play(url(relay, "up"), tmp_path / "up.flv")
    peers.append(player)
    keeps_growing(tmp_path / "up.flv", "the pushed stream plays on the origin")
    push = edge.push_relay
    assert push is not None
    old = push.actor_ref
    [link] = running_links(old)
    upstream_publisher = publisher_of(relay, "up")

    with caplog.at_level(logging.WARNING):
        crash(old)
        new = restarted(push, old)
    assert running_links(new) == [link]  # asked after on_start, which logs the adoption
    assert "child 'push-relay'" in caplog.text
    assert "adopted 1 running links" in caplog.text
    keeps_growing(tmp_path / "up.flv", "the pushed stream goes on through the restart")
    assert player.poll() is None, "the origin's player never noticed"
    assert publisher_of(relay, "up") == upstream_publisher, "the same upstream publish"

    # The adopted link still follows its stream: the encoder stops, the push ends.
    stop_process(peers[0], 10)
    assert link.actor_stopped.wait(TIMEOUT), "the push ended with its local stream"
    poll_until(lambda: not has_publisher(relay, "up"), TIMEOUT, "unpublished upstream")


def test_a_crashed_recorder_is_restarted_and_records_the_running_streams_again(
    peers: list[subprocess.Popen[bytes]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record_dir = tmp_path / "recordings"
    relay = RelayServer(RelayConfig(port=0, record_dir=str(record_dir))).start()
    try:
        peers.append(publish(url(relay, "rec")))

        def files() -> list[Path]:
            return sorted((record_dir / "live").glob("rec-*.flv"))

        poll_until(lambda: len(files()) == 1 and size(files()[0]) > 20_000, TIMEOUT, "recording")
        [first] = files()
        recorder = relay.recorder
        assert recorder is not None
        old = recorder.actor_ref
        with caplog.at_level(logging.WARNING):
            crash(old)
            restarted(recorder, old)
        assert "child 'recorder'" in caplog.text
        poll_until(lambda: len(files()) == 2, TIMEOUT, "a new file for the running stream")
        [second] = [path for path in files() if path != first]
        keeps_growing(second, "the new recording")
        assert list(read_flv_file(first)), "the first file was finished and reads back"
        # The new file starts from the stream's cached start: metadata, then the codec
        # configuration (an AVC sequence header: a video tag whose AVCPacketType is 0).
        tags = list(read_flv_file(second, strict=False))
        assert tags[0].tag_type == TagType.SCRIPT_DATA
        first_video = next(tag for tag in tags if tag.tag_type == TagType.VIDEO)
        assert first_video.data[0] >> 4 == 1, "a keyframe"
        assert first_video.data[1] == 0, "the AVC sequence header"
    finally:
        relay.stop()
