"""The examples run as written (``python examples/<name>.py ...``) against an in-test server.

These are acceptance checks: each runs an example as a subprocess and compares what went over
the wire (or into the recorded file) with the sample FLV, message by message. Nothing is
re-encoded on the way (our client and server pass tag bodies through), so the sample itself is
the reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.media.flv import FlvTag, TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from tests.nginx_rtmp import free_port

# The samples are made by the real FFmpeg (tests/conftest.py).
pytestmark = pytest.mark.peers

TIMEOUT = 20.0
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# (tag type, timestamp, sha1 of the body) of each audio/video message, in order.
Media = list[tuple[int, int, str]]


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Stop every actor a test left running, even when it failed."""
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


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


class Peer(EventReceiverActor):
    """Queues every event and accepts every request, except publishing when told to refuse.

    A player gets ``play_tags`` (metadata and media) and then, with ``send_eof``, StreamEOF.
    """

    def __init__(
        self,
        info: ConnectionInfo,
        events: queue.Queue[Any],
        play_tags: Sequence[FlvTag],
        send_eof: bool,
        refuse: str | None,
    ) -> None:
        super().__init__()
        self.session = info.session
        self.events = events
        self.play_tags = play_tags
        self.send_eof = send_eof
        self.refuse = refuse

    def send_event(self, event: Any) -> None:
        self.events.put(event)
        request_id = getattr(event, "request_id", None)
        if request_id is None:
            return
        if self.refuse is not None and not isinstance(event, server.ConnectionRequested):
            self.session.reject_request.defer(request_id, self.refuse)
            return
        self.session.accept_request.defer(request_id)
        if isinstance(event, server.PlayStreamRequested):
            self.stream(event.stream_id)

    def stream(self, stream_id: int) -> None:
        for tag in self.play_tags:
            if tag.tag_type == TagType.SCRIPT_DATA:
                self.session.send_metadata.defer(stream_id, decode_values(tag.data)[1])
            elif tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
                kind = MediaType.AUDIO if tag.tag_type == TagType.AUDIO else MediaType.VIDEO
                self.session.send_av_data.defer(stream_id, kind, tag.timestamp, tag.data)
        if self.send_eof:
            self.session.send_stream_eof.defer(stream_id)


@contextlib.contextmanager
def peer_server(
    play_tags: Sequence[FlvTag] = (), *, send_eof: bool = True, refuse: str | None = None
) -> Iterator[tuple[str, queue.Queue[Any]]]:
    """An in-test server; yields the base URL (``rtmp://host:port/live``) and its events."""
    events: queue.Queue[Any] = queue.Queue()
    rtmp_server = RtmpServer(
        "127.0.0.1",
        0,
        event_receiver_factory=lambda info: Peer.start(info, events, play_tags, send_eof, refuse),
    ).start()
    try:
        host, port = rtmp_server.address
        yield f"rtmp://{host}:{port}/live", events
    finally:
        rtmp_server.stop()


def events_until_disconnected(events: queue.Queue[Any]) -> list[Any]:
    """Every server event up to and including ``Disconnected``; fail after the timeout."""
    seen: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while not seen or not isinstance(seen[-1], server.Disconnected):
        try:
            seen.append(events.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            kinds = [type(e).__name__ for e in seen[-20:]]
            msg = f"no Disconnected within {TIMEOUT} s; last events: {kinds}"
            raise AssertionError(msg) from None
    return seen


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
    with peer_server() as (base_url, events):
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
    with peer_server(refuse="stream key is taken") as (base_url, events):
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
    with peer_server(tags) as (base_url, events):
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
    with peer_server(tags, send_eof=False) as (base_url, events):
        started = time.monotonic()
        result = run_example("play_to_flv.py", f"{base_url}/key", str(out), "--seconds", "1")
        elapsed = time.monotonic() - started
        seen = events_until_disconnected(events)
    assert result.returncode == 0, result.stderr
    assert 1.0 <= elapsed < 10
    assert media_of(list(read_flv_file(out))) == media_of(tags)
    assert any(isinstance(e, server.PlayStreamFinished) for e in seen)


def test_play_to_flv_refused_by_the_server(tmp_path: Path) -> None:
    with peer_server(refuse="no such stream") as (base_url, events):
        result = run_example("play_to_flv.py", f"{base_url}/key", str(tmp_path / "out.flv"))
        events_until_disconnected(events)
    assert result.returncode == 1
    assert result.stderr.strip() == "play_to_flv: playback refused: no such stream"
