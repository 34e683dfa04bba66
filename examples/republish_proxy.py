"""Play a stream from one RTMP server and publish it to another: a small restreaming proxy.

    python examples/republish_proxy.py rtmp://origin/live/key rtmp://other/live/key

Two client connections, both driven from this thread: their events arrive on one queue,
tagged with the side they come from. Until the destination accepts the publish, only the
source's metadata and codec configuration (sequence headers) are kept; then those go first
and video starts at the next keyframe, so the destination's players can always decode.
Nothing else is held back, so memory stays bounded however long the stream runs.

Prints ``copying SOURCE to DESTINATION`` once it plays the one and publishes to the other.
Runs until the source stream ends (its publisher stops), ``--seconds`` of wall time pass, or
Ctrl-C. Exits 0 then, 1 if a server refuses or a connection is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import sys
import time
from typing import Any

import pykka

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.event_receivers import CallbackEventReceiver
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.audio import is_audio_sequence_header
from rtmp_actors.media.video import is_video_keyframe, is_video_sequence_header
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    ConnectionResponseReceived,
    Disconnected,
    PlayResponseReceived,
    PublishResponseReceived,
    StreamEnded,
    StreamMetaDataReceived,
)
from rtmp_actors.session.events import MediaType

TIMEOUT = 15.0
SOURCE, DESTINATION = "source", "destination"


def connect(url: str, side: str, events: queue.Queue[tuple[str, Any]]) -> RtmpClient:
    """Start a connection whose events go to ``events`` as ``(side, event)``."""
    try:
        return RtmpClient.connect(
            url,
            event_receiver_factory=lambda _info: CallbackEventReceiver.start(
                lambda event: events.put((side, event))
            ),
        )
    except (ValueError, OSError) as error:
        sys.exit(f"republish_proxy: cannot connect to the {side} {url}: {error}")


class Proxy:
    """The state of the republishing: what is kept until the destination accepts."""

    def __init__(self, source: RtmpClient, destination: RtmpClient) -> None:
        self.source = source
        self.destination = destination
        self.playing = False
        self.publishing = False
        self.waiting_for_keyframe = True
        self.metadata: dict[str, Any] | None = None
        self.configuration: dict[MediaType, tuple[int, bytes]] = {}  # latest sequence headers

    def started(self) -> None:
        """The destination accepted the publish: metadata and configuration go first."""
        self.publishing = True
        key = self.destination.url.stream_key
        if self.metadata is not None:
            self.destination.session.tell(ClientSessionActor.publish_metadata, key, self.metadata)
        for kind, (timestamp, data) in self.configuration.items():
            self.destination.session.tell(
                ClientSessionActor.publish_av_data, key, kind, timestamp, data
            )

    def announce(self) -> None:
        """Say so on standard output once both sides are ready."""
        if self.playing and self.publishing:
            print(
                f"copying {self.source.url.tc_url}/{self.source.url.stream_key} to "
                f"{self.destination.url.tc_url}/{self.destination.url.stream_key}",
                flush=True,
            )

    def metadata_received(self, event: StreamMetaDataReceived) -> None:
        self.metadata = dict(event.raw)
        if self.publishing:
            self.destination.session.tell(
                ClientSessionActor.publish_metadata, self.destination.url.stream_key, self.metadata
            )

    def media_received(self, event: AudioVideoDataReceived) -> None:
        kind, data = event.data_type, event.data
        video = kind is MediaType.VIDEO
        configuration = is_video_sequence_header(data) if video else is_audio_sequence_header(data)
        if configuration:
            self.configuration[kind] = (event.timestamp, data)
        if not self.publishing:
            return
        if video and not configuration and self.waiting_for_keyframe:
            if not is_video_keyframe(data):
                return
            self.waiting_for_keyframe = False
        self.destination.session.tell(
            ClientSessionActor.publish_av_data,
            self.destination.url.stream_key,
            kind,
            event.timestamp,
            data,
        )


def run(source: RtmpClient, destination: RtmpClient, events: queue.Queue[Any], end: float) -> None:
    """Handle both connections' events until the source stream ends or ``end`` comes."""
    proxy = Proxy(source, destination)
    while True:
        timeout = min(end, time.monotonic() + 3600) - time.monotonic()
        try:
            side, event = events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return  # time is up
        if isinstance(event, Disconnected):
            sys.exit(f"republish_proxy: {side} connection lost: {event.reason or 'closed'}")
        if isinstance(event, ConnectionResponseReceived):
            if not event.was_accepted:
                sys.exit(f"republish_proxy: {side} refused the connection: {event.response_text}")
            if side == SOURCE:
                source.session.tell(ClientSessionActor.request_playback, source.url.stream_key)
            else:
                destination.session.tell(
                    ClientSessionActor.request_publish, destination.url.stream_key
                )
        elif isinstance(event, PlayResponseReceived):
            if not event.was_accepted:
                sys.exit(f"republish_proxy: playback refused: {event.response_text}")
            proxy.playing = True
            proxy.announce()
        elif isinstance(event, PublishResponseReceived):
            if not event.was_accepted:
                sys.exit(f"republish_proxy: publishing refused: {event.response_text}")
            proxy.started()
            proxy.announce()
        elif isinstance(event, StreamMetaDataReceived):
            proxy.metadata_received(event)
        elif isinstance(event, AudioVideoDataReceived):
            proxy.media_received(event)
        elif isinstance(event, StreamEnded) and side == SOURCE:
            print(f"republish_proxy: the source stream ended ({event.reason})", file=sys.stderr)
            return


def main() -> None:
    """Republish until the source stream ends."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="rtmp://host[:port]/app/stream_key to play")
    parser.add_argument("destination", help="rtmp://host[:port]/app/stream_key to publish")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args()

    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    try:
        source = connect(args.source, SOURCE, events)
        destination = connect(args.destination, DESTINATION, events)
        end = time.monotonic() + args.seconds if args.seconds else float("inf")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop politely
            run(source, destination, events, end)
        destination.session.tell(ClientSessionActor.stop_publish, destination.url.stream_key)
        for client in (source, destination):
            client.close("done")
        for client in (source, destination):
            client.wait_closed(TIMEOUT)
    finally:
        pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
