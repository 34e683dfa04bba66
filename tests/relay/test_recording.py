"""Recording published streams to FLV: safe names, the file format, flushing, the relay."""

from __future__ import annotations

import datetime as dt
import json
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvHeader, FlvReader, FlvTag, TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.recording import (
    MAX_NAME_LENGTH,
    FlvRecording,
    StreamRecorder,
    head_metadata,
    recording_path,
    safe_name,
)
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import debian_tool, poll_until, run_ffmpeg

AVC_CONFIG = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"
AAC_CONFIG = b"\xaf\x00\x12\x10"
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)

Media = tuple[MediaType, int, bytes]


def keyframe(i: int) -> bytes:
    return b"\x17\x01\x00\x00\x00" + i.to_bytes(4) * 100


def inter(i: int) -> bytes:
    return b"\x27\x01\x00\x00\x00" + i.to_bytes(4) * 50


def audio(i: int) -> bytes:
    return b"\xaf\x01" + i.to_bytes(2) * 20


def stream_of(frames: int) -> list[Media]:
    """Configuration, then 40 ms video frames (a keyframe every 25) and audio in between."""
    sent: list[Media] = [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.AUDIO, 0, AAC_CONFIG)]
    for i in range(frames):
        sent.append((MediaType.VIDEO, i * 40, keyframe(i) if i % 25 == 0 else inter(i)))
        sent.append((MediaType.AUDIO, i * 40 + 1, audio(i)))
    return sent


def media_tags(tags: list[FlvTag]) -> list[Media]:
    kinds = {TagType.AUDIO: MediaType.AUDIO, TagType.VIDEO: MediaType.VIDEO}
    return [(kinds[TagType(t.tag_type)], t.timestamp, t.data) for t in tags if t.tag_type in kinds]


def metadata_tags(tags: list[FlvTag]) -> list[dict[str, Any]]:
    found = []
    for tag in tags:
        if tag.tag_type == TagType.SCRIPT_DATA:
            name, value = decode_values(tag.data)
            assert name == "onMetaData"
            found.append(dict(value))
    return found


UNFINISHED = {"duration": 0.0, "filesize": 0.0}
"""The placeholders of a recording's first onMetaData until the recording finishes."""


def finished(metadata: dict[str, Any], path: Path, sent: list[Media]) -> dict[str, Any]:
    """The first onMetaData of a finished recording of ``sent``."""
    timestamps = [timestamp for _, timestamp, _ in sent]
    duration = (max(timestamps) - timestamps[0]) / 1000
    return {**metadata, "duration": duration, "filesize": float(path.stat().st_size)}


def read_live(path: Path) -> tuple[FlvHeader, list[FlvTag]]:
    """What a reader following the file sees now (a cut-off last tag is left out)."""
    with open(path, "rb") as stream:
        reader = FlvReader(stream, strict=False)
        return reader.header, list(reader)


# --- Safe names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("key", "key"),
        ("Cam-1_b.v2", "Cam-1_b.v2"),
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ("../../etc/passwd", "____etc_passwd"),
        ("..", "_"),
        (".", "_"),
        (".hidden", "_hidden"),
        ("", "_"),
        ("café ☕", "caf___"),
        ("$(rm -rf ~);`x`|y", "__rm_-rf_____x__y"),
        ("nul\x00byte", "nul_byte"),
    ],
)
def test_safe_name_keeps_only_harmless_characters(given: str, expected: str) -> None:
    name = safe_name(given)
    assert name == expected
    assert ".." not in name
    assert not name.startswith(".")


def test_safe_name_is_bounded() -> None:
    assert safe_name("k" * 1000) == "k" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("app", "key"),
    [("live", "../../etc/passwd"), ("..", ".."), ("../..", "a/b"), ("/abs", "/etc/x")],
)
def test_recording_paths_stay_inside_the_folder(tmp_path: Path, app: str, key: str) -> None:
    root = tmp_path / "rec"
    path = recording_path(root, app, key, WHEN)
    assert path.resolve().is_relative_to(root.resolve())
    assert path.parent.parent == root.resolve()
    assert path.name.endswith("-20240506T070809Z.flv")


def test_the_query_string_is_not_part_of_the_name(tmp_path: Path) -> None:
    path = recording_path(tmp_path, "live", "cam?token=s3cret", WHEN)
    assert path.name == "cam-20240506T070809Z.flv"
    assert path.parent.name == "live"


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "rec", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "live").symlink_to(outside)
    with pytest.raises(ValueError, match="not inside"):
        recording_path(root, "live", "key", WHEN)


# --- One recording ------------------------------------------------------------------------------


def test_metadata_goes_first_even_when_media_came_before_it(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_media(MediaType.AUDIO, 0, AAC_CONFIG)
    recording.write_media(MediaType.AUDIO, 23, audio(1))
    recording.write_metadata({"audiocodecid": 10.0})
    recording.write_media(MediaType.AUDIO, 46, audio(2))
    recording.close()
    tags = list(read_flv_file(recording.path))
    assert tags[0].tag_type == TagType.SCRIPT_DATA
    assert metadata_tags(tags) == [
        {"audiocodecid": 10.0, "duration": 0.046, "filesize": float(recording.path.stat().st_size)}
    ]
    assert media_tags(tags) == [
        (MediaType.AUDIO, 0, AAC_CONFIG),
        (MediaType.AUDIO, 23, audio(1)),
        (MediaType.AUDIO, 46, audio(2)),
    ]
    # Audio only: the header says so.
    with open(recording.path, "rb") as stream:
        header = FlvReader(stream).header
    assert (header.has_audio, header.has_video) == (True, False)


def test_media_is_not_held_forever_without_metadata(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    sent = stream_of(40)  # 1.6 s: more than is held back
    for message in sent:
        recording.write_media(*message)
    recording.flush()
    header, tags = read_live(recording.path)
    assert media_tags(tags) == sent
    assert metadata_tags(tags) == [UNFINISHED]  # the recorder's own, before the media
    assert tags[0].tag_type == TagType.SCRIPT_DATA
    assert (header.has_audio, header.has_video) == (True, True)
    recording.close()


def test_tags_reach_the_disk_every_second_of_media(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv", flush_interval=1.0, clock=lambda: 0.0)
    recording.write_metadata({"width": 320.0})
    sent = stream_of(25)  # 0 .. 961 ms
    for message in sent:
        recording.write_media(*message)
    _, tags = read_live(recording.path)
    assert tags == []  # all still buffered
    recording.write_media(MediaType.VIDEO, 1000, inter(25))
    header, tags = read_live(recording.path)
    assert metadata_tags(tags) == [{"width": 320.0, **UNFINISHED}]
    assert media_tags(tags) == [*sent, (MediaType.VIDEO, 1000, inter(25))]
    assert (header.has_audio, header.has_video) == (True, True)
    recording.close()


def test_tags_reach_the_disk_every_second_of_wall_time(tmp_path: Path) -> None:
    now = [0.0]
    recording = FlvRecording(tmp_path / "a.flv", flush_interval=1.0, clock=lambda: now[0])
    recording.write_metadata({"width": 320.0})
    recording.write_media(MediaType.VIDEO, 0, keyframe(0))
    assert read_live(recording.path)[1] == []
    now[0] = 1.2  # a publisher sending slower than real time
    recording.write_media(MediaType.VIDEO, 40, inter(1))
    assert media_tags(read_live(recording.path)[1]) == [
        (MediaType.VIDEO, 0, keyframe(0)),
        (MediaType.VIDEO, 40, inter(1)),
    ]
    recording.close()


def test_a_recording_without_media_leaves_no_file(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_metadata({"width": 1.0})
    recording.close()
    assert not recording.path.exists()


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.flv").write_bytes(b"precious")
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_media(MediaType.VIDEO, 0, keyframe(0))
    recording.close()
    assert recording.path == tmp_path / "a-1.flv"
    assert (tmp_path / "a.flv").read_bytes() == b"precious"
    assert media_tags(list(read_flv_file(recording.path))) == [(MediaType.VIDEO, 0, keyframe(0))]


# --- The recorder actor ---------------------------------------------------------------------------


def test_the_recorder_keeps_recording_other_streams_after_an_error(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    (root / "broken").write_text("a file where the app's folder should be")
    ref = StreamRecorder.start(root, now=lambda: WHEN)
    recorder: ActorHandle[StreamRecorder] = ActorHandle(ref)
    for app in ("broken", "live"):
        recorder.tell(StreamRecorder.stream_published, app, "key")
        recorder.tell(StreamRecorder.stream_media, app, "key", MediaType.VIDEO, 0, keyframe(0))
    assert recorder.ask(StreamRecorder.recordings).get(timeout=TIMEOUT) == {
        ("live", "key"): root.resolve() / "live" / "key-20240506T070809Z.flv"
    }
    recorder.tell(StreamRecorder.stream_unpublished, "live", "key")
    assert recorder.ask(StreamRecorder.recordings).get(timeout=TIMEOUT) == {}
    assert media_tags(list(read_flv_file(root / "live" / "key-20240506T070809Z.flv"))) == [
        (MediaType.VIDEO, 0, keyframe(0))
    ]


def test_the_recorder_records_at_most_max_recordings_at_once(tmp_path: Path) -> None:
    recorder: ActorHandle[StreamRecorder] = ActorHandle(
        StreamRecorder.start(tmp_path, max_recordings=2)
    )
    for key in ("a", "b", "c"):
        recorder.tell(StreamRecorder.stream_published, "live", key)
    assert sorted(recorder.ask(StreamRecorder.recordings).get(timeout=TIMEOUT)) == [
        ("live", "a"),
        ("live", "b"),
    ]
    recorder.tell(StreamRecorder.stream_unpublished, "live", "a")
    recorder.tell(StreamRecorder.stream_published, "live", "c")
    assert sorted(recorder.ask(StreamRecorder.recordings).get(timeout=TIMEOUT)) == [
        ("live", "b"),
        ("live", "c"),
    ]


# --- Through the relay --------------------------------------------------------------------------


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def relay(record_dir: Path) -> Iterator[RelayServer]:
    server = RelayServer(RelayConfig(port=0, record_dir=str(record_dir))).start()
    yield server
    server.stop()


def recorder_of(_relay: RelayServer) -> ActorHandle[StreamRecorder]:
    (ref,) = pykka.ActorRegistry.get_by_class(StreamRecorder)
    return ActorHandle(ref)


def connected(relay: RelayServer, log: EventLog) -> RtmpClient:
    host, port = relay.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/live/x", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def publisher(relay: RelayServer, key: str) -> RtmpClient:
    log = EventLog()
    rtmp_client = connected(relay, log)
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    assert log.wait(client.PublishResponseReceived).was_accepted
    return rtmp_client


def player(relay: RelayServer, key: str) -> EventLog:
    log = EventLog()
    connected(relay, log).session.tell(ClientSessionActor.request_playback, key)
    assert log.wait(client.PlayResponseReceived).was_accepted
    return log


def received(log: EventLog, count: int) -> list[Media]:
    return [
        (e.data_type, e.timestamp, e.data)
        for e in (log.wait(client.AudioVideoDataReceived) for _ in range(count))
    ]


def publish_and_sync(
    relay: RelayServer, key: str, sent: list[Media], metadata: dict[str, Any]
) -> tuple[RtmpClient, EventLog, Path]:
    """Publish ``sent``; return once the recorder has handled all of it (a player shows when)."""
    watcher = player(relay, key)
    source = publisher(relay, key)
    source.session.tell(ClientSessionActor.publish_metadata, key, metadata)
    for message in sent:
        source.session.tell(ClientSessionActor.publish_av_data, key, *message)
    assert received(watcher, len(sent)) == sent
    # The stream told the recorder before the player: asking it now, it has written all.
    recordings = recorder_of(relay).ask(StreamRecorder.recordings).get(timeout=TIMEOUT)
    return source, watcher, recordings[("live", key.partition("?")[0])]  # query: per client


def test_a_published_stream_is_recorded_tag_by_tag(relay: RelayServer, record_dir: Path) -> None:
    sent = stream_of(60)  # 2.4 s of media
    metadata = {"width": 1280.0, "height": 720.0, "encoder": "test"}
    source, watcher, path = publish_and_sync(relay, "key", sent, metadata)
    assert path.parent == (record_dir / "live").resolve()
    assert path.name.startswith("key-")
    assert path.suffix == ".flv"

    # Readable while still publishing: at least everything up to the last full second is there.
    _, tags = read_live(path)
    assert metadata_tags(tags) == [{**metadata, **UNFINISHED}]
    on_disk = media_tags(tags)
    assert on_disk == sent[: len(on_disk)]
    assert len(on_disk) >= sum(1 for _, timestamp, _ in sent if timestamp <= 2000)

    source.session.tell(ClientSessionActor.stop_publish, "key")
    watcher.wait(client.StreamEnded)  # the stream told the recorder first
    assert recorder_of(relay).ask(StreamRecorder.recordings).get(timeout=TIMEOUT) == {}
    with open(path, "rb") as stream:
        reader = FlvReader(stream)  # strict: a complete, valid file
        assert (reader.header.has_audio, reader.header.has_video) == (True, True)
        tags = list(reader)
    assert tags[0].tag_type == TagType.SCRIPT_DATA
    assert metadata_tags(tags) == [finished(metadata, path, sent)]
    assert media_tags(tags) == sent


def test_each_publication_gets_its_own_file(relay: RelayServer, record_dir: Path) -> None:
    first_sent, second_sent = stream_of(3), stream_of(5)
    source, watcher, first = publish_and_sync(relay, "key", first_sent, {"n": 1.0})
    source.session.tell(ClientSessionActor.stop_publish, "key")
    watcher.wait(client.StreamEnded)
    again = publisher(relay, "key")
    again.session.tell(ClientSessionActor.publish_metadata, "key", {"n": 2.0})
    for message in second_sent:
        again.session.tell(ClientSessionActor.publish_av_data, "key", *message)
    assert received(watcher, len(second_sent)) == second_sent
    second = recorder_of(relay).ask(StreamRecorder.recordings).get(timeout=TIMEOUT)[("live", "key")]
    assert second != first
    relay.stop()
    assert sorted(record_dir.glob("live/*.flv")) == sorted([first, second])
    assert media_tags(list(read_flv_file(first))) == first_sent
    assert media_tags(list(read_flv_file(second))) == second_sent
    assert metadata_tags(list(read_flv_file(second))) == [finished({"n": 2.0}, second, second_sent)]


def test_stopping_the_relay_finishes_the_files(relay: RelayServer, record_dir: Path) -> None:
    sent = stream_of(10)  # 0.4 s: nothing flushed yet
    _source, _watcher, path = publish_and_sync(relay, "key", sent, {"width": 2.0})
    assert read_live(path)[1] == []
    relay.stop()  # what SIGTERM does in `rtmp-actors serve`
    with open(path, "rb") as stream:
        reader = FlvReader(stream)
        assert (reader.header.has_audio, reader.header.has_video) == (True, True)
        tags = list(reader)
    assert media_tags(tags) == sent
    assert metadata_tags(tags) == [finished({"width": 2.0}, path, sent)]
    assert not pykka.ActorRegistry.get_by_class(StreamRecorder)


@pytest.mark.parametrize("key", ["../../escaped", "a/b", "..", "x?token=../../y"])
def test_hostile_stream_keys_are_recorded_inside_the_folder(
    tmp_path: Path, relay: RelayServer, record_dir: Path, key: str
) -> None:
    sent = stream_of(2)
    _source, _watcher, path = publish_and_sync(relay, key, sent, {"width": 3.0})
    relay.stop()
    assert path.resolve().is_relative_to(record_dir.resolve())
    assert path.parent == (record_dir / "live").resolve()
    assert ".." not in path.name
    assert media_tags(list(read_flv_file(path))) == sent
    # Nothing anywhere else: the test's folder holds only the recordings folder.
    assert [p.name for p in tmp_path.iterdir()] == ["recordings"]
    assert list(record_dir.rglob("*.flv")) == [path]


# --- Finishing a recording: duration and filesize ---------------------------------------------


def test_the_head_metadata_ends_with_the_placeholders() -> None:
    body, at = head_metadata({"width": 320.0, "duration": 5.0, "encoder": "x"})
    assert body == (
        b"\x02\x00\x0aonMetaData"
        + b"\x08\x00\x00\x00\x04"
        + b"\x00\x05width\x00\x40\x74\x00\x00\x00\x00\x00\x00"
        + b"\x00\x07encoder\x02\x00\x01x"
        + b"\x00\x08duration\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        + b"\x00\x08filesize\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        + b"\x00\x00\x09"
    )
    assert body[at:].startswith(b"\x00\x08duration\x00")
    assert body[at + 11 : at + 19] == bytes(8)
    assert body[at + 19 : at + 30] == b"\x00\x08filesize\x00"


def test_closing_fills_in_duration_and_filesize_in_place(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_metadata({"width": 320.0, "filesize": 0.0})
    sent = [(MediaType.VIDEO, 1000 + 40 * i, keyframe(i)) for i in range(51)]  # 2 s from 1 s
    for message in sent:
        recording.write_media(*message)
    recording.close()
    data = recording.path.read_bytes()
    tags = list(read_flv_file(recording.path))
    body, at = head_metadata({"width": 320.0})
    assert tags[0] == FlvTag(TagType.SCRIPT_DATA, 0, tags[0].data)
    assert tags[0].data == (
        body[: at + 11]
        + struct.pack(">d", 2.0)
        + body[at + 19 : at + 30]
        # The file size, as a double, then the end of the ECMA array.
        + struct.pack(">d", float(len(data)))
        + b"\x00\x00\x09"
    )
    assert metadata_tags(tags) == [{"width": 320.0, "duration": 2.0, "filesize": float(len(data))}]
    assert media_tags(tags) == sent
    assert recording.duration == 2.0


def test_later_metadata_is_written_as_sent(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_metadata({"width": 320.0})
    recording.write_media(MediaType.VIDEO, 0, keyframe(0))
    recording.write_metadata({"width": 640.0, "duration": 9.0})
    recording.write_media(MediaType.VIDEO, 500, keyframe(1))
    recording.close()
    tags = list(read_flv_file(recording.path))
    size = float(recording.path.stat().st_size)
    assert metadata_tags(tags) == [
        {"width": 320.0, "duration": 0.5, "filesize": size},
        {"width": 640.0, "duration": 9.0},
    ]
    assert [t.timestamp for t in tags if t.tag_type == TagType.SCRIPT_DATA] == [0, 0]


def test_a_recording_without_metadata_gets_its_own(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_media(MediaType.AUDIO, 100, AAC_CONFIG)
    recording.write_media(MediaType.AUDIO, 300, audio(1))
    recording.close()  # still held back: the recorder's metadata goes first all the same
    tags = list(read_flv_file(recording.path))
    assert tags[0].tag_type == TagType.SCRIPT_DATA
    size = float(recording.path.stat().st_size)
    assert metadata_tags(tags) == [{"duration": 0.2, "filesize": size}]
    assert media_tags(tags) == [
        (MediaType.AUDIO, 100, AAC_CONFIG),
        (MediaType.AUDIO, 300, audio(1)),
    ]


def test_an_abandoned_recording_stays_a_valid_flv(tmp_path: Path) -> None:
    recording = FlvRecording(tmp_path / "a.flv")
    recording.write_metadata({"width": 320.0})
    sent = stream_of(10)
    for message in sent:
        recording.write_media(*message)
    recording.flush()
    recording.abandon()  # after a write error: nothing more is written
    tags = list(read_flv_file(recording.path))  # strict
    assert metadata_tags(tags) == [{"width": 320.0, **UNFINISHED}]
    assert media_tags(tags) == sent


def test_a_recording_of_ffmpeg_has_its_duration_for_ffprobe(
    relay: RelayServer, record_dir: Path, h264_aac_flv: Path
) -> None:
    ffprobe = debian_tool("ffprobe")
    host, port = relay.address
    run_ffmpeg("-i", str(h264_aac_flv), "-c", "copy", "-f", "flv", f"rtmp://{host}:{port}/live/cam")
    recorder = recorder_of(relay)

    def finished() -> bool:
        started = list(record_dir.glob("live/cam-*.flv"))
        return bool(started) and not recorder.ask(StreamRecorder.recordings).get(timeout=TIMEOUT)

    poll_until(finished, TIMEOUT, "the recording to finish")  # FFmpeg's unpublish, elsewhere
    (path,) = record_dir.glob("live/cam-*.flv")

    def probe(flv: Path) -> tuple[float, str]:
        command = [ffprobe, "-v", "warning", "-show_format", "-of", "json", str(flv)]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        assert result.returncode == 0, result.stderr
        return float(json.loads(result.stdout)["format"]["duration"]), result.stderr

    duration, warnings = probe(path)
    assert "Estimating duration" not in warnings
    assert duration == pytest.approx(probe(h264_aac_flv)[0], abs=0.1)
    assert duration == pytest.approx(2.0, abs=0.15)
    with open(path, "rb") as stream:
        reader = FlvReader(stream)  # strict
        head = next(reader)
        assert head.tag_type == TagType.SCRIPT_DATA
        name, metadata = decode_values(head.data)
        media = sum(1 for tag in reader if tag.tag_type in (TagType.AUDIO, TagType.VIDEO))
    assert name == "onMetaData"
    assert metadata["filesize"] == path.stat().st_size
    assert metadata["duration"] == pytest.approx(duration, abs=0.05)
    assert metadata["encoder"].startswith("Lavf")  # the publisher's fields are kept
    assert media > 50
