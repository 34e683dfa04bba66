"""Stream observers: actors that see every stream the relay carries (recorders, push relays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.session.events import MediaType

__all__ = ["StreamObserver"]


class StreamObserver(MonitoredActor):
    """Base class of stream observers; every method is a no-op to override.

    Each live stream tells its observers, in order, what its publisher does. The payloads are
    the publisher's own ``bytes`` objects: observers must not hold on to more than they need.
    """

    def stream_published(self, app: str, key: str) -> None:
        """A publisher started publishing ``app/key``."""

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        """The publisher sent ``onMetaData`` (an empty mapping clears it)."""

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """The publisher sent one audio or video message."""

    def stream_unpublished(self, app: str, key: str) -> None:
        """The publisher stopped (or was dropped)."""

    def stream_wanted(self, app: str, key: str) -> None:
        """A first player is waiting for ``app/key`` and nobody publishes it."""

    def stream_unwanted(self, app: str, key: str) -> None:
        """The last player of ``app/key`` left."""
