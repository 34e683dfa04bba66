"""What the server and client session actors share: driving a sans-I/O session.

After every input or API call the actor drains the session's output: messages go to the
protocol handler in one batch, events go to the event receiver (one ``send_events`` per
flush, or one ``send_event`` each), and a close request asks the protocol handler to flush
and close the socket. Everything is a ``tell`` through a typed
:class:`~rtmp_actors.actors.actor_handle.ActorHandle`: peers never block on each other.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import pykka

from behaviours.event_receiver import EventReceiver
from behaviours.protocol_handler import ProtocolHandler
from behaviours.session_handler import ByteCountDirection, SessionHandler
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.when_idle import WhenIdle
from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.messages import DetailedMessage
from rtmp_actors.session.events import (
    NewByteIOTotals,
    SessionError,
    SessionEvent,
)
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

__all__ = ["HANDLER_ALREADY_SET", "SessionActor", "SessionMachine"]

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")

HANDLER_ALREADY_SET = "handler_already_set"
"""What ``set_event_handler``/``set_protocol_handler`` answer when called a second time."""


class SessionOutputLike(Protocol):
    """The shape of a session's output."""

    messages: list[DetailedMessage]
    events: list[SessionEvent]
    close: bool
    close_reason: str | None


class SessionMachine(Protocol):
    """The sans-I/O session contract the actor drives (server or client)."""

    def handle_message(self, message: DetailedMessage, now: float) -> None:
        """Take one message from the peer."""

    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take a byte total."""

    def notify_disconnected(self, reason: str | None) -> None:
        """The connection ended."""

    def take_output(self) -> SessionOutputLike:
        """Drain outbound messages and events."""


class SessionActor(MonitoredActor, SessionHandler):
    """Wraps a sans-I/O session: feeds it, and forwards what it produces.

    Args:
        session: The state machine.
        scheduler: ``scheduler(delay, callback)`` for the session's timers (pings).
        connection_id: For log lines.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        session: Any,
        scheduler: Scheduler | None = None,
        *,
        connection_id: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._session = session
        self._schedule = scheduler
        self._clock = clock
        self.connection_id = connection_id
        self._receiver: ActorHandle[EventReceiver] | None = None
        self._protocol: ActorHandle[ProtocolHandler] | None = None
        self._protocol_gone = False
        self._early_events: list[SessionEvent] = []
        self._batch_events = False
        self._timer: TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._finished = False
        self._flush_when_idle = WhenIdle(self, self._flush)

    # --- Wiring (called from outside the actor system, with a timeout) ---------------------------

    def set_event_handler(self, receiver: pykka.ActorRef[Any]) -> str:
        """Send events to ``receiver``; answers ``"handler_already_set"`` the second time."""
        if self._receiver is not None:
            return HANDLER_ALREADY_SET
        # Receivers built on EventReceiver take a whole flush's events as one message.
        self._batch_events = callable(getattr(receiver.actor_class, "send_events", None))
        try:
            self._receiver = ActorHandle(receiver)
        except pykka.ActorDeadError:
            logger.warning("%s: the event receiver is already gone", self.connection_id)
            return "ok"
        early, self._early_events = self._early_events, []
        self._deliver(early)
        return "ok"

    def set_protocol_handler(self, protocol_handler: pykka.ActorRef[Any]) -> str:
        """Send messages to ``protocol_handler``; answers ``"handler_already_set"`` the 2nd time."""
        if self._protocol is not None or self._protocol_gone:
            return HANDLER_ALREADY_SET
        try:
            self._protocol = ActorHandle(protocol_handler)
        except pykka.ActorDeadError:
            # The connection died before we were wired (a refused TLS handshake, say); the
            # protocol handler has already told us, or will, through notify_disconnected.
            self._protocol_gone = True
            return "ok"
        self._flush()
        return "ok"

    # --- SessionHandler ---------------------------------------------------------------------------

    def handle_rtmp_input(self, message: DetailedMessage) -> None:
        """Take one message from the peer."""
        self.handle_rtmp_inputs((message,))

    def handle_rtmp_inputs(
        self, messages: Sequence[DetailedMessage], byte_totals: tuple[int, int] | None = None
    ) -> None:
        """Take the messages decoded from one read, in order, and maybe new byte totals.

        Args:
            messages: The messages.
            byte_totals: ``(bytes_sent, bytes_received)``, when a report is due: one message
                (and one batch of events) instead of two.
        """
        if self._finished:
            return
        now = self._clock()
        try:
            for message in messages:
                self._session.handle_message(message, now)
        except SessionError as error:
            self._flush()
            self._close_connection(f"session error: {error}", abort=True)
            return
        if byte_totals is not None:
            self._take_byte_totals(byte_totals)
        # More input waiting: answer it all at once (one hand-on instead of one per read).
        self._flush_when_idle.request()

    def notify_byte_count(self, direction: ByteCountDirection, total: int) -> None:
        """Take a byte total from the protocol handler."""
        if not self._finished:
            self._session.notify_byte_count(direction, total)
            self._flush()

    def notify_byte_totals(self, bytes_sent: int, bytes_received: int) -> None:
        """Take both byte totals at once (one NewByteIOTotals event instead of two)."""
        if not self._finished:
            self._take_byte_totals((bytes_sent, bytes_received))
            self._flush()

    def _take_byte_totals(self, totals: tuple[int, int]) -> None:
        self._session.notify_byte_count(ByteCountDirection.BYTES_SENT, totals[0])
        self._session.notify_byte_count(ByteCountDirection.BYTES_RECEIVED, totals[1])

    def notify_disconnected(self, reason: str | None) -> None:
        """The connection is gone: raise the final events, then stop."""
        if self._finished:
            return
        self._session.notify_disconnected(reason)
        self._flush()
        self._finish()

    # --- Output -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        output = self._session.take_output()
        self._output_taken(output)
        if output.messages and not self._protocol_gone:
            if self._protocol is None:
                logger.warning(
                    "%s: no protocol handler yet, %d messages dropped",
                    self.connection_id,
                    len(output.messages),
                )
            else:
                # The protocol handler stops once the socket is gone; replies to the peer's
                # last messages then have nowhere to go, which is fine.
                with contextlib.suppress(pykka.ActorDeadError):
                    self._protocol.tell(ProtocolHandler.send_messages, output.messages)
        events = self._route_events(output.events)
        totals = [event for event in events if isinstance(event, NewByteIOTotals)]
        if len(totals) > 1:
            # Only the latest totals matter; earlier ones in the same batch are stale.
            events = [e for e in events if not isinstance(e, NewByteIOTotals) or e is totals[-1]]
        if events:
            self._emit(events)
        if output.close:
            self._close_connection(output.close_reason)
        self._rearm_timer()

    def _output_taken(self, output: Any) -> None:
        """Called with each output before its messages and events go out."""

    def _route_events(self, events: list[SessionEvent]) -> list[SessionEvent]:
        """The events for the event receiver (a subclass may send some elsewhere)."""
        return events

    def _emit(self, events: list[SessionEvent]) -> None:
        if self._receiver is None:
            self._early_events.extend(events)
            return
        self._deliver(events)

    def _deliver(self, events: list[SessionEvent]) -> None:
        if not events or self._receiver is None:
            return
        try:
            if self._batch_events:
                self._receiver.tell(EventReceiver.send_events, events)
            else:
                for event in events:
                    self._receiver.tell(EventReceiver.send_event, event)
        except pykka.ActorDeadError:
            logger.debug(
                "%s: event receiver gone; %d events dropped", self.connection_id, len(events)
            )

    def _close_connection(self, reason: str | None, *, abort: bool = False) -> None:
        if self._protocol is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._protocol.tell(ProtocolHandler.close_connection, reason, abort=abort)

    def _finish(self) -> None:
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
        self.stop()

    def on_failure(self, *_exc_info: object) -> None:
        """Cancel the timer (the connection unit tears the rest down)."""
        if self._timer is not None:
            self._timer.cancel()

    # --- Timers -----------------------------------------------------------------------------------

    def _rearm_timer(self) -> None:
        next_deadline = getattr(self._session, "next_deadline", None)
        if self._schedule is None or next_deadline is None or self._finished:
            return
        deadline = next_deadline()
        if deadline == self._timer_deadline and (deadline is None or self._timer is not None):
            return  # unchanged: most flushes do not move the ping
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is None:
            return
        ref = self.actor_ref

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_TimerFired())

        self._timer = self._schedule(max(0.0, deadline - self._clock()), fire)

    def on_receive(self, message: Any) -> Any:
        """Run the session's timers."""
        if isinstance(message, _TimerFired) and not self._finished:
            self._timer = None
            self._timer_deadline = None
            self._session.handle_timer(self._clock())
            self._flush()
        return None

    def _apply(
        self, method: Callable[Concatenate[Any, _P], _R], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R | None:
        """Call a session API method (``ServerSession.accept_request``), then forward its output.

        Returns what the method returned; None when the session is over or refused the call.
        """
        if self._finished:
            return None
        result = None
        try:
            result = method(self._session, *args, **kwargs)
        except (LocalProtocolError, TypeError, ValueError) as error:
            # A misuse (a request that does not exist, a value AMF cannot carry) is the
            # caller's mistake; arriving by tell, it must not take the session down.
            logger.error("%s: %s(...) refused: %s", self.connection_id, method.__name__, error)
        self._flush()
        return result


class _TimerFired:
    __slots__ = ()
