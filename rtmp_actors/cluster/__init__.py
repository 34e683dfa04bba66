"""Clustering relays: a shared stream directory says which node publishes which stream.

:func:`open_directory` opens one from a URL: ``memory://`` (the default, one process) or
``redis://host:port/db`` (a cluster). :class:`RedisDirectory` is imported on first use, so
that a relay without a cluster never loads the Redis client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtmp_actors.cluster.directory import (
    DirectoryError,
    DirectoryUnavailable,
    InProcessDirectory,
    NodeInfo,
    StreamClaim,
    StreamDirectory,
    StreamRelay,
)
from rtmp_actors.cluster.directory_url import open_directory

if TYPE_CHECKING:
    from rtmp_actors.cluster.redis_directory import RedisDirectory

__all__ = [
    "DirectoryError",
    "DirectoryUnavailable",
    "InProcessDirectory",
    "NodeInfo",
    "RedisDirectory",
    "StreamClaim",
    "StreamDirectory",
    "StreamRelay",
    "open_directory",
]


def __getattr__(name: str) -> object:
    if name == "RedisDirectory":
        from rtmp_actors.cluster.redis_directory import RedisDirectory  # noqa: PLC0415

        return RedisDirectory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
