"""A folder of FLV files played on demand: its settings, name resolution and shared indexes.

Indexes are immutable and cached per file (path, size and modification time), so many
players of one file index it once; nothing else is shared between players.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rtmp_actors.media.flv import DEFAULT_MAX_TAG_SIZE
from rtmp_actors.vod.index import FlvIndex, index_flv
from rtmp_actors.vod.names import resolve_vod_name

__all__ = ["VodFiles", "VodSettings"]

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


class VodFiles:
    """The files of one folder, as players find and index them. Thread-safe.

    Args:
        settings: The folder and how to play.

    Raises:
        ValueError: If ``settings.root`` is not a folder, or the lead is negative.
    """

    def __init__(self, settings: VodSettings) -> None:
        if not os.path.isdir(settings.root):
            msg = f"the VOD folder {settings.root!r} is not a folder"
            raise ValueError(msg)
        if settings.lead < 0:
            msg = f"the VOD lead must not be negative, not {settings.lead}"
            raise ValueError(msg)
        self.settings = settings
        self._lock = threading.Lock()
        self._indexes: OrderedDict[tuple[Path, int, int], FlvIndex] = OrderedDict()

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
