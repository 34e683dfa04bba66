"""What the ``push`` and ``pull`` tools share: a progress line, and a client driven from a thread.

The tools run outside the actor system: their main thread waits on a queue that the client
connection's event receiver fills, so every wait has a timeout and a lost connection is
noticed while waiting for anything else. Failures become :class:`ToolError`, which the
tools print as one line (no traceback) before exiting with its status.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TextIO, TypeVar

import pykka

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.event_receivers import QueueEventReceiver
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.client import RtmpClient
from rtmp_actors.session.client_events import ConnectionResponseReceived, Disconnected
from rtmp_actors.url import RtmpUrl

__all__ = [
    "FAILURE",
    "USAGE_ERROR",
    "ClientConnection",
    "Progress",
    "ToolError",
    "format_bytes",
    "format_media_time",
    "parse_stream_url",
    "stop_actors",
]

E = TypeVar("E")
_P = ParamSpec("_P")

USAGE_ERROR = 2
"""Exit status for a bad URL or file (like argparse's own errors)."""
FAILURE = 1
"""Exit status for a refusal, an unreachable server or a lost connection."""


class ToolError(Exception):
    """A failure the tool reports in one line.

    Attributes:
        status: The process exit status to use.
    """

    def __init__(self, message: str, status: int = FAILURE) -> None:
        super().__init__(message)
        self.status = status


def format_bytes(count: float) -> str:
    """``count`` bytes for people: ``512 B``, ``1.5 KiB``, ``12.0 MiB``."""
    if count < 1024:
        return f"{int(count)} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            break
    return f"{count:.1f} {unit}"


def format_media_time(milliseconds: int) -> str:
    """A media position as ``H:MM:SS.d``."""
    tenths = max(0, milliseconds) // 100
    seconds, tenth = divmod(tenths, 10)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}.{tenth}"


class Progress:
    """A progress line: bytes, media time, bitrate and speed.

    On a terminal the line is rewritten in place (with carriage returns) a few times a
    second; otherwise a plain line is written every ``interval`` seconds, so logs stay
    readable.

    Args:
        verb: What is being done (``sent``, ``recorded``).
        stream: Where to write (standard error by default).
        interval: Seconds between updates (default 0.25 on a terminal, 2 otherwise).
        enabled: Write nothing at all when False.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        verb: str,
        stream: TextIO | None = None,
        *,
        interval: float | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verb = verb
        self._stream = stream if stream is not None else sys.stderr
        self._tty = _isatty(self._stream)
        self._interval = interval if interval is not None else (0.25 if self._tty else 2.0)
        self._enabled = enabled
        self._clock = clock
        self._started = clock()
        self._last_shown = self._started
        self._width = 0

    def restart(self) -> None:
        """Count time (for the bitrate and speed) from now."""
        self._started = self._last_shown = self._clock()

    def line(self, byte_count: int, media_ms: int) -> str:
        """The progress text for these totals."""
        elapsed = max(self._clock() - self._started, 1e-6)
        kbits = byte_count * 8 / elapsed / 1000
        speed = media_ms / 1000 / elapsed
        return (
            f"{self._verb} {format_bytes(byte_count)}, media {format_media_time(media_ms)}, "
            f"{kbits:.0f} kbit/s, {speed:.2f}x"
        )

    def update(self, byte_count: int, media_ms: int) -> None:
        """Show the totals if the last update is ``interval`` seconds old."""
        now = self._clock()
        if not self._enabled or now - self._last_shown < self._interval:
            return
        self._last_shown = now
        self._show(self.line(byte_count, media_ms), final=False)

    def finish(self, byte_count: int, media_ms: int, note: str = "") -> None:
        """Show the final totals on a line of their own."""
        if self._enabled:
            text = self.line(byte_count, media_ms)
            self._show(f"{text}{note}", final=True)

    def _show(self, text: str, *, final: bool) -> None:
        if self._tty:
            padding = " " * max(0, self._width - len(text))
            self._width = len(text)
            self._stream.write("\r" + text + padding + ("\n" if final else ""))
        else:
            self._stream.write(f"{text}\n")
        self._stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def parse_stream_url(url: str) -> RtmpUrl:
    """Parse ``rtmp[s]://host[:port]/app/stream_key``.

    Raises:
        ToolError: With status 2, saying what is wrong with the URL.
    """
    try:
        return RtmpUrl.parse(url)
    except ValueError as error:
        raise ToolError(f"bad URL: {error}", USAGE_ERROR) from None


class ClientConnection:
    """An :class:`RtmpClient` whose events the calling thread waits on.

    Args:
        url: Where to connect.
        timeout: Seconds for the TCP connection and for each answer awaited.
        flow: Timeouts and congestion policy of the connection.

    Raises:
        ToolError: If the host name cannot be resolved.
    """

    def __init__(self, url: RtmpUrl, *, timeout: float, flow: FlowControl | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.events: queue.Queue[Any] = queue.Queue()
        self.disconnected: Disconnected | None = None
        try:
            self.client = RtmpClient.connect(
                url,
                event_receiver_factory=lambda _info: QueueEventReceiver.start(self.events),
                flow=flow,
                connect_timeout=timeout,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise ToolError(f"cannot reach {url.host}: {reason}") from None
        _open.append(self)

    def tell(
        self,
        method: Callable[Concatenate[ClientSessionActor, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """Call a client session method without waiting (``publish_av_data``, ...).

        Raises:
            ToolError: If the connection is over (its session has stopped).
        """
        try:
            self.client.session.tell(method, *args, **kwargs)
        except pykka.ActorDeadError:
            # The session ends with the connection; its Disconnected says why.
            try:
                self.wait_for(Disconnected, "the end of the connection")
            except ToolError as error:
                raise ToolError("connection lost") from error
            raise self.lost(self.disconnected or Disconnected()) from None

    def next_event(self, timeout: float) -> Any | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            event = self.events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if isinstance(event, Disconnected):
            self.disconnected = event
        return event

    def wait_for(self, kind: type[E], what: str) -> E:
        """The next event of ``kind``; other events are dropped.

        Raises:
            ToolError: If the connection ends first, or nothing comes within the timeout.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            event = self.next_event(deadline - time.monotonic())
            if event is None:
                raise ToolError(f"no answer to {what} within {self.timeout:g} s")
            if isinstance(event, kind):
                return event
            if isinstance(event, Disconnected):
                raise self.lost(event)

    def lost(self, event: Disconnected) -> ToolError:
        """The error for a connection that ended unexpectedly."""
        return ToolError(f"connection lost: {event.reason or 'closed by the server'}")

    def connect(self) -> None:
        """Wait until the server accepts the connection.

        Raises:
            ToolError: If the server cannot be reached or refuses the connection.
        """
        answer = self.wait_for(ConnectionResponseReceived, "connect")
        if answer.was_accepted:
            return
        if answer.code is None:
            # No answer from a server at all: the TCP connection, TLS or handshake failed,
            # and Disconnected follows with the reason.
            target = f"{self.url.host}:{self.url.port}"
            with contextlib.suppress(ToolError):
                self.wait_for(Disconnected, "the connection failure")
            reason = self.disconnected.reason if self.disconnected else None
            raise ToolError(f"cannot connect to {target}: {reason or answer.response_text}")
        raise ToolError(f"connection refused: {answer.response_text or answer.code}")

    def close(self, reason: str) -> None:
        """Close politely and wait (up to the timeout) until the connection is over."""
        self.client.close(reason)
        self.client.wait_closed(self.timeout)


_open: list[ClientConnection] = []
_CLOSE_TIMEOUT = 2.0


def stop_actors() -> None:
    """At exit: close the tool's connections (bounded wait), then stop every actor left.

    Closing first lets each connection's actors stop in their own order; stopping them all
    at once could leave one telling another that is already gone.
    """
    while _open:
        client = _open.pop().client
        client.close("exiting")
        client.wait_closed(_CLOSE_TIMEOUT)
    pykka.ActorRegistry.stop_all(timeout=5)
