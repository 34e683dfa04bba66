"""``rtmp-actors inspect``: decode a raw dump of one direction of an RTMP connection.

The dump holds the bytes one side sent, from its first handshake byte (C0 or S0) on, as a
packet capture's "follow TCP stream" export or a recording proxy would save them. Each decoded
message becomes one JSON object on its own line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from rtmp_actors.errors import ProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.media.audio import parse_audio_tag
from rtmp_actors.media.video import parse_video_tag
from rtmp_actors.protocol.chunk_decoder import ChunkDecoder
from rtmp_actors.protocol.messages import (
    AudioData,
    CommandMessage,
    DataMessage,
    MessageType,
    RawMessage,
    UserControl,
    VideoData,
    decode_content,
    expand_aggregate,
)
from rtmp_actors.tools.json_values import to_jsonable

__all__ = ["DumpError", "add_parser", "inspect_dump"]

HANDSHAKE_SIZE = 1 + 1536 + 1536  # C0/S0, C1/S1, C2/S2
_READ_SIZE = 1 << 16


class DumpError(ProtocolError):
    """The dump cannot be decoded; the message says where and why."""


def _check_version(version: int, role: str) -> None:
    first = "C0" if role == "client" else "S0"
    if version == 3:
        return
    if version in (6, 8, 9):
        msg = f"{first} is {version}: encrypted RTMP (RTMPE) cannot be decoded"
    else:
        msg = f"{first} is {version}, not 3: this is not the start of an RTMP connection"
    raise DumpError(msg)


def _describe(raw: RawMessage, limits: Limits) -> dict[str, Any]:
    try:
        type_name = MessageType(raw.type_id).name.lower()
    except ValueError:
        type_name = "unknown"
    record: dict[str, Any] = {
        "ts": raw.timestamp,
        "type": raw.type_id,
        "type_name": type_name,
        "stream_id": raw.stream_id,
        "csid": raw.chunk_stream_id,
        "length": len(raw.payload),
    }
    content = decode_content(raw.type_id, raw.payload, limits)
    if isinstance(content, AudioData | VideoData):
        record["sha1"] = hashlib.sha1(raw.payload).hexdigest()
        record.update(_describe_tag(content))
        return record
    if isinstance(content, CommandMessage):
        record.update(
            command=content.name,
            transaction_id=content.transaction_id,
            command_object=to_jsonable(content.command_object),
            arguments=to_jsonable(content.arguments),
        )
        return record
    if isinstance(content, DataMessage):
        record["values"] = to_jsonable(content.values)
        return record
    if isinstance(content, UserControl):
        record["event"] = type(content).__name__
    if raw.type_id == MessageType.AGGREGATE:
        return record
    for field in dataclasses.fields(content):  # type: ignore[arg-type]
        record[field.name] = to_jsonable(getattr(content, field.name))
    return record


def _describe_tag(content: AudioData | VideoData) -> dict[str, Any]:
    """The tag header of an audio/video payload, for reading (never fatal)."""
    if not content.data:
        return {"silence": True} if isinstance(content, AudioData) else {}
    try:
        if isinstance(content, VideoData):
            video = parse_video_tag(content.data)
            return {
                "codec": video.codec_name,
                "packet_type": video.packet_type.name.lower() if video.packet_type else None,
                "keyframe": video.is_keyframe,
                "sequence_header": video.is_sequence_header,
                "composition_time": video.composition_time,
            }
        audio = parse_audio_tag(content.data)
        return {
            "codec": audio.codec_name,
            "packet_type": audio.packet_type.name.lower() if audio.packet_type else None,
            "sequence_header": audio.is_sequence_header,
        }
    except ProtocolError as error:
        return {"tag_error": str(error)}


def inspect_dump(
    blocks: Iterable[bytes], role: str, limits: Limits = DEFAULT_LIMITS
) -> Iterator[dict[str, Any]]:
    """Decode a dump given as consecutive blocks of bytes into one record per message.

    Aggregate messages yield their own record followed by one record per sub-message, marked
    ``"in_aggregate": true``.

    Raises:
        DumpError: If the dump does not start with an RTMP handshake or is cut short in it.
        ProtocolError: If the bytes after the handshake break the protocol.
    """
    decoder = ChunkDecoder(limits)
    handshake = b""
    for block in blocks:
        chunk_bytes = block
        if len(handshake) < HANDSHAKE_SIZE:
            handshake += block
            if len(handshake) < HANDSHAKE_SIZE:
                continue
            _check_version(handshake[0], role)
            chunk_bytes = handshake[HANDSHAKE_SIZE:]
            handshake = handshake[:HANDSHAKE_SIZE]
        failure: ProtocolError | None = None
        try:
            messages = decoder.receive_data(chunk_bytes)
        except ProtocolError as error:
            messages = list(error.messages_before_error)  # type: ignore[arg-type]
            failure = error
        for raw in messages:
            yield _describe(raw, limits)
            if raw.type_id == MessageType.AGGREGATE:
                for sub in expand_aggregate(raw):
                    record = _describe(sub, limits)
                    record["in_aggregate"] = True
                    yield record
        if failure is not None:
            offset = HANDSHAKE_SIZE + decoder.bytes_received
            msg = f"undecodable bytes before offset {offset}: {failure}"
            raise DumpError(msg) from failure
    if len(handshake) < HANDSHAKE_SIZE:
        if handshake:
            _check_version(handshake[0], role)
        msg = f"the dump ends inside the handshake ({len(handshake)} of {HANDSHAKE_SIZE} bytes)"
        raise DumpError(msg)
    if decoder.pending_bytes:
        # A capture usually stops mid-message; say so, but it is not an error.
        print(
            f"inspect: the dump ends inside a message ({decoder.pending_bytes} bytes held)",
            file=sys.stderr,
        )


def add_parser(subcommands: Any) -> None:
    """Register the ``inspect`` subcommand."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "inspect",
        help="decode a raw byte dump of one direction of an RTMP connection",
        description=(
            "Decode a raw dump of the bytes one side of an RTMP connection sent (starting at C0 "
            "or S0) and print one JSON object per message."
        ),
    )
    parser.add_argument("file", help="the dump file ('-' for standard input)")
    parser.add_argument(
        "--role",
        choices=("client", "server"),
        required=True,
        help="who sent the bytes: the client (dump starts with C0) or the server (S0)",
    )
    parser.set_defaults(run=_run)


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    while block := stream.read(_READ_SIZE):
        yield block


def _run(args: argparse.Namespace) -> int:
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as error:
        print(f"inspect: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    out = sys.stdout
    try:
        with stream:
            for record in inspect_dump(_blocks(stream), args.role):
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
    except ProtocolError as error:
        out.flush()
        print(f"inspect: {args.file}: {error}", file=sys.stderr)
        return 1
    return 0
