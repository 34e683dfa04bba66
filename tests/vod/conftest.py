"""Shared media for the VOD tests: one FFmpeg-made file, and a relay that serves its folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.peers import run_ffmpeg

SECONDS = 6


@pytest.fixture(scope="session")
def vod_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``test.flv``: 6 s of H.264 (a keyframe a second) and AAC."""
    directory = tmp_path_factory.mktemp("vod")
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(SECONDS),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "flv", str(directory / "test.flv"),
    )  # fmt: skip
    return directory


@pytest.fixture
def vod_relay(vod_dir: Path) -> Iterator[RelayServer]:
    """A relay on a free port serving ``vod_dir`` as app ``vod``."""
    relay = RelayServer(RelayConfig(port=0, vod_dir=str(vod_dir))).start()
    yield relay
    relay.stop()
