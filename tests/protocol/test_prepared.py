"""Prepared messages and batches: golden bytes, and bytes shared instead of re-encoded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData
from rtmp_actors.protocol.prepared import FANOUT_CHUNK_STREAMS, PreparedBatch, PreparedMessage
from tests.wire import decoder_at


def test_golden_audio_message_on_its_own_chunk_stream() -> None:
    message = PreparedMessage(AudioData(b"\xaf\x01\x00"), 5)
    assert message.encoded(1, 128).hex() == (
        "14"  # format 0, chunk stream 20 (audio)
        "000005" "000003" "08" "01000000"  # timestamp, length, type 8, stream id 1 (LE)
        "af0100"
    )  # fmt: skip


def test_golden_video_message_split_into_chunks() -> None:
    message = PreparedMessage(VideoData(b"\x17" * 5), 7)
    assert message.encoded(1, 4).hex() == (
        "15" "000007" "000005" "09" "01000000" "17171717"  # chunk stream 21 (video)
        "d5" "17"  # format 3 continuation
    )  # fmt: skip


def test_each_kind_has_its_chunk_stream() -> None:
    kinds = [
        PreparedMessage(AudioData(b"\xaf\x01"), 0),
        PreparedMessage(VideoData(b"\x27\x01"), 0),
        PreparedMessage(DataMessage(("onMetaData", {})), 0),
    ]
    assert [m.chunk_stream_id for m in kinds] == [20, 21, 22]
    assert {m.chunk_stream_id for m in kinds} == FANOUT_CHUNK_STREAMS
    assert [(m.is_media, m.is_video) for m in kinds] == [
        (True, False),
        (True, True),
        (False, False),
    ]


def test_encoding_is_done_once_per_stream_id_and_chunk_size() -> None:
    message = PreparedMessage(VideoData(b"\x17\x01" * 300), 40)
    assert message.encoded(1, 4096) is message.encoded(1, 4096)
    assert message.encoded(1, 4096) != message.encoded(2, 4096)
    assert message.encoded(1, 4096) != message.encoded(1, 128)
    batch = PreparedBatch([message, PreparedMessage(AudioData(b"\xaf\x01"), 41)])
    assert batch.encoded(1, 4096) is batch.encoded(1, 4096)
    assert batch.encoded(2, 4096) is batch.encoded(2, 4096)
    assert batch.encoded(1, 4096) != batch.encoded(2, 4096)


def test_a_one_message_batch_is_that_messages_own_bytes() -> None:
    message = PreparedMessage(AudioData(b"\xaf\x01aac"), 3)
    batch = PreparedBatch([message])
    assert batch.encoded(1, 128) is message.encoded(1, 128)
    assert batch.encoded(5, 1) is message.encoded(5, 1)


def test_a_batch_keeps_its_messages_in_order() -> None:
    messages = [PreparedMessage(AudioData(bytes([0xAF, 0x01, n])), n) for n in range(3)]
    batch = PreparedBatch(messages)
    messages.pop()  # the batch keeps its own copy
    assert batch.messages == (*messages, batch.messages[2])
    assert [m.timestamp for m in batch.messages] == [0, 1, 2]


@given(
    st.lists(
        st.tuples(st.booleans(), st.binary(min_size=1, max_size=600), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 8),
    st.sampled_from([1, 128, 4096]),
)
def test_a_batch_decodes_to_its_messages_in_order(
    specs: list[tuple[bool, bytes, int]], stream_id: int, chunk_size: int
) -> None:
    messages = [
        PreparedMessage(VideoData(payload) if video else AudioData(payload), timestamp)
        for video, payload, timestamp in specs
    ]
    batch = PreparedBatch(messages)
    encoded = batch.encoded(stream_id, chunk_size)
    assert encoded == b"".join(m.encoded(stream_id, chunk_size) for m in messages)
    decoded = decoder_at(chunk_size).receive_data(encoded)
    assert [(r.type_id, r.stream_id, r.timestamp, r.payload) for r in decoded] == [
        (9 if video else 8, stream_id, timestamp, payload) for video, payload, timestamp in specs
    ]
    assert [r.chunk_stream_id for r in decoded] == [21 if video else 20 for video, _, _ in specs]
