"""A client's remote calls (``NetConnection.call``): raised as events, answered by the user.

Any command the session has no handling of its own for is a call. One with a transaction id
gets a ``call_id`` and waits for :meth:`~rtmp_actors.session.server.ServerSession.answer_call`
(``_result``) or :meth:`~rtmp_actors.session.server.ServerSession.fail_call` (``_error``);
one with transaction id 0 is a notification, raised but never answered. A client never waits
for ever and never grows the table: the session answers ``_error`` itself when nobody handles
calls, when ``Limits.max_pending_calls`` calls already wait, and when a call waited
``call_timeout`` seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands import ErrorResult, NetConnectionCode, Result
from rtmp_actors.protocol.messages import CommandMessage
from rtmp_actors.session._server_base import FINISHED, ServerBase
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import CallRequested

__all__: list[str] = []

_MAX_FORGOTTEN: Final = 128
"""Most timed-out calls remembered, so that the user's late answers to them are ignored."""


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A call that waits for the user's answer."""

    name: str
    transaction_id: float
    stream_id: int
    deadline: float | None


class CallTable:
    """The calls that wait for an answer, by ``call_id`` (counting up from 1), oldest first.

    A timed-out call is withdrawn: a late answer to it is ignored, not a mistake, as long as
    it is remembered (the newest ``_MAX_FORGOTTEN``) or older than the ones remembered.
    """

    __slots__ = ("_forgotten_through", "_next_id", "_pending", "_withdrawn")

    def __init__(self) -> None:
        self._pending: dict[int, PendingCall] = {}
        self._withdrawn: dict[int, None] = {}  # an ordered set, oldest first
        self._next_id = 1
        self._forgotten_through = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending_ids(self) -> frozenset[int]:
        return frozenset(self._pending)

    def add(self, call: PendingCall) -> int:
        call_id = self._next_id
        self._next_id += 1
        self._pending[call_id] = call
        return call_id

    def get(self, call_id: int) -> PendingCall | None:
        return self._pending.get(call_id)

    def take(self, call_id: int) -> PendingCall | None:
        """Remove and return a pending call; None for a withdrawn one (ignore the answer).

        Raises:
            LocalProtocolError: ``call_id`` was never given out or was answered already.
        """
        call = self._pending.pop(call_id, None)
        if call is not None:
            return call
        if call_id in self._withdrawn:
            del self._withdrawn[call_id]
            return None
        if 0 < call_id <= self._forgotten_through:
            return None
        if 0 < call_id < self._next_id:
            msg = f"call {call_id} was already answered"
            raise LocalProtocolError(msg)
        msg = f"there is no call {call_id}"
        raise LocalProtocolError(msg)

    def next_deadline(self) -> float | None:
        # Deadlines grow with the call id (one timeout for all), so the oldest is the first.
        for call in self._pending.values():
            return call.deadline
        return None

    def expire(self, now: float) -> list[PendingCall]:
        """Withdraw and return the calls whose deadline passed."""
        expired: list[PendingCall] = []
        for call_id, call in list(self._pending.items()):
            if call.deadline is None or call.deadline > now:
                break
            del self._pending[call_id]
            self._withdrawn[call_id] = None
            expired.append(call)
        while len(self._withdrawn) > _MAX_FORGOTTEN:
            oldest = next(iter(self._withdrawn))
            del self._withdrawn[oldest]
            self._forgotten_through = max(self._forgotten_through, oldest)
        return expired

    def clear(self) -> None:
        """Forget every call (the session ignores all answers once it closes)."""
        self._pending.clear()
        self._withdrawn.clear()
        self._forgotten_through = self._next_id - 1


def not_handled(name: str) -> str:
    """The ``_error`` description of a call nobody handles."""
    return f"Method '{name}' is not handled by this server."


class CallHandling(ServerBase):
    """The remote calls of a connected client, and the user's answers."""

    def __init__(
        self, config: ServerSessionConfig, connection_id: str, now: float, logger: logging.Logger
    ) -> None:
        super().__init__(config, connection_id, now, logger)
        self._calls = CallTable()
        self._calls_handled = True

    def _on_call(self, content: CommandMessage, stream_id: int) -> None:
        name = content.name
        transaction_id = content.transaction_id
        if transaction_id == 0:
            self._log.debug("notification %r on stream %d", name, stream_id)
            if self._calls_handled:
                self._emit(self._call_event(None, content, stream_id))
            return
        if not self._calls_handled:
            self._log.info("call %r is not handled: answered _error", name)
            self._send_call_error(transaction_id, stream_id, not_handled(name))
            return
        limit = self._config.limits.max_pending_calls
        if len(self._calls) >= limit:
            self._log.info("call %r refused: %d calls already wait", name, limit)
            description = f"Too many calls waiting for an answer (at most {limit})."
            self._send_call_error(transaction_id, stream_id, description)
            return
        timeout = self._config.call_timeout
        deadline = self._now + timeout if timeout > 0 else None
        call_id = self._calls.add(PendingCall(name, transaction_id, stream_id, deadline))
        self._emit(self._call_event(call_id, content, stream_id))

    @staticmethod
    def _call_event(call_id: int | None, content: CommandMessage, stream_id: int) -> CallRequested:
        return CallRequested(
            call_id,
            content.name,
            content.arguments,
            content.transaction_id,
            stream_id,
            content.command_object,
        )

    def _take_call(self, call_id: int) -> PendingCall | None:
        if self._phase in FINISHED:
            self._log.debug("answer to call %s after the session closed: ignored", call_id)
            return None
        call = self._calls.take(call_id)
        if call is None:
            self._log.debug("answer to timed-out call %s: ignored", call_id)
        return call

    def _answer_call(self, call_id: int, values: tuple[AmfValue, ...]) -> None:
        call = None if self._phase in FINISHED else self._calls.get(call_id)
        if call is None:
            self._take_call(call_id)  # raises for a mistake, logs a late answer
            return
        message = Result(call.transaction_id, None, values).to_message(amf3=self._amf3)
        message.encode_payload()  # a value AMF cannot carry fails here, the call still waiting
        self._calls.take(call_id)
        self._send(message, call.stream_id)

    def _fail_call(self, call_id: int, description: str, code: str) -> None:
        call = self._take_call(call_id)
        if call is not None:
            error = ErrorResult.with_status(call.transaction_id, code, description)
            self._send_command(error, call.stream_id)

    def _expire_calls(self, now: float) -> None:
        for call in self._calls.expire(now):
            timeout = self._config.call_timeout
            self._log.warning("call %r was not answered within %g s", call.name, timeout)
            description = f"Method '{call.name}' was not answered within {timeout:g} s."
            self._send_call_error(call.transaction_id, call.stream_id, description)

    def _send_call_error(self, transaction_id: float, stream_id: int, description: str) -> None:
        error = ErrorResult.with_status(transaction_id, NetConnectionCode.CALL_FAILED, description)
        self._send_command(error, stream_id)

    def _close(self, reason: str | None) -> None:
        self._calls.clear()
        super()._close(reason)
