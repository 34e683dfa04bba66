"""Serving the HLS folder on the HTTP port: ``GET /hls/APP/KEY/index.m3u8`` and segments.

Segments are ``N.ts``, or ``N.m4s`` with their init segments ``init-N.mp4``.

Only three path parts after ``/hls/`` are accepted, each made of the characters
:func:`~rtmp_actors.relay.hls.stream_directory` keeps (no ``..``, no leading dot, nothing
percent-encoded), and the file must be the playlist or a numbered segment: no request reaches
anything else, and the resolved path is checked to be inside the folder all the same.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

from rtmp_actors.relay.hls import FMP4_SEGMENT_SUFFIX, PLAYLIST_NAME, SEGMENT_SUFFIX
from rtmp_actors.relay.http_flv_request import HttpRequestError

__all__ = ["HLS_PREFIX", "PLAYLIST_CONTENT_TYPE", "SEGMENT_CONTENT_TYPE", "open_hls_file"]

HLS_PREFIX = "/hls/"
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "video/mp2t"
_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_SEGMENT = re.compile(r"[0-9]{1,20}" + re.escape(SEGMENT_SUFFIX))
_FMP4 = re.compile(r"[0-9]{1,20}" + re.escape(FMP4_SEGMENT_SUFFIX) + r"|init-[0-9]{1,20}\.mp4")
FMP4_CONTENT_TYPE = "video/mp4"


def open_hls_file(root: Path, path: str) -> tuple[str, BinaryIO, int]:
    """The content type, open file and size of the HLS file at request path ``path``.

    The caller sends the file from the open handle (``socket.sendfile``), so a request
    costs no memory for the file's size, and closes it. A segment deleted meanwhile (it
    left the window) is still sent whole: the open handle keeps it.

    Raises:
        HttpRequestError: 404 for anything that is not a playlist or segment in ``root``.
    """
    parts = path[len(HLS_PREFIX) :].split("/") if path.startswith(HLS_PREFIX) else []
    if len(parts) != 3 or not all(_PART.fullmatch(part) and ".." not in part for part in parts):
        raise HttpRequestError(404, "no such HLS file")
    app, key, name = parts
    if name == PLAYLIST_NAME:
        content_type = PLAYLIST_CONTENT_TYPE
    elif _SEGMENT.fullmatch(name):
        content_type = SEGMENT_CONTENT_TYPE
    elif _FMP4.fullmatch(name):
        content_type = FMP4_CONTENT_TYPE
    else:
        raise HttpRequestError(404, "no such HLS file")
    base = root.resolve()
    file = (base / app / key / name).resolve()
    if not file.is_relative_to(base):
        raise HttpRequestError(404, "no such HLS file")
    try:
        stream = open(file, "rb")  # noqa: SIM115 (the caller sends and closes it)
    except OSError:
        raise HttpRequestError(404, "no such HLS file") from None
    return content_type, stream, os.fstat(stream.fileno()).st_size
