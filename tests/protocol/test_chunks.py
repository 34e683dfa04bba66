"""Chunk stream encoder and decoder: golden bytes, splits, limits, round-trips and fuzzing."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from rtmp_actors.limits import Limits
from rtmp_actors.protocol.chunk_decoder import ChunkDecoder
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder, basic_header
from rtmp_actors.protocol.messages import RawMessage


def feed_whole(data: bytes, decoder: ChunkDecoder | None = None) -> list[RawMessage]:
    return (decoder or ChunkDecoder()).receive_data(data)


def feed_bytewise(data: bytes, decoder: ChunkDecoder | None = None) -> list[RawMessage]:
    decoder = decoder or ChunkDecoder()
    out: list[RawMessage] = []
    for i in range(len(data)):
        out += decoder.receive_data(data[i : i + 1])
    return out


def feed_random_splits(
    data: bytes, seed: int, decoder: ChunkDecoder | None = None
) -> list[RawMessage]:
    decoder = decoder or ChunkDecoder()
    rng = random.Random(seed)
    out: list[RawMessage] = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 40)
        out += decoder.receive_data(data[pos : pos + step])
        pos += step
    return out


FEEDERS = [
    pytest.param(feed_whole, id="whole"),
    pytest.param(feed_bytewise, id="byte-at-a-time"),
    pytest.param(lambda data: feed_random_splits(data, 1), id="random-splits"),
]


# --- Golden bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "csid", "expected"),
    [
        (0, 2, "02"),
        (3, 63, "ff"),
        (0, 64, "0000"),
        (1, 319, "40ff"),
        (0, 320, "010001"),
        (2, 1000, "81a803"),  # 1000 - 64 = 936 = 0x03a8, low byte first
        (3, 65599, "c1ffff"),
    ],
)
def test_basic_header_golden(fmt: int, csid: int, expected: str) -> None:
    assert basic_header(fmt, csid).hex() == expected


# A command on csid 3 then an audio message sequence in the style of the spec's example 1:
# format 0, then format 2 (new delta), then format 3 (same delta again).
GOLDEN_SEQUENCE = [
    (RawMessage(20, 0, 0, b"cmd!", 3), "030000000000041400000000" + b"cmd!".hex()),
    (RawMessage(8, 1, 1000, b"\xaf\x01\x00", 4), "040003e80000030801000000af0100"),
    (RawMessage(8, 1, 1020, b"\xaf\x01\x01", 4), "84000014af0101"),
    (RawMessage(8, 1, 1040, b"\xaf\x01\x02", 4), "c4af0102"),
    # Another length: format 1 with the same delta.
    (RawMessage(8, 1, 1060, b"\xaf\x01", 4), "4400001400000208af01"),
    # Another message stream id needs format 0.
    (RawMessage(8, 2, 1080, b"\xaf\x01", 4), "040004380000020802000000af01"),
]


def test_encoder_golden_sequence() -> None:
    encoder = ChunkEncoder()
    for message, expected in GOLDEN_SEQUENCE:
        assert encoder.encode(message).hex() == expected


@pytest.mark.parametrize("feed", FEEDERS)
def test_decoder_golden_sequence(feed) -> None:  # type: ignore[no-untyped-def]
    wire = bytes.fromhex("".join(expected for _, expected in GOLDEN_SEQUENCE))
    assert feed(wire) == [message for message, _ in GOLDEN_SEQUENCE]


def test_format3_after_format0_uses_the_format0_timestamp_as_delta() -> None:
    # Spec 5.3.1.2.4: a type 3 chunk that starts a new message right after a type 0 chunk
    # applies the type 0 timestamp as its delta.
    wire = bytes.fromhex("040000640000010801000000aac4bb")
    first, second = feed_whole(wire)
    assert (first.timestamp, second.timestamp) == (100, 200)
    assert second.payload == b"\xbb"
    # ...and the encoder relies on the same rule.
    encoder = ChunkEncoder()
    encoder.encode(RawMessage(8, 1, 100, b"\xaa", 4))
    assert encoder.encode(RawMessage(8, 1, 200, b"\xbb", 4)).hex() == "c4bb"


def test_message_split_across_chunks_golden() -> None:
    payload = bytes(range(200)) + bytes(100)
    expected = (
        "06"
        "000028"
        "00012c"
        "09"
        "01000000"
        + payload[:128].hex()
        + "c6"
        + payload[128:256].hex()
        + "c6"
        + payload[256:].hex()
    )
    message = RawMessage(9, 1, 40, payload, 6)
    assert ChunkEncoder().encode(message).hex() == expected
    assert feed_bytewise(bytes.fromhex(expected)) == [message]


def test_extended_timestamp_golden_is_repeated_on_continuations() -> None:
    payload = bytes(130)
    message = RawMessage(9, 1, 0x01000000, payload, 6)
    expected = (
        "06"
        "ffffff"
        "000082"
        "09"
        "01000000"
        "01000000" + payload[:128].hex() + "c6"
        "01000000" + payload[128:].hex()
    )
    assert ChunkEncoder().encode(message).hex() == expected
    assert feed_random_splits(bytes.fromhex(expected), 7) == [message]


def test_extended_timestamp_exactly_at_the_threshold() -> None:
    message = RawMessage(8, 1, 0xFFFFFF, b"x", 4)
    wire = ChunkEncoder().encode(message)
    assert wire.hex() == "04ffffff000001080100000000ffffff78"
    assert feed_whole(wire) == [message]


def test_extended_delta_on_format_2() -> None:
    encoder = ChunkEncoder()
    first = RawMessage(8, 1, 10, b"a", 4)
    second = RawMessage(8, 1, 10 + 0x01000000, b"b", 4)
    wire = encoder.encode(first) + encoder.encode(second)
    assert encoder.encode(RawMessage(8, 1, 20 + 0x01000000, b"c", 4)).hex() == "8400000a63"
    assert wire.endswith(bytes.fromhex("84ffffff0100000062"))
    assert feed_bytewise(wire) == [first, second]


def test_decoder_accepts_continuations_without_the_repeated_extended_timestamp() -> None:
    # Older librtmp and some encoders leave the extended timestamp off format 3 chunks.
    payload = bytes(range(130))
    wire = bytes.fromhex(
        "06ffffff000082090100000001000000" + payload[:128].hex() + "c6" + payload[128:].hex()
    )
    assert feed_bytewise(wire) == [RawMessage(9, 1, 0x01000000, payload, 6)]


def test_new_message_by_format_3_with_extended_delta() -> None:
    wire = bytes.fromhex(
        "04"
        "ffffff"
        "000001"
        "08"
        "01000000"
        "02000000"
        "aa"  # ts 0x02000000
        "c4"
        "02000000"
        "bb"  # format 3: delta = 0x02000000 again, repeated extended field
    )
    assert [m.timestamp for m in feed_bytewise(wire)] == [0x02000000, 0x04000000]


def test_timestamps_wrap_at_32_bits() -> None:
    encoder = ChunkEncoder()
    messages = [
        RawMessage(9, 1, 0xFFFFFFF0, b"a", 6),
        RawMessage(9, 1, 0x00000010, b"b", 6),  # 0x20 later, across the wrap
        RawMessage(9, 1, 0x00000030, b"c", 6),
    ]
    wire = [encoder.encode(m) for m in messages]
    assert wire[1].hex() == "8600002062"  # a small forward delta, not format 0
    assert feed_whole(b"".join(wire)) == messages


def test_backwards_timestamp_gets_a_full_header() -> None:
    encoder = ChunkEncoder()
    encoder.encode(RawMessage(9, 1, 5000, b"a", 6))
    assert encoder.encode(RawMessage(9, 1, 4000, b"a", 6))[0] >> 6 == 0


def test_force_full_header() -> None:
    encoder = ChunkEncoder()
    message = RawMessage(9, 1, 0, b"a", 6)
    encoder.encode(message)
    assert encoder.encode(message, force_full_header=True)[0] >> 6 == 0


def test_zero_length_message() -> None:
    messages = [
        RawMessage(8, 1, 0, b"", 4),
        RawMessage(8, 1, 23, b"", 4),
        RawMessage(8, 1, 46, b"z", 4),
    ]
    encoder = ChunkEncoder()
    wire = b"".join(encoder.encode(m) for m in messages)
    assert feed_bytewise(wire) == messages
    assert feed_whole(wire) == messages


def test_interleaved_messages_on_different_chunk_streams() -> None:
    video = bytes(range(256)) * 2
    audio = bytes(range(100, 300 - 50))
    video_chunks = ChunkEncoder().encode(RawMessage(9, 1, 0, video, 6))
    audio_wire = ChunkEncoder().encode(RawMessage(8, 1, 0, audio, 4))
    # Cut the video into its chunks and put the audio message between the first two.
    first_chunk = video_chunks[: 12 + 128]
    wire = first_chunk + audio_wire + video_chunks[12 + 128 :]
    decoded = feed_bytewise(wire)
    assert decoded == [RawMessage(8, 1, 0, audio, 4), RawMessage(9, 1, 0, video, 6)]


@pytest.mark.parametrize("feed", FEEDERS)
def test_set_chunk_size_applies_to_following_chunks(feed) -> None:  # type: ignore[no-untyped-def]
    encoder = ChunkEncoder()
    payload = bytes(range(250)) * 20
    set_size = RawMessage(1, 0, 0, (1000).to_bytes(4), 2)
    media = RawMessage(9, 1, 0, payload, 6)
    wire = encoder.encode(set_size) + encoder.encode(media)
    assert encoder.chunk_size == 1000
    assert wire.count(b"\xc6") >= 4  # 5000 bytes in 1000-byte chunks: 4 continuations
    assert feed(wire) == [set_size, media]


def test_abort_discards_the_partial_message() -> None:
    encoder = ChunkEncoder()
    whole = encoder.encode(RawMessage(9, 1, 0, bytes(300), 6))
    abort = ChunkEncoder().encode(RawMessage(2, 0, 0, (6).to_bytes(4), 2))
    after = ChunkEncoder().encode(RawMessage(9, 1, 80, b"fresh", 6))
    decoder = ChunkDecoder()
    out = decoder.receive_data(whole[:140])  # header and the first 128 bytes
    assert out == []
    assert decoder.pending_bytes == 128
    out = decoder.receive_data(abort + after)
    assert [m.type_id for m in out] == [2, 9]
    assert out[1].payload == b"fresh"
    assert decoder.pending_bytes == 0


def test_bytes_received_counts_every_byte() -> None:
    decoder = ChunkDecoder()
    wire = ChunkEncoder().encode(RawMessage(9, 1, 0, bytes(1000), 6))
    feed_random_splits(wire, 3, decoder)
    assert decoder.bytes_received == len(wire)


def test_full_header_mid_message_with_same_length_is_a_continuation() -> None:
    payload = bytes(range(200))
    wire = bytes.fromhex(
        "06"
        "000000"
        "0000c8"
        "09"
        "01000000" + payload[:128].hex() + "06"
        "000000"
        "0000c8"
        "09"
        "01000000"  # format 0 again instead of format 3
         + payload[128:].hex()
    )
    assert feed_whole(wire) == [RawMessage(9, 1, 0, payload, 6)]


# --- Bad input ------------------------------------------------------------------------------------


def test_first_chunk_on_a_stream_must_be_format_0() -> None:
    with pytest.raises(RemoteProtocolError, match="chunk stream 4 starts with a format 1"):
        feed_whole(bytes.fromhex("4400001400000208af01"))


def test_length_change_mid_message_is_rejected() -> None:
    wire = bytes.fromhex("060000000000c80901000000") + bytes(128)
    wire += bytes.fromhex("460000000000ff09") + bytes(10)
    with pytest.raises(RemoteProtocolError, match="changes the message"):
        feed_whole(wire)


def test_set_chunk_size_over_the_limit() -> None:
    decoder = ChunkDecoder(Limits(max_chunk_size=65536))
    wire = ChunkEncoder().encode(RawMessage(1, 0, 0, (65537).to_bytes(4), 2))
    with pytest.raises(LimitExceededError, match="max_chunk_size") as info:
        decoder.receive_data(wire)
    assert info.value.value == 65537


@pytest.mark.parametrize("size", [0, 0x80000000, 0xFFFFFFFF])
def test_set_chunk_size_invalid(size: int) -> None:
    with pytest.raises(RemoteProtocolError, match="Set Chunk Size"):
        feed_whole(bytes.fromhex("020000000000040100000000") + size.to_bytes(4))


def test_peer_chunk_size_of_2_gib_is_an_error_not_an_allocation() -> None:
    with pytest.raises(LimitExceededError):
        feed_whole(bytes.fromhex("0200000000000401000000007fffffff"))


def test_media_message_length_limit() -> None:
    decoder = ChunkDecoder(Limits(max_media_message_size=1000))
    header = bytes.fromhex("060000000003e90901000000")  # 1001 bytes claimed
    with pytest.raises(LimitExceededError, match="max_media_message_size"):
        decoder.receive_data(header)


def test_command_message_length_limit_is_separate() -> None:
    decoder = ChunkDecoder(Limits(max_message_size=100))
    ok = ChunkEncoder().encode(RawMessage(9, 1, 0, bytes(5000), 6))
    assert len(decoder.receive_data(ok)) == 1
    with pytest.raises(LimitExceededError, match="max_message_size"):
        decoder.receive_data(bytes.fromhex("030000000000651400000000"))


def test_claimed_length_is_not_allocated_up_front() -> None:
    decoder = ChunkDecoder()
    decoder.receive_data(bytes.fromhex("060000007fffff0901000000") + bytes(10))
    assert decoder.pending_bytes == 10


def test_chunk_stream_count_limit() -> None:
    decoder = ChunkDecoder(Limits(max_chunk_streams=3))
    encoder = ChunkEncoder()
    for csid in (2, 3, 4):
        decoder.receive_data(encoder.encode(RawMessage(8, 1, 0, b"a", csid)))
    with pytest.raises(LimitExceededError, match="max_chunk_streams"):
        decoder.receive_data(encoder.encode(RawMessage(8, 1, 0, b"a", 5)))


def test_pending_bytes_limit() -> None:
    decoder = ChunkDecoder(Limits(max_pending_bytes=1000))
    encoder = ChunkEncoder()
    # Start many messages and never finish them.
    starts = [encoder.encode(RawMessage(9, 1, 0, bytes(500), csid))[:140] for csid in range(3, 20)]
    with pytest.raises(LimitExceededError, match="max_pending_bytes"):
        decoder.receive_data(b"".join(starts))


def test_encoder_rejects_values_that_do_not_fit() -> None:
    encoder = ChunkEncoder()
    with pytest.raises(LocalProtocolError, match="chunk stream id"):
        encoder.encode(RawMessage(8, 1, 0, b"", 1))
    with pytest.raises(LocalProtocolError, match="24-bit"):
        encoder.encode(RawMessage(8, 1, 0, bytes(0x1000000), 4))
    with pytest.raises(LocalProtocolError, match="32-bit"):
        encoder.encode(RawMessage(8, 1, 2**32, b"", 4))


# --- Property-based: round-trips and fuzzing --------------------------------------------------

CSIDS = st.sampled_from([2, 3, 4, 6, 63, 64, 65, 319, 320, 321, 1000, 65599])
TYPES = st.sampled_from([8, 9, 15, 17, 18, 20, 22, 4, 3, 5, 6, 200])


@st.composite
def message_sequences(draw: st.DrawFn) -> tuple[list[RawMessage], list[int]]:
    """Messages with timestamps stepping across 2^24 and 2^32, plus chunk size changes."""
    count = draw(st.integers(1, 25))
    timestamps: dict[int, int] = {}
    messages: list[RawMessage] = []
    chunk_sizes: list[int] = []
    start = draw(st.sampled_from([0, 0xFFFF00, 0xFFFFFFF0 - 5000, 2**31]))
    for _ in range(count):
        if draw(st.integers(0, 9)) == 0:
            size = draw(st.integers(1, 600))
            messages.append(RawMessage(1, 0, 0, size.to_bytes(4), 2))
            chunk_sizes.append(size)
            continue
        csid = draw(CSIDS)
        previous = timestamps.get(csid, start)
        step = draw(st.one_of(st.integers(0, 100), st.integers(0, 2**25), st.just(0xFFFFFF)))
        if draw(st.integers(0, 19)) == 0:
            step = -draw(st.integers(1, 1000))  # goes backwards
        timestamp = (previous + step) % 2**32
        timestamps[csid] = timestamp
        payload = draw(st.binary(min_size=0, max_size=1500))
        messages.append(
            RawMessage(
                draw(TYPES), draw(st.sampled_from([0, 1, 2, 2**31])), timestamp, payload, csid
            )
        )
    return messages, chunk_sizes


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=message_sequences(), initial_chunk_size=st.integers(1, 5000), seed=st.integers())
def test_round_trip_through_encoder_and_decoder(
    sequence: tuple[list[RawMessage], list[int]], initial_chunk_size: int, seed: int
) -> None:
    messages, _ = sequence
    encoder = ChunkEncoder()
    prefix = [RawMessage(1, 0, 0, initial_chunk_size.to_bytes(4), 2)]
    wire = b"".join(encoder.encode(m) for m in prefix + messages)
    decoded = feed_random_splits(wire, seed)
    assert decoded == prefix + messages


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=message_sequences())
def test_round_trip_byte_at_a_time(sequence: tuple[list[RawMessage], list[int]]) -> None:
    messages, _ = sequence
    encoder = ChunkEncoder()
    wire = b"".join(encoder.encode(m) for m in messages)
    assert feed_bytewise(wire) == messages


@settings(max_examples=500)
@given(data=st.binary(max_size=2000), seed=st.integers())
def test_fuzz_arbitrary_bytes_raise_only_protocol_error(data: bytes, seed: int) -> None:
    with contextlib.suppress(RemoteProtocolError):
        feed_random_splits(data, seed)


def corrupt(messages: list[RawMessage], position: int, garbage: bytes) -> bytes:
    """The chunks of ``messages`` with ``garbage`` written over them at ``position``."""
    encoder = ChunkEncoder()
    wire = b"".join(encoder.encode(m) for m in messages)
    position %= len(wire) + 1
    return wire[:position] + garbage + wire[position + len(garbage) :]


@settings(max_examples=300)
@given(
    sequence=message_sequences(),
    position=st.integers(0, 10_000),
    garbage=st.binary(min_size=1, max_size=64),
)
def test_fuzz_corrupted_valid_streams(
    sequence: tuple[list[RawMessage], list[int]], position: int, garbage: bytes
) -> None:
    corrupted = corrupt(sequence[0], position, garbage)
    with contextlib.suppress(RemoteProtocolError):
        feed_random_splits(corrupted, position)


# --- Whole messages in one read (the decoder's fast path) -------------------------------------


def chunks_of(message: RawMessage, chunk_size: int) -> list[bytes]:
    """One message's chunks, a format 0 header first and format 3 headers after (no compression).

    A timestamp from 0xFFFFFF up goes in the extended field, repeated on every continuation.
    """
    timestamp = message.timestamp
    extended = timestamp >= 0xFFFFFF
    tail = timestamp.to_bytes(4) if extended else b""
    header = (
        basic_header(0, message.chunk_stream_id)
        + min(timestamp, 0xFFFFFF).to_bytes(3)
        + len(message.payload).to_bytes(3)
        + bytes((message.type_id,))
        + message.stream_id.to_bytes(4, "little")
        + tail
    )
    continuation = basic_header(3, message.chunk_stream_id) + tail
    payload = message.payload
    pieces = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
    return [header + pieces[0]] + [continuation + piece for piece in pieces[1:]]


@st.composite
def interleaved_wires(draw: st.DrawFn) -> tuple[bytes, list[RawMessage]]:
    """Batches of messages on distinct chunk streams whose chunks interleave as a sender may.

    Returns the wire and the messages in the order they complete.
    """
    chunk_size = draw(st.sampled_from([1, 2, 7, 128, 300]))
    set_size = RawMessage(1, 0, 0, chunk_size.to_bytes(4), 2)
    wire = [b"".join(chunks_of(set_size, 128))]
    expected = [set_size]
    for _ in range(draw(st.integers(1, 4))):
        csids = draw(st.lists(CSIDS, min_size=1, max_size=4, unique=True))
        queues = []
        for csid in csids:
            message = RawMessage(
                draw(st.sampled_from([8, 9, 18, 20, 200])),
                draw(st.sampled_from([0, 1, 2**31])),
                draw(st.sampled_from([0, 40, 0xFFFFFE, 0xFFFFFF, 2**32 - 1])),
                draw(st.binary(max_size=700)),
                csid,
            )
            queues.append((message, chunks_of(message, chunk_size)))
        # Take the next chunk from a random message until all are sent.
        while queues:
            index = draw(st.integers(0, len(queues) - 1))
            message, chunks = queues[index]
            wire.append(chunks.pop(0))
            if not chunks:
                expected.append(message)
                del queues[index]
    return b"".join(wire), expected


def feed_in_reads(data: bytes, seed: int, largest: int) -> list[RawMessage]:
    decoder = ChunkDecoder()
    rng = random.Random(seed)
    out: list[RawMessage] = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, largest)
        out += decoder.receive_data(data[pos : pos + step])
        pos += step
    return out


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=message_sequences(), initial_chunk_size=st.integers(1, 5000), seed=st.integers())
def test_header_compressed_streams_decode_alike_in_any_reads(
    sequence: tuple[list[RawMessage], list[int]], initial_chunk_size: int, seed: int
) -> None:
    messages, _ = sequence
    encoder = ChunkEncoder()
    prefix = [RawMessage(1, 0, 0, initial_chunk_size.to_bytes(4), 2)]
    wire = b"".join(encoder.encode(m) for m in prefix + messages)
    assert feed_whole(wire) == prefix + messages
    assert feed_in_reads(wire, seed, 3000) == prefix + messages


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(case=interleaved_wires(), seed=st.integers())
def test_interleaved_chunks_decode_alike_in_any_reads(
    case: tuple[bytes, list[RawMessage]], seed: int
) -> None:
    wire, expected = case
    assert feed_whole(wire) == expected
    assert feed_in_reads(wire, seed, 2000) == expected
    assert feed_bytewise(wire) == expected


@settings(max_examples=300)
@given(
    sequence=message_sequences(),
    position=st.integers(0, 10_000),
    garbage=st.binary(min_size=1, max_size=64),
)
def test_corrupted_streams_fail_alike_in_one_read_and_byte_at_a_time(
    sequence: tuple[list[RawMessage], list[int]], position: int, garbage: bytes
) -> None:
    corrupted = corrupt(sequence[0], position, garbage)

    def outcome(pieces: list[bytes]) -> tuple[list[RawMessage], str | None, int]:
        decoder = ChunkDecoder()
        out: list[RawMessage] = []
        for piece in pieces:
            try:
                out += decoder.receive_data(piece)
            except RemoteProtocolError as error:
                out += error.messages_before_error  # type: ignore[arg-type]
                return out, type(error).__name__, decoder.chunk_size
        return out, None, decoder.chunk_size

    bytewise = [corrupted[i : i + 1] for i in range(len(corrupted))]
    assert outcome([corrupted]) == outcome(bytewise)


def test_pending_bytes_limit_applies_to_a_message_wholly_in_one_read() -> None:
    # Chunked messages are assembled from their chunks, so they count against the limit even
    # when all their chunks arrive together; a single-chunk message is sliced out and does not.
    limits = Limits(max_pending_bytes=1000)
    message = RawMessage(9, 1, 0, bytes(1200), 6)
    chunked = ChunkEncoder().encode(message)
    with pytest.raises(LimitExceededError, match="max_pending_bytes"):
        ChunkDecoder(limits).receive_data(chunked)
    encoder = ChunkEncoder()
    single = encoder.encode(RawMessage(1, 0, 0, (4096).to_bytes(4), 2)) + encoder.encode(message)
    assert ChunkDecoder(limits).receive_data(single)[1] == message


def test_receive_fields_returns_the_fields_of_the_messages() -> None:
    messages = [RawMessage(9, 1, 40, bytes(range(256)) * 3, 6), RawMessage(8, 1, 41, b"a", 4)]
    encoder = ChunkEncoder()
    wire = b"".join(encoder.encode(m) for m in messages)
    fields = ChunkDecoder().receive_fields(wire)
    assert fields == [
        (m.type_id, m.stream_id, m.timestamp, m.payload, m.chunk_stream_id) for m in messages
    ]
    assert all(type(f[3]) is bytes for f in fields)
