"""The relay server: an RtmpServer whose connections meet in a stream registry."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any, Self

import pykka

from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.relay.access import AccessController, AccessFile, HttpCallback
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.http_stats import StatsHttpServer
from rtmp_actors.relay.links import LinkSettings, RelayLinks
from rtmp_actors.relay.receiver import RelayReceiver
from rtmp_actors.relay.recording import StreamRecorder
from rtmp_actors.relay.registry import StreamRegistry
from rtmp_actors.relay.stream import StreamStats
from rtmp_actors.server import RtmpServer
from rtmp_actors.transport.io_loop import IoLoop

__all__ = ["RelayServer"]

logger = logging.getLogger(__name__)


class RelayServer:
    """A live relay: any app, any stream key; players get what publishers send.

    Built only from the public API: an :class:`RtmpServer` whose per-connection event
    receivers (:class:`RelayReceiver`) route requests to a :class:`StreamRegistry`.
    """

    def __init__(
        self, config: RelayConfig | None = None, *, link_settings: LinkSettings | None = None
    ) -> None:
        self.config = config or RelayConfig()
        self._loop = IoLoop(name="rtmp-relay-io")
        # Access rules and the record folder are checked first: a bad one starts nothing.
        access_file = AccessFile(self.config.auth_file) if self.config.auth_file else None
        callback = (
            HttpCallback(self.config.auth_url, self.config.auth_timeout)
            if self.config.auth_url
            else None
        )
        # Push and pull relays (their URLs are parsed before any actor starts).
        self._links = RelayLinks(
            self.config.push,
            self.config.pull,
            scheduler=self._loop.call_later,
            io_loop=self._loop,
            settings=link_settings,
        )
        observers: list[MethodProxy] = []
        self._recorder_ref: pykka.ActorRef[StreamRecorder] | None = None
        if self.config.record_dir:
            self._recorder_ref = StreamRecorder.start(self.config.record_dir)
            observers.append(MethodProxy(self._recorder_ref))
        self._access_ref: pykka.ActorRef[AccessController] | None = None
        access: MethodProxy | None = None
        if access_file is not None or callback is not None:
            self._access_ref = AccessController.start(access_file, callback, self._loop.call_later)
            access = MethodProxy(self._access_ref)
        observers.extend(self._links.observers)
        self._registry_ref = StreamRegistry.start(
            self.config.stream, self._loop.call_later, observers=observers
        )
        self._links.attach(self._registry_ref)
        registry = MethodProxy(self._registry_ref)
        self._server = RtmpServer(
            self.config.host,
            self.config.port,
            event_receiver_factory=lambda info: RelayReceiver.start(info, registry, access),
            config=self.config.session,
            flow=self.config.flow,
            max_connections=self.config.max_connections,
            io_loop=self._loop,
        )
        self._started_at: float | None = None
        self._http: StatsHttpServer | None = None

    def start(self) -> Self:
        """Start listening, and serving stats if ``config.http_port`` is set; returns self.

        Raises:
            OSError: If the RTMP or the HTTP address cannot be bound.
        """
        self._loop.start()
        self._server.start()
        self._started_at = time.monotonic()
        if self.config.http_port is not None:
            try:
                self._http = StatsHttpServer(
                    self, self.config.http_host, self.config.http_port
                ).start()
            except OSError:
                self.stop()
                raise
        return self

    @property
    def http_address(self) -> tuple[str, int] | None:
        """The (host, port) of the stats endpoint, or None when it is not served."""
        return self._http.address if self._http is not None else None

    @property
    def uptime(self) -> float:
        """Seconds since :meth:`start` (0 before)."""
        return 0.0 if self._started_at is None else time.monotonic() - self._started_at

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the relay listens on."""
        return self._server.address

    @property
    def rtmp_server(self) -> RtmpServer:
        """The underlying server."""
        return self._server

    def stream_stats(self, timeout: float = 5.0) -> list[StreamStats]:
        """A snapshot of every live stream (from outside the actor system).

        The streams are all asked at once; one that does not answer within ``timeout`` (or
        stops meanwhile) is left out.
        """
        refs = self._registry_ref.proxy().streams().get(timeout=timeout)
        futures = []
        for ref in refs:
            try:
                futures.append(MethodProxy(ref).stats())
            except pykka.ActorDeadError:
                continue
        deadline = time.monotonic() + timeout
        stats = []
        for future in futures:
            try:
                stats.append(future.get(timeout=max(0.0, deadline - time.monotonic())))
            except Exception:
                continue
        return stats

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session politely, then stop the streams and the I/O loop."""
        if self._http is not None:
            self._http.stop()
        self._server.stop(timeout)
        self._links.stop(timeout)  # upstream connections close politely while the loop runs
        streams = self._stream_refs(timeout) if self._recorder_ref is not None else []
        self._registry_ref.stop(timeout=timeout)
        deadline = time.monotonic() + timeout
        for stream in streams:  # their last words go to the recorder before it finishes
            stream.actor_stopped.wait(max(0.0, deadline - time.monotonic()))
        for ref in (self._recorder_ref, self._access_ref):
            if ref is not None:
                ref.stop(timeout=timeout)  # the recorder closes its files
        self._loop.stop()

    def _stream_refs(self, timeout: float) -> list[pykka.ActorRef[Any]]:
        try:
            refs: list[pykka.ActorRef[Any]] = self._registry_ref.proxy().streams().get(timeout)
        except Exception:  # the registry is gone already
            return []
        return refs

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
