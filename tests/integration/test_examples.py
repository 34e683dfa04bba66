"""The examples run as written (``python examples/<name>.py ...``) against an in-test server.

These are acceptance checks: each runs an example as a subprocess and compares what went over
the wire (or into the recorded file) with the sample FLV, message by message. Nothing is
re-encoded on the way (our client and server pass tag bodies through), so the sample itself is
the reference.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.media.flv import FlvTag, TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from tests.integration.media_server import (
    PlayScript,
    events_until_disconnected,
    media_server,
    sha1,
)
from tests.nginx_rtmp import free_port

# The samples are made by the real FFmpeg (tests/conftest.py).
pytestmark = pytest.mark.peers

TIMEOUT = 20.0
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# (tag type, timestamp, sha1 of the body) of each audio/video message, in order.
Media = list[tuple[int, int, str]]


def media_of(tags: Sequence[FlvTag]) -> Media:
    return [
        (t.tag_type, t.timestamp, sha1(t.data))
        for t in tags
        if t.tag_type in (TagType.AUDIO, TagType.VIDEO)
    ]


def metadata_of(tags: Sequence[FlvTag]) -> dict[str, Any]:
    found = [decode_values(t.data) for t in tags if t.tag_type == TagType.SCRIPT_DATA]
    assert len(found) == 1, found
    assert found[0][0] == "onMetaData"
    return dict(found[0][1])


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` as a user would; killed (failing the test) after the timeout."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# --- publish_flv.py -----------------------------------------------------------------------------


def test_publish_flv_sends_every_tag(h264_aac_flv: Path) -> None:
    tags = list(read_flv_file(h264_aac_flv))
    with media_server(PlayScript()) as running:
        base_url, events = running.url, running.events
        result = run_example("publish_flv.py", str(h264_aac_flv), f"{base_url}/key")
        assert result.returncode == 0, result.stderr
        seen = events_until_disconnected(events)

    kinds = [type(e) for e in seen]
    connection = seen[kinds.index(server.ConnectionRequested)]
    assert (connection.app_name, connection.connect.tc_url) == ("live", base_url)
    publish = seen[kinds.index(server.PublishStreamRequested)]
    assert (publish.stream_key, publish.publish_type) == ("key", "live")
    metadata = [e for e in seen if isinstance(e, server.StreamMetaDataChanged)]
    assert len(metadata) == 1
    assert dict(metadata[0].raw) == metadata_of(tags)
    assert metadata[0].meta_data.video_codec == "H.264"

    received = [
        (
            TagType.AUDIO if e.data_type is MediaType.AUDIO else TagType.VIDEO,
            e.timestamp,
            sha1(e.data),
        )
        for e in seen
        if isinstance(e, server.AudioVideoDataReceived)
    ]
    assert received == media_of(tags)
    finished = seen[kinds.index(server.PublishingFinished)]
    assert (finished.stream_key, finished.stream_id) == ("key", publish.stream_id)
    assert kinds.index(server.PublishingFinished) > max(
        i for i, kind in enumerate(kinds) if kind is server.AudioVideoDataReceived
    )
    assert seen[-1] == server.Disconnected(None)


def test_publish_flv_to_a_closed_port_fails_clearly(h264_aac_flv: Path) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/key"
    result = run_example("publish_flv.py", str(h264_aac_flv), url)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("publish_flv: connection "), result.stderr
    assert "refused" in message.lower()
    assert "Traceback" not in result.stderr


def test_publish_flv_to_a_closed_port_names_the_socket_error(h264_aac_flv: Path) -> None:
    port = free_port()
    result = run_example("publish_flv.py", str(h264_aac_flv), f"rtmp://127.0.0.1:{port}/live/key")
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Connection refused" in result.stderr


def test_publish_flv_refused_by_the_server(h264_aac_flv: Path) -> None:
    with media_server(PlayScript(refuse="stream key is taken")) as running:
        base_url, events = running.url, running.events
        result = run_example("publish_flv.py", str(h264_aac_flv), f"{base_url}/key")
        seen = events_until_disconnected(events)
    assert result.returncode == 1
    assert result.stderr.strip() == "publish_flv: publishing refused: stream key is taken"
    assert any(isinstance(e, server.PublishStreamRequested) for e in seen)
    assert not any(isinstance(e, server.AudioVideoDataReceived) for e in seen)


# --- play_to_flv.py -----------------------------------------------------------------------------


def test_play_to_flv_records_until_the_stream_ends(h264_aac_flv: Path, tmp_path: Path) -> None:
    tags = list(read_flv_file(h264_aac_flv))
    out = tmp_path / "recorded.flv"
    with media_server(PlayScript(tags=tags)) as running:
        base_url, events = running.url, running.events
        started = time.monotonic()
        # The server ends the stream with StreamEOF, long before --seconds is up.
        result = run_example("play_to_flv.py", f"{base_url}/key", str(out), "--seconds", "15")
        elapsed = time.monotonic() - started
        seen = events_until_disconnected(events)
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, "play_to_flv did not stop at the end of the stream"

    recorded = list(read_flv_file(out))
    assert media_of(recorded) == media_of(tags)
    assert metadata_of(recorded) == metadata_of(tags)
    play = next(e for e in seen if isinstance(e, server.PlayStreamRequested))
    assert play.stream_key == "key"
    finished = [e for e in seen if isinstance(e, server.PlayStreamFinished)]
    assert [(e.stream_key, e.stream_id) for e in finished] == [("key", play.stream_id)]
    assert seen[-1] == server.Disconnected(None)


def test_play_to_flv_stops_after_seconds(h264_aac_flv: Path, tmp_path: Path) -> None:
    tags = list(read_flv_file(h264_aac_flv))
    out = tmp_path / "recorded.flv"
    with media_server(PlayScript(tags=tags, send_eof=False)) as running:
        base_url, events = running.url, running.events
        started = time.monotonic()
        result = run_example("play_to_flv.py", f"{base_url}/key", str(out), "--seconds", "1")
        elapsed = time.monotonic() - started
        seen = events_until_disconnected(events)
    assert result.returncode == 0, result.stderr
    assert 1.0 <= elapsed < 10
    assert media_of(list(read_flv_file(out))) == media_of(tags)
    assert any(isinstance(e, server.PlayStreamFinished) for e in seen)


def test_play_to_flv_refused_by_the_server(tmp_path: Path) -> None:
    with media_server(PlayScript(refuse="no such stream")) as running:
        base_url, events = running.url, running.events
        result = run_example("play_to_flv.py", f"{base_url}/key", str(tmp_path / "out.flv"))
        events_until_disconnected(events)
    assert result.returncode == 1
    assert result.stderr.strip() == "play_to_flv: playback refused: no such stream"
