"""The RTMP handshake, both roles, sans-I/O.

Two forms exist and both sides speak both:

* **Simple** (the one the RTMP specification documents): C1/S1 are a 32-bit time, four zero
  bytes and 1528 random bytes; C2 echoes S1 and S2 echoes C1.
* **Digest** (Flash Player 9's "complex" handshake): C1/S1 carry nonzero version bytes and an
  HMAC-SHA256 digest of the packet, hidden at an offset derived from the packet itself (two
  schemes exist). C2/S2 are random bytes ending in a signature derived from the peer's digest.
  FFmpeg (when it plays) and librtmp check it whenever S1 has nonzero version bytes (FFmpeg:
  a first byte of 3 or more) and drop the connection if it is wrong.

Neither form is encryption (RTMPE, C0 = 6, 8 or 9, is not supported): the keys below are public.

Usage follows h11/wsproto: feed whatever the socket returned to :meth:`receive_data`, send what
it returns, and once :attr:`is_complete` is true hand :attr:`trailing_data` (the bytes of the
same read that follow the handshake, usually the start of the ``connect`` chunk) to the chunk
stream decoder. A server, say (a client sends ``handshake.start()`` first)::

    handshake = ServerHandshake(epoch=now_ms)
    while not handshake.is_complete:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("peer left during the handshake")
        sock.sendall(handshake.receive_data(data))
    decoder.receive_data(handshake.trailing_data)

Nothing here reads a clock or a socket: the caller passes the epoch for our C1/S1, and random
bytes come from an injectable function (``os.urandom`` by default).

This module stays over 500 lines on purpose: both roles share one state machine and one set of
digest and signature helpers, and splitting them would scatter a single protocol exchange.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from enum import Enum

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_CLIENT_VERSION",
    "DEFAULT_SERVER_VERSION",
    "PACKET_SIZE",
    "RTMP_VERSION",
    "ClientHandshake",
    "HandshakeMode",
    "PeerResponse",
    "ServerHandshake",
]

RTMP_VERSION = 3
"""The only C0/S0 value accepted: plain, unencrypted RTMP."""

PACKET_SIZE = 1536
"""Size of C1, C2, S1 and S2."""

DEFAULT_CLIENT_VERSION = bytes((9, 0, 124, 2))
"""C1 version bytes in digest mode (a Flash Player 9 version, as FFmpeg sends)."""

DEFAULT_SERVER_VERSION = bytes((4, 5, 0, 1))
"""S1 version bytes in digest mode. FFmpeg only checks the S1 digest (and only then sends a
signed C2) when the first byte is at least 3."""

_DIGEST_SIZE = 32
_SIGNED_SIZE = PACKET_SIZE - _DIGEST_SIZE  # the part of C2/S2 the signature covers
_RANDOM_SIZE = PACKET_SIZE - 8  # C1/S1 after the time and version fields
_ZERO_VERSION = bytes(4)
_MAX_EPOCH = 0xFFFFFFFF
# The peer's packets, in order: C0/S0, C1/S1, C2/S2.
_PEER_PACKET_SIZES = (1, PACKET_SIZE, PACKET_SIZE)
_STEP_COUNT = len(_PEER_PACKET_SIZES)

# Both keys end with the same public 32 bytes. The digest in C1/S1 is keyed with the readable
# prefix only; the C2/S2 signature key is derived with the whole key.
_KEY_SUFFIX = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
_PLAYER_KEY = b"Genuine Adobe Flash Player 001" + _KEY_SUFFIX
_SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_SUFFIX
_PLAYER_KEY_PREFIX = _PLAYER_KEY[:30]
_SERVER_KEY_PREFIX = _SERVER_KEY[:36]

# Where each scheme reads the four bytes that place its digest: the digest then lies in the
# 728 + 32 bytes right after them, so the two schemes never overlap.
_SCHEME_BASES = {0: 8, 1: 772}
_OFFSET_RANGE = 728


class HandshakeMode(Enum):
    """Which form of the handshake the two sides agreed on."""

    SIMPLE = "simple"
    DIGEST = "digest"


class PeerResponse(Enum):
    """How the peer's C2 (or S2) proved it read our C1/S1.

    Attributes:
        ECHOED: It repeats our random bytes (the simple form; FFmpeg also does this when it
            publishes, even after a digest C1).
        SIGNED: It ends in the signature derived from our digest.
        UNVERIFIED: Neither; accepted only because ``verify_peer_response`` is false.
    """

    ECHOED = "echoed"
    SIGNED = "signed"
    UNVERIFIED = "unverified"


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def _digest_offset(packet: bytes | bytearray, scheme: int) -> int:
    base = _SCHEME_BASES[scheme]
    return sum(packet[base : base + 4]) % _OFFSET_RANGE + base + 4


def _packet_digest(packet: bytes | bytearray, offset: int, key: bytes) -> bytes:
    return _hmac_sha256(key, bytes(packet[:offset]) + bytes(packet[offset + _DIGEST_SIZE :]))


def _find_digest(packet: bytes, key: bytes) -> tuple[int, bytes] | None:
    """Return (scheme, digest) of the first valid digest, trying scheme 1 first as peers do."""
    for scheme in (1, 0):
        offset = _digest_offset(packet, scheme)
        found = packet[offset : offset + _DIGEST_SIZE]
        if hmac.compare_digest(found, _packet_digest(packet, offset, key)):
            return scheme, found
    return None


def _response_signature(peer_digest: bytes, key: bytes, signed_part: bytes) -> bytes:
    return _hmac_sha256(_hmac_sha256(key, peer_digest), signed_part)


def _classify_response(
    response: bytes, our_packet: bytes, our_digest: bytes | None, key: bytes
) -> PeerResponse:
    """Judge a C2/S2 against the C1/S1 it answers.

    Args:
        response: The peer's C2 or S2.
        our_packet: Our C1 or S1.
        our_digest: The digest in our C1/S1, or None when no signature is expected.
        key: The full key the peer derives its signature with.
    """
    # The time fields are left out: the specification lets the peer put its own time in
    # bytes 4..7, and FFmpeg's server zeroes them.
    if hmac.compare_digest(response[8:], our_packet[8:]):
        return PeerResponse.ECHOED
    if our_digest is not None:
        expected = _response_signature(our_digest, key, response[:_SIGNED_SIZE])
        if hmac.compare_digest(response[_SIGNED_SIZE:], expected):
            return PeerResponse.SIGNED
    return PeerResponse.UNVERIFIED


def _version_error(name: str, version: int) -> RemoteProtocolError:
    if version == 6:
        detail = "the peer asks for RTMPE (encrypted RTMP), which is not supported"
    elif version in (8, 9):
        detail = "the peer asks for an encrypted RTMPE variant, which is not supported"
    elif version in (0x15, 0x16):
        detail = "this looks like TLS: RTMPS on one side and plain RTMP on the other?"
    elif 0x41 <= version <= 0x5A:
        detail = "this looks like a text protocol such as HTTP, not RTMP"
    else:
        detail = "not an RTMP handshake"
    return RemoteProtocolError(
        f"{name} is {version} (0x{version:02x}), expected {RTMP_VERSION}: {detail}"
    )


def _check_version_bytes(version: bytes, who: str) -> bytes:
    version = bytes(version)
    if len(version) != 4 or version == _ZERO_VERSION:
        msg = f"{who} version must be 4 bytes, not all zero (zero means a simple handshake)"
        raise LocalProtocolError(msg)
    return version


class _Handshake:
    """What both roles share: buffering the peer's three packets, checks and failure state."""

    _PEER_NAMES: tuple[str, str, str]
    _OUR_NAMES: tuple[str, str, str]
    # The full key the peer derives its C2/S2 signature with.
    _PEER_SIGNATURE_KEY: bytes

    def __init__(
        self,
        epoch: int,
        random_bytes: Callable[[int], bytes],
        verify_peer_response: bool,
    ) -> None:
        self._epoch = epoch & _MAX_EPOCH
        self._random_bytes = random_bytes
        self._verify_peer_response = verify_peer_response
        self._buffer = bytearray()
        self._step = 0
        self._error: RemoteProtocolError | None = None
        self._trailing_data = b""
        self._mode: HandshakeMode | None = None
        self._digest_scheme: int | None = None
        self._peer_epoch: int | None = None
        self._peer_version: bytes | None = None
        self._peer_response: PeerResponse | None = None
        # Our C1/S1 and its digest, kept until the peer's C2/S2 has been checked against them.
        self._our_packet: bytes | None = None
        self._our_digest: bytes | None = None

    @property
    def is_complete(self) -> bool:
        """True once the peer's last packet is in and accepted (and ours were all returned)."""
        return self._step == _STEP_COUNT

    @property
    def mode(self) -> HandshakeMode | None:
        """The form agreed on; None until the peer's C1/S1 has arrived."""
        return self._mode

    @property
    def digest_scheme(self) -> int | None:
        """The offset scheme (0 or 1) of the peer's C1/S1 digest; None unless in digest mode."""
        return self._digest_scheme

    @property
    def peer_epoch(self) -> int | None:
        """The time field of the peer's C1/S1 (milliseconds); None until it arrived."""
        return self._peer_epoch

    @property
    def peer_version(self) -> bytes | None:
        """Bytes 4..7 of the peer's C1/S1 (zero for a simple handshake); None until it arrived."""
        return self._peer_version

    @property
    def peer_response(self) -> PeerResponse | None:
        """How the peer's C2/S2 answered our C1/S1; None until it arrived."""
        return self._peer_response

    @property
    def trailing_data(self) -> bytes:
        """Bytes that followed the handshake in the read that completed it (often empty).

        They belong to the chunk stream: hand them to its decoder before any later read.
        """
        return self._trailing_data

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes from the peer, in pieces of any size.

        At most one packet (1536 bytes) is buffered; whatever follows the handshake in the
        completing read is kept as :attr:`trailing_data`.

        Args:
            data: The next bytes read from the connection. An empty read is a no-op (end of
                stream is the caller's to handle).

        Returns:
            The bytes to send to the peer now (often empty).

        Raises:
            RemoteProtocolError: If the peer's bytes break the handshake. The handshake then
                stays failed: every later call raises again.
            LocalProtocolError: If called after the handshake completed (later bytes belong to
                the chunk stream), on a client before :meth:`ClientHandshake.start`, or if
                ``random_bytes`` returned the wrong number of bytes.
        """
        if self._error is not None:
            msg = f"the handshake already failed: {self._error}"
            raise RemoteProtocolError(msg)
        if self.is_complete:
            msg = "the handshake is complete; pass further bytes to the chunk stream decoder"
            raise LocalProtocolError(msg)
        self._check_started()
        output = bytearray()
        position = 0
        try:
            while position < len(data) and self._step < _STEP_COUNT:
                size = _PEER_PACKET_SIZES[self._step]
                piece = bytes(data[position : position + size - len(self._buffer)])
                position += len(piece)
                if self._buffer or len(piece) < size:
                    self._buffer += piece
                    if len(self._buffer) < size:
                        break
                    piece = bytes(self._buffer)
                    self._buffer.clear()
                output += self._on_packet(self._step, piece)
                self._step += 1
        except RemoteProtocolError as error:
            # Only the peer's mistakes fail the handshake for good; a LocalProtocolError (a
            # broken random_bytes) is the caller's to fix.
            self._error = error
            raise
        if self._step == _STEP_COUNT:
            self._trailing_data = bytes(data[position:])
            self._our_packet = None
        return bytes(output)

    def _check_started(self) -> None:
        """Raise LocalProtocolError if the role needs :meth:`start` called first."""

    def _on_packet(self, step: int, packet: bytes) -> bytes:
        """Handle the peer's packet number ``step`` and return the bytes to send now."""
        raise NotImplementedError

    def _check_peer_version(self, packet: bytes) -> None:
        if packet[0] != RTMP_VERSION:
            raise _version_error(self._PEER_NAMES[0], packet[0])

    def _read_peer_packet(self, packet: bytes, key_prefix: bytes, digest: bool) -> bytes | None:
        """Record the peer's C1/S1 fields and return its digest, or None for a simple one.

        A zero version means the simple form. A nonzero one without a valid digest is treated
        as simple too rather than refused: SRS and Node-Media-Server send such S1s, and old
        clients such C1s.
        """
        self._peer_epoch = int.from_bytes(packet[:4])
        self._peer_version = packet[4:8]
        found = None
        if digest and packet[4:8] != _ZERO_VERSION:
            found = _find_digest(packet, key_prefix)
        if found is None:
            self._mode = HandshakeMode.SIMPLE
            return None
        self._mode = HandshakeMode.DIGEST
        self._digest_scheme, peer_digest = found
        return peer_digest

    def _check_peer_response(self, response: bytes) -> None:
        our_packet = self._our_packet
        assert our_packet is not None  # built before the peer could answer it
        self._peer_response = _classify_response(
            response, our_packet, self._our_digest, self._PEER_SIGNATURE_KEY
        )
        if self._peer_response is PeerResponse.UNVERIFIED and self._verify_peer_response:
            ours, theirs = self._OUR_NAMES[1], self._PEER_NAMES[2]
            if self._our_digest is None:
                detail = f"does not echo the random bytes of our {ours}"
            else:
                detail = (
                    f"neither echoes the random bytes of our {ours} nor carries the "
                    "signature derived from its digest"
                )
            msg = f"{theirs} {detail} (verify_peer_response=False would accept it)"
            raise RemoteProtocolError(msg)

    def _draw(self, size: int) -> bytes:
        data = bytes(self._random_bytes(size))
        if len(data) != size:
            msg = f"random_bytes({size}) returned {len(data)} bytes"
            raise LocalProtocolError(msg)
        return data

    def _make_our_packet(self, version: bytes, scheme: int | None, key_prefix: bytes) -> bytes:
        """Build and keep our C1/S1: time, version, random bytes and digest (unless simple)."""
        packet = bytearray(self._epoch.to_bytes(4) + version + self._draw(_RANDOM_SIZE))
        if scheme is not None:
            offset = _digest_offset(packet, scheme)
            self._our_digest = _packet_digest(packet, offset, key_prefix)
            packet[offset : offset + _DIGEST_SIZE] = self._our_digest
        self._our_packet = bytes(packet)
        return self._our_packet

    def _make_signed_response(self, peer_digest: bytes, key: bytes) -> bytes:
        """Build our C2/S2 in digest mode: random bytes, then their signature."""
        signed_part = self._draw(_SIGNED_SIZE)
        return signed_part + _response_signature(peer_digest, key, signed_part)


class ClientHandshake(_Handshake):
    """The client side: sends C0+C1, reads S0+S1+S2, answers with C2.

    The client waits for S2 before sending C2 (as FFmpeg and librtmp do) so it never answers a
    server whose S2 it is about to reject. Random bytes are drawn in this order: 1528 in
    :meth:`start`, then 1504 for a signed C2.

    Args:
        epoch: The time field of our C1 in milliseconds (taken modulo 2^32).
        digest: Send a digest C1, and sign C2 when the server answers with a digest S1. With
            False, the handshake is always simple.
        digest_scheme: Where our C1 digest goes (0: offset from bytes 8..11, as FFmpeg does;
            1: from bytes 772..775).
        version: C1 version bytes in digest mode (4 bytes, not all zero).
        random_bytes: Returns that many random bytes; tests pass a deterministic one.
        verify_peer_response: Require S2 to echo C1's random bytes (simple mode) or to carry
            the signature derived from our C1 digest (digest mode). FFmpeg and librtmp skip
            the simple check; turn it off for servers that send a junk S2.

    Raises:
        LocalProtocolError: If ``digest_scheme`` or ``version`` is invalid.
    """

    _PEER_NAMES = ("S0", "S1", "S2")
    _OUR_NAMES = ("C0", "C1", "C2")
    _PEER_SIGNATURE_KEY = _SERVER_KEY

    def __init__(
        self,
        epoch: int = 0,
        *,
        digest: bool = True,
        digest_scheme: int = 0,
        version: bytes = DEFAULT_CLIENT_VERSION,
        random_bytes: Callable[[int], bytes] = os.urandom,
        verify_peer_response: bool = True,
    ) -> None:
        super().__init__(epoch, random_bytes, verify_peer_response)
        if digest_scheme not in _SCHEME_BASES:
            msg = f"digest_scheme must be 0 or 1, not {digest_scheme!r}"
            raise LocalProtocolError(msg)
        self._digest = digest
        self._our_scheme = digest_scheme
        self._version = _check_version_bytes(version, "client") if digest else _ZERO_VERSION
        self._started = False
        self._s1: bytes | None = None
        self._server_digest: bytes | None = None

    def start(self) -> bytes:
        """Return C0+C1, to send as soon as the connection is open.

        Raises:
            LocalProtocolError: If called twice.
        """
        if self._started:
            msg = "start() was already called"
            raise LocalProtocolError(msg)
        self._started = True
        scheme = self._our_scheme if self._digest else None
        return bytes((RTMP_VERSION,)) + self._make_our_packet(
            self._version, scheme, _PLAYER_KEY_PREFIX
        )

    def _check_started(self) -> None:
        if not self._started:
            msg = "call start() and send its C0+C1 before receiving data"
            raise LocalProtocolError(msg)

    def _on_packet(self, step: int, packet: bytes) -> bytes:
        if step == 0:
            self._check_peer_version(packet)
            return b""
        if step == 1:
            self._s1 = packet
            self._server_digest = self._read_peer_packet(packet, _SERVER_KEY_PREFIX, self._digest)
            return b""
        self._check_peer_response(packet)
        s1 = self._s1
        assert s1 is not None  # stored at step 1
        self._s1 = None
        if self._server_digest is None:
            return s1
        return self._make_signed_response(self._server_digest, _PLAYER_KEY)


class ServerHandshake(_Handshake):
    """The server side: reads C0+C1, sends S0+S1+S2, then reads and checks C2.

    The form is chosen once all of C0+C1 is in: a C1 with zero version bytes gets a simple
    answer; otherwise C1 is checked for a player-key digest (scheme 1, then scheme 0) and a
    valid one gets a digest answer, S1 digested by the same scheme. A nonzero version without
    a valid digest falls back to simple, as SRS does. In the simple form S1's time is our epoch
    and S2 is C1 echoed whole. Random bytes are drawn in this order: 1528 for S1, then 1504 for
    a signed S2.

    Args:
        epoch: The time field of our S1 in milliseconds (taken modulo 2^32).
        digest: Answer digest C1s in kind. With False, the handshake is always simple.
        version: S1 version bytes in digest mode (4 bytes, not all zero).
        random_bytes: Returns that many random bytes; tests pass a deterministic one.
        verify_peer_response: Require C2 to echo S1's random bytes or (digest mode) to carry
            the signature derived from our S1 digest. Clients differ: FFmpeg echoes S1 when it
            publishes, even after a digest C1, and signs C2 when it plays.

    Raises:
        LocalProtocolError: If ``version`` is invalid.
    """

    _PEER_NAMES = ("C0", "C1", "C2")
    _OUR_NAMES = ("S0", "S1", "S2")
    _PEER_SIGNATURE_KEY = _PLAYER_KEY

    def __init__(
        self,
        epoch: int = 0,
        *,
        digest: bool = True,
        version: bytes = DEFAULT_SERVER_VERSION,
        random_bytes: Callable[[int], bytes] = os.urandom,
        verify_peer_response: bool = True,
    ) -> None:
        super().__init__(epoch, random_bytes, verify_peer_response)
        self._digest = digest
        self._version = _check_version_bytes(version, "server")

    def start(self) -> bytes:
        """Return the bytes to send before the client speaks: none, the client goes first.

        Calling it is optional; it exists so both roles can be driven alike.
        """
        return b""

    def _on_packet(self, step: int, packet: bytes) -> bytes:
        if step == 0:
            self._check_peer_version(packet)
            return b""
        if step == 1:
            client_digest = self._read_peer_packet(packet, _PLAYER_KEY_PREFIX, self._digest)
            if client_digest is None:
                s1 = self._make_our_packet(_ZERO_VERSION, None, _SERVER_KEY_PREFIX)
                s2 = packet
            else:
                s1 = self._make_our_packet(self._version, self._digest_scheme, _SERVER_KEY_PREFIX)
                s2 = self._make_signed_response(client_digest, _SERVER_KEY)
            return bytes((RTMP_VERSION,)) + s1 + s2
        self._check_peer_response(packet)
        return b""
