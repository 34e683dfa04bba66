"""Live fan-out: one 4 Mbit/s FFmpeg publisher (real time), N rtmpdump players.

Targets (issue 4): at N = 500 every player keeps up (at least 90% of the media bitrate over
the run) and the server spends at most 1.5 CPU-seconds per GB delivered; at N = 100 the added
publish-to-player latency has a p99 under 20 ms. The same run against nginx-rtmp gives the
figures to compare with (``--server nginx``).

Method:
* The server under test runs as its own process (``relay``: ``rtmp-actors serve``;
  ``nginx``: nginx-rtmp), so the benchmark's own threads are not counted; its CPU time is read
  from ``/proc`` over the publishing window.
* N rtmpdump players start first and wait (``--live``), writing to files in a tmpfs folder;
  a player keeps up if its file grew by at least 90% of the published media bytes.
* FFmpeg publishes through a timestamping proxy in this process, which decodes the chunk
  stream and notes when each media message reached the server; a probe player (our own
  decoder on a raw socket) notes when each arrives. Their difference is the added latency.

Run: ``.venv/bin/python benchmarks/fanout.py --players 100 --seconds 15``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtmp_actors.protocol.chunk_decoder import ChunkDecoder  # noqa: E402
from rtmp_actors.protocol.commands import CreateStream, Play  # noqa: E402
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection  # noqa: E402
from rtmp_actors.protocol.messages import (  # noqa: E402
    AudioData,
    CommandMessage,
    DetailedMessage,
    VideoData,
)
from tests.nginx_rtmp import nginx_rtmp  # noqa: E402
from tests.peers import ffmpeg_exe, run_ffmpeg  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
HANDSHAKE = 1 + 1536 + 1536
WARM_UP = 1.0  # seconds of publishing not judged for latency


def source(seconds: int) -> Path:
    """A 4 Mbit/s H.264 + AAC FLV (as in chunk_codec.py)."""
    path = CACHE / f"fanout_h264_aac_4mbit_{seconds}s.flv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=30:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
            "-b:v", "3872k", "-maxrate", "3872k", "-bufsize", "2000k",
            "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path),
            timeout=600,
        )  # fmt: skip
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def key_of(payload: bytes, timestamp: int) -> tuple[int, str]:
    return timestamp, hashlib.sha1(payload).hexdigest()[:16]


class TimestampingProxy:
    """Relays one publisher to the server, noting when each media message got through."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream = upstream
        self.sent_at: dict[tuple[int, str], float] = {}
        self.sizes: dict[tuple[int, str], int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(self.upstream)
        for sock in (client, server):  # Nagle would hold small messages back
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = ChunkDecoder()
        handshake_left = HANDSHAKE
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        open_sides = 2
        while open_sides:
            for key, _ in selector.select(30):
                source_sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = source_sock.recv(262144)
                except ConnectionResetError:  # a server that resets instead of closing
                    data = b""
                if not data:
                    selector.unregister(source_sock)
                    open_sides -= 1
                    continue
                key.data.sendall(data)
                if source_sock is client:
                    now = time.perf_counter()
                    skip = min(handshake_left, len(data))
                    handshake_left -= skip
                    for message in decoder.receive_data(data[skip:]):
                        if message.type_id in (8, 9):
                            media_key = key_of(message.payload, message.timestamp)
                            self.sent_at[media_key] = now
                            self.sizes[media_key] = len(message.payload)
        client.close()
        server.close()


class ProbePlayer:
    """Plays the stream with our own decoder, noting when each media message arrives."""

    def __init__(self, address: tuple[str, int], app: str, key: str) -> None:
        self.arrived: dict[tuple[int, str], float] = {}
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection = RtmpConnection(ConnectionRole.CLIENT, digest_handshake=False)
        self.sock.sendall(self.connection.start())
        for message in (
            DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": app})),
            DetailedMessage(0, 0, CreateStream(2).to_message()),
            DetailedMessage(0, 1, Play(key).to_message()),
        ):
            self.connection.send_message(message)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(1.0)
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(262144)
            except TimeoutError:
                continue
            if not data:
                return
            now = time.perf_counter()
            result = self.connection.receive_data(data)
            if result.to_send:
                self.sock.sendall(result.to_send)
            for message in result.messages:
                if isinstance(message.content, VideoData | AudioData):
                    self.arrived[key_of(message.content.data, message.timestamp)] = now


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def run(server: str, players: int, seconds: int, tmp: Path) -> None:
    flv = source(seconds)
    with _ServerUnderTest(server, tmp) as (address, server_pid, count_players):
        host, port = address
        url = f"rtmp://{host}:{port}/live/bench"
        outputs = [tmp / f"player{i}.flv" for i in range(players)]
        procs = [
            subprocess.Popen(
                ["rtmpdump", "-q", "--live", "-r", url, "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for out in outputs
        ]
        probe = ProbePlayer(address, "live", "bench")
        deadline = time.monotonic() + 60
        while count_players() < players + 1 and time.monotonic() < deadline:
            threading.Event().wait(0.1)  # rtmpdump processes connect in their own time
        print(f"{server}: {count_players()} players waiting")
        proxy = TimestampingProxy(address)
        cpu_before, wall_before = cpu_times(server_pid), time.monotonic()
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
             "-i", str(flv), "-c", "copy", "-f", "flv",
             f"rtmp://127.0.0.1:{proxy.port}/live/bench"],
            check=True, timeout=seconds + 60,
        )  # fmt: skip
        user, system = (
            after - before for after, before in zip(cpu_times(server_pid), cpu_before, strict=True)
        )
        cpu = user + system
        wall = time.monotonic() - wall_before
        probe.stopped.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    published = flv.stat().st_size
    sizes = [out.stat().st_size if out.exists() else 0 for out in outputs]
    delivered = sum(sizes)
    kept_up = sum(size >= 0.9 * published for size in sizes)
    start = min(proxy.sent_at.values(), default=0.0)
    latencies = {
        k: (probe.arrived[k] - sent) * 1000
        for k, sent in proxy.sent_at.items()
        if k in probe.arrived
    }
    # FFmpeg sends the media it read while opening the RTMP output (about 0.5 s of it) in one
    # burst, which every player then has to take in at once: a start-up transient for either
    # server. It is reported, but the steady state is judged after the first second.
    steady = [ms for k, ms in latencies.items() if proxy.sent_at[k] - start >= WARM_UP]
    print(f"{server}: {players} rtmpdump players, {wall:.1f} s publishing {published / 1e6:.1f} MB")
    print(f"  kept up (>= 90% of the published bytes): {kept_up}/{players}")
    print(f"  delivered {delivered / 1e9:.2f} GB; server CPU {cpu:.2f} s (user {user:.2f}, "
          f"system {system:.2f}) = {cpu / max(delivered / 1e9, 1e-9):.2f} CPU-s/GB")  # fmt: skip
    if os.environ.get("FANOUT_DETAILS"):
        worst = sorted(
            ((probe.arrived[k] - t) * 1000, proxy.sizes[k], k[0])
            for k, t in proxy.sent_at.items()
            if k in probe.arrived
        )[-15:]
        for ms, size, ts in worst:
            print(f"    {ms:7.1f} ms  {size:7d} bytes  ts {ts}")
        print("  first messages: sent at (ms from the first), latency (ms), timestamp, size")
        for k, t in sorted(proxy.sent_at.items(), key=lambda kv: kv[1])[:40]:
            ms = (probe.arrived[k] - t) * 1000 if k in probe.arrived else float("nan")
            print(f"    {(t - start) * 1000:7.1f} {ms:7.1f} {k[0]:6d} {proxy.sizes[k]:7d}")
    if latencies:
        print(f"  added latency, all {len(latencies)} messages: {percentiles(latencies.values())}")
    if steady:
        judged = f"after {WARM_UP:.0f} s ({len(steady)} messages)"
        print(f"  added latency {judged}: {percentiles(steady)}")


def percentiles(values: Iterable[float]) -> str:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


class _ServerUnderTest:
    """The server under test: (address, pid, player count) while it runs."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.tmp = tmp

    def __enter__(self) -> tuple[tuple[str, int], int, object]:
        if self.kind == "relay":
            return self._start_relay()
        self.nginx = nginx_rtmp(self.tmp / "nginx")
        port = self.nginx.__enter__()
        pid = int((self.tmp / "nginx" / "nginx.pid").read_text())

        def connections() -> int:
            # nginx keeps no player count we can read cheaply: count its established sockets.
            out = subprocess.run(
                ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            return len(out.splitlines())

        return ("127.0.0.1", port), pid, connections

    def _start_relay(self) -> tuple[tuple[str, int], int, object]:
        port, http_port = free_port(), free_port()
        self.relay = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "rtmp-actors"), "serve", "--port", str(port),
             "--http", str(http_port), "--log-level", "WARNING"],
        )  # fmt: skip
        stats_url = f"http://127.0.0.1:{http_port}/stats"

        def players() -> int:
            try:
                with urllib.request.urlopen(stats_url, timeout=5) as reply:
                    streams = json.load(reply)["streams"]
            except OSError:
                return 0  # not listening yet
            return int(streams[0]["players"]) if streams else 0

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.1)
        return ("127.0.0.1", port), self.relay.pid, players

    def __exit__(self, *exc: object) -> None:
        if self.kind == "relay":
            self.relay.terminate()
            self.relay.wait(timeout=30)
        else:
            self.nginx.__exit__(None, None, None)


def main() -> None:
    """Run the fan-out benchmark against the relay and/or nginx-rtmp."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--server", choices=("relay", "nginx", "both"), default="both")
    args = parser.parse_args()
    for kind in ("relay", "nginx") if args.server == "both" else (args.server,):
        tmp = Path(tempfile.mkdtemp(prefix="fanout-", dir="/dev/shm"))
        try:
            run(kind, args.players, args.seconds, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
