"""The cluster's stream directory: which node publishes which stream, and which nodes are alive.

Theory of operation:

* A relay node that accepts a publisher *claims* ``app/key`` in the directory. A claim names
  the node (``node_id``) and its RTMP base address (``url``), and expires by itself after a
  TTL unless the node refreshes it, so a node that dies frees its streams without anyone
  cleaning up after it.
* Every operation that decides between nodes is atomic in the directory itself (a lock
  here, a Lua script in Redis): a claim of a free key, a heartbeat's compare-and-refresh and
  a release's compare-and-delete cannot interleave with another node's.
* A refresh re-creates claims the directory lost (expired during a stall, or Redis came
  back empty after a restart) and reports those now held by another node, so the caller
  can close its publisher.
* Nodes register themselves with their load under a TTL too; :meth:`StreamDirectory.nodes`
  lists those still alive.
* The directory may be shared with hostile or buggy writers: a stored value that is not a
  well-formed claim is *garbage*. It never raises: lookups skip it (logged once), claims
  overwrite it.
* Errors: :class:`DirectoryUnavailable` when the directory cannot be reached (the caller
  keeps its streams flowing and retries at its next heartbeat); ``ValueError`` for a bad
  argument (a caller's bug: a TTL <= 0, a claim with an oversized or non-RTMP field).

:class:`InProcessDirectory` (the default) serves the nodes of one process;
:class:`~rtmp_actors.cluster.redis_directory.RedisDirectory` serves a cluster.
:func:`open_directory` picks one from a URL.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

MAX_NAME_LENGTH = 4096
"""Longest app or stream key a claim may carry, in characters (above the RTMP default)."""
MAX_NODE_ID_LENGTH = 256
"""Longest node id, in characters."""
MAX_URL_LENGTH = 1024
"""Longest node address, in characters."""
MAX_COUNT = 2**53
"""Largest stream or player count a node may report (exact in JSON doubles)."""
MAX_TTL = 365 * 86400.0
"""Longest TTL, in seconds (a year: anything longer is a unit mistake)."""
URL_SCHEMES = ("rtmp://", "rtmps://")


@dataclass(frozen=True, slots=True)
class StreamClaim:
    """A node's claim on a stream key.

    Attributes:
        app: The RTMP application name.
        key: The stream key.
        node_id: The claiming node.
        url: The claiming node's RTMP base address, e.g. ``rtmp://127.0.0.2:1935``
            (no app or key).
    """

    app: str
    key: str
    node_id: str
    url: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A live node of the cluster and its load.

    Attributes:
        node_id: The node's name in the directory.
        url: Its RTMP base address.
        streams: Streams it publishes.
        players: Players connected to it.
    """

    node_id: str
    url: str
    streams: int = 0
    players: int = 0


MAX_RELAY_DEPTH = 4
"""Deepest chain: a relay at this depth is never a source for another (origin: depth 0)."""


@dataclass(frozen=True, slots=True)
class StreamRelay:
    """A node that pulls a stream from its origin (or from another relay) and can pass it on.

    Attributes:
        app: The RTMP application name.
        key: The stream key.
        node_id: The relaying node.
        url: Its RTMP base address.
        depth: Hops from the origin (1: it pulls from the origin).
    """

    app: str
    key: str
    node_id: str
    url: str
    depth: int


def relay_problem(relay: StreamRelay) -> str | None:
    """What is wrong with a relay entry (None if nothing)."""
    claim = StreamClaim(relay.app, relay.key, relay.node_id, relay.url)
    if problem := claim_problem(claim):
        return problem
    if type(relay.depth) is not int or not 1 <= relay.depth <= MAX_RELAY_DEPTH:
        return f"a relay depth must be 1 to {MAX_RELAY_DEPTH}, not {relay.depth!r}"
    return None


class DirectoryError(Exception):
    """A stream directory failed; the message names the directory (its URL)."""


class DirectoryUnavailable(DirectoryError):  # noqa: N818 - the API's name
    """The directory cannot be reached (connection refused, timeout, authentication)."""


def _text_problem(what: str, value: object, longest: int, *, empty: bool = True) -> str | None:
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__}"
    if len(value) > longest or (not empty and not value):
        return f"{what} must be {0 if empty else 1} to {longest} characters, got {len(value)}"
    try:
        value.encode()
    except UnicodeEncodeError:
        return f"{what} is not valid Unicode (a lone surrogate)"
    return None


def _url_problem(url: object) -> str | None:
    problem = _text_problem("url", url, MAX_URL_LENGTH)
    if problem is None and not (isinstance(url, str) and url.startswith(URL_SCHEMES)):
        problem = f"url must start with rtmp:// or rtmps://, got {url!r}"
    if problem is None and isinstance(url, str) and not url.isprintable():
        problem = "url must be printable"
    return problem


def _node_id_problem(node_id: object) -> str | None:
    problem = _text_problem("node_id", node_id, MAX_NODE_ID_LENGTH, empty=False)
    if problem is None and isinstance(node_id, str) and not node_id.isprintable():
        problem = "node_id must be printable"
    return problem


def claim_problem(claim: StreamClaim) -> str | None:
    """Why ``claim`` cannot be stored, or None if it can (also used to validate stored data)."""
    return (
        _text_problem("app", claim.app, MAX_NAME_LENGTH)
        or _text_problem("key", claim.key, MAX_NAME_LENGTH)
        or _node_id_problem(claim.node_id)
        or _url_problem(claim.url)
    )


def node_problem(node: NodeInfo) -> str | None:
    """Why ``node`` cannot be stored, or None if it can."""
    problem = _node_id_problem(node.node_id) or _url_problem(node.url)
    for what, count in (("streams", node.streams), ("players", node.players)):
        if problem is None and not (type(count) is int and 0 <= count <= MAX_COUNT):
            problem = f"{what} must be an int from 0 to {MAX_COUNT}, got {count!r}"
    return problem


def check_claim(claim: StreamClaim) -> None:
    """Raise ValueError if ``claim`` cannot be stored."""
    problem = claim_problem(claim)
    if problem is not None:
        raise ValueError(f"bad stream claim: {problem}")


def check_node(node: NodeInfo) -> None:
    """Raise ValueError if ``node`` cannot be stored."""
    problem = node_problem(node)
    if problem is not None:
        raise ValueError(f"bad node registration: {problem}")


def check_ttl(ttl: float) -> float:
    """Return ``ttl`` if it is a number of seconds in (0, MAX_TTL]; raise ValueError if not."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL:
        raise ValueError(f"a TTL must be above 0 and at most {MAX_TTL:.0f} seconds, got {ttl!r}")
    return float(ttl)


class StreamDirectory(abc.ABC):
    """Where the nodes of a cluster claim stream keys and find each other's streams.

    Implementations are thread-safe. Every method may raise :class:`DirectoryUnavailable`
    (or another :class:`DirectoryError`); none raises because of what is stored.

    Attributes:
        name: The directory for logs and statistics: ``memory``, or the Redis URL
            without its password.
    """

    name: str

    @abc.abstractmethod
    def claim(self, claim: StreamClaim, ttl: float, *, takeover: bool = False) -> StreamClaim:
        """Claim a stream key for ``ttl`` seconds, atomically.

        Args:
            claim: The claim to store.
            ttl: Seconds until it expires unless refreshed.
            takeover: Take the key even if another node holds it.

        Returns:
            ``claim`` if the key is now ours (it was free, held by garbage, already ours:
            its TTL and url are refreshed, or taken over); otherwise the holder's claim,
            unchanged (the caller compares ``node_id``).

        Raises:
            ValueError: A TTL <= 0, or a claim that cannot be stored.
        """

    @abc.abstractmethod
    def refresh(self, claims: Sequence[StreamClaim], ttl: float) -> list[StreamClaim]:
        """Heartbeat: extend our claims, re-create lost ones (one round trip when possible).

        A claim still ours gets ``ttl`` again; a missing one (expired, or the directory
        restarted empty) is re-created; one held by another node is left alone.

        Returns:
            Those of ``claims`` (the objects given) now held by another node.
        """

    @abc.abstractmethod
    def release(self, claim: StreamClaim) -> bool:
        """Delete the claim if the stored one is ours (same ``node_id``): compare-and-delete.

        Returns:
            True if it was deleted.
        """

    @abc.abstractmethod
    def lookup(self, app: str, key: str) -> StreamClaim | None:
        """The claim on ``app/key``, or None if there is none (or only garbage)."""

    @abc.abstractmethod
    def lookup_many(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StreamClaim]:
        """The claims on many ``(app, key)`` at once (one round trip); absent ones left out."""

    @abc.abstractmethod
    def register_node(self, node: NodeInfo, ttl: float) -> None:
        """Register (or refresh) a node and its load for ``ttl`` seconds."""

    @abc.abstractmethod
    def nodes(self) -> list[NodeInfo]:
        """The live nodes (registration not expired), sorted by ``node_id``."""

    @abc.abstractmethod
    def unregister_node(self, node_id: str) -> None:
        """Remove a node's registration (its claims expire or are released separately)."""

    @abc.abstractmethod
    def register_relay(self, relay: StreamRelay, ttl: float) -> None:
        """Say (or say again) for ``ttl`` seconds that a node relays a stream."""

    @abc.abstractmethod
    def unregister_relay(self, relay: StreamRelay) -> None:
        """The node no longer relays the stream."""

    @abc.abstractmethod
    def relays(self, app: str, key: str, node_ids: Sequence[str]) -> list[StreamRelay]:
        """The live relays of ``app/key`` among ``node_ids`` (one round trip); garbage left out."""

    @abc.abstractmethod
    def register_interest(self, app: str, key: str, node_id: str, ttl: float) -> None:
        """Say for ``ttl`` seconds that players wait on ``node_id`` for ``app/key``.

        A node that claims the key then holds its publisher back for a moment, until the
        interested nodes are pulling (so they get the stream from its first frame).
        """

    @abc.abstractmethod
    def unregister_interest(self, app: str, key: str, node_id: str) -> None:
        """The node no longer waits for ``app/key``."""

    @abc.abstractmethod
    def interested(self, app: str, key: str, node_ids: Sequence[str]) -> list[str]:
        """Those of ``node_ids`` whose players wait for ``app/key`` (one round trip)."""

    @abc.abstractmethod
    def watch_claims(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(app, key)`` soon after any node claims a key (best effort).

        So that waiting edges start pulling at once instead of at their next lookup. The
        callback runs on a thread of the directory's and must be quick (a ``tell``); a
        notice lost (the directory unreachable) is made up for by those lookups.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the directory's resources; it is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class InProcessDirectory(StreamDirectory):
    """A directory for the nodes of one process (the default, without Redis).

    Args:
        clock: Seconds, monotonic; TTLs run on it (tests pass a fake one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = "memory"
        self._clock = clock
        self._lock = threading.Lock()
        # Values are (entry, expiry on the clock); expired entries are dropped lazily.
        self._streams: dict[tuple[str, str], tuple[StreamClaim, float]] = {}
        self._nodes: dict[str, tuple[NodeInfo, float]] = {}
        self._relays: dict[tuple[str, str, str], tuple[StreamRelay, float]] = {}
        self._watchers: list[Callable[[str, str], None]] = []
        self._interest: dict[tuple[str, str, str], float] = {}

    def _held(self, name: tuple[str, str], now: float) -> StreamClaim | None:
        entry = self._streams.get(name)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._streams[name]
            return None
        return entry[0]

    def _sweep(self, now: float) -> None:
        # Bounds memory when keys come and go: every heartbeat drops what expired.
        for name in [n for n, (_, at) in self._streams.items() if at <= now]:
            del self._streams[name]
        for node_id in [n for n, (_, at) in self._nodes.items() if at <= now]:
            del self._nodes[node_id]

    def claim(self, claim: StreamClaim, ttl: float, *, takeover: bool = False) -> StreamClaim:
        check_claim(claim)
        ttl = check_ttl(ttl)
        with self._lock:
            now = self._clock()
            name = (claim.app, claim.key)
            held = self._held(name, now)
            if held is not None and held.node_id != claim.node_id and not takeover:
                return held
            self._streams[name] = (claim, now + ttl)
        self._claimed(claim)
        return claim

    def refresh(self, claims: Sequence[StreamClaim], ttl: float) -> list[StreamClaim]:
        for claim in claims:
            check_claim(claim)
        ttl = check_ttl(ttl)
        lost: list[StreamClaim] = []
        with self._lock:
            now = self._clock()
            self._sweep(now)
            for claim in claims:
                name = (claim.app, claim.key)
                held = self._held(name, now)
                if held is not None and held.node_id != claim.node_id:
                    lost.append(claim)
                else:
                    self._streams[name] = (claim, now + ttl)
        return lost

    def release(self, claim: StreamClaim) -> bool:
        with self._lock:
            name = (claim.app, claim.key)
            held = self._held(name, self._clock())
            if held is None or held.node_id != claim.node_id:
                return False
            del self._streams[name]
            return True

    def lookup(self, app: str, key: str) -> StreamClaim | None:
        with self._lock:
            return self._held((app, key), self._clock())

    def lookup_many(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StreamClaim]:
        with self._lock:
            now = self._clock()
            found = {name: self._held(name, now) for name in names}
        return {name: claim for name, claim in found.items() if claim is not None}

    def register_node(self, node: NodeInfo, ttl: float) -> None:
        check_node(node)
        ttl = check_ttl(ttl)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._nodes[node.node_id] = (node, now + ttl)

    def nodes(self) -> list[NodeInfo]:
        with self._lock:
            now = self._clock()
            live = [node for node, at in self._nodes.values() if at > now]
        return sorted(live, key=lambda node: node.node_id)

    def unregister_node(self, node_id: str) -> None:
        with self._lock:
            self._nodes.pop(node_id, None)

    def register_interest(self, app: str, key: str, node_id: str, ttl: float) -> None:
        ttl = check_ttl(ttl)
        with self._lock:
            now = self._clock()
            self._interest = {k: at for k, at in self._interest.items() if at > now}
            self._interest[app, key, node_id] = now + ttl

    def unregister_interest(self, app: str, key: str, node_id: str) -> None:
        with self._lock:
            self._interest.pop((app, key, node_id), None)

    def interested(self, app: str, key: str, node_ids: Sequence[str]) -> list[str]:
        with self._lock:
            now = self._clock()
            return [n for n in node_ids if self._interest.get((app, key, n), 0.0) > now]

    def watch_claims(self, callback: Callable[[str, str], None]) -> None:
        with self._lock:
            self._watchers.append(callback)

    def _claimed(self, claim: StreamClaim) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher(claim.app, claim.key)

    def register_relay(self, relay: StreamRelay, ttl: float) -> None:
        if problem := relay_problem(relay):
            raise ValueError(problem)
        ttl = check_ttl(ttl)
        with self._lock:
            now = self._clock()
            self._relays = {k: v for k, v in self._relays.items() if v[1] > now}
            self._relays[relay.app, relay.key, relay.node_id] = (relay, now + ttl)

    def unregister_relay(self, relay: StreamRelay) -> None:
        with self._lock:
            self._relays.pop((relay.app, relay.key, relay.node_id), None)

    def relays(self, app: str, key: str, node_ids: Sequence[str]) -> list[StreamRelay]:
        with self._lock:
            now = self._clock()
            held = [self._relays.get((app, key, node_id)) for node_id in node_ids]
        return [entry[0] for entry in held if entry is not None and entry[1] > now]

    def clear(self) -> None:
        """Forget everything, as a Redis restarted without persistence does (for tests)."""
        with self._lock:
            self._streams.clear()
            self._nodes.clear()
            self._relays.clear()
            self._interest.clear()

    def close(self) -> None:
        """Nothing to release."""
