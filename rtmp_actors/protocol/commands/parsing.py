"""Reading a command message into its typed command (:func:`parse_command`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.commands._base import Command, GenericCommand
from rtmp_actors.protocol.commands.net_connection import (
    CheckBandwidth,
    Connect,
    CreateStream,
    OnBWDone,
)
from rtmp_actors.protocol.commands.net_stream import (
    CloseStream,
    DeleteStream,
    FCPublish,
    FCSubscribe,
    FCUnpublish,
    GetStreamLength,
    Pause,
    Play,
    Play2,
    Publish,
    ReceiveAudio,
    ReceiveVideo,
    ReleaseStream,
    Seek,
)
from rtmp_actors.protocol.commands.results import ErrorResult, Result
from rtmp_actors.protocol.commands.status import OnStatus
from rtmp_actors.protocol.messages import CommandMessage

__all__ = ["parse_command"]

_COMMANDS: Final[Mapping[str, type[Command]]] = {
    cls.name: cls
    for cls in (
        Connect,
        Result,
        ErrorResult,
        OnStatus,
        CreateStream,
        ReleaseStream,
        FCPublish,
        FCUnpublish,
        FCSubscribe,
        GetStreamLength,
        Publish,
        Play,
        Play2,
        Pause,
        Seek,
        CloseStream,
        DeleteStream,
        ReceiveAudio,
        ReceiveVideo,
        OnBWDone,
        CheckBandwidth,
    )
}


def parse_command(message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Command:
    """Read a command message into its typed command.

    ``_result`` and ``_error`` become :class:`Result` and :class:`ErrorResult`; names this module
    has no type for become a :class:`GenericCommand`.

    Args:
        message: The command message.
        limits: ``max_name_length`` bounds app names and stream names.

    Returns:
        The typed command.

    Raises:
        RemoteProtocolError: A known command has missing or wrongly typed arguments.
        LimitExceededError: An app or stream name is longer than ``limits.max_name_length``.
    """
    command_type = _COMMANDS.get(message.name)
    if command_type is None:
        return GenericCommand(message)
    return command_type.from_message(message, limits)
