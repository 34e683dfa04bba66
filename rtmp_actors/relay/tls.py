"""The relay's RTMPS listener settings, and the server TLS context made from them.

The certificate and key are read when the relay is made (a bad pair fails it at once) and
again on :meth:`RelayServer.reload_tls` (``serve`` does it on SIGHUP): new connections get
the new context, connections already open keep theirs, and a pair that does not load is
logged and the old context kept.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["TlsSettings", "server_context"]


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS listeners beside the plain ones (``[tls]`` in the relay's TOML config).

    Attributes:
        port: Listen for RTMPS on this port of the relay's host (0: any free one); None for
            no RTMPS listener.
        cert: The certificate chain, PEM (the server's certificate first).
        key: The private key, PEM (unencrypted); may be the same file as ``cert``.
        https_port: Serve the HTTP port's content (stats, control, HTTP-FLV, HLS) over
            HTTPS on this port of the HTTP host too (0: any free one); None for none.

    Raises:
        ValueError: If a port is given without ``cert`` and ``key``, or is not a port.
    """

    port: int | None = None
    cert: str | None = None
    key: str | None = None
    https_port: int | None = None

    def __post_init__(self) -> None:
        listeners = (
            ("TLS port", "an RTMPS listener (TLS port)", self.port),
            ("HTTPS port", "an HTTPS port", self.https_port),
        )
        for name, listener, port in listeners:
            if port is None:
                continue
            if not isinstance(port, int) or isinstance(port, bool) or not (0 <= port <= 65535):
                msg = f"{name} {port!r} is not a port number"
                raise ValueError(msg)
            if not self.cert or not self.key:
                msg = f"{listener} needs a certificate and a key (cert, key)"
                raise ValueError(msg)

    @property
    def enabled(self) -> bool:
        """Whether an RTMPS listener is configured."""
        return self.port is not None


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """A server context with the settings' certificate and key (TLS 1.2 or newer, no tickets).

    Raises:
        OSError: If a file cannot be read.
        ValueError: If the files are not a matching certificate and key (``ssl.SSLError``
            is one), or none are configured.
    """
    if not settings.cert or not settings.key:
        msg = "no TLS certificate and key configured"
        raise ValueError(msg)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No TLS 1.3 session tickets: librtmp (rtmpdump, over GnuTLS) fails its RTMP handshake
    # on the tickets that follow the TLS one, and RTMP connections are too long-lived for
    # resumption to matter.
    context.num_tickets = 0
    try:
        context.load_cert_chain(settings.cert, settings.key)
    except ssl.SSLError as error:
        msg = f"TLS certificate {settings.cert} / key {settings.key}: {error}"
        raise ValueError(msg) from None
    except OSError as error:  # its message names no file: say which pair
        msg = f"TLS certificate {settings.cert} / key {settings.key}: {error.strerror or error}"
        raise OSError(msg) from None
    return context
