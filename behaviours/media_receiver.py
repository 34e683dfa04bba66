"""The MediaReceiver behaviour: where a publishing stream's media goes, past the event receiver."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

__all__ = ["MediaReceiver"]


class MediaReceiver(abc.ABC):
    """Takes a publishing stream's media straight from its session.

    An event receiver that only forwards media costs a thread switch per read for nothing;
    ``ServerSessionActor.route_media(stream_id, receiver)`` sends that stream's
    ``AudioVideoDataReceived`` and ``StreamMetaDataChanged`` events here instead, in order,
    one call per batch of input. Every other event still goes to the event receiver.
    """

    @abc.abstractmethod
    def media_received(self, connection_id: str, events: Sequence[Any]) -> None:
        """Media and metadata events of one routed stream, in the order they were published."""
