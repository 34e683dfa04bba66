"""A live relay on the public API: what a publisher sends goes to every player of its app/key.

    python examples/relay_server.py [PORT]    # on 127.0.0.1, port 1935 by default
    ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/key    # and ffplay it

Late joiners get the metadata and codec configuration first (no GOP). Stop with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any, Concatenate

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.media.audio import is_audio_sequence_header
from rtmp_actors.media.video import is_video_sequence_header
from rtmp_actors.running import serve_forever
from rtmp_actors.server import RtmpServer
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server_events import CallRequested

Session = ActorHandle[ServerSessionActor]
Send = Callable[Concatenate[ServerSessionActor, int, ...], None]  # sends to one stream id


class Registry:
    """Each (app, key)'s players and start (metadata, headers); shared by receivers: locked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.players: dict[tuple[str, str], dict[tuple[str, int], Session]] = {}
        self.starts: dict[tuple[str, str], dict[object, tuple[Send, tuple[Any, ...]]]] = {}

    def send(self, stream: tuple[str, str], method: Send, *args: Any, start: object = None) -> None:
        with self.lock:
            if start is not None:  # a late joiner needs this first
                self.starts.setdefault(stream, {})[start] = (method, args)
            for (_, stream_id), session in self.players.get(stream, {}).items():
                with contextlib.suppress(pykka.ActorDeadError):  # it is leaving
                    session.tell(method, stream_id, *args)


class Relay(EventReceiverActor):
    """One connection's receiver: accepts every request, hands what it gets to the registry."""

    def __init__(self, connection: ConnectionInfo, registry: Registry) -> None:
        super().__init__()
        self.session: Session = connection.session
        self.registry = registry
        self.id = connection.connection_id

    def send_event(self, event: Any) -> None:
        if getattr(event, "request_id", None) is not None:  # connect, publish, play
            self.session.tell(ServerSessionActor.accept_request, event.request_id)
        super().send_event(event)  # then on_<event>

    def on_call_requested(self, event: CallRequested) -> None:
        # Seeing every event (send_event above) means answering every call: nobody else will.
        if event.call_id is not None:
            self.session.tell(
                ServerSessionActor.fail_call,
                event.call_id,
                f"Method '{event.name}' is not relayed.",
            )

    def on_play_stream_requested(self, event: Any) -> None:
        stream, registry = (event.app_name, event.stream_key), self.registry
        with registry.lock:
            registry.players.setdefault(stream, {})[(self.id, event.stream_id)] = self.session
            for method, args in registry.starts.get(stream, {}).values():
                self.session.tell(method, event.stream_id, *args)

    def on_play_stream_finished(self, event: Any) -> None:  # also raised on disconnection
        stream, players = (event.app_name, event.stream_key), self.registry.players
        with self.registry.lock:
            players.get(stream, {}).pop((self.id, event.stream_id), None)
            if not players.get(stream, True):
                del players[stream]

    def on_stream_meta_data_changed(self, event: Any) -> None:
        stream = (event.app_name, event.stream_key)
        self.registry.send(
            stream, ServerSessionActor.send_metadata, dict(event.raw), start="metadata"
        )

    def on_audio_video_data_received(self, event: Any) -> None:
        kind, data, stream = event.data_type, event.data, (event.app_name, event.stream_key)
        header = is_video_sequence_header if kind is MediaType.VIDEO else is_audio_sequence_header
        start = kind if header(data) else None
        self.registry.send(
            stream, ServerSessionActor.send_av_data, kind, event.timestamp, data, start=start
        )

    def on_publishing_finished(self, event: Any) -> None:  # players wait for the next one
        stream = (event.app_name, event.stream_key)
        self.registry.send(stream, ServerSessionActor.send_stream_unpublished)
        with self.registry.lock:
            self.registry.starts.pop(stream, None)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 1935
    registry = Registry()
    server = RtmpServer(port=port, event_receiver_factory=lambda c: Relay.start(c, registry))
    # Stopped politely on Ctrl-C: players get StreamEOF and Play.Stop, publishers Unpublish.
    serve_forever(
        server,
        ready=lambda s: print(
            "relay listening on {}:{}".format(*s.address), file=sys.stderr, flush=True
        ),
    )
