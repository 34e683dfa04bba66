"""The control API on the relay's HTTP port, with our own clients (see test_control_peers.py)."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtmp_actors import cli
from rtmp_actors.actors.client_info import ClientInfo, SessionSummary, StreamSummary
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvReader, TagType
from rtmp_actors.protocol.commands import CapsEx
from rtmp_actors.relay.config import ControlConfig, RelayConfig
from rtmp_actors.relay.control import ControlApi, client_document
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.events import Disconnected, MediaType
from rtmp_actors.tools import serve as serve_tool
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import poll_until
from tests.relay import http_flv_client
from tests.relay.test_relay import AAC_CONFIG, AVC_CONFIG, audio, inter, keyframe

TOKEN = "s3cret-token"
Media = tuple[MediaType, int, bytes]


def start(tmp_path: Path | None = None, **control: Any) -> RelayServer:
    settings = ControlConfig(token=TOKEN, record_dir=str(tmp_path) if tmp_path else None)
    for name, value in control.items():
        settings = ControlConfig(**{**_fields(settings), name: value})
    return RelayServer(RelayConfig(port=0, http_port=0, control=settings)).start()


def _fields(config: ControlConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in ControlConfig.__dataclass_fields__}


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayServer]:
    server = start(tmp_path, redirect_grace=0.0)
    yield server
    server.stop()


def call(
    relay: RelayServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    """(status, JSON document, response) of one call to the relay's HTTP port."""
    address = relay.http_address
    assert address is not None
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"Bearer {token}")
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    document = (
        json.loads(payload) if response.getheader("Content-Type") == "application/json" else {}
    )
    return response.status, document, response


def connected(relay: RelayServer, log: EventLog, path: str, caps_ex: int = 0) -> RtmpClient:
    host, port = relay.address
    config = ClientSessionConfig(enhanced_fourccs=("avc1",), caps_ex=caps_ex) if caps_ex else None
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/{path}", event_receiver_factory=log.receiver_factory(), config=config
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publisher(relay: RelayServer, log: EventLog, key: str = "cam", caps_ex: int = 0) -> RtmpClient:
    source = connected(relay, log, "live", caps_ex)
    source.session.tell(ClientSessionActor.request_publish, key)
    assert log.wait(client.PublishResponseReceived).was_accepted
    return source


def player(relay: RelayServer, log: EventLog, key: str = "cam") -> RtmpClient:
    sink = connected(relay, log, "live")
    sink.session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return sink


def gop(first: int, count: int) -> list[Media]:
    messages: list[Media] = []
    for i in range(first, first + count):
        video = keyframe(i) if i % 10 == 0 else inter(i)
        messages += [(MediaType.VIDEO, i * 40, video), (MediaType.AUDIO, i * 40 + 1, audio(i))]
    return messages


def send(source: RtmpClient, messages: list[Media], key: str = "cam") -> None:
    for kind, timestamp, data in messages:
        source.session.tell(ClientSessionActor.publish_av_data, key, kind, timestamp, data)


def received(log: EventLog, count: int) -> list[Media]:
    events = [log.wait(client.AudioVideoDataReceived) for _ in range(count)]
    return [(e.data_type, e.timestamp, e.data) for e in events]


# --- Access ----------------------------------------------------------------------------------


def test_the_api_is_off_without_a_token() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0)).start()
    try:
        for method, path in [("GET", "/control/clients"), ("POST", "/control/drop")]:
            status, document, _ = call(relay, method, path, {"client": "x"})
            assert (status, document) == (404, {"error": "not found"})
        assert call(relay, "GET", "/stats")[0] == 200
    finally:
        relay.stop()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer s3cret-toke", f"Basic {TOKEN}", TOKEN, "Bearer "],
    ids=["none", "wrong", "prefix", "basic", "no-scheme", "empty"],
)
def test_calls_without_the_token_are_refused(relay: RelayServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [("GET", "/control/clients"), ("POST", "/control/drop")]:
        status, document, response = call(
            relay, method, path, {"client": "x"}, token=None, headers=headers
        )
        assert status == 401, (method, path)
        assert "token" in document["error"]
        assert response.getheader("WWW-Authenticate") == "Bearer"


def test_changes_are_posts_and_unknown_calls_are_404(relay: RelayServer) -> None:
    status, _, response = call(relay, "GET", "/control/drop")
    assert (status, response.getheader("Allow")) == (405, "POST")
    status, _, response = call(relay, "POST", "/control/clients", {})
    assert (status, response.getheader("Allow")) == (405, "GET")
    assert call(relay, "POST", "/control/nothing", {})[0] == 404
    assert call(relay, "POST", "/stats", {})[0] == 405


@pytest.mark.parametrize(
    ("path", "raw", "status", "error"),
    [
        ("/control/drop", b"{not json", 400, "not JSON"),
        ("/control/drop", b"\xff\xfe", 400, "not JSON"),
        ("/control/drop", b"[1, 2]", 400, "JSON object"),
        ("/control/drop", b"{}", 400, "'app'"),
        ("/control/drop", b'{"client": 7}', 400, "'client'"),
        ("/control/drop", b'{"client": "s-nobody"}', 404, "no client"),
        ("/control/drop", b'{"app": "live", "key": "nobody"}', 404, "nobody publishes"),
        ("/control/drop", b'{"app": "live", "key": "a\\u0000b"}', 400, "control character"),
        ("/control/drop", b'{"app": "live", "key": "' + b"k" * 2000 + b'"}', 400, "longer"),
        ("/control/record/start", b'{"app": "live", "key": "nobody"}', 404, "nobody publishes"),
        ("/control/record/stop", b'{"app": "live", "key": "nobody"}', 404, "not being recorded"),
        ("/control/redirect", b'{"app": "live", "key": "k"}', 400, "'url'"),
        ("/control/redirect", b'{"app": "live", "key": "k", "url": "http://x/"}', 400, "rtmp://"),
        ("/control/redirect", b'{"app": "l", "key": "k", "url": "rtmp://x/a"}', 404, "nobody"),
    ],
)
def test_bad_calls_get_a_json_error(
    relay: RelayServer, path: str, raw: bytes, status: int, error: str
) -> None:
    got, document, _ = call(relay, "POST", path, raw=raw)
    assert got == status
    assert error in document["error"]


def test_bodies_are_bounded(tmp_path: Path) -> None:
    relay = start(tmp_path, max_body=100)
    try:
        status, document, _ = call(relay, "POST", "/control/drop", raw=b" " * 101)
        assert status == 413
        assert "100 bytes" in document["error"]
        # Without a length the body cannot be read safely.
        address = relay.http_address
        assert address is not None
        connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
        connection.putrequest("POST", "/control/drop")
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.endheaders()
        assert connection.getresponse().status == 411
        connection.close()
    finally:
        relay.stop()


# --- Listing and dropping ---------------------------------------------------------------------


def clients(relay: RelayServer) -> list[dict[str, Any]]:
    status, document, _ = call(relay, "GET", "/control/clients")
    assert status == 200
    listed: list[dict[str, Any]] = document["clients"]
    return listed


def test_clients_lists_publishers_and_players(relay: RelayServer) -> None:
    publisher_log, player_log = EventLog(), EventLog()
    source = publisher(relay, publisher_log, "cam?token=abc", caps_ex=CapsEx.RECONNECT)
    sink = player(relay, player_log, "cam")
    send(source, gop(0, 40), key="cam?token=abc")
    received(player_log, 80)
    listed = clients(relay)
    assert len(listed) == 2
    by_role = {tuple(c["roles"]): c for c in listed}
    published, playing = by_role[("publisher",)], by_role[("player",)]
    assert published["app"] == playing["app"] == "live"
    assert published["streams"] == [
        {"stream_id": 1, "role": "publisher", "key": "cam", "active": True}
    ]
    assert playing["streams"][0]["key"] == "cam"
    assert published["reconnect_capable"]
    assert not playing["reconnect_capable"]
    media_bytes = sum(len(data) for _, _, data in gop(0, 40))
    assert published["bytes_in"] > media_bytes > published["bytes_out"]
    assert playing["bytes_out"] > media_bytes > playing["bytes_in"]
    assert published["address"] == "127.0.0.1"
    assert published["seconds"] >= 0
    assert "token" not in json.dumps(listed)  # query strings (tokens) are not shown
    assert {c["id"] for c in listed} == {relay.stream_stats_of("live", "cam").publisher} | {
        c["id"] for c in listed if c["roles"] == ["player"]
    }
    del source, sink


def test_dropping_a_player_leaves_the_publisher_publishing(relay: RelayServer) -> None:
    publisher_log, player_log = EventLog(), EventLog()
    source = publisher(relay, publisher_log)
    sink = player(relay, player_log)
    player_id = next(c["id"] for c in clients(relay) if c["roles"] == ["player"])
    status, document, _ = call(relay, "POST", "/control/drop", {"client": player_id})
    assert (status, document) == (200, {"dropped": player_id})
    player_log.wait(Disconnected)
    assert relay.rtmp_server.wait_for_connections(1, TIMEOUT)
    # The publisher goes on, and a new player gets its media.
    again_log = EventLog()
    again = player(relay, again_log)
    send(source, gop(0, 10))
    assert received(again_log, 20) == gop(0, 10)
    assert [c["roles"] for c in clients(relay)].count(["publisher"]) == 1
    del sink, again


def test_dropping_a_publisher_by_stream_tells_its_players(relay: RelayServer) -> None:
    publisher_log, player_log = EventLog(), EventLog()
    source = publisher(relay, publisher_log)
    sink = player(relay, player_log)
    publisher_id = relay.stream_stats_of("live", "cam").publisher
    status, document, _ = call(relay, "POST", "/control/drop", {"app": "live", "key": "cam"})
    assert status == 200
    assert document == {"dropped": publisher_id, "app": "live", "key": "cam"}
    publisher_log.wait(Disconnected)
    player_log.wait(client.StreamEnded, lambda e: e.reason in ("eof", "unpublished"))
    assert call(relay, "POST", "/control/drop", {"app": "live", "key": "cam"})[0] == 404
    del source, sink


def test_http_flv_clients_are_listed_and_dropped(relay: RelayServer) -> None:
    source = publisher(relay, EventLog())
    send(source, [(MediaType.VIDEO, 0, AVC_CONFIG), *gop(0, 5)])
    address = relay.http_address
    assert address is not None
    flv = http_flv_client.request(address[1], "/live/cam.flv?token=abc")
    try:
        assert flv.status == 200
        assert flv.tag() is not None  # playing: the stream writes to it
        listed = [c for c in clients(relay) if c["roles"] == ["player"]]
        assert len(listed) == 1
        (entry,) = listed
        assert entry["id"].startswith("http-flv-")
        assert (entry["app"], entry["streams"][0]["key"]) == ("live", "cam")
        assert entry["bytes_out"] > 0
        status, _, _ = call(relay, "POST", "/control/drop", {"client": entry["id"]})
        assert status == 200
        while flv.tag() is not None:  # the body ends with its terminating chunk
            pass
    finally:
        flv.close()
    stats = relay.stream_stats_of("live", "cam")
    assert stats is not None
    assert stats.publisher is not None  # only the HTTP-FLV client went
    assert call(relay, "POST", "/control/drop", {"client": "http-flv-999-1.2.3.4"})[0] == 404
    del source


# --- Recording ----------------------------------------------------------------------------------


def test_recording_starts_at_the_cached_keyframe_and_stops_on_request(
    relay: RelayServer, tmp_path: Path
) -> None:
    publisher_log, player_log = EventLog(), EventLog()
    source = publisher(relay, publisher_log)
    sink = player(relay, player_log)
    source.session.tell(ClientSessionActor.publish_metadata, "cam", {"width": 320.0})
    headers = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
    send(source, headers + gop(0, 15))  # the cached GOP starts at frame 10
    received(player_log, 2 + 30)
    status, document, _ = call(
        relay, "POST", "/control/record/start", {"app": "live", "key": "cam"}
    )
    assert status == 200
    assert document["started"]
    path = Path(document["file"])
    assert path.parent == tmp_path / "live"
    again = call(relay, "POST", "/control/record/start", {"app": "live", "key": "cam"})[1]
    assert (again["file"], again["started"]) == (str(path), False)
    send(source, gop(15, 10))
    received(player_log, 20)  # through the stream, so the recorder has them too
    status, document, _ = call(relay, "POST", "/control/record/stop", {"app": "live", "key": "cam"})
    assert (status, document["file"]) == (200, str(path))
    send(source, gop(25, 5))  # not recorded any more
    received(player_log, 10)
    with path.open("rb") as file:
        tags = list(FlvReader(file))
    assert tags[0].tag_type == TagType.SCRIPT_DATA
    assert b"width" in tags[0].data
    kinds = {TagType.VIDEO: MediaType.VIDEO, TagType.AUDIO: MediaType.AUDIO}
    media = [(kinds[TagType(t.tag_type)], t.timestamp, t.data) for t in tags[1:]]
    assert media == headers + gop(10, 15)
    # The relay does not record everything: other streams are not recorded.
    assert sorted(p.name for p in tmp_path.rglob("*.flv")) == [path.name]
    del sink


def test_recording_needs_a_folder() -> None:
    relay = start(None)
    try:
        source = publisher(relay, EventLog())
        status, document, _ = call(
            relay, "POST", "/control/record/start", {"app": "live", "key": "cam"}
        )
        assert status == 409
        assert "record_dir" in document["error"]
        del source
    finally:
        relay.stop()


# --- Redirecting ----------------------------------------------------------------------------------


def test_redirect_asks_our_client_to_reconnect_then_drops_it(tmp_path: Path) -> None:
    relay = start(tmp_path, redirect_grace=0.3)
    try:
        log = EventLog()
        source = publisher(relay, log, caps_ex=CapsEx.RECONNECT)
        body = {"app": "live", "key": "cam", "url": "rtmp://elsewhere.example/live"}
        status, document, _ = call(relay, "POST", "/control/redirect", body)
        assert status == 200
        assert document["reconnect_capable"]
        assert document["drop_after_seconds"] == 0.3
        request = log.wait(client.ReconnectRequested)
        assert request.tc_url == "rtmp://elsewhere.example/live"
        assert request.description
        assert "elsewhere.example" in request.description
        # It stayed: the grace period ends the connection.
        log.wait(Disconnected)
        assert relay.rtmp_server.wait_for_connections(0, TIMEOUT)
        del source
    finally:
        relay.stop()


# --- Settings -----------------------------------------------------------------------------------


def test_the_token_comes_from_toml_the_command_line_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text(
        '[server]\nhttp_port = 8080\n[control]\ntoken = "from-toml"\nredirect_grace = 2\n'
    )
    config = RelayConfig.from_toml(toml)
    assert (config.control.token, config.control.redirect_grace) == ("from-toml", 2)

    def parsed(*argv: str) -> RelayConfig:
        args = cli.build_parser().parse_args(["serve", *argv])
        return serve_tool._config(args)

    assert parsed("--config", str(toml)).control.token == "from-toml"
    given = parsed("--config", str(toml), "--control-token", "flag", "--control-record", "/r")
    assert (given.control.token, given.control.record_dir) == ("flag", "/r")
    monkeypatch.setenv(serve_tool.CONTROL_TOKEN_VARIABLE, "from-env")
    assert parsed("--http", "0").control.token == "from-env"
    with pytest.raises(ValueError, match="--http"):
        parsed()  # a token, but nowhere to serve the API


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[control]\ntoken = ""\n', "non-empty"),
        ("[control]\ntoken = 5\n", "non-empty"),
        ("[control]\nmax_body = 0\n", "max_body"),
        ("[control]\nsecret = 1\n", "no setting 'secret'"),
    ],
)
def test_bad_control_settings(tmp_path: Path, text: str, message: str) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text(text)
    with pytest.raises(ValueError, match=message):
        RelayConfig.from_toml(toml)


# --- Any body -----------------------------------------------------------------------------------


@dataclass
class FakeRequest:
    """What ControlApi reads of a request handler."""

    command: str
    headers: Message
    rfile: io.BytesIO
    client_address: tuple[str, int] = ("127.0.0.1", 1)


def fake_request(body: bytes) -> FakeRequest:
    headers = Message()
    headers["Authorization"] = f"Bearer {TOKEN}"
    headers["Content-Length"] = str(len(body))
    return FakeRequest("POST", headers, io.BytesIO(body))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={name: _JSON | st.text(max_size=30) for name in ("app", "key", "client", "url")},
)


def test_any_body_gets_a_json_error(tmp_path: Path) -> None:
    relay = start(tmp_path, redirect_grace=0.0)
    api = ControlApi(relay, relay.config.control, timeout=TIMEOUT)
    calls = ["drop", "record/start", "record/stop", "redirect"]

    # Nobody is connected, so no body names anything real: each one is an error.
    @settings(max_examples=150, deadline=None)
    @given(
        st.sampled_from(calls),
        st.binary(max_size=200) | _FIELDS.map(lambda d: json.dumps(d).encode()),
    )
    def check(name: str, body: bytes) -> None:
        reply = api.answer(fake_request(body), f"/control/{name}")
        assert reply.status in {400, 404, 409}, reply
        document = json.loads(reply.body)
        assert isinstance(document["error"], str)
        assert document["error"]

    try:
        check()
    finally:
        relay.stop()


def test_a_relay_that_records_everything_can_stop_and_restart_a_recording(
    tmp_path: Path,
) -> None:
    config = RelayConfig(
        port=0, http_port=0, record_dir=str(tmp_path), control=ControlConfig(token=TOKEN)
    )
    relay = RelayServer(config).start()
    try:
        log, player_log = EventLog(), EventLog()
        source = publisher(relay, log)
        sink = player(relay, player_log)
        stream = {"app": "live", "key": "cam"}
        send(source, gop(0, 10))
        received(player_log, 20)
        status, first, _ = call(relay, "POST", "/control/record/stop", stream)
        assert status == 200
        send(source, gop(10, 10))  # not recorded
        received(player_log, 20)
        status, second, _ = call(relay, "POST", "/control/record/start", stream)
        assert status == 200
        assert second["started"]
        assert second["file"] != first["file"]
        send(source, gop(20, 5))
        received(player_log, 10)
        source.session.tell(ClientSessionActor.close)
        log.wait(Disconnected)
        player_log.wait(client.StreamEnded)
        # Unpublished: the file is finished; the next call finds nothing to stop.
        assert call(relay, "POST", "/control/record/stop", stream)[0] == 404

        def video_timestamps(path: str) -> list[int]:
            with open(path, "rb") as file:
                return [t.timestamp for t in FlvReader(file) if t.tag_type == TagType.VIDEO]

        assert video_timestamps(first["file"]) == [i * 40 for i in range(10)]
        # From the cached keyframe (frame 10) on, with nothing missing up to the end.
        assert video_timestamps(second["file"]) == [i * 40 for i in range(10, 25)]
        del sink
    finally:
        relay.stop()


def test_a_client_document_names_everything_a_listing_shows() -> None:
    summary = SessionSummary(
        "live",
        "rtmp://127.0.0.1:1935/live",
        "FMLE/3.0 (compatible; Lavf61)",
        int(CapsEx.RECONNECT | CapsEx.MULTITRACK),
        (StreamSummary(1, "publisher", "cam", True), StreamSummary(3, "player", "other", False)),
    )
    info = ClientInfo("s7", ("10.0.0.2", 50000), 1000.25, 1234, 567, summary)
    assert client_document(info, now=1010.5) == {
        "id": "s7",
        "address": "10.0.0.2",
        "port": 50000,
        "app": "live",
        "tc_url": "rtmp://127.0.0.1:1935/live",
        "flash_ver": "FMLE/3.0 (compatible; Lavf61)",
        "roles": ["publisher", "player"],
        "streams": [
            {"stream_id": 1, "role": "publisher", "key": "cam", "active": True},
            {"stream_id": 3, "role": "player", "key": "other", "active": False},
        ],
        "since": 1000.25,
        "seconds": 10.25,
        "bytes_in": 1234,
        "bytes_out": 567,
        "reconnect_capable": True,
    }
    silent = client_document(ClientInfo("s8", None, 1000.0, 0, 0, None), now=999.0)
    assert (silent["app"], silent["roles"], silent["streams"], silent["seconds"]) == (
        None,
        [],
        [],
        0,
    )
    assert silent["reconnect_capable"] is False


def test_a_redirected_push_link_moves_to_the_new_upstream(tmp_path: Path) -> None:
    """Our relay's push link honours the reconnect request: the stream moves to ``url``."""
    upstream = start(tmp_path, redirect_grace=0.0)
    new_upstream = RelayServer(RelayConfig(port=0)).start()
    up_host, up_port = upstream.address
    edge = RelayServer(RelayConfig(port=0, push=(f"rtmp://{up_host}:{up_port}/live",))).start()
    try:
        source = publisher(edge, EventLog())
        send(source, gop(0, 3))

        def published(relay: RelayServer) -> bool:
            stats = relay.stream_stats_of("live", "cam")
            return stats is not None and stats.publisher is not None

        poll_until(lambda: published(upstream), TIMEOUT, "the push to reach the upstream")
        host, port = new_upstream.address
        body = {"app": "live", "key": "cam", "url": f"rtmp://{host}:{port}/live"}
        status, document, _ = call(upstream, "POST", "/control/redirect", body)
        assert status == 200
        assert document["reconnect_capable"]  # the link says so in its connect
        poll_until(lambda: published(new_upstream), TIMEOUT, "the push to move")
        poll_until(lambda: not published(upstream), TIMEOUT, "the old upstream to be left")
    finally:
        edge.stop()
        new_upstream.stop()
        upstream.stop()
