"""Memory of idle connections: a server holding many connected, silent clients.

Target (issue 3): "1,000 idle connections: at most 100 KB of resident memory each."

Method:

* The server runs alone in a child process (this script with ``--serve``), so its resident
  memory can be read from ``/proc/PID/status`` without the clients' memory mixed in. It
  accepts every request and counts ``ConnectionRequested`` and ``Disconnected``; it answers
  one JSON line per command read from its stdin (wait for N connections, GC, counters,
  tracemalloc snapshots).
* The clients live in this process: raw non-blocking sockets, each driven by an
  :class:`RtmpConnection` in the client role on one selector thread. Each completes the
  handshake and ``connect``, waits for the ``_result``, then stays silent (it only answers
  pings), so every connection has its protocol handler, session and event receiver actors.
  At most ``--concurrency`` connections are in setup at a time.
* A few connections are opened and closed first (warm-up), then the server's RSS is read
  (after a ``gc.collect()`` in the server), N connections are opened, the server reports all
  N connected, and RSS is read again: (with N - with none) / N is the cost of one idle
  connection, the figure judged. Also reported: threads per connection, the time to accept
  and connect all N, the server's CPU time for that, live GC-tracked objects per connection
  by type, a breakdown of the growth by mapping kind (thread stacks, malloc heap, other
  anonymous memory) from ``/proc/PID/smaps``, and, once every client closed, what RSS, the
  thread count and the object count fall back to, before and after ``malloc_trim(0)``.
* ``--rounds`` repeats the open/close cycle in the same server: a leak shows as a rising
  floor, and each later round shows how much of the memory kept from the previous one is
  reused. ``--settle S`` re-measures S seconds after closing (cancelled timers of closed
  connections stay in the I/O loop's heap until their deadline).
* ``--tracemalloc`` runs the server under tracemalloc and prints where the Python
  allocations of the N connections come from (that run's RSS includes tracemalloc's own
  overhead, so its per-connection figure is not the benchmark's).

Run: ``.venv/bin/python benchmarks/idle_connections.py [--connections 1000] [--tracemalloc]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import errno
import gc
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pykka  # noqa: E402

from rtmp_actors.actors.actor_handle import ActorHandle  # noqa: E402
from rtmp_actors.actors.connection_unit import ConnectionInfo  # noqa: E402
from rtmp_actors.actors.event_receivers import EventReceiverActor  # noqa: E402
from rtmp_actors.actors.server_session import ServerSessionActor  # noqa: E402
from rtmp_actors.protocol.commands import Connect  # noqa: E402
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection  # noqa: E402
from rtmp_actors.protocol.messages import (  # noqa: E402
    CommandMessage,
    DetailedMessage,
    PingRequest,
    PingResponse,
)
from rtmp_actors.server import RtmpServer  # noqa: E402
from rtmp_actors.session.server_events import ConnectionRequested, Disconnected  # noqa: E402

TARGET_KB = 100
APP = "live"


# --- The server process ------------------------------------------------------------------------


class Counters:
    """Connection events seen by every receiver of the server."""

    def __init__(self) -> None:
        self.connected = 0
        self.disconnected = 0
        self.changed = threading.Condition()

    def add(self, *, connected: int = 0, disconnected: int = 0) -> None:
        with self.changed:
            self.connected += connected
            self.disconnected += disconnected
            self.changed.notify_all()

    def wait_connected(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` connections were requested in all; False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: self.connected >= count, timeout)


class IdleReceiver(EventReceiverActor):
    """Accepts every request; counts connections and disconnections."""

    def __init__(self, connection: ConnectionInfo, counters: Counters) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = connection.session
        self.counters = counters

    def send_event(self, event: Any) -> None:
        request_id = getattr(event, "request_id", None)
        if request_id is not None:
            self.session.tell(ServerSessionActor.accept_request, request_id)
        if isinstance(event, ConnectionRequested):
            self.counters.add(connected=1)
        elif isinstance(event, Disconnected):
            self.counters.add(disconnected=1)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tracemalloc_top(
    baseline: tracemalloc.Snapshot, key: str, top: int
) -> tuple[int, list[tuple[str, int, int]]]:
    """The growth since ``baseline``: total bytes, and the ``top`` sites by ``key``."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__)]
    )
    diff = snapshot.compare_to(baseline, key)
    total = sum(stat.size_diff for stat in diff)
    rows = []
    for stat in diff[:top]:
        frame = stat.traceback[0]
        where = frame.filename.removeprefix(str(ROOT) + "/")
        if key == "lineno":
            where = f"{where}:{frame.lineno}"
        rows.append((where, stat.size_diff, stat.count_diff))
    return total, rows


def malloc_trim() -> bool:
    """Give glibc's free heap memory back to the system (False if not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.malloc_trim(0)
    return True


def object_counts() -> collections.Counter[str]:
    """Live GC-tracked objects by type name."""
    return collections.Counter(type(obj).__qualname__ for obj in gc.get_objects())


def serve(args: argparse.Namespace) -> None:
    """The server process: answer commands from stdin, one JSON line each."""
    if args.tracemalloc:
        tracemalloc.start(1)
    counters = Counters()
    server = RtmpServer(
        "127.0.0.1",
        0,
        event_receiver_factory=lambda info: IdleReceiver.start(info, counters),
        max_connections=args.connections + 100,
    )
    baseline: tracemalloc.Snapshot | None = None
    baseline_objects: collections.Counter[str] = collections.Counter()
    try:
        server.start()
        print(json.dumps({"port": server.address[1]}), flush=True)
        for line in sys.stdin:
            command, *params = line.split()
            reply: dict[str, Any] = {}
            if command == "wait_connected":
                reply["ok"] = counters.wait_connected(int(params[0]), float(params[1]))
            elif command == "wait_closed":
                reply["ok"] = server.wait_for_connections(int(params[0]), float(params[1]))
            elif command == "gc":
                gc.collect()
            elif command == "snapshot":
                gc.collect()
                baseline_objects = object_counts()
                if args.tracemalloc:
                    baseline = tracemalloc.take_snapshot()
            elif command == "diff":
                gc.collect()
                top = int(params[0])
                grown = object_counts()
                grown.subtract(baseline_objects)
                reply["objects"] = grown.total()
                reply["by_type"] = grown.most_common(top)
                if baseline is not None:
                    reply["total"], reply["by_file"] = tracemalloc_top(baseline, "filename", top)
                    reply["by_line"] = tracemalloc_top(baseline, "lineno", top)[1]
            elif command == "trim":
                gc.collect()
                reply["trimmed"] = malloc_trim()
            elif command == "quit":
                break
            reply.update(
                connected=counters.connected,
                disconnected=counters.disconnected,
                open=server.connection_count,
                threads=threading.active_count(),
                cpu=cpu_seconds(),
            )
            print(json.dumps(reply), flush=True)
    finally:
        server.stop()
        pykka.ActorRegistry.stop_all()


class ServerProcess:
    """This script with ``--serve`` in a child process, spoken to line by line."""

    def __init__(self, connections: int, *, trace: bool) -> None:
        command = [sys.executable, __file__, "--serve", "--connections", str(connections)]
        if trace:
            command.append("--tracemalloc")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.pid = self.process.pid
        self.port: int = self._read()["port"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            msg = f"the server process exited ({self.process.wait()})"
            raise RuntimeError(msg)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, *command: object) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(map(str, command)) + "\n")
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.ask("quit")
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# --- Memory readings ---------------------------------------------------------------------------


@dataclass
class Memory:
    """Resident memory of a process, in KB, with a breakdown by mapping kind."""

    rss: int
    threads: int
    stacks: int
    stack_mappings: int
    heap: int
    other_anon: int
    file: int


def read_memory(pid: int) -> Memory:
    """VmRSS and Threads from /proc/PID/status; the breakdown from /proc/PID/smaps.

    Thread stacks are the anonymous read-write mappings of the default stack size minus its
    guard page (glibc maps each thread's stack on its own, with the guard separating them).
    """
    status: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    stack_kb = (soft if soft != resource.RLIM_INFINITY else 8 << 20) // 1024
    stacks = stack_mappings = heap = other_anon = file_backed = 0
    kind = ""
    with open(f"/proc/{pid}/smaps") as file:
        for line in file:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                start, end = (int(part, 16) for part in fields[0].split("-"))
                path = fields[5] if len(fields) > 5 else ""
                size_kb = (end - start) // 1024
                if path == "[heap]":
                    kind = "heap"
                elif path and not path.startswith("["):
                    kind = "file"
                elif not path and fields[1] == "rw-p" and stack_kb - 8 <= size_kb <= stack_kb:
                    kind = "stack"
                    stack_mappings += 1
                else:
                    kind = "anon"
            elif fields[0] == "Rss:":
                rss = int(fields[1])
                if kind == "stack":
                    stacks += rss
                elif kind == "heap":
                    heap += rss
                elif kind == "file":
                    file_backed += rss
                else:
                    other_anon += rss
    return Memory(
        rss=int(status["VmRSS"].split()[0]),
        threads=int(status["Threads"]),
        stacks=stacks,
        stack_mappings=stack_mappings,
        heap=heap,
        other_anon=other_anon,
        file=file_backed,
    )


# --- The clients -------------------------------------------------------------------------------


class IdleClient:
    """One client socket: handshake, ``connect``, then silence (pings are answered)."""

    def __init__(self, pump: ClientPump, port: int) -> None:
        self.pump = pump
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.connection = RtmpConnection(
            ConnectionRole.CLIENT, epoch=int(time.monotonic() * 1000) & 0xFFFFFFFF
        )
        connect = Connect(
            app=APP,
            tc_url=f"rtmp://127.0.0.1:{port}/{APP}",
            flash_ver="FMLE/3.0 (compatible; idle benchmark)",
            type="nonprivate",
        )
        # Held by the connection until the handshake is over, then sent with C2.
        self.connection.send_message(DetailedMessage(0, 0, connect.to_message()))
        self.connected = False
        result = self.sock.connect_ex(("127.0.0.1", port))
        if result not in (0, errno.EINPROGRESS):
            msg = f"connect failed: {os.strerror(result)}"
            raise OSError(msg)
        pump.selector.register(self.sock, selectors.EVENT_WRITE, self._on_connected)

    def _send(self, data: bytes) -> None:
        if not data:
            return
        sent = self.sock.send(data)
        if sent < len(data):  # never with these sizes on loopback; be correct anyway
            self.sock.setblocking(True)
            self.sock.sendall(data[sent:])
            self.sock.setblocking(False)

    def _on_connected(self) -> None:
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self.pump.fail(f"connect failed: {os.strerror(error)}")
            return
        self._send(self.connection.start())
        self.pump.selector.modify(self.sock, selectors.EVENT_READ, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            data = b""
            reason = str(error)
        else:
            reason = "the server closed the connection"
        if not data:
            self.pump.selector.unregister(self.sock)
            self.sock.close()
            self.pump.lost(self, reason)
            return
        result = self.connection.receive_data(data)
        self._send(result.to_send)
        for message in result.messages:
            content = message.content
            if isinstance(content, PingRequest):
                reply = DetailedMessage(0, 0, PingResponse(content.timestamp))
                self._send(self.connection.send_message(reply))
            elif (
                isinstance(content, CommandMessage)
                and content.transaction_id == 1
                and not self.connected
            ):
                if content.name != "_result":
                    self.pump.fail(f"connect answered with {content.name}")
                    return
                self.connected = True
                self.pump.client_connected()

    def close(self) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.pump.selector.unregister(self.sock)
        self.sock.close()


class ClientPump:
    """Opens, drives and closes idle clients on one thread with one selector."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.concurrency = concurrency
        self.selector = selectors.DefaultSelector()
        self._wakeup_read, self._wakeup_write = socket.socketpair()
        self._wakeup_read.setblocking(False)
        self.selector.register(self._wakeup_read, selectors.EVENT_READ, self._drain)
        self._lock = threading.Lock()
        self._clients: list[IdleClient] = []
        self._to_open = 0
        self._connected = 0
        self._target = 0
        self.all_connected = threading.Event()
        self.all_closed = threading.Event()
        self._close_requested = False
        self._stop = False
        self.failure: str | None = None
        self.unexpected_losses = 0
        self._thread = threading.Thread(target=self._run, name="client-pump", daemon=True)
        self._thread.start()

    # Called from the main thread.

    def open(self, count: int) -> None:
        """Open ``count`` more clients; ``all_connected`` is set once all are connected."""
        with self._lock:
            self.all_connected.clear()
            self._to_open += count
            self._target = len(self._clients) + count
        self._wakeup_write.send(b"\0")

    def close_all(self) -> None:
        """Close every client; ``all_closed`` is set once done."""
        with self._lock:
            self.all_closed.clear()
            self._close_requested = True
        self._wakeup_write.send(b"\0")

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._close_requested = True
        self._wakeup_write.send(b"\0")
        self._thread.join(30)
        self.selector.close()
        self._wakeup_read.close()
        self._wakeup_write.close()

    # Called on the pump thread.

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.all_connected.set()

    def client_connected(self) -> None:
        self._connected += 1
        if self._connected >= self._target:
            self.all_connected.set()

    def lost(self, client: IdleClient, reason: str) -> None:
        self.unexpected_losses += 1
        self._clients.remove(client)
        if client.connected:
            self._connected -= 1
        else:
            self.fail(f"a connection ended during setup: {reason}")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wakeup_read.recv(4096)

    def _in_setup(self) -> int:
        return len(self._clients) - self._connected

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    close, stop = self._close_requested, self._stop
                    self._close_requested = False
                if close:
                    for client in self._clients:
                        client.close()
                    self._clients.clear()
                    self._connected = 0
                    self.all_closed.set()
                if stop:
                    return
                while self._to_open and self._in_setup() < self.concurrency:
                    self._to_open -= 1
                    self._clients.append(IdleClient(self, self.port))
                for key, _mask in self.selector.select(1.0):
                    key.data()
        except Exception as error:  # reported to the main thread, which raises
            self.fail(f"client pump failed: {error!r}")
            raise


# --- The benchmark -----------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            msg = f"{needed} file descriptors needed, the hard limit is {hard} (ulimit -Hn)"
            raise SystemExit(msg)
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        print(f"raised the open file limit from {soft} to {needed}")


def breakdown(before: Memory, after: Memory, count: int) -> str:
    def per(value: int) -> str:
        return f"{value / count:.1f}"

    threads = after.threads - before.threads
    stacks = after.stacks - before.stacks
    per_thread = f"{stacks / threads:.1f} KB/thread, " if threads else ""
    return (
        f"  growth by kind, KB per connection: thread stacks {per(stacks)} "
        f"({per_thread}{after.stack_mappings - before.stack_mappings} stacks more), "
        f"[heap] {per(after.heap - before.heap)}, "
        f"other anonymous (pymalloc/malloc arenas) {per(after.other_anon - before.other_anon)}, "
        f"file-backed {per(after.file - before.file)}"
    )


def print_objects(diff: dict[str, Any], count: int) -> None:
    types = ", ".join(f"{name} {number / count:.1f}" for name, number in diff["by_type"])
    print(f"  GC-tracked objects per connection: {diff['objects'] / count:.1f} ({types})")


def print_tracemalloc(diff: dict[str, Any], count: int) -> None:
    print(
        f"  tracemalloc: Python allocations grew by {diff['total'] / 1024 / count:.1f} KB "
        "per connection; by file:"
    )
    for where, size, blocks in diff["by_file"]:
        print(f"    {size / 1024 / count:7.2f} KB  {blocks / count:6.1f} blocks  {where}")
    print("  by line:")
    for where, size, blocks in diff["by_line"]:
        print(f"    {size / 1024 / count:7.2f} KB  {blocks / count:6.1f} blocks  {where}")


def run_round(
    server: ServerProcess, pump: ClientPump, args: argparse.Namespace, index: int, first: Memory
) -> float:
    """Open N idle clients, measure, close them; return KB per connection against ``first``.

    ``first`` is the server's memory before the first round: memory the allocators kept from
    an earlier round is reused by the next, so only the RSS against ``first`` is the whole
    cost of N idle connections.
    """
    count: int = args.connections
    server.ask("snapshot")
    before = read_memory(server.pid)
    stats_before = server.ask("stats")
    started = time.perf_counter()
    pump.open(count)
    if not pump.all_connected.wait(args.timeout) or pump.failure:
        msg = f"clients did not all connect: {pump.failure or 'timed out'}"
        raise RuntimeError(msg)
    clients_done = time.perf_counter() - started
    wanted = stats_before["connected"] + count
    reply = server.ask("wait_connected", wanted, args.timeout)
    if not reply["ok"]:
        msg = f"the server saw {reply['connected'] - stats_before['connected']} of {count}"
        raise RuntimeError(msg)
    accept_time = time.perf_counter() - started
    setup_cpu = reply["cpu"] - stats_before["cpu"]
    server.ask("gc")
    after = read_memory(server.pid)
    per_connection = (after.rss - first.rss) / count
    print(
        f"round {index}: {count} idle connections: RSS {after.rss / 1024:.1f} MiB against "
        f"{first.rss / 1024:.1f} MiB with none: {per_connection:.1f} KB per connection "
        f"(target <= {TARGET_KB}: {'met' if per_connection <= TARGET_KB else 'MISSED'}); "
        f"this round added {(after.rss - before.rss) / count:.1f} KB per connection to the "
        f"{before.rss / 1024:.1f} MiB it started from"
    )
    print(
        f"  threads {before.threads} -> {after.threads} "
        f"({(after.threads - before.threads) / count:.2f} per connection); "
        f"all connected in {accept_time:.2f} s ({count / accept_time:.0f} connections/s, "
        f"clients saw their _result after {clients_done:.2f} s), "
        f"server CPU {setup_cpu:.2f} s ({setup_cpu / count * 1e3:.2f} ms per connection)"
    )
    print(breakdown(before, after, count))
    diff = server.ask("diff", args.top)
    print_objects(diff, count)
    if args.tracemalloc:
        print_tracemalloc(diff, count)
    pump.close_all()
    if not pump.all_closed.wait(args.timeout):
        msg = "the clients did not close"
        raise RuntimeError(msg)
    closed = server.ask("wait_closed", 0, args.timeout)
    if not closed["ok"]:
        msg = f"{closed['open']} connections still open on the server"
        raise RuntimeError(msg)
    print_after_close("after closing all", server, before, count)
    if server.ask("trim").get("trimmed"):
        trimmed = read_memory(server.pid)
        print(
            f"  after malloc_trim(0): RSS {trimmed.rss / 1024:.1f} MiB "
            f"({(trimmed.rss - before.rss) / 1024:+.1f} MiB against before)"
        )
    if args.settle:
        time.sleep(args.settle)  # not synchronisation: timers of closed connections expire
        print_after_close(f"{args.settle:.0f} s later", server, before, count)
    return per_connection


def print_after_close(when: str, server: ServerProcess, before: Memory, count: int) -> None:
    server.ask("gc")
    final = read_memory(server.pid)
    left = server.ask("diff", 5)
    print(
        f"  {when}: RSS {final.rss / 1024:.1f} MiB "
        f"({(final.rss - before.rss) / 1024:+.1f} MiB against before: stacks "
        f"{(final.stacks - before.stacks) / 1024:+.1f}, "
        f"[heap] {(final.heap - before.heap) / 1024:+.1f}, "
        f"other anonymous {(final.other_anon - before.other_anon) / 1024:+.1f}), "
        f"threads {final.threads}, "
        f"{left['objects']:+d} GC-tracked objects against before"
        + (f" (most: {left['by_type']})" if left["objects"] > count else "")
    )


def main() -> None:
    """Parse arguments; serve (``--serve``) or run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000, help="idle connections")
    parser.add_argument("--rounds", type=int, default=2, help="open/close cycles per server")
    parser.add_argument("--warmup", type=int, default=20, help="connections opened first")
    parser.add_argument("--concurrency", type=int, default=64, help="connections in setup")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed per step")
    parser.add_argument(
        "--settle", type=float, default=0, help="seconds to wait after closing, then re-measure"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the server's Python allocations"
    )
    parser.add_argument("--top", type=int, default=15, help="allocation sites shown")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    raise_fd_limit(args.connections + args.warmup + 256)
    server = ServerProcess(args.connections, trace=args.tracemalloc)
    pump: ClientPump | None = None
    try:
        pump = ClientPump(server.port, args.concurrency)
        start = read_memory(server.pid)
        print(
            f"server process {server.pid}: {start.rss / 1024:.1f} MiB, {start.threads} threads "
            "before warm-up"
        )
        pump.open(args.warmup)
        if not pump.all_connected.wait(args.timeout) or pump.failure:
            msg = f"warm-up failed: {pump.failure or 'timed out'}"
            raise RuntimeError(msg)
        pump.close_all()
        if (
            not pump.all_closed.wait(args.timeout)
            or not server.ask("wait_closed", 0, args.timeout)["ok"]
        ):
            msg = "the warm-up connections did not close"
            raise RuntimeError(msg)
        server.ask("gc")
        first = read_memory(server.pid)
        results = [
            run_round(server, pump, args, index, first) for index in range(1, args.rounds + 1)
        ]
        if pump.unexpected_losses:
            print(f"warning: the server dropped {pump.unexpected_losses} idle clients")
        worst = max(results)
        print(
            f"worst of {len(results)} rounds: {worst:.1f} KB per idle connection "
            f"(target <= {TARGET_KB}: {'met' if worst <= TARGET_KB else 'MISSED'})"
        )
        if args.tracemalloc:
            print("(tracemalloc run: RSS includes tracemalloc's overhead)")
    finally:
        if pump is not None:
            pump.stop()
        server.close()
        pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
