"""HTTP-FLV: /APP/KEY.flv on the relay's HTTP port, read by our own client and by FFmpeg."""

from __future__ import annotations

import http.server
import io
import json
import logging
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.media.flv import FlvReader, TagType, encode_tag
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData
from rtmp_actors.protocol.prepared import PreparedBatch, PreparedMessage
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hooks import HookSettings
from rtmp_actors.relay.http_flv import HttpFlvService
from rtmp_actors.relay.http_flv_request import FlvTarget, HttpRequestError, parse_flv_path
from rtmp_actors.relay.http_flv_sink import (
    FLV_STREAM_START,
    HttpFlvResponse,
    HttpFlvSink,
    flv_tag,
    http_chunk,
)
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server import PlayerNotice
from tests.actors.harness import EventLog
from tests.peers import debian_tool, ffmpeg_exe, poll_until, stop_process
from tests.relay import http_flv_client
from tests.relay.hook_server import HookServer, hook_server
from tests.relay.test_relay import (
    AAC_CONFIG,
    AVC_CONFIG,
    audio,
    inter,
    keyframe,
    media,
    player,
    publisher,
)

__all__ = ["hook_server"]  # the fixture, used by name

TIMEOUT = 30

# --- Names (sans-I/O) -----------------------------------------------------------------------


def test_a_path_names_app_key_and_query() -> None:
    target = parse_flv_path("/live/cam%201.flv?token=s3cret&x=%2F")
    assert target == FlvTarget("live", "cam 1", "token=s3cret&x=%2F")
    assert target.access_key == "cam 1?token=s3cret&x=%2F"
    assert parse_flv_path("/live/caf%C3%A9.flv").key == "café"
    assert parse_flv_path("/live/key.flv").access_key == "key"


ESCAPES = [
    ("/live/%2e%2e.flv", 400),
    ("/live/%2E%2E.flv", 400),
    ("/live/...flv", 400),  # key ".."
    ("/%2e%2e/key.flv", 400),
    ("/../key.flv", 400),
    ("/./key.flv", 400),
    ("/live/..%2f..%2fetc%2fpasswd.flv", 400),
    ("/live/a%5cb.flv", 400),
    ("/live/..%5c..%5cwin.flv", 400),
    ("/live/key%00.flv", 400),
    ("/live/key\x00.flv", 400),
    ("/li%00ve/key.flv", 400),
    ("/live/a%3Fb.flv", 400),
    ("/live/%zz.flv", 400),
    ("/live/%2.flv", 400),
    ("/live/%ff%fe.flv", 400),
    ("/live/" + "k" * 1025 + ".flv", 400),
    ("/" + "a" * 1025 + "/key.flv", 400),
    ("/live/key.flv?" + "t" * 1100, 400),
    ("/live/a/b.flv", 404),
    ("/live/../b.flv", 404),
    ("/a/b/c/d.flv", 404),
    ("/key.flv", 404),
    ("//key.flv", 404),
    ("/live/.flv", 404),
    ("/live/key.flv/x", 404),
    ("/live/key.mp4", 404),
    ("live/key.flv", 404),
]


@pytest.mark.parametrize(("path", "status"), ESCAPES)
def test_path_escapes_and_odd_shapes_are_refused(path: str, status: int) -> None:
    with pytest.raises(HttpRequestError) as caught:
        parse_flv_path(path)
    assert caught.value.status == status


_NAME = st.text(min_size=1, max_size=30).filter(
    lambda name: (
        name not in (".", "..")
        and not any(c in name for c in "/\\?")
        and all(ord(c) >= 0x20 and c != "\x7f" for c in name)
    )
)


@given(app=_NAME, key=_NAME, query=st.text("abc=&%0123456789", max_size=20))
def test_any_acceptable_name_comes_back_from_its_url(app: str, key: str, query: str) -> None:
    quote = urllib.parse.quote
    path = f"/{quote(app, safe='')}/{quote(key, safe='')}.flv" + (f"?{query}" if query else "")
    assert parse_flv_path(path) == FlvTarget(app, key, query)


@given(st.text(max_size=80))
def test_any_target_parses_or_is_refused_with_a_status(target: str) -> None:
    status = 200
    try:
        parsed = parse_flv_path(target)
    except HttpRequestError as error:
        status = error.status
    assert status in (200, 400, 404)
    if status != 200:
        return
    for name in (parsed.app, parsed.key):
        assert name not in ("", ".", "..")
        assert not any(c in name for c in "/\\?\x00")


# --- The sink (sans-I/O, a fake transport) ----------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.queued_bytes = 0
        self.is_closing = False
        self.closed: str | None = None
        self.aborted: str | None = None

    def send_data(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self, reason: str | None = None) -> None:
        self.is_closing, self.closed = True, reason or ""

    def abort(self, reason: str) -> None:
        self.is_closing, self.aborted = True, reason


def test_an_flv_tag_is_laid_out_as_in_a_file() -> None:
    tag = encode_tag(TagType.VIDEO, 0x12345678, b"\x17\x01\x00\x00\x00ab")
    assert tag == (
        b"\x09\x00\x00\x07\x34\x56\x78\x12\x00\x00\x00"  # type, size, timestamp, ext, stream 0
        b"\x17\x01\x00\x00\x00ab"
        b"\x00\x00\x00\x12"  # back pointer: 11 + 7
    )
    assert http_chunk(b"hello") == b"5\r\nhello\r\n"
    assert FLV_STREAM_START == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"


def _batch() -> PreparedBatch:
    return PreparedBatch(
        [
            PreparedMessage(DataMessage(("onMetaData", EcmaArray({"width": 320}))), 0),
            PreparedMessage(VideoData(AVC_CONFIG), 0),
            PreparedMessage(VideoData(keyframe(1)), 40),
            PreparedMessage(AudioData(audio(1)), 41),
            PreparedMessage(VideoData(inter(2)), 80),
        ]
    )


def test_every_player_gets_the_same_chunk_bytes_and_they_decode() -> None:
    batch = _batch()
    transports = [FakeTransport(), FakeTransport()]
    for transport in transports:
        sink = HttpFlvSink(HttpFlvResponse(transport, chunked=True), 1000, 5.0)
        assert sink.send_batch(batch, sink.new_rules(), 0.0)
    first, second = (transport.sent[0] for transport in transports)
    assert first is second  # built once, shared
    size, _, rest = first.partition(b"\r\n")
    assert int(size, 16) == len(rest) - 2
    assert rest.endswith(b"\r\n")
    tags = list(FlvReader(io.BytesIO(FLV_STREAM_START + rest[:-2])))
    assert [(t.tag_type, t.timestamp) for t in tags] == [(18, 0), (9, 0), (9, 40), (8, 41), (9, 80)]
    assert tags[2].data == keyframe(1)
    assert flv_tag(batch.messages[2]) is flv_tag(batch.messages[2])


_MEDIA = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(0, 0xFFFFFFFF),
        st.binary(min_size=1, max_size=300),
    ),
    min_size=1,
    max_size=12,
)


@given(messages=_MEDIA, chunked=st.booleans())
def test_any_batch_comes_back_tag_for_tag(
    messages: list[tuple[bool, int, bytes]], chunked: bool
) -> None:
    batch = PreparedBatch(
        [
            PreparedMessage(VideoData(data) if video else AudioData(data), timestamp)
            for video, timestamp, data in messages
        ]
    )
    transport = FakeTransport()
    sink = HttpFlvSink(HttpFlvResponse(transport, chunked=chunked), 1 << 30, 5.0)
    assert sink.send_batch(batch, sink.new_rules(), 0.0)
    wire = b"".join(transport.sent)
    if chunked:  # one chunk, as the client's decoder reads it (byte at a time)
        body = http_flv_client.ChunkedBody(io.BufferedReader(io.BytesIO(wire), 1), chunked=True)
        payload = b"".join(iter(lambda: body.read(1), b""))
    else:
        payload = wire
    tags = list(FlvReader(io.BytesIO(FLV_STREAM_START + payload)))
    assert [(t.tag_type, t.timestamp, t.data) for t in tags] == [
        (9 if video else 8, timestamp, data) for video, timestamp, data in messages
    ]


def test_a_congested_player_loses_inter_frames_and_audio_but_not_keyframes() -> None:
    transport = FakeTransport()
    sink = HttpFlvSink(HttpFlvResponse(transport, chunked=False), 100, 5.0)
    rules = sink.new_rules()
    transport.queued_bytes = 101
    assert sink.send_batch(_batch(), rules, 0.0)
    tags = list(FlvReader(io.BytesIO(FLV_STREAM_START + transport.sent[0])))
    assert [(t.tag_type, t.timestamp) for t in tags] == [(18, 0), (9, 0), (9, 40)]
    assert rules.dropped == 2
    # Still congested after max_congestion: dropped.
    assert not sink.send_batch(_batch(), rules, 6.0)
    assert transport.aborted is not None
    assert "congested" in transport.aborted


def test_the_publisher_leaving_ends_the_body_and_nothing_follows() -> None:
    transport = FakeTransport()
    response = HttpFlvResponse(transport, chunked=True)
    sink = HttpFlvSink(response, 1000, 5.0)
    assert sink.send_notice(PlayerNotice.PUBLISHED)
    assert not sink.send_notice(PlayerNotice.UNPUBLISHED)
    assert transport.sent == [b"0\r\n\r\n"]
    assert transport.closed == "the publisher stopped"
    response.send_data(b"late")
    assert not sink.send_batch(_batch(), sink.new_rules(), 0.0)
    assert transport.sent == [b"0\r\n\r\n"]


# --- Through the relay, with our own HTTP client ---------------------------------------------


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0, http_port=0)).start()
    yield server
    server.stop()


def http_port(relay: RelayServer) -> int:
    address = relay.http_address
    assert address is not None
    return address[1]


def send(source: Any, messages: list[tuple[MediaType, int, bytes]], key: str = "key") -> None:
    for kind, timestamp, data in messages:
        source.session.tell(ClientSessionActor.publish_av_data, key, kind, timestamp, data)


def gop(first: int, count: int) -> list[tuple[MediaType, int, bytes]]:
    messages = []
    for i in range(first, first + count):
        video = keyframe(i) if i % 10 == 0 else inter(i)
        messages += [(MediaType.VIDEO, i * 40, video), (MediaType.AUDIO, i * 40 + 1, audio(i))]
    return messages


def start_stream(relay: RelayServer, log: EventLog, key: str = "key") -> Any:
    """A publisher with metadata, sequence headers and a GOP and a half; a player has it all."""
    source = publisher(relay, log, key)
    source.session.tell(ClientSessionActor.publish_metadata, key, {"width": 320, "height": 240})
    send(source, [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)], key)
    send(source, gop(5, 10), key)  # frames 5..9 before the keyframe 10 are not cached
    watcher_log = EventLog()
    player(relay, watcher_log, key)  # it sees the cache's content: the stream is in place
    media(watcher_log, 2 + 10)
    return source


def test_a_client_gets_header_metadata_sequence_headers_then_the_gop(relay: RelayServer) -> None:
    source = start_stream(relay, EventLog())
    response = http_flv_client.request(http_port(relay), "/live/key.flv")
    assert response.status == 200
    assert response.headers["content-type"] == "video/x-flv"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["access-control-allow-origin"] == "*"
    first = [response.tag() for _ in range(5)]
    assert response.reader is not None
    assert response.reader.header.has_video
    assert [(t.tag_type, t.timestamp) for t in first if t] == [
        (TagType.SCRIPT_DATA, 0),
        (TagType.VIDEO, 0),
        (TagType.AUDIO, 0),
        (TagType.VIDEO, 400),
        (TagType.AUDIO, 401),
    ]
    assert first[0] is not None
    assert b"onMetaData" in first[0].data
    assert b"width" in first[0].data
    assert [t.data for t in first[1:] if t] == [AVC_CONFIG, AAC_CONFIG, keyframe(10), audio(10)]
    for _ in range(8):  # the rest of the cached GOP
        response.tag()
    send(source, gop(15, 3))
    live = [response.tag() for _ in range(6)]
    assert [t.data for t in live if t] == [data for _, _, data in gop(15, 3)]
    assert relay.stream_stats_of("live", "key") is not None
    assert stats_players(relay) == (1, 2)  # one HTTP-FLV client; it and the RTMP player
    metrics = http_flv_client.request(http_port(relay), "/metrics")
    assert "rtmp_actors_http_flv_players 1\n" in metrics.text()
    metrics.close()
    source.session.tell(ClientSessionActor.stop_publish, "key")
    assert response.tag() is None
    assert response.body.ended  # the terminating chunk, not a cut
    assert response.sock.recv(1) == b""  # then the server closes
    response.close()


def stats_players(relay: RelayServer) -> tuple[int, int]:
    """(HTTP-FLV clients, players of live/key) from /stats."""
    stats = http_flv_client.request(http_port(relay), "/stats")
    document = json.loads(stats.text())
    stats.close()
    players = [s["players"] for s in document["streams"] if s["key"] == "key"]
    return document["http_flv_players"], players[0] if players else 0


def test_an_http_1_0_client_gets_a_plain_body(relay: RelayServer) -> None:
    source = start_stream(relay, EventLog())
    response = http_flv_client.request(http_port(relay), "/live/key.flv", version="HTTP/1.0")
    assert response.status == 200
    assert "transfer-encoding" not in response.headers
    tags = [response.tag() for _ in range(3)]
    assert [t.data for t in tags if t][1:] == [AVC_CONFIG, AAC_CONFIG]
    source.session.tell(ClientSessionActor.stop_publish, "key")
    while response.tag() is not None:  # the rest of the GOP, then the end
        pass
    response.close()


def test_head_and_options(relay: RelayServer) -> None:
    start_stream(relay, EventLog())
    head = http_flv_client.request(http_port(relay), "/live/key.flv", method="HEAD")
    assert head.status == 200
    assert head.headers["content-type"] == "video/x-flv"
    assert head.sock.recv(100) == b""  # no body, and closed
    head.close()
    missing = http_flv_client.request(http_port(relay), "/live/other.flv", method="HEAD")
    assert missing.status == 404
    assert missing.sock.recv(100) == b""
    missing.close()
    options = http_flv_client.request(http_port(relay), "/live/key.flv", method="OPTIONS")
    assert options.status == 204
    assert options.headers["access-control-allow-origin"] == "*"
    assert "GET" in options.headers["access-control-allow-methods"]
    options.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/live/%2e%2e.flv", 400),
        ("/%2e%2e/key.flv", 400),
        ("/live/..%2fkey.flv", 400),
        ("/live/key%00.flv", 400),
        ("/live/a/key.flv", 404),
        ("/live/nobody.flv", 404),
        ("/live/" + "k" * 2000 + ".flv", 400),
    ],
)
def test_refusals_over_http(
    relay: RelayServer, path: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    start_stream(relay, EventLog())
    with caplog.at_level(logging.INFO, logger="rtmp_actors.relay.http_flv"):
        response = http_flv_client.request(http_port(relay), path)
        assert response.status == status
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.text()
        response.close()
    assert "HTTP-FLV" in caplog.text  # the log says why
    assert stats_players(relay) == (0, 1)


def test_a_client_that_goes_is_removed_from_its_stream(relay: RelayServer) -> None:
    start_stream(relay, EventLog())
    response = http_flv_client.request(http_port(relay), "/live/key.flv")
    assert response.tag() is not None
    assert stats_players(relay) == (1, 2)
    response.close()
    poll_until(lambda: stats_players(relay) == (0, 1), 10, "the HTTP-FLV player to leave")


class _AuthService(http.server.BaseHTTPRequestHandler):
    """Allows publishing, and playing with ``token=good`` in the key's query."""

    forms: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        self.forms.append(form)
        allowed = form["call"] == ["publish"] or form.get("args") == ["token=good"]
        self.send_response(204 if allowed else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def auth_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/auth"
    server.shutdown()
    server.server_close()


def test_the_auth_callback_decides_with_the_query_token(auth_url: str) -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, auth_url=auth_url)).start()
    try:
        start_stream_with_auth(relay)
        refused = http_flv_client.request(http_port(relay), "/live/key.flv?token=bad")
        assert refused.status == 403
        assert "Play denied" in refused.text()
        refused.close()
        allowed = http_flv_client.request(http_port(relay), "/live/key.flv?token=good")
        assert allowed.status == 200
        assert allowed.tag() is not None
        allowed.close()
        plays = [form for form in _AuthService.forms if form["call"] == ["play"]]
        assert plays[-1]["name"] == ["key"]
        assert plays[-1]["app"] == ["live"]
        assert plays[-1]["addr"] == ["127.0.0.1"]
    finally:
        relay.stop()


def start_stream_with_auth(relay: RelayServer) -> None:
    source = publisher(relay, EventLog())
    send(source, [(MediaType.VIDEO, 0, AVC_CONFIG), *gop(10, 2)])
    poll_until(lambda: messages_in(relay) == 5, 10, "the media to reach the stream")


def messages_in(relay: RelayServer) -> int:
    """Media messages live/key has had from its publisher (-1: no such stream)."""
    stats = relay.stream_stats_of("live", "key")
    return -1 if stats is None else stats.messages_in


def test_the_access_file_refuses_with_403(tmp_path: Path) -> None:
    rules = tmp_path / "access"
    rules.write_text("publish live/*\nplay live/open\n")
    relay = RelayServer(RelayConfig(port=0, http_port=0, auth_file=str(rules))).start()
    try:
        start_stream_with_auth(relay)
        refused = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert refused.status == 403
        refused.close()
    finally:
        relay.stop()


def test_a_slow_client_is_dropped_without_slowing_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = FlowControl(high_water=256 * 1024, max_congestion=0.3)
    relay = RelayServer(RelayConfig(port=0, http_port=0, flow=flow)).start()
    try:
        source = publisher(relay, EventLog())
        send(source, [(MediaType.VIDEO, 0, AVC_CONFIG)])
        rtmp_log = EventLog()
        player(relay, rtmp_log)
        assert media(rtmp_log, 1)
        fast = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert (tag := fast.tag()) is not None
        assert tag.data == AVC_CONFIG
        slow = http_flv_client.request(
            http_port(relay), "/live/key.flv", receive_buffer=4096, read_body=False
        )
        poll_until(lambda: stats_players(relay)[0] == 2, 10, "both HTTP-FLV clients")
        big = 16 * 1024  # a burst stays below the high-water mark
        frame = 0
        with caplog.at_level(logging.INFO):
            while stats_players(relay)[0] == 2:  # until the slow client is dropped
                assert frame < 2000, "the slow client was never dropped"
                burst = [
                    (
                        MediaType.VIDEO,
                        i * 40,
                        (keyframe(i) if i % 10 == 0 else inter(i)) + bytes(big),
                    )
                    for i in range(frame, frame + 10)
                ]
                frame += 10
                send(source, burst)
                # Everybody else gets every frame of the burst, at once.
                assert [data for _, _, data in media(rtmp_log, 10)] == [d for _, _, d in burst]
                fast_tags = [fast.tag() for _ in burst]
                assert [t.data for t in fast_tags if t] == [d for _, _, d in burst]
        assert "stayed congested" in caplog.text
        assert "media messages dropped" in caplog.text
        slow.close()
        fast.close()
    finally:
        relay.stop()


# --- FFmpeg publishes and reads ----------------------------------------------------------------


@pytest.mark.peers
def test_ffmpeg_reads_the_http_flv_url(relay: RelayServer, tmp_path: Path) -> None:
    rtmp_port = relay.address[1]
    publish = subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/key"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        poll_until(lambda: messages_in(relay) > 30, 20, "FFmpeg to publish")
        out = tmp_path / "played.flv"
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-i", f"http://127.0.0.1:{http_port(relay)}/live/key.flv",
             "-t", "2", "-c", "copy", "-f", "flv", str(out)],
            check=True, timeout=TIMEOUT, capture_output=True,
        )  # fmt: skip
        probe = subprocess.run(
            [debian_tool("ffprobe"), "-v", "error", "-show_entries",
             "stream=codec_type,codec_name:packet=stream_index,codec_type,flags",
             "-of", "csv", str(out)],
            check=True, timeout=TIMEOUT, capture_output=True, text=True,
        ).stdout  # fmt: skip
        lines = probe.splitlines()
        assert "stream,h264,video" in lines
        assert "stream,aac,audio" in lines
        video = [line for line in lines if line.startswith("packet,video")]
        assert len(video) >= 40  # two seconds at 25 fps
        assert video[0].split(",")[-1].startswith("K")  # it starts at a keyframe
    finally:
        stop_process(publish, 10)


def test_http_flv_can_be_turned_off() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, http_flv=False)).start()
    try:
        start_stream(relay, EventLog())
        response = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert response.status == 404
        assert response.text() == "not found\n"
        response.close()
    finally:
        relay.stop()


# --- Streams the relay pulls on a player's request ------------------------------------------


def test_an_edge_pulls_the_stream_an_http_flv_client_asks_for(relay: RelayServer) -> None:
    """Nobody publishes on the edge: the client's request makes it pull from the origin."""
    source = start_stream(relay, EventLog())  # on the origin
    host, port = relay.address
    edge = RelayServer(RelayConfig(port=0, http_port=0, pull=(f"rtmp://{host}:{port}/live",)))
    edge.start()
    try:
        response = http_flv_client.request(http_port(edge), "/live/key.flv")
        assert response.status == 200
        tags = [response.tag() for _ in range(4)]
        assert [t.data for t in tags[1:] if t] == [AVC_CONFIG, AAC_CONFIG, keyframe(10)]
        response.close()
    finally:
        edge.stop()
    del source


def test_a_pulled_stream_that_never_starts_ends_the_response(
    relay: RelayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HttpFlvService, "PULL_WAIT", 0.5)
    host, port = relay.address  # an origin where nobody publishes
    pull = f"rtmp://{host}:{port}/live#live/*"  # for the edge's app live only
    edge = RelayServer(RelayConfig(port=0, http_port=0, pull=(pull,)))
    edge.start()
    try:
        response = http_flv_client.request(http_port(edge), "/live/key.flv")
        assert response.status == 200  # decided before the pull could tell
        assert response.tag() is None
        assert response.body.ended  # ended, not cut
        response.close()
        elsewhere = http_flv_client.request(http_port(edge), "/other/key.flv")
        assert elsewhere.status == 404  # no pull URL for that app, and nobody publishes it
        elsewhere.close()
    finally:
        edge.stop()


def test_a_client_that_leaves_is_told_to_on_play_done(hook_server: HookServer) -> None:
    hooks = HookSettings(on_play_done=hook_server.url("/on_play_done"), timeout=5.0)
    relay = RelayServer(RelayConfig(port=0, http_port=0, hooks=hooks)).start()
    try:
        start_stream(relay, EventLog())
        response = http_flv_client.request(http_port(relay), "/live/key.flv?token=t")
        assert response.status == 200
        assert response.tag() is not None
        response.close()  # the client goes
        (form,) = hook_server.wait("/on_play_done")
        assert (form["call"], form["app"], form["name"], form["args"]) == (
            "play_done",
            "live",
            "key",
            "token=t",
        )
        assert form["clientid"].startswith("http-flv-")
    finally:
        relay.stop()


def test_on_update_follows_the_client_and_a_refusal_ends_its_response(
    hook_server: HookServer,
) -> None:
    def over_http(form: dict[str, str]) -> bool:
        return form.get("clientid", "").startswith("http-flv-")

    hook_server.answer = lambda path, form: 403 if over_http(form) else 200
    hooks = HookSettings(
        on_update=hook_server.url("/on_update"),
        on_play_done=hook_server.url("/on_play_done"),
        notify_update_timeout=0.2,
        timeout=5.0,
    )
    relay = RelayServer(RelayConfig(port=0, http_port=0, hooks=hooks)).start()
    try:
        start_stream(relay, EventLog())
        response = http_flv_client.request(http_port(relay), "/live/key.flv?token=t")
        assert response.status == 200
        (update,) = hook_server.wait("/on_update", over_http)
        assert (update["call"], update["app"], update["name"], update["args"]) == (
            "update_play",
            "live",
            "key",
            "token=t",
        )
        while response.tag() is not None:  # media, until the refusal ends the response
            pass
        assert response.body.ended  # ended, not cut
        response.close()
        (done,) = hook_server.wait("/on_play_done", over_http)
        assert done["clientid"] == update["clientid"]
        assert len(hook_server.forms("/on_update", over_http)) == 1  # not asked once refused
    finally:
        relay.stop()
