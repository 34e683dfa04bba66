"""Configuration of a client session (the Elixir library's ``Rtmp.ClientSession.Configuration``)."""

from __future__ import annotations

from dataclasses import dataclass

from rtmp_actors.limits import DEFAULT_LIMITS, Limits

__all__ = ["ClientSessionConfig"]

_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ClientSessionConfig:
    """How a :class:`~rtmp_actors.session.client.ClientSession` behaves.

    Attributes:
        flash_version: The ``flashVer`` sent in ``connect``. Servers log it and some (for
            example nginx-rtmp's ``on_connect``) pass it to callbacks; the default reads like
            FFmpeg's publishing string so servers treat us as an encoder.
        playback_buffer_length_ms: The buffer length announced with User Control
            SetBufferLength after each ``play`` (FFmpeg's default is 3000 ms).
        window_ack_size: The Window Acknowledgement Size sent once the connection is accepted,
            as FFmpeg and librtmp do (the server acknowledges our bytes every this many).
        limits: Bounds applied when reading the server's commands (name lengths).
        enhanced_fourccs: Enhanced RTMP FourCCs to announce in ``connect`` as ``fourCcList``
            (``"hvc1"``, ``"av01"``, ``"*"``...). When non-empty, ``capsEx`` is sent as well.
        caps_ex: Enhanced RTMP v2 ``capsEx`` bits (see
            :class:`~rtmp_actors.protocol.commands.CapsEx`); sent when ``enhanced_fourccs`` is
            non-empty or this is non-zero.
        object_encoding: ``objectEncoding`` in ``connect``: 0 (AMF0) or 3 (AMF3). With 3, and a
            server that answers 3, later commands go out as AMF3 commands (type 17).
    """

    flash_version: str = "FMLE/3.0 (compatible; rtmp_actors)"
    playback_buffer_length_ms: int = 3000
    window_ack_size: int = 2_500_000
    limits: Limits = DEFAULT_LIMITS
    enhanced_fourccs: tuple[str, ...] = ()
    caps_ex: int = 0
    object_encoding: int = 0

    def __post_init__(self) -> None:
        """Check the values and turn a list of FourCCs into a tuple.

        Raises:
            ValueError: If a value is out of range or a FourCC is neither 4 characters nor "*".
        """
        # A list is easy to pass by mistake; the dataclass is frozen, so store a tuple.
        object.__setattr__(self, "enhanced_fourccs", tuple(self.enhanced_fourccs))
        if not 0 <= self.playback_buffer_length_ms <= _MAX_U32:
            msg = f"playback_buffer_length_ms {self.playback_buffer_length_ms} is not a u32"
            raise ValueError(msg)
        if not 1 <= self.window_ack_size <= _MAX_U32:
            msg = f"window_ack_size {self.window_ack_size} is outside 1..{_MAX_U32}"
            raise ValueError(msg)
        if self.object_encoding not in (0, 3):
            msg = f"object_encoding must be 0 or 3, got {self.object_encoding}"
            raise ValueError(msg)
        if self.caps_ex < 0:
            msg = f"caps_ex must not be negative, got {self.caps_ex}"
            raise ValueError(msg)
        for fourcc in self.enhanced_fourccs:
            if not isinstance(fourcc, str) or (len(fourcc) != 4 and fourcc != "*"):
                msg = f"enhanced_fourccs entries must be 4-character FourCCs or '*': {fourcc!r}"
                raise ValueError(msg)

    @property
    def announces_enhanced(self) -> bool:
        """Whether ``connect`` carries the Enhanced RTMP fields (``fourCcList``, ``capsEx``)."""
        return bool(self.enhanced_fourccs) or self.caps_ex != 0
