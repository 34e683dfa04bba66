"""Opening the cluster's stream directory from its URL (``serve --cluster URL``).

Apart from :mod:`~rtmp_actors.cluster.directory` so that the directory's contract never
imports its Redis implementation, which only a cluster loads.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rtmp_actors.cluster.directory import (
    DirectoryError,
    DirectoryUnavailable,
    InProcessDirectory,
    StreamDirectory,
)

__all__ = ["REDIS_SCHEMES", "open_directory"]

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def open_directory(url: str | None) -> StreamDirectory:
    """Open the stream directory at ``url``.

    Args:
        url: None or ``memory://`` for an :class:`InProcessDirectory`;
            ``redis://[[user]:password@]host:port/db``, ``rediss://...`` (TLS) or
            ``unix:///path/to/socket?db=0`` for a Redis one.

    Returns:
        The directory; a Redis one has answered a PING.

    Raises:
        DirectoryUnavailable: Redis cannot be reached (refused, timeout, authentication).
        ValueError: Any other kind of URL, or a malformed Redis URL.
    """
    if url is None or url == "memory://":
        return InProcessDirectory()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as error:
        raise ValueError(f"bad cluster directory URL {url!r}: {error}") from None
    if scheme not in REDIS_SCHEMES:
        msg = (
            f"unsupported cluster directory URL {url!r}:"
            " use memory://, redis://host:port/db, rediss://... or unix:///path"
        )
        raise ValueError(msg)
    # Imported here: only a cluster loads the Redis client.
    from rtmp_actors.cluster.redis_directory import RedisDirectory  # noqa: PLC0415

    directory = RedisDirectory(url)
    try:
        directory.ping()
    except DirectoryError as error:
        directory.close()
        reason = error.__cause__ or error
        msg = f"cannot reach the cluster directory at {directory.name}: {reason}"
        raise DirectoryUnavailable(msg) from error
    return directory
