"""Chunk codec speed on a recorded 4 Mbit/s H.264+AAC publishing session.

The session is recorded once (cached under ``benchmarks/.cache``): FFmpeg encodes a noisy
720p25 test picture at 4 Mbit/s with AAC, and publishes it through a recording proxy to
nginx-rtmp configured with the chunk size under test, so the bytes are what FFmpeg really
sends. The benchmark then decodes the client's bytes (after the handshake) with
:class:`ChunkDecoder` in 64 KiB reads, and re-encodes the messages with :class:`ChunkEncoder`.

Targets (issue 2): decoding at least 400 MB/s of payload at chunk size 4096 and 40 MB/s at
128 on one core; encoding at least as fast; per-message cost in single-digit microseconds.

Run: ``.venv/bin/python benchmarks/chunk_codec.py`` (needs nginx with libnginx-mod-rtmp).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtmp_actors.protocol.chunk_decoder import ChunkDecoder  # noqa: E402
from rtmp_actors.protocol.chunk_encoder import ChunkEncoder  # noqa: E402
from rtmp_actors.protocol.messages import RawMessage, decode_message  # noqa: E402
from tests.nginx_rtmp import nginx_rtmp  # noqa: E402
from tests.peers import run_ffmpeg  # noqa: E402
from tests.tcp_capture import CaptureProxy  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
HANDSHAKE_SIZE = 3073
READ_SIZE = 65536


def source_flv(seconds: int) -> Path:
    """A 4 Mbit/s H.264 + 128 kbit/s AAC FLV (noise keeps the encoder at its bitrate)."""
    path = CACHE / f"h264_aac_4mbit_{seconds}s.flv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=30:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
            "-b:v", "3872k", "-maxrate", "3872k", "-bufsize", "2000k",
            "-c:a", "aac", "-b:a", "128k",
            "-f", "flv", str(path),
            timeout=600,
        )  # fmt: skip
    return path


def recorded_session(flv: Path, chunk_size: int) -> bytes:
    """The bytes FFmpeg sends when publishing ``flv`` to nginx-rtmp at ``chunk_size``."""
    path = CACHE / f"{flv.stem}_chunk{chunk_size}.client.bin"
    if not path.exists():
        with nginx_rtmp(CACHE / f"nginx{chunk_size}", chunk_size=chunk_size) as port:
            proxy = CaptureProxy(port)
            run_ffmpeg(
                "-i", str(flv), "-c", "copy", "-f", "flv",
                f"rtmp://127.0.0.1:{proxy.port}/live/bench",
                timeout=600,
            )  # fmt: skip
            if not proxy.closed.wait(60):
                msg = "the capture proxy did not see the connection close"
                raise RuntimeError(msg)
        path.write_bytes(proxy.client_bytes)
    return path.read_bytes()


def best_of(repeat: int, run: object) -> float:
    """Smallest CPU time of ``repeat`` runs of ``run()``."""
    assert callable(run)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def measure(dump: bytes, chunk_size: int, repeat: int) -> None:
    """Print decode, typed-decode and encode figures for one recorded session."""
    stream = dump[HANDSHAKE_SIZE:]
    reads = [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]
    messages: list[RawMessage] = []

    def decode() -> None:
        decoder = ChunkDecoder()
        out: list[RawMessage] = []
        for block in reads:
            out += decoder.receive_data(block)
        messages[:] = out

    decode_time = best_of(repeat, decode)
    payload = sum(len(m.payload) for m in messages)
    media = [m for m in messages if m.type_id in (8, 9)]

    def typed() -> None:
        for message in media:
            decode_message(message)

    typed_time = best_of(repeat, typed)

    def encode() -> None:
        encoder = ChunkEncoder()
        for message in messages:
            encoder.encode(message)

    encode_time = best_of(repeat, encode)
    count = len(messages)
    print(
        f"chunk size {chunk_size:5d}: {len(stream) / 1e6:6.1f} MB on the wire, "
        f"{count} messages ({len(media)} audio/video), {payload / 1e6:.1f} MB payload"
    )
    print(
        f"  decode {payload / decode_time / 1e6:8.1f} MB/s payload "
        f"({decode_time / count * 1e6:5.2f} us/message)"
    )
    print(
        f"  encode {payload / encode_time / 1e6:8.1f} MB/s payload "
        f"({encode_time / count * 1e6:5.2f} us/message)"
    )
    print(f"  typed media message decode {typed_time / len(media) * 1e6:5.2f} us/message")


def main() -> None:
    """Record (once) and measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the session")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    args = parser.parse_args()
    flv = source_flv(args.seconds)
    for chunk_size in (4096, 128):
        measure(recorded_session(flv, chunk_size), chunk_size, args.repeat)


if __name__ == "__main__":
    main()
