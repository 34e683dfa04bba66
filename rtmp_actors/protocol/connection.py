"""One RTMP connection's wire state, sans-I/O: handshake, chunk codec and acknowledgements.

Bytes from the peer go into :meth:`RtmpConnection.receive_data`; decoded messages and the
bytes to send back (handshake replies, acknowledgements) come out. Outbound messages go
through :meth:`RtmpConnection.send_message`. Messages sent before the handshake completes are
held and go out right after it, so a session can ask to connect as soon as it exists.

Acknowledgements live here rather than in the sessions because only this layer sees every
byte: when the bytes received since the last acknowledgement reach the peer's window, an
Acknowledgement carrying the running *total* (mod 2^32) is sent.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import NamedTuple

from rtmp_actors.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from rtmp_actors.limits import DEFAULT_LIMITS, Limits
from rtmp_actors.protocol.chunk_decoder import ChunkDecoder, MessageFields
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.handshake import ClientHandshake, HandshakeMode, ServerHandshake
from rtmp_actors.protocol.messages import (
    Acknowledgement,
    AudioData,
    DetailedMessage,
    MessageContent,
    MessageType,
    RawMessage,
    VideoData,
    WindowAcknowledgementSize,
    decode_messages,
    encode_message,
)

__all__ = ["ConnectionRole", "ReceiveResult", "RtmpConnection"]

# Audio and video are most of what arrives; their payload needs no decoding.
_MEDIA_CONTENT: dict[int, Callable[[bytes], MessageContent]] = {
    MessageType.AUDIO: AudioData,
    MessageType.VIDEO: VideoData,
}


class ConnectionRole(enum.Enum):
    """Which side of the connection we are."""

    CLIENT = "client"
    SERVER = "server"


class ReceiveResult(NamedTuple):
    """What :meth:`RtmpConnection.receive_data` produced."""

    messages: list[DetailedMessage]
    """Messages from the peer, decoded, in order (aggregates expanded)."""
    to_send: bytes
    """Bytes to send to the peer now (handshake replies, acknowledgements, held messages)."""


class RtmpConnection:
    """Handshake, chunk decoder/encoder and acknowledgement window of one connection.

    Args:
        role: Our side.
        limits: Bounds on what the peer may send.
        digest_handshake: As a client, offer the digest handshake; as a server, allow it.
        epoch: Our handshake epoch in milliseconds (the time is passed in).
        random_bytes: Randomness for the handshake (tests pass a deterministic source).
    """

    def __init__(
        self,
        role: ConnectionRole,
        *,
        limits: Limits = DEFAULT_LIMITS,
        digest_handshake: bool = True,
        epoch: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.role = role
        self._handshake: ClientHandshake | ServerHandshake = (
            ClientHandshake(epoch, digest=digest_handshake, random_bytes=random_bytes)
            if role is ConnectionRole.CLIENT
            else ServerHandshake(epoch, digest=digest_handshake, random_bytes=random_bytes)
        )
        self._limits = limits
        self._decoder = ChunkDecoder(limits)
        self._encoder = ChunkEncoder()
        self._held: list[DetailedMessage] = []
        self._handshake_bytes_received = 0
        self._ack_window = 0  # the peer's window; 0 until it tells us
        self._acknowledged = 0
        self.bytes_sent = 0

    # --- State ---------------------------------------------------------------------------------

    @property
    def handshake_complete(self) -> bool:
        """Whether the handshake is over and messages flow."""
        return self._handshake.is_complete

    @property
    def handshake_mode(self) -> HandshakeMode | None:
        """Simple or digest, once known."""
        return self._handshake.mode

    @property
    def bytes_received(self) -> int:
        """Every byte received from the peer, handshake included."""
        return self._handshake_bytes_received + self._decoder.bytes_received

    @property
    def peer_chunk_size(self) -> int:
        """The chunk size the peer sends with."""
        return self._decoder.chunk_size

    @property
    def chunk_size(self) -> int:
        """The chunk size we send with."""
        return self._encoder.chunk_size

    @property
    def acknowledgement_window(self) -> int:
        """The peer's Window Acknowledgement Size (0 until it sent one)."""
        return self._ack_window

    # --- Input ---------------------------------------------------------------------------------

    def start(self) -> bytes:
        """Bytes to send as soon as the socket is connected (C0+C1 for a client)."""
        return self._count_sent(self._handshake.start())

    def receive_data(self, data: bytes) -> ReceiveResult:
        """Take bytes from the peer.

        Raises:
            RemoteProtocolError: If the bytes break the handshake, chunk stream or message
                format; the connection must end.
            LocalProtocolError: If a message held until the handshake completed cannot be
                encoded.
        """
        out: list[bytes] = []
        handshake = self._handshake
        if not handshake.is_complete:
            out.append(handshake.receive_data(data))
            completed: bool = handshake.is_complete  # changed by receive_data
            if not completed:
                self._handshake_bytes_received += len(data)
                return ReceiveResult([], self._count_sent(b"".join(out)))
            trailing = handshake.trailing_data
            self._handshake_bytes_received += len(data) - len(trailing)
            out.extend(self._encode(message) for message in self._held)
            self._held.clear()
            data = trailing
        messages: list[DetailedMessage] = []
        if data:
            try:
                raws = self._decoder.receive_fields(data)
            except ProtocolError as error:
                raws = list(error.messages_before_error)  # type: ignore[arg-type]
                self._decode_into(messages, raws)  # what arrived intact still counts
                error.messages_before_error = messages
                raise
            self._decode_into(messages, raws)
            acknowledgement = self._acknowledgement_due()
            if acknowledgement is not None:
                out.append(acknowledgement)
        return ReceiveResult(messages, self._count_sent(b"".join(out)))

    def _decode_into(self, messages: list[DetailedMessage], raws: list[MessageFields]) -> None:
        append = messages.append
        media_content = _MEDIA_CONTENT.get
        try:
            for type_id, stream_id, timestamp, payload, chunk_stream_id in raws:
                media = media_content(type_id)
                if media is not None:
                    append(DetailedMessage(timestamp, stream_id, media(payload)))
                    continue
                raw = RawMessage(type_id, stream_id, timestamp, payload, chunk_stream_id)
                if type_id == MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE:
                    self._set_window(raw)
                messages.extend(decode_messages(raw, self._limits))
        except ProtocolError as error:
            error.messages_before_error = messages
            raise

    def _set_window(self, raw: RawMessage) -> None:
        size = WindowAcknowledgementSize.decode_payload(raw.payload).size
        if size == 0:
            msg = "the peer set a Window Acknowledgement Size of 0"
            raise RemoteProtocolError(msg)
        self._ack_window = size

    def _acknowledgement_due(self) -> bytes | None:
        if not self._ack_window:
            return None
        total = self.bytes_received
        if total - self._acknowledged < self._ack_window:
            return None
        self._acknowledged = total
        return self._encode(DetailedMessage(0, 0, Acknowledgement(total & 0xFFFFFFFF)))

    # --- Output --------------------------------------------------------------------------------

    def send_message(self, message: DetailedMessage) -> bytes:
        """Encode a message for the peer (held, returning b"", until the handshake is done).

        Raises:
            LocalProtocolError: If the message cannot be encoded (a value AMF cannot carry, a
                field out of its wire range). A held message raises when the handshake
                completes, from :meth:`receive_data`.
        """
        if not self._handshake.is_complete:
            self._held.append(message)
            return b""
        return self._count_sent(self._encode(message))

    def send_raw(self, raw: RawMessage, *, force_full_header: bool = False) -> bytes:
        """Encode an already-encoded message (its payload is shared, not copied or re-encoded).

        Raises:
            LocalProtocolError: Before the handshake completes, or if a field does not fit the
                wire format.
        """
        if not self._handshake.is_complete:
            msg = "cannot send before the handshake completes"
            raise LocalProtocolError(msg)
        return self._count_sent(self._encoder.encode(raw, force_full_header=force_full_header))

    def _encode(self, message: DetailedMessage) -> bytes:
        return self._encoder.encode(
            encode_message(message), force_full_header=message.force_uncompressed
        )

    def _count_sent(self, data: bytes) -> bytes:
        self.bytes_sent += len(data)
        return data
