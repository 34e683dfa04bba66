"""Which kind of ProtocolError the media layer raises: a bad file or tag, or the caller's misuse."""

from __future__ import annotations

import io

import pytest

from rtmp_actors.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from rtmp_actors.media.audio import parse_audio_tag
from rtmp_actors.media.codecs import fourcc_from_number, fourcc_to_number, video_codec_id
from rtmp_actors.media.flv import FlvHeader, FlvReader, FlvWriter
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.media.video import parse_video_tag


@pytest.mark.parametrize(
    "decode",
    [
        lambda: FlvReader(io.BytesIO(b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")),
        lambda: parse_video_tag(b"\x17"),  # AVC without its packet type and composition time
        lambda: parse_audio_tag(b"\xaf\x07"),  # an unknown AAC packet type
    ],
)
def test_bad_bytes_raise_remote_protocol_error(decode: object) -> None:
    with pytest.raises(RemoteProtocolError):
        decode()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("misuse", "match"),
    [
        (lambda: FlvWriter(io.BytesIO()).write(9, -1, b""), "timestamp"),
        (lambda: FlvHeader(version=256), "does not fit in a byte"),
        (lambda: fourcc_to_number("abc"), "four characters"),
        (lambda: fourcc_to_number("\u0101bcd"), "0-255"),
        (lambda: fourcc_from_number(-1), "32-bit"),
        (lambda: video_codec_id("H.266"), "unknown video codec name"),
        (lambda: StreamMetadata(audio_codec="Vorbis"), "unknown audio codec name"),
    ],
)
def test_misuse_raises_local_protocol_error(misuse: object, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match) as raised:
        misuse()  # type: ignore[operator]
    assert isinstance(raised.value, ProtocolError)
    assert not isinstance(raised.value, ValueError)
