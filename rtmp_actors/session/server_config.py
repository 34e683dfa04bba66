"""How a :class:`~rtmp_actors.session.server.ServerSession` presents itself and what it allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.commands import CapsEx

__all__ = ["DEFAULT_CAPS_EX", "DEFAULT_ENHANCED_FOURCCS", "ServerSessionConfig"]

DEFAULT_ENHANCED_FOURCCS: Final = (
    "hvc1",
    "av01",
    "vp09",
    "vp08",
    "avc1",
    "Opus",
    "fLaC",
    "mp4a",
    "ac-3",
    "ec-3",
    ".mp3",
)
"""The Enhanced RTMP video and audio FourCCs a relaying server can forward."""

DEFAULT_CAPS_EX: Final = int(
    CapsEx.RECONNECT | CapsEx.MULTITRACK | CapsEx.MODEX | CapsEx.TIMESTAMP_NANO_OFFSET
)
"""Every Enhanced RTMP v2 capability: a server that forwards tags untouched supports them all."""

_MAX_U32: Final = 0xFFFFFFFF
_MAX_CHUNK_SIZE: Final = 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class ServerSessionConfig:
    """Settings of one server session.

    Attributes:
        fms_version: The ``fmsVer`` announced in the connect ``_result``.
        capabilities: The ``capabilities`` announced in the connect ``_result``.
        chunk_size: The outbound chunk size, announced with Set Chunk Size right after connect.
        window_ack_size: The Window Acknowledgement Size asked of the client.
        peer_bandwidth: The Set Peer Bandwidth window (dynamic) given to the client. librtmp
            acknowledges every tenth of it (FFmpeg every ``window_ack_size``) and neither
            limits its sending by it, so the default makes both acknowledge every 5 MB:
            acknowledgements are pure overhead for a server, once per player each time.
        limits: Bounds on names and other sizes the peer controls.
        ping_interval: Seconds between the pings sent once connected; 0 disables them. A
            player may send nothing else for minutes (a low bitrate stream is acknowledged
            rarely), so keep this well under the connection's idle timeout (60 s by default).
        max_streams_per_connection: Most message streams (createStream) one client may hold.
        enhanced_fourccs: The Enhanced RTMP FourCCs this server handles; ``"*"`` means any.
        caps_ex: The Enhanced RTMP v2 ``capsEx`` bits this server announces.
        call_timeout: Seconds a client's remote call may wait for the user's answer before
            the session answers ``_error`` itself; 0 waits for ever (the pending count is
            still bounded by ``limits.max_pending_calls``).
    """

    fms_version: str = "FMS/3,0,1,123"
    capabilities: int = 31
    chunk_size: int = 4096
    window_ack_size: int = 5_000_000
    peer_bandwidth: int = 50_000_000
    limits: Limits = DEFAULT_LIMITS
    ping_interval: float = 20.0
    max_streams_per_connection: int = 16
    enhanced_fourccs: tuple[str, ...] = DEFAULT_ENHANCED_FOURCCS
    caps_ex: int = DEFAULT_CAPS_EX
    call_timeout: float = 30.0

    def __post_init__(self) -> None:
        """Reject settings that would break the session or the wire format.

        Raises:
            ValueError: If a size is out of its wire range or a count is not positive.
        """
        problems = []
        if not 1 <= self.chunk_size <= _MAX_CHUNK_SIZE:
            problems.append(f"chunk_size must be in 1..{_MAX_CHUNK_SIZE}")
        if not 1 <= self.window_ack_size <= _MAX_U32:
            problems.append(f"window_ack_size must be in 1..{_MAX_U32}")
        if not 1 <= self.peer_bandwidth <= _MAX_U32:
            problems.append(f"peer_bandwidth must be in 1..{_MAX_U32}")
        if not self.ping_interval >= 0:  # also rejects NaN
            problems.append("ping_interval must be 0 (off) or positive")
        if self.max_streams_per_connection < 1:
            problems.append("max_streams_per_connection must be at least 1")
        if self.caps_ex < 0:
            problems.append("caps_ex must not be negative")
        if not self.call_timeout >= 0:  # also rejects NaN
            problems.append("call_timeout must be 0 (none) or positive")
        if problems:
            raise ValueError("; ".join(problems))
