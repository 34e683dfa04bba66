"""``_result`` and ``_error``: the answers to any call, read generically.

Only the caller knows which request an answer belongs to (by transaction id), so these parse
into :class:`Result` and :class:`ErrorResult`; :meth:`ConnectResult.from_result
<rtmp_actors.protocol.commands.ConnectResult.from_result>` and
:meth:`CreateStreamResult.from_result
<rtmp_actors.protocol.commands.CreateStreamResult.from_result>` then read them as answers to
``connect`` and ``createStream``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands._base import Command, _expect_name, _put
from rtmp_actors.protocol.commands.status import NetConnectionCode, StatusLevel
from rtmp_actors.protocol.messages import CommandMessage

__all__ = ["ErrorResult", "Result"]


@dataclass(frozen=True, slots=True)
class _Reply(Command):
    transaction_id: float
    command_object: AmfValue = None
    arguments: tuple[AmfValue, ...] = ()

    @property
    def information(self) -> dict[str, AmfValue] | None:
        """The first argument when it is an object (the status information), else None."""
        first = self.arguments[0] if self.arguments else None
        return first if isinstance(first, dict) else None

    @property
    def code(self) -> str | None:
        """The information object's ``code`` string, if any."""
        code = (self.information or {}).get("code")
        return code if isinstance(code, str) else None

    @property
    def description(self) -> str | None:
        """The information object's ``description`` string, if any."""
        description = (self.information or {}).get("description")
        return description if isinstance(description, str) else None

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the reply; any command object and arguments are accepted."""
        _expect_name(message, cls.name)
        return cls(message.transaction_id, message.command_object, message.arguments)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the reply message."""
        return CommandMessage(
            self.name, self.transaction_id, self.command_object, self.arguments, amf3
        )


@dataclass(frozen=True, slots=True)
class Result(_Reply):
    """``_result``: the success answer to the request with the same transaction id.

    What the values mean depends on the request; see :meth:`ConnectResult.from_result` and
    :meth:`CreateStreamResult.from_result`. Other calls (``releaseStream``, ``FCPublish``, ...)
    are answered with a null command object and no arguments.

    Attributes:
        transaction_id: The request's transaction id.
        command_object: The first value after the transaction id (properties, or null).
        arguments: The values after it.
    """

    name: ClassVar[str] = "_result"


@dataclass(frozen=True, slots=True)
class ErrorResult(_Reply):
    """``_error``: the failure answer to the request with the same transaction id.

    Attributes:
        transaction_id: The request's transaction id.
        command_object: The first value after the transaction id (usually null).
        arguments: Usually one information object (level, code, description).
    """

    name: ClassVar[str] = "_error"

    @classmethod
    def with_status(
        cls,
        transaction_id: float,
        code: str,
        description: str,
        level: str = StatusLevel.ERROR.value,
    ) -> Self:
        """An ``_error`` carrying one information object.

        Args:
            transaction_id: The failed request's transaction id.
            code: A status code such as ``NetConnection.Connect.Rejected``.
            description: Text for humans.
            level: The information level (``error``).
        """
        info: dict[str, AmfValue] = {}
        _put(info, "level", level)
        _put(info, "code", code)
        _put(info, "description", description)
        return cls(transaction_id, None, (info,))

    @classmethod
    def connect_rejected(
        cls, description: str = "Connection rejected.", transaction_id: float = 1
    ) -> Self:
        """The ``_error`` that refuses a ``connect``."""
        return cls.with_status(transaction_id, NetConnectionCode.CONNECT_REJECTED, description)
