"""The stream directory: one suite for the in-process and the Redis implementations.

The Redis side runs against a real redis-server. Time passes on a fake clock for the
in-process directory, and for real (short TTLs, polled against a deadline) for Redis.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.cluster import (
    DirectoryUnavailable,
    InProcessDirectory,
    NodeInfo,
    RedisDirectory,
    StreamClaim,
    StreamDirectory,
    StreamRelay,
    open_directory,
)
from rtmp_actors.cluster.directory import MAX_RELAY_DEPTH
from rtmp_actors.cluster.redis_directory import MAX_VALUE_BYTES
from tests.nginx_rtmp import free_port
from tests.peers import poll_until
from tests.redis_server import RedisServer, redis_server

SHORT = 0.3  # seconds: a TTL we let run out
LONG = 60.0  # seconds: a TTL that does not run out during a test
URL1 = "rtmp://127.0.0.1:1935"
URL2 = "rtmp://127.0.0.2:1935"
T = TypeVar("T")


def claim_of(node: str = "n1", key: str = "cam", app: str = "live", url: str = URL1) -> StreamClaim:
    return StreamClaim(app, key, node, url)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A directory and the means to let its short TTLs run out."""

    directory: StreamDirectory
    expire: Callable[[Callable[[], bool], str], None]
    """Let the SHORT TTL pass, until the condition holds (it must, soon after)."""
    lose_everything: Callable[[], None]
    """What a Redis restart without persistence does."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


def _memory_rig() -> Rig:
    clock = FakeClock()
    directory = InProcessDirectory(clock)

    def expire(condition: Callable[[], bool], what: str) -> None:
        clock.now += SHORT + 0.001
        assert condition(), f"not after the TTL: {what}"

    return Rig(directory, expire, directory.clear)


def _redis_rig(server: RedisServer) -> Rig:
    directory = server.directory(prefix=f"test-{uuid.uuid4().hex[:8]}")

    def expire(condition: Callable[[], bool], what: str) -> None:
        poll_until(condition, SHORT + 5, what)

    def lose_everything() -> None:
        with server.client() as client:
            client.flushall()

    return Rig(directory, expire, lose_everything)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.peers)])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    made = (
        _memory_rig()
        if request.param == "memory"
        else _redis_rig(request.getfixturevalue("server"))
    )
    with made.directory:
        yield made


@pytest.fixture
def directory(rig: Rig) -> StreamDirectory:
    return rig.directory


def recovering(call: Callable[[], T]) -> T:
    """Call; after a DirectoryUnavailable (a connection lost to a restart), once more."""
    try:
        return call()
    except DirectoryUnavailable:
        return call()


# --- Claims ---------------------------------------------------------------------------------


def test_claim_of_a_free_key_is_stored(directory: StreamDirectory) -> None:
    ours = claim_of()
    assert directory.claim(ours, LONG) == ours
    assert directory.lookup("live", "cam") == ours
    assert directory.lookup("live", "other") is None


def test_claiming_again_refreshes_ttl_and_url(rig: Rig) -> None:
    d = rig.directory
    d.claim(claim_of(), SHORT)
    d.claim(claim_of(key="control"), SHORT)
    moved = claim_of(url=URL2)
    assert d.claim(moved, LONG) == moved
    rig.expire(lambda: d.lookup("live", "control") is None, "the control claim to expire")
    assert d.lookup("live", "cam") == moved


def test_a_key_held_by_another_node_is_refused(directory: StreamDirectory) -> None:
    theirs = claim_of("n1")
    directory.claim(theirs, LONG)
    assert directory.claim(claim_of("n2", url=URL2), LONG) == theirs
    assert directory.lookup("live", "cam") == theirs


def test_takeover_replaces_the_holder(directory: StreamDirectory) -> None:
    first = claim_of("n1")
    directory.claim(first, LONG)
    second = claim_of("n2", url=URL2)
    assert directory.claim(second, LONG, takeover=True) == second
    assert directory.lookup("live", "cam") == second
    assert directory.refresh([first], LONG) == [first]  # the old holder learns it lost it
    assert directory.lookup("live", "cam") == second


def test_release_deletes_only_our_claim(directory: StreamDirectory) -> None:
    ours = claim_of("n1")
    directory.claim(ours, LONG)
    assert directory.release(claim_of("n2")) is False
    assert directory.lookup("live", "cam") == ours
    assert directory.release(ours) is True
    assert directory.lookup("live", "cam") is None
    assert directory.release(ours) is False


def test_a_claim_expires_and_frees_the_key(rig: Rig) -> None:
    d = rig.directory
    d.claim(claim_of("n1"), SHORT)
    rig.expire(lambda: d.lookup("live", "cam") is None, "the claim to expire")
    theirs = claim_of("n2")
    assert d.claim(theirs, LONG) == theirs


def test_concurrent_claims_have_one_winner(directory: StreamDirectory) -> None:
    start = threading.Barrier(8)
    results: list[StreamClaim] = []

    def contend(node: str) -> None:
        start.wait(timeout=10)
        results.append(directory.claim(claim_of(node), LONG))

    threads = [threading.Thread(target=contend, args=(f"n{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert directory.lookup("live", "cam") == results[0]


def test_names_with_separators_do_not_collide(directory: StreamDirectory) -> None:
    names = [("a:b", "c"), ("a", "b:c"), ("a/b", "c"), ("a", "b/c"), ("a%2Fb", "c"), ("", "")]
    names += [("live", "x" * 3000), ("live", "x" * 2999 + "y")]  # long names are hashed
    for index, (app, key) in enumerate(names):
        directory.claim(StreamClaim(app, key, f"n{index}", URL1), LONG)
    for index, (app, key) in enumerate(names):
        assert directory.lookup(app, key) == StreamClaim(app, key, f"n{index}", URL1)


@pytest.mark.parametrize("ttl", [0, -1.0, math.nan, math.inf, 1e300])
def test_bad_ttls_are_refused(directory: StreamDirectory, ttl: float) -> None:
    with pytest.raises(ValueError, match="TTL"):
        directory.claim(claim_of(), ttl)
    with pytest.raises(ValueError, match="TTL"):
        directory.refresh([claim_of()], ttl)
    with pytest.raises(ValueError, match="TTL"):
        directory.register_node(NodeInfo("n1", URL1), ttl)


@pytest.mark.parametrize(
    "bad",
    [
        claim_of(url="http://evil"),
        claim_of(node=""),
        claim_of(node="n\n1"),
        claim_of(key="k" * 5000),
        claim_of(key="\ud800"),
    ],
)
def test_bad_claims_are_refused(directory: StreamDirectory, bad: StreamClaim) -> None:
    with pytest.raises(ValueError, match="bad stream claim"):
        directory.claim(bad, LONG)
    assert directory.lookup(bad.app, bad.key) is None


# --- Heartbeats -----------------------------------------------------------------------------


def test_refresh_extends_our_claims(rig: Rig) -> None:
    d = rig.directory
    ours = [claim_of(key="a"), claim_of(key="b")]
    for claim in ours:
        d.claim(claim, SHORT)
    d.claim(claim_of(key="control"), SHORT)
    assert d.refresh(ours, LONG) == []
    rig.expire(lambda: d.lookup("live", "control") is None, "the control claim to expire")
    assert d.lookup_many([("live", "a"), ("live", "b")]) == {
        ("live", "a"): ours[0],
        ("live", "b"): ours[1],
    }


def test_refresh_recreates_lost_claims(rig: Rig) -> None:
    d = rig.directory
    ours = claim_of()
    d.claim(ours, LONG)
    rig.lose_everything()
    assert d.lookup("live", "cam") is None
    assert d.refresh([ours], LONG) == []
    assert d.lookup("live", "cam") == ours


def test_refresh_recreates_expired_claims(rig: Rig) -> None:
    d = rig.directory
    ours = claim_of()
    d.claim(ours, SHORT)
    rig.expire(lambda: d.lookup("live", "cam") is None, "the claim to expire")
    assert d.refresh([ours], LONG) == []
    assert d.lookup("live", "cam") == ours


def test_refresh_reports_claims_taken_by_others(directory: StreamDirectory) -> None:
    a, b = claim_of(key="a"), claim_of(key="b")
    directory.claim(a, LONG)
    directory.claim(b, LONG)
    theirs = claim_of("n2", key="b", url=URL2)
    directory.claim(theirs, LONG, takeover=True)
    assert directory.refresh([a, b], LONG) == [b]
    assert directory.lookup("live", "b") == theirs
    assert directory.refresh([], LONG) == []


def test_lookup_many(directory: StreamDirectory) -> None:
    claims = {("live", f"k{i}"): claim_of(f"n{i}", key=f"k{i}") for i in range(5)}
    for claim in claims.values():
        directory.claim(claim, LONG)
    wanted = [*claims, ("live", "absent"), ("other", "k1"), ("live", "k0")]
    assert directory.lookup_many(wanted) == claims
    assert directory.lookup_many([]) == {}


# --- Nodes ----------------------------------------------------------------------------------


def test_nodes_register_expire_and_unregister(rig: Rig) -> None:
    d = rig.directory
    assert d.nodes() == []
    d.register_node(NodeInfo("n2", URL2, streams=1), LONG)
    d.register_node(NodeInfo("n1", URL1), SHORT)
    assert d.nodes() == [NodeInfo("n1", URL1), NodeInfo("n2", URL2, streams=1)]
    d.register_node(NodeInfo("n2", URL2, streams=3, players=7), LONG)
    rig.expire(lambda: [n.node_id for n in d.nodes()] == ["n2"], "n1's registration to expire")
    assert d.nodes() == [NodeInfo("n2", URL2, streams=3, players=7)]
    d.unregister_node("n2")
    d.unregister_node("never-registered")
    assert d.nodes() == []


@pytest.mark.parametrize(
    "bad", [NodeInfo("", URL1), NodeInfo("n1", "tcp://x"), NodeInfo("n1", URL1, streams=-1)]
)
def test_bad_nodes_are_refused(directory: StreamDirectory, bad: NodeInfo) -> None:
    with pytest.raises(ValueError, match="bad node"):
        directory.register_node(bad, LONG)


# --- Redis: what is stored, and garbage ---------------------------------------------------


@pytest.fixture
def redis_dir(server: RedisServer) -> Iterator[RedisDirectory]:
    with server.directory(prefix=f"test-{uuid.uuid4().hex[:8]}") as made:
        yield made


@pytest.mark.peers
def test_redis_keys_and_values(server: RedisServer, redis_dir: RedisDirectory) -> None:
    prefix = redis_dir.stream_key("", "").partition(":stream:")[0]
    redis_dir.claim(StreamClaim("live", "a:b/c", "n1", URL1), 10)
    redis_dir.register_node(NodeInfo("n1", URL1, 2, 3), 10)
    with server.client() as raw:
        stream_key = f"{prefix}:stream:live/a%3Ab%2Fc"
        assert json.loads(raw.get(stream_key) or b"") == {"v": 1, "node": "n1", "url": URL1}
        assert 0 < raw.pttl(stream_key) <= 10_000
        node = json.loads(raw.get(f"{prefix}:node:n1") or b"")
        assert node == {"v": 1, "node": "n1", "url": URL1, "streams": 2, "players": 3}
        assert raw.smembers(f"{prefix}:nodes") == {b"n1"}


def _huge() -> bytes:
    return json.dumps(
        {"v": 1, "node": "n9", "url": "rtmp://x", "pad": "x" * MAX_VALUE_BYTES}
    ).encode()


GARBAGE = {
    "not-json": b"\xff\xfe not json at all",
    "empty": b"",
    "json-list": b'["n9","rtmp://x"]',
    "json-string": b'"rtmp://x"',
    "no-version": b'{"node":"n9","url":"rtmp://x"}',
    "version-true": b'{"v":true,"node":"n9","url":"rtmp://x"}',
    "version-2": b'{"v":2,"node":"n9","url":"rtmp://x"}',
    "evil-url": b'{"v":1,"node":"n9","url":"http://evil"}',
    "url-with-newline": b'{"v":1,"node":"n9","url":"rtmp://x\\nFAKE LOG LINE"}',
    "wrong-types": b'{"v":1,"node":9,"url":["rtmp://x"]}',
    "null-node": b'{"v":1,"node":null,"url":"rtmp://x"}',
    "long-node": json.dumps({"v": 1, "node": "n" * 300, "url": "rtmp://x"}).encode(),
    "deep": b"[" * 100_000,
    "huge": _huge(),
}


@pytest.mark.peers
@pytest.mark.parametrize("value", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_claims_are_ignored_and_overwritten(
    server: RedisServer, redis_dir: RedisDirectory, value: bytes
) -> None:
    key = redis_dir.stream_key("live", "cam")
    with server.client() as raw:
        raw.set(key, value)
        assert redis_dir.lookup("live", "cam") is None
        assert redis_dir.lookup_many([("live", "cam")]) == {}
        assert redis_dir.release(claim_of("n1")) is False
        ours = claim_of("n1")
        assert redis_dir.claim(ours, LONG) == ours
        assert redis_dir.lookup("live", "cam") == ours
        raw.set(key, value)
        assert redis_dir.refresh([ours], LONG) == []
        assert redis_dir.lookup("live", "cam") == ours


@pytest.mark.peers
def test_values_of_another_redis_type_are_garbage(
    server: RedisServer, redis_dir: RedisDirectory
) -> None:
    key = redis_dir.stream_key("live", "cam")
    with server.client() as raw:
        raw.rpush(key, b"x")
        assert redis_dir.lookup("live", "cam") is None
        assert redis_dir.release(claim_of()) is False
        assert redis_dir.refresh([claim_of()], LONG) == []
        assert redis_dir.lookup("live", "cam") == claim_of()
        raw.delete(key)
        raw.hset(key, "a", "b")
        assert redis_dir.claim(claim_of(), LONG) == claim_of()


@pytest.mark.peers
def test_garbage_nodes_are_skipped(server: RedisServer, redis_dir: RedisDirectory) -> None:
    index = redis_dir.node_key("x").rpartition(":node:")[0] + ":nodes"
    redis_dir.register_node(NodeInfo("n1", URL1), LONG)
    redis_dir.register_node(NodeInfo("n2", URL2), LONG)
    with server.client() as raw:
        raw.set(redis_dir.node_key("n1"), b'{"v":1,"node":"n1","url":"http://evil"}')
        raw.set(redis_dir.node_key("n3"), b'{"v":1,"node":"n2","url":"rtmp://x"}')  # not n3's
        raw.sadd(index, "n3", "nobody", "\xff")
        assert redis_dir.nodes() == [NodeInfo("n2", URL2)]
        raw.delete(index)
        raw.rpush(index, "n2")  # an index of the wrong type
        assert redis_dir.nodes() == []
        redis_dir.register_node(NodeInfo("n2", URL2), LONG)  # repairs it
        assert redis_dir.nodes() == [NodeInfo("n2", URL2)]
        assert raw.smembers(index) <= {b"n2", b"n3"}  # expired members were pruned


@pytest.mark.peers
def test_each_bad_value_is_logged_once(
    server: RedisServer, redis_dir: RedisDirectory, caplog: pytest.LogCaptureFixture
) -> None:
    key = redis_dir.stream_key("live", "cam")
    caplog.set_level(logging.WARNING, logger="rtmp_actors.cluster.redis_directory")
    with server.client() as raw:
        raw.set(key, b"garbage one")
        for _ in range(3):
            assert redis_dir.lookup("live", "cam") is None
        raw.set(key, b"garbage two")
        assert redis_dir.lookup_many([("live", "cam")]) == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(key in message for message in warnings)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# Claim-shaped JSON with each field possibly of the wrong type, value or size.
NEAR_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 1.0, True, "1", 2]) | JSON,
        "node": st.text(max_size=300) | JSON,
        "url": st.sampled_from(["rtmp://h", "rtmps://h:1", "http://evil", "rtmp://\n"]) | JSON,
    },
).map(lambda fields: json.dumps(fields, allow_nan=True).encode())


@pytest.fixture(scope="module")
def shared_dir(server: RedisServer) -> Iterator[RedisDirectory]:
    with server.directory(prefix="hypothesis") as made:
        yield made


@pytest.mark.peers
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.binary(max_size=300) | st.builds(lambda b: b"{" + b + b"}", st.binary()) | NEAR_CLAIMS
)
def test_arbitrary_bytes_never_make_lookup_raise(
    server: RedisServer, shared_dir: RedisDirectory, value: bytes
) -> None:
    key = shared_dir.stream_key("live", "cam")
    with server.client() as raw:
        raw.set(key, value)
    found = shared_dir.lookup("live", "cam")
    assert found is None or (found.app, found.key) == ("live", "cam")
    assert shared_dir.lookup_many([("live", "cam")]) == (
        {} if found is None else {("live", "cam"): found}
    )


# --- Opening, and losing the server --------------------------------------------------------


@pytest.mark.parametrize("url", [None, "memory://"])
def test_open_directory_in_process(url: str | None) -> None:
    with open_directory(url) as opened:
        assert isinstance(opened, InProcessDirectory)
        assert opened.name == "memory"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "memory:", "", "redis-ish://x", "mysql://h", "redis://h:port/0"],
)
def test_open_directory_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="URL") as raised:
        open_directory(url)
    assert repr(url) in str(raised.value)


@pytest.mark.peers
def test_open_directory_on_redis(server: RedisServer) -> None:
    for url in (server.url, server.unix_url):
        with open_directory(url) as opened:
            assert isinstance(opened, RedisDirectory)
            assert opened.name == url
            assert opened.lookup("live", "nothing") is None


def test_open_directory_where_nothing_listens() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable) as raised:
        open_directory(url)
    assert time.monotonic() - started < 3
    assert f"cannot reach the cluster directory at {url}: " in str(raised.value)


def test_open_directory_on_a_server_that_never_answers() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable, match="cannot reach the cluster directory at"):
            open_directory(url)
        assert time.monotonic() - started < 3


@pytest.mark.peers
def test_open_directory_does_not_leak_the_password(tmp_path: Path) -> None:
    with redis_server(tmp_path) as guarded:
        with guarded.client() as client:
            client.config_set("requirepass", "right")
        wrong = f"redis://:hunter2@127.0.0.1:{guarded.port}/0"
        with pytest.raises(DirectoryUnavailable) as raised:
            open_directory(wrong)
        assert "hunter2" not in str(raised.value)
        assert f"redis://:***@127.0.0.1:{guarded.port}/0" in str(raised.value)
        with open_directory(f"redis://:right@127.0.0.1:{guarded.port}/0") as opened:
            assert opened.name == f"redis://:***@127.0.0.1:{guarded.port}/0"
            assert opened.lookup("live", "cam") is None


@pytest.mark.peers
def test_a_redis_restart_is_survived(tmp_path: Path) -> None:
    with redis_server(tmp_path) as restarting, restarting.directory() as d:
        ours = [claim_of(key="a"), claim_of(key="b")]
        for claim in ours:
            d.claim(claim, LONG)
        d.register_node(NodeInfo("n1", URL1), LONG)
        restarting.restart()  # empty now, and without the scripts loaded
        assert recovering(lambda: d.refresh(ours, LONG)) == []
        assert d.lookup_many([("live", "a"), ("live", "b")]) == {
            ("live", "a"): ours[0],
            ("live", "b"): ours[1],
        }
        d.register_node(NodeInfo("n1", URL1), LONG)
        assert d.nodes() == [NodeInfo("n1", URL1)]
        assert d.claim(claim_of("n2", key="a"), LONG) == ours[0]
        assert d.release(ours[1]) is True


@pytest.mark.peers
def test_calls_fail_while_redis_is_down_and_recover(tmp_path: Path) -> None:
    with redis_server(tmp_path) as flaky, flaky.directory() as d:
        d.claim(claim_of(), LONG)
        flaky.stop()
        for call in (lambda: d.lookup("live", "cam"), lambda: d.refresh([claim_of()], LONG)):
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable, match=flaky.url):
                call()
            assert time.monotonic() - started < 3
        flaky.start()
        assert recovering(lambda: d.claim(claim_of(), LONG)) == claim_of()
        assert d.lookup("live", "cam") == claim_of()


# --- Relays (chains of edges) -------------------------------------------------------------------


def test_relays_are_listed_per_stream_and_node_until_they_expire(rig: Rig) -> None:
    d = rig.directory
    d.register_relay(StreamRelay("live", "cam", "n2", URL2, 1), SHORT)
    d.register_relay(StreamRelay("live", "cam", "n3", URL1, 2), LONG)
    d.register_relay(StreamRelay("live", "other", "n2", URL2, 1), LONG)
    assert d.relays("live", "cam", ["n2", "n3", "n4"]) == [
        StreamRelay("live", "cam", "n2", URL2, 1),
        StreamRelay("live", "cam", "n3", URL1, 2),
    ]
    rig.expire(lambda: len(d.relays("live", "cam", ["n2", "n3"])) == 1, "the short relay")
    d.unregister_relay(StreamRelay("live", "cam", "n3", URL1, 2))
    assert d.relays("live", "cam", ["n2", "n3"]) == []
    assert d.relays("live", "other", ["n2"]) == [StreamRelay("live", "other", "n2", URL2, 1)]


def test_a_relay_deeper_than_the_limit_or_with_a_bad_address_is_refused(
    directory: StreamDirectory,
) -> None:
    with pytest.raises(ValueError, match="depth"):
        directory.register_relay(StreamRelay("live", "cam", "n2", URL2, MAX_RELAY_DEPTH + 1), LONG)
    with pytest.raises(ValueError, match="rtmp"):
        directory.register_relay(StreamRelay("live", "cam", "n2", "http://evil", 1), LONG)


@pytest.mark.peers
def test_garbage_relays_are_skipped(server: RedisServer, redis_dir: RedisDirectory) -> None:
    with server.client() as raw:
        raw.set(redis_dir.relay_key("live", "cam", "n1"), b"not json")
        raw.set(
            redis_dir.relay_key("live", "cam", "n2"),
            b'{"v":1,"node":"n9","url":"rtmp://x","depth":1}',
        )
        raw.set(
            redis_dir.relay_key("live", "cam", "n3"),
            b'{"v":1,"node":"n3","url":"rtmp://x","depth":99}',
        )
        raw.set(
            redis_dir.relay_key("live", "cam", "n4"),
            b'{"v":1,"node":"n4","url":"rtmp://x","depth":1}',
        )
    assert redis_dir.relays("live", "cam", ["n1", "n2", "n3", "n4"]) == [
        StreamRelay("live", "cam", "n4", "rtmp://x", 1)
    ]


def test_a_claim_is_announced_to_the_watchers(directory: StreamDirectory) -> None:
    seen: queue.Queue[tuple[str, str]] = queue.Queue()
    directory.watch_claims(lambda app, key: seen.put((app, key)))
    # The Redis watcher subscribes on its own thread: claim until the notice comes.
    poll_until(
        lambda: directory.claim(claim_of(key="announced"), LONG) is not None and not seen.empty(),
        5,
        "a claim notice",
    )
    assert seen.get_nowait() == ("live", "announced")
    directory.claim(claim_of("n2", key="announced", url=URL2), LONG)  # refused: no notice
    directory.claim(claim_of(key="second"), LONG)
    notice = seen.get(timeout=5)
    while notice == ("live", "announced"):  # the polling's own claims, still arriving
        notice = seen.get(timeout=5)
    assert notice == ("live", "second")


def test_interest_is_listed_per_stream_and_node_until_it_expires(rig: Rig) -> None:
    d = rig.directory
    d.register_interest("live", "cam", "n2", SHORT)
    d.register_interest("live", "cam", "n3", LONG)
    d.register_interest("live", "other", "n4", LONG)
    assert d.interested("live", "cam", ["n1", "n2", "n3", "n4"]) == ["n2", "n3"]
    rig.expire(lambda: d.interested("live", "cam", ["n2", "n3"]) == ["n3"], "the short interest")
    d.unregister_interest("live", "cam", "n3")
    assert d.interested("live", "cam", ["n2", "n3"]) == []
    assert d.interested("live", "other", ["n4"]) == ["n4"]
