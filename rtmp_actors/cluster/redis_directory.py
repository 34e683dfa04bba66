"""The stream directory in Redis, shared by the nodes of a cluster.

Theory of operation:

* Keys: a claim lives at ``{prefix}:stream:{app}/{key}`` and a node at
  ``{prefix}:node:{node_id}``, the names percent-quoted (so ``:`` or ``/`` in them cannot
  collide) and replaced by ``#`` and a SHA-256 when long; ``{prefix}:nodes`` is the set of
  registered node keys' suffixes, pruned as their registrations expire.
* Values are compact JSON: ``{"v":1,"node":..,"url":..}`` for a claim (its app and key
  are its Redis key's), ``{"v":1,"node":..,"url":..,"streams":n,"players":n}`` for a node;
  other fields are ignored. Anything else (not JSON, wrong types, a url that is not
  ``rtmp://`` or ``rtmps://``, a node value naming another node than its key, more than
  :data:`MAX_VALUE_BYTES`) is garbage: skipped by lookups (a WARNING once per distinct
  value), overwritten by claims.
* Claim, compare-and-refresh, compare-and-delete and node registration are small Lua
  scripts, each atomic. A script compares node ids only; Python decides whether a value
  held by another node is a real claim or garbage, and replaces garbage with a
  compare-and-swap of the exact bytes it judged, so a claim racing it is never lost.
* TTLs are Redis's (``PX``), so nodes' clocks do not matter.
* Errors: every Redis failure becomes :class:`DirectoryUnavailable` naming the URL (without
  its password). The client retries a command once at once on a connection error, which
  reconnects after a Redis restart; redis-py's scripts reload themselves on ``NOSCRIPT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rtmp_actors.cluster.directory import (
    DirectoryError,
    DirectoryUnavailable,
    NodeInfo,
    StreamClaim,
    StreamDirectory,
    StreamRelay,
    check_claim,
    check_node,
    check_ttl,
    claim_problem,
    node_problem,
    relay_problem,
)

logger = logging.getLogger(__name__)

MAX_VALUE_BYTES = 16 * 1024
"""Largest stored value decoded; a larger one is garbage (the largest valid one is ~6 KiB)."""
_MAX_KEY_PART = 512  # longer quoted names are hashed: Redis keys stay bounded
_MAX_WARNED = 4096  # distinct garbage values remembered (so each is logged once)

# A script treats its key's value as ours if it is JSON naming our node; anything that is
# not (another node's claim or garbage) goes back to Python to judge. Missing, non-string
# (WRONGTYPE) or oversized values are free.
_OURS = """
local function ours(cur, node, max)
  if type(cur) ~= 'string' or #cur > max then return true end
  local ok, v = pcall(cjson.decode, cur)
  return ok and type(v) == 'table' and v.node == node
end
"""
# KEYS: stream key. ARGV: value, node, ttl ms, takeover, max. -> nil (stored) or the value held.
_CLAIM = (
    _OURS
    + """
local cur = redis.pcall('GET', KEYS[1])
if ARGV[4] ~= '1' and not ours(cur, ARGV[2], tonumber(ARGV[5])) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""
)
# KEYS: stream key. ARGV: expected value, new value, ttl ms. -> 1 if replaced.
_SWAP = """
if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# KEYS: stream keys. ARGV: ttl ms, max, then node and value per key. -> per key: 1 or the value.
_REFRESH = (
    _OURS
    + """
local out = {}
for i, key in ipairs(KEYS) do
  local cur = redis.pcall('GET', key)
  if ours(cur, ARGV[2 * i + 1], tonumber(ARGV[2])) then
    redis.call('SET', key, ARGV[2 * i + 2], 'PX', ARGV[1])
    out[i] = 1
  else
    out[i] = cur
  end
end
return out
"""
)
# KEYS: stream key. ARGV: node, max. -> 1 if deleted.
_RELEASE = """
local cur = redis.pcall('GET', KEYS[1])
if type(cur) ~= 'string' or #cur > tonumber(ARGV[2]) then return 0 end
local ok, v = pcall(cjson.decode, cur)
if not (ok and type(v) == 'table' and v.node == ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
# KEYS: node key, index, node key prefix. ARGV: value, ttl ms, node key suffix.
# Also prunes up to 3 random expired members, so the index stays bounded by live nodes.
_REGISTER = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'set' and kind ~= 'none' then redis.call('DEL', KEYS[2]) end
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[2], 3)) do
  if redis.call('EXISTS', KEYS[3] .. id) == 0 then redis.call('SREM', KEYS[2], id) end
end
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
# KEYS: index, node key prefix. -> suffix, value, suffix, value... of the live nodes.
_NODES = """
local ids = redis.pcall('SMEMBERS', KEYS[1])
if ids.err then return {} end
local out = {}
for _, id in ipairs(ids) do
  local v = redis.pcall('GET', KEYS[2] .. id)
  if type(v) == 'string' then
    out[#out + 1] = id
    out[#out + 1] = v
  elseif v == false then
    redis.call('SREM', KEYS[1], id)
  end
end
return out
"""
# KEYS: node key, index. ARGV: node key suffix.
_UNREGISTER = """
redis.call('DEL', KEYS[1])
redis.pcall('SREM', KEYS[2], ARGV[1])
return 1
"""


def redacted(url: str) -> str:
    """``url`` without its password (for logs, errors and statistics)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _quoted(name: str) -> str:
    # Lone surrogates (never stored, but looked up) quote to bytes no valid name has.
    return quote(name, safe="", errors="surrogatepass")


def _bounded(name: str, parts: Sequence[str]) -> str:
    # '#' never appears in a quoted name, so a hashed one cannot collide with a plain one.
    if len(name) <= _MAX_KEY_PART:
        return name
    return "#" + hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()


def _dumps(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(raw: bytes) -> dict[str, Any] | None:
    if len(raw) > MAX_VALUE_BYTES:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, or nested too deep
        return None
    if not isinstance(value, dict) or value.get("v") != 1 or type(value["v"]) is not int:
        return None
    return value


def encode_claim(claim: StreamClaim) -> bytes:
    """The stored form of a claim (its app and key are in its Redis key)."""
    return _dumps({"v": 1, "node": claim.node_id, "url": claim.url})


def decode_claim(raw: bytes, app: str, key: str) -> StreamClaim | None:
    """The claim on ``app/key`` stored as ``raw``, or None if it is garbage."""
    value = _loads(raw)
    if value is None:
        return None
    fields: list[Any] = [value.get("node"), value.get("url")]
    claim = StreamClaim(app, key, *fields)  # types unchecked until claim_problem
    return None if claim_problem(claim) else claim


def encode_node(node: NodeInfo) -> bytes:
    """The stored form of a node's registration."""
    fields = {"node": node.node_id, "url": node.url, "streams": node.streams}
    return _dumps({"v": 1, **fields, "players": node.players})


def decode_node(raw: bytes) -> NodeInfo | None:
    """The node registration stored as ``raw``, or None if it is garbage."""
    value = _loads(raw)
    if value is None:
        return None
    fields: list[Any] = [value.get(name) for name in ("node", "url", "streams", "players")]
    node = NodeInfo(*fields)
    return None if node_problem(node) else node


class RedisDirectory(StreamDirectory):
    """The stream directory in a Redis server (5 or later), shared by a cluster's nodes.

    Connections are made on first use; :meth:`ping` checks the server is there.

    Args:
        url: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` or
            ``unix:///path?db=0``.
        prefix: Starts every key, so that clusters (or tests) can share a server.
        socket_timeout: Seconds to connect, and to wait for each reply.

    Raises:
        ValueError: A malformed URL.
    """

    def __init__(
        self, url: str, *, prefix: str = "rtmp_actors", socket_timeout: float = 1.0
    ) -> None:
        self.name = redacted(url)
        self._prefix = prefix
        self._index = f"{prefix}:nodes"
        self._node_prefix = f"{prefix}:node:"
        # One immediate retry on a connection error (not a timeout): it reconnects after a
        # Redis restart, and a server that is down still fails within about a timeout.
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                retry_on_error=[redis.ConnectionError],
            )
        except ValueError as error:
            raise ValueError(f"bad cluster directory URL {self.name!r}: {error}") from None
        self._claim = self._redis.register_script(_CLAIM)
        self._swap = self._redis.register_script(_SWAP)
        self._refresh = self._redis.register_script(_REFRESH)
        self._release = self._redis.register_script(_RELEASE)
        self._register = self._redis.register_script(_REGISTER)
        self._nodes = self._redis.register_script(_NODES)
        self._unregister = self._redis.register_script(_UNREGISTER)
        self._channel = f"{prefix}:claimed"
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None
        self._warned: set[tuple[str, bytes]] = set()
        self._warned_lock = threading.Lock()

    # --- Keys and errors --------------------------------------------------------------------

    def stream_key(self, app: str, key: str) -> str:
        """The Redis key of the claim on ``app/key``."""
        return f"{self._prefix}:stream:" + _bounded(f"{_quoted(app)}/{_quoted(key)}", [app, key])

    def _node_suffix(self, node_id: str) -> str:
        return _bounded(_quoted(node_id), [node_id])

    def node_key(self, node_id: str) -> str:
        """The Redis key of a node's registration."""
        return self._node_prefix + self._node_suffix(node_id)

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            msg = f"cluster directory {self.name}: {what} failed: {error}"
            raise DirectoryUnavailable(msg) from error

    def _garbage(self, redis_key: str, raw: object) -> None:
        data = raw if isinstance(raw, bytes) else repr(raw).encode()
        seen = (redis_key, hashlib.blake2b(data, digest_size=16).digest())
        with self._warned_lock:
            if seen in self._warned:
                return
            if len(self._warned) >= _MAX_WARNED:
                self._warned.clear()
            self._warned.add(seen)
        logger.warning(
            "cluster directory %s: ignoring a bad value at %s (%d bytes): %r",
            self.name,
            redis_key,
            len(data),
            data[:80],
        )

    def _claim_at(self, redis_key: str, raw: object, app: str, key: str) -> StreamClaim | None:
        """The claim stored at ``redis_key`` as ``raw`` (None, or garbage: logged)."""
        if raw is None:
            return None
        claim = decode_claim(raw, app, key) if isinstance(raw, bytes) else None
        if claim is None:
            self._garbage(redis_key, raw)
            return None
        return claim

    # --- The directory ------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the server answers.

        Raises:
            DirectoryUnavailable: It does not.
        """
        with self._calling("PING"):
            self._redis.ping()

    def claim(self, claim: StreamClaim, ttl: float, *, takeover: bool = False) -> StreamClaim:
        check_claim(claim)
        ttl_ms = str(max(1, round(check_ttl(ttl) * 1000)))
        key = self.stream_key(claim.app, claim.key)
        value = encode_claim(claim)
        args: list[bytes | str | int] = [value, claim.node_id, ttl_ms, "1" if takeover else "0"]
        args.append(MAX_VALUE_BYTES)
        what = f"claiming {claim.app}/{claim.key}"
        for _ in range(3):  # another node may replace the garbage first: judge again
            with self._calling(what):
                held = self._claim(keys=[key], args=args)
            if held is None:
                return self._announce(claim)
            holder = self._claim_at(key, held, claim.app, claim.key)
            if holder is not None and holder.node_id != claim.node_id:
                return holder
            with self._calling(what):
                if self._swap(keys=[key], args=[held, value, ttl_ms]) == 1:
                    return self._announce(claim)
        raise DirectoryError(f"cluster directory {self.name}: {what}: the value keeps changing")

    def refresh(self, claims: Sequence[StreamClaim], ttl: float) -> list[StreamClaim]:
        for claim in claims:
            check_claim(claim)
        ttl_ms = str(max(1, round(check_ttl(ttl) * 1000)))
        if not claims:
            return []
        keys = [self.stream_key(claim.app, claim.key) for claim in claims]
        args: list[str | bytes | int] = [ttl_ms, MAX_VALUE_BYTES]
        for claim in claims:
            args += [claim.node_id, encode_claim(claim)]
        with self._calling(f"refreshing {len(claims)} claims"):
            results = self._refresh(keys=keys, args=args)
        lost: list[StreamClaim] = []
        for claim, key, result in zip(claims, keys, results, strict=True):
            if result == 1:
                continue
            holder = self._claim_at(key, result, claim.app, claim.key)
            if holder is None or holder.node_id == claim.node_id:
                holder = self.claim(claim, ttl)  # garbage in the way: replace it (rare)
            if holder.node_id != claim.node_id:
                lost.append(claim)
        return lost

    def release(self, claim: StreamClaim) -> bool:
        key = self.stream_key(claim.app, claim.key)
        with self._calling(f"releasing {claim.app}/{claim.key}"):
            return bool(self._release(keys=[key], args=[claim.node_id, MAX_VALUE_BYTES]) == 1)

    def lookup(self, app: str, key: str) -> StreamClaim | None:
        return self.lookup_many([(app, key)]).get((app, key))

    def lookup_many(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StreamClaim]:
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        keys = [self.stream_key(app, key) for app, key in names]
        # MGET, not GET: it answers nil for a key of another type instead of failing.
        with self._calling(f"looking up {len(names)} streams"):
            values = self._redis.mget(keys)
        found: dict[tuple[str, str], StreamClaim] = {}
        for (app, key), redis_key, raw in zip(names, keys, values, strict=True):
            claim = self._claim_at(redis_key, raw, app, key)
            if claim is not None:
                found[app, key] = claim
        return found

    def relay_key(self, app: str, key: str, node_id: str) -> str:
        """The Redis key of a node's relay entry for ``app/key``."""
        name = f"{_quoted(app)}/{_quoted(key)}/{_quoted(node_id)}"
        return f"{self._prefix}:relay:" + _bounded(name, [app, key, node_id])

    def register_relay(self, relay: StreamRelay, ttl: float) -> None:
        if problem := relay_problem(relay):
            raise ValueError(problem)
        ttl_ms = max(1, round(check_ttl(ttl) * 1000))
        value = _dumps({"v": 1, "node": relay.node_id, "url": relay.url, "depth": relay.depth})
        with self._calling(f"registering the relay of {relay.app}/{relay.key}"):
            self._redis.set(self.relay_key(relay.app, relay.key, relay.node_id), value, px=ttl_ms)

    def unregister_relay(self, relay: StreamRelay) -> None:
        with self._calling(f"unregistering the relay of {relay.app}/{relay.key}"):
            self._redis.delete(self.relay_key(relay.app, relay.key, relay.node_id))

    def relays(self, app: str, key: str, node_ids: Sequence[str]) -> list[StreamRelay]:
        node_ids = list(dict.fromkeys(node_ids))
        if not node_ids:
            return []
        keys = [self.relay_key(app, key, node_id) for node_id in node_ids]
        with self._calling(f"looking up the relays of {app}/{key}"):
            values = self._redis.mget(keys)
        found = []
        for node_id, redis_key, raw in zip(node_ids, keys, values, strict=True):
            if raw is None:
                continue
            value = _loads(raw) if isinstance(raw, bytes) else None
            fields: list[Any] = [] if value is None else [value.get("url"), value.get("depth")]
            relay = StreamRelay(app, key, node_id, *fields) if fields else None
            if (
                relay is None
                or value is None
                or value.get("node") != node_id
                or relay_problem(relay)
            ):
                self._garbage(redis_key, raw)
                continue
            found.append(relay)
        return found

    def register_node(self, node: NodeInfo, ttl: float) -> None:
        check_node(node)
        ttl_ms = str(max(1, round(check_ttl(ttl) * 1000)))
        keys = [self.node_key(node.node_id), self._index, self._node_prefix]
        args: list[bytes | str] = [encode_node(node), ttl_ms, self._node_suffix(node.node_id)]
        with self._calling(f"registering node {node.node_id}"):
            self._register(keys=keys, args=args)

    def nodes(self) -> list[NodeInfo]:
        with self._calling("listing nodes"):
            flat = self._nodes(keys=[self._index, self._node_prefix])
        live: dict[str, NodeInfo] = {}
        for suffix, raw in zip(flat[::2], flat[1::2], strict=True):
            redis_key = self._node_prefix + bytes(suffix).decode(errors="replace")
            node = decode_node(raw) if isinstance(raw, bytes) else None
            if node is None or self.node_key(node.node_id) != redis_key:
                self._garbage(redis_key, raw)
            else:
                live[node.node_id] = node
        return [live[node_id] for node_id in sorted(live)]

    def unregister_node(self, node_id: str) -> None:
        keys = [self.node_key(node_id), self._index]
        with self._calling(f"unregistering node {node_id}"):
            self._unregister(keys=keys, args=[self._node_suffix(node_id)])

    # --- Interest (players waiting) ---------------------------------------------------------

    def interest_key(self, app: str, key: str, node_id: str) -> str:
        """The Redis key saying that players wait on ``node_id`` for ``app/key``."""
        name = f"{_quoted(app)}/{_quoted(key)}/{_quoted(node_id)}"
        return f"{self._prefix}:want:" + _bounded(name, [app, key, node_id])

    def register_interest(self, app: str, key: str, node_id: str, ttl: float) -> None:
        ttl_ms = max(1, round(check_ttl(ttl) * 1000))
        with self._calling(f"registering interest in {app}/{key}"):
            self._redis.set(self.interest_key(app, key, node_id), b"1", px=ttl_ms)

    def unregister_interest(self, app: str, key: str, node_id: str) -> None:
        with self._calling(f"unregistering interest in {app}/{key}"):
            self._redis.delete(self.interest_key(app, key, node_id))

    def interested(self, app: str, key: str, node_ids: Sequence[str]) -> list[str]:
        node_ids = list(dict.fromkeys(node_ids))
        if not node_ids:
            return []
        keys = [self.interest_key(app, key, node_id) for node_id in node_ids]
        with self._calling(f"looking up interest in {app}/{key}"):
            values = self._redis.mget(keys)
        return [node_id for node_id, raw in zip(node_ids, values, strict=True) if raw is not None]

    # --- Claim notices (pub/sub) -------------------------------------------------------------

    def _announce(self, claim: StreamClaim) -> StreamClaim:
        """Tell the watching nodes (best effort: they also look up on their own)."""
        notice = _dumps({"v": 1, "app": claim.app, "key": claim.key})
        try:
            self._redis.publish(self._channel, notice)
        except redis.RedisError as error:
            logger.debug("cluster directory %s: no claim notice: %s", self.name, error)
        return claim

    def watch_claims(self, callback: Callable[[str, str], None]) -> None:
        if self._watcher is not None:
            msg = "this directory already has a claim watcher"
            raise RuntimeError(msg)
        self._watcher = threading.Thread(
            target=self._watch, args=(callback,), name="cluster-claims", daemon=True
        )
        self._watcher.start()

    def _watch(self, callback: Callable[[str, str], None]) -> None:
        """Listen for claim notices until closed; resubscribe after the server comes back."""
        while not self._closing.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                with pubsub:
                    pubsub.subscribe(self._channel)
                    while not self._closing.is_set():
                        message = pubsub.get_message(timeout=0.5)  # wakes to see a close
                        if message is not None:
                            self._notice(message.get("data"), callback)
            except redis.RedisError as error:
                logger.debug("cluster directory %s: claim notices: %s", self.name, error)
                self._closing.wait(1.0)  # the server is away; the lookups go on meanwhile

    def _notice(self, data: object, callback: Callable[[str, str], None]) -> None:
        value = _loads(data) if isinstance(data, bytes) else None
        app, key = (value or {}).get("app"), (value or {}).get("key")
        if isinstance(app, str) and isinstance(key, str):
            try:
                callback(app, key)
            except Exception:
                logger.exception("cluster directory %s: a claim watcher failed", self.name)
        else:
            self._garbage(self._channel, data)

    def close(self) -> None:
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(5.0)
        with contextlib.suppress(redis.RedisError):
            self._redis.close()
