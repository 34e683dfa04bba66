"""Run a server until SIGINT or SIGTERM, then stop it: the tail of every server program.

Example:
    >>> server = RtmpServer("127.0.0.1", 1935, event_receiver_factory=factory)
    >>> serve_forever(server, ready=lambda s: print("listening on {}:{}".format(*s.address)))
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol, TypeVar, runtime_checkable

import pykka

__all__ = ["STOP_SIGNALS", "Endable", "Servable", "serve_forever"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that end :func:`serve_forever` (Ctrl-C, and a service manager's stop)."""


class Servable(Protocol):
    """Anything :func:`serve_forever` can run.

    :class:`~rtmp_actors.server.RtmpServer` and :class:`~rtmp_actors.relay.server.RelayServer`
    are, and so is anything with the same ``start()`` and ``stop(timeout)``.
    """

    def start(self) -> object:
        """Start serving; an exception means it did not start."""

    def stop(self, timeout: float, /) -> object:
        """Stop serving, giving open sessions up to ``timeout`` seconds to close."""


@runtime_checkable
class Endable(Protocol):
    """A server that can end by itself (its supervision tree gave up), and says so.

    :func:`serve_forever` returns when it does, instead of waiting for a signal with
    nothing left to serve.
    """

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped or given up; False on timeout."""


_S = TypeVar("_S", bound=Servable)


def serve_forever(
    server: _S,
    *,
    stop_timeout: float = 10.0,
    ready: Callable[[_S], object] | None = None,
    stopping: Callable[[], object] | None = None,
    stop: threading.Event | None = None,
    stop_all_actors: bool = True,
) -> bool:
    """Start ``server``, serve until SIGINT or SIGTERM (or ``stop`` is set), then stop it.

    On the main thread, handlers for SIGINT and SIGTERM are installed before the server
    starts (a signal that comes while it starts stops it as soon as it has started) and the
    previous handlers are put back once the server has stopped. Elsewhere no handler is
    installed (Python allows them only on the main thread), so ``stop`` is required there.
    The wait is on an event, not a polling loop. A server that can end by itself
    (:class:`Endable`, as both servers are) ends the wait when it does, and the function
    returns False: the caller decides how to say so (``rtmp-actors serve`` exits with 1).

    Args:
        server: What to run: its ``start()`` is called, then ``stop(stop_timeout)``.
        stop_timeout: Seconds the server has to close its sessions politely.
        ready: Called with the server once it has started (to print its address, say).
        stopping: Called when the wait is over, just before the server is stopped (to say
            so, say); not called if the server did not start.
        stop: The event to wait on; setting it stops the server as a signal does. By
            default a new one, set only by the signals.
        stop_all_actors: Once the server has stopped (or failed to start), stop every pykka
            actor still running in the process, so that none keeps it alive.

    Returns:
        True if a signal or ``stop`` ended the wait, False if the server ended by itself.

    Raises:
        ValueError: If called off the main thread without ``stop``.
        Exception: Whatever ``server.start()`` raises (then only the actors are stopped), and
            whatever ``ready``, ``stopping`` or ``server.stop()`` raise (once it has stopped).
    """
    on_main_thread = threading.current_thread() is threading.main_thread()
    if stop is None:
        if not on_main_thread:
            msg = "serve_forever off the main thread needs a stop event: signals cannot reach it"
            raise ValueError(msg)
        stop = threading.Event()
    event = stop

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # Set from another thread: the handler runs on the main thread between two bytecodes,
        # maybe while that thread holds the event's own lock (entering or leaving its wait).
        threading.Thread(target=event.set, name="serve-forever-signal").start()

    previous: dict[signal.Signals, Any] = {}
    ended_by_itself = threading.Event()
    watcher: threading.Thread | None = None
    try:
        if on_main_thread:
            for signum in STOP_SIGNALS:
                previous[signum] = signal.signal(signum, on_signal)
        server.start()
        endable: object = server  # mypy cannot narrow the type variable itself
        if isinstance(endable, Endable):
            watcher = _watch_for_end(endable, event, ended_by_itself)
        try:
            if ready is not None:
                ready(server)
            event.wait()
            if ended_by_itself.is_set():
                logger.error("%r ended by itself; see above why", server)
            else:
                logger.debug("stopping %r", server)
            if stopping is not None:
                stopping()
        finally:
            server.stop(stop_timeout)
            if watcher is not None:
                watcher.join(stop_timeout)
    finally:
        if stop_all_actors:
            pykka.ActorRegistry.stop_all()
        for signum, handler in previous.items():
            # None: the handler was not set from Python; the default is the nearest.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    return not ended_by_itself.is_set()


def _watch_for_end(
    server: Endable, stop: threading.Event, ended_by_itself: threading.Event
) -> threading.Thread:
    """A thread that ends the wait when ``server`` ends, whoever ended it."""

    def watch() -> None:
        server.wait()
        if not stop.is_set():  # not the stop we are about to make
            ended_by_itself.set()
        stop.set()

    watcher = threading.Thread(target=watch, name="serve-forever-watch", daemon=True)
    watcher.start()
    return watcher
