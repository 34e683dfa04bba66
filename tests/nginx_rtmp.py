"""Start nginx with the RTMP module on a loopback port, as an upstream peer for tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.peers import debian_tool, missing_peer, poll_until, stop_process

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

CONFIG = """
load_module {module};
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 4096; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size {chunk_size};
        application live {{
            live on;
            record off;
            {application}
        }}
    }}
}}
"""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on the port, or fail."""

    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    poll_until(accepting, timeout, f"a server on port {port}")


@contextlib.contextmanager
def nginx_rtmp(workdir: Path, chunk_size: int = 4096, application: str = "") -> Iterator[int]:
    """Run nginx-rtmp (application ``live``) until the block ends; yields its port.

    ``application`` holds more directives for ``live`` (``hls on; ...``). The server's pid
    is in ``workdir/nginx.pid``.
    """
    nginx = debian_tool("nginx")
    if not RTMP_MODULE.exists():
        missing_peer("libnginx-mod-rtmp")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(
        CONFIG.format(
            module=RTMP_MODULE,
            dir=workdir,
            port=port,
            chunk_size=chunk_size,
            application=application,
        )
    )
    log = (workdir / "stderr.log").open("wb")
    process = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        stop_process(process, 10)
        log.close()
