"""Publish an FLV file to an RTMP server in real time, with a client session.

    python examples/publish_flv.py input.flv rtmp://127.0.0.1:1935/live/key

Exits 0 once the whole file was sent, 1 if the server refuses or the connection is lost.
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
from rtmp_actors.media.flv import FlvReader, TagType
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.session.client_events import (
    ConnectionResponseReceived,
    Disconnected,
    PublishResponseReceived,
)
from rtmp_actors.session.events import MediaType

TIMEOUT = 15.0


def wait_for(events: queue.Queue[Any], kind: type) -> Any:
    """The next event of ``kind``; exit if the connection ends first."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            event = events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            sys.exit(f"publish_flv: no {kind.__name__} within {TIMEOUT} s")
        if isinstance(event, kind) and kind is not Disconnected:
            return event
        if isinstance(event, Disconnected):
            sys.exit(f"publish_flv: connection lost: {event.reason or 'closed by the server'}")


def main() -> None:
    """Publish the file, paced by its timestamps."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the FLV file to publish")
    parser.add_argument("url", help="rtmp://host[:port]/app/stream_key")
    args = parser.parse_args()

    events: queue.Queue[Any] = queue.Queue()
    try:
        client = RtmpClient.connect(
            args.url, event_receiver_factory=lambda _info: QueueEventReceiver.start(events)
        )
    except (ValueError, OSError) as error:
        sys.exit(f"publish_flv: cannot connect to {args.url}: {error}")
    key = client.url.stream_key
    try:
        answer = wait_for(events, ConnectionResponseReceived)
        if not answer.was_accepted:
            if answer.code is None:  # no answer from a server: the connection itself failed
                wait_for(events, Disconnected)
            sys.exit(f"publish_flv: connection refused: {answer.response_text}")
        client.session.tell(ClientSessionActor.request_publish, key)
        answer = wait_for(events, PublishResponseReceived)
        if not answer.was_accepted:
            sys.exit(f"publish_flv: publishing refused: {answer.response_text}")

        start = time.monotonic()
        with open(args.file, "rb") as stream:
            for tag in FlvReader(stream):
                # Real time: wait until the tag's timestamp comes round.
                delay = start + tag.timestamp / 1000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if tag.tag_type == TagType.SCRIPT_DATA:
                    values = decode_values(tag.data)
                    if len(values) >= 2 and values[0] == "onMetaData":
                        client.session.tell(ClientSessionActor.publish_metadata, key, values[1])
                elif tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
                    kind = MediaType.AUDIO if tag.tag_type == TagType.AUDIO else MediaType.VIDEO
                    client.session.tell(
                        ClientSessionActor.publish_av_data, key, kind, tag.timestamp, tag.data
                    )
                while not events.empty():
                    event = events.get_nowait()
                    if isinstance(event, Disconnected):
                        sys.exit(f"publish_flv: connection lost: {event.reason}")
        client.session.tell(ClientSessionActor.stop_publish, key)
        client.close("done")
        client.wait_closed(TIMEOUT)
    finally:
        pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
