"""RTMPS: our client and server over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.client import RtmpClient
from rtmp_actors.session import client_events as client
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from tests.actors.harness import EventLog, start_server


def test_publish_over_tls(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_log = EventLog()
    rtmps_server = start_server(server_log, ssl_context=server_context)
    try:
        port = rtmps_server.address[1]
        client_context = ssl.create_default_context(cafile=str(cert))
        log = EventLog()
        rtmp_client = RtmpClient.connect(
            f"rtmps://localhost:{port}/live/key",
            event_receiver_factory=log.receiver_factory(),
            ssl_context=client_context,
        )
        assert log.wait(client.ConnectionResponseReceived).was_accepted
        connect = server_log.wait(server.ConnectionRequested)
        assert connect.connect.tc_url == f"rtmps://localhost:{port}/live"
        rtmp_client.session.tell(ClientSessionActor.request_publish, "key")
        assert log.wait(client.PublishResponseReceived).was_accepted
        payload = b"\x17\x01\x00\x00\x00" + bytes(range(256)) * 400  # 100 KB over TLS
        rtmp_client.session.tell(
            ClientSessionActor.publish_av_data, "key", MediaType.VIDEO, 40, payload
        )
        received = server_log.wait(server.AudioVideoDataReceived)
        assert (received.timestamp, received.data) == (40, payload)
    finally:
        rtmps_server.stop()


def test_untrusted_certificate_is_refused(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_log = EventLog()
    rtmps_server = start_server(server_log, ssl_context=server_context)
    try:
        log = EventLog()
        RtmpClient.connect(  # the default context does not trust our self-signed certificate
            f"rtmps://localhost:{rtmps_server.address[1]}/live/key",
            event_receiver_factory=log.receiver_factory(),
        )
        lost = log.wait(client.Disconnected)
        assert lost.reason is not None
        assert "certificate verify failed" in lost.reason
        assert not any(isinstance(e, server.ConnectionRequested) for e in server_log.seen)
    finally:
        rtmps_server.stop()
