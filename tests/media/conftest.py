"""Media fixtures beyond the shared ones: a multitrack Enhanced FLV written by FFmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import run_ffmpeg


@pytest.fixture(scope="session")
def multitrack_flv(sample_dir: Path) -> Path:
    """One second of H.264 + HEVC video and AAC + Opus audio in one FLV.

    FFmpeg keeps the first stream of each kind as track 0 (legacy H.264 and AAC here) and sends
    the others as Enhanced RTMP multitrack packets (OneTrack, track id 1).
    """
    out = sample_dir / "multitrack.flv"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "1",
            "-map", "0:v", "-map", "0:v", "-map", "1:a", "-map", "1:a",
            "-c:v:0", "libx264", "-c:v:1", "libx265", "-x265-params", "log-level=error",
            "-preset", "ultrafast", "-g", "25",
            "-c:a:0", "aac", "-c:a:1", "libopus",
            "-f", "flv", str(out),
        )  # fmt: skip
    return out
