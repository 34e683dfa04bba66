"""The state of a server session and the helpers all its parts use.

:class:`~rtmp_actors.session.server.ServerSession` is one state machine, split by concern into
layers; each is a class in its own module and uses only the layers below it:

1. :class:`ServerBase` (here): every piece of state, the stream and request records, and the
   helpers the other layers share (stream lookups, error statuses, ending what a stream does,
   closing the session).
2. ``PublishHandling`` (``_server_publish``) and ``PlayHandling`` (``_server_play``): a
   stream's publish or play request and its acceptance, then what flows on the stream
   (inbound data and media from publishers; pause, seek, receiveAudio/receiveVideo and the
   user's sends for players); ``CallHandling`` (``_server_calls``): the client's remote
   calls and the user's answers to them.
3. ``CommandHandling`` (``_server_commands``): the commands of a connected client, including
   the creation and deletion of streams.
4. ``ConnectHandling`` (``_server_connect``): ``connect``, the commands held until it is
   answered, and the answer.
5. ``ServerSession`` (``server``): the public API, the phases, control messages and pings.

The modules are private (their names are public only within ``rtmp_actors.session``); the
phases and stream states are described in :mod:`rtmp_actors.session.server`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Final, NoReturn

from rtmp_actors.errors import LocalProtocolError
from rtmp_actors.protocol.amf import AmfValue
from rtmp_actors.protocol.commands import Connect, OnStatus, StatusLevel
from rtmp_actors.protocol.messages import CommandMessage, DetailedMessage, MessageContent
from rtmp_actors.session._core import SessionCore
from rtmp_actors.session.events import MediaType, SessionError
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server_config import ServerSessionConfig
from rtmp_actors.session.server_events import PlayStreamFinished, PublishingFinished
from rtmp_actors.session.server_streams import StreamInfo, StreamState

__all__: list[str] = []

U32: Final = 0xFFFFFFFF
_DEFAULT_CHUNK_SIZE: Final = 128
_MAX_WITHDRAWN: Final = 128
"""Most withdrawn requests remembered while they wait for the user's (late) answer."""


class Phase(enum.Enum):
    """Where the connection is (see the module docstring of ``session.server``)."""

    AWAITING_CONNECT = enum.auto()
    CONNECT_REQUESTED = enum.auto()
    CONNECTED = enum.auto()
    CLOSING = enum.auto()
    DISCONNECTED = enum.auto()


FINISHED: Final = frozenset({Phase.CLOSING, Phase.DISCONNECTED})
# Looking an enum member up on its class is slow next to the rest of the per-media-message
# work; the inbound media path uses these instead.
CONNECTED: Final = Phase.CONNECTED
PUBLISHING: Final = StreamState.PUBLISHING
AUDIO: Final = MediaType.AUDIO
VIDEO: Final = MediaType.VIDEO


@dataclass(slots=True)
class Stream:
    """One message stream of the client: the mutable record behind :class:`StreamInfo`."""

    stream_id: int
    state: StreamState = StreamState.CREATED
    stream_key: str | None = None
    paused: bool = False
    receive_audio: bool = True
    receive_video: bool = True
    buffer_length: int | None = None
    # The stream's media writer answers seeks (a file player), not the session.
    seeks_delegated: bool = False

    def reset(self) -> None:
        self.state = StreamState.CREATED
        self.stream_key = None
        self.paused = False
        self.seeks_delegated = False

    def choice(self, *, new_play: bool = False, seek: float | None = None) -> PlaybackChoice:
        return PlaybackChoice(
            self.stream_id, self.paused, self.receive_audio, self.receive_video, new_play, seek
        )

    def info(self) -> StreamInfo:
        return StreamInfo(
            self.stream_id,
            self.state,
            self.stream_key,
            self.paused,
            self.receive_audio,
            self.receive_video,
            self.buffer_length,
        )


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    connect: Connect
    stream_id: int


@dataclass(frozen=True, slots=True)
class PublishRequest:
    stream_id: int
    stream_key: str


@dataclass(frozen=True, slots=True)
class PlayRequest:
    stream_id: int
    stream_key: str
    reset: bool


Request = ConnectRequest | PublishRequest | PlayRequest


class RequestTable:
    """The requests that wait for the user's answer, and what became of the others.

    Ids count up from 1. The session withdraws a request when the client ends what it asked
    for (it closes the stream) or the session closes: the user, who could not know, may still
    answer it, and that late answer is ignored. Any other answer to a request that is not
    pending (an id never given out, or one answered already) is the user's mistake. Withdrawn
    ids are remembered until answered, at most ``_MAX_WITHDRAWN`` of them so that a client
    cannot grow the table; answers to ids older than a forgotten one are ignored too.
    """

    __slots__ = ("_forgotten_through", "_next_id", "_pending", "_withdrawn")

    def __init__(self) -> None:
        self._pending: dict[int, Request] = {}
        self._withdrawn: dict[int, None] = {}  # an ordered set, oldest first
        self._next_id = 1
        self._forgotten_through = 0

    @property
    def pending_ids(self) -> frozenset[int]:
        return frozenset(self._pending)

    def add(self, request: Request) -> int:
        request_id = self._next_id
        self._next_id += 1
        self._pending[request_id] = request
        return request_id

    def take(self, request_id: int) -> Request | None:
        """Remove and return a pending request; None for a withdrawn one (ignore the answer).

        Raises:
            LocalProtocolError: ``request_id`` was never given out or was answered already;
                the table is unchanged.
        """
        request = self._pending.pop(request_id, None)
        if request is not None:
            return request
        if request_id in self._withdrawn:
            del self._withdrawn[request_id]
            return None
        if 0 < request_id <= self._forgotten_through:
            return None
        if 0 < request_id < self._next_id:
            msg = f"request {request_id} was already answered"
            raise LocalProtocolError(msg)
        msg = f"there is no request {request_id}"
        raise LocalProtocolError(msg)

    def withdraw_for_stream(self, stream_id: int) -> None:
        """Withdraw the publish or play request of a stream, if it has one."""
        for request_id, request in list(self._pending.items()):
            if not isinstance(request, ConnectRequest) and request.stream_id == stream_id:
                del self._pending[request_id]
                self._withdrawn[request_id] = None
        while len(self._withdrawn) > _MAX_WITHDRAWN:
            oldest = next(iter(self._withdrawn))
            del self._withdrawn[oldest]
            self._forgotten_through = max(self._forgotten_through, oldest)

    def clear(self) -> None:
        """Forget every request (the session ignores all answers once it closes)."""
        self._pending.clear()
        self._withdrawn.clear()


def describe(content: MessageContent) -> str:
    """A message's kind for log lines and errors: its command name, or its type."""
    if isinstance(content, CommandMessage):
        return f"command {content.name!r}"
    return type(content).__name__


class ServerBase(SessionCore[ServerSessionConfig]):
    """The state of a server session, and the helpers that every layer uses.

    Args:
        config: How the server presents itself and what it allows.
        connection_id: Used in log lines.
        now: The session start (seconds, monotonic); ping timestamps count from here.
        logger: The public module's logger.
    """

    def __init__(
        self, config: ServerSessionConfig, connection_id: str, now: float, logger: logging.Logger
    ) -> None:
        super().__init__(config, connection_id, now, logger)
        self._now = now
        self._phase = Phase.AWAITING_CONNECT
        self._connect: Connect | None = None
        self._app_name: str | None = None
        self._streams: dict[int, Stream] = {}
        self._next_stream_id = 1
        self._requests = RequestTable()
        self._held_commands: list[DetailedMessage] = []
        self._playback: list[PlaybackChoice] = []
        self._close_requested = False
        self._close_reason: str | None = None
        self._peer_chunk_size = _DEFAULT_CHUNK_SIZE
        self._peer_window_ack_size: int | None = None
        self._peer_bandwidth: int | None = None
        self._last_ping: tuple[int, float] | None = None
        self._next_ping_at: float | None = None
        self._ignored = 0

    @property
    def _app(self) -> str:
        return self._app_name or ""

    # --- Streams -----------------------------------------------------------------------------

    def _ordered_streams(self) -> list[Stream]:
        return [self._streams[stream_id] for stream_id in sorted(self._streams)]

    def _playing_stream(self, stream_id: int) -> Stream | None:
        if self._phase is not Phase.CONNECTED:
            return None
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.PLAYING:
            return None
        return stream

    def _publishing_stream(self, stream_id: int) -> Stream | None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.PUBLISHING:
            return None
        return stream

    def _claim_stream(
        self, stream_id: int, key: str, state: StreamState, error_code: str
    ) -> Stream | None:
        """Move a created stream to ``state`` (a request) for ``key``.

        Returns None, having answered the client with an error status, when the stream does
        not exist or is not merely created.
        """
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.CREATED:
            why = "does not exist" if stream is None else f"is already {stream.state.value}"
            self._send_stream_error(stream_id, error_code, f"Stream {stream_id} {why}.", key)
            return None
        stream.state = state
        stream.stream_key = key
        return stream

    def _finish_activity(self, stream: Stream) -> None:
        """End what the stream does, raising the finished event if it was accepted."""
        key = stream.stream_key
        if stream.state is StreamState.PUBLISHING and key is not None:
            self._emit(PublishingFinished(self._app, key, stream.stream_id))
        elif stream.state is StreamState.PLAYING and key is not None:
            self._emit(PlayStreamFinished(self._app, key, stream.stream_id))
        self._requests.withdraw_for_stream(stream.stream_id)
        stream.reset()

    # --- Requests ----------------------------------------------------------------------------

    def _take_request(self, request_id: int) -> Request | None:
        """The pending request an answer is for; None when the answer is late.

        Raises:
            LocalProtocolError: See :meth:`RequestTable.take`.
        """
        if self._phase in FINISHED:
            self._log.debug("answer to request %s after the session closed: ignored", request_id)
            return None
        request = self._requests.take(request_id)
        if request is None:
            self._log.debug("answer to withdrawn request %s: ignored", request_id)
        return request

    # --- Output ------------------------------------------------------------------------------

    def _send_stream_error(
        self, stream_id: int, code: str, description: str, stream_key: str | None = None
    ) -> None:
        extra: dict[str, AmfValue] = {} if stream_key is None else {"details": stream_key}
        status = OnStatus(code, StatusLevel.ERROR, description, extra)
        self._send_command(status, stream_id)

    def _ignore(self, message: str, *args: object) -> None:
        self._ignored += 1
        self._log.debug("ignored: " + message, *args)

    def _schedule_ping(self, now: float) -> None:
        interval = self._config.ping_interval
        self._next_ping_at = now + interval if interval > 0 else None

    def _close(self, reason: str | None) -> None:
        self._phase = Phase.CLOSING
        self._requests.clear()
        self._held_commands.clear()
        self._next_ping_at = None
        self._close_requested = True
        self._close_reason = reason

    def _fail(self, reason: str) -> NoReturn:
        self._phase = Phase.CLOSING
        self._requests.clear()
        self._held_commands.clear()
        self._next_ping_at = None
        self._log.warning("session error: %s", reason)
        raise SessionError(reason)
