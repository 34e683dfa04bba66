"""Relays in a cluster, as separate ``rtmp-actors serve`` processes over a real Redis.

Three nodes listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (the loopback network); FFmpeg
publishes on one, FFmpeg and rtmpdump play on the others. What the players receive is
compared with what was published, packet by packet. The fault cases kill an origin, restart
Redis, publish a key twice on two nodes, and plant garbage in the directory.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.cluster.directory import StreamClaim
from rtmp_actors.cluster.directory_url import open_directory
from tests.conftest import make_sample_flv
from tests.nginx_rtmp import free_port
from tests.peers import debian_tool, ffmpeg_exe, poll_until, run_ffmpeg, stop_process
from tests.redis_server import RedisServer
from tests.relay.test_relay_interop import Packets, packets, reference
from tests.relay.test_supervision import publish as publish_live
from tests.tools.test_serve import REPO, Lines, running, workers_running

TIMEOUT = 60
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
LISTENING = re.compile(r"relay listening on rtmp://[\d.]+:(\d+)/")


@dataclass
class Node:
    """One ``rtmp-actors serve`` process of the cluster."""

    host: str
    process: subprocess.Popen[str]
    stderr: Lines
    port: int

    def url(self, key: str) -> str:
        return f"rtmp://{self.host}:{self.port}/live/{key}"

    def wait_for_log(self, text: str, timeout: float = TIMEOUT) -> str:
        return self.stderr.wait_for(lambda line: text in line, timeout)


class Cluster:
    """Starts nodes on one Redis; stops them all at the end."""

    def __init__(self, redis: RedisServer) -> None:
        self.redis = redis
        self.nodes: list[Node] = []
        self._processes = contextlib.ExitStack()  # each node killed at the end if still there

    def start(self, host: str, *args: str, join: bool = True) -> Node:
        """A node on ``host``; with ``join=False`` a plain relay, outside the directory."""
        cluster = ["--cluster", self.redis.url] if join else []
        command = [
            sys.executable, "-m", "rtmp_actors", "serve", "--host", host, "--port", "0",
            *cluster, "--log-level", "DEBUG", *args,
        ]  # fmt: skip
        started = self._processes.enter_context(running(command, LISTENING))
        node = Node(host, started.process, started.stderr, started.port)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                stop_process(node.process, 20)
        self._processes.close()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer.running(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def cluster(redis: RedisServer) -> Iterator[Cluster]:
    nodes = Cluster(redis)
    yield nodes
    nodes.stop()


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            stop_process(process, 10)


@pytest.fixture(scope="module")
def eight_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight seconds of H.264 (a keyframe a second) and AAC."""
    return make_sample_flv(tmp_path_factory.mktemp("cluster"), "h264_aac", seconds=8.0)


def play_rtmpdump(url: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [debian_tool("rtmpdump"), "-q", "--live", "-r", url, "-o", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def play_ffmpeg(url: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-i", url, "-c", "copy", "-f", "flv", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def keeps_growing(path: Path, what: str, by: int = 20_000) -> None:
    start = size(path)
    poll_until(lambda: size(path) > start + by, TIMEOUT, what)


def finish(process: subprocess.Popen[bytes], what: str) -> None:
    try:
        process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{what} did not stop when the publisher left")


def assert_a_run_of(received: Packets, expected: Packets, what: str) -> None:
    """``received`` is the codec configuration, then every packet from some point on, in order.

    A player of an edge joins the origin's stream when the edge starts pulling it: it gets
    the sequence headers and the current GOP, then everything, to the end. A player that
    remuxes (FFmpeg) starts its timestamps at 0, so they may all be shifted by one amount.
    """
    assert len(received) >= len(expected) // 2, f"{what}: only {len(received)} packets"
    headers = [p for p in expected if p[1] == 0][:2]  # AVC and AAC configuration at 0 ms
    assert [(t, h) for t, _, h in received[: len(headers)]] == [(t, h) for t, _, h in headers]
    rest = received[len(headers) :]
    payloads = [(t, h) for t, _, h in expected]
    start = payloads.index((rest[0][0], rest[0][2]))
    assert [(t, h) for t, _, h in rest] == payloads[start:], (
        f"{what}: a packet missing from {start}"
    )
    shifts = {got[1] - want[1] for got, want in zip(rest, expected[start:], strict=True)}
    assert len(shifts) == 1, f"{what}: timestamps not shifted by one amount: {sorted(shifts)[:5]}"


def directory_claim(redis: RedisServer, key: str) -> StreamClaim | None:
    directory = open_directory(redis.url)
    try:
        return directory.lookup("live", key)
    finally:
        directory.close()


# --- Edges on demand --------------------------------------------------------------------------


@pytest.mark.peers
def test_players_on_two_edges_get_every_frame_published_on_the_origin(
    cluster: Cluster, eight_seconds: Path, tmp_path: Path
) -> None:
    origin, edge, far_edge = (cluster.start(host) for host in HOSTS)
    ffmpeg_player = play_ffmpeg(edge.url("show"), tmp_path / "ffmpeg.flv")
    rtmpdump_player = play_rtmpdump(far_edge.url("show"), tmp_path / "rtmpdump.flv")
    edge.wait_for_log("connection s")  # the players are there (or about to ask to play)
    far_edge.wait_for_log("connection s")
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-i", str(eight_seconds), "-c", "copy", "-f", "flv", origin.url("show")],
        check=True, timeout=TIMEOUT,
    )  # fmt: skip
    edge.wait_for_log("pulling it from there")
    finish(ffmpeg_player, "the FFmpeg player")
    finish(rtmpdump_player, "the rtmpdump player")
    expected = packets(reference(eight_seconds, tmp_path))
    assert_a_run_of(packets(tmp_path / "ffmpeg.flv"), expected, "FFmpeg on an edge")
    expected_librtmp = packets(reference(eight_seconds, tmp_path), librtmp=True)
    received = packets(tmp_path / "rtmpdump.flv", librtmp=True)
    assert_a_run_of(received, expected_librtmp, "rtmpdump on another edge")


@pytest.mark.peers
def test_a_chain_origin_edge_and_a_relay_pulling_from_the_edge(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin, edge = cluster.start(HOSTS[0]), cluster.start(HOSTS[1])
    # A third tier outside the directory: a relay that pulls whatever it is asked from the edge.
    third = cluster.start(HOSTS[2], "--pull", f"rtmp://{edge.host}:{edge.port}/live", join=False)
    peers.append(publish_live(origin.url("tiers")))
    player = play_rtmpdump(third.url("tiers"), tmp_path / "third.flv")
    peers.append(player)
    keeps_growing(tmp_path / "third.flv", "a player two hops from the origin plays")
    edge.wait_for_log("pulling it from there")


@pytest.mark.peers
def test_an_edge_pulls_from_another_edge_when_the_origin_is_busy(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin, edge = cluster.start(HOSTS[0]), cluster.start(HOSTS[1])
    peers.append(publish_live(origin.url("chain")))
    outs = [tmp_path / f"origin{i}.flv" for i in range(2)]
    peers.extend(play_rtmpdump(origin.url("chain"), out) for out in outs)
    peers.append(play_rtmpdump(edge.url("chain"), tmp_path / "edge.flv"))
    for out in [*outs, tmp_path / "edge.flv"]:
        keeps_growing(out, f"{out.name} plays")

    def origin_players() -> int:
        with cluster.redis.directory() as directory:
            return next(
                (n.players for n in directory.nodes() if n.url.endswith(f":{origin.port}")), 0
            )

    poll_until(
        lambda: origin_players() >= 3, 10, "the origin registered its players"
    )  # 2 + the edge
    # A third node that pulls from an edge once the origin has 2 players: the chain A -> B -> C.
    third = cluster.start(HOSTS[2], "--chain-after", "2")
    peers.append(play_rtmpdump(third.url("chain"), tmp_path / "third.flv"))
    line = third.wait_for_log("is published on")
    assert f"rtmp://{edge.host}:{edge.port}" in line, line
    keeps_growing(tmp_path / "third.flv", "a player two hops from the origin plays")


@pytest.mark.peers
def test_a_stream_is_recorded_only_by_its_origin(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin_dir, edge_dir = tmp_path / "origin", tmp_path / "edge"
    origin = cluster.start(HOSTS[0], "--record", str(origin_dir))
    edge = cluster.start(HOSTS[1], "--record", str(edge_dir))
    peers.append(publish_live(origin.url("rec")))
    player = play_rtmpdump(edge.url("rec"), tmp_path / "player.flv")
    peers.append(player)
    keeps_growing(tmp_path / "player.flv", "the edge plays")
    assert list(origin_dir.glob("live/rec-*.flv")), "the origin records"
    assert not list(edge_dir.rglob("*.flv")), "the edge records nothing: its origin does"


def http_port(node: Node) -> int:
    """The ``--http`` port ``node`` logged at start."""
    found = [re.search(r"http://127\.0\.0\.1:(\d+)/stats", line) for line in node.stderr.seen]
    [match] = [m for m in found if m is not None]
    return int(match[1])


def stats_of(node: Node) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(node)}/stats", timeout=10) as reply:
        document: dict[str, Any] = json.load(reply)
    return document


@pytest.mark.peers
def test_a_stream_is_pushed_only_by_its_origin(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # Two plain relays outside the cluster: the origin pushes to one, the edge to the other.
    origin_target = cluster.start(HOSTS[2], "--http", "0", join=False)
    edge_target = cluster.start(HOSTS[2], "--http", "0", join=False)
    origin = cluster.start(HOSTS[0], "--push", f"rtmp://{HOSTS[2]}:{origin_target.port}/live")
    edge = cluster.start(HOSTS[1], "--push", f"rtmp://{HOSTS[2]}:{edge_target.port}/live")
    peers.append(publish_live(origin.url("pushed")))
    peers.append(play_rtmpdump(edge.url("pushed"), tmp_path / "edge.flv"))
    peers.append(play_rtmpdump(origin_target.url("pushed"), tmp_path / "pushed.flv"))
    keeps_growing(tmp_path / "edge.flv", "the edge plays")
    keeps_growing(tmp_path / "pushed.flv", "the origin's push target plays")
    # The edge has had the stream for as long as it took both players to grow: a push it
    # started would have published by now.
    keeps_growing(tmp_path / "edge.flv", "the edge still plays", by=100_000)
    [stream] = stats_of(origin_target)["streams"]
    assert stream["key"] == "pushed"
    assert stats_of(edge_target)["streams"] == [], "the edge pushes nothing: its origin does"


@pytest.mark.peers
def test_stats_show_the_node_its_peers_and_each_streams_origin(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin = cluster.start(HOSTS[0])
    edge = cluster.start(HOSTS[1], "--http", "0")
    peers.append(publish_live(origin.url("seen")))
    peers.append(play_rtmpdump(edge.url("seen"), tmp_path / "player.flv"))
    keeps_growing(tmp_path / "player.flv", "the edge plays")
    poll_until(lambda: len(stats_of(edge)["cluster"]["nodes"]) == 2, 10, "both nodes registered")
    document = stats_of(edge)
    origin_url = f"rtmp://{origin.host}:{origin.port}"
    assert document["cluster"]["advertise"] == f"rtmp://{edge.host}:{edge.port}"
    assert {n["url"] for n in document["cluster"]["nodes"]} == {
        origin_url,
        document["cluster"]["advertise"],
    }
    [stream] = document["streams"]
    assert (stream["key"], stream["origin"]) == ("seen", origin_url)
    with urllib.request.urlopen(
        f"http://127.0.0.1:{http_port(edge)}/metrics", timeout=10
    ) as response:
        metrics = response.read().decode()
    assert "rtmp_actors_cluster_nodes 2" in metrics
    assert "rtmp_actors_cluster_directory_up 1" in metrics


@pytest.mark.peers
def test_a_second_publisher_on_another_node_is_refused(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]]
) -> None:
    first, second = cluster.start(HOSTS[0]), cluster.start(HOSTS[1])
    peers.append(publish_live(first.url("cam")))
    poll_until(
        lambda: directory_claim(cluster.redis, "cam") is not None, TIMEOUT, "the key claimed"
    )
    refused = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "info", "-nostdin", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "5",
         "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", second.url("cam")],
        capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    line = second.wait_for_log("refusing publisher")
    assert f"rtmp://{first.host}:{first.port}" in line
    claim = directory_claim(cluster.redis, "cam")
    assert claim is not None
    assert claim.url == f"rtmp://{first.host}:{first.port}"


# --- Faults -----------------------------------------------------------------------------------


@pytest.mark.peers
def test_players_on_an_edge_outlive_a_killed_origin_and_resume_from_the_new_one(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin, edge, other = (cluster.start(host) for host in HOSTS)
    player = play_rtmpdump(edge.url("live"), tmp_path / "player.flv")
    peers.append(player)
    publisher = publish_live(origin.url("live"))
    peers.append(publisher)
    keeps_growing(tmp_path / "player.flv", "the edge plays the origin's stream")

    origin.process.send_signal(signal.SIGKILL)
    origin.process.wait(TIMEOUT)
    publisher.wait(TIMEOUT)  # its server is gone
    poll_until(
        lambda: directory_claim(cluster.redis, "live") is None, TIMEOUT, "the dead claim expired"
    )
    assert player.poll() is None, "the player is still connected, waiting"

    peers.append(publish_live(other.url("live")))  # the encoder reconnects to another node
    keeps_growing(tmp_path / "player.flv", "the player resumes without reconnecting")
    assert player.poll() is None


@pytest.mark.peers
def test_streams_keep_flowing_through_a_redis_restart_and_claims_come_back(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    origin, edge = cluster.start(HOSTS[0]), cluster.start(HOSTS[1])
    peers.append(publish_live(origin.url("live")))
    player = play_rtmpdump(edge.url("live"), tmp_path / "player.flv")
    peers.append(player)
    keeps_growing(tmp_path / "player.flv", "the edge plays")

    cluster.redis.restart()  # empty again: no claims, no nodes
    keeps_growing(tmp_path / "player.flv", "the stream flows through the restart")
    poll_until(
        lambda: directory_claim(cluster.redis, "live") is not None,
        10,
        "the origin claimed its stream again",
    )
    claim = directory_claim(cluster.redis, "live")
    assert claim is not None
    assert claim.url == f"rtmp://{origin.host}:{origin.port}"
    keeps_growing(tmp_path / "player.flv", "and still flows")


@pytest.mark.peers
def test_garbage_in_the_directory_keeps_players_waiting_and_crashes_nothing(
    cluster: Cluster, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    dead_port = free_port()
    plant: Callable[[str, str, float], None] = cluster.redis.plant_claim
    plant(
        "live/dead",
        json.dumps({"v": 1, "node": "ghost", "url": f"rtmp://127.0.0.1:{dead_port}"}),
        3.0,
    )
    plant("live/junk", "\x00not json at all\xff", 3.0)
    origin, edge = cluster.start(HOSTS[0]), cluster.start(HOSTS[1])
    dead_player = play_rtmpdump(edge.url("dead"), tmp_path / "dead.flv")
    junk_player = play_rtmpdump(edge.url("junk"), tmp_path / "junk.flv")
    peers += [dead_player, junk_player]
    edge.wait_for_log("live/dead is published on")  # it believes the planted claim, tries
    edge.wait_for_log(f"127.0.0.1:{dead_port}")  # and says why it cannot pull

    # Once the planted claim has expired, real publishers claim both keys; players resume.
    poll_until(
        lambda: directory_claim(cluster.redis, "dead") is None, TIMEOUT, "the planted claim expired"
    )
    peers.append(publish_live(origin.url("dead")))
    peers.append(publish_live(origin.url("junk")))
    keeps_growing(tmp_path / "dead.flv", "the player of the dead address resumes")
    keeps_growing(tmp_path / "junk.flv", "the player of the garbage entry resumes")
    assert dead_player.poll() is None
    assert junk_player.poll() is None
    for node in (origin, edge):
        assert node.process.poll() is None
        assert not [line for line in node.stderr.seen if "Traceback" in line]


def test_an_unreachable_directory_is_a_clear_error_naming_it() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "rtmp_actors", "serve", "--port", "0", "--cluster", url],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert url in result.stderr
    assert "Traceback" not in result.stderr


# --- Workers ------------------------------------------------------------------------------------


@pytest.mark.peers
def test_workers_share_a_port_and_every_player_gets_the_stream(
    redis: RedisServer, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    with workers_running("--cluster", redis.url) as (_, stderr):
        ports = set()
        for _ in range(2):  # each worker says it listens, on the shared port
            match = LISTENING.search(
                stderr.wait_for(lambda line: LISTENING.search(line) is not None)
            )
            assert match is not None
            ports.add(int(match[1]))
        [port] = ports
        url = f"rtmp://127.0.0.1:{port}/live/shared"
        peers.append(publish_live(url))
        outs = [tmp_path / f"player{i}.flv" for i in range(6)]
        peers.extend(play_rtmpdump(url, out) for out in outs)
        for out in outs:  # whichever worker each reached, it plays
            keeps_growing(out, f"{out.name} plays")
        assert len(redis.node_ids()) == 2


SHARED_HTTP = re.compile(r"the workers share --http [\d.]+:(\d+)")
SERVER_PORT = re.compile(r"RTMP server listening on [\d.]+:(\d+)")
HLS_FOLDER = re.compile(r"HLS for live/web in (\S+)")


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.peers
def test_workers_share_the_http_port_and_one_hls_folder(
    redis: RedisServer, peers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    with workers_running("--cluster", redis.url, "--http", "0", "--hls") as (_, stderr):
        found = SHARED_HTTP.search(stderr.wait_for(lambda line: "--http" in line))
        assert found is not None
        http = int(found[1])
        ports = []
        for _ in range(4):  # each worker: the shared port, and its own for the cluster
            line = stderr.wait_for(lambda line: SERVER_PORT.search(line) is not None)
            ports.append(int(SERVER_PORT.search(line)[1]))  # type: ignore[index]
        [shared] = {port for port in ports if ports.count(port) == 2}
        own_ports = [port for port in ports if port != shared]
        peers.append(publish_live(f"rtmp://127.0.0.1:{shared}/live/web"))
        # A player on each worker's own port: the worker without the publisher pulls it.
        outs = [tmp_path / f"player{port}.flv" for port in own_ports]
        for port, out in zip(own_ports, outs, strict=True):
            peers.append(play_rtmpdump(f"rtmp://127.0.0.1:{port}/live/web", out))
        for out in outs:
            keeps_growing(out, f"{out.name} plays")
        line = stderr.wait_for(lambda line: HLS_FOLDER.search(line) is not None)
        folder = Path(HLS_FOLDER.search(line)[1])  # type: ignore[index]

        def playlist_listed() -> bool:
            return http_get(http, "/hls/live/web/index.m3u8")[1].count(b".ts") >= 2

        poll_until(playlist_listed, TIMEOUT, "segments listed")
        # Requests reach either worker: each serves the one folder.
        for _ in range(12):
            status, body = http_get(http, "/hls/live/web/index.m3u8")
            assert status == 200
            assert b"#EXTINF" in body
        run_ffmpeg("-i", f"http://127.0.0.1:{http}/hls/live/web/index.m3u8",
                   "-frames:v", "50", "-f", "null", "-")  # fmt: skip
        # Each worker names its connections (and its pull links) apart from the other's.
        for _ in range(6):
            [stream] = json.loads(http_get(http, "/stats")[1])["streams"]
            assert re.fullmatch(r"w[12]\.(s\d+|pull\d+\.\d+)", stream["publisher"])
        for _ in range(4):  # HTTP-FLV on whichever worker: the stream is there or pulled
            run_ffmpeg("-i", f"http://127.0.0.1:{http}/live/web.flv",
                       "-frames:v", "25", "-f", "null", "-")  # fmt: skip
        assert len(redis.node_ids()) == 2
    lines = stderr.rest()
    # Only the worker the stream is published on wrote it; the other one only played it.
    assert len([line for line in lines if HLS_FOLDER.search(line)]) == 1
    assert any("pulling it from there" in line for line in lines)
    assert not folder.parent.parent.exists(), "the parent deletes the shared HLS folder"
