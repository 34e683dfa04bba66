"""Push and pull relays between real servers: two of ours, nginx-rtmp, and FFmpeg publishing.

What is compared: the audio and video messages a player receives (type, timestamp, payload),
in order, against what was published. Between our own servers nothing may be lost or
changed. A link that starts (or restarts) mid-stream sends the metadata, the codec
configuration and the current GOP first, so a test that expects "everything" first waits
until the first GOP went through, and a test that restarts a link expects the stream to
resume at a keyframe, after the configuration.
"""

from __future__ import annotations

import hashlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.media.video import is_video_keyframe
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.gop_cache import configuration_key
from rtmp_actors.relay.links import Backoff, LinkSettings, LinkTarget, PushLink, PushRelay
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.upstream import _LinkOwner
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import TimerHandle
from tests.actors.harness import TIMEOUT, EventLog, connect, start_server
from tests.nginx_rtmp import free_port, nginx_rtmp
from tests.peers import ffmpeg_exe

AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
AAC_CONFIG = b"\xaf\x00\x12\x10"
FAST = LinkSettings(initial_backoff=0.1, max_backoff=0.4, pull_linger=0.2, close_timeout=3.0)
REPO = Path(__file__).resolve().parents[2]

Message = tuple[MediaType, int, bytes]


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + i.to_bytes(4) * 100


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + i.to_bytes(4) * 50


def audio(i: int) -> bytes:
    return b"\xaf\x01" + i.to_bytes(2) * 20


CONFIG: list[Message] = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]


def gop(n: int, frames: int = 5) -> list[Message]:
    """GOP ``n``: a keyframe and inter frames, each followed by an audio frame."""
    messages: list[Message] = []
    for i in range(frames):
        timestamp = (n * frames + i) * 40
        picture = keyframe(n * 100 + i) if i == 0 else inter(n * 100 + i)
        messages.append((MediaType.VIDEO, timestamp, picture))
        messages.append((MediaType.AUDIO, timestamp + 1, audio(n * 100 + i)))
    return messages


class Servers:
    """Our relay servers for one test; all stopped at the end."""

    def __init__(self) -> None:
        self.running: list[RelayServer] = []

    def start(
        self, *, push: Sequence[str] = (), pull: Sequence[str] = (), port: int = 0
    ) -> RelayServer:
        config = RelayConfig(port=port, push=tuple(push), pull=tuple(pull))
        server = RelayServer(config, link_settings=FAST).start()
        self.running.append(server)
        return server

    def stop(self, server: RelayServer) -> None:
        server.stop()
        self.running.remove(server)


@pytest.fixture
def servers() -> Iterator[Servers]:
    running = Servers()
    yield running
    for relay in reversed(running.running):
        relay.stop()


def base_url(server: RelayServer, app: str = "live") -> str:
    host, port = server.address
    return f"rtmp://{host}:{port}/{app}"


def connected(server: RelayServer, log: EventLog, key: str) -> RtmpClient:
    rtmp_client = RtmpClient.connect(
        f"{base_url(server)}/{key}", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publisher(server: RelayServer, log: EventLog, key: str) -> RtmpClient:
    rtmp_client = connected(server, log, key)
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    answer = log.wait(client.PublishResponseReceived)
    assert answer.was_accepted, answer
    return rtmp_client


def player(server: RelayServer, log: EventLog, key: str) -> RtmpClient:
    rtmp_client = connected(server, log, key)
    rtmp_client.session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return rtmp_client


def send(source: RtmpClient, key: str, messages: Sequence[Message]) -> None:
    for kind, timestamp, data in messages:
        source.session.tell(ClientSessionActor.publish_av_data, key, kind, timestamp, data)


def media(log: EventLog, count: int) -> list[Message]:
    return [
        (e.data_type, e.timestamp, e.data)
        for e in (log.wait(client.AudioVideoDataReceived) for _ in range(count))
    ]


# --- URLs and backoff ---------------------------------------------------------------------------


def test_link_urls_take_a_query_and_a_pattern() -> None:
    target = LinkTarget.parse("rtmp://Origin:1940/live/edge?token=s3cret#live/cam*")
    assert (target.base.host, target.base.port, target.base.app) == ("origin", 1940, "live/edge")
    assert target.url_for("cam1").stream_key == "cam1?token=s3cret"
    assert target.url_for("cam1").tc_url == "rtmp://origin:1940/live/edge"
    assert target.matches("live", "cam1")
    assert not target.matches("live", "other")
    assert not target.matches("other", "cam1")
    everything = LinkTarget.parse("rtmp://origin/live")
    assert everything.matches("any", "thing")
    assert everything.url_for("k").stream_key == "k"
    assert everything.same_place(LinkTarget.parse("rtmp://ORIGIN:1935/live#x*"))
    assert not everything.same_place(LinkTarget.parse("rtmp://origin:1936/live"))
    with pytest.raises(ValueError, match="not an rtmp"):
        LinkTarget.parse("http://origin/live")
    with pytest.raises(ValueError, match="no application"):
        LinkTarget.parse("rtmp://origin")


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(1.0, 30.0)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_starts_over_only_after_a_success_that_lasted() -> None:
    now = [0.0]
    backoff = Backoff(1.0, 30.0, stable_after=10.0, clock=lambda: now[0])
    assert [backoff.next_delay() for _ in range(3)] == [1, 2, 4]
    backoff.succeeded()
    now[0] += 9.0  # dropped before it was stable: the delays keep growing
    assert backoff.next_delay() == 8
    backoff.succeeded()
    now[0] += 10.0  # stable: the next failure waits the least again
    assert [backoff.next_delay() for _ in range(2)] == [1, 2]
    assert backoff.next_delay() == 4  # a success counts once, for the failure after it
    with pytest.raises(ValueError, match="stable_after"):
        Backoff(1.0, 30.0, stable_after=-1.0)


class ManualTimers:
    """A scheduler whose timers fire only when the test says so; it records the delays."""

    def __init__(self) -> None:
        self.armed: queue.Queue[tuple[float, Callable[[], None]]] = queue.Queue()

    def __call__(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        self.armed.put((delay, callback))
        return TimerHandle(time.monotonic() + delay, 0, callback)

    def next(self) -> tuple[float, Callable[[], None]]:
        return self.armed.get(timeout=TIMEOUT)


class Owner(MonitoredActor, _LinkOwner):
    """Stands in for the relay that started a link: records the links accepted upstream."""

    def __init__(self, accepted: queue.Queue[tuple[str, str, str]]) -> None:
        super().__init__()
        self._accepted = accepted

    def link_accepted(self, app: str, key: str, urn: str) -> None:
        self._accepted.put((app, key, urn))


def test_a_link_retries_with_exponential_backoff_reset_on_success(servers: Servers) -> None:
    port = free_port()  # nothing listens there yet
    timers = ManualTimers()
    accepted: queue.Queue[tuple[str, str, str]] = queue.Queue()
    owner: ActorHandle[Owner] = ActorHandle(Owner.start(accepted))
    target = LinkTarget.parse(f"rtmp://127.0.0.1:{port}/live")
    settings = LinkSettings(stable_after=0.0)  # any acceptance counts as lasting
    link = PushLink.start(target, "live", "cam", settings, timers, manager=owner)
    delays = []
    for _ in range(7):
        delay, retry = timers.next()  # armed after each refused connection
        delays.append(delay)
        if len(delays) < 7:
            retry()
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    upstream = servers.start(port=port)
    watcher_log = EventLog()
    player(upstream, watcher_log, "cam")
    link.proxy().media(MediaType.VIDEO, 0, AVC_CONFIG)  # kept until the upstream accepts
    link.proxy().media(MediaType.VIDEO, 0, keyframe(1))
    retry()
    assert media(watcher_log, 2) == [
        (MediaType.VIDEO, 0, AVC_CONFIG),
        (MediaType.VIDEO, 0, keyframe(1)),
    ]
    # The link told its relay, which starts a crashed link's backoff over then.
    assert accepted.get(timeout=TIMEOUT) == ("live", "cam", link.actor_urn)
    servers.stop(upstream)  # connected, then lost: the delays start again from 1 s
    delay, _ = timers.next()
    assert delay == 1


def test_a_bad_link_url_starts_nothing() -> None:
    with pytest.raises(ValueError, match="not an rtmp"):
        RelayServer(RelayConfig(port=0, push=("udp://nowhere/live",)))
    assert pykka.ActorRegistry.get_all() == []


# --- Push ---------------------------------------------------------------------------------------


def test_push_republishes_every_message_to_another_relay(servers: Servers) -> None:
    upstream = servers.start()
    edge = servers.start(push=[base_url(upstream)])
    watcher_log = EventLog()
    player(upstream, watcher_log, "cam")  # waits on the upstream for the pushed stream
    source = publisher(edge, EventLog(), "cam")
    source.session.tell(ClientSessionActor.publish_metadata, "cam", {"width": 640, "height": 360})
    first = CONFIG + gop(0)
    send(source, "cam", first)
    assert watcher_log.wait(client.StreamMetaDataReceived).meta_data.video_width == 640
    assert media(watcher_log, len(first)) == first  # from the link's cache or live: the same
    rest = gop(1) + gop(2)
    send(source, "cam", rest)
    assert media(watcher_log, len(rest)) == rest
    source.session.tell(ClientSessionActor.stop_publish, "cam")
    assert watcher_log.wait(client.StreamEnded).stream_key == "cam"
    # The link closed its upstream connection: only the watcher is left there.
    assert upstream.rtmp_server.wait_for_connections(1, TIMEOUT)


def test_push_resumes_at_a_keyframe_when_the_upstream_restarts(servers: Servers) -> None:
    upstream = servers.start()
    port = upstream.address[1]
    edge = servers.start(push=[base_url(upstream)])
    first_log = EventLog()
    player(upstream, first_log, "cam")
    source = publisher(edge, EventLog(), "cam")
    send(source, "cam", CONFIG + gop(0))
    assert media(first_log, len(CONFIG) + len(gop(0))) == CONFIG + gop(0)

    servers.stop(upstream)  # the push link loses its upstream and retries with backoff
    assert first_log.wait(client.Disconnected) is not None
    send(source, "cam", gop(1))  # cached by the link meanwhile (its current GOP)
    restarted = servers.start(port=port)
    second_log = EventLog()
    player(restarted, second_log, "cam")
    received = _media_while_publishing(source, "cam", second_log, start=2)
    # A restarted publish sends the configuration first, then starts at a keyframe.
    assert received[:2] == CONFIG
    assert received[2][0] is MediaType.VIDEO
    assert is_video_keyframe(received[2][2])


def _media_while_publishing(
    source: RtmpClient, key: str, log: EventLog, start: int, needed: int = 4
) -> list[Message]:
    """Keep publishing GOPs until ``needed`` messages arrived at ``log`` (bounded)."""
    received: list[Message] = []
    for n in range(start, start + 100):
        send(source, key, gop(n))
        try:
            while len(received) < needed:
                event = log.queue.get(timeout=0.1)
                if isinstance(event, client.AudioVideoDataReceived):
                    received.append((event.data_type, event.timestamp, event.data))
        except queue.Empty:
            continue
        return received
    pytest.fail(f"only {len(received)} messages arrived while publishing")


def test_push_skips_streams_pulled_from_the_same_place() -> None:
    relay = PushRelay.start(["rtmp://127.0.0.1:9/live", "rtmp://127.0.0.1:9/backup"], FAST)
    proxy = relay.proxy()
    origin = LinkTarget.parse("rtmp://127.0.0.1:9/live")
    proxy.stream_pulled("live", "pulled", origin)
    proxy.stream_published("live", "pulled")
    proxy.stream_published("live", "local")
    links = proxy.links().get(timeout=TIMEOUT)
    names = sorted(link_name(ref) for ref in links)
    # The pulled stream goes to the other push URL only; the local one goes to both.
    assert names == [
        "live/local -> rtmp://127.0.0.1:9/backup/local",
        "live/local -> rtmp://127.0.0.1:9/live/local",
        "live/pulled -> rtmp://127.0.0.1:9/backup/pulled",
    ]
    proxy.stream_unpublished("live", "local")
    proxy.stream_unpulled("live", "pulled")
    assert len(proxy.links().get(timeout=TIMEOUT)) == 1


def link_name(ref: pykka.ActorRef[Any]) -> str:
    """``app/key -> upstream URL`` of a push link."""
    name: str = ref.proxy().link_name.get(timeout=TIMEOUT)
    return name.split(" ", 1)[1]


@pytest.mark.peers
def test_push_relay_to_nginx_with_ffmpeg_publishing(h264_aac_flv: Path, tmp_path: Path) -> None:
    with nginx_rtmp(tmp_path / "nginx") as nginx_port:
        servers = Servers()
        try:
            edge = servers.start(push=[f"rtmp://127.0.0.1:{nginx_port}/live"])
            watcher_log = EventLog()
            watcher = RtmpClient.connect(
                f"rtmp://127.0.0.1:{nginx_port}/live/cam",
                event_receiver_factory=watcher_log.receiver_factory(),
            )
            assert watcher_log.wait(client.ConnectionResponseReceived).was_accepted
            watcher.session.tell(ClientSessionActor.request_playback, "cam")
            assert watcher_log.wait(client.PlayResponseReceived).was_accepted
            ffmpeg = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
            result = subprocess.run(
                [*ffmpeg, "-i", str(h264_aac_flv), "-c", "copy", "-f", "flv",
                 f"{base_url(edge)}/cam"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr.decode(errors="replace")
            watcher_log.wait(client.StreamEnded)
            received = [e for e in watcher_log.seen if isinstance(e, client.AudioVideoDataReceived)]
        finally:
            for relay in servers.running:
                relay.stop()
    assert_same_media(h264_aac_flv, [(e.data_type, e.data) for e in received])


def assert_same_media(sample: Path, received: Sequence[tuple[MediaType, bytes]]) -> None:
    """Each type's payloads arrive in order: all of them, or from a keyframe on.

    Audio and video are compared separately: nginx-rtmp sends a stream's codec
    configuration when a player starts, so the two may interleave differently than in
    the file. Configuration messages are compared as sets for the same reason.
    """
    tags = [t for t in read_flv_file(sample) if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]
    for kind, tag_type in ((MediaType.VIDEO, TagType.VIDEO), (MediaType.AUDIO, TagType.AUDIO)):
        sent = [t.data for t in tags if t.tag_type == tag_type]
        got = [data for k, data in received if k is kind]
        sent_frames = [d for d in sent if configuration_key(kind, d) is None]
        got_frames = [d for d in got if configuration_key(kind, d) is None]
        assert {_sha1(d) for d in got if configuration_key(kind, d) is not None} == {
            _sha1(d) for d in sent if configuration_key(kind, d) is not None
        }
        assert got_frames, f"no {kind.value} frames arrived"
        start = len(sent_frames) - len(got_frames)
        assert start >= 0
        assert [_sha1(d) for d in got_frames] == [_sha1(d) for d in sent_frames[start:]]
        if kind is MediaType.VIDEO:
            assert is_video_keyframe(got_frames[0])


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# --- Pull ---------------------------------------------------------------------------------------


def test_pull_fetches_a_wanted_stream_from_the_origin(servers: Servers) -> None:
    origin = servers.start()
    edge = servers.start(pull=[base_url(origin)])
    source_log = EventLog()
    source = publisher(origin, source_log, "cam")
    source.session.tell(ClientSessionActor.publish_metadata, "cam", {"width": 320})
    send(source, "cam", CONFIG + gop(0) + gop(1))

    watcher_log = EventLog()
    watcher = player(edge, watcher_log, "cam")  # wanted: the edge pulls it from the origin
    assert watcher_log.wait(client.StreamMetaDataReceived).meta_data.video_width == 320
    # The origin's late-joiner start (configuration and current GOP), then live.
    assert media(watcher_log, len(CONFIG) + len(gop(1))) == CONFIG + gop(1)
    send(source, "cam", gop(2))
    assert media(watcher_log, len(gop(2))) == gop(2)
    stats = {(s.app, s.key): s for s in edge.stream_stats()}
    assert stats["live", "cam"].publisher is not None
    assert stats["live", "cam"].players == 1

    # The origin's publisher leaves: the edge's players are told and keep waiting.
    source.session.tell(ClientSessionActor.stop_publish, "cam")
    assert watcher_log.wait(client.StreamEnded).stream_key == "cam"
    # It comes back: the same pull carries it again.
    source.session.tell(ClientSessionActor.request_publish, "cam")
    assert source_log.wait(client.PublishResponseReceived).was_accepted
    send(source, "cam", CONFIG + gop(3))
    assert media(watcher_log, len(CONFIG) + len(gop(3))) == CONFIG + gop(3)

    # The last player leaves: after the linger time the pull connection closes.
    watcher.close()
    assert origin.rtmp_server.wait_for_connections(1, TIMEOUT)  # the publisher only
    assert edge.rtmp_server.wait_for_connections(0, TIMEOUT)


def test_pull_reconnects_when_the_origin_restarts(servers: Servers) -> None:
    origin = servers.start()
    port = origin.address[1]
    edge = servers.start(pull=[base_url(origin)])
    watcher_log = EventLog()
    player(edge, watcher_log, "cam")  # the pull link plays the origin and waits
    source = publisher(origin, EventLog(), "cam")
    send(source, "cam", CONFIG + gop(0))
    assert media(watcher_log, len(CONFIG) + len(gop(0))) == CONFIG + gop(0)

    before = edge.stream_stats()[0].publisher  # "pull<link>.<local publish>"
    assert before is not None

    servers.stop(origin)
    assert watcher_log.wait(client.StreamEnded).stream_key == "cam"
    restarted = servers.start(port=port)
    again = publisher(restarted, EventLog(), "cam")
    send(again, "cam", CONFIG + gop(5))
    # The link reconnects (with backoff) and the waiting player gets the new publication.
    assert media(watcher_log, len(CONFIG) + len(gop(5))) == CONFIG + gop(5)
    send(again, "cam", gop(6))
    assert media(watcher_log, len(gop(6))) == gop(6)
    after = edge.stream_stats()[0].publisher
    assert after is not None
    # The same link, publishing here again (not a new link started by the pull relay).
    assert after.split(".")[0] == before.split(".")[0]
    assert after != before


def test_a_local_publisher_wins_over_a_pull(servers: Servers) -> None:
    origin_log = EventLog()
    origin = start_server(origin_log)  # a plain server whose events the test can wait on
    try:
        host, port = origin.address
        edge = servers.start(pull=[f"rtmp://{host}:{port}/live"])
        watcher_log = EventLog()
        player(edge, watcher_log, "cam")
        # The pull link plays "cam" at the origin, where nobody publishes yet.
        assert origin_log.wait(server.PlayStreamRequested).stream_key == "cam"
        local = publisher(edge, EventLog(), "cam")  # the pull had nothing to publish
        send(local, "cam", CONFIG + gop(0))
        assert media(watcher_log, len(CONFIG) + len(gop(0))) == CONFIG + gop(0)
        # The origin's stream starts too: the pull's local publish is refused, and it gives
        # its origin connection up.
        remote_log = EventLog()
        remote = connect(origin, remote_log, "cam")
        remote.session.tell(ClientSessionActor.request_publish, "cam")
        assert remote_log.wait(client.PublishResponseReceived).was_accepted
        send(remote, "cam", CONFIG + gop(1))
        assert origin_log.wait(server.Disconnected) is not None  # the pull link's connection
        send(local, "cam", gop(2))
        assert media(watcher_log, len(gop(2))) == gop(2)  # still the local stream
        assert edge.stream_stats()[0].players == 1
    finally:
        origin.stop()


def test_an_edge_pushes_local_streams_to_its_origin_and_pulls_the_others(
    servers: Servers,
) -> None:
    origin = servers.start()
    edge = servers.start(push=[base_url(origin)], pull=[base_url(origin)])
    # Pulled: published on the origin, played on the edge, not pushed back.
    remote = publisher(origin, EventLog(), "remote")
    send(remote, "remote", CONFIG + gop(0))
    edge_log = EventLog()
    player(edge, edge_log, "remote")
    assert media(edge_log, len(CONFIG) + len(gop(0))) == CONFIG + gop(0)
    send(remote, "remote", gop(1))
    assert media(edge_log, len(gop(1))) == gop(1)
    # Pushed: published on the edge, played on the origin.
    origin_log = EventLog()
    player(origin, origin_log, "local")
    local = publisher(edge, EventLog(), "local")
    send(local, "local", CONFIG + gop(2))
    assert media(origin_log, len(CONFIG) + len(gop(2))) == CONFIG + gop(2)
    # Both go on together (that the pulled stream is not pushed back is checked above, in
    # test_push_skips_streams_pulled_from_the_same_place).
    send(remote, "remote", gop(3))
    assert media(edge_log, len(gop(3))) == gop(3)


# --- The republishing example -------------------------------------------------------------------


def test_republish_proxy_example_copies_a_stream_between_servers(servers: Servers) -> None:
    source_server, destination_server = servers.start(), servers.start()
    watcher_log = EventLog()
    player(destination_server, watcher_log, "copy")
    proxy = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "republish_proxy.py"),
         f"{base_url(source_server)}/original", f"{base_url(destination_server)}/copy"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        # The proxy says when it plays "original" (waiting for it) and publishes "copy".
        assert "copying" in _line_of(proxy)
        source = publisher(source_server, EventLog(), "original")
        source.session.tell(ClientSessionActor.publish_metadata, "original", {"width": 1920})
        first = CONFIG + gop(0)
        send(source, "original", first)
        assert watcher_log.wait(client.StreamMetaDataReceived).meta_data.video_width == 1920
        assert media(watcher_log, len(first)) == first
        send(source, "original", gop(1))
        assert media(watcher_log, len(gop(1))) == gop(1)
        source.session.tell(
            ClientSessionActor.stop_publish, "original"
        )  # the proxy stops when its source ends
        _, stderr = proxy.communicate(timeout=TIMEOUT)
        assert proxy.returncode == 0, stderr
        assert "source stream ended" in stderr
        assert watcher_log.wait(client.StreamEnded).stream_key == "copy"
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.communicate()


def _line_of(process: subprocess.Popen[str]) -> str:
    """The next line the process writes to its standard output (bounded wait)."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=TIMEOUT)
    except queue.Empty:
        pytest.fail("the process printed nothing")
