"""Messages encoded once and written as they are to many connections (live fan-out)."""

from __future__ import annotations

from rtmp_actors.media.frames import FrameFlags, frame_flags
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.messages import AudioData, MessageContent, RawMessage, VideoData

__all__ = ["PreparedMessage"]


class PreparedMessage:
    """A message whose chunked bytes are computed once per (stream id, chunk size, chunk stream).

    The first chunk always has a full (format 0) header, so the bytes do not depend on what
    each connection sent before: the same ``bytes`` object goes to every player sharing the
    stream id and chunk size (usually all of them). Not thread-safe: one owner encodes.
    """

    __slots__ = ("_encoded", "_flags", "_payload", "content", "timestamp")

    def __init__(self, content: MessageContent, timestamp: int) -> None:
        self.content = content
        self.timestamp = timestamp
        self._payload: bytes | None = None
        self._encoded: dict[tuple[int, int, int], bytes] = {}
        self._flags: FrameFlags | None = None

    @property
    def frame_flags(self) -> FrameFlags:
        """Sequence header and keyframe flags of an audio/video message, worked out once."""
        if self._flags is None:
            content = self.content
            if isinstance(content, VideoData | AudioData):
                self._flags = frame_flags(isinstance(content, VideoData), content.data)
            else:
                self._flags = FrameFlags(sequence_header=False, keyframe=False)
        return self._flags

    def encoded(self, stream_id: int, chunk_size: int, chunk_stream_id: int) -> bytes:
        """The message's chunks for a connection with this stream id and chunk size."""
        key = (stream_id, chunk_size, chunk_stream_id)
        cached = self._encoded.get(key)
        if cached is None:
            if self._payload is None:
                self._payload = self.content.encode_payload()
            raw = RawMessage(
                int(self.content.type_id), stream_id, self.timestamp, self._payload, chunk_stream_id
            )
            cached = self._encoded[key] = ChunkEncoder(chunk_size).encode(raw)
        return cached
