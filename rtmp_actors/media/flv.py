"""FLV files: the header, tags and back pointers, read and written through binary streams.

:class:`FlvReader` reads one tag at a time from any object with ``read(n)`` (a file, a pipe, a
socket's ``makefile``), so memory stays bounded by the largest tag whatever the file size; a tag
that claims more than ``max_tag_size`` bytes is refused before anything is allocated for it.
:class:`FlvWriter` writes tags with correct back pointers to any object with ``write``.
:func:`read_flv_file` and :func:`write_flv_file` are conveniences over paths.

Layout: a 9-byte header (``FLV``, version, audio/video flags, header size), then
PreviousTagSize0 (always 0), then each tag (11-byte header and body) followed by its size plus
11 as a UI32 back pointer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from rtmp_actors.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS
from rtmp_actors.media._wire import Buffer

__all__ = [
    "DEFAULT_MAX_TAG_SIZE",
    "FLV_HEADER_SIZE",
    "TAG_HEADER_SIZE",
    "FlvHeader",
    "FlvReader",
    "FlvTag",
    "FlvWriter",
    "ReadableStream",
    "TagType",
    "WritableStream",
    "encode_tag",
    "read_flv_file",
    "write_flv_file",
]

FLV_HEADER_SIZE = 9
"""Size of the FLV file header (version 1)."""
TAG_HEADER_SIZE = 11
"""Size of a tag header: type, UI24 size, UI24 timestamp, extended timestamp byte, stream id."""
MAX_TAG_DATA_SIZE = 0xFFFFFF
"""The largest body a UI24 size field can describe."""
DEFAULT_MAX_TAG_SIZE = DEFAULT_LIMITS.max_media_message_size
"""Largest tag body :class:`FlvReader` accepts unless told otherwise (8 MiB)."""

_SIGNATURE = b"FLV"
_SKIP_CHUNK = 64 * 1024


class ReadableStream(Protocol):
    """What :class:`FlvReader` reads from: a blocking binary stream."""

    def read(self, size: int, /) -> bytes | None:
        """Return up to ``size`` bytes; empty at the end of the stream."""
        ...


class WritableStream(Protocol):
    """What :class:`FlvWriter` writes to: a binary stream."""

    def write(self, data: Buffer, /) -> object:
        """Write all of ``data``."""
        ...

    def flush(self) -> object:
        """Push buffered bytes to the operating system."""
        ...


class TagType(IntEnum):
    """FLV tag types (the low five bits of a tag's first byte)."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT_DATA_AMF3 = 15
    """Script data in AMF3, which Enhanced RTMP v2 allows next to the usual AMF0."""
    SCRIPT_DATA = 18


@dataclass(frozen=True, slots=True)
class FlvHeader:
    """The FLV file header.

    Attributes:
        has_audio: The audio flag (players use it as a hint only).
        has_video: The video flag.
        version: The FLV version; always 1 in practice.
        data_offset: The header size, where PreviousTagSize0 starts; 9 for version 1. A larger
            value leaves room that the reader skips and the writer fills with zeros.
    """

    has_audio: bool = True
    has_video: bool = True
    version: int = 1
    data_offset: int = FLV_HEADER_SIZE

    def __post_init__(self) -> None:
        """Check that the fields fit the header.

        Raises:
            LocalProtocolError: If the version is not a byte or the size is outside 9..2^32-1.
        """
        if not 0 <= self.version <= 0xFF:
            msg = f"FLV version {self.version} does not fit in a byte"
            raise LocalProtocolError(msg)
        if not FLV_HEADER_SIZE <= self.data_offset <= 0xFFFFFFFF:
            msg = f"FLV header size {self.data_offset} is outside 9..2^32-1"
            raise LocalProtocolError(msg)

    def encode(self) -> bytes:
        """Return the 9 header bytes (without any padding up to :attr:`data_offset`)."""
        flags = (0x04 if self.has_audio else 0) | (0x01 if self.has_video else 0)
        return _SIGNATURE + bytes((self.version, flags)) + self.data_offset.to_bytes(4)

    @classmethod
    def decode(cls, data: Buffer) -> FlvHeader:
        """Parse the 9 header bytes.

        Raises:
            RemoteProtocolError: If the bytes are too few, lack the ``FLV`` signature or give a
                header size below 9.
        """
        if len(data) < FLV_HEADER_SIZE:
            msg = f"FLV header is cut short: {len(data)} of {FLV_HEADER_SIZE} bytes"
            raise RemoteProtocolError(msg)
        if bytes(data[:3]) != _SIGNATURE:
            msg = f"not an FLV file: it starts with {bytes(data[:3])!r}, not b'FLV'"
            raise RemoteProtocolError(msg)
        data_offset = int.from_bytes(data[5:9])
        if data_offset < FLV_HEADER_SIZE:
            msg = f"FLV header claims a size of {data_offset} bytes, below {FLV_HEADER_SIZE}"
            raise RemoteProtocolError(msg)
        flags = data[4]
        return cls(bool(flags & 0x04), bool(flags & 0x01), data[3], data_offset)


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One FLV tag.

    Attributes:
        tag_type: The tag type (a :class:`TagType` when known; unknown types are kept).
        timestamp: Milliseconds, 32 bits (the extended byte supplies the top 8).
        data: The tag body: an audio or video tag with its header bytes, or script data.
        stream_id: The stream id field; always 0 in files written by the book.
        filtered: The Filter bit: the body is encrypted (or otherwise pre-processed).
    """

    tag_type: int
    timestamp: int
    data: bytes
    stream_id: int = 0
    filtered: bool = False


def _tag_header(tag_type: int, timestamp: int, size: int, stream_id: int, filtered: bool) -> bytes:
    if not 0 <= tag_type <= 0x1F:
        msg = f"FLV tag type {tag_type} does not fit in 5 bits"
        raise LocalProtocolError(msg)
    if not 0 <= timestamp <= 0xFFFFFFFF:
        msg = f"FLV tag timestamp {timestamp} is outside 0..2^32-1"
        raise LocalProtocolError(msg)
    if size > MAX_TAG_DATA_SIZE:
        msg = f"FLV tag body of {size} bytes does not fit a UI24 size"
        raise LocalProtocolError(msg)
    if not 0 <= stream_id <= 0xFFFFFF:
        msg = f"FLV tag stream id {stream_id} is outside 0..2^24-1"
        raise LocalProtocolError(msg)
    return (
        bytes(((0x20 if filtered else 0) | tag_type,))
        + size.to_bytes(3)
        + (timestamp & 0xFFFFFF).to_bytes(3)
        + bytes((timestamp >> 24,))
        + stream_id.to_bytes(3)
    )


def encode_tag(tag_type: int, timestamp: int, data: Buffer) -> bytes:
    """One tag with its back pointer, as it appears in a file after the header.

    For writers that send tags themselves (a live FLV stream over HTTP) instead of through
    :class:`FlvWriter`.

    Raises:
        LocalProtocolError: If a field does not fit its FLV field.
    """
    size = len(data)
    header = _tag_header(tag_type, timestamp, size, 0, False)
    return b"".join((header, data, (TAG_HEADER_SIZE + size).to_bytes(4)))


class FlvReader:
    """Reads FLV tags one by one from a binary stream.

    Construction reads the header and PreviousTagSize0; then iterate, or call
    :meth:`read_tag`, to get tags. Only one tag is held at a time.

    In strict mode (the default) any deviation raises :class:`ProtocolError`: a non-zero
    PreviousTagSize0, a back pointer that does not match its tag, reserved bits set in a tag
    header, or a file that ends inside a tag or its back pointer. Lenient mode (``strict=False``)
    ignores the reserved bits and wrong back pointers (common in files from buggy muxers), and
    stops quietly at a cut-off tail (a recording that was interrupted), setting
    :attr:`truncated`. A tag larger than ``max_tag_size`` raises in both modes.

    Attributes:
        header: The file header.
        truncated: Whether lenient mode stopped at a cut-off tail.
    """

    def __init__(
        self,
        stream: ReadableStream,
        *,
        max_tag_size: int = DEFAULT_MAX_TAG_SIZE,
        strict: bool = True,
    ) -> None:
        """Read the header and PreviousTagSize0 from ``stream``.

        Args:
            stream: A blocking binary stream positioned at the start of the FLV data.
            max_tag_size: Largest tag body accepted, in bytes.
            strict: Raise on any deviation (see the class description) instead of tolerating.

        Raises:
            RemoteProtocolError: If the header is missing or malformed (or, in strict mode,
                PreviousTagSize0 is missing or not 0).
        """
        self._stream = stream
        self._max_tag_size = max_tag_size
        self._strict = strict
        self._done = False
        self.truncated = False
        self.header = FlvHeader.decode(self._read(FLV_HEADER_SIZE))
        self._skip(self.header.data_offset - FLV_HEADER_SIZE)
        self._position = self.header.data_offset
        first_back_pointer = self._read(4)
        if len(first_back_pointer) < 4:
            self._cut_short("PreviousTagSize0")
            return
        value = int.from_bytes(first_back_pointer)
        if value != 0 and strict:
            msg = f"PreviousTagSize0 at byte {self._position} is {value}, not 0"
            raise RemoteProtocolError(msg)
        self._position += 4

    @classmethod
    def resume(
        cls,
        stream: ReadableStream,
        header: FlvHeader,
        position: int,
        *,
        max_tag_size: int = DEFAULT_MAX_TAG_SIZE,
        strict: bool = True,
    ) -> FlvReader:
        """A reader of a file whose header was read before, from the tag at ``position``.

        For seekable files read from a known tag (an index's seek point): the caller has
        positioned ``stream`` there; nothing is read now.
        """
        reader = cls.__new__(cls)
        reader._stream = stream
        reader._max_tag_size = max_tag_size
        reader._strict = strict
        reader._done = False
        reader.truncated = False
        reader.header = header
        reader._position = position
        return reader

    @property
    def position(self) -> int:
        """The byte offset of the next tag in the file."""
        return self._position

    def __iter__(self) -> Iterator[FlvTag]:
        return self

    def __next__(self) -> FlvTag:
        tag = self.read_tag()
        if tag is None:
            raise StopIteration
        return tag

    def read_tag(self) -> FlvTag | None:
        """Read the next tag and its back pointer.

        Returns:
            The tag, or None at the end of the file.

        Raises:
            RemoteProtocolError: On a malformed tag (see the class description);
                :class:`~rtmp_actors.errors.LimitExceededError` if it is too large.
        """
        if self._done:
            return None
        where = self._position
        head = self._read(TAG_HEADER_SIZE)
        if not head:
            self._done = True
            return None
        if len(head) < TAG_HEADER_SIZE:
            self._cut_short(f"the tag header at byte {where}")
            return None
        first = head[0]
        if first & 0xC0 and self._strict:
            msg = f"FLV tag at byte {where} has reserved bits set in its type byte {first:#04x}"
            raise RemoteProtocolError(msg)
        size = int.from_bytes(head[1:4])
        if size > self._max_tag_size:
            raise LimitExceededError(
                "max_tag_size", size, self._max_tag_size, f"FLV tag at byte {where}"
            )
        data = self._read(size)
        if len(data) < size:
            self._cut_short(f"the {size}-byte tag body at byte {where}")
            return None
        tag = FlvTag(
            first & 0x1F,
            int.from_bytes(head[4:7]) | head[7] << 24,
            data,
            int.from_bytes(head[8:11]),
            bool(first & 0x20),
        )
        back_pointer = self._read(4)
        if len(back_pointer) < 4:
            self._cut_short(f"the back pointer of the tag at byte {where}")
            return tag
        value = int.from_bytes(back_pointer)
        if value != TAG_HEADER_SIZE + size and self._strict:
            msg = (
                f"back pointer after the tag at byte {where} is {value}, "
                f"but the tag takes {TAG_HEADER_SIZE + size} bytes"
            )
            raise RemoteProtocolError(msg)
        self._position = where + TAG_HEADER_SIZE + size + 4
        return tag

    def _cut_short(self, what: str) -> None:
        if self._strict:
            msg = f"FLV file ends inside {what}"
            raise RemoteProtocolError(msg)
        self.truncated = True
        self._done = True

    def _read(self, size: int) -> bytes:
        # Streams may return short reads (pipes, raw files); keep reading until size or EOF.
        chunk = self._stream.read(size) or b""
        if len(chunk) >= size or not chunk:
            return chunk
        parts = [chunk]
        got = len(chunk)
        while got < size:
            more = self._stream.read(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def _skip(self, size: int) -> None:
        while size > 0:
            chunk = self._read(min(size, _SKIP_CHUNK))
            if not chunk:
                msg = f"FLV file ends inside the {size} header bytes after byte 9"
                raise RemoteProtocolError(msg)
            size -= len(chunk)


class FlvWriter:
    """Writes an FLV header and tags, with their back pointers, to a binary stream.

    Construction writes the header and PreviousTagSize0 at once.
    """

    def __init__(
        self,
        stream: WritableStream,
        header: FlvHeader | None = None,
        *,
        flush_each_tag: bool = False,
    ) -> None:
        """Write the header to ``stream``.

        Args:
            stream: A binary stream.
            header: The header to write; audio and video flags set when not given.
            flush_each_tag: Flush the stream after every tag, so a reader following the file
                (a live recording) sees whole tags at once.
        """
        self._stream = stream
        self._flush_each_tag = flush_each_tag
        self.header = header if header is not None else FlvHeader()
        padding = bytes(self.header.data_offset - FLV_HEADER_SIZE)
        stream.write(self.header.encode() + padding + bytes(4))
        self._bytes_written = self.header.data_offset + 4

    @property
    def bytes_written(self) -> int:
        """How many bytes the writer has written so far."""
        return self._bytes_written

    def write_tag(self, tag: FlvTag) -> None:
        """Write one tag and its back pointer.

        Raises:
            LocalProtocolError: If a field does not fit its FLV field.
        """
        self.write(
            tag.tag_type, tag.timestamp, tag.data, stream_id=tag.stream_id, filtered=tag.filtered
        )

    def write(
        self,
        tag_type: int,
        timestamp: int,
        data: Buffer,
        *,
        stream_id: int = 0,
        filtered: bool = False,
    ) -> None:
        """Write one tag from its parts (``data`` may be a memoryview; it is not copied).

        Raises:
            LocalProtocolError: If a field does not fit its FLV field.
        """
        size = len(data)
        self._stream.write(_tag_header(tag_type, timestamp, size, stream_id, filtered))
        self._stream.write(data)
        self._stream.write((TAG_HEADER_SIZE + size).to_bytes(4))
        self._bytes_written += TAG_HEADER_SIZE + size + 4
        if self._flush_each_tag:
            self._stream.flush()

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._stream.flush()


def read_flv_file(
    path: str | os.PathLike[str],
    *,
    max_tag_size: int = DEFAULT_MAX_TAG_SIZE,
    strict: bool = True,
) -> Iterator[FlvTag]:
    """Yield the tags of an FLV file one at a time; the file closes when the iterator ends.

    Raises:
        RemoteProtocolError: As :class:`FlvReader` does.
        OSError: If the file cannot be opened or read.
    """
    with open(path, "rb") as stream:
        yield from FlvReader(stream, max_tag_size=max_tag_size, strict=strict)


def write_flv_file(
    path: str | os.PathLike[str],
    tags: Iterable[FlvTag],
    header: FlvHeader | None = None,
) -> int:
    """Write an FLV file (replacing any file at ``path``) and return its size in bytes.

    Raises:
        LocalProtocolError: If a tag field does not fit its FLV field.
        OSError: If the file cannot be written.
    """
    with open(path, "wb") as stream:
        writer = FlvWriter(stream, header)
        for tag in tags:
            writer.write_tag(tag)
        return writer.bytes_written
