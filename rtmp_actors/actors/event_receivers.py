"""Event receiver actors: the base to subclass, and ready-made ones for tests and tools."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

from behaviours.event_receiver import EventReceiver
from rtmp_actors.actors.monitoring import MonitoredActor

__all__ = ["CallbackEventReceiver", "EventReceiverActor", "QueueEventReceiver"]

logger = logging.getLogger(__name__)


class EventReceiverActor(MonitoredActor, EventReceiver):
    """Base class for event receivers: define ``on_<event>`` methods, or ``send_event``.

    Example:
        >>> class Accepting(EventReceiverActor):
        ...     def __init__(self, session):
        ...         super().__init__()
        ...         self.session = session
        ...     def on_connection_requested(self, event):
        ...         self.session.accept_request(event.request_id)
    """


class QueueEventReceiver(EventReceiverActor):
    """Puts every event on a :class:`queue.Queue` (for tests, and for code outside actors).

    It sees every event, so a server session leaves remote calls (``CallRequested``) to
    whoever reads the queue: answer them, or the session answers ``_error`` after its
    ``call_timeout``.
    """

    def __init__(self, events: queue.Queue[Any]) -> None:
        super().__init__()
        self.events = events

    def send_event(self, event: Any) -> None:
        """Queue the event."""
        self.events.put(event)


class CallbackEventReceiver(EventReceiverActor):
    """Calls ``callback(event)`` on the receiver's thread; an exception closes the connection.

    The callback sees every event, remote calls included (see :class:`QueueEventReceiver`).
    """

    def __init__(self, callback: Callable[[Any], None]) -> None:
        super().__init__()
        self._callback = callback

    def send_event(self, event: Any) -> None:
        """Hand the event to the callback."""
        try:
            self._callback(event)
        except Exception:
            logger.exception(
                "event callback failed on %s; closing its connection", type(event).__name__
            )
            raise
