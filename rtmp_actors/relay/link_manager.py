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
  with each crash, reset when a link of the slot was accepted upstream (the link tells
  ``link_accepted``) at least ``LinkSettings.stable_after`` seconds before it crashed,
  forgotten when the stream no longer needs links.
* The relay itself is a permanent child of the relay server's supervisor, and its links
  outlive its crashes: they are kept in a :class:`LinkTable` that the next incarnation
  adopts (monitoring them again), and they reach the relay through a handle that follows
  its restarts, so a relay crash interrupts no upstream connection. The new incarnation
  then has the running streams describe themselves (``stream_snapshot``, and
  ``streams_running`` for the list) and reconciles: it finishes the links of streams that
  ended while it was down and starts the ones that are missing. Stopping the relay finishes
  its links politely, waiting up to their ``close_timeout``.
* Exits are matched by actor URN to the link the slot has now, so the exit of a link the relay
  already let go of (finishing, replaced) starts nothing; nor does a restart whose stream
  ended while it waited, since ending a stream's links cancels its pending restarts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class LinkTable(Generic[_LinkT]):
    """A relay's links, kept across its restarts (like the registry's ``StreamTable``).

    Only the running incarnation touches it: a supervisor starts the next one after the
    last one has exited.
    """

    by_stream: dict[StreamName, dict[int, pykka.ActorRef[_LinkT]]] = field(default_factory=dict)
    started: list[pykka.ActorRef[_LinkT]] = field(default_factory=list)  # finishing ones too


class _LinkManager(StreamObserver, _LinkOwner, Generic[_LinkT]):
    """A stream observer that starts links, replaces crashed ones, and finishes them all.

    Subclasses make a stream's link for one URL (:meth:`_new_link`), name it for logs
    (:meth:`_describe`), and say whether a crashed link is worth replacing
    (:meth:`_wants_restart`) and how to replace it (:meth:`_restart`).

    Args:
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers and restarts.
        io_loop: The loop for upstream connections (default: the shared client loop).
        table: Where the links are kept; pass the same one to every incarnation so that a
            restarted relay adopts the running links.
        owner: The handle the links use to reach the relay (one that follows its restarts);
            by default a handle to this incarnation.
    """

    def __init__(
        self,
        settings: LinkSettings | None,
        scheduler: Scheduler | None,
        io_loop: IoLoop | None,
        *,
        table: LinkTable[_LinkT] | None = None,
        owner: ActorHandle[Self] | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings or LinkSettings()
        self._io_loop = io_loop
        self._schedule = scheduler or _default_scheduler(io_loop)
        table = table if table is not None else LinkTable()
        self._links = table.by_stream
        self._started = table.started
        self._crashes: dict[_Slot, Backoff] = {}  # until a link for the slot is accepted
        self._restarts: dict[_Slot, TimerHandle] = {}  # crashed links waiting to start again
        # Monitors and timers tell this incarnation; links tell the owner, whoever it is now.
        self._me: ActorHandle[Self] = ActorHandle(self.actor_ref)
        self._owner: ActorHandle[Self] = owner if owner is not None else self._me

    def on_start(self) -> None:
        """Adopt the links a failed incarnation left running; forget the dead ones."""
        self._started[:] = [ref for ref in self._started if ref.is_alive()]
        adopted = 0
        for (app, key), refs in list(self._links.items()):
            for index, ref in list(refs.items()):
                if ref.is_alive():
                    self._watch(app, key, index, ref)
                    adopted += 1
                else:
                    del refs[index]
            if not refs:
                del self._links[app, key]
        if adopted:
            logger.warning("%s restarted: adopted %d running links", type(self).__name__, adopted)

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

    def _start_link(self, app: str, key: str, index: int) -> pykka.ActorRef[_LinkT]:
        self._started[:] = [ref for ref in self._started if ref.is_alive()]
        ref = self._new_link(app, key, index)
        self._started.append(ref)
        self._links.setdefault((app, key), {})[index] = ref
        self._watch(app, key, index, ref)
        return ref

    def _watch(self, app: str, key: str, index: int, ref: pykka.ActorRef[_LinkT]) -> None:
        me: ActorHandle[_LinkManager[Any]] = self._me

        def exited(notice: ExitNotice) -> None:  # in the link's thread: tell, nothing more
            with contextlib.suppress(pykka.ActorDeadError):  # a failed incarnation: it adopts
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
        """A link was accepted upstream: if it lasts, its slot's restarts wait the least again."""
        for index, ref in self._links.get((app, key), {}).items():
            if (
                ref.actor_urn == urn
                and (crashes := self._crashes.get((app, key, index))) is not None
            ):
                crashes.succeeded()

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
        """Finish every link politely and wait for them, then stop any that are left.

        A link closes its connection within ``close_timeout`` or stops anyway, so this waits
        at most about that long (the relay's supervisor allows for it).
        """
        finishing = self.shutdown()
        deadline = time.monotonic() + self._settings.close_timeout + 1.0
        for ref in finishing:
            ref.actor_stopped.wait(max(0.0, deadline - time.monotonic()))
        for ref in self._started:
            ref.stop(block=False)
        self._started.clear()
        self._links.clear()

    def on_failure(self, *_exc_info: object) -> None:
        """Leave the links running: the next incarnation adopts them (see the module)."""
        for timer in self._restarts.values():
            timer.cancel()
