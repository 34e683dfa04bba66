"""The control API with real peers: FFmpeg 9 publishes, rtmpdump plays, ffprobe reads recordings."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.relay.config import ControlConfig, RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.peers import debian_tool, ffmpeg_exe, poll_until, stop_process
from tests.relay.test_control import TOKEN, call

TIMEOUT = 30

pytestmark = pytest.mark.peers


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayServer]:
    control = ControlConfig(token=TOKEN, record_dir=str(tmp_path / "records"), redirect_grace=1.0)
    server = RelayServer(RelayConfig(port=0, http_port=0, control=control)).start()
    yield server
    server.stop()


def url(relay: RelayServer, key: str = "cam") -> str:
    host, port = relay.address
    return f"rtmp://{host}:{port}/live/{key}"


@pytest.fixture
def ffmpeg(relay: RelayServer, h264_aac_flv: Path) -> Iterator[subprocess.Popen[bytes]]:
    """FFmpeg 9 publishing the sample in a loop, in real time, until the test ends it."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-stream_loop", "-1", "-i", str(h264_aac_flv),
        "-c", "copy", "-f", "flv", url(relay),
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    poll_until(lambda: publisher_of(relay) is not None, TIMEOUT, "FFmpeg to publish")
    yield process
    if process.poll() is None:
        stop_process(process, 5)
    process.communicate()


def publisher_of(relay: RelayServer) -> str | None:
    stats = relay.stream_stats_of("live", "cam", 1.0)
    return None if stats is None else stats.publisher


def messages_in(relay: RelayServer) -> int:
    stats = relay.stream_stats_of("live", "cam", 1.0)
    return 0 if stats is None else stats.messages_in


def clients(relay: RelayServer) -> list[dict[str, Any]]:
    status, document, _ = call(relay, "GET", "/control/clients")
    assert status == 200
    listed: list[dict[str, Any]] = document["clients"]
    return listed


def exited(process: subprocess.Popen[bytes], what: str) -> int:
    try:
        return process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{what} did not end")


def media_flows(relay: RelayServer, more: int) -> None:
    """Until the publisher has sent ``more`` messages beyond what it had sent so far."""
    target = messages_in(relay) + more
    poll_until(lambda: messages_in(relay) >= target, TIMEOUT, f"{more} more messages")


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["/usr/bin/ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format",
         "-of", "json", str(path)],
        capture_output=True, check=True, timeout=TIMEOUT,
    )  # fmt: skip
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_list_drop_a_player_record_then_drop_the_publisher(
    relay: RelayServer, ffmpeg: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    debian_tool("ffprobe")
    rtmpdump = subprocess.Popen(
        [debian_tool("rtmpdump"), "-q", "--live", "-r", url(relay), "-o", str(tmp_path / "p.flv")],
        stderr=subprocess.PIPE,
    )
    try:

        def playing() -> bool:
            return any(
                s["role"] == "player" and s["active"] for c in clients(relay) for s in c["streams"]
            )

        poll_until(playing, TIMEOUT, "rtmpdump to play")
        listed = {tuple(c["roles"]): c for c in clients(relay)}
        publisher, player = listed[("publisher",)], listed[("player",)]
        assert publisher["id"] == publisher_of(relay)
        assert publisher["flash_ver"].startswith("FMLE/3.0")  # FFmpeg's
        assert [(s["role"], s["key"]) for s in publisher["streams"]] == [("publisher", "cam")]
        assert [(s["role"], s["key"]) for s in player["streams"]] == [("player", "cam")]
        assert publisher["app"] == player["app"] == "live"

        # Dropping the player ends rtmpdump; FFmpeg goes on publishing.
        status, _, _ = call(relay, "POST", "/control/drop", {"client": player["id"]})
        assert status == 200
        exited(rtmpdump, "rtmpdump")
        media_flows(relay, 50)
        assert ffmpeg.poll() is None
        assert [c["id"] for c in clients(relay)] == [publisher["id"]]

        # A recording started mid-stream is a playable file of what came meanwhile.
        stream = {"app": "live", "key": "cam"}
        status, started, _ = call(relay, "POST", "/control/record/start", stream)
        assert status == 200
        media_flows(relay, 150)  # about two seconds of the sample
        status, stopped, _ = call(relay, "POST", "/control/record/stop", stream)
        assert status == 200
        assert stopped["file"] == started["file"]
        recorded = probe(Path(stopped["file"]))
        streams = {s["codec_type"]: s for s in recorded["streams"]}
        assert streams["video"]["codec_name"] == "h264"
        assert streams["audio"]["codec_name"] == "aac"
        assert int(streams["video"]["nb_read_packets"]) > 25
        assert float(recorded["format"]["duration"]) > 1.0

        # Dropping the publisher by its stream ends FFmpeg.
        status, document, _ = call(relay, "POST", "/control/drop", stream)
        assert (status, document["dropped"]) == (200, publisher["id"])
        exited(ffmpeg, "FFmpeg")
        poll_until(lambda: publisher_of(relay) is None, TIMEOUT, "the stream to end")
    finally:
        if rtmpdump.poll() is None:
            stop_process(rtmpdump, 5)
        rtmpdump.communicate()


def test_a_redirected_ffmpeg_is_dropped_after_the_grace_period(
    relay: RelayServer, ffmpeg: subprocess.Popen[bytes]
) -> None:
    (listed,) = clients(relay)
    body = {"app": "live", "key": "cam", "url": "rtmp://other.example/live"}
    status, document, _ = call(relay, "POST", "/control/redirect", body)
    assert status == 200
    assert document["redirected"] == listed["id"]
    # FFmpeg does not announce (nor act on) Enhanced RTMP reconnect requests.
    assert document["reconnect_capable"] is listed["reconnect_capable"] is False
    assert document["drop_after_seconds"] == 1.0
    exited(ffmpeg, "FFmpeg")
    assert relay.rtmp_server.wait_for_connections(0, TIMEOUT)
