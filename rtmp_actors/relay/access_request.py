"""What a client asks to do with a stream, as access checks and hooks see it.

Its own module so that what decides (the access file and callback, IP rules, hooks) and what
asks (the relay receiver, HTTP-FLV players) share the request without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AccessKind", "AccessRequest"]


class AccessKind(StrEnum):
    """What a client asks to do with a stream."""

    PUBLISH = "publish"
    PLAY = "play"
    CONNECT = "connect"
    """Only asked of the HTTP callback (``on_connect``); access files do not name it."""


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One connect, publish or play request to decide.

    Attributes:
        kind: Publish or play.
        app: The connection's application name.
        key: The stream key as sent, any ``?query`` included.
        addr: The client's IP address ("" when unknown).
        tc_url: The ``tcUrl`` of the client's connect ("" when it sent none).
        flash_ver: The ``flashVer`` of the client's connect ("" when it sent none).
        publish_type: For a publish, ``live``, ``record`` or ``append`` as sent.
        swf_url: The ``swfUrl`` of the client's connect ("" when it sent none).
        page_url: The ``pageUrl`` of the client's connect ("" when it sent none).
        client_id: The connection's id.
        start: For a play, the start value as sent.
        duration: For a play, the duration as sent.
        reset: For a play, the reset flag as sent.
    """

    kind: AccessKind
    app: str
    key: str
    addr: str = ""
    tc_url: str = ""
    flash_ver: str = ""
    publish_type: str = ""
    swf_url: str = ""
    page_url: str = ""
    client_id: str = ""
    start: float = -2
    duration: float = -1
    reset: bool = False

    @property
    def name(self) -> str:
        """The stream key without its query string."""
        return self.key.partition("?")[0]

    @property
    def args(self) -> str:
        """The query string of the stream key (without the ``?``), or ""."""
        return self.key.partition("?")[2]
