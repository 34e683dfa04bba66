"""Learn when a pykka actor has exited, and why.

pykka has no links or monitors: an actor that dies of an exception is logged on the ``pykka``
logger and simply stops. This module adds Erlang-style monitors for actors that subclass
:class:`MonitoredActor`.

Theory of operation:
    * Every :class:`MonitoredActor` has one private watch record: a lock, a list of callbacks
      and, once the actor has exited, its :class:`ExitNotice`. The record is keyed (weakly) by
      the actor's ``actor_stopped`` event, which every :class:`pykka.ActorRef` to that actor
      shares, so it can be found from any ref and outlives the actor object for as long as
      anybody still holds a ref.
    * The notice is produced at the very end of the actor's thread, after ``on_stop`` or
      ``on_failure`` has returned and the inbox has been drained. When a callback runs, the
      actor has finished its cleanup and handles no more messages. Nothing depends on
      subclasses calling ``super()`` in their hooks.
    * The reason comes from what pykka did on the way out. pykka reports every unhandled
      exception (from a ``tell``, ``on_start``, ``on_stop`` or ``on_failure``) through
      ``Actor._handle_failure``; the first one seen is the exception in a ``FAILED`` notice.
      A ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``)
      makes pykka stop every actor; that is a ``KILLED`` notice. Otherwise the actor stopped
      because it was asked to (``stop()``), a ``NORMAL`` notice. Exceptions returned to an
      ``ask`` caller do not stop the actor and are not reported.
    * :func:`monitor` adds a callback under the lock if the actor is still running. If it has
      already exited, the callback is called at once, in the caller's thread, with the stored
      notice, so no exit is missed between ``start()`` and ``monitor()``.
    * Each callback is called exactly once. Callbacks run in the exiting actor's thread (or in
      the caller's thread, see above), so they must be quick and must not block: typically
      ``other_ref.tell(...)``. An exception raised by a callback is logged and swallowed;
      ``ActorDeadError`` (the receiver has gone too) is logged at DEBUG level.

This relies on three private pykka methods (``_actor_loop``, ``_handle_failure`` and
``_handle_receive``; written against pykka 4.5, long-standing names). Importing this module
fails loudly if they disappear, and the tests fail if their roles change.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from rtmp_actors.actors.when_idle import WhenIdle

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ExitNotice",
    "ExitReason",
    "MonitorCallback",
    "MonitoredActor",
    "demonitor",
    "monitor",
]

logger = logging.getLogger(__name__)

for _name in ("_actor_loop", "_handle_failure", "_handle_receive"):
    if not callable(getattr(pykka.Actor, _name, None)):  # pragma: no cover - pykka changed
        _msg = f"rtmp_actors.actors.monitoring needs pykka.Actor.{_name}, which this pykka lacks"
        raise ImportError(_msg)


class ExitReason(enum.Enum):
    """Why a monitored actor exited."""

    NORMAL = "normal"
    """It was asked to stop (``stop()`` from inside, ``ref.stop()`` from outside)."""

    FAILED = "failed"
    """An unhandled exception: in a message sent with ``tell``, in ``on_start``, or in
    ``on_stop``/``on_failure`` while stopping."""

    KILLED = "killed"
    """A ``BaseException`` such as ``SystemExit`` or ``KeyboardInterrupt``, after which pykka
    stops every actor (``ActorRegistry.stop_all()``)."""


@dataclass(frozen=True, slots=True)
class ExitNotice:
    """What a monitor learns when an actor exits.

    Attributes:
        actor_urn: The exited actor's URN.
        actor_class_name: The exited actor's class name (for logs).
        reason: Why it exited.
        exception: The exception behind a ``FAILED`` or ``KILLED`` exit, else ``None``.
    """

    actor_urn: str
    actor_class_name: str
    reason: ExitReason
    exception: BaseException | None = None

    def __str__(self) -> str:
        what = {
            ExitReason.NORMAL: "exited normally",
            ExitReason.FAILED: "failed",
            ExitReason.KILLED: "was killed",
        }[self.reason]
        text = f"{self.actor_class_name} ({self.actor_urn}) {what}"
        return text if self.exception is None else f"{text}: {self.exception!r}"


MonitorCallback = Callable[[ExitNotice], None]
"""A function called once with the :class:`ExitNotice` of a monitored actor."""


class _Watch:
    """The monitoring state of one actor: callbacks to run and, once exited, its notice."""

    __slots__ = ("_callbacks", "_failed", "_failure", "_killed_by", "_lock", "_notice")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[MonitorCallback] = []
        self._failed = False
        self._failure: BaseException | None = None
        self._killed_by: BaseException | None = None
        self._notice: ExitNotice | None = None

    def add(self, callback: MonitorCallback) -> ExitNotice | None:
        """Keep ``callback`` for later, or return the notice if the actor has already exited."""
        with self._lock:
            if self._notice is None:
                self._callbacks.append(callback)
            return self._notice

    def remove(self, callback: MonitorCallback) -> None:
        """Forget ``callback`` if it has not been called (or handed over to be called)."""
        with self._lock, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def record_failure(self, exception: BaseException | None) -> None:
        """Remember the first unhandled exception; later ones come from cleanup hooks."""
        with self._lock:
            if not self._failed:
                self._failed = True
                self._failure = exception

    def record_kill(self, exception: BaseException) -> None:
        """Remember the ``BaseException`` that made pykka stop every actor."""
        with self._lock:
            if self._killed_by is None:
                self._killed_by = exception

    def finish(self, urn: str, class_name: str) -> tuple[ExitNotice, list[MonitorCallback]]:
        """Build the notice (once) and hand over the callbacks to call."""
        with self._lock:
            if self._notice is None:
                exception: BaseException | None
                if self._killed_by is not None:
                    reason, exception = ExitReason.KILLED, self._killed_by
                elif self._failed:
                    reason, exception = ExitReason.FAILED, self._failure
                else:
                    reason, exception = ExitReason.NORMAL, None
                self._notice = ExitNotice(urn, class_name, reason, exception)
            callbacks, self._callbacks = self._callbacks, []
            return self._notice, callbacks


# Keyed by the actor's `actor_stopped` event: one object per actor, shared by all its refs.
_watches: weakref.WeakKeyDictionary[threading.Event, _Watch] = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def _watch_of(ref: pykka.ActorRef[Any]) -> _Watch:
    with _watches_lock:
        watch = _watches.get(ref.actor_stopped)
        if watch is None:
            watch = _watches[ref.actor_stopped] = _Watch()
        return watch


def _call(callback: MonitorCallback, notice: ExitNotice) -> None:
    try:
        callback(notice)
    except pykka.ActorDeadError:
        logger.debug("Monitor callback %r for %s: its receiver is dead", callback, notice)
    except Exception:
        logger.exception("Monitor callback %r for %s raised", callback, notice)


def monitor(ref: pykka.ActorRef[Any], callback: MonitorCallback) -> None:
    """Call ``callback`` once with an :class:`ExitNotice` when the actor behind ``ref`` exits.

    Safe to call from any thread, any number of times (each callback is called once). If the
    actor has already exited, ``callback`` is called immediately in the calling thread;
    otherwise it is called in the actor's own thread as that thread ends. Either way it must
    be quick and must not block or ``ask`` another actor: ``other_ref.tell(...)`` is the usual
    body. Exceptions it raises are logged and swallowed.

    Args:
        ref: A ref to a :class:`MonitoredActor`, running or not.
        callback: Called with the exit notice.

    Raises:
        TypeError: If the actor is not a :class:`MonitoredActor`.
    """
    if not issubclass(ref.actor_class, MonitoredActor):
        msg = f"{ref} cannot be monitored: {ref.actor_class.__name__} is not a MonitoredActor"
        raise TypeError(msg)
    notice = _watch_of(ref).add(callback)
    if notice is not None:
        _call(callback, notice)


def demonitor(ref: pykka.ActorRef[Any], callback: MonitorCallback) -> None:
    """Undo :func:`monitor`: ``callback`` will not be called for this actor's exit.

    For a watcher that stops caring before the actor exits (so callbacks do not pile up on
    a long-lived actor). If the exit is already being reported, the callback may still run:
    it must not mind a late call.
    """
    with _watches_lock:
        watch = _watches.get(ref.actor_stopped)
    if watch is not None:
        watch.remove(callback)


class MonitoredActor(pykka.ThreadingActor):
    """A :class:`pykka.ThreadingActor` whose exit can be watched with :func:`monitor`.

    Use it exactly like ``ThreadingActor``. Overriding ``on_start``, ``on_stop`` and
    ``on_failure`` needs no ``super()`` call for monitoring to work (calling it does no harm),
    and a failing ``on_start``, which pykka reports through neither ``on_stop`` nor
    ``on_failure``, is still a ``FAILED`` exit. It also runs the :class:`WhenIdle` markers
    that come round in its mailbox. Do not override the private pykka methods
    ``_actor_loop``, ``_handle_failure`` or ``_handle_receive``.
    """

    @staticmethod
    def _create_actor_inbox() -> Any:
        # pykka needs only put/get/empty; SimpleQueue does those in C, at half the cost of a
        # tell and 12 KB less per actor than queue.Queue.
        return queue.SimpleQueue()

    def _actor_loop(self) -> None:
        watch = _watch_of(self.actor_ref)
        try:
            super()._actor_loop()
        except BaseException as exc:  # e.g. SystemExit from on_start, which pykka lets out
            if isinstance(exc, Exception):
                watch.record_failure(exc)
            else:
                watch.record_kill(exc)
            raise
        finally:
            notice, callbacks = watch.finish(self.actor_urn, type(self).__name__)
            for callback in callbacks:
                _call(callback, notice)

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _watch_of(self.actor_ref).record_failure(exception_value)
        super()._handle_failure(exception_type, exception_value, traceback)

    def _handle_receive(self, message: Any) -> Any:
        try:
            if isinstance(message, WhenIdle):
                message.run()
                return None
            return super()._handle_receive(message)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                _watch_of(self.actor_ref).record_kill(exc)
            raise
