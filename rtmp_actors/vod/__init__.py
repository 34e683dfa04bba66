"""Video on demand: FLV files of a folder played to RTMP players, paced in real time.

* :mod:`~rtmp_actors.vod.names`: play names to files, refusing anything outside the folder.
* :mod:`~rtmp_actors.vod.index`: seek points and duration of a file, from its tag headers.
* :mod:`~rtmp_actors.vod.clock`: which tags are due, with pause, resume and seek.
* :mod:`~rtmp_actors.vod.player`: the actor that plays one file to one player.
* :mod:`~rtmp_actors.vod.files`: the folder, its settings, and its shared indexes.
* :mod:`~rtmp_actors.vod.library`: the folder's files played to the players of one app.

The first three are sans-I/O (the index reads a file it is given). A relay serves a library
with ``RelayConfig(vod_dir=...)`` (``rtmp-actors serve --vod DIR``).
"""

from rtmp_actors.vod.clock import PlaybackClock
from rtmp_actors.vod.files import VodFiles
from rtmp_actors.vod.index import FlvIndex, index_flv
from rtmp_actors.vod.library import VodLibrary, VodSettings
from rtmp_actors.vod.names import VodNameError, resolve_vod_name
from rtmp_actors.vod.player import FilePlayer

__all__ = [
    "FilePlayer",
    "FlvIndex",
    "PlaybackClock",
    "VodFiles",
    "VodLibrary",
    "VodNameError",
    "VodSettings",
    "index_flv",
    "resolve_vod_name",
]
