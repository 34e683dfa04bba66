"""Push and pull relays: republishing local streams upstream, fetching wanted ones from an origin.

:class:`RelayLinks` wires both into a relay server. The parts:

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
import time
from collections.abc import Sequence
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.relay.link_manager import _LinkManager
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
    """The push and pull relays of one relay server (used from outside the actor system).

    Args:
        push: Push URLs (``RelayConfig.push``).
        pull: Pull URLs (``RelayConfig.pull``).
        scheduler: ``scheduler(delay, callback)`` (the relay's I/O loop's ``call_later``).
        io_loop: The loop for upstream connections (the relay's).
        settings: Link behaviour.

    Raises:
        ValueError: If a URL is not a valid push or pull URL.
    """

    def __init__(
        self,
        push: Sequence[str],
        pull: Sequence[str],
        *,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        settings: LinkSettings | None = None,
    ) -> None:
        push_targets = [LinkTarget.parse(url) for url in push]
        pull_sources = [LinkTarget.parse(url) for url in pull]
        settings = settings or LinkSettings()
        self.push_ref: pykka.ActorRef[PushRelay] | None = None
        self.pull_ref: pykka.ActorRef[PullRelay] | None = None
        push_relay: ActorHandle[PushRelay] | None = None
        if push_targets:
            self.push_ref = PushRelay.start(push_targets, settings, scheduler, io_loop)
            push_relay = ActorHandle(self.push_ref)
        if pull_sources:
            self.pull_ref = PullRelay.start(
                pull_sources, settings, scheduler, io_loop, push_relay=push_relay
            )

    @property
    def observers(self) -> tuple[ActorHandle[StreamObserver], ...]:
        """The stream observers to give the registry."""
        return tuple(ActorHandle(ref) for ref in (self.push_ref, self.pull_ref) if ref)

    def attach(self, registry: ActorHandle[StreamRegistry]) -> None:
        """Give the pull relay the registry to publish pulled streams into."""
        if self.pull_ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                pull: ActorHandle[PullRelay] = ActorHandle(self.pull_ref)
                pull.tell(PullRelay.set_registry, registry)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every link politely (waiting up to ``timeout``), then stop the relays."""
        deadline = time.monotonic() + timeout
        links: list[pykka.ActorRef[Any]] = []
        for ref in (self.pull_ref, self.push_ref):
            if ref is None:
                continue
            try:
                relay: ActorHandle[_LinkManager[Any]] = ActorHandle(ref)
                links += relay.ask(_LinkManager.shutdown).get(timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout):
                continue
        for link in links:
            link.actor_stopped.wait(max(0.0, deadline - time.monotonic()))
        for ref in (self.pull_ref, self.push_ref):
            if ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.stop(timeout=max(0.1, deadline - time.monotonic()))
