"""A folder of FLV files played on demand: settings, name resolution, shared indexes.

A :class:`VodLibrary` serves one app: ``play app/name`` plays ``name`` (``.flv`` optional)
from the library's folder, each play by its own :class:`~rtmp_actors.vod.player.FilePlayer`.
Indexes are immutable and cached per file (path, size and modification time), so many
players of one file index it once; nothing else is shared between players.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from rtmp_actors.actors.monitoring import ExitNotice, monitor
from rtmp_actors.media.flv import DEFAULT_MAX_TAG_SIZE
from rtmp_actors.transport.io_loop import Scheduler
from rtmp_actors.vod.index import FlvIndex, index_flv
from rtmp_actors.vod.names import resolve_vod_name
from rtmp_actors.vod.player import FilePlayer

if TYPE_CHECKING:
    from rtmp_actors.relay.stream import PlayRequest

__all__ = ["VodLibrary", "VodSettings"]

_CACHED_INDEXES = 64


@dataclass(frozen=True, slots=True)
class VodSettings:
    """How files are played on demand.

    Attributes:
        root: The folder of FLV files; nothing outside it is reachable.
        app: The app name players use (``rtmp://host/APP/file.flv``).
        lead: Seconds of media sent ahead of real time, so players buffer a little.
        max_tag_size: Largest tag body a file may have, in bytes.
    """

    root: str
    app: str = "vod"
    lead: float = 1.0
    max_tag_size: int = DEFAULT_MAX_TAG_SIZE


class VodLibrary:
    """Plays the files of one folder to the players of one app.

    Thread-safe: the relay's receivers start players, which resolve names and share indexes.

    Args:
        settings: The folder and how to play.
        scheduler: ``scheduler(delay, callback)`` for the players' pacing timers.
        clock: Seconds, monotonic.

    Raises:
        ValueError: If ``settings.root`` is not a folder, or the lead is negative.
    """

    def __init__(
        self,
        settings: VodSettings,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not os.path.isdir(settings.root):
            msg = f"the VOD folder {settings.root!r} is not a folder"
            raise ValueError(msg)
        if settings.lead < 0:
            msg = f"the VOD lead must not be negative, not {settings.lead}"
            raise ValueError(msg)
        self.settings = settings
        self._schedule = scheduler
        self._clock = clock
        self._lock = threading.Lock()
        self._players = 0
        self._indexes: OrderedDict[tuple[Path, int, int], FlvIndex] = OrderedDict()

    def serves(self, app: str) -> bool:
        """Whether plays of ``app`` are for this library."""
        return app == self.settings.app

    def play(self, request: PlayRequest, start: float = -2, length: float = -1) -> None:
        """Start a file player for ``request``; it accepts or refuses the play itself.

        Args:
            request: The play request; its key is the file name.
            start: The play's ``start`` argument in ms (negative: from the start).
            length: The play's ``len`` argument in ms (negative: to the end).
        """
        ref = FilePlayer.start(
            request, request.key, start, length, self, self._schedule, clock=self._clock
        )
        with self._lock:
            self._players += 1
        monitor(ref, self._player_exited)

    def _player_exited(self, _notice: ExitNotice) -> None:
        with self._lock:
            self._players -= 1

    @property
    def player_count(self) -> int:
        """File players running now (for ``/stats`` and ``/metrics``)."""
        with self._lock:
            return self._players

    def resolve(self, name: str) -> Path:
        """The file a play name means (see :func:`~rtmp_actors.vod.names.resolve_vod_name`).

        Raises:
            VodNameError: If the name is refused or names no file.
        """
        # A query string (``file.flv?token=...``) is for access checks, not part of the name.
        return resolve_vod_name(self.settings.root, name.partition("?")[0])

    def index(self, path: Path, file: BinaryIO) -> FlvIndex:
        """The index of ``file`` (open at ``path``), from the cache when it has not changed.

        Raises:
            RemoteProtocolError: As :func:`~rtmp_actors.vod.index.index_flv`.
            OSError: If the file cannot be read.
        """
        status = os.fstat(file.fileno())
        key = (path, status.st_size, status.st_mtime_ns)
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None:
                self._indexes.move_to_end(key)
                return cached
        index = index_flv(file, max_tag_size=self.settings.max_tag_size)  # outside the lock
        with self._lock:
            self._indexes[key] = index
            while len(self._indexes) > _CACHED_INDEXES:
                self._indexes.popitem(last=False)
        return index
