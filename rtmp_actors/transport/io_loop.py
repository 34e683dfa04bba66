"""The I/O loop: one thread, one selector, every socket.

Theory of operation:

* Sockets are only ever read on the loop's thread, and never block: actors are told about
  the bytes (pykka pitfall 1: an actor parked in ``recv`` can't even be stopped).
* Other threads talk to the loop through :meth:`IoLoop.call_soon` and
  :meth:`IoLoop.call_later`, which queue a callback and wake the selector through a socket
  pair. Callbacks run on the loop thread and must not block either.
* Timers are a heap of deadlines checked between selects; a cancelled timer is skipped.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["IoLoop", "Listener", "Scheduler", "TimerHandle"]

logger = logging.getLogger(__name__)

Callback = Callable[[], None]
ReadyHandler = Callable[[int], None]  # receives the selector event mask that fired


def _nothing() -> None:
    pass


@dataclass(order=True)
class TimerHandle:
    """A scheduled callback; :meth:`cancel` it to stop it from running."""

    deadline: float
    sequence: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Stop the callback from running (safe from any thread, idempotent).

        The callback is released at once, so whatever it refers to can be freed long before
        the deadline comes round.
        """
        self.cancelled = True
        self.callback = _nothing


Scheduler = Callable[[float, Callback], TimerHandle]
"""Runs a callback after a delay in seconds: what actors get instead of a timer thread
(:meth:`IoLoop.call_later`, or a fake clock in tests)."""


class Listener:
    """A listening socket on an :class:`IoLoop`; accepted sockets go to ``on_accept``."""

    def __init__(
        self,
        loop: IoLoop,
        sock: socket.socket,
        on_accept: Callable[[socket.socket, tuple[str, int]], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._on_accept = on_accept
        self.address: tuple[str, int] = sock.getsockname()[:2]

    def _ready(self, _mask: int) -> None:
        # Accept everything pending: one wakeup may stand for many connections.
        for _ in range(256):
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                # EMFILE and friends: log and keep the listener; the connection stays queued.
                logger.warning("accept on %s failed: %s", self.address, error)
                return
            conn.setblocking(False)
            try:
                self._on_accept(conn, address[:2])
            except Exception:
                logger.exception("accept handler failed for %s", address)
                conn.close()

    def close(self) -> None:
        """Stop listening (safe from any thread)."""
        self._loop.call_soon(self._close_now)

    def _close_now(self) -> None:
        self._loop.unregister(self._sock)
        self._sock.close()


class IoLoop:
    """A selector loop on its own thread.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str = "rtmp-io") -> None:
        self._selector = selectors.DefaultSelector()
        self._wakeup_read, self._wakeup_write = socket.socketpair()
        self._wakeup_read.setblocking(False)
        self._wakeup_write.setblocking(False)
        self._selector.register(self._wakeup_read, selectors.EVENT_READ, self._drain_wakeup)
        self._calls: deque[Callback] = deque()
        self._calls_lock = threading.Lock()
        self._wakeup_pending = False
        self._timers: list[TimerHandle] = []
        self._timer_sequence = itertools.count()
        self._pushes = 0
        self._stopping = False
        self._on_stop: list[Callback] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopped = threading.Event()

    # --- Life cycle ---------------------------------------------------------------------------

    def start(self) -> IoLoop:
        """Start the loop thread; returns self."""
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread.is_alive() and not self._stopped.is_set()

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the loop's thread."""
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Run the stop hooks, close the selector and end the thread (from any thread)."""

        def request_stop() -> None:
            self._stopping = True

        self.call_soon(request_stop)
        if not self.in_loop_thread():
            self._thread.join(timeout)

    def add_stop_hook(self, hook: Callback) -> None:
        """Run ``hook`` on the loop thread when the loop stops (e.g. to close transports)."""
        self._on_stop.append(hook)

    # --- Scheduling (thread-safe) ----------------------------------------------------------------

    def call_soon(self, callback: Callback) -> None:
        """Run ``callback`` on the loop thread as soon as possible."""
        with self._calls_lock:
            self._calls.append(callback)
            if self._wakeup_pending:
                return
            self._wakeup_pending = True
        if not self.in_loop_thread():
            # Failing means a wakeup is already buffered, or the loop is gone.
            with contextlib.suppress(OSError):
                self._wakeup_write.send(b"\x00")

    def call_later(self, delay: float, callback: Callback) -> TimerHandle:
        """Run ``callback`` on the loop thread after ``delay`` seconds."""
        handle = TimerHandle(time.monotonic() + delay, next(self._timer_sequence), callback)
        self.call_soon(lambda: self._push_timer(handle))
        return handle

    def _push_timer(self, handle: TimerHandle) -> None:
        heapq.heappush(self._timers, handle)
        self._pushes += 1
        # Cancelled timers wait in the heap for their deadline; sweep them out once in a while
        # (amortised O(1)) so a busy loop's heap stays the size of its live timers.
        if self._pushes >= max(256, len(self._timers) // 2):
            self._pushes = 0
            self._timers = [timer for timer in self._timers if not timer.cancelled]
            heapq.heapify(self._timers)

    # --- Registration (loop thread only) ---------------------------------------------------------

    def register(self, sock: socket.socket, events: int, handler: ReadyHandler) -> None:
        """Watch ``sock`` for ``events`` (0 means no events, but keep it known)."""
        if events:
            self._selector.register(sock, events, handler)

    def modify(self, sock: socket.socket, events: int, handler: ReadyHandler) -> None:
        """Change what ``sock`` is watched for; 0 stops watching it."""
        try:
            key = self._selector.get_key(sock)
        except (KeyError, ValueError):
            if events:
                self._selector.register(sock, events, handler)
            return
        if not events:
            self._selector.unregister(sock)
        elif key.events != events:
            self._selector.modify(sock, events, handler)

    def unregister(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (no error if it was not watched)."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def listen(
        self,
        host: str,
        port: int,
        on_accept: Callable[[socket.socket, tuple[str, int]], None],
        backlog: int = 512,
        *,
        reuse_port: bool = False,
    ) -> Listener:
        """Open a listening socket (from any thread); accepted sockets go to ``on_accept``.

        ``on_accept`` runs on the loop thread with a non-blocking socket. ``reuse_port``
        lets several processes listen on one port (``SO_REUSEPORT``; the kernel spreads the
        connections over them).
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::1", "::" listen on IPv6
        sock = socket.create_server(
            (host, port), family=family, backlog=backlog, reuse_port=reuse_port
        )
        sock.setblocking(False)
        listener = Listener(self, sock, on_accept)
        self.call_soon(lambda: self.register(sock, selectors.EVENT_READ, listener._ready))
        return listener

    # --- The loop ---------------------------------------------------------------------------------

    def _drain_wakeup(self, _mask: int) -> None:
        try:
            while self._wakeup_read.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls = list(self._calls)
            self._calls.clear()
            self._wakeup_pending = False
        for call in calls:
            try:
                call()
            except Exception:
                logger.exception("I/O loop callback failed")

    def _run_timers(self) -> float | None:
        """Run due timers; return seconds until the next one (None if there is none)."""
        now = time.monotonic()
        while self._timers:
            handle = self._timers[0]
            if handle.cancelled:
                heapq.heappop(self._timers)
                continue
            if handle.deadline > now:
                return handle.deadline - now
            heapq.heappop(self._timers)
            try:
                handle.callback()
            except Exception:
                logger.exception("I/O loop timer failed")
        return None

    def _run(self) -> None:
        try:
            while True:
                self._run_calls()
                if self._stopping:
                    break
                timeout = self._run_timers()
                if self._calls:
                    timeout = 0
                for key, mask in self._selector.select(timeout):
                    handler: ReadyHandler = key.data
                    try:
                        handler(mask)
                    except Exception:
                        logger.exception("I/O handler failed for %s", key.fileobj)
            for hook in self._on_stop:
                try:
                    hook()
                except Exception:
                    logger.exception("I/O loop stop hook failed")
            self._run_calls()
        finally:
            self._selector.close()
            self._wakeup_read.close()
            self._wakeup_write.close()
            self._stopped.set()
