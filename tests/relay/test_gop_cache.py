"""The GOP cache on real FFmpeg output and on hand-built tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtmp_actors.media.flv import TagType, read_flv_file
from rtmp_actors.media.video import is_video_keyframe
from rtmp_actors.relay.gop_cache import GopCache, configuration_key
from rtmp_actors.session.events import MediaType

AVC_CONFIG = b"\x17\x00\x00\x00\x00avcC"
AAC_CONFIG = b"\xaf\x00\x12\x10"
KEY = b"\x17\x01\x00\x00\x00key"
INTER = b"\x27\x01\x00\x00\x00inter"
AAC = b"\xaf\x01frame"


def feed(cache: GopCache, path: Path) -> list[tuple[MediaType, bytes]]:
    media = []
    for tag in read_flv_file(path):
        if tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
            kind = MediaType.AUDIO if tag.tag_type == TagType.AUDIO else MediaType.VIDEO
            cache.add(kind, tag.timestamp, tag.data)
            media.append((kind, tag.data))
    return media


@pytest.mark.parametrize("sample", ["h264_aac_flv", "hevc_flv", "av1_opus_flv"])
def test_join_starts_with_configuration_then_the_last_keyframe(
    sample: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(sample)
    cache = GopCache()
    media = feed(cache, path)
    joined = list(cache.join())
    configs = [m for m in joined if configuration_key(m.media_type, m.data) is not None]
    frames = joined[len(configs) :]
    # Every configuration message comes first, one per kind, and nothing else does.
    assert {m.media_type for m in configs} == {MediaType.AUDIO, MediaType.VIDEO}
    assert all(configuration_key(m.media_type, m.data) is None for m in frames)
    # The frames start at the last keyframe and run to the end of the stream.
    assert frames[0].media_type is MediaType.VIDEO
    assert is_video_keyframe(frames[0].data)
    last_keyframe = max(
        i
        for i, (kind, data) in enumerate(media)
        if kind is MediaType.VIDEO and is_video_keyframe(data)
    )
    expected = [
        data for kind, data in media[last_keyframe:] if configuration_key(kind, data) is None
    ]
    assert [m.data for m in frames] == expected
    assert all(frame.data is original for frame, original in zip(frames, expected, strict=True))


def test_configuration_is_replaced_not_accumulated() -> None:
    cache = GopCache()
    cache.add(MediaType.VIDEO, 0, AVC_CONFIG)
    cache.add(MediaType.AUDIO, 0, AAC_CONFIG)
    new_config = AVC_CONFIG + b"v2"
    cache.add(MediaType.VIDEO, 100, new_config)
    assert [m.data for m in cache.join()] == [new_config, AAC_CONFIG]


def test_frames_before_the_first_keyframe_are_not_kept() -> None:
    cache = GopCache()
    cache.add(MediaType.VIDEO, 0, INTER)
    cache.add(MediaType.AUDIO, 1, AAC)
    assert list(cache.join()) == []
    assert cache.waits_for_keyframe
    cache.add(MediaType.VIDEO, 40, KEY)
    cache.add(MediaType.AUDIO, 41, AAC)
    assert [m.data for m in cache.join()] == [KEY, AAC]
    assert not cache.waits_for_keyframe


def test_an_oversized_gop_is_dropped() -> None:
    cache = GopCache(max_bytes=100)
    cache.add(MediaType.VIDEO, 0, KEY)
    for i in range(20):
        cache.add(MediaType.VIDEO, 40 * i, INTER)
    assert cache.gop_size == 0
    assert cache.waits_for_keyframe
    cache.add(MediaType.VIDEO, 1000, KEY)
    assert cache.gop_size == 1


def test_clear() -> None:
    cache = GopCache()
    cache.set_metadata({"width": 1})
    cache.add(MediaType.VIDEO, 0, AVC_CONFIG)
    cache.add(MediaType.VIDEO, 0, KEY)
    cache.clear()
    assert (cache.metadata, list(cache.join())) == (None, [])


def test_what_the_caller_keeps_with_a_message_comes_back_with_it() -> None:
    cache = GopCache()
    config, key, inter = object(), object(), object()
    cache.add(MediaType.VIDEO, 0, b"\x17\x00\x00\x00\x00config", prepared=config)
    cache.add(MediaType.VIDEO, 0, b"\x17\x01\x00\x00\x00key", keyframe=True, prepared=key)
    cache.add(MediaType.VIDEO, 40, b"\x27\x01\x00\x00\x00inter", keyframe=False, prepared=inter)
    assert [message.prepared for message in cache.join()] == [config, key, inter]
