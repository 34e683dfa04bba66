"""File players are counted in /stats and /metrics."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import poll_until
from tests.vod.helpers import connected


def get(relay: RelayServer, path: str) -> str:
    address = relay.http_address
    assert address is not None
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}{path}", timeout=10) as r:
        return str(r.read().decode())


def vod_players(relay: RelayServer) -> int:
    return int(json.loads(get(relay, "/stats"))["vod_players"])


def test_file_players_are_counted_while_they_play(vod_dir: Path) -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, vod_dir=str(vod_dir))).start()
    try:
        assert vod_players(relay) == 0
        log = EventLog()
        player = connected(relay, log)
        player.session.tell(ClientSessionActor.request_playback, "test")
        assert log.wait(client.PlayResponseReceived).was_accepted
        assert vod_players(relay) == 1
        assert "rtmp_actors_vod_players 1\n" in get(relay, "/metrics")
        player.close()
        poll_until(lambda: vod_players(relay) == 0, TIMEOUT, "the file player to stop")
    finally:
        relay.stop()
