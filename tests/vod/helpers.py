"""What the VOD tests compare: a file's media from a seek point, as players receive it."""

from __future__ import annotations

from pathlib import Path

from rtmp_actors.client import RtmpClient
from rtmp_actors.media.flv import FlvReader, FlvTag, TagType, read_flv_file
from rtmp_actors.relay.server import RelayServer
from rtmp_actors.session import client_events as client
from rtmp_actors.session.events import MediaType
from rtmp_actors.vod.index import FlvIndex, index_flv
from tests.actors.harness import EventLog

Media = tuple[MediaType, int, bytes]

_KINDS = {TagType.AUDIO: MediaType.AUDIO, TagType.VIDEO: MediaType.VIDEO}


def as_media(tags: list[FlvTag]) -> list[Media]:
    """The audio and video tags, as (kind, timestamp, body)."""
    return [
        (_KINDS[TagType(t.tag_type)], t.timestamp, t.data) for t in tags if t.tag_type in _KINDS
    ]


def file_index(path: Path) -> FlvIndex:
    with open(path, "rb") as file:
        return index_flv(file)


def media_from(path: Path, milliseconds: float) -> list[Media]:
    """What a player gets after seeking to ``milliseconds``: configuration, then the file.

    The configuration tags carry the seek point's timestamp; the rest their own.
    """
    index = file_index(path)
    timestamp, offset = index.seek_point(milliseconds)
    with open(path, "rb") as file:
        configs = []
        for config in index.configs_before(offset):
            file.seek(config)
            tag = FlvReader.resume(file, index.header, config).read_tag()
            assert tag is not None
            configs.append(FlvTag(tag.tag_type, timestamp, tag.data))
        file.seek(offset)
        return as_media(configs + list(FlvReader.resume(file, index.header, offset)))


def file_media(path: Path) -> list[Media]:
    return as_media(list(read_flv_file(path, strict=False)))


def connected(relay: RelayServer, log: EventLog, app: str = "vod") -> RtmpClient:
    host, port = relay.address
    rtmp_client = RtmpClient.connect(
        f"rtmp://{host}:{port}/{app}", event_receiver_factory=log.receiver_factory()
    )
    assert log.wait(client.ConnectionResponseReceived).was_accepted
    return rtmp_client


def next_media(log: EventLog, count: int) -> list[Media]:
    return [
        (e.data_type, e.timestamp, e.data)
        for e in (log.wait(client.AudioVideoDataReceived) for _ in range(count))
    ]
