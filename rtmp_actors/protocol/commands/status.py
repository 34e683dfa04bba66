"""Status codes, and ``onStatus``: the event reporting a NetConnection's or NetStream's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Self

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands._base import (
    Command,
    _argument,
    _expect_name,
    _object,
    _optional_str,
    _put,
)
from rtmp_actors.protocol.messages import CommandMessage

__all__ = ["NetConnectionCode", "NetStreamCode", "OnStatus", "StatusLevel"]


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
            RemoteProtocolError: No information object, or no ``code`` string in it.
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
