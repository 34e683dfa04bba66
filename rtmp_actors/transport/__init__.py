"""Sockets: a selector loop thread and non-blocking transports that tell actors what arrives."""

from rtmp_actors.transport.io_loop import IoLoop, Listener, TimerHandle
from rtmp_actors.transport.transport import Transport, TransportProtocol

__all__ = ["IoLoop", "Listener", "TimerHandle", "Transport", "TransportProtocol"]
