"""HTTP-FLV: ``GET http://host:port/APP/KEY.flv`` plays a live stream as one long FLV body.

Theory of operation:

* The request arrives on the relay's HTTP port (:mod:`rtmp_actors.relay.http_stats`), on a
  request thread outside the actor system. :class:`HttpFlvService` checks it there, waiting
  with timeouts: the name (:func:`parse_flv_path`, 400/404), the access rules, asked exactly
  as for an RTMP player with the query string as the key's (403), and whether anybody
  publishes the stream (404). Then it writes the response head and the FLV header and
  hands the socket over to the relay's I/O loop as a :class:`Transport`; the request thread
  is free again. No thread ever waits on a player's socket.
* Each client is an :class:`HttpFlvPlayer` actor that stands for an RTMP player's session and
  event receiver: it asks the registry to play, answers ``open_media_sink`` with an
  :class:`HttpFlvSink`, and tells the stream when the client goes. The stream then writes FLV
  tags straight to the socket, from the GOP cache's keyframe on (metadata and sequence
  headers first), under the same congestion rules as RTMP players: a slow client loses
  frames, and is dropped once it stays congested; its queued bytes are bounded.
* The response ends (terminating chunk) when the publisher stops; a client that disconnects
  is removed from its stream at once, since the transport keeps reading from it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from behaviours.media_writer import MediaWriter
from behaviours.stream_peers import PlayerReceiver, PlayerSession
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_info import ClientInfo, SessionSummary, StreamSummary
from rtmp_actors.actors.monitoring import ExitNotice, MonitoredActor, monitor
from rtmp_actors.logs import LogThrottle
from rtmp_actors.relay.access import (
    AccessAsker,
    AccessController,
    AccessKind,
    AccessRequest,
    describe_refusal,
)
from rtmp_actors.relay.hooks import LifecycleHooks
from rtmp_actors.relay.http_flv_request import FlvTarget, HttpRequestError, parse_flv_path
from rtmp_actors.relay.http_flv_sink import (
    FLV_STREAM_START,
    HttpFlvResponse,
    HttpFlvSink,
    http_chunk,
)
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.stream import LiveStream, PlayRequest
from rtmp_actors.relay.update_follower import UpdateHookFollower
from rtmp_actors.transport.address_slots import Slot
from rtmp_actors.transport.io_loop import Scheduler
from rtmp_actors.transport.transport import Transport

if TYPE_CHECKING:
    from rtmp_actors.relay.server import RelayServer

__all__ = ["CORS_HEADERS", "HttpFlvPlayer", "HttpFlvService", "RequestContext"]

logger = logging.getLogger(__name__)

_STREAM_ID = 1  # an HTTP-FLV player plays one stream, on a stream id of its own
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
    ("Access-Control-Allow-Headers", "*"),
)
"""Browsers play from pages of other origins."""


class RequestContext(Protocol):
    """The parts of an HTTP request handler the service uses."""

    path: str
    request_version: str
    client_address: tuple[str, int]
    connection: socket.socket

    def take_connection(self) -> tuple[socket.socket, Slot | None]:
        """The connection and its place in its address's count, for the player to keep."""


def _response_head(chunked: bool) -> bytes:
    lines = [
        "HTTP/1.1 200 OK" if chunked else "HTTP/1.0 200 OK",
        "Server: rtmp-actors",
        "Content-Type: video/x-flv",
        "Cache-Control: no-cache, no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in CORS_HEADERS),
    ]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


class _SocketEvents:
    """A player's transport protocol: the client's input is ignored; its leaving is told."""

    def __init__(self, player: ActorHandle[HttpFlvPlayer]) -> None:
        self._player = player
        self.transport: Transport | None = None

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.input_consumed(len(data))  # a player sends nothing we need

    def connection_lost(self, reason: str | None) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._player.tell(HttpFlvPlayer.connection_lost, reason)


class HttpFlvPlayer(MonitoredActor, PlayerSession, PlayerReceiver, AccessAsker, UpdateHookFollower):
    """One HTTP-FLV client, as a player of a live stream.

    Args:
        connection_id: Names the client in logs and to its stream.
        target: The stream it asked for.
        registry: The stream registry.
        high_water: Queued bytes above which its media is dropped.
        max_congestion: Seconds it may stay above ``high_water`` before it is dropped.
        address: The client's (host, port), for listings.
        start_deadline: For a stream the relay is yet to pull: how to wait (a scheduler)
            and how long for its first media before ending the response.
        hooks: The app's lifecycle hooks, with the play as they see it (``request``'s
            ``tc_url`` is the request path): ``on_play_done`` and ``on_update`` follow the
            play as they do an RTMP client's.
    """

    def __init__(
        self,
        connection_id: str,
        target: FlvTarget,
        registry: ActorHandle[StreamRegistry],
        high_water: int,
        max_congestion: float,
        address: tuple[str, int] | None = None,
        start_deadline: tuple[Scheduler, float] | None = None,
        hooks: tuple[LifecycleHooks, AccessRequest] | None = None,
    ) -> None:
        super().__init__()
        self._start_deadline = start_deadline
        self.connection_id = connection_id
        self._address = address
        self._since = time.time()
        self._target = target
        self._registry = registry
        self._high_water = high_water
        self._max_congestion = max_congestion
        self._me: ActorHandle[HttpFlvPlayer] = ActorHandle(self.actor_ref)
        self._answer: concurrent.futures.Future[tuple[bool, str]] | None = None
        self._response: HttpFlvResponse | None = None
        self._stream: ActorHandle[LiveStream] | None = None
        self._requested = False  # the registry has our play request
        self._lost = False
        self._log = {"connection_id": connection_id}
        self._address_slot: Slot | None = None
        if hooks is not None:
            lifecycle, request = hooks
            followed = self.follow_sessions(lifecycle)
            if followed is not None:
                followed.requested(_STREAM_ID, request)

    # --- Before playing (from the request thread) ----------------------------------------------

    def check_access(
        self,
        access: ActorHandle[AccessController],
        request: AccessRequest,
        answer: concurrent.futures.Future[tuple[bool, str]],
    ) -> None:
        """Ask ``access`` about the request; ``answer`` gets ``(allowed, reason)``."""
        self._answer = answer
        try:
            access.tell(AccessController.check, request, self._me, None)
        except pykka.ActorDeadError:
            answer.set_result((False, "the server is stopping"))

    def access_decided(self, token: Any, allowed: bool, reason: str) -> None:
        """The access controller's answer."""
        del token
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_result((allowed, reason))

    def play(self, response: HttpFlvResponse, address_slot: Slot | None = None) -> None:
        """The response has started: ask the registry for the stream's media.

        Args:
            response: The response, on the I/O loop.
            address_slot: The connection's place in its address's count, released when the
                player stops.
        """
        self._response = response
        self._address_slot = address_slot
        request = PlayRequest(
            self.connection_id,
            self._me,
            self._me,
            0,
            self._target.app,
            self._target.key,
            _STREAM_ID,
        )
        try:
            self._registry.tell(StreamRegistry.play_requested, request)
        except pykka.ActorDeadError:
            self._end("the stream registry is not running")
        else:
            self._requested = True

    # --- PlayerSession and PlayerReceiver (from the stream) ------------------------------------

    def accept_request(self, request_id: int) -> None:
        """The stream took the player."""
        del request_id
        logger.info(
            "%s playing %s/%s over HTTP-FLV",
            self.connection_id,
            self._target.app,
            self._target.key,
            extra=self._log,
        )
        if self.session_hooks is not None:
            self.session_hooks.started(AccessKind.PLAY, _STREAM_ID)
        if self._start_deadline is not None:
            schedule, delay = self._start_deadline
            me = self._me

            def check() -> None:
                with contextlib.suppress(pykka.ActorDeadError):
                    me.tell(HttpFlvPlayer.start_deadline_passed, delay)

            schedule(delay, check)

    def start_deadline_passed(self, delay: float) -> None:
        """End the response if the stream (pulled on its request) sent nothing yet."""
        response = self._response
        if response is None or response.is_closing:
            return
        transport = response.transport
        if transport.bytes_sent or transport.queued_bytes:
            return
        target = self._target
        logger.info(
            "%s: %s/%s did not start within %g s", self.connection_id, target.app, target.key, delay
        )
        response.end(f"{target.app}/{target.key} did not start within {delay:g} s")

    def reject_request(self, request_id: int, reason: str, code: str | None = None) -> None:
        """The stream refused the player: end the response."""
        del request_id, code
        self._end(reason)

    def close(self, reason: str | None = None) -> None:
        """End the response (the stream failed, or the relay is stopping)."""
        self._end(reason)

    def open_media_sink(
        self, stream_id: int, reply_to: ActorHandle[MediaWriter], *, answers_seeks: bool = False
    ) -> None:
        """Give the stream the direct path to the client's socket (seeks: none over HTTP)."""
        del answers_seeks
        response = self._response
        sink = None
        if response is not None and not response.is_closing:
            sink = HttpFlvSink(response, self._high_water, self._max_congestion)
        with contextlib.suppress(pykka.ActorDeadError):
            reply_to.tell(MediaWriter.media_sink_opened, self.connection_id, stream_id, sink)

    def bind_player(self, stream: pykka.ActorRef[Any], stream_id: int) -> None:
        """The stream the player plays."""
        del stream_id
        self._stream = ActorHandle(stream)
        if self._lost:  # the client went before the stream took it
            self._leave()
            self.stop()

    # --- on_update ----------------------------------------------------------------------------

    def refused_by_update_hook(self, reason: str) -> None:
        """``on_update`` refused the play: end the response."""
        logger.warning("%s: ending %s", reason, self.connection_id, extra=self._log)
        self._end("refused by the on_update hook")

    # --- The client ------------------------------------------------------------------------------

    def connection_lost(self, reason: str | None) -> None:
        """The client's connection is gone: leave the stream and stop."""
        logger.info(
            "%s left %s/%s: %s",
            self.connection_id,
            self._target.app,
            self._target.key,
            reason or "the client closed the connection",
            extra=self._log,
        )
        self._lost = True
        if self._requested and self._stream is None:
            return  # the stream binds us next: leave it then, so it keeps no dead player
        self._leave()
        self.stop()

    def describe(self) -> ClientInfo:
        """The client, as the control API lists it (ask from outside, with a timeout)."""
        response = self._response
        transport = None if response is None else response.transport
        target = self._target
        stream = StreamSummary(_STREAM_ID, "player", target.key, self._stream is not None)
        return ClientInfo(
            self.connection_id,
            self._address,
            self._since,
            0 if transport is None else transport.bytes_received,
            0 if transport is None else transport.bytes_sent,
            SessionSummary(target.app, None, None, None, (stream,)),
        )

    def _end(self, reason: str | None) -> None:
        if self._response is not None:
            self._response.end(reason)

    def _leave(self) -> None:
        """Leave the stream, end the hooks' play and give the address's slot back (once)."""
        if self.session_hooks is not None:
            self.session_hooks.end_all()  # on_play_done, once
        slot, self._address_slot = self._address_slot, None
        if slot is not None:
            slot.release()
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                stream.tell(LiveStream.player_left, self.connection_id, _STREAM_ID)

    def on_stop(self) -> None:
        """End the response and leave the stream."""
        self._end("the server is stopping")
        self._leave()

    def on_failure(self, *_exc_info: object) -> None:
        """Drop the client and leave the stream."""
        if self._response is not None:
            self._response.abort("the HTTP-FLV player failed")
        self._leave()


class HttpFlvService:
    """Serves ``/APP/KEY.flv`` requests of a relay's HTTP port.

    Args:
        relay: The started relay.
        timeout: Seconds a request may wait for the stream (and for the access check, at
            least the auth callback's timeout).
        max_queued_bytes: Bytes queued for one client before it is dropped.
        pull_wait: Seconds a stream the relay pulls on a player's request (``--pull``, a
            cluster edge) has to start before the response ends (default :attr:`PULL_WAIT`).
        max_players: Clients served at once; more get a 503.
    """

    PULL_WAIT = 10.0

    def __init__(
        self,
        relay: RelayServer,
        timeout: float = 5.0,
        max_queued_bytes: int = 16 * 1024 * 1024,
        pull_wait: float | None = None,
        max_players: int = 1000,
    ) -> None:
        self._relay = relay
        self._max_players = max_players
        self._refusals = LogThrottle()
        self._timeout = timeout
        self._pull_wait = self.PULL_WAIT if pull_wait is None else pull_wait
        self._max_queued = max_queued_bytes
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._players: dict[str, pykka.ActorRef[HttpFlvPlayer]] = {}  # by connection id
        self._stopped = False

    @property
    def player_count(self) -> int:
        """HTTP-FLV clients being served now."""
        with self._lock:
            return len(self._players)

    def serve(self, request: RequestContext, *, head_only: bool = False) -> None:
        """Answer a GET (or HEAD) of an HTTP-FLV path on the request thread.

        Once this returns, the response is written (HEAD) or under way on the I/O loop,
        which owns the socket from then on: the handler must not write to it.

        Raises:
            HttpRequestError: For any answer but the stream (400, 403, 404, 503), already logged.
        """
        addr = request.client_address[0]
        try:
            target = parse_flv_path(request.path)
        except HttpRequestError as error:
            logger.info("HTTP-FLV: refusing %r from %s: %s", request.path[:200], addr, error)
            raise
        connection_id = f"http-flv-{next(self._ids)}-{addr}"
        # A relay that pulls this stream on a player's request does so for this one too.
        pulled = self._relay.pulls_on_demand(target.app, target.key)
        player = self._start_player(
            connection_id, target, request.client_address, request.path, pulled=pulled
        )
        handed_over = False
        try:
            self._check_access(player, target, addr, request.path)
            if not pulled:
                self._check_published(target, connection_id)
            chunked = request.request_version != "HTTP/1.0"
            head = _response_head(chunked)
            if head_only:
                request.connection.sendall(head)
                return
            start = http_chunk(FLV_STREAM_START) if chunked else FLV_STREAM_START
            request.connection.sendall(head + start)
            self._hand_over(*request.take_connection(), player, chunked=chunked)
            handed_over = True
        except OSError as error:
            logger.info("HTTP-FLV: %s went before the stream started: %s", connection_id, error)
            raise HttpRequestError(503, "the connection failed") from None
        except pykka.ActorDeadError:
            raise HttpRequestError(503, "the server is stopping") from None
        finally:
            if not handed_over:
                with self._lock:
                    self._players.pop(connection_id, None)
                player.actor_ref.stop(block=False)

    def _start_player(
        self,
        connection_id: str,
        target: FlvTarget,
        address: tuple[str, int],
        path: str,
        *,
        pulled: bool,
    ) -> ActorHandle[HttpFlvPlayer]:
        relay = self._relay
        flow = relay.config.flow
        addr = str(address[0])
        with self._lock:
            playing = len(self._players)
        if playing >= self._max_players:
            left_out = self._refusals.due(time.monotonic())
            if left_out is not None:  # a flood logs a line every few seconds, not one each
                logger.warning(
                    "HTTP-FLV: refusing %s: %d players already%s",
                    connection_id,
                    self._max_players,
                    f"; {left_out} more refused since the last report" if left_out else "",
                )
            raise HttpRequestError(503, "too many players")
        lifecycle = relay.lifecycle_hooks(target.app)
        hooks = None
        if lifecycle is not None:
            play = AccessRequest(
                AccessKind.PLAY, target.app, target.access_key, addr, path, client_id=connection_id
            )
            hooks = (lifecycle, play)
        ref = HttpFlvPlayer.start(
            connection_id,
            target,
            relay.registry,
            flow.high_water,
            flow.max_congestion,
            (addr, int(address[1])),
            (relay.io_loop.call_later, self._pull_wait) if pulled else None,
            hooks,
        )
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._players[connection_id] = ref
        if stopped:
            ref.stop(block=False)
            raise HttpRequestError(503, "the server is stopping")
        monitor(ref, self._exited_callback(connection_id))
        return ActorHandle(ref)

    def _exited_callback(self, connection_id: str) -> Callable[[ExitNotice], None]:
        def exited(_notice: ExitNotice) -> None:
            with self._lock:
                self._players.pop(connection_id, None)

        return exited

    def _check_access(
        self, player: ActorHandle[HttpFlvPlayer], target: FlvTarget, addr: str, path: str
    ) -> None:
        access = self._relay.access
        if access is None:
            return
        answer: concurrent.futures.Future[tuple[bool, str]] = concurrent.futures.Future()
        request = AccessRequest(AccessKind.PLAY, target.app, target.access_key, addr, path)
        try:
            player.tell(HttpFlvPlayer.check_access, access, request, answer)
            # The auth callback has its own deadline; the controller answers by then.
            wait = max(self._timeout, self._relay.config.auth_timeout + 1.0)
            allowed, reason = answer.result(timeout=wait)
        except (pykka.ActorDeadError, concurrent.futures.TimeoutError):
            allowed, reason = False, "the access check did not answer in time"
        if not allowed:
            logger.info("HTTP-FLV: %s/%s refused to %s: %s", target.app, target.key, addr, reason)
            raise HttpRequestError(403, describe_refusal(AccessKind.PLAY, reason))

    def _check_published(self, target: FlvTarget, connection_id: str) -> None:
        stats = self._relay.stream_stats_of(target.app, target.key, self._timeout)
        if stats is None or stats.publisher is None:
            logger.info(
                "HTTP-FLV: %s asked for %s/%s, which nobody publishes",
                connection_id,
                target.app,
                target.key,
            )
            raise HttpRequestError(404, f"nobody publishes {target.app}/{target.key}")

    def _hand_over(
        self,
        sock: socket.socket,
        address_slot: Slot | None,
        player: ActorHandle[HttpFlvPlayer],
        *,
        chunked: bool,
    ) -> None:
        """Move the socket from the request thread to the I/O loop, and start playing.

        The player keeps the connection's place in its address's count while it plays.
        """
        transport = Transport(self._relay.io_loop, sock, max_queued_bytes=self._max_queued)
        events = _SocketEvents(player)
        events.transport = transport
        response = HttpFlvResponse(transport, chunked=chunked)
        try:
            player.tell(HttpFlvPlayer.play, response, address_slot)
        except pykka.ActorDeadError:  # the relay is stopping
            sock.close()
            if address_slot is not None:
                address_slot.release()
            raise
        # Read (to see the client go) only once the player has its response: it hears of
        # the end after the start.
        transport.start(events)

    def clients(self, timeout: float = 2.0) -> list[ClientInfo]:
        """Every HTTP-FLV client being served; those that do not answer in time are left out."""
        with self._lock:
            players = list(self._players.values())
        futures = []
        for ref in players:
            with contextlib.suppress(pykka.ActorDeadError):
                futures.append(ActorHandle[HttpFlvPlayer](ref).ask(HttpFlvPlayer.describe))
        deadline = time.monotonic() + timeout
        listed = []
        for future in futures:
            with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
                listed.append(future.get(timeout=max(0.0, deadline - time.monotonic())))
        return listed

    def drop(self, connection_id: str, reason: str) -> bool:
        """End the response of the client ``connection_id``; False if there is no such client."""
        with self._lock:
            ref = self._players.get(connection_id)
        if ref is None:
            return False
        try:
            ActorHandle[HttpFlvPlayer](ref).tell(HttpFlvPlayer.close, reason)
        except pykka.ActorDeadError:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """End every HTTP-FLV response and stop their players."""
        with self._lock:
            self._stopped = True
            players = list(self._players.values())
        stopping = []
        for ref in players:  # all at once: each one ends its response on its own
            with contextlib.suppress(pykka.ActorDeadError):
                stopping.append(ref.stop(block=False))
        deadline = time.monotonic() + timeout
        for future in stopping:
            with contextlib.suppress(pykka.Timeout):
                future.get(timeout=max(0.0, deadline - time.monotonic()))
