"""The file player: one actor per playing stream of a file, pacing its tags to the player.

Theory of operation:

* Each play of a file gets its own :class:`FilePlayer`, with its own open file, reader and
  clock, so players share nothing but the library's immutable index: a player that stops
  reading slows nobody else down.
* It writes through the connection's media sink, as a live stream does, so the player's
  :class:`~rtmp_actors.session.playback.PlaybackRules` apply (pause, receiveAudio/Video,
  congestion drops, and the disconnect of a player that stays congested).
* Pacing: tags whose timestamp is within ``lead`` seconds of the playback clock go at once;
  then a timer on the I/O loop wakes the actor (a ``tell``, never a sleep) when the next tag
  is due. A wake-up reads a bounded burst, so the actor's mailbox (pause, seek, leaving) is
  never starved.
* Seeks are the player's to answer (the session hands them over, see
  ``ServerSession.delegate_seeks``): StreamBegin, ``NetStream.Seek.Notify`` and
  ``NetStream.Play.Start``, then ``onMetaData`` and the codec configuration, then the media
  from the seek point (the keyframe at or before the asked time) with its own timestamps,
  all through the sink, in order. A play's ``start`` argument seeks the same way, quietly.
* At the end of the file (or of the ``len`` asked for): StreamEOF, ``onPlayStatus
  NetStream.Play.Complete`` and ``NetStream.Play.Stop``. The stream keeps playing: the player
  may still seek back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import pykka

from behaviours.media_writer import MediaWriter
from behaviours.stream_peers import PlayedStream, PlayerReceiver, PlayerSession
from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.errors import ProtocolError
from rtmp_actors.media.flv import FlvReader, FlvTag, TagType
from rtmp_actors.protocol.amf import EcmaArray
from rtmp_actors.protocol.commands import NetStreamCode
from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData
from rtmp_actors.protocol.prepared import PreparedMessage
from rtmp_actors.session.playback import PlaybackChoice, PlaybackRules
from rtmp_actors.session.server import PlayerNotice
from rtmp_actors.transport.io_loop import Scheduler, TimerHandle
from rtmp_actors.vod.clock import PlaybackClock
from rtmp_actors.vod.files import VodFiles
from rtmp_actors.vod.index import FlvIndex
from rtmp_actors.vod.names import VodNameError

if TYPE_CHECKING:
    from rtmp_actors.relay.stream import PlayRequest

__all__ = ["MAX_BURST_BYTES", "MAX_BURST_TAGS", "FilePlayer"]

logger = logging.getLogger(__name__)

MAX_BURST_TAGS = 256
"""Most tags one wake-up writes; the rest wait for the next one, straight after."""
MAX_BURST_BYTES = 1024 * 1024
"""Most bytes of tag bodies one wake-up writes."""
_EARLY_MS = 1.0  # a timer that fires a hair early (or float rounding) still finds its tag due
BACKOFF = 0.02
"""Seconds to wait for a congested connection to drain before looking again."""


def _prepared(tag: FlvTag, timestamp: int) -> PreparedMessage | None:
    if tag.tag_type == TagType.VIDEO:
        return PreparedMessage(VideoData(tag.data), timestamp)
    if tag.tag_type == TagType.AUDIO:
        return PreparedMessage(AudioData(tag.data), timestamp)
    if tag.tag_type == TagType.SCRIPT_DATA:
        try:
            data = DataMessage.decode_payload(tag.data)
        except ProtocolError:
            return None  # a player could not read it either
        if data.name == "onMetaData":
            return None  # the player sends its own, with the indexed duration
        return PreparedMessage(data, timestamp)
    return None


class FilePlayer(MonitoredActor, MediaWriter, PlayedStream):
    """Plays one FLV file of a library to one playing stream of one connection.

    Args:
        request: The play request (the connection's session, receiver and stream id).
        name: The stream name asked for (resolved through ``library``).
        start: The play's ``start`` argument in ms: where to begin (negative: the start).
        length: The play's ``len`` argument in ms: how much to play (negative: all of it).
        library: The library: its folder, settings and index cache.
        scheduler: ``scheduler(delay, callback)``, the I/O loop's timers.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        request: PlayRequest,
        name: str,
        start: float,
        length: float,
        library: VodFiles,
        scheduler: Scheduler,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._request = request
        self._name = name
        self._start = max(0.0, start)
        self._stop_at = self._start + length if length > 0 else None
        self._library = library
        self._schedule = scheduler
        self._clock = clock
        self._me: ActorHandle[FilePlayer] = ActorHandle(self.actor_ref)
        self._file: BinaryIO | None = None
        self._index: FlvIndex | None = None
        self._reader: FlvReader | None = None
        self._next: FlvTag | None = None  # read, not yet due
        self._playback = PlaybackClock(library.settings.lead, clock())
        self._sink: MediaSink | None = None
        self._rules: PlaybackRules | None = None
        self._choice: PlaybackChoice | None = None
        self._timer: TimerHandle | None = None
        self._wakeups = 0  # a wake-up for an older one is stale
        self._finished = False
        self._congested_since: float | None = None
        self._log_extra = {"connection_id": request.connection_id}

    # --- Start -----------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Find and index the file, then accept the play (or refuse it, and stop)."""
        request = self._request
        try:
            path = self._library.resolve(self._name)
        except VodNameError as error:
            self._refuse(str(error), NetStreamCode.PLAY_STREAM_NOT_FOUND)
            return
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed in on_stop
            self._index = self._library.index(path, self._file)
        except (OSError, ProtocolError) as error:
            logger.warning(
                "%s: cannot play %s: %s", request.connection_id, path, error, extra=self._log_extra
            )
            self._refuse(f"{self._name} cannot be played", NetStreamCode.PLAY_FAILED)
            return
        logger.info(
            "%s: playing %s from %.0f ms",
            request.connection_id,
            path,
            self._start,
            extra=self._log_extra,
        )
        with contextlib.suppress(pykka.ActorDeadError):
            request.receiver.tell(PlayerReceiver.bind_player, self.actor_ref, request.stream_id)
            request.session.tell(PlayerSession.accept_request, request.request_id)
            request.session.tell(
                PlayerSession.open_media_sink, request.stream_id, self._me, answers_seeks=True
            )

    def _refuse(self, reason: str, code: NetStreamCode) -> None:
        logger.info(
            "%s: refusing play %r: %s",
            self._request.connection_id,
            self._name,
            reason,
            extra=self._log_extra,
        )
        with contextlib.suppress(pykka.ActorDeadError):
            self._request.session.tell(
                PlayerSession.reject_request, self._request.request_id, reason, str(code)
            )
        self.actor_ref.stop(block=False)

    # --- From the player's session ---------------------------------------------------------------

    def media_sink_opened(self, connection_id: str, stream_id: int, sink: Any) -> None:
        """The connection's direct path: start playing (None: the connection is going)."""
        if sink is None or not isinstance(sink, MediaSink):
            self.actor_ref.stop(block=False)
            return
        self._sink = sink
        self._rules = sink.new_rules()
        if self._choice is not None:
            self._rules.apply(self._choice)
        self._seek(self._start, announce=False)

    def playback_changed(self, connection_id: str, stream_id: int, choice: Any) -> None:
        """The player paused, resumed, seeked or changed receiveAudio/receiveVideo."""
        if not isinstance(choice, PlaybackChoice):
            return
        self._choice = choice
        if self._rules is not None:
            self._rules.apply(choice)
        now = self._clock()
        if choice.paused:
            self._playback.pause(now)
            self._cancel_timer()
        elif self._playback.paused:
            self._playback.resume(now)
            self._wake_soon()
        if choice.seek is not None and self._sink is not None:
            self._seek(choice.seek, announce=True)

    def player_left(self, connection_id: str, stream_id: int) -> None:
        """The player stopped playing or disconnected: close the file and stop."""
        self.actor_ref.stop(block=False)

    # --- Playing ---------------------------------------------------------------------------------

    def _seek(self, milliseconds: float, *, announce: bool) -> None:
        """Go to the seek point at or before ``milliseconds`` and start sending from there."""
        index, sink, rules, file = self._index, self._sink, self._rules, self._file
        # The file is open before the sink is asked for; both are there once it opened.
        assert index is not None
        assert file is not None
        assert sink is not None
        assert rules is not None
        self._cancel_timer()
        timestamp, offset = index.seek_point(milliseconds)
        self._playback.seek(timestamp, self._clock())
        self._finished = False
        if announce and not sink.send_notice(PlayerNotice.SEEKED):
            self._connection_closed()
            return
        first = [self._metadata(timestamp)]
        for config_offset in index.configs_before(offset):
            tag = self._read(self._reader_at(config_offset))
            message = _prepared(tag, timestamp) if tag is not None else None
            if message is not None:
                first.append(message)
        self._reader = self._reader_at(offset)
        self._next = None
        if not sink.send(first, rules, self._clock()):
            self._connection_closed()
            return
        self._wake_soon()

    def _reader_at(self, offset: int) -> FlvReader:
        index, file = self._index, self._file
        assert index is not None
        assert file is not None
        file.seek(offset)
        max_tag_size = self._library.settings.max_tag_size
        return FlvReader.resume(file, index.header, offset, max_tag_size=max_tag_size, strict=False)

    def _metadata(self, timestamp: int) -> PreparedMessage:
        index, file = self._index, self._file
        assert index is not None
        assert file is not None
        properties: dict[str, Any] = {}
        tag = self._read(self._reader_at(index.metadata[0])) if index.metadata else None
        if tag is not None:
            with contextlib.suppress(ProtocolError):  # unreadable: the duration goes alone
                values = DataMessage.decode_payload(tag.data).values
                if len(values) > 1 and isinstance(values[1], dict):
                    properties.update(values[1])
        properties["duration"] = index.duration / 1000.0
        return PreparedMessage(DataMessage(("onMetaData", EcmaArray(properties))), timestamp)

    def wake_up(self, wakeup: int) -> None:
        """Send what is due now, then sleep until the next tag is (a timer calls this)."""
        if wakeup != self._wakeups:
            return  # a seek or a pause came in between
        self._timer = None
        sink, rules, reader = self._sink, self._rules, self._reader
        if sink is None or rules is None or reader is None or self._finished:
            return
        now = self._clock()
        # A file can wait for its player, unlike a live stream: write no more than the
        # connection takes below its high-water mark, so nothing is dropped for a burst.
        # (A sixteenth is left for the chunk headers.)
        room = min(MAX_BURST_BYTES, sink.high_water - sink.high_water // 16 - sink.queued_bytes)
        if room <= 0:
            self._congested(sink, now)
            return
        self._congested_since = None
        due = self._playback.due(now) + _EARLY_MS
        burst: list[PreparedMessage] = []
        size = 0
        while len(burst) < MAX_BURST_TAGS and size < room:
            tag = self._next if self._next is not None else self._read(reader)
            if tag is None or (self._stop_at is not None and tag.timestamp > self._stop_at):
                self._next = None
                self._finished = True
                break
            if tag.timestamp > due or (burst and size + len(tag.data) > room):
                self._next = tag
                break
            self._next = None
            message = _prepared(tag, tag.timestamp)
            if message is not None:
                burst.append(message)
                size += len(tag.data)
        if burst and not sink.send(burst, rules, now):
            self._connection_closed()
            return
        if self._finished:
            self._complete(sink)
        elif self._next is None or self._next.timestamp <= due:
            self._wake_soon()  # the burst was cut short: the rest is due already
        else:
            delay = self._playback.wait(self._next.timestamp, now)
            if delay is not None:
                self._wake_later(delay)

    def _congested(self, sink: MediaSink, now: float) -> None:
        """The player is not taking its media: wait a little, or drop it after too long."""
        if self._congested_since is None:
            self._congested_since = now
        elif now - self._congested_since > sink.max_congestion:
            reason = f"the peer stayed congested for over {sink.max_congestion} s"
            logger.warning(
                "%s: dropping the player of %r: %s",
                self._request.connection_id,
                self._name,
                reason,
                extra=self._log_extra,
            )
            sink.abort(reason)
            self._connection_closed()
            return
        self._wake_later(BACKOFF)

    def _read(self, reader: FlvReader) -> FlvTag | None:
        try:
            return reader.read_tag()
        except (OSError, ProtocolError) as error:
            # Indexed as whole, so the file changed under us: end here, as at its end.
            logger.warning(
                "%s: reading %r stopped: %s",
                self._request.connection_id,
                self._name,
                error,
                extra=self._log_extra,
            )
            return None

    def _complete(self, sink: MediaSink) -> None:
        connection_id = self._request.connection_id
        logger.info("%s: played %r to its end", connection_id, self._name, extra=self._log_extra)
        if not sink.send_notice(PlayerNotice.COMPLETED):
            self._connection_closed()

    def _connection_closed(self) -> None:
        # Its receiver says the player left; until then nothing more is written.
        self._sink = None
        self._cancel_timer()

    # --- Timers ----------------------------------------------------------------------------------

    def _wake_soon(self) -> None:
        self._wake_later(0.0)

    def _wake_later(self, delay: float) -> None:
        self._cancel_timer()
        if self._playback.paused:
            return
        wakeup = self._wakeups
        if delay <= 0:
            self._me.tell(FilePlayer.wake_up, wakeup)
            return
        me = self._me

        def tell() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                me.tell(FilePlayer.wake_up, wakeup)

        self._timer = self._schedule(delay, tell)

    def _cancel_timer(self) -> None:
        self._wakeups += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- End -------------------------------------------------------------------------------------

    def on_stop(self) -> None:
        """Cancel the timer and close the file."""
        self._cancel_timer()
        if self._file is not None:
            self._file.close()
            self._file = None

    def on_failure(self, *_exc_info: object) -> None:
        """Close the file and the player's connection: its stream cannot go on."""
        self.on_stop()
        with contextlib.suppress(pykka.ActorDeadError):
            self._request.session.tell(PlayerSession.close, f"playing {self._name} failed")
