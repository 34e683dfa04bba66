"""A server session's message streams as its users see them, and the notices sent to players.

Each ``createStream`` gives the client a message stream that is *created*, then *publish
requested* or *play requested*, then *publishing* or *playing*, and back to *created* after
``closeStream`` (:class:`StreamState`); :class:`StreamInfo` is a snapshot of one.

A player waiting for a publisher is told when one comes and when it leaves
(:class:`PlayerNotice`). The session builds these notices, and so do the writers that send a
playing stream's media past it (a relay's live stream), from the same two functions here.

All of these are importable from :mod:`rtmp_actors.session.server` as well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtmp_actors.protocol.commands import OnStatus
from rtmp_actors.protocol.messages import StreamBegin, StreamEof

__all__ = [
    "PlayerNotice",
    "StreamInfo",
    "StreamState",
    "publish_notices",
    "unpublish_notices",
]


class StreamState(enum.Enum):
    """Where a message stream is in its life."""

    CREATED = "created"
    PUBLISH_REQUESTED = "publish requested"
    PUBLISHING = "publishing"
    PLAY_REQUESTED = "play requested"
    PLAYING = "playing"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A snapshot of one message stream, for introspection.

    Attributes:
        stream_id: The message stream id.
        state: Where the stream is in its life.
        stream_key: The stream name being published or played (None while only created).
        paused: Whether the player paused playback.
        receive_audio: Whether the player wants audio (``receiveAudio``).
        receive_video: Whether the player wants video (``receiveVideo``).
        buffer_length: The player's buffer length in ms (Set Buffer Length), if it sent one.
    """

    stream_id: int
    state: StreamState
    stream_key: str | None
    paused: bool
    receive_audio: bool
    receive_video: bool
    buffer_length: int | None


class PlayerNotice(enum.Enum):
    """What a waiting player is told about its stream's publisher."""

    PUBLISHED = "published"  # StreamBegin and NetStream.Play.PublishNotify
    UNPUBLISHED = "unpublished"  # StreamEOF and NetStream.Play.UnpublishNotify


def publish_notices(stream_id: int, stream_key: str) -> tuple[StreamBegin, OnStatus]:
    """What a waiting player is told when a publisher arrives."""
    return StreamBegin(stream_id), OnStatus.play_publish_notify(stream_key)


def unpublish_notices(stream_id: int, stream_key: str) -> tuple[StreamEof, OnStatus]:
    """What a player is told when its publisher leaves; it keeps waiting for another."""
    return StreamEof(stream_id), OnStatus.play_unpublish_notify(stream_key)
