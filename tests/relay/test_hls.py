"""HLS output: the MPEG-TS muxer, the segmenter, the playlist, names, and the relay with FFmpeg."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pykka
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.actors.client_session import ClientSessionActor
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media import hls_segmenter
from rtmp_actors.media.audio import is_audio_configuration
from rtmp_actors.media.elementary import AacConfig, AvcConfig, avcc_to_annexb
from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.media.fmp4 import FragmentSample, box, media_segment, opus_dops
from rtmp_actors.media.hls_fmp4 import Fmp4Segmenter, InitSegment
from rtmp_actors.media.hls_segmenter import SegmentStart, TsSegmenter
from rtmp_actors.media.mpegts import PACKET_SIZE, TsMuxer, TsStreamType, mpeg_crc32
from rtmp_actors.media.video import VideoPacketType, is_video_configuration, parse_video_tag
from rtmp_actors.relay.config import RelayConfig
from rtmp_actors.relay.hls import HlsSettings, HlsStreamWriter, stream_directory
from rtmp_actors.relay.hls_playlist import LivePlaylist, Segment
from rtmp_actors.relay.http_flv_request import HttpRequestError
from rtmp_actors.relay.http_hls import open_hls_file
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session.events import MediaType
from tests.conftest import make_sample_flv
from tests.peers import debian_tool, ffmpeg_exe, poll_until, run_ffmpeg
from tests.relay.test_recording import publisher

TIMEOUT = 30.0
_CODED_VIDEO = (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X)
# FFmpeg's own PAT for transport stream 1, program 1, PMT on PID 0x1000 (golden bytes).
FFMPEG_PAT = bytes.fromhex("474000100000b00d0001c100000001f0002ab104b2")
SPS = bytes.fromhex("6742c01eda0280bfe5c04400000300040000030c83c58ba8")
PPS = bytes.fromhex("68ce3c80")
AVC_RECORD = b"\x01\x42\xc0\x1e\xff\xe1" + len(SPS).to_bytes(2) + SPS + b"\x01"
AVC_RECORD += len(PPS).to_bytes(2) + PPS


# --- MPEG-TS ---------------------------------------------------------------------------------


def test_the_pat_is_ffmpegs_byte_for_byte() -> None:
    tables = TsMuxer(TsStreamType.H264, TsStreamType.AAC_ADTS).tables()
    assert len(tables) == 2 * PACKET_SIZE
    assert tables[: len(FFMPEG_PAT)] == FFMPEG_PAT
    assert set(tables[len(FFMPEG_PAT) : PACKET_SIZE]) == {0xFF}


def test_psi_sections_check_with_their_crc() -> None:
    tables = TsMuxer(TsStreamType.H264, None).tables()
    for packet in (tables[:PACKET_SIZE], tables[PACKET_SIZE:]):
        length = int.from_bytes(packet[6:8]) & 0x0FFF
        section = packet[5 : 8 + length]
        assert mpeg_crc32(section) == 0  # a section with its CRC leaves a zero remainder


def _packets(data: bytes) -> list[bytes]:
    assert len(data) % PACKET_SIZE == 0
    return [data[i : i + PACKET_SIZE] for i in range(0, len(data), PACKET_SIZE)]


def _payload(packet: bytes) -> bytes:
    start = 4 + (packet[4] + 1 if packet[3] & 0x20 else 0)
    return packet[start:]


@given(st.binary(max_size=3000), st.integers(0, 2**33 - 1), st.booleans())
def test_an_access_unit_comes_back_from_its_packets(data: bytes, dts: int, key: bool) -> None:
    muxer = TsMuxer(TsStreamType.H264, TsStreamType.AAC_ADTS)
    packets = _packets(muxer.video_access_unit(dts, dts + 3600, data, keyframe=key))
    assert all(p[0] == 0x47 and int.from_bytes(p[1:3]) & 0x1FFF == 0x100 for p in packets)
    assert [p[3] & 0x0F for p in packets] == [i % 16 for i in range(len(packets))]
    assert packets[0][1] & 0x40  # payload unit start
    assert not any(p[1] & 0x40 for p in packets[1:])
    pes = b"".join(_payload(p) for p in packets)
    assert pes[:4] == b"\x00\x00\x01\xe0"
    assert pes[9 + pes[8] :] == data
    assert bool(packets[0][5] & 0x40) == key  # random access indicator


# --- Elementary streams ----------------------------------------------------------------------


def test_avcc_becomes_annexb_with_parameter_sets_before_keyframes() -> None:
    config = AvcConfig.parse(AVC_RECORD)
    assert config.length_size == 4
    idr, slice_ = b"\x65\x88\x84", b"\x41\x9a\x02"
    payload = len(idr).to_bytes(4) + idr
    start = b"\x00\x00\x00\x01"
    aud = start + b"\x09\xf0"
    assert avcc_to_annexb(payload, config, keyframe=True) == aud + start + SPS + start + PPS + (
        start + idr
    )
    payload = b"\x00\x00\x00\x02\x09\x10" + len(slice_).to_bytes(4) + slice_  # with its own AUD
    assert avcc_to_annexb(payload, config, keyframe=False) == aud + start + slice_


@given(st.binary(max_size=200))
def test_arbitrary_avc_input_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        avcc_to_annexb(data, AvcConfig.parse(data), keyframe=True)


def test_adts_header_golden_bytes() -> None:
    config = AacConfig.parse(b"\x11\x90")  # AAC LC, 48 kHz, stereo
    assert (config.object_type, config.sample_rate, config.channels) == (2, 48000, 2)
    assert config.adts_header(100) == bytes.fromhex("fff14c800d7ffc")


# --- Segmenter -------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), st.binary(max_size=64))))
def test_arbitrary_messages_raise_only_protocol_errors(
    messages: list[tuple[bool, int, bytes]],
) -> None:
    segmenter = TsSegmenter(1.0)
    for video, timestamp, data in messages:
        with contextlib.suppress(ProtocolError):
            segmenter.feed(MediaType.VIDEO if video else MediaType.AUDIO, timestamp, data)


def feed_file(path: Path, target: float) -> list[tuple[float | None, bytes]]:
    """Segment an FLV file: (previous duration, segment bytes) per segment, then the last."""
    segmenter = TsSegmenter(target)
    segments: list[list[bytes]] = []
    durations: list[float | None] = []
    for tag in read_flv_file(path):
        if tag.tag_type not in (TagType.AUDIO, TagType.VIDEO):
            continue
        kind = MediaType.VIDEO if tag.tag_type == TagType.VIDEO else MediaType.AUDIO
        for out in segmenter.feed(kind, tag.timestamp, tag.data):
            if isinstance(out, SegmentStart):
                durations.append(out.previous_duration)
                segments.append([])
            else:
                segments[-1].append(out)
    durations = [*durations[1:], segmenter.finish()[1]]
    return [(d, b"".join(parts)) for d, parts in zip(durations, segments, strict=True)]


def probe_frames(path: Path | str, *extra: str) -> dict[str, int]:
    ffprobe = debian_tool("ffprobe")
    command = [ffprobe, "-v", "error", *extra, "-count_frames", "-show_entries"]
    command += ["stream=codec_type,nb_read_frames", "-of", "json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    streams = json.loads(result.stdout)["streams"]
    return {s["codec_type"]: int(s["nb_read_frames"]) for s in streams}


@pytest.fixture(scope="module")
def six_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of H.264 (B-frames, a keyframe a second) and AAC."""
    return make_sample_flv(tmp_path_factory.mktemp("hls"), "h264_aac", seconds=6.0)


def test_segments_start_at_keyframes_and_decode_on_their_own(
    six_seconds: Path, tmp_path: Path
) -> None:
    segments = feed_file(six_seconds, 2.0)
    assert [round(d or 0, 3) for d, _ in segments] == [2.0, 2.0, 2.0]
    video = 0
    for i, (_, data) in enumerate(segments):
        path = tmp_path / f"{i}.ts"
        path.write_bytes(data)
        frames = probe_frames(path)
        assert frames["video"] == 50  # 2 s at 25 fps, each segment alone
        video += frames["video"]
    assert video == probe_frames(six_seconds)["video"]


# --- Playlist --------------------------------------------------------------------------------


def test_the_playlist_slides_and_counts_discontinuities() -> None:
    playlist = LivePlaylist(2.0, 2)
    assert playlist.add(Segment(0, "0.ts", 2.0)) == []
    assert playlist.add(Segment(1, "1.ts", 2.6, discontinuity=True)) == []
    assert playlist.add(Segment(2, "2.ts", 2.0)) == [Segment(0, "0.ts", 2.0)]
    assert playlist.render() == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n"
        "#EXT-X-DISCONTINUITY\n#EXTINF:2.600,\n1.ts\n#EXTINF:2.000,\n2.ts\n"
    )
    playlist.add(Segment(3, "3.ts", 1.0))
    playlist.ended = True
    text = playlist.render()
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in text
    assert "#EXT-X-TARGETDURATION:3\n" in text  # never shrinks
    assert text.endswith("#EXT-X-ENDLIST\n")


# --- Names and paths -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../x", "a/b", "..", "x\x00y", "k" * 5000, ".hidden", "é"])
def test_hostile_keys_stay_inside_the_folder(tmp_path: Path, key: str) -> None:
    path = stream_directory(tmp_path, "live", key)
    assert path.parent == (tmp_path / "live").resolve()
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", path.name)
    assert ".." not in path.name


def test_names_that_had_to_change_never_meet(tmp_path: Path) -> None:
    names = {stream_directory(tmp_path, "live", k) for k in ("a/b", "a_b", "a\x00b", "a")}
    assert len(names) == 4
    assert stream_directory(tmp_path, "live", "a?token=1").name == "a"  # no query string
    assert stream_directory(tmp_path, "live", "cam") == (tmp_path / "live" / "cam").resolve()


@pytest.mark.parametrize(
    "path",
    [
        "/hls/live/cam/../../x/index.m3u8",
        "/hls/live/../cam/index.m3u8",
        "/hls/live/cam/secret.txt",
        "/hls/live/cam/%2e%2e",
        "/hls/live/index.m3u8",
        "/hls/live/cam/.index.m3u8.tmp",
        "/hls/live/cam/x/0.ts",
        "/hls/live/cam/0.ts",  # not written
    ],
)
def test_requests_outside_the_playlists_and_segments_are_404(tmp_path: Path, path: str) -> None:
    (tmp_path / "live" / "cam").mkdir(parents=True)
    (tmp_path / "live" / "cam" / "secret.txt").write_text("no")
    (tmp_path / "live" / "cam" / ".index.m3u8.tmp").write_text("no")
    with pytest.raises(HttpRequestError) as refused:
        open_hls_file(tmp_path, path)
    assert refused.value.status == 404


# --- The relay, with FFmpeg ------------------------------------------------------------------


@pytest.fixture
def hls_relay(tmp_path: Path) -> Iterator[RelayServer]:
    settings = HlsSettings(dir=str(tmp_path / "hls"), segment_duration=1.0, playlist_length=3)
    config = RelayConfig(port=0, http_port=0, hls=settings)
    with RelayServer(config) as relay:
        yield relay


def http_get(relay: RelayServer, path: str) -> tuple[int, str, bytes, str]:
    address = relay.http_address
    assert address is not None
    try:
        with urllib.request.urlopen(f"http://{address[0]}:{address[1]}{path}", timeout=10) as r:
            cors = r.headers.get("Access-Control-Allow-Origin", "")
            return r.status, r.headers.get("Content-Type", ""), r.read(), cors
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read(), ""


def publish(relay: RelayServer, source: Path, key: str = "cam") -> None:
    host, port = relay.address
    run_ffmpeg("-i", str(source), "-c", "copy", "-f", "flv", f"rtmp://{host}:{port}/live/{key}")


def wait_for_end(playlist: Path, count: int = 1) -> str:
    def ended() -> bool:
        return playlist.exists() and playlist.read_text().count("#EXT-X-ENDLIST") >= count

    poll_until(ended, TIMEOUT, f"{playlist} to end")  # FFmpeg's unpublish, in another process
    return playlist.read_text()


def check_playlist(text: str, target: float, length: int) -> list[tuple[int, float]]:
    """A mediastreamvalidator-style check; returns (sequence, duration) of each segment."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    (target_duration,) = (int(x[22:]) for x in lines if x.startswith("#EXT-X-TARGETDURATION:"))
    (first,) = (int(x[22:]) for x in lines if x.startswith("#EXT-X-MEDIA-SEQUENCE:"))
    durations = [float(x[8:].rstrip(",")) for x in lines if x.startswith("#EXTINF:")]
    uris = [x for x in lines if x and not x.startswith("#")]
    assert len(uris) == len(durations) <= length
    assert uris == [f"{first + i}.ts" for i in range(len(uris))]  # numbers follow the sequence
    assert target_duration >= max(round(d) for d in durations)
    assert target_duration >= target
    return [(first + i, d) for i, d in enumerate(durations)]


def test_ffmpeg_reads_every_frame_from_the_playlist(
    hls_relay: RelayServer, six_seconds: Path, tmp_path: Path
) -> None:
    publish(hls_relay, six_seconds)
    root = hls_relay.hls_root
    assert root is not None
    text = wait_for_end(root / "live" / "cam" / "index.m3u8")
    segments = check_playlist(text, 1.0, 3)
    assert [s for s, _ in segments] == [3, 4, 5]  # six 1 s segments, the last three listed
    assert sorted(p.name for p in (root / "live" / "cam").glob("*.ts")) == [
        "1.ts",
        "2.ts",
        "3.ts",
        "4.ts",
        "5.ts",
    ]  # 0.ts is deleted; two are kept after they leave the window

    status, content_type, body, cors = http_get(hls_relay, "/hls/live/cam/index.m3u8")
    assert (status, content_type, cors) == (200, "application/vnd.apple.mpegurl", "*")
    assert body.decode() == text
    status, content_type, body, _ = http_get(hls_relay, "/hls/live/cam/5.ts")
    assert (status, content_type) == (200, "video/mp2t")
    assert body == (root / "live" / "cam" / "5.ts").read_bytes()  # sent whole, from the file
    address = hls_relay.http_address
    assert address is not None
    head = urllib.request.Request(
        f"http://{address[0]}:{address[1]}/hls/live/cam/5.ts", method="HEAD"
    )
    with urllib.request.urlopen(head, timeout=10) as answer:
        assert int(answer.headers["Content-Length"]) == len(body)
        assert answer.read() == b""
    assert http_get(hls_relay, "/hls/live/cam/../../../etc/passwd")[0] == 404
    assert http_get(hls_relay, "/hls/live/nobody/index.m3u8")[0] == 404

    # FFmpeg reads the window over HTTP: 3 s of frames, and timestamps that do not jump.
    address = hls_relay.http_address
    assert address is not None
    url = f"http://{address[0]}:{address[1]}/hls/live/cam/index.m3u8"
    frames = probe_frames(url)
    assert frames["video"] == 75  # 3 segments of 25 frames: none lost at the boundaries
    ffprobe = debian_tool("ffprobe")
    result = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=dts",
            "-of",
            "csv=p=0",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    dts = [int(line.split(",")[0]) for line in result.stdout.split()]
    assert {b - a for a, b in itertools.pairwise(dts)} == {3600}  # 40 ms at 90 kHz


def test_a_publisher_restart_is_a_discontinuity(
    hls_relay: RelayServer, six_seconds: Path, tmp_path: Path
) -> None:
    root = hls_relay.hls_root
    assert root is not None
    playlist = root / "live" / "cam" / "index.m3u8"
    publish(hls_relay, six_seconds)
    wait_for_end(playlist)
    short = make_sample_flv(tmp_path, "h264_aac", seconds=2.0)
    publish(hls_relay, short)

    def second_ended() -> bool:
        text = playlist.read_text()  # once: the writer replaces it between segments
        return "#EXT-X-ENDLIST" in text and "#EXT-X-DISCONTINUITY" in text

    poll_until(second_ended, TIMEOUT, "the second publication to end")
    text = playlist.read_text()
    segments = check_playlist(text, 1.0, 3)
    assert [s for s, _ in segments] == [5, 6, 7]  # numbers go on across publications
    lines = text.splitlines()
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 2] == "6.ts"
    assert len(list(playlist.parent.glob("*.ts"))) == 5


def test_a_returning_publisher_takes_the_end_off_at_once(
    hls_relay: RelayServer, six_seconds: Path
) -> None:
    root = hls_relay.hls_root
    assert root is not None
    playlist = root / "live" / "back" / "index.m3u8"
    publish_with_client(hls_relay, "back", flv_media(six_seconds))
    ended = wait_for_end(playlist)
    publisher(hls_relay, "back")  # publishing again, and nothing sent yet: no new segment

    def reopened() -> bool:
        return "#EXT-X-ENDLIST" not in playlist.read_text()

    poll_until(reopened, TIMEOUT, "the playlist's end to be taken off")
    assert playlist.read_text() == ended.replace("#EXT-X-ENDLIST\n", "")  # same segments


def test_hls_settings_come_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text('[hls]\ndir = "/srv/hls"\nsegment_duration = 4\nplaylist_length = 6\n')
    config = RelayConfig.from_toml(path)
    assert config.hls == HlsSettings(dir="/srv/hls", segment_duration=4, playlist_length=6)
    assert RelayConfig.from_toml(_write(tmp_path, "[server]\nport = 1\n")).hls is None
    with pytest.raises(ValueError, match="segment_length"):
        RelayConfig.from_toml(_write(tmp_path, "[hls]\nsegment_length = 4\n"))
    with pytest.raises(ValueError, match="positive"):
        RelayConfig.from_toml(_write(tmp_path, "[hls]\nsegment_duration = 0\n"))
    assert replace(HlsSettings(), dir="x").dir == "x"


def _write(directory: Path, text: str) -> Path:
    path = directory / "other.toml"
    path.write_text(text)
    return path


def coded_frames(path: Path) -> dict[str, int]:
    """Audio and video frames (not configuration) in an FLV file, counted by our parsers."""
    counts = {"audio": 0, "video": 0}
    for tag in read_flv_file(path):
        if tag.tag_type == TagType.VIDEO and not is_video_configuration(tag.data):
            counts["video"] += parse_video_tag(tag.data).packet_type in _CODED_VIDEO
        elif tag.tag_type == TagType.AUDIO and not is_audio_configuration(tag.data):
            counts["audio"] += 1
    return counts


@pytest.mark.peers
@pytest.mark.parametrize(
    ("sample", "codecs", "names"),
    [
        ("hevc_flv", "hvc1,mp4a", {"video": "hevc", "audio": "aac"}),
        ("av1_opus_flv", "av01,Opus", {"video": "av1", "audio": "opus"}),
    ],
    ids=["hevc-aac", "av1-opus"],
)
def test_enhanced_rtmp_codecs_become_fmp4_segments(
    hls_relay: RelayServer,
    request: pytest.FixtureRequest,
    sample: str,
    codecs: str,
    names: dict[str, str],
) -> None:
    source: Path = request.getfixturevalue(sample)
    host, port = hls_relay.address
    url = f"rtmp://{host}:{port}/live/cam"
    run_ffmpeg("-i", str(source), "-c", "copy", "-rtmp_enhanced_codecs", codecs, "-f", "flv", url)
    root = hls_relay.hls_root
    assert root is not None
    text = wait_for_end(root / "live" / "cam" / "index.m3u8")
    lines = text.splitlines()
    assert lines[1] == "#EXT-X-VERSION:7"
    assert lines[4] == '#EXT-X-MAP:URI="init-0.mp4"'
    assert [x for x in lines if x and not x.startswith("#")] == ["0.m4s", "1.m4s"]
    address = hls_relay.http_address
    assert address is not None
    status, content_type, init, _ = http_get(hls_relay, "/hls/live/cam/init-0.mp4")
    assert (status, content_type, init[4:8]) == (200, "video/mp4", b"ftyp")

    # FFmpeg 9 reads the playlist over HTTP: the codecs, and every frame that was published.
    playlist_url = f"http://{address[0]}:{address[1]}/hls/live/cam/index.m3u8"
    ffmpeg = ffmpeg_exe()  # Debian's ffprobe is 5.1: FFmpeg 9 lists the packets
    result = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", playlist_url, "-map", "0", "-c", "copy",
         "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for kind, codec in names.items():
        assert re.search(rf"Stream #0:\d+.*: {kind.capitalize()}: {codec}", result.stderr), kind
    rows = [line.split(",") for line in result.stdout.splitlines() if not line.startswith("#")]
    found = {"video": 0, "audio": 0}
    for row in rows:
        found["video" if row[0].strip() == "0" else "audio"] += 1
    assert found == coded_frames(source)


# --- Hostile names and failures, through the relay -------------------------------------------


def flv_media(path: Path) -> list[tuple[MediaType, int, bytes]]:
    kinds = {TagType.AUDIO: MediaType.AUDIO, TagType.VIDEO: MediaType.VIDEO}
    return [
        (kinds[TagType(t.tag_type)], t.timestamp, t.data)
        for t in read_flv_file(path)
        if t.tag_type in kinds
    ]


def publish_with_client(
    relay: RelayServer, key: str, media: list[tuple[MediaType, int, bytes]]
) -> None:
    """Publish ``media`` as ``live/<key>`` with our own client, then unpublish."""
    source = publisher(relay, key)
    for message in media:
        source.session.tell(ClientSessionActor.publish_av_data, key, *message)
    source.session.tell(ClientSessionActor.stop_publish, key)


@pytest.mark.parametrize(
    "key", ["../../escaped", "a/b", "..", "x?token=../../y", "nul\x00byte", "k" * 300]
)
def test_hostile_stream_keys_are_packaged_inside_the_folder(
    tmp_path: Path, six_seconds: Path, key: str
) -> None:
    root = tmp_path / "hls"
    settings = HlsSettings(dir=str(root), segment_duration=1.0, playlist_length=3)
    relay = RelayServer(RelayConfig(port=0, hls=settings)).start()
    try:
        publish_with_client(relay, key, flv_media(six_seconds))
        playlist = stream_directory(root, "live", key) / "index.m3u8"
        wait_for_end(playlist)
    finally:
        relay.stop()
    assert [p.name for p in tmp_path.iterdir()] == ["hls"]  # nothing written anywhere else
    (folder,) = (root / "live").iterdir()
    assert folder == playlist.parent
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", folder.name)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["1.ts", "2.ts", "3.ts", "4.ts", "5.ts", "index.m3u8"]


def test_a_stream_that_cannot_be_written_does_not_stop_the_others(
    tmp_path: Path, six_seconds: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "hls"
    (root / "live").mkdir(parents=True)
    (root / "live" / "blocked").write_text("a file where the stream's folder would go")
    settings = HlsSettings(dir=str(root), segment_duration=1.0, playlist_length=3)
    relay = RelayServer(RelayConfig(port=0, hls=settings)).start()
    try:
        media = flv_media(six_seconds)
        publish_with_client(relay, "blocked", media)
        publish_with_client(relay, "fine", media)
        text = wait_for_end(root / "live" / "fine" / "index.m3u8")
    finally:
        relay.stop()
    assert "#EXTINF" in text
    assert (root / "live" / "blocked").read_text().startswith("a file")
    assert any("HLS live/blocked stopped" in r.getMessage() for r in caplog.records)


def test_streams_beyond_max_streams_are_not_packaged(
    tmp_path: Path, six_seconds: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "hls"
    settings = HlsSettings(dir=str(root), segment_duration=1.0, max_streams=1)
    relay = RelayServer(RelayConfig(port=0, hls=settings)).start()
    try:
        media = flv_media(six_seconds)
        first = publisher(relay, "first")
        first.session.tell(ClientSessionActor.publish_av_data, "first", *media[0])
        publish_with_client(relay, "second", media)  # while the first still publishes
        first.session.tell(ClientSessionActor.stop_publish, "first")
        publish_with_client(relay, "third", media)  # the first is idle now: it makes room
        wait_for_end(root / "live" / "third" / "index.m3u8")
    finally:
        relay.stop()
    assert not (root / "live" / "second").exists()
    assert any("not packaging live/second" in r.getMessage() for r in caplog.records)


# --- fMP4 ------------------------------------------------------------------------------------


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, content) of each box at the top of ``data``."""
    found, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4])
        assert size >= 8
        found.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + size]))
        offset += size
    assert offset == len(data)
    return found


def test_box_golden_bytes() -> None:
    assert box(b"free", b"ab") == b"\x00\x00\x00\x0afreeab"
    opus_head = bytes.fromhex("4f707573486561640101380180bb0000000000")
    dops, channels = opus_dops(opus_head)
    assert channels == 1
    assert dops == bytes.fromhex("000101380000bb80000000")
    with pytest.raises(ProtocolError):
        opus_dops(b"OpusTags" + bytes(11))


def test_a_media_segment_points_at_its_samples() -> None:
    video = [FragmentSample(40, 80, True, b"K" * 10), FragmentSample(40, 0, False, b"P" * 3)]
    audio = [FragmentSample(21, 0, True, b"a" * 7)]
    data = media_segment(5, [(1, 1000, video), (2, 990, audio)])
    (styp, _), (moof, moof_body), (mdat, mdat_body) = boxes(data)
    assert (styp, moof, mdat) == (b"styp", b"moof", b"mdat")
    assert mdat_body == b"K" * 10 + b"P" * 3 + b"a" * 7
    mfhd, *trafs = boxes(moof_body)
    assert mfhd == (b"mfhd", bytes(4) + (5).to_bytes(4))
    moof_start = len(boxes(data)[0][1]) + 8
    for (kind, traf), (track_id, base, samples) in zip(
        trafs, [(1, 1000, video), (2, 990, audio)], strict=True
    ):
        assert kind == b"traf"
        (_, tfhd), (_, tfdt), (_, trun) = boxes(traf)
        assert int.from_bytes(tfhd[4:8]) == track_id
        assert int.from_bytes(tfdt[4:12]) == base
        count, offset = int.from_bytes(trun[4:8]), int.from_bytes(trun[8:12], signed=True)
        assert count == len(samples)
        first = data[moof_start + offset : moof_start + offset + len(samples[0].data)]
        assert first == samples[0].data  # the data offset counts from the moof


def test_the_init_segment_has_a_track_per_stream(av1_opus_flv: Path) -> None:
    segmenter = Fmp4Segmenter(1.0, 320, 240)
    outputs = [o for m in flv_media(av1_opus_flv) for o in segmenter.feed(*m)]
    (init,) = [o for o in outputs if isinstance(o, InitSegment)]
    top = boxes(init.data)
    assert [kind for kind, _ in top] == [b"ftyp", b"moov"]
    moov = boxes(top[1][1])
    assert [kind for kind, _ in moov] == [b"mvhd", b"trak", b"trak", b"mvex"]
    assert b"av01" in moov[1][1]
    assert b"av1C" in moov[1][1]
    assert b"dOps" in moov[2][1]


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), st.binary(max_size=64))))
def test_arbitrary_messages_raise_only_protocol_errors_in_fmp4(
    messages: list[tuple[bool, int, bytes]],
) -> None:
    segmenter = Fmp4Segmenter(1.0)
    for video, timestamp, data in messages:
        with contextlib.suppress(ProtocolError):
            segmenter.feed(MediaType.VIDEO if video else MediaType.AUDIO, timestamp, data)
    segmenter.finish()


def test_an_audio_only_stream_is_cut_at_any_frame() -> None:
    segmenter = TsSegmenter(1.0)
    outputs = segmenter.feed(MediaType.AUDIO, 0, b"\xaf\x00\x11\x90")  # AAC LC 48 kHz stereo
    for i in range(150):  # 3.2 s of 21.333 ms frames
        outputs += segmenter.feed(MediaType.AUDIO, i * 64 // 3, b"\xaf\x01" + bytes(50))
    starts = [o for o in outputs if isinstance(o, SegmentStart)]
    # The first is cut after a second of audio (in case video comes), and holds it.
    assert [s.timestamp for s in starts] == [0, 1024, 2026, 3029]
    assert all(s.previous_duration is None or s.previous_duration >= 1.0 for s in starts)
    ts = b"".join(o for o in outputs if isinstance(o, bytes))
    audio_starts = [p for p in _packets(ts) if int.from_bytes(p[1:3]) & 0x5FFF == 0x4101]
    assert len(audio_starts) == 150  # early audio included: every frame


def test_a_new_writer_numbers_on_from_an_earlier_ones_files(
    tmp_path: Path, six_seconds: Path
) -> None:
    root = tmp_path / "hls"
    folder = root / "live" / "cam"
    folder.mkdir(parents=True)
    for name in ("7.ts", "8.ts", "init-2.mp4", "index.m3u8", "notes.txt"):
        (folder / name).write_text("left by an earlier relay")
    settings = HlsSettings(dir=str(root), segment_duration=1.0, playlist_length=3)
    relay = RelayServer(RelayConfig(port=0, hls=settings)).start()
    try:
        publish_with_client(relay, "cam", flv_media(six_seconds))
        text = wait_for_end(folder / "index.m3u8")
    finally:
        relay.stop()
    segments = check_playlist(text, 1.0, 3)
    assert [s for s, _ in segments] == [12, 13, 14]  # 9 to 14: on from 8
    assert "#EXT-X-DISCONTINUITY\n" not in text  # the first listed is past it
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["10.ts", "11.ts", "12.ts", "13.ts", "14.ts", "index.m3u8", "notes.txt"]


def test_a_writer_another_took_over_from_numbers_on_after_it(
    tmp_path: Path, six_seconds: Path
) -> None:
    # Workers share the folder: a publisher that reconnects to another worker is packaged by
    # that worker's writer, and maybe by the first one's again later.
    folder = tmp_path / "live" / "cam"
    settings = HlsSettings(dir=str(tmp_path), segment_duration=1.0, playlist_length=3)
    media = flv_media(six_seconds)
    writers: list[pykka.ActorProxy[HlsStreamWriter]] = []

    def publish_into(writer: pykka.ActorProxy[HlsStreamWriter]) -> list[int]:
        writer.publication_started().get(timeout=TIMEOUT)
        writer.media_batch(media).get(timeout=TIMEOUT)
        writer.publication_ended().get(timeout=TIMEOUT)
        text = (folder / "index.m3u8").read_text()
        assert text.endswith("#EXT-X-ENDLIST\n")
        return [sequence for sequence, _ in check_playlist(text, 1.0, 3)]

    try:
        # Both exist before either publishes: the other one's first files come later.
        writers.extend(HlsStreamWriter.start(folder, settings, "live/cam").proxy() for _ in "ab")
        first, other = writers
        before = publish_into(first)
        elsewhere = publish_into(other)
        again = publish_into(first)  # back on the first worker
    finally:
        for writer in writers:
            writer.actor_ref.stop(timeout=TIMEOUT)
    assert min(elsewhere) > max(before)
    assert min(again) > max(elsewhere), "a number the other writer used, or going back"
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:2" in (folder / "index.m3u8").read_text()
    numbers = [int(p.stem) for p in folder.iterdir() if p.suffix == ".ts"]
    assert min(numbers) > max(elsewhere), "the other writer's segments are gone"


@given(
    st.lists(st.tuples(st.floats(0.001, 30.0), st.booleans()), min_size=1, max_size=40),
    st.floats(0.5, 10.0),
    st.integers(1, 6),
)
def test_playlists_keep_their_promises(
    segments: list[tuple[float, bool]], target: float, length: int
) -> None:
    playlist = LivePlaylist(target, length)
    first_sequences = []
    for sequence, (duration, discontinuity) in enumerate(segments):
        playlist.add(Segment(sequence, f"{sequence}.ts", duration, discontinuity))
        listed = check_playlist(playlist.render(), target, length)
        first_sequences.append(listed[0][0])
        assert listed[-1][0] == sequence
    assert first_sequences == sorted(first_sequences)  # the media sequence never goes back
    dropped = segments[: max(0, len(segments) - length)]
    expected = sum(1 for _, discontinuity in dropped if discontinuity)
    assert (f"#EXT-X-DISCONTINUITY-SEQUENCE:{expected}\n" in playlist.render()) == (expected > 0)


def test_a_temporary_hls_folder_is_removed_when_the_relay_stops() -> None:
    relay = RelayServer(RelayConfig(port=0, http_port=0, hls=HlsSettings())).start()
    root = relay.hls_root
    assert root is not None
    assert root.is_dir()
    relay.stop()
    assert not root.exists()


def test_a_stream_without_keyframes_still_gets_bounded_segments(
    six_seconds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher that stops sending keyframes must not grow one segment file for ever."""
    monkeypatch.setattr(hls_segmenter, "MAX_SEGMENT_BYTES", 50_000)
    tags = [t for t in read_flv_file(six_seconds) if t.tag_type == TagType.VIDEO]
    config, first_keyframe = tags[0], tags[1]
    inter = [t for t in tags[2:] if t.data[0] >> 4 != 1]  # every frame but keyframes
    segmenter = TsSegmenter(1.0)
    outputs = segmenter.feed(MediaType.VIDEO, 0, config.data)
    outputs += segmenter.feed(MediaType.VIDEO, 0, first_keyframe.data)
    for i in range(3):  # the inter frames, over and over: no keyframe after the first
        for n, tag in enumerate(inter):
            outputs += segmenter.feed(MediaType.VIDEO, 40 * (1 + n + i * len(inter)), tag.data)
    sizes: list[int] = []
    for out in outputs:
        if isinstance(out, SegmentStart):
            sizes.append(0)
        else:
            sizes[-1] += len(out)
    assert len(sizes) > 3
    assert max(sizes) < 50_000 + 200_000  # cut at the first frame past the bound
    assert sum(sizes) == sum(len(o) for o in outputs if isinstance(o, bytes))
