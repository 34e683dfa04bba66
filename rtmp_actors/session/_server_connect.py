"""``connect`` on a server session: the request, the commands held meanwhile, the answer.

The first command must be ``connect``; it raises
:class:`~rtmp_actors.session.server_events.ConnectionRequested`. Commands that arrive before
the user answers are held (a bounded few; real clients send none) and handled once the
connect is accepted. The accepted connect gets what FMS and FFmpeg's server send: Window
Acknowledgement Size, Set Peer Bandwidth, StreamBegin 0, Set Chunk Size, the ``_result`` and
``onBWDone``. The ``_result`` answers Enhanced RTMP: the FourCCs both sides handle, and our
``capsEx`` when the client announced anything enhanced.
"""

from __future__ import annotations

from typing import Final

from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.codecs import AudioFourCC, VideoFourCC
from rtmp_actors.protocol.commands import (
    Connect,
    ConnectResult,
    ErrorResult,
    FourCcCapability,
    NetConnectionCode,
    OnBWDone,
)
from rtmp_actors.protocol.messages import (
    BandwidthLimitType,
    CommandMessage,
    DetailedMessage,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    WindowAcknowledgementSize,
)
from rtmp_actors.session._server_base import ConnectRequest, Phase
from rtmp_actors.session._server_commands import CommandHandling
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import ConnectionRequested

__all__ = ["ConnectHandling", "app_name", "connect_result"]

_MAX_HELD_COMMANDS: Final = 32
"""Most commands held while the connect waits for an answer (real clients send none)."""
_BANDWIDTH_HINT: Final = 8192
"""The figure sent with ``onBWDone``, as FMS and FFmpeg's own server do."""
_VIDEO_FOURCCS: Final = frozenset(VideoFourCC)
_AUDIO_FOURCCS: Final = frozenset(AudioFourCC)
_WILDCARD: Final = "*"


def app_name(app: str) -> str:
    """The application name without its query string and trailing slashes."""
    name, _, _ = app.partition("?")
    return name.rstrip("/")


def _negotiate_fourcc_list(theirs: list[str], ours: tuple[str, ...]) -> list[str]:
    """The FourCCs both sides handle; ``"*"`` on one side accepts the other side's list."""
    if _WILDCARD in ours:
        return [_WILDCARD] if _WILDCARD in theirs else [c for c in theirs if c != _WILDCARD]
    if _WILDCARD in theirs:
        return list(ours)
    return [fourcc for fourcc in theirs if fourcc in ours]


def _info_map(ours: tuple[str, ...], kind: frozenset[str]) -> dict[str, int]:
    """Our FourCCs of one kind (video or audio), each marked as forwardable."""
    if _WILDCARD in ours:
        return {_WILDCARD: FourCcCapability.CAN_FORWARD.value}
    return {fourcc: FourCcCapability.CAN_FORWARD.value for fourcc in ours if fourcc in kind}


def connect_result(config: ServerSessionConfig, connect: Connect) -> ConnectResult:
    """The ``_result`` that accepts ``connect``, Enhanced RTMP negotiated as ``config`` allows."""
    ours = config.enhanced_fourccs
    sent_info_map = (
        connect.video_fourcc_info_map is not None or connect.audio_fourcc_info_map is not None
    )
    return ConnectResult(
        transaction_id=connect.transaction_id,
        fms_version=config.fms_version,
        capabilities=config.capabilities,
        object_encoding=connect.object_encoding or 0,
        fourcc_list=(
            None
            if connect.fourcc_list is None
            else _negotiate_fourcc_list(connect.fourcc_list, ours)
        ),
        video_fourcc_info_map=_info_map(ours, _VIDEO_FOURCCS) if sent_info_map else None,
        audio_fourcc_info_map=_info_map(ours, _AUDIO_FOURCCS) if sent_info_map else None,
        caps_ex=config.caps_ex if connect.enhanced else None,
        extra_properties={"mode": 1},
    )


class ConnectHandling(CommandHandling):
    """The NetConnection's ``connect`` and the phases around it."""

    def _on_command(self, message: DetailedMessage, content: CommandMessage) -> None:
        if self._phase is Phase.AWAITING_CONNECT:
            self._on_connect(message, content)
        elif self._phase is Phase.CONNECT_REQUESTED:
            self._hold(message)
        else:
            self._dispatch_command(message, content)

    def _on_connect(self, message: DetailedMessage, content: CommandMessage) -> None:
        self._amf3 = content.amf3
        try:
            connect = Connect.from_message(content, self._config.limits)
        except ProtocolError as error:
            self._refuse_connect(
                content.transaction_id,
                message.stream_id,
                f"Invalid connect: {error}",
                NetConnectionCode.CONNECT_REJECTED,
            )
            return
        self._connect = connect
        self._app_name = app_name(connect.app)
        self._amf3 = content.amf3 or connect.amf3
        self._phase = Phase.CONNECT_REQUESTED
        request_id = self._requests.add(ConnectRequest(connect, message.stream_id))
        self._emit(ConnectionRequested(request_id, self._app_name, connect))

    def _hold(self, message: DetailedMessage) -> None:
        if len(self._held_commands) >= _MAX_HELD_COMMANDS:
            self._fail(f"more than {_MAX_HELD_COMMANDS} commands before connect was answered")
        self._held_commands.append(message)

    def _accept_connect(self, request: ConnectRequest) -> None:
        config = self._config
        self._phase = Phase.CONNECTED
        self._send(WindowAcknowledgementSize(config.window_ack_size))
        self._send(SetPeerBandwidth(config.peer_bandwidth, BandwidthLimitType.DYNAMIC))
        self._send(StreamBegin(0))
        # The protocol handler switches its encoder when it encodes this message.
        self._send(SetChunkSize(config.chunk_size))
        self._send_command(connect_result(config, request.connect), request.stream_id)
        self._send_command(OnBWDone(_BANDWIDTH_HINT), 0)
        self._schedule_ping(self._now)
        held, self._held_commands = self._held_commands, []
        for message in held:
            if self._phase is Phase.CONNECTED and isinstance(message.content, CommandMessage):
                self._dispatch_command(message, message.content)

    def _refuse_connect(
        self, transaction_id: float, stream_id: int, reason: str, code: str
    ) -> None:
        self._send_command(ErrorResult.with_status(transaction_id, code, reason), stream_id)
        self._close(reason)
