"""Publishing on a server session: the request, its acceptance, then the publisher's data.

A ``publish`` on a created stream raises
:class:`~rtmp_actors.session.server_events.PublishStreamRequested`; once the user accepts it,
the stream is *publishing* and its audio, video, metadata and aggregates become events. Data
for a stream that does not publish (not yet, or no longer) is dropped and counted: it is late
or misdirected, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.metadata import StreamMetadata
from rtmp_actors.protocol.commands import (
    ClearDataFrame,
    NetStreamCode,
    OnMetaData,
    OnStatus,
    Publish,
    SetDataFrame,
    parse_data,
)
from rtmp_actors.protocol.messages import (
    AudioData,
    DataMessage,
    DetailedMessage,
    MessageType,
    RawMessage,
    StreamBegin,
    VideoData,
    decode_messages,
)
from rtmp_actors.session._server_base import (
    AUDIO,
    PUBLISHING,
    VIDEO,
    PublishRequest,
    ServerBase,
    Stream,
    describe,
)
from rtmp_actors.session.events import MediaType
from rtmp_actors.session.server_events import (
    AudioVideoDataReceived,
    PublishStreamRequested,
    StreamMetaDataChanged,
)
from rtmp_actors.session.server_streams import StreamState

__all__ = ["PublishHandling"]


class PublishHandling(ServerBase):
    """The publish side of the server session's message streams."""

    def _on_publish(self, command: Publish, stream_id: int) -> None:
        key = command.stream_name
        state, code = StreamState.PUBLISH_REQUESTED, NetStreamCode.PUBLISH_BAD_NAME
        if self._claim_stream(stream_id, key, state, code) is None:
            return
        request_id = self._requests.add(PublishRequest(stream_id, key))
        self._emit(
            PublishStreamRequested(request_id, self._app, key, stream_id, command.publish_type)
        )

    def _accept_publish(self, request: PublishRequest) -> None:
        stream = self._streams[request.stream_id]
        stream.state = StreamState.PUBLISHING
        self._send(StreamBegin(request.stream_id))
        self._send_command(OnStatus.publish_start(request.stream_key), request.stream_id)

    # --- What the publisher sends ------------------------------------------------------------

    def _on_data(self, message: DetailedMessage, content: DataMessage) -> None:
        stream = self._publishing_stream(message.stream_id)
        if stream is None:
            self._ignore("data on stream %d, which is not publishing", message.stream_id)
            return
        try:
            parsed = parse_data(content)
        except ProtocolError as error:
            self._ignore("malformed %r data: %s", content.name, error)
            return
        match parsed:
            case (
                SetDataFrame(handler="onMetaData", metadata=metadata)
                | OnMetaData(metadata=metadata)
            ):
                self._metadata_changed(stream, metadata)
            case ClearDataFrame(handler="onMetaData"):
                self._metadata_changed(stream, {})
            case _:
                self._ignore("data %r on stream %d", content.name, message.stream_id)

    def _metadata_changed(self, stream: Stream, properties: Mapping[str, Any]) -> None:
        raw = MappingProxyType(dict(properties))
        metadata = StreamMetadata.from_dict(raw)
        key = stream.stream_key or ""
        self._emit(StreamMetaDataChanged(self._app, key, stream.stream_id, metadata, raw))

    def _on_media(
        self, message: DetailedMessage, media: MediaType, data: bytes, now: float
    ) -> None:
        # _publishing_stream and _emit, inlined: this runs for every media message.
        stream = self._streams.get(message.stream_id)
        if stream is None or stream.state is not PUBLISHING or stream.stream_key is None:
            self._ignore("%s on stream %d, which is not publishing", media.value, message.stream_id)
            return
        self._events.append(
            AudioVideoDataReceived(
                self._app_name or "",
                stream.stream_key,
                stream.stream_id,
                media,
                data,
                message.timestamp,
                now,
            )
        )

    def _on_aggregate(self, message: DetailedMessage, payload: bytes, now: float) -> None:
        if self._publishing_stream(message.stream_id) is None:
            self._ignore("aggregate on stream %d, which is not publishing", message.stream_id)
            return
        raw = RawMessage(MessageType.AGGREGATE, message.stream_id, message.timestamp, payload)
        try:
            parts = decode_messages(raw, self._config.limits)
        except ProtocolError as error:
            self._ignore("malformed aggregate: %s", error)
            return
        for part in parts:
            match part.content:
                case AudioData(data=data):
                    self._on_media(part, AUDIO, data, now)
                case VideoData(data=data):
                    self._on_media(part, VIDEO, data, now)
                case DataMessage() as content:
                    self._on_data(part, content)
                case other:
                    self._ignore("%s inside an aggregate", describe(other))
