"""Stream observers: actors that see every stream the relay carries (recorders, push relays).

An observer that starts while streams are already running (a restarted recorder or push or
pull relay) asks the registry to describe them (``StreamRegistry.describe_streams``): the
registry lists them (:meth:`StreamObserver.streams_running`) and each stream answers with a
:class:`StreamSnapshot` (:meth:`StreamObserver.stream_snapshot`), which by default replays
what the observer missed as the usual calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.session.events import MediaType

if TYPE_CHECKING:
    from rtmp_actors.relay.upstream import LinkTarget

__all__ = ["StreamObserver", "StreamSnapshot"]


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """What one stream is doing, for an observer that starts while it runs.

    Attributes:
        app: The application name.
        key: The stream key.
        published: Whether a publisher is publishing it.
        wanted: Whether players are playing it (or waiting for a publisher).
        metadata: The publisher's current ``onMetaData``, if any.
        media: The codec configuration and the current GOP, as ``(type, timestamp, data)``,
            so that a new observer can start at a keyframe.
        pulled_from: The pull URL it is published from, when a pull link publishes it.
    """

    app: str
    key: str
    published: bool
    wanted: bool
    metadata: Mapping[str, Any] | None = None
    media: tuple[tuple[MediaType, int, bytes], ...] = ()
    pulled_from: LinkTarget | None = None


class StreamObserver(MonitoredActor):
    """Base class of stream observers; every method is a no-op to override.

    Each live stream tells its observers, in order, what its publisher does. The payloads are
    the publisher's own ``bytes`` objects: observers must not hold on to more than they need.
    """

    def stream_published(self, app: str, key: str) -> None:
        """A publisher started publishing ``app/key``."""

    def stream_pulled_in(self, app: str, key: str) -> None:
        """A pull link started publishing ``app/key`` here (the stream's origin is elsewhere).

        By default the same as :meth:`stream_published`; an observer that acts only on a
        stream's origin (a cluster's recorder or push relay) ignores it.
        """
        self.stream_published(app, key)

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        """The publisher sent ``onMetaData`` (an empty mapping clears it)."""

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        """The publisher sent one audio or video message."""

    def stream_media_batch(
        self, app: str, key: str, media: Sequence[tuple[MediaType, int, bytes]]
    ) -> None:
        """Several audio or video messages, in order (one batch of the publisher's input).

        The stream tells this once per batch, not :meth:`stream_media` once per message: one
        wake-up of the observer for many. By default each goes to :meth:`stream_media`.
        """
        for media_type, timestamp, data in media:
            self.stream_media(app, key, media_type, timestamp, data)

    def stream_unpublished(self, app: str, key: str) -> None:
        """The publisher stopped (or was dropped)."""

    def stream_wanted(self, app: str, key: str) -> None:
        """A first player is waiting for ``app/key`` and nobody publishes it."""

    def stream_unwanted(self, app: str, key: str) -> None:
        """The last player of ``app/key`` left."""

    def streams_running(self, names: frozenset[tuple[str, str]]) -> None:
        """The (app, key) of every stream that will describe itself (``describe_streams``).

        Streams that are not listed were not running: what the observer kept for them is
        stale. The snapshots may arrive before or after this.
        """

    def stream_snapshot(self, snapshot: StreamSnapshot) -> None:
        """A running stream describes itself (asked for with ``describe_streams``).

        By default this replays it: ``stream_published`` (``stream_pulled_in`` for a pull),
        ``stream_metadata`` and ``stream_media`` for the cached start of a published stream,
        then ``stream_wanted`` if it has players. Later changes arrive as the usual calls.
        """
        app, key = snapshot.app, snapshot.key
        if snapshot.published:
            if snapshot.pulled_from is None:
                self.stream_published(app, key)
            else:
                self.stream_pulled_in(app, key)
            if snapshot.metadata:
                self.stream_metadata(app, key, snapshot.metadata)
            for media_type, timestamp, data in snapshot.media:
                self.stream_media(app, key, media_type, timestamp, data)
        if snapshot.wanted:
            self.stream_wanted(app, key)
