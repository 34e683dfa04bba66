"""What the server and client sessions share: identity, the outbox and the byte totals.

Both sessions queue messages and events the same way between two ``take_output`` calls, send
commands in the AMF flavour agreed with the peer, and keep the connection's byte totals; this
base class holds that once. It is private: users meet it only through
:class:`~rtmp_actors.session.server.ServerSession` and
:class:`~rtmp_actors.session.client.ClientSession`.
"""

from __future__ import annotations

import logging
from typing import Generic, TypeVar

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.logs import ConnectionLog
from rtmp_actors.protocol.commands import Command
from rtmp_actors.protocol.messages import DetailedMessage, MessageContent
from rtmp_actors.session.events import ByteCountDirection, SessionEvent

__all__ = ["SessionCore"]

ConfigT = TypeVar("ConfigT")


class SessionCore(Generic[ConfigT]):
    """The part of a session that does not depend on its role.

    Args:
        config: The session's settings.
        connection_id: Names the connection in log lines.
        now: The session start (seconds, monotonic).
        logger: Where the session logs; the public module's logger, so that log
            configuration does not depend on how the session is split into modules.
    """

    def __init__(
        self, config: ConfigT, connection_id: str, now: float, logger: logging.Logger
    ) -> None:
        self._config = config
        self._connection_id = connection_id
        self._log = ConnectionLog(logger, connection_id)
        self._started_at = now
        self._amf3 = False
        self._messages: list[DetailedMessage] = []
        self._events: list[SessionEvent] = []
        self._bytes_sent = 0
        self._bytes_received = 0

    @property
    def config(self) -> ConfigT:
        """The session's settings."""
        return self._config

    @property
    def connection_id(self) -> str:
        """The id used in log lines."""
        return self._connection_id

    @property
    def started_at(self) -> float:
        """The ``now`` the session was created at."""
        return self._started_at

    def _send(self, content: MessageContent, stream_id: int = 0, timestamp: int = 0) -> None:
        self._messages.append(DetailedMessage(timestamp, stream_id, content))

    def _send_command(self, command: Command, stream_id: int = 0) -> None:
        self._send(command.to_message(amf3=self._amf3), stream_id)

    def _emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def _new_byte_total(self, direction: ByteCountDirection, total: int) -> bool:
        """Keep the connection's byte total in one direction; whether it changed.

        Raises:
            LocalProtocolError: If ``total`` is negative (nothing is kept then).
        """
        if total < 0:
            msg = f"byte total must not be negative, got {total}"
            raise LocalProtocolError(msg)
        if direction is ByteCountDirection.BYTES_RECEIVED:
            changed, self._bytes_received = total != self._bytes_received, total
        else:
            changed, self._bytes_sent = total != self._bytes_sent, total
        return changed
