"""The relay server: an RtmpServer whose connections meet in a stream registry."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from rtmp_actors.actors.method_proxy import MethodProxy
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.receiver import RelayReceiver
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

    def __init__(self, config: RelayConfig | None = None) -> None:
        self.config = config or RelayConfig()
        self._loop = IoLoop(name="rtmp-relay-io")
        self._registry_ref = StreamRegistry.start(self.config.stream, self._loop.call_later)
        registry = MethodProxy(self._registry_ref)
        self._server = RtmpServer(
            self.config.host,
            self.config.port,
            event_receiver_factory=lambda info: RelayReceiver.start(info, registry),
            config=self.config.session,
            flow=self.config.flow,
            max_connections=self.config.max_connections,
            io_loop=self._loop,
        )

    def start(self) -> Self:
        """Start listening; returns self."""
        self._loop.start()
        self._server.start()
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the relay listens on."""
        return self._server.address

    @property
    def rtmp_server(self) -> RtmpServer:
        """The underlying server."""
        return self._server

    def stream_stats(self, timeout: float = 5.0) -> list[StreamStats]:
        """A snapshot of every live stream (from outside the actor system)."""
        refs = self._registry_ref.proxy().streams().get(timeout=timeout)
        stats = []
        for ref in refs:
            try:
                stats.append(MethodProxy(ref).stats().get(timeout=timeout))
            except Exception:
                continue
        return stats

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session politely, then stop the streams and the I/O loop."""
        self._server.stop(timeout)
        self._registry_ref.stop(timeout=timeout)
        self._loop.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
