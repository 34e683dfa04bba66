"""NetConnection calls: ``connect``, ``createStream``, the bandwidth check, and their answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from typing import ClassVar, Final, Self

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands._base import (
    Command,
    _absent,
    _argument,
    _expect_name,
    _fourcc_list,
    _fourcc_map,
    _name,
    _object,
    _optional_bool,
    _optional_integer,
    _optional_number,
    _optional_object,
    _optional_str,
    _put,
    _stream_id,
)
from rtmp_actors.protocol.commands.results import Result
from rtmp_actors.protocol.commands.status import NetConnectionCode, StatusLevel
from rtmp_actors.protocol.messages import CommandMessage

__all__ = [
    "CapsEx",
    "CheckBandwidth",
    "Connect",
    "ConnectResult",
    "CreateStream",
    "CreateStreamResult",
    "FourCcCapability",
    "OnBWDone",
]


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
            RemoteProtocolError: No command object, no ``app`` string, a field of the wrong type, or
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
            RemoteProtocolError: No information object, or a field of the wrong type.
        """
        _expect_name(message, cls.name)
        return cls.from_result(Result.from_message(message, limits))

    @classmethod
    def from_result(cls, result: Result) -> Self:
        """Read a generic :class:`Result` as the answer to a connect.

        Raises:
            RemoteProtocolError: No information object, or a field of the wrong type.
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
            RemoteProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
        """
        _expect_name(message, cls.name)
        return cls.from_result(Result.from_message(message, limits))

    @classmethod
    def from_result(cls, result: Result) -> Self:
        """Read a generic :class:`Result` as the answer to a createStream.

        Raises:
            RemoteProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
        """
        value = result.arguments[0] if result.arguments else None
        return cls(result.transaction_id, _stream_id(value, "createStream _result stream id"))

    def to_message(self, *, amf3: bool = False) -> CommandMessage:
        """Build the ``_result`` message."""
        return CommandMessage(self.name, self.transaction_id, None, (self.stream_id,), amf3)


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
            RemoteProtocolError: The bandwidth is present but not a number.
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
