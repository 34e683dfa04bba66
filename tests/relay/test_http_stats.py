"""The relay's HTTP stats: /stats (JSON) and /metrics (Prometheus text), through RelayServer."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.http_stats import StatsHttpServer, metadata_summary
from rtmp_actors.relay.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    RelaySnapshot,
    escape_label_value,
    render_prometheus,
)
from rtmp_actors.relay.rate_meter import RateMeter
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.stream import StreamStats
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT, EventLog
from tests.relay.test_relay import AAC_CONFIG, AVC_CONFIG, audio, inter, keyframe, player, publisher

METADATA = {"width": 1280, "height": 720, "videocodecid": 7, "audiocodecid": 10, "framerate": 25}


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0, http_port=0)).start()
    yield server
    server.stop()


def get(relay: RelayServer, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of ``GET path`` on the relay's stats endpoint."""
    address = relay.http_address
    assert address is not None
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def stats(relay: RelayServer) -> dict[str, Any]:
    status, content_type, body = get(relay, "/stats")
    assert (status, content_type) == (200, "application/json")
    document: dict[str, Any] = json.loads(body)
    return document


def publish(source: Any, messages: list[tuple[MediaType, int, bytes]]) -> int:
    for kind, timestamp, data in messages:
        source.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    return sum(len(data) for _, _, data in messages)


def received(log: EventLog, count: int) -> list[bytes]:
    return [log.wait(client.AudioVideoDataReceived).data for _ in range(count)]


def stream_messages(first: int, count: int) -> list[tuple[MediaType, int, bytes]]:
    messages = []
    for i in range(first, first + count):
        video = keyframe(i) if i % 10 == 0 else inter(i)
        messages += [(MediaType.VIDEO, i * 40, video), (MediaType.AUDIO, i * 40 + 1, audio(i))]
    return messages


# --- A Prometheus text parser, strict enough to catch format mistakes -------------------------

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


@dataclass
class Exposition:
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, tuple(sorted(labels.items())))]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value)


def parse_exposition(text: str) -> Exposition:
    assert text.endswith("\n")
    parsed = Exposition()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in parsed.helps, f"two HELP lines for {name}"
            parsed.helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in {"counter", "gauge"}, line
            assert name not in parsed.types, f"two TYPE lines for {name}"
            parsed.types[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name, label_text, value = match[1], match[2] or "", match[3]
            assert name in parsed.types, f"{name} has no TYPE line before its samples"
            assert name in parsed.helps, f"{name} has no HELP line"
            labels: list[tuple[str, str]] = []
            position = 0
            while position < len(label_text):
                label = _LABEL.match(label_text, position)
                assert label, f"bad labels in {line!r}"
                labels.append((label[1], _unescape(label[2])))
                position = label.end()
            key = (name, tuple(sorted(labels)))
            assert key not in parsed.samples, f"duplicate series {key}"
            parsed.samples[key] = float(value)
    return parsed


# --- Through the relay -----------------------------------------------------------------------


def test_stats_report_the_streams_as_they_are(relay: RelayServer) -> None:
    before = time.monotonic()
    wall_before = time.time()
    first_log, second_log = EventLog(), EventLog()
    player(relay, first_log)
    player(relay, second_log)
    source = publisher(relay, EventLog())
    source.session.tell(ClientSessionActor.publish_metadata, "key", METADATA)
    messages = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
    messages += stream_messages(0, 30)
    sent = publish(source, messages)
    for log in (first_log, second_log):  # the stream has handled everything
        assert log.wait(client.StreamMetaDataReceived).meta_data.video_width == 1280
        assert received(log, len(messages)) == [data for _, _, data in messages]

    document = stats(relay)
    elapsed = time.monotonic() - before
    assert document["connections"] == 3
    assert document["totals"]["connections_accepted"] == 3
    assert document["totals"]["bytes_in"] > sent
    assert document["totals"]["bytes_out"] > 2 * sent
    assert 0 < document["uptime_seconds"] <= relay.uptime + 0.0005  # rounded to the ms
    [stream] = document["streams"]
    assert re.fullmatch(r"s\d+", stream["publisher"])
    assert {k: stream[k] for k in ("app", "key", "players", "bytes_in", "messages_in")} == {
        "app": "live",
        "key": "key",
        "players": 2,
        "bytes_in": sent,
        "messages_in": len(messages),
    }
    # Both are rounded to the millisecond; the wall and monotonic clocks tick apart.
    assert wall_before - 0.001 <= stream["publishing_since"] <= time.time() + 0.001
    assert 0 <= stream["publishing_seconds"] <= elapsed + 0.001
    assert stream["metadata"] == {
        "width": 1280,
        "height": 720,
        "video_codec": "H.264",
        "audio_codec": "AAC",
        "frame_rate": 25,
    }
    # Everything arrived within `elapsed` seconds of the publish: the rate over the window
    # (never taken over less than a second) is the bytes over that time, give or take it.
    kilobits = sent * 8 / 1000
    assert 0 < stream["bitrate_kbps"] <= round(kilobits, 1)
    if elapsed < 4:  # all of it still inside the 5 s window
        assert stream["bitrate_kbps"] >= round(kilobits / max(elapsed, 1.0), 1)


def test_stats_follow_publishers_and_players_coming_and_going(relay: RelayServer) -> None:
    watcher_log = EventLog()
    watcher = player(relay, watcher_log)
    [waiting] = stats(relay)["streams"]
    assert (waiting["publisher"], waiting["players"], waiting["bitrate_kbps"]) == (None, 1, 0)
    assert waiting["publishing_since"] is None
    assert waiting["metadata"] is None

    source = publisher(relay, EventLog())
    first = stream_messages(0, 10)
    sent_first = publish(source, first)
    received(watcher_log, len(first))
    [live] = stats(relay)["streams"]
    assert (live["bytes_in"], live["messages_in"]) == (sent_first, len(first))

    more = stream_messages(10, 15)
    sent_more = publish(source, more)
    received(watcher_log, len(more))
    [grown] = stats(relay)["streams"]
    assert grown["bytes_in"] == sent_first + sent_more  # growing by exactly what was sent
    assert grown["messages_in"] == len(first) + len(more)
    assert grown["publisher"] == live["publisher"]

    source.close()
    watcher_log.wait(client.StreamEnded)  # the stream has seen its publisher leave
    [left] = stats(relay)["streams"]
    assert (left["publisher"], left["players"], left["bitrate_kbps"]) == (None, 1, 0)
    assert left["bytes_in"] == sent_first + sent_more  # the stream's own total stays

    watcher.close()
    assert watcher.wait_closed(TIMEOUT)
    assert relay.rtmp_server.wait_for_connections(0, TIMEOUT)
    document = stats(relay)
    assert document["connections"] == 0
    assert document["totals"]["connections_accepted"] == 2
    assert document["totals"]["bytes_in"] > sent_first + sent_more  # closed ones still count


def test_metrics_are_prometheus_text(relay: RelayServer) -> None:
    player_log = EventLog()
    player(relay, player_log)
    source = publisher(relay, EventLog())
    messages = stream_messages(0, 20)
    sent = publish(source, messages)
    received(player_log, len(messages))

    status, content_type, body = get(relay, "/metrics")
    assert (status, content_type) == (200, PROMETHEUS_CONTENT_TYPE)
    metrics = parse_exposition(body.decode())
    stream = {"app": "live", "key": "key"}
    assert metrics.value("rtmp_actors_connections") == 2
    assert metrics.value("rtmp_actors_connections_accepted_total") == 2
    assert metrics.value("rtmp_actors_streams") == 1
    assert metrics.value("rtmp_actors_stream_publishing", **stream) == 1
    assert metrics.value("rtmp_actors_stream_players", **stream) == 1
    assert metrics.value("rtmp_actors_stream_bytes_in_total", **stream) == sent
    assert metrics.value("rtmp_actors_stream_messages_in_total", **stream) == len(messages)
    assert 0 < metrics.value("rtmp_actors_stream_bitrate_kbps", **stream) <= sent * 8 / 1000
    assert metrics.value("rtmp_actors_bytes_in_total") > sent
    assert metrics.value("rtmp_actors_bytes_out_total") > sent
    assert 0 < metrics.value("rtmp_actors_uptime_seconds") <= relay.uptime
    assert metrics.types["rtmp_actors_stream_bytes_in_total"] == "counter"
    assert metrics.types["rtmp_actors_stream_bitrate_kbps"] == "gauge"
    assert metrics.types["rtmp_actors_connections"] == "gauge"


def test_metrics_label_values_are_escaped(relay: RelayServer) -> None:
    key = 'we"ird\\key'
    watcher_log = EventLog()
    player(relay, watcher_log, key=key)
    _, _, body = get(relay, "/metrics")
    text = body.decode()
    assert 'key="we\\"ird\\\\key"' in text
    metrics = parse_exposition(text)
    assert metrics.value("rtmp_actors_stream_players", app="live", key=key) == 1
    assert metrics.value("rtmp_actors_stream_publishing", app="live", key=key) == 0


def test_other_paths_are_404_and_queries_are_ignored(relay: RelayServer) -> None:
    for path in ("/", "/nope", "/stats/", "/metrics.json", "/STATS"):
        status, _, _ = get(relay, path)
        assert status == 404, path
    status, _, body = get(relay, "/stats?pretty=1")
    assert status == 200
    assert json.loads(body)["streams"] == []


def test_the_endpoint_lives_and_dies_with_the_relay() -> None:
    quiet = RelayServer(RelayConfig(port=0)).start()
    try:
        assert quiet.http_address is None  # no http_port: no HTTP server
    finally:
        quiet.stop()

    relay = RelayServer(RelayConfig(port=0, http_port=0)).start()
    address = relay.http_address
    assert address is not None
    assert address[1] != 0
    assert stats(relay)["connections"] == 0
    relay.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=TIMEOUT).close()


def test_a_taken_http_port_fails_the_start_and_releases_the_rtmp_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        relay = RelayServer(RelayConfig(port=0, http_port=port))
        with pytest.raises(OSError, match=f"cannot serve stats on 127.0.0.1:{port}"):
            relay.start()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(relay.address, timeout=TIMEOUT).close()
    with socket.create_server(relay.address):
        pass  # free again


# --- The HTTP server alone, with a stand-in relay ------------------------------------------------


class FakeServer:
    connection_count = 4
    connections_accepted = 9

    def byte_totals(self) -> tuple[int, int]:
        return 1000, 2000


class FakeRelay:
    """Looks like a RelayServer to StatsHttpServer; its streams are given, or fail."""

    uptime = 12.5
    vod = None  # no files on demand

    def __init__(self, streams: list[StreamStats] | None = None) -> None:
        self.streams = streams
        self.rtmp_server = FakeServer()
        self.client_servers = [self.rtmp_server]

    def stream_stats(self, timeout: float) -> list[StreamStats]:
        if self.streams is None:
            raise pykka.Timeout("the registry did not answer")
        return self.streams

    def cluster_view(self, timeout: float) -> None:
        return None  # not in a cluster


@pytest.fixture
def fake_endpoint() -> Iterator[tuple[StatsHttpServer, FakeRelay]]:
    yield from _fake_endpoint(max_clients=16)


@pytest.fixture
def two_client_endpoint() -> Iterator[tuple[StatsHttpServer, FakeRelay]]:
    yield from _fake_endpoint(max_clients=2)


def _fake_endpoint(max_clients: int) -> Iterator[tuple[StatsHttpServer, FakeRelay]]:
    # A client may see its answer before the request's thread has given its slot back: with
    # few slots, back-to-back requests would be refused at random.
    fake = FakeRelay([])
    server = StatsHttpServer(fake, "127.0.0.1", 0, max_clients=max_clients)  # type: ignore[arg-type]
    server.start()
    yield server, fake
    server.stop()


def fetch(server: StatsHttpServer, path: str) -> tuple[int, bytes]:
    host, port = server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=TIMEOUT) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_an_unavailable_snapshot_is_a_503(
    fake_endpoint: tuple[StatsHttpServer, FakeRelay],
) -> None:
    server, fake = fake_endpoint
    fake.streams = None
    assert fetch(server, "/stats")[0] == 503
    assert fetch(server, "/metrics")[0] == 503
    fake.streams = []
    status, body = fetch(server, "/stats")
    assert status == 200
    assert json.loads(body) == {
        "uptime_seconds": 12.5,
        "connections": 4,
        "totals": {"connections_accepted": 9, "bytes_in": 1000, "bytes_out": 2000},
        "streams": [],
        "http_flv_players": 0,
    }


def test_requests_beyond_max_clients_are_closed_unanswered(
    two_client_endpoint: tuple[StatsHttpServer, FakeRelay],
) -> None:
    server, _ = two_client_endpoint
    idle = [socket.create_connection(server.address, timeout=TIMEOUT) for _ in range(2)]
    try:
        # Both slots are held by clients that have not sent their request yet.
        with pytest.raises((ConnectionError, urllib.error.URLError)):  # reset or closed
            fetch(server, "/stats")
        for sock in idle:  # finish them: each slot is free by the time its socket closes
            sock.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
            assert response.startswith(b"HTTP/1.0 200 ")
    finally:
        for sock in idle:
            sock.close()
    assert fetch(server, "/stats")[0] == 200


# --- Pieces -----------------------------------------------------------------------------------


def test_rate_meter_measures_over_a_sliding_window() -> None:
    meter = RateMeter(start=100.0, window=5)
    assert meter.kbps(100.0) == 0
    meter.add(100.2, 1000)
    assert meter.kbps(100.5) == 8.0  # 8000 bits over at least one second
    for second in range(101, 110):
        meter.add(second + 0.5, 1000)  # 1000 bytes a second from now on
    # At 109.5, the window holds seconds 105..109, each with 1000 bytes, over 4.5 s.
    assert meter.kbps(109.5) == pytest.approx(5 * 8 / 4.5)
    # Silence: old seconds fall out of the window, then the rate is 0.
    assert meter.kbps(112.0) == pytest.approx(2 * 8 / 4.0)
    assert meter.kbps(115.0) == 0
    # Second 120 reuses the slot of second 105 (1000 bytes) without mixing the two; a burst
    # after a silence is spread over the whole window.
    meter.add(120.1, 500)
    assert meter.kbps(120.1) == pytest.approx(4.0 / 4.1)


def test_rate_meter_starts_counting_at_its_start() -> None:
    meter = RateMeter(start=50.0, window=5)
    meter.add(50.5, 2000)
    meter.add(51.5, 2000)
    meter.add(52.5, 2000)
    assert meter.kbps(53.0) == pytest.approx(48 / 3.0)  # over 3 s, not the 5 s window
    with pytest.raises(ValueError, match="at least 1"):
        RateMeter(start=0.0, window=0)


def test_render_prometheus_escapes_and_types() -> None:
    weird = StreamStats("a\\pp", 'k"e\ny', "s1", 3, 4096, 7, 10.0, None, 12.25)
    snapshot = RelaySnapshot(1.5, 2, 5, 100, 200, (weird,), 20.0, 1000.0)
    text = render_prometheus(snapshot)
    assert 'rtmp_actors_stream_players{app="a\\\\pp",key="k\\"e\\ny"} 3\n' in text
    assert 'rtmp_actors_stream_bitrate_kbps{app="a\\\\pp",key="k\\"e\\ny"} 12.25\n' in text
    assert "# TYPE rtmp_actors_stream_bytes_in_total counter\n" in text
    metrics = parse_exposition(text)
    assert metrics.value("rtmp_actors_stream_bytes_in_total", app="a\\pp", key='k"e\ny') == 4096
    assert metrics.value("rtmp_actors_uptime_seconds") == 1.5
    assert escape_label_value('\\"\n') == '\\\\\\"\\n'


def test_metadata_summary_keeps_the_readable_parts() -> None:
    assert metadata_summary(None) is None
    assert metadata_summary({}) is None
    summary = metadata_summary(
        {"width": 640.0, "height": 360.0, "videocodecid": 7.0, "audiocodecid": 10.0,
         "audiosamplerate": 44100.0, "encoder": "Lavf", "custom": object()}
    )  # fmt: skip
    assert summary == {
        "width": 640,
        "height": 360,
        "video_codec": "H.264",
        "audio_codec": "AAC",
        "audio_sample_rate": 44100,
        "encoder": "Lavf",
    }
    json.dumps(summary)  # JSON-safe
    assert "frame_rate" not in (metadata_summary({"framerate": float("nan")}) or {})
