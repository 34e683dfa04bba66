"""``rtmp-actors serve`` and ``examples/relay_server.py`` as real processes.

Each runs as a user would start it (``python -m rtmp_actors serve ...``); the tests wait for
its "listening" log line, talk to it with our client (and FFmpeg), then send SIGTERM and
expect a polite end of every session and exit status 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors import cli
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.supervisor import ChildSpec
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import Disconnected, MediaType
from rtmp_actors.tools import serve as serve_tool
from rtmp_actors.tools.serve import JsonLogFormatter
from tests.actors.harness import EventLog
from tests.nginx_rtmp import free_port
from tests.peers import ffmpeg_exe, poll_until, run_ffmpeg
from tests.relay import http_flv_client
from tests.relay.test_relay import AAC_CONFIG, AVC_CONFIG, keyframe

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0


class Lines:
    """A process's output lines, collected on a thread so tests can wait on them."""

    def __init__(self, pipe: Any) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        """The next line matching ``predicate``; fail at the deadline or the end of output."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                msg = f"no matching line within {timeout} s; last lines: {self.seen[-10:]}"
                raise AssertionError(msg) from None
            if line is None:
                msg = f"the output ended; last lines: {self.seen[-10:]}"
                raise AssertionError(msg)
            self.seen.append(line)
            if predicate(line):
                return line

    def rest(self, timeout: float = 5.0) -> list[str]:
        """Every line up to the end of the output (the process has exited)."""
        self._thread.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)


@dataclass
class Running:
    process: subprocess.Popen[str]
    stderr: Lines
    port: int

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    def terminate(self) -> float:
        """SIGTERM; wait for exit status 0 and return how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=TIMEOUT)
        elapsed = time.monotonic() - started
        assert status == 0, self.stderr.rest()
        return elapsed


@contextlib.contextmanager
def running(command: list[str], listening: re.Pattern[str]) -> Iterator[Running]:
    """Run ``command`` until the block ends; ``listening`` finds the port in its stderr."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stderr = Lines(process.stderr)
        line = stderr.wait_for(lambda text: listening.search(text) is not None)
        match = listening.search(line)
        assert match is not None
        yield Running(process, stderr, int(match[1]))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextlib.contextmanager
def workers_running(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """``serve --port 0 --workers 2 ARGS`` until the block ends, then SIGTERM: it exits 0."""
    command = [sys.executable, "-m", "rtmp_actors", "serve", "--port", "0", "--workers", "2"]
    parent = subprocess.Popen(
        [*command, *args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield parent, Lines(parent.stderr)
    finally:
        parent.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            assert parent.wait(60) == 0  # up to a minute: the workers finish their links
        if parent.poll() is None:
            parent.kill()
            parent.wait()


SERVE_LISTENING = re.compile(r"relay listening on rtmp://127\.0\.0\.1:(\d+)/")


def serve(*args: str) -> contextlib.AbstractContextManager[Running]:
    command = [sys.executable, "-m", "rtmp_actors", "serve", *args]
    return running(command, SERVE_LISTENING)


def connected(url: str, log: EventLog) -> RtmpClient:
    rtmp_client = RtmpClient.connect(url, event_receiver_factory=log.receiver_factory())
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publishing(url: str, log: EventLog, key: str = "key") -> RtmpClient:
    rtmp_client = connected(url, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    assert log.wait(client.PublishResponseReceived).was_accepted
    return rtmp_client


def playing(url: str, log: EventLog, key: str = "key") -> RtmpClient:
    rtmp_client = connected(url, log)
    rtmp_client.session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return rtmp_client


def media(log: EventLog, count: int) -> list[tuple[MediaType, int, bytes]]:
    events = [log.wait(client.AudioVideoDataReceived) for _ in range(count)]
    return [(e.data_type, e.timestamp, e.data) for e in events]


# --- serve: SIGTERM ---------------------------------------------------------------------------


def test_sigterm_ends_every_session_politely_and_exits_0(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtmp_actors.session.client")
    port = free_port()
    with serve("--port", str(port)) as relay:
        assert relay.port == port
        watcher_log, source_log = EventLog(), EventLog()
        playing(relay.url, watcher_log)
        source = publishing(relay.url, source_log)
        sent = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
        sent.append((MediaType.VIDEO, 0, keyframe(1)))
        for kind, timestamp, data in sent:
            source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
        assert media(watcher_log, len(sent)) == sent

        assert relay.terminate() < 5.0
        lines = relay.stderr.rest()
    assert any("stopping: closing every session" in line for line in lines)
    assert not any("did not close in time" in line for line in lines)
    assert not any("Traceback" in line for line in lines), lines

    # The player was told the stream ended (StreamEOF, then NetStream.Play.Stop) before the
    # connection closed; a dropped connection would read StreamEnded "disconnected".
    ended = watcher_log.wait(client.StreamEnded)
    assert (ended.stream_key, ended.reason) == ("key", "eof")
    assert watcher_log.wait(Disconnected).reason is None
    assert not [e for e in watcher_log.seen if isinstance(e, client.StreamEnded) and e is not ended]
    # The publisher got NetStream.Unpublish.Success (our client logs it), then a clean close.
    assert source_log.wait(Disconnected).reason is None
    statuses = [r.getMessage() for r in caplog.records if "Unpublish.Success" in r.getMessage()]
    assert len(statuses) == 1, [r.getMessage() for r in caplog.records]
    assert source.connection_id in statuses[0]

    # The port is free at once: a second relay serves on it.
    with serve("--port", str(port)) as again:
        again_log = EventLog()
        publishing(again.url, again_log)
        assert again.terminate() < 5.0
    assert again_log.wait(Disconnected).reason is None


def test_a_taken_stats_port_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rtmp_actors", "serve", "--port", "0", "--http", str(port)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot serve stats on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_without_sessions_exits_0_promptly() -> None:
    with serve("--port", "0") as relay:
        assert relay.port != 0
        assert relay.terminate() < 3.0


class _Doomed(MonitoredActor):
    """A relay child with a bug: every incarnation fails on its first message."""

    def on_start(self) -> None:
        ActorHandle[_Doomed](self.actor_ref).tell(_Doomed.explode)

    def explode(self) -> None:
        msg = "injected bug in a relay child"
        raise RuntimeError(msg)


class _RelayWithABug(RelayServer):
    def _children(self) -> list[ChildSpec]:
        return [*super()._children(), ChildSpec("doomed", _Doomed.start)]


def test_serve_exits_1_when_the_relay_gives_up(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(serve_tool, "RelayServer", _RelayWithABug)
    with caplog.at_level(logging.ERROR):
        status = cli.main(["serve", "--port", "0"])  # returns with no signal: it gave up
    assert status == 1
    assert "the relay gave up" in capsys.readouterr().err
    assert "child 'doomed'" in caplog.text
    assert "injected bug in a relay child" in caplog.text


# --- serve: JSON logs and the stats endpoint --------------------------------------------------


def test_json_logs_and_http_stats() -> None:
    with serve("--port", "0", "--log-format", "json", "--http", "0") as relay:
        # Every line up to "relay listening" is one JSON object; the stats URL is among them.
        records = [json.loads(line) for line in relay.stderr.seen]
        for record in records:
            assert {"time", "level", "logger", "message"} <= record.keys(), record
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["time"])
        found = [re.search(r"http://127\.0\.0\.1:(\d+)/stats", r["message"]) for r in records]
        [match] = [m for m in found if m is not None]

        log = EventLog()
        source = publishing(relay.url, log, key="cam")
        source.session.tell(
            ClientSessionActor.publish_av_data, "cam", MediaType.VIDEO, 0, keyframe(1)
        )
        publisher_line = relay.stderr.wait_for(
            lambda line: "cam: s" in line and "publishing" in line
        )
        publisher_record = json.loads(publisher_line)
        assert publisher_record["logger"] == "rtmp_actors.relay.stream"
        assert publisher_record["level"] == "INFO"
        connection_id = publisher_record["connection_id"]
        assert re.fullmatch(r"s\d+", connection_id)
        assert f"live/cam: {connection_id} publishing" == publisher_record["message"]
        accepted = [json.loads(line) for line in relay.stderr.seen if "connection s" in line]
        assert accepted[0]["message"].startswith(f"connection {connection_id} from 127.0.0.1:")
        assert accepted[0]["connection_id"] == connection_id

        with urllib.request.urlopen(f"http://127.0.0.1:{match[1]}/stats", timeout=TIMEOUT) as r:
            document = json.load(r)
        assert document["connections"] == 1
        [stream] = document["streams"]
        assert (stream["app"], stream["key"], stream["publisher"]) == ("live", "cam", connection_id)

        # The same port plays the stream over HTTP-FLV, from the cached keyframe.
        flv = http_flv_client.request(int(match[1]), "/live/cam.flv")
        assert flv.status == 200
        tag = flv.tag()
        assert tag is not None
        assert tag.data == keyframe(1)
        flv.close()

        assert relay.terminate() < 5.0
        lines = relay.stderr.rest()
    for line in lines:
        json.loads(line)  # every line, to the end, is JSON
    closed = [json.loads(line) for line in lines if f"connection {connection_id} closed" in line]
    assert [record["connection_id"] for record in closed] == [connection_id]


def test_json_log_formatter() -> None:
    formatter = JsonLogFormatter()
    record = logging.LogRecord("rtmp_actors.x", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    record.connection_id = "s7"
    assert json.loads(formatter.format(record)) | {"time": "t"} == {
        "time": "t",
        "level": "WARNING",
        "logger": "rtmp_actors.x",
        "message": "a b",
        "connection_id": "s7",
    }
    try:
        raise ValueError("boom")  # a real traceback to format
    except ValueError:
        failed = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, 'say "hi"\n', (), sys.exc_info()
        )
    line = formatter.format(failed)
    assert "\n" not in line  # one line per record, whatever the message holds
    entry = json.loads(line)
    assert entry["message"] == 'say "hi"\n'
    assert "connection_id" not in entry
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: boom" in entry["exception"]


# --- examples/relay_server.py -----------------------------------------------------------------

EXAMPLE = REPO / "examples" / "relay_server.py"
EXAMPLE_LISTENING = re.compile(r"relay listening on 127\.0\.0\.1:(\d+)")


@pytest.mark.peers
def test_relay_server_example_relays_ffmpeg_to_players(h264_aac_flv: Path) -> None:
    tags = list(read_flv_file(h264_aac_flv))
    sample = [
        (MediaType.AUDIO if t.tag_type == TagType.AUDIO else MediaType.VIDEO, t.timestamp, t.data)
        for t in tags
        if t.tag_type in (TagType.AUDIO, TagType.VIDEO)
    ]
    [metadata] = [decode_values(t.data) for t in tags if t.tag_type == TagType.SCRIPT_DATA]
    live_metadata = dict(metadata[1]) | {"duration": 0, "filesize": 0}  # as FFmpeg sends live

    with running([sys.executable, str(EXAMPLE), "0"], EXAMPLE_LISTENING) as relay:
        early_log = EventLog()
        playing(relay.url, early_log)
        ffmpeg = subprocess.Popen(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
             "-i", str(h264_aac_flv), "-c", "copy", "-f", "flv", f"{relay.url}/key"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert dict(early_log.wait(client.StreamMetaDataReceived).raw) == live_metadata
            first = media(early_log, 10)
            # A late joiner: metadata and codec configuration first, then live media.
            late_log = EventLog()
            playing(relay.url, late_log)
            assert dict(late_log.wait(client.StreamMetaDataReceived).raw) == live_metadata
            assert ffmpeg.wait(timeout=TIMEOUT) == 0, ffmpeg.stderr
        finally:
            if ffmpeg.poll() is None:
                ffmpeg.kill()
                ffmpeg.wait()
        for log in (early_log, late_log):
            ended = log.wait(client.StreamEnded)  # the publisher left
            assert (ended.stream_key, ended.reason) == ("key", "eof")
        early = [
            (e.data_type, e.timestamp, e.data)
            for e in early_log.seen
            if isinstance(e, client.AudioVideoDataReceived)
        ]
        assert early[: len(first)] == first
        assert early == sample  # everything, unchanged, in order

        late = [
            (e.data_type, e.timestamp, e.data)
            for e in late_log.seen
            if isinstance(e, client.AudioVideoDataReceived)
        ]
        headers = [m for m in sample[:4] if m[2][1] == 0]  # AVC and AAC sequence headers
        assert len(headers) == 2
        assert late[:2] == headers
        rest = late[2:]
        assert rest, "the late joiner got no live media"
        assert rest == sample[len(sample) - len(rest) :]  # then the live stream, to its end
        assert relay.terminate() < 5.0


def test_serve_hls_writes_and_serves_playlists(tmp_path: Path, h264_aac_flv: Path) -> None:
    port = free_port()
    hls = tmp_path / "hls"
    with serve("--port", "0", "--http", str(port), "--hls", str(hls)) as relay:
        assert any("/hls/<app>/<stream key>/index.m3u8" in line for line in relay.stderr.seen)
        run_ffmpeg("-i", str(h264_aac_flv), "-c", "copy", "-f", "flv", f"{relay.url}/cam")
        playlist = hls / "live" / "cam" / "index.m3u8"
        relay.stderr.wait_for(lambda line: "HLS for live/cam" in line)
        poll_until(
            lambda: playlist.exists() and "#EXT-X-ENDLIST" in playlist.read_text(),
            TIMEOUT,
            "the playlist to end",
        )  # the relay writes it in another process
        url = f"http://127.0.0.1:{port}/hls/live/cam/index.m3u8"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            text = response.read().decode()
        assert text == playlist.read_text()
        assert "#EXTINF:2.000,\n0.ts\n" in text
        assert relay.terminate() < 5.0
