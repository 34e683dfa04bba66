"""Clusters (issue 10): fan-out on a 2-worker cluster, and the latency one edge hop adds.

Targets:

1. Fan-out (``--part fanout``): one 4 Mbit/s FFmpeg publisher in real time and ``--players``
   (1500) players on ``rtmp-actors serve --workers 2 --cluster redis://...``, all on its
   shared port (the kernel spreads them over the workers; ``SO_REUSEPORT``). Every player
   keeps up, and the cluster's CPU-seconds per GB delivered (parent + workers + redis-server)
   are at most those of nginx-rtmp with ``worker_processes 2`` (``rtmp_auto_push on``) in the
   same run. A single relay process (``rtmp-actors serve``, no cluster) is measured as well,
   for context. Reported per server: CPU-s/GB, peak RSS (VmHWM, summed; every process
   separately too, Redis included), and the players each process served.
2. Latency (``--part latency``): an origin (``rtmp-actors serve --cluster``, 127.0.0.1) and an
   edge (a second node on 127.0.0.2, the same Redis); the publisher publishes on the origin,
   ``--latency-players`` (100) players play on the edge, which pulls the stream from the
   origin once the directory says where it is. Over every frame from the first, the added
   latency publish-to-player has p99 <= 15 ms.

Method: ``fanout.py``'s run, unchanged: its probes (raw sockets timing every frame), its
``rtmpdump --live`` players (counted by the bytes they wrote), its timestamping proxy in
front of FFmpeg, its keep-up judgement (at least 90% of the bytes published from 2 s after
the first media message for 10 s), its CPU time window (FFmpeg's start until the players got
everything) and its report. This script only chooses the servers it runs against (names in
``fanout`` that ``fanout.run`` looks up when it runs are pointed at this script's own for the
duration of a run, see :class:`Seams`):

* ``cluster``: a fresh redis-server (``tests/redis_server.py``) and ``rtmp-actors serve
  --workers 2 --cluster URL``; publishing starts once the workers' directory entries count
  every player. Its processes are the parent, the workers and the redis-server.
* ``single``: ``rtmp-actors serve`` as ``fanout.py`` runs it (players counted by ``/stats``).
* ``nginx``: ``tests/nginx_rtmp.py``'s nginx-rtmp with a master and 2 workers
  (``servers.nginx_workers``), ``rtmp_auto_push on``; players counted as established
  sockets. Debian's dynamic nginx-rtmp module never accepts the auto push between workers,
  so this is nginx 1.22.1 with the same nginx-rtmp 1.2.2 compiled in, built from Debian's
  sources on first use (``build_nginx_static.sh``, about a minute; see
  ``servers.static_nginx``).
* ``edge`` (the latency part): origin and edge as above, with their own redis-server; the
  proxy forwards to the origin, the probes and rtmpdump players go to the edge (whose
  ``/stats`` counts them). Its processes: edge, origin, redis-server.
* ``origin`` and ``nginx-1`` (the latency part, for context): the same players on the origin
  alone (no edge) and on ``tests/nginx_rtmp.py``'s one-process nginx-rtmp. FFmpeg starts
  with a burst of about 300 ms of media at once, and a server delivers it to 100 players
  only as fast as the kernel copies it, so every server's p99 from the first frame is that
  burst's; the edge's p99 minus the origin's is what the hop adds.

Just before publishing, ``ss -tnp`` says which server process holds each player's connection
(players per node). Every relay gets ``max_connections`` = players + 64. The relays log at
WARNING, to this terminal.

Run: ``.venv/bin/python benchmarks/cluster.py`` (needs rtmpdump, nginx-rtmp and redis-server;
``--players 1500 --part both --server all`` by default). Options: ``--players``, ``--probes``
(10), ``--seconds`` (15), ``--latency-players`` (100), ``--server cluster|single|nginx|all``
(the fan-out part's servers), ``--part fanout|latency|both``, ``--details``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import fanout, servers  # noqa: E402
from benchmarks.fanout import APP, STREAM, Figures, RtmpdumpPlayers, report  # noqa: E402
from benchmarks.servers import (  # noqa: E402
    GB,
    RunningServer,
    cpu_times,
    nginx_workers,
    process_tree,
    raise_open_files,
    relay_origin,
    relay_process,
    server_under_test,
    wait_for,
)
from rtmp_actors.cluster.directory import DirectoryError  # noqa: E402
from rtmp_actors.cluster.redis_directory import RedisDirectory  # noqa: E402
from tests.nginx_rtmp import free_port  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

WORKERS = 2
EDGE_HOST = "127.0.0.2"
P99_TARGET = 15.0  # ms, through one edge hop
FANOUT_KINDS = ("cluster", "single", "nginx")
LATENCY_KINDS = ("edge", "origin", "nginx-1")
_USERS = re.compile(r"pid=(\d+)")
_ORIGINAL_CHILD = fanout.child


# --- Processes and sockets -------------------------------------------------------------------


def socket_lines(port: int, states: Sequence[str]) -> list[tuple[str, str, list[int]]]:
    """``(local, peer, owner pids)`` of the TCP sockets with ``port`` at either end."""
    out = subprocess.run(
        ["ss", "-Htnp", *states, f"( sport = :{port} or dport = :{port} )"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    lines = []
    for line in out.splitlines():
        fields = line.split(None, 4)  # with a state filter: Recv-Q Send-Q local peer users
        if len(fields) >= 4:
            users = fields[4] if len(fields) > 4 else ""
            lines.append((fields[2], fields[3], [int(pid) for pid in _USERS.findall(users)]))
    return lines


def listener_pid(port: int) -> int:
    """The process listening on ``port`` (redis-server's, which runs as a grandchild)."""
    for local, _, pids in socket_lines(port, ("state", "listening")):
        if local.endswith(f":{port}") and pids:
            return pids[0]
    msg = f"nothing listens on port {port}"
    raise RuntimeError(msg)


def connections_by_process(port: int) -> dict[int, list[int]]:
    """For each server process, the client processes of its established connections on ``port``.

    Both ends are on this machine: a server side socket (local port ``port``) is matched with
    the client side one (peer port ``port``) by the client's address.
    """
    served: dict[str, int] = {}
    clients: dict[str, int] = {}
    for local, peer, pids in socket_lines(port, ("state", "established")):
        if not pids:
            continue
        if local.rsplit(":", 1)[1] == str(port):
            served[peer] = pids[0]
        elif peer.rsplit(":", 1)[1] == str(port):
            clients[local] = pids[0]
    layout: dict[int, list[int]] = collections.defaultdict(list)
    for address, server in served.items():
        layout[server].append(clients.get(address, 0))  # 0: the client's end was not seen
    return dict(layout)


def free_port_on(host: str) -> int:
    """A TCP port of ``host`` that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def directory_players(url: str) -> dict[str, int]:
    """Players per node (by its advertised address) as the nodes registered them."""
    with RedisDirectory(url) as directory:
        return {node.url: node.players for node in directory.nodes()}


# --- The servers under test ------------------------------------------------------------------


@dataclass
class Watch:
    """Per process figures of one run, taken where ``fanout.run`` takes its totals."""

    pids: list[int] | None = None
    cpu_start: dict[int, float] = field(default_factory=dict)
    cpu_end: dict[int, float] = field(default_factory=dict)
    rss: dict[int, int] = field(default_factory=dict)
    layout: dict[int, list[int]] = field(default_factory=dict)  # see connections_by_process
    directory: dict[str, int] = field(default_factory=dict)  # see directory_players

    def cpu(self, pid: int) -> float:
        return self.cpu_end.get(pid, float("nan")) - self.cpu_start.get(pid, float("nan"))


@dataclass
class Node(RunningServer):
    """A server under test: a :class:`RunningServer` with more processes, watched per process.

    Attributes:
        extra: Processes counted as the server's besides ``pid`` and its descendants.
        roles: A name per process for the report (the others are ``worker``).
        directory: Count players in this cluster directory (else as ``RunningServer`` does).
        watch: What the run measured per process.
    """

    extra: list[int] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)
    directory: str | None = None
    watch: Watch = field(default_factory=Watch)

    def pids(self) -> list[int]:
        """The processes; ``fanout.run`` asks once, just before publishing: noted then."""
        pids = [*process_tree(self.pid), *self.extra]
        watch = self.watch
        watch.pids = pids
        watch.layout = connections_by_process(self.port)
        if self.directory is not None:
            watch.directory = directory_players(self.directory)
        watch.cpu_start = {pid: sum(cpu_times([pid])) for pid in pids}
        return pids

    def players(self) -> int:
        """Players connected, as the server counts them (the workers' directory entries)."""
        if self.directory is None:
            return super().players()
        try:
            return sum(directory_players(self.directory).values())
        except DirectoryError:  # busy: not counted yet
            return 0

    def role(self, pid: int) -> str:
        return self.roles.get(pid, "worker")


def relay_config(workdir: Path, players: int) -> Path:
    """Room for every player and the publisher (the relay refuses past ``max_connections``)."""
    config = workdir / "relay.toml"
    config.write_text(f"[server]\nmax_connections = {players + 64}\n")
    return config


def wait_for_nodes(url: str, count: int) -> None:
    """Wait until ``count`` nodes are registered in the directory."""

    def registered() -> bool:
        try:
            return len(directory_players(url)) >= count
        except DirectoryError:  # not up yet
            return False

    if not wait_for(registered, 30, 0.2):
        msg = f"{count} nodes did not register in the cluster directory {url} in 30 s"
        raise RuntimeError(msg)


class Seams:
    """``fanout.run``, unchanged, pointed at this benchmark's servers.

    For the duration of :meth:`run`, the names ``fanout.run`` looks up are this object's:
    ``server_under_test`` (the servers of this benchmark), ``child`` (the probes and the
    proxy to the addresses of the latency part), ``RtmpdumpPlayers`` (the same, kept for the
    per-process report) and ``peak_rss`` (also notes each process's CPU time and RSS).
    """

    def __init__(self, players: int) -> None:
        self.players = players
        self.node: Node | None = None
        self.rtmpdump: RtmpdumpPlayers | None = None
        self.play_at: tuple[str, int] | None = None  # None: where fanout.run sends them
        self.publish_at: tuple[str, int] | None = None

    def run(self, kind: str, args: argparse.Namespace) -> tuple[Figures, Node, list[int]]:
        """Measure one server (once per object); its figures, the server, the rtmpdump pids."""
        run_args = argparse.Namespace(
            players=self.players, probes=args.probes, seconds=args.seconds, relay_tree=None,
            relay_args="",
        )  # fmt: skip
        tmp = Path(tempfile.mkdtemp(prefix=f"cluster-{kind}-"))
        try:
            with contextlib.ExitStack() as stack:
                for name, value in (
                    ("server_under_test", self.server_under_test),
                    ("child", self.child),
                    ("RtmpdumpPlayers", self.rtmpdump_players),
                    ("peak_rss", self.peak_rss),
                ):
                    stack.enter_context(mock.patch.object(fanout, name, value))
                figures = fanout.run(kind, run_args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        assert self.node is not None
        assert self.rtmpdump is not None
        return figures, self.node, [proc.pid for proc in self.rtmpdump.procs]

    # --- What fanout.run calls ----------------------------------------------------------------

    @contextlib.contextmanager
    def server_under_test(
        self, kind: str, workdir: Path, _tree: Path | None = None, _args: Sequence[str] = ()
    ) -> Iterator[Node]:
        starts: dict[str, Callable[[Path], contextlib.AbstractContextManager[Node]]] = {
            "cluster": self._cluster,
            "single": self._single,
            "nginx": self._nginx,
            "edge": self._edge_hop,
            "origin": self._origin_alone,
            "nginx-1": self._nginx_one_worker,
        }
        with starts[kind](workdir) as node:
            self.node = node
            yield node

    def child(self, target: Callable[..., None], *args: object) -> Any:
        address = {fanout.probe_main: self.play_at, fanout.proxy_main: self.publish_at}.get(target)
        return _ORIGINAL_CHILD(target, *((address,) if address else args))

    def rtmpdump_players(self, url: str) -> RtmpdumpPlayers:
        if self.play_at is not None:
            host, port = self.play_at
            url = f"rtmp://{host}:{port}/{APP}/{STREAM}"
        self.rtmpdump = RtmpdumpPlayers(url)
        return self.rtmpdump

    def peak_rss(self, pids: Sequence[int]) -> int:
        watch = self.node.watch if self.node is not None else None
        if watch is not None and pids is watch.pids:  # fanout.run's end of the CPU window
            watch.cpu_end = {pid: sum(cpu_times([pid])) for pid in pids}
            watch.rss = {pid: servers.peak_rss([pid]) for pid in pids}
        return servers.peak_rss(pids)

    # --- The servers --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _cluster(self, workdir: Path) -> Iterator[Node]:
        config = relay_config(workdir, self.players)
        with RedisServer.running(workdir / "redis") as redis:
            port = free_port()
            args = [
                "--port", str(port), "--workers", str(WORKERS), "--cluster", redis.url,
                "--config", str(config), "--log-level", "WARNING",
            ]  # fmt: skip
            with relay_process(args, port) as relay:
                wait_for_nodes(redis.url, WORKERS)
                redis_pid = listener_pid(redis.port)
                description = (
                    f"rtmp-actors serve --workers {WORKERS} --cluster (redis-server; "
                    f"{relay_origin(None)})"
                )
                roles = {relay.pid: "parent", redis_pid: "redis-server"}
                yield Node(
                    "cluster", description, port, relay.pid, None, [redis_pid], roles, redis.url
                )

    @contextlib.contextmanager
    def _single(self, workdir: Path) -> Iterator[Node]:
        config = relay_config(workdir, self.players)
        with server_under_test("relay", workdir, None, ["--config", str(config)]) as server:
            yield Node(**vars(server), roles={server.pid: "relay"})

    @contextlib.contextmanager
    def _nginx(self, workdir: Path) -> Iterator[Node]:
        with nginx_workers(workdir / "nginx", WORKERS) as server:
            yield Node(**vars(server), roles={server.pid: "master"})

    @contextlib.contextmanager
    def _nginx_one_worker(self, workdir: Path) -> Iterator[Node]:
        with server_under_test("nginx", workdir) as server:
            yield Node(**vars(server), roles={server.pid: "nginx"})

    @contextlib.contextmanager
    def _origin_alone(self, workdir: Path) -> Iterator[Node]:
        # The edge part's origin, on its own: its players play where the publisher publishes.
        config = relay_config(workdir, self.players)
        common = ["--config", str(config), "--log-level", "WARNING"]
        with RedisServer.running(workdir / "redis") as redis:
            port, http_port = free_port(), free_port()
            args = ["--port", str(port), "--http", str(http_port), "--cluster", redis.url, *common]
            with relay_process(args, port) as origin:
                wait_for_nodes(redis.url, 1)
                redis_pid = listener_pid(redis.port)
                description = (
                    f"publisher -> origin rtmp://127.0.0.1:{port} -> players (rtmp-actors serve "
                    f"--cluster, redis-server, no edge; {relay_origin(None)})"
                )
                roles = {origin.pid: "origin", redis_pid: "redis-server"}
                yield Node("origin", description, port, origin.pid, http_port, [redis_pid], roles)

    @contextlib.contextmanager
    def _edge_hop(self, workdir: Path) -> Iterator[Node]:
        config = relay_config(workdir, self.players)
        common = ["--config", str(config), "--log-level", "WARNING"]
        with RedisServer.running(workdir / "redis") as redis:
            cluster = ["--cluster", redis.url, *common]
            origin_port, edge_port, http_port = free_port(), free_port_on(EDGE_HOST), free_port()
            edge_args = ["--host", EDGE_HOST, "--port", str(edge_port), "--http", str(http_port)]
            with (
                relay_process(["--port", str(origin_port), *cluster], origin_port) as origin,
                relay_process([*edge_args, *cluster], edge_port, host=EDGE_HOST) as edge,
            ):
                wait_for_nodes(redis.url, 2)
                redis_pid = listener_pid(redis.port)
                self.play_at = (EDGE_HOST, edge_port)
                self.publish_at = ("127.0.0.1", origin_port)
                description = (
                    f"publisher -> origin rtmp://127.0.0.1:{origin_port} -> edge "
                    f"rtmp://{EDGE_HOST}:{edge_port} -> players (rtmp-actors serve --cluster, "
                    f"redis-server; {relay_origin(None)})"
                )
                roles = {edge.pid: "edge", origin.pid: "origin", redis_pid: "redis-server"}
                yield Node(
                    "edge", description, edge_port, edge.pid, http_port,
                    [origin.pid, redis_pid], roles,
                )  # fmt: skip


# --- Report ----------------------------------------------------------------------------------


def report_processes(figures: Figures, node: Node, rtmpdump: list[int]) -> None:
    """Each process's share: CPU time, peak RSS, the players it held just before publishing."""
    watch = node.watch
    ratios = figures.ratios[figures.probes :]  # in the order the rtmpdump players started
    kept = {pid: ratio >= fanout.KEEP_UP for pid, ratio in zip(rtmpdump, ratios, strict=False)}
    gigabytes = max(figures.delivered / GB, 1e-9)
    print("  per process (CPU over the same window; players = connections held before publishing):")
    for pid in watch.pids or ():
        clients = watch.layout.get(pid, [])
        dumps = [client for client in clients if client in kept]
        line = (
            f"    {node.role(pid)} {pid}: {watch.cpu(pid):.2f} CPU-s "
            f"({watch.cpu(pid) / gigabytes:.2f} per GB delivered in all), "
            f"peak RSS {watch.rss.get(pid, 0) / 2**20:.1f} MiB"
        )
        if clients:
            line += (
                f", {len(clients)} players ({len(clients) - len(dumps)} probes; "
                f"rtmpdump kept up {sum(kept[c] for c in dumps)}/{len(dumps)})"
            )
        print(line)
    if watch.directory:
        listed = ", ".join(f"{url} {players}" for url, players in sorted(watch.directory.items()))
        print(f"  players per node in the cluster directory before publishing: {listed}")


def verdicts(
    fan: dict[str, Figures], players: int, hop: dict[str, Figures], parts: Sequence[str]
) -> None:
    """One line per target: met or MISSED (NOT MEASURED when its run failed or was not asked)."""
    print("verdicts:")
    if "fanout" in parts:
        cluster, nginx = fan.get("cluster"), fan.get("nginx")
        if cluster is None:
            print(f"  NOT MEASURED: cluster fan-out to {players} players (no cluster run)")
        else:
            ok = cluster.kept_up == players == len(cluster.ratios)
            print(
                f"  {'met' if ok else 'MISSED'}: every player keeps up on the {WORKERS}-worker "
                f"cluster ({cluster.kept_up}/{players})"
            )
        if cluster is None or nginx is None:
            print(f"  NOT MEASURED: cluster CPU-s/GB <= nginx-rtmp ({WORKERS} workers)'s")
        else:
            ok = cluster.cpu_per_gb <= nginx.cpu_per_gb
            short = (
                ""
                if nginx.kept_up == len(nginx.ratios)
                else f" (nginx-rtmp's over what it delivered: {nginx.kept_up}/"
                f"{len(nginx.ratios)} of its players kept up)"
            )
            print(
                f"  {'met' if ok else 'MISSED'}: cluster {cluster.cpu_per_gb:.2f} CPU-s/GB <= "
                f"nginx-rtmp ({WORKERS} workers) {nginx.cpu_per_gb:.2f} CPU-s/GB{short}"
            )
        for kind, figures in fan.items():
            print(
                f"  context: {kind}: {figures.kept_up}/{len(figures.ratios)} kept up, "
                f"{figures.cpu_per_gb:.2f} CPU-s/GB, peak RSS {figures.rss / 2**20:.1f} MiB "
                f"({figures.processes} processes)"
            )
    if "latency" in parts:
        edge = hop.get("edge")
        if edge is None:
            print(f"  NOT MEASURED: edge hop p99 <= {P99_TARGET:.0f} ms")
            return
        p50, p99, peak = edge.latency()
        over = sum(ms > P99_TARGET for ms in edge.latencies)
        print(
            f"  {'met' if p99 <= P99_TARGET else 'MISSED'}: publish-to-player latency through one "
            f"edge hop, {edge.players} players, every frame from the first: p99 {p99:.2f} ms "
            f"<= {P99_TARGET:.0f} ms (p50 {p50:.2f} ms, max {peak:.1f} ms; {over} of "
            f"{len(edge.latencies)} frame arrivals over {P99_TARGET:.0f} ms)"
        )
        origin = hop.get("origin")
        if origin is None:
            print(
                "  NOT MEASURED: what the hop adds (p99 via the edge - p99 direct) "
                f"<= {P99_TARGET:.0f} ms"
            )
        else:
            d50, d99, _ = origin.latency()
            added = p99 - d99
            print(
                f"  {'met' if added <= P99_TARGET else 'MISSED'}: what the hop adds, p99 via the "
                f"edge - p99 of the same {origin.players} players on the origin directly: "
                f"{p99:.2f} - {d99:.2f} = {added:.2f} ms <= {P99_TARGET:.0f} ms "
                f"(p50 {p50:.2f} - {d50:.2f} = {p50 - d50:.2f} ms)"
            )
        for kind, figures in hop.items():
            a50, a99, amax = figures.latency()
            s50, s99, smax = figures.latency("steady")
            print(
                f"  context: {kind}: p50/p99/max {a50:.2f}/{a99:.2f}/{amax:.1f} ms from the first "
                f"frame, {s50:.2f}/{s99:.2f}/{smax:.1f} ms after the first 1 s"
            )


def measure(seams: Seams, kind: str, args: argparse.Namespace) -> Figures | None:
    """One run and its report; None if it failed (said so)."""
    try:
        figures, node, rtmpdump = seams.run(kind, args)
    except RuntimeError as error:
        print(f"{kind}: run failed: {error}", flush=True)
        return None
    report(figures, args.details)
    report_processes(figures, node, rtmpdump)
    return figures


def main() -> None:
    """Run the cluster benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1500, help="fan-out players, probes too")
    parser.add_argument("--probes", type=int, default=10, help="players timing every frame")
    parser.add_argument("--seconds", type=int, default=15, help="length of the published FLV")
    parser.add_argument("--latency-players", type=int, default=100, help="players on the edge")
    parser.add_argument("--server", choices=(*FANOUT_KINDS, "all"), default="all")
    parser.add_argument("--part", choices=("fanout", "latency", "both"), default="both")
    parser.add_argument("--details", action="store_true", help="list the first and slowest frames")
    args = parser.parse_args()
    if not 1 <= args.probes <= min(args.players, args.latency_players):
        parser.error("--probes must be between 1 and --players (and --latency-players)")
    if args.seconds < fanout.WINDOW_START + fanout.WINDOW + 1:
        parser.error(f"--seconds must be at least {fanout.WINDOW_START + fanout.WINDOW + 1:.0f}")
    if shutil.which("rtmpdump") is None:
        parser.error("rtmpdump is not installed (scripts/install-peers.sh)")
    signal.signal(signal.SIGTERM, fanout._interrupted)  # fanout.py's: the same unwinding
    signal.signal(signal.SIGINT, fanout._interrupted)
    parts = ("fanout", "latency") if args.part == "both" else (args.part,)
    # A server process holds a socket per player (a worker may get them all), the probes one each.
    raise_open_files(2 * max(args.players, args.latency_players) + 256)
    fan: dict[str, Figures] = {}
    hop: dict[str, Figures] = {}
    try:
        if "fanout" in parts:
            for kind in FANOUT_KINDS if args.server == "all" else (args.server,):
                figures = measure(Seams(args.players), kind, args)
                if figures is not None:
                    fan[kind] = figures
        if "latency" in parts:
            # The edge, then for context the same players on the origin alone and on
            # nginx-rtmp: FFmpeg's start-up burst costs every server its fan-out time.
            for kind in LATENCY_KINDS:
                figures = measure(Seams(args.latency_players), kind, args)
                if figures is not None:
                    hop[kind] = figures
    except KeyboardInterrupt:
        print("interrupted; everything the run started has been ended")
        raise SystemExit(130) from None
    verdicts(fan, args.players, hop, parts)


if __name__ == "__main__":
    main()
