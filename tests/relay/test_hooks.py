"""Lifecycle hooks against a real HTTP hook server, FFmpeg, rtmpdump and our own client."""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.relay.access import CALLBACK_REFUSED, AccessKind, AccessRequest, HttpCallback
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hook_exec import CommandRunner, expand_command
from rtmp_actors.relay.hook_http import BoundedPool, HookAnswer
from rtmp_actors.relay.hooks import HookSettings, LifecycleHooks
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import Disconnected, MediaType
from rtmp_actors.tools import serve
from rtmp_actors.transport.io_loop import IoLoop
from tests.actors.harness import TIMEOUT, EventLog
from tests.peers import debian_tool, ffmpeg_exe, stop_process
from tests.relay.hook_server import GARBAGE, HANG, Answer, HookServer, hook_server

__all__ = ["hook_server"]  # the fixture, used by name

VIDEO = b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff"  # an AVC sequence header
REPORTER = str(Path(__file__).with_name("report_argv.py"))
HOSTILE_KEYS = [
    "$(touch {dir}/pwned);x",
    "`touch {dir}/pwned`",
    "x;touch {dir}/pwned",
    "a b\nc && touch {dir}/pwned",
    "${{name}}|touch {dir}/pwned",
]


def start_relay(**options: Any) -> RelayServer:
    return RelayServer(RelayConfig(port=0, **options)).start()


def connect(relay: RelayServer, log: EventLog, app: str = "live") -> RtmpClient:
    host, port = relay.address
    return RtmpClient.connect(
        f"rtmp://{host}:{port}/{app}", event_receiver_factory=log.receiver_factory()
    )


def publish(relay: RelayServer, key: str) -> tuple[RtmpClient, EventLog]:
    log = EventLog()
    rtmp_client = connect(relay, log)
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    rtmp_client.session.tell(ClientSessionActor.request_publish, key)
    assert log.wait(client.PublishResponseReceived).was_accepted
    return rtmp_client, log


# --- Commands: never a shell ----------------------------------------------------------------


def test_each_argument_is_expanded_on_its_own() -> None:
    variables = {"app": "live", "name": "a b;$(rm -rf /)", "path": "/r/x.flv"}
    argv = ["/bin/echo", "$app/$name", "${name}.flv", "$unknown", "$$app", "--path=${path}"]
    assert expand_command(argv, variables) == [
        "/bin/echo",
        "live/a b;$(rm -rf /)",
        "a b;$(rm -rf /).flv",
        "$unknown",
        "$live",
        "--path=/r/x.flv",
    ]
    # A value is not expanded again: "$app" inside a name stays literal.
    assert expand_command(["$name"], {"name": "$app", "app": "x"}) == ["$app"]


def test_a_command_that_runs_too_long_is_killed(caplog: pytest.LogCaptureFixture) -> None:
    runner = CommandRunner(timeout=0.2)
    # A command that never ends by itself: it blocks on an event nobody sets.
    code = "import threading; print('started', flush=True); threading.Event().wait()"
    assert runner.run_now("exec_publish", [sys.executable, "-c", code]) is None
    assert "killed after 0.2 s" in caplog.text
    assert "started" in caplog.text  # its output reaches the log


def test_a_command_that_cannot_run_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    runner = CommandRunner()
    assert runner.run_now("exec_publish", ["/nonexistent/command"]) is None
    assert runner.run_now("exec_publish", [sys.executable, "-c", "pass", "a\0b"]) is None
    assert caplog.text.count("cannot run") == 2
    assert runner.run_now("exec_publish", [sys.executable, "-c", "raise SystemExit(3)"]) == 3


# --- Settings ----------------------------------------------------------------------------------


def test_hooks_come_from_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        "[hooks]\n"
        'on_publish = "http://127.0.0.1:8080/on_publish"\n'
        'on_update = "http://127.0.0.1:8080/on_update"\n'
        "notify_update_timeout = 10\n"
        'exec_publish = ["/usr/bin/logger", "published", "$app", "$name"]\n'
    )
    hooks = RelayConfig.from_toml(path).hooks
    assert hooks.on_publish == "http://127.0.0.1:8080/on_publish"
    assert hooks.notify_update_timeout == 10.0
    assert hooks.exec_publish == ("/usr/bin/logger", "published", "$app", "$name")
    path.write_text('[hooks]\nexec_publish = "/usr/bin/logger $name"\n')
    with pytest.raises(ValueError, match="exec_publish"):
        RelayConfig.from_toml(path)


@pytest.mark.parametrize(
    "settings",
    [
        HookSettings(on_publish_done="ftp://example.com/x"),
        HookSettings(on_update="http:///no-host"),
        HookSettings(on_play_done="http://x", timeout=0),
        HookSettings(on_play_done="http://x", retries=-1),
    ],
)
def test_bad_hook_settings_stop_the_relay_from_starting(settings: HookSettings) -> None:
    with pytest.raises(ValueError, match=r"hooks|URL"):
        RelayServer(RelayConfig(port=0, hooks=settings))


# --- Notifications ------------------------------------------------------------------------------


@pytest.fixture
def io_loop() -> Iterator[IoLoop]:
    loop = IoLoop(name="test-hooks-io")
    loop.start()
    yield loop
    loop.stop()


def test_a_notification_is_retried_until_the_hook_answers(
    hook_server: HookServer, io_loop: IoLoop
) -> None:
    answers = iter([GARBAGE, 503, 200])
    hook_server.answer = lambda _path, _form: next(answers)
    settings = HookSettings(on_record_done=hook_server.url("/done"), retries=3, retry_delay=0.01)
    hooks = LifecycleHooks(settings, io_loop.call_later)
    hooks.start()
    finished: queue.Queue[HookAnswer] = queue.Queue()
    try:
        form = {"call": "record_done", "app": "live", "name": "cam"}
        hooks.notify("on_record_done", settings.on_record_done, form, finished=finished.put)
        assert finished.get(timeout=TIMEOUT).status == 200
        assert hook_server.forms("/done") == [form, form, form]
    finally:
        hooks.stop()


def test_a_notification_gives_up_after_its_retries(
    hook_server: HookServer, io_loop: IoLoop, caplog: pytest.LogCaptureFixture
) -> None:
    hook_server.answer = lambda _path, _form: 500
    settings = HookSettings(on_record_done=hook_server.url("/done"), retries=1, retry_delay=0.01)
    hooks = LifecycleHooks(settings, io_loop.call_later)
    hooks.start()
    finished: queue.Queue[HookAnswer] = queue.Queue()
    try:
        hooks.notify(
            "on_record_done", settings.on_record_done, {"name": "x"}, finished=finished.put
        )
        assert finished.get(timeout=TIMEOUT).status == 500
        assert len(hook_server.forms("/done")) == 2
        assert "not delivered to" in caplog.text
        assert "after 2 attempts: HTTP 500" in caplog.text
    finally:
        hooks.stop()


def test_the_record_done_hook_has_nginx_rtmp_fields(
    hook_server: HookServer, io_loop: IoLoop
) -> None:
    settings = HookSettings(on_record_done=hook_server.url("/done"))
    hooks = LifecycleHooks(settings, io_loop.call_later)
    hooks.start()
    try:
        hooks.record_done("live", "cam", Path("/rec/live/cam.flv"))
        assert hook_server.wait("/done") == [
            {
                "call": "record_done",
                "recorder": "",
                "app": "live",
                "name": "cam",
                "path": "/rec/live/cam.flv",
            }
        ]
    finally:
        hooks.stop()


# --- The relay, with our own client -------------------------------------------------------------


def all_hooks(server: HookServer, **options: Any) -> HookSettings:
    return HookSettings(
        on_connect=server.url("/on_connect"),
        on_publish=server.url("/on_publish"),
        on_play=server.url("/on_play"),
        on_publish_done=server.url("/on_publish_done"),
        on_play_done=server.url("/on_play_done"),
        on_update=server.url("/on_update"),
        on_record_done=server.url("/on_record_done"),
        **options,
    )


def test_a_refusing_on_connect_refuses_the_connection(hook_server: HookServer) -> None:
    hook_server.answer = lambda _path, form: 403 if form.get("app") == "closed" else 200
    relay = start_relay(hooks=all_hooks(hook_server))
    try:
        log = EventLog()
        connect(relay, log, app="closed")
        refused = log.wait(client.ConnectionResponseReceived)
        assert not refused.was_accepted
        (form,) = hook_server.wait("/on_connect")
        host, port = relay.address
        assert form == {
            "call": "connect",
            "app": "closed",
            "flashver": form["flashver"],
            "swfurl": "",
            "tcurl": f"rtmp://{host}:{port}/closed",
            "pageurl": "",
            "addr": "127.0.0.1",
            "args": "",
            "epoch": form["epoch"],
        }
        assert form["epoch"].isdigit()
        log = EventLog()
        connect(relay, log, app="open")
        assert log.wait(client.ConnectionResponseReceived).was_accepted
    finally:
        relay.stop()


def test_a_hanging_hook_refuses_only_the_request_it_was_asked_about(
    hook_server: HookServer,
) -> None:
    hook_server.answer = lambda path, form: HANG if form.get("name") == "stuck" else 200
    relay = start_relay(hooks=all_hooks(hook_server, timeout=0.3))
    try:
        _good, _good_log = publish(relay, "good")
        log = EventLog()
        stuck = connect(relay, log)
        assert log.wait(client.ConnectionResponseReceived).was_accepted
        stuck.session.tell(ClientSessionActor.request_publish, "stuck")
        refused = log.wait(client.PublishResponseReceived)
        assert not refused.was_accepted
        assert "did not answer in time" in (refused.response_text or "")
        # The other publisher is untouched, and a garbage answer refuses as well.
        hook_server.answer = lambda path, form: GARBAGE if path == "/on_play" else 200
        stuck.session.tell(ClientSessionActor.request_playback, "good")
        denied = log.wait(client.PlayResponseReceived)
        assert not denied.was_accepted
        assert "unavailable" in (denied.response_text or "")
        assert [s.key for s in relay.stream_stats()] == ["good"]
    finally:
        hook_server.release.set()
        relay.stop()


def test_on_update_refusal_ends_only_that_session(
    hook_server: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    def answer(path: str, form: dict[str, str]) -> int | str:
        if path != "/on_update" or form.get("name") == "good":
            return 200
        return {"refused": 403, "garbled": GARBAGE}.get(form.get("name", ""), HANG)

    hook_server.answer = answer
    hooks = all_hooks(hook_server, notify_update_timeout=0.2, timeout=0.5)
    relay = start_relay(hooks=hooks)
    try:
        _good, _good_log = publish(relay, "good")
        logs = [publish(relay, name)[1] for name in ("refused", "garbled", "hung")]
        for log in logs:
            log.wait(Disconnected)

        # After the others were closed, "good" is still asked about, and still publishing.
        def is_good(form: dict[str, str]) -> bool:
            return form["name"] == "good"

        seen = len(hook_server.forms("/on_update", is_good))
        forms = hook_server.wait("/on_update", is_good, count=seen + 1)
        assert {f["call"] for f in forms} == {"update_publish"}
        assert all(f["time"].isdigit() and f["timestamp"].isdigit() for f in forms)
        assert sorted(s.key for s in relay.stream_stats() if s.publisher) == ["good"]
        assert "on_update refused publish live/refused from 127.0.0.1: HTTP 403" in caplog.text
        # Their ends were told, with nginx-rtmp's fields.
        dones = hook_server.wait("/on_publish_done", count=3)
        assert {d["name"] for d in dones} == {"refused", "garbled", "hung"}
        assert all(d["call"] == "publish_done" and d["app"] == "live" for d in dones)
    finally:
        relay.stop()


@pytest.mark.parametrize("template", HOSTILE_KEYS)
def test_exec_hooks_get_hostile_keys_as_one_literal_argument(
    hook_server: HookServer, tmp_path: Path, template: str
) -> None:
    key = template.format(dir=tmp_path)
    settings = HookSettings(
        exec_publish=(sys.executable, REPORTER, hook_server.url("/exec"), "$name", "$app/$addr"),
        exec_publish_done=(sys.executable, REPORTER, hook_server.url("/exec_done"), "[$name]"),
    )
    relay = start_relay(hooks=settings)
    try:
        publisher, _log = publish(relay, key)
        (form,) = hook_server.wait("/exec")
        assert json.loads(form["argv"]) == [key, "live/127.0.0.1"]
        publisher.close()
        (form,) = hook_server.wait("/exec_done")
        assert json.loads(form["argv"]) == [f"[{key}]"]
        assert not (tmp_path / "pwned").exists()
    finally:
        relay.stop()


# --- Real peers ---------------------------------------------------------------------------------


@pytest.mark.peers
def test_every_hook_fires_for_ffmpeg_and_rtmpdump(
    hook_server: HookServer, tmp_path: Path, h264_aac_flv: Path
) -> None:
    record_dir = tmp_path / "rec"
    settings = all_hooks(
        hook_server,
        notify_update_timeout=0.3,
        exec_record_done=(sys.executable, REPORTER, hook_server.url("/exec_record"), "$path"),
    )
    relay = start_relay(hooks=settings, record_dir=str(record_dir))
    host, port = relay.address
    url = f"rtmp://{host}:{port}/live/cam"
    publisher = subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-stream_loop", "-1", "-i", str(h264_aac_flv), "-c", "copy", "-f", "flv",
         f"{url}?token=42"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        (published,) = hook_server.wait("/on_publish")
        assert published == {
            "call": "publish",
            "app": "live",
            "flashver": published["flashver"],
            "swfurl": "",
            "tcurl": f"rtmp://{host}:{port}/live",
            "pageurl": "",
            "addr": "127.0.0.1",
            "args": "token=42",
            "clientid": published["clientid"],
            "name": "cam",
            "type": "live",
        }
        assert published["flashver"].startswith("FMLE/")
        hook_server.wait("/on_update", lambda f: f["call"] == "update_publish")
        # rtmpdump plays until told to stop: once on_update has been asked about its play.
        dump = subprocess.Popen(
            [debian_tool("rtmpdump"), "-q", "--live", "-r", url, "-o", str(tmp_path / "d.flv")],
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            hook_server.wait("/on_update", lambda f: f["call"] == "update_play")
        finally:
            stop_process(dump, TIMEOUT)
        hook_server.wait("/on_play_done")
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", url,
             "-t", "1", "-c", "copy", "-f", "null", "-"],
            timeout=TIMEOUT, capture_output=True, check=True,
        )  # fmt: skip
        plays = hook_server.wait("/on_play", count=2)
        assert {p["flashver"][:3] for p in plays} >= {"LNX"}
        assert all(p["name"] == "cam" and p["call"] == "play" for p in plays)
        assert all({"start", "duration", "reset", "clientid"} <= set(p) for p in plays)
        play_dones = hook_server.wait("/on_play_done", count=2)
        assert all(d["call"] == "play_done" and d["name"] == "cam" for d in play_dones)
        assert hook_server.wait("/on_connect", count=3)
    finally:
        stop_process(publisher, TIMEOUT)
    try:
        (done,) = hook_server.wait("/on_publish_done")
        assert (done["call"], done["name"], done["args"]) == ("publish_done", "cam", "token=42")
        (recorded,) = hook_server.wait("/on_record_done")
        path = Path(recorded["path"])
        assert (recorded["call"], recorded["app"], recorded["name"]) == (
            "record_done",
            "live",
            "cam",
        )
        assert path.parent == record_dir / "live"
        assert path.stat().st_size > 0
        (ran,) = hook_server.wait("/exec_record")
        assert json.loads(ran["argv"]) == [recorded["path"]]
    finally:
        relay.stop()


@pytest.mark.peers
def test_a_refusing_on_publish_keeps_ffmpeg_out(
    hook_server: HookServer, h264_aac_flv: Path
) -> None:
    hook_server.answer = lambda path, _form: 403 if path == "/on_publish" else 200
    relay = start_relay(hooks=all_hooks(hook_server))
    try:
        host, port = relay.address
        result = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
             "-i", str(h264_aac_flv), "-c", "copy", "-f", "flv",
             f"rtmp://{host}:{port}/live/cam"],
            timeout=TIMEOUT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        hook_server.wait("/on_publish")
        assert relay.stream_stats() == [] or not any(s.publisher for s in relay.stream_stats())
        assert hook_server.forms("/on_publish_done") == []
    finally:
        relay.stop()


def test_serve_flags_set_hooks_over_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text('[hooks]\non_play = "http://127.0.0.1:1/play"\nretries = 5\n')
    parser = argparse.ArgumentParser()
    serve.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--config", str(path), "--on-publish", "http://127.0.0.1:1/publish"]
    )
    hooks = serve._config(args).hooks
    assert (hooks.on_publish, hooks.on_play) == (
        "http://127.0.0.1:1/publish",
        "http://127.0.0.1:1/play",
    )
    assert hooks.retries == 5


@pytest.mark.peers
def test_ffmpeg_publishing_a_hostile_key_runs_nothing_but_the_command(
    hook_server: HookServer, tmp_path: Path, h264_aac_flv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a shell would have created the file
    key = "$(touch${IFS}pwned);x`touch${IFS}pwned`;touch${IFS}pwned"
    settings = HookSettings(
        exec_publish=(sys.executable, REPORTER, hook_server.url("/exec"), "$name"),
        exec_publish_done=(sys.executable, REPORTER, hook_server.url("/exec_done"), "$name"),
    )
    relay = start_relay(hooks=settings)
    try:
        host, port = relay.address
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
             "-i", str(h264_aac_flv), "-t", "0.5", "-c", "copy", "-f", "flv",
             f"rtmp://{host}:{port}/live/{key}"],
            timeout=TIMEOUT, capture_output=True, check=True,
        )  # fmt: skip
        (published,) = hook_server.wait("/exec")
        (done,) = hook_server.wait("/exec_done")
        assert json.loads(published["argv"]) == json.loads(done["argv"]) == [key]
        assert not (tmp_path / "pwned").exists()
    finally:
        relay.stop()


def test_a_bad_deciding_hook_url_stops_the_relay_from_being_made() -> None:
    with pytest.raises(ValueError, match="on_connect"):
        RelayServer(RelayConfig(port=0, hooks=HookSettings(on_connect="file:///etc/passwd")))


# --- Redirects (nginx-rtmp: a 3xx's Location names the stream to use) ----------------------------


@pytest.mark.parametrize(
    ("location", "redirect"),
    [
        ("real", "real"),
        ("/elsewhere", None),
        ("rtmp://host/app/x", None),
        ("a\tb", None),
        ("x" * 300, None),
    ],
)
def test_only_a_plain_stream_name_redirects(
    hook_server: HookServer, location: str, redirect: str | None
) -> None:
    hook_server.answer = lambda _path, _form: (302, location)
    callback = HttpCallback({AccessKind.PLAY: hook_server.url("/on_play")}, timeout=TIMEOUT)
    try:
        request = AccessRequest(AccessKind.PLAY, "live", "alias")
        assert callback.decide(request) == (False, CALLBACK_REFUSED, redirect)
        assert callback.ask(request) == (False, CALLBACK_REFUSED)  # ask does not redirect
    finally:
        callback.shutdown()


def test_a_redirecting_on_play_plays_the_other_stream(hook_server: HookServer) -> None:
    def answer(path: str, form: dict[str, str]) -> Answer:
        return (302, "real") if path == "/on_play" and form["name"] == "alias" else 200

    hook_server.answer = answer
    relay = start_relay(hooks=all_hooks(hook_server))
    try:
        source, _log = publish(relay, "real")
        log = EventLog()
        player = connect(relay, log)
        assert log.wait(client.ConnectionResponseReceived).was_accepted
        player.session.tell(ClientSessionActor.request_playback, "alias?t=1")
        assert log.wait(client.PlayResponseReceived).was_accepted
        (update,) = hook_server.wait("/on_play", lambda f: f["name"] == "alias")
        assert update["args"] == "t=1"
        source.session.tell(ClientSessionActor.publish_av_data, "real", MediaType.VIDEO, 0, VIDEO)
        assert log.wait(client.AudioVideoDataReceived).data == VIDEO
        assert sorted((s.key, s.players) for s in relay.stream_stats()) == [("real", 1)]
        player.close()
        (done,) = hook_server.wait("/on_play_done")
        assert (done["name"], done["args"]) == ("real", "t=1")
    finally:
        relay.stop()


@given(
    argv=st.lists(st.text(max_size=20), max_size=5),
    value=st.text(max_size=50),
)
def test_expanding_never_splits_or_joins_arguments(argv: list[str], value: str) -> None:
    expanded = expand_command([*argv, "$name", "<${name}>"], {"name": value})
    assert len(expanded) == len(argv) + 2
    assert expanded[-2:] == [value, f"<{value}>"]


def test_work_beyond_the_pool_bound_is_refused_at_once() -> None:
    pool = BoundedPool(max_workers=1, max_pending=1, name="test-pool")
    release = threading.Event()
    try:
        assert pool.submit(lambda: release.wait(TIMEOUT))
        assert not pool.submit(lambda: None)
        assert pool.pending == 1
    finally:
        release.set()
        pool.shutdown()
    assert not pool.submit(lambda: None)  # shut down
