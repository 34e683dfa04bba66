"""Which kind of ProtocolError the protocol core raises: the peer's fault or the caller's."""

from __future__ import annotations

import pytest

from rtmp_actors.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from rtmp_actors.protocol.amf import decode_values, encode_values
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.commands import Connect, parse_command
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.handshake import ClientHandshake, ServerHandshake
from rtmp_actors.protocol.messages import (
    CommandMessage,
    MessageType,
    RawMessage,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    decode_message,
)


def test_both_kinds_are_protocol_errors_and_neither_is_a_value_error() -> None:
    for kind in (LocalProtocolError, RemoteProtocolError):
        assert issubclass(kind, ProtocolError)
        assert not issubclass(kind, ValueError | TypeError | RuntimeError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


# --- The peer's bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "decode",
    [
        lambda: decode_values(b"\x02\x00\x05ab"),
        lambda: SetChunkSize.decode_payload(b"\x00\x00\x00\x00"),
        lambda: decode_message(RawMessage(MessageType.COMMAND_AMF0, 0, 0, b"\x05")),
        lambda: ServerHandshake().receive_data(b"G"),  # an HTTP request, not C0
        lambda: parse_command(CommandMessage("connect", 1, {"app": 5})),
        # A server reads the peer's first command as a connect: another name is the peer's.
        lambda: Connect.from_message(CommandMessage("play", 0, None, ("key",))),
    ],
)
def test_bad_bytes_from_the_peer_raise_remote_protocol_error(decode: object) -> None:
    with pytest.raises(RemoteProtocolError):
        decode()  # type: ignore[operator]


# --- The caller's mistakes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misuse", "match"),
    [
        (lambda: encode_values([object()]), "cannot encode object"),
        (lambda: encode_values(["\ud800"]), "UTF-8"),
        (lambda: SetChunkSize(0).encode_payload(), "outside 1..2147483647"),
        (lambda: SetChunkSize(2**31).encode_payload(), "outside 1..2147483647"),
        (lambda: SetPeerBandwidth(2**32).encode_payload(), "Set Peer Bandwidth"),
        (lambda: StreamBegin(-1).encode_payload(), "StreamBegin"),
        (lambda: CommandMessage("x", 0, {"k": {1, 2}}).encode_payload(), "set"),
        (lambda: ChunkEncoder(0), "chunk size"),
        (lambda: ChunkEncoder().encode(RawMessage(8, 1, -1, b"", 4)), "32-bit"),
        (lambda: ClientHandshake(digest_scheme=2), "digest_scheme"),
        (lambda: ClientHandshake().receive_data(b"\x03"), "start"),
        (
            lambda: RtmpConnection(ConnectionRole.CLIENT).send_raw(RawMessage(8, 1, 0, b"", 4)),
            "handshake",
        ),
    ],
)
def test_misuse_raises_local_protocol_error(misuse: object, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        misuse()  # type: ignore[operator]


def test_an_outgoing_bad_set_chunk_size_leaves_the_encoder_unchanged() -> None:
    encoder = ChunkEncoder()
    with pytest.raises(LocalProtocolError, match="Set Chunk Size"):
        encoder.encode(RawMessage(MessageType.SET_CHUNK_SIZE, 0, 0, bytes(4), 2))
    assert encoder.chunk_size == 128
    # Chunk stream 2 is still new to the encoder: the next message gets a full header.
    assert encoder.encode(RawMessage(MessageType.ACKNOWLEDGEMENT, 0, 0, bytes(4), 2))[0] == 0x02


def test_a_local_error_does_not_fail_the_handshake_for_the_peer() -> None:
    client = ClientHandshake()
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"\x03")  # before start()
    client.start()
    assert client.receive_data(b"\x03") == b""  # S0 accepted: the handshake did not fail
