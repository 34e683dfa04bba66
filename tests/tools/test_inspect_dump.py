"""``rtmp-actors inspect`` on synthetic dumps and on a real FFmpeg-to-nginx-rtmp capture."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtmp_actors.protocol.chunk_encoder import ChunkEncoder
from rtmp_actors.protocol.messages import (
    CommandMessage,
    DetailedMessage,
    PingRequest,
    SetChunkSize,
    VideoData,
    encode_message,
)
from tests.nginx_rtmp import nginx_rtmp
from tests.peers import ffmpeg_exe
from tests.tcp_capture import CaptureProxy

HANDSHAKE = b"\x03" + bytes(3072)


def run_inspect(dump: Path, role: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtmp_actors", "inspect", str(dump), "--role", role],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def flv_media_tags(path: Path) -> list[tuple[int, str]]:
    """(tag type, sha1 of the body) for every audio/video tag, parsed independently here."""
    data = path.read_bytes()
    position = 13
    tags = []
    while position + 11 <= len(data):
        tag_type = data[position]
        size = int.from_bytes(data[position + 1 : position + 4])
        body = data[position + 11 : position + 11 + size]
        if tag_type in (8, 9):
            tags.append((tag_type, hashlib.sha1(body).hexdigest()))
        position += 11 + size + 4
    return tags


def synthetic_dump(tmp_path: Path) -> Path:
    encoder = ChunkEncoder()
    messages = [
        DetailedMessage(0, 0, CommandMessage("connect", 1, {"app": "live"})),
        DetailedMessage(0, 0, SetChunkSize(4096)),
        DetailedMessage(5, 0, PingRequest(77)),
        DetailedMessage(40, 1, VideoData(b"\x17\x01\x00\x00\x00" + bytes(5000))),
    ]
    dump = tmp_path / "client.bin"
    dump.write_bytes(HANDSHAKE + b"".join(encoder.encode(encode_message(m)) for m in messages))
    return dump


def test_synthetic_dump_golden_records(tmp_path: Path) -> None:
    video = b"\x17\x01\x00\x00\x00" + bytes(5000)
    assert records(run_inspect(synthetic_dump(tmp_path), "client")) == [
        {
            "ts": 0, "type": 20, "type_name": "command_amf0", "stream_id": 0, "csid": 3,
            "length": 35, "command": "connect", "transaction_id": 1,
            "command_object": {"app": "live"}, "arguments": [],
        },
        {
            "ts": 0, "type": 1, "type_name": "set_chunk_size", "stream_id": 0, "csid": 2,
            "length": 4, "size": 4096,
        },
        {
            "ts": 5, "type": 4, "type_name": "user_control", "stream_id": 0, "csid": 2,
            "length": 6, "event": "PingRequest", "timestamp": 77,
        },
        {
            "ts": 40, "type": 9, "type_name": "video", "stream_id": 1, "csid": 6,
            "length": len(video), "sha1": hashlib.sha1(video).hexdigest(),
            "codec": "H.264", "packet_type": "coded_frames", "keyframe": True,
            "sequence_header": False, "composition_time": 0,
        },
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("first_byte", "message"),
    [(6, "encrypted RTMP"), (0x47, "not the start of an RTMP connection")],
)
def test_refuses_non_rtmp_dumps(tmp_path: Path, first_byte: int, message: str) -> None:
    dump = tmp_path / "bad.bin"
    dump.write_bytes(bytes((first_byte,)) + bytes(4000))
    result = run_inspect(dump, "client")
    assert result.returncode == 1
    assert message in result.stderr


def test_truncated_handshake(tmp_path: Path) -> None:
    dump = tmp_path / "short.bin"
    dump.write_bytes(HANDSHAKE[:1000])
    result = run_inspect(dump, "server")
    assert result.returncode == 1
    assert "ends inside the handshake (1000 of 3073 bytes)" in result.stderr


def test_undecodable_bytes_after_messages_exit_non_zero(tmp_path: Path) -> None:
    good = synthetic_dump(tmp_path).read_bytes()
    dump = tmp_path / "corrupt.bin"
    # A format 1 header on a chunk stream never seen before cannot be decoded.
    dump.write_bytes(good + bytes.fromhex("4a000014000002080000"))
    result = run_inspect(dump, "client")
    assert result.returncode == 1
    assert "chunk stream 10 starts with a format 1 header" in result.stderr
    # What came before the bad bytes was still printed.
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == [20, 1, 4, 9]


def test_missing_file(tmp_path: Path) -> None:
    result = run_inspect(tmp_path / "nope.bin", "client")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


@pytest.mark.peers
def test_ffmpeg_publish_capture_decodes_to_the_published_flv(
    tmp_path: Path, h264_aac_flv: Path
) -> None:
    with nginx_rtmp(tmp_path / "nginx") as nginx_port:
        proxy = CaptureProxy(nginx_port)
        subprocess.run(
            [
                ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
                "-i", str(h264_aac_flv), "-c", "copy", "-f", "flv",
                f"rtmp://127.0.0.1:{proxy.port}/live/capture",
            ],
            check=True, timeout=120,
        )  # fmt: skip
        assert proxy.closed.wait(30)
    client_dump = tmp_path / "client.bin"
    server_dump = tmp_path / "server.bin"
    client_dump.write_bytes(proxy.client_bytes)
    server_dump.write_bytes(proxy.server_bytes)

    sent = records(run_inspect(client_dump, "client"))
    commands = [r["command"] for r in sent if r["type"] == 20]
    assert commands[:5] == ["connect", "releaseStream", "FCPublish", "createStream", "publish"]
    assert sent[0]["command_object"]["app"] == "live"  # type: ignore[index]
    # FFmpeg echoes nginx-rtmp's chunk size and uses it.
    assert {"type": 1, "size": 4096}.items() <= next(r for r in sent if r["type"] == 1).items()
    metadata = next(r for r in sent if r["type"] == 18)
    assert metadata["values"][:2] == ["@setDataFrame", "onMetaData"]  # type: ignore[index]
    media = [(r["type"], r["sha1"]) for r in sent if r["type"] in (8, 9)]
    assert media == flv_media_tags(h264_aac_flv)

    answered = records(run_inspect(server_dump, "server"))
    statuses = [
        r["arguments"][0]["code"]  # type: ignore[index]
        for r in answered
        if r.get("command") == "onStatus"
    ]
    assert "NetStream.Publish.Start" in statuses
    results = [r for r in answered if r.get("command") == "_result"]
    assert results[0]["arguments"][0]["code"] == "NetConnection.Connect.Success"  # type: ignore[index]
