"""The relay side of links: start them, replace crashed ones, finish them all.

Theory of operation:

* :class:`_LinkManager` is the base of the push and pull relays
  (:class:`~rtmp_actors.relay.push.PushRelay`, :class:`~rtmp_actors.relay.pull.PullRelay`),
  stream observers that start links as streams come and go. It keeps each stream's links by
  the index of their URL (a "slot": app, key, URL), every link it started (finishing ones
  too, for shutdown), and monitors each one (:func:`~rtmp_actors.actors.monitoring.monitor`;
  the callback only tells the relay).
* A link that exits normally (it finished, or was stopped) changes nothing here: whoever made
  it stop knows. A link that crashes (an exception in its own code: ``ExitReason.FAILED``)
  is logged at ERROR with its stream and URL and, if its stream still needs it, replaced
  after a delay from a :class:`~rtmp_actors.relay.upstream.Backoff` kept per slot: doubling
  with each crash, reset when a link of the slot is accepted upstream (the link tells
  ``link_accepted``), forgotten when the stream no longer needs links.
* Exits are matched by actor URN to the link the slot has now, so the exit of a link the relay
  already let go of (finishing, replaced) starts nothing; nor does a restart whose stream
  ended while it waited, since ending a stream's links cancels its pending restarts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle, tell
from rtmp_actors.actors.monitoring import ExitNotice, ExitReason, monitor
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.upstream import (
    Backoff,
    LinkSettings,
    StreamName,
    _default_scheduler,
    _LinkOwner,
    _tell_later,
    _UpstreamLink,
)
from rtmp_actors.transport.io_loop import IoLoop, Scheduler, TimerHandle

logger = logging.getLogger(__name__)

_Slot = tuple[str, str, int]  # (app, key, index of the link's URL)
_P = ParamSpec("_P")
_LinkT = TypeVar("_LinkT", bound=_UpstreamLink)


class _LinkManager(StreamObserver, _LinkOwner, Generic[_LinkT]):
    """A stream observer that starts links, replaces crashed ones, and finishes them all.

    Subclasses make a stream's link for one URL (:meth:`_new_link`), name it for logs
    (:meth:`_describe`), and say whether a crashed link is worth replacing
    (:meth:`_wants_restart`) and how to replace it (:meth:`_restart`).

    Args:
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers and restarts.
        io_loop: The loop for upstream connections (default: the shared client loop).
    """

    def __init__(
        self, settings: LinkSettings | None, scheduler: Scheduler | None, io_loop: IoLoop | None
    ) -> None:
        super().__init__()
        self._settings = settings or LinkSettings()
        self._io_loop = io_loop
        self._schedule = scheduler or _default_scheduler(io_loop)
        self._links: dict[StreamName, dict[int, pykka.ActorRef[_LinkT]]] = {}
        self._started: list[pykka.ActorRef[_LinkT]] = []  # finishing ones too, for shutdown
        self._crashes: dict[_Slot, Backoff] = {}  # until a link for the slot is accepted
        self._restarts: dict[_Slot, TimerHandle] = {}  # crashed links waiting to start again
        self._me: ActorHandle[Self] = ActorHandle(self.actor_ref)

    def _new_link(self, app: str, key: str, index: int) -> pykka.ActorRef[_LinkT]:
        """Start the link of ``app/key`` for URL ``index``."""
        raise NotImplementedError

    def _describe(self, app: str, key: str, index: int) -> str:
        """The link of ``app/key`` for URL ``index``, for logs."""
        raise NotImplementedError

    def _wants_restart(self, app: str, key: str) -> bool:
        """Whether ``app/key`` still needs the link that just crashed."""
        return True

    def _restart(self, app: str, key: str, index: int) -> None:
        """A crashed link's delay is over: start its replacement."""
        self._start_link(app, key, index)

    # --- Links ------------------------------------------------------------------------------

    def _start_link(self, app: str, key: str, index: int) -> None:
        self._started = [ref for ref in self._started if ref.is_alive()]
        ref = self._new_link(app, key, index)
        self._started.append(ref)
        self._links.setdefault((app, key), {})[index] = ref
        me: ActorHandle[_LinkManager[Any]] = self._me

        def exited(notice: ExitNotice) -> None:  # in the link's thread: tell, nothing more
            me.tell(_LinkManager.link_exited, app, key, index, notice)

        monitor(ref, exited)

    def _link(self, app: str, key: str, index: int) -> pykka.ActorRef[_LinkT] | None:
        return self._links.get((app, key), {}).get(index)

    def _tell_links(
        self,
        name: StreamName,
        method: Callable[Concatenate[_LinkT, _P], object],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """Tell every link of the stream ``name`` (those that have stopped miss it)."""
        for ref in self._links.get(name, {}).values():
            with contextlib.suppress(pykka.ActorDeadError):
                tell(ref, method, *args, **kwargs)  # per media message: no handle per link

    def _finish_links(self, name: StreamName, reason: str) -> None:
        """Finish the links of ``name`` politely and forget them; no crashed one comes back."""
        self._tell_links(name, _UpstreamLink.finish, reason)
        self._links.pop(name, None)
        self._forget_crashes(name)

    def _forget_crashes(self, name: StreamName) -> None:
        """Cancel the pending restarts of ``name``'s links, and forget their backoff."""
        for slot in [slot for slot in self._restarts if slot[:2] == name]:
            self._restarts.pop(slot).cancel()
        for slot in [slot for slot in self._crashes if slot[:2] == name]:
            del self._crashes[slot]

    # --- From the links and their monitors --------------------------------------------------

    def link_accepted(self, app: str, key: str, urn: str) -> None:
        """A link was accepted upstream: the next crash of its slot waits the least again."""
        for index, ref in self._links.get((app, key), {}).items():
            if ref.actor_urn == urn:
                self._crashes.pop((app, key, index), None)

    def link_exited(self, app: str, key: str, index: int, notice: ExitNotice) -> None:
        """A link this relay started exited (its monitor tells this)."""
        if notice.reason is not ExitReason.FAILED:
            return  # finished or stopped: whoever made it stop knows
        what = self._describe(app, key, index)
        current = self._link(app, key, index)
        if current is None or current.actor_urn != notice.actor_urn:
            logger.error("%s failed while finishing: %r", what, notice.exception)
            return
        del self._links[app, key][index]
        if not self._links[app, key]:
            del self._links[app, key]
        if not self._wants_restart(app, key):
            logger.error("%s failed: %r", what, notice.exception)
            return
        slot = (app, key, index)
        delay = self._crashes.setdefault(slot, self._settings.backoff()).next_delay()
        logger.error("%s failed: %r; starting it again in %g s", what, notice.exception, delay)
        self._restarts[slot] = _tell_later(
            self._schedule, delay, self._me, _LinkManager.restart_due, app, key, index
        )

    def restart_due(self, app: str, key: str, index: int) -> None:
        """A crashed link's delay is over (a timer tells this)."""
        if self._restarts.pop((app, key, index), None) is not None:
            self._restart(app, key, index)

    # --- Life cycle -------------------------------------------------------------------------

    def links(self) -> list[pykka.ActorRef[_LinkT]]:
        """The running links (for monitoring and tests)."""
        return [ref for refs in self._links.values() for ref in refs.values() if ref.is_alive()]

    def shutdown(self) -> list[pykka.ActorRef[_LinkT]]:
        """Finish every link politely; returns their refs, to wait for (from outside)."""
        for name in list(self._links):
            self._finish_links(name, "relay shutting down")
        for timer in self._restarts.values():
            timer.cancel()
        self._restarts.clear()
        return [ref for ref in self._started if ref.is_alive()]

    def on_stop(self) -> None:
        """Stop the links that are left."""
        for timer in self._restarts.values():
            timer.cancel()
        for ref in self._started:
            ref.stop(block=False)
        self._started.clear()
        self._links.clear()

    def on_failure(self, *_exc_info: object) -> None:
        """Stop the links."""
        self.on_stop()
