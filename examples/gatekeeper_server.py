"""An RTMP server that lets in only the stream keys it was given, and refuses every other.

    python examples/gatekeeper_server.py --key s3cret --key backup-7 --port 1935
    ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/s3cret   # accepted
    ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/guess    # refused

A custom event receiver on :class:`RtmpServer`: connections are accepted, publish and play
requests only for a known key (compared without its ``?query``, in constant time). What an
accepted publisher sends is counted, not kept. One line per decision goes to stdout::

    accepted publish live/s3cret from 127.0.0.1
    refused play live/guess from 127.0.0.1: unknown stream key
    ended publish live/s3cret: 125 media messages

Stop it with Ctrl-C (or SIGTERM): sessions are closed politely first.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import sys
import threading
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.running import serve_forever
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as events

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one line at once, whichever connection's thread it comes from."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def is_known(key: str, keys: tuple[bytes, ...]) -> bool:
    """Whether ``key`` (without its query string) is one of ``keys``, in constant time."""
    given = key.partition("?")[0].encode()
    found = False
    for known in keys:  # no early exit: the time taken does not tell how close a guess was
        found |= hmac.compare_digest(given, known)
    return found


class Gatekeeper(EventReceiverActor):
    """One per connection: decides its requests and counts what it publishes."""

    def __init__(self, connection: ConnectionInfo, keys: tuple[bytes, ...]) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = connection.session
        self.keys = keys
        self.addr = connection.peer_address[0] if connection.peer_address else "?"
        self.published: dict[int, list[Any]] = {}  # stream id -> [app/key, messages]

    def _answer(self, kind: str, event: Any, code: NetStreamCode) -> bool:
        stream = f"{event.app_name}/{event.stream_key.partition('?')[0]}"
        with contextlib.suppress(pykka.ActorDeadError):  # the client may be gone already
            if is_known(event.stream_key, self.keys):
                self.session.tell(ServerSessionActor.accept_request, event.request_id)
                say(f"accepted {kind} {stream} from {self.addr}")
                return True
            reason = f"{kind.capitalize()} denied: unknown stream key"
            self.session.tell(ServerSessionActor.reject_request, event.request_id, reason, code)
            say(f"refused {kind} {stream} from {self.addr}: unknown stream key")
        return False

    def on_connection_requested(self, event: events.ConnectionRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)

    def on_publish_stream_requested(self, event: events.PublishStreamRequested) -> None:
        if self._answer("publish", event, NetStreamCode.PUBLISH_BAD_NAME):
            self.published[event.stream_id] = [f"{event.app_name}/{event.stream_key}", 0]

    def on_play_stream_requested(self, event: events.PlayStreamRequested) -> None:
        self._answer("play", event, NetStreamCode.PLAY_FAILED)

    def on_audio_video_data_received(self, event: events.AudioVideoDataReceived) -> None:
        stream = self.published.get(event.stream_id)
        if stream is not None:
            stream[1] += 1

    def on_publishing_finished(self, event: events.PublishingFinished) -> None:
        stream = self.published.pop(event.stream_id, None)
        if stream is not None:
            say(f"ended publish {stream[0]}: {stream[1]} media messages")


def print_address(server: RtmpServer) -> None:
    """Say where the server listens (on stderr: stdout is for the decisions)."""
    # One write (print makes two): a log line cannot land inside it.
    sys.stderr.write(f"listening on {server.address[0]}:{server.address[1]}\n")


def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1935)
    parser.add_argument(
        "--key", action="append", required=True, help="a stream key to let in (repeatable)"
    )
    args = parser.parse_args()
    keys = tuple(key.encode() for key in args.key)

    server = RtmpServer(
        args.host, args.port, event_receiver_factory=lambda info: Gatekeeper.start(info, keys)
    )
    serve_forever(server, ready=print_address)


if __name__ == "__main__":
    main()
