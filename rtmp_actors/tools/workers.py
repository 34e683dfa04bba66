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
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["MAX_RESTARTS", "run_workers", "worker_arguments"]

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5
"""Restarts of crashed workers allowed within a minute."""

_STOP_TIMEOUT = 30.0


def worker_arguments(argv: Sequence[str], port: int) -> list[str]:
    """The ``serve`` arguments of one worker: ``argv`` without ``--workers``, on ``port``."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")):
            continue
        args.append(arg)
    return [*args, "--port", str(port), "--reuse-port", "--cluster-port", "0"]


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening ``SO_REUSEPORT`` socket: holds ``port`` (0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_workers(argv: Sequence[str], workers: int, host: str, port: int) -> int:
    """Run ``workers`` relay processes on ``host:port`` until SIGINT/SIGTERM; the exit status.

    Args:
        argv: The ``serve`` arguments as given (``--workers`` and ``--port`` are replaced).
        workers: How many processes.
        host: The listening address.
        port: The shared port (0: a free one, chosen here).
    """
    try:
        reserved = _reserve_port(host, port)
    except OSError as error:
        print(f"serve: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    port = reserved.getsockname()[1]
    command = [sys.executable, "-m", "rtmp_actors", "serve", *worker_arguments(argv, port)]
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
            subprocess.Popen(command, stdin=subprocess.DEVNULL) for _ in range(workers)
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
                processes[index] = subprocess.Popen(command, stdin=subprocess.DEVNULL)
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
        with contextlib.suppress(OSError):
            reserved.close()  # held to the end: a restarted worker binds beside the others
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    return status
