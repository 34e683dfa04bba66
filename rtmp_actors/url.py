"""Parsing ``rtmp://`` and ``rtmps://`` URLs into what a client connection needs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["RtmpUrl"]

_DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


@dataclass(frozen=True, slots=True)
class RtmpUrl:
    """The parts of an RTMP URL.

    ``rtmp://host[:port]/app[/instance...]/stream_key[?query]``: the last path segment is
    the stream key (with the query, as FFmpeg and librtmp pass it on), everything before it
    the application name.

    Attributes:
        scheme: ``rtmp`` or ``rtmps``.
        host: The server's host name or address.
        port: The TCP port (1935, or 443 for rtmps, unless given).
        app: The application name.
        stream_key: The stream key, including any ``?query``; empty when the URL has none.
    """

    scheme: str
    host: str
    port: int
    app: str
    stream_key: str

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS."""
        return self.scheme == "rtmps"

    @property
    def tc_url(self) -> str:
        """The ``tcUrl`` to send in ``connect``: the URL up to and including the app."""
        default = _DEFAULT_PORTS[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}/{self.app}"

    @classmethod
    def parse(cls, url: str, *, require_stream_key: bool = True) -> RtmpUrl:
        """Parse ``url``.

        Raises:
            ValueError: With a message saying what is wrong with the URL.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            msg = f"{url!r} is not an rtmp:// or rtmps:// URL"
            raise ValueError(msg)
        if not parts.hostname:
            msg = f"{url!r} has no host"
            raise ValueError(msg)
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            msg = f"{url!r} has an invalid port"
            raise ValueError(msg) from None
        segments = [segment for segment in parts.path.split("/") if segment]
        if not segments:
            msg = f"{url!r} names no application"
            raise ValueError(msg)
        if len(segments) == 1:
            if require_stream_key:
                msg = f"{url!r} names no stream key (expected rtmp://host/app/stream_key)"
                raise ValueError(msg)
            app, stream_key = segments[0], ""
        else:
            app, stream_key = "/".join(segments[:-1]), segments[-1]
        if parts.query and stream_key:
            stream_key = f"{stream_key}?{parts.query}"
        return cls(scheme, parts.hostname, port, app, stream_key)
