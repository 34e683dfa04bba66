"""A server session's message streams as its users see them, and the notices sent to players.

Each ``createStream`` gives the client a message stream that is *created*, then *publish
requested* or *play requested*, then *publishing* or *playing*, and back to *created* after
``closeStream`` (:class:`StreamState`); :class:`StreamInfo` is a snapshot of one.

A player waiting for a publisher is told when one comes and when it leaves, and a player of a
recorded stream where a seek landed and when the stream ended (:class:`PlayerNotice`). The
session builds these notices, and so do the writers that send a playing stream's media past
it (a relay's live stream, a file player), from the same functions here.

All of these are importable from :mod:`rtmp_actors.session.server` as well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtmp_actors.protocol.commands import NetStreamCode, OnStatus
from rtmp_actors.protocol.messages import DataMessage, StreamBegin, StreamEof

__all__ = [
    "PLAY_COMPLETE",
    "PlayerNotice",
    "StreamInfo",
    "StreamState",
    "completion_notices",
    "publish_notices",
    "seek_notices",
    "unpublish_notices",
]

PLAY_COMPLETE = "NetStream.Play.Complete"
"""The ``onPlayStatus`` code that says a recorded stream was played to its end."""


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
    """What a player is told about its stream, by whoever writes its media.

    A live stream tells a waiting player about its publisher; a recorded one (a file) says
    where a seek landed and that the file ended.
    """

    PUBLISHED = "published"  # StreamBegin and NetStream.Play.PublishNotify
    UNPUBLISHED = "unpublished"  # StreamEOF and NetStream.Play.UnpublishNotify
    SEEKED = "seeked"  # StreamBegin, NetStream.Seek.Notify and NetStream.Play.Start
    COMPLETED = "completed"  # StreamEOF, onPlayStatus NetStream.Play.Complete, Play.Stop


def publish_notices(stream_id: int, stream_key: str) -> tuple[StreamBegin, OnStatus]:
    """What a waiting player is told when a publisher arrives."""
    return StreamBegin(stream_id), OnStatus.play_publish_notify(stream_key)


def unpublish_notices(stream_id: int, stream_key: str) -> tuple[StreamEof, OnStatus]:
    """What a player is told when its publisher leaves; it keeps waiting for another."""
    return StreamEof(stream_id), OnStatus.play_unpublish_notify(stream_key)


def seek_notices(stream_id: int, stream_key: str) -> tuple[StreamBegin, OnStatus, OnStatus]:
    """What a player of a recorded stream is told when a seek lands, before the new media."""
    seeked = OnStatus(
        str(NetStreamCode.SEEK_NOTIFY), "status", f"Seeking {stream_key}.", {"details": stream_key}
    )
    return StreamBegin(stream_id), seeked, OnStatus.play_start(stream_key)


def completion_notices(stream_id: int, stream_key: str) -> tuple[StreamEof, DataMessage, OnStatus]:
    """What a player of a recorded stream is told when it has had all of it."""
    complete = {"code": PLAY_COMPLETE, "level": "status", "description": f"{stream_key} ended."}
    return (
        StreamEof(stream_id),
        DataMessage(("onPlayStatus", complete)),
        OnStatus.play_stop(stream_key),
    )
