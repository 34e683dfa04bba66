"""FFmpeg and rtmpdump play files on demand; a player that stops reading slows nobody."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.peers import debian_tool, poll_until, run_ffmpeg, stop_process
from tests.vod.helpers import file_media, media_from

TIMEOUT = 30


def packets(path: Path) -> list[str]:
    """ffprobe's view of every packet: stream, pts, size and flags."""
    result = subprocess.run(
        [
            debian_tool("ffprobe"), "-v", "error", "-show_entries",
            "packet=stream_index,pts,dts,size,flags", "-of", "csv", str(path),
        ],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


def url(relay: RelayServer, name: str) -> str:
    host, port = relay.address
    return f"rtmp://{host}:{port}/vod/{name}"


@pytest.mark.peers
def test_ffmpeg_plays_a_file_packet_by_packet(
    vod_relay: RelayServer, vod_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "played.flv"
    started = time.monotonic()
    run_ffmpeg("-i", url(vod_relay, "test.flv"), "-c", "copy", "-f", "flv", str(out))
    took = time.monotonic() - started
    assert packets(out) == packets(vod_dir / "test.flv")
    # Paced in real time, a second ahead: not at network speed, not slower than the file.
    assert 4.0 <= took <= 8.0


@pytest.mark.peers
def test_rtmpdump_starts_at_the_keyframe_before_start_and_stops(
    vod_relay: RelayServer, vod_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dumped.flv"
    command = [
        debian_tool("rtmpdump"), "-q", "-r", url(vod_relay, "test.flv"),
        "--start", "3", "--stop", "5", "-o", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    # librtmp writes each timestamp plus the --start it asked for: take it back off.
    dumped = [(kind, timestamp - 3000, data) for kind, timestamp, data in file_media(out)]
    expected = [m for m in media_from(vod_dir / "test.flv", 3000) if m[1] <= 5000]
    first_video = next(m for m in dumped[2:] if m[0].value == "video")
    assert first_video[2][:2] == b"\x17\x01"  # a keyframe ...
    assert 2000 <= first_video[1] <= 3000  # ... the one at or before 3 s
    assert dumped == expected


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a 5 s file of about 20 MB: far more than the socket buffers hold."""
    directory = tmp_path_factory.mktemp("vod-big")
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "25",
        "-c:a", "aac", "-f", "flv", str(directory / "big.flv"),
    )  # fmt: skip
    return directory


@pytest.fixture
def congested_relay(big_dir: Path) -> Iterator[RelayServer]:
    flow = replace(FlowControl(), high_water=512 * 1024, max_congestion=0.5)
    relay = RelayServer(RelayConfig(port=0, vod_dir=str(big_dir), flow=flow)).start()
    yield relay
    relay.stop()


@pytest.mark.peers
def test_a_player_that_stops_reading_slows_nobody(
    congested_relay: RelayServer, big_dir: Path, tmp_path: Path
) -> None:
    stalled_out = tmp_path / "stalled.flv"
    stalled = subprocess.Popen(
        [debian_tool("rtmpdump"), "-q", "-r", url(congested_relay, "big"), "-o", str(stalled_out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll_until(
            lambda: stalled_out.exists() and stalled_out.stat().st_size > 0,
            TIMEOUT,
            "rtmpdump to start receiving",
        )
        stalled.send_signal(signal.SIGSTOP)  # it reads no more
        out = tmp_path / "played.flv"
        started = time.monotonic()
        run_ffmpeg("-i", url(congested_relay, "big.flv"), "-c", "copy", "-f", "flv", str(out))
        took = time.monotonic() - started
        assert took <= 7.0  # a 5 s file, a second ahead: as if alone
        assert packets(out) == packets(big_dir / "big.flv")
        stalled.send_signal(signal.SIGCONT)
        # The stalled player was dropped for staying congested: its download is incomplete.
        assert stalled.wait(timeout=TIMEOUT) != 0
        dumped = [
            t for t in read_flv_file(stalled_out, strict=False) if t.tag_type != TagType.SCRIPT_DATA
        ]
        assert len(dumped) < len(file_media(big_dir / "big.flv"))
    finally:
        if stalled.poll() is None:
            stalled.send_signal(signal.SIGCONT)
            stop_process(stalled, 5)
