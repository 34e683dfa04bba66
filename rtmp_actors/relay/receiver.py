"""The relay's event receiver: one per connection, between its session and the streams."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pykka

from behaviours.stream_peers import PlayedStream, PlayerReceiver, PublisherReceiver
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay.access import (
    AccessAsker,
    AccessController,
    AccessKind,
    AccessRequest,
    describe_refusal,
)
from rtmp_actors.relay.app_hooks import HookSet, RelayHooks
from rtmp_actors.relay.applications import Applications
from rtmp_actors.relay.registry import PublishRoute, StreamRegistry
from rtmp_actors.relay.stream import LiveStream, PlayRequest, PublishRequest
from rtmp_actors.relay.update_follower import UpdateHookFollower
from rtmp_actors.session import server_events as events
from rtmp_actors.vod.library import VodLibrary

__all__ = ["RelayReceiver"]

_Route = TypeVar("_Route", StreamRegistry, PublishRoute)
_Request = TypeVar("_Request", PublishRequest, PlayRequest)

logger = logging.getLogger(__name__)

_Checked = events.ConnectionRequested | events.PublishStreamRequested | events.PlayStreamRequested
"""A request waiting for the access controller."""

MAX_PENDING_CHECKS = 16
"""Publish/play requests of one connection waiting for the access controller."""


def stream_name(stream_key: str) -> str:
    """The stream a key names: without its query string, which carries per-client arguments.

    A publisher's ``key?token=a`` and a player's ``key?token=b`` meet on ``key``, as on
    nginx-rtmp and over HTTP-FLV.
    """
    return stream_key.partition("?")[0]


def kind_of(event: events.PublishStreamRequested | events.PlayStreamRequested) -> AccessKind:
    """Whether a request publishes or plays."""
    return (
        AccessKind.PUBLISH if isinstance(event, events.PublishStreamRequested) else AccessKind.PLAY
    )


class RelayReceiver(
    EventReceiverActor, PublisherReceiver, PlayerReceiver, AccessAsker, UpdateHookFollower
):
    """Sends requests to the registry, and tells the streams when their peers leave.

    A publisher's media does not come through here: its stream has the session route it
    straight to itself (``route_media``) before accepting, which saves a thread switch per
    read.

    If this actor fails, its connection is closed (the connection is a one-for-all unit)
    and the streams it was bound to are told their publisher or player left, so no stream
    keeps a dead peer.

    Args:
        connection: The connection's info (its session, for answering requests).
        registry: The stream registry (a handle that follows its restarts).
        access: An :class:`~rtmp_actors.relay.access.AccessController` to ask before routing
            a publish or play request (None: everything is allowed).
        publish_route: Where publish requests go (default: the registry); a cluster node
            claims the key in the cluster before handing the request to the registry.
        vod: A library of files: plays of its app play its files instead of live streams.
        hooks: The relay's and the applications' hooks: the connect's application picks
            its set, which says whether ``access`` is asked about the connect too
            (``on_connect``) and what follows its sessions (``*_done``, ``on_update``,
            ``exec_*``).
        applications: Per-application settings: unknown apps and live off are refused.
    """

    def __init__(
        self,
        connection: ConnectionInfo,
        registry: ActorHandle[StreamRegistry],
        access: ActorHandle[AccessController] | None = None,
        publish_route: ActorHandle[PublishRoute] | None = None,
        vod: VodLibrary | None = None,
        hooks: RelayHooks | None = None,
        *,
        applications: Applications | None = None,
    ) -> None:
        super().__init__()
        self._applications = applications or Applications()
        self._vod = vod
        self._publish_route: ActorHandle[PublishRoute] = publish_route or registry
        self._access = access
        self._addr = connection.peer_address[0] if connection.peer_address else ""
        self._tc_url = self._flash_ver = self._swf_url = self._page_url = ""
        self._check_connect = False
        self._checks: dict[int, _Checked] = {}
        self._connection_id = connection.connection_id
        self._session: ActorHandle[ServerSessionActor] = connection.session
        self._registry = registry
        self._me: ActorHandle[RelayReceiver] = ActorHandle(self.actor_ref)
        # Stream id -> the stream it publishes to, or plays from.
        self._publishing: dict[int, ActorHandle[LiveStream]] = {}
        self._playing: dict[int, ActorHandle[PlayedStream]] = {}
        self._relay_hooks = hooks  # which set applies is known at connect

    def _follow(self, hooks: HookSet) -> None:
        self.follow_sessions(hooks.lifecycle)
        self._check_connect = hooks.checks_connect and self._access is not None

    # --- Binding (from the stream actors) -----------------------------------------------------

    def bind_publisher(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The stream accepted this connection's publisher on ``stream_id``."""
        self._publishing[stream_id] = ActorHandle(stream)
        if self.session_hooks is not None:
            self.session_hooks.started(AccessKind.PUBLISH, stream_id)

    def bind_player(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The stream accepted this connection's player on ``stream_id``."""
        handle: ActorHandle[PlayedStream] = ActorHandle(stream)
        previous = self._playing.get(stream_id)
        self._playing[stream_id] = handle
        if previous is not None and previous != handle:
            self._player_left(previous, stream_id)  # played again: the new play replaces it
        if self.session_hooks is not None:
            self.session_hooks.started(AccessKind.PLAY, stream_id)

    # --- Session events ---------------------------------------------------------------------------

    def on_connection_requested(self, event: events.ConnectionRequested) -> None:
        self._tc_url = event.connect.tc_url or ""
        self._flash_ver = event.connect.flash_ver or ""
        self._swf_url = event.connect.swf_url or ""
        self._page_url = event.connect.page_url or ""
        if not self._serves(event.app_name):
            logger.info("refusing a connect to unknown application %r", event.app_name)
            self._refuse(event, f"unknown application '{event.app_name}'")
            return
        if self._relay_hooks is not None:
            self._follow(self._relay_hooks.for_app(event.app_name))
        if not self._check_connect:
            self._session.tell(ServerSessionActor.accept_request, event.request_id)
            return
        query = f"?{event.query}" if event.query else ""
        self._ask_access(event, self._access_request(AccessKind.CONNECT, event.app_name, query))

    def _serves(self, app: str) -> bool:
        return self._applications.knows(app) or (self._vod is not None and self._vod.serves(app))

    def _live_refused(
        self, event: events.PublishStreamRequested | events.PlayStreamRequested
    ) -> bool:
        """Refuse a live publish or play in an application with live streaming off."""
        app = event.app_name
        if self._applications.live_allowed(app):
            return False
        if (
            isinstance(event, events.PlayStreamRequested)
            and self._vod is not None
            and self._vod.serves(app)
        ):
            return False  # files on demand
        kind = "publish" if isinstance(event, events.PublishStreamRequested) else "play"
        logger.info("refusing a live %s in application %r: live is off there", kind, app)
        self._refuse(event, f"live streaming is off in application '{app}'")
        return True

    def on_publish_stream_requested(self, event: events.PublishStreamRequested) -> None:
        if self._live_refused(event):
            return
        request = self._access_request(
            AccessKind.PUBLISH, event.app_name, event.stream_key, publish_type=event.publish_type
        )
        self._check_access(event, request)

    def on_play_stream_requested(self, event: events.PlayStreamRequested) -> None:
        if self._live_refused(event):
            return
        request = self._access_request(
            AccessKind.PLAY,
            event.app_name,
            event.stream_key,
            start=event.start_at,
            duration=event.duration,
            reset=event.reset,
        )
        self._check_access(event, request)

    def _access_request(
        self, kind: AccessKind, app: str, key: str, **details: Any
    ) -> AccessRequest:
        return AccessRequest(
            kind,
            app,
            key,
            self._addr,
            self._tc_url,
            self._flash_ver,
            swf_url=self._swf_url,
            page_url=self._page_url,
            client_id=self._connection_id,
            **details,
        )

    # --- Access control ---------------------------------------------------------------------------

    def _check_access(
        self,
        event: events.PublishStreamRequested | events.PlayStreamRequested,
        request: AccessRequest,
    ) -> None:
        if self.session_hooks is not None:
            self.session_hooks.requested(event.stream_id, request)
        if self._access is None:
            self._route(event)
            return
        self._ask_access(event, request)

    def _ask_access(self, event: _Checked, request: AccessRequest) -> None:
        assert self._access is not None
        if len(self._checks) >= MAX_PENDING_CHECKS:
            self._refuse(event, "too many pending requests")
            return
        # Request ids are unique within the session: they serve as tokens.
        self._checks[event.request_id] = event
        try:
            self._access.tell(AccessController.check, request, self._me, event.request_id)
        except pykka.ActorDeadError:  # the relay is stopping
            self._checks.pop(event.request_id, None)
            self._refuse(event, "the server is stopping")

    def access_decided(self, token: Any, allowed: bool, reason: str) -> None:
        """The access controller's answer about the request ``token``."""
        event = self._checks.pop(token, None)
        if event is None:
            return  # the connection ended meanwhile
        if not allowed:
            self._refuse(event, reason)
        elif isinstance(event, events.ConnectionRequested):
            with contextlib.suppress(pykka.ActorDeadError):
                self._session.tell(ServerSessionActor.accept_request, event.request_id)
        else:
            self._route(event)

    def access_redirected(self, token: Any, name: str) -> None:
        """The callback sent the request ``token`` to the stream ``name`` (nginx-rtmp's 3xx)."""
        event = self._checks.get(token)
        if isinstance(event, events.ConnectionRequested):
            self.access_decided(token, False, "")
            return
        self._checks.pop(token, None)
        if event is None:
            return
        logger.info(
            "%s: %s/%s redirected to %s/%s by the callback",
            self._connection_id,
            event.app_name,
            event.stream_key,
            event.app_name,
            name,
        )
        renamed = dataclasses.replace(event, stream_key=name)
        if self.session_hooks is not None:
            self.session_hooks.renamed(event.stream_id, kind_of(event), name)
        self._route(renamed)

    def _refuse(self, event: _Checked, reason: str) -> None:
        if isinstance(event, events.ConnectionRequested):
            with contextlib.suppress(pykka.ActorDeadError):
                self._session.tell(
                    ServerSessionActor.reject_request,
                    event.request_id,
                    f"Connect denied: {reason}" if reason else "Connect denied",
                )
            return
        if isinstance(event, events.PublishStreamRequested):
            kind, code = AccessKind.PUBLISH, NetStreamCode.PUBLISH_BAD_NAME
        else:
            kind, code = AccessKind.PLAY, NetStreamCode.PLAY_FAILED
        with contextlib.suppress(pykka.ActorDeadError):
            self._session.tell(
                ServerSessionActor.reject_request,
                event.request_id,
                describe_refusal(kind, reason),
                code,
            )

    def _route(self, event: events.PublishStreamRequested | events.PlayStreamRequested) -> None:
        if isinstance(event, events.PublishStreamRequested):
            self._route_publish(event)
        else:
            self._route_play(event)

    def _route_publish(self, event: events.PublishStreamRequested) -> None:
        self._to_registry(
            event,
            self._publish_route,
            PublishRoute.publish_requested,
            self._request(PublishRequest, event),
        )

    def _route_play(self, event: events.PlayStreamRequested) -> None:
        request = self._request(PlayRequest, event)
        if self._vod is not None and self._vod.serves(event.app_name):
            self._vod.play(request, event.start_at, event.duration)
            return
        self._to_registry(event, self._registry, StreamRegistry.play_requested, request)

    def _request(
        self,
        kind: type[_Request],
        event: events.PublishStreamRequested | events.PlayStreamRequested,
    ) -> _Request:
        return kind(
            self._connection_id,
            self._session,
            self._me,
            event.request_id,
            event.app_name,
            stream_name(event.stream_key),
            event.stream_id,
        )

    def _to_registry(
        self,
        event: events.PublishStreamRequested | events.PlayStreamRequested,
        route: ActorHandle[_Route],
        method: Callable[[_Route, Any], None],
        request: PublishRequest | PlayRequest,
    ) -> None:
        try:
            route.tell(method, request)
        except pykka.ActorDeadError:  # restarting after a crash, or the relay is stopping
            self._refuse(event, "the stream registry is not running; try again")

    def on_publishing_finished(self, event: events.PublishingFinished) -> None:
        stream = self._publishing.pop(event.stream_id, None)
        if stream is not None:
            self._publisher_left(stream)
        if self.session_hooks is not None:
            self.session_hooks.ended(AccessKind.PUBLISH, event.stream_id)

    def on_play_stream_finished(self, event: events.PlayStreamFinished) -> None:
        stream = self._playing.pop(event.stream_id, None)
        if stream is not None:
            self._player_left(stream, event.stream_id)
        if self.session_hooks is not None:
            self.session_hooks.ended(AccessKind.PLAY, event.stream_id)

    def on_disconnected(self, event: events.Disconnected) -> None:
        self._leave_streams()

    def on_failure(self, *_exc_info: object) -> None:
        """Leave the streams: the connection goes down with this actor."""
        self._leave_streams()

    def _leave_streams(self) -> None:
        self._checks.clear()  # answers still to come are ignored
        for stream in self._publishing.values():
            self._publisher_left(stream)
        for stream_id, played in self._playing.items():
            self._player_left(played, stream_id)
        self._publishing.clear()
        self._playing.clear()
        if self.session_hooks is not None:
            self.session_hooks.end_all()

    # --- on_update ----------------------------------------------------------------------------

    def refused_by_update_hook(self, reason: str) -> None:
        """``on_update`` refused a publish or play: close the connection."""
        logger.warning("%s: closing connection %s", reason, self._connection_id)
        with contextlib.suppress(pykka.ActorDeadError):
            self._session.tell(ServerSessionActor.close, "refused by the on_update hook")

    # A stream that already ended (the relay is stopping) needs no goodbye.

    def _publisher_left(self, stream: ActorHandle[LiveStream]) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            stream.tell(LiveStream.publisher_left, self._connection_id)

    def _player_left(self, stream: ActorHandle[PlayedStream], stream_id: int) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            stream.tell(PlayedStream.player_left, self._connection_id, stream_id)
