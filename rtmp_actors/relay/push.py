"""Push relays: republishing local streams to upstream servers.

Theory of operation:

* :class:`PushRelay` is a stream observer, one per relay server. For every published local
  stream whose ``app/key`` matches a push URL, it starts a :class:`PushLink` that connects to
  the URL's server and publishes the stream under the same key in the URL's app. Media is
  forwarded as it arrives and never queued in the link: before the upstream accepts (and
  after a reconnect) the link only keeps metadata, codec configuration and the current GOP
  (:class:`~rtmp_actors.relay.gop_cache.GopCache`, bounded by ``max_cache_bytes``) and sends
  those first, so the upstream starts at a keyframe. A slow upstream is the client's
  protocol handler's business (it drops media under congestion).
* When the local stream is unpublished the link stops publishing and closes politely. A link
  that crashes while its stream is published is replaced after a backoff (see
  :mod:`rtmp_actors.relay.link_manager`); the new one starts at the next keyframe. A push
  relay that crashes is restarted by the relay's supervisor and asks the registry to
  describe the running streams (``stream_snapshot``), so the new one pushes them again,
  starting from their cached configuration and GOP.
* A stream being pulled from ``rtmp://origin/app`` is never pushed to ``rtmp://origin/app``
  (the same scheme, host, port and app, compared as written): pull links tell the push relay
  (``stream_pulled``) before they publish here. Push loops across servers (A pushes to B, B
  pushes to A) cannot be seen from one server: the second publish is refused upstream and
  retried with backoff, at most every ``max_backoff`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle, tell
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.relay.gop_cache import GopCache
from rtmp_actors.relay.link_manager import LinkTable, _LinkManager
from rtmp_actors.relay.observer import StreamSnapshot
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.upstream import (
    LinkSettings,
    LinkTarget,
    StreamName,
    _link_ids,
    _LinkOwner,
    _Phase,
    _UpstreamLink,
)
from rtmp_actors.session import client_events as events
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import IoLoop, Scheduler

__all__ = ["PushLink", "PushRelay"]

logger = logging.getLogger(__name__)


class PushLink(_UpstreamLink):
    """Republishes one local stream to one upstream URL, reconnecting with backoff.

    Args:
        target: The push URL.
        app: The local app.
        key: The local stream key.
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for reconnection timers.
        io_loop: The loop for the upstream connection (default: the shared client loop).
        manager: The push relay, told when the upstream accepts (``link_accepted``).
    """

    def __init__(
        self,
        target: LinkTarget,
        app: str,
        key: str,
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        manager: ActorHandle[_LinkOwner] | None = None,
    ) -> None:
        name = f"push{next(_link_ids)} {app}/{key} -> {target.base.tc_url}/{key}"
        url = target.url_for(key)
        super().__init__(name, app, key, url, settings, scheduler, io_loop, manager)
        self._cache = GopCache(max_bytes=settings.max_cache_bytes)

    def _on_connected(self) -> None:
        self._upstream(ClientSessionActor.request_publish, self.url.stream_key)

    def _on_publish_response_received(self, event: events.PublishResponseReceived) -> None:
        if not self._answered(event, "publishing", "publishing"):
            return
        key = self.url.stream_key
        if self._cache.metadata:
            self._upstream(ClientSessionActor.publish_metadata, key, self._cache.metadata)
        for message in self._cache.join():
            self._upstream(
                ClientSessionActor.publish_av_data,
                key,
                message.media_type,
                message.timestamp,
                message.data,
            )

    # --- From the push relay ----------------------------------------------------------------

    def metadata(self, metadata: Mapping[str, Any]) -> None:
        """The local publisher sent (or cleared, with an empty mapping) ``onMetaData``."""
        self._cache.set_metadata(metadata or None)
        if self._phase is _Phase.ACTIVE and metadata:
            self._upstream(ClientSessionActor.publish_metadata, self.url.stream_key, metadata)

    def media(self, media_type: MediaType, timestamp: int, data: bytes) -> None:
        """The local publisher sent one audio or video message: forward it at once."""
        self._cache.add(media_type, timestamp, data)
        if self._phase is _Phase.ACTIVE:
            self._upstream(
                ClientSessionActor.publish_av_data, self.url.stream_key, media_type, timestamp, data
            )

    def start_of_stream(self) -> tuple[Mapping[str, Any] | None, list[tuple[MediaType, int]]]:
        """What the link sends first once the upstream accepts it: metadata, then media.

        The media as ``(type, timestamp)`` pairs (for monitoring and tests).
        """
        return self._cache.metadata, [(m.media_type, m.timestamp) for m in self._cache.join()]

    def _before_finish(self, reason: str) -> None:
        self._cache.clear()
        if self._phase is _Phase.ACTIVE:
            self._upstream(ClientSessionActor.stop_publish, self.url.stream_key)


class PushRelay(_LinkManager[PushLink]):
    """Starts a :class:`PushLink` for each published stream and push URL that match.

    Args:
        targets: The push URLs (strings are parsed with :meth:`LinkTarget.parse`).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers and restarts.
        io_loop: The loop for upstream connections (default: the shared client loop).
        registry: The stream registry, asked to describe a stream whose crashed link starts
            again, so the new link starts from the stream's cached configuration and GOP
            (without it, the new link starts with what the stream sends next).
        table: Kept across restarts (see :class:`LinkTable`).
        owner: The handle the links use to reach the relay (see :class:`_LinkManager`).
        origin_only: Push only streams published here by an encoder, not pulled ones (in a
            cluster, each stream is pushed once, by its origin).
    """

    def __init__(
        self,
        targets: Sequence[LinkTarget | str],
        settings: LinkSettings | None = None,
        scheduler: Scheduler | None = None,
        io_loop: IoLoop | None = None,
        registry: ActorHandle[StreamRegistry] | None = None,
        *,
        table: LinkTable[PushLink] | None = None,
        owner: ActorHandle[PushRelay] | None = None,
        origin_only: bool = False,
    ) -> None:
        super().__init__(settings, scheduler, io_loop, table=table, owner=owner)
        self._origin_only = origin_only
        self._targets = LinkTarget.parse_all(targets)
        self._registry = registry
        self._pulled: dict[StreamName, LinkTarget] = {}

    def _new_link(self, app: str, key: str, index: int) -> pykka.ActorRef[PushLink]:
        return PushLink.start(
            self._targets[index],
            app,
            key,
            self._settings,
            self._schedule,
            self._io_loop,
            self._owner,
        )

    def _describe(self, app: str, key: str, index: int) -> str:
        return f"the push of {app}/{key} to {self._targets[index]}"

    def _restart(self, app: str, key: str, index: int) -> None:
        if self._registry is None:
            self._start_link(app, key, index)
            return
        try:  # the snapshot starts the missing link, from the cached start of the stream
            self._registry.tell(StreamRegistry.describe_stream, app, key, self._me)
        except pykka.ActorDeadError:
            self._start_link(app, key, index)

    def _start_links(self, app: str, key: str) -> list[pykka.ActorRef[PushLink]]:
        """Start the links ``app/key`` should have and has not (nor waits for); return them."""
        running = self._links.get((app, key), {})
        source = self._pulled.get((app, key))
        started = []
        for index, target in enumerate(self._targets):
            if index in running or (app, key, index) in self._restarts:
                continue
            if not target.matches(app, key):
                continue
            if source is not None and target.same_place(source):
                logger.info("not pushing %s/%s to %s: it is pulled from there", app, key, target)
                continue
            started.append(self._start_link(app, key, index))
        return started

    # --- Loop protection (from pull links) --------------------------------------------------

    def stream_pulled(self, app: str, key: str, source: LinkTarget) -> None:
        """``app/key`` is about to be published here by a pull from ``source``."""
        self._pulled[(app, key)] = source

    def stream_unpulled(self, app: str, key: str) -> None:
        """The pull of ``app/key`` stopped publishing here."""
        self._pulled.pop((app, key), None)

    # --- StreamObserver ---------------------------------------------------------------------

    def stream_published(self, app: str, key: str) -> None:
        self._finish_links((app, key), "the local stream restarted")
        self._start_links(app, key)

    def stream_pulled_in(self, app: str, key: str) -> None:
        if self._origin_only:
            self._finish_links((app, key), "the stream is pulled from its origin")
            return  # its origin pushes it
        self.stream_published(app, key)

    def stream_metadata(self, app: str, key: str, metadata: Mapping[str, Any]) -> None:
        self._tell_links((app, key), PushLink.metadata, metadata)

    def stream_media(
        self, app: str, key: str, media_type: MediaType, timestamp: int, data: bytes
    ) -> None:
        self._tell_links((app, key), PushLink.media, media_type, timestamp, data)

    def stream_unpublished(self, app: str, key: str) -> None:
        self._finish_links((app, key), "the local stream ended")

    def streams_running(self, names: frozenset[StreamName]) -> None:
        for name in [name for name in self._links if name not in names]:
            self._finish_links(name, "the local stream ended")  # while this relay was down

    def stream_snapshot(self, snapshot: StreamSnapshot) -> None:
        """Reconcile with a running stream: finish stale links, start missing ones."""
        app, key = name = (snapshot.app, snapshot.key)
        if not snapshot.published:
            self._finish_links(name, "the local stream ended")
            return
        if snapshot.pulled_from is not None:
            self._pulled[name] = snapshot.pulled_from
        for ref in self._start_links(app, key):  # the running ones already have all this
            with contextlib.suppress(pykka.ActorDeadError):
                if snapshot.metadata:
                    tell(ref, PushLink.metadata, snapshot.metadata)
                for media_type, timestamp, data in snapshot.media:
                    tell(ref, PushLink.media, media_type, timestamp, data)
