"""An RTMP server that records every published stream to an FLV file.

    python examples/recording_server.py recordings/ --port 1935
    ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1:1935/live/key

Each publication goes to ``recordings/<app>/<key>-<UTC time>.flv``, tag by tag as the
publisher sent it (``onMetaData`` included), flushed every second so that a killed server
loses at most the last second. App and key come from the client: they are made safe for a
file name (``recording_path``) and the file is never one that exists already. Playing is
refused: this server only records. One line per recording goes to stdout::

    recording live/key to recordings/live/key-20240506T070809Z.flv
    recorded live/key to recordings/live/key-20240506T070809Z.flv: 250 media tags

Stop it with Ctrl-C (or SIGTERM): sessions are closed politely and files are finished.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.connection_unit import ConnectionInfo
from rtmp_actors.actors.event_receivers import EventReceiverActor
from rtmp_actors.actors.server_session import ServerSessionActor
from rtmp_actors.media.flv import FlvWriter, TagType
from rtmp_actors.protocol.amf import EcmaArray, encode_values
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay.recording import recording_path
from rtmp_actors.running import serve_forever
from rtmp_actors.server import RtmpServer
from rtmp_actors.session import server_events as events
from rtmp_actors.session.events import MediaType

FLUSH_EVERY = 1.0  # seconds

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one line at once, whichever connection's thread it comes from."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass
class Recording:
    """One FLV file being written."""

    name: str
    path: Path
    file: BinaryIO
    writer: FlvWriter
    flushed_at: float
    media_tags: int = 0


class Recorder(EventReceiverActor):
    """One per connection: accepts publishers and writes what they send."""

    def __init__(self, connection: ConnectionInfo, directory: Path) -> None:
        super().__init__()
        self.session: ActorHandle[ServerSessionActor] = connection.session
        self.directory = directory
        self.recordings: dict[int, Recording] = {}  # by stream id

    def on_connection_requested(self, event: events.ConnectionRequested) -> None:
        self.session.tell(ServerSessionActor.accept_request, event.request_id)

    def on_publish_stream_requested(self, event: events.PublishStreamRequested) -> None:
        name = f"{event.app_name}/{event.stream_key}"
        try:
            path = recording_path(
                self.directory, event.app_name, event.stream_key, dt.datetime.now(dt.UTC)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            file = open(path, "xb")  # noqa: SIM115 - closed when publishing ends
        except (OSError, ValueError) as error:
            # One write (print makes two): a log line cannot land inside it.
            sys.stderr.write(f"cannot record {name}: {error}\n")
            self.session.tell(
                ServerSessionActor.reject_request,
                event.request_id,
                "cannot record this stream",
                NetStreamCode.PUBLISH_BAD_NAME,
            )
            return
        writer = FlvWriter(file)
        file.flush()
        self.recordings[event.stream_id] = Recording(name, path, file, writer, time.monotonic())
        self.session.tell(ServerSessionActor.accept_request, event.request_id)
        say(f"recording {name} to {path}")

    def on_play_stream_requested(self, event: events.PlayStreamRequested) -> None:
        self.session.tell(
            ServerSessionActor.reject_request,
            event.request_id,
            "this server only records",
            NetStreamCode.PLAY_STREAM_NOT_FOUND,
        )

    def on_stream_meta_data_changed(self, event: events.StreamMetaDataChanged) -> None:
        recording = self.recordings.get(event.stream_id)
        if recording is not None and event.raw:
            body = encode_values(["onMetaData", EcmaArray(event.raw)])
            recording.writer.write(TagType.SCRIPT_DATA, 0, body)

    def on_audio_video_data_received(self, event: events.AudioVideoDataReceived) -> None:
        recording = self.recordings.get(event.stream_id)
        if recording is None:
            return
        kind = TagType.AUDIO if event.data_type is MediaType.AUDIO else TagType.VIDEO
        recording.writer.write(kind, event.timestamp, event.data)
        recording.media_tags += 1
        now = time.monotonic()
        if now - recording.flushed_at >= FLUSH_EVERY:
            recording.writer.flush()
            recording.flushed_at = now

    def on_publishing_finished(self, event: events.PublishingFinished) -> None:
        self._finish(event.stream_id)

    def _finish(self, stream_id: int) -> None:
        recording = self.recordings.pop(stream_id, None)
        if recording is not None:
            recording.file.close()
            say(f"recorded {recording.name} to {recording.path}: {recording.media_tags} media tags")

    def on_stop(self) -> None:
        """Finish the files of a connection that is stopped before it ends its publishing."""
        for stream_id in list(self.recordings):
            with contextlib.suppress(OSError):
                self._finish(stream_id)


def print_address(server: RtmpServer) -> None:
    """Say where the server listens (on stderr: stdout is for the recordings)."""
    # One write (print makes two): a log line cannot land inside it.
    sys.stderr.write(f"listening on {server.address[0]}:{server.address[1]}\n")


def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where recordings go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1935)
    args = parser.parse_args()
    directory: Path = args.directory
    directory.mkdir(parents=True, exist_ok=True)

    server = RtmpServer(
        args.host, args.port, event_receiver_factory=lambda info: Recorder.start(info, directory)
    )
    serve_forever(server, ready=print_address)


if __name__ == "__main__":
    main()
