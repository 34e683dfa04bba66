"""A player's pause and receiveAudio/receiveVideo choices applied on the media sink path."""

from __future__ import annotations

from rtmp_actors.actors.congestion import CongestionPolicy
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.actors.playback_gate import PlaybackGate
from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData
from rtmp_actors.protocol.prepared import PreparedBatch, PreparedMessage
from tests.actors.test_congestion import FakeTransport
from tests.wire import decoder_at

AVC_CONFIG = PreparedMessage(VideoData(b"\x17\x00\x00\x00\x00config"), 0)
KEYFRAME = PreparedMessage(VideoData(b"\x17\x01\x00\x00\x00key"), 40)
INTER = PreparedMessage(VideoData(b"\x27\x01\x00\x00\x00inter"), 80)
AUDIO = PreparedMessage(AudioData(b"\xaf\x01aac"), 90)
METADATA = PreparedMessage(DataMessage(("onMetaData", {"width": 640})), 0)


def sink_with(gate: PlaybackGate) -> tuple[MediaSink, FakeTransport]:
    transport = FakeTransport()
    return MediaSink(transport, 1, 4096, CongestionPolicy(1 << 20, 15.0), gate=gate), transport


def payloads(transport: FakeTransport) -> list[bytes]:
    return [raw.payload for raw in decoder_at(4096).receive_data(b"".join(transport.sent))]


def test_the_gate_follows_the_players_choices() -> None:
    gate = PlaybackGate()
    assert (gate.open, gate.audio, gate.video, gate.keyframe_needed) == (True, True, True, False)
    gate.update(paused=False, receive_audio=True, receive_video=False)
    assert (gate.open, gate.audio, gate.video, gate.keyframe_needed) == (False, True, False, False)
    gate.update(paused=True, receive_audio=True, receive_video=True)
    assert (gate.open, gate.audio, gate.video) == (False, False, False)
    gate.update(paused=False, receive_audio=True, receive_video=True)
    assert (gate.open, gate.keyframe_needed) == (True, True)  # video came back: at a keyframe


def test_a_paused_player_gets_configuration_and_data_but_no_frames() -> None:
    gate = PlaybackGate()
    gate.update(paused=True, receive_audio=True, receive_video=True)
    sink, transport = sink_with(gate)
    for message in (KEYFRAME, AUDIO, AVC_CONFIG, METADATA):
        assert sink.send(message)
    assert payloads(transport) == [
        AVC_CONFIG.content.encode_payload(),
        METADATA.content.encode_payload(),
    ]


def test_video_resumes_at_a_keyframe_and_audio_at_once() -> None:
    gate = PlaybackGate()
    sink, transport = sink_with(gate)
    gate.update(paused=False, receive_audio=True, receive_video=False)
    sink.send_batch(PreparedBatch([KEYFRAME, AUDIO]))
    gate.update(paused=False, receive_audio=True, receive_video=True)
    sink.send_batch(PreparedBatch([INTER, AUDIO, KEYFRAME, INTER]))
    assert payloads(transport) == [
        AUDIO.content.encode_payload(),  # video off: only audio
        AUDIO.content.encode_payload(),  # back on: the inter frame waits for a keyframe
        KEYFRAME.content.encode_payload(),
        INTER.content.encode_payload(),
    ]
    assert not gate.keyframe_needed
    sink.send_batch(PreparedBatch([INTER, AUDIO]))
    assert len(transport.sent) == 5  # open again: the whole batch in one write
