"""``rtmp-actors serve --workers N``: N relay processes sharing one port, in one cluster.

Theory of operation:

* Python runs one relay on about one core, so a host's cores take one relay process each.
  The parent starts N workers, each ``rtmp-actors serve`` with the same arguments plus
  ``--reuse-port`` and ``--cluster-port 0``: every worker listens on the shared port with
  ``SO_REUSEPORT`` (the kernel spreads incoming connections over them) and on a private
  port of its own, which it advertises in the cluster directory. A player that reaches a
  worker where the stream is not published gets it pulled from the worker that has it,
  through that private port (the shared port might lead back to any worker).
* With ``--port 0`` the parent picks the port: it binds a socket with ``SO_REUSEPORT``
  (without listening, so no connection goes to it) and keeps it until the workers listen.
* The parent does nothing else: it forwards SIGINT/SIGTERM (and SIGHUP, which reloads the
  RTMPS certificate) to the workers and waits for them. A worker that exits by itself (a
  crash, its relay giving up) is started again after a second, at most ``MAX_RESTARTS``
  times a minute; past that the parent stops the others and exits with 1.
  Workers share a fixed ``--tls-port`` as they share the port.
* The HTTP and HTTPS ports (``--http``, ``--https-port``) are shared the same way: a
  request reaches any worker (HTTP-FLV of a stream published on another worker is pulled
  from it, as an RTMP player's is). Without an HLS ``dir`` the parent makes one temporary
  folder for all of them (deleted at the end): the worker a stream is published on writes
  its HLS there, and any worker serves it.
* Worker N's connection ids start ``wN.`` (``w2.s12``): the workers share one log, and an
  id from one worker's ``/stats`` never names another worker's client.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType

__all__ = ["MAX_RESTARTS", "run_workers", "worker_arguments"]

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5
"""Restarts of crashed workers allowed within a minute."""

_STOP_TIMEOUT = 30.0


def worker_arguments(
    argv: Sequence[str], port: int, shared: Mapping[str, str] | None = None
) -> list[str]:
    """The ``serve`` arguments of one worker: ``argv`` without ``--workers``, on ``port``.

    ``shared`` maps options (``--http``, say) to the values every worker gets in place of
    those given.
    """
    replaced = ("--workers", "--port", *(shared or {}))
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in replaced:
            skip = True
            continue
        if arg.startswith(tuple(f"{option}=" for option in replaced)):
            continue
        args.append(arg)
    given = [item for option, value in (shared or {}).items() for item in (option, value)]
    return [*args, *given, "--port", str(port), "--reuse-port", "--cluster-port", "0"]


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening ``SO_REUSEPORT`` socket: holds ``port`` (0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_workers(
    argv: Sequence[str],
    workers: int,
    host: str,
    port: int,
    *,
    shared_ports: Mapping[str, tuple[str, int]] | None = None,
    shared_hls: bool = False,
) -> int:
    """Run ``workers`` relay processes on ``host:port`` until SIGINT/SIGTERM; the exit status.

    Args:
        argv: The ``serve`` arguments as given (``--workers`` and ``--port`` are replaced).
        workers: How many processes.
        host: The listening address.
        port: The shared port (0: a free one, chosen here).
        shared_ports: More ports the workers share, by option: ``{"--http": (host, port)}``
            (port 0: a free one, chosen here).
        shared_hls: Make the workers one HLS folder (HLS is on, and its settings name none).
    """
    others = dict(shared_ports or {})
    reserved: list[socket.socket] = []
    try:
        for where_host, where_port in [(host, port), *others.values()]:
            try:
                reserved.append(_reserve_port(where_host, where_port))
            except OSError as error:
                print(
                    f"serve: cannot listen on {where_host}:{where_port}: {error}", file=sys.stderr
                )
                return 1
        port, *bound = (int(sock.getsockname()[1]) for sock in reserved)
        shared = {option: str(number) for option, number in zip(others, bound, strict=True)}
        for option, (option_host, _) in others.items():
            logger.info("the workers share %s %s:%s", option, option_host, shared[option])
        hls_dir = tempfile.mkdtemp(prefix="rtmp-actors-hls-") if shared_hls else None
        if hls_dir is not None:
            shared["--shared-hls-dir"] = hls_dir
        try:
            return _run_workers(worker_arguments(argv, port, shared), workers, host, port)
        finally:
            if hls_dir is not None:
                shutil.rmtree(hls_dir, ignore_errors=True)
    finally:
        for sock in reserved:  # held to the end: a restarted worker binds beside the others
            sock.close()


def _worker_command(command: list[str], index: int) -> list[str]:
    """Worker ``index``'s command: its connection ids start ``w<index + 1>.`` (one log)."""
    return [*command, "--worker-id", f"w{index + 1}"]


def _run_workers(arguments: list[str], workers: int, host: str, port: int) -> int:
    command = [sys.executable, "-m", "rtmp_actors", "serve", *arguments]
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=stop.set, name="workers-signal").start()

    processes: list[subprocess.Popen[bytes]] = []

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGHUP)

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    restarts: collections.deque[float] = collections.deque()
    status = 0
    try:
        processes.extend(
            subprocess.Popen(_worker_command(command, index), stdin=subprocess.DEVNULL)
            for index in range(workers)
        )
        logger.info(
            "started %d workers on %s:%d (pids %s)", workers, host, port, [p.pid for p in processes]
        )
        while not stop.wait(0.5):  # a worker's exit has no event to wait on: look twice a second
            for index, process in enumerate(processes):
                code = process.poll()
                if code is None:
                    continue
                now = time.monotonic()
                while restarts and now - restarts[0] > 60:
                    restarts.popleft()
                if len(restarts) >= MAX_RESTARTS:
                    logger.error(
                        "worker %d exited with %s; too many restarts, stopping", process.pid, code
                    )
                    status = 1
                    stop.set()
                    break
                restarts.append(now)
                logger.error("worker %d exited with %s; starting it again", process.pid, code)
                processes[index] = subprocess.Popen(
                    _worker_command(command, index), stdin=subprocess.DEVNULL
                )
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for process in processes:
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code not in (0, -signal.SIGTERM):
                logger.warning("worker %d stopped with status %s", process.pid, code)
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    return status
