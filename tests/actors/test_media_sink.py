"""MediaSink: a playing stream's media written straight to its connection, under its rules.

Shared bytes in one write when the player takes everything; otherwise message by message,
still in one write; an abort when the player stayed congested too long.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.actors.media_sink import MEDIA_SINK_CHUNK_STREAMS, MediaSink
from rtmp_actors.protocol.messages import AudioData, DataMessage, MessageContent, VideoData
from rtmp_actors.protocol.prepared import FANOUT_CHUNK_STREAMS, PreparedBatch, PreparedMessage
from rtmp_actors.session.playback import PlaybackChoice, Verdict
from tests.fakes import FakeTransport
from tests.wire import decoder_at

HIGH_WATER = 1 << 20
MAX_CONGESTION = 15.0
CHUNK_SIZE = 4096

AVC_CONFIG = PreparedMessage(VideoData(b"\x17\x00\x00\x00\x00config"), 0)
AAC_CONFIG = PreparedMessage(AudioData(b"\xaf\x00\x12\x10"), 0)
KEYFRAME = PreparedMessage(VideoData(b"\x17\x01\x00\x00\x00key"), 40)
INTER = PreparedMessage(VideoData(b"\x27\x01\x00\x00\x00inter"), 80)
AUDIO = PreparedMessage(AudioData(b"\xaf\x01aac"), 90)
METADATA = PreparedMessage(DataMessage(("onMetaData", {"width": 640})), 0)


def sink_for(
    transport: FakeTransport, *, chunk_size: int = CHUNK_SIZE, high_water: int = HIGH_WATER
) -> MediaSink:
    return MediaSink(transport, 1, chunk_size, high_water, MAX_CONGESTION)


def payloads(transport: FakeTransport, chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    return [raw.payload for raw in decoder_at(chunk_size).receive_data(b"".join(transport.sent))]


def payload_of(*messages: PreparedMessage) -> list[bytes]:
    return [message.content.encode_payload() for message in messages]


def test_the_sink_writes_on_the_fanout_chunk_streams() -> None:
    assert MEDIA_SINK_CHUNK_STREAMS == FANOUT_CHUNK_STREAMS == frozenset({20, 21, 22})


def test_new_rules_carry_the_connections_limits() -> None:
    sink = sink_for(FakeTransport(), high_water=100)
    rules = sink.new_rules(start_at_keyframe=True)
    assert rules.waiting_for_keyframe
    assert not rules.clear_to_send(0)  # waiting for the first keyframe
    rules = sink.new_rules()
    assert rules.clear_to_send(100)
    assert not rules.clear_to_send(101)
    assert sink.max_congestion == MAX_CONGESTION
    assert f"over {MAX_CONGESTION} s" in rules.describe()


def test_an_open_player_gets_the_batch_as_its_shared_bytes_in_one_write() -> None:
    batch = PreparedBatch([AVC_CONFIG, KEYFRAME, AUDIO, INTER, METADATA])
    first, second = FakeTransport(), FakeTransport()
    for transport in (first, second):
        sink = sink_for(transport)
        assert sink.send_batch(batch, sink.new_rules(), 0.0)
    assert len(first.sent) == 1
    assert first.sent[0] is batch.encoded(1, CHUNK_SIZE)  # not re-joined for this player
    assert second.sent[0] is first.sent[0]  # nor for the next one
    assert payloads(first) == payload_of(AVC_CONFIG, KEYFRAME, AUDIO, INTER, METADATA)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        pytest.param(
            PlaybackChoice(1, paused=True),
            [AVC_CONFIG, METADATA, AAC_CONFIG],
            id="paused",
        ),
        pytest.param(
            PlaybackChoice(1, audio=False),
            [KEYFRAME, AVC_CONFIG, METADATA, INTER, AAC_CONFIG],
            id="audio off",
        ),
        pytest.param(
            PlaybackChoice(1, video=False),
            [AUDIO, AVC_CONFIG, METADATA, AAC_CONFIG],
            id="video off",
        ),
    ],
)
def test_a_player_gets_configuration_and_data_but_not_the_frames_it_turned_off(
    choice: PlaybackChoice, expected: list[PreparedMessage]
) -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    rules = sink.new_rules()
    rules.apply(choice)
    batch = PreparedBatch([KEYFRAME, AUDIO, AVC_CONFIG, METADATA, INTER, AAC_CONFIG])
    assert sink.send_batch(batch, rules, 0.0)
    assert len(transport.sent) == 1
    assert payloads(transport) == payload_of(*expected)
    assert rules.dropped == 0  # turned off is not dropped


def test_video_back_on_restarts_at_a_keyframe_and_audio_at_once() -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    rules = sink.new_rules()
    rules.apply(PlaybackChoice(1, video=False))
    assert sink.send_batch(PreparedBatch([KEYFRAME, AUDIO]), rules, 0.0)
    rules.apply(PlaybackChoice(1))
    assert sink.send_batch(PreparedBatch([INTER, AUDIO, KEYFRAME, INTER]), rules, 1.0)
    assert payloads(transport) == payload_of(
        AUDIO,  # video off: only audio
        AUDIO,  # back on: the inter frame waits for a keyframe
        KEYFRAME,
        INTER,
    )
    assert len(transport.sent) == 2
    assert not rules.waiting_for_keyframe
    batch = PreparedBatch([INTER, AUDIO])
    assert sink.send_batch(batch, rules, 2.0)
    assert transport.sent[2] is batch.encoded(1, CHUNK_SIZE)  # open again: the shared bytes


def test_a_congested_player_gets_keyframes_and_configuration_in_one_write() -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    rules = sink.new_rules()
    transport.queued_bytes = HIGH_WATER + 1
    batch = PreparedBatch([AUDIO, KEYFRAME, INTER, AUDIO, AVC_CONFIG, METADATA, INTER])
    assert sink.send_batch(batch, rules, 0.0)
    assert len(transport.sent) == 1
    assert payloads(transport) == payload_of(KEYFRAME, AVC_CONFIG, METADATA)
    assert rules.dropped == 4  # both audio frames and both inter frames
    transport.sent.clear()
    transport.queued_bytes = 0  # drained, but the next inter frame lacks the one dropped
    assert sink.send_batch(PreparedBatch([INTER, AUDIO, KEYFRAME, INTER]), rules, 1.0)
    assert payloads(transport) == payload_of(AUDIO, KEYFRAME, INTER)
    assert len(transport.sent) == 1


def test_the_sink_counts_what_it_writes_towards_the_mark() -> None:
    transport = FakeTransport()
    keyframe_bytes = len(KEYFRAME.encoded(1, CHUNK_SIZE))
    sink = sink_for(transport, high_water=keyframe_bytes)
    rules = sink.new_rules()
    assert sink.send([KEYFRAME, INTER, AUDIO, INTER, KEYFRAME], rules, 0.0)
    # At the mark after the keyframe: the inter frame goes; over it after that.
    assert payloads(transport) == payload_of(KEYFRAME, INTER, KEYFRAME)
    assert len(transport.sent) == 1


def test_a_player_congested_too_long_is_aborted_with_the_reason() -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    rules = sink.new_rules()
    transport.queued_bytes = HIGH_WATER + 1
    assert sink.send_batch(PreparedBatch([AUDIO, INTER]), rules, 0.0)
    assert transport.sent == []  # everything dropped: no empty write
    assert sink.send_batch(PreparedBatch([AVC_CONFIG, AUDIO]), rules, MAX_CONGESTION)
    assert payloads(transport) == payload_of(AVC_CONFIG)  # not over yet: dropped, not cut
    transport.sent.clear()
    batch = PreparedBatch([AVC_CONFIG, AUDIO, KEYFRAME])
    assert not sink.send_batch(batch, rules, MAX_CONGESTION + 0.5)
    assert transport.aborted == rules.describe()
    assert "4 media messages dropped" in rules.describe()
    assert transport.is_closing
    assert not sink.is_open
    assert transport.sent == []  # nothing of the batch, not even what came first
    assert not sink.send_batch(PreparedBatch([AVC_CONFIG]), rules, MAX_CONGESTION + 1)
    assert transport.sent == []


def test_a_closing_transport_gets_nothing() -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    rules = sink.new_rules()
    transport.is_closing = True
    transport.queued_bytes = HIGH_WATER + 1
    assert not sink.is_open
    assert not sink.send_batch(PreparedBatch([AVC_CONFIG, KEYFRAME, AUDIO]), rules, 0.0)
    assert not sink.send([AVC_CONFIG, INTER, AUDIO], rules, 100.0)
    assert transport.sent == []
    assert transport.aborted is None
    assert rules.dropped == 0  # the rules were not even asked
    assert not rules.waiting_for_keyframe


# The RTMP chunk format by hand: a format 0 basic header is the chunk stream id itself
# (20 audio, 21 video, 22 the rest), then timestamp and length (3 bytes each, big-endian),
# the type id, and the message stream id (4 bytes, little-endian).
GOLDEN_AUDIO = PreparedMessage(AudioData(b"\xaf\x01\x00"), 5)
GOLDEN_VIDEO = PreparedMessage(VideoData(b"\x17\x01\x00\x00\x00"), 7)
GOLDEN_DATA = PreparedMessage(DataMessage(("|RtmpSampleAccess", True, True)), 0)
GOLDEN_AUDIO_BYTES = bytes.fromhex(
    "14" "000005" "000003" "08" "01000000"
    "af0100"
)  # fmt: skip
GOLDEN_VIDEO_BYTES = bytes.fromhex(
    "15" "000007" "000005" "09" "01000000"
    "1701000000"
)  # fmt: skip
GOLDEN_DATA_BYTES = bytes.fromhex(
    "16" "000000" "000018" "12" "01000000"
    "02" "0011" "7c52746d7053616d706c65416363657373"  # AMF0 string "|RtmpSampleAccess"
    "0101" "0101"  # AMF0 true, true
)  # fmt: skip


def test_golden_bytes_of_a_small_batch() -> None:
    batch = PreparedBatch([GOLDEN_AUDIO, GOLDEN_VIDEO, GOLDEN_DATA])
    open_player, paused_player = FakeTransport(), FakeTransport()
    sink = sink_for(open_player, chunk_size=128)
    assert sink.send_batch(batch, sink.new_rules(), 0.0)
    assert open_player.sent == [GOLDEN_AUDIO_BYTES + GOLDEN_VIDEO_BYTES + GOLDEN_DATA_BYTES]
    sink = sink_for(paused_player, chunk_size=128)
    rules = sink.new_rules()
    rules.apply(PlaybackChoice(1, paused=True))
    assert sink.send_batch(batch, rules, 0.0)
    assert paused_player.sent == [GOLDEN_DATA_BYTES]
    rules.apply(PlaybackChoice(1, audio=False))
    assert sink.send_batch(batch, rules, 1.0)
    assert paused_player.sent[1] == GOLDEN_VIDEO_BYTES + GOLDEN_DATA_BYTES


KIND_PREFIXES = {
    "audio": (False, b"\xaf\x01"),
    "audio config": (False, b"\xaf\x00"),
    "keyframe": (True, b"\x17\x01\x00\x00\x00"),
    "inter": (True, b"\x27\x01\x00\x00\x00"),
    "video config": (True, b"\x17\x00\x00\x00\x00"),
}


@st.composite
def prepared_messages(draw: st.DrawFn) -> PreparedMessage:
    kind = draw(st.sampled_from([*KIND_PREFIXES, "data"]))
    timestamp = draw(st.integers(0, 2**32 - 1))
    content: MessageContent
    if kind == "data":
        content = DataMessage(("onTextData", draw(st.text(max_size=50))))
    else:
        video, prefix = KIND_PREFIXES[kind]
        data = prefix + draw(st.binary(max_size=700))
        content = VideoData(data) if video else AudioData(data)
    return PreparedMessage(content, timestamp)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(prepared_messages(), min_size=1, max_size=10),
    st.builds(
        PlaybackChoice,
        st.just(1),
        paused=st.booleans(),
        audio=st.booleans(),
        video=st.booleans(),
    ),
    st.booleans(),
    st.sampled_from([1, 128, 4096]),
    st.integers(1, 5),
)
def test_what_is_written_decodes_to_the_admitted_messages_in_order(
    messages: list[PreparedMessage],
    choice: PlaybackChoice,
    start_at_keyframe: bool,
    chunk_size: int,
    stream_id: int,
) -> None:
    transport = FakeTransport()
    sink = MediaSink(transport, stream_id, chunk_size, HIGH_WATER, MAX_CONGESTION)
    rules = sink.new_rules(start_at_keyframe=start_at_keyframe)
    rules.apply(choice)
    replay = copy.copy(rules)
    expected = [
        m
        for m in messages
        if not m.is_media
        or replay.admit(video=m.is_video, flags=m.frame_flags, queued_bytes=0, now=0.0)
        is Verdict.SEND
    ]
    assert sink.send_batch(PreparedBatch(messages), rules, 0.0)
    assert len(transport.sent) == (1 if expected else 0)
    decoded = decoder_at(chunk_size).receive_data(b"".join(transport.sent))
    assert [(r.type_id, r.stream_id, r.timestamp, r.payload) for r in decoded] == [
        (int(m.content.type_id), stream_id, m.timestamp, m.content.encode_payload())
        for m in expected
    ]
    assert [r.chunk_stream_id for r in decoded] == [m.chunk_stream_id for m in expected]
    assert rules.dropped == replay.dropped


def test_rules_are_per_player_not_per_sink() -> None:
    transport = FakeTransport()
    sink = sink_for(transport)
    paused, playing = sink.new_rules(), sink.new_rules()
    paused.apply(PlaybackChoice(1, paused=True))
    batch = PreparedBatch([KEYFRAME, AUDIO])
    assert sink.send_batch(batch, paused, 0.0)
    assert transport.sent == []
    assert sink.send_batch(batch, playing, 0.0)
    assert transport.sent == [batch.encoded(1, CHUNK_SIZE)]
