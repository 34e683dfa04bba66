"""Shared fixtures: no actor outlives its test; sample media made by the real FFmpeg."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from tests.peers import run_ffmpeg

# A few seconds of synthetic picture and tone; small frames keep encoding fast.
_VIDEO_SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
_AUDIO_SOURCE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]

SAMPLE_ENCODINGS = {
    "h264_aac": [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-bf",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ],
    "hevc_aac": [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-g",
        "25",
        "-c:a",
        "aac",
    ],
    "av1_opus": ["-c:v", "libsvtav1", "-preset", "12", "-g", "25", "-c:a", "libopus"],
    "vp9_opus": [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-g",
        "25",
        "-c:a",
        "libopus",
    ],
}


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Stop every actor a test left running, even when the test failed.

    Autouse for every test directory: the actors of one test never reach the next one.
    """
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


def make_sample_flv(directory: Path, name: str, seconds: float = 2.0) -> Path:
    """Encode a sample FLV with FFmpeg (Enhanced FLV for HEVC/AV1/VP9/Opus)."""
    out = directory / f"{name}.flv"
    if not out.exists():
        run_ffmpeg(
            *_VIDEO_SOURCE,
            *_AUDIO_SOURCE,
            "-t",
            str(seconds),
            *SAMPLE_ENCODINGS[name],
            "-f",
            "flv",
            str(out),
        )
    return out


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for generated media."""
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def h264_aac_flv(sample_dir: Path) -> Path:
    """Two seconds of H.264 (with B-frames) and AAC in a legacy FLV."""
    return make_sample_flv(sample_dir, "h264_aac")


@pytest.fixture(scope="session")
def hevc_flv(sample_dir: Path) -> Path:
    """HEVC and AAC in an Enhanced FLV."""
    return make_sample_flv(sample_dir, "hevc_aac")


@pytest.fixture(scope="session")
def av1_opus_flv(sample_dir: Path) -> Path:
    """AV1 and Opus in an Enhanced FLV."""
    return make_sample_flv(sample_dir, "av1_opus")


@pytest.fixture(scope="session")
def vp9_opus_flv(sample_dir: Path) -> Path:
    """VP9 and Opus in an Enhanced FLV."""
    return make_sample_flv(sample_dir, "vp9_opus")


def make_self_signed(cert: Path, key: Path) -> None:
    """Write a new self-signed certificate and key for ``localhost`` and 127.0.0.1 (openssl).

    Each call makes a new key and serial number.
    """
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``localhost`` (made with openssl)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    make_self_signed(cert, key)
    return cert, key
