"""Our own client plays files on demand: play, seek, pause, resume, the end, bad names."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from tests.actors.harness import EventLog
from tests.vod.helpers import Media, connected, file_media, media_from, next_media

QUIET = 0.6  # seconds without media that show a paused player gets none


def drain_media(log: EventLog, quiet: float) -> list[Media]:
    """Media already on its way: everything until none comes for ``quiet`` seconds."""
    got: list[Media] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            event = log.queue.get(timeout=quiet)
        except queue.Empty:
            return got
        log.seen.append(event)
        if isinstance(event, client.AudioVideoDataReceived):
            got.append((event.data_type, event.timestamp, event.data))
    pytest.fail("media kept coming while paused")


def media_until_paused(log: EventLog) -> list[Media]:
    """Media that arrives before the Pause.Notify (written before the pause took effect)."""
    got: list[Media] = []
    while True:
        event = log.wait(client.SessionEvent)  # type: ignore[type-abstract]
        if isinstance(event, client.AudioVideoDataReceived):
            got.append((event.data_type, event.timestamp, event.data))
        elif isinstance(event, client.PauseStatusReceived):
            assert event.paused
            return got


def test_play_seek_pause_resume_and_the_end(vod_relay: RelayServer, vod_dir: Path) -> None:
    path = vod_dir / "test.flv"
    log = EventLog()
    player = connected(vod_relay, log)
    player.session.tell(ClientSessionActor.request_playback, "test")  # .flv is optional
    assert log.wait(client.PlayResponseReceived).was_accepted
    duration = log.wait(client.StreamMetaDataReceived).meta_data.duration
    assert duration is not None
    assert 5.9 <= duration <= 6.1
    whole = file_media(path)
    assert next_media(log, 20) == whole[:20]  # the first second goes at once (the lead)

    player.session.tell(ClientSessionActor.seek_playback, "test", 3000)
    assert log.wait(client.SeekStatusReceived).succeeded
    after_seek = media_from(path, 3000)
    assert after_seek[2][1] <= 3000 < after_seek[2][1] + 1000  # the keyframe before 3 s
    received = next_media(log, 30)
    assert received == after_seek[:30]

    player.session.tell(ClientSessionActor.pause_playback, "test", True)
    received += media_until_paused(log)
    received += drain_media(log, QUIET)  # what was on its way; then nothing
    assert received == after_seek[: len(received)]
    player.session.tell(ClientSessionActor.pause_playback, "test", False)
    assert not log.wait(client.PauseStatusReceived).paused
    # On from where it stopped: the next tag of the file, not the start again.
    assert next_media(log, 5) == after_seek[len(received) : len(received) + 5]

    player.session.tell(ClientSessionActor.seek_playback, "test", 5500)
    assert log.wait(client.SeekStatusReceived).succeeded
    tail = media_from(path, 5500)
    assert next_media(log, len(tail)) == tail
    assert log.wait(client.StreamEnded).reason == "eof"  # StreamEOF, Play.Complete, Play.Stop
    assert tail[-1] == whole[-1]


def test_a_seek_back_after_the_end_plays_again(vod_relay: RelayServer, vod_dir: Path) -> None:
    path = vod_dir / "test.flv"
    log = EventLog()
    player = connected(vod_relay, log)
    player.session.tell(ClientSessionActor.request_playback, "test.flv", start=5100)
    assert log.wait(client.PlayResponseReceived).was_accepted
    tail = media_from(path, 5100)
    assert next_media(log, len(tail)) == tail
    assert log.wait(client.StreamEnded).reason == "eof"
    player.session.tell(ClientSessionActor.seek_playback, "test.flv", 1000)
    assert log.wait(client.SeekStatusReceived).succeeded
    assert next_media(log, 10) == media_from(path, 1000)[:10]


ESCAPES = [
    "../vod/test.flv",
    "../../etc/passwd",
    "/etc/passwd",
    "%2e%2e/test.flv",
    "..%2ftest.flv",
    "sub/../test.flv",
    "test.flv\x00.txt",
    "..\\test.flv",
    ".test.flv",
    "outside.flv",  # a symlink out of the folder
    "missing.flv",
    "test.mp4",
]


def test_names_that_leave_the_folder_are_not_found(
    vod_relay: RelayServer, vod_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.flv"
    target.write_bytes((vod_dir / "test.flv").read_bytes()[:4096])
    link = vod_dir / "outside.flv"
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    log = EventLog()
    player = connected(vod_relay, log)
    for name in ESCAPES:
        player.session.tell(ClientSessionActor.request_playback, name)
        answer = log.wait(client.PlayResponseReceived)
        assert answer.stream_key == name
        assert not answer.was_accepted
        assert answer.code == NetStreamCode.PLAY_STREAM_NOT_FOUND, name
    # The connection is still there, and plays what it may.
    player.session.tell(ClientSessionActor.request_playback, "test.flv")
    assert log.wait(client.PlayResponseReceived).was_accepted
    assert next_media(log, 3) == file_media(vod_dir / "test.flv")[:3]


def test_plays_of_files_pass_the_access_rules(vod_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "auth.txt"
    rules.write_text("play vod/test.flv\n")
    relay = RelayServer(RelayConfig(port=0, vod_dir=str(vod_dir), auth_file=str(rules))).start()
    try:
        log = EventLog()
        player = connected(relay, log)
        player.session.tell(ClientSessionActor.request_playback, "other.flv")
        refused = log.wait(client.PlayResponseReceived)
        assert not refused.was_accepted
        assert refused.code == NetStreamCode.PLAY_FAILED  # refused before the file is looked up
        player.session.tell(ClientSessionActor.request_playback, "test.flv")
        assert log.wait(client.PlayResponseReceived).was_accepted
    finally:
        relay.stop()


def test_a_file_that_is_not_flv_fails_to_play(vod_relay: RelayServer, vod_dir: Path) -> None:
    (vod_dir / "broken.flv").write_bytes(b"ID3\x04" + bytes(100))
    log = EventLog()
    player = connected(vod_relay, log)
    player.session.tell(ClientSessionActor.request_playback, "broken.flv")
    answer = log.wait(client.PlayResponseReceived)
    assert not answer.was_accepted
    assert answer.code == NetStreamCode.PLAY_FAILED
