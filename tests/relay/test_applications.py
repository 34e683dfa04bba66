"""Per-application settings: unknown apps refused, live off, recording, IP rules, push targets."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.protocol.commands import NetConnectionCode
from rtmp_actors.relay.applications import Application, Applications
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hooks import HookSettings
from rtmp_actors.relay.ip_rules import IpRules
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import ffmpeg_exe, poll_until, run_ffmpeg
from tests.relay.hook_server import HookServer, hook_server
from tests.relay.test_relay import AVC_CONFIG, keyframe
from tests.vod.helpers import next_media

__all__ = ["hook_server"]  # the fixture, used by name

# --- Settings -------------------------------------------------------------------------------


def test_an_application_table_is_read_and_checked() -> None:
    app = Application.from_table(
        "studio",
        {
            "live": False,
            "record": True,
            "record_dir": "/rec",
            "push": ["rtmp://cdn/app"],
            "ip_rules": ["allow publish 10.0.0.0/8", "deny publish all"],
        },
    )
    assert app == Application(
        "studio",
        live=False,
        record=True,
        record_dir="/rec",
        push=("rtmp://cdn/app",),
        ip_rules=IpRules(("allow publish 10.0.0.0/8", "deny publish all")),
    )


@pytest.mark.parametrize(
    ("name", "table", "message"),
    [
        ("live", {"colour": "red"}, "has no setting 'colour'"),
        ("live", {"live": "yes"}, "live should be true or false"),
        ("live", {"hls": 1}, "hls should be true or false"),
        ("live", {"push": "rtmp://x/app"}, "push should be a list of URLs"),
        ("live", {"push": ["http://x/app"]}, "rtmp"),
        ("live", {"ip_rules": ["permit everything"]}, "rule"),
        ("../x", {}, "application name"),
        ("a" * 65, {}, "application name"),
        ("live", {"record": False, "record_dir": "/rec"}, "record = false"),
    ],
)
def test_bad_application_tables_are_refused(
    name: str, table: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match="(?i)" + message.replace("(", r"\(")):
        Application.from_table(name, table)


def test_without_applications_every_app_is_served() -> None:
    apps = Applications()
    assert apps.knows("anything")
    assert apps.live_allowed("anything")


def test_with_applications_only_they_are_served() -> None:
    apps = Applications.of([Application("live"), Application("files", live=False)], ["vod"])
    assert (apps.knows("live"), apps.knows("vod"), apps.knows("other")) == (True, True, False)
    assert (apps.live_allowed("live"), apps.live_allowed("files")) == (True, False)
    with pytest.raises(ValueError, match="twice"):
        Applications.of([Application("live"), Application("live")])


def test_an_application_with_its_own_push_urls_takes_only_those() -> None:
    apps = Applications.of(
        [Application("studio", push=("rtmp://cdn/in#cam*",)), Application("live")]
    )
    relay_wide, studio = apps.link_targets(["rtmp://backup/all"], "push")
    assert relay_wide.matches("live", "x")
    assert not relay_wide.matches("studio", "cam1")  # it has its own
    assert studio.matches("studio", "cam1")
    assert not studio.matches("studio", "other")
    assert not studio.matches("live", "cam1")


def test_recording_folders_by_application() -> None:
    apps = Applications.of(
        [Application("quiet", record=False), Application("kept", record_dir="/elsewhere")]
    )
    assert apps.record_dirs("/rec") == {"quiet": None, "kept": "/elsewhere"}
    with pytest.raises(ValueError, match="record_dir"):
        Applications.of([Application("x", record=True)]).record_dirs(None)


def test_applications_come_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        "[server]\nport = 1936\n\n[applications.live]\n\n"
        '[applications.studio]\nlive = true\npush = ["rtmp://cdn/in"]\n'
        '[applications.studio.ip_rules]\nrules = ["deny play all"]\n'
    )
    config = RelayConfig.from_toml(path)
    assert set(config.applications.apps) == {"live", "studio"}
    assert config.applications.apps["studio"].ip_rules == IpRules(("deny play all",))
    path.write_text("[applications]\nlive = 1\n")
    with pytest.raises(ValueError, match=r"\[applications.NAME\]"):
        RelayConfig.from_toml(path)


# --- A relay with applications ----------------------------------------------------------------


def start(tmp_path: Path, *apps: Application, **config: object) -> RelayServer:
    settings = RelayConfig(port=0, applications=Applications.of(apps), **config)  # type: ignore[arg-type]
    return RelayServer(settings).start()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayServer]:
    server = start(
        tmp_path,
        Application("live"),
        Application("quiet", record=False),
        Application("private", ip_rules=IpRules(("deny publish all",))),
        Application("files", live=False),
        record_dir=str(tmp_path / "rec"),
    )
    yield server
    server.stop()


def connect(
    relay: RelayServer, app: str, log: EventLog
) -> tuple[RtmpClient, client.ConnectionResponseReceived]:
    host, port = relay.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/{app}", event_receiver_factory=log.receiver_factory()
    )
    return rtmp_client, log.wait(client.ConnectionResponseReceived)


def publish(
    relay: RelayServer, app: str, key: str = "cam"
) -> tuple[RtmpClient, client.PublishResponseReceived]:
    log = EventLog()
    rtmp_client, answer = connect(relay, app, log)
    assert answer.was_accepted
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    return rtmp_client, log.wait(client.PublishResponseReceived)


def test_an_unknown_application_is_refused_at_connect(relay: RelayServer) -> None:
    _, answer = connect(relay, "nope", EventLog())
    assert not answer.was_accepted
    assert answer.code == NetConnectionCode.CONNECT_REJECTED
    assert "unknown application 'nope'" in answer.response_text
    _, answer = connect(relay, "live", EventLog())
    assert answer.was_accepted


def test_ffmpeg_cannot_publish_to_an_unknown_application(
    relay: RelayServer, h264_aac_flv: Path
) -> None:
    host, port = relay.address
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(h264_aac_flv),
         "-c", "copy", "-f", "flv", f"rtmp://{host}:{port}/nope/cam"],
        capture_output=True, timeout=TIMEOUT * 3, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert relay.stream_stats() == []


def test_live_off_refuses_publishers_and_players(relay: RelayServer) -> None:
    _, answer = publish(relay, "files")
    assert not answer.was_accepted
    assert "live streaming is off in application 'files'" in answer.response_text
    log = EventLog()
    player, accepted = connect(relay, "files", log)
    assert accepted.was_accepted
    player.session.tell(ClientSessionActor.request_playback, "cam")
    assert not log.wait(client.PlayResponseReceived).was_accepted


def test_an_application_with_live_off_still_plays_files_on_demand(tmp_path: Path) -> None:
    (tmp_path / "clip.flv").write_bytes(b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00")
    relay = start(tmp_path, Application("vod", live=False), vod_dir=str(tmp_path))
    try:
        log = EventLog()
        player, accepted = connect(relay, "vod", log)
        assert accepted.was_accepted
        player.session.tell(ClientSessionActor.request_playback, "clip")
        assert log.wait(client.PlayResponseReceived).was_accepted
        _, refused = publish(relay, "vod")
        assert not refused.was_accepted
    finally:
        relay.stop()


def test_ip_rules_of_one_application_leave_the_others_alone(relay: RelayServer) -> None:
    _, refused = publish(relay, "private")
    assert not refused.was_accepted
    assert "not allowed from this address" in refused.response_text
    _, accepted = publish(relay, "live")
    assert accepted.was_accepted


def send_gop(source: RtmpClient, key: str = "cam") -> None:
    for message in [(MediaType.VIDEO, 0, AVC_CONFIG), (MediaType.VIDEO, 0, keyframe(0))]:
        source.session.tell(ClientSessionActor.publish_av_data, key, *message)


def test_recording_follows_the_application(relay: RelayServer, tmp_path: Path) -> None:
    for app in ("live", "quiet"):
        source, answer = publish(relay, app)
        assert answer.was_accepted
        send_gop(source)
    poll_until(lambda: any((tmp_path / "rec").glob("live/cam-*.flv")), TIMEOUT, "a recording")
    relay.stop()  # finishes the recordings
    assert [p.parent.name for p in (tmp_path / "rec").glob("*/*.flv")] == ["live"]


def test_an_application_pushes_to_its_own_urls_only(tmp_path: Path) -> None:
    upstream = RelayServer(RelayConfig(port=0)).start()
    host, port = upstream.address
    relay = start(
        tmp_path, Application("studio", push=(f"rtmp://{host}:{port}/in",)), Application("live")
    )
    try:
        watcher = EventLog()
        player, _ = connect(upstream, "in", watcher)
        player.session.tell(ClientSessionActor.request_playback, "cam")
        assert watcher.wait(client.PlayResponseReceived).was_accepted
        for app in ("live", "studio"):
            source, answer = publish(relay, app)
            assert answer.was_accepted
            send_gop(source)
        assert next_media(watcher, 2) == [
            (MediaType.VIDEO, 0, AVC_CONFIG),
            (MediaType.VIDEO, 0, keyframe(0)),
        ]
        assert sorted((s.app, s.key) for s in upstream.stream_stats()) == [("in", "cam")]
    finally:
        relay.stop()
        upstream.stop()


# --- Hooks per application -----------------------------------------------------------------


def test_an_application_calls_its_own_hooks(tmp_path: Path, hook_server: HookServer) -> None:
    """``studio``'s hooks refuse its publishers and hear its connects; ``live`` has none."""
    hook_server.answer = lambda path, _form: 403 if path == "/studio/publish" else 200
    studio_hooks = HookSettings(
        on_connect=hook_server.url("/studio/connect"),
        on_publish=hook_server.url("/studio/publish"),
        timeout=TIMEOUT,
    )
    relay = start(tmp_path, Application("studio", hooks=studio_hooks), Application("live"))
    try:
        _, refused = publish(relay, "studio")
        assert not refused.was_accepted
        (connect_form,) = hook_server.wait("/studio/connect")
        assert connect_form["app"] == "studio"
        assert hook_server.wait("/studio/publish")[0]["name"] == "cam"
        _, accepted = publish(relay, "live")
        assert accepted.was_accepted
        assert len(hook_server.forms("/studio/connect")) == 1  # live's connect asked nobody
    finally:
        relay.stop()


def test_application_hooks_come_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        '[applications.studio.hooks]\non_publish = "http://127.0.0.1:9/p"\ntimeout = 2.0\n'
    )
    hooks = RelayConfig.from_toml(path).applications.apps["studio"].hooks
    assert hooks == HookSettings(on_publish="http://127.0.0.1:9/p", timeout=2.0)
    path.write_text('[applications.studio.hooks]\non_pubish = "http://x/p"\n')
    with pytest.raises(ValueError, match="on_pubish"):
        RelayConfig.from_toml(path)


# --- HLS per application ---------------------------------------------------------------------


def test_hls_for_one_application_only(tmp_path: Path, h264_aac_flv: Path) -> None:
    """No relay-wide ``[hls]``: ``tv`` turns it on with the defaults, ``live`` stays without."""
    relay = start(tmp_path, Application("tv", hls=True), Application("live"), http_port=0)
    try:
        root = relay.hls_root
        assert root is not None
        host, port = relay.address
        for app in ("live", "tv"):  # in turn: the packager hears of live first
            run_ffmpeg(
                "-i",
                str(h264_aac_flv),
                "-c",
                "copy",
                "-f",
                "flv",
                f"rtmp://{host}:{port}/{app}/cam",
            )
        playlist = root / "tv" / "cam" / "index.m3u8"
        poll_until(
            lambda: playlist.exists() and "#EXT-X-ENDLIST" in playlist.read_text(),
            TIMEOUT,
            "tv's playlist",
        )
        assert "#EXTINF" in playlist.read_text()
        assert not (root / "live").exists()
    finally:
        relay.stop()
