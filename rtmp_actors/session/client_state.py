"""Where a client session's NetConnection stands, and what the server said about itself.

Both are importable from :mod:`rtmp_actors.session.client` as well.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rtmp_actors.protocol.commands import ConnectResult

__all__ = ["ClientState", "ServerCapabilities"]


class ClientState(enum.Enum):
    """Where the session's NetConnection stands."""

    IDLE = "idle"
    """``request_connection`` has not been called."""
    CONNECTING = "connecting"
    """``connect`` was sent; no answer yet."""
    CONNECTED = "connected"
    """The server accepted ``connect``."""
    REFUSED = "refused"
    """The server refused ``connect``."""
    CLOSING = "closing"
    """:meth:`~rtmp_actors.session.client.ClientSession.close` was called; waiting for the end."""
    DISCONNECTED = "disconnected"
    """The connection ended; the session does nothing more."""


@dataclass(frozen=True, slots=True)
class ServerCapabilities:
    """What the server said about itself when it accepted ``connect``.

    Attributes:
        fms_version: ``fmsVer`` (``"FMS/3,0,1,123"``...), if sent.
        capabilities: The server's ``capabilities`` bits, if sent.
        object_encoding: The ``objectEncoding`` the server will use, if sent.
        fourcc_list: Enhanced RTMP FourCCs the server supports; None when it announced none.
        video_fourcc_info_map: Enhanced RTMP v2 video FourCC capability bits, if announced.
        audio_fourcc_info_map: Enhanced RTMP v2 audio FourCC capability bits, if announced.
        caps_ex: Enhanced RTMP v2 ``capsEx`` bits (see
            :class:`~rtmp_actors.protocol.commands.CapsEx`), if announced.
    """

    fms_version: str | None = None
    capabilities: float | None = None
    object_encoding: int | None = None
    fourcc_list: tuple[str, ...] | None = None
    video_fourcc_info_map: Mapping[str, int] | None = None
    audio_fourcc_info_map: Mapping[str, int] | None = None
    caps_ex: int | None = None

    @property
    def enhanced(self) -> bool:
        """Whether the server announced any Enhanced RTMP capability."""
        # The same test as Connect.enhanced, on the answer's fields: ConnectResult has no
        # such property to ask.
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
    def from_connect_result(cls, result: ConnectResult) -> ServerCapabilities:
        """Take the capabilities out of a parsed connect ``_result``."""

        def frozen(mapping: dict[str, int] | None) -> Mapping[str, int] | None:
            return None if mapping is None else MappingProxyType(dict(mapping))

        return cls(
            fms_version=result.fms_version,
            capabilities=result.capabilities,
            object_encoding=result.object_encoding,
            fourcc_list=None if result.fourcc_list is None else tuple(result.fourcc_list),
            video_fourcc_info_map=frozen(result.video_fourcc_info_map),
            audio_fourcc_info_map=frozen(result.audio_fourcc_info_map),
            caps_ex=result.caps_ex,
        )
