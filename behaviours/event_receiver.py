"""The EventReceiver behaviour: where a session's events go."""

from __future__ import annotations

import logging
import re
from typing import Any

import pykka

__all__ = ["EventReceiver", "event_handler_name"]

logger = logging.getLogger(__name__)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def event_handler_name(event: object) -> str:
    """The handler method name for an event (``PublishStreamRequested`` -> ``on_publish_...``).

    Words are split at capitals, runs of capitals stay together: ``NewByteIOTotals`` ->
    ``on_new_byte_io_totals``.
    """
    return "on_" + _CAMEL_BOUNDARY.sub("_", type(event).__name__).lower()


class EventReceiver:
    """Receives the events a session raises.

    Override :meth:`send_event` to see every event, or define one ``on_<event>`` method per
    event you care about (``on_connection_requested(self, event)``); events without a method
    are ignored. An exception in a handler is logged and never fatal: one bad handler must
    not take the session down with it (a session that ended meanwhile is logged at DEBUG).
    """

    def send_event(self, event: Any) -> None:
        """Dispatch ``event`` to its ``on_<event>`` method, if the receiver has one."""
        handler = getattr(self, event_handler_name(event), None)
        if handler is None:
            return
        try:
            handler(event)
        except pykka.ActorDeadError as error:
            # Answering a session that has just ended is routine, not a bug.
            logger.debug("%s: %s while handling %s", type(self).__name__, error, event)
        except Exception:
            logger.exception("%s failed handling %s", type(self).__name__, type(event).__name__)
