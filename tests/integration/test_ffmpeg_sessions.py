"""Whole RTMP sessions with the real FFmpeg: publishing to and playing from our server.

The server side is either an :class:`RtmpServer` in the test (its event receiver accepts
everything and queues the events) or ``examples/event_logger_server.py`` as a subprocess.
Media is compared by content: the sha1 and timestamp of every audio and video message.

What FFmpeg (imageio-ffmpeg's FFmpeg 9) was seen to do, which the tests rely on:

* It sends HEVC, AV1 and Opus in Enhanced RTMP form (ExVideoTagHeader / ExAudioTagHeader with
  a FourCC) whatever the ``connect`` said; the ``fourCcList`` goes into ``connect`` only when
  ``-rtmp_enhanced_codecs`` is given. As a player it never sends ``fourCcList`` but plays the
  Enhanced messages it gets.
* Its FLV muxer writes the Enhanced video "Metadata" packet (``colorInfo``) from the stream
  parameters rather than copying it, so with ``-c copy`` that one tag differs from the sample
  file. The reference for what FFmpeg sends (or records) is therefore FFmpeg's own remux of the
  sample to a file, which the tests check differs from the sample in those tags only.
* Playing, it ignores User Control StreamEOF; it ends on ``NetStream.Play.Stop`` (sent by
  ``session.close``) or when ``-rw_timeout`` expires.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rtmp_actors.media.flv import FlvTag, TagType, read_flv_file
from rtmp_actors.protocol.amf import decode_values
from rtmp_actors.session import server_events as server
from rtmp_actors.session.events import MediaType
from tests.integration.media_server import (
    PlayScript,
    events_until_disconnected,
    media_server,
    sha1,
)
from tests.peers import ffmpeg_exe, run_ffmpeg

pytestmark = pytest.mark.peers

TIMEOUT = 20.0
REPO = Path(__file__).resolve().parents[2]
EVENT_LOGGER = REPO / "examples" / "event_logger_server.py"
E = TypeVar("E")

# (timestamp, sha1 of the body) of each message, in order.
Track = list[tuple[int, str]]


@dataclass
class FlvMedia:
    """What an FLV file holds, summarised for comparison."""

    tags: list[FlvTag]
    metadata: dict[str, Any]
    audio: Track
    video: Track

    @property
    def media_tags(self) -> list[FlvTag]:
        return [t for t in self.tags if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]


def read_media(path: Path) -> FlvMedia:
    """Read an FLV file with our reader (strictly: a recording must be well formed)."""
    tags = list(read_flv_file(path))
    metadata: dict[str, Any] = {}
    for tag in tags:
        if tag.tag_type == TagType.SCRIPT_DATA:
            values = decode_values(tag.data)
            if values[0] == "onMetaData":
                metadata = dict(values[1])
    return FlvMedia(
        tags,
        metadata,
        [(t.timestamp, sha1(t.data)) for t in tags if t.tag_type == TagType.AUDIO],
        [(t.timestamp, sha1(t.data)) for t in tags if t.tag_type == TagType.VIDEO],
    )


def is_enhanced_video_metadata(body: bytes) -> bool:
    """An ExVideoTagHeader (IsExHeader bit set) with VideoPacketType 4 (Metadata)."""
    return bool(body) and body[0] & 0x80 != 0 and body[0] & 0x0F == 4


def ffmpeg_reference(sample: Path, directory: Path) -> FlvMedia:
    """FFmpeg's own ``-c copy`` remux of ``sample`` to a file: what it sends over RTMP.

    Checks that it differs from the sample only in Enhanced video Metadata packets, which
    FFmpeg's FLV muxer regenerates (see the module description).
    """
    out = directory / f"reference-{sample.name}"
    if not out.exists():
        run_ffmpeg("-i", str(sample), "-c", "copy", "-f", "flv", str(out))
    reference, original = read_media(out), read_media(sample)
    assert len(reference.media_tags) == len(original.media_tags)
    for ours, theirs in zip(reference.media_tags, original.media_tags, strict=True):
        assert (ours.tag_type, ours.timestamp) == (theirs.tag_type, theirs.timestamp)
        if ours.data != theirs.data:
            assert ours.tag_type == TagType.VIDEO, ours
            assert is_enhanced_video_metadata(ours.data), ours.data[:8].hex()
            assert is_enhanced_video_metadata(theirs.data), theirs.data[:8].hex()
    return reference


SAMPLES = {"h264_aac": "h264_aac_flv", "hevc_aac": "hevc_flv", "av1_opus": "av1_opus_flv"}
CODECS = {
    "h264_aac": ("H.264", "AAC"),
    "hevc_aac": ("HEVC", "AAC"),
    "av1_opus": ("AV1", "Opus"),
}


def sample_path(request: pytest.FixtureRequest, name: str) -> Path:
    path: Path = request.getfixturevalue(SAMPLES[name])
    return path


# --- An in-test server --------------------------------------------------------------------------


def only(events: list[Any], kind: type[E]) -> E:
    matching = [e for e in events if isinstance(e, kind)]
    assert len(matching) == 1, [type(e).__name__ for e in events]
    return matching[0]


def ffmpeg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run FFmpeg with warnings logged, bounded by the timeout."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "warning", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if check:
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"
    return result


def live_metadata(reference: FlvMedia) -> dict[str, Any]:
    """The ``onMetaData`` FFmpeg sends live: its file's, but duration and size left at 0."""
    return reference.metadata | {"duration": 0, "filesize": 0}


# --- FFmpeg publishing to our server ------------------------------------------------------------

PUBLISH_CASES = [
    pytest.param("h264_aac", [], None, id="h264-legacy"),
    pytest.param("hevc_aac", [], None, id="hevc-enhanced-no-fourcclist"),
    pytest.param(
        "hevc_aac", ["-rtmp_enhanced_codecs", "hvc1,mp4a"], ["hvc1", "mp4a"], id="hevc-fourcclist"
    ),
    pytest.param(
        "av1_opus", ["-rtmp_enhanced_codecs", "av01,Opus"], ["av01", "Opus"], id="av1-opus"
    ),
]


@pytest.mark.parametrize(("name", "options", "fourcc_list"), PUBLISH_CASES)
def test_ffmpeg_publishes_to_our_server(
    request: pytest.FixtureRequest,
    name: str,
    options: list[str],
    fourcc_list: list[str] | None,
) -> None:
    sample = sample_path(request, name)
    reference = ffmpeg_reference(sample, sample.parent)
    with media_server() as running:
        rtmp_server, events = running.server, running.events
        host, port = rtmp_server.address
        url = f"rtmp://{host}:{port}/live/key"
        ffmpeg("-i", str(sample), "-c", "copy", *options, "-f", "flv", url)
        seen = events_until_disconnected(events)

    connection = only(seen, server.ConnectionRequested)
    assert connection.app_name == "live"
    assert connection.connect.tc_url == f"rtmp://{host}:{port}/live"
    assert connection.connect.type == "nonprivate"
    assert connection.connect.fourcc_list == fourcc_list
    publish = only(seen, server.PublishStreamRequested)
    assert (publish.stream_key, publish.publish_type) == ("key", "live")

    metadata = only(seen, server.StreamMetaDataChanged)
    video_codec, audio_codec = CODECS[name]
    typed = metadata.meta_data
    assert (typed.video_codec, typed.audio_codec) == (video_codec, audio_codec)
    assert (typed.video_width, typed.video_height, typed.video_frame_rate) == (320, 240, 25)
    assert (typed.audio_sample_rate, typed.encoder) == (48000, reference.metadata["encoder"])
    assert dict(metadata.raw) == live_metadata(reference)

    media = [e for e in seen if isinstance(e, server.AudioVideoDataReceived)]
    assert {(e.stream_key, e.stream_id) for e in media} == {("key", publish.stream_id)}
    video = [(e.timestamp, sha1(e.data)) for e in media if e.data_type is MediaType.VIDEO]
    audio = [(e.timestamp, sha1(e.data)) for e in media if e.data_type is MediaType.AUDIO]
    assert video == reference.video
    assert audio == reference.audio
    # The interleaving too: FFmpeg sends in its muxing order, the order of its file.
    assert [(e.data_type.value, e.timestamp) for e in media] == [
        ("audio" if t.tag_type == TagType.AUDIO else "video", t.timestamp)
        for t in reference.media_tags
    ]
    if name != "h264_aac":
        # Enhanced RTMP on the wire, whatever fourCcList said: ExVideoTagHeader first bytes.
        assert all(e.data[0] & 0x80 for e in media if e.data_type is MediaType.VIDEO)

    kinds = [type(e) for e in seen]
    assert kinds.index(server.ConnectionRequested) < kinds.index(server.PublishStreamRequested)
    assert kinds.index(server.PublishStreamRequested) < kinds.index(server.StreamMetaDataChanged)
    last_media = max(i for i, kind in enumerate(kinds) if kind is server.AudioVideoDataReceived)
    finished = only(seen, server.PublishingFinished)
    assert (finished.stream_key, finished.stream_id) == ("key", publish.stream_id)
    assert last_media < kinds.index(server.PublishingFinished)
    assert seen[-1] == server.Disconnected(None)


# --- FFmpeg playing from our server -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("h264_aac", id="h264-legacy"),
        pytest.param("hevc_aac", id="hevc-enhanced"),
        pytest.param("av1_opus", id="av1-opus-enhanced"),
    ],
)
def test_ffmpeg_plays_from_our_server(
    request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> None:
    sample = sample_path(request, name)
    reference = ffmpeg_reference(sample, sample.parent)
    original = read_media(sample)
    out = tmp_path / "recorded.flv"
    with media_server(PlayScript(original.tags, close_after_play=True)) as running:
        rtmp_server, events = running.server, running.events
        host, port = rtmp_server.address
        # The server ends the stream with NetStream.Play.Stop; -rw_timeout only bounds a hang.
        ffmpeg(
            "-rw_timeout",
            "5000000",
            "-i",
            f"rtmp://{host}:{port}/live/key",
            "-c",
            "copy",
            "-f",
            "flv",
            str(out),
        )
        seen = events_until_disconnected(events)

    connection = only(seen, server.ConnectionRequested)
    assert connection.connect.fourcc_list is None  # FFmpeg never announces it when playing
    play = only(seen, server.PlayStreamRequested)
    assert play.stream_key == "key"
    finished = only(seen, server.PlayStreamFinished)
    assert (finished.stream_key, finished.stream_id) == ("key", play.stream_id)

    # FFmpeg recorded every message, unchanged but for what its muxer regenerates: compare
    # with its own remux of the sample, message by message.
    recorded = read_media(out)
    assert recorded.video == reference.video
    assert recorded.audio == reference.audio
    for key in ("width", "height", "videocodecid", "audiocodecid", "audiosamplerate"):
        assert recorded.metadata[key] == original.metadata[key], key


# --- FFmpeg and examples/event_logger_server.py -------------------------------------------------


class LineReader:
    """Collects a pipe's lines on a thread, so tests can wait on them with a timeout."""

    def __init__(self, pipe: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, deadline: float) -> str:
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            msg = "no output line in time"
            raise AssertionError(msg) from None
        if line is None:
            msg = "the pipe closed"
            raise AssertionError(msg)
        return line

    def rest(self, timeout: float = 5.0) -> list[str]:
        """Every remaining line up to the end of the pipe."""
        self._thread.join(timeout)
        lines: list[str] = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return lines
            if line is not None:
                lines.append(line)


@dataclass
class LoggerProcess:
    process: subprocess.Popen[str]
    port: int
    stdout: LineReader
    stderr: LineReader

    def records_until_disconnected(self) -> list[dict[str, Any]]:
        """The JSON records printed up to and including the next ``Disconnected``."""
        deadline = time.monotonic() + TIMEOUT
        records: list[dict[str, Any]] = []
        while not records or records[-1]["event"] != "Disconnected":
            records.append(json.loads(self.stdout.next_line(deadline)))
        return records


@pytest.fixture
def event_logger() -> Iterator[LoggerProcess]:
    """``examples/event_logger_server.py`` on a free port; must exit 0 promptly on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, str(EVENT_LOGGER), "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = LineReader(process.stdout), LineReader(process.stderr)
        banner = stderr.next_line(time.monotonic() + TIMEOUT)
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        yield LoggerProcess(process, int(match[1]), stdout, stderr)

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, stderr.rest()
        assert time.monotonic() - started < 5.0
        assert stdout.rest() == []  # nothing after the sessions the test looked at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def record_media_type(record: dict[str, Any]) -> str:
    """``data_type`` of a printed media record: "audio" or "video"."""
    value = record["data_type"]
    assert value in ("audio", "video"), value
    return str(value)


def test_event_logger_prints_media_type_as_its_value(
    event_logger: LoggerProcess, h264_aac_flv: Path
) -> None:
    url = f"rtmp://127.0.0.1:{event_logger.port}/live/key"
    ffmpeg("-i", str(h264_aac_flv), "-c", "copy", "-f", "flv", url)
    records = event_logger.records_until_disconnected()
    kinds = {r["data_type"] for r in records if r["event"] == "AudioVideoDataReceived"}
    assert kinds == {"audio", "video"}


def test_ffmpeg_publishes_to_the_event_logger_example(
    event_logger: LoggerProcess, h264_aac_flv: Path
) -> None:
    reference = ffmpeg_reference(h264_aac_flv, h264_aac_flv.parent)
    url = f"rtmp://127.0.0.1:{event_logger.port}/live/key"
    ffmpeg("-i", str(h264_aac_flv), "-c", "copy", "-f", "flv", url)
    records = event_logger.records_until_disconnected()

    names = [r["event"] for r in records]
    assert names[0] == "ConnectionRequested"
    assert records[0]["connect"]["tc_url"] == f"rtmp://127.0.0.1:{event_logger.port}/live"
    publish = records[names.index("PublishStreamRequested")]
    assert (publish["stream_key"], publish["publish_type"]) == ("key", "live")
    metadata = records[names.index("StreamMetaDataChanged")]
    assert metadata["meta_data"]["video_codec"] == "H.264"
    assert metadata["meta_data"]["audio_codec"] == "AAC"
    assert metadata["raw"] == live_metadata(reference)

    media = [r for r in records if r["event"] == "AudioVideoDataReceived"]
    video = [(r["timestamp"], r["sha1"]) for r in media if record_media_type(r) == "video"]
    audio = [(r["timestamp"], r["sha1"]) for r in media if record_media_type(r) == "audio"]
    assert video == reference.video
    assert audio == reference.audio
    assert [r["length"] for r in media] == [len(t.data) for t in reference.media_tags]
    assert names.index("PublishStreamRequested") < names.index("AudioVideoDataReceived")
    assert names.index("PublishingFinished") > len(names) - 1 - names[::-1].index(
        "AudioVideoDataReceived"
    )
    assert records[-1] == {"event": "Disconnected", "reason": None}


def test_ffmpeg_plays_from_the_event_logger_example(
    event_logger: LoggerProcess, tmp_path: Path
) -> None:
    url = f"rtmp://127.0.0.1:{event_logger.port}/live/key"
    # The example accepts the play but sends no media: FFmpeg waits for data until its
    # read timeout (1.5 s) and gives up without opening the input.
    started = time.monotonic()
    result = ffmpeg(
        "-rw_timeout", "1500000", "-i", url, "-f", "flv", str(tmp_path / "o.flv"), check=False
    )
    assert result.returncode != 0
    assert time.monotonic() - started < TIMEOUT
    records = event_logger.records_until_disconnected()

    names = [r["event"] for r in records]
    assert names[0] == "ConnectionRequested"
    play = records[names.index("PlayStreamRequested")]
    assert (play["stream_key"], play["app_name"]) == ("key", "live")
    finished = records[names.index("PlayStreamFinished")]
    assert (finished["stream_key"], finished["stream_id"]) == ("key", play["stream_id"])
    assert names.index("PlayStreamRequested") < names.index("PlayStreamFinished")
    assert "AudioVideoDataReceived" not in names
    assert records[-1] == {"event": "Disconnected", "reason": None}
