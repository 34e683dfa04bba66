"""``rtmp-actors serve --vod DIR`` and the ``vod_*`` settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.session import client_events as client
from tests.actors.harness import EventLog
from tests.tools.test_serve import REPO, TIMEOUT, serve
from tests.vod.helpers import file_media, next_media


def test_serve_plays_the_files_of_its_vod_folder(vod_dir: Path) -> None:
    with serve("--port", "0", "--vod", str(vod_dir), "--vod-app", "films") as relay:
        log = EventLog()
        player = RtmpClient.connect(
            f"rtmp://127.0.0.1:{relay.port}/films", event_receiver_factory=log.receiver_factory()
        )
        assert log.wait(client.ConnectionResponseReceived).was_accepted
        player.session.tell(ClientSessionActor.request_playback, "test")
        assert log.wait(client.PlayResponseReceived).was_accepted
        assert log.wait(client.StreamMetaDataReceived).meta_data.duration
        assert next_media(log, 10) == file_media(vod_dir / "test.flv")[:10]
        player.close()
        assert relay.terminate() < 5.0


def test_serve_refuses_a_vod_folder_that_is_not_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtmp_actors",
            "serve",
            "--port",
            "0",
            "--vod",
            str(tmp_path / "no"),
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_vod_settings_come_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text('[server]\nvod_dir = "/srv/films"\nvod_app = "films"\nvod_lead = 0.5\n')
    config = RelayConfig.from_toml(path)
    assert (config.vod_dir, config.vod_app, config.vod_lead) == ("/srv/films", "films", 0.5)
