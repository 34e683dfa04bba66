"""Typed RTMP commands (NetConnection and NetStream calls and their answers) and data messages.

Each typed command is a frozen dataclass that converts to and from a
:class:`~rtmp_actors.protocol.messages.CommandMessage`: ``Publish.from_message(message)``
parses, ``publish.to_message()`` builds. :func:`parse_command` picks the class by command name
and wraps names it does not know in a :class:`GenericCommand`. ``_result`` and ``_error`` parse
into the generic :class:`Result` and :class:`ErrorResult`, because only the caller knows which
request they answer; :meth:`ConnectResult.from_result` and :meth:`CreateStreamResult.from_result`
then read them as answers to ``connect`` and ``createStream``.

The data messages ``@setDataFrame``, ``@clearDataFrame`` and ``onMetaData`` convert to and from
:class:`~rtmp_actors.protocol.messages.DataMessage` the same way (:func:`parse_data`).

Parsing raises :class:`~rtmp_actors.errors.RemoteProtocolError` (see
:mod:`~rtmp_actors.protocol.commands._base` for what is checked and where it is lenient).

The code is split by family: :mod:`~rtmp_actors.protocol.commands._base` (argument checks and
base classes), :mod:`~rtmp_actors.protocol.commands.status` (status codes, ``onStatus``),
:mod:`~rtmp_actors.protocol.commands.results` (``_result``, ``_error``),
:mod:`~rtmp_actors.protocol.commands.net_connection` (``connect``, ``createStream``, ...),
:mod:`~rtmp_actors.protocol.commands.net_stream` (``publish``, ``play``, ...),
:mod:`~rtmp_actors.protocol.commands.data` (data messages) and
:mod:`~rtmp_actors.protocol.commands.parsing` (:func:`parse_command`). Import from here.
"""

from rtmp_actors.protocol.commands._base import MAX_STREAM_ID as MAX_STREAM_ID
from rtmp_actors.protocol.commands._base import Command, GenericCommand
from rtmp_actors.protocol.commands.data import ClearDataFrame, OnMetaData, SetDataFrame, parse_data
from rtmp_actors.protocol.commands.net_connection import (
    CapsEx,
    CheckBandwidth,
    Connect,
    ConnectResult,
    CreateStream,
    CreateStreamResult,
    FourCcCapability,
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
    PlayMode,
    Publish,
    PublishType,
    ReceiveAudio,
    ReceiveVideo,
    ReleaseStream,
    Seek,
)
from rtmp_actors.protocol.commands.parsing import parse_command
from rtmp_actors.protocol.commands.results import ErrorResult, Result
from rtmp_actors.protocol.commands.status import (
    NetConnectionCode,
    NetStreamCode,
    OnStatus,
    StatusLevel,
)

__all__ = [
    "CapsEx",
    "CheckBandwidth",
    "ClearDataFrame",
    "CloseStream",
    "Command",
    "Connect",
    "ConnectResult",
    "CreateStream",
    "CreateStreamResult",
    "DeleteStream",
    "ErrorResult",
    "FCPublish",
    "FCSubscribe",
    "FCUnpublish",
    "FourCcCapability",
    "GenericCommand",
    "GetStreamLength",
    "NetConnectionCode",
    "NetStreamCode",
    "OnBWDone",
    "OnMetaData",
    "OnStatus",
    "Pause",
    "Play",
    "Play2",
    "PlayMode",
    "Publish",
    "PublishType",
    "ReceiveAudio",
    "ReceiveVideo",
    "ReleaseStream",
    "Result",
    "Seek",
    "SetDataFrame",
    "StatusLevel",
    "parse_command",
    "parse_data",
]
