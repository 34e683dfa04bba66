"""Recording every published stream to an FLV file (``rtmp-actors serve --record DIR``).

Theory of operation:

* :class:`StreamRecorder` is a :class:`StreamObserver`: every live stream tells it, in
  order, what its publisher does. Each publication gets its own file,
  ``DIR/<app>/<key>-<UTC time>.flv``, opened when publishing starts and finished when it
  stops (or when the recorder stops: the relay's ``stop()``, a SIGTERM drain).
* Names come from the client, so they are never trusted: :func:`safe_name` keeps only
  ``[A-Za-z0-9._-]``, drops the key's query string (it often carries a token), removes
  ``..`` and leading dots, and bounds the length; :func:`recording_path` also checks that the
  resolved path stays inside DIR, and files are created exclusively (never overwritten).
* Tags are written as the publisher sent them (same bodies, same timestamps), through a
  buffered file that is flushed at least every ``flush_interval`` seconds of media time or
  of wall time, so a killed relay loses at most about that much of each recording. A reader
  following a file being recorded may meet a cut-off last tag (``FlvReader(strict=False)``).
* ``onMetaData`` comes first: media that arrives before any metadata is held back (a few
  messages at most) so the metadata can still go in front of it. That first tag is the
  recorder's own: the publisher's fields (or none, if no metadata came in time) with
  ``duration`` and ``filesize`` as placeholders, last. AMF0 numbers take a fixed 8 bytes, so
  finishing the file overwrites the two in place (as FFmpeg's and nginx-rtmp's FLV writers
  do) and the finished file plays with a length and seeks. Later metadata updates are
  written where they come, as sent. A file that is not finished (abandoned after a write
  error, or a killed relay) stays valid, with the placeholders at 0: "unknown".
* The header's audio and video flags are set to what the file really holds, updated in
  place as the file grows.
* A recorder that crashes finishes its files; the relay's supervisor restarts it, and the
  running streams describe themselves to the new one (``stream_snapshot``), which starts a
  new file for each from its cached codec configuration and GOP.
* Recordings can also be started and stopped one stream at a time, while it runs
  (:meth:`StreamRecorder.start_recording`, the control API's ``record/start``): the new file
  waits for the stream to describe itself (``describe_stream``) and starts from its cached
  metadata, codec configuration and GOP, so it begins at a keyframe. A recorder made with
  ``record_all=False`` records only such streams, each until it is stopped or its
  publication ends (nginx-rtmp's ``record manual``); those end with a crashed recorder.
* A file ends up deleted if no audio or video was written to it. Write errors (a full disk)
  end that recording, logged, without disturbing the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.media.flv import TAG_HEADER_SIZE, FlvHeader, FlvWriter, TagType
from rtmp_actors.protocol.amf import EcmaArray, encode_values
from rtmp_actors.relay.observer import StreamObserver, StreamSnapshot
from rtmp_actors.session.events import MediaType

__all__ = ["FlvRecording", "StreamRecorder", "head_metadata", "recording_path", "safe_name"]

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 64
"""Longest app or key part of a recording's file name."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DOTS = re.compile(r"\.{2,}")
_FLAGS_OFFSET = 4  # the audio/video flags byte of the FLV header
_MAX_HELD = 64  # media messages held back waiting for metadata
_MAX_HELD_MS = 1000
_BUFFER_SIZE = 256 * 1024
_PATCHED_FIELDS = ("duration", "filesize")
_AMF0_ZERO = b"\x00" + bytes(8)  # the number 0.0: type marker, then 8 bytes
_PLACEHOLDERS = (
    b"\x00\x08duration" + _AMF0_ZERO + b"\x00\x08filesize" + _AMF0_ZERO + b"\x00\x00\x09"
)
"""How the head ``onMetaData`` body ends: the two placeholders, then the ECMA array's end."""
_DURATION_AT = 11  # offsets of the two numbers' 8 bytes within _PLACEHOLDERS
_FILESIZE_AT = 30
_DOUBLE = struct.Struct(">d")


def head_metadata(metadata: Mapping[str, Any]) -> tuple[bytes, int]:
    """The body of a recording's first ``onMetaData``, and where its placeholders start.

    The publisher's fields are kept in their order, except ``duration`` and ``filesize``,
    which go last as 0.0 to be overwritten when the recording finishes: the duration's 8
    bytes start ``11`` bytes after the returned offset, the file size's ``30`` bytes after.

    Raises:
        ValueError, TypeError: If the metadata cannot be encoded.
    """
    properties = {key: value for key, value in metadata.items() if key not in _PATCHED_FIELDS}
    properties.update(dict.fromkeys(_PATCHED_FIELDS, 0.0))
    body = encode_values(["onMetaData", EcmaArray(properties)])
    if not body.endswith(_PLACEHOLDERS):  # pragma: no cover - the AMF0 layout is fixed
        msg = "onMetaData did not encode with its placeholders last"
        raise ValueError(msg)
    return body, len(body) - len(_PLACEHOLDERS)


def safe_name(text: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """A file name part made from a client-supplied name.

    Only ``A-Z a-z 0-9 . _ -`` are kept (anything else, path separators included, becomes
    ``_``); runs of dots become ``_``, as does a leading dot; the result is cut to
    ``max_length`` characters and is never empty.

    >>> safe_name("../../etc/passwd")
    '____etc_passwd'
    """
    name = _UNSAFE.sub("_", text)
    name = _DOTS.sub("_", name)
    if name.startswith("."):
        name = "_" + name[1:]
    return name[:max_length] or "_"


def recording_path(
    directory: str | os.PathLike[str], app: str, key: str, when: dt.datetime
) -> Path:
    """Where a recording of ``app/key`` started at ``when`` goes.

    ``<directory>/<safe app>/<safe key>-<YYYYmmddTHHMMSSZ>.flv``; the key's query string is
    left out.

    Raises:
        ValueError: If the path would not be inside ``directory`` (a symbolic link in the
            way, say).
    """
    root = Path(directory).resolve()
    stamp = when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root / safe_name(app) / f"{safe_name(key.partition('?')[0])}-{stamp}.flv"
    if not path.resolve().is_relative_to(root):
        msg = f"recording path {path} is not inside {root}"
        raise ValueError(msg)
    return path


def _create_exclusively(path: Path, attempts: int = 100) -> tuple[Path, BinaryIO]:
    """Create a new file at ``path``, or at ``<stem>-<n><suffix>`` if it exists."""
    candidate = path
    for number in range(1, attempts + 1):
        try:
            return candidate, open(candidate, "xb", buffering=_BUFFER_SIZE)
        except FileExistsError:
            candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    msg = f"{path} and {attempts} numbered variants exist"
    raise FileExistsError(msg)


@dataclass(frozen=True, slots=True)
class _Held:
    media_type: MediaType
    timestamp: int
    data: bytes


class FlvRecording:
    """One FLV file being recorded (used by :class:`StreamRecorder`; not thread-safe).

    Args:
        path: The file to create (a numbered variant if it exists).
        flush_interval: Flush at least this often, in seconds of media or wall time.
        clock: Monotonic seconds (for tests).

    Raises:
        OSError: If the file cannot be created.
    """

    def __init__(
        self,
        path: Path,
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._file = _create_exclusively(path)
        self._writer = FlvWriter(self._file, FlvHeader(has_audio=False, has_video=False))
        self._file.flush()  # a valid (empty) FLV from the start
        self._clock = clock
        self._flush_ms = int(flush_interval * 1000)
        self._flush_seconds = flush_interval
        self._flushed_at = clock()
        self._flushed_timestamp: int | None = None
        self._flags_written = 0
        self._flags = 0
        self._held: list[_Held] | None = []  # None once metadata or enough media came
        self._placeholders_at: int | None = None  # file offset, once the head tag is written
        self._first_timestamp: int | None = None
        self._latest_timestamp = 0  # the largest media timestamp (audio and video interleave)
        self._last_timestamp = 0
        self.media_tags = 0
        self.closed = False

    @property
    def bytes_written(self) -> int:
        """Bytes written so far (some may still be in the buffer)."""
        return self._writer.bytes_written

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Write ``onMetaData`` (an empty mapping, which clears it, is not written).

        Raises:
            OSError: On a write error.
            ValueError, TypeError: If the metadata cannot be encoded.
        """
        if not metadata:
            return
        if self._held is None:
            body = encode_values(["onMetaData", EcmaArray(metadata)])
            self._writer.write(TagType.SCRIPT_DATA, self._last_timestamp, body)
            return
        self._write_head(metadata)

    def write_media(self, media_type: MediaType, timestamp: int, data: bytes) -> None:
        """Write one audio or video message (held back briefly while no metadata came).

        Raises:
            OSError: On a write error.
            ValueError: If the message does not fit an FLV tag.
        """
        held = self._held
        if held is not None:
            held.append(_Held(media_type, timestamp, data))
            if len(held) < _MAX_HELD and timestamp - held[0].timestamp < _MAX_HELD_MS:
                return
            self._write_head({})
            return
        self._write_media(media_type, timestamp, data)

    def _write_head(self, metadata: Mapping[str, Any]) -> None:
        """Write the first ``onMetaData`` (with the placeholders), then the held media."""
        body, placeholders = head_metadata(metadata)
        start = self._writer.bytes_written
        held, self._held = self._held, None
        self._writer.write(TagType.SCRIPT_DATA, 0, body)
        self._placeholders_at = start + TAG_HEADER_SIZE + placeholders
        for message in held or ():
            self._write_media(message.media_type, message.timestamp, message.data)

    def _write_media(self, media_type: MediaType, timestamp: int, data: bytes) -> None:
        if media_type is MediaType.AUDIO:
            tag_type, self._flags = TagType.AUDIO, self._flags | 0x04
        else:
            tag_type, self._flags = TagType.VIDEO, self._flags | 0x01
        self._writer.write(tag_type, timestamp & 0xFFFFFFFF, data)
        self.media_tags += 1
        self._last_timestamp = timestamp
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
        self._latest_timestamp = max(self._latest_timestamp, timestamp)
        if self._flushed_timestamp is None:
            self._flushed_timestamp = timestamp
        if (
            timestamp - self._flushed_timestamp >= self._flush_ms
            or self._clock() - self._flushed_at >= self._flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Push buffered tags to the operating system and update the header's flags.

        Raises:
            OSError: On a write error.
        """
        if self._flags != self._flags_written:
            self._file.flush()
            end = self._file.tell()
            self._file.seek(_FLAGS_OFFSET)
            self._file.write(bytes((self._flags,)))
            self._file.seek(end)
            self._flags_written = self._flags
        self._file.flush()
        self._flushed_at = self._clock()
        self._flushed_timestamp = self._last_timestamp if self.media_tags else None

    @property
    def duration(self) -> float:
        """Seconds from the first media timestamp to the latest."""
        if self._first_timestamp is None:
            return 0.0
        return max(0, self._latest_timestamp - self._first_timestamp) / 1000

    def close(self) -> None:
        """Write what is held back, fill in ``duration`` and ``filesize``, and close.

        The file is deleted if it has no media.

        Raises:
            OSError: On a write error (the file is closed all the same).
        """
        if self.closed:
            return
        self.closed = True
        try:
            if self._held:
                self._write_head({})
            self.flush()
            self._fill_in_placeholders()
        finally:
            self._file.close()
            if not self.media_tags:
                with contextlib.suppress(OSError):
                    self.path.unlink()

    def _fill_in_placeholders(self) -> None:
        if self._placeholders_at is None or not self.media_tags:
            return
        end = self._file.tell()
        self._file.seek(self._placeholders_at + _DURATION_AT)
        self._file.write(_DOUBLE.pack(self.duration))
        self._file.seek(self._placeholders_at + _FILESIZE_AT)
        self._file.write(_DOUBLE.pack(float(self.bytes_written)))
        self._file.seek(end)
        self._file.flush()

    def abandon(self) -> None:
        """Close after a write error, without writing more (keeps what is on disk)."""
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            self._file.close()


class StreamRecorder(StreamObserver):
    """Records every publication the relay carries to ``directory/<app>/<key>-<time>.flv``.

    Args:
        directory: Where recordings go (created if missing).
        flush_interval: Flush each file at least this often, in media or wall seconds.
        max_recordings: Files open at once; publications beyond this are not recorded.
        clock: Monotonic seconds (for tests).
        now: The current time, for file names (for tests).
        origin_only: Leave out pulled streams (in a cluster, only origins record).
        record_all: Record every publication; with False, only those asked for with
            :meth:`start_recording`.
        finished: Called with ``(app, key, path)`` on this actor's thread once a file with
            media in it is finished (the ``on_record_done`` hooks); must not block.
        app_directories: Applications recorded otherwise than ``record_all`` says: each
            publication of the app goes to its folder, or, with None, is not recorded
            unless asked for (see :mod:`rtmp_actors.relay.applications`).

    Raises:
        OSError: If ``directory`` cannot be created.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        flush_interval: float = 1.0,
        max_recordings: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        *,
        origin_only: bool = False,
        record_all: bool = True,
        finished: Callable[[str, str, Path], None] | None = None,
        app_directories: Mapping[str, str | os.PathLike[str] | None] | None = None,
    ) -> None:
        super().__init__()
        self._origin_only = origin_only
        self._record_all = record_all
        self._app_directories = {
            app: None if folder is None else Path(folder)
            for app, folder in (app_directories or {}).items()
        }
        self._finished = finished
        # Started on request, waiting for their stream's snapshot: live media is not theirs yet.
        self._awaiting: set[tuple[str, str]] = set()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._flush_interval = flush_interval
        self._max_recordings = max_recordings
        self._clock = clock
        self._now = now
        self._recordings: dict[tuple[str, str], FlvRecording] = {}

    def stream_published(self, app: str, key: str) -> None:
        """Open a new file for this publication (unless only requested streams are recorded)."""
        self._finish(app, key)  # a missed unpublish: never two files for one stream
        if app in self._app_directories:
            if self._app_directories[app] is None:
                return
        elif not self._record_all:
            return
        try:
            self._open(app, key)
        except (OSError, ValueError) as error:
            logger.error("cannot record %s/%s: %s", app, key, error)

    def _open(self, app: str, key: str) -> FlvRecording:
        if len(self._recordings) >= self._max_recordings:
            msg = f"not recording {app}/{key}: {self._max_recordings} recordings already"
            logger.warning("%s", msg)
            raise ValueError(msg)
        path = recording_path(
            self._app_directories.get(app) or self.directory, app, key, self._now()
        )
        recording = FlvRecording(path, self._flush_interval, self._clock)
        self._recordings[(app, key)] = recording
        logger.info("recording %s/%s to %s", app, key, recording.path)
        return recording

    def start_recording(self, app: str, key: str) -> tuple[Path, bool]:
        """Record ``app/key`` from now on (ask from outside the actors, with a timeout).

        The file starts once the stream describes itself: have the registry ask it
        (``StreamRegistry.describe_stream(app, key, recorder)``) after this returns.

        Returns:
            The file, and whether it is new (False: the stream was being recorded already).

        Raises:
            OSError: If the file cannot be created.
            ValueError: If the name is unsafe, or ``max_recordings`` are being recorded.
        """
        current = self._recordings.get((app, key))
        if current is not None:
            return current.path, False
        recording = self._open(app, key)
        self._awaiting.add((app, key))
        return recording.path, True

    def stop_recording(self, app: str, key: str) -> Path | None:
        """Finish the recording of ``app/key`` now; its file, or None if it was not recorded.

        With ``record_all``, the stream's next publication is recorded again.
        """
        recording = self._recordings.get((app, key))
        if recording is None:
            return None
        self._finish(app, key)
        return recording.path

    def stream_pulled_in(self, app: str, key: str) -> None:
        """Record a pulled stream too, unless only origins record (in a cluster)."""
        if self._origin_only:
            self._finish(app, key)  # a missed unpublish
            return
        self.stream_published(app, key)

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        """Write ``onMetaData``."""
        recording = self._recordings.get((app, key))
        if recording is not None and (app, key) not in self._awaiting:
            self._guard(app, key, recording, recording.write_metadata, metadata)

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """Write one audio or video tag."""
        recording = self._recordings.get((app, key))
        if recording is not None and (app, key) not in self._awaiting:
            self._guard(app, key, recording, recording.write_media, media_type, timestamp, data)

    def stream_unpublished(self, app: str, key: str) -> None:
        """Finish the file."""
        self._finish(app, key)

    def stream_snapshot(self, snapshot: StreamSnapshot) -> None:
        """A running stream describes itself: a requested recording starts from its cached GOP.

        Otherwise it is one that ran when this recorder started: recorded likewise.
        """
        name = (snapshot.app, snapshot.key)
        if name in self._awaiting:
            self._awaiting.discard(name)
            if not snapshot.published:
                self._finish(*name)
                return
            if snapshot.metadata:
                self.stream_metadata(*name, snapshot.metadata)
            for media_type, timestamp, data in snapshot.media:
                self.stream_media(*name, media_type, timestamp, data)
        elif name not in self._recordings:  # else: already seen live
            super().stream_snapshot(snapshot)

    def _guard(
        self, app: str, key: str, recording: FlvRecording, write: Callable[..., None], *args: Any
    ) -> None:
        try:
            write(*args)
        except OSError as error:
            logger.error("recording %s stopped: %s", recording.path, error)
            recording.abandon()
            self._recordings.pop((app, key), None)
        except (LocalProtocolError, ValueError, TypeError) as error:  # a tag that does not fit
            logger.warning("recording %s: a message was not written: %s", recording.path, error)

    def _finish(self, app: str, key: str) -> None:
        self._awaiting.discard((app, key))
        recording = self._recordings.pop((app, key), None)
        if recording is None:
            return
        try:
            recording.close()
        except OSError as error:
            logger.error("recording %s not finished cleanly: %s", recording.path, error)
            return
        if recording.media_tags:
            logger.info(
                "recorded %s/%s: %s (%d bytes)", app, key, recording.path, recording.bytes_written
            )
            if self._finished is not None:
                self._finished(app, key, recording.path)

    def recordings(self) -> dict[tuple[str, str], Path]:
        """The files being recorded, by (app, key) (ask from outside the actors, with a timeout)."""
        return {stream: recording.path for stream, recording in self._recordings.items()}

    def on_stop(self) -> None:
        """Finish every file."""
        for app, key in list(self._recordings):
            self._finish(app, key)

    def on_failure(self, *_exc_info: Any) -> None:
        """Finish every file."""
        self.on_stop()
