"""Serving the HLS folder on the HTTP port: ``GET /hls/APP/KEY/index.m3u8`` and segments.

Segments are ``N.ts``, or ``N.m4s`` with their init segments ``init-N.mp4``.

Only three path parts after ``/hls/`` are accepted, each made of the characters
:func:`~rtmp_actors.relay.hls.stream_directory` keeps (no ``..``, no leading dot, nothing
percent-encoded), and the file must be the playlist or a numbered segment: no request reaches
anything else, and the resolved path is checked to be inside the folder all the same.
"""

from __future__ import annotations

import re
from pathlib import Path

from rtmp_actors.relay.hls import FMP4_SEGMENT_SUFFIX, PLAYLIST_NAME, SEGMENT_SUFFIX
from rtmp_actors.relay.http_flv_request import HttpRequestError

__all__ = ["HLS_PREFIX", "PLAYLIST_CONTENT_TYPE", "SEGMENT_CONTENT_TYPE", "read_hls_file"]

HLS_PREFIX = "/hls/"
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "video/mp2t"
_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_SEGMENT = re.compile(r"[0-9]{1,20}" + re.escape(SEGMENT_SUFFIX))
_FMP4 = re.compile(r"[0-9]{1,20}" + re.escape(FMP4_SEGMENT_SUFFIX) + r"|init-[0-9]{1,20}\.mp4")
FMP4_CONTENT_TYPE = "video/mp4"
MAX_FILE_SIZE = 64 * 1024 * 1024
"""A segment bigger than this is not served (a publisher that never sends a keyframe)."""


def read_hls_file(root: Path, path: str) -> tuple[str, bytes]:
    """The content type and bytes of the HLS file at request path ``path``.

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
        with open(file, "rb") as stream:
            body = stream.read(MAX_FILE_SIZE + 1)
    except OSError:
        raise HttpRequestError(404, "no such HLS file") from None
    if len(body) > MAX_FILE_SIZE:
        raise HttpRequestError(404, "HLS file too big")
    return content_type, body
