"""One relay's place in a cluster: its claims on stream keys, and edges on demand.

Theory of operation:

* :class:`ClusterNode` is an actor of the relay server, beside its registry. It owns the
  relay's :class:`~rtmp_actors.cluster.directory.StreamDirectory` and is the only actor
  that talks to it; directory calls are short blocking round trips (Redis, with a socket
  timeout of about a second), made on this actor's own thread so that no other actor, and
  no socket of a connection, waits on them.
* Publishing: relay receivers send publish requests here (it is their
  :class:`~rtmp_actors.relay.registry.PublishRoute`). The node claims ``app/key`` in the
  directory (atomically; the claim expires by itself after ``claim_ttl`` unless refreshed).
  If another node holds it, the publish is refused with ``NetStream.Publish.BadName``, as
  a second publisher on one node is; with ``takeover``, the claim is taken and the other
  node closes its publisher at its next heartbeat. Pull links (an edge publishing what it
  pulls) claim nothing. When the stream's publication ends, the claim is released, only if
  it is still this node's (compare-and-delete).
* Heartbeat, every ``heartbeat`` seconds: the claims of streams published here are refreshed
  (re-created if the directory lost them, as after a Redis restart); a claim now held by
  another node closes the local publisher. The node registers itself with its load. And
  every stream that players want here but nobody publishes here is looked up (one round
  trip for all): the pull relay is told where each is published now
  (``PullRelay.set_cluster_source``), so an edge pulls it from its origin, follows it when
  it moves to another node, and lets go when it is gone (its players keep waiting).
* Waiting players do not wait for the heartbeat: a node whose players wait for a key
  nobody publishes says so in the directory (``register_interest``); a claim is announced
  (Redis pub/sub) and the waiting nodes start pulling at once; and the claiming node holds
  its publisher back until the first of them plays (at most ``HOLD_PUBLISH`` seconds), so
  the edges get the stream from its first frame.
* A node never pulls from itself: claims naming this node, or its own address, are ignored.
* When the directory cannot be reached, streams already flowing keep flowing; a new
  publish is accepted locally (logged) and claimed at the next heartbeat that reaches the
  directory. The first failure of an outage is logged at WARNING, its end at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.cluster.directory import (
    MAX_RELAY_DEPTH,
    DirectoryError,
    NodeInfo,
    StreamClaim,
    StreamDirectory,
    StreamRelay,
)
from rtmp_actors.cluster.view import ClusterView
from rtmp_actors.relay.observer import StreamObserver, StreamSnapshot
from rtmp_actors.relay.pull import PullRelay
from rtmp_actors.relay.registry import PublishRoute, StreamRegistry
from rtmp_actors.relay.stream import PublishRequest, refuse_second_publisher
from rtmp_actors.relay.upstream import LinkTarget, StreamName, _tell_later
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

__all__ = ["HOLD_PUBLISH", "ClusterNode", "ClusterSettings", "ClusterView", "Load", "new_node_id"]

HOLD_PUBLISH = 0.3
"""Most seconds a new publisher is held back while edges with waiting players connect."""

logger = logging.getLogger(__name__)

_R = TypeVar("_R")

Load = Callable[[], int]
"""Returns the relay's open connections, for the node's registration."""


def new_node_id() -> str:
    """A fresh random node id."""
    return uuid.uuid4().hex[:12]


def _address(target: LinkTarget) -> str:
    """The ``rtmp://host:port`` a pull target points at (as nodes advertise themselves)."""
    return f"rtmp://{target.base.host}:{target.base.port}"


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """How a relay takes part in a cluster.

    Attributes:
        directory_url: The stream directory (``redis://host:port/db``, or ``memory://``).
        advertise: This node's RTMP address as other nodes reach it (``rtmp://host:port``).
        node_id: This node's name in the directory (default: a random one per process).
        claim_ttl: Seconds a claim (and the node's registration) lives unless refreshed;
            a dead node's streams are free again after this long.
        heartbeat: Seconds between refreshes, registrations and lookups of wanted streams.
        chain_after: Pull from the origin while its node has fewer players than this, else
            from a relay of the stream (a node pulling it already) with fewer; chains form
            this way, up to ``MAX_RELAY_DEPTH`` hops (0: always from the origin).
    """

    directory_url: str
    advertise: str
    node_id: str = field(default_factory=new_node_id)
    claim_ttl: float = 5.0
    heartbeat: float = 1.0
    chain_after: int = 0

    def __post_init__(self) -> None:
        if not self.advertise.startswith(("rtmp://", "rtmps://")):
            msg = f"the advertised address must be rtmp://host:port, got {self.advertise!r}"
            raise ValueError(msg)
        if not 0 < self.heartbeat < self.claim_ttl:
            msg = f"need 0 < heartbeat < claim_ttl, got {self.heartbeat} and {self.claim_ttl}"
            raise ValueError(msg)


class ClusterNode(StreamObserver, PublishRoute):
    """Claims this relay's streams in the cluster's directory, and finds the others' streams.

    Args:
        settings: The node's settings.
        directory: The cluster's directory (this actor is its only user; it closes it).
        registry: The relay's stream registry (publish requests go there once claimed).
        pull_relay: The relay's pull relay, told where wanted streams are published.
        scheduler: ``scheduler(delay, callback)`` for the heartbeat.
        takeover: A publish takes the key from another node instead of being refused.
        load: The relay's open connections, for its registration (players are counted as
            the connections that do not publish).
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        settings: ClusterSettings,
        directory: StreamDirectory,
        registry: ActorHandle[StreamRegistry],
        pull_relay: ActorHandle[PullRelay] | None,
        scheduler: Scheduler,
        *,
        takeover: bool = False,
        load: Load | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._directory = directory
        self._registry = registry
        self._pull_relay = pull_relay
        self._schedule = scheduler
        self._takeover = takeover
        self._load = load
        self._clock = clock
        self._me: ActorHandle[ClusterNode] = ActorHandle(self.actor_ref)
        self._claims: dict[StreamName, StreamClaim] = {}  # keys this node publishes
        self._claimed_at: dict[StreamName, float] = {}  # claimed, not published yet
        self._published: set[StreamName] = set()  # published here, by anyone
        self._wanted: set[StreamName] = set()  # players wait here
        self._sources: dict[StreamName, LinkTarget | None] = {}  # what the pull relay knows
        self._depths: dict[StreamName, int] = {}  # hops from the origin of what we pull
        self._relaying: set[StreamName] = set()  # pulled and published here
        self._interest: set[StreamName] = set()  # players wait here; published nowhere
        self._holding: dict[StreamName, PublishRequest] = {}  # until the edges are here
        self._unreachable = False
        self._timer: TimerHandle | None = None

    @property
    def node_id(self) -> str:
        """This node's name in the directory."""
        return self._settings.node_id

    # --- Directory calls --------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], _R]) -> _R | None:
        """Run one directory call; None if the directory cannot answer (logged once)."""
        try:
            result = call()
        except DirectoryError as error:
            if not self._unreachable:
                logger.warning(
                    "cluster directory %s: %s failed: %s", self._directory.name, what, error
                )
            self._unreachable = True
            return None
        if self._unreachable:
            logger.info("cluster directory %s is reachable again", self._directory.name)
            self._unreachable = False
        return result

    def _claim_of(self, app: str, key: str) -> StreamClaim:
        return StreamClaim(app, key, self.node_id, self._settings.advertise)

    # --- Publishing (from relay receivers) --------------------------------------------------

    def publish_requested(self, request: PublishRequest) -> None:
        """Claim the key in the cluster, then route the request; refuse it if taken."""
        name = (request.app, request.key)
        if request.pulled_from is not None:
            self._registry.tell(StreamRegistry.publish_requested, request)  # an edge: no claim
            return
        ours = self._claim_of(*name)
        held = self._call(
            f"claiming {request.app}/{request.key}",
            lambda: self._directory.claim(ours, self._settings.claim_ttl, takeover=self._takeover),
        )
        if held is None:
            logger.warning(
                "%s/%s: accepting %s without a cluster claim (the directory is unreachable);"
                " claiming it at the next heartbeat",
                request.app,
                request.key,
                request.connection_id,
            )
        elif held.node_id != self.node_id:
            refuse_second_publisher(request, f"node {held.node_id} ({held.url})")
            return
        self._claims[name] = ours
        self._claimed_at[name] = self._clock()
        if held is not None and self._edges_waiting(name):
            # Edges wait for this key: let them reach us first, so they get every frame.
            self._holding[name] = request
            _tell_later(self._schedule, HOLD_PUBLISH, self._me, ClusterNode.release_publish, *name)
            return
        self._registry.tell(StreamRegistry.publish_requested, request)

    def _edges_waiting(self, name: StreamName) -> bool:
        nodes = self._call("listing nodes", self._directory.nodes) or []
        others = [n.node_id for n in nodes if n.node_id != self.node_id]
        waiting = self._call(
            "looking up interest", lambda: self._directory.interested(*name, others)
        )
        return bool(waiting)

    def release_publish(self, app: str, key: str) -> None:
        """Hand a held publish request to the registry (an edge arrived, or time is up)."""
        request = self._holding.pop((app, key), None)
        if request is not None:
            self._registry.tell(StreamRegistry.publish_requested, request)

    # --- StreamObserver -----------------------------------------------------------------------

    def stream_published(self, app: str, key: str) -> None:
        name = (app, key)
        self._published.add(name)  # by an encoder (claimed), or by a pull link
        self._claimed_at.pop(name, None)
        self._unwant(name)

    def stream_pulled_in(self, app: str, key: str) -> None:
        name = (app, key)
        self._unwant(name)  # pulling now (not before: the origin may be waiting for us)
        self._published.add(name)
        self._relaying.add(name)
        self._register_relays([name])

    def stream_unpublished(self, app: str, key: str) -> None:
        name = (app, key)
        self._published.discard(name)
        if name in self._relaying:
            self._relaying.discard(name)
            relay = self._relay_of(name)
            self._call("unregistering a relay", partial(self._directory.unregister_relay, relay))
        claim = self._claims.pop(name, None)
        self._claimed_at.pop(name, None)
        if claim is not None:
            self._call(f"releasing {app}/{key}", lambda: self._directory.release(claim))
        if name in self._wanted:
            self._look_up([name])

    def stream_wanted(self, app: str, key: str) -> None:
        name = (app, key)
        self._wanted.add(name)
        if name in self._holding:
            self.release_publish(app, key)  # an edge (or a local player) waits now: go
        if name not in self._claims:
            self._look_up([name])

    def _want(self, name: StreamName) -> None:
        """Tell the cluster that players wait here for ``name`` (refreshed each heartbeat)."""
        self._interest.add(name)
        register = partial(self._directory.register_interest, *name, self.node_id)
        self._call("registering interest", partial(register, self._settings.claim_ttl))

    def _unwant(self, name: StreamName) -> None:
        if name in self._interest:
            self._interest.discard(name)
            unregister = partial(self._directory.unregister_interest, *name, self.node_id)
            self._call("unregistering interest", unregister)

    def stream_unwanted(self, app: str, key: str) -> None:
        self._unwant((app, key))
        self._wanted.discard((app, key))
        self._sources.pop((app, key), None)
        self._depths.pop((app, key), None)

    def _relay_of(self, name: StreamName) -> StreamRelay:
        depth = min(self._depths.get(name, 1), MAX_RELAY_DEPTH)
        return StreamRelay(name[0], name[1], self.node_id, self._settings.advertise, depth)

    def _register_relays(self, names: list[StreamName]) -> None:
        """Say which streams this node relays (so deeper edges may pull from it)."""
        for name in names:
            relay = self._relay_of(name)
            self._call(
                "registering a relay",
                partial(self._directory.register_relay, relay, self._settings.claim_ttl),
            )

    def streams_running(self, names: frozenset[StreamName]) -> None:
        self._published &= names
        self._wanted &= names
        self._relaying &= names

    def stream_snapshot(self, snapshot: StreamSnapshot) -> None:
        name = (snapshot.app, snapshot.key)
        if snapshot.published:
            self._published.add(name)
            if snapshot.pulled_from is not None:
                self._relaying.add(name)
            elif name not in self._claims:
                self._claims[name] = self._claim_of(*name)  # claimed at the next heartbeat
        if snapshot.wanted:
            self.stream_wanted(*name)

    # --- Edges on demand ----------------------------------------------------------------------

    def _look_up(self, names: list[StreamName]) -> None:
        names = [n for n in names if n in self._wanted and n not in self._claims]
        if not names:
            return
        found = self._call("looking up wanted streams", lambda: self._directory.lookup_many(names))
        if found is None:
            return  # unreachable: keep what the pull relay has
        nodes: list[NodeInfo] | None = None
        for name in names:
            claim = found.get(name)
            if claim is None:
                self._tell_source(name, None)
                self._want(name)
                continue
            if self._settings.chain_after <= 0:
                self._tell_source(name, self._pull_target(claim.app, claim.url))
                continue
            if nodes is None:
                nodes = self._call("listing nodes", self._directory.nodes) or []
            self._choose_source(claim, nodes)

    def _choose_source(self, claim: StreamClaim, nodes: list[NodeInfo]) -> None:
        """Pull from the origin, or from a relay of the stream if the origin is busy.

        The current source is kept while it is still a source. A node whose source is lost
        only picks sources shallower than itself: the deeper ones may be pulling from it.
        """
        name = (claim.app, claim.key)
        others = [n.node_id for n in nodes if n.node_id != self.node_id]
        relays = self._call(
            "looking up relays", lambda: self._directory.relays(claim.app, claim.key, others)
        )
        below = self._depths.get(name, MAX_RELAY_DEPTH)  # our own depth, if we relay it
        shallower = [(r.depth, r.url) for r in relays or () if r.depth < below]
        candidates = [(0, claim.url), *sorted(shallower)]
        current = self._sources.get(name)
        if current is not None and any(
            current == self._pull_target(claim.app, url) for _, url in candidates
        ):
            return  # still a source: stay
        load = {n.url: n.players for n in nodes}
        depth, url = next(
            ((d, u) for d, u in candidates if load.get(u, 0) < self._settings.chain_after),
            min(candidates, key=lambda c: load.get(c[1], 0)),
        )
        self._depths[name] = depth + 1
        self._tell_source(name, self._pull_target(claim.app, url))

    def _pull_target(self, app: str, url: str) -> LinkTarget | None:
        if url == self._settings.advertise:
            return None  # never from itself
        try:
            return LinkTarget.parse(f"{url.rstrip('/')}/{app}")
        except ValueError as error:
            logger.warning("%s: ignoring a claim with a bad address: %s", app, error)
            return None

    def _tell_source(self, name: StreamName, source: LinkTarget | None) -> None:
        """Tell the pull relay where ``name`` is published now, if that changed."""
        if self._sources.get(name) == source:
            return  # unknown counts as nowhere: the pull relay has no cluster source for it
        self._sources[name] = source
        if self._pull_relay is None:
            return
        if source is not None:
            logger.info("%s/%s is published on %s: pulling it from there", *name, _address(source))
        with contextlib.suppress(pykka.ActorDeadError):
            self._pull_relay.tell(PullRelay.set_cluster_source, name[0], name[1], source)

    # --- Heartbeat ----------------------------------------------------------------------------

    def on_start(self) -> None:
        me = self._me

        def claimed(app: str, key: str) -> None:  # on the directory's thread: tell only
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(ClusterNode.stream_claimed, app, key)

        self._directory.watch_claims(claimed)
        self._register()
        self._arm()

    def stream_claimed(self, app: str, key: str) -> None:
        """A node claimed ``app/key`` (a directory notice): if players wait here, pull now."""
        name = (app, key)
        if name in self._wanted and name not in self._claims:
            self._look_up([name])

    def _arm(self) -> None:
        me = self._me

        def tell() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(ClusterNode.heartbeat)

        self._timer = self._schedule(self._settings.heartbeat, tell)

    def heartbeat(self) -> None:
        """Refresh the claims, register the node, look up the wanted streams (a timer)."""
        now = self._clock()
        for name, at in list(self._claimed_at.items()):
            if now - at > self._settings.claim_ttl:  # claimed, never published: let it go
                del self._claimed_at[name]
                if name not in self._published:
                    claim = self._claims.pop(name)
                    self._call("releasing an unused claim", partial(self._directory.release, claim))
        claims = list(self._claims.values())
        if claims:
            lost = self._call(
                "refreshing claims",
                lambda: self._directory.refresh(claims, self._settings.claim_ttl),
            )
            for claim in lost or ():
                name = (claim.app, claim.key)
                self._claims.pop(name, None)
                logger.warning(
                    "%s/%s: another node took the stream; closing the publisher here", *name
                )
                self._registry.tell(
                    StreamRegistry.close_publisher,
                    claim.app,
                    claim.key,
                    "another node took the stream",
                )
        self._register()
        self._register_relays(sorted(self._relaying))
        self._look_up(sorted(self._wanted))
        self._arm()

    def _register(self) -> None:
        streams = len(self._claims)
        players = max(0, self._load() - streams) if self._load is not None else 0
        node = NodeInfo(self.node_id, self._settings.advertise, streams, players)
        self._call(
            "registering the node",
            lambda: self._directory.register_node(node, self._settings.claim_ttl),
        )

    # --- For monitoring -----------------------------------------------------------------------

    def view(self) -> ClusterView:
        """The node, its peers and the streams' origins (ask it from outside, with a timeout)."""
        nodes = self._call("listing nodes", self._directory.nodes) or []
        origins = dict.fromkeys(self._claims, self._settings.advertise)
        for name, source in self._sources.items():
            if source is not None:
                origins[name] = _address(source)
        return ClusterView(
            self.node_id,
            self._settings.advertise,
            self._directory.name,
            not self._unreachable,
            tuple(sorted(nodes, key=lambda n: n.node_id)),
            origins,
        )

    # --- Life cycle ---------------------------------------------------------------------------

    def on_stop(self) -> None:
        """Release the claims and leave the cluster (so nobody waits for the TTL)."""
        if self._timer is not None:
            self._timer.cancel()
        for claim in list(self._claims.values()):
            self._call("releasing claims", partial(self._directory.release, claim))
        self._claims.clear()
        for name in list(self._interest):
            self._unwant(name)
        self._call("leaving the cluster", partial(self._directory.unregister_node, self.node_id))
        self._directory.close()

    def on_failure(self, *_exc_info: object) -> None:
        """Keep the claims: the streams go on, and the next incarnation refreshes them."""
        if self._timer is not None:
            self._timer.cancel()
        self._directory.close()  # each incarnation opens its own
