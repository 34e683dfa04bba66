"""An HTTP-FLV player's media path: the live stream writes FLV tags straight to its socket.

A live stream hands every player a batch of :class:`PreparedMessage` s through the player's
:class:`~rtmp_actors.actors.media_sink.MediaSink`. :class:`HttpFlvSink` is that sink for a
player reading ``/APP/KEY.flv``: the same congestion rules (:class:`PlaybackRules`), but the
bytes are FLV tags, each wrapped as HTTP/1.1 chunks. Each message's tag is built once
(:meth:`PreparedMessage.derived`) and each batch's chunk once, so every HTTP-FLV player of a
stream shares the same bytes, as RTMP players share their chunks.

:class:`HttpFlvResponse` is the one writer of the response body: the stream's actor writes
media through it while the player's actor may end the response (terminating chunk, then
close) at any time; its lock makes sure nothing follows the terminating chunk.
"""

from __future__ import annotations

import threading
from typing import Any

from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.media.flv import FlvHeader, encode_tag
from rtmp_actors.protocol.prepared import PreparedBatch, PreparedMessage
from rtmp_actors.session.playback import PlaybackRules
from rtmp_actors.session.server import PlayerNotice

__all__ = ["FLV_STREAM_START", "HttpFlvResponse", "HttpFlvSink", "http_chunk"]

FLV_STREAM_START = FlvHeader(has_audio=True, has_video=True).encode() + bytes(4)
"""What an FLV stream starts with: the header and PreviousTagSize0."""

_LAST_CHUNK = b"0\r\n\r\n"
_TAG_FORM = "flv-tag"
_TAGS_FORM = "flv-tags"
_CHUNK_FORM = "flv-http-chunk"


def http_chunk(body: bytes) -> bytes:
    """``body`` as one chunk of an HTTP/1.1 chunked body (empty bodies give no chunk)."""
    if not body:
        return b""
    return b"%x\r\n%b\r\n" % (len(body), body)


def _tag(message: PreparedMessage) -> bytes:
    return encode_tag(int(message.content.type_id), message.timestamp, message.payload)


def flv_tag(message: PreparedMessage) -> bytes:
    """The message as an FLV tag with its back pointer, built once per message."""
    return message.derived(_TAG_FORM, _tag)


def _tags(batch: PreparedBatch) -> bytes:
    return b"".join(flv_tag(message) for message in batch.messages)


def _chunk(batch: PreparedBatch) -> bytes:
    return http_chunk(batch.derived(_TAGS_FORM, _tags))


class HttpFlvResponse:
    """The body of one HTTP-FLV response, written from any thread until it ends.

    Args:
        transport: The connection's transport (``send_data``, ``close``, ``abort``,
            ``queued_bytes``, ``is_closing``).
        chunked: Whether the body is chunked (HTTP/1.1); an HTTP/1.0 body ends at close.
    """

    __slots__ = ("_ended", "_lock", "chunked", "transport")

    def __init__(self, transport: Any, *, chunked: bool) -> None:
        self.transport = transport
        self.chunked = chunked
        self._lock = threading.Lock()
        self._ended = False

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be sent to the client."""
        queued: int = self.transport.queued_bytes
        return queued

    @property
    def is_closing(self) -> bool:
        """Whether the response has ended or the connection is going."""
        return self._ended or bool(self.transport.is_closing)

    def frame(self, body: bytes) -> bytes:
        """``body`` framed for this response (a chunk, or as it is)."""
        return http_chunk(body) if self.chunked else body

    def send_data(self, data: bytes) -> None:
        """Write framed bytes, unless the response has ended."""
        with self._lock:
            if not self._ended:
                self.transport.send_data(data)

    def end(self, reason: str | None = None) -> None:
        """Finish the body (the terminating chunk), then close once it is sent."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self.chunked:
                self.transport.send_data(_LAST_CHUNK)
        self.transport.close(reason)

    def abort(self, reason: str) -> None:
        """Drop the connection at once (the client is too slow)."""
        with self._lock:
            self._ended = True
        self.transport.abort(reason)


class HttpFlvSink(MediaSink):
    """Writes a live stream's prepared messages to one HTTP-FLV response as FLV tags.

    Used by the stream's actor only. The publisher leaving ends the response: an HTTP-FLV
    client has no way to wait for the next publication.

    Args:
        response: The player's response.
        high_water: Queued bytes above which media is dropped (see :class:`PlaybackRules`).
        max_congestion: Seconds the client may stay above ``high_water``.
    """

    __slots__ = ("_response",)

    def __init__(self, response: HttpFlvResponse, high_water: int, max_congestion: float) -> None:
        super().__init__(response, 1, 0, high_water, max_congestion)
        self._response = response

    def send_notice(self, notice: PlayerNotice) -> bool:
        """End the response when the publisher leaves; False once it has ended."""
        if self._response.is_closing:
            return False
        if notice is PlayerNotice.UNPUBLISHED:
            self._response.end("the publisher stopped")
            return False
        return True

    def send_batch(self, batch: PreparedBatch, rules: PlaybackRules, now: float) -> bool:
        """Write the batch as one chunk, shared with every HTTP-FLV player when all of it goes.

        Returns:
            False once the response has ended (or the client was dropped for congestion).
        """
        response = self._response
        if response.is_closing:
            return False
        if rules.clear_to_send(response.queued_bytes):
            if response.chunked:
                response.send_data(batch.derived(_CHUNK_FORM, _chunk))
            else:
                response.send_data(batch.derived(_TAGS_FORM, _tags))
            return True
        return self.send(batch.messages, rules, now)

    def encode(self, message: PreparedMessage) -> bytes:
        """One message as an FLV tag (when not all of a batch goes, so nothing to share)."""
        return flv_tag(message)

    def write(self, parts: list[bytes]) -> None:
        """Write FLV tags as one HTTP chunk."""
        self._response.send_data(self._response.frame(b"".join(parts)))
