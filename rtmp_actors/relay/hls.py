"""HLS output: every published stream as a live playlist of MPEG-TS segments on disk.

Theory of operation:

* :class:`HlsPackager` is a :class:`StreamObserver`; it does nothing but hand each stream's
  messages to that stream's own :class:`HlsStreamWriter` actor (``tell``), so a slow disk
  delays only that stream's segments, never the relay's fan-out. It is a patient observer
  (see :class:`~rtmp_actors.relay.stream.LiveStream`): the stream hands it the media in
  batches of up to 32 messages or a quarter of a second, which it passes on whole, since
  waking a thread per message cost more than packaging it.
* A writer cuts the publication with a :class:`TsSegmenter` (H.264, AAC, MP3) or, when the
  codec configuration names HEVC, AV1 or Opus, an :class:`Fmp4Segmenter`, and keeps a
  :class:`LivePlaylist`: ``ROOT/<app>/<key>/<n>.ts`` (or ``<n>.m4s`` with ``init-<i>.mp4``)
  and ``index.m3u8``. A segment is written
  as it comes and listed once it is finished; the playlist is written to a temporary file
  and renamed over the old one, so a reader never sees half of it. Segments that leave the
  window are deleted a little later (players may still be fetching them).
* The writer outlives its publication: when the publisher comes back, the playlist goes on
  (sequence numbers keep growing) with ``#EXT-X-DISCONTINUITY``. Meanwhile it ends with
  ``#EXT-X-ENDLIST``. At most ``max_streams`` writers are kept; the one idle longest goes.
* Names come from clients: :func:`stream_directory` keeps only safe characters (as
  recordings do; a name that had to change gets a short hash so two never meet), bounds the
  length, and checks the result is inside the root. Segment and playlist names are the
  packager's own.
* Write errors end that stream's HLS (logged); a message the segmenter cannot read is
  skipped (logged once per publication).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.audio import is_audio_configuration
from rtmp_actors.media.hls_fmp4 import Fmp4Segmenter, InitSegment, needs_fmp4
from rtmp_actors.media.hls_segmenter import SegmentStart, TsSegmenter
from rtmp_actors.media.video import is_video_configuration
from rtmp_actors.relay.hls_playlist import LivePlaylist, Segment, discontinuities_of
from rtmp_actors.relay.observer import StreamObserver
from rtmp_actors.relay.recording import safe_name
from rtmp_actors.session.events import MediaType

__all__ = [
    "PLAYLIST_NAME",
    "HlsPackager",
    "HlsSettings",
    "HlsStreamWriter",
    "hls_root",
    "stream_directory",
]

logger = logging.getLogger(__name__)

PLAYLIST_NAME = "index.m3u8"
SEGMENT_SUFFIX = ".ts"
FMP4_SEGMENT_SUFFIX = ".m4s"
_MAX_HELD = 16  # configuration messages held until the first media message
_OWN_FILE = re.compile(r"(?P<init>init-)?(?P<number>[0-9]{1,20})(?(init)\.mp4|\.(ts|m4s))")
_KEPT_AFTER_WINDOW = 2  # segments kept on disk after they leave the playlist
_HASH_LENGTH = 8


@dataclass(frozen=True, slots=True)
class HlsSettings:
    """HLS output settings (``[hls]`` in the TOML file).

    Attributes:
        dir: Where playlists and segments go (for a CDN to pick up, say); None: a temporary
            folder, removed when the relay stops.
        segment_duration: Seconds a segment lasts at least: it ends at the first keyframe
            after that.
        playlist_length: Segments a playlist lists (the sliding window).
        max_streams: Streams packaged at once; more are not packaged.
    """

    dir: str | None = None
    segment_duration: float = 2.0
    playlist_length: int = 5
    max_streams: int = 1000

    def __post_init__(self) -> None:
        if not self.segment_duration > 0:
            msg = f"HLS segment_duration must be positive, not {self.segment_duration}"
            raise ValueError(msg)
        if self.playlist_length < 1 or self.max_streams < 1:
            msg = "HLS playlist_length and max_streams must be at least 1"
            raise ValueError(msg)


def hls_root(settings: HlsSettings | None, shared: str | None = None) -> tuple[Path | None, bool]:
    """The HLS folder for ``settings``, and whether it is a temporary one (made without ``dir``).

    Without HLS: None and False. Without ``dir``: ``shared`` if given (a folder somebody
    else made and deletes), else a new temporary folder.

    Raises:
        OSError: If the folder cannot be created.
    """
    if settings is None:
        return None, False
    given = settings.dir if settings.dir is not None else shared
    if given is not None:
        root = Path(given)
        root.mkdir(parents=True, exist_ok=True)
        return root.resolve(), False
    return Path(tempfile.mkdtemp(prefix="rtmp-actors-hls-")).resolve(), True


def _url_name(text: str) -> str:
    """A safe path part; a hash of the original tells apart names that had to change."""
    name = safe_name(text)
    if name != text:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        name = f"{name[: 64 - _HASH_LENGTH - 1]}-{digest[:_HASH_LENGTH]}"
    return name


def stream_directory(root: str | os.PathLike[str], app: str, key: str) -> Path:
    """The folder of ``app/key``'s playlist and segments: ``root/<app>/<key>``.

    The key's query string is left out. A name made only of ``A-Z a-z 0-9 . _ -`` (without
    ``..`` or a leading dot, at most 64 characters) is kept as it is, so
    ``/hls/<app>/<key>/index.m3u8`` is predictable; any other gets a safe version.

    Raises:
        ValueError: If the folder would not be inside ``root``.
    """
    base = Path(root).resolve()
    path = base / _url_name(app) / _url_name(key.partition("?")[0])
    if not path.resolve().is_relative_to(base) or path.resolve() == base:
        msg = f"HLS folder {path} is not inside {base}"
        raise ValueError(msg)
    return path


class HlsStreamWriter(pykka.ThreadingActor):
    """Writes one stream's segments and playlist (one actor per stream).

    Args:
        directory: The stream's folder (see :func:`stream_directory`); created if missing.
        settings: Durations and window.
        name: ``app/key``, for the log.
    """

    def __init__(self, directory: Path, settings: HlsSettings, name: str) -> None:
        super().__init__()
        self._directory = directory
        self._settings = settings
        self._name = name
        self._playlist = LivePlaylist(settings.segment_duration, settings.playlist_length)
        self._publishing = False
        self._held: list[tuple[MediaType, int, bytes]] = []  # configuration, before the choice
        self._segmenter: TsSegmenter | Fmp4Segmenter | None = None
        self._suffix = SEGMENT_SUFFIX
        self._file: BinaryIO | None = None
        self._current: Segment | None = None  # the segment being written (duration unknown)
        self._next_sequence = 0
        self._next_init = 0
        self._map: str | None = None  # the init segment of the segments that follow
        self._published_before = False
        self._discontinuity = False
        self._retired: deque[Segment] = deque()
        self._size = (0, 0)
        self._failed = False
        self._warned = False
        self._written: str | None = None  # the playlist as this writer last wrote it

    def on_start(self) -> None:
        """Create the folder, or go on from what an earlier writer left in it."""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._adopt()
        except OSError as error:
            self._fail(error)

    def _adopt(self) -> None:
        """Number on from the files of an earlier writer (a restarted packager or relay).

        Its segments are deleted: they will not be listed again. Players that reload the
        playlist see the numbers and the discontinuity count go on, after a discontinuity.
        The playlist starts empty.
        """
        try:
            earlier = discontinuities_of(
                (self._directory / PLAYLIST_NAME).read_text(encoding="ascii", errors="replace")
            )
        except FileNotFoundError:
            earlier = 0
        self._playlist = LivePlaylist(
            self._settings.segment_duration, self._settings.playlist_length, earlier
        )
        highest = {SEGMENT_SUFFIX: -1, ".mp4": -1}
        for path in self._directory.iterdir():
            match = _OWN_FILE.fullmatch(path.name)
            if match is None:
                continue
            number = int(match["number"])
            if match["init"]:
                highest[".mp4"] = max(highest[".mp4"], number)
            else:
                highest[SEGMENT_SUFFIX] = max(highest[SEGMENT_SUFFIX], number)
            path.unlink()
        if highest[SEGMENT_SUFFIX] >= 0:
            # Never back: players know this writer's numbers too (see _start_over).
            self._next_sequence = max(self._next_sequence, highest[SEGMENT_SUFFIX] + 1)
            self._published_before = True
        self._next_init = max(self._next_init, highest[".mp4"] + 1)

    def publication_started(self) -> None:
        """A publisher starts: a discontinuity if one published before.

        The segmenter is chosen by the first audio or video message that is not codec
        configuration: fMP4 if the configuration seen names HEVC, AV1 or Opus, else MPEG-TS.
        """
        self._end_publication()
        if self._taken_over():
            self._start_over()
        self._publishing = True
        self._held = []
        self._map = None
        self._discontinuity = self._published_before
        self._published_before = True
        self._warned = False
        self._playlist.ended = False
        if self._playlist.segments and not self._failed:
            # Players loading it now wait for the new segments instead of seeing it ended.
            try:
                self._write_playlist()
            except OSError as error:
                self._fail(error)

    def metadata(self, metadata: Mapping[str, Any]) -> None:
        """The publisher's ``onMetaData``: the picture size, for fMP4 init segments."""
        width, height = metadata.get("width"), metadata.get("height")
        if not (isinstance(width, int | float) and isinstance(height, int | float)):
            return
        if 0 < width < 65536 and 0 < height < 65536:
            self._size = (int(width), int(height))

    def media_batch(self, messages: list[tuple[MediaType, int, bytes]]) -> None:
        """Audio and video messages of the publication, in order."""
        for media_type, timestamp, data in messages:
            self.media(media_type, timestamp, data)

    def media(self, media_type: MediaType, timestamp: int, data: bytes) -> None:
        """One audio or video message of the publication."""
        if not self._publishing or self._failed:
            return
        try:
            segmenter = self._segmenter or self._choose(media_type, timestamp, data)
            if segmenter is None:
                return
            outputs = segmenter.feed(media_type, timestamp, data)
        except ProtocolError as error:
            if not self._warned:
                logger.warning("HLS %s: a message was skipped: %s", self._name, error)
                self._warned = True
            return
        try:
            self._write(outputs)
        except OSError as error:
            self._fail(error)

    def _choose(
        self, media_type: MediaType, timestamp: int, data: bytes
    ) -> TsSegmenter | Fmp4Segmenter | None:
        configuration = (
            is_video_configuration(data)
            if media_type is MediaType.VIDEO
            else is_audio_configuration(data)
        )
        if configuration:
            self._held = [*self._held[-(_MAX_HELD - 1) :], (media_type, timestamp, data)]
            return None
        held, self._held = self._held, []
        fmp4 = False
        for kind, _, config in held:
            with contextlib.suppress(ProtocolError):
                fmp4 = fmp4 or needs_fmp4(kind, config)
        duration = self._settings.segment_duration
        segmenter = Fmp4Segmenter(duration, *self._size) if fmp4 else TsSegmenter(duration)
        self._suffix = FMP4_SEGMENT_SUFFIX if fmp4 else SEGMENT_SUFFIX
        self._segmenter = segmenter
        for kind, held_timestamp, config in held:
            with contextlib.suppress(ProtocolError):  # configuration: nothing to write yet
                segmenter.feed(kind, held_timestamp, config)
        return segmenter

    def _write(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, SegmentStart):
                self._finish_segment(output.previous_duration)
                self._open_segment()
            elif isinstance(output, InitSegment):
                name = f"init-{self._next_init}.mp4"
                self._next_init += 1
                (self._directory / name).write_bytes(output.data)
                self._map = name
            elif self._file is not None:
                self._file.write(output)

    def publication_ended(self) -> None:
        """The publisher stopped: the last segment is listed, the playlist ends."""
        self._end_publication()

    def playlist(self) -> str:
        """The playlist's text now (ask from outside the actors, with a timeout)."""
        return self._playlist.render()

    def _end_publication(self) -> None:
        segmenter, self._segmenter = self._segmenter, None
        was_publishing, self._publishing = self._publishing, False
        if segmenter is not None and segmenter.unsupported:
            logger.warning(
                "HLS %s: %s not packaged", self._name, ", ".join(sorted(segmenter.unsupported))
            )
        if self._failed or not was_publishing:
            return
        self._playlist.ended = True
        try:
            if segmenter is not None:
                data, duration = segmenter.finish()
                if data and self._file is not None:
                    self._file.write(data)
                self._finish_segment(duration)
            self._write_playlist()
        except OSError as error:
            self._fail(error)

    def _open_segment(self) -> None:
        sequence = self._next_sequence
        self._next_sequence += 1
        uri = f"{sequence}{self._suffix}"
        self._current = Segment(sequence, uri, 0.0, self._discontinuity, self._map)
        self._discontinuity = False
        # Closed by _finish_segment, when the next segment starts or the publication ends.
        self._file = open(self._directory / uri, "wb")  # noqa: SIM115

    def _finish_segment(self, duration: float | None) -> None:
        file, current = self._file, self._current
        self._file = self._current = None
        if file is None or current is None:
            return
        file.close()
        if duration is None:
            return
        for gone in self._playlist.add(replace(current, duration=duration)):
            self._retired.append(gone)
        while len(self._retired) > _KEPT_AFTER_WINDOW:
            self._delete(self._retired.popleft())
        self._write_playlist()

    def _delete(self, segment: Segment) -> None:
        """Delete a segment's file, and its init segment once no other segment needs it."""
        with contextlib.suppress(FileNotFoundError):
            (self._directory / segment.uri).unlink()
        in_use = {s.map_uri for s in (*self._playlist.segments, *self._retired)}
        if segment.map_uri is not None and segment.map_uri not in in_use | {self._map}:
            with contextlib.suppress(FileNotFoundError):
                (self._directory / segment.map_uri).unlink()

    def _write_playlist(self) -> None:
        path = self._directory / PLAYLIST_NAME
        # Named by process: workers sharing the folder never write one temporary file.
        temporary = path.with_name(f".{PLAYLIST_NAME}.{os.getpid()}.tmp")
        text = self._playlist.render()
        temporary.write_text(text, encoding="ascii")
        os.replace(temporary, path)
        self._written = text

    def _taken_over(self) -> bool:
        """Whether another writer (another worker's, sharing the folder) wrote the playlist."""
        if self._failed:
            return False
        try:
            on_disk: str | None = (self._directory / PLAYLIST_NAME).read_text(encoding="ascii")
        except FileNotFoundError:
            on_disk = None
        except (OSError, UnicodeDecodeError):
            return True
        return on_disk != self._written

    def _start_over(self) -> None:
        """Go on from the other writer's files, as a restarted writer does (see _adopt)."""
        self._retired.clear()
        self._written = None
        try:
            self._adopt()
        except OSError as error:
            self._fail(error)

    def _fail(self, error: OSError) -> None:
        logger.error("HLS %s stopped: %s", self._name, error)
        self._failed = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def on_stop(self) -> None:
        """Finish the segment being written."""
        self._end_publication()


class HlsPackager(StreamObserver):
    """Packages every published stream as HLS under ``root`` (one writer actor per stream).

    Args:
        root: The HLS folder (created if missing).
        settings: Durations, window and limits.
        packages: Whether an app's streams are packaged (per-application settings); None:
            every app's.
        origin_only: Leave out pulled streams: for workers that share ``root``, where the
            worker a stream is published on packages it and any worker serves the files.

    Raises:
        OSError: If ``root`` cannot be created.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        settings: HlsSettings,
        packages: Callable[[str], bool] | None = None,
        *,
        origin_only: bool = False,
    ) -> None:
        super().__init__()
        self._packages = packages
        self._origin_only = origin_only
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._settings = settings
        # Writers by stream, the least recently published first (the first to go).
        self._writers: OrderedDict[tuple[str, str], ActorHandle[HlsStreamWriter]] = OrderedDict()
        self._publishing: set[tuple[str, str]] = set()

    def stream_published(self, app: str, key: str) -> None:
        """Start (or go on with) the stream's playlist."""
        if self._packages is not None and not self._packages(app):
            return  # an application with HLS off
        stream = (app, key)
        writer = self._writers.get(stream)
        if writer is None:
            writer = self._new_writer(app, key)
            if writer is None:
                return
        self._writers.move_to_end(stream)
        self._publishing.add(stream)
        self._tell(stream, writer, HlsStreamWriter.publication_started)

    def stream_pulled_in(self, app: str, key: str) -> None:
        """A pulled stream: packaged here unless its origin packages it into this folder."""
        if not self._origin_only:
            self.stream_published(app, key)

    def _new_writer(self, app: str, key: str) -> ActorHandle[HlsStreamWriter] | None:
        if len(self._writers) >= self._settings.max_streams:
            idle = next((s for s in self._writers if s not in self._publishing), None)
            if idle is None:
                logger.warning(
                    "not packaging %s/%s as HLS: %d streams already",
                    app,
                    key,
                    self._settings.max_streams,
                )
                return None
            self._writers.pop(idle).actor_ref.stop(block=False)
        try:
            directory = stream_directory(self.root, app, key)
        except ValueError as error:
            logger.error("not packaging %s/%s as HLS: %s", app, key, error)
            return None
        writer: ActorHandle[HlsStreamWriter] = ActorHandle(
            HlsStreamWriter.start(directory, self._settings, f"{app}/{key}")
        )
        self._writers[(app, key)] = writer
        logger.info("HLS for %s/%s in %s", app, key, directory)
        return writer

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        """Hand the picture size to the writer (fMP4 init segments state it)."""
        writer = self._writers.get((app, key))
        if writer is not None and metadata:
            self._tell((app, key), writer, HlsStreamWriter.metadata, dict(metadata))

    def stream_media_batch(
        self, app: str, key: str, media: Sequence[tuple[MediaType, int, bytes]]
    ) -> None:
        """Hand the stream's batch to its writer, in one message."""
        stream = (app, key)
        writer = self._writers.get(stream)
        if stream in self._publishing and writer is not None and media:
            self._tell(stream, writer, HlsStreamWriter.media_batch, list(media))

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """One message (a snapshot's, replayed): a batch of one."""
        self.stream_media_batch(app, key, [(media_type, timestamp, data)])

    def stream_unpublished(self, app: str, key: str) -> None:
        """End the playlist (the writer stays, for a publisher that comes back)."""
        self._publishing.discard((app, key))
        writer = self._writers.get((app, key))
        if writer is not None:
            self._tell((app, key), writer, HlsStreamWriter.publication_ended)

    def _tell(
        self,
        stream: tuple[str, str],
        writer: ActorHandle[HlsStreamWriter],
        method: Callable[..., None],
        *args: Any,
    ) -> None:
        try:
            writer.tell(method, *args)
        except pykka.ActorDeadError:  # it crashed (and logged why): not this stream's HLS
            logger.error("HLS for %s/%s stopped: its writer is gone", *stream)
            self._writers.pop(stream, None)

    def stream_playlist(self, app: str, key: str) -> Path | None:
        """Where ``app/key``'s playlist is written, if it is packaged (ask, with a timeout)."""
        if (app, key) not in self._writers:
            return None
        return stream_directory(self.root, app, key) / PLAYLIST_NAME

    def on_stop(self) -> None:
        """Stop every writer (each finishes its segment)."""
        writers, self._writers = list(self._writers.values()), OrderedDict()
        for writer in writers:
            with contextlib.suppress(pykka.ActorDeadError):
                writer.actor_ref.stop(block=True, timeout=10)

    def on_failure(self, *_exc_info: Any) -> None:
        """Stop every writer."""
        self.on_stop()
