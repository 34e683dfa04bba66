"""Which stream an HTTP-FLV request names: ``/APP/KEY.flv[?QUERY]``, checked (sans-I/O).

A browser or FFmpeg asks for ``GET /live/cam.flv?token=abc``: app ``live``, stream key
``cam``, and a query string that goes to the access check as an RTMP player's query would
(``cam?token=abc``). The names are client data: they are percent-decoded once, then held to
rules stricter than RTMP's, since they came through a URL (no dot segments, no slashes or
backslashes, no control characters, at most ``max_name_length`` bytes). Anything else is
refused with the HTTP status to answer: 400 for a malformed or dangerous name, 404 for a
path of another shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from rtmp_actors.errors import RtmpError
from rtmp_actors.limits import DEFAULT_LIMITS

__all__ = ["FLV_SUFFIX", "FlvTarget", "HttpRequestError", "parse_flv_path"]

FLV_SUFFIX = ".flv"

# Characters a decoded name may not hold: path separators, the query mark (the access check
# splits the key there) and every control character, NUL included.
_FORBIDDEN = frozenset("/\\?") | frozenset(map(chr, range(0x20))) | {"\x7f"}
_HEX = frozenset("0123456789abcdefABCDEF")


class HttpRequestError(RtmpError):
    """An HTTP request the server refuses (a bad name, access refused, no such stream).

    Attributes:
        status: The HTTP status to answer with.
        reason: What was wrong, for the log and the response body (names are repr'd).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FlvTarget:
    """The live stream an HTTP-FLV request asks for.

    Attributes:
        app: The application name.
        key: The stream key.
        query: The raw query string (without ``?``), or "".
    """

    app: str
    key: str
    query: str = ""

    @property
    def access_key(self) -> str:
        """The key as an RTMP player would send it: with ``?query`` when there is one."""
        return f"{self.key}?{self.query}" if self.query else self.key


def _shown(segment: str) -> str:
    """A client's segment for the log and the answer: repr'd, and cut to a readable size."""
    return repr(segment) if len(segment) <= 64 else repr(segment[:64]) + "..."


def _decode(segment: str, what: str, max_length: int) -> str:
    """Percent-decode one path segment and hold it to the name rules."""
    if not segment:
        raise HttpRequestError(404, f"the {what} is empty")
    for index, char in enumerate(segment):
        if char == "%" and not (
            index + 2 < len(segment) and segment[index + 1] in _HEX and segment[index + 2] in _HEX
        ):
            raise HttpRequestError(400, f"bad percent escape in the {what} {_shown(segment)}")
    raw = unquote_to_bytes(segment)
    if len(raw) > max_length:
        raise HttpRequestError(400, f"the {what} is longer than {max_length} bytes")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpRequestError(400, f"the {what} {_shown(segment)} is not UTF-8") from None
    if name in (".", ".."):
        raise HttpRequestError(400, f"the {what} {_shown(segment)} is a dot segment")
    if any(char in _FORBIDDEN for char in name):
        raise HttpRequestError(400, f"the {what} {_shown(segment)} holds a forbidden character")
    return name


def parse_flv_path(target: str, max_name_length: int = DEFAULT_LIMITS.max_name_length) -> FlvTarget:
    """The stream named by an HTTP request target such as ``/live/cam.flv?token=abc``.

    Args:
        target: The request target as sent (path and query, not decoded).
        max_name_length: Longest app name, and longest stream key with its query, in bytes.

    Raises:
        HttpRequestError: 404 for a path that is not ``/APP/KEY.flv``; 400 for a bad name
            (dot segments, encoded slashes, NUL or other control characters, bad escapes,
            non-UTF-8, over-long names or queries).
    """
    path, _, query = target.partition("?")
    if not path.startswith("/") or not path.endswith(FLV_SUFFIX):
        raise HttpRequestError(404, "not an HTTP-FLV path (/APP/KEY.flv)")
    segments = path[1:].split("/")
    if len(segments) != 2:
        raise HttpRequestError(404, "an HTTP-FLV path has exactly two segments (/APP/KEY.flv)")
    app = _decode(segments[0], "app", max_name_length)
    key = _decode(segments[1][: -len(FLV_SUFFIX)], "stream key", max_name_length)
    if "#" in query or any(ord(char) < 0x20 or char == "\x7f" for char in query):
        raise HttpRequestError(400, "the query string holds a forbidden character")
    if len(key.encode()) + 1 + len(query) > max_name_length:
        raise HttpRequestError(400, f"the stream key and query exceed {max_name_length} bytes")
    return FlvTarget(app, key, query)
