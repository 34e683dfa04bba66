"""Bounds on every size a peer controls.

Defaults follow nginx-rtmp and SRS where they have an opinion, with headroom for today's
bitrates (a 4K HEVC keyframe can pass 1 MiB). All of them are configurable.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits applied to everything a peer sends.

    Attributes:
        max_chunk_size: Largest inbound Set Chunk Size accepted (1 to this; the protocol allows
            2^31-1, which would only be an allocation hazard).
        max_media_message_size: Largest audio, video or aggregate message.
        max_message_size: Largest message of any other type (commands, data, control).
        max_chunk_streams: Most distinct chunk stream ids one peer may use.
        max_pending_bytes: Most bytes held across all partially received messages.
        max_amf_depth: Deepest nesting of AMF objects and arrays.
        max_name_length: Longest app name, stream key or command name, in bytes.
        max_pending_calls: Most remote calls (``NetConnection.call``) of one connection that
            wait for an answer at once; a server answers more with ``_error`` at once, a
            client refuses to send more.
    """

    max_chunk_size: int = 16 * MIB
    max_media_message_size: int = 8 * MIB
    max_message_size: int = 1 * MIB
    max_chunk_streams: int = 64
    max_pending_bytes: int = 24 * MIB
    max_amf_depth: int = 32
    max_name_length: int = 1024
    max_pending_calls: int = 32

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 1:
                msg = f"Limits.{name} must be at least 1"
                raise ValueError(msg)


DEFAULT_LIMITS = Limits()
"""The limits used when none are given."""
