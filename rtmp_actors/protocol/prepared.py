"""Messages encoded once and written as they are to many connections (live fan-out).

Fan-out messages go on chunk streams of their own (:data:`FANOUT_CHUNK_STREAMS`), each
message starting with a full (format 0) header, so their bytes do not depend on what a
connection sent before and never disturb the header compression of its own chunk encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Self

from rtmp_actors.media.frames import FrameFlags, frame_flags
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.messages import AudioData, MessageContent, RawMessage, VideoData

__all__ = ["FANOUT_CHUNK_STREAMS", "PreparedBatch", "PreparedMessage"]

_AUDIO_CHUNK_STREAM = 20
_VIDEO_CHUNK_STREAM = 21
_OTHER_CHUNK_STREAM = 22
FANOUT_CHUNK_STREAMS = frozenset({_AUDIO_CHUNK_STREAM, _VIDEO_CHUNK_STREAM, _OTHER_CHUNK_STREAM})
"""Chunk streams only prepared messages are written on."""


class _SharedForms:
    """Other wire forms of a message or batch (an FLV tag, an HTTP chunk), built once each.

    Lets players of other protocols share one encoding, as RTMP players share ``encoded``.
    """

    __slots__ = ("_derived",)

    def __init__(self) -> None:
        self._derived: dict[Hashable, bytes] | None = None

    def derived(self, form: Hashable, build: Callable[[Self], bytes]) -> bytes:
        """This in the wire form ``form``, built by ``build`` the first time it is asked for."""
        derived = self._derived
        if derived is None:
            derived = self._derived = {}
        cached = derived.get(form)
        if cached is None:
            cached = derived[form] = build(self)
        return cached


class PreparedMessage(_SharedForms):
    """A message whose chunked bytes are computed once per (stream id, chunk size).

    The same ``bytes`` object goes to every player sharing the stream id and chunk size
    (usually all of them). Not thread-safe: one owner encodes.

    Attributes:
        content: The message.
        timestamp: Its timestamp, in milliseconds.
        is_media: Whether it is audio or video (droppable under congestion).
        is_video: Whether it is video.
    """

    __slots__ = (
        "_encoded",
        "_flags",
        "_payload",
        "content",
        "is_media",
        "is_video",
        "timestamp",
    )

    def __init__(self, content: MessageContent, timestamp: int) -> None:
        super().__init__()
        self.content = content
        self.timestamp = timestamp
        self.is_video = isinstance(content, VideoData)
        self.is_media = self.is_video or isinstance(content, AudioData)
        self._payload: bytes | None = None
        self._encoded: dict[tuple[int, int], bytes] = {}
        self._flags: FrameFlags | None = None

    @property
    def payload(self) -> bytes:
        """The message body as sent on the wire, encoded once."""
        if self._payload is None:
            self._payload = self.content.encode_payload()
        return self._payload

    @property
    def frame_flags(self) -> FrameFlags:
        """Sequence header and keyframe flags of an audio/video message, worked out once."""
        if self._flags is None:
            content = self.content
            if isinstance(content, VideoData | AudioData):
                self._flags = frame_flags(self.is_video, content.data)
            else:
                self._flags = FrameFlags(configuration=False, keyframe=False)
        return self._flags

    @property
    def chunk_stream_id(self) -> int:
        """The chunk stream it is written on: one for audio, one for video, one for the rest."""
        if self.is_video:
            return _VIDEO_CHUNK_STREAM
        return _AUDIO_CHUNK_STREAM if self.is_media else _OTHER_CHUNK_STREAM

    def encoded(self, stream_id: int, chunk_size: int) -> bytes:
        """The message's chunks for a connection with this stream id and chunk size."""
        key = (stream_id, chunk_size)
        cached = self._encoded.get(key)
        if cached is None:
            raw = RawMessage(
                int(self.content.type_id),
                stream_id,
                self.timestamp,
                self.payload,
                self.chunk_stream_id,
            )
            cached = self._encoded[key] = ChunkEncoder(chunk_size).encode(raw)
        return cached


class PreparedBatch(_SharedForms):
    """Consecutive prepared messages written to each player in one go.

    Their bytes are joined once per (stream id, chunk size), so one system call per player
    carries the whole batch, and every player sharing the stream id and chunk size gets the
    same ``bytes`` object.

    Args:
        messages: The messages, in order.
    """

    __slots__ = ("_joined", "messages")

    def __init__(self, messages: Sequence[PreparedMessage]) -> None:
        super().__init__()
        self.messages = tuple(messages)
        self._joined: dict[tuple[int, int], bytes] = {}

    def encoded(self, stream_id: int, chunk_size: int) -> bytes:
        """The chunks of every message for this stream id and chunk size."""
        key = (stream_id, chunk_size)
        joined = self._joined.get(key)
        if joined is None:
            messages = self.messages
            if len(messages) == 1:
                joined = messages[0].encoded(stream_id, chunk_size)
            else:
                joined = b"".join(message.encoded(stream_id, chunk_size) for message in messages)
            self._joined[key] = joined
        return joined
