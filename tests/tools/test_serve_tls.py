"""``rtmp-actors serve`` with an RTMPS listener (reloaded on SIGHUP), IP rules and limits."""

from __future__ import annotations

import contextlib
import re
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors import cli
from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.relay.access import AccessKind
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from rtmp_actors.tools import serve as serve_tool
from tests.actors.harness import EventLog
from tests.conftest import make_self_signed
from tests.nginx_rtmp import free_port
from tests.redis_server import RedisServer
from tests.relay.test_relay import keyframe
from tests.relay.test_tls_listener import connect, der_of, presented_certificate
from tests.tools.test_serve import REPO, TIMEOUT, Lines, running, workers_running

LISTENING = re.compile(r"relay listening on (rtmps?)://127\.0\.0\.1:(\d+)/")
ANY_LISTENER = re.compile(r"relay listening on rtmps?://127\.0\.0\.1:(\d+)/")


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines, dict[str, int]]]:
    """Run ``serve`` until the block ends; yields it, its stderr and its ports by scheme."""
    command = [sys.executable, "-m", "rtmp_actors", "serve", *args]
    with running(command, ANY_LISTENER) as served:
        stderr, ports = served.stderr, {}
        line = stderr.seen[-1]  # the listener that running() waited for
        while True:
            match = LISTENING.search(line)
            assert match is not None
            ports[match[1]] = int(match[2])
            if len(ports) == 2:
                break
            line = stderr.wait_for(lambda text: LISTENING.search(text) is not None)
        yield served.process, stderr, ports


def test_serve_rtmps_beside_rtmp_and_reload_on_sighup(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key)
    old = der_of(cert)
    with serving("--port", "0", "--tls-port", "0", "--cert", str(cert), "--key", str(key)) as (
        process,
        stderr,
        ports,
    ):
        assert presented_certificate(ports["rtmps"]) == old
        publisher_log = EventLog()
        publisher = connect(f"rtmps://127.0.0.1:{ports['rtmps']}/live/key", publisher_log, cert)
        publisher.session.tell(ClientSessionActor.request_publish, "key")
        assert publisher_log.wait(client.PublishResponseReceived).was_accepted

        make_self_signed(cert, key)
        new = der_of(cert)
        process.send_signal(signal.SIGHUP)
        stderr.wait_for(lambda line: "TLS certificate reloaded" in line)
        assert presented_certificate(ports["rtmps"]) == new

        # The publisher connected before the reload goes on; a plain player receives it.
        player_log = EventLog()
        player = connect(f"rtmp://127.0.0.1:{ports['rtmp']}/live/key", player_log)
        player.session.tell(ClientSessionActor.request_playback, "key")
        assert player_log.wait(client.PlayResponseReceived).was_accepted
        publisher.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 40, keyframe(3)
        )
        assert player_log.wait(client.AudioVideoDataReceived).data == keyframe(3)

        # A bad pair on the next SIGHUP is logged; the relay keeps serving the current one.
        key.write_text("garbage\n")
        process.send_signal(signal.SIGHUP)
        stderr.wait_for(lambda line: "TLS certificate not reloaded" in line)
        assert presented_certificate(ports["rtmps"]) == new

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0, stderr.rest()
    assert not any("Traceback" in line for line in stderr.rest())


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--tls-port", "0"], "needs a certificate and a key"),
        (["--https-port", "0"], "HTTPS port needs a certificate and a key"),
        (
            ["--https-port", "0", "--cert", "/nonexistent.pem", "--key", "/nonexistent.pem"],
            "needs the HTTP port",
        ),
        (
            ["--tls-port", "0", "--cert", "/nonexistent.pem", "--key", "/nonexistent.pem"],
            "nonexistent.pem: No such",
        ),
        (["--ip-rule", "allow publish 10.0.0.0/99"], "IP rule 1: '10.0.0.0/99'"),
        (["--max-connections-per-address", "-1"], "0 (none) or more"),
    ],
)
def test_bad_tls_and_ip_settings_exit_2_with_one_line(args: list[str], complaint: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rtmp_actors", "serve", "--port", "0", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text(
        "[server]\nmax_connections_per_address = 7\n"
        '[tls]\nport = 1936\ncert = "file-cert.pem"\nkey = "file-key.pem"\n'
        '[ip_rules]\nrules = ["deny publish all"]\n'
    )
    args = cli.build_parser().parse_args(
        ["serve", "--config", str(path), "--cert", "flag-cert.pem",
         "--ip-rule", "allow publish 192.0.2.1", "--max-connections-per-address", "3"]
    )  # fmt: skip
    config = serve_tool._config(args)
    assert (config.tls.port, config.tls.cert, config.tls.key) == (
        1936,
        "flag-cert.pem",
        "file-key.pem",
    )
    # Command-line rules come first, so they win over the file's.
    assert config.ip_rules.rules == ("allow publish 192.0.2.1", "deny publish all")
    assert config.ip_rules.allows(AccessKind.PUBLISH, "192.0.2.1")
    assert not config.ip_rules.allows(AccessKind.PUBLISH, "192.0.2.2")
    assert config.max_connections_per_address == 3


@pytest.mark.peers
def test_workers_share_the_tls_port_and_each_reloads_on_sighup(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key)
    tls_port = free_port()
    with (
        RedisServer.running(tmp_path / "redis") as redis,
        workers_running(
            "--cluster", redis.url, "--tls-port", str(tls_port), "--cert", str(cert),
            "--key", str(key),
        ) as (parent, stderr),
    ):  # fmt: skip
        for _ in range(2):  # each worker listens on the shared TLS port
            stderr.wait_for(lambda line: f"rtmps://127.0.0.1:{tls_port}/" in line)
        make_self_signed(cert, key)
        parent.send_signal(signal.SIGHUP)
        for _ in range(2):
            stderr.wait_for(lambda line: "TLS certificate reloaded" in line)
        new = der_of(cert)
        # Whichever worker a connection reaches, it presents the new certificate.
        assert {presented_certificate(tls_port) for _ in range(8)} == {new}


HTTPS_LISTENING = re.compile(r"stats on https://127\.0\.0\.1:(\d+)/stats")


def test_serve_https_beside_http_and_reload_on_sighup(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key)
    old = der_of(cert)
    command = [sys.executable, "-m", "rtmp_actors", "serve", "--port", "0", "--http", "0",
               "--https-port", "0", "--cert", str(cert), "--key", str(key)]  # fmt: skip
    with running(command, HTTPS_LISTENING) as served:
        port = served.port
        assert presented_certificate(port) == old
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://127.0.0.1:{port}/stats"
        with urllib.request.urlopen(url, context=context, timeout=TIMEOUT) as answer:
            assert answer.status == 200
        make_self_signed(cert, key)
        served.process.send_signal(signal.SIGHUP)
        served.stderr.wait_for(lambda line: "TLS certificate reloaded" in line)
        assert presented_certificate(port) == der_of(cert) != old
        served.terminate()
