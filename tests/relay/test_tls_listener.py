"""The relay's RTMPS listener beside the plain one: one registry, certificates reloaded."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.relay.config import ControlConfig, RelayConfig
from rtmp_actors.relay.http_stats import take_snapshot
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.relay.tls import TlsSettings
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from tests.actors.harness import TIMEOUT, EventLog
from tests.conftest import make_self_signed
from tests.peers import debian_tool, ffmpeg_exe
from tests.relay.test_control import call as control_call
from tests.relay.test_relay import AAC_CONFIG, AVC_CONFIG, keyframe
from tests.relay.test_relay_interop import finish, packets, reference, wait_for_players

REPO = Path(__file__).resolve().parents[2]
CONTROL_TOKEN = "rtmps-control"


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key)
    return cert, key


@pytest.fixture
def relay(tls_pair: tuple[Path, Path]) -> Iterator[RelayServer]:
    cert, key = tls_pair
    tls = TlsSettings(port=0, cert=str(cert), key=str(key))
    server = RelayServer(RelayConfig(port=0, tls=tls)).start()
    yield server
    server.stop()


def plain_url(relay: RelayServer, key: str = "key") -> str:
    host, port = relay.address
    return f"rtmp://{host}:{port}/live/{key}"


def tls_url(relay: RelayServer, key: str = "key") -> str:
    assert relay.tls_address is not None
    return f"rtmps://127.0.0.1:{relay.tls_address[1]}/live/{key}"


def connect(url: str, log: EventLog, cafile: Path | None = None) -> RtmpClient:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    rtmp_client = RtmpClient.connect(
        url, event_receiver_factory=log.receiver_factory(), ssl_context=context
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def presented_certificate(port: int) -> bytes:
    """The certificate (DER) the listener on ``port`` presents now."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der_of(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


@pytest.mark.parametrize("publish_over_tls", [True, False], ids=["rtmps-to-rtmp", "rtmp-to-rtmps"])
def test_both_listeners_feed_one_registry(
    relay: RelayServer, tls_pair: tuple[Path, Path], publish_over_tls: bool
) -> None:
    cert, _ = tls_pair
    plain, secure = plain_url(relay), tls_url(relay)
    player_log, publisher_log = EventLog(), EventLog()
    player = connect(plain if publish_over_tls else secure, player_log, cert)
    player.session.tell(ClientSessionActor.request_playback, "key")
    assert player_log.wait(client.PlayResponseReceived).was_accepted
    publisher = connect(secure if publish_over_tls else plain, publisher_log, cert)
    publisher.session.tell(ClientSessionActor.request_publish, "key")
    assert publisher_log.wait(client.PublishResponseReceived).was_accepted
    sent = [
        (MediaType.VIDEO, 0, AVC_CONFIG),
        (MediaType.AUDIO, 0, AAC_CONFIG),
        (MediaType.VIDEO, 40, keyframe(1) * 5000),  # 50 KB: many TLS records
    ]
    for kind, timestamp, data in sent:
        publisher.session.tell(ClientSessionActor.publish_av_data, "key", kind, timestamp, data)
    received = [player_log.wait(client.AudioVideoDataReceived) for _ in sent]
    assert [(e.data_type, e.timestamp, e.data) for e in received] == sent
    assert [(s.key, s.players) for s in relay.stream_stats()] == [("key", 1)]
    snapshot = take_snapshot(relay)  # /stats counts both listeners' connections
    assert (snapshot.connections, snapshot.connections_accepted) == (2, 2)
    assert snapshot.bytes_in > 50_000


def test_a_plain_rtmp_client_on_the_tls_port_gets_nowhere(relay: RelayServer) -> None:
    assert relay.tls_address is not None
    log = EventLog()
    RtmpClient.connect(
        f"rtmp://127.0.0.1:{relay.tls_address[1]}/live/key",
        event_receiver_factory=log.receiver_factory(),
    )
    assert not log.wait(client.ConnectionResponseReceived).was_accepted
    assert log.wait(client.Disconnected).reason is not None
    assert relay.rtmp_server.connections_accepted == 0  # the plain listener saw nothing


def test_reload_uses_the_new_certificate_for_new_connections_only(
    relay: RelayServer, tls_pair: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = tls_pair
    assert relay.tls_address is not None
    port = relay.tls_address[1]
    old = der_of(cert)
    assert presented_certificate(port) == old
    publisher_log = EventLog()
    publisher = connect(tls_url(relay), publisher_log, cert)  # opened with the old one
    publisher.session.tell(ClientSessionActor.request_publish, "key")
    assert publisher_log.wait(client.PublishResponseReceived).was_accepted

    make_self_signed(cert, key)
    assert relay.reload_tls()
    new = der_of(cert)
    assert new != old
    assert presented_certificate(port) == new
    # The connection made before the reload goes on: a new player over TLS (trusting only
    # the new certificate) receives what it publishes.
    player_log = EventLog()
    player = connect(tls_url(relay), player_log, cert)
    player.session.tell(ClientSessionActor.request_playback, "key")
    assert player_log.wait(client.PlayResponseReceived).was_accepted
    publisher.session.tell(
        ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 80, keyframe(2)
    )
    assert player_log.wait(client.AudioVideoDataReceived).data == keyframe(2)

    # A broken pair is logged and the current one kept.
    cert.write_text("not a certificate\n")
    with caplog.at_level(logging.ERROR, logger="rtmp_actors.relay.server"):
        assert not relay.reload_tls()
    assert "TLS certificate not reloaded, keeping the current one" in caplog.text
    assert presented_certificate(port) == new


def test_a_bad_certificate_or_settings_fail_at_once(tmp_path: Path) -> None:
    missing = TlsSettings(port=0, cert=str(tmp_path / "nope.pem"), key=str(tmp_path / "k.pem"))
    with pytest.raises(OSError, match=r"nope\.pem / key .*k\.pem: No such file"):
        RelayServer(RelayConfig(port=0, tls=missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match=r"garbage\.pem"):
        RelayServer(RelayConfig(port=0, tls=TlsSettings(0, str(garbage), str(garbage))))
    with pytest.raises(ValueError, match="needs a certificate and a key"):
        TlsSettings(port=1936)
    with pytest.raises(ValueError, match="not a port number"):
        TlsSettings(port=70000, cert="c", key="k")


def test_tls_from_the_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text('[tls]\nport = 1936\ncert = "/etc/c.pem"\nkey = "/etc/k.pem"\n')
    assert RelayConfig.from_toml(path).tls == TlsSettings(1936, "/etc/c.pem", "/etc/k.pem")
    path.write_text("[tls]\nport = 1936\n")
    with pytest.raises(ValueError, match=r"relay.toml: \[tls\] an RTMPS listener"):
        RelayConfig.from_toml(path)


# --- Real peers ---------------------------------------------------------------------------------


def _ffmpeg_player(url: str, out: Path) -> subprocess.Popen[bytes]:
    # Our certificate is self-signed: FFmpeg is told not to verify it.
    verify = ["-tls_verify", "0"] if url.startswith("rtmps:") else []
    return subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         *verify, "-i", url, "-c", "copy", "-f", "flv", str(out)],
        stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.peers
def test_ffmpeg_publishes_over_rtmps_ffmpeg_and_rtmpdump_play(
    relay: RelayServer, h264_aac_flv: Path, tmp_path: Path
) -> None:
    secure_out, plain_out = tmp_path / "rtmps-player.flv", tmp_path / "rtmp-player.flv"
    players = [
        (_ffmpeg_player(tls_url(relay, "ffmpeg"), secure_out), secure_out),
        (_ffmpeg_player(plain_url(relay, "ffmpeg"), plain_out), plain_out),
    ]
    librtmp_out = tmp_path / "rtmpdump-rtmps-player.flv"
    rtmpdump = subprocess.Popen(  # librtmp (GnuTLS) does not verify the certificate
        [debian_tool("rtmpdump"), "-q", "--live", "-r", tls_url(relay, "ffmpeg"),
         "-o", str(librtmp_out)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for_players(relay, len(players) + 1)
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-i", str(h264_aac_flv), "-c", "copy", "-tls_verify", "0", "-f", "flv",
         tls_url(relay, "ffmpeg")],
        check=True, timeout=60,
    )  # fmt: skip
    expected = packets(reference(h264_aac_flv, tmp_path))
    for process, out in players:
        finish(process)
        assert packets(out) == expected
    finish(rtmpdump)
    assert packets(librtmp_out, librtmp=True) == packets(
        reference(h264_aac_flv, tmp_path), librtmp=True
    )


def test_our_push_and_pull_tools_over_rtmps(
    relay: RelayServer, tls_pair: tuple[Path, Path], h264_aac_flv: Path, tmp_path: Path
) -> None:
    cert, _ = tls_pair
    # The tools verify the server with the system's trust store; SSL_CERT_FILE points
    # OpenSSL at ours.
    environment = {**os.environ, "SSL_CERT_FILE": str(cert)}
    pulled = tmp_path / "pulled.flv"
    puller = subprocess.Popen(
        [sys.executable, "-m", "rtmp_actors", "pull", tls_url(relay, "tools"), str(pulled)],
        cwd=REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_players(relay, 1)
        pushed = subprocess.run(
            [sys.executable, "-m", "rtmp_actors", "push", "--as-fast-as-possible",
             str(h264_aac_flv), tls_url(relay, "tools")],
            cwd=REPO, env=environment, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        _, errors = puller.communicate(timeout=60)
        assert puller.returncode == 0, errors
    finally:
        if puller.poll() is None:
            puller.kill()
            puller.wait()
    media = [t for t in read_flv_file(pulled) if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]
    sent = [t for t in read_flv_file(h264_aac_flv) if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]
    start = sent[0].timestamp  # the recording starts at 0
    assert [(t.tag_type, t.timestamp, t.data) for t in media] == [
        (t.tag_type, t.timestamp - start, t.data) for t in sent
    ]


def test_the_control_api_lists_and_drops_rtmps_clients(tls_pair: tuple[Path, Path]) -> None:
    cert, key = tls_pair
    tls = TlsSettings(port=0, cert=str(cert), key=str(key))
    control = ControlConfig(token=CONTROL_TOKEN)
    relay = RelayServer(RelayConfig(port=0, http_port=0, tls=tls, control=control)).start()
    try:
        log = EventLog()
        connect(tls_url(relay), log, cert)
        status, listing, _ = control_call(relay, "GET", "/control/clients", token=CONTROL_TOKEN)
        assert status == 200
        (entry,) = listing["clients"]
        status, _, _ = control_call(
            relay, "POST", "/control/drop", {"client": entry["id"]}, token=CONTROL_TOKEN
        )
        assert status == 200
        log.wait(client.Disconnected)
    finally:
        relay.stop()
