"""rtmpdump (librtmp, the same library OBS forked) playing from our server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.session import server_events as server
from tests.integration.media_server import (
    TIMEOUT,
    PlayScript,
    events_until_disconnected,
    media_server,
    sha1,
)
from tests.peers import debian_tool


def media(path: Path) -> list[tuple[int, int, str]]:
    """Audio/video tags as (type, timestamp, sha1), leaving out those librtmp skips.

    librtmp drops video messages of 5 bytes or fewer and audio of 1 byte or fewer as carrying
    no frame; that is the 5-byte AVC end-of-sequence tag FFmpeg writes at the end.
    """
    return [
        (tag.tag_type, tag.timestamp, sha1(tag.data))
        for tag in read_flv_file(path)
        if (tag.tag_type == TagType.VIDEO and len(tag.data) > 5)
        or (tag.tag_type == TagType.AUDIO and len(tag.data) > 1)
    ]


@pytest.mark.peers
@pytest.mark.parametrize("live", [True, False], ids=["live", "any"])
def test_rtmpdump_plays_every_tag(h264_aac_flv: Path, tmp_path: Path, live: bool) -> None:
    rtmpdump = debian_tool("rtmpdump")
    tags = list(read_flv_file(h264_aac_flv))
    out = tmp_path / "dumped.flv"
    with media_server(PlayScript(tags, close_after_play=True)) as running:
        command = [rtmpdump, "-q", "-r", f"{running.url}/key", "-o", str(out)]
        result = subprocess.run(
            [*command, "--live"] if live else command,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        seen = events_until_disconnected(running.events)
    # rtmpdump exits 0 on a complete download and 2 on an incomplete one (a live stream the
    # server ended is "incomplete" to it); anything else is a failure.
    assert result.returncode in (0, 2), result.stderr.decode(errors="replace")
    played = next(e for e in seen if isinstance(e, server.PlayStreamRequested))
    assert played.stream_key == "key"
    assert media(out) == media(h264_aac_flv)
