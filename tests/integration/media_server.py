"""An in-test RTMP server that accepts (or refuses) requests and streams an FLV to players."""

from __future__ import annotations

import contextlib
import hashlib
import queue
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.media.flv import FlvTag, TagType
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType

TIMEOUT = 30.0


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@dataclass(frozen=True)
class PlayScript:
    """What the server does for a player.

    Attributes:
        tags: The FLV tags to send (metadata and media), as fast as the session takes them.
        send_eof: Send StreamEOF after the tags.
        close_after_play: Then close the session (StreamEOF, NetStream.Play.Stop, socket),
            which is what makes FFmpeg and rtmpdump stop.
        refuse: Refuse publish and play requests with this reason.
    """

    tags: Sequence[FlvTag] = ()
    send_eof: bool = True
    close_after_play: bool = False
    refuse: str | None = None


class MediaPeer(EventReceiverActor):
    """Queues every event, decides requests by the script, and streams to players."""

    def __init__(self, info: ConnectionInfo, events: queue.Queue[Any], script: PlayScript) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = info.session
        self.events = events
        self.script = script

    def send_event(self, event: Any) -> None:
        self.events.put(event)
        request_id = getattr(event, "request_id", None)
        if request_id is None:
            return
        with contextlib.suppress(pykka.ActorDeadError):
            refuse = self.script.refuse
            if refuse is not None and not isinstance(event, server.ConnectionRequested):
                self.session.tell(ServerSessionActor.reject_request, request_id, refuse)
                return
            self.session.tell(ServerSessionActor.accept_request, request_id)
            if isinstance(event, server.PlayStreamRequested):
                stream_play(self.session, event.stream_id, self.script)


def stream_play(
    session: ActorHandle[ServerSessionActor], stream_id: int, script: PlayScript
) -> None:
    """Send an FLV's metadata and media to a player through the session's handle."""
    for tag in script.tags:
        if tag.tag_type == TagType.SCRIPT_DATA:
            values = decode_values(tag.data)
            if values and values[0] == "onMetaData":
                session.tell(ServerSessionActor.send_metadata, stream_id, values[1])
        elif tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
            kind = MediaType.AUDIO if tag.tag_type == TagType.AUDIO else MediaType.VIDEO
            session.tell(ServerSessionActor.send_av_data, stream_id, kind, tag.timestamp, tag.data)
    if script.send_eof:
        session.tell(ServerSessionActor.send_stream_eof, stream_id)
    if script.close_after_play:
        session.tell(ServerSessionActor.close, "stream over")


@dataclass(frozen=True)
class RunningServer:
    """A started media server: its URL base, the server and the queue of its events."""

    server: RtmpServer
    events: queue.Queue[Any]

    @property
    def url(self) -> str:
        """``rtmp://host:port/live``."""
        host, port = self.server.address
        return f"rtmp://{host}:{port}/live"


@contextlib.contextmanager
def media_server(script: PlayScript | None = None) -> Iterator[RunningServer]:
    """Run an in-test server on a free loopback port until the block ends."""
    events: queue.Queue[Any] = queue.Queue()
    chosen = script or PlayScript()
    rtmp_server = RtmpServer(
        "127.0.0.1", 0, event_receiver_factory=lambda info: MediaPeer.start(info, events, chosen)
    ).start()
    try:
        yield RunningServer(rtmp_server, events)
    finally:
        rtmp_server.stop()


def events_until_disconnected(events: queue.Queue[Any]) -> list[Any]:
    """Every server event up to and including ``Disconnected``; fail after the timeout."""
    seen: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while not seen or not isinstance(seen[-1], server.Disconnected):
        try:
            seen.append(events.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            kinds = [type(e).__name__ for e in seen[-20:]]
            msg = f"no Disconnected within {TIMEOUT} s; last events: {kinds}"
            raise AssertionError(msg) from None
    return seen
