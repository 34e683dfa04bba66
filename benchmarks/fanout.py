"""Live fan-out: one 4 Mbit/s FFmpeg publisher in real time, N players, relay vs nginx-rtmp.

Targets (issue 8), against nginx-rtmp measured in the same run (``--server both``):

1. ``--players 100`` (10 probes + 90 rtmpdump): over every frame from the first, FFmpeg's
   start-up burst included, the relay's added latency has p99 <= 10 ms and p50 <= nginx-rtmp's
   p50 + 1 ms.
2. ``--players 500``: every player keeps up, and the relay spends at most 0.8 x nginx-rtmp's
   CPU-seconds per GB delivered.
3. ``--players 1000``: every player keeps up on this 2-core machine; CPU-s/GB and peak RSS of
   both servers are reported.

Method:

* The server under test runs as its own process (see ``servers.py``): the relay is
  ``rtmp-actors serve`` (``--relay-tree DIR`` runs another source tree's), nginx-rtmp is
  ``tests/nginx_rtmp.py``'s. Its CPU time (user, system: ``/proc/PID/stat``) is read from
  FFmpeg's start until the players got everything, and its peak RSS (VmHWM) at the end.
* ``--probes`` of the ``--players`` are probes: raw sockets in one child process that does
  the handshake and ``play`` with our protocol code, then only reads (and acknowledges),
  noting when each read returned; the bytes are decoded after the run, so decoding delays no
  timestamp. The rest are ``rtmpdump --live`` processes writing to /dev/null (the kernel
  counts what each wrote), started in waves; the probes join evenly spread among them.
  Publishing starts once the server counts every player.
* FFmpeg publishes a cached FLV with ``-re`` through a proxy in another child process. The
  proxy only forwards (non-blocking) and notes, after each send to the server, the time and
  how many bytes the server's socket had taken so far; it decodes after the run, so each
  media message is stamped when its last byte reached the server. Latency is a probe's
  arrival minus that stamp (both ``CLOCK_MONOTONIC``), over all frames of all probes.
* A player kept up if, from 2 s after the first media message for 10 s, it received at least
  90% of the (FLV-tag) bytes the publisher sent in that window: the rtmpdump processes'
  written bytes are sampled every second, the probes count their frames.

Run: ``.venv/bin/python benchmarks/fanout.py --players 100`` (needs rtmpdump and nginx-rtmp).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import select
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import (  # noqa: E402
    CLOCK_TICKS,
    GB,
    RunningServer,
    cpu_times,
    die_with_parent,
    peak_rss,
    raise_open_files,
    server_under_test,
)
from rtmp_actors.protocol.chunk_decoder import ChunkDecoder  # noqa: E402
from rtmp_actors.protocol.commands import CreateStream, Play  # noqa: E402
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection  # noqa: E402
from rtmp_actors.protocol.messages import (  # noqa: E402
    Acknowledgement,
    AudioData,
    CommandMessage,
    DetailedMessage,
    VideoData,
)
from tests.peers import ffmpeg_exe, run_ffmpeg  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
APP, STREAM = "live", "bench"
HANDSHAKE = 1 + 1536 + 1536  # C0 + C1 + C2, before the publisher's chunk stream
MEDIA_TYPES = (8, 9)
FLV_TAG_OVERHEAD = 11 + 4  # tag header and back pointer around each message body
WINDOW_START, WINDOW, KEEP_UP = 2.0, 10.0, 0.9  # keep-up window (s after first media), share
WARM_UP = 1.0  # seconds after the first media message, for the extra "steady" figure
SAMPLE_INTERVAL = 1.0  # reading 1000 /proc/PID/io files is not free on a busy machine
WAVE = 100  # rtmpdump processes started before waiting for them to connect
ACK_EVERY = 1_000_000  # probe acknowledgements: well within either server's 5 MB window
PROXY_BACKLOG = 1 << 20  # bytes the proxy holds before it stops reading a side

Key = tuple[int, int, bytes]  # type id, timestamp, payload digest: one media message
TARGETS = {100: "1 (latency)", 500: "2 (fan-out CPU)", 1000: "3 (1000 players)"}


def source(seconds: int) -> Path:
    """A 4 Mbit/s 720p25 H.264 + AAC FLV, encoded once and cached."""
    path = CACHE / f"fanout_h264_aac_4mbit_{seconds}s.flv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.flv")
        run_ffmpeg(
            "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=30:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
            "-b:v", "3872k", "-maxrate", "3872k", "-bufsize", "2000k",
            "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(partial),
            timeout=600,
        )  # fmt: skip
        partial.rename(path)
    return path


def media_key(type_id: int, timestamp: int, payload: bytes) -> Key:
    """What identifies one media message on both sides of the server."""
    return type_id, timestamp, hashlib.blake2b(payload, digest_size=8).digest()


def receive(control: Connection, timeout: float, what: str) -> Any:
    """The next object from a child, or an error once ``timeout`` passes or it died."""
    if not control.poll(timeout):
        msg = f"timed out after {timeout:.0f} s waiting for {what}"
        raise RuntimeError(msg)
    try:
        return control.recv()
    except EOFError:
        msg = f"the child process died before sending {what}"
        raise RuntimeError(msg) from None


def stop(control: Connection, timeout: float, what: str) -> Any:
    """Tell a child to stop (unless it has already), then receive its results."""
    with contextlib.suppress(OSError):  # it closed its end after sending them
        control.send("stop")
    return receive(control, timeout, what)


# --- Child process: the timestamping proxy ---------------------------------------------------


def _recv(sock: socket.socket) -> bytes | None:
    """What the socket has: None for nothing yet, b"" once the peer closed or reset."""
    try:
        return sock.recv(262144)
    except BlockingIOError:
        return None
    except OSError:  # a peer that resets instead of closing
        return b""


def proxy_main(control: Connection, upstream: tuple[str, int]) -> None:
    """Relay one publisher to ``upstream``; send back when each media message got through.

    Sends the listening port, then (once the publisher or the server closes, or on any
    message from ``control``) a list of ``(key, time, payload size)`` per media message.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the parent ends us
    listener = socket.create_server(("127.0.0.1", 0))
    control.send(listener.getsockname()[1])
    waiting: list[socket.socket | Connection] = [listener, control]
    ready, _, _ = select.select(waiting, [], [], 600)
    if listener not in ready:
        control.send([])
        return
    client, _ = listener.accept()
    server = socket.create_connection(upstream)
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Nagle would hold bytes
        sock.setblocking(False)  # a blocked send must not hold the timestamps back
    received: list[bytes] = []  # the publisher's bytes, in order
    stamps: list[tuple[float, int]] = []  # (time, bytes the server's socket took so far)
    up, down = bytearray(), bytearray()
    taken = 0
    client_open = True
    monotonic = time.monotonic
    while client_open or up:
        readable: list[socket.socket | Connection] = [control, server]
        if client_open and len(up) < PROXY_BACKLOG:  # else let FFmpeg feel the backpressure
            readable.append(client)
        writable: list[socket.socket | Connection] = [server] if up else []
        if down:
            writable.append(client)
        readable, writable, _ = select.select(readable, writable, [], 1.0)
        if control in readable:
            break
        if client in readable:
            data = _recv(client)
            if data:
                received.append(data)
                up += data
            elif data is not None:
                client_open = False
        if up:  # at once, not after another select: usually it all goes now
            try:
                sent = server.send(up)
            except BlockingIOError:
                sent = 0
            except OSError:
                break
            if sent:
                now = monotonic()
                taken += sent
                del up[:sent]
                stamps.append((now, taken))
        if server in readable:
            data = _recv(server)
            if data == b"":
                break  # the server closed
            down += data or b""
        if down:
            with contextlib.suppress(BlockingIOError):
                del down[: client.send(down)]
    client.close()
    server.close()
    control.send(_stamp_media(b"".join(received), stamps))


def _stamp_media(stream: bytes, stamps: list[tuple[float, int]]) -> list[tuple[Key, float, int]]:
    """Each media message of the publisher's bytes, stamped when its last byte was taken."""
    decoder = ChunkDecoder()
    media = []
    done = HANDSHAKE
    for when, end in stamps:
        if end <= done:
            continue
        for raw in decoder.receive_data(stream[done:end]):
            if raw.type_id in MEDIA_TYPES:
                key = media_key(raw.type_id, raw.timestamp, raw.payload)
                media.append((key, when, len(raw.payload)))
        done = end
    return media


# --- Child process: the probe players --------------------------------------------------------


class _Probe:
    """One probe player: a socket, its protocol state, and what it read when."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection = RtmpConnection(ConnectionRole.CLIENT, digest_handshake=False)
        self.sock.sendall(self.connection.start())
        for message in (  # held by the connection until the handshake completes
            DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": APP})),
            DetailedMessage(0, 0, CreateStream(2).to_message()),
            DetailedMessage(0, 1, Play(STREAM).to_message()),
        ):
            self.connection.send_message(message)
        while not self.connection.handshake_complete:
            data = self.sock.recv(65536)
            if not data:
                msg = "the server closed a probe during the handshake"
                raise ConnectionError(msg)
            # No media can come before publishing starts: the replies are not kept.
            self.sock.sendall(self.connection.receive_data(data).to_send)
        self.sock.setblocking(False)
        self.reads: list[tuple[float, bytes]] = []
        self.received = self.acknowledged = self.connection.bytes_received

    def acknowledge(self) -> None:
        """Send an Acknowledgement, as a player must, without decoding anything."""
        self.acknowledged = self.received
        ack = Acknowledgement(self.received & 0xFFFFFFFF)
        with contextlib.suppress(BlockingIOError):  # 16 bytes: a full send buffer is moot
            self.sock.send(self.connection.send_message(DetailedMessage(0, 0, ack)))

    def decode(self) -> tuple[dict[Key, float], list[tuple[float, int]], str | None]:
        """(first arrival of each media message, (arrival, FLV bytes) of each, error)."""
        arrived: dict[Key, float] = {}
        frames: list[tuple[float, int]] = []
        try:
            for when, data in self.reads:
                for message in self.connection.receive_data(data).messages:
                    content = message.content
                    if isinstance(content, VideoData | AudioData):
                        key = media_key(content.type_id, message.timestamp, content.data)
                        arrived.setdefault(key, when)
                        frames.append((when, len(content.data) + FLV_TAG_OVERHEAD))
        except Exception as error:  # reported, with what was decoded before it
            return arrived, frames, f"{type(error).__name__}: {error}"
        return arrived, frames, None


def probe_main(control: Connection, address: tuple[str, int]) -> None:
    """Run probe players on ``address``: one more on each ``"add"``, until ``"stop"``.

    Answers each ``"add"`` with ``"added"`` once that probe asked to play, and ``"stop"``
    with a list of what :meth:`_Probe.decode` returns, one per probe.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the parent ends us
    probes: list[_Probe] = []
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    monotonic = time.monotonic
    while True:
        for key, _ in selector.select(1.0):
            probe = key.data
            if probe is None:
                if control.recv() != "add":
                    control.send([probe.decode() for probe in probes])
                    return
                probes.append(_Probe(address))
                selector.register(probes[-1].sock, selectors.EVENT_READ, probes[-1])
                control.send("added")
                continue
            try:
                data = probe.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            now = monotonic()  # before anything else: this read's arrival time
            if not data:
                selector.unregister(probe.sock)
                continue
            probe.reads.append((now, data))
            probe.received += len(data)
            if probe.received - probe.acknowledged >= ACK_EVERY:
                probe.acknowledge()


@contextlib.contextmanager
def child(target: Callable[..., None], *args: object) -> Iterator[Connection]:
    """Run ``target(connection, *args)`` in a fresh (spawned) process until the block ends."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, *args), daemon=True)
    process.start()
    theirs.close()
    try:
        yield ours
    finally:
        process.join(timeout=5)  # it ends by itself once it sent its results
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
        ours.close()


# --- rtmpdump players ------------------------------------------------------------------------


class RtmpdumpPlayers:
    """``rtmpdump --live`` processes writing to /dev/null, counted by the bytes they write.

    /dev/null rather than files: writing 1000 files would cost the players CPU and memory the
    servers compete for; the kernel counts each process's writes anyway (``wchar``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.procs: list[subprocess.Popen[bytes]] = []
        self._written: list[int] = []

    def __enter__(self) -> RtmpdumpPlayers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, count: int, server: RunningServer, timeout: float) -> None:
        """Start ``count`` more players in waves, each once the server counts the last one.

        Args:
            count: rtmpdump processes to start.
            server: Where they play.
            timeout: Seconds allowed for each wave to connect.

        Raises:
            RuntimeError: If a wave does not connect in time.
        """
        expected = server.players()
        for wave in range(0, count, WAVE):
            for _ in range(min(WAVE, count - wave)):
                self.procs.append(
                    subprocess.Popen(
                        ["rtmpdump", "-q", "--live", "-m", "300", "-r", self.url, "-o", "-"],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        preexec_fn=die_with_parent,  # noqa: PLW1509 (started from the main thread)
                    )
                )
                self._written.append(0)
                expected += 1
            if not server.wait_for_players(expected, timeout):
                msg = (
                    f"{server.players()} of {expected} players connected after {timeout:.0f} s"
                    f" ({self.exited()} rtmpdump processes exited)"
                )
                raise RuntimeError(msg)

    def exited(self) -> int:
        """How many rtmpdump processes have ended."""
        return sum(proc.poll() is not None for proc in self.procs)

    def sample(self) -> list[int]:
        """FLV bytes each player has written so far (the last count, once it has ended)."""
        for index, proc in enumerate(self.procs):
            try:
                with open(f"/proc/{proc.pid}/io", "rb") as io:
                    for line in io:
                        if line.startswith(b"wchar:"):
                            self._written[index] = int(line.split()[1])
                            break
            except OSError:
                pass  # ended: it keeps its last count
        return list(self._written)

    def cpu(self) -> float:
        """CPU seconds the running players have used so far."""
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(OSError):
                total += sum(cpu_times([proc.pid]))
        return total

    def stop(self) -> None:
        """End every rtmpdump process."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- One run ---------------------------------------------------------------------------------


class Sample(NamedTuple):
    """The rtmpdump players at one moment."""

    time: float
    sizes: list[int]  # bytes each has written
    exited: int  # processes that have ended


@dataclass
class Figures:
    """What one run against one server measured."""

    server: str
    description: str
    players: int
    probes: int
    publish_seconds: float = 0.0
    published_bytes: int = 0  # FLV-tag bytes of the media the publisher sent
    frames: int = 0  # media messages the publisher sent
    window: tuple[float, float] = (0.0, 0.0)  # keep-up window, s after the first media
    ratios: list[float] = field(default_factory=list)  # per player, probes first
    delivered: int = 0
    cpu_user: float = 0.0
    cpu_system: float = 0.0
    rss: int = 0
    processes: int = 1
    latencies: list[float] = field(default_factory=list)  # ms, every frame of every probe
    steady: list[float] = field(default_factory=list)  # ms, after WARM_UP
    missing: int = 0  # (probe, frame) pairs never received
    probe_errors: list[str] = field(default_factory=list)
    exited_early: int = 0  # rtmpdump processes gone by the keep-up window's end
    # Over the first context_seconds of publishing: CPU seconds of the rtmpdump processes,
    # and (busy, all) CPU seconds of the machine.
    context_seconds: float = 0.0
    player_cpu: float = 0.0
    machine_busy: tuple[float, float] = (0.0, 0.0)
    details: list[str] = field(default_factory=list)

    @property
    def kept_up(self) -> int:
        return sum(ratio >= KEEP_UP for ratio in self.ratios)

    @property
    def cpu_per_gb(self) -> float:
        return (self.cpu_user + self.cpu_system) / max(self.delivered / GB, 1e-9)

    def latency(self, which: str = "all") -> tuple[float, float, float]:
        """(p50, p99, max) in ms."""
        return percentiles(self.latencies if which == "all" else self.steady)


def machine_busy(before: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far (``/proc/stat``), minus ``before``."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    total = sum(ticks) / CLOCK_TICKS
    return total - idle / CLOCK_TICKS - before[0], total - before[1]


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of ``values`` (nan when empty)."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def run(kind: str, args: argparse.Namespace, tmp: Path) -> Figures:
    """Measure one server: start it, connect the players, publish, collect."""
    flv = source(args.seconds)
    with contextlib.ExitStack() as stack:
        relay_args = shlex.split(args.relay_args)
        if kind == "relay" and "--config" not in relay_args:
            # The relay refuses connections beyond max_connections (1000 by default): leave
            # room for every player and the publisher.
            config = tmp / "relay.toml"
            config.write_text(f"[server]\nmax_connections = {args.players + 64}\n")
            relay_args += ["--config", str(config)]
        server = stack.enter_context(server_under_test(kind, tmp, args.relay_tree, relay_args))
        figures = Figures(kind, server.description, args.players, args.probes)
        if relay_args:
            figures.description += f", serve {shlex.join(relay_args)}"
        address = ("127.0.0.1", server.port)
        probes = stack.enter_context(child(probe_main, address))
        url = f"rtmp://127.0.0.1:{server.port}/{APP}/{STREAM}"
        players = stack.enter_context(RtmpdumpPlayers(url))
        # The probes join evenly spread among the rtmpdump players: a server may serve its
        # players in the order they came (or the reverse), and the probes are to time them all.
        joined = 0
        for k in range(args.probes):
            position = int((k + 0.5) * args.players / args.probes)
            players.start(position - joined, server, timeout=60)
            probes.send("add")
            receive(probes, 60, "a probe")
            joined = position + 1
            if not server.wait_for_players(joined, 30):
                msg = f"the server did not count probe {k + 1} as a player"
                raise RuntimeError(msg)
        players.start(args.players - joined, server, timeout=60)
        print(f"{kind}: {server.players()} players waiting", flush=True)
        proxy = stack.enter_context(child(proxy_main, address))
        proxy_port = receive(proxy, 60, "the proxy's port")
        pids = server.pids()
        figures.processes = len(pids)
        cpu_before = cpu_times(pids)
        player_cpu, busy_before = players.cpu(), machine_busy()
        started = time.monotonic()
        publish = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
            "-i", str(flv), "-c", "copy", "-f", "flv",
            f"rtmp://127.0.0.1:{proxy_port}/{APP}/{STREAM}",
        ]  # fmt: skip
        ffmpeg = subprocess.Popen(
            publish,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (started from the main thread)
        )
        stack.callback(_kill, ffmpeg)
        samples: list[Sample] = []
        deadline = started + args.seconds + 60
        context_at = started + args.seconds - 1  # players' CPU: before any ends with the stream
        while ffmpeg.poll() is None:
            now = time.monotonic()
            if now > deadline:
                msg = "FFmpeg did not finish publishing in time"
                raise RuntimeError(msg)
            samples.append(Sample(now, players.sample(), players.exited()))
            if now >= context_at and not figures.player_cpu:
                figures.player_cpu = players.cpu() - player_cpu
                figures.machine_busy = machine_busy(busy_before)
                figures.context_seconds = time.monotonic() - started
            time.sleep(SAMPLE_INTERVAL)
        if ffmpeg.returncode != 0:
            msg = f"FFmpeg failed ({ffmpeg.returncode})"
            raise RuntimeError(msg)
        figures.publish_seconds = time.monotonic() - started
        # The players may still be taking in what was queued for them: wait until they stop.
        drain_end = time.monotonic() + 10
        while time.monotonic() < drain_end:
            samples.append(Sample(time.monotonic(), players.sample(), players.exited()))
            if samples[-1].sizes == samples[-2].sizes:
                break
            time.sleep(SAMPLE_INTERVAL)
        user, system = cpu_times(pids)
        figures.cpu_user, figures.cpu_system = user - cpu_before[0], system - cpu_before[1]
        figures.rss = peak_rss(pids)
        sent = stop(proxy, 120, "the proxy's timestamps")  # it may have stopped with FFmpeg
        probe_results = stop(probes, 300, "the probes' arrivals")
    _analyse(figures, sent, probe_results, samples)
    return figures


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _analyse(
    figures: Figures,
    sent_list: list[tuple[Key, float, int]],
    probe_results: list[tuple[dict[Key, float], list[tuple[float, int]], str | None]],
    samples: list[Sample],
) -> None:
    """Latency, keep-up and delivered bytes from the raw records of one run."""
    sent: dict[Key, tuple[float, int]] = {}
    for key, when, size in sent_list:
        sent.setdefault(key, (when, size))
    if not sent:
        msg = "the proxy saw no media"
        raise RuntimeError(msg)
    first = min(when for when, _ in sent.values())
    figures.frames = len(sent)
    figures.published_bytes = sum(size + FLV_TAG_OVERHEAD for _, size in sent.values())
    worst: dict[Key, float] = {}
    for arrived, _, error in probe_results:
        if error:
            figures.probe_errors.append(error)
        for key, (when, _) in sent.items():
            at = arrived.get(key)
            if at is None:
                figures.missing += 1
                continue
            ms = (at - when) * 1000
            figures.latencies.append(ms)
            if when - first >= WARM_UP:
                figures.steady.append(ms)
            worst[key] = max(worst.get(key, ms), ms)
    # Keep-up window: between the samples nearest WINDOW_START and WINDOW_START + WINDOW.
    start = next((s for s in samples if s.time >= first + WINDOW_START), None)
    end = start and next((s for s in samples if s.time >= start.time + WINDOW), None)
    if start is None or end is None:
        msg = "publishing was too short for the keep-up window (use --seconds 15)"
        raise RuntimeError(msg)
    (t_a, sizes_a, _), (t_b, sizes_b, figures.exited_early) = start, end
    figures.window = (t_a - first, t_b - first)
    owed = sum(size + FLV_TAG_OVERHEAD for when, size in sent.values() if t_a <= when < t_b)
    figures.ratios = [
        sum(n for at, n in frames if t_a <= at < t_b) / owed for _, frames, _ in probe_results
    ]
    figures.ratios += [(b - a) / owed for a, b in zip(sizes_a, sizes_b, strict=True)]
    figures.delivered = sum(samples[-1].sizes) + sum(
        n for _, frames, _ in probe_results for _, n in frames
    )
    by_time = sorted(sent.items(), key=lambda item: item[1][0])
    figures.details = ["first 40 frames: ms after the first, worst probe latency ms, ts, bytes"]
    figures.details += [
        f"  {(when - first) * 1000:8.1f} {worst.get(key, float('nan')):7.1f} {key[1]:6d} {size:7d}"
        for key, (when, size) in by_time[:40]
    ]
    figures.details.append("15 slowest frames: worst probe latency ms, ms after the first, bytes")
    slowest = sorted(worst.items(), key=lambda item: -item[1])[:15]
    figures.details += [
        f"  {ms:7.1f} {(sent[key][0] - first) * 1000:8.1f} {sent[key][1]:7d}" for key, ms in slowest
    ]


# --- Report ----------------------------------------------------------------------------------


def report(figures: Figures, details: bool) -> None:
    """Print one server's figures."""
    f = figures
    gigabytes = f.delivered / GB
    print(f"{f.server}: {f.description}")
    print(
        f"  {f.players} players ({f.probes} probes + {f.players - f.probes} rtmpdump); "
        f"{f.publish_seconds:.1f} s publishing {f.frames} frames, {f.published_bytes / 1e6:.1f} MB"
    )
    low = min(f.ratios, default=float("nan"))
    print(
        f"  kept up (>= {KEEP_UP:.0%} of the bytes published from {f.window[0]:.1f} s to "
        f"{f.window[1]:.1f} s): {f.kept_up}/{len(f.ratios)} "
        f"(probes {sum(r >= KEEP_UP for r in f.ratios[: f.probes])}/{f.probes}); lowest {low:.1%}"
    )
    if f.exited_early:
        print(f"  {f.exited_early} rtmpdump processes had exited by the window's end")
    print(
        f"  delivered {gigabytes:.2f} GB; server CPU {f.cpu_user + f.cpu_system:.2f} s "
        f"(user {f.cpu_user:.2f}, system {f.cpu_system:.2f}) = {f.cpu_per_gb:.2f} CPU-s/GB "
        f"(user {f.cpu_user / max(gigabytes, 1e-9):.2f}, "
        f"system {f.cpu_system / max(gigabytes, 1e-9):.2f}), "
        f"{(f.cpu_user + f.cpu_system) / max(f.publish_seconds, 1e-9):.0%} of a core"
    )
    print(f"  peak RSS {f.rss / 2**20:.1f} MiB ({f.processes} process(es), VmHWM)")
    busy, cpus = f.machine_busy
    print(
        f"  first {f.context_seconds:.0f} s of publishing: rtmpdump players {f.player_cpu:.1f}"
        f" CPU-s; the machine {busy:.1f} of {cpus:.1f} CPU-s busy ({busy / max(cpus, 1e-9):.0%})"
    )
    p50, p99, peak = f.latency()
    print(
        f"  added latency, all {len(f.latencies)} frames of {f.probes} probes from the first: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {peak:.1f} ms"
        + (f" ({f.missing} never arrived)" if f.missing else "")
    )
    p50, p99, peak = f.latency("steady")
    print(
        f"  (context: after the first {WARM_UP:.0f} s, {len(f.steady)} frames: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {peak:.1f} ms)"
    )
    for error in f.probe_errors:
        print(f"  probe error: {error}")
    if details:
        for line in f.details:
            print(f"  {line}")


def verdicts(results: dict[str, Figures], players: int) -> None:
    """PASS/FAIL lines of the issue 8 targets (those set for this player count, else all)."""
    relay, nginx = results.get("relay"), results.get("nginx")
    if relay is None or nginx is None:
        return
    relay_p50, relay_p99, _ = relay.latency()
    nginx_p50 = nginx.latency()[0]
    checks = {
        100: [
            (f"relay p99 {relay_p99:.2f} ms <= 10 ms", relay_p99 <= 10),
            (
                f"relay p50 {relay_p50:.2f} ms <= nginx-rtmp p50 {nginx_p50:.2f} ms + 1 ms",
                relay_p50 <= nginx_p50 + 1,
            ),
        ],
        500: [
            (f"relay: {relay.kept_up}/{len(relay.ratios)} kept up", relay.kept_up == players),
            (
                f"relay {relay.cpu_per_gb:.2f} CPU-s/GB <= 0.8 x nginx-rtmp "
                f"{nginx.cpu_per_gb:.2f} = {0.8 * nginx.cpu_per_gb:.2f}",
                relay.cpu_per_gb <= 0.8 * nginx.cpu_per_gb,
            ),
        ],
        1000: [(f"relay: {relay.kept_up}/{len(relay.ratios)} kept up", relay.kept_up == players)],
    }
    chosen = [players] if players in checks else list(checks)
    for n in chosen:
        note = "" if n == players else f" (set for {n} players; informative here)"
        for text, ok in checks[n]:
            print(f"{'PASS' if ok else 'FAIL'} target {TARGETS[n]}: {text}{note}")
    print(
        f"context: nginx-rtmp {nginx.kept_up}/{len(nginx.ratios)} kept up, "
        f"{nginx.cpu_per_gb:.2f} CPU-s/GB, peak RSS {nginx.rss / 2**20:.1f} MiB; relay peak RSS "
        f"{relay.rss / 2**20:.1f} MiB"
    )


def _interrupted(*_: object) -> NoReturn:
    # SIGTERM unwinds like Ctrl-C, and a second signal must not cut the cleanup short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Run the fan-out benchmark against the relay and/or nginx-rtmp."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=100, help="players in all, probes included")
    parser.add_argument("--probes", type=int, default=10, help="players timing every frame")
    parser.add_argument("--seconds", type=int, default=15, help="length of the published FLV")
    parser.add_argument("--server", choices=("relay", "nginx", "both"), default="both")
    parser.add_argument(
        "--relay-tree", type=Path, help="run rtmp-actors serve from this source tree"
    )
    parser.add_argument("--relay-args", default="", help="extra `rtmp-actors serve` arguments")
    parser.add_argument("--details", action="store_true", help="list the first and slowest frames")
    args = parser.parse_args()
    if not 1 <= args.probes <= args.players:
        parser.error("--probes must be between 1 and --players")
    if args.seconds < WINDOW_START + WINDOW + 1:
        parser.error(f"--seconds must be at least {WINDOW_START + WINDOW + 1:.0f}")
    if shutil.which("rtmpdump") is None:
        parser.error("rtmpdump is not installed (scripts/install-peers.sh)")
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    # The server (which inherits the limit) holds a socket per player, the probes one each.
    raise_open_files(2 * args.players + 256)
    results: dict[str, Figures] = {}
    for kind in ("relay", "nginx") if args.server == "both" else (args.server,):
        tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
        try:
            results[kind] = run(kind, args, tmp)
            report(results[kind], args.details)
        except RuntimeError as error:
            print(f"{kind}: run failed: {error}")
        except KeyboardInterrupt:
            print(f"{kind}: interrupted; everything the run started has been ended")
            raise SystemExit(130) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    verdicts(results, args.players)


if __name__ == "__main__":
    main()
