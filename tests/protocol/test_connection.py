"""Client and server RtmpConnection back to back: handshake, messages, acknowledgements."""

from __future__ import annotations

import itertools

import pytest

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.handshake import HandshakeMode
from rtmp_actors.protocol.messages import (
    Acknowledgement,
    CommandMessage,
    DetailedMessage,
    RawMessage,
    SetChunkSize,
    VideoData,
    WindowAcknowledgementSize,
)


class Pair:
    """A client and a server joined by an in-memory link."""

    def __init__(self, *, digest: bool = True, bytewise: bool = False) -> None:
        self.client = RtmpConnection(ConnectionRole.CLIENT, digest_handshake=digest, epoch=1)
        self.server = RtmpConnection(ConnectionRole.SERVER, epoch=2)
        self.bytewise = bytewise
        self.to_server = self.client.start()
        self.to_client = b""
        self.client_received: list[DetailedMessage] = []
        self.server_received: list[DetailedMessage] = []

    def _feed(self, connection: RtmpConnection, data: bytes) -> tuple[list[DetailedMessage], bytes]:
        if not self.bytewise:
            result = connection.receive_data(data)
            return result.messages, result.to_send
        messages: list[DetailedMessage] = []
        replies = b""
        for i in range(len(data)):
            result = connection.receive_data(data[i : i + 1])
            messages += result.messages
            replies += result.to_send
        return messages, replies

    def run(self) -> None:
        """Exchange bytes until both directions are quiet."""
        while self.to_server or self.to_client:
            data, self.to_server = self.to_server, b""
            messages, replies = self._feed(self.server, data)
            self.server_received += messages
            self.to_client += replies
            data, self.to_client = self.to_client, b""
            messages, replies = self._feed(self.client, data)
            self.client_received += messages
            self.to_server += replies


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "byte-at-a-time"])
@pytest.mark.parametrize("digest", [True, False], ids=["digest", "simple"])
def test_messages_flow_both_ways_after_the_handshake(digest: bool, bytewise: bool) -> None:
    pair = Pair(digest=digest, bytewise=bytewise)
    # Sent before the handshake is over: held, then delivered first.
    connect = DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": "live"}))
    assert pair.client.send_message(connect) == b""
    pair.run()
    assert pair.client.handshake_complete
    assert pair.server.handshake_complete
    expected_mode = HandshakeMode.DIGEST if digest else HandshakeMode.SIMPLE
    assert pair.server.handshake_mode is expected_mode
    assert pair.server_received == [connect]

    reply = [
        DetailedMessage(0, 0, SetChunkSize(4096)),
        DetailedMessage(0, 0, CommandMessage("_result", 1, None, ({"code": "x"},))),
    ]
    for message in reply:
        pair.to_client += pair.server.send_message(message)
    pair.run()
    assert pair.client_received == reply
    assert pair.server.chunk_size == 4096
    assert pair.client.peer_chunk_size == 4096
    assert pair.client.bytes_received == pair.server.bytes_sent
    assert pair.server.bytes_received == pair.client.bytes_sent


def test_trailing_bytes_after_the_handshake_are_decoded() -> None:
    pair = Pair()
    pair.run()
    # Everything in a single read: the server's next message arrives with nothing else.
    message = DetailedMessage(5, 1, VideoData(b"\x17\x01" + bytes(300)))
    result = pair.client.receive_data(pair.server.send_message(message))
    assert result.messages == [message]


def test_acknowledgements_carry_totals_at_the_window() -> None:
    pair = Pair()
    pair.run()
    pair.to_client += pair.server.send_message(
        DetailedMessage(0, 0, WindowAcknowledgementSize(5000))
    )
    pair.run()
    assert pair.client.acknowledgement_window == 5000
    acknowledgements: list[int] = []
    for i in range(20):
        pair.to_client += pair.server.send_message(DetailedMessage(i, 1, VideoData(bytes(1000))))
        pair.run()
        acknowledgements += [
            m.content.sequence_number
            for m in pair.server_received
            if isinstance(m.content, Acknowledgement)
        ]
        pair.server_received.clear()
    # Each acknowledgement is the client's running total, sent once a window has passed.
    assert len(acknowledgements) >= 3
    assert acknowledgements == sorted(acknowledgements)
    assert all(b - a >= 5000 for a, b in itertools.pairwise(acknowledgements))
    assert acknowledgements[-1] <= pair.client.bytes_received


def test_zero_window_is_a_protocol_error() -> None:
    pair = Pair()
    pair.run()
    with pytest.raises(RemoteProtocolError, match="Window Acknowledgement Size of 0"):
        pair.client.receive_data(
            pair.server.send_message(DetailedMessage(0, 0, WindowAcknowledgementSize(0)))
        )


def test_send_raw_before_the_handshake_is_refused() -> None:
    connection = RtmpConnection(ConnectionRole.SERVER)
    with pytest.raises(LocalProtocolError):
        connection.send_raw(RawMessage(9, 1, 0, b"\x17", 6))
