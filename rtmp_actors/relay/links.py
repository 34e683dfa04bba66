"""Push and pull relays: republishing local streams upstream, fetching wanted ones from an origin.

:class:`RelayLinks` makes both children of a relay server's supervisor. The parts:

* :mod:`rtmp_actors.relay.upstream`: link settings, push and pull URLs, reconnection backoff,
  and the upstream connection every link has.
* :mod:`rtmp_actors.relay.link_manager`: what both relays share: starting links, replacing
  crashed ones after a backoff, finishing them all.
* :mod:`rtmp_actors.relay.push`: :class:`PushRelay` and its :class:`PushLink` s.
* :mod:`rtmp_actors.relay.pull`: :class:`PullRelay` and its :class:`PullLink` s.

Loops: a stream is pulled only while nobody publishes it here, and a stream being pulled from
``rtmp://origin/app`` is never pushed to ``rtmp://origin/app`` (the same scheme, host, port
and app, compared as written, not as resolved). So an edge can push its encoders' streams to
an origin and pull the others from the same origin without sending anything back where it
came from. Pull loops (A pulls from B and B from A, or a server from itself) carry no media,
since a pull only publishes what its origin sends; their connections idle until the players
leave. Push loops across servers (A pushes to B, B pushes to A) cannot be seen from one
server: the second publish is refused upstream and retried with backoff, at most every
``max_backoff`` seconds.

URLs: ``rtmp[s]://host[:port]/app[?query][#pattern]`` (see :class:`LinkTarget`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.supervisor import ChildHandle, ChildSpec
from rtmp_actors.relay.link_manager import LinkTable
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.pull import PullLink, PullRelay
from rtmp_actors.relay.push import PushLink, PushRelay
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.upstream import Backoff, LinkSettings, LinkTarget
from rtmp_actors.transport.io_loop import IoLoop, Scheduler

__all__ = [
    "Backoff",
    "LinkSettings",
    "LinkTarget",
    "PullLink",
    "PullRelay",
    "PushLink",
    "PushRelay",
    "RelayLinks",
]


# --- Wiring into a relay server ------------------------------------------------------------------


class RelayLinks:
    """The push and pull relays of one relay server, as children of its supervisor.

    Each relay is a permanent child reached through a :class:`ChildHandle`, so the streams
    (which tell them as observers) and the links (which tell their relay, and the push
    relay) reach the current incarnation. A restarted relay adopts the running links (one
    :class:`LinkTable` per relay) and has the registry describe the running streams, so it
    pushes and pulls what it should at once, without interrupting a link.

    Args:
        push: Push URLs (``RelayConfig.push``).
        pull: Pull URLs (``RelayConfig.pull``).
        scheduler: ``scheduler(delay, callback)`` (the relay's I/O loop's ``call_later``).
        io_loop: The loop for upstream connections (the relay's).
        settings: Link behaviour.
        pull_on_demand: Run a pull relay even without pull URLs (a cluster node tells it
            where streams are published).

    Raises:
        ValueError: If a URL is not a valid push or pull URL.
    """

    def __init__(
        self,
        push: Sequence[LinkTarget | str],
        pull: Sequence[LinkTarget | str],
        *,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        settings: LinkSettings | None = None,
        pull_on_demand: bool = False,
    ) -> None:
        self._origin_only = pull_on_demand  # in a cluster: pushed once, by the origin
        self._push_targets = list(LinkTarget.parse_all(push))
        self._pull_sources = list(LinkTarget.parse_all(pull))
        self._settings = settings or LinkSettings()
        self._scheduler = scheduler
        self._io_loop = io_loop
        self.push: ChildHandle[PushRelay] | None = (
            ChildHandle("push-relay") if self._push_targets else None
        )
        self.pull: ChildHandle[PullRelay] | None = (
            ChildHandle("pull-relay") if self._pull_sources or pull_on_demand else None
        )

    def pulls(self, app: str, key: str) -> bool:
        """Whether a player of ``app/key`` that nobody publishes here makes a link pull it."""
        return self._origin_only or any(s.matches(app, key) for s in self._pull_sources)

    @property
    def observers(self) -> tuple[ActorHandle[StreamObserver], ...]:
        """The stream observers to give the registry."""
        return tuple(handle for handle in (self.push, self.pull) if handle is not None)

    def child_specs(self, registry: ActorHandle[StreamRegistry]) -> list[ChildSpec]:
        """The supervisor's specs for the push and pull relays (start them after the registry)."""
        # Finishing the links takes up to their close timeout; allow for it.
        shutdown_timeout = self._settings.close_timeout + 5.0
        specs = []
        if self.push is not None:
            push, targets, push_links = self.push, self._push_targets, LinkTable[PushLink]()

            def start_push() -> pykka.ActorRef[Any]:
                ref = PushRelay.start(
                    targets,
                    self._settings,
                    self._scheduler,
                    self._io_loop,
                    registry,
                    table=push_links,
                    owner=push,
                    origin_only=self._origin_only,
                )
                return bind_observer(ref, push, registry)

            specs.append(
                ChildSpec(push.name, start_push, handle=push, shutdown_timeout=shutdown_timeout)
            )
        if self.pull is not None:
            pull, sources, pull_links = self.pull, self._pull_sources, LinkTable[PullLink]()

            def start_pull() -> pykka.ActorRef[Any]:
                ref = PullRelay.start(
                    sources,
                    self._settings,
                    self._scheduler,
                    self._io_loop,
                    registry=registry,
                    push_relay=self.push,
                    table=pull_links,
                    owner=pull,
                )
                return bind_observer(ref, pull, registry)

            specs.append(
                ChildSpec(pull.name, start_pull, handle=pull, shutdown_timeout=shutdown_timeout)
            )
        return specs


def bind_observer(
    ref: pykka.ActorRef[Any],
    handle: ChildHandle[StreamObserver],
    registry: ActorHandle[StreamRegistry],
) -> pykka.ActorRef[Any]:
    """Point ``handle`` at a new observer, then have the running streams describe themselves.

    The handle is bound first, so that whatever a stream does after describing itself reaches
    the new observer: nothing falls between the snapshot and the live calls.
    """
    handle.bind(ref)
    with contextlib.suppress(pykka.ActorDeadError):  # not started yet: no streams either
        registry.tell(StreamRegistry.describe_streams, ActorHandle(ref))
    return ref
