"""The data messages ``@setDataFrame``, ``@clearDataFrame`` and ``onMetaData``.

They convert to and from :class:`~rtmp_actors.protocol.messages.DataMessage` as the commands do
to and from command messages; :func:`parse_data` picks the class by handler name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Self

from rtmp_actors.errors import RemoteProtocolError
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands._base import _object, _optional_str
from rtmp_actors.protocol.messages import DataMessage

__all__ = ["ClearDataFrame", "OnMetaData", "SetDataFrame", "parse_data"]


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
            RemoteProtocolError: The handler name is not a string or the metadata not an object.
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
            RemoteProtocolError: The handler name is not a string.
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
            RemoteProtocolError: The metadata is not an object.
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
        RemoteProtocolError: A known data message has a wrongly typed value.
    """
    data_type = _DATA.get(message.name or "")
    return message if data_type is None else data_type.from_message(message)
