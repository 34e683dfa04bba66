"""Chunk stream decoder: bytes in, whole :class:`RawMessage` objects out.

Theory of operation:

* Chunk payload bytes are consumed as soon as they arrive and appended to the partial
  message of their chunk stream, so the only unparsed bytes kept between calls are an
  incomplete chunk header (at most 18 bytes). A peer trickling a 16 MiB chunk in small TCP
  segments therefore costs linear, not quadratic, work.
* Memory follows the bytes that actually arrived: a claimed message length is checked
  against the limits but never allocated up front.
* Set Chunk Size and Abort change how the following bytes are read, so the decoder applies
  them itself the moment they complete (they are still returned to the caller).
* Timestamps are 32-bit and wrap; a format 3 chunk that starts a new message after a format 0
  chunk uses the format 0 timestamp as its delta (RTMP spec 5.3.1.2.4; FFmpeg and librtmp
  agree).
* Large reads usually hold many whole messages, each sent as one header and its format 3
  continuations. A fast path (:meth:`ChunkDecoder._whole_messages`) decodes those in one step
  and copies each payload once; whatever it does not handle is left to the general path,
  which stays the reference: the fast path only ever produces what the general path would.

This module stays over 500 lines on purpose: the fast path and the general path must be read
side by side to see that they agree, so they are kept in one class.
"""

from __future__ import annotations

import struct

from rtmp_actors.errors import LimitExceededError, ProtocolError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.messages import (
    MEDIA_MESSAGE_TYPES,
    Abort,
    MessageType,
    RawMessage,
    SetChunkSize,
)

__all__ = ["DEFAULT_CHUNK_SIZE", "ChunkDecoder", "MessageFields"]

DEFAULT_CHUNK_SIZE = 128
_EXTENDED = 0xFFFFFF
_WRAP = 0xFFFFFFFF
_MAX_HEADER = 18  # 3-byte basic header + 11-byte message header + 4-byte extended timestamp

_U32 = struct.Struct(">I")
_U32_LE = struct.Struct("<I")
_U32_U32 = struct.Struct(">II")
# Message types that change how the following chunks are read (see _finish).
_APPLIED_BY_DECODER = frozenset({int(MessageType.SET_CHUNK_SIZE), int(MessageType.ABORT)})
# Where the payload starts after a one-byte basic header, by header format.
_PAYLOAD_OFFSET = (12, 8, 4, 1)
# Timestamp and length are 3-byte big-endian fields read as bytes; the stream id is the one
# little-endian field in RTMP.
_FMT0 = struct.Struct("<3s3sBI")
_FMT1 = struct.Struct(">3s3sB")  # timestamp delta, length, type id

MessageFields = tuple[int, int, int, bytes, int]
"""A whole message as ``(type_id, stream_id, timestamp, payload, chunk_stream_id)``: the fields
of a :class:`RawMessage`, for callers that decode it further and need no RawMessage object."""


class _InboundChunkStream:
    """What the decoder remembers about one chunk stream."""

    __slots__ = (
        "delta",
        "extended",
        "extended_value",
        "length",
        "partial",
        "remaining",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        # Delta a new-message format 3 chunk applies; after format 0 it is that timestamp.
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        # Whether the last format 0-2 header carried an extended timestamp, and its value.
        self.extended = False
        self.extended_value = 0
        self.partial: bytearray | None = None
        self.remaining = 0  # bytes of the current message still to come; 0 when none started


class ChunkDecoder:
    r"""Reassembles RTMP messages from the chunk stream one peer sends.

    Example:
        >>> decoder = ChunkDecoder()
        >>> decoder.receive_data(bytes.fromhex("02000000000004010000000000001000"))
        [RawMessage(type_id=1, stream_id=0, timestamp=0, payload=b'\\x00\\x00\\x10\\x00', \
chunk_stream_id=2)]

    Attributes:
        bytes_received: Total bytes given to :meth:`receive_data` (for acknowledgements).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        # Longer messages are left to the general path, which applies the limit of their type.
        self._fast_max_length = min(limits.max_media_message_size, limits.max_message_size)
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _InboundChunkStream] = {}
        self._tail = b""  # an incomplete chunk header left over from the last call
        # The chunk whose payload is still arriving: its stream and how many bytes remain.
        self._current: _InboundChunkStream | None = None
        self._current_csid = 0
        self._chunk_remaining = 0
        self._pending_bytes = 0
        self.bytes_received = 0

    @property
    def chunk_size(self) -> int:
        """The peer's current chunk size."""
        return self._chunk_size

    @property
    def pending_bytes(self) -> int:
        """Bytes held in partially received messages."""
        return self._pending_bytes

    def receive_data(self, data: bytes) -> list[RawMessage]:
        """Feed bytes from the peer; return the messages they complete, in order.

        Raises:
            RemoteProtocolError: If the bytes break the chunk stream protocol or a limit. The
                decoder is unusable afterwards: the connection should end.
        """
        try:
            fields = self.receive_fields(data)
        except ProtocolError as error:
            intact: list[MessageFields] = list(error.messages_before_error)  # type: ignore[arg-type]
            error.messages_before_error = [RawMessage(*message) for message in intact]
            raise
        return [RawMessage(*message) for message in fields]

    def receive_fields(self, data: bytes) -> list[MessageFields]:
        """Like :meth:`receive_data`, but return each message as its fields (a tuple).

        Raises:
            RemoteProtocolError: As :meth:`receive_data`, with ``messages_before_error`` holding the
                fields of the messages completed before the error.
        """
        self.bytes_received += len(data)
        messages: list[MessageFields] = []
        if self._tail:
            data = self._tail + data
            self._tail = b""
        view = memoryview(data)
        end = len(data)
        pos = 0
        try:
            if self._chunk_remaining:
                pos = self._continue_chunk(data, view, 0, end, messages)
            while pos < end:
                pos = self._whole_messages(data, view, pos, end, messages)
                if pos == end:
                    break
                header_end = self._read_header(data, pos, end)
                if header_end < 0:
                    self._tail = bytes(data[pos:])
                    break
                pos = self._continue_chunk(data, view, header_end, end, messages)
        except ProtocolError as error:
            error.messages_before_error = messages
            raise
        return messages

    # --- Fast path ----------------------------------------------------------------------------

    def _whole_messages(
        self, data: bytes, view: memoryview, pos: int, end: int, messages: list[MessageFields]
    ) -> int:
        """Decode the messages from ``pos`` that are wholly in ``data``; return where it stopped.

        Handled here: a new message on a known chunk stream with a one-byte basic header and
        no extended timestamp, whose continuations (if any) follow it directly as one-byte
        format 3 headers, all within ``data``. Anything else (a new or wide chunk stream id,
        an extended timestamp, a message the read cuts, an interleaved chunk, Set Chunk Size
        and Abort, a limit) stops the loop *before* any state changes, and the general path
        reads that header again.
        """
        streams = self._streams
        chunk_size = self._chunk_size
        step = chunk_size + 1
        max_length = self._fast_max_length
        # Nothing stays pending here, so the room for pending bytes does not change.
        room = self._limits.max_pending_bytes - self._pending_bytes
        append = messages.append
        while pos < end:
            first = data[pos]
            csid = first & 0x3F
            stream = streams.get(csid)  # None for 0 and 1, which mark wider ids
            if stream is None or stream.remaining:
                break
            fmt = first >> 6
            at = pos + _PAYLOAD_OFFSET[fmt]
            if at > end:
                break
            if fmt < 2:
                # Basic header byte and 3-byte timestamp, then 3-byte length and type id.
                word, length_and_type = _U32_U32.unpack_from(data, pos)
                delta = word & _EXTENDED
                if delta == _EXTENDED:
                    break
                length = length_and_type >> 8
                type_id = length_and_type & 0xFF
                if fmt:
                    timestamp = (stream.timestamp + delta) & _WRAP
                    stream_id = stream.stream_id
                else:
                    timestamp = delta
                    stream_id = _U32_LE.unpack_from(data, pos + 8)[0]
            elif fmt == 3:
                if stream.extended:
                    break
                delta = stream.delta
                timestamp = (stream.timestamp + delta) & _WRAP
                length = stream.length
                type_id = stream.type_id
                stream_id = stream.stream_id
            else:
                delta = _U32.unpack_from(data, pos)[0] & _EXTENDED
                if delta == _EXTENDED:
                    break
                timestamp = (stream.timestamp + delta) & _WRAP
                length = stream.length
                type_id = stream.type_id
                stream_id = stream.stream_id
            if length > max_length or type_id in _APPLIED_BY_DECODER:
                break
            if length <= chunk_size:
                stop = at + length
                if stop > end:
                    break
                payload = data[at:stop]
            else:
                # One header byte before each further chunk_size bytes of payload.
                stop = at + length + (length - 1) // chunk_size
                if stop > end or length > room:
                    break
                markers = data[at + chunk_size : stop : step]
                if markers.count(0xC0 | csid) != len(markers):
                    break  # another chunk comes in between
                window = view[at:stop]
                payload = b"".join([window[i : i + chunk_size] for i in range(0, stop - at, step)])
            if fmt != 3:
                stream.length = length
                stream.type_id = type_id
                stream.stream_id = stream_id
                stream.delta = delta
                stream.extended = False
                stream.extended_value = delta
            stream.timestamp = timestamp
            append((type_id, stream_id, timestamp, payload, csid))
            pos = stop
        return pos

    # --- Header parsing -----------------------------------------------------------------------

    def _read_header(self, data: bytes, pos: int, end: int) -> int:
        """Parse the chunk header at ``pos``; return where its payload starts, -1 if cut short."""
        first = data[pos]
        fmt = first >> 6
        csid = first & 0x3F
        at = pos + 1
        if csid < 2:
            width = 1 if csid == 0 else 2
            if at + width > end:
                return -1
            csid = 64 + data[at] + (data[at + 1] << 8 if width == 2 else 0)
            at += width
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                msg = f"chunk stream {csid} starts with a format {fmt} header instead of 0"
                raise RemoteProtocolError(msg)
            if len(self._streams) >= self._limits.max_chunk_streams:
                raise LimitExceededError(
                    "max_chunk_streams",
                    len(self._streams) + 1,
                    self._limits.max_chunk_streams,
                    "distinct chunk streams",
                )
            stream = _InboundChunkStream()
            self._streams[csid] = stream

        if fmt == 3:
            at = self._skip_repeated_extended_timestamp(stream, data, at, end)
            if at < 0:
                return -1
            if not stream.remaining:
                # A new message that repeats the whole previous header.
                stream.timestamp = (stream.timestamp + stream.delta) & _WRAP
                self._start_message(stream, csid)
        else:
            header_size = (11, 7, 3)[fmt]
            if at + header_size > end:
                return -1
            if fmt == 0:
                ts_bytes, length_bytes, type_id, stream_id = _FMT0.unpack_from(data, at)
            elif fmt == 1:
                ts_bytes, length_bytes, type_id = _FMT1.unpack_from(data, at)
                stream_id = stream.stream_id
            else:
                ts_bytes = data[at : at + 3]
                length_bytes = b""
                type_id, stream_id = stream.type_id, stream.stream_id
            at += header_size
            field = int.from_bytes(ts_bytes)
            extended = field == _EXTENDED
            if extended:
                if at + 4 > end:
                    return -1
                (field,) = _U32.unpack_from(data, at)
                at += 4
            length = int.from_bytes(length_bytes) if length_bytes else stream.length
            if stream.remaining:
                # A full header in the middle of a message: tolerated (as FFmpeg and SRS do)
                # only if it describes the same message; a changed length is how heap
                # overflows in other implementations began (CVE-2016-10191).
                if length != stream.length or type_id != stream.type_id:
                    msg = (
                        f"chunk stream {csid}: a format {fmt} header changes the message to "
                        f"type {type_id}, {length} bytes while {stream.remaining} bytes of a "
                        f"type {stream.type_id}, {stream.length}-byte message are outstanding"
                    )
                    raise RemoteProtocolError(msg)
            else:
                stream.extended = extended
                stream.extended_value = field
                stream.length = length
                stream.type_id = type_id
                stream.stream_id = stream_id
                if fmt == 0:
                    stream.timestamp = field
                    stream.delta = field
                else:
                    stream.timestamp = (stream.timestamp + field) & _WRAP
                    stream.delta = field
                self._start_message(stream, csid)
        self._current = stream
        self._current_csid = csid
        self._chunk_remaining = min(self._chunk_size, stream.remaining)
        return at

    def _skip_repeated_extended_timestamp(
        self, stream: _InboundChunkStream, data: bytes, at: int, end: int
    ) -> int:
        """Step over the extended timestamp a format 3 chunk may repeat.

        The spec repeats it on every format 3 chunk of a stream whose header used one; some
        peers (older librtmp, some encoders) leave it out. Accept both, as FFmpeg and SRS do:
        the four bytes are taken as a repeat only when they match the value in force.
        """
        if not stream.extended:
            return at
        expected = _U32.pack(stream.extended_value)
        available = end - at
        if available >= 4:
            return at + 4 if data[at : at + 4] == expected else at
        # Undecidable only while the bytes so far could still be the repeat.
        return -1 if data[at:end] == expected[:available] else at

    def _start_message(self, stream: _InboundChunkStream, csid: int) -> None:
        length = stream.length
        limit_name, limit = (
            ("max_media_message_size", self._limits.max_media_message_size)
            if stream.type_id in MEDIA_MESSAGE_TYPES
            else ("max_message_size", self._limits.max_message_size)
        )
        if length > limit:
            raise LimitExceededError(
                limit_name,
                length,
                limit,
                f"message of type {stream.type_id} on chunk stream {csid}",
            )
        stream.remaining = length
        stream.partial = None

    # --- Payload ------------------------------------------------------------------------------

    def _continue_chunk(
        self, data: bytes, view: memoryview, pos: int, end: int, messages: list[MessageFields]
    ) -> int:
        """Consume the current chunk's payload from ``pos``; return the new position."""
        stream = self._current
        assert stream is not None
        want = self._chunk_remaining
        if stream.remaining == 0:
            # A zero-length message completes with its header.
            self._finish(stream, b"", messages)
            return pos
        take = want if pos + want <= end else end - pos
        stop = pos + take
        partial = stream.partial
        if partial is None and take == stream.remaining:
            # The whole message in one chunk (and one read): slice it out directly.
            stream.remaining = 0
            self._chunk_remaining = 0
            self._finish(stream, data[pos:stop], messages)
            return stop
        pending = self._pending_bytes + take
        if pending > self._limits.max_pending_bytes:
            raise LimitExceededError(
                "max_pending_bytes",
                pending,
                self._limits.max_pending_bytes,
                "bytes held in partially received messages",
            )
        stream.remaining -= take
        self._chunk_remaining = want - take
        if partial is not None and not stream.remaining:
            # The message's last bytes: copied once, with the rest, into its payload.
            self._pending_bytes -= len(partial)
            stream.partial = None
            self._finish(stream, b"".join((partial, view[pos:stop])), messages)
            return stop
        if partial is None:
            partial = stream.partial = bytearray()
        self._pending_bytes = pending
        partial += view[pos:stop]
        if self._chunk_remaining:
            return stop
        return self._fast_continuations(stream, data, view, stop, end, messages)

    def _fast_continuations(
        self,
        stream: _InboundChunkStream,
        data: bytes,
        view: memoryview,
        pos: int,
        end: int,
        messages: list[MessageFields],
    ) -> int:
        """Consume whole format 3 continuation chunks of the current message in a tight loop.

        With small chunk sizes almost every chunk is a one-byte header followed by a payload
        on the same chunk stream; handling those here keeps the per-chunk cost low. When all
        the rest of the message follows that way, the message completes here, its remaining
        bytes copied once. Anything else (another chunk stream, an extended timestamp, a short
        read) goes back to the general path.
        """
        csid = self._current_csid
        if csid >= 64 or stream.extended:
            return pos
        marker = 0xC0 | csid
        chunk_size = self._chunk_size
        partial = stream.partial
        assert partial is not None
        remaining = stream.remaining
        step = chunk_size + 1
        stop = pos + remaining + (remaining + chunk_size - 1) // chunk_size
        if stop <= end and self._pending_bytes + remaining <= self._limits.max_pending_bytes:
            markers = data[pos:stop:step]
            if markers.count(marker) == len(markers):
                window = view[pos:stop]
                payload = b"".join(
                    (partial, *[window[i : i + chunk_size] for i in range(1, stop - pos, step)])
                )
                self._pending_bytes -= len(partial)
                stream.partial = None
                stream.remaining = 0
                self._finish(stream, payload, messages)
                return stop
        start_pending = len(partial)
        # The last chunk of the message is left to the general path, which completes it.
        while remaining > chunk_size and pos < end and data[pos] == marker:
            stop = pos + 1 + chunk_size
            if stop > end:
                break
            partial += view[pos + 1 : stop]
            pos = stop
            remaining -= chunk_size
        added = len(partial) - start_pending
        if added:
            pending = self._pending_bytes + added
            if pending > self._limits.max_pending_bytes:
                raise LimitExceededError(
                    "max_pending_bytes",
                    pending,
                    self._limits.max_pending_bytes,
                    "bytes held in partially received messages",
                )
            self._pending_bytes = pending
            stream.remaining = remaining
        return pos

    def _finish(
        self, stream: _InboundChunkStream, payload: bytes, messages: list[MessageFields]
    ) -> None:
        type_id = stream.type_id
        messages.append((type_id, stream.stream_id, stream.timestamp, payload, self._current_csid))
        self._current = None
        if type_id == MessageType.SET_CHUNK_SIZE:
            size = SetChunkSize.decode_payload(payload).size
            if size > self._limits.max_chunk_size:
                raise LimitExceededError(
                    "max_chunk_size", size, self._limits.max_chunk_size, "Set Chunk Size"
                )
            self._chunk_size = size
        elif type_id == MessageType.ABORT:
            aborted = self._streams.get(Abort.decode_payload(payload).chunk_stream_id)
            if aborted is not None and aborted.remaining:
                if aborted.partial is not None:
                    self._pending_bytes -= len(aborted.partial)
                aborted.partial = None
                aborted.remaining = 0
