"""The relay's HTTP port: ``GET /stats`` (JSON), ``GET /metrics`` (Prometheus), and HTTP-FLV.

Theory of operation:

* The HTTP server is the standard library's, on its own daemon thread: it is outside the
  actor system, so answering a request may ``ask`` the actors, always with a timeout.
* Every request takes a fresh :class:`~rtmp_actors.relay.metrics.RelaySnapshot` (one ask
  of the registry, then one of each stream, all in flight at once); nothing is cached.
* Bounded (:mod:`rtmp_actors.relay.bounded_http`): requests at once, per client address
  (an HTTP-FLV player keeps its address's slot while it plays) and the time to send a
  request head; a snapshot that cannot be taken in time is a 503.
* ``GET /APP/KEY.flv`` plays a live stream (see :mod:`rtmp_actors.relay.http_flv`): the
  request thread checks it, then hands the socket to the I/O loop and is free again.
* ``/control/...`` is the token-protected control API (see :mod:`rtmp_actors.relay.control`).
* ``GET /hls/APP/KEY/index.m3u8`` and its segments are files of the HLS folder, when HLS is
  on (see :mod:`rtmp_actors.relay.http_hls`).
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Self
from urllib.parse import urlsplit

from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.relay.bounded_http import BoundedHttpServer, BoundedRequestHandler
from rtmp_actors.relay.config import ControlConfig
from rtmp_actors.relay.control import CONTROL_PREFIX, ControlApi
from rtmp_actors.relay.http_flv import CORS_HEADERS, HttpFlvService
from rtmp_actors.relay.http_flv_request import FLV_SUFFIX, HttpRequestError
from rtmp_actors.relay.http_hls import HLS_PREFIX, open_hls_file
from rtmp_actors.relay.metrics import PROMETHEUS_CONTENT_TYPE, RelaySnapshot, render_prometheus
from rtmp_actors.transport.address_slots import AddressSlots

if TYPE_CHECKING:
    from rtmp_actors.cluster.view import ClusterView
    from rtmp_actors.relay.server import RelayServer
    from rtmp_actors.relay.stream import StreamStats

__all__ = ["StatsHttpServer", "metadata_summary", "stats_document", "take_snapshot"]

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"

# What /stats shows of a stream's onMetaData: StreamMetadata attribute -> JSON name.
_METADATA_SUMMARY = {
    "video_width": "width",
    "video_height": "height",
    "video_codec": "video_codec",
    "video_frame_rate": "frame_rate",
    "video_bitrate_kbps": "video_bitrate_kbps",
    "audio_codec": "audio_codec",
    "audio_sample_rate": "audio_sample_rate",
    "audio_channels": "audio_channels",
    "audio_bitrate_kbps": "audio_bitrate_kbps",
    "encoder": "encoder",
}


def take_snapshot(relay: RelayServer, timeout: float = 2.0) -> RelaySnapshot:
    """The relay's state now, asked of its actors (call from outside the actor system).

    Args:
        relay: A started relay.
        timeout: Seconds to wait for the registry and for each stream.

    Raises:
        pykka.Timeout: If the registry does not answer in time.
    """
    streams = relay.stream_stats(timeout)
    cluster = relay.cluster_view(timeout)
    servers = relay.client_servers  # plain RTMP and RTMPS
    totals = [server.byte_totals() for server in servers]
    bytes_in, bytes_out = sum(t[0] for t in totals), sum(t[1] for t in totals)
    return RelaySnapshot(
        uptime=relay.uptime,
        connections=sum(server.connection_count for server in servers),
        connections_accepted=sum(server.connections_accepted for server in servers),
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        streams=tuple(sorted(streams, key=lambda s: (s.app, s.key))),
        monotonic=time.monotonic(),
        wall=time.time(),
        cluster=cluster,
    )


def metadata_summary(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The readable parts of a stream's ``onMetaData`` (size, codecs, rates), or None."""
    if not metadata:
        return None
    parsed = StreamMetadata.from_dict(metadata)
    summary: dict[str, Any] = {}
    for attribute, name in _METADATA_SUMMARY.items():
        value = getattr(parsed, attribute)
        if isinstance(value, float) and not math.isfinite(value):
            continue  # not representable in JSON
        if value is not None:
            summary[name] = value
    return summary


def _stream_document(stats: StreamStats, snapshot: RelaySnapshot) -> dict[str, Any]:
    since = stats.publishing_since
    age = None if since is None else max(0.0, snapshot.monotonic - since)
    cluster = snapshot.cluster
    origin = {} if cluster is None else {"origin": cluster.origins.get((stats.app, stats.key))}
    return {
        "app": stats.app,
        "key": stats.key,
        "publisher": stats.publisher,
        "players": stats.players,
        "bytes_in": stats.bytes_in,
        "messages_in": stats.messages_in,
        "bitrate_kbps": round(stats.bitrate_kbps, 1),
        "publishing_since": None if age is None else round(snapshot.wall - age, 3),
        "publishing_seconds": None if age is None else round(age, 3),
        "metadata": metadata_summary(stats.metadata),
        **origin,
    }


def stats_document(snapshot: RelaySnapshot) -> dict[str, Any]:
    """The ``/stats`` JSON document of a snapshot.

    ``publishing_since`` is a Unix time; ``bitrate_kbps`` is over the last few seconds.
    """
    return {
        "uptime_seconds": round(snapshot.uptime, 3),
        "connections": snapshot.connections,
        "totals": {
            "connections_accepted": snapshot.connections_accepted,
            "bytes_in": snapshot.bytes_in,
            "bytes_out": snapshot.bytes_out,
        },
        "streams": [_stream_document(s, snapshot) for s in snapshot.streams],
        **({} if snapshot.cluster is None else {"cluster": _cluster_document(snapshot.cluster)}),
    }


def _cluster_document(cluster: ClusterView) -> dict[str, Any]:
    return {
        "node": cluster.node_id,
        "advertise": cluster.advertise,
        "directory": cluster.directory,
        "directory_reachable": cluster.reachable,
        "nodes": [
            {"node": n.node_id, "url": n.url, "streams": n.streams, "players": n.players}
            for n in cluster.nodes
        ],
    }


Route = Callable[[], tuple[str, bytes]]
_TEXT = "text/plain; charset=utf-8"


class _Server(BoundedHttpServer):
    """The relay's HTTP port: what its requests are answered from."""

    def __init__(
        self,
        address: tuple[str, int],
        routes: Mapping[str, Route],
        max_clients: int,
        flv: HttpFlvService | None = None,
        control: ControlApi | None = None,
        hls_root: Path | None = None,
        address_slots: AddressSlots | None = None,
        ssl_context: ssl.SSLContext | None = None,
        *,
        reuse_port: bool = False,
    ) -> None:
        self.routes = routes
        self.flv = flv
        self.control = control
        self.hls_root = hls_root
        super().__init__(
            address, _Handler, max_clients, address_slots, ssl_context, reuse_port=reuse_port
        )


class _Handler(BoundedRequestHandler):
    server: _Server
    server_version = "rtmp-actors"

    def do_GET(self) -> None:  # noqa: N802 (http.server names them)
        self._answer(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server names them)
        self._answer(head_only=True)

    def do_POST(self) -> None:  # noqa: N802 (http.server names them)
        if not self._controlled(urlsplit(self.path).path):
            self._reply(405, _TEXT, b"method not allowed\n")

    def _controlled(self, path: str) -> bool:
        """Answer a control API path; False for any other path."""
        control = self.server.control
        if control is None or not path.startswith(CONTROL_PREFIX):
            return False
        self.close_connection = True  # an unread body must not be taken for the next request
        reply = control.answer(self, path)
        self._reply(reply.status, JSON_CONTENT_TYPE, reply.body, headers=reply.headers)
        return True

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server names them)
        self.send_response(204)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        for name, value in CORS_HEADERS:
            self.send_header(name, value)
        self.send_header("Access-Control-Max-Age", "86400")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, *, head_only: bool) -> None:
        path = urlsplit(self.path).path
        if not head_only and self._controlled(path):
            return
        flv = self.server.flv
        if flv is not None and path.endswith(FLV_SUFFIX):
            self.close_connection = True  # the socket is the stream's now, or refused
            try:
                flv.serve(self, head_only=head_only)
            except HttpRequestError as reply:
                body = reply.reason.encode() + b"\n"
                self._reply(reply.status, _TEXT, body, head_only=head_only, cors=True)
            return
        hls_root = self.server.hls_root
        if hls_root is not None and path.startswith(HLS_PREFIX):
            try:
                content_type, file, size = open_hls_file(hls_root, path)
            except HttpRequestError as reply:
                body = reply.reason.encode() + b"\n"
                self._reply(reply.status, _TEXT, body, head_only=head_only, cors=True)
                return
            with file:
                self._send_head(200, content_type, size, cors=True)
                if not head_only:
                    self._send_file(file, size)
            return
        route = self.server.routes.get(path)
        if route is None:
            self._reply(404, _TEXT, b"not found\n", head_only=head_only)
            return
        try:
            content_type, body = route()
        except Exception as error:
            logger.warning("stats: %s failed: %r", self.path, error)
            self._reply(503, _TEXT, b"stats unavailable\n", head_only=head_only)
            return
        self._reply(200, content_type, body, head_only=head_only)

    def _reply(
        self,
        status: int,
        content_type: str,
        body: bytes,
        *,
        head_only: bool = False,
        cors: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._send_head(status, content_type, len(body), cors=cors, headers=headers)
        if not head_only:
            self.wfile.write(body)

    def _send_head(
        self,
        status: int,
        content_type: str,
        length: int,
        *,
        cors: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        if cors:
            for name, value in CORS_HEADERS:
                self.send_header(name, value)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def _send_file(self, file: BinaryIO, size: int) -> None:
        """Send ``size`` bytes of ``file`` (by the kernel, where it can) after the head."""
        try:
            self.connection.sendfile(file, 0, size)
        except OSError as error:  # the player went mid-segment: nothing to answer
            logger.debug("HTTP: %s left during %s: %s", self.address_string(), self.path, error)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stats: %s %s", self.address_string(), format % args)


class StatsHttpServer:
    """Serves a relay's ``/stats``, ``/metrics`` and HTTP-FLV; every other path is a 404.

    Args:
        relay: The relay to report on.
        host: Address to listen on.
        port: Port to listen on (0 picks a free one; see :attr:`address`).
        timeout: Seconds each request may wait for each actor it asks.
        max_clients: Requests served at once; more are closed unanswered (an HTTP-FLV
            player holds a slot only until its stream starts).
        max_players: HTTP-FLV players at once; more get a 503.
        address_slots: Counts connections per client address (the relay's, shared with its
            RTMP listeners); None: no limit per address here.
        http_flv: Play live streams at ``/APP/KEY.flv``.
        control: The control API's settings (``/control/...``; off without a token).
        hls_root: Serve this HLS folder's playlists and segments under ``/hls/``.
        https: Also serve all of it over HTTPS: (port, server TLS context).
        reuse_port: Listen with ``SO_REUSEPORT`` (``serve --workers`` share the ports).
    """

    def __init__(
        self,
        relay: RelayServer,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeout: float = 2.0,
        max_clients: int = 8,
        max_players: int = 1000,
        http_flv: bool = True,
        control: ControlConfig | None = None,
        hls_root: Path | None = None,
        address_slots: AddressSlots | None = None,
        https: tuple[int, ssl.SSLContext] | None = None,
        reuse_port: bool = False,
    ) -> None:
        if max_clients < 1 or max_players < 0:
            msg = "max_clients must be at least 1 and max_players at least 0"
            raise ValueError(msg)
        self._address_slots = address_slots
        self._relay = relay
        self._hls_root = hls_root
        self._host = host
        self._port = port
        self._timeout = timeout
        self._max_clients = max_clients
        self._https = https
        self._reuse_port = reuse_port
        self._servers: list[tuple[_Server, threading.Thread]] = []  # plain, then HTTPS
        self._flv = (
            HttpFlvService(relay, timeout=timeout, max_players=max_players) if http_flv else None
        )
        self._control = ControlApi(relay, control or ControlConfig(), timeout, self._flv)

    @property
    def http_flv_players(self) -> int:
        """HTTP-FLV clients being served now."""
        return 0 if self._flv is None else self._flv.player_count

    def start(self) -> Self:
        """Bind and start serving on a daemon thread; returns self.

        Raises:
            OSError: If the address cannot be bound.
        """
        self._listen(self._port, None)
        if self._https is not None:
            try:
                self._listen(*self._https)
            except OSError:
                self.stop()
                raise
        return self

    def _listen(self, port: int, context: ssl.SSLContext | None) -> None:
        routes: dict[str, Route] = {"/stats": self._stats, "/metrics": self._metrics}
        try:
            server = _Server(
                (self._host, port),
                routes,
                self._max_clients,
                self._flv,
                self._control,
                self._hls_root,
                self._address_slots,
                context,
                reuse_port=self._reuse_port,
            )
        except OSError as error:
            what = "HTTPS" if context else "stats"
            msg = f"cannot serve {what} on {self._host}:{port}: {error.strerror or error}"
            raise OSError(error.errno, msg) from error
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rtmp-relay-https" if context else "rtmp-relay-stats",
            daemon=True,
        )
        thread.start()
        self._servers.append((server, thread))
        host, bound = str(server.server_address[0]), int(server.server_address[1])
        base = f"{'https' if context else 'http'}://{host}:{bound}"
        logger.info("stats on %s/stats and /metrics", base)
        if self._flv is not None:
            logger.info("HTTP-FLV on %s/<app>/<stream key>.flv", base)
        if self._control.enabled:
            logger.info("control API on %s/control/", base)
        if self._hls_root is not None:
            logger.info("HLS on %s/hls/<app>/<stream key>/index.m3u8", base)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the plain HTTP server listens on."""
        if not self._servers:
            msg = "the stats server is not started"
            raise RuntimeError(msg)
        host, port = self._servers[0][0].server_address[:2]
        return str(host), int(port)

    @property
    def https_address(self) -> tuple[str, int] | None:
        """The (host, port) of the HTTPS server, or None without one."""
        for server, _ in self._servers:
            if server.ssl_context is not None:
                host, port = server.server_address[:2]
                return str(host), int(port)
        return None

    def use_tls_context(self, context: ssl.SSLContext) -> None:
        """New HTTPS connections use ``context`` (a reloaded certificate)."""
        for server, _ in self._servers:
            if server.ssl_context is not None:
                server.ssl_context = context

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the sockets (requests in progress finish on their own)."""
        servers, self._servers = self._servers, []
        if not servers:
            return
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout)
        if self._flv is not None:
            self._flv.stop(timeout)

    def _snapshot(self) -> RelaySnapshot:
        return take_snapshot(self._relay, self._timeout)

    def _stats(self) -> tuple[str, bytes]:
        document = stats_document(self._snapshot())
        http_flv, vod = self._other_players()
        if http_flv is not None:
            document["http_flv_players"] = http_flv
        if vod is not None:
            document["vod_players"] = vod
        return JSON_CONTENT_TYPE, json.dumps(document, indent=2).encode() + b"\n"

    def _metrics(self) -> tuple[str, bytes]:
        http_flv, vod = self._other_players()
        text = render_prometheus(self._snapshot(), http_flv_players=http_flv, vod_players=vod)
        return PROMETHEUS_CONTENT_TYPE, text.encode()

    def _other_players(self) -> tuple[int | None, int | None]:
        """HTTP-FLV clients and file players now (None for what is not served)."""
        vod = self._relay.vod
        return (
            None if self._flv is None else self._flv.player_count,
            None if vod is None else vod.player_count,
        )
