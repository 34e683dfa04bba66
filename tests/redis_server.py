"""Run a real redis-server on a free loopback port, as the cluster directory for tests.

The server keeps nothing on disk (``--save '' --appendonly no``), so a restart brings it
back empty, as a production Redis without persistence comes back after a crash.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rtmp_actors.cluster.redis_directory import RedisDirectory
from tests.nginx_rtmp import free_port
from tests.peers import debian_tool, poll_until, stop_process


class RedisServer:
    """A redis-server process in ``workdir``, on a port chosen once (kept across restarts)."""

    def __init__(self, workdir: Path) -> None:
        self.executable = debian_tool("redis-server")
        self.workdir = workdir
        self.port = free_port()
        # Unix socket paths are limited to ~107 bytes: pytest's tmp_path can be longer.
        self.socket = Path(tempfile.gettempdir()) / f"rtmp-actors-redis-{self.port}.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """The same server through its Unix socket."""
        return f"unix://{self.socket}?db=0"

    def client(self) -> redis.Redis:
        """A plain client, to plant values and inspect what the directory stored."""
        return redis.Redis(port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))

    def directory(self, prefix: str = "rtmp_actors") -> RedisDirectory:
        """A directory on this server."""
        return RedisDirectory(self.url, prefix=prefix)

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path) -> Iterator[RedisServer]:
        """Run a redis-server in ``workdir`` until the block ends."""
        server = cls(workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    def plant_claim(self, name: str, value: str | bytes, ttl: float) -> None:
        """Store ``value`` as the claim on ``name`` (``app/key``), default prefix, for ``ttl`` s.

        For planting what a hostile or buggy writer would: nothing checks ``value``.
        """
        app, _, key = name.partition("/")
        with self.directory() as directory, self.client() as client:
            client.set(directory.stream_key(app, key), value, px=max(1, round(ttl * 1000)))

    def node_ids(self) -> list[str]:
        """The ids of the nodes registered (and alive) under the default prefix."""
        with self.directory() as directory:
            return [node.node_id for node in directory.nodes()]

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        assert self._process is None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "redis.log"
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket),
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(log),
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        process = self._process
        probe = self.client()

        def answers() -> bool:
            if process.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                pytest.fail(f"redis-server exited with {process.returncode}:\n{text[-2000:]}")
            try:
                return bool(probe.ping())
            except redis.RedisError:
                return False

        try:
            poll_until(answers, 10, f"redis-server to answer PING on port {self.port}")
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM; killed if it lingers); it forgets everything."""
        if self._process is not None:
            stop_process(self._process, 10)
            self._process = None
            self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop the server and start it again, empty, on the same port."""
        self.stop()
        self.start()


def redis_server(workdir: Path) -> contextlib.AbstractContextManager[RedisServer]:
    """Run a redis-server until the block ends (fails under CI, skips elsewhere, if missing)."""
    return RedisServer.running(workdir)
