"""The protocol handler actor: one connection's wire state, between socket and session.

Input arrives from the I/O loop as ``notify_input`` tells; decoded messages go to the session
actor in one batch per read, or, when reads pile up in the mailbox, in one batch for all of
them once they are decoded (see :class:`WhenIdle`); the session's messages come back through
``send_message(s)`` and leave through the transport. The actor also:

* reports byte totals to the session, coalesced (at most every ``byte_report_interval``),
  along with the messages of a read when one is due, so a player's periodic acknowledgement
  wakes its session once, not twice;
* ends the connection if the handshake takes too long or the peer goes quiet;
* writes the media its session sends, and so owns those playing streams'
  :class:`PlaybackRules` (pause, receiveAudio/receiveVideo, congestion drops, restarting at
  keyframes): the session tells it the player's choices as :class:`PlaybackChoice` values.
  A peer that stays congested for ``max_congestion`` seconds is disconnected.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol

import pykka

from behaviours.media_writer import MediaWriter
from behaviours.protocol_handler import ProtocolHandler
from behaviours.session_handler import SessionHandler
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.when_idle import WhenIdle
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.frames import frame_flags
from rtmp_actors.protocol.connection import RtmpConnection
from rtmp_actors.protocol.messages import AudioData, DetailedMessage, VideoData
from rtmp_actors.protocol.prepared import PreparedMessage
from rtmp_actors.session.playback import PlaybackChoice, PlaybackRules, Verdict
from rtmp_actors.session.server import PlayerNotice
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle

__all__ = ["FlowControl", "ProtocolHandlerActor", "ProtocolTransport"]

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")


class ProtocolTransport(Protocol):
    """What the protocol handler needs of its transport (see :class:`Transport`)."""

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be written."""

    def send_data(self, data: bytes, packet_type: Any = ...) -> None:
        """Queue bytes for the peer."""

    def close(self, reason: str | None = None) -> None:
        """Flush, then close."""

    def abort(self, reason: str) -> None:
        """Close at once."""

    def input_consumed(self, size: int) -> None:
        """Report processed input (flow control)."""

    @property
    def bytes_sent(self) -> int:
        """Bytes written to the peer so far."""

    @property
    def is_closing(self) -> bool:
        """Whether the transport is closing or closed."""


@dataclass(frozen=True, slots=True)
class FlowControl:
    """Timeouts and the congestion policy of one connection.

    Attributes:
        handshake_timeout: Seconds the peer has to complete the handshake.
        idle_timeout: Seconds without any input before the connection is dropped (0: never).
        high_water: Queued outbound bytes above which media is dropped.
        max_congestion: Seconds a peer may stay above ``high_water`` before it is dropped.
        byte_report_interval: Least seconds between two byte total reports.
    """

    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    high_water: int = 2 * 1024 * 1024
    max_congestion: float = 15.0
    byte_report_interval: float = 0.5


@dataclass(frozen=True, slots=True)
class _Tick:
    """A timer fired: check timeouts and byte reports."""

    kind: str


class ProtocolHandlerActor(MonitoredActor, ProtocolHandler):
    """Owns an :class:`RtmpConnection` and its transport.

    Args:
        connection: The sans-I/O connection state.
        transport: Where bytes go.
        scheduler: ``scheduler(delay, callback)`` runs ``callback`` on the I/O thread later.
        connection_id: For log lines.
        flow: Timeouts and congestion policy.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        connection: RtmpConnection,
        transport: ProtocolTransport,
        scheduler: Scheduler,
        *,
        connection_id: str = "",
        flow: FlowControl | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._connection = connection
        self._transport = transport
        self._schedule = scheduler
        self._flow = flow or FlowControl()
        self._clock = clock
        self._log = logging.LoggerAdapter(logger, {"connection_id": connection_id})
        self._connection_id = connection_id
        self._session: ActorHandle[SessionHandler] | None = None
        self._last_input = clock()
        self._reported: tuple[int, int] = (0, 0)
        self._reported_at = float("-inf")
        self._report_pending = False
        self._timers: list[TimerHandle] = []
        self._playback: dict[int, PlaybackRules] = {}  # of the streams its session plays
        self._undelivered: list[DetailedMessage] = []  # decoded, for the session
        self._delivery = WhenIdle(self, self._deliver)
        self._closed = False

    # --- Wiring -------------------------------------------------------------------------------

    def set_session(self, session: pykka.ActorRef[Any]) -> str:
        """Set the session actor messages go to; returns ``"handler_already_set"`` the 2nd time."""
        if self._session is not None:
            return "handler_already_set"
        self._session = ActorHandle(session)
        return "ok"

    def on_start(self) -> None:
        """Send the client's opening bytes and arm the handshake timer."""
        opening = self._connection.start()
        if opening:
            self._transport.send_data(opening)
        self._arm("handshake", self._flow.handshake_timeout)
        if self._flow.idle_timeout:
            self._arm("idle", self._flow.idle_timeout)

    def on_stop(self) -> None:
        """Cancel timers; the socket is closed by whoever stopped us."""
        for timer in self._timers:
            timer.cancel()

    def on_failure(self, *_exc_info: object) -> None:
        """Cancel timers and drop the connection (the unit tells the receiver why)."""
        self.on_stop()
        self._transport.abort("protocol handler failed")

    def _arm(self, kind: str, delay: float) -> None:
        ref = self.actor_ref

        def fire() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_Tick(kind))

        self._timers = [t for t in self._timers if not t.cancelled]
        self._timers.append(self._schedule(delay, fire))

    # --- ProtocolHandler ----------------------------------------------------------------------

    def notify_input(self, data: bytes) -> None:
        """Decode bytes from the peer and hand the messages to the session."""
        if self._closed:
            return
        self._last_input = self._clock()
        try:
            result = self._connection.receive_data(data)
        except ProtocolError as error:
            self._transport.input_consumed(len(data))
            # The connection decodes into DetailedMessage; the error's type is shared by layers.
            self._undelivered.extend(error.messages_before_error)  # type: ignore[arg-type]
            self._deliver()
            self.close_connection(f"protocol error: {error}", abort=True)
            return
        if result.to_send:
            self._transport.send_data(result.to_send)
        self._transport.input_consumed(len(data))
        if result.messages and self._session is not None:
            self._undelivered.extend(result.messages)
            self._delivery.request()
        else:
            self._schedule_byte_report()

    def _deliver(self) -> None:
        """Hand the decoded messages to the session, with byte totals when a report is due."""
        messages = self._undelivered
        if not messages or self._session is None:
            return
        self._undelivered = []
        totals = self._byte_totals_due()
        if totals is None:
            self._schedule_byte_report()
        self._tell_session(SessionHandler.handle_rtmp_inputs, messages, totals)

    def send_message(self, message: DetailedMessage) -> None:
        """Encode one message for the peer (media may be dropped under congestion)."""
        if self._closed or self._should_drop(message):
            return
        data = self._connection.send_message(message)
        if data:
            self._transport.send_data(data)
        self._schedule_byte_report()

    def send_messages(self, messages: Sequence[DetailedMessage]) -> None:
        """Encode several messages, in order, as one write."""
        if self._closed:
            return
        encoded = []
        for message in messages:
            if not self._should_drop(message):
                encoded.append(self._connection.send_message(message))
            elif self._transport.is_closing:
                return  # dropped for staying congested: nothing more goes out
        data = b"".join(encoded)
        if data:
            self._transport.send_data(data)
        self._schedule_byte_report()

    def playback_changed(self, choice: PlaybackChoice) -> None:
        """The player changed its choices for a stream its session plays (from the session)."""
        self._rules_for(choice.stream_id, fresh=choice.new_play).apply(choice)

    def _rules_for(self, stream_id: int, *, fresh: bool = False) -> PlaybackRules:
        rules = self._playback.get(stream_id)
        if rules is None or fresh:
            flow = self._flow
            rules = self._playback[stream_id] = PlaybackRules(flow.high_water, flow.max_congestion)
        return rules

    def open_media_sink(
        self,
        stream_id: int,
        reply_to: ActorHandle[MediaWriter],
        connection_id: str,
        notices: Mapping[PlayerNotice, Sequence[DetailedMessage]] | None = None,
    ) -> None:
        """Open a direct path for a playing stream; answers ``reply_to.media_sink_opened``.

        Everything the session sent before is already written, so nothing sent through the
        sink can overtake it. The answer carries None when the connection is closing. The
        sink's writer owns that stream's playback rules from then on. ``notices`` (from the
        session) are encoded here, once, for the sink to write when the writer says.
        """
        sink = None
        if not self._closed:
            flow = self._flow
            chunk_size = self._connection.chunk_size
            encoded = {
                notice: b"".join(
                    PreparedMessage(m.content, m.timestamp).encoded(m.stream_id, chunk_size)
                    for m in messages
                )
                for notice, messages in (notices or {}).items()
            }
            sink = MediaSink(
                self._transport,
                stream_id,
                chunk_size,
                flow.high_water,
                flow.max_congestion,
                encoded,
            )
        with contextlib.suppress(pykka.ActorDeadError):
            reply_to.tell(MediaWriter.media_sink_opened, connection_id, stream_id, sink)

    def close_connection(self, reason: str | None = None, *, abort: bool = False) -> None:
        """Flush what is queued and close the socket (or drop it at once when ``abort``)."""
        if self._closed:
            return
        self._closed = True
        if reason:
            log = self._log.warning if abort else self._log.info
            log("closing connection %s: %s", self._connection_id, reason)
        if abort:
            self._transport.abort(reason or "aborted")
        else:
            self._transport.close(reason)

    def connection_lost(self, reason: str | None) -> None:
        """The transport is gone: tell the session, then stop."""
        self._closed = True
        self._report_bytes()  # delivers what was read first
        self._tell_session(SessionHandler.notify_disconnected, reason)
        self.stop()

    def _tell_session(
        self,
        method: Callable[Concatenate[SessionHandler, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        if self._session is None:
            return
        try:
            self._session.tell(method, *args, **kwargs)
        except pykka.ActorDeadError:
            # The session failed or ended first (its connection unit reports why): nothing
            # is left to take the peer's input, so the socket goes too.
            if not self._closed:
                self._closed = True
                self._transport.abort("the session is gone")

    # --- Congestion ---------------------------------------------------------------------------

    def _should_drop(self, message: DetailedMessage) -> bool:
        content = message.content
        if not isinstance(content, VideoData | AudioData):
            return False
        video = isinstance(content, VideoData)
        rules = self._rules_for(message.stream_id)
        verdict = rules.admit(
            video=video,
            flags=frame_flags(video, content.data),
            queued_bytes=self._transport.queued_bytes,
            now=self._clock(),
        )
        if verdict is Verdict.DISCONNECT:
            self.close_connection(rules.describe(), abort=True)
        return verdict is not Verdict.SEND

    # --- Timers and byte totals ---------------------------------------------------------------

    def _schedule_byte_report(self) -> None:
        if not self._report_pending:
            self._report_pending = True
            self._arm("bytes", self._flow.byte_report_interval)

    def _report_bytes(self) -> None:
        self._deliver()  # what was read comes before totals that count it
        self._report_pending = False
        totals = self._byte_totals_due(force=True)
        if totals is not None:
            self._tell_session(SessionHandler.notify_byte_totals, *totals)

    def _byte_totals_due(self, *, force: bool = False) -> tuple[int, int] | None:
        """New totals to report now (None if unchanged, or reported too recently)."""
        now = self._clock()
        if not force and now - self._reported_at < self._flow.byte_report_interval:
            return None
        # The transport's count includes what media sinks wrote past the connection.
        totals = (self._transport.bytes_sent, self._connection.bytes_received)
        if totals == self._reported:
            return None
        self._reported, self._reported_at = totals, now
        return totals

    def on_receive(self, message: Any) -> Any:
        """Handle timer ticks."""
        if not isinstance(message, _Tick) or self._closed:
            return None
        if message.kind == "bytes":
            self._report_bytes()
        elif message.kind == "handshake":
            if not self._connection.handshake_complete:
                self.close_connection(
                    f"handshake not completed within {self._flow.handshake_timeout} s", abort=True
                )
        elif message.kind == "idle":
            quiet = self._clock() - self._last_input
            if quiet >= self._flow.idle_timeout:
                self.close_connection(f"no data from the peer for {quiet:.0f} s", abort=True)
            else:
                self._arm("idle", self._flow.idle_timeout - quiet)
        return None
