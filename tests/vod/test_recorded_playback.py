"""A finished recording plays back on demand, with its duration and with seeking."""

from __future__ import annotations

from pathlib import Path

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from tests.actors.harness import EventLog
from tests.vod.helpers import connected, file_media, media_from, next_media


def record(vod_dir: Path, folder: Path) -> Path:
    """Publish ``test.flv``'s media to a recording relay; return the finished recording."""
    relay = RelayServer(RelayConfig(port=0, record_dir=str(folder))).start()
    try:
        watcher_log, publisher_log = EventLog(), EventLog()
        connected(relay, watcher_log, "live").session.tell(
            ClientSessionActor.request_playback, "film"
        )
        assert watcher_log.wait(client.PlayResponseReceived).was_accepted
        source = connected(relay, publisher_log, "live")
        source.session.tell(ClientSessionActor.request_publish, "film")
        assert publisher_log.wait(client.PublishResponseReceived).was_accepted
        sent = file_media(vod_dir / "test.flv")
        for message in sent:
            source.session.tell(ClientSessionActor.publish_av_data, "film", *message)
        assert next_media(watcher_log, len(sent)) == sent  # the recorder had it first
    finally:
        relay.stop()  # finishes the recording: duration and filesize filled in
    (path,) = folder.glob("live/*.flv")  # <folder>/<app>/<key>-<time>.flv
    return path


def test_a_recording_plays_back_with_its_duration_and_seeks(vod_dir: Path, tmp_path: Path) -> None:
    recording = record(vod_dir, tmp_path)
    relay = RelayServer(RelayConfig(port=0, vod_dir=str(tmp_path))).start()
    try:
        log = EventLog()
        name = f"live/{recording.name}"
        player = connected(relay, log)
        player.session.tell(ClientSessionActor.request_playback, name)
        assert log.wait(client.PlayResponseReceived).was_accepted
        metadata = log.wait(client.StreamMetaDataReceived).meta_data
        assert metadata.duration is not None
        assert 5.8 <= metadata.duration <= 6.1
        assert metadata.file_size == recording.stat().st_size
        player.session.tell(ClientSessionActor.seek_playback, name, 3000)
        assert log.wait(client.SeekStatusReceived).succeeded
        # Media already on its way before the seek may come first: skip to the seek point.
        after_seek = media_from(recording, 3000)
        first = after_seek[0]
        while next_media(log, 1)[0] != first:
            pass
        assert next_media(log, 20) == after_seek[1:21]
    finally:
        relay.stop()
