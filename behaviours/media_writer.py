"""The MediaWriter behaviour: who writes a playing stream's media past its session."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["MediaWriter"]


class MediaWriter(abc.ABC):
    """Writes a playing stream's media through a media sink, and so owns its playback rules.

    It asks the player's session for the sink (``open_media_sink(stream_id, writer)``); the
    session then tells it what the player chooses (pause, receiveAudio/receiveVideo) as
    immutable ``PlaybackChoice`` values. Nobody else writes that state.
    """

    @abc.abstractmethod
    def media_sink_opened(self, connection_id: str, stream_id: int, sink: Any) -> None:
        """The connection's direct path (None: refused; the connection is going away)."""

    @abc.abstractmethod
    def playback_changed(self, connection_id: str, stream_id: int, choice: Any) -> None:
        """The player's current choices for the stream (a ``PlaybackChoice``)."""
