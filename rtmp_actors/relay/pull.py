"""Pull relays (edge mode): fetching wanted streams from an origin.

Theory of operation:

* :class:`PullRelay` is a stream observer, one per relay server. When a first player waits
  for ``app/key`` and nobody publishes it locally (``stream_wanted``), it starts a
  :class:`PullLink` that plays the key from the first matching pull URL's server.
* Once the origin sends media, the link publishes into the local stream through the registry,
  like any publisher (so local players, late joiners and the GOP cache all work as usual): it
  is the publisher's session and receiver in its :class:`PublishRequest`. It stops publishing
  locally when the origin's stream ends, and starts again when it resumes.
* When the last player leaves (``stream_unwanted``) the link lingers for ``pull_linger``
  seconds, then closes. It reconnects with backoff while players remain.
* It gives up when a local publisher has the stream (its publish is refused, or a takeover
  closes it); the pull relay starts a new link if players are left waiting for a stream
  whose publisher went away.
* A link that crashes leaves the local stream first (``on_failure``), so the stream's players
  are told and keep waiting, as when the origin drops; the pull relay starts a new link after
  a backoff if players still want the stream and nobody publishes it here (see
  :mod:`rtmp_actors.relay.link_manager`). A pull relay that crashes stops its links (the
  streams' players keep waiting) and is restarted by the relay's supervisor; the new one asks
  the registry to describe the running streams (``stream_snapshot``) and pulls again the
  ones that players still want.
* A stream is pulled only while nobody publishes it here, and the push relay is told which
  streams are pulled from where, so that they are not pushed back. Pull loops (A pulls from
  B and B from A, or a server from itself) carry no media, since a pull only publishes what
  its origin sends; their connections idle until the players leave.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from behaviours.media_receiver import MediaReceiver
from behaviours.stream_peers import PublisherReceiver, PublisherSession
from rtmp_actors.actors.actor_handle import ActorHandle, tell
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.wiring import scoped_id
from rtmp_actors.relay.gop_cache import GopCache
from rtmp_actors.relay.link_manager import LinkTable, _LinkManager
from rtmp_actors.relay.observer import StreamSnapshot
from rtmp_actors.relay.push import PushRelay
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.stream import LiveStream, PublishRequest
from rtmp_actors.relay.upstream import (
    LinkSettings,
    LinkTarget,
    StreamName,
    _link_ids,
    _Phase,
    _tell_later,
    _UpstreamLink,
)
from rtmp_actors.session import client_events as events
from rtmp_actors.session.events import MediaType
from rtmp_actors.transport.io_loop import IoLoop, Scheduler, TimerHandle

__all__ = ["PullLink", "PullRelay"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _LocalPublish:
    """The pull link's current publish into the local stream."""

    connection_id: str
    request_id: int
    stream: ActorHandle[LiveStream] | None = None
    accepted: bool = False
    leaving: bool = False  # left before the stream answered: leave as soon as it does


class PullLink(_UpstreamLink, PublisherSession, PublisherReceiver):
    """Plays one stream from an origin and publishes it into the local stream of that name.

    It is its own session and receiver in the :class:`PublishRequest` it sends the registry,
    so the stream answers it with ``bind_publisher``, ``accept_request``,
    ``reject_request`` and ``close`` tells.

    Args:
        source: The pull URL.
        app: The local app.
        key: The stream key (played from the origin, published here).
        registry: The stream registry.
        manager: The pull relay (told ``link_accepted`` and ``link_finished``).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for reconnection and linger timers.
        io_loop: The loop for the upstream connection (default: the shared client loop).
        push_relay: Told which streams are pulled from where, so they are not pushed back.
        hold: When the origin is lost (not when its stream ends), keep publishing locally,
            silent, for up to ``LinkSettings.hold_timeout`` seconds, so that the players are
            not told the stream ended: a cluster edge holds while the directory finds the
            stream's new origin (:meth:`retarget`).
    """

    def __init__(
        self,
        source: LinkTarget,
        app: str,
        key: str,
        registry: ActorHandle[StreamRegistry],
        manager: ActorHandle[PullRelay],
        settings: LinkSettings,
        scheduler: Scheduler,
        io_loop: IoLoop | None = None,
        push_relay: ActorHandle[PushRelay] | None = None,
        *,
        hold: bool = False,
    ) -> None:
        number = next(_link_ids)
        name = f"pull{number} {source.base.tc_url}/{key} -> {app}/{key}"
        url = source.url_for(key)
        super().__init__(name, app, key, url, settings, scheduler, io_loop, manager)
        self._id = scoped_id(f"pull{number}")
        self._source = source
        self._registry = registry
        self._pull_relay = manager
        self._push_relay = push_relay
        self._cache = GopCache(max_bytes=settings.max_cache_bytes)
        self._local: _LocalPublish | None = None
        self._origin_live = False  # media came from the origin since its stream (re)started
        self._requests = itertools.count(1)
        self._wanted = True
        self._linger: TimerHandle | None = None
        self._media: list[tuple[MediaType, int, bytes]] = []  # this batch's, for the stream
        self._number = number
        # Hold the local publication through a lost origin (see retarget); for how long.
        self._hold = hold
        self._hold_timer: TimerHandle | None = None

    # --- Upstream ---------------------------------------------------------------------------

    def _on_connected(self) -> None:
        self._upstream(ClientSessionActor.request_playback, self.url.stream_key)

    def _on_play_response_received(self, event: events.PlayResponseReceived) -> None:
        if self._answered(event, "playback", "playing") and self._hold and self._local is None:
            # A cluster's origin publishes the stream now (it claimed it): publish here at
            # once, so that its first frames find the local stream ready for them.
            self._publish_locally()

    def _on_stream_meta_data_received(self, event: events.StreamMetaDataReceived) -> None:
        self._origin_live = True
        local = self._local
        metadata = dict(event.raw)
        if local is not None and local.accepted and local.stream is not None:
            self._send_media()  # in order with the media before it
            local.stream.tell(LiveStream.publisher_metadata, local.connection_id, metadata)
            return
        self._cache.set_metadata(metadata or None)
        if local is None:
            self._publish_locally()

    def upstream_events(self, attempt: int, batch: list[Any]) -> None:
        """Handle a batch of upstream events; its media goes to the local stream in one tell."""
        self._media = []
        try:
            super().upstream_events(attempt, batch)
        finally:
            self._send_media()

    def _send_media(self) -> None:
        media, self._media = self._media, []
        local = self._local
        if media and local is not None and local.stream is not None:
            local.stream.tell(LiveStream.publisher_media_batch, local.connection_id, media)

    def _on_audio_video_data_received(self, event: events.AudioVideoDataReceived) -> None:
        self._origin_live = True
        self._end_hold()
        local = self._local
        if local is not None and local.accepted and local.stream is not None:
            self._media.append((event.data_type, event.timestamp, event.data))
            return
        self._cache.add(event.data_type, event.timestamp, event.data)
        if local is None:
            self._publish_locally()

    def _on_stream_ended(self, event: events.StreamEnded) -> None:
        if event.reason == "disconnected":
            return  # the origin went away, not its stream: Disconnected follows (maybe hold)
        logger.info("%s: the origin's stream ended (%s)", self.link_name, event.reason)
        self._leave_local()

    def _lost_upstream(self) -> None:
        if not self._hold or self._local is None:
            self._leave_local()
            return
        # Silent, not ended: the players wait for the origin's return or a new origin.
        self._origin_live = False
        self._cache.clear()
        if self._hold_timer is None:
            logger.info(
                "%s: origin lost; holding the local stream for %g s",
                self.link_name,
                self._settings.hold_timeout,
            )
            self._hold_timer = _tell_later(
                self._schedule, self._settings.hold_timeout, self._me, PullLink.hold_over
            )

    def hold_over(self) -> None:
        """The hold timer fired: no origin came back in time; the players are told it ended."""
        self._hold_timer = None
        if not self._origin_live:
            logger.info(
                "%s: no origin within the hold time; leaving the local stream", self.link_name
            )
            self._leave_local()

    def _end_hold(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None

    def retarget(self, source: LinkTarget) -> None:
        """Pull from ``source`` from now on (the stream moved), keeping the local publication.

        The local players see a silence, then the new origin's codec configuration and GOP.
        """
        if source == self._source or self._phase is _Phase.FINISHING:
            return
        logger.info("%s: the stream moved to %s", self.link_name, source.base.tc_url)
        self._source = source
        self.url = source.url_for(self.key)
        self.link_name = (
            f"pull{self._number} {source.base.tc_url}/{self.key} -> {self.app}/{self.key}"
        )
        self._drop_client("the stream moved")
        self._origin_live = False
        self._cache.clear()
        self._backoff.reset()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connect()

    def _should_retry(self) -> bool:
        return self._wanted

    # --- Publishing into the local stream ---------------------------------------------------

    def _publish_locally(self) -> None:
        """Ask the registry to publish into the local stream; media is kept until accepted."""
        request_id = next(self._requests)
        local = self._local = _LocalPublish(f"{self._id}.{request_id}", request_id)
        if self._push_relay is not None:
            # Told before the registry, so it arrives before the stream's stream_published.
            with contextlib.suppress(pykka.ActorDeadError):
                self._push_relay.tell(PushRelay.stream_pulled, self.app, self.key, self._source)
        self._registry.tell(
            StreamRegistry.publish_requested,
            PublishRequest(
                local.connection_id,
                self._me,
                self._me,
                request_id,
                self.app,
                self.key,
                request_id,  # the stream id: one per local publish
                pulled_from=self._source,
            ),
        )

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The local stream is about to accept publish ``stream_id`` (from the stream)."""
        local = self._local
        if local is not None and local.request_id == stream_id:
            with contextlib.suppress(pykka.ActorDeadError):
                local.stream = ActorHandle(stream)

    def route_media(self, stream_id: int, receiver: ActorHandle[MediaReceiver]) -> None:
        """The local stream would take media straight from a session; the link sends its own."""

    def accept_request(self, request_id: int) -> None:
        """The local stream accepted the publish: send what was kept, then go live."""
        local = self._local
        if local is None or local.request_id != request_id or local.stream is None:
            return
        local.accepted = True
        if local.leaving:
            # The origin's stream ended (or the link is finishing) while the stream decided.
            live_again = self._origin_live
            self._leave_local(keep_cache=True)
            if live_again and self._phase is not _Phase.FINISHING:
                self._publish_locally()  # media came after the end: a new local publish
            self._stop_if_done()
            return
        logger.info("%s: publishing locally", self.link_name)
        if self._cache.metadata is not None:
            local.stream.tell(
                LiveStream.publisher_metadata, local.connection_id, self._cache.metadata
            )
        for message in self._cache.join():
            local.stream.tell(
                LiveStream.publisher_media,
                local.connection_id,
                message.media_type,
                message.timestamp,
                message.data,
            )
        self._cache.clear()

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """The local stream refused the publish: somebody publishes it here; give up."""
        local = self._local
        if local is None or local.request_id != request_id:
            return
        self._local = None
        self._tell_unpulled()
        logger.info("%s: not needed, published locally (%s)", self.link_name, reason)
        self._finish("published locally")
        self._stop_if_done()

    def close(self, reason: str | None = None) -> None:
        """The local stream dropped this publisher (a takeover, or silence): give up."""
        if self._local is None or not self._local.accepted:
            return
        self._local = None
        self._tell_unpulled()
        self._finish(f"dropped by the local stream: {reason or 'no reason given'}")

    def _leave_local(self, *, keep_cache: bool = False) -> None:
        """Stop publishing into the local stream (now, or once it has answered)."""
        self._send_media()  # what came before the end goes first
        local = self._local
        if not keep_cache:
            self._origin_live = False
            self._cache.clear()
        if local is None:
            return
        if not local.accepted:
            local.leaving = True  # the answer is on its way; leave when it comes
            return
        self._local = None
        if local.stream is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                local.stream.tell(LiveStream.publisher_left, local.connection_id)
        self._tell_unpulled()

    def _tell_unpulled(self) -> None:
        if self._push_relay is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._push_relay.tell(PushRelay.stream_unpulled, self.app, self.key)

    # --- Wanted or not (from the pull relay) ------------------------------------------------

    def wanted(self) -> None:
        """A player waits again: stay."""
        self._wanted = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def unwanted(self) -> None:
        """The last player left: close after the linger time unless one comes back."""
        self._wanted = False
        if self._linger is not None:
            self._linger.cancel()
        self._linger = _tell_later(
            self._schedule, self._settings.pull_linger, self._me, PullLink.linger_over
        )

    def linger_over(self) -> None:
        """The linger timer fired."""
        self._linger = None
        if not self._wanted:
            self._finish("no players left")

    def _before_finish(self, reason: str) -> None:
        self._wanted = False
        self._leave_local()
        self._tell_finished(reason)

    def _can_stop(self) -> bool:
        return self._local is None  # a local publish still unanswered: leave it first

    def _tell_finished(self, reason: str) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._pull_relay.tell(
                PullRelay.link_finished, self.app, self.key, self.actor_ref, reason
            )

    def _clean_up(self) -> None:
        """Leave the local stream, cancel timers, close the connection."""
        if self._linger is not None:
            self._linger.cancel()
        self._end_hold()
        if self._local is not None and self._local.accepted:
            self._leave_local()
        super()._clean_up()

    def on_stop(self) -> None:
        """Clean up; a link stopped before it finished tells the pull relay."""
        self._clean_up()
        if self._phase is not _Phase.FINISHING:
            self._tell_finished("stopped")


class PullRelay(_LinkManager[PullLink]):
    """Starts a :class:`PullLink` when a stream nobody publishes here is wanted.

    A link starts when a first player waits for a stream (``stream_wanted``), or when the
    publisher of a stream with waiting players leaves and no link runs for it. The first
    pull URL that matches the stream is used.

    Args:
        sources: The pull URLs (strings are parsed with :meth:`LinkTarget.parse`).
        settings: Link behaviour.
        scheduler: ``scheduler(delay, callback)`` for the links' timers and restarts.
        io_loop: The loop for upstream connections (default: the shared client loop).
        registry: The stream registry (or give it later with :meth:`set_registry`).
        push_relay: The push relay, told which streams are pulled (loop protection).
        table: Kept across restarts (see :class:`LinkTable`).
        owner: The handle the links use to reach the relay (see :class:`_LinkManager`).
    """

    def __init__(
        self,
        sources: Sequence[LinkTarget | str],
        settings: LinkSettings | None = None,
        scheduler: Scheduler | None = None,
        io_loop: IoLoop | None = None,
        registry: ActorHandle[StreamRegistry] | None = None,
        push_relay: ActorHandle[PushRelay] | None = None,
        *,
        table: LinkTable[PullLink] | None = None,
        owner: ActorHandle[PullRelay] | None = None,
    ) -> None:
        super().__init__(settings, scheduler, io_loop, table=table, owner=owner)
        self._sources = LinkTarget.parse_all(sources)
        self._registry = registry
        self._push_relay = push_relay
        self._wanted: set[StreamName] = set()
        self._published: set[StreamName] = set()
        # Where the cluster says a stream is published (see set_cluster_source); before the
        # static sources, since it is where the stream is now.
        self._cluster_sources: dict[StreamName, LinkTarget] = {}

    def set_cluster_source(self, app: str, key: str, source: LinkTarget | None) -> None:
        """The cluster's directory says where ``app/key`` is published now (None: nowhere).

        A link pulling it from somewhere else switches to ``source`` without leaving the
        local stream (its players see a pause); otherwise a link starts if players want it.
        """
        name = (app, key)
        if source is None:
            # A running link keeps trying (and holding its players) until a new origin shows.
            self._cluster_sources.pop(name, None)
            return
        if self._cluster_sources.get(name) == source:
            return
        self._cluster_sources[name] = source
        link = self._link(app, key, 0)
        if link is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                tell(link, PullLink.retarget, source)
            return
        self._maybe_start(app, key)

    def set_registry(self, registry: ActorHandle[StreamRegistry]) -> None:
        """Publish pulled streams into this registry."""
        self._registry = registry

    def _source(self, app: str, key: str) -> LinkTarget | None:
        cluster_source = self._cluster_sources.get((app, key))
        if cluster_source is not None:
            return cluster_source
        return next((s for s in self._sources if s.matches(app, key)), None)

    def _new_link(self, app: str, key: str, index: int) -> pykka.ActorRef[PullLink]:
        source = self._source(app, key)
        # Both checked by _maybe_start.
        assert source is not None
        assert self._registry is not None
        return PullLink.start(
            source,
            app,
            key,
            self._registry,
            self._owner,
            self._settings,
            self._schedule,
            self._io_loop,
            self._push_relay,
            hold=(app, key) in self._cluster_sources,
        )

    def _describe(self, app: str, key: str, index: int) -> str:
        return f"the pull of {app}/{key} from {self._source(app, key)}"

    def _wants_restart(self, app: str, key: str) -> bool:
        # Whether it is published here is seen when the delay is over: the local stream may
        # still count the crashed link as its publisher.
        return (app, key) in self._wanted

    def _restart(self, app: str, key: str, index: int) -> None:
        self._maybe_start(app, key)

    # --- StreamObserver ---------------------------------------------------------------------

    def stream_wanted(self, app: str, key: str) -> None:
        self._wanted.add((app, key))
        if self._link(app, key, 0) is not None:
            self._tell_links((app, key), PullLink.wanted)
            return
        self._maybe_start(app, key)

    def stream_unwanted(self, app: str, key: str) -> None:
        self._wanted.discard((app, key))
        self._tell_links((app, key), PullLink.unwanted)
        self._forget_crashes((app, key))

    def stream_published(self, app: str, key: str) -> None:
        self._published.add((app, key))

    def stream_unpublished(self, app: str, key: str) -> None:
        self._published.discard((app, key))
        self._maybe_start(app, key)

    def streams_running(self, names: frozenset[StreamName]) -> None:
        for app, key in [name for name in self._links if name not in names]:
            self.stream_unwanted(app, key)  # retired while this relay was down: nobody plays it

    def stream_snapshot(self, snapshot: StreamSnapshot) -> None:
        """Reconcile with a running stream: pull it if players wait, let go if none do."""
        app, key = name = (snapshot.app, snapshot.key)
        if snapshot.published:
            self._published.add(name)
        else:
            self._published.discard(name)
        if snapshot.wanted:
            self.stream_wanted(app, key)
        elif name in self._wanted or name in self._links:
            self.stream_unwanted(app, key)

    # --- From the links ---------------------------------------------------------------------

    def link_finished(self, app: str, key: str, link: pykka.ActorRef[Any], reason: str) -> None:
        """A link gave up; look again shortly whether players still wait for its stream.

        The look waits a moment so that the stream's own notices (a local publisher that
        took over sends ``stream_published`` just after the link is told) arrive first, and
        so that a link that keeps failing is not restarted in a tight loop.
        """
        if self._link(app, key, 0) != link:
            return
        del self._links[(app, key)]
        if (app, key) not in self._wanted:
            self._cluster_sources.pop((app, key), None)
        logger.debug("pull of %s/%s finished: %s", app, key, reason)
        _tell_later(
            self._schedule, self._settings.initial_backoff, self._me, PullRelay.recheck, app, key
        )

    def recheck(self, app: str, key: str) -> None:
        """Start a link if players still wait for ``app/key`` and nobody publishes it."""
        self._maybe_start(app, key)

    def _maybe_start(self, app: str, key: str) -> None:
        name = (app, key)
        if name not in self._wanted or name in self._published:
            return
        if self._link(app, key, 0) is not None or (app, key, 0) in self._restarts:
            return  # running, or crashed and starting again after its delay
        if self._registry is None:
            logger.error("pull relay has no registry; cannot pull %s/%s", app, key)
            return
        source = self._source(app, key)
        if source is None:
            return
        logger.info("pulling %s/%s from %s", app, key, source)
        self._start_link(app, key, 0)

    # --- Life cycle -------------------------------------------------------------------------

    def shutdown(self) -> list[pykka.ActorRef[PullLink]]:
        """Finish every link politely; returns their refs, to wait for (from outside)."""
        self._wanted.clear()
        return super().shutdown()
