"""What every typed command shares: the argument checks and the base classes.

Parsing checks what a session relies on and raises
:class:`~rtmp_actors.errors.RemoteProtocolError` otherwise: argument types, names no longer than
``Limits.max_name_length`` bytes (:class:`~rtmp_actors.errors.LimitExceededError`), stream ids
that are whole numbers in 0..2^32-1. It is lenient where real clients are known to be odd:
stream ids such as ``1.0`` become ``int``, FFmpeg's ``play`` start of -2000 is kept as sent,
``null``/``undefined`` in an optional slot means "absent". Transaction ids stay numbers, so
``1 == 1.0`` holds when matching answers to requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import IntFlag, StrEnum
from typing import ClassVar, Final, Self

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import UNDEFINED, AmfValue
from rtmp_actors.protocol.messages import CommandMessage

__all__ = ["MAX_STREAM_ID", "Command", "GenericCommand"]

MAX_STREAM_ID: Final = 0xFFFFFFFF


# --- Validation helpers ------------------------------------------------------------------------


def _absent(value: AmfValue) -> bool:
    return value is None or value is UNDEFINED


def _is_number(value: AmfValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _argument(message: CommandMessage, index: int) -> AmfValue:
    return message.arguments[index] if index < len(message.arguments) else None


def _expect_name(message: CommandMessage, name: str) -> None:
    # The peer's fault, not the caller's: a server reads the first command as a connect, a
    # client an answer as a _result, whatever the peer actually sent.
    if message.name != name:
        msg = f"expected a {name!r} command, got {message.name!r}"
        raise RemoteProtocolError(msg)


def _name(value: AmfValue, what: str, limits: Limits) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise RemoteProtocolError(msg)
    size = len(value.encode("utf-8"))
    if size > limits.max_name_length:
        raise LimitExceededError("max_name_length", size, limits.max_name_length, what)
    return value


def _optional_str(value: AmfValue, what: str) -> str | None:
    if _absent(value):
        return None
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise RemoteProtocolError(msg)
    return value


def _optional_number(value: AmfValue, what: str) -> float | None:
    if _absent(value):
        return None
    if not _is_number(value):
        msg = f"{what} must be a number, got {type(value).__name__}"
        raise RemoteProtocolError(msg)
    return value  # type: ignore[no-any-return]


def _number(value: AmfValue, what: str, default: float) -> float:
    number = _optional_number(value, what)
    return default if number is None else number


def _flag(value: AmfValue, what: str, *, default: bool) -> bool:
    # Booleans, and numbers as ActionScript 2 clients sent them (0 is false).
    if _absent(value):
        return default
    if isinstance(value, bool):
        return value
    if _is_number(value):
        return bool(value)
    msg = f"{what} must be a boolean, got {type(value).__name__}"
    raise RemoteProtocolError(msg)


def _optional_bool(value: AmfValue, what: str) -> bool | None:
    return None if _absent(value) else _flag(value, what, default=False)


def _integer(value: AmfValue, what: str) -> int:
    if not _is_number(value) or not math.isfinite(value) or value != int(value):
        msg = f"{what} must be a whole number, got {value!r}"
        raise RemoteProtocolError(msg)
    return int(value)


def _optional_integer(value: AmfValue, what: str) -> int | None:
    return None if _absent(value) else _integer(value, what)


def _stream_id(value: AmfValue, what: str) -> int:
    stream_id = _integer(value, what)
    if not 0 <= stream_id <= MAX_STREAM_ID:
        msg = f"{what} {stream_id} is outside 0..{MAX_STREAM_ID}"
        raise RemoteProtocolError(msg)
    return stream_id


def _object(value: AmfValue, what: str) -> dict[str, AmfValue]:
    if not isinstance(value, dict):
        msg = f"{what} must be an object, got {type(value).__name__}"
        raise RemoteProtocolError(msg)
    return value


def _optional_object(value: AmfValue, what: str) -> dict[str, AmfValue] | None:
    return None if _absent(value) else _object(value, what)


def _fourcc_list(value: AmfValue, what: str) -> list[str] | None:
    if _absent(value):
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        msg = f"{what} must be an array of strings, got {value!r:.80}"
        raise RemoteProtocolError(msg)
    return list(value)


def _fourcc_map(value: AmfValue, what: str) -> dict[str, int] | None:
    if _absent(value):
        return None
    mapping = _object(value, what)
    return {str(key): _integer(bits, f"{what}[{key!r}]") for key, bits in mapping.items()}


def _put(target: dict[str, AmfValue], key: str, value: AmfValue) -> None:
    # Enum members (StatusLevel, NetStreamCode, CapsEx, ...) go on the wire as plain values.
    if isinstance(value, StrEnum):
        target[key] = str(value)
    elif isinstance(value, IntFlag):
        target[key] = int(value)
    elif value is not None:
        target[key] = value


# --- Base classes ------------------------------------------------------------------------------


class Command:
    """Base class of the typed commands."""

    __slots__ = ()

    name: ClassVar[str]
    """The command name on the wire."""

    transaction_id: float

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the command from a command message.

        Raises:
            RemoteProtocolError: If the message is a different command or its arguments are wrong.
        """
        raise NotImplementedError

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the command message.

        Args:
            amf3: Send as an AMF3 command (type 17) rather than AMF0 (type 20).
        """
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class GenericCommand(Command):
    """A command this module has no type for, passed through as its message.

    Attributes:
        message: The command message as received.
    """

    message: CommandMessage

    @property
    def name(self) -> str:  # type: ignore[override]
        """The command name."""
        return self.message.name

    @property
    def transaction_id(self) -> float:  # type: ignore[override]
        """The transaction id."""
        return self.message.transaction_id

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Wrap any command message."""
        return cls(message)

    def to_message(self, *, amf3: bool | None = None) -> CommandMessage:
        """Return the wrapped message (switched to AMF3 or AMF0 if ``amf3`` is given)."""
        if amf3 is None or amf3 == self.message.amf3:
            return self.message
        return replace(self.message, amf3=amf3)
