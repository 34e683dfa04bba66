"""``rtmp-actors push`` and ``rtmp-actors pull``, run as a user runs them, against real servers.

The tools run as subprocesses (their exit status and messages are part of what is tested).
What is compared: each recorded or received audio and video message (timestamp and sha1 of
the payload) against the FLV file that was pushed. Audio and video are compared as two
sequences: nginx-rtmp sends a stream's codec configuration to a player when it starts, so
the interleaving of the two may differ from the file's, but neither sequence may.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvTag, TagType, read_flv_file
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType, NewByteIOTotals
from rtmp_actors.tools import push
from rtmp_actors.tools.progress import Progress
from tests.actors.harness import TIMEOUT, EventLog, start_server
from tests.nginx_rtmp import free_port, nginx_rtmp

REPO = Path(__file__).resolve().parents[2]
TOOL_TIMEOUT = 60.0

# (timestamp, sha1 of the payload) of each message of one type, in order.
Track = list[tuple[int, str]]


def tool(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtmp_actors", *args]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tool(*args),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def start_tool(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        tool(*args),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str]) -> str:
    """The process's first line on standard error (a bounded wait)."""
    lines: queue.Queue[str] = queue.Queue()
    stderr = process.stderr
    assert stderr is not None
    threading.Thread(target=lambda: lines.put(stderr.readline()), daemon=True).start()
    try:
        return lines.get(timeout=TIMEOUT)
    except queue.Empty:
        process.kill()
        pytest.fail("the tool printed nothing")


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=TOOL_TIMEOUT)
    return process.returncode, stderr


def one_line_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The tool failed with ``status`` and said why in exactly one line."""
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def tracks(tags: Sequence[FlvTag]) -> dict[int, Track]:
    return {
        tag_type: [
            (t.timestamp, hashlib.sha1(t.data).hexdigest()) for t in tags if t.tag_type == tag_type
        ]
        for tag_type in (TagType.AUDIO, TagType.VIDEO)
    }


def media_tags(path: Path) -> list[FlvTag]:
    return [t for t in read_flv_file(path) if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]


def url_of(relay: RelayServer | Any, key: str) -> str:
    host, port = relay.address
    return f"rtmp://{host}:{port}/live/{key}"


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    running = RelayServer(RelayConfig(port=0)).start()
    yield running
    running.stop()


def waiting_player(relay: RelayServer, key: str) -> EventLog:
    log = EventLog()
    player = RtmpClient.connect(url_of(relay, key), event_receiver_factory=log.receiver_factory())
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    player.session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return log


# --- Through nginx-rtmp -------------------------------------------------------------------------


@pytest.mark.peers
def test_push_then_pull_through_nginx(h264_aac_flv: Path, tmp_path: Path) -> None:
    recording = tmp_path / "pulled.flv"
    with nginx_rtmp(tmp_path / "nginx") as port:
        url = f"rtmp://127.0.0.1:{port}/live/sample"
        puller = start_tool("pull", url, str(recording))
        try:
            assert first_line(puller).startswith("pull: playing ")  # waiting for the stream
            pushed = run_tool("push", str(h264_aac_flv), url)  # real time, the default
            assert pushed.returncode == 0, pushed.stderr
            status, pull_log = finished(puller)
        finally:
            if puller.poll() is None:
                puller.kill()
                puller.communicate()
    assert status == 0, pull_log
    assert "the stream ended" in pull_log
    # The player was waiting before the publisher came: nginx passes every message on.
    assert tracks(media_tags(recording)) == tracks(media_tags(h264_aac_flv))
    # Not a terminal: plain progress lines, the last one with the totals.
    assert "\r" not in pushed.stderr
    last = pushed.stderr.strip().splitlines()[-1]
    assert last.startswith("sent ")
    assert "media 0:00:01.9" in last
    assert "kbit/s" in last


# --- Against our relay --------------------------------------------------------------------------


def test_push_as_fast_as_possible_loops_with_continued_timestamps(
    h264_aac_flv: Path, relay: RelayServer
) -> None:
    log = waiting_player(relay, "fast")
    started = time.monotonic()
    result = run_tool(
        "push", str(h264_aac_flv), url_of(relay, "fast"), "--as-fast-as-possible", "--loop", "3"
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 5.0  # in real time, three passes of a 2-second file take over 6 s
    sample = media_tags(h264_aac_flv)
    received = [log.wait(client.AudioVideoDataReceived) for _ in range(3 * len(sample))]
    assert [e.data for e in received] == [t.data for t in sample] * 3
    # Each pass continues the time line where the one before ended.
    first = [e.timestamp for e in received[: len(sample)]]
    assert first == [t.timestamp for t in sample]
    shift = received[len(sample)].timestamp - sample[0].timestamp
    assert shift > max(first)
    for n in (1, 2):
        this_pass = received[n * len(sample) : (n + 1) * len(sample)]
        assert [e.timestamp for e in this_pass] == [t + n * shift for t in first]


def test_pull_stops_after_the_given_seconds_of_media(relay: RelayServer, tmp_path: Path) -> None:
    recording = tmp_path / "short.flv"
    puller = start_tool("pull", url_of(relay, "clock"), str(recording), "--seconds", "1")
    try:
        assert first_line(puller).startswith("pull: playing ")
        log = EventLog()
        source = RtmpClient.connect(
            url_of(relay, "clock"), event_receiver_factory=log.receiver_factory()
        )
        assert log.wait(client.ConnectionResponseReceived).was_accepted
        source.session.tell(ClientSessionActor.request_publish, "clock")
        assert log.wait(client.PublishResponseReceived).was_accepted
        source.session.tell(ClientSessionActor.publish_metadata, "clock", {"width": 64})
        sent = [(MediaType.VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e")]
        for i in range(75):  # three seconds at 25 frames per second, starting at 100 ms
            frame = (b"\x17" if i % 25 == 0 else b"\x27") + b"\x01\x00\x00\x00" + bytes([i]) * 9
            sent.append((MediaType.VIDEO, 100 + 40 * i, frame))
        for kind, timestamp, data in sent:
            source.session.tell(ClientSessionActor.publish_av_data, "clock", kind, timestamp, data)
        status, stderr = finished(puller)
    finally:
        if puller.poll() is None:
            puller.kill()
            puller.communicate()
    assert status == 0, stderr
    tags = list(read_flv_file(recording))
    assert tags[0].tag_type == TagType.SCRIPT_DATA  # the metadata came first
    # Time starts at the first message; everything before 1 s of media is there, in order.
    expected = [(ts, data) for _, ts, data in sent if ts < 1000]
    assert [(t.timestamp, t.data) for t in tags[1:]] == expected


# --- Failures: one line, non-zero -----------------------------------------------------------------


def test_refusals_print_the_servers_description(h264_aac_flv: Path, tmp_path: Path) -> None:
    log = EventLog()

    def decide(event: Any) -> str | None:
        if isinstance(event, server.PublishStreamRequested):
            return "publishing is closed today"
        if isinstance(event, server.PlayStreamRequested):
            return "no such show"
        return None

    refusing = start_server(log, decide)
    try:
        pushed = run_tool("push", str(h264_aac_flv), url_of(refusing, "k"))
        assert one_line_error(pushed) == "push: publishing refused: publishing is closed today"
        pulled = run_tool("pull", url_of(refusing, "k"), str(tmp_path / "x.flv"))
        assert one_line_error(pulled) == "pull: playback refused: no such show"
    finally:
        refusing.stop()
    closed = start_server(
        EventLog(), lambda e: "go away" if isinstance(e, server.ConnectionRequested) else None
    )
    try:
        pushed = run_tool("push", str(h264_aac_flv), url_of(closed, "k"))
        assert one_line_error(pushed) == "push: connection refused: go away"
    finally:
        closed.stop()


def test_bad_urls_and_files_exit_with_status_2(h264_aac_flv: Path, tmp_path: Path) -> None:
    not_rtmp = run_tool("push", str(h264_aac_flv), "http://example.com/live/k")
    assert "is not an rtmp:// or rtmps:// URL" in one_line_error(not_rtmp, 2)
    no_key = run_tool("pull", "rtmp://127.0.0.1/live", str(tmp_path / "x.flv"))
    assert "names no stream key" in one_line_error(no_key, 2)
    not_flv = tmp_path / "not.flv"
    not_flv.write_bytes(b"hello, world")
    bad_file = run_tool("push", str(not_flv), "rtmp://127.0.0.1/live/k")
    assert "not an FLV file" in one_line_error(bad_file, 2)


def test_unreachable_servers_are_reported(h264_aac_flv: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    pushed = run_tool("push", str(h264_aac_flv), f"rtmp://127.0.0.1:{port}/live/k")
    line = one_line_error(pushed)
    assert line.startswith(f"push: cannot connect to 127.0.0.1:{port}: ")
    assert "refused" in line
    pulled = run_tool("pull", "rtmp://nosuch.invalid/live/k", str(tmp_path / "x.flv"))
    assert one_line_error(pulled).startswith("pull: cannot reach nosuch.invalid: ")


def test_a_lost_connection_is_reported(h264_aac_flv: Path) -> None:
    relay = RelayServer(RelayConfig(port=0)).start()
    pusher = start_tool("push", str(h264_aac_flv), url_of(relay, "k"), "--loop", "0")
    try:
        assert first_line(pusher).startswith("push: publishing ")
        relay.stop()  # the server goes away in the middle of the push
        status, stderr = finished(pusher)
    finally:
        if pusher.poll() is None:
            pusher.kill()
            pusher.communicate()
    assert status == 1
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("push: connection lost")


# --- Pieces -------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_prints_lines_otherwise() -> None:
    now = [0.0]
    terminal = _Terminal()
    progress = Progress("sent", terminal, interval=1.0, clock=lambda: now[0])
    now[0] = 2.0
    progress.update(250_000, 2000)
    now[0] = 2.5
    progress.update(300_000, 2500)  # too soon: not shown
    now[0] = 4.0
    progress.update(500_000, 4000)
    progress.finish(500_000, 4000)
    text = terminal.getvalue()
    assert text.count("\r") == 3
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert "sent 244.1 KiB, media 0:00:02.0, 1000 kbit/s, 1.00x" in text
    assert "sent 488.3 KiB, media 0:00:04.0, 1000 kbit/s, 1.00x" in text

    log = io.StringIO()
    plain = Progress("recorded", log, interval=1.0, clock=lambda: now[0])
    now[0] = 6.0
    plain.update(1024, 1000)
    plain.finish(2048, 1500, " (done)")
    assert log.getvalue().splitlines() == [
        "recorded 1.0 KiB, media 0:00:01.0, 4 kbit/s, 0.50x",
        "recorded 2.0 KiB, media 0:00:01.5, 8 kbit/s, 0.75x (done)",
    ]


class _SlowClient:
    """Stands in for a slow client connection: 64 KiB more sent per byte report."""

    def __init__(self) -> None:
        self.handed = 0
        self.reported = 0
        self.worst_in_flight = 0
        self.timeout = 5.0

    def tell(
        self,
        method: Callable[..., object],
        _key: str,
        _kind: MediaType,
        _timestamp: int,
        data: bytes,
    ) -> None:
        assert method is ClientSessionActor.publish_av_data
        self.handed += len(data)
        self.worst_in_flight = max(self.worst_in_flight, self.handed - self.reported)

    def next_event(self, timeout: float) -> Any:
        # A report only comes while the sender waits (as time passes), 64 KiB at a time.
        if timeout <= 0 or self.reported >= self.handed:
            return None
        self.reported = min(self.handed, self.reported + 64 * 1024)
        return NewByteIOTotals(self.reported, 0)


def test_as_fast_as_possible_keeps_the_bytes_in_flight_bounded() -> None:
    slow = _SlowClient()
    sender = push._Sender(slow, "k", Progress("sent", enabled=False))  # type: ignore[arg-type]
    frame = bytes(50_000)
    for i in range(200):  # 10 MB, ten times the window
        sender.send(push._Media(MediaType.VIDEO, i * 40, frame))
    assert slow.handed == 200 * len(frame)
    assert slow.worst_in_flight <= push.WINDOW + len(frame)


@pytest.mark.peers
def test_a_server_that_dies_is_a_lost_connection(h264_aac_flv: Path, tmp_path: Path) -> None:
    recording = tmp_path / "partial.flv"
    workdir = tmp_path / "nginx"
    with nginx_rtmp(workdir) as port:
        url = f"rtmp://127.0.0.1:{port}/live/k"
        puller = start_tool("pull", url, str(recording))
        pusher = start_tool("push", str(h264_aac_flv), url, "--loop", "0")
        try:
            assert first_line(puller).startswith("pull: playing ")
            assert first_line(pusher).startswith("push: publishing ")
            assert first_line(puller).startswith("recorded ")  # a progress line: media came
            os.kill(int((workdir / "nginx.pid").read_text()), signal.SIGKILL)
            pull_status, pull_log = finished(puller)
            push_status, push_log = finished(pusher)
        finally:
            for process in (puller, pusher):
                if process.poll() is None:
                    process.kill()
                    process.communicate()
    assert (pull_status, push_status) == (1, 1)
    assert "Traceback" not in pull_log + push_log
    assert pull_log.strip().splitlines()[-1].startswith("pull: connection lost")
    assert f"{recording} has them" in pull_log
    assert push_log.strip().splitlines()[-1].startswith("push: connection lost")
    assert media_tags(recording)  # what came before is kept, readable
