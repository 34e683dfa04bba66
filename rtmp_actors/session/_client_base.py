"""The state of a client session and the helpers both its parts use.

:class:`~rtmp_actors.session.client.ClientSession` is one state machine in layers, each a
class in its own module using only the layer below it:

1. :class:`ClientBase` (here): the state, the request records, the transaction bookkeeping,
   and how a request is answered, refused or given up.
2. ``ClientInbound`` (``_client_inbound``): what the server sends; and ``StreamCalls``
   (``_client_streams``): the user's calls on a requested stream.
3. ``ClientSession`` (``client``): connect, publish and play requests, close, and the driver
   interface.

The modules are private (their names are public only within ``rtmp_actors.session``).
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from typing import Final

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.commands import DeleteStream, FCUnpublish, NetConnectionCode, Play
from rtmp_actors.session._core import SessionCore
from rtmp_actors.session.client_config import ClientSessionConfig
from rtmp_actors.session.client_events import (
    CallFailed,
    PlayResponseReceived,
    PublishResponseReceived,
    StreamEnded,
)
from rtmp_actors.session.client_state import ClientState, ServerCapabilities

__all__: list[str] = []

U32: Final = 0xFFFFFFFF
CALL_FAILED: Final = str(NetConnectionCode.CALL_FAILED)
OVER: Final = frozenset({ClientState.CLOSING, ClientState.DISCONNECTED})
"""States in which the session has ended for its user: calls naming streams are ignored."""

# Replies to releaseStream, FCPublish, FCUnpublish and _checkbw are ignored; the ids are kept
# only so the replies are not reported as unknown. A server that answers none of them (or
# floods onBWDone) must not grow this without bound.
_MAX_IGNORED_TRANSACTIONS: Final = 64


class Kind(enum.Enum):
    PUBLISH = "publish"
    PLAY = "play"


@dataclass(slots=True, eq=False)
class Stream:
    """One publish or play request and the message stream it got."""

    key: str
    kind: Kind
    publish_type: str = "live"
    play: Play | None = None
    stream_id: int | None = None
    command_tid: int | None = None
    """The transaction id of ``publish``/``play`` while an ``_error`` to it is possible."""
    answered: bool = False
    """The response event was raised (a registered, answered stream was accepted)."""
    ended: bool = False
    """Playback: StreamEnded was raised in the current active period."""
    cancelled: bool = False
    """Stopped before ``createStream`` was answered: delete the stream when it arrives."""


class Transaction(enum.Enum):
    CONNECT = "connect"
    CREATE_STREAM = "createStream"
    STREAM_COMMAND = "publish/play"


def transaction_key(value: float) -> int | None:
    """A transaction id the server echoed, as the int we sent; None if it cannot be ours."""
    # Servers echo ids as AMF numbers (2.0 for 2); anything not a whole number matches nothing.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return None
    return int(value)


def description(text: str | None) -> str:
    return "" if text is None else text


class ClientBase(SessionCore[ClientSessionConfig]):
    """The state of a client session, and the helpers both layers above use.

    Args:
        config: The session configuration.
        connection_id: Names the connection in log lines.
        now: The current time in seconds (the driver's clock).
        logger: The public module's logger.
    """

    def __init__(
        self, config: ClientSessionConfig, connection_id: str, now: float, logger: logging.Logger
    ) -> None:
        super().__init__(config, connection_id, now, logger)
        self._state = ClientState.IDLE
        self._server_capabilities: ServerCapabilities | None = None
        self._next_transaction_id = 1
        self._pending: dict[int, tuple[Transaction, Stream | None]] = {}
        self._ignored_transactions: dict[int, None] = {}  # an ordered set, oldest first
        self._calls: dict[int, str] = {}  # the user's remote calls: transaction id -> name
        self._publishes: dict[str, Stream] = {}
        self._plays: dict[str, Stream] = {}
        self._streams_by_id: dict[int, Stream] = {}
        self._close = False
        self._close_reason: str | None = None

    # --- Looking streams up ------------------------------------------------------------------

    def _publishing_stream_id(self, stream_key: str) -> int | None:
        return self._answered_stream_id(self._publishes.get(stream_key))

    def _playing_stream_id(self, stream_key: str) -> int | None:
        return self._answered_stream_id(self._plays.get(stream_key))

    @staticmethod
    def _answered_stream_id(stream: Stream | None) -> int | None:
        if stream is None or not stream.answered:
            return None
        return stream.stream_id

    def _not_active(self, method: str, stream_key: str, kind: Kind) -> None:
        """A call named a stream that is not publishing (or playing): ignore it, or refuse it.

        Once the session is over for its user the call is late and ignored; before, the
        caller sent it too early (before the acceptance event) or for a key it never asked for.

        Raises:
            LocalProtocolError: Unless the session is closing or disconnected.
        """
        if self._state in OVER:
            self._log.debug(
                "%s(%r) ignored: the session is %s", method, stream_key, self._state.value
            )
            return
        streams = self._publishes if kind is Kind.PUBLISH else self._plays
        doing = "publishing" if kind is Kind.PUBLISH else "playing"
        if stream_key in streams:
            why = "the server has not accepted it yet"
        else:
            why = f"request_{'publish' if kind is Kind.PUBLISH else 'playback'} it first"
        msg = f"{method}({stream_key!r}): the key is not {doing}; {why}"
        raise LocalProtocolError(msg)

    # --- Transactions ------------------------------------------------------------------------

    def _new_transaction(self, kind: Transaction, stream: Stream | None) -> int:
        transaction_id = self._next_transaction_id
        self._next_transaction_id += 1
        self._pending[transaction_id] = (kind, stream)
        return transaction_id

    def _new_ignored_transaction(self) -> int:
        transaction_id = self._next_transaction_id
        self._next_transaction_id += 1
        self._ignored_transactions[transaction_id] = None
        if len(self._ignored_transactions) > _MAX_IGNORED_TRANSACTIONS:
            del self._ignored_transactions[next(iter(self._ignored_transactions))]
        return transaction_id

    # --- The fate of a request ---------------------------------------------------------------

    def _end(self, stream: Stream, reason: str) -> None:
        if not stream.ended:
            stream.ended = True
            self._emit(StreamEnded(stream.key, reason))

    def _unregister(self, stream: Stream) -> None:
        streams = self._publishes if stream.kind is Kind.PUBLISH else self._plays
        if streams.get(stream.key) is stream:
            del streams[stream.key]
        if stream.stream_id is not None and self._streams_by_id.get(stream.stream_id) is stream:
            del self._streams_by_id[stream.stream_id]
        if stream.command_tid is not None:
            self._pending.pop(stream.command_tid, None)
            stream.command_tid = None

    def _refuse(self, stream: Stream, text: str, code: str | None) -> None:
        """The server refused a request: forget it, free its stream, answer the caller."""
        owns_id = (
            stream.stream_id is not None and self._streams_by_id.get(stream.stream_id) is stream
        )
        self._unregister(stream)
        if owns_id and stream.stream_id is not None:
            self._send_command(DeleteStream(stream.stream_id))
        self._respond(stream, False, text, code)

    def _release(self, stream: Stream, text: str) -> None:
        """The user gave a stream up: tell the server, and answer the request if still open."""
        self._unregister(stream)
        if stream.kind is Kind.PUBLISH:
            self._send_command(FCUnpublish(stream.key, self._new_ignored_transaction()))
        if stream.stream_id is not None:
            self._send_command(DeleteStream(stream.stream_id))
        else:
            stream.cancelled = True  # the createStream answer is still to come
        if not stream.answered:
            self._respond(stream, False, text, None)

    def _respond(self, stream: Stream, accepted: bool, text: str, code: str | None) -> None:
        stream.answered = True
        if stream.kind is Kind.PUBLISH:
            self._emit(PublishResponseReceived(stream.key, accepted, text, code))
        else:
            self._emit(PlayResponseReceived(stream.key, accepted, text, code))

    def _fail_calls(self, text: str) -> None:
        """Answer every call still waiting for the server: it never will."""
        for transaction_id, name in self._calls.items():
            information = {"level": "error", "code": CALL_FAILED, "description": text}
            self._emit(CallFailed(name, transaction_id, information))
        self._calls.clear()

    def _forget_all(self) -> None:
        self._calls.clear()
        self._pending.clear()
        self._ignored_transactions.clear()
        self._publishes.clear()
        self._plays.clear()
        self._streams_by_id.clear()
