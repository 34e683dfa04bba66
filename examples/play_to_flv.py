"""Play a stream from an RTMP server and record it to an FLV file.

    python examples/play_to_flv.py rtmp://127.0.0.1:1935/live/key out.flv --seconds 10

Stops after ``--seconds`` of wall time (default: until the stream ends). Exits 1 if the
server refuses or the connection is lost before anything was recorded.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from typing import Any

import pykka

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.event_receivers import QueueEventReceiver
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvWriter, TagType
from rtmp_actors.protocol.amf import EcmaArray, encode_values
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    ConnectionResponseReceived,
    Disconnected,
    PlayResponseReceived,
    StreamEnded,
    StreamMetaDataReceived,
)
from rtmp_actors.session.events import MediaType

TIMEOUT = 15.0


def next_event(events: queue.Queue[Any], deadline: float) -> Any:
    """The next event, or None at the deadline."""
    try:
        return events.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return None


def main() -> None:
    """Record until the time is up or the stream ends."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="rtmp://host[:port]/app/stream_key")
    parser.add_argument("out", help="the FLV file to write")
    parser.add_argument("--seconds", type=float, default=None, help="how long to record")
    args = parser.parse_args()

    events: queue.Queue[Any] = queue.Queue()
    try:
        client = RtmpClient.connect(
            args.url, event_receiver_factory=lambda _info: QueueEventReceiver.start(events)
        )
    except (ValueError, OSError) as error:
        sys.exit(f"play_to_flv: cannot connect to {args.url}: {error}")
    key = client.url.stream_key
    try:
        deadline = time.monotonic() + TIMEOUT
        while not isinstance(event := next_event(events, deadline), ConnectionResponseReceived):
            if event is None:
                sys.exit("play_to_flv: no answer to connect")
            if isinstance(event, Disconnected):
                sys.exit(f"play_to_flv: connection lost: {event.reason or 'closed'}")
        if not event.was_accepted:
            if event.code is None:  # no answer from a server: the connection itself failed
                lost = next_event(events, time.monotonic() + TIMEOUT)
                if isinstance(lost, Disconnected) and lost.reason:
                    sys.exit(f"play_to_flv: connection lost: {lost.reason}")
            sys.exit(f"play_to_flv: connection refused: {event.response_text}")
        client.session.tell(ClientSessionActor.request_playback, key)

        end = time.monotonic() + args.seconds if args.seconds else float("inf")
        tags = 0
        with open(args.out, "wb") as stream:
            writer = FlvWriter(stream, flush_each_tag=True)
            while True:
                event = next_event(events, min(end, time.monotonic() + 3600))
                if event is None:
                    break
                if isinstance(event, PlayResponseReceived) and not event.was_accepted:
                    sys.exit(f"play_to_flv: playback refused: {event.response_text}")
                if isinstance(event, StreamMetaDataReceived):
                    body = encode_values(["onMetaData", EcmaArray(event.raw)])
                    writer.write(TagType.SCRIPT_DATA, 0, body)
                elif isinstance(event, AudioVideoDataReceived):
                    kind = TagType.AUDIO if event.data_type is MediaType.AUDIO else TagType.VIDEO
                    writer.write(kind, event.timestamp, event.data)
                    tags += 1
                elif isinstance(event, StreamEnded | Disconnected):
                    break
        if not tags:
            sys.exit("play_to_flv: nothing was recorded")
        client.session.tell(ClientSessionActor.stop_playback, key)
        client.close("done")
        client.wait_closed(TIMEOUT)
    finally:
        pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
