"""The RTMP handshake: golden bytes, both roles against each other, detection, errors, fuzzing.

The digest arithmetic is redone here with ``hmac`` directly (see ``_digest_packet`` and
``_signature``) so the module is checked against an independent computation, not itself.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import LocalProtocolError, RemoteProtocolError
from rtmp_actors.protocol import handshake as handshake_module
from rtmp_actors.protocol.handshake import (
    DEFAULT_CLIENT_VERSION,
    DEFAULT_SERVER_VERSION,
    PACKET_SIZE,
    ClientHandshake,
    HandshakeMode,
    PeerResponse,
    ServerHandshake,
)

# The public FP9 keys, written out independently of the module.
KEY_SUFFIX = bytes.fromhex(
    "f0 ee c2 4a 80 68 be e8 2e 00 d0 d1 02 9e 7e 576e ec 5d 2d 29 80 6f ab 93 b8 e6 36 cf eb 31 ae"
)
PLAYER_KEY = b"Genuine Adobe Flash Player 001" + KEY_SUFFIX
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + KEY_SUFFIX

CLIENT_EPOCH = 0x01020304
SERVER_EPOCH = 0x0A0B0C0D
ZERO = bytes(4)


def pattern(call: int, size: int) -> bytes:
    """The bytes the n-th call of a :class:`FakeRandom` returns."""
    return bytes((call * 31 + i * 7 + 1) & 0xFF for i in range(size))


class FakeRandom:
    """A deterministic ``random_bytes``: call k returns ``pattern(k, size)``; sizes are logged."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.sizes.append(size)
        return pattern(len(self.sizes) - 1, size)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _offset(packet: bytes | bytearray, scheme: int) -> int:
    base = 8 if scheme == 0 else 772
    return sum(packet[base : base + 4]) % 728 + base + 4


def _digest_packet(time: int, version: bytes, body: bytes, scheme: int, key: bytes) -> bytes:
    """Build a C1/S1 with a digest, independently of the module."""
    packet = bytearray(time.to_bytes(4, "big") + version + body)
    offset = _offset(packet, scheme)
    packet[offset : offset + 32] = _hmac(key, bytes(packet[:offset] + packet[offset + 32 :]))
    return bytes(packet)


def _digest_of(packet: bytes, scheme: int) -> bytes:
    offset = _offset(packet, scheme)
    return packet[offset : offset + 32]


def _signature(full_key: bytes, peer_digest: bytes, signed_part: bytes) -> bytes:
    return _hmac(_hmac(full_key, peer_digest), signed_part)


def _signed_response(full_key: bytes, peer_digest: bytes, signed_part: bytes) -> bytes:
    return signed_part + _signature(full_key, peer_digest, signed_part)


def _complete(handshake: ClientHandshake | ServerHandshake, data: bytes) -> bytes:
    out = handshake.receive_data(data)
    assert handshake.is_complete
    return out


# --- Golden bytes ----------------------------------------------------------------------------


def test_client_simple_c0_c1_is_epoch_zero_version_and_random() -> None:
    client = ClientHandshake(CLIENT_EPOCH, digest=False, random_bytes=FakeRandom())
    assert client.start() == b"\x03" + bytes.fromhex("01020304") + ZERO + pattern(0, 1528)


@pytest.mark.parametrize(
    ("scheme", "offset", "digest_hex"),
    [
        (0, 58, "7f1686b8187392f0272eb796b4e3ddc45a311d1ac9995f30591e776c746ee493"),
        (1, 1006, "c802c083ad941bd31d4a08aedd116aa668edad849b301ab5c5503054cec71d9f"),
    ],
)
def test_client_digest_c0_c1_golden(scheme: int, offset: int, digest_hex: str) -> None:
    # Scheme 0: bytes 8..11 are 1, 8, 15, 22 -> 46 % 728 + 12 = 58.
    # Scheme 1: bytes 772..775 are 229, 236, 243, 250 -> 958 % 728 + 776 = 1006.
    random_bytes = FakeRandom()
    client = ClientHandshake(CLIENT_EPOCH, digest_scheme=scheme, random_bytes=random_bytes)
    body = pattern(0, 1528)
    digest = bytes.fromhex(digest_hex)
    header = bytes.fromhex("01020304") + bytes((9, 0, 124, 2))
    expected = header + body[: offset - 8] + digest + body[offset - 8 + 32 :]
    assert client.start() == b"\x03" + expected
    assert random_bytes.sizes == [1528]
    # The literal digest matches an independent HMAC over the packet without it.
    assert _hmac(PLAYER_KEY[:30], expected[:offset] + expected[offset + 32 :]) == digest
    assert _digest_packet(CLIENT_EPOCH, DEFAULT_CLIENT_VERSION, body, scheme, PLAYER_KEY[:30]) == (
        expected
    )


def test_server_simple_s0_s1_s2_golden() -> None:
    c1 = bytes.fromhex("01020304") + ZERO + pattern(5, 1528)
    server = ServerHandshake(SERVER_EPOCH, random_bytes=FakeRandom())
    out = server.receive_data(b"\x03" + c1)
    assert out == b"\x03" + bytes.fromhex("0a0b0c0d") + ZERO + pattern(0, 1528) + c1
    assert server.mode is HandshakeMode.SIMPLE
    assert server.peer_epoch == CLIENT_EPOCH
    assert server.peer_version == ZERO


@pytest.mark.parametrize(
    ("scheme", "s1_offset", "s1_digest_hex", "s2_signature_hex"),
    [
        (
            0,
            58,
            "11ee948187b91cca386c61aecd689667bd1cfd9beb12d22c4cb9812e7daa03f6",
            "2130cb7b841b4cf314f1e69fbeb79cac25c1b98563df7bc335e0335373d8467a",
        ),
        (
            1,
            1006,
            "a8a24743230fc9ecec6322224ec399051c0c047a0639afb2967314aada4ada1c",
            "25a50846094a15df97410f34cd9b487258112393e421343fd0925dfac8da9f42",
        ),
    ],
)
def test_server_digest_s0_s1_s2_golden(
    scheme: int, s1_offset: int, s1_digest_hex: str, s2_signature_hex: str
) -> None:
    c1 = _digest_packet(
        CLIENT_EPOCH, DEFAULT_CLIENT_VERSION, pattern(0, 1528), scheme, PLAYER_KEY[:30]
    )
    random_bytes = FakeRandom()
    server = ServerHandshake(SERVER_EPOCH, random_bytes=random_bytes)
    out = server.receive_data(b"\x03" + c1)

    body = pattern(0, 1528)
    s1_digest = bytes.fromhex(s1_digest_hex)
    s1 = (
        bytes.fromhex("0a0b0c0d")
        + bytes((4, 5, 0, 1))
        + body[: s1_offset - 8]
        + s1_digest
        + body[s1_offset - 8 + 32 :]
    )
    s2 = pattern(1, 1504) + bytes.fromhex(s2_signature_hex)
    assert out == b"\x03" + s1 + s2
    assert random_bytes.sizes == [1528, 1504]
    assert server.mode is HandshakeMode.DIGEST
    assert server.digest_scheme == scheme
    # Independent checks of the literals: S1 digested with the FMS key prefix by the client's
    # scheme, S2 signed with a key derived from the client's digest.
    assert _digest_packet(SERVER_EPOCH, DEFAULT_SERVER_VERSION, body, scheme, SERVER_KEY[:36]) == s1
    assert _signature(SERVER_KEY, _digest_of(c1, scheme), pattern(1, 1504)) == s2[1504:]


@pytest.mark.parametrize(
    ("scheme", "c2_signature_hex"),
    [
        (0, "67d1a6dc8eb839955fad9799cde2cb2723df57679cfe07b73e1c7fdff9b9d65c"),
        (1, "2eb96a6396532bc83cca6747ed1ca12457c1caeef9ad7b524959ff29432f3f0a"),
    ],
)
def test_client_digest_c2_golden(scheme: int, c2_signature_hex: str) -> None:
    random_bytes = FakeRandom()
    client = ClientHandshake(CLIENT_EPOCH, digest_scheme=scheme, random_bytes=random_bytes)
    c1 = client.start()[1:]
    s1 = _digest_packet(
        SERVER_EPOCH, DEFAULT_SERVER_VERSION, pattern(0, 1528), scheme, SERVER_KEY[:36]
    )
    s2 = _signed_response(SERVER_KEY, _digest_of(c1, scheme), pattern(1, 1504))
    c2 = _complete(client, b"\x03" + s1 + s2)
    assert c2 == pattern(1, 1504) + bytes.fromhex(c2_signature_hex)
    assert c2[1504:] == _signature(PLAYER_KEY, _digest_of(s1, scheme), pattern(1, 1504))
    assert random_bytes.sizes == [1528, 1504]
    assert client.mode is HandshakeMode.DIGEST
    assert client.digest_scheme == scheme
    assert client.peer_response is PeerResponse.SIGNED
    assert client.peer_epoch == SERVER_EPOCH
    assert client.peer_version == DEFAULT_SERVER_VERSION


@pytest.mark.parametrize("digest", [True, False])
def test_client_answers_a_simple_s1_with_its_echo(digest: bool) -> None:
    client = ClientHandshake(CLIENT_EPOCH, digest=digest, random_bytes=FakeRandom())
    c1 = client.start()[1:]
    s1 = bytes.fromhex("0a0b0c0d") + ZERO + pattern(9, 1528)
    # S2 echoes C1's random bytes; its time fields may differ (FFmpeg zeroes bytes 4..7).
    s2 = c1[:4] + ZERO + c1[8:]
    assert _complete(client, b"\x03" + s1 + s2) == s1
    assert client.mode is HandshakeMode.SIMPLE
    assert client.peer_response is PeerResponse.ECHOED
    assert client.peer_version == ZERO


def test_client_treats_a_nonzero_version_s1_without_digest_as_simple() -> None:
    # SRS's simple S1 puts C1's time in bytes 4..7; Node-Media-Server echoes C1 as S1.
    client = ClientHandshake(CLIENT_EPOCH, random_bytes=FakeRandom())
    c1 = client.start()[1:]
    s1 = bytes.fromhex("0a0b0c0d") + bytes.fromhex("01020304") + pattern(9, 1528)
    assert _complete(client, b"\x03" + s1 + c1) == s1
    assert client.mode is HandshakeMode.SIMPLE
    assert client.digest_scheme is None


def test_simple_client_does_not_sign_even_if_s1_has_a_digest() -> None:
    client = ClientHandshake(CLIENT_EPOCH, digest=False, random_bytes=FakeRandom())
    c1 = client.start()[1:]
    s1 = _digest_packet(SERVER_EPOCH, DEFAULT_SERVER_VERSION, pattern(9, 1528), 1, SERVER_KEY[:36])
    assert _complete(client, b"\x03" + s1 + c1) == s1
    assert client.mode is HandshakeMode.SIMPLE


# --- Client against server, in-process --------------------------------------------------------

CONFIGURATIONS = [
    # (client digest, client scheme, server digest, expected mode)
    (True, 0, True, HandshakeMode.DIGEST),
    (True, 1, True, HandshakeMode.DIGEST),
    (True, 0, False, HandshakeMode.SIMPLE),
    (False, 0, True, HandshakeMode.SIMPLE),
    (False, 0, False, HandshakeMode.SIMPLE),
]


def _pieces(data: bytes, how: str, rng: random.Random) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(rng.sample(range(1, len(data)), min(12, len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _feed(handshake: ClientHandshake | ServerHandshake, pieces: list[bytes]) -> bytes:
    """Feed every piece; return the bytes to send."""
    return b"".join(handshake.receive_data(piece) for piece in pieces)


def _finish(
    handshake: ClientHandshake | ServerHandshake, pieces: list[bytes]
) -> tuple[bytes, bytes]:
    """Feed pieces until the handshake completes; return (bytes to send, bytes after it)."""
    out = b""
    rest: list[bytes] = []
    for index, piece in enumerate(pieces):
        out += handshake.receive_data(piece)
        if handshake.is_complete:
            rest = pieces[index + 1 :]
            break
    assert handshake.is_complete
    return out, handshake.trailing_data + b"".join(rest)


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
@pytest.mark.parametrize(("client_digest", "scheme", "server_digest", "mode"), CONFIGURATIONS)
def test_client_and_server_agree(
    how: str, client_digest: bool, scheme: int, server_digest: bool, mode: HandshakeMode
) -> None:
    rng = random.Random(f"{how}{client_digest}{scheme}{server_digest}")
    client = ClientHandshake(
        CLIENT_EPOCH, digest=client_digest, digest_scheme=scheme, random_bytes=rng.randbytes
    )
    server = ServerHandshake(SERVER_EPOCH, digest=server_digest, random_bytes=rng.randbytes)
    assert server.start() == b""

    server_chunk = b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x10\x00"
    s0_s1_s2 = _feed(server, _pieces(client.start(), how, rng))
    assert not server.is_complete
    c2, after_s2 = _finish(client, _pieces(s0_s1_s2 + server_chunk, how, rng))
    assert after_s2 == server_chunk

    connect_chunk = bytes.fromhex("030000000000a914000000000200") + b"\x07connect"
    nothing, after_c2 = _finish(server, _pieces(c2 + connect_chunk, how, rng))
    assert nothing == b""
    assert after_c2 == connect_chunk

    assert client.mode is server.mode is mode
    expected_response = PeerResponse.SIGNED if mode is HandshakeMode.DIGEST else PeerResponse.ECHOED
    assert client.peer_response is server.peer_response is expected_response
    assert server.digest_scheme == (scheme if mode is HandshakeMode.DIGEST else None)
    assert client.peer_epoch == SERVER_EPOCH
    assert server.peer_epoch == CLIENT_EPOCH
    assert server.peer_version == (DEFAULT_CLIENT_VERSION if client_digest else ZERO)
    assert client.peer_version == (DEFAULT_SERVER_VERSION if mode is HandshakeMode.DIGEST else ZERO)


@settings(max_examples=50, deadline=None)
@given(
    client_digest=st.booleans(),
    scheme=st.sampled_from([0, 1]),
    data=st.data(),
)
def test_any_split_gives_the_same_bytes(
    client_digest: bool, scheme: int, data: st.DataObject
) -> None:
    def run(splits: list[int] | None) -> tuple[bytes, bytes, bytes]:
        rng = random.Random(1)
        client = ClientHandshake(
            digest=client_digest, digest_scheme=scheme, random_bytes=rng.randbytes
        )
        server = ServerHandshake(random_bytes=rng.randbytes)

        def cut(stream: bytes) -> list[bytes]:
            if splits is None:
                return [stream]
            points = sorted({p % len(stream) for p in splits} - {0})
            return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]

        s0_s1_s2 = _feed(server, cut(client.start()))
        c2, _ = _finish(client, cut(s0_s1_s2))
        _, after = _finish(server, cut(c2 + b"tail"))
        return s0_s1_s2, c2, after

    splits = data.draw(st.lists(st.integers(min_value=1, max_value=4000), max_size=20))
    assert run(splits) == run(None)


def test_a_big_read_keeps_everything_after_the_handshake() -> None:
    client = ClientHandshake(random_bytes=FakeRandom())
    server = ServerHandshake(random_bytes=FakeRandom())
    c2 = client.receive_data(server.receive_data(client.start()))
    tail = bytes(range(256)) * 400
    assert server.receive_data(c2 + tail) == b""
    assert server.trailing_data == tail


def test_epoch_is_taken_modulo_2_32() -> None:
    client = ClientHandshake(2**32 + 5, digest=False, random_bytes=FakeRandom())
    assert client.start()[1:5] == (5).to_bytes(4, "big")


# --- Server detection --------------------------------------------------------------------------


def _server_answer(c1: bytes) -> tuple[ServerHandshake, bytes]:
    server = ServerHandshake(SERVER_EPOCH, random_bytes=FakeRandom())
    return server, server.receive_data(b"\x03" + c1)


@pytest.mark.parametrize("scheme", [0, 1])
def test_server_detects_either_digest_scheme(scheme: int) -> None:
    c1 = _digest_packet(
        CLIENT_EPOCH, bytes((10, 0, 32, 18)), pattern(3, 1528), scheme, PLAYER_KEY[:30]
    )
    server, out = _server_answer(c1)
    assert server.mode is HandshakeMode.DIGEST
    assert server.digest_scheme == scheme
    s1 = out[1:1537]
    assert s1[4:8] == DEFAULT_SERVER_VERSION
    assert _digest_packet(SERVER_EPOCH, s1[4:8], pattern(0, 1528), scheme, SERVER_KEY[:36]) == s1


def test_server_answers_a_zero_version_c1_simply() -> None:
    c1 = bytes.fromhex("01020304") + ZERO + pattern(3, 1528)
    server, out = _server_answer(c1)
    assert server.mode is HandshakeMode.SIMPLE
    assert out[5:9] == ZERO
    assert out[1537:] == c1


@pytest.mark.parametrize(
    "c1",
    [
        # Nonzero version, no digest anywhere (SRS falls back to simple for these).
        bytes.fromhex("01020304") + bytes((9, 0, 124, 2)) + pattern(3, 1528),
        # A digest made with the server's key instead of the player's.
        _digest_packet(CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), 0, SERVER_KEY[:36]),
        # A player-key digest, but zero version bytes: the version decides.
        _digest_packet(CLIENT_EPOCH, ZERO, pattern(3, 1528), 1, PLAYER_KEY[:30]),
    ],
    ids=["no-digest", "wrong-key", "zero-version"],
)
def test_server_falls_back_to_simple(c1: bytes) -> None:
    server, out = _server_answer(c1)
    assert server.mode is HandshakeMode.SIMPLE
    assert server.digest_scheme is None
    assert server.peer_version == c1[4:8]
    assert out[5:9] == ZERO
    assert out[1537:] == c1


def test_server_waits_for_the_whole_c1_before_answering() -> None:
    c1 = _digest_packet(CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), 1, PLAYER_KEY[:30])
    server = ServerHandshake(random_bytes=FakeRandom())
    assert server.receive_data(b"\x03" + c1[:-1]) == b""
    assert server.mode is None
    assert len(server.receive_data(c1[-1:])) == 1 + 2 * PACKET_SIZE
    assert server.mode is HandshakeMode.DIGEST


def test_server_digest_mode_accepts_an_echoed_c2() -> None:
    # FFmpeg publishing sends a digest C1 but answers S1 with a plain echo.
    c1 = _digest_packet(CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), 0, PLAYER_KEY[:30])
    server, out = _server_answer(c1)
    s1 = out[1:1537]
    _complete(server, s1)
    assert server.peer_response is PeerResponse.ECHOED


def test_server_accepts_an_echo_with_other_time_fields() -> None:
    server, out = _server_answer(bytes.fromhex("01020304") + ZERO + pattern(3, 1528))
    s1 = out[1:1537]
    _complete(server, b"\xff" * 8 + s1[8:])
    assert server.peer_response is PeerResponse.ECHOED


def test_digest_server_verifies_a_signed_c2_independently_made() -> None:
    c1 = _digest_packet(CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), 1, PLAYER_KEY[:30])
    server, out = _server_answer(c1)
    s1 = out[1:1537]
    c2 = _signed_response(PLAYER_KEY, _digest_of(s1, 1), pattern(7, 1504))
    _complete(server, c2)
    assert server.peer_response is PeerResponse.SIGNED


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c0", "words"),
    [
        (6, "RTMPE"),
        (8, "encrypted"),
        (9, "encrypted"),
        (0x16, "TLS"),
        (ord("G"), "HTTP"),
        (0, "expected 3"),
        (4, "expected 3"),
        (255, "expected 3"),
    ],
)
def test_server_rejects_c0_other_than_3_at_once(c0: int, words: str) -> None:
    server = ServerHandshake()
    with pytest.raises(RemoteProtocolError, match=f"C0 is {c0}.*{words}"):
        server.receive_data(bytes((c0,)))


def test_client_rejects_s0_other_than_3() -> None:
    client = ClientHandshake()
    client.start()
    with pytest.raises(RemoteProtocolError, match=r"S0 is 6.*RTMPE"):
        client.receive_data(b"\x06" + bytes(3072))


@pytest.mark.parametrize("c1_version", [ZERO, bytes((9, 0, 124, 2))])
def test_server_rejects_a_c2_that_neither_echoes_nor_is_signed(c1_version: bytes) -> None:
    if c1_version == ZERO:
        c1 = bytes.fromhex("01020304") + ZERO + pattern(3, 1528)
    else:
        c1 = _digest_packet(CLIENT_EPOCH, c1_version, pattern(3, 1528), 0, PLAYER_KEY[:30])
    server, out = _server_answer(c1)
    s1 = out[1:1537]
    almost_echo = s1[:-1] + bytes((s1[-1] ^ 1,))
    with pytest.raises(RemoteProtocolError, match=r"C2 .*echo"):
        server.receive_data(almost_echo)
    assert not server.is_complete
    # A failed handshake stays failed.
    with pytest.raises(RemoteProtocolError, match="already failed"):
        server.receive_data(b"x")


def test_server_rejects_a_c2_signed_with_the_wrong_key() -> None:
    c1 = _digest_packet(CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), 1, PLAYER_KEY[:30])
    server, out = _server_answer(c1)
    c2 = _signed_response(SERVER_KEY, _digest_of(out[1:1537], 1), pattern(7, 1504))
    with pytest.raises(RemoteProtocolError, match="signature"):
        server.receive_data(c2)


def test_server_can_be_told_not_to_verify_c2() -> None:
    server = ServerHandshake(verify_peer_response=False, random_bytes=FakeRandom())
    server.receive_data(b"\x03" + bytes(PACKET_SIZE))
    _complete(server, bytes(PACKET_SIZE) + b"after")
    assert server.peer_response is PeerResponse.UNVERIFIED
    assert server.trailing_data == b"after"


def test_client_rejects_a_bad_s2_signature() -> None:
    client = ClientHandshake(random_bytes=FakeRandom())
    c1 = client.start()[1:]
    s1 = _digest_packet(SERVER_EPOCH, DEFAULT_SERVER_VERSION, pattern(4, 1528), 0, SERVER_KEY[:36])
    # Signed against the wrong key (the player's), so not against our digest as the server.
    s2 = _signed_response(PLAYER_KEY, _digest_of(c1, 0), pattern(5, 1504))
    with pytest.raises(RemoteProtocolError, match=r"S2 .*signature"):
        client.receive_data(b"\x03" + s1 + s2)


def test_client_without_verification_accepts_a_bad_s2_and_still_signs_c2() -> None:
    client = ClientHandshake(verify_peer_response=False, random_bytes=FakeRandom())
    client.start()
    s1 = _digest_packet(SERVER_EPOCH, DEFAULT_SERVER_VERSION, pattern(4, 1528), 0, SERVER_KEY[:36])
    c2 = _complete(client, b"\x03" + s1 + bytes(PACKET_SIZE))
    assert client.peer_response is PeerResponse.UNVERIFIED
    assert c2[1504:] == _signature(PLAYER_KEY, _digest_of(s1, 0), c2[:1504])


def test_simple_client_rejects_an_s2_that_does_not_echo_c1() -> None:
    client = ClientHandshake(digest=False, random_bytes=FakeRandom())
    client.start()
    s1 = bytes.fromhex("0a0b0c0d") + ZERO + pattern(4, 1528)
    with pytest.raises(RemoteProtocolError, match="S2 does not echo the random bytes of our C1"):
        client.receive_data(b"\x03" + s1 + s1)


def test_misuse_raises_local_protocol_error() -> None:
    client = ClientHandshake()
    with pytest.raises(LocalProtocolError, match="start"):
        client.receive_data(b"\x03")
    client.start()
    with pytest.raises(LocalProtocolError, match="already"):
        client.start()
    # An empty read is not end of stream here, just nothing.
    assert client.receive_data(b"") == b""
    assert not client.is_complete


def test_receiving_after_completion_raises() -> None:
    client = ClientHandshake()
    server = ServerHandshake()
    server.receive_data(client.receive_data(server.receive_data(client.start())))
    assert server.is_complete
    with pytest.raises(LocalProtocolError, match="complete"):
        server.receive_data(b"\x03")
    with pytest.raises(LocalProtocolError, match="complete"):
        client.receive_data(b"\x03")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ClientHandshake(version=ZERO),
        lambda: ClientHandshake(version=b"\x01\x02\x03"),
        lambda: ClientHandshake(digest_scheme=2),
        lambda: ServerHandshake(version=ZERO),
    ],
)
def test_bad_options_raise_value_error(make: object) -> None:
    with pytest.raises(LocalProtocolError, match="must be"):
        make()  # type: ignore[operator]


def test_a_short_random_bytes_function_is_reported() -> None:
    client = ClientHandshake(random_bytes=lambda size: bytes(size - 1))
    with pytest.raises(LocalProtocolError, match="returned 1527 bytes"):
        client.start()


# --- Fuzzing -------------------------------------------------------------------------------------

_chunks = st.lists(st.binary(max_size=2000), max_size=8)


def _fuzz(handshake: ClientHandshake | ServerHandshake, chunks: list[bytes]) -> None:
    for chunk in chunks:
        if handshake.is_complete:
            return
        try:
            handshake.receive_data(chunk)
        except RemoteProtocolError:
            return


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", b"\x03"]), chunks=_chunks)
def test_fuzz_server_raises_only_protocol_error(prefix: bytes, chunks: list[bytes]) -> None:
    _fuzz(ServerHandshake(), [prefix, *chunks])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=_chunks, scheme=st.sampled_from([0, 1]))
def test_fuzz_server_c2_raises_only_protocol_error(chunks: list[bytes], scheme: int) -> None:
    # Get past C0+C1 with a valid digest C1 so the fuzzing reaches the C2 checks.
    c1 = _digest_packet(
        CLIENT_EPOCH, bytes((9, 0, 124, 2)), pattern(3, 1528), scheme, PLAYER_KEY[:30]
    )
    server = ServerHandshake()
    server.receive_data(b"\x03" + c1)
    _fuzz(server, chunks)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    digest=st.booleans(),
    verify=st.booleans(),
    prefix=st.sampled_from([b"", b"\x03", b"\x03\x00\x00\x00\x00\x04\x05\x00\x01"]),
    chunks=_chunks,
)
def test_fuzz_client_raises_only_protocol_error(
    digest: bool, verify: bool, prefix: bytes, chunks: list[bytes]
) -> None:
    client = ClientHandshake(digest=digest, verify_peer_response=verify)
    client.start()
    _fuzz(client, [prefix, *chunks])


# --- House rules -----------------------------------------------------------------------------


def test_module_does_no_io() -> None:
    tree = ast.parse(inspect.getsource(handshake_module))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint({"socket", "threading", "pykka", "time", "asyncio", "select"})
    assert "hmac" in imported
