"""IP rules (allow/deny publish and play by address) and the per-address connection count."""

from __future__ import annotations

import gc
import ipaddress
import logging
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay import bounded_http
from rtmp_actors.relay.access import AccessKind
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.ip_rules import IpRule, IpRules
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.address_slots import LOG_INTERVAL, AddressSlots, canonical_address
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import poll_until
from tests.relay import http_flv_client
from tests.relay.test_http_flv import http_port, start_stream_with_auth

PUBLISH, PLAY = AccessKind.PUBLISH, AccessKind.PLAY

# --- The rules ------------------------------------------------------------------------------------


def test_the_first_matching_rule_decides_in_order() -> None:
    rules = IpRules(
        (
            "allow publish 127.0.0.1",
            "allow publish 10.0.0.0/8",
            "deny publish all",
            "deny play 192.168.1.0/24",
            "allow play all",
        )
    )
    assert rules.allows(PUBLISH, "127.0.0.1")
    assert rules.allows(PUBLISH, "10.200.3.4")
    assert not rules.allows(PUBLISH, "127.0.0.2")
    assert not rules.allows(PUBLISH, "11.0.0.1")
    assert not rules.allows(PLAY, "192.168.1.77")
    assert rules.allows(PLAY, "192.168.2.1")
    assert rules.allows(PLAY, "127.0.0.2")


def test_no_matching_rule_allows_and_a_rule_without_a_kind_covers_both() -> None:
    assert IpRules().allows(PUBLISH, "203.0.113.9")
    assert IpRules(("deny publish 203.0.113.0/24",)).allows(PLAY, "203.0.113.9")
    both = IpRules(("deny 203.0.113.9",))
    assert not both.allows(PUBLISH, "203.0.113.9")
    assert not both.allows(PLAY, "203.0.113.9")
    assert both.allows(PLAY, "203.0.113.10")
    # A later "deny" does not override an earlier "allow" (first match, not last).
    assert IpRules(("allow all", "deny all")).allows(PUBLISH, "1.2.3.4")


def test_ipv6_addresses_and_blocks_and_ipv4_mapped_clients() -> None:
    rules = IpRules(("allow publish ::1", "deny publish 2001:db8::/32", "deny play 192.0.2.0/24"))
    assert rules.allows(PUBLISH, "::1")
    assert not rules.allows(PUBLISH, "2001:db8:0:1::5")
    assert rules.allows(PUBLISH, "2001:db9::5")
    # A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6: they are IPv4 clients.
    assert not rules.allows(PLAY, "::ffff:192.0.2.7")
    assert not rules.allows(PLAY, "::FFFF:c000:0207")
    assert rules.allows(PLAY, "::ffff:192.0.3.7")
    assert not IpRules(("deny ::ffff:0:0/96",)).allows(PLAY, "::ffff:192.0.3.7")  # both forms
    # An IPv4 block never matches a (non-mapped) IPv6 client, nor the other way round.
    assert IpRules(("deny 0.0.0.0/0",)).allows(PUBLISH, "2001:db8::1")
    assert IpRules(("deny ::/0",)).allows(PUBLISH, "192.0.2.1")


def test_an_unknown_address_matches_only_all() -> None:
    assert IpRules(("deny 127.0.0.1",)).allows(PUBLISH, "")
    assert not IpRules(("allow 127.0.0.1", "deny all")).allows(PUBLISH, "")


def test_rules_are_case_insensitive_and_host_bits_are_ignored_as_nginx_does() -> None:
    rule = IpRule.parse("DENY Publish 10.1.2.3/8")
    assert (rule.allow, rule.kinds, str(rule.network)) == (False, {PUBLISH}, "10.0.0.0/8")
    assert IpRule.parse("allow ALL").network is None


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("permit publish 1.2.3.4", "expected 'allow|deny"),
        ("allow", "expected 'allow|deny"),
        ("allow record 1.2.3.4", "expected 'allow|deny"),
        ("allow publish 1.2.3.4 extra", "expected 'allow|deny"),
        ("allow publish 1.2.3.400", "'1.2.3.400' is not an IP address"),
        ("deny play example.com", "'example.com' is not an IP address"),
        ("deny play 10.0.0.0/33", "is not an IP address, a CIDR block"),
    ],
)
def test_a_bad_rule_is_refused_with_its_position(line: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=r"IP rule 2: ") as error:
        IpRules(("allow all", line))
    assert complaint in str(error.value)


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        rules = IpRules((text,))
    except ValueError:
        return
    assert isinstance(rules.allows(PUBLISH, "127.0.0.1"), bool)


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_a_block_matches_exactly_the_addresses_it_contains(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int
) -> None:
    network = ipaddress.ip_network(f"{address}/{min(prefix, address.max_prefixlen)}", strict=False)
    rules = IpRules((f"deny publish {network}",))
    assert not rules.allows(PUBLISH, str(address))
    assert not rules.allows(PUBLISH, str(network.network_address))
    last = int(network.broadcast_address)
    if last < (1 << address.max_prefixlen) - 1:  # the first address past the block
        assert rules.allows(PUBLISH, str(ipaddress.ip_address(last + 1)))


def test_canonical_addresses() -> None:
    assert canonical_address("::ffff:10.0.0.1") == "10.0.0.1"
    assert canonical_address("fe80::1%eth0") == "fe80::1"
    assert canonical_address("2001:DB8::0:1") == "2001:db8::1"
    assert canonical_address("not an address") == "not an address"


# --- The relay ------------------------------------------------------------------------------------


def _connected(relay: RelayServer, log: EventLog) -> RtmpClient:
    host, port = relay.address
    host = f"[{host}]" if ":" in host else host
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/live/x", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publish(relay: RelayServer, key: str) -> client.PublishResponseReceived:
    log = EventLog()
    _connected(relay, log).session.tell(ClientSessionActor.request_publish, key)
    return log.wait(client.PublishResponseReceived)


def play(relay: RelayServer, key: str) -> client.PlayResponseReceived:
    log = EventLog()
    _connected(relay, log).session.tell(ClientSessionActor.request_playback, key)
    return log.wait(client.PlayResponseReceived)


@pytest.fixture
def relay(request: pytest.FixtureRequest) -> Iterator[RelayServer]:
    host, rules = request.param
    server = RelayServer(RelayConfig(host=host, port=0, ip_rules=IpRules(rules))).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "relay",
    [("127.0.0.1", ("allow publish 127.0.0.1", "deny publish all", "deny play 127.0.0.0/8"))],
    indirect=True,
)
def test_the_relay_refuses_by_address_with_the_access_refusal(relay: RelayServer) -> None:
    assert publish(relay, "cam").was_accepted
    refused = play(relay, "cam")
    assert not refused.was_accepted
    assert refused.code == NetStreamCode.PLAY_FAILED
    assert refused.response_text == "Play denied: not allowed from this address"
    assert [(s.key, s.players) for s in relay.stream_stats()] == [("cam", 0)]


@pytest.mark.parametrize(
    "relay", [("::1", ("deny publish ::1", "allow play ::1", "deny play all"))], indirect=True
)
def test_the_relay_applies_ipv6_rules(relay: RelayServer) -> None:
    assert relay.address[0] == "::1"
    refused = publish(relay, "cam")
    assert not refused.was_accepted
    assert refused.code == NetStreamCode.PUBLISH_BAD_NAME
    assert refused.response_text == "Publish denied: not allowed from this address"
    assert play(relay, "cam").was_accepted


def test_rules_from_the_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        "[server]\nmax_connections_per_address = 7\n"
        '[ip_rules]\nrules = ["allow publish 10.0.0.0/8", "deny publish all"]\n'
    )
    config = RelayConfig.from_toml(path)
    assert config.max_connections_per_address == 7
    assert config.ip_rules.rules == ("allow publish 10.0.0.0/8", "deny publish all")
    assert not config.ip_rules.allows(PUBLISH, "11.0.0.1")
    path.write_text('[ip_rules]\nrules = ["allow publish 10.0.0.0/88"]\n')
    with pytest.raises(ValueError, match=r"relay.toml: \[ip_rules\] IP rule 1: '10.0.0.0/88'"):
        RelayConfig.from_toml(path)
    path.write_text("[ip_rules]\nparsed = []\n")
    with pytest.raises(ValueError, match="has no setting 'parsed'"):
        RelayConfig.from_toml(path)


# --- Connections per address ---------------------------------------------------------------


def test_slots_are_counted_per_address_and_released_once() -> None:
    slots = AddressSlots(2)
    first, second = slots.acquire("10.0.0.1"), slots.acquire("::ffff:10.0.0.1")
    assert first is not None
    assert second is not None
    assert slots.acquire("10.0.0.1") is None  # the mapped form is the same client
    other = slots.acquire("10.0.0.2")
    assert other is not None
    first.release()
    first.release()  # idempotent: no place is given back twice
    assert slots.open_from("10.0.0.1") == 1
    third = slots.acquire("10.0.0.1")
    assert third is not None
    assert slots.acquire("10.0.0.1") is None
    assert slots.refused == 2
    assert (slots.open_from("10.0.0.1"), slots.open_from("10.0.0.2")) == (2, 1)


def test_a_dropped_slot_gives_its_place_back() -> None:
    slots = AddressSlots(1)
    slot = slots.acquire("10.0.0.1")
    assert slot is not None
    del slot  # lost with a stopped actor's mailbox, say
    gc.collect()
    assert slots.open_from("10.0.0.1") == 0
    assert slots.acquire("10.0.0.1") is not None


def test_no_limit_counts_but_never_refuses() -> None:
    slots = AddressSlots(0)
    held = [slots.acquire("10.0.0.1") for _ in range(500)]
    assert all(slot is not None for slot in held)
    assert slots.open_from("10.0.0.1") == 500
    with pytest.raises(ValueError, match="0 \\(none\\) or more"):
        AddressSlots(-1)


def test_refusals_are_logged_at_most_once_per_interval_per_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    slots = AddressSlots(1, clock=lambda: now[0])
    held = [slots.acquire("10.0.0.1"), slots.acquire("10.0.0.2")]
    assert None not in held
    with caplog.at_level(logging.WARNING, logger="rtmp_actors.transport.address_slots"):
        for _ in range(100):
            assert slots.acquire("10.0.0.1") is None
        assert slots.acquire("10.0.0.2") is None  # another address has its own report
        now[0] = LOG_INTERVAL
        assert slots.acquire("10.0.0.1") is None
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "refusing connection from 10.0.0.1: it has 1 open, the limit per address",
        "refusing connection from 10.0.0.2: it has 1 open, the limit per address",
        "refusing connection from 10.0.0.1: it has 1 open, the limit per address"
        " (99 more refused since the last report)",
    ]


def _wait_until_closed(socks: list[socket.socket], count: int, timeout: float) -> int:
    """Wait until ``count`` of ``socks`` have been closed by the server; how many were."""
    closed = 0
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while closed < count and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1)
                except ConnectionResetError:
                    data = b""
                assert data == b"", "a refused connection was sent bytes"
                selector.unregister(sock)
                closed += 1
    return closed


def test_a_flood_from_one_address_leaves_room_for_another(caplog: pytest.LogCaptureFixture) -> None:
    # The defaults: 1000 connections in all, 50 per address.
    relay = RelayServer(RelayConfig(port=0)).start()
    flood: list[socket.socket] = []
    try:
        host, port = relay.address
        with caplog.at_level(logging.WARNING, logger="rtmp_actors.transport.address_slots"):
            for _ in range(1000):  # idle: they never send a handshake byte
                sock = socket.socket()
                flood.append(sock)
                sock.bind(("127.0.0.2", 0))
                sock.settimeout(TIMEOUT)
                sock.connect((host, port))
            assert _wait_until_closed(flood, 950, TIMEOUT) == 950
        assert relay.rtmp_server.address_slots.open_from("127.0.0.2") == 50
        # Logged once, not 950 times.
        refusals = [r for r in caplog.records if "refusing connection from" in r.getMessage()]
        assert [r.getMessage() for r in refusals] == [
            "refusing connection from 127.0.0.2: it has 50 open, the limit per address"
        ]

        # 127.0.0.1 still gets in, publishes, and a player receives its media.
        player_log = EventLog()
        player = _connected(relay, player_log)
        player.session.tell(ClientSessionActor.request_playback, "key")
        assert player_log.wait(client.PlayResponseReceived).was_accepted
        publisher_log = EventLog()
        publisher = _connected(relay, publisher_log)
        publisher.session.tell(ClientSessionActor.request_publish, "key")
        assert publisher_log.wait(client.PublishResponseReceived).was_accepted
        frame = b"\x17\x01\x00\x00\x00flood-proof"
        publisher.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 40, frame
        )
        received = player_log.wait(client.AudioVideoDataReceived)
        assert (received.timestamp, received.data) == (40, frame)
        assert relay.rtmp_server.address_slots.open_from("127.0.0.1") == 2

        # Closing flood connections gives their places back.
        for sock in flood:
            sock.close()
        assert relay.rtmp_server.wait_for_connections(2, TIMEOUT)
        assert relay.rtmp_server.address_slots.open_from("127.0.0.2") == 0
    finally:
        for sock in flood:
            sock.close()
        relay.stop()


def test_play_rules_apply_to_http_flv_players() -> None:
    rules = IpRules(("deny play 127.0.0.0/8",))
    relay = RelayServer(RelayConfig(port=0, http_port=0, ip_rules=rules)).start()
    try:
        start_stream_with_auth(relay)
        refused = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert refused.status == 403
        refused.close()
    finally:
        relay.stop()


# --- The HTTP port ----------------------------------------------------------------------------


def _get_stats(port: int) -> int:
    """The status of ``GET /stats`` from 127.0.0.1."""
    response = http_flv_client.request(port, "/stats")
    response.close()
    return response.status


def test_idle_http_connections_from_one_address_leave_requests_for_another() -> None:
    # 60 idle connections from 127.0.0.2: 50 (the limit per address) hold a request
    # thread each, out of 64; the other 10 are closed at once.
    relay = RelayServer(RelayConfig(port=0, http_port=0)).start()
    idle: list[socket.socket] = []
    try:
        port = http_port(relay)
        for _ in range(60):
            sock = socket.socket()
            idle.append(sock)
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", port))
        assert _wait_until_closed(idle, 10, TIMEOUT) == 10
        assert relay.rtmp_server.address_slots.open_from("127.0.0.2") == 50
        assert _get_stats(port) == 200  # 127.0.0.1 is still answered
    finally:
        for sock in idle:
            sock.close()
        relay.stop()
    assert relay.rtmp_server.address_slots.open_from("127.0.0.2") == 0


def test_an_http_flv_player_counts_against_its_address_while_it_plays() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, max_connections_per_address=2)).start()
    try:
        start_stream_with_auth(relay)  # the publisher: one connection from 127.0.0.1
        watcher = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert watcher.status == 200
        assert watcher.tag() is not None
        slots = relay.rtmp_server.address_slots
        assert slots.open_from("127.0.0.1") == 2  # the request's slot, kept by the player
        third = socket.create_connection(relay.address, timeout=TIMEOUT)
        assert _wait_until_closed([third], 1, TIMEOUT) == 1  # RTMP: over the limit
        third.close()
        watcher.close()
        poll_until(lambda: slots.open_from("127.0.0.1") == 1, TIMEOUT, "the player's slot back")
    finally:
        relay.stop()


def test_http_flv_players_beyond_max_connections_get_a_503() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, max_connections=2)).start()
    try:
        start_stream_with_auth(relay)
        first = http_flv_client.request(http_port(relay), "/live/key.flv")
        second = http_flv_client.request(http_port(relay), "/live/key.flv")
        third = http_flv_client.request(http_port(relay), "/live/key.flv")
        assert (first.status, second.status, third.status) == (200, 200, 503)
        for response in (first, second, third):
            response.close()
    finally:
        relay.stop()


def test_requests_at_once_come_from_the_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text("[server]\nhttp_max_requests = 3\n")
    assert RelayConfig.from_toml(path).http_max_requests == 3
    with pytest.raises(ValueError, match="max_clients must be at least 1"):
        RelayServer(RelayConfig(port=0, http_port=0, http_max_requests=0)).start()


def test_a_request_head_that_trickles_in_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_http, "REQUEST_HEAD_DEADLINE", 1.0)
    relay = RelayServer(RelayConfig(port=0, http_port=0)).start()
    try:
        sock = socket.create_connection(("127.0.0.1", http_port(relay)), timeout=TIMEOUT)
        sock.sendall(b"GET /stats HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            # A header byte every 0.2 s: each read returns well within the socket timeout.
            while not closed and time.monotonic() - started < TIMEOUT:
                try:
                    if selector.select(0.2):
                        closed = sock.recv(1) == b""
                    else:
                        sock.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
        assert closed  # without the deadline, the trickle keeps it open
        sock.close()
        assert _get_stats(http_port(relay)) == 200
    finally:
        relay.stop()


def test_a_request_head_past_its_budget_is_a_431() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0)).start()
    try:
        port = http_port(relay)
        header = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        for head in (
            b"GET /stats HTTP/1.1\r\n" + header * 40 + b"\r\n",  # 40 KB of headers
            b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\n\r\n",  # a 40 KB request line
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(head)
                answer = sock.makefile("rb").readline()
            assert answer.split()[1] == b"431", answer
        small = b"GET /stats HTTP/1.1\r\n" + header * 20 + b"\r\n"  # 20 KB: within it
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(small)
            assert sock.makefile("rb").readline().split()[1] == b"200"
    finally:
        relay.stop()
