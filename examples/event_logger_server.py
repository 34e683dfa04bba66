"""An RTMP server that accepts everything and prints one JSON line per session event.

Run it, then publish or play with any RTMP client:

    python examples/event_logger_server.py --host 127.0.0.1 --port 1935
    ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/key

Each line is ``{"event": "<EventClassName>", ...fields...}``; audio and video events carry
``data_type``, ``timestamp``, ``length`` and ``sha1`` of the payload instead of its bytes.
Stop it with Ctrl-C (or SIGTERM): sessions are closed politely first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from typing import Any

import pykka

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.running import serve_forever
from rtmp_actors.server import RtmpServer
from rtmp_actors.session.server_events import CallRequested
from rtmp_actors.tools.json_values import event_record

_print_lock = threading.Lock()


class EventLogger(EventReceiverActor):
    """Accepts every request and prints every event."""

    def __init__(self, connection: ConnectionInfo) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = connection.session

    def send_event(self, event: Any) -> None:
        line = json.dumps(event_record(event), separators=(",", ":"))
        with _print_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        request_id = getattr(event, "request_id", None)
        with contextlib.suppress(pykka.ActorDeadError):  # the client may be gone already
            if request_id is not None:
                self.session.tell(ServerSessionActor.accept_request, request_id)
            elif isinstance(event, CallRequested) and event.call_id is not None:
                # Seeing every event means answering every call: nobody else will.
                self.session.tell(
                    ServerSessionActor.fail_call,
                    event.call_id,
                    f"Method '{event.name}' is logged only.",
                )


def print_address(server: RtmpServer) -> None:
    """Say where the server listens (on stderr: stdout is for the events)."""
    # One write (print makes two): a log line cannot land inside it.
    sys.stderr.write(f"listening on {server.address[0]}:{server.address[1]}\n")


def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1935)
    args = parser.parse_args()

    server = RtmpServer(args.host, args.port, event_receiver_factory=EventLogger.start)
    serve_forever(server, ready=print_address)


if __name__ == "__main__":
    main()
