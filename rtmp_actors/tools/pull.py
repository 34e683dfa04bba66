"""``rtmp-actors pull``: play a stream from an RTMP server and record it to an FLV file.

Audio and video bodies are written unchanged; timestamps are shifted so that the recording
starts at 0 (a live stream joined midway carries the server's clock). ``onMetaData`` is
written as a script tag when it arrives. Recording stops when the stream ends (the
publisher left), after ``--seconds`` of media, or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any, BinaryIO

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.media.flv import FlvWriter, TagType
from rtmp_actors.protocol.amf import EcmaArray, encode_values
from rtmp_actors.session.client_events import (
    AudioVideoDataReceived,
    Disconnected,
    PlayResponseReceived,
    StreamEnded,
    StreamMetaDataReceived,
)
from rtmp_actors.session.events import MediaType
from rtmp_actors.tools.progress import (
    USAGE_ERROR,
    ClientConnection,
    Progress,
    ToolError,
    parse_stream_url,
    stop_actors,
)

__all__ = ["add_parser"]

_FLOW = FlowControl(idle_timeout=150.0)
_TICK = 0.25  # seconds between progress updates while no media arrives


def add_parser(subcommands: Any) -> None:
    """Register the ``pull`` subcommand."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "pull",
        help="record a stream from an RTMP server to an FLV file",
        description=(
            "Play URL (rtmp://host[:port]/app/stream_key) and record it to OUT.flv ('-' for "
            "standard output) until the stream ends, --seconds of media are recorded, or "
            "Ctrl-C. Shows progress on standard error. Exits 1 with a one-line message if the "
            "server cannot be reached, refuses, or the connection is lost; 2 for a bad URL "
            "or output file."
        ),
    )
    parser.add_argument("url", metavar="URL", help="rtmp://host[:port]/app/stream_key")
    parser.add_argument("out", metavar="OUT.flv", help="the FLV file to write ('-': stdout)")
    parser.add_argument("--seconds", metavar="S", type=float, help="stop after S seconds of media")
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=15.0,
        help="seconds to wait for the server's answers (default 15)",
    )
    parser.add_argument("--quiet", action="store_true", help="show no progress")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    recorder: _Recorder | None = None
    try:
        recorder = _Recorder(args)
        return recorder.run()
    except ToolError as error:
        print(f"pull: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        if recorder is not None and recorder.tags:
            recorder.finish(" (interrupted)")
            return 0
        print("pull: interrupted", file=sys.stderr)
        return 130
    finally:
        if recorder is not None:
            recorder.close_file()
        stop_actors()


class _Recorder:
    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._url = parse_stream_url(args.url)
        self._limit_ms = None if args.seconds is None else int(args.seconds * 1000)
        self._file: BinaryIO | None = None
        self._writer: FlvWriter | None = None
        self._first: int | None = None  # the first media timestamp: the recording's zero
        self._position = 0
        self._bytes = 0
        self.tags = 0
        self._progress = Progress("recorded", enabled=not args.quiet)

    def run(self) -> int:
        connection = ClientConnection(self._url, timeout=self._args.timeout, flow=_FLOW)
        connection.connect()
        key = self._url.stream_key
        connection.tell(ClientSessionActor.request_playback, key)
        answer = connection.wait_for(PlayResponseReceived, "play")
        if not answer.was_accepted:
            raise ToolError(f"playback refused: {answer.response_text or answer.code}")
        self._open_output()
        if not self._args.quiet:
            target = "standard output" if self._args.out == "-" else self._args.out
            print(f"pull: playing {self._args.url} into {target}", file=sys.stderr, flush=True)
        ended = ""
        while not ended:
            event = connection.next_event(_TICK)
            self._progress.update(self._bytes, self._position)
            if isinstance(event, StreamMetaDataReceived):
                self._write(TagType.SCRIPT_DATA, None, _on_metadata(event.raw))
            elif isinstance(event, AudioVideoDataReceived):
                kind = TagType.AUDIO if event.data_type is MediaType.AUDIO else TagType.VIDEO
                if not self._write(kind, event.timestamp, event.data):
                    ended = f" ({self._args.seconds:g} s)"
            elif isinstance(event, StreamEnded) and event.reason != "disconnected":
                ended = f" (the stream ended: {event.reason})"
            elif isinstance(event, Disconnected):
                self.close_file()
                raise self._lost(connection, event)
        if not self.tags:
            raise ToolError("the stream ended before anything was recorded")
        connection.tell(ClientSessionActor.stop_playback, key)
        connection.close("done")
        self.finish(ended)
        return 0

    def _open_output(self) -> None:
        if self._args.out == "-":
            self._file = sys.stdout.buffer
        else:
            try:
                self._file = open(self._args.out, "wb")  # noqa: SIM115 - closed in close_file
            except OSError as error:
                message = f"cannot write {self._args.out}: {error.strerror}"
                raise ToolError(message, USAGE_ERROR) from None
        self._writer = FlvWriter(self._file, flush_each_tag=True)

    def _write(self, tag_type: int, timestamp: int | None, data: bytes) -> bool:
        """Write one tag; False (and nothing written) once ``--seconds`` are recorded."""
        assert self._writer is not None
        if timestamp is None:
            position = self._position  # script data: where the recording is now
        else:
            if self._first is None:
                self._first = timestamp
                self._progress.restart()  # the rate is over the media, not the wait for it
            position = max(0, (timestamp - self._first) & 0xFFFFFFFF)
            if position > 0x7FFFFFFF:
                position = 0  # a message a little older than the first one
            if self._limit_ms is not None and position >= self._limit_ms:
                return False
            self._position = max(self._position, position)
            self.tags += 1
            self._bytes += len(data)
        self._writer.write(tag_type, position, data)
        return True

    def _lost(self, connection: ClientConnection, event: Disconnected) -> ToolError:
        error = connection.lost(event)
        if self.tags:
            return ToolError(f"{error} after {self.tags} tags; {self._args.out} has them")
        return error

    def finish(self, note: str) -> None:
        self.close_file()
        self._progress.finish(self._bytes, self._position, note)

    def close_file(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        with contextlib.suppress(OSError):
            if file is sys.stdout.buffer:
                file.flush()
            else:
                file.close()


def _on_metadata(properties: dict[str, Any]) -> bytes:
    return encode_values(["onMetaData", EcmaArray(properties)])
