"""The gatekeeper and recording examples, and ``rtmp-actors serve --auth --record``, as processes.

Each runs as a user would start it; FFmpeg and our client publish to it; SIGTERM ends it.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvReader, FlvTag, TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import EventLog
from tests.peers import ffmpeg_exe

# The samples are made by the real FFmpeg (tests/conftest.py), which also publishes here.
pytestmark = pytest.mark.peers

TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass
class Example:
    """An example server running as a subprocess; its output lines arrive on queues."""

    process: subprocess.Popen[str]
    stdout: queue.Queue[str] = field(default_factory=queue.Queue)
    stderr: queue.Queue[str] = field(default_factory=queue.Queue)
    address: str = ""

    def line(self, prefix: str, source: str = "stdout") -> str:
        """The next line starting with ``prefix`` (others are skipped); fail after a timeout."""
        lines = self.stdout if source == "stdout" else self.stderr
        skipped: list[str] = []
        while True:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                msg = f"no {source} line starting {prefix!r}; got {skipped}"
                raise AssertionError(msg) from None
            if line.startswith(prefix):
                return line
            skipped.append(line)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(TIMEOUT)


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


@pytest.fixture
def start_example() -> Iterator[Any]:
    running: list[Example] = []

    def start(name: str, *args: str) -> Example:
        script = ["-m", "rtmp_actors"] if name == "serve" else [str(EXAMPLES / name)]
        process = subprocess.Popen(
            [sys.executable, *script, *([name] if name == "serve" else []), "--port", "0", *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        example = Example(process)
        running.append(example)
        for stream, lines in ((process.stdout, example.stdout), (process.stderr, example.stderr)):
            assert stream is not None
            threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()
        if name == "serve":
            listening = example.line("", "stderr")
            while "relay listening on rtmp://" not in listening:
                listening = example.line("", "stderr")
            example.address = listening.split("rtmp://")[1].split("/")[0]
        else:
            line = example.line("listening on ", "stderr")
            example.address = line.removeprefix("listening on ")
        return example

    yield start
    for example in running:
        if example.process.poll() is None:
            example.process.kill()
            example.process.wait(TIMEOUT)


def ffmpeg_publish(flv: Path, url: str) -> subprocess.CompletedProcess[str]:
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    command += ["-i", str(flv), "-c", "copy", "-f", "flv", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def media_of(tags: list[FlvTag]) -> list[tuple[int, int, bytes]]:
    return [
        (t.tag_type, t.timestamp, t.data)
        for t in tags
        if t.tag_type in (TagType.AUDIO, TagType.VIDEO)
    ]


def metadata_of(tags: list[FlvTag]) -> list[dict[str, Any]]:
    found = [decode_values(t.data) for t in tags if t.tag_type == TagType.SCRIPT_DATA]
    assert all(values[0] == "onMetaData" for values in found)
    return [dict(values[1]) for values in found]


# --- gatekeeper_server.py -----------------------------------------------------------------------


def test_the_gatekeeper_lets_ffmpeg_publish_only_with_a_known_key(
    start_example: Any, h264_aac_flv: Path
) -> None:
    gatekeeper = start_example("gatekeeper_server.py", "--key", "s3cret", "--key", "other")
    base = f"rtmp://{gatekeeper.address}/live"
    sample_media = len(media_of(list(read_flv_file(h264_aac_flv))))

    allowed = ffmpeg_publish(h264_aac_flv, f"{base}/s3cret")
    assert allowed.returncode == 0, allowed.stderr
    assert gatekeeper.line("accepted ") == "accepted publish live/s3cret from 127.0.0.1"
    # Everything FFmpeg sent got through to the server's receiver.
    assert gatekeeper.line("ended ") == f"ended publish live/s3cret: {sample_media} media messages"

    refused = ffmpeg_publish(h264_aac_flv, f"{base}/s3cre")
    assert refused.returncode != 0
    assert "denied" in refused.stderr.lower() or "badname" in refused.stderr.lower()
    assert gatekeeper.line("refused ") == (
        "refused publish live/s3cre from 127.0.0.1: unknown stream key"
    )
    assert gatekeeper.stop() == 0
    assert gatekeeper.stdout.empty()  # nothing else was accepted or published


def test_the_gatekeeper_refuses_players_of_unknown_keys(start_example: Any, tmp_path: Path) -> None:
    gatekeeper = start_example("gatekeeper_server.py", "--key", "s3cret")
    base = f"rtmp://{gatekeeper.address}/live"
    result = run_example("play_to_flv.py", f"{base}/nope", str(tmp_path / "out.flv"))
    assert result.returncode == 1
    assert result.stderr.strip() == "play_to_flv: playback refused: Play denied: unknown stream key"
    assert (
        gatekeeper.line("refused ") == "refused play live/nope from 127.0.0.1: unknown stream key"
    )
    # The right key is let in (the gatekeeper sends no media, so nothing gets recorded).
    result = run_example(
        "play_to_flv.py", f"{base}/s3cret?t=1", str(tmp_path / "out.flv"), "--seconds", "0.5"
    )
    assert result.stderr.strip() == "play_to_flv: nothing was recorded"
    assert gatekeeper.line("accepted ") == "accepted play live/s3cret from 127.0.0.1"
    assert gatekeeper.stop() == 0


# --- recording_server.py ------------------------------------------------------------------------


def test_the_recording_server_records_what_was_published_tag_by_tag(
    start_example: Any, h264_aac_flv: Path, tmp_path: Path
) -> None:
    record_dir = tmp_path / "recordings"
    recorder = start_example("recording_server.py", str(record_dir))
    sample = list(read_flv_file(h264_aac_flv))

    result = run_example("publish_flv.py", str(h264_aac_flv), f"rtmp://{recorder.address}/live/cam")
    assert result.returncode == 0, result.stderr
    started = recorder.line("recording ")
    path = Path(started.removeprefix("recording live/cam to "))
    assert path.parent == (record_dir / "live").resolve()
    assert recorder.line("recorded ") == (
        f"recorded live/cam to {path}: {len(media_of(sample))} media tags"
    )
    recorded = list(read_flv_file(path))
    assert recorded[0].tag_type == TagType.SCRIPT_DATA
    assert metadata_of(recorded) == metadata_of(sample)
    assert media_of(recorded) == media_of(sample)

    # FFmpeg publishing: a second file, never the first one overwritten.
    allowed = ffmpeg_publish(h264_aac_flv, f"rtmp://{recorder.address}/live/cam")
    assert allowed.returncode == 0, allowed.stderr
    second = Path(recorder.line("recording ").removeprefix("recording live/cam to "))
    recorder.line("recorded ")
    assert second != path
    assert len(media_of(list(read_flv_file(second)))) == len(media_of(sample))
    assert media_of(list(read_flv_file(path))) == media_of(sample)
    assert recorder.stop() == 0


def test_the_recording_server_keeps_hostile_keys_inside_and_finishes_on_sigterm(
    start_example: Any, tmp_path: Path
) -> None:
    record_dir = tmp_path / "recordings"
    recorder = start_example("recording_server.py", str(record_dir))
    log = EventLog()
    publisher = RtmpClient.connect(
        f"rtmp://{recorder.address}/live/x", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    key = "../../escaped"
    publisher.session.tell(ClientSessionActor.request_publish, key)
    assert log.wait(client.PublishResponseReceived).was_accepted
    path = Path(recorder.line("recording ").removeprefix(f"recording live/{key} to "))
    assert path.resolve().is_relative_to(record_dir.resolve())
    assert path.name.startswith("____escaped-")

    sent = [(MediaType.VIDEO, i * 40, b"\x17\x01\x00\x00\x00" + bytes([i]) * 64) for i in range(5)]
    publisher.session.tell(ClientSessionActor.publish_metadata, key, {"width": 64.0})
    for message in sent:
        publisher.session.tell(ClientSessionActor.publish_av_data, key, *message)
    publisher.session.tell(ClientSessionActor.stop_publish, key)
    assert recorder.line("recorded ") == f"recorded live/{key} to {path}: 5 media tags"

    # A publication still going when the server is stopped is finished all the same.
    publisher.session.tell(ClientSessionActor.request_publish, "still-live")
    assert log.wait(client.PublishResponseReceived).was_accepted
    live_path = Path(recorder.line("recording ").removeprefix("recording live/still-live to "))
    publisher.session.tell(
        ClientSessionActor.publish_av_data, "still-live", MediaType.AUDIO, 0, b"\xaf\x00\x12\x10"
    )
    assert recorder.stop() == 0
    assert recorder.line("recorded ").startswith(f"recorded live/still-live to {live_path}")
    with open(live_path, "rb") as stream:
        FlvReader(stream)  # a complete header at least, whatever was in flight

    recorded = list(read_flv_file(path))
    assert media_of(recorded) == [(TagType.VIDEO, t, data) for _, t, data in sent]
    assert metadata_of(recorded) == [{"width": 64.0}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recordings"]
    assert sorted(record_dir.rglob("*.flv")) == sorted([path, live_path])


# --- rtmp-actors serve --auth FILE --record DIR -------------------------------------------------


def test_serve_with_auth_and_record_refuses_strangers_and_finishes_files_on_sigterm(
    start_example: Any, h264_aac_flv: Path, tmp_path: Path
) -> None:
    record_dir, rules = tmp_path / "recordings", tmp_path / "auth.txt"
    rules.write_text("publish live/cam\nplay live/*\n")
    relay = start_example("serve", "--auth", str(rules), "--record", str(record_dir))
    base = f"rtmp://{relay.address}/live"
    refused = ffmpeg_publish(h264_aac_flv, f"{base}/guess")
    assert refused.returncode != 0

    # Our client publishes (and stays publishing) while SIGTERM comes.
    log = EventLog()
    publisher = RtmpClient.connect(f"{base}/cam", event_receiver_factory=log.receiver_factory())
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    publisher.session.tell(ClientSessionActor.request_publish, "cam")
    assert log.wait(client.PublishResponseReceived).was_accepted
    sent = [(MediaType.VIDEO, i * 40, b"\x17\x01\x00\x00\x00" + bytes([i]) * 64) for i in range(5)]
    publisher.session.tell(ClientSessionActor.publish_metadata, "cam", {"width": 64.0})
    for message in sent:
        publisher.session.tell(ClientSessionActor.publish_av_data, "cam", *message)
    # A player of the same stream tells when the relay (and so the recorder) has had it all.
    watcher = EventLog()
    player = RtmpClient.connect(f"{base}/cam", event_receiver_factory=watcher.receiver_factory())
    assert watcher.wait(client.ConnectionResponseReceived).was_accepted
    player.session.tell(ClientSessionActor.request_playback, "cam")
    assert watcher.wait(client.PlayResponseReceived).was_accepted
    # Once the player has the last frame, the relay (and so the recorder) had them all. It
    # may join before the stream has seen every frame, so earlier ones may come first.
    last = sent[-1][1]
    assert (
        watcher.wait(client.AudioVideoDataReceived, lambda e: e.timestamp == last).timestamp == last
    )
    assert relay.stop() == 0

    (path,) = record_dir.glob("live/cam-*.flv")
    with open(path, "rb") as stream:
        reader = FlvReader(stream)  # strict: finished properly
        assert (reader.header.has_audio, reader.header.has_video) == (False, True)
        tags = list(reader)
    # The recorder filled in the length of what it recorded (0 to 160 ms) and the file size.
    size = float(path.stat().st_size)
    assert metadata_of(tags) == [{"width": 64.0, "duration": 0.16, "filesize": size}]
    assert media_of(tags) == [(TagType.VIDEO, t, data) for _, t, data in sent]
    assert not list(record_dir.glob("live/guess*"))
