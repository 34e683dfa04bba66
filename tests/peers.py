"""Finding the real peers tests talk to: a missing peer fails under CI=true, skips elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_peer(what: str) -> NoReturn:
    """Fail (in CI) or skip (elsewhere) because a peer is not installed."""
    message = f"peer not available: {what} (run `make peers` as root)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def ffmpeg_exe() -> str:
    """The FFmpeg binary shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg

        path = str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as error:
        missing_peer(f"imageio-ffmpeg's FFmpeg ({error})")
    return path


def debian_tool(name: str) -> str:
    """A command installed from Debian packages by scripts/install-peers.sh."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        missing_peer(name)
    return path


def run_ffmpeg(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run FFmpeg to completion; raise with its log on failure."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        log = result.stderr.decode(errors="replace")
        msg = f"ffmpeg failed ({result.returncode}): {' '.join(command)}\n{log}"
        raise AssertionError(msg)
    return result


def debian_ffmpeg() -> str:
    """Debian's FFmpeg 5.1 (an older FFmpeg without Enhanced RTMP), installed as a peer."""
    path = "/usr/bin/ffmpeg"
    if not shutil.which(path):
        missing_peer("Debian's ffmpeg")
    return path


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for an external process to bring ``condition`` about; fail after ``timeout``.

    Only for progress we cannot be told about (another process connecting): in-process
    waits use events and queues.
    """
    deadline = time.monotonic() + timeout
    idle = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        idle.wait(0.02)  # a bounded poll of another process, not synchronisation


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Ask a peer process to end (SIGTERM); kill it if it is still there after ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
