"""``rtmp-actors push``: publish an FLV file to an RTMP server.

The file's ``onMetaData`` goes first, then its audio and video tags, unchanged, with their
timestamps (other script tags are left out). By default tags are sent in real time, as a
live encoder would; ``--as-fast-as-possible`` sends them as fast as the connection takes
them, keeping at most :data:`WINDOW` bytes between the tool and the socket: the client reports
its byte totals (``NewByteIOTotals``) and the tool waits for them before sending more, so
nothing piles up in memory whatever the file size.

``--loop N`` sends the file N times in all (0: until interrupted); each pass continues the
timestamps of the one before.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.actors.protocol_handler import FlowControl
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.flv import FlvReader, FlvTag, TagType
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.session.client_events import Disconnected, NewByteIOTotals, PublishResponseReceived
from rtmp_actors.session.events import MediaType
from rtmp_actors.tools.progress import (
    USAGE_ERROR,
    ClientConnection,
    Progress,
    ToolError,
    parse_stream_url,
    stop_actors,
)

__all__ = ["WINDOW", "add_parser"]

WINDOW = 1024 * 1024
"""Most payload bytes handed to the client that it has not yet reported as sent."""
SETTLE = 1.0
"""Seconds without a byte report after which everything handed over counts as settled
(the client reports within ``byte_report_interval`` of any write; media it dropped under
congestion is never reported)."""
DEFAULT_FRAME_GAP = 40
"""Milliseconds between two passes of ``--loop`` when the file gives no better idea."""
_FLOW = FlowControl(idle_timeout=150.0, byte_report_interval=0.1)


def add_parser(subcommands: Any) -> None:
    """Register the ``push`` subcommand."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "push",
        help="publish an FLV file to an RTMP server",
        description=(
            "Publish FILE to URL (rtmp://host[:port]/app/stream_key): onMetaData, then the "
            "audio and video tags with their timestamps. Shows progress on standard error. "
            "Exits 1 with a one-line message if the server cannot be reached, refuses, or "
            "the connection is lost; 2 for a bad URL or file."
        ),
    )
    parser.add_argument("file", metavar="FILE.flv", help="the FLV file to publish")
    parser.add_argument("url", metavar="URL", help="rtmp://host[:port]/app/stream_key")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--realtime",
        dest="realtime",
        action="store_true",
        default=True,
        help="send tags when their timestamps come round (the default)",
    )
    pace.add_argument(
        "--as-fast-as-possible",
        dest="realtime",
        action="store_false",
        help="send as fast as the connection takes it",
    )
    parser.add_argument(
        "--loop",
        metavar="N",
        type=_passes,
        default=1,
        help="send the file N times in all; 0 repeats until interrupted (default 1)",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=15.0,
        help="seconds to wait for the server's answers (default 15)",
    )
    parser.add_argument("--quiet", action="store_true", help="show no progress")
    parser.set_defaults(run=_run)


def _passes(text: str) -> int:
    value = int(text)
    if value < 0:
        msg = "must be 0 (forever) or more"
        raise argparse.ArgumentTypeError(msg)
    return value


def _run(args: argparse.Namespace) -> int:
    try:
        return _push(args)
    except ToolError as error:
        print(f"push: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print("push: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_actors()


@dataclass(slots=True)
class _Media:
    """One tag to send, with its timestamp on the whole push's time line."""

    kind: MediaType
    timestamp: int
    data: bytes


def _push(args: argparse.Namespace) -> int:
    url = parse_stream_url(args.url)
    metadata = _first_metadata(args.file)  # also checks that the file is a readable FLV
    connection = ClientConnection(url, timeout=args.timeout, flow=_FLOW)
    connection.connect()
    key = url.stream_key
    connection.tell(ClientSessionActor.request_publish, key)
    answer = connection.wait_for(PublishResponseReceived, "publish")
    if not answer.was_accepted:
        raise ToolError(f"publishing refused: {answer.response_text or answer.code}")
    if not args.quiet:
        print(f"push: publishing {args.file} to {args.url}", file=sys.stderr, flush=True)
    progress = Progress("sent", enabled=not args.quiet)
    sender = _Sender(connection, key, progress)
    if metadata is not None:
        connection.tell(ClientSessionActor.publish_metadata, key, metadata)
    started = time.monotonic()
    for message in _timeline(args.file, args.loop):
        if args.realtime:
            sender.wait_until(started + message.timestamp / 1000)
        sender.send(message)
    connection.tell(ClientSessionActor.stop_publish, key)
    sender.drain()
    connection.close("done")
    progress.finish(sender.given, sender.media_ms)
    return 0


def _open(path: str) -> tuple[Any, FlvReader]:
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the callers
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror}", USAGE_ERROR) from None
    try:
        return stream, FlvReader(stream, strict=False)
    except ProtocolError as error:
        stream.close()
        raise ToolError(f"{path}: {error}", USAGE_ERROR) from None


def _first_metadata(path: str) -> Any | None:
    """The file's ``onMetaData`` properties, if its first script tag has them."""
    stream, reader = _open(path)
    with stream:
        try:
            for tag in reader:
                if tag.tag_type == TagType.SCRIPT_DATA:
                    values = decode_values(tag.data)
                    if len(values) >= 2 and values[0] == "onMetaData":
                        return values[1]
                if tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
                    return None
        except ProtocolError as error:
            raise ToolError(f"{path}: {error}", USAGE_ERROR) from None
    return None


def _timeline(path: str, passes: int) -> Iterator[_Media]:
    """The file's audio and video tags, ``passes`` times (0: forever), timestamps continued."""
    offset = 0
    done = 0
    while passes == 0 or done < passes:
        first: int | None = None
        last = 0
        gap = DEFAULT_FRAME_GAP
        previous: dict[int, int] = {}
        stream, reader = _open(path)
        with stream:
            for tag in _tags(path, reader):
                if first is None:
                    first = tag.timestamp
                relative = max(0, tag.timestamp - first)
                if tag.tag_type in previous and relative > previous[tag.tag_type]:
                    gap = relative - previous[tag.tag_type]
                previous[tag.tag_type] = relative
                last = max(last, relative)
                kind = MediaType.AUDIO if tag.tag_type == TagType.AUDIO else MediaType.VIDEO
                yield _Media(kind, offset + relative, tag.data)
        if first is None:
            raise ToolError(f"{path} has no audio or video", USAGE_ERROR)
        offset += last + gap
        done += 1


def _tags(path: str, reader: FlvReader) -> Iterator[FlvTag]:
    try:
        for tag in reader:
            if tag.tag_type in (TagType.AUDIO, TagType.VIDEO) and tag.data:
                yield tag
    except ProtocolError as error:
        raise ToolError(f"{path}: {error}", USAGE_ERROR) from None


class _Sender:
    """Hands tags to the client session, keeping the bytes in flight under ``WINDOW``."""

    def __init__(self, connection: ClientConnection, key: str, progress: Progress) -> None:
        self._connection = connection
        self._key = key
        self._progress = progress
        self.given = 0  # payload bytes handed to the session
        self.media_ms = 0
        self._reported = 0  # the client's latest bytes_sent
        self._baseline: int | None = None  # bytes_sent when the first tag was handed over

    @property
    def in_flight(self) -> int:
        """Payload bytes handed over but not yet reported sent (headers count as sent)."""
        if self._baseline is None:
            return 0
        return max(0, self.given - (self._reported - self._baseline))

    def send(self, message: _Media) -> None:
        self._take_events(0.0)
        while self.in_flight > WINDOW:
            if not self._take_events(SETTLE):
                # No report for a while: nothing is left in the client's pipeline (what is
                # not reported was dropped under congestion), so start counting afresh.
                self._baseline = self._reported - self.given
        if self._baseline is None:
            self._baseline = self._reported
        self._connection.tell(
            ClientSessionActor.publish_av_data,
            self._key,
            message.kind,
            message.timestamp,
            message.data,
        )
        self.given += len(message.data)
        self.media_ms = message.timestamp
        self._progress.update(self.given, self.media_ms)

    def wait_until(self, moment: float) -> None:
        """Handle events until ``moment`` (monotonic seconds)."""
        while (remaining := moment - time.monotonic()) > 0:
            self._take_events(remaining)
            self._progress.update(self.given, self.media_ms)

    def drain(self) -> None:
        """Wait (bounded) until everything handed over is reported sent."""
        deadline = time.monotonic() + self._connection.timeout
        while self.in_flight and time.monotonic() < deadline:
            if not self._take_events(SETTLE):
                break

    def _take_events(self, timeout: float) -> bool:
        """Handle the events that come within ``timeout``; True if a byte report came.

        Returns as soon as a byte report came (and what else was already queued).
        """
        reported = False
        deadline = time.monotonic() + timeout
        wait = timeout
        while (event := self._connection.next_event(wait)) is not None:
            if isinstance(event, NewByteIOTotals):
                self._reported = event.bytes_sent
                reported = True
            elif isinstance(event, Disconnected):
                raise self._connection.lost(event)
            wait = 0.0 if reported else deadline - time.monotonic()
        return reported
