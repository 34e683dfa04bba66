"""Ingest speed: one FFmpeg publisher sending an FLV as fast as it can.

Targets:

* issue 3 (``--server inproc``, the default): "One publisher ingesting as fast as FFmpeg
  sends: at least 1 Gbit/s, and at most 3 CPU-seconds per GB ingested (the pure-Python asyncio
  peer pyrtmp needs about 28)."
* issue 8 (``--server relay``): the relay server (``rtmp-actors serve`` as its own process, as
  users run it) ingesting 300 MB of 4 Mbit/s content pushed by FFmpeg without ``-re`` spends
  at most 2.5 CPU-seconds per GB. ``--server nginx`` measures nginx-rtmp the same way, for
  context; ``--server both`` runs the relay, then nginx-rtmp.

Method, ``--server relay|nginx|both``:

* The server runs as its own process (``servers.py``: ``rtmp-actors serve`` or, with
  ``--relay-tree DIR``, the same entry point from another source tree; nginx-rtmp as
  ``tests/nginx_rtmp.py`` configures it). Nothing plays: the publisher is alone.
* FFmpeg publishes (``-stream_loop``, no ``-re``) ``--megabytes`` (300) of a cached 4 Mbit/s
  FLV. The payload is the audio/video tag bodies of the file, times the loops.
* The publishing window runs from FFmpeg's start until the server has closed the connection
  (after FFmpeg is done and the server has read everything); the server's CPU time over it is
  read from ``/proc/PID/stat`` (user + system, all threads; nginx: every process), and its
  peak RSS (VmHWM) at the end. Each server is judged on the median of ``--repeat`` runs.

Method, ``--server inproc``:

* 1280x720 25 fps noise pictures are encoded once with the imageio-ffmpeg FFmpeg (H.264 at
  ``--mbits`` Mbit/s plus 128 kbit/s AAC, 60 s, cached under ``benchmarks/.cache``). By default
  two files: 40 Mbit/s (300 MB, about 70 KB per message: the cost per byte dominates) and
  4 Mbit/s (30 MB, about 7 KB per message, a usual live bitrate: the cost per message
  dominates). FFmpeg loops each file (``-stream_loop``) so that one run carries
  ``--gigabytes`` of payload.
* An :class:`RtmpServer` runs in this process. Its event receiver accepts every request and
  only counts the payload bytes of ``AudioVideoDataReceived`` (it keeps no payload): it is
  part of the server's cost.
* FFmpeg publishes *without* ``-re`` (``-c copy -f flv rtmp://...``), in its own process, so
  it sends as fast as the server reads; TCP backpressure does the rest.
* Measured per run: wall time from ``ConnectionRequested`` to ``Disconnected``; payload bytes
  (audio/video tag bodies) and wire bytes (the session's last ``NewByteIOTotals``); the
  throughput of both in Gbit/s; this process's CPU time (user+sys of every thread, from
  ``getrusage(RUSAGE_SELF)``) from FFmpeg's start to ``Disconnected``, per GB of payload, and
  split by thread role (sampled from ``/proc/self/task``); context switches; peak RSS; and,
  for context, FFmpeg's own CPU time (``RUSAGE_CHILDREN``), which is not ours.
* Each file is judged on the median of ``--repeat`` runs (the best is shown too). The
  machine's other load shows up in the figures: run on an otherwise idle machine.

``--profile`` adds a cProfile (thread CPU time) of every thread the server starts and prints
the top functions; a profiled run is several times slower, so its figures are not the
benchmark's.

Run: ``.venv/bin/python benchmarks/ingest.py [--repeat N] [--mbits 40 4 | --file x.flv]``, or
``.venv/bin/python benchmarks/ingest.py --server both`` (needs nginx-rtmp).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import math
import os
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pykka  # noqa: E402

from benchmarks.servers import (  # noqa: E402
    RunningServer,
    cpu_times,
    peak_rss,
    server_under_test,
    wait_for,
)
from rtmp_actors.actors.actor_handle import ActorHandle  # noqa: E402
from rtmp_actors.actors.connection_unit import ConnectionInfo  # noqa: E402
from rtmp_actors.actors.event_receivers import EventReceiverActor  # noqa: E402
from rtmp_actors.actors.server_session import ServerSessionActor  # noqa: E402
from rtmp_actors.server import RtmpServer  # noqa: E402
from rtmp_actors.session.server_events import (  # noqa: E402
    AudioVideoDataReceived,
    ConnectionRequested,
    Disconnected,
    NewByteIOTotals,
    PublishingFinished,
)
from tests.peers import ffmpeg_exe, run_ffmpeg  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
TARGET_GBITS = 1.0
TARGET_CPU_PER_GB = 3.0
TARGET_RELAY_CPU_PER_GB = 2.5  # issue 8, the relay as its own process
GB = 1e9


def source_flv(seconds: int, mbits: int) -> Path:
    """An H.264 (``mbits`` Mbit/s, 720p25 noise) + AAC FLV, encoded once and cached."""
    path = CACHE / f"ingest_h264_aac_{mbits}mbit_{seconds}s.flv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.flv")
        print(f"encoding {path.name} (once) ...", flush=True)
        run_ffmpeg(
            "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=60:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
            "-b:v", f"{mbits}M", "-maxrate", f"{mbits}M", "-bufsize", f"{mbits // 2}M",
            "-c:a", "aac", "-b:a", "128k",
            "-f", "flv", str(partial),
            timeout=1800,
        )  # fmt: skip
        partial.rename(path)
    return path


@dataclass
class IngestStats:
    """What the receiver of one connection saw (written by its thread, read after ``done``)."""

    payload_bytes: int = 0
    media_messages: int = 0
    wire_bytes_received: int = 0
    connected_at: float | None = None
    finished_at: float | None = None
    disconnected_at: float | None = None
    disconnect_reason: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class CountingReceiver(EventReceiverActor):
    """Accepts every request and counts audio/video payload bytes (no payload is kept)."""

    def __init__(self, connection: ConnectionInfo, stats: IngestStats) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = connection.session
        self.stats = stats

    def send_event(self, event: Any) -> None:
        stats = self.stats
        if type(event) is AudioVideoDataReceived:  # the hot path: one per media message
            stats.payload_bytes += len(event.data)
            stats.media_messages += 1
            return
        if type(event) is NewByteIOTotals:
            stats.wire_bytes_received = event.bytes_received
            return
        request_id = getattr(event, "request_id", None)
        if request_id is not None:
            self.session.tell(ServerSessionActor.accept_request, request_id)
        if isinstance(event, ConnectionRequested):
            stats.connected_at = time.perf_counter()
        elif isinstance(event, PublishingFinished):
            stats.finished_at = time.perf_counter()
        elif isinstance(event, Disconnected):
            stats.disconnected_at = time.perf_counter()
            stats.disconnect_reason = event.reason
            stats.done.set()


class ThreadProfiler:
    """cProfile in every thread started while installed; merged stats at the end."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _bootstrap(self, *_args: object) -> None:
        # Called by the first profile event of a new thread: replace this hook by cProfile.
        profile = cProfile.Profile(time.thread_time)  # CPU time, not waiting
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def install(self) -> None:
        threading.setprofile(self._bootstrap)

    def report(self, top: int) -> str:
        threading.setprofile(None)
        out = io.StringIO()
        stats: pstats.Stats | None = None
        with self._lock:
            profiles = list(self._profiles)
        for profile in profiles:
            profile.create_stats()
            if stats is None:
                stats = pstats.Stats(profile, stream=out)
            else:
                stats.add(profile)
        if stats is None:
            return "no profile"
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


class IngestFigures:
    """What both kinds of run work out from their payload, wall time and CPU time."""

    payload_bytes: int
    wall: float
    cpu_user: float
    cpu_sys: float

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys

    @property
    def payload_gbits(self) -> float:
        return self.payload_bytes * 8 / self.wall / 1e9

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.payload_bytes / GB)


@dataclass
class Run(IngestFigures):
    """One ingest's figures."""

    payload_bytes: int
    wire_bytes: int
    media_messages: int
    wall: float
    cpu_user: float
    cpu_sys: float
    context_switches: int
    page_faults: int
    ffmpeg_cpu: float
    thread_cpu: dict[str, float]

    @property
    def wire_gbits(self) -> float:
        return self.wire_bytes * 8 / self.wall / 1e9


def cpu_usage(who: int) -> tuple[float, float, int, int]:
    """User and system CPU seconds, context switches and page faults (of children too)."""
    usage = resource.getrusage(who)
    switches = usage.ru_nvcsw + usage.ru_nivcsw
    return usage.ru_utime, usage.ru_stime, switches, usage.ru_minflt + usage.ru_majflt


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ThreadCpuSampler:
    """Polls /proc/self/task/*/stat and keeps each thread's last CPU time, by thread role.

    Python 3.11 does not name OS threads, so a thread's role comes from its Python name
    (``ProtocolHandlerActor-12`` -> ``ProtocolHandlerActor``). A thread that exits loses at
    most one interval of CPU time.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self._interval = interval
        self._cpu: dict[int, float] = {}
        self._roles: dict[int, str] = {}

    def sample(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id is not None and thread.native_id not in self._roles:
                self._roles[thread.native_id] = thread.name.rstrip("-0123456789") or "?"
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                    fields = stat.read().rpartition(b")")[2].split()
            except OSError:
                continue  # exited meanwhile
            # utime and stime are fields 14 and 15; fields[0] is field 3 (state).
            self._cpu[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def wait(self, done: threading.Event, timeout: float) -> bool:
        """Sample until ``done`` is set (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        self.sample()
        before = dict(self._cpu)
        while not done.wait(self._interval):
            self.sample()
            if time.monotonic() > deadline:
                return False
        self.sample()
        self._cpu = {tid: cpu - before.get(tid, 0.0) for tid, cpu in self._cpu.items()}
        return True

    def by_role(self) -> dict[str, float]:
        roles: dict[str, float] = {}
        for tid, cpu in self._cpu.items():
            role = self._roles.get(tid, "other")
            roles[role] = roles.get(role, 0.0) + cpu
        return roles


def publish_command(flv: Path, loops: int, port: int) -> list[str]:
    """FFmpeg publishing ``flv`` ``loops`` times over, as fast as it can (no ``-re``)."""
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-stream_loop", str(loops - 1), "-i", str(flv),
        "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/bench",
    ]  # fmt: skip


@contextlib.contextmanager
def publishing(command: list[str], timeout: float) -> Iterator[None]:
    """Run FFmpeg while the block runs, then wait for it to finish (killed on a failure).

    Raises:
        RuntimeError: FFmpeg failed (with its log) or outlived ``timeout``.
    """
    with tempfile.TemporaryFile() as log:
        ffmpeg = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=log)
        try:
            yield
            returncode = ffmpeg.wait(timeout)
        finally:
            if ffmpeg.poll() is None:
                ffmpeg.kill()
                ffmpeg.wait()
        if returncode != 0:
            log.seek(0)
            msg = f"ffmpeg failed ({returncode}): {log.read().decode(errors='replace')}"
            raise RuntimeError(msg)


def ingest_once(flv: Path, loops: int, port: int, stats: IngestStats, timeout: float) -> Run:
    """Publish ``flv`` ``loops`` times over with FFmpeg (no ``-re``) until the session ends."""
    command = publish_command(flv, loops, port)
    sampler = ThreadCpuSampler()
    children_before = cpu_usage(resource.RUSAGE_CHILDREN)
    user_before, sys_before, switches_before, faults_before = cpu_usage(resource.RUSAGE_SELF)
    with publishing(command, timeout):
        if not sampler.wait(stats.done, timeout):
            msg = f"the session did not end within {timeout} s"
            raise RuntimeError(msg)
        user_after, sys_after, switches_after, faults_after = cpu_usage(resource.RUSAGE_SELF)
    children_after = cpu_usage(resource.RUSAGE_CHILDREN)
    if stats.connected_at is None or stats.disconnected_at is None:
        msg = "the session ended without ever connecting"
        raise RuntimeError(msg)
    return Run(
        payload_bytes=stats.payload_bytes,
        wire_bytes=stats.wire_bytes_received,
        media_messages=stats.media_messages,
        wall=stats.disconnected_at - stats.connected_at,
        cpu_user=user_after - user_before,
        cpu_sys=sys_after - sys_before,
        context_switches=switches_after - switches_before,
        page_faults=faults_after - faults_before,
        ffmpeg_cpu=sum(children_after[:2]) - sum(children_before[:2]),
        thread_cpu=sampler.by_role(),
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_run(index: int, run: Run) -> None:
    gigabytes = run.payload_bytes / GB
    print(
        f"run {index}: {run.payload_bytes / 1e6:.1f} MB payload in {run.media_messages} "
        f"audio/video messages, {run.wire_bytes / 1e6:.1f} MB on the wire, {run.wall:.2f} s"
    )
    print(f"  throughput {run.payload_gbits:.3f} Gbit/s payload, {run.wire_gbits:.3f} Gbit/s wire")
    print(
        f"  server CPU {run.cpu:.2f} s (user {run.cpu_user:.2f}, sys {run.cpu_sys:.2f}) = "
        f"{run.cpu_per_gb:.2f} CPU-s/GB, {run.cpu / run.wall:.0%} of one core, "
        f"{run.context_switches / gigabytes:.0f} context switches/GB, "
        f"{run.page_faults / gigabytes:.0f} page faults/GB"
    )
    shares = sorted(run.thread_cpu.items(), key=lambda item: -item[1])
    print(
        "  by thread: "
        + ", ".join(f"{role} {cpu / gigabytes:.2f}" for role, cpu in shares if cpu >= 0.005)
        + " CPU-s/GB"
    )
    print(
        f"  FFmpeg CPU {run.ffmpeg_cpu:.2f} s ({run.ffmpeg_cpu / gigabytes:.2f} CPU-s/GB, not ours)"
    )


def summarize(flv: Path, runs: list[Run]) -> bool:
    """Print best and median figures of one file's runs; whether the median meets both targets."""
    speeds = [run.payload_gbits for run in runs]
    costs = [run.cpu_per_gb for run in runs]
    speed, cost = statistics.median(speeds), statistics.median(costs)
    ok_speed, ok_cost = speed >= TARGET_GBITS, cost <= TARGET_CPU_PER_GB
    print(
        f"{flv.name}, median of {len(runs)} (best): {speed:.3f} ({max(speeds):.3f}) Gbit/s "
        f"payload, target >= {TARGET_GBITS}: {verdict(ok_speed)}; {cost:.2f} ({min(costs):.2f}) "
        f"CPU-s/GB, target <= {TARGET_CPU_PER_GB}: {verdict(ok_cost)}"
    )
    return ok_speed and ok_cost


# --- The server as its own process (--server relay|nginx|both) -------------------------------


def flv_payload(path: Path) -> tuple[int, int]:
    """(audio/video tag body bytes, audio/video tags) of an FLV file: what one loop carries."""
    data = path.read_bytes()
    pos = int.from_bytes(data[5:9], "big") + 4  # past the header and the first back pointer
    payload = tags = 0
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if data[pos] & 0x1F in (8, 9):
            payload += size
            tags += 1
        pos += 11 + size + 4
    return payload, tags


@dataclass
class ProcessRun(IngestFigures):
    """One ingest into a server process."""

    payload_bytes: int
    media_messages: int
    wall: float
    cpu_user: float
    cpu_sys: float
    ffmpeg_cpu: float


def ingest_process(flv: Path, loops: int, server: RunningServer, timeout: float) -> ProcessRun:
    """Publish ``flv`` ``loops`` times over (no ``-re``) until the server closed the session."""
    payload, tags = flv_payload(flv)
    command = publish_command(flv, loops, server.port)
    pids = server.pids()
    children_before = cpu_usage(resource.RUSAGE_CHILDREN)
    user_before, sys_before = cpu_times(pids)
    started = time.monotonic()
    with publishing(command, timeout):
        pass  # FFmpeg pushes until its input ends
    children_after = cpu_usage(resource.RUSAGE_CHILDREN)
    # The server may still be reading what FFmpeg wrote last: the window ends once it closed.
    if not wait_for(lambda: server.connections() == 0, 60, 0.02):
        msg = "the server did not close the publisher's connection within 60 s"
        raise RuntimeError(msg)
    wall = time.monotonic() - started
    user_after, sys_after = cpu_times(pids)
    return ProcessRun(
        payload_bytes=payload * loops,
        media_messages=tags * loops,
        wall=wall,
        cpu_user=user_after - user_before,
        cpu_sys=sys_after - sys_before,
        ffmpeg_cpu=sum(children_after[:2]) - sum(children_before[:2]),
    )


def print_process_run(index: int, run: ProcessRun) -> None:
    gigabytes = run.payload_bytes / GB
    print(
        f"run {index}: {run.payload_bytes / 1e6:.1f} MB payload in {run.media_messages} "
        f"audio/video messages, {run.wall:.2f} s, {run.payload_gbits:.3f} Gbit/s payload"
    )
    print(
        f"  server CPU {run.cpu:.2f} s (user {run.cpu_user:.2f}, sys {run.cpu_sys:.2f}) = "
        f"{run.cpu_per_gb:.2f} CPU-s/GB (user {run.cpu_user / gigabytes:.2f}, "
        f"sys {run.cpu_sys / gigabytes:.2f}), {run.cpu / run.wall:.0%} of one core; "
        f"FFmpeg CPU {run.ffmpeg_cpu / gigabytes:.2f} CPU-s/GB (not the server's)"
    )


def run_process_server(kind: str, files: list[Path], args: argparse.Namespace) -> bool:
    """Ingest each file ``--repeat`` times into a server process; whether targets are met."""
    ok = True
    workdir = Path(tempfile.mkdtemp(prefix="ingest-"))
    try:
        relay_args = shlex.split(args.relay_args)
        with server_under_test(kind, workdir, args.relay_tree, relay_args) as server:
            print(f"{kind}: {server.description}")
            for flv in files:
                loops = max(1, math.ceil(args.megabytes * 1e6 / flv_payload(flv)[0]))
                print(f"publishing {flv} ({flv.stat().st_size / 1e6:.1f} MB) {loops} times per run")
                runs = []
                for index in range(1, args.repeat + 1):
                    runs.append(ingest_process(flv, loops, server, args.timeout))
                    print_process_run(index, runs[-1])
                costs = [run.cpu_per_gb for run in runs]
                cost = statistics.median(costs)
                speed = statistics.median(run.payload_gbits for run in runs)
                line = (
                    f"{kind} {flv.name}, median of {len(runs)} (best): {cost:.2f} "
                    f"({min(costs):.2f}) CPU-s/GB, {speed:.3f} Gbit/s"
                )
                if kind == "relay":
                    met = cost <= TARGET_RELAY_CPU_PER_GB
                    ok = ok and met
                    line += f"; target <= {TARGET_RELAY_CPU_PER_GB}: {verdict(met)}"
                print(line)
            print(f"{kind}: peak RSS {peak_rss(server.pids()) / 2**20:.1f} MiB (VmHWM)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main() -> None:
    """Encode (once), then ingest each file ``--repeat`` times and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server",
        choices=("inproc", "relay", "nginx", "both"),
        default="inproc",
        help="inproc: an RtmpServer in this process; relay/nginx/both: a server process",
    )
    parser.add_argument("--file", type=Path, action="append", help="FLV to publish (repeatable)")
    parser.add_argument(
        "--mbits",
        type=int,
        nargs="+",
        help="video bitrates of the generated FLVs, without --file (inproc: 40 4, else: 4)",
    )
    parser.add_argument("--seconds", type=int, default=60, help="length of the generated FLVs")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--gigabytes", type=float, help="payload per run (FFmpeg loops the file)")
    size.add_argument("--megabytes", type=float, help="payload per run (inproc: 1000, else: 300)")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs per file")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    parser.add_argument("--profile", action="store_true", help="cProfile the server's threads")
    parser.add_argument("--top", type=int, default=30, help="functions shown with --profile")
    parser.add_argument("--relay-tree", type=Path, help="run rtmp-actors serve from this tree")
    parser.add_argument("--relay-args", default="", help="extra `rtmp-actors serve` arguments")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    inproc = args.server == "inproc"
    if args.gigabytes is not None:
        args.megabytes = args.gigabytes * 1000
    elif args.megabytes is None:
        args.megabytes = 1000.0 if inproc else 300.0
    mbits = args.mbits or ([40, 4] if inproc else [4])
    files = args.file or [source_flv(args.seconds, rate) for rate in mbits]
    if not inproc:
        if args.profile:
            parser.error("--profile profiles the in-process server only")
        kinds = ("relay", "nginx") if args.server == "both" else (args.server,)
        verdicts = [run_process_server(kind, files, args) for kind in kinds]
        print(f"targets {'met' if all(verdicts) else 'MISSED'} (judged on medians)")
        return
    args.gigabytes = args.megabytes / 1000
    profiler = ThreadProfiler() if args.profile else None
    if profiler is not None:
        profiler.install()
    current: list[IngestStats] = []

    def factory(connection: ConnectionInfo) -> pykka.ActorRef[Any]:
        return CountingReceiver.start(connection, current[-1])

    server = RtmpServer("127.0.0.1", 0, event_receiver_factory=factory)
    results: dict[Path, list[Run]] = {}
    try:
        server.start()
        port = server.address[1]
        for flv in files:
            size = flv.stat().st_size
            loops = max(1, math.ceil(args.gigabytes * GB / size))
            print(
                f"publishing {flv} ({size / 1e6:.1f} MB) {loops} times per run with FFmpeg, no -re"
            )
            runs = results[flv] = []
            for index in range(1, args.repeat + 1):
                current.append(IngestStats())
                run = ingest_once(flv, loops, port, current[-1], args.timeout)
                if current[-1].disconnect_reason:
                    print(f"  (disconnected: {current[-1].disconnect_reason})")
                server.wait_for_connections(0, timeout=10)
                runs.append(run)
                print_run(index, run)
    finally:
        server.stop()
        pykka.ActorRegistry.stop_all()
    if profiler is not None:
        print(profiler.report(args.top))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS of this process: {rss / 1024:.0f} MiB")
    verdicts = [summarize(flv, runs) for flv, runs in results.items()]
    print(f"targets {'met' if all(verdicts) else 'MISSED'} (judged on medians)")
    if profiler is not None:
        print("(profiled run: cProfile slows the server; use figures without --profile)")


if __name__ == "__main__":
    main()
