"""The relay with real peers: FFmpeg 9 and FFmpeg 5.1 publish; FFmpeg and rtmpdump play.

Every player's recording is compared with what was published, packet by packet (payload
SHA-1 and timestamp of every audio and video message), not merely "it did not crash". The
reference is FFmpeg's own ``-c copy`` remux of the sample, since FFmpeg's FLV muxer (used by
the publisher and by the FFmpeg player) regenerates a few Enhanced RTMP metadata packets.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from tests.integration.media_server import sha1
from tests.peers import debian_ffmpeg, debian_tool, ffmpeg_exe, poll_until

TIMEOUT = 60

Packets = list[tuple[int, int, str]]


def packets(path: Path, *, librtmp: bool = False) -> Packets:
    """(tag type, timestamp, payload SHA-1) of every audio/video tag.

    With ``librtmp``, leave out what librtmp drops on purpose: video messages of 5 bytes or
    fewer and audio of 1 byte or fewer (the AVC end-of-sequence tag).
    """
    return [
        (tag.tag_type, tag.timestamp, sha1(tag.data))
        for tag in read_flv_file(path)
        if tag.tag_type in (TagType.AUDIO, TagType.VIDEO)
        and not (librtmp and len(tag.data) <= (5 if tag.tag_type == TagType.VIDEO else 1))
    ]


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0)).start()
    yield server
    server.stop()


def reference(sample: Path, directory: Path) -> Path:
    out = directory / f"reference-{sample.name}"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-i", str(sample), "-c", "copy", "-f", "flv", str(out)],
        check=True, timeout=TIMEOUT,
    )  # fmt: skip
    return out


def start_players(url: str, directory: Path) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
    """An FFmpeg and an rtmpdump player, started before anybody publishes: they wait."""
    ffmpeg_out, rtmpdump_out = directory / "ffmpeg-player.flv", directory / "rtmpdump-player.flv"
    return {
        "ffmpeg": (
            subprocess.Popen(
                [
                    ffmpeg_exe(),
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-nostdin",
                    "-y",
                    "-i",
                    url,
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    str(ffmpeg_out),
                ],
                stderr=subprocess.PIPE,
            ),
            ffmpeg_out,
        ),
        "rtmpdump": (
            subprocess.Popen(
                [debian_tool("rtmpdump"), "-q", "--live", "-r", url, "-o", str(rtmpdump_out)],
                stderr=subprocess.PIPE,
            ),
            rtmpdump_out,
        ),
    }


def finish(process: subprocess.Popen[bytes]) -> str:
    """Wait for a player to stop (the relay tells it the publisher left); kill on timeout."""
    try:
        _, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"player did not stop when the publisher left: {err.decode()[-500:]}")
    return err.decode(errors="replace")


def wait_for_players(relay: RelayServer, count: int) -> None:
    """Until ``count`` players wait on the stream (they connect in their own time)."""

    def arrived() -> bool:
        stats = relay.stream_stats()
        return bool(stats) and stats[0].players >= count

    poll_until(arrived, 20, f"{count} players")


@pytest.mark.peers
@pytest.mark.parametrize(
    ("publisher", "sample", "options"),
    [
        ("ffmpeg9", "h264_aac_flv", []),
        ("ffmpeg9", "hevc_flv", ["-rtmp_enhanced_codecs", "hvc1,mp4a"]),
        ("ffmpeg9", "av1_opus_flv", ["-rtmp_enhanced_codecs", "av01,Opus"]),
        ("ffmpeg5", "h264_aac_flv", []),
    ],
    ids=["ffmpeg9-h264-aac", "ffmpeg9-hevc-aac", "ffmpeg9-av1-opus", "ffmpeg5.1-h264-aac"],
)
def test_players_receive_exactly_what_was_published(
    relay: RelayServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    publisher: str,
    sample: str,
    options: list[str],
) -> None:
    source: Path = request.getfixturevalue(sample)
    host, port = relay.address
    url = f"rtmp://{host}:{port}/live/interop"
    players = start_players(url, tmp_path)
    wait_for_players(relay, len(players))
    binary = ffmpeg_exe() if publisher == "ffmpeg9" else debian_ffmpeg()
    subprocess.run(
        [binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(source),
         "-c", "copy", *options, "-f", "flv", url],
        check=True, timeout=TIMEOUT,
    )  # fmt: skip

    expected = packets(reference(source, tmp_path))
    ffmpeg_player, ffmpeg_out = players["ffmpeg"]
    finish(ffmpeg_player)
    assert packets(ffmpeg_out) == expected
    rtmpdump_player, rtmpdump_out = players["rtmpdump"]
    finish(rtmpdump_player)
    # rtmpdump writes the messages as they come, whatever the codec.
    assert packets(rtmpdump_out, librtmp=True) == packets(reference(source, tmp_path), librtmp=True)
