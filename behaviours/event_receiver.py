"""The EventReceiver behaviour: where a session's events go."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import pykka

__all__ = ["EventReceiver", "event_handler_name", "receives_event"]

logger = logging.getLogger(__name__)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


_HANDLER_NAMES: dict[type, str] = {}  # computed once per event class: this runs per event


def event_handler_name(event: object) -> str:
    """The handler method name for an event (``PublishStreamRequested`` -> ``on_publish_...``).

    Words are split at capitals, runs of capitals stay together: ``NewByteIOTotals`` ->
    ``on_new_byte_io_totals``.
    """
    return _handler_name(type(event))


def _handler_name(event_type: type) -> str:
    name = _HANDLER_NAMES.get(event_type)
    if name is None:
        name = _HANDLER_NAMES[event_type] = (
            "on_" + _CAMEL_BOUNDARY.sub("_", event_type.__name__).lower()
        )
    return name


def receives_event(receiver_class: type, event_type: type) -> bool:
    """Whether receivers of ``receiver_class`` would do anything with events of ``event_type``.

    They do when they have the event's ``on_<event>`` method, or see every event (they
    define ``send_event`` or ``send_events`` other than :class:`EventReceiver`'s).
    """
    if getattr(receiver_class, _handler_name(event_type), None) is not None:
        return True
    return (
        getattr(receiver_class, "send_event", None) is not EventReceiver.send_event
        or getattr(receiver_class, "send_events", None) is not EventReceiver.send_events
    )


class EventReceiver:
    """Receives the events a session raises.

    Override :meth:`send_event` to see every event, or define one ``on_<event>`` method per
    event you care about (``on_connection_requested(self, event)``); events without a method
    are ignored, except a client's remote call (``CallRequested``): a receiver without
    ``on_call_requested`` (and without its own ``send_event``) has the session answer every
    call ``_error`` "Method 'x' is not handled by this server." A receiver that does see
    calls must answer each (``answer_call``/``fail_call``) or the session answers ``_error``
    after its ``call_timeout``.

    An exception in a handler is logged and fails the receiver, which closes its connection
    (and only that one: the connection is a one-for-all unit); calling a session that ended
    meanwhile (``ActorDeadError``) is routine and logged at DEBUG.
    """

    def send_events(self, events: Sequence[Any]) -> None:
        """Take several events in order (one message instead of many); calls send_event."""
        for event in events:
            self.send_event(event)

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
            # Let it crash: the receiver fails, and its connection (a one-for-all unit) closes
            # cleanly, rather than going on with a receiver in an unknown state.
            logger.exception(
                "%s failed handling %s; closing its connection",
                type(self).__name__,
                type(event).__name__,
            )
            raise
