"""NetStream calls: publishing, playing and controlling playback on a message stream.

Also the calls that only name a stream (``releaseStream``, ``FCPublish``, ``FCUnpublish``,
``FCSubscribe``, ``getStreamLength``), which FFmpeg and OBS send around ``publish`` and
``play``, and ``deleteStream``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Self

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands._base import (
    Command,
    _absent,
    _argument,
    _expect_name,
    _flag,
    _name,
    _number,
    _object,
    _optional_number,
    _optional_str,
    _stream_id,
)
from rtmp_actors.protocol.messages import CommandMessage

__all__ = [
    "CloseStream",
    "DeleteStream",
    "FCPublish",
    "FCSubscribe",
    "FCUnpublish",
    "GetStreamLength",
    "Pause",
    "Play",
    "Play2",
    "PlayMode",
    "Publish",
    "PublishType",
    "ReceiveAudio",
    "ReceiveVideo",
    "ReleaseStream",
    "Seek",
]


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


# --- Commands that name a stream -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StreamNameCommand(Command):
    stream_name: str
    transaction_id: float = 0

    @classmethod
    def from_message(cls, message: CommandMessage, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Read the message.

        Raises:
            RemoteProtocolError: The stream name is missing or not a string.
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
            RemoteProtocolError: The stream name or publish type is not a string.
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
            RemoteProtocolError: The stream name is not a string, or start/duration not numbers.
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
            RemoteProtocolError: The parameters are not an object, or ``streamName`` not a string.
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
            RemoteProtocolError: The flag is missing or not a boolean, or the time not a number.
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
            RemoteProtocolError: The time is missing or not a number.
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
            RemoteProtocolError: The stream id is missing or not a whole number in 0..2^32-1.
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
            RemoteProtocolError: The flag is missing or not a boolean.
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
