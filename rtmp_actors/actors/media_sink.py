"""A playing stream's direct path to its connection: the relay's fan-out without actor hops.

Relaying every message to every player through that player's session and protocol handler
actors costs two thread switches per message per player. A :class:`MediaSink` lets the one
actor that owns a live stream write each message, encoded once for everybody
(:class:`PreparedMessage`), or several in one write (:class:`PreparedBatch`), straight to
each player's transport. The connection's protocol handler opens the sink only after writing
what its session had already sent (``Play.Start`` and so on), so nothing written through the
sink can overtake it. The sink also carries the player's notices about the publisher
(``NetStream.Play.PublishNotify`` and ``UnpublishNotify``), built by its session and encoded
when the sink opens, so the stream writes them in their place among the media with no
round trip through the session.

The sink writes on chunk streams of its own, always starting with a full header, so it never
disturbs the header compression state of the connection's own chunk encoder. It keeps no
state of its own: the writer owns the player's :class:`PlaybackRules` and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtmp_actors.protocol.prepared import FANOUT_CHUNK_STREAMS, PreparedBatch, PreparedMessage
from rtmp_actors.session.playback import PlaybackRules, Verdict
from rtmp_actors.session.server import PlayerNotice

__all__ = ["MEDIA_SINK_CHUNK_STREAMS", "MediaSink"]

MEDIA_SINK_CHUNK_STREAMS = FANOUT_CHUNK_STREAMS
"""Chunk streams only media sinks write on."""


class MediaSink:
    """Writes prepared messages of one playing stream to its connection.

    Made by the connection's protocol handler; then used by one thread (the stream's owner).

    Args:
        transport: The connection's transport (``send_data``, ``queued_bytes``, ``abort``).
        stream_id: The player's message stream id.
        chunk_size: The connection's outbound chunk size.
        high_water: The connection's congestion mark (see :class:`PlaybackRules`).
        max_congestion: Seconds the connection may stay above it.
        notices: The encoded notices of the playing stream, from its session.
    """

    __slots__ = (
        "_notices",
        "_transport",
        "chunk_size",
        "high_water",
        "max_congestion",
        "stream_id",
    )

    def __init__(
        self,
        transport: Any,
        stream_id: int,
        chunk_size: int,
        high_water: int,
        max_congestion: float,
        notices: Mapping[PlayerNotice, bytes] | None = None,
    ) -> None:
        self._transport = transport
        self._notices = notices or {}
        self.stream_id = stream_id
        self.chunk_size = chunk_size
        self.high_water = high_water
        self.max_congestion = max_congestion

    @property
    def is_open(self) -> bool:
        """Whether the connection can still be written to."""
        return not self._transport.is_closing

    @property
    def queued_bytes(self) -> int:
        """Bytes written and not yet sent: a writer that can wait (a file) waits on this."""
        return int(self._transport.queued_bytes)

    def abort(self, reason: str) -> None:
        """Drop the connection at once (a peer that stopped reading), saying why."""
        self._transport.abort(reason)

    def new_rules(self, *, start_at_keyframe: bool = False) -> PlaybackRules:
        """Playback rules with this connection's congestion limits."""
        return PlaybackRules(
            self.high_water, self.max_congestion, start_at_keyframe=start_at_keyframe
        )

    def send_notice(self, notice: PlayerNotice) -> bool:
        """Write one of the player's notices; False once the connection is closed."""
        transport = self._transport
        if transport.is_closing:
            return False
        data = self._notices.get(notice)
        if data:
            transport.send_data(data)
        return True

    def send_batch(self, batch: PreparedBatch, rules: PlaybackRules, now: float) -> bool:
        """Write the batch in one write: as shared bytes when every message goes.

        Returns:
            False once the connection is closed (or was closed for staying congested).
        """
        transport = self._transport
        if transport.is_closing:
            return False
        if rules.clear_to_send(transport.queued_bytes):
            transport.send_data(batch.encoded(self.stream_id, self.chunk_size))
            return True
        return self.send(batch.messages, rules, now)

    def send(self, messages: Iterable[PreparedMessage], rules: PlaybackRules, now: float) -> bool:
        """Write the messages the rules let through, in one write.

        Returns:
            False once the connection is closed (or was closed for staying congested).
        """
        transport = self._transport
        if transport.is_closing:
            return False
        queued = transport.queued_bytes
        parts: list[bytes] = []
        for message in messages:
            if message.is_media:
                verdict = rules.admit(
                    video=message.is_video,
                    flags=message.frame_flags,  # classified once, not once per player
                    queued_bytes=queued,
                    now=now,
                )
                if verdict is Verdict.DISCONNECT:
                    transport.abort(rules.describe())
                    return False
                if verdict is Verdict.DROP:
                    continue
            data = self.encode(message)
            parts.append(data)
            queued += len(data)
        if parts:
            self.write(parts)
        return True

    def encode(self, message: PreparedMessage) -> bytes:
        """One message in this sink's wire form: RTMP chunks, shared by the players."""
        return message.encoded(self.stream_id, self.chunk_size)

    def write(self, parts: list[bytes]) -> None:
        """Write encoded messages in one write."""
        self._transport.send_data(parts[0] if len(parts) == 1 else b"".join(parts))
