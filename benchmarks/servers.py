"""The server under test as its own process, for the benchmarks that compare servers.

``relay`` is ``rtmp-actors serve`` as users run it (the console script of this checkout, or
``--relay-tree DIR``: the same entry point imported from another source tree, such as a git
worktree of an older commit, run by this venv's Python). ``nginx`` is nginx-rtmp as
``tests/nginx_rtmp.py`` configures it (``master_process off``, so one process does all the
work). Both inherit this process's open file limit.

Also here: reading a process's CPU time and peak resident memory from ``/proc``, and making
children die with the benchmark; for ``cluster.py``, any relay command line as its own process
(:func:`relay_process`) and nginx-rtmp with several worker processes (:func:`nginx_workers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.nginx_rtmp  # noqa: E402
from tests.nginx_rtmp import free_port, nginx_rtmp  # noqa: E402
from tests.peers import stop_process  # noqa: E402

GB = 1e9
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
# The console script's entry point (setup.cfg), for a relay run from another source tree.
_RELAY_MAIN = "import sys; from rtmp_actors.cli import main; sys.exit(main(sys.argv[1:]))"


def raise_open_files(needed: int) -> int:
    """Raise the soft open file limit to at least ``needed`` (children inherit it).

    Returns:
        The soft limit now.

    Raises:
        RuntimeError: If the hard limit is below ``needed``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        msg = f"{needed} open files needed, the hard limit is {hard} (raise `ulimit -Hn`)"
        raise RuntimeError(msg)
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux only).

    Used as ``preexec_fn`` (or first thing in a child) so that no child outlives a benchmark
    that was killed outright, where ``finally`` blocks do not run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx: master and workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo.extend(int(child) for child in children.split())
    return pids


def cpu_times(pids: Sequence[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of the processes so far, all threads included."""
    user = system = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
        user += int(fields[11]) / CLOCK_TICKS
        system += int(fields[12]) / CLOCK_TICKS
    return user, system


def peak_rss(pids: Sequence[int]) -> int:
    """Sum of the processes' peak resident set sizes (VmHWM), in bytes."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


def count_sockets(port: int, states: Sequence[str] = ("state", "established")) -> int:
    """The server side sockets of ``port`` in ``states`` (an ``ss`` state filter)."""
    out = subprocess.run(
        ["ss", "-Htn", *states, f"( sport = :{port} )"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return len(out.splitlines())


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll another process's progress until ``condition`` holds (True) or ``timeout`` (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@dataclass
class RunningServer:
    """A started server under test.

    Attributes:
        kind: ``relay`` or ``nginx``.
        description: What runs, for the report.
        port: Its RTMP port on 127.0.0.1.
        pid: Its (main) process.
        http_port: The relay's stats port (None for nginx).
    """

    kind: str
    description: str
    port: int
    pid: int
    http_port: int | None = None

    def pids(self) -> list[int]:
        """The server's processes now."""
        return process_tree(self.pid)

    def players(self) -> int:
        """Players connected: the relay's own count, or nginx's established sockets.

        nginx keeps no count we can read cheaply, so every established connection counts.
        """
        if self.http_port is None:
            return count_sockets(self.port)
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/stats", timeout=10
            ) as reply:
                streams = json.load(reply)["streams"]
        except OSError:
            return 0  # busy or not listening yet
        return sum(int(stream["players"]) for stream in streams)

    def wait_for_players(self, count: int, timeout: float) -> bool:
        """Whether the server counts at least ``count`` players within ``timeout`` seconds."""
        return wait_for(lambda: self.players() >= count, timeout, 0.2)

    def connections(self) -> int:
        """Connections the server has not closed yet (the peer may have)."""
        return count_sockets(self.port, ("state", "connected", "exclude", "time-wait"))


def relay_command(tree: Path | None, args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``rtmp-actors serve ARGS``.

    Args:
        tree: A source tree to import ``rtmp_actors`` from; None for this checkout's
            installed console script.
        args: Arguments after ``serve``.
    """
    env = dict(os.environ)
    if tree is None:
        return [str(ROOT / ".venv" / "bin" / "rtmp-actors"), "serve", *args], env
    env["PYTHONPATH"] = str(tree)
    # -P: no script directory on sys.path, so nothing shadows the tree.
    return [sys.executable, "-P", "-c", _RELAY_MAIN, "serve", *args], env


def relay_origin(tree: Path | None) -> str:
    """Where the relay's ``rtmp_actors`` package is imported from, as the relay would."""
    command, env = relay_command(tree, [])
    python = command[0] if tree is not None else sys.executable
    out = subprocess.run(
        [python, "-P", "-c", "import rtmp_actors; print(rtmp_actors.__file__)"],
        env=env, cwd=tree or ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return str(Path(out.strip()).parent)


@contextlib.contextmanager
def server_under_test(
    kind: str, workdir: Path, relay_tree: Path | None = None, relay_args: Sequence[str] = ()
) -> Iterator[RunningServer]:
    """Run the relay or nginx-rtmp until the block ends.

    Args:
        kind: ``relay`` or ``nginx``.
        workdir: A scratch folder (nginx's configuration and logs).
        relay_tree: See :func:`relay_command`.
        relay_args: Extra ``rtmp-actors serve`` arguments.

    Raises:
        RuntimeError: If the server does not start listening.
    """
    if kind == "nginx":
        with nginx_rtmp(workdir / "nginx") as port:
            pid = int((workdir / "nginx" / "nginx.pid").read_text())
            yield RunningServer("nginx", "nginx-rtmp (tests/nginx_rtmp.py)", port, pid)
        return
    port, http_port = free_port(), free_port()
    args = ["--port", str(port), "--http", str(http_port), "--log-level", "WARNING", *relay_args]
    with relay_process(args, port, relay_tree) as relay:
        description = f"rtmp-actors serve ({relay_origin(relay_tree)})"
        yield RunningServer("relay", description, port, relay.pid, http_port)


@contextlib.contextmanager
def relay_process(
    args: Sequence[str], port: int, relay_tree: Path | None = None, host: str = "127.0.0.1"
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``rtmp-actors serve ARGS`` until the block ends, from when it accepts on ``port``.

    Args:
        args: All the ``serve`` arguments (the port among them).
        port: Where it listens.
        relay_tree: See :func:`relay_command`.
        host: Where it listens.

    Raises:
        RuntimeError: If the relay does not start listening.
    """
    command, env = relay_command(relay_tree, args)
    relay = subprocess.Popen(
        command,
        env=env,
        cwd=relay_tree or ROOT,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),  # noqa: PLW1509 (no threads yet)
    )
    try:

        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
                return True
            return False

        if not wait_for(listening, 30) or relay.poll() is not None:
            msg = f"the relay did not start listening on port {port}"
            raise RuntimeError(msg)
        yield relay
    finally:
        stop_process(relay, 30)


STATIC_NGINX = Path(__file__).resolve().parent / ".nginx-static" / "sbin" / "nginx"
BUILD_STATIC_NGINX = Path(__file__).resolve().parent / "build_nginx_static.sh"


def static_nginx() -> Path:
    """nginx with nginx-rtmp compiled in (built on first use by ``build_nginx_static.sh``).

    Debian's nginx-rtmp is a dynamic module (``load_module``): each worker opens its auto push
    socket after nginx's event module has registered the listening sockets, so nothing
    accepts on it. The worker with the publisher connects to the others' sockets (the kernel
    queues the connection) and waits for a handshake that never comes: players on the other
    workers get nothing (seen with nginx 1.22.1). Compiled in, the module's sockets are
    accepted, so several workers share a stream as nginx-rtmp documents.
    """
    if not STATIC_NGINX.exists():
        print("building nginx with nginx-rtmp compiled in (about a minute)...", flush=True)
        subprocess.run(["bash", str(BUILD_STATIC_NGINX)], check=True, stdout=subprocess.DEVNULL)
    return STATIC_NGINX


def nginx_workers_config(workers: int) -> str:
    """``tests/nginx_rtmp.py``'s configuration with a master and ``workers`` worker processes.

    For :func:`static_nginx` (no ``load_module``). ``rtmp_auto_push on``: a live stream
    published to one worker is pushed to the others (through Unix sockets in the nginx
    folder), so a player reaching any worker gets it. The workers run as this process's user
    (as the single process does; for root, nginx would otherwise switch them to ``nobody``,
    who may not write that folder).
    """
    one = "master_process off;\nworker_processes 1;\n"
    dynamic = "load_module {module};\n"
    if one not in tests.nginx_rtmp.CONFIG or dynamic not in tests.nginx_rtmp.CONFIG:
        msg = "tests/nginx_rtmp.py's CONFIG no longer loads the module and sets the workers"
        raise RuntimeError(msg)
    several = (
        f"master_process on;\nworker_processes {workers};\nuser {getpass.getuser()};\n"
        "rtmp_auto_push on;\nrtmp_socket_dir {dir};\n"
    )
    return tests.nginx_rtmp.CONFIG.replace(dynamic, "").replace(one, several)


@contextlib.contextmanager
def nginx_workers(workdir: Path, workers: int) -> Iterator[RunningServer]:
    """Run nginx-rtmp with ``workers`` worker processes (``rtmp_auto_push on``).

    The configuration is ``tests/nginx_rtmp.py``'s otherwise; the binary is
    :func:`static_nginx`'s; the server's ``pid`` is the master's, so
    :meth:`RunningServer.pids` has the master and its workers.
    """
    config = nginx_workers_config(workers)
    binary = static_nginx()
    with (
        mock.patch.object(tests.nginx_rtmp, "CONFIG", config),
        mock.patch.object(tests.nginx_rtmp, "debian_tool", return_value=str(binary)),
        nginx_rtmp(workdir) as port,
    ):
        pid = int((workdir / "nginx.pid").read_text())
        description = (
            f"nginx-rtmp ({binary.parent.parent.name}: nginx-rtmp compiled in, {workers} workers, "
            "rtmp_auto_push on; otherwise tests/nginx_rtmp.py)"
        )
        yield RunningServer("nginx", description, port, pid)
