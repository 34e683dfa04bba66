"""A playing stream's direct path to its connection: the relay's fan-out without actor hops.

Relaying every message to every player through that player's session and protocol handler
actors costs two thread switches per message per player. A :class:`MediaSink` lets the one
actor that owns a live stream write each message, encoded once for everybody
(:class:`PreparedMessage`), or a batch of them in one write (:class:`PreparedBatch`),
straight to each player's transport. The connection's protocol handler opens the sink only
after writing what its session had already sent (``Play.Start`` and so on), so nothing
written through the sink can overtake it.

The sink writes on chunk streams of its own, always starting with a full header, so it never
disturbs the header compression state of the connection's own chunk encoder. Its messages
go through the same congestion policy as everything else, and honour the player's pause and
receiveAudio/receiveVideo choices through a :class:`PlaybackGate` its session keeps current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rtmp_actors.actors.congestion import CongestionPolicy, Verdict
from rtmp_actors.actors.playback_gate import PlaybackGate
from rtmp_actors.protocol.prepared import FANOUT_CHUNK_STREAMS, PreparedBatch, PreparedMessage

__all__ = ["MEDIA_SINK_CHUNK_STREAMS", "MediaSink"]

MEDIA_SINK_CHUNK_STREAMS = FANOUT_CHUNK_STREAMS
"""Chunk streams only media sinks write on."""


class MediaSink:
    """Writes prepared messages of one playing stream to its connection.

    Made by the connection's protocol handler; used by one thread (the stream's owner).

    Args:
        transport: The connection's transport (``send_data``, ``queued_bytes``, ``abort``).
        stream_id: The player's message stream id.
        chunk_size: The connection's outbound chunk size.
        congestion: The connection's congestion policy settings.
        clock: Seconds, monotonic.
        gate: The player's pause and receiveAudio/receiveVideo choices (all media if None).
    """

    def __init__(
        self,
        transport: Any,
        stream_id: int,
        chunk_size: int,
        congestion: CongestionPolicy,
        clock: Callable[[], float] = time.monotonic,
        gate: PlaybackGate | None = None,
    ) -> None:
        self._transport = transport
        self._gate = gate or PlaybackGate()
        self.stream_id = stream_id
        self.chunk_size = chunk_size
        self._congestion = congestion
        self._clock = clock

    @property
    def is_open(self) -> bool:
        """Whether the connection can still be written to."""
        return not self._transport.is_closing

    def send(self, message: PreparedMessage) -> bool:
        """Write one message (media may be dropped under congestion); False once closed."""
        transport = self._transport
        if transport.is_closing:
            return False
        if message.is_media:
            gate = self._gate
            if not gate.allows(message):
                return True
            if gate.keyframe_needed:
                gate.keyframe_needed = False
                self._congestion.require_keyframe(self.stream_id)
            verdict = self._congestion.verdict(
                video=message.is_video,
                flags=message.frame_flags,  # classified once, not once per player
                stream_id=self.stream_id,
                queued_bytes=transport.queued_bytes,
                now=self._clock(),
            )
            if verdict is Verdict.DISCONNECT:
                transport.abort(self._congestion.describe())
                return False
            if verdict is Verdict.DROP:
                return True
        transport.send_data(message.encoded(self.stream_id, self.chunk_size))
        return True

    def send_batch(self, batch: PreparedBatch, start: int = 0) -> bool:
        """Write ``batch.messages[start:]``, in one write unless the peer is congested.

        Returns:
            False once the connection is closed.
        """
        transport = self._transport
        if transport.is_closing:
            return False
        gate = self._gate
        clear = gate.open and not gate.keyframe_needed
        if clear and self._congestion.clear_to_send(self.stream_id, transport.queued_bytes):
            # Every message would be sent: the bytes shared by all players go as they are.
            transport.send_data(batch.encoded(self.stream_id, self.chunk_size, start))
            return True
        # Congested, or the player wants only some of it: decide message by message.
        return all(self.send(message) for message in batch.messages[start:])
