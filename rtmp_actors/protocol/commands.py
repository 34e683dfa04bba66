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

Parsing checks what a session relies on and raises
:class:`~rtmp_actors.errors.ProtocolError` otherwise: argument types, names no longer than
``Limits.max_name_length`` bytes (:class:`~rtmp_actors.errors.LimitExceededError`), stream ids
that are whole numbers in 0..2^32-1. It is lenient where real clients are known to be odd:
stream ids such as ``1.0`` become ``int``, FFmpeg's ``play`` start of -2000 is kept as sent,
``null``/``undefined`` in an optional slot means "absent". Transaction ids stay numbers, so
``1 == 1.0`` holds when matching answers to requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntFlag, StrEnum
from typing import ClassVar, Final, Self

from rtmp_actors.errors import LimitExceededError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import UNDEFINED, AmfValue
from rtmp_actors.protocol.messages import CommandMessage, DataMessage

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

MAX_STREAM_ID: Final = 0xFFFFFFFF


# --- Constants ---------------------------------------------------------------------------------


class StatusLevel(StrEnum):
    """The ``level`` of an onStatus or ``_error`` information object."""

    STATUS = "status"
    WARNING = "warning"
    ERROR = "error"


class NetConnectionCode(StrEnum):
    """NetConnection status codes."""

    CONNECT_SUCCESS = "NetConnection.Connect.Success"
    CONNECT_REJECTED = "NetConnection.Connect.Rejected"
    CONNECT_FAILED = "NetConnection.Connect.Failed"
    CONNECT_CLOSED = "NetConnection.Connect.Closed"
    CONNECT_INVALID_APP = "NetConnection.Connect.InvalidApp"
    CONNECT_RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"
    """Enhanced RTMP v2: the server asks the client to reconnect (optionally elsewhere)."""
    CALL_FAILED = "NetConnection.Call.Failed"


class NetStreamCode(StrEnum):
    """NetStream status codes."""

    PUBLISH_START = "NetStream.Publish.Start"
    PUBLISH_BAD_NAME = "NetStream.Publish.BadName"
    UNPUBLISH_SUCCESS = "NetStream.Unpublish.Success"
    PLAY_START = "NetStream.Play.Start"
    PLAY_RESET = "NetStream.Play.Reset"
    PLAY_STOP = "NetStream.Play.Stop"
    PLAY_FAILED = "NetStream.Play.Failed"
    PLAY_STREAM_NOT_FOUND = "NetStream.Play.StreamNotFound"
    PLAY_PUBLISH_NOTIFY = "NetStream.Play.PublishNotify"
    PLAY_UNPUBLISH_NOTIFY = "NetStream.Play.UnpublishNotify"
    PAUSE_NOTIFY = "NetStream.Pause.Notify"
    UNPAUSE_NOTIFY = "NetStream.Unpause.Notify"
    SEEK_NOTIFY = "NetStream.Seek.Notify"
    SEEK_FAILED = "NetStream.Seek.Failed"
    DATA_START = "NetStream.Data.Start"
    RECORD_START = "NetStream.Record.Start"
    RECORD_STOP = "NetStream.Record.Stop"
    FAILED = "NetStream.Failed"


class PublishType(StrEnum):
    """The second ``publish`` argument."""

    LIVE = "live"
    RECORD = "record"
    APPEND = "append"


class PlayMode(StrEnum):
    """What a ``play`` start argument asks for (see :attr:`Play.mode`)."""

    ANY = "any"
    """Live if there is such a stream, else recorded (start -2)."""
    LIVE = "live"
    """Only a live stream (start -1)."""
    RECORDED = "recorded"
    """Only a recorded stream, from ``start`` milliseconds (start >= 0)."""


class FourCcCapability(IntFlag):
    """Enhanced RTMP v2 bits in ``videoFourCcInfoMap`` / ``audioFourCcInfoMap`` values."""

    CAN_DECODE = 0x01
    CAN_ENCODE = 0x02
    CAN_FORWARD = 0x04


class CapsEx(IntFlag):
    """Enhanced RTMP v2 ``capsEx`` bits (connect and its ``_result``)."""

    RECONNECT = 0x01
    MULTITRACK = 0x02
    MODEX = 0x04
    TIMESTAMP_NANO_OFFSET = 0x08


# --- Validation helpers ------------------------------------------------------------------------


def _absent(value: AmfValue) -> bool:
    return value is None or value is UNDEFINED


def _is_number(value: AmfValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _argument(message: CommandMessage, index: int) -> AmfValue:
    return message.arguments[index] if index < len(message.arguments) else None


def _expect_name(message: CommandMessage, name: str) -> None:
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
            ProtocolError: If the message is a different command or its arguments are wrong.
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


# --- NetConnection: connect and its answers ---------------------------------------------------

# (attribute, command object key) in the order they are written: FFmpeg's order.
_CONNECT_FIELDS: Final = (
    ("app", "app"),
    ("fourcc_list", "fourCcList"),
    ("video_fourcc_info_map", "videoFourCcInfoMap"),
    ("audio_fourcc_info_map", "audioFourCcInfoMap"),
    ("caps_ex", "capsEx"),
    ("type", "type"),
    ("flash_ver", "flashVer"),
    ("swf_url", "swfUrl"),
    ("tc_url", "tcUrl"),
    ("fpad", "fpad"),
    ("capabilities", "capabilities"),
    ("audio_codecs", "audioCodecs"),
    ("video_codecs", "videoCodecs"),
    ("video_function", "videoFunction"),
    ("page_url", "pageUrl"),
    ("object_encoding", "objectEncoding"),
)
_CONNECT_KEYS: Final = frozenset(key for _, key in _CONNECT_FIELDS)
_ENHANCED_KEYS: Final = ("fourCcList", "videoFourCcInfoMap", "audioFourCcInfoMap", "capsEx")


def _object_encoding(value: AmfValue, what: str) -> int | None:
    encoding = _optional_integer(value, what)
    if encoding not in (None, 0, 3):
        msg = f"{what} must be 0 (AMF0) or 3 (AMF3), got {encoding}"
        raise RemoteProtocolError(msg)
    return encoding


@dataclass(frozen=True, slots=True)
class Connect(Command):
    """``connect``: open a NetConnection to an application.

    Fields left ``None`` are absent from the command object. FFmpeg publishing sends ``app``,
    ``type``, ``flash_ver`` and ``tc_url`` (plus ``fourcc_list`` with
    ``-rtmp_enhanced_codecs``); playing, it sends ``fpad``, ``capabilities``, ``audio_codecs``,
    ``video_codecs`` and ``video_function`` instead of ``type``.

    Attributes:
        app: The application name, as sent (a trailing "/" is kept).
        tc_url: The URL the client connected to (``tcUrl``).
        flash_ver: The client's version string (``flashVer``).
        swf_url: The URL of the calling SWF (``swfUrl``).
        page_url: The URL of the embedding web page (``pageUrl``).
        type: ``"nonprivate"`` from publishing encoders.
        object_encoding: 0 (AMF0) or 3 (AMF3): the encoding the client wants for commands.
        capabilities: Client capabilities bits (15 from FFmpeg).
        audio_codecs: Bitmask of the audio codecs a player supports.
        video_codecs: Bitmask of the video codecs a player supports.
        video_function: Bitmask of special video functions (1: seamless seek).
        fpad: Whether a proxy is used.
        fourcc_list: Enhanced RTMP: FourCCs the client supports (``"*"`` is a wildcard).
        video_fourcc_info_map: Enhanced RTMP v2: FourCC to :class:`FourCcCapability` bits.
        audio_fourcc_info_map: Enhanced RTMP v2: FourCC to :class:`FourCcCapability` bits.
        caps_ex: Enhanced RTMP v2: :class:`CapsEx` bits.
        extra: Any other command object fields.
        arguments: Optional values after the command object (FFmpeg's ``-rtmp_conn``).
        transaction_id: Always 1 from real clients.
    """

    name: ClassVar[str] = "connect"

    app: str
    tc_url: str | None = None
    flash_ver: str | None = None
    swf_url: str | None = None
    page_url: str | None = None
    type: str | None = None
    object_encoding: int | None = None
    capabilities: float | None = None
    audio_codecs: float | None = None
    video_codecs: float | None = None
    video_function: float | None = None
    fpad: bool | None = None
    fourcc_list: list[str] | None = None
    video_fourcc_info_map: dict[str, int] | None = None
    audio_fourcc_info_map: dict[str, int] | None = None
    caps_ex: int | None = None
    extra: dict[str, AmfValue] = field(default_factory=dict)
    arguments: tuple[AmfValue, ...] = ()
    transaction_id: float = 1

    @property
    def amf3(self) -> bool:
        """Whether the client asked for AMF3 (``objectEncoding`` 3)."""
        return self.object_encoding == 3

    @property
    def enhanced(self) -> bool:
        """Whether the client announced any Enhanced RTMP capability."""
        return any(
            value is not None
            for value in (
                self.fourcc_list,
                self.video_fourcc_info_map,
                self.audio_fourcc_info_map,
                self.caps_ex,
            )
        )

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``connect`` message.

        Raises:
            ProtocolError: No command object, no ``app`` string, a field of the wrong type, or
                ``objectEncoding`` other than 0 or 3.
            LimitExceededError: ``app`` is longer than ``limits.max_name_length`` bytes.
        """
        _expect_name(message, cls.name)
        if _absent(message.command_object):
            msg = "connect has no command object"
            raise RemoteProtocolError(msg)
        obj = _object(message.command_object, "connect command object")
        if "app" not in obj:
            msg = "connect command object has no app"
            raise RemoteProtocolError(msg)
        return cls(
            app=_name(obj["app"], "connect app name", limits),
            tc_url=_optional_str(obj.get("tcUrl"), "connect tcUrl"),
            flash_ver=_optional_str(obj.get("flashVer"), "connect flashVer"),
            swf_url=_optional_str(obj.get("swfUrl"), "connect swfUrl"),
            page_url=_optional_str(obj.get("pageUrl"), "connect pageUrl"),
            type=_optional_str(obj.get("type"), "connect type"),
            object_encoding=_object_encoding(obj.get("objectEncoding"), "connect objectEncoding"),
            capabilities=_optional_number(obj.get("capabilities"), "connect capabilities"),
            audio_codecs=_optional_number(obj.get("audioCodecs"), "connect audioCodecs"),
            video_codecs=_optional_number(obj.get("videoCodecs"), "connect videoCodecs"),
            video_function=_optional_number(obj.get("videoFunction"), "connect videoFunction"),
            fpad=_optional_bool(obj.get("fpad"), "connect fpad"),
            fourcc_list=_fourcc_list(obj.get("fourCcList"), "connect fourCcList"),
            video_fourcc_info_map=_fourcc_map(
                obj.get("videoFourCcInfoMap"), "connect videoFourCcInfoMap"
            ),
            audio_fourcc_info_map=_fourcc_map(
                obj.get("audioFourCcInfoMap"), "connect audioFourCcInfoMap"
            ),
            caps_ex=_optional_integer(obj.get("capsEx"), "connect capsEx"),
            extra={key: value for key, value in obj.items() if key not in _CONNECT_KEYS},
            arguments=message.arguments,
            transaction_id=message.transaction_id,
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``connect`` message (fields that are None are left out)."""
        obj: dict[str, AmfValue] = {}
        for attribute, key in _CONNECT_FIELDS:
            _put(obj, key, getattr(self, attribute))
        obj.update(self.extra)
        return CommandMessage(self.name, self.transaction_id, obj, self.arguments, amf3)


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


@dataclass(frozen=True, slots=True)
class ConnectResult(Command):
    """The ``_result`` that accepts a ``connect``.

    On the wire: ``_result``, the transaction id, a properties object (``fmsVer``,
    ``capabilities``, ...) and an information object (``level``, ``code``, ``description``,
    ``objectEncoding``). A server speaking Enhanced RTMP echoes its own ``fourCcList``,
    info maps and ``capsEx``; they are written into the information object and read from
    there or, failing that, from the properties.

    Attributes:
        transaction_id: The connect's transaction id (1).
        fms_version: ``fmsVer``, the server version string.
        capabilities: Server capabilities bits.
        level: The information level (``status``).
        code: The status code (``NetConnection.Connect.Success``).
        description: Text for humans.
        object_encoding: The encoding the server will use for commands: 0 or 3.
        fourcc_list: Enhanced RTMP FourCCs the server supports.
        video_fourcc_info_map: Enhanced RTMP v2 video FourCC capability bits.
        audio_fourcc_info_map: Enhanced RTMP v2 audio FourCC capability bits.
        caps_ex: Enhanced RTMP v2 :class:`CapsEx` bits.
        extra_properties: Any other properties fields.
        extra_information: Any other information fields.
    """

    name: ClassVar[str] = "_result"

    transaction_id: float = 1
    fms_version: str | None = "FMS/3,0,1,123"
    capabilities: float | None = 31
    level: str | None = StatusLevel.STATUS.value
    code: str | None = NetConnectionCode.CONNECT_SUCCESS.value
    description: str | None = "Connection succeeded."
    object_encoding: int | None = 0
    fourcc_list: list[str] | None = None
    video_fourcc_info_map: dict[str, int] | None = None
    audio_fourcc_info_map: dict[str, int] | None = None
    caps_ex: int | None = None
    extra_properties: dict[str, AmfValue] = field(default_factory=dict)
    extra_information: dict[str, AmfValue] = field(default_factory=dict)

    @classmethod
    def success(
        cls,
        *,
        transaction_id: float = 1,
        object_encoding: int = 0,
        description: str = "Connection succeeded.",
        fourcc_list: list[str] | None = None,
        video_fourcc_info_map: dict[str, int] | None = None,
        audio_fourcc_info_map: dict[str, int] | None = None,
        caps_ex: int | None = None,
    ) -> Self:
        """Accept a connect.

        Args:
            transaction_id: The connect's transaction id.
            object_encoding: Echo the client's ``objectEncoding`` (0 when it sent none).
            description: Text for humans.
            fourcc_list: Enhanced RTMP FourCCs to announce, if any.
            video_fourcc_info_map: Enhanced RTMP v2 video capabilities to announce, if any.
            audio_fourcc_info_map: Enhanced RTMP v2 audio capabilities to announce, if any.
            caps_ex: Enhanced RTMP v2 :class:`CapsEx` bits to announce, if any.
        """
        return cls(
            transaction_id=transaction_id,
            object_encoding=object_encoding,
            description=description,
            fourcc_list=fourcc_list,
            video_fourcc_info_map=video_fourcc_info_map,
            audio_fourcc_info_map=audio_fourcc_info_map,
            caps_ex=None if caps_ex is None else int(caps_ex),
        )

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the ``_result`` of a connect.

        Raises:
            ProtocolError: No information object, or a field of the wrong type.
        """
        _expect_name(message, cls.name)
        return cls.from_result(Result.from_message(message, limits))

    @classmethod
    def from_result(cls, result: Result) -> Self:
        """Read a generic :class:`Result` as the answer to a connect.

        Raises:
            ProtocolError: No information object, or a field of the wrong type.
        """
        properties = _optional_object(result.command_object, "connect _result properties") or {}
        if result.information is None:
            msg = "connect _result has no information object"
            raise RemoteProtocolError(msg)
        info = result.information

        def enhanced(key: str) -> AmfValue:
            return info[key] if key in info else properties.get(key)

        what = "connect _result"
        return cls(
            transaction_id=result.transaction_id,
            fms_version=_optional_str(properties.get("fmsVer"), f"{what} fmsVer"),
            capabilities=_optional_number(properties.get("capabilities"), f"{what} capabilities"),
            level=_optional_str(info.get("level"), f"{what} level"),
            code=_optional_str(info.get("code"), f"{what} code"),
            description=_optional_str(info.get("description"), f"{what} description"),
            object_encoding=_object_encoding(info.get("objectEncoding"), f"{what} objectEncoding"),
            fourcc_list=_fourcc_list(enhanced("fourCcList"), f"{what} fourCcList"),
            video_fourcc_info_map=_fourcc_map(
                enhanced("videoFourCcInfoMap"), f"{what} videoFourCcInfoMap"
            ),
            audio_fourcc_info_map=_fourcc_map(
                enhanced("audioFourCcInfoMap"), f"{what} audioFourCcInfoMap"
            ),
            caps_ex=_optional_integer(enhanced("capsEx"), f"{what} capsEx"),
            extra_properties={
                key: value
                for key, value in properties.items()
                if key not in {"fmsVer", "capabilities", *_ENHANCED_KEYS}
            },
            extra_information={
                key: value
                for key, value in info.items()
                if key not in {"level", "code", "description", "objectEncoding", *_ENHANCED_KEYS}
            },
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``_result`` message."""
        properties: dict[str, AmfValue] = {}
        _put(properties, "fmsVer", self.fms_version)
        _put(properties, "capabilities", self.capabilities)
        properties.update(self.extra_properties)
        info: dict[str, AmfValue] = {}
        _put(info, "level", self.level)
        _put(info, "code", self.code)
        _put(info, "description", self.description)
        _put(info, "objectEncoding", self.object_encoding)
        _put(info, "fourCcList", self.fourcc_list)
        _put(info, "videoFourCcInfoMap", self.video_fourcc_info_map)
        _put(info, "audioFourCcInfoMap", self.audio_fourcc_info_map)
        _put(info, "capsEx", self.caps_ex)
        info.update(self.extra_information)
        return CommandMessage(self.name, self.transaction_id, properties, (info,), amf3)


@dataclass(frozen=True, slots=True)
class CreateStream(Command):
    """``createStream``: ask for a new message stream (answered by :class:`CreateStreamResult`).

    Attributes:
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "createStream"

    transaction_id: float

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``createStream`` message."""
        _expect_name(message, cls.name)
        return cls(message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``createStream`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (), amf3)


@dataclass(frozen=True, slots=True)
class CreateStreamResult(Command):
    """The ``_result`` of a ``createStream``: the new stream id is the 4th AMF value.

    Attributes:
        transaction_id: The createStream's transaction id.
        stream_id: The new message stream id.
    """

    name: ClassVar[str] = "_result"

    transaction_id: float
    stream_id: int

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the ``_result`` of a createStream.

        Raises:
            ProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
        """
        _expect_name(message, cls.name)
        return cls.from_result(Result.from_message(message, limits))

    @classmethod
    def from_result(cls, result: Result) -> Self:
        """Read a generic :class:`Result` as the answer to a createStream.

        Raises:
            ProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
        """
        value = result.arguments[0] if result.arguments else None
        return cls(result.transaction_id, _stream_id(value, "createStream _result stream id"))

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``_result`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.stream_id,), amf3)


@dataclass(frozen=True, slots=True)
class OnStatus(Command):
    """``onStatus``: a NetConnection or NetStream status event.

    On the wire: ``onStatus``, transaction id 0, null, and an information object holding
    ``level``, ``code``, ``description`` and any extra fields (``details``, ``tcUrl``, ...).

    Attributes:
        code: The status code (see :class:`NetStreamCode` and :class:`NetConnectionCode`).
        level: ``status``, ``warning`` or ``error`` (None when absent).
        description: Text for humans (None when absent).
        extra: The other information fields.
        transaction_id: 0.
    """

    name: ClassVar[str] = "onStatus"

    code: str
    level: str | None = StatusLevel.STATUS.value
    description: str | None = None
    extra: dict[str, AmfValue] = field(default_factory=dict)
    transaction_id: float = 0

    @property
    def is_error(self) -> bool:
        """Whether the level is ``error``."""
        return self.level == StatusLevel.ERROR

    @classmethod
    def _stream(cls, code: str, description: str, stream_key: str, level: str) -> Self:
        return cls(str(code), level, description, {"details": stream_key})

    @classmethod
    def publish_start(cls, stream_key: str) -> Self:
        """``NetStream.Publish.Start``: publishing may begin."""
        return cls._stream(
            NetStreamCode.PUBLISH_START, f"{stream_key} is now published.", stream_key, "status"
        )

    @classmethod
    def publish_bad_name(cls, stream_key: str) -> Self:
        """``NetStream.Publish.BadName``: the name is already published or not allowed."""
        return cls._stream(
            NetStreamCode.PUBLISH_BAD_NAME, f"{stream_key} is not available.", stream_key, "error"
        )

    @classmethod
    def unpublish_success(cls, stream_key: str) -> Self:
        """``NetStream.Unpublish.Success``: publishing stopped."""
        return cls._stream(
            NetStreamCode.UNPUBLISH_SUCCESS,
            f"{stream_key} is now unpublished.",
            stream_key,
            "status",
        )

    @classmethod
    def play_reset(cls, stream_key: str) -> Self:
        """``NetStream.Play.Reset``: the playlist was reset (sent before Play.Start)."""
        return cls._stream(
            NetStreamCode.PLAY_RESET, f"Playing and resetting {stream_key}.", stream_key, "status"
        )

    @classmethod
    def play_start(cls, stream_key: str) -> Self:
        """``NetStream.Play.Start``: playback begins."""
        return cls._stream(
            NetStreamCode.PLAY_START, f"Started playing {stream_key}.", stream_key, "status"
        )

    @classmethod
    def play_stop(cls, stream_key: str) -> Self:
        """``NetStream.Play.Stop``: playback ended."""
        return cls._stream(
            NetStreamCode.PLAY_STOP, f"Stopped playing {stream_key}.", stream_key, "status"
        )

    @classmethod
    def play_stream_not_found(cls, stream_key: str) -> Self:
        """``NetStream.Play.StreamNotFound``: nothing to play under that name."""
        return cls._stream(
            NetStreamCode.PLAY_STREAM_NOT_FOUND, f"{stream_key} not found.", stream_key, "error"
        )

    @classmethod
    def play_publish_notify(cls, stream_key: str) -> Self:
        """``NetStream.Play.PublishNotify``: a publisher started on the stream being played."""
        return cls._stream(
            NetStreamCode.PLAY_PUBLISH_NOTIFY,
            f"{stream_key} is now published.",
            stream_key,
            "status",
        )

    @classmethod
    def play_unpublish_notify(cls, stream_key: str) -> Self:
        """``NetStream.Play.UnpublishNotify``: the publisher of the stream being played left."""
        return cls._stream(
            NetStreamCode.PLAY_UNPUBLISH_NOTIFY,
            f"{stream_key} is now unpublished.",
            stream_key,
            "status",
        )

    @classmethod
    def pause_notify(cls, stream_key: str) -> Self:
        """``NetStream.Pause.Notify``: playback paused."""
        return cls._stream(
            NetStreamCode.PAUSE_NOTIFY, f"Paused {stream_key}.", stream_key, "status"
        )

    @classmethod
    def unpause_notify(cls, stream_key: str) -> Self:
        """``NetStream.Unpause.Notify``: playback resumed."""
        return cls._stream(
            NetStreamCode.UNPAUSE_NOTIFY, f"Unpaused {stream_key}.", stream_key, "status"
        )

    @classmethod
    def seek_notify(cls, stream_key: str, milliseconds: float) -> Self:
        """``NetStream.Seek.Notify``: playback moved to ``milliseconds``."""
        return cls._stream(
            NetStreamCode.SEEK_NOTIFY,
            f"Seeking {stream_key} to {milliseconds:g} ms.",
            stream_key,
            "status",
        )

    @classmethod
    def reconnect_request(cls, tc_url: str | None = None, description: str | None = None) -> Self:
        """Enhanced RTMP v2 ``NetConnection.Connect.ReconnectRequest`` (on stream 0).

        Args:
            tc_url: Where to reconnect: absolute, or relative to the current URL; None means
                the same server.
            description: Text for humans.
        """
        extra: dict[str, AmfValue] = {} if tc_url is None else {"tcUrl": tc_url}
        return cls(str(NetConnectionCode.CONNECT_RECONNECT_REQUEST), "status", description, extra)

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read an ``onStatus`` message.

        Raises:
            ProtocolError: No information object, or no ``code`` string in it.
        """
        _expect_name(message, cls.name)
        info = _object(_argument(message, 0), "onStatus information")
        code = info.get("code")
        if not isinstance(code, str):
            msg = f"onStatus information has no code string (got {code!r:.80})"
            raise RemoteProtocolError(msg)
        return cls(
            code=code,
            level=_optional_str(info.get("level"), "onStatus level"),
            description=_optional_str(info.get("description"), "onStatus description"),
            extra={k: v for k, v in info.items() if k not in {"level", "code", "description"}},
            transaction_id=message.transaction_id,
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``onStatus`` message."""
        info: dict[str, AmfValue] = {}
        _put(info, "level", self.level)
        _put(info, "code", self.code)
        _put(info, "description", self.description)
        info.update(self.extra)
        return CommandMessage(self.name, self.transaction_id, None, (info,), amf3)


# --- Commands that name a stream -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StreamNameCommand(Command):
    stream_name: str
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the message.

        Raises:
            ProtocolError: The stream name is missing or not a string.
            LimitExceededError: The stream name is longer than ``limits.max_name_length`` bytes.
        """
        _expect_name(message, cls.name)
        stream_name = _name(_argument(message, 0), f"{cls.name} stream name", limits)
        return cls(stream_name, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.stream_name,), amf3)


@dataclass(frozen=True, slots=True)
class ReleaseStream(_StreamNameCommand):
    """``releaseStream``: a publisher (FFmpeg, OBS) asks to free a stream name before publishing.

    Attributes:
        stream_name: The stream key.
        transaction_id: The request's transaction id (FFmpeg does not wait for the answer).
    """

    name: ClassVar[str] = "releaseStream"


@dataclass(frozen=True, slots=True)
class FCPublish(_StreamNameCommand):
    """``FCPublish``: a publisher announces the stream it is about to publish.

    Attributes:
        stream_name: The stream key.
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "FCPublish"


@dataclass(frozen=True, slots=True)
class FCUnpublish(_StreamNameCommand):
    """``FCUnpublish``: a publisher announces it stops publishing.

    Attributes:
        stream_name: The stream key.
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "FCUnpublish"


@dataclass(frozen=True, slots=True)
class FCSubscribe(_StreamNameCommand):
    """``FCSubscribe``: a player asks for a live stream (FFmpeg with ``-rtmp_live live``).

    Attributes:
        stream_name: The stream key.
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "FCSubscribe"


@dataclass(frozen=True, slots=True)
class GetStreamLength(_StreamNameCommand):
    """``getStreamLength``: a player asks for the duration of a stream before playing it.

    Attributes:
        stream_name: The stream key.
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "getStreamLength"


@dataclass(frozen=True, slots=True)
class Publish(Command):
    """``publish``: start publishing on the message stream the command arrives on.

    Attributes:
        stream_name: The stream key (any query string is kept).
        publish_type: ``live``, ``record`` or ``append`` (see :class:`PublishType`); ``live``
            when the client sent none. Other strings are kept for the session to judge.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "publish"

    stream_name: str
    publish_type: str = PublishType.LIVE.value
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``publish`` message.

        Raises:
            ProtocolError: The stream name or publish type is not a string.
            LimitExceededError: The stream name is longer than ``limits.max_name_length`` bytes.
        """
        _expect_name(message, cls.name)
        stream_name = _name(_argument(message, 0), "publish stream name", limits)
        publish_type = _optional_str(_argument(message, 1), "publish type")
        if publish_type is None:
            publish_type = PublishType.LIVE.value
        return cls(stream_name, publish_type, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``publish`` message."""
        arguments = (self.stream_name, self.publish_type)
        return CommandMessage(self.name, self.transaction_id, None, arguments, amf3)


@dataclass(frozen=True, slots=True)
class Play(Command):
    """``play``: start playing a stream on the message stream the command arrives on.

    Attributes:
        stream_name: The stream key.
        start: -2 (live, else recorded), -1 (live only) or a position in ms in a recording.
            Kept as sent: FFmpeg multiplies its ``-rtmp_live`` value by 1000 (-2000 by
            default); :attr:`mode` interprets both forms.
        duration: Milliseconds to play; -1 for all.
        reset: Whether to flush any previous playlist.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "play"

    stream_name: str
    start: float = -2
    duration: float = -1
    reset: bool = True
    transaction_id: float = 0

    @property
    def mode(self) -> PlayMode:
        """What ``start`` asks for, accepting FFmpeg's -1000 for live and -2000 for any."""
        if self.start in (-1, -1000):
            return PlayMode.LIVE
        if self.start < 0:
            return PlayMode.ANY
        return PlayMode.RECORDED

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``play`` message; missing optional arguments take their defaults.

        Raises:
            ProtocolError: The stream name is not a string, or start/duration not numbers.
            LimitExceededError: The stream name is longer than ``limits.max_name_length`` bytes.
        """
        _expect_name(message, cls.name)
        return cls(
            stream_name=_name(_argument(message, 0), "play stream name", limits),
            start=_number(_argument(message, 1), "play start", -2),
            duration=_number(_argument(message, 2), "play duration", -1),
            reset=_flag(_argument(message, 3), "play reset", default=True),
            transaction_id=message.transaction_id,
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``play`` message."""
        arguments = (self.stream_name, self.start, self.duration, self.reset)
        return CommandMessage(self.name, self.transaction_id, None, arguments, amf3)


@dataclass(frozen=True, slots=True)
class Play2(Command):
    """``play2``: switch streams during playback (dynamic streaming).

    Attributes:
        parameters: The NetStreamPlayOptions object (``streamName``, ``oldStreamName``,
            ``start``, ``len``, ``offset``, ``transition``).
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "play2"

    parameters: dict[str, AmfValue]
    transaction_id: float = 0

    @property
    def stream_name(self) -> str | None:
        """The ``streamName`` parameter, if it is a string."""
        value = self.parameters.get("streamName")
        return value if isinstance(value, str) else None

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``play2`` message.

        Raises:
            ProtocolError: The parameters are not an object, or ``streamName`` not a string.
            LimitExceededError: ``streamName`` is longer than ``limits.max_name_length`` bytes.
        """
        _expect_name(message, cls.name)
        parameters = _object(_argument(message, 0), "play2 parameters")
        if "streamName" in parameters:
            _name(parameters["streamName"], "play2 streamName", limits)
        return cls(parameters, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``play2`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.parameters,), amf3)


@dataclass(frozen=True, slots=True)
class Pause(Command):
    """``pause``: pause or resume playback.

    Attributes:
        pause: True to pause, False to resume.
        milliseconds: The stream time at which the client paused or resumes.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "pause"

    pause: bool
    milliseconds: float = 0
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``pause`` message.

        Raises:
            ProtocolError: The flag is missing or not a boolean, or the time not a number.
        """
        _expect_name(message, cls.name)
        if _absent(_argument(message, 0)):
            msg = "pause has no pause flag"
            raise RemoteProtocolError(msg)
        return cls(
            _flag(_argument(message, 0), "pause flag", default=True),
            _number(_argument(message, 1), "pause milliseconds", 0),
            message.transaction_id,
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``pause`` message."""
        arguments = (self.pause, self.milliseconds)
        return CommandMessage(self.name, self.transaction_id, None, arguments, amf3)


@dataclass(frozen=True, slots=True)
class Seek(Command):
    """``seek``: move playback to a stream time.

    Attributes:
        milliseconds: The target stream time.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "seek"

    milliseconds: float
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``seek`` message.

        Raises:
            ProtocolError: The time is missing or not a number.
        """
        _expect_name(message, cls.name)
        milliseconds = _optional_number(_argument(message, 0), "seek milliseconds")
        if milliseconds is None:
            msg = "seek has no time"
            raise RemoteProtocolError(msg)
        return cls(milliseconds, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``seek`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.milliseconds,), amf3)


@dataclass(frozen=True, slots=True)
class CloseStream(Command):
    """``closeStream``: stop publishing or playing on the message stream it arrives on.

    Attributes:
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "closeStream"

    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``closeStream`` message."""
        _expect_name(message, cls.name)
        return cls(message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``closeStream`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (), amf3)


@dataclass(frozen=True, slots=True)
class DeleteStream(Command):
    """``deleteStream``: destroy a message stream (sent on stream 0).

    Attributes:
        stream_id: The message stream to delete (clients send it as a double, e.g. 1.0).
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "deleteStream"

    stream_id: int
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``deleteStream`` message.

        Raises:
            ProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
        """
        _expect_name(message, cls.name)
        stream_id = _stream_id(_argument(message, 0), "deleteStream stream id")
        return cls(stream_id, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``deleteStream`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.stream_id,), amf3)


@dataclass(frozen=True, slots=True)
class _FlagCommand(Command):
    enabled: bool
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the message.

        Raises:
            ProtocolError: The flag is missing or not a boolean.
        """
        _expect_name(message, cls.name)
        if _absent(_argument(message, 0)):
            msg = f"{cls.name} has no flag"
            raise RemoteProtocolError(msg)
        return cls(
            _flag(_argument(message, 0), f"{cls.name} flag", default=True), message.transaction_id
        )

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.enabled,), amf3)


@dataclass(frozen=True, slots=True)
class ReceiveAudio(_FlagCommand):
    """``receiveAudio``: a player turns audio on or off.

    Attributes:
        enabled: Whether the player wants audio.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "receiveAudio"


@dataclass(frozen=True, slots=True)
class ReceiveVideo(_FlagCommand):
    """``receiveVideo``: a player turns video on or off.

    Attributes:
        enabled: Whether the player wants video.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "receiveVideo"


@dataclass(frozen=True, slots=True)
class OnBWDone(Command):
    """``onBWDone``: the server's bandwidth check finished (FFmpeg answers with ``_checkbw``).

    Attributes:
        bandwidth: An optional bandwidth figure after the null command object.
        transaction_id: Usually 0.
    """

    name: ClassVar[str] = "onBWDone"

    bandwidth: float | None = None
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read an ``onBWDone`` message.

        Raises:
            ProtocolError: The bandwidth is present but not a number.
        """
        _expect_name(message, cls.name)
        bandwidth = _optional_number(_argument(message, 0), "onBWDone bandwidth")
        return cls(bandwidth, message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``onBWDone`` message."""
        arguments = () if self.bandwidth is None else (self.bandwidth,)
        return CommandMessage(self.name, self.transaction_id, None, arguments, amf3)


@dataclass(frozen=True, slots=True)
class CheckBandwidth(Command):
    """``_checkbw``: FFmpeg's answer to ``onBWDone``; servers may ignore it.

    Attributes:
        transaction_id: The request's transaction id.
    """

    name: ClassVar[str] = "_checkbw"

    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read a ``_checkbw`` message."""
        _expect_name(message, cls.name)
        return cls(message.transaction_id)

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``_checkbw`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (), amf3)


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
        ProtocolError: A known command has missing or wrongly typed arguments.
        LimitExceededError: An app or stream name is longer than ``limits.max_name_length``.
    """
    command_type = _COMMANDS.get(message.name)
    if command_type is None:
        return GenericCommand(message)
    return command_type.from_message(message, limits)


# --- Data messages -----------------------------------------------------------------------------


def _data_name(message: DataMessage, name: str) -> None:
    if message.name != name:
        msg = f"expected a {name!r} data message, got {message.name!r}"
        raise RemoteProtocolError(msg)


def _data_value(message: DataMessage, index: int) -> AmfValue:
    return message.values[index] if index < len(message.values) else None


@dataclass(frozen=True, slots=True)
class SetDataFrame:
    """``@setDataFrame``: a publisher sets the metadata the server keeps for a stream.

    Attributes:
        metadata: The metadata (an :class:`~rtmp_actors.protocol.amf.EcmaArray` from FFmpeg
            and OBS, sometimes a plain object).
        handler: The handler players receive it under: ``onMetaData``.
    """

    name: ClassVar[str] = "@setDataFrame"

    metadata: dict[str, AmfValue]
    handler: str = "onMetaData"

    def on_metadata(self) -> OnMetaData:
        """The ``onMetaData`` message a server relays to players."""
        return OnMetaData(self.metadata)

    @classmethod
    def from_message(cls, message: DataMessage) -> Self:
        """Read an ``@setDataFrame`` data message.

        Raises:
            ProtocolError: The handler name is not a string or the metadata not an object.
        """
        _data_name(message, cls.name)
        handler = _data_value(message, 1)
        if not isinstance(handler, str):
            msg = f"@setDataFrame handler must be a string, got {type(handler).__name__}"
            raise RemoteProtocolError(msg)
        return cls(_object(_data_value(message, 2), "@setDataFrame metadata"), handler)

    def to_message(self, *, amf3: bool = False) -> DataMessage:
        """Build the data message (type 18, or 15 when ``amf3``)."""
        return DataMessage((self.name, self.handler, self.metadata), amf3)


@dataclass(frozen=True, slots=True)
class ClearDataFrame:
    """``@clearDataFrame``: a publisher clears the metadata the server keeps for a stream.

    Attributes:
        handler: The handler whose data is cleared: ``onMetaData``.
    """

    name: ClassVar[str] = "@clearDataFrame"

    handler: str = "onMetaData"

    @classmethod
    def from_message(cls, message: DataMessage) -> Self:
        """Read an ``@clearDataFrame`` data message (the handler defaults to onMetaData).

        Raises:
            ProtocolError: The handler name is not a string.
        """
        _data_name(message, cls.name)
        handler = _optional_str(_data_value(message, 1), "@clearDataFrame handler")
        return cls("onMetaData" if handler is None else handler)

    def to_message(self, *, amf3: bool = False) -> DataMessage:
        """Build the data message (type 18, or 15 when ``amf3``)."""
        return DataMessage((self.name, self.handler), amf3)


@dataclass(frozen=True, slots=True)
class OnMetaData:
    """``onMetaData``: stream metadata as players receive it.

    Attributes:
        metadata: The metadata (duration, width, height, videocodecid, ...).
    """

    name: ClassVar[str] = "onMetaData"

    metadata: dict[str, AmfValue]

    @classmethod
    def from_message(cls, message: DataMessage) -> Self:
        """Read an ``onMetaData`` data message.

        Raises:
            ProtocolError: The metadata is not an object.
        """
        _data_name(message, cls.name)
        return cls(_object(_data_value(message, 1), "onMetaData metadata"))

    def to_message(self, *, amf3: bool = False) -> DataMessage:
        """Build the data message (type 18, or 15 when ``amf3``)."""
        return DataMessage((self.name, self.metadata), amf3)


_DATA: Final[Mapping[str, type[SetDataFrame | ClearDataFrame | OnMetaData]]] = {
    cls.name: cls for cls in (SetDataFrame, ClearDataFrame, OnMetaData)
}


def parse_data(message: DataMessage) -> SetDataFrame | ClearDataFrame | OnMetaData | DataMessage:
    """Read a data message into its typed form; other data messages come back unchanged.

    Raises:
        ProtocolError: A known data message has a wrongly typed value.
    """
    data_type = _DATA.get(message.name or "")
    return message if data_type is None else data_type.from_message(message)
